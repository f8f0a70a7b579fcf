//! Likelihood weights: self-normalisation per observation, effective sample size, and the
//! choice of which (θ_i, x_j) pairs the flow is evaluated on.
//!
//! For observation x_j and proposal draws θ_1..θ_N,
//!   log w_ij = log L(x_j|θ_i) + log π(θ_i) − log r(θ_i|x_j),   w̃_ij = w_ij / Σ_i w_ij,
//! and the training loss is −(1/J) Σ_j Σ_i w̃_ij log q(θ_i|x_j). Evaluating the flow on all
//! N·J pairs is wasteful: most w̃ are negligible. Two fixed-size layouts of `m` pairs per x:
//! - [`BatchLayout::Resample`]: systematic resampling of m indices i ~ w̃_·j, each with weight
//!   1/(J·m). The gradient is an unbiased estimate of the all-pairs gradient (given the draws),
//!   with the lowest variance of the standard resampling schemes.
//! - [`BatchLayout::TopWeights`]: the m largest w̃_ij, renormalised, weight w̃/(J·Σ_top w̃).
//!   Biased by the discarded tail, exact when fewer than m weights are non-negligible.
//!
//! ESS_j = 1 / Σ_i w̃_ij² measures how many prior draws effectively inform x_j.
//!
//! An observation whose draws all have zero likelihood (every log w = −∞) has no weights to
//! normalise: it is *skipped* for the step, its pairs get weight 0, the other J' observations
//! share the loss (1/J' each), and its ESS is recorded as 0 ("no draw informs it"), which the
//! [`EssStats`] summaries leave out. With nothing skipped J' = J and the weights are unchanged.

use rand::Rng as _;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::rng::{stream, Stream};
use crate::special::exp_poly;

/// How the pairs of a training batch are chosen from the J×N weight matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchLayout {
    /// Systematic resampling of `m` draws per observation, equal weights.
    Resample,
    /// The `m` largest weights per observation, renormalised.
    TopWeights,
}

/// The pairs the flow is evaluated on: row b is `(θ_{theta_idx[b]}, x_{x_idx[b]})` with loss
/// weight `w[b]`; `Σ_b w[b] = 1`.
#[derive(Clone, Debug, Default)]
pub struct WeightedBatch {
    /// Row of the step's θ matrix for each batch row.
    pub theta_idx: Vec<usize>,
    /// Row of the step's x matrix for each batch row.
    pub x_idx: Vec<usize>,
    /// Loss weight of each batch row; Σ w = 1.
    pub w: Vec<f64>,
    /// Scratch of [`BatchLayout::TopWeights`]: an index order per observation.
    order: Vec<usize>,
}

impl WeightedBatch {
    /// Number of batch rows, J·m for a step with J observations and m pairs each.
    pub fn len(&self) -> usize {
        self.w.len()
    }
    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.w.is_empty()
    }
}

/// Log-weights more than this below the largest are set to weight 0: e^−80 ≈ 1.8e−35 is far
/// below f64 resolution relative to the largest weight (1 after scaling), so the sum and ESS are
/// unchanged, and a zero-likelihood draw (−inf) stays exactly 0.
pub(crate) const LOG_WEIGHT_FLOOR: f64 = -80.0;

/// The median of `v` (the upper one for an even length; 0 for an empty slice); reorders `v`.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f64::total_cmp).1
}

/// Turns one observation's log-weights into normalised linear weights in place,
/// w̃_i = exp(log w_i − m) / Σ_k exp(log w_k − m) with m = max log w (so nothing overflows),
/// and returns the ESS = 1 / Σ w̃². Errors if every weight is zero.
pub fn normalise_weights(w: &mut [f64], obs: usize) -> Result<f64> {
    let m = w.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    if m == f64::NEG_INFINITY {
        return Err(Error::DegenerateWeights { obs });
    }
    // Branch-free body so the loop vectorises (exp_poly is a polynomial, not a libm call).
    for v in w.iter_mut() {
        let d = *v - m;
        *v = if d > LOG_WEIGHT_FLOOR { exp_poly(d) } else { 0.0 };
    }
    let sum: f64 = w.iter().sum();
    let inv = 1.0 / sum;
    let mut sq = 0.0;
    for v in w.iter_mut() {
        *v *= inv;
        sq += *v * *v;
    }
    Ok(1.0 / sq)
}

/// Systematic resampling: m indices with positions (k + u)/m, k = 0..m, on the CDF of the
/// normalised weights `w`. Every index i appears ⌊m w_i⌋ or ⌈m w_i⌉ times; zero weights never.
pub fn systematic_resample(w: &[f64], u: f64, out: &mut [usize]) {
    let m = out.len() as f64;
    let mut cdf = w[0];
    let mut i = 0;
    let last = w.len() - 1;
    for (k, o) in out.iter_mut().enumerate() {
        let pos = (k as f64 + u) / m;
        while i < last && (cdf <= pos || w[i] == 0.0) {
            i += 1;
            cdf += w[i];
        }
        // Rounding can leave the CDF a hair below the last positions; never land on a zero.
        while w[i] == 0.0 && i > 0 {
            i -= 1;
        }
        *o = i;
    }
}

/// Per-observation ESS of one step's weights.
#[derive(Clone, Debug, Default)]
pub struct EssStats {
    /// ESS_j = 1/Σ_i w̃_ij² of each observation j, in [1, N]; 0 for a skipped observation
    /// (every draw has zero likelihood: module docs).
    pub per_obs: Vec<f64>,
}

impl EssStats {
    /// Mean ESS over the observations not skipped (0 for none).
    pub fn mean(&self) -> f64 {
        // Skipped observations add 0 to the sum.
        self.per_obs.iter().sum::<f64>() / (self.per_obs.len() - self.skipped()).max(1) as f64
    }
    /// Smallest ESS over the observations not skipped (+∞ for none).
    pub fn min(&self) -> f64 {
        self.per_obs.iter().copied().filter(|&e| e > 0.0).fold(f64::INFINITY, f64::min)
    }
    /// The median over the observations not skipped (robust to a few broad posteriors with huge ESS).
    pub fn median(&self) -> f64 {
        let mut kept: Vec<f64> = self.per_obs.iter().copied().filter(|&e| e > 0.0).collect();
        median(&mut kept)
    }
    /// Observations skipped because every draw had zero likelihood.
    pub fn skipped(&self) -> usize {
        self.per_obs.iter().filter(|&&e| e == 0.0).count()
    }
}

/// Whether every log-weight of an observation is −∞ (no draw has any likelihood: skipped).
pub(crate) fn all_zero(log_w: &[f64]) -> bool {
    log_w.iter().all(|&v| v == f64::NEG_INFINITY)
}

/// Turns each row of the J×N log-weight matrix into normalised weights in place, records each row's ESS, and
/// fills `batch` with `per_obs` pairs per observation by `layout`. Deterministic given
/// `(seed, step)`. A row whose log-weights are all −∞ is skipped (module docs): its pairs point
/// at draw 0 with weight 0.
pub fn weighted_batch(
    log_w: &mut Mat<f64>,
    layout: BatchLayout,
    per_obs: usize,
    seed: u64,
    step: u64,
    batch: &mut WeightedBatch,
    ess: &mut EssStats,
) -> Result<()> {
    let (n_obs, n_theta) = (log_w.rows(), log_w.cols());
    batch.theta_idx.resize(n_obs * per_obs, 0);
    batch.x_idx.resize(n_obs * per_obs, 0);
    batch.w.resize(n_obs * per_obs, 0.0);
    ess.per_obs.resize(n_obs, 0.0);
    // TopWeights orders each observation's N indices; Resample needs no order (one dummy slot
    // per observation keeps the zip below in step).
    let order_len = match layout {
        BatchLayout::Resample => 1,
        BatchLayout::TopWeights => n_theta,
    };
    batch.order.resize(n_obs * order_len, 0);
    let skipped = log_w.as_slice().chunks(n_theta.max(1)).filter(|row| all_zero(row)).count();
    // The observations that share the loss (none skipped: J' = J, the weights of before).
    let n_kept = (n_obs - skipped).max(1);
    // `reduce` with `Result::and` keeps the first observation's error, like collecting would,
    // without a buffer of results.
    log_w
        .as_mut_slice()
        .par_chunks_mut(n_theta)
        .zip(batch.theta_idx.par_chunks_mut(per_obs))
        .zip(batch.x_idx.par_chunks_mut(per_obs))
        .zip(batch.w.par_chunks_mut(per_obs))
        .zip(ess.per_obs.par_iter_mut())
        .zip(batch.order.par_chunks_mut(order_len))
        .enumerate()
        .map(|(j, (((((row, idx), xi), w), e), order))| {
            xi.fill(j);
            if all_zero(row) {
                row.fill(0.0);
                *e = 0.0;
                idx.fill(0);
                w.fill(0.0);
                return Ok(());
            }
            *e = normalise_weights(row, j)?;
            match layout {
                BatchLayout::Resample => {
                    let u: f64 = stream(seed, Stream::Resample, step, j as u64).gen();
                    systematic_resample(row, u, idx);
                    w.fill(1.0 / (n_kept * per_obs) as f64);
                }
                BatchLayout::TopWeights => {
                    top_indices(row, idx, order);
                    let top: f64 = idx.iter().map(|&i| row[i]).sum();
                    for (wi, &i) in w.iter_mut().zip(idx.iter()) {
                        *wi = row[i] / (top * n_kept as f64);
                    }
                }
            }
            Ok(())
        })
        .reduce(|| Ok(()), Result::and)
}

/// The indices of the `out.len()` largest entries (ties by lower index); `order` (as long as
/// `v`) is scratch.
fn top_indices(v: &[f64], out: &mut [usize], order: &mut [usize]) {
    order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
    let m = out.len().min(v.len());
    order.select_nth_unstable_by(m - 1, |&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
    order[..m].sort_unstable();
    for (o, k) in out.iter_mut().zip(order.iter().cycle()) {
        *o = *k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ess_of_equal_weights_is_n_and_of_one_weight_is_one() {
        let mut w = vec![0.3; 8];
        assert!((normalise_weights(&mut w, 0).unwrap() - 8.0).abs() < 1e-12);
        let mut w = vec![f64::NEG_INFINITY, 2.0, f64::NEG_INFINITY];
        assert!((normalise_weights(&mut w, 0).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(w, [0.0, 1.0, 0.0]);
    }

    #[test]
    fn ess_of_hand_computed_weights() {
        // w ∝ (1, 2, 3, 4): w̃ = (0.1 .. 0.4), Σ w̃² = 0.3, ESS = 10/3.
        let mut w: Vec<f64> = [1.0f64, 2.0, 3.0, 4.0].iter().map(|v| v.ln() + 700.0).collect();
        let e = normalise_weights(&mut w, 0).unwrap();
        assert!((e - 10.0 / 3.0).abs() < 1e-12, "{e}");
        assert!((w[3] - 0.4).abs() < 1e-14);
    }

    #[test]
    fn all_zero_weights_are_an_error_naming_the_observation() {
        let mut w = vec![f64::NEG_INFINITY; 4];
        let e = normalise_weights(&mut w, 7).unwrap_err();
        assert!(e.to_string().contains("observation 7"), "{e}");
    }

    #[test]
    fn systematic_resampling_counts_are_floor_or_ceil_of_m_w() {
        let w = [0.05f64, 0.5, 0.0, 0.2, 0.25];
        for u in [0.0, 0.3, 0.999] {
            let mut out = [0usize; 20];
            systematic_resample(&w, u, &mut out);
            assert!(!out.contains(&2), "zero weight drawn");
            for (i, &wi) in w.iter().enumerate() {
                let c = out.iter().filter(|&&k| k == i).count() as f64;
                assert!(c >= (20.0 * wi).floor() - 1e-9 && c <= (20.0 * wi).ceil() + 1e-9, "i={i} c={c}");
            }
        }
    }

    #[test]
    fn batch_weights_sum_to_one_for_both_layouts() {
        for layout in [BatchLayout::Resample, BatchLayout::TopWeights] {
            let mut lw = Mat::from_fn(3, 50, |j, i| -((i as f64 - 10.0 * j as f64) / 3.0).powi(2));
            let (mut b, mut e) = (WeightedBatch::default(), EssStats::default());
            weighted_batch(&mut lw, layout, 8, 1, 0, &mut b, &mut e).unwrap();
            assert_eq!(b.len(), 24);
            assert!((b.w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            // Chosen draws sit near each observation's peak at i = 10 j.
            for k in 0..24 {
                let centre = 10 * b.x_idx[k];
                assert!((b.theta_idx[k] as i64 - centre as i64).abs() <= 7, "{layout:?} {k}");
            }
            // ESS = (Σw)²/Σw² for w ∝ exp(−(i − c)²/9): ≈ √(9π)²/√(4.5π) ≈ 7.52 in the interior.
            for (j, &got) in e.per_obs.iter().enumerate() {
                let w: Vec<f64> = (0..50).map(|i| (-((i as f64 - 10.0 * j as f64) / 3.0).powi(2)).exp()).collect();
                let want = w.iter().sum::<f64>().powi(2) / w.iter().map(|v| v * v).sum::<f64>();
                assert!((got - want).abs() < 1e-9 * want, "obs {j}: {got} vs {want}");
            }
            assert!((e.per_obs[1] - 7.52).abs() < 0.01);
        }
    }

    /// An observation with no likelihood anywhere is skipped: its pairs get weight 0, the other
    /// two share the loss (Σ w = 1, each observation's pairs 1/2), its ESS is 0 and left out of
    /// the summaries, and the others' pairs and ESS are those of a batch without it.
    #[test]
    fn observation_without_likelihood_is_skipped() {
        for layout in [BatchLayout::Resample, BatchLayout::TopWeights] {
            let peaks = |j: usize, i: usize| -((i as f64 - 10.0 * j as f64) / 3.0).powi(2);
            let mut lw = Mat::from_fn(3, 50, |j, i| if j == 1 { f64::NEG_INFINITY } else { peaks(j, i) });
            let (mut b, mut e) = (WeightedBatch::default(), EssStats::default());
            weighted_batch(&mut lw, layout, 8, 1, 0, &mut b, &mut e).expect("a skipped observation is no error");
            assert_eq!((e.skipped(), e.per_obs[1]), (1, 0.0));
            assert!(b.w[8..16].iter().all(|&w| w == 0.0), "{layout:?}: skipped pairs carry weight");
            for j in [0, 2] {
                let sum: f64 = b.w[8 * j..8 * (j + 1)].iter().sum();
                assert!((sum - 0.5).abs() < 1e-12, "{layout:?} obs {j}: {sum}");
            }
            let mut full = Mat::from_fn(3, 50, peaks);
            let (mut b3, mut e3) = (WeightedBatch::default(), EssStats::default());
            weighted_batch(&mut full, layout, 8, 1, 0, &mut b3, &mut e3).unwrap();
            assert_eq!(b.theta_idx[16..], b3.theta_idx[16..]);
            let kept = [e3.per_obs[0], e3.per_obs[2]];
            assert_eq!(e.min(), kept[0].min(kept[1]));
            assert!((e.mean() - (kept[0] + kept[1]) / 2.0).abs() < 1e-12);
        }
    }
}
