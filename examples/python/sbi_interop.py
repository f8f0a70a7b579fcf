"""lwflow inside sbi's toolbox: a posterior trained by lwflow, handed to sbi's pairplot, SBC and
C2ST through ``Posterior.to_sbi()`` (torch tensors in and out).

    pip install torch sbi                  # plus lwflow: pip install ./crates/lwflow-py
    python examples/python/sbi_interop.py  # writes results/python/sbi_pairplot.png, sbi_sbc.json

two_moons (a built-in task, sbibm's): θ ∈ [-1, 1]², x ∈ ℝ², a crescent-shaped, bimodal posterior.
"""

import json
import pathlib
import sys
import time

import numpy as np
import torch
from sbi.analysis import pairplot
from sbi.diagnostics import check_sbc, run_sbc
from sbi.diagnostics.sbc import check_uniformity_c2st
from sbi.utils.metrics import c2st

import lwflow

OUT = pathlib.Path(__file__).resolve().parents[2] / "results" / "python"
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
SBC_SIMULATIONS, SBC_DRAWS = 500, 199


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    task = lwflow.tasks.get("two_moons")
    start = time.perf_counter()
    post = lwflow.train(task, steps=STEPS, seed=1, progress=False)
    trained = time.perf_counter() - start
    x_o = task.simulate(np.array([[0.3, -0.2]]), seed=5)[0]

    # sbi's view of it: sample / log_prob with x, or a default x.
    posterior = post.to_sbi().set_default_x(torch.tensor(x_o, dtype=torch.float32))
    samples = posterior.sample((5000,))
    log_q = posterior.log_prob(samples[:5])
    reference = torch.tensor(lwflow.tasks.reference("two_moons", x_o).sample(5000, seed=2), dtype=torch.float32)
    accuracy = float(c2st(samples, reference))

    both = torch.cat([samples, reference])
    margin = 0.1 * (both.max(0).values - both.min(0).values)
    limits = torch.stack([both.min(0).values - margin, both.max(0).values + margin], dim=1).tolist()
    dots = [{"mpl_kwargs": {"s": 1, "alpha": 0.3, "color": color}} for color in ("C0", "C2")]
    fig, _ = pairplot([samples, reference], limits=limits, upper="scatter", upper_kwargs=dots,
                      labels=["θ₁", "θ₂"], figsize=(5, 5))
    fig.suptitle(f"two_moons, x = ({x_o[0]:.2f}, {x_o[1]:.2f}): lwflow (blue), reference (green)", fontsize=8)
    fig.savefig(OUT / "sbi_pairplot.png", dpi=80)

    # SBC over the prior predictive: ranks of θ* among posterior draws, uniform if calibrated.
    thetas = task.prior.sample(SBC_SIMULATIONS, seed=3)
    xs = task.simulate(thetas, seed=4)
    start = time.perf_counter()
    ranks, dap = run_sbc(torch.tensor(thetas, dtype=torch.float32), torch.tensor(xs, dtype=torch.float32),
                         posterior, num_posterior_samples=SBC_DRAWS, show_progress_bar=False)
    stats = check_sbc(ranks, torch.tensor(thetas, dtype=torch.float32), dap, num_posterior_samples=SBC_DRAWS)
    sbc_seconds = time.perf_counter() - start
    # sbi's rank C2ST compares integer ranks with continuous uniform draws, which a classifier
    # tells apart even for exactly uniform ranks: its value there is the baseline to compare with.
    uniform_ranks = torch.randint(0, SBC_DRAWS + 1, ranks.shape).float()
    baseline = check_uniformity_c2st(uniform_ranks, SBC_DRAWS)

    summary = {
        "task": "two_moons",
        "train_steps": STEPS,
        "train_seconds": round(trained, 1),
        "x_o": [round(float(v), 4) for v in x_o],
        "log_prob_first_draws": [round(float(v), 3) for v in log_q],
        "c2st_vs_reference": round(accuracy, 3),
        "sbc": {
            "simulations": SBC_SIMULATIONS,
            "posterior_draws": SBC_DRAWS,
            "seconds": round(sbc_seconds, 1),
            "ks_pvals": [round(float(v), 3) for v in stats["ks_pvals"]],
            "c2st_ranks": [round(float(v), 3) for v in stats["c2st_ranks"]],
            "c2st_ranks_of_exactly_uniform_ranks": [round(float(v), 3) for v in baseline],
            "c2st_dap": [round(float(v), 3) for v in stats["c2st_dap"]],
        },
        "versions": {"lwflow": lwflow.__version__, "torch": torch.__version__,
                     "sbi": __import__("sbi").__version__},
    }
    (OUT / "sbi_sbc.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
