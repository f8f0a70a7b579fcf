"""Many observations at once: `Posterior.sample` with x of shape (n_obs, x_dim) and
`lwflow sample --obs-file` give the same draws, observation j with its own seed (observation 0
what x[0] alone gives), as one .npy of shape (n_obs, n, dθ) with a sidecar naming the columns,
or a long CSV with an `obs` column."""

import json
import subprocess

import numpy as np
import pytest

import lwflow
from conftest import TINY, TINY_FLAGS

XS = np.array([[1.0, 2.0], [0.5, 0.5], [4.0, 1.0], [1.0, 2.0]])


def run(*args):
    return subprocess.run(list(args), check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def task_file(cli, tmp_path_factory):
    path = tmp_path_factory.mktemp("many") / "square.lwf"
    run(cli, "train", "--task", "square2d", "--seed", "3", *TINY_FLAGS, "--quiet", "--out", str(path))
    return path


def test_each_observation_gets_its_own_draws():
    post = lwflow.train("square2d", progress=False, **TINY)
    many = post.sample(XS, 300, seed=4)
    assert many.shape == (4, 300, 2)
    assert np.array_equal(many[0], post.sample(XS[0], 300, seed=4))
    # Observation j's draws depend on (seed, j, x_j) only: a prefix of the file gives the same.
    assert np.array_equal(post.sample(XS[:2], 300, seed=4), many[:2])
    # The same x at rows 0 and 3 gets independent draws, from its own stream.
    assert not np.array_equal(many[0], many[3])
    assert abs(many[0].mean() - many[3].mean()) < 0.3


def test_cli_obs_file_gives_the_python_draws_with_a_sidecar(cli, task_file, tmp_path):
    obs = tmp_path / "obs.csv"
    np.savetxt(obs, XS, delimiter=",", header="x1,x2", comments="")
    out = tmp_path / "s.npy"
    run(cli, "sample", "--model", str(task_file), "--obs-file", str(obs), "--num", "250", "--seed", "5", "--out", str(out))
    got = np.load(out)
    assert got.shape == (4, 250, 2)
    assert np.array_equal(got, lwflow.load(task_file).sample(XS, 250, seed=5))
    sidecar = json.loads((tmp_path / "s.npy.json").read_text())
    assert sidecar["shape"] == [4, 250, 2] and sidecar["axes"] == ["obs", "draw", "theta"]
    assert sidecar["names"] == ["theta_1", "theta_2"] and sidecar["model"] == "square2d" and sidecar["seed"] == 5
    # A long CSV: the observation's row, then the parameters, in the .npy's order.
    csv = tmp_path / "s.csv"
    run(cli, "sample", "--model", str(task_file), "--obs-file", str(obs), "--num", "250", "--seed", "5", "--out", str(csv))
    assert csv.read_text().splitlines()[0] == "obs,theta_1,theta_2"
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert np.array_equal(table[:, 0], np.repeat(np.arange(4), 250))
    assert np.array_equal(table[:, 1:], got.reshape(-1, 2))


def test_cli_obs_file_with_importance_matches_python(cli, task_file, tmp_path):
    obs = tmp_path / "obs.npy"
    np.save(obs, XS[:2])
    out = tmp_path / "is.npy"
    done = run(cli, "sample", "--model", str(task_file), "--obs-file", str(obs), "--num", "100", "--seed", "2",
               "--importance", "--out", str(out))
    assert done.stderr.count("importance:") == 2 and "observation 1:" in done.stderr
    assert np.array_equal(np.load(out), lwflow.load(task_file).sample(XS[:2], 100, seed=2, importance=True))
    assert json.loads((tmp_path / "is.npy.json").read_text())["importance"] is True


def test_cli_obs_file_errors_name_the_file(cli, task_file, tmp_path):
    obs = tmp_path / "three.csv"
    obs.write_text("a,b,c\n1,2,3\n")
    done = subprocess.run([cli, "sample", "--model", str(task_file), "--obs-file", str(obs), "--out",
                           str(tmp_path / "s.npy")], capture_output=True, text=True)
    assert done.returncode != 0 and "three.csv: 3 columns, expected 2" in done.stderr
    both = subprocess.run([cli, "sample", "--model", str(task_file), "--obs-file", str(obs), "--obs", "1,2"],
                          capture_output=True, text=True)
    assert both.returncode != 0 and "cannot be used with" in both.stderr
