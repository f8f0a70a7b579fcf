"""Shared pieces: a NumPy copy of the built-in square2d task, settings small enough for tests,
and the `lwflow` command-line binary for the round trips."""

import os
import pathlib
import shutil

import numpy as np
import pytest

import lwflow

SIGMA = 0.1
LOG_NORM = -np.log(SIGMA) - 0.5 * np.log(2 * np.pi)

# A few seconds of training: enough to exercise every path, not to converge.
TINY = dict(steps=30, thetas_per_step=512, obs_per_step=16, batch=256, hidden=32, layers=2, components=4)
# The same settings as `lwflow train` flags.
TINY_FLAGS = [
    "--steps", "30", "--thetas-per-step", "512", "--obs-per-step", "16", "--batch", "256",
    "--hidden", "32", "--layers", "2", "--components", "4",
]


def square_log_likelihood(x, theta):
    """log N(x; θ², σ² I) per row: square2d's likelihood."""
    r = x - theta * theta
    return np.sum(LOG_NORM - 0.5 * (r / SIGMA) ** 2, axis=1)


def square_simulator(theta, seed):
    return theta * theta + SIGMA * np.random.default_rng(seed).standard_normal(theta.shape)


@pytest.fixture
def square_model():
    return lwflow.Model(lwflow.Uniform(-3, 3, dim=2), square_log_likelihood, square_simulator)


def model_with(log_likelihood=square_log_likelihood, simulator=square_simulator):
    return lwflow.Model(lwflow.Uniform(-3, 3, dim=2), log_likelihood, simulator, x_dim=2)


@pytest.fixture(scope="session")
def cli():
    """The `lwflow` binary: $LWFLOW_BIN, else the workspace's release build, else on PATH."""
    root = pathlib.Path(__file__).resolve().parents[3]
    for candidate in (os.environ.get("LWFLOW_BIN"), root / "target" / "release" / "lwflow", shutil.which("lwflow")):
        if candidate and pathlib.Path(candidate).is_file():
            return str(candidate)
    if os.environ.get("CI"):
        pytest.fail("no lwflow binary: build it with `cargo build --release -p lwflow-cli` or set LWFLOW_BIN")
    pytest.skip("no lwflow binary (cargo build --release -p lwflow-cli, or set LWFLOW_BIN)")
