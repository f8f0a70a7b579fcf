//! Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788). For θ* ~ π and
//! x ~ p(x|θ*), the rank of θ*_k among L draws θ_jk ~ q(·|x),
//!
//!   r_k = #{j : θ_jk < θ*_k} ∈ {0, …, L},
//!
//! is uniform on {0, …, L} for every k when q(θ|x) = p(θ|x) (averaged over x). The same holds
//! for any function of θ; we add f(θ) = −log q(θ|x), i.e. the rank #{j : log q(θ_j|x) > log q(θ*|x)}
//! (the HPD rank of [`super::coverage`]), which sees joint, not only marginal, errors.
//!
//! Each dimension (and log q) is tested for uniformity with [`UniformityTest`] over every
//! point 1..L; the d + 1 p-values are Holm-corrected (Holm 1979), so the family passes at α
//! when every corrected p-value is ≥ α. Shapes of the ECDF difference (ECDF(z) − z, inside
//! the band): ∪ (ranks piled at both ends) = q too narrow; ∩ = too wide; one-signed = biased.

use super::uniformity::{UniformityResult, UniformityTest};

/// The SBC rank of one dimension: #{j : θ_jk < θ*_k}.
pub fn marginal_rank(draws: impl Iterator<Item = f64>, truth: f64) -> usize {
    draws.filter(|&t| t < truth).count()
}

/// SBC of one quantity (a θ dimension or log q).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SbcDimension {
    /// "theta_1", …, "theta_d", or "log_q".
    pub name: String,
    /// The uniformity test of its ranks, with the ECDF and its band.
    #[serde(flatten)]
    pub test: UniformityResult,
    /// Holm-corrected p-value over the d + 1 quantities.
    pub p_value_holm: f64,
    /// Mean rank / L − 1/2: > 0 when q sits below θ* (q biased low), < 0 above.
    pub mean_rank_offset: f64,
}

/// SBC over every dimension and log q.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SbcReport {
    /// Per quantity, θ dimensions first, then log q.
    pub dimensions: Vec<SbcDimension>,
    /// Smallest Holm-corrected p-value: the family's p-value.
    pub p_value: f64,
    /// Every corrected p-value ≥ α.
    pub passed: bool,
}

/// SBC from ranks: `ranks[k]` holds the N ranks of quantity k (named `names[k]`), each in 0..=L.
pub fn sbc(ranks: &[Vec<usize>], names: &[String], n_draws: usize, test: &UniformityTest, alpha: f64) -> SbcReport {
    let results: Vec<UniformityResult> = ranks.iter().map(|r| test.judge(r, alpha)).collect();
    let raw: Vec<f64> = results.iter().map(|r| r.p_value).collect();
    let holm = holm(&raw);
    let dimensions: Vec<SbcDimension> = results
        .into_iter()
        .zip(&holm)
        .zip(ranks.iter().zip(names))
        .map(|((test, &p_value_holm), (r, name))| SbcDimension {
            name: name.clone(),
            test,
            p_value_holm,
            mean_rank_offset: r.iter().sum::<usize>() as f64 / (r.len() * n_draws) as f64 - 0.5,
        })
        .collect();
    let p_value = holm.iter().copied().fold(1.0, f64::min);
    SbcReport { dimensions, p_value, passed: p_value >= alpha }
}

/// Holm's step-down adjustment: sort p ascending, p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) p_(j)),
/// returned in the input order. Controls the family-wise error rate at α.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (i, &idx) in order.iter().enumerate() {
        running = running.max(((m - i) as f64 * p[idx]).min(1.0));
        out[idx] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_matches_a_hand_computed_example() {
        // Sorted 0.01, 0.02, 0.04 with m = 3: 0.03, max(0.03, 0.04) = 0.04, max(0.04, 0.04) = 0.04.
        let adj = holm(&[0.04, 0.01, 0.02]);
        let want = [0.04, 0.03, 0.04];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-15, "{adj:?}");
        }
        assert_eq!(holm(&[0.9, 0.2]), vec![0.9, 0.4]);
    }

    #[test]
    fn marginal_rank_counts_draws_below() {
        assert_eq!(marginal_rank([0.1, 0.5, -2.0, 0.3].into_iter(), 0.35), 3);
    }
}
