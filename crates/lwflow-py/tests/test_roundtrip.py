"""Model files and samples are the CLI's: a file written by `lwflow train` is read here and a
file written here is read by `lwflow sample`, with bit-identical samples for the same seed; the
same task, settings and seed train the same flow in both."""

import subprocess

import numpy as np

import lwflow
from conftest import TINY, TINY_FLAGS, square_log_likelihood, square_simulator


def run(*args):
    subprocess.run(list(args), check=True, capture_output=True, text=True)


def cli_samples(cli, model, tmp_path, obs="1,2", num=500, seed=7):
    out = tmp_path / f"samples-{seed}.npy"
    run(cli, "sample", "--model", str(model), "--obs", obs, "--num", str(num), "--seed", str(seed), "--out", str(out))
    return np.load(out)


def test_cli_model_file_samples_bit_identically_in_python(cli, tmp_path):
    path = tmp_path / "cli.lwf"
    run(cli, "train", "--task", "square2d", "--seed", "3", *TINY_FLAGS, "--quiet", "--out", str(path))
    post = lwflow.load(path)
    assert post.info["task"] == "square2d"
    expected = cli_samples(cli, path, tmp_path)
    got = post.sample([1.0, 2.0], 500, seed=7)
    assert got.shape == (500, 2)
    assert np.array_equal(got, expected)
    # The default seed is the CLI's default too.
    assert np.array_equal(post.sample([1.0, 2.0], 500), cli_samples(cli, path, tmp_path, seed=1))


def test_python_model_file_samples_bit_identically_with_the_cli(cli, tmp_path, square_model):
    post = lwflow.train(square_model, seed=2, progress=False, **TINY)
    path = tmp_path / "py.lwf"
    post.save(path)
    assert np.array_equal(cli_samples(cli, path, tmp_path, seed=11), post.sample([1.0, 2.0], 500, seed=11))
    # And it reads back here with the same parameters.
    again = lwflow.load(path)
    theta = post.sample([1.0, 2.0], 100, seed=5)
    assert np.array_equal(again.log_prob(theta, [1.0, 2.0]), post.log_prob(theta, [1.0, 2.0]))


def test_same_task_settings_and_seed_train_the_same_flow_as_the_cli(cli, tmp_path):
    path = tmp_path / "cli.lwf"
    run(cli, "train", "--task", "square2d", "--seed", "4", *TINY_FLAGS, "--quiet", "--out", str(path))
    post = lwflow.train("square2d", seed=4, progress=False, **TINY)
    assert np.array_equal(post.sample([1.0, 2.0], 500, seed=7), cli_samples(cli, path, tmp_path))
    cli_info, py_info = lwflow.load(path).info, post.info
    assert cli_info["flow"] == py_info["flow"] and cli_info["train"] == py_info["train"]


def test_same_seed_same_python_model_gives_identical_flows(square_model):
    a = lwflow.train(square_model, seed=5, progress=False, **TINY).sample([0.5, 1.5], 300, seed=2)
    b = lwflow.train(square_model, seed=5, progress=False, **TINY).sample([0.5, 1.5], 300, seed=2)
    c = lwflow.train(square_model, seed=6, progress=False, **TINY).sample([0.5, 1.5], 300, seed=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_parameter_names_reach_the_model_file_and_the_cli_csv(cli, tmp_path):
    prior = lwflow.Uniform(-3, 3, dim=2, names=["freq", "phase"])
    assert prior.names == ["freq", "phase"] and lwflow.Uniform(-3, 3, dim=2).names == ["theta_1", "theta_2"]
    joint = lwflow.Prior.independent(lwflow.Uniform(0, 1, names=["a"]), lwflow.Normal(0, 1, names=["b"]))
    assert joint.names == ["a", "b"]
    model = lwflow.Model(prior, square_log_likelihood, square_simulator, x_dim=2)
    post = lwflow.train(model, seed=2, progress=False, **TINY)
    path = tmp_path / "named.lwf"
    post.save(path)
    assert lwflow.load(path).prior.names == ["freq", "phase"]
    out = tmp_path / "named.csv"
    run(cli, "sample", "--model", str(path), "--obs", "1,2", "--num", "5", "--out", str(out))
    assert out.read_text().splitlines()[0] == "freq,phase"
