"""The rest of the surface: priors, models, tasks and references, posteriors, metrics."""

import numpy as np
import pytest

import lwflow
from conftest import TINY, square_log_likelihood


def test_uniform_and_normal_broadcast_and_check_their_arguments():
    p = lwflow.Uniform(-3, 3, dim=2)
    assert p.dim == 2 and len(p) == 2
    assert p.marginals == [{"kind": "uniform", "low": -3.0, "high": 3.0}] * 2
    assert lwflow.Uniform([-1, 0], 5).marginals[1] == {"kind": "uniform", "low": 0.0, "high": 5.0}
    n = lwflow.Normal([0.0, 1.0, 2.0], 0.5)
    assert n.dim == 3 and n.marginals[2] == {"kind": "normal", "mean": 2.0, "std": 0.5}
    with pytest.raises(ValueError, match="high: 2 values for a prior of dimension 3"):
        lwflow.Uniform([0, 0, 0], [1, 1])
    with pytest.raises(ValueError, match="prior dimension 0"):
        lwflow.Uniform(1, 1)
    with pytest.raises(ValueError, match="prior dimension 1"):
        lwflow.Normal([0, 0], [1, -1])
    joint = lwflow.Prior.independent(lwflow.Uniform(0, 1), lwflow.Normal(0, 2, dim=2))
    assert joint.dim == 3 and [m["kind"] for m in joint.marginals] == ["uniform", "normal", "normal"]


def test_uniform_periodic_flags_carry_over_and_are_checked():
    p = lwflow.Uniform([0, 0], [1, 2 * np.pi], periodic=[False, True])
    assert p.periodic == [False, True]
    assert lwflow.Uniform(0, 1, dim=2, periodic=True).periodic == [True, True]
    assert lwflow.Uniform(0, 1).periodic == [False]
    joint = lwflow.Prior.independent(lwflow.Normal(0, 1), p)
    assert joint.periodic == [False, False, True]
    with pytest.raises(ValueError, match="prior.periodic"):
        lwflow.Uniform([0, 0], [1, 1], periodic=[True])
    with pytest.raises(ValueError, match="periodic: expected a bool or 2 bools"):
        lwflow.Uniform([0, 0], [1, 1], periodic="yes")


def test_prior_samples_and_densities():
    p = lwflow.Uniform([0, -2], [1, 2])
    draws = p.sample(20_000, seed=3)
    assert draws.shape == (20_000, 2)
    assert np.array_equal(draws, p.sample(20_000, seed=3))
    assert draws[:, 0].min() > 0 and draws[:, 0].max() < 1 and abs(draws[:, 1].mean()) < 0.05
    assert np.allclose(p.log_prob(draws[:3]), -np.log(4.0))
    assert p.log_prob(np.array([[2.0, 0.0]]))[0] == -np.inf
    mvn = lwflow.MultivariateNormal([1.0, -1.0], [[2.0, 0.5], [0.5, 1.0]])
    cov = np.cov(mvn.sample(200_000, seed=1).T)
    assert np.allclose(cov, np.linalg.inv([[2.0, 0.5], [0.5, 1.0]]), atol=0.02)
    assert mvn.correlated


def test_tasks_are_models_with_references():
    assert "square2d" in lwflow.tasks.names and "two_moons" in lwflow.tasks.names
    square = lwflow.tasks.get("square2d")
    assert (square.theta_dim, square.x_dim, square.task_name) == (2, 2, "square2d")
    theta = square.prior.sample(1000, seed=2)
    x = square.simulate(theta, seed=4)
    assert x.shape == (1000, 2) and np.array_equal(x, square.simulate(theta, seed=4))
    # The built-in likelihood is the formula the tests' NumPy model uses.
    assert np.allclose(square.log_likelihood(x, theta), square_log_likelihood(x, theta))
    assert np.allclose(square.log_likelihood(x[0], theta), square_log_likelihood(np.repeat(x[:1], 1000, 0), theta))
    ref = lwflow.tasks.reference("square2d", [1.0, 2.0])
    draws = ref.sample(5000, seed=1)
    assert draws.shape == (5000, 2) and sorted(np.round(np.abs(draws).mean(axis=0), 1)) == [1.0, 1.4]
    assert len(ref.modes) == 4 and np.isfinite(ref.log_prob(draws)).all()
    with pytest.raises(ValueError, match="unknown task"):
        lwflow.tasks.get("sqare2d")


def test_posterior_samples_densities_and_info(square_model):
    post = lwflow.train(square_model, progress=False, **TINY)
    one = post.sample([1.0, 2.0], 200, seed=3)
    many = post.sample([[1.0, 2.0], [0.5, 0.5], [4.0, 1.0]], 200, seed=3)
    assert one.shape == (200, 2) and many.shape == (3, 200, 2)
    # Observation 0 gets what it gets alone; the others their own seeds (test_sample_many.py).
    assert np.array_equal(many[0], one) and not np.array_equal(many[2], post.sample([4.0, 1.0], 200, seed=3))
    log_q = post.log_prob(one, [1.0, 2.0])
    assert log_q.shape == (200,) and np.isfinite(log_q).all()
    paired = post.log_prob(one[:3], [[1.0, 2.0], [1.0, 2.0], [0.5, 0.5]])
    assert paired[:2] == pytest.approx(log_q[:2]) and paired[2] != pytest.approx(log_q[2])
    info = post.info
    assert info["theta_dim"] == 2 and info["base"] == "gmm" and info["components"] == 4
    assert info["train"]["steps"] == TINY["steps"] and info["task"].startswith("python:")
    assert post.prior.marginals == square_model.prior.marginals


def test_importance_sampling_uses_the_likelihood(tmp_path, square_model):
    post = lwflow.train(square_model, progress=False, **TINY)
    out = post.importance([1.0, 2.0], 500, seed=2)
    assert out["samples"].shape == (500, 2) and out["draws"] >= 5000 and 0 < out["ess"] <= out["draws"]
    assert np.isfinite(out["log_evidence"])
    assert np.array_equal(post.sample([1.0, 2.0], 500, seed=2, importance=True), out["samples"])
    # A file of a Python model does not carry its likelihood: importance sampling asks for it.
    path = tmp_path / "m.lwf"
    post.save(path)
    loaded = lwflow.load(path)
    with pytest.raises(ValueError, match="importance sampling needs the likelihood of 'python:"):
        loaded.sample([1.0, 2.0], 10, importance=True)
    again = loaded.sample([1.0, 2.0], 500, seed=2, importance=True, model=square_model)
    assert np.array_equal(again, out["samples"])


def test_metrics_tell_equal_from_different_samples():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2000, 2)), rng.standard_normal((2000, 2))
    far = b + np.array([3.0, 0.0])
    assert abs(lwflow.metrics.c2st(a, b) - 0.5) < 0.05
    assert lwflow.metrics.c2st(a, far) > 0.9
    assert lwflow.metrics.mmd2(a, b) < 0.01 < lwflow.metrics.mmd2(a, far)
    assert lwflow.metrics.sliced_w2(a, far, n_projections=200) == pytest.approx(3 / np.sqrt(2), rel=0.15)
    assert lwflow.metrics.w2(a[:300], far[:300]) == pytest.approx(3.0, rel=0.15)
    kl, se = lwflow.metrics.kl_p_q(np.zeros(10), np.full(10, -1.0))
    assert (kl, se) == (1.0, 0.0)
    with pytest.raises(ValueError, match=r"q: expected shape \(n, 2\), got \(10, 3\)"):
        lwflow.metrics.c2st(a, np.zeros((10, 3)))
