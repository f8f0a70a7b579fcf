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

use rand::Rng as _;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::rng::{stream, Stream};
use crate::special::log_sum_exp;

/// How the pairs of a training batch are chosen from the J×N weight matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchLayout {
    /// Systematic resampling of `m` draws per observation, equal weights.
    Resample,
    /// The `m` largest weights per observation, renormalised.
    TopWeights,
}

/// The pairs the flow is evaluated on: row b is (θ_{theta_idx[b]}, x_{x_idx[b]}) with loss
/// weight `w[b]`; Σ_b w[b] = 1.
#[derive(Clone, Debug, Default)]
pub struct WeightedBatch {
    pub theta_idx: Vec<usize>,
    pub x_idx: Vec<usize>,
    pub w: Vec<f64>,
}

impl WeightedBatch {
    pub fn len(&self) -> usize {
        self.w.len()
    }
    pub fn is_empty(&self) -> bool {
        self.w.is_empty()
    }
}

/// Normalises one observation's log-weights in place (log w̃ = log w − log Σ w) and returns
/// its ESS. Errors if every weight is zero.
pub fn normalise_log_weights(log_w: &mut [f64], obs: usize) -> Result<f64> {
    let lse = log_sum_exp(log_w);
    if lse == f64::NEG_INFINITY {
        return Err(Error::DegenerateWeights { obs });
    }
    for v in log_w.iter_mut() {
        *v -= lse;
    }
    Ok(ess_of_normalised(log_w))
}

/// ESS = 1 / Σ w̃² = exp(−log Σ exp(2 log w̃)), for normalised log-weights.
pub fn ess_of_normalised(log_w: &[f64]) -> f64 {
    let m = log_w.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let s: f64 = log_w.iter().map(|&v| (2.0 * (v - m)).exp()).sum();
    (-(2.0 * m + s.ln())).exp()
}

/// Systematic resampling: m indices with positions (k + u)/m, k = 0..m, on the CDF of the
/// normalised weights. Every index i appears ⌊m w̃_i⌋ or ⌈m w̃_i⌉ times.
pub fn systematic_resample(log_w: &[f64], u: f64, out: &mut [usize]) {
    let m = out.len();
    let mut cdf = 0.0;
    let mut i = 0;
    let last = log_w.len() - 1;
    for (k, o) in out.iter_mut().enumerate() {
        let pos = (k as f64 + u) / m as f64;
        while i < last && cdf + log_w[i].exp() <= pos {
            cdf += log_w[i].exp();
            i += 1;
        }
        // Skip zero-weight indices the rounding may land on.
        while i < last && log_w[i] == f64::NEG_INFINITY {
            i += 1;
        }
        *o = i;
    }
}

/// Per-observation ESS of one step's weights.
#[derive(Clone, Debug, Default)]
pub struct EssStats {
    pub per_obs: Vec<f64>,
}

impl EssStats {
    pub fn mean(&self) -> f64 {
        self.per_obs.iter().sum::<f64>() / self.per_obs.len().max(1) as f64
    }
    pub fn min(&self) -> f64 {
        self.per_obs.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// Normalises each row of the J×N raw log-weight matrix in place, records each row's ESS, and
/// fills `batch` with `per_obs` pairs per observation by `layout`. Deterministic given
/// `(seed, step)`.
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
    let results: Vec<Result<()>> = log_w
        .as_mut_slice()
        .par_chunks_mut(n_theta)
        .zip(batch.theta_idx.par_chunks_mut(per_obs))
        .zip(batch.x_idx.par_chunks_mut(per_obs))
        .zip(batch.w.par_chunks_mut(per_obs))
        .zip(ess.per_obs.par_iter_mut())
        .enumerate()
        .map(|(j, ((((row, idx), xi), w), e))| {
            *e = normalise_log_weights(row, j)?;
            xi.fill(j);
            match layout {
                BatchLayout::Resample => {
                    let u: f64 = stream(seed, Stream::Resample, step, j as u64).gen();
                    systematic_resample(row, u, idx);
                    w.fill(1.0 / (n_obs * per_obs) as f64);
                }
                BatchLayout::TopWeights => {
                    top_indices(row, idx);
                    let top_max = idx.iter().fold(f64::NEG_INFINITY, |m, &i| m.max(row[i]));
                    let lse = top_max + idx.iter().map(|&i| (row[i] - top_max).exp()).sum::<f64>().ln();
                    for (wi, &i) in w.iter_mut().zip(idx.iter()) {
                        *wi = (row[i] - lse).exp() / n_obs as f64;
                    }
                }
            }
            Ok(())
        })
        .collect();
    results.into_iter().collect()
}

/// The indices of the `out.len()` largest entries (ties by lower index).
fn top_indices(v: &[f64], out: &mut [usize]) {
    let mut order: Vec<usize> = (0..v.len()).collect();
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
        assert!((normalise_log_weights(&mut w, 0).unwrap() - 8.0).abs() < 1e-12);
        let mut w = vec![f64::NEG_INFINITY, 2.0, f64::NEG_INFINITY];
        assert!((normalise_log_weights(&mut w, 0).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(w[1], 0.0);
    }

    #[test]
    fn ess_of_hand_computed_weights() {
        // w ∝ (1, 2, 3, 4): w̃ = (0.1 .. 0.4), Σ w̃² = 0.3, ESS = 10/3.
        let mut w: Vec<f64> = [1.0f64, 2.0, 3.0, 4.0].iter().map(|v| v.ln() + 700.0).collect();
        let e = normalise_log_weights(&mut w, 0).unwrap();
        assert!((e - 10.0 / 3.0).abs() < 1e-12, "{e}");
        assert!((w[3].exp() - 0.4).abs() < 1e-14);
    }

    #[test]
    fn all_zero_weights_are_an_error_naming_the_observation() {
        let mut w = vec![f64::NEG_INFINITY; 4];
        let e = normalise_log_weights(&mut w, 7).unwrap_err();
        assert!(e.to_string().contains("observation 7"), "{e}");
    }

    #[test]
    fn systematic_resampling_counts_are_floor_or_ceil_of_m_w() {
        let w = [0.05f64, 0.5, 0.0, 0.2, 0.25];
        let lw: Vec<f64> = w.iter().map(|v| v.ln()).collect();
        for u in [0.0, 0.3, 0.999] {
            let mut out = [0usize; 20];
            systematic_resample(&lw, u, &mut out);
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
                assert!((b.theta_idx[k] as i64 - centre as i64).abs() <= 6, "{layout:?} {k}");
            }
            // ESS of w ∝ exp(−(i − c)²/9): (Σw)²/Σw² = √(9π)²/√(4.5π) ≈ 7.52, halved at the edge c = 0.
            assert!((e.per_obs[0] - 3.76).abs() < 0.1 && (e.per_obs[1] - 7.52).abs() < 0.1, "{:?}", e.per_obs);
        }
    }
}
