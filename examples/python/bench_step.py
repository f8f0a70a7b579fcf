"""Cost of a NumPy likelihood: ms per training step of square2d with the likelihood as a NumPy
function, against the built-in Rust task, same settings (the task's defaults: 64 observations ×
8192 draws weighted per step, a 4-component mixture base) and seed.

ms/step = (time of `steps_long` − time of `steps_short`) / (steps_long − steps_short), so setup
(standardisation, initialisation) cancels; the runs alternate and each arm keeps its fastest.

    python examples/python/bench_step.py [repeats]
"""

import sys
import time

import numpy as np

import lwflow

SIGMA = 0.1
LOG_NORM = 2 * (-np.log(SIGMA) - 0.5 * np.log(2 * np.pi))


def plain(x, theta):
    """The likelihood as one would first write it."""
    return np.sum(-0.5 * ((x - theta**2) / SIGMA) ** 2, axis=1) + LOG_NORM


def tuned(x, theta):
    """The same values with fewer temporaries and no axis reduction."""
    r = x - theta * theta
    r *= r
    return LOG_NORM - (0.5 / SIGMA**2) * (r[:, 0] + r[:, 1])


def simulator(theta, seed):
    return theta * theta + SIGMA * np.random.default_rng(seed).standard_normal(theta.shape)


def seconds(model, steps):
    start = time.perf_counter()
    lwflow.train(model, steps=steps, components=4, seed=1, progress=False)
    return time.perf_counter() - start


if __name__ == "__main__":
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    short, long = 50, 150
    prior = lwflow.Uniform(-3, 3, dim=2)
    arms = {
        "built-in Rust task": "square2d",
        "NumPy, plain": lwflow.Model(prior, plain, simulator),
        "NumPy, tuned": lwflow.Model(prior, tuned, simulator),
    }
    best = {name: np.inf for name in arms}
    for _ in range(repeats):
        for name, model in arms.items():
            per_step = (seconds(model, long) - seconds(model, short)) / (long - short)
            best[name] = min(best[name], per_step)
    base = best["built-in Rust task"]
    for name, per_step in best.items():
        print(f"{name:20s} {1e3 * per_step:7.1f} ms/step  {per_step / base:5.2f}×")
