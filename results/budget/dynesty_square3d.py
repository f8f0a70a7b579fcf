"""dynesty (nested sampling, nlive 500, multi-ellipsoid bounds) on square3d, one run per observation:
the per-observation sampler a physicist would run instead of an amortized posterior (issue 15).

square3d (crates/lwflow/src/tasks/square.rs): θ ~ U(−3, 3)³, x = θ ⊙ θ + ε, ε ~ N(0, σ² I), σ = 0.1,
    log L(x|θ) = Σ_k [−½ ((x_k − θ_k²)/σ)² − log σ − ½ log 2π],   log π(θ) = −3 log 6 inside the box.
Before running, the NumPy likelihood and prior are checked against lwflow's own values at 200 (x, θ)
pairs (square3d_loglik_check.csv, written by square3d_loglik_check.rs) to 1e-9.

For each observation i = 1..N: reads x from <bench_dir>/obs_<i>/observation.csv (the benchmark's fixed
observations), runs dynesty's static NestedSampler (nlive 500, bound 'multi', its default stopping
rule dlogz = 0.509, seed 1000000 + i), counts likelihood calls (results.ncall summed, and a counter in
the likelihood itself), draws 10,000 equal-weight samples from the importance-weighted dead and live
points (multinomial resampling with the posterior weights), writes them to <out>/obs_<i>.csv and
compares them with the benchmark's exact reference samples (<bench_dir>/obs_<i>/reference_samples.npy,
the draws the flow was judged against) with `lwflow compare --json` (C2ST with seed 1, as the
benchmark's). Prints one line per observation and writes <out>/dynesty.csv.

Usage: python3 dynesty_square3d.py LWFLOW_BINARY BENCH_DIR OUT_DIR [N_OBS=5]
"""
import csv
import json
import math
import os
import subprocess
import sys
import time

import dynesty
import numpy as np

SIGMA = 0.1
LOW, HIGH = -3.0, 3.0
DIM = 3
N_SAMPLES = 10_000
NLIVE = 500
OBSERVATION_SEED_BASE = 1_000_000
LOG_NORM = DIM * (-math.log(SIGMA) - 0.5 * math.log(2.0 * math.pi))
HERE = os.path.dirname(os.path.abspath(__file__))


def log_likelihood(theta, x):
    """Σ_k log N(x_k; θ_k², σ²), as square.rs's row_log_likelihood (the same operation order)."""
    z = (x - theta * theta) * (1.0 / SIGMA)
    return LOG_NORM - 0.5 * float(np.sum(z * z))


def log_prior(theta):
    """U(−3, 3)³ (open box): −3 log 6 inside, −inf elsewhere."""
    if np.all((theta > LOW) & (theta < HIGH)):
        return -DIM * math.log(HIGH - LOW)
    return -math.inf


def prior_transform(u):
    return LOW + (HIGH - LOW) * u


def check_against_lwflow(path=os.path.join(HERE, "square3d_loglik_check.csv"), tol=1e-9):
    worst = 0.0
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        x = np.array([float(row[f"x_{k}"]) for k in (1, 2, 3)])
        theta = np.array([float(row[f"theta_{k}"]) for k in (1, 2, 3)])
        want_l, want_p = float(row["log_likelihood"]), float(row["log_prior"])
        got_l, got_p = log_likelihood(theta, x), log_prior(theta)
        worst = max(worst, abs(got_l - want_l) / max(1.0, abs(want_l)))
        if not (got_p == want_p or abs(got_p - want_p) <= tol):
            sys.exit(f"log prior differs from lwflow's at x={x}, theta={theta}: {got_p} vs {want_p}")
    if worst > tol:
        sys.exit(f"log likelihood differs from lwflow's by up to {worst:.3e} (relative), above {tol}")
    print(f"NumPy square3d matches lwflow at {len(rows)} (x, θ) pairs: worst relative difference {worst:.2e}")


def read_observation(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return np.array([float(v) for v in rows[1]])


def run_observation(index, x, lwflow, bench_dir, out_dir):
    calls = [0]

    def loglike(theta):
        calls[0] += 1
        return log_likelihood(theta, x)

    rstate = np.random.default_rng(OBSERVATION_SEED_BASE + index)
    started, started_cpu = time.perf_counter(), time.process_time()
    sampler = dynesty.NestedSampler(loglike, prior_transform, DIM, nlive=NLIVE, bound="multi", rstate=rstate)
    sampler.run_nested(print_progress=False)
    results = sampler.results
    weights = np.exp(results.logwt - results.logz[-1])
    weights /= weights.sum()
    picks = rstate.choice(len(weights), size=N_SAMPLES, p=weights)
    samples = results.samples[picks]
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    ess = 1.0 / float(np.sum(weights**2))

    path = os.path.join(out_dir, f"obs_{index}.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"theta_{k}" for k in (1, 2, 3)])
        w.writerows(samples.tolist())
    reference = os.path.join(bench_dir, f"obs_{index}", "reference_samples.npy")
    compare = subprocess.run([lwflow, "compare", reference, path, "--json"], check=True, capture_output=True, text=True)
    c2st = json.loads(compare.stdout)["c2st"]
    return {
        "observation": index,
        "x": " ".join(repr(float(v)) for v in x),
        "likelihood_calls": calls[0],
        "dynesty_ncall": int(np.sum(results.ncall)),
        "iterations": int(results.niter),
        "log_z": float(results.logz[-1]),
        "log_z_err": float(results.logzerr[-1]),
        "posterior_ess": ess,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "c2st": c2st,
    }


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    lwflow, bench_dir, out_dir = sys.argv[1:4]
    n_obs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    check_against_lwflow()
    os.makedirs(out_dir, exist_ok=True)
    print(f"dynesty {dynesty.__version__}, numpy {np.__version__}; nlive {NLIVE}, bound 'multi'")
    rows = []
    for i in range(1, n_obs + 1):
        x = read_observation(os.path.join(bench_dir, f"obs_{i}", "observation.csv"))
        r = run_observation(i, x, lwflow, bench_dir, out_dir)
        rows.append(r)
        print(
            f"observation {i}: {r['likelihood_calls']} likelihood calls (dynesty: {r['dynesty_ncall']}), "
            f"{r['seconds']:.1f} s ({r['cpu_seconds']:.1f} s CPU), "
            f"log Z {r['log_z']:.3f} ± {r['log_z_err']:.3f}, ESS {r['posterior_ess']:.0f}, C2ST {r['c2st']:.4f}",
            flush=True,
        )
    with open(os.path.join(out_dir, "dynesty.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    mean = lambda k: sum(r[k] for r in rows) / len(rows)
    sd = lambda k: math.sqrt(sum((r[k] - mean(k)) ** 2 for r in rows) / max(1, len(rows) - 1))
    print(
        f"mean over {len(rows)} observations: {mean('likelihood_calls'):.0f} ± {sd('likelihood_calls'):.0f} calls, "
        f"{mean('seconds'):.1f} ± {sd('seconds'):.1f} s ({mean('cpu_seconds'):.1f} ± {sd('cpu_seconds'):.1f} s CPU), C2ST {mean('c2st'):.4f} ± {sd('c2st'):.4f}"
    )


if __name__ == "__main__":
    main()
