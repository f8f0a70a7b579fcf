//! Where the training draws θ come from.
//!
//! - [`ProposalKind::Prior`]: N draws from π shared by all J observations of a step; every
//!   x_j is weighted against all of them (J·N likelihood evaluations), log w_ij = log L(x_j|θ_i).
//! - [`ProposalKind::Adaptive`]: after a warm-up on the prior, M draws per observation from the
//!   defensive mixture r(θ|x_j) = α π(θ) + (1 − α) q(θ|x_j) of the prior and the flow being
//!   trained (J·M evaluations), log w_ij = log L(x_j|θ_ij) + log π(θ_ij) − log r(θ_ij|x_j).
//!
//! Why the loss still estimates E_x KL(p‖q): for each x_j the self-normalised weights w̃_ij
//! make Σ_i w̃_ij f(θ_ij) a consistent estimate of E_{p(θ|x_j)} f for *any* proposal r whose
//! support covers the posterior's, so −Σ_i w̃_ij log q(θ_ij|x_j) estimates the cross-entropy
//! E_p[−log q(θ|x_j)] = KL(p‖q) + H(p). The proposal is only where the draws come from: the
//! weights are treated as constants (no gradient through r, nor through the draws), exactly
//! as the prior's draws are. What changes is the variance: the closer r is to p, the more
//! even the weights and the larger the ESS. The prior share α bounds the weights,
//! w ≤ L·π/(απ) = L/α, and keeps every region of the prior reachable, so a mode the flow has
//! missed still gets draws (and a large weight when one lands in it), instead of being
//! invisible to a proposal that never visits it.
//!
//! With draws split deterministically — round(α·M) from π and the rest from q — and weights
//! computed with the full mixture density r, this is the balance-heuristic ("deterministic
//! mixture") importance sampler: consistent, and never worse than the worse of its parts by
//! more than the factor 1/α or 1/(1 − α).
//!
//! # An optional reverse-KL term
//!
//! The forward KL punishes q for missing posterior mass but only weakly for putting mass where
//! the posterior has none: such draws get weight ≈ 0 and lower q there only through
//! normalisation. On slcp this leaves q smeared towards θ₃ = 0 between the two sign modes of θ₃
//! (results/proposals/results.md). `TrainConfig::reverse_kl` = λ > 0 adds λ·KL(q‖p_β) to the
//! adaptive steps' loss, estimated from the same draws from q by the score-function identity
//! ∇KL(q‖p) = E_q[(log q − log p − b) ∇log q] — no gradient of the likelihood needed, no new
//! draws or likelihood evaluations (`Batch::add_reverse_kl` has the estimator). The forward
//! term still keeps every mode covered; λ only decides how hard excess mass is pushed down.
//!
//! The flow works in support space u (see [`crate::flow::Support`]); there π_u(u) = π(θ)|dθ/du|
//! and r_u = α π_u + (1 − α) q_u, and π_u/r_u = π/r because the Jacobian cancels.

use crate::error::{Error, Result};
use crate::special::log_sum_exp;

/// Which proposal the training draws come from (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProposalKind {
    /// Prior draws shared by all observations of a step.
    Prior,
    /// Per-observation draws from α·prior + (1 − α)·q(θ|x) after a warm-up.
    Adaptive,
    /// Adaptive when the prior's weights degenerate (see [`crate::train::AUTO_ESS_THRESHOLD`]),
    /// prior otherwise.
    Auto,
}

/// Proposal settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalConfig {
    /// Prior or adaptive.
    pub kind: ProposalKind,
    /// Fraction of the steps trained on prior draws before the adaptive proposal takes over.
    pub warmup: f64,
    /// The prior's share α of the defensive mixture.
    pub prior_share: f64,
    /// Draws per observation M of the adaptive proposal.
    pub draws_per_obs: usize,
    /// Prior draws per step during the warm-up of an adaptive run (at most `thetas_per_step`):
    /// the warm-up trains on a tempered, broad target, which few draws cover; the full N would
    /// make the warm-up cost more likelihood evaluations than the whole rest of the run.
    #[serde(default = "default_warmup_thetas")]
    pub warmup_thetas: usize,
}

fn default_warmup_thetas() -> usize {
    1024
}

impl Default for ProposalConfig {
    fn default() -> Self {
        Self { kind: ProposalKind::Auto, warmup: 0.1, prior_share: 0.25, draws_per_obs: 16, warmup_thetas: 1024 }
    }
}

impl ProposalConfig {
    /// Prior draws throughout (how model files written before adaptive proposals were trained).
    pub fn prior() -> Self {
        Self { kind: ProposalKind::Prior, ..Self::default() }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.warmup) {
            return Err(Error::invalid("train.proposal.warmup", "must be a fraction of the steps in [0, 1]"));
        }
        if !(self.prior_share > 0.0 && self.prior_share <= 1.0) {
            return Err(Error::invalid(
                "train.proposal.prior_share",
                "must be in (0, 1]: a positive prior share keeps every mode reachable",
            ));
        }
        if self.warmup_thetas == 0 {
            return Err(Error::invalid("train.proposal.warmup_thetas", "must be at least 1"));
        }
        if self.draws_per_obs < 2 {
            return Err(Error::invalid("train.proposal.draws_per_obs", "must be at least 2"));
        }
        Ok(())
    }

    /// The first step that draws from the adaptive proposal, or `None` for the prior;
    /// `degenerate` says whether the prior's weights collapsed (decides [`ProposalKind::Auto`]).
    pub fn adaptive_from(&self, steps: usize, degenerate: bool) -> Option<usize> {
        match (self.kind, degenerate) {
            (ProposalKind::Prior, _) | (ProposalKind::Auto, false) => None,
            (ProposalKind::Adaptive, _) | (ProposalKind::Auto, true) => {
                Some((self.warmup * steps as f64).round() as usize)
            }
        }
    }

    /// How many of the M draws per observation come from the prior ([`defensive_prior_draws`]).
    pub fn prior_draws(&self) -> usize {
        defensive_prior_draws(self.prior_share, self.draws_per_obs)
    }
}

/// How many of `draws` draws from the defensive mixture α π + (1 − α) q come from the prior in
/// the deterministic split (module docs): round(α·draws), at least one.
pub fn defensive_prior_draws(prior_share: f64, draws: usize) -> usize {
    ((prior_share * draws as f64).round() as usize).clamp(1, draws)
}

/// log π_u(u) − log r_u(u|x) for r_u = α π_u + (1 − α) q_u, from log π_u and log q_u at the
/// same point. Zero where the flow's density is negligible (r ≈ α π, weight L/α up to the
/// constant); −∞ where π_u is zero.
pub fn defensive_log_offset(log_prior: f64, log_q: f64, prior_share: f64) -> f64 {
    if log_prior == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if prior_share >= 1.0 {
        return 0.0;
    }
    let log_r = log_sum_exp(&[prior_share.ln() + log_prior, (1.0 - prior_share).ln() + log_q]);
    log_prior - log_r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_is_prior_over_mixture() {
        for (lp, lq, a) in [(-1.0, -1.0, 0.25), (-3.0, 2.0, 0.1), (0.5, -40.0, 0.5)] {
            let (p, q) = (f64::exp(lp), f64::exp(lq));
            let want = (p / (a * p + (1.0 - a) * q)).ln();
            assert!((defensive_log_offset(lp, lq, a) - want).abs() < 1e-12);
            // Bounded by the prior share: π/r ≤ 1/α.
            assert!(defensive_log_offset(lp, lq, a) <= -a.ln() + 1e-12);
        }
        assert_eq!(defensive_log_offset(f64::NEG_INFINITY, 0.0, 0.3), f64::NEG_INFINITY);
        assert!((defensive_log_offset(-2.0, f64::NEG_INFINITY, 0.25) - 4f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn draw_split_and_warmup() {
        let p = ProposalConfig { kind: ProposalKind::Adaptive, draws_per_obs: 128, ..Default::default() };
        assert_eq!(p.prior_draws(), 32);
        assert_eq!(ProposalConfig::default().prior_draws(), 4);
        assert_eq!(p.adaptive_from(4000, false), Some(400));
        assert_eq!(ProposalConfig::prior().adaptive_from(4000, true), None);
        let auto = ProposalConfig::default();
        assert_eq!((auto.adaptive_from(4000, true), auto.adaptive_from(4000, false)), (Some(400), None));
        let tiny = ProposalConfig { prior_share: 1e-6, ..p.clone() };
        assert_eq!(tiny.prior_draws(), 1, "at least one prior draw");
        assert!(ProposalConfig { prior_share: 0.0, ..p }.validate().is_err());
    }
}
