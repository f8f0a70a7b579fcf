"""sbi interoperability: ``Posterior.to_sbi()`` wraps a trained posterior in the interface sbi's
posteriors have, so ``sbi.analysis.pairplot``, ``sbi.diagnostics.run_sbc`` and
``sbi.utils.metrics.c2st`` take it as they take sbi's own. Torch tensors in and out (float32,
as sbi's); torch is imported only here, when ``to_sbi`` is called.

Randomness follows sbi's convention: each ``sample`` call draws its seed from torch's global
generator, so ``torch.manual_seed`` makes a run repeatable and successive calls differ.
"""

import math

import numpy as np


def _torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError("Posterior.to_sbi needs torch: pip install torch (and sbi for its tools)") from e
    return torch


def _numpy(a):
    """A tensor or array-like as a float64 NumPy array."""
    return np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a, dtype=np.float64)


class SbiPosterior:
    """A ``lwflow.Posterior`` seen as an sbi posterior: ``sample(sample_shape, x=...)``,
    ``sample_batched``, ``log_prob(theta, x=...)``, ``set_default_x``. ``importance=True`` makes
    ``sample`` return importance-corrected draws (the likelihood of the posterior's model)."""

    def __init__(self, posterior, x=None, importance=False):
        self._torch = _torch()
        self.posterior = posterior
        self.importance = importance
        self.default_x = None if x is None else self._x(x)

    def __repr__(self):
        return f"SbiPosterior({self.posterior!r})"

    def set_default_x(self, x):
        """Sets the observation ``sample`` and ``log_prob`` use when given none; returns self."""
        self.default_x = self._x(x)
        return self

    def _x(self, x):
        """One observation as a float64 vector: (x_dim,) or sbi's batch of one, (1, x_dim)."""
        x = _numpy(x)
        if x.ndim == 2 and x.shape[0] == 1:
            x = x[0]
        if x.shape != (self.posterior.x_dim,):
            raise ValueError(
                f"x: expected shape ({self.posterior.x_dim},) or (1, {self.posterior.x_dim}) for one observation, "
                f"got {tuple(x.shape)}; use sample_batched for several"
            )
        return x

    def _given_x(self, x):
        if x is not None:
            return self._x(x)
        if self.default_x is None:
            raise ValueError("no x given and no default x set: pass x=... or call set_default_x(x)")
        return self.default_x

    def _seed(self):
        return int(self._torch.randint(0, 2**62, (1,)).item())

    def _tensor(self, array):
        return self._torch.as_tensor(np.ascontiguousarray(array), dtype=self._torch.float32)

    def sample(self, sample_shape=(), x=None, **_ignored):
        """Draws of θ | x, shape (*sample_shape, theta_dim). sbi's keywords
        (``show_progress_bars``, ...) are accepted and ignored."""
        shape = tuple(sample_shape)
        n = math.prod(shape)
        draws = self.posterior.sample(self._given_x(x), max(n, 1), seed=self._seed(), importance=self.importance)
        return self._tensor(draws[:n].reshape(*shape, self.posterior.theta_dim))

    def sample_batched(self, sample_shape, x, **_ignored):
        """Draws for each row of x (batch, x_dim), shape (*sample_shape, batch, theta_dim) as in
        sbi; the observations are sampled in parallel in Rust."""
        shape = tuple(sample_shape)
        n = math.prod(shape)
        xs = _numpy(x)
        xs = xs.reshape(-1, self.posterior.x_dim)
        draws = self.posterior.sample(xs, max(n, 1), seed=self._seed(), importance=self.importance)
        draws = np.swapaxes(draws[:, :n], 0, 1)  # (n, batch, theta_dim)
        return self._tensor(draws.reshape(*shape, xs.shape[0], self.posterior.theta_dim))

    def log_prob(self, theta, x=None, **_ignored):
        """log q(θ|x) per row of theta (n, theta_dim) (or one θ, shape (theta_dim,)), shape (n,)."""
        theta = _numpy(theta)
        one = theta.ndim == 1
        theta = theta.reshape(-1, self.posterior.theta_dim)
        out = self.posterior.log_prob(theta, self._given_x(x))
        return self._tensor(out[0] if one else out)

    def log_prob_batched(self, theta, x, **_ignored):
        """log q(θ_sb | x_b) for theta (n, batch, theta_dim) and x (batch, x_dim), shape (n, batch)."""
        theta = _numpy(theta)
        xs = _numpy(x)
        n, batch = theta.shape[0], theta.shape[1]
        xs = np.broadcast_to(xs.reshape(batch, self.posterior.x_dim)[None], (n, batch, self.posterior.x_dim))
        out = self.posterior.log_prob(theta.reshape(-1, self.posterior.theta_dim), xs.reshape(-1, self.posterior.x_dim))
        return self._tensor(out.reshape(n, batch))
