//! Importance ESS per observation: where the likelihood can be evaluated, q(θ|x) is graded
//! exactly at each x, not only on average. For each x the importance sampler of
//! [`crate::importance`] (proposal r = α π + (1 − α) q, weights L π / r) runs one round of M
//! draws; ESS/M = 1/(M Σ w̃²) estimates 1/(1 + χ²(p ‖ r)). A q equal to the posterior scores
//! about 1 − α (the prior's share of draws is mostly wasted where the posterior is narrow); a q
//! with tails lighter than p's, or in the wrong place, scores near 0. Observations below a
//! threshold are flagged: there q should not be trusted without `--importance`.

use crate::error::{Error, Result};
use crate::importance::{importance_resample, ImportanceConfig};
use crate::model::Model;

use super::Posterior;

/// The ESS share of one observation's M weighted draws: ESS/M, 0 when every draw has zero
/// likelihood.
pub fn ess_fraction(model: &dyn Model, q: &dyn Posterior, x: &[f64], draws: usize, seed: u64) -> Result<f64> {
    let cfg = ImportanceConfig { draws_per_sample: draws, max_draws_per_sample: draws, ..ImportanceConfig::default() };
    match importance_resample(model, q, x, 1, &cfg, seed) {
        Ok(out) => Ok(out.diagnostics.ess / out.diagnostics.draws as f64),
        Err(Error::DegenerateWeights { .. }) => Ok(0.0),
        Err(e) => Err(e),
    }
}

/// Quantiles of the per-observation ESS shares.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EssQuantiles {
    /// Smallest share.
    pub min: f64,
    /// 5 % quantile.
    pub q05: f64,
    /// Lower quartile.
    pub q25: f64,
    /// Median.
    pub median: f64,
    /// Upper quartile.
    pub q75: f64,
    /// Largest share.
    pub max: f64,
}

impl EssQuantiles {
    /// Quantiles (nearest rank) of `values`; all NaN when empty.
    pub fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |p: f64| {
            if v.is_empty() {
                f64::NAN
            } else {
                v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)]
            }
        };
        Self { min: at(0.0), q05: at(0.05), q25: at(0.25), median: at(0.5), q75: at(0.75), max: at(1.0) }
    }
}

/// The ESS check over the observations it ran on.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EssReport {
    /// Weighted draws per observation (M).
    pub draws: usize,
    /// Indices (into the simulated pairs) of the observations checked, in order.
    pub observations: Vec<usize>,
    /// ESS/M of each checked observation.
    pub ess_fraction: Vec<f64>,
    /// Their distribution.
    pub quantiles: EssQuantiles,
    /// An observation is flagged when its ESS/M is below this.
    pub flag_below: f64,
    /// Indices of the flagged observations.
    pub flagged: Vec<usize>,
    /// Flagged share of the observations checked.
    pub flagged_share: f64,
    /// The check passes when at most this share is flagged.
    pub max_flagged_share: f64,
    /// `flagged_share ≤ max_flagged_share`.
    pub passed: bool,
}

impl EssReport {
    /// The report on `ess_fraction[i]` of observation `observations[i]`.
    pub fn new(
        draws: usize,
        observations: Vec<usize>,
        ess_fraction: Vec<f64>,
        flag_below: f64,
        max_flagged_share: f64,
    ) -> Self {
        let flagged: Vec<usize> =
            observations.iter().zip(&ess_fraction).filter(|(_, &f)| f < flag_below).map(|(&i, _)| i).collect();
        let flagged_share = flagged.len() as f64 / observations.len().max(1) as f64;
        Self {
            draws,
            quantiles: EssQuantiles::of(&ess_fraction),
            observations,
            ess_fraction,
            flag_below,
            flagged,
            flagged_share,
            max_flagged_share,
            passed: flagged_share <= max_flagged_share,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_flags() {
        let r = EssReport::new(100, vec![3, 5, 7, 9], vec![0.9, 0.05, 0.5, 0.7], 0.1, 0.2);
        assert_eq!(r.flagged, vec![5]);
        assert!((r.flagged_share - 0.25).abs() < 1e-15 && !r.passed);
        assert_eq!((r.quantiles.min, r.quantiles.max), (0.05, 0.9));
        assert_eq!(r.quantiles.median, 0.7);
    }
}
