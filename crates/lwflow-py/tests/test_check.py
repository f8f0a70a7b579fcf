"""lwflow.check: the calibration diagnostics of `lwflow check --json`, from Python, as a dict."""

import numpy as np
import pytest

import lwflow
from conftest import TINY


@pytest.fixture(scope="module")
def tiny_posterior():
    # 30 steps on square2d: far from calibrated, which the diagnostics must say.
    return lwflow.train("square2d", seed=3, **TINY)


def test_check_returns_the_cli_report_and_fails_an_undertrained_flow(tiny_posterior):
    report = lwflow.check(tiny_posterior, simulations=200, ess_observations=10, ppc_observations=5, ppc_draws=200)
    names = [t["name"] for t in report["summary"]["tests"]]
    assert names == ["sbc", "coverage", "tarp", "importance_ess", "ppc"]
    assert report["n_simulations"] == 200 and report["n_draws"] == 99
    assert [d["name"] for d in report["sbc"]["dimensions"]] == ["theta_1", "theta_2", "log_q"]
    assert len(report["ess"]["ess_fraction"]) == 10
    assert len(report["ppc"]["observations"]) == 5
    assert all(0.0 <= u <= 1.0 for o in report["ppc"]["observations"] for u in o["quantile"])
    assert report["summary"]["calibrated"] is False
    assert report["sbc"]["passed"] is False, report["sbc"]["p_value"]


def test_check_is_deterministic_and_takes_a_model_pairs_or_a_task_name(tiny_posterior, square_model):
    a = lwflow.check(tiny_posterior, "square2d", simulations=60, ess_observations=0, ppc_observations=0, seed=5)
    b = lwflow.check(tiny_posterior, simulations=60, ess_observations=0, ppc_observations=0, seed=5)
    assert a["summary"] == b["summary"] and a["sbc"] == b["sbc"]
    assert a["ess"] is None and a["ppc"] is None
    # A NumPy model and pairs the caller simulated.
    rng = np.random.default_rng(0)
    theta = rng.uniform(-3, 3, size=(50, 2))
    x = theta**2 + 0.1 * rng.standard_normal(theta.shape)
    r = lwflow.check(tiny_posterior, square_model, pairs=(theta, x), ess_observations=5, ppc_observations=3)
    assert r["n_simulations"] == 50 and len(r["ess"]["ess_fraction"]) == 5


def test_check_names_what_is_wrong(tiny_posterior):
    with pytest.raises(ValueError, match="pairs x"):
        lwflow.check(tiny_posterior, pairs=(np.zeros((5, 2)), np.zeros((5, 3))))
    with pytest.raises(ValueError, match="alpha"):
        lwflow.check(tiny_posterior, simulations=10, alpha=2.0)
    with pytest.raises(ValueError, match="dimension"):
        lwflow.check(tiny_posterior, "slcp", simulations=10)
