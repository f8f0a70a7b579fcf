//! Expected coverage of highest-density regions (the check `sbi` calls expected coverage;
//! Hermans et al. 2022, arXiv:2110.06581). The HPD rank of θ* among L draws θ_j ~ q(·|x),
//!
//!   r = #{j : log q(θ_j|x) > log q(θ*|x)} ∈ {0, …, L},
//!
//! says θ* lies inside q's highest-density region of credibility c exactly when r < c·(L + 1)
//! (fewer than a share c of q's mass is denser than θ*). Averaged over (θ*, x) from the prior
//! predictive, a calibrated q covers at every level: coverage(c) = #{r_i < c(L + 1)}/N ≈ c.
//! Below the diagonal q is over-confident (regions too small), above it under-confident.
//!
//! The curve at the levels 0.05, 0.10, …, 0.95 is the ECDF of the HPD ranks at those points, so
//! [`UniformityTest`] gives it a simultaneous band and a p-value. [`super::tarp`] reuses
//! [`CoverageCurve`] for its own ranks.

use super::uniformity::{UniformityResult, UniformityTest};

/// The credibility levels reported: 0.05, 0.10, …, 0.95.
pub const LEVELS: [f64; 19] =
    [0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95];

/// The HPD rank #{j : log q_j > log q*}: log q(θ*|x) = −inf (θ* outside q's support) ranks last.
pub fn hpd_rank(log_q_draws: &[f64], log_q_truth: f64) -> usize {
    log_q_draws.iter().filter(|&&l| l > log_q_truth).count()
}

/// The evaluation points k = round(c·(L + 1)) of [`LEVELS`] for L draws, clamped to 1..=L;
/// with L + 1 a multiple of 20 (the default L = 99) each level is exact.
pub fn level_points(n_draws: usize) -> Vec<usize> {
    let mut points: Vec<usize> =
        LEVELS.iter().map(|c| ((c * (n_draws + 1) as f64).round() as usize).clamp(1, n_draws)).collect();
    points.dedup();
    points
}

/// A coverage curve against the diagonal, with its simultaneous band and test.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CoverageCurve {
    /// Credibility levels k/(L + 1) (the [`LEVELS`] when L + 1 is a multiple of 20), the ECDF of
    /// the ranks there (`ecdf`: the empirical coverage), the band, the statistic and p-value.
    #[serde(flatten)]
    pub test: UniformityResult,
    /// Mean of coverage − level over the levels: < 0 over-confident, > 0 under-confident.
    pub mean_deviation: f64,
    /// p-value ≥ α.
    pub passed: bool,
}

/// The curve of `ranks` (HPD or TARP ranks in 0..=L) on `test` (built on [`level_points`]).
pub fn coverage_curve(ranks: &[usize], test: &UniformityTest, alpha: f64) -> CoverageCurve {
    let result = test.judge(ranks, alpha);
    let mean_deviation =
        result.ecdf.iter().zip(&result.z).map(|(cov, level)| cov - level).sum::<f64>() / result.z.len() as f64;
    let passed = result.p_value >= alpha;
    CoverageCurve { test: result, mean_deviation, passed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_exact_for_l_99() {
        let points = level_points(99);
        assert_eq!(points.len(), 19);
        assert_eq!((points[0], points[18]), (5, 95));
        assert_eq!(hpd_rank(&[1.0, -1.0, 0.5], 0.0), 2);
        assert_eq!(hpd_rank(&[1.0, -1.0], f64::NEG_INFINITY), 2);
    }
}
