#!/usr/bin/env python3
"""The square2d model (square2d_model.py) made expensive: every request first sleeps MS
milliseconds per block of ROWS rows (likelihood pairs or simulated rows), rounded up, then
answers exactly as square2d_model.py does (same framings, same numbers, same seeds).

It stands for a likelihood that costs about a millisecond per evaluation (an ODE solve, a
small PDE, a detector response): the cost grows with the rows of a request, so spreading a
call's rows over several copies (`[model] workers = N` in the config) divides the wall time.
Sleeping uses no CPU, so on a machine with fewer cores than copies the copies still overlap.
See slow_external.toml and docs/external-models.md.

Usage: python3 slow_model.py [--ms MS] [--rows ROWS] [square2d_model.py options]
(defaults: 1 ms per row).
"""

import argparse
import math
import sys
import time

import square2d_model  # beside this file (Python puts the script's directory on the path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--ms", type=float, default=1.0, help="milliseconds slept per block of rows")
    parser.add_argument("--rows", type=int, default=1, help="rows per block")
    args, rest = parser.parse_known_args()
    if args.ms < 0 or args.rows < 1:
        parser.error("--ms must be >= 0 and --rows >= 1")
    answer = square2d_model.answer

    def slow_answer(request, model_args):
        rows = len(request.get("theta", ()))
        time.sleep(args.ms * 1e-3 * math.ceil(rows / args.rows))
        return answer(request, model_args)

    square2d_model.answer = slow_answer
    sys.argv = [sys.argv[0]] + rest
    square2d_model.main()


if __name__ == "__main__":
    main()
