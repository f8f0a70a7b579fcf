#!/usr/bin/env python3
"""An external lwflow model that misbehaves on purpose, for tests. The mode is argv[1]:

  wrong-length  answers with one value (or row) too few
  nan           puts NaN (a bare, non-JSON literal, as Python's json writes it) in every answer
  error         answers {"error": "simulator exploded"}
  exit          answers the first request correctly, then exits with status 3 (after a stderr note)
  hang          reads requests and never answers
  garbage       answers a line that is not JSON
  no-key        answers {} (neither the expected key nor "error")
  zero          answers correctly but with a zero likelihood (null / -Infinity) on alternate rows

Correct answers are those of x = theta**2 (noise 0), log-likelihood -sum (x - theta**2)**2.
"""

import json
import sys
import time


def correct(request):
    if request["op"] == "simulate":
        return {"x": [[t * t for t in row] for row in request["theta"]]}
    return {
        "log_likelihood": [
            -sum((xk - tk * tk) ** 2 for xk, tk in zip(xr, tr)) for xr, tr in zip(request["x"], request["theta"])
        ]
    }


def main():
    mode = sys.argv[1]
    for n, line in enumerate(sys.stdin):
        request = json.loads(line)
        reply = correct(request)
        key = "x" if request["op"] == "simulate" else "log_likelihood"
        if mode == "wrong-length":
            reply[key] = reply[key][:-1]
        elif mode == "nan":
            reply[key] = [[float("nan")] * len(r) for r in reply[key]] if key == "x" else [float("nan")] * len(reply[key])
        elif mode == "error":
            reply = {"error": "simulator exploded"}
        elif mode == "exit" and n >= 1:
            sys.stderr.write("misbehaving_model: exiting on purpose\n")
            sys.stderr.flush()
            sys.exit(3)
        elif mode == "hang":
            time.sleep(3600)
        elif mode == "garbage":
            sys.stdout.write("this is not json\n")
            sys.stdout.flush()
            continue
        elif mode == "no-key":
            reply = {}
        elif mode == "zero" and key == "log_likelihood":
            reply[key] = [None if i % 4 == 0 else float("-inf") if i % 4 == 1 else v for i, v in enumerate(reply[key])]
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
