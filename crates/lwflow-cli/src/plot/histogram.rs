//! Binning samples for display: 1-D densities and 2-D counts on equal bins.

use lwflow::{Mat, MatRef};

/// Bins per axis of 2-D sample histograms (corner and pair panels).
pub(super) const N_BINS_2D: usize = 50;

/// Bin index of `v` among `n_bins` equal bins of [lo, hi), or None outside.
fn bin_of(v: f64, (lo, hi): (f64, f64), n_bins: usize) -> Option<usize> {
    let k = ((v - lo) / (hi - lo) * n_bins as f64).floor();
    (k >= 0.0 && k < n_bins as f64).then_some(k as usize)
}

/// Histogram of column `c` normalised to a density (integrates to the in-range fraction).
pub(super) fn histogram_1d(set: MatRef<f64>, c: usize, range: (f64, f64), n_bins: usize) -> Vec<f64> {
    let mut counts = vec![0.0; n_bins];
    for r in 0..set.rows() {
        if let Some(k) = bin_of(set.at(r, c), range, n_bins) {
            counts[k] += 1.0;
        }
    }
    let scale = 1.0 / (set.rows().max(1) as f64 * (range.1 - range.0) / n_bins as f64);
    counts.iter_mut().for_each(|v| *v *= scale);
    counts
}

/// n_bins × n_bins counts of (column cx, column cy): row = y bin (0 at the bottom), col = x bin.
pub(super) fn histogram_2d(
    set: MatRef<f64>,
    (cx, cy): (usize, usize),
    ranges: ((f64, f64), (f64, f64)),
    n_bins: usize,
) -> Mat<f64> {
    let mut counts = Mat::zeros(n_bins, n_bins);
    for r in 0..set.rows() {
        if let (Some(i), Some(j)) = (bin_of(set.at(r, cy), ranges.1, n_bins), bin_of(set.at(r, cx), ranges.0, n_bins)) {
            counts.row_mut(i)[j] += 1.0;
        }
    }
    counts
}
