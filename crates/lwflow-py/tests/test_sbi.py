"""`Posterior.to_sbi()`: the interface sbi's posteriors have, torch tensors in and out; sbi's
run_sbc and c2st take it. Skipped without torch (and the sbi part without sbi)."""

import numpy as np
import pytest

import lwflow
from conftest import TINY

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def post():
    return lwflow.train("square2d", progress=False, **TINY)


def test_sample_and_log_prob_are_the_posteriors_in_torch(post):
    sbi_post = post.to_sbi()
    x = torch.tensor([1.0, 2.0])
    torch.manual_seed(0)
    a = sbi_post.sample((10, 30), x=x)
    assert a.shape == (10, 30, 2) and a.dtype == torch.float32
    torch.manual_seed(0)
    assert torch.equal(sbi_post.sample((10, 30), x=x[None]), a)
    assert not torch.equal(sbi_post.sample((10, 30), x=x), a)
    theta = a.reshape(-1, 2)
    expected = post.log_prob(theta.double().numpy(), [1.0, 2.0])
    log_q = sbi_post.set_default_x(x).log_prob(theta)
    assert log_q.shape == (300,) and np.allclose(log_q.numpy(), expected, rtol=1e-6)
    assert sbi_post.sample((5,)).shape == (5, 2)
    with pytest.raises(ValueError, match=r"x: expected shape \(2,\) or \(1, 2\)"):
        sbi_post.sample((5,), x=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="no x given"):
        post.to_sbi().sample((5,))


def test_batched_sampling_has_sbis_axis_order(post):
    xs = torch.tensor([[1.0, 2.0], [0.5, 0.5], [4.0, 1.0]])
    torch.manual_seed(3)
    draws = post.to_sbi().sample_batched((40,), x=xs)
    assert draws.shape == (40, 3, 2)
    log_q = post.to_sbi().log_prob_batched(draws, xs)
    assert log_q.shape == (40, 3)
    expected = post.log_prob(draws[:, 1].double().numpy(), [0.5, 0.5])
    assert np.allclose(log_q[:, 1].numpy(), expected, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Number of")
def test_sbi_tools_run_on_it(post):
    pytest.importorskip("sbi")
    from sbi.diagnostics import run_sbc
    from sbi.utils.metrics import c2st

    task = lwflow.tasks.get("square2d")
    thetas = task.prior.sample(20, seed=1)
    xs = task.simulate(thetas, seed=2)
    ranks, dap = run_sbc(torch.tensor(thetas, dtype=torch.float32), torch.tensor(xs, dtype=torch.float32),
                         post.to_sbi(), num_posterior_samples=50, show_progress_bar=False)
    assert ranks.shape == (20, 2) and dap.shape == (20, 2)
    assert (ranks >= 0).all() and (ranks <= 50).all()
    samples = post.to_sbi(x=[1.0, 2.0]).sample((500,))
    accuracy = float(c2st(samples, samples + 5.0))
    assert accuracy > 0.9
