//! Importance-corrected posterior samples: the trained flow as the proposal of a self-normalised
//! importance sampler for one observation, then resampled.
//!
//! The flow q(θ|x) is an approximation; where the likelihood can be evaluated, its error can be
//! removed per observation (the same idea as DINGO-IS, Dax et al. 2023, arXiv:2210.05686). Draws
//! θ_i come from the defensive mixture r(θ|x) = α π(θ) + (1 − α) q(θ|x) — round(α·N) from the
//! prior, the rest from the flow, weighted with the full mixture density (the balance heuristic
//! of [`crate::train::proposal`], there used for training) — and get
//!
//!   log w_i = log L(x|θ_i) + log π(θ_i) − log r(θ_i|x).
//!
//! Then:
//! - Σ_i w̃_i f(θ_i) with w̃ = w / Σ w is a consistent estimate of E_{p(θ|x)} f, whatever q's
//!   error, as long as r covers the posterior; the prior's share α makes sure it does and bounds
//!   every weight by L(x|θ)/α, so the estimate has finite variance even where q's tails are too
//!   light.
//! - (1/N) Σ_i w_i is an unbiased estimate of the evidence Z = p(x) = ∫ L π dθ.
//! - ESS = 1/Σ w̃_i² says how many independent posterior draws the weighted set is worth. ESS/N
//!   is also a diagnostic of q itself: 1/ESS·N − 1 estimates the χ² divergence of r from p.
//!
//! Samples are drawn in rounds of N = `draws_per_sample`·n until the ESS of all draws so far
//! reaches `target_ess`·n (or `max_draws_per_sample`·n draws are spent), then n are resampled
//! systematically from the weighted set. Resampled rows repeat draws when the ESS is low:
//! [`ImportanceDiagnostics::unique`] counts the distinct ones.

use rand::Rng as _;

use crate::diagnostics::Posterior;
use crate::error::{Error, Result};
#[cfg(doc)]
use crate::flow::Flow;
use crate::mat::Mat;
use crate::model::Model;
use crate::rng::{stream, Stream};
use crate::special::log_sum_exp;
use crate::train::proposal::{defensive_log_offset, defensive_prior_draws};
use crate::weights::{normalise_weights, systematic_resample};

/// Settings of [`importance_resample`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportanceConfig {
    /// Proposal draws per requested sample in each round.
    pub draws_per_sample: usize,
    /// Stop drawing once the ESS of all draws reaches this many times the requested samples.
    pub target_ess: f64,
    /// Upper bound on the proposal draws per requested sample over all rounds.
    pub max_draws_per_sample: usize,
    /// The prior's share α of the defensive mixture r = α π + (1 − α) q.
    pub prior_share: f64,
}

impl Default for ImportanceConfig {
    fn default() -> Self {
        Self { draws_per_sample: 10, target_ess: 1.0, max_draws_per_sample: 100, prior_share: 0.1 }
    }
}

impl ImportanceConfig {
    fn validate(&self) -> Result<()> {
        if self.draws_per_sample == 0 {
            return Err(Error::invalid("importance.draws_per_sample", "must be at least 1"));
        }
        if self.max_draws_per_sample < self.draws_per_sample {
            return Err(Error::invalid("importance.max_draws_per_sample", "must be at least draws_per_sample"));
        }
        if !(self.target_ess > 0.0 && self.target_ess.is_finite()) {
            return Err(Error::invalid("importance.target_ess", "must be a positive number"));
        }
        if !(self.prior_share > 0.0 && self.prior_share <= 1.0) {
            return Err(Error::invalid(
                "importance.prior_share",
                "must be in (0, 1]: the prior's share keeps the weights bounded",
            ));
        }
        Ok(())
    }
}

/// What [`importance_resample`] returns.
#[derive(Clone, Debug)]
pub struct ImportanceSamples {
    /// n resampled posterior draws, n × d.
    pub samples: Mat<f64>,
    /// How good the weighted draws were.
    pub diagnostics: ImportanceDiagnostics,
}

/// The numbers that say how far to trust importance-corrected samples.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ImportanceDiagnostics {
    /// Proposal draws weighted (likelihood evaluations spent).
    pub draws: usize,
    /// Effective sample size 1/Σ w̃² of the weighted draws.
    pub ess: f64,
    /// Estimate of log p(x) = log ∫ L(x|θ) π(θ) dθ: log of the mean weight.
    pub log_evidence: f64,
    /// Distinct proposal draws among the resampled rows.
    pub unique: usize,
}

/// `n` importance-corrected posterior samples for observation `x` (module docs); deterministic
/// given `seed`. The first round's flow draws are those of [`Flow::sample`] with the same seed.
/// `flow` is any [`Posterior`]: a trained [`Flow`], or a closed-form q under test.
pub fn importance_resample<P: Posterior + ?Sized>(
    model: &dyn Model,
    flow: &P,
    x: &[f64],
    n: usize,
    cfg: &ImportanceConfig,
    seed: u64,
) -> Result<ImportanceSamples> {
    cfg.validate()?;
    if n == 0 {
        return Err(Error::invalid("importance samples", "must be at least 1"));
    }
    if (model.theta_dim(), model.x_dim()) != (flow.theta_dim(), flow.x_dim()) {
        return Err(Error::invalid(
            "importance model",
            format!(
                "has θ of dimension {} and x of dimension {}; the flow has {} and {}",
                model.theta_dim(),
                model.x_dim(),
                flow.theta_dim(),
                flow.x_dim()
            ),
        ));
    }
    let d = flow.theta_dim();
    let round_draws = n * cfg.draws_per_sample;
    let n_prior = defensive_prior_draws(cfg.prior_share, round_draws);
    let (mut theta, mut log_w, mut w) = (Vec::new(), Vec::new(), Vec::new());
    let mut ess = 0.0;
    for round in 0u64.. {
        let flow_seed = if round == 0 { seed } else { stream(seed, Stream::Importance, round, 0).gen() };
        let from_q = flow.sample(x, round_draws - n_prior, flow_seed)?;
        let mut draws = Mat::zeros(round_draws, d);
        model
            .prior()
            .sample(&mut stream(seed, Stream::Importance, round, 1), draws.as_mut().rows_range_mut(0, n_prior));
        draws.as_mut().rows_range_mut(n_prior, round_draws - n_prior).copy_from(from_q.as_ref());
        let log_q = flow.log_prob(draws.as_ref(), x)?;
        let mut log_lik = vec![0.0; round_draws];
        model.log_likelihood_at(x, draws.as_ref(), &mut log_lik)?;
        for r in 0..round_draws {
            let log_prior = model.prior().log_density(draws.row(r));
            // `Flow::log_prob` refuses NaN and +inf already, saying why; kept for any other
            // posterior so a weight can never be NaN, and the error blames q, not the likelihood.
            if log_q[r].is_nan() || log_q[r] == f64::INFINITY {
                return Err(Error::NonFiniteOutput {
                    what: "log q(θ|x) of the importance proposal (the model file's flow)",
                    obs: crate::finite::describe_obs(x),
                    bad: 1,
                    total: round_draws,
                    row: r,
                    value: log_q[r],
                    reason: "q(θ|x) must be finite or −inf at every draw".into(),
                });
            }
            if log_lik[r].is_nan() || log_lik[r] == f64::INFINITY {
                return Err(Error::BadLogLikelihood { row: log_w.len(), obs: 0, value: log_lik[r] });
            }
            log_w.push(log_lik[r] + defensive_log_offset(log_prior, log_q[r], cfg.prior_share));
        }
        theta.extend_from_slice(draws.as_slice());
        // Normalised weights of all draws so far (log_w keeps the unnormalised ones).
        w.clone_from(&log_w);
        ess = normalise_weights(&mut w, 0)?;
        if ess >= cfg.target_ess * n as f64 || log_w.len() + round_draws > n * cfg.max_draws_per_sample {
            break;
        }
    }
    let total = log_w.len();
    let log_evidence = log_sum_exp(&log_w) - (total as f64).ln();
    let mut idx = vec![0; n];
    systematic_resample(&w, stream(seed, Stream::Importance, u64::MAX, 0).gen(), &mut idx);
    let theta = Mat::from_vec(total, d, theta);
    let samples = Mat::from_fn(n, d, |r, k| theta.row(idx[r])[k]);
    // Systematic resampling returns the indices in increasing order.
    let unique = 1 + idx.windows(2).filter(|p| p[0] != p[1]).count();
    Ok(ImportanceSamples { samples, diagnostics: ImportanceDiagnostics { draws: total, ess, log_evidence, unique } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{BaseConfig, Flow, FlowConfig, Standardizer};
    use crate::tasks::by_name;

    /// An untrained flow on gaussian_mixture (θ ~ U(−10, 10)², x|θ ~ ½ N(θ, I) + ½ N(θ, 0.01 I))
    /// is nowhere near the posterior ½ N(x, I) + ½ N(x, 0.01 I) (truncation negligible for x far
    /// from the box's edges); importance resampling must recover its mean and variance, and the
    /// evidence 1/400 (the likelihood integrates to 1 over θ, the prior density is 1/400).
    #[test]
    fn corrects_an_untrained_flow_on_gaussian_mixture() {
        let model = by_name("gaussian_mixture").unwrap();
        let norm = Standardizer { mean: vec![0.0; 2], std: vec![5.0; 2] };
        let flow = Flow::<f64>::new(FlowConfig::new(2, 2, BaseConfig::Gaussian), model.prior(), norm, 3).unwrap();
        let x = [0.5, -0.8];
        let n = 4000;
        // Posterior sd per coordinate: √(½·1 + ½·0.01) ≈ 0.71.
        let sd = (0.5f64 * 1.01).sqrt();
        let raw = flow.sample(&x, n, 11).unwrap();
        let raw_var = (0..n).map(|r| raw.row(r)[0].powi(2)).sum::<f64>() / n as f64;
        assert!(raw_var > 4.0 * sd * sd, "the untrained flow must be far off: variance {raw_var}");

        let out = importance_resample(model.as_ref(), &flow, &x, n, &ImportanceConfig::default(), 11).unwrap();
        let diag = &out.diagnostics;
        assert!(diag.ess >= n as f64 || diag.draws == 100 * n, "ESS {} after {} draws", diag.ess, diag.draws);
        // Resampled draws are worth about min(n, ESS) independent ones.
        let eff = diag.ess.min(n as f64);
        for (k, &xk) in x.iter().enumerate() {
            let col: Vec<f64> = (0..n).map(|r| out.samples.row(r)[k]).collect();
            let mean = col.iter().sum::<f64>() / n as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            assert!((mean - xk).abs() < 5.0 * sd / eff.sqrt(), "θ_{k} mean {mean} vs {xk}");
            assert!((var / (sd * sd) - 1.0).abs() < 0.15, "θ_{k} variance {var} vs {}", sd * sd);
        }
        let want = -(400.0f64).ln();
        // Standard error of log Ẑ ≈ √(1/ESS − 1/N).
        let tol = 4.0 / diag.ess.sqrt();
        assert!((diag.log_evidence - want).abs() < tol, "log evidence {} vs {want} ± {tol}", diag.log_evidence);
        assert!(diag.unique > n / 2 && diag.unique <= n);
    }

    #[test]
    fn same_seed_same_samples_and_bad_settings_are_named() {
        let model = by_name("gaussian_mixture").unwrap();
        let norm = Standardizer { mean: vec![0.0; 2], std: vec![5.0; 2] };
        let flow = Flow::<f64>::new(FlowConfig::new(2, 2, BaseConfig::Gaussian), model.prior(), norm, 3).unwrap();
        let cfg = ImportanceConfig { draws_per_sample: 4, max_draws_per_sample: 4, ..ImportanceConfig::default() };
        let a = importance_resample(model.as_ref(), &flow, &[1.0, 1.0], 50, &cfg, 5).unwrap();
        let b = importance_resample(model.as_ref(), &flow, &[1.0, 1.0], 50, &cfg, 5).unwrap();
        assert_eq!(a.samples.as_slice(), b.samples.as_slice());
        assert_eq!(a.diagnostics.draws, 200);
        let bad = ImportanceConfig { prior_share: 0.0, ..ImportanceConfig::default() };
        let err = importance_resample(model.as_ref(), &flow, &[1.0, 1.0], 50, &bad, 5).unwrap_err();
        assert!(err.to_string().contains("importance.prior_share"), "{err}");
        let other = by_name("slcp").unwrap();
        let err = importance_resample(other.as_ref(), &flow, &[1.0, 1.0], 50, &cfg, 5).unwrap_err();
        assert!(err.to_string().contains("importance model"), "{err}");
    }
}
