"""The Dask example: a likelihood mapped over a cluster's workers in row blocks trains the same
model as the plain function (same seed, bit-identical samples). Skipped without dask."""

import pathlib
import sys

import numpy as np
import pytest

import lwflow
from conftest import TINY

distributed = pytest.importorskip("dask.distributed")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "examples" / "python"))
import dask_cluster  # noqa: E402


def test_local_cluster_of_two_workers_trains_the_same_model():
    prior = lwflow.Uniform(-3, 3, dim=2)
    plain = lwflow.Model(prior, dask_cluster.slow_log_likelihood, dask_cluster.simulator, x_dim=2)
    expected = lwflow.train(plain, seed=7, progress=False, **TINY).sample([1.0, 2.0], 500, seed=3)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            f = dask_cluster.on_cluster(dask_cluster.slow_log_likelihood, client)
            x, theta = np.ones((7, 2)), np.linspace(-1, 1, 14).reshape(7, 2)
            assert np.array_equal(f(x, theta), dask_cluster.slow_log_likelihood(x, theta))
            on_cluster = lwflow.Model(prior, f, dask_cluster.simulator, x_dim=2)
            with distributed.get_task_stream(client) as stream:
                got = lwflow.train(on_cluster, seed=7, progress=False, **TINY).sample([1.0, 2.0], 500, seed=3)
            workers = {task["worker"] for task in stream.data}
    assert np.array_equal(got, expected)
    # The likelihood ran on both workers.
    assert len(workers) == 2
