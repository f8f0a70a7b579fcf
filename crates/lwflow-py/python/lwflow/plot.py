"""Corner plots with matplotlib (``pip install matplotlib``): one histogram per parameter on the
diagonal, pairwise 2-D histograms below it."""

import numpy as np


def corner(samples, reference=None, labels=None, bins=60, title=None, path=None):
    """Corner plot of ``samples`` (n, d), with ``reference`` samples (m, d) drawn over it in
    outline when given. Returns the matplotlib figure; saves it to ``path`` when given."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("lwflow.plot.corner needs matplotlib: pip install matplotlib") from e
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 2:
        raise ValueError(f"samples: expected shape (n, d), got {samples.shape}")
    d = samples.shape[1]
    if reference is not None:
        reference = np.asarray(reference, dtype=float)
        if reference.ndim != 2 or reference.shape[1] != d:
            raise ValueError(f"reference: expected shape (m, {d}), got {reference.shape}")
    labels = labels or [f"θ{k + 1}" for k in range(d)]
    if len(labels) != d:
        raise ValueError(f"labels: expected {d} names, got {len(labels)}")
    both = samples if reference is None else np.vstack([samples, reference])
    lo, hi = np.quantile(both, 0.001, axis=0), np.quantile(both, 0.999, axis=0)
    fig, axes = plt.subplots(d, d, figsize=(2.4 * d + 0.6, 2.4 * d + 0.6), squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                edges = np.linspace(lo[i], hi[i], bins + 1)
                ax.hist(samples[:, i], bins=edges, density=True, color="C0", alpha=0.6)
                if reference is not None:
                    ax.hist(reference[:, i], bins=edges, density=True, histtype="step", color="k")
                ax.set_yticks([])
            else:
                ax.hist2d(samples[:, j], samples[:, i], bins=bins, range=[[lo[j], hi[j]], [lo[i], hi[i]]], cmap="Blues")
                if reference is not None:
                    h, xe, ye = np.histogram2d(reference[:, j], reference[:, i], bins=bins // 2,
                                               range=[[lo[j], hi[j]], [lo[i], hi[i]]])
                    ax.contour(0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), h.T, levels=3, colors="k",
                               linewidths=0.8)
            if i == d - 1:
                ax.set_xlabel(labels[j])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
