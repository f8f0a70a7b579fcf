"""Beyond one machine: a likelihood that costs seconds, evaluated on a Dask cluster.

lwflow calls ``log_likelihood(x, theta)`` with up to 8192 rows at a time, from a few threads.
``on_cluster`` wraps any such function: each call's rows are split into one block per worker
(or ``n_blocks`` blocks), the blocks are mapped over a ``dask.distributed.Client`` and the
results put back in row order. The cluster sees few, large tasks, and the model it trains is the
one the plain function gives (same seed, bit-identical samples): only where each row is
computed changes.

    pip install "dask[distributed]"
    python examples/python/dask_cluster.py                  # a LocalCluster of 2 workers
    python examples/python/dask_cluster.py tcp://host:8786  # a running scheduler

The same wrapper serves any pool with a map: ``ray.get([remote_f.remote(xb, tb) for ...])``,
``concurrent.futures``/``mpi4py.futures.MPIPoolExecutor().map(f, x_blocks, theta_blocks)``.
"""

import sys
import time

import numpy as np

import lwflow

SIGMA = 0.1


def slow_log_likelihood(x, theta):
    """log N(x; θ², σ² I) per row (square2d's likelihood): x (n, 2), theta (n, 2) -> (n,).
    Stands for a model that costs real time per row."""
    r = (x - theta * theta) / SIGMA
    return -0.5 * np.sum(r * r, axis=1) - 2 * np.log(SIGMA * np.sqrt(2 * np.pi))


def simulator(theta, seed):
    return theta * theta + SIGMA * np.random.default_rng(seed).standard_normal(theta.shape)


def on_cluster(log_likelihood, client, n_blocks=None):
    """``log_likelihood`` evaluated on ``client``'s workers: each call's rows split into
    ``n_blocks`` blocks (default: one per worker), one task per block, results in row order."""
    n_blocks = n_blocks or max(len(client.scheduler_info()["workers"]), 1)

    def log_likelihood_on_cluster(x, theta):
        rows = max(-(-len(theta) // n_blocks), 1)
        starts = range(0, len(theta), rows)
        futures = client.map(
            log_likelihood, [x[s : s + rows] for s in starts], [theta[s : s + rows] for s in starts], pure=False
        )
        return np.concatenate(client.gather(futures)) if futures else np.zeros(0)

    return log_likelihood_on_cluster


def main(address=None):
    from dask.distributed import Client, LocalCluster

    cluster = None if address else LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
    with Client(address or cluster) as client:
        prior = lwflow.Uniform(-3, 3, dim=2, names=["a", "b"])
        model = lwflow.Model(prior, on_cluster(slow_log_likelihood, client), simulator, x_dim=2)
        start = time.perf_counter()
        posterior = lwflow.train(model, steps=300, seed=1, progress=False)
        print(f"trained on {len(client.scheduler_info()['workers'])} workers in {time.perf_counter() - start:.1f} s")
        print("posterior mean at x = (1, 2):", posterior.sample([1.0, 2.0], 10_000).mean(axis=0).round(3))
    if cluster is not None:
        cluster.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
