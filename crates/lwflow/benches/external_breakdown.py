#!/usr/bin/env python3
"""Where the Python side of one external-model request goes: the square2d example model on a
training-sized request (8192 rows of x and theta), JSON lines against the f64le framing.

python3 crates/lwflow/benches/external_breakdown.py   (numpy required; median ms of 30 calls)
"""

import json
import os
import random
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import square2d_model as model  # noqa: E402

N_ROWS, NOISE, REPS = 8192, 0.1, 30


def median_ms(f):
    f()
    times = []
    for _ in range(REPS):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main():
    rng = random.Random(1)
    theta = [[rng.uniform(-3, 3), rng.uniform(-3, 3)] for _ in range(N_ROWS)]
    x = [[1.3, 0.4]] * N_ROWS
    line = json.dumps({"op": "log_likelihood", "x": x, "theta": theta})
    request = json.loads(line)
    xa, ta = np.asarray(x, dtype=float), np.asarray(theta, dtype=float)
    values = model.log_likelihood(xa, ta, NOISE)
    payload = np.concatenate([xa.ravel(), ta.ravel()]).astype("<f8").tobytes()
    rows = [
        ("json: parse request", lambda: json.loads(line)),
        ("json: lists -> arrays", lambda: (np.asarray(request["x"], dtype=float), np.asarray(request["theta"], dtype=float))),
        ("likelihood (numpy)", lambda: model.log_likelihood(xa, ta, NOISE)),
        ("json: array -> list", lambda: values.tolist()),
        ("json: write answer", lambda: json.dumps({"log_likelihood": values.tolist()})),
        ("f64le: bytes -> arrays", lambda: np.frombuffer(payload, dtype="<f8").reshape(2, N_ROWS, 2)),
        ("f64le: array -> bytes", lambda: values.astype("<f8").tobytes()),
    ]
    print("request of %d rows (%d kB as JSON, %d kB as f64le)" % (N_ROWS, len(line) // 1000, len(payload) // 1000))
    for name, f in rows:
        print("%-24s %8.3f ms" % (name, median_ms(f)))


if __name__ == "__main__":
    main()
