"""lwflow quickstart: a model of your own in NumPy, trained, sampled, and checked against the
exact posterior on a grid.

A signal A·sin(ω t) is measured at four times with noise σ = 0.2. Amplitude and frequency are
only known up to a common sign, A·sin(ω t) = (−A)·sin(−ω t), so the posterior over θ = (A, ω)
has two disconnected modes: the case a mixture base is for.

    pip install ./crates/lwflow-py        # once, from the repository root
    python examples/python/quickstart.py  # 1000 steps; prints the C2ST, writes quickstart_corner.png
"""

import time

import numpy as np

import lwflow

T = np.array([0.5, 1.0, 1.5, 2.0])  # measurement times
SIGMA = 0.2  # noise standard deviation


def log_likelihood(x, theta):
    """log N(x; A sin(ω t), σ² I), one value per row: x (n, 4), theta (n, 2) -> (n,)."""
    a, omega = theta[:, :1], theta[:, 1:]
    r = (x - a * np.sin(omega * T)) / SIGMA
    return -0.5 * np.einsum("ij,ij->i", r, r) - len(T) * np.log(SIGMA * np.sqrt(2 * np.pi))


def simulator(theta, seed):
    """One noisy signal per row of theta: (n, 2) -> (n, 4)."""
    a, omega = theta[:, :1], theta[:, 1:]
    return a * np.sin(omega * T) + SIGMA * np.random.default_rng(seed).standard_normal((len(theta), len(T)))


prior = lwflow.Uniform(low=[-2.0, -3.0], high=[2.0, 3.0])  # A, ω
model = lwflow.Model(prior, log_likelihood=log_likelihood, simulator=simulator)


def grid_posterior(x, n_samples, n_grid=600, seed=0):
    """Exact posterior draws: p(θ|x) ∝ L(x|θ) π(θ) on a fine grid over the prior's box, a cell
    drawn by its mass and a point uniformly inside it."""
    a = np.linspace(-2.0, 2.0, n_grid + 1)
    w = np.linspace(-3.0, 3.0, n_grid + 1)
    ca, cw = 0.5 * (a[1:] + a[:-1]), 0.5 * (w[1:] + w[:-1])
    grid = np.stack(np.meshgrid(ca, cw, indexing="ij"), axis=-1).reshape(-1, 2)
    log_p = log_likelihood(np.broadcast_to(x, (len(grid), len(T))), grid)
    p = np.exp(log_p - log_p.max())
    rng = np.random.default_rng(seed)
    cells = rng.choice(len(grid), size=n_samples, p=p / p.sum())
    half = np.array([a[1] - a[0], w[1] - w[0]]) / 2
    return grid[cells] + rng.uniform(-half, half, size=(n_samples, 2))


if __name__ == "__main__":
    theta_true = np.array([[1.0, 1.2]])
    x_obs = simulator(theta_true, seed=42)[0]

    start = time.perf_counter()
    posterior = lwflow.train(model, steps=1000, seed=1)  # every `lwflow train` flag is a keyword
    trained = time.perf_counter() - start

    samples = posterior.sample(x_obs, 10_000, seed=1)  # θ ~ q(θ | x_obs), shape (10000, 2)
    exact = grid_posterior(x_obs, 10_000)
    c2st = lwflow.metrics.c2st(exact, samples)  # 0.5: indistinguishable from the exact posterior
    share = np.mean(samples[:, 0] > 0)  # the two modes have equal mass
    print(f"trained in {trained:.0f} s; C2ST vs the grid posterior {c2st:.3f}; mass in the A > 0 mode {share:.2f}")

    posterior.save("quickstart.lwf")  # `lwflow sample --model quickstart.lwf --obs ...` reads it
    try:
        lwflow.plot.corner(samples, reference=exact, labels=["A", "ω"], title="q(θ|x) and the grid posterior",
                           path="quickstart_corner.png")
        print("wrote quickstart.lwf and quickstart_corner.png")
    except ImportError:
        print("wrote quickstart.lwf (pip install matplotlib for the corner plot)")
