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
  short-payload (binary only) announces a full payload, writes half of it, then exits
  huge-payload  (binary only) announces a payload of 2^40 doubles
  twice         answers the third request twice (both carry its id), shifting every later answer
  stderr-flood  writes 64 MB of progress-bar text without a newline to stderr, then answers correctly

With argv[2] == "f64le" the model accepts lwflow's binary framing in its first answer (which is
correct, in JSON) and misbehaves from the second request on, in binary answers where the mode
has a binary form; otherwise it speaks JSON lines and misbehaves from the first request.

Correct answers are those of x = theta**2 (noise 0), log-likelihood -sum (x - theta**2)**2.
"""

import array
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


def read_matrix(stdin, descriptor):
    rows, cols = descriptor["f64le"]
    values = array.array("d", stdin.read(8 * rows * cols))
    if sys.byteorder == "big":
        values.byteswap()
    return [list(values[r * cols : (r + 1) * cols]) for r in range(rows)]


CURRENT_ID = None


def write(stdout, reply, payload=b""):
    if CURRENT_ID is not None:  # echo the request id, as a well-behaved model does
        reply = {"id": CURRENT_ID, **reply}
    stdout.write(json.dumps(reply).encode() + b"\n" + payload)
    stdout.flush()


def f64le(values):
    flat = array.array("d", [v for row in values for v in row] if values and isinstance(values[0], list) else values)
    if sys.byteorder == "big":
        flat.byteswap()
    return flat.tobytes()


def main():
    mode = sys.argv[1]
    binary = len(sys.argv) > 2 and sys.argv[2] == "f64le"
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    n = 0
    while True:
        line = stdin.readline()
        if not line:
            break
        request = json.loads(line)
        global CURRENT_ID
        CURRENT_ID = request.get("id")
        was_binary = False
        for key in ("x", "theta"):
            if isinstance(request.get(key), dict):
                request[key] = read_matrix(stdin, request[key])
                was_binary = True
        if binary and n >= 1 and not was_binary:
            write(stdout, {"error": "expected a binary request after accepting f64le"})
            n += 1
            continue
        reply = correct(request)
        key = "x" if request["op"] == "simulate" else "log_likelihood"
        if binary and n == 0:  # accept the binary framing; answer correctly
            reply["format"] = "f64le"
            write(stdout, reply)
            n += 1
            continue
        misbehave = n >= 1 if mode == "exit" else True
        n += 1
        if mode == "wrong-length":
            reply[key] = reply[key][:-1]
        elif mode == "nan":
            reply[key] = [[float("nan")] * len(r) for r in reply[key]] if key == "x" else [float("nan")] * len(reply[key])
        elif mode == "error":
            write(stdout, {"error": "simulator exploded"})
            continue
        elif mode == "exit" and misbehave:
            sys.stderr.write("misbehaving_model: exiting on purpose\n")
            sys.stderr.flush()
            sys.exit(3)
        elif mode == "hang":
            time.sleep(3600)
        elif mode == "garbage":
            stdout.write(b"this is not json\n")
            stdout.flush()
            continue
        elif mode == "no-key":
            write(stdout, {})
            continue
        elif mode == "zero" and key == "log_likelihood":
            reply[key] = [None if i % 4 == 0 else float("-inf") if i % 4 == 1 else v for i, v in enumerate(reply[key])]
        elif mode == "short-payload":
            values = reply[key]
            shape = [len(values), len(values[0])] if key == "x" else len(values)
            payload = f64le(values)
            stdout.write(json.dumps({key: {"f64le": shape}}).encode() + b"\n" + payload[: len(payload) // 2])
            stdout.flush()
            sys.exit(3)
        elif mode == "twice" and n == 3:
            write(stdout, reply)
        elif mode == "stderr-flood" and n == 1:
            chunk = b"\r 42%|####      | 4242/10000 [00:01<00:02]" * 1000
            for _ in range(64 * 1024 * 1024 // len(chunk)):
                sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
        elif mode == "huge-payload":
            write(stdout, {key: {"f64le": [1 << 40, 2] if key == "x" else 1 << 40}})
            continue
        if binary:
            values = [float("-inf") if v is None else v for v in reply[key]] if key == "log_likelihood" else reply[key]
            shape = [len(values), len(values[0]) if values else 0] if key == "x" else len(values)
            write(stdout, {key: {"f64le": shape}}, f64le(values))
        else:
            write(stdout, reply)


if __name__ == "__main__":
    main()
