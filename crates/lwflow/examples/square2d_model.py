#!/usr/bin/env python3
"""The square task as an external lwflow model: theta ~ U(-3, 3)^d, x = theta**2 + N(0, sigma^2 I).

Speaks lwflow's external-model protocol: one JSON request per line on stdin, one JSON answer
per line on stdout, until stdin closes.

    {"op": "simulate", "theta": [[...], ...], "seed": 123}        -> {"x": [[...], ...]}
    {"op": "log_likelihood", "x": [[...], ...], "theta": [[...]]}  -> {"log_likelihood": [...]}

A zero likelihood may be written as null or -Infinity; failures as {"error": "message"}.

Binary framing: lwflow's first request carries "formats": ["json", "f64le"]; this model
accepts by adding "format": "f64le" to its first answer (unless --json is given). From then
on each matrix in a request is a descriptor {"f64le": [rows, cols]} whose rows*cols
little-endian doubles follow the line (x before theta), and the model answers the same way:
{"log_likelihood": {"f64le": n}} then n doubles. For a training step's 64 x 8192 pairs this
skips printing and parsing ~30 MB of decimal text, which costs far more than the arithmetic.

Uses numpy when it is installed and falls back to pure Python (the array module) otherwise.

Usage: python3 square2d_model.py [--dim D] [--noise SIGMA] [--json]
The prior is not the process's business: lwflow takes it from its configuration.
"""

import argparse
import array
import json
import math
import random
import sys

try:
    import numpy as np
except ImportError:  # pure-Python fallback
    np = None


def log_likelihood(x, theta, noise):
    """Pairwise sum_k log N(x_k; theta_k^2, noise^2); x, theta are (n, d) arrays or lists of rows."""
    log_norm = -math.log(noise) - 0.5 * math.log(2.0 * math.pi)
    if np is not None:
        x, theta = np.asarray(x, dtype=float), np.asarray(theta, dtype=float)
        z = (x - theta * theta) / noise
        return x.shape[1] * log_norm - 0.5 * np.sum(z * z, axis=1)
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
    """One x per theta row; the noise is drawn from `seed` (same seed, same x)."""
    if np is not None:
        theta = np.asarray(theta, dtype=float)
        rng = np.random.default_rng(seed)
        return theta * theta + noise * rng.standard_normal(theta.shape)
    rng = random.Random(seed)
    return [[t * t + noise * rng.gauss(0.0, 1.0) for t in row] for row in theta]


# ---- framing -------------------------------------------------------------------------------


def read_matrix(stdin, descriptor):
    """The rows*cols little-endian doubles announced by {"f64le": [rows, cols]}."""
    rows, cols = descriptor["f64le"]
    data = stdin.read(8 * rows * cols)
    if len(data) != 8 * rows * cols:
        raise EOFError("payload cut short")
    if np is not None:
        return np.frombuffer(data, dtype="<f8").reshape(rows, cols)
    values = array.array("d", data)
    if sys.byteorder == "big":
        values.byteswap()
    return [values[r * cols : (r + 1) * cols] for r in range(rows)]


def to_list(values):
    return values.tolist() if np is not None else values


def f64le_bytes(values):
    """Row-major little-endian doubles of a vector or matrix."""
    if np is not None:
        return np.ascontiguousarray(values, dtype="<f8").tobytes()
    flat = array.array("d", (v for row in values for v in row) if values and isinstance(values[0], list) else values)
    if sys.byteorder == "big":
        flat.byteswap()
    return flat.tobytes()


def answer(request, args):
    """The answer to one request (matrices already read): (key, value) or an error dict."""
    op = request.get("op")
    if op == "simulate":
        return "x", simulate(request["theta"], request["seed"], args.noise)
    if op == "log_likelihood":
        if len(request["x"]) != len(request["theta"]):
            return "error", "x and theta have different numbers of rows"
        return "log_likelihood", log_likelihood(request["x"], request["theta"], args.noise)
    return "error", "unknown op %r" % (op,)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--json", action="store_true", help="decline the binary framing; speak JSON lines only")
    args = parser.parse_args()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        line = stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        extra, payload, request = {}, b"", {}
        try:
            request = json.loads(line)
            binary = False
            for key in ("x", "theta"):  # payloads follow in this order
                if isinstance(request.get(key), dict):
                    request[key] = read_matrix(stdin, request[key])
                    binary = True
            if "f64le" in request.get("formats", ()) and not args.json:
                extra["format"] = "f64le"
            key, value = answer(request, args)
            if key == "error":
                reply = {"error": value}
            elif binary:
                reply = {key: {"f64le": [len(value), len(value[0])] if key == "x" else len(value)}}
                payload = f64le_bytes(value)
            else:
                reply = {key: to_list(value)}
        except EOFError:
            break
        except Exception as e:  # report, keep serving
            reply, payload = {"error": "%s: %s" % (type(e).__name__, e)}, b""
        reply.update(extra)
        if "id" in request:  # echo the request id first, so lwflow can match answers to requests
            reply = {"id": request["id"], **reply}
        stdout.write(json.dumps(reply).encode() + b"\n" + payload)
        stdout.flush()


if __name__ == "__main__":
    main()
