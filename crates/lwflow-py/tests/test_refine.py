"""Posterior.refine: the amortized flow trained further on one observation, as `lwflow refine` does."""

import subprocess

import numpy as np
import pytest

import lwflow
from conftest import TINY_FLAGS

X = [1.0, 0.5]


def test_refine_gets_closer_at_its_observation_and_matches_the_cli(cli, tmp_path):
    amortized, by_cli = tmp_path / "a.lwf", tmp_path / "r.lwf"
    subprocess.run([cli, "train", "--task", "square2d", "--seed", "3", *TINY_FLAGS, "--quiet", "--out", str(amortized)],
                   check=True)
    subprocess.run([cli, "refine", "--model", str(amortized), "--obs", "1.0,0.5", "--steps", "1500", "--quiet",
                    "--out", str(by_cli)], check=True)
    post = lwflow.load(amortized)
    refined = post.refine(X, steps=1500)
    # One settings path: the same defaults and seed give the same flow as the CLI.
    assert np.array_equal(refined.sample(X, 500, seed=2), lwflow.load(by_cli).sample(X, 500, seed=2))
    assert refined.info["refined"]["x"] == X and refined.info["refined"]["summary"]["steps_run"] == 1500
    assert "refined" not in post.info or post.info["refined"] is None

    reference = lwflow.tasks.reference("square2d", X).sample(2000, seed=1)
    before = lwflow.metrics.c2st(reference, post.sample(X, 2000, seed=1))
    after = lwflow.metrics.c2st(reference, refined.sample(X, 2000, seed=1))
    assert before > 0.9 and after < 0.7, (before, after)


def test_refine_names_bad_settings():
    post = lwflow.train("square2d", progress=False, steps=5, thetas_per_step=256, hidden=16, layers=2)
    with pytest.raises(ValueError, match="refine.draws"):
        post.refine(X, draws=1)
    with pytest.raises(ValueError, match=r"x: expected shape \(2,\)"):
        post.refine([1.0, 2.0, 3.0])
