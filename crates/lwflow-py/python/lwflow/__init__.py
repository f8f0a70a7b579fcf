"""lwflow: amortized Bayesian posteriors q(θ|x) from a prior and a likelihood, trained by
likelihood-weighted normalizing flows in Rust.

    import numpy as np, lwflow
    prior = lwflow.Uniform([-3, -3], [3, 3])
    model = lwflow.Model(prior, log_likelihood=f, simulator=g)   # f(x, theta) -> (n,), g(theta, seed) -> (n, dx)
    post = lwflow.train(model, steps=2000, seed=1)                # any `lwflow train` flag, - as _
    theta = post.sample(x_obs, 10_000)                            # (10000, 2)
    post.save("model.lwf")                                        # the CLI reads it; lwflow.load reads the CLI's

Submodules: ``lwflow.tasks`` (built-in tasks and reference posteriors), ``lwflow.metrics``
(C2ST, MMD, Wasserstein, KL), ``lwflow.plot`` (corner plots, with matplotlib).
"""

from ._lwflow import (
    SETTINGS,
    Model,
    MultivariateNormal,
    Normal,
    Posterior,
    Prior,
    Uniform,
    __version__,
    check,
    load,
    train,
)
from . import metrics, plot, tasks

__all__ = [
    "SETTINGS",
    "Model",
    "MultivariateNormal",
    "Normal",
    "Posterior",
    "Prior",
    "Uniform",
    "__version__",
    "check",
    "load",
    "metrics",
    "plot",
    "tasks",
    "train",
]
