#!/usr/bin/env python3
"""The square task as an external lwflow model: theta ~ U(-3, 3)^d, x = theta**2 + N(0, sigma^2 I).

Speaks lwflow's external-model protocol: one JSON request per line on stdin, one JSON answer
per line on stdout, until stdin closes.

    {"op": "simulate", "theta": [[...], ...], "seed": 123}        -> {"x": [[...], ...]}
    {"op": "log_likelihood", "x": [[...], ...], "theta": [[...]]}  -> {"log_likelihood": [...]}

A zero likelihood may be written as null or -Infinity; failures as {"error": "message"}.
Uses numpy when it is installed and falls back to pure Python otherwise.

Usage: python3 square2d_model.py [--dim D] [--noise SIGMA]
The prior is not the process's business: lwflow takes it from its configuration.
"""

import argparse
import json
import math
import random
import sys

try:
    import numpy as np
except ImportError:  # pure-Python fallback
    np = None


def log_likelihood(x, theta, noise):
    """Pairwise sum_k log N(x_k; theta_k^2, noise^2)."""
    log_norm = -math.log(noise) - 0.5 * math.log(2.0 * math.pi)
    if np is not None:
        x, theta = np.asarray(x, dtype=float), np.asarray(theta, dtype=float)
        z = (x - theta * theta) / noise
        return (x.shape[1] * log_norm - 0.5 * np.sum(z * z, axis=1)).tolist()
    out = []
    inv = 1.0 / noise
    for xr, tr in zip(x, theta):
        sq = 0.0
        for xk, tk in zip(xr, tr):
            z = (xk - tk * tk) * inv
            sq += z * z
        out.append(len(xr) * log_norm - 0.5 * sq)
    return out


def simulate(theta, seed, noise):
    if np is not None:
        theta = np.asarray(theta, dtype=float)
        rng = np.random.default_rng(seed)
        return (theta * theta + noise * rng.standard_normal(theta.shape)).tolist()
    rng = random.Random(seed)
    return [[t * t + noise * rng.gauss(0.0, 1.0) for t in row] for row in theta]


def answer(request, args):
    op = request.get("op")
    if op == "simulate":
        return {"x": simulate(request["theta"], request["seed"], args.noise)}
    if op == "log_likelihood":
        if len(request["x"]) != len(request["theta"]):
            return {"error": "x and theta have different numbers of rows"}
        return {"log_likelihood": log_likelihood(request["x"], request["theta"], args.noise)}
    return {"error": "unknown op %r" % (op,)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--noise", type=float, default=0.1)
    args = parser.parse_args()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = answer(json.loads(line), args)
        except Exception as e:  # report, keep serving
            reply = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
