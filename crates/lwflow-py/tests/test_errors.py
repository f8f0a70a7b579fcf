"""What goes wrong in a user's functions stops training and says what and where: their own
exceptions with their traceback, NaN and wrong shapes as errors naming the call and the shape
expected; bad settings name the keyword."""

import numpy as np
import pytest

import lwflow
from conftest import TINY, model_with, square_log_likelihood, square_simulator


class ModelBug(Exception):
    pass


def fails_on_call(k, result):
    """A likelihood that returns `result(x, theta)` on its k-th call and square2d's otherwise."""
    calls = [0]

    def log_likelihood(x, theta):
        calls[0] += 1
        if calls[0] == k:
            return result(x, theta)
        return square_log_likelihood(x, theta)

    return log_likelihood


def raise_bug(x, theta):
    raise ModelBug("likelihood exploded")


def test_exception_in_likelihood_surfaces_with_its_traceback():
    with pytest.raises(ModelBug, match="likelihood exploded") as info:
        lwflow.train(model_with(fails_on_call(5, raise_bug)), progress=False, **TINY)
    assert "raise_bug" in [entry.name for entry in info.traceback]


def test_exception_in_simulator_surfaces_with_its_traceback():
    calls = [0]

    def simulator(theta, seed):
        calls[0] += 1
        if calls[0] == 3:
            raise ModelBug("simulator exploded")
        return square_simulator(theta, seed)

    with pytest.raises(ModelBug, match="simulator exploded") as info:
        lwflow.train(model_with(simulator=simulator), progress=False, **TINY)
    assert "simulator" in [entry.name for entry in info.traceback]


def test_nan_is_an_error_naming_the_call_and_row():
    def nan_at_row_7(x, theta):
        out = square_log_likelihood(x, theta)
        out[7] = np.nan
        return out

    with pytest.raises(ValueError, match=r"log_likelihood call 4 returned NaN at row 7 of \d+ \(theta = \["):
        lwflow.train(model_with(fails_on_call(4, nan_at_row_7)), progress=False, **TINY)


def test_plus_infinity_is_an_error_and_minus_infinity_a_zero_likelihood():
    def plus_inf(x, theta):
        out = square_log_likelihood(x, theta)
        out[0] = np.inf
        return out

    with pytest.raises(ValueError, match=r"log_likelihood call 2 returned inf at row 0"):
        lwflow.train(model_with(fails_on_call(2, plus_inf)), progress=False, **TINY)

    def zero_on_the_left(x, theta):
        return np.where(theta[:, 0] < -2.5, -np.inf, square_log_likelihood(x, theta))

    post = lwflow.train(model_with(zero_on_the_left), progress=False, **TINY)
    assert np.isfinite(post.sample([1.0, 1.0], 100)).all()


@pytest.mark.parametrize(
    "bad, shape",
    [
        (lambda x, theta: square_log_likelihood(x, theta)[:, None], r"\((\d+), 1\)"),
        (lambda x, theta: square_log_likelihood(x, theta)[:-1], r"\((\d+),\)"),
        (lambda x, theta: 0.0, r"\(\)"),
    ],
)
def test_wrong_likelihood_shape_names_the_expected_shape(bad, shape):
    with pytest.raises(ValueError, match=r"log_likelihood call 3 returned shape " + shape + r"; expected \(\d+,\)"):
        lwflow.train(model_with(fails_on_call(3, bad)), progress=False, **TINY)


def test_wrong_simulator_shape_names_the_expected_shape():
    def one_column(theta, seed):
        return square_simulator(theta, seed)[:, :1]

    with pytest.raises(ValueError, match=r"simulator call 1 returned shape \((\d+), 1\); expected \(\1, 2\)"):
        lwflow.train(model_with(simulator=one_column), progress=False, **TINY)
    with pytest.raises(ValueError, match=r"simulator returned shape \(1,\) .* expected \(1, x_dim\)"):
        lwflow.Model(lwflow.Uniform(-3, 3, dim=2), square_log_likelihood, lambda theta, seed: np.zeros(1))


def test_a_model_trains_again_after_a_failure():
    flaky = fails_on_call(2, raise_bug)
    model = model_with(flaky)
    with pytest.raises(ModelBug):
        lwflow.train(model, progress=False, **TINY)
    post = lwflow.train(model, progress=False, **TINY)
    assert post.info["summary"]["steps_run"] == TINY["steps"]


def test_settings_errors_name_the_keyword(square_model):
    with pytest.raises(ValueError, match=r"keyword 'stepz': not a training setting; expected one of: .*steps"):
        lwflow.train(square_model, stepz=10)
    with pytest.raises(ValueError, match=r"keyword 'steps'.*at least 1"):
        lwflow.train(square_model, steps=0)
    with pytest.raises(ValueError, match=r"keyword 'base'.*gaussian"):
        lwflow.train(square_model, base="flat")
    with pytest.raises(ValueError, match=r"keyword 'set_members'"):
        lwflow.train(square_model, set_members=3)


def test_argument_shapes_are_checked(square_model):
    post = lwflow.train(square_model, progress=False, **TINY)
    with pytest.raises(ValueError, match=r"x: expected shape \(2,\) for one observation or \(n, 2\)"):
        post.sample([1.0, 2.0, 3.0], 10)
    with pytest.raises(ValueError, match=r"theta: expected shape \(n, 2\), got \(5,\)"):
        post.log_prob(np.zeros(5), [1.0, 2.0])


def test_bad_parameter_names_are_errors_naming_the_field():
    with pytest.raises(ValueError, match="prior.names"):
        lwflow.Uniform(0, 1, dim=2, names=["a", "a"])
    with pytest.raises(ValueError, match="prior.names"):
        lwflow.Normal(0, 1, dim=2, names=["a"])
