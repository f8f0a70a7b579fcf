//! Refinement of an amortized flow for one observation x_o.
//!
//! Amortized training minimises E_x KL(p(θ|x) ‖ q(θ|x)) over the prior predictive of x; where
//! that distribution puts little mass, or the posterior is much narrower than the prior,
//! q(θ|x_o) can stay too wide or off centre (lotka_volterra: `docs/tasks.md`). Refinement
//! continues training the same flow with the observation distribution replaced by a point mass
//! at x_o, that is it minimises KL(p(θ|x_o) ‖ q(θ|x_o)) alone: every step draws M θ from the
//! defensive mixture α π + (1 − α) q(θ|x_o) of the flow so far and weighs them by
//! L(x_o|θ) π(θ) / r(θ|x_o) (the adaptive proposal of [`super::proposal`], one observation with
//! all M draws), over the first half of the steps tempered ([`super::temper`]: the amortized q
//! can be far from the posterior, its first weights degenerate), with the optional reverse-KL
//! term. Only the observation distribution changes, so it is the ordinary trainer run on
//! [`Observed`], a model whose simulator returns x_o.
//!
//! The result is still a conditional flow, but trained for x_o only: the model file records the
//! refinement ([`Refinement`]) and its samples are meant for x_o.

use std::ops::ControlFlow;

use crate::error::{Error, Result};
use crate::flow::Flow;
use crate::mat::{MatMut, MatRef};
use crate::model::{Model, Prior};
use crate::rng::Rng;

use super::proposal::{ProposalConfig, ProposalKind};
use super::temper::{TemperConfig, Toggle};
use super::{StepReport, TrainConfig, TrainSummary, Trainer};

/// Settings of a refinement (module docs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefineConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Draws θ per step from the defensive mixture (M), all weighted against x_o.
    pub draws: usize,
    /// The prior's share α of the defensive mixture.
    pub prior_share: f64,
    /// Peak learning rate (linear warm-up over the first tenth, then cosine decay).
    pub lr: f64,
    /// Weight λ ≥ 0 of the reverse-KL term KL(q‖p) ([`super::proposal`]).
    pub reverse_kl: f64,
    /// Whether the early steps are tempered: β is raised to 1 by half of the steps, each step to
    /// the largest value that keeps half of the draws' ESS ([`super::temper`]).
    pub temper: bool,
    /// Seed of the draws.
    pub seed: u64,
}

impl Default for RefineConfig {
    fn default() -> Self {
        Self { steps: 1000, draws: 256, prior_share: 0.1, lr: 2e-3, reverse_kl: 0.0, temper: true, seed: 1 }
    }
}

impl RefineConfig {
    fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(Error::invalid("refine.steps", "must be at least 1"));
        }
        if self.draws < 2 {
            return Err(Error::invalid("refine.draws", format!("{}: must be at least 2", self.draws)));
        }
        if !(self.prior_share > 0.0 && self.prior_share <= 1.0) {
            return Err(Error::invalid("refine.prior_share", format!("{}: must be in (0, 1]", self.prior_share)));
        }
        if !(self.lr > 0.0 && self.lr <= 1.0) {
            return Err(Error::invalid("refine.lr", format!("{}: must be in (0, 1]", self.lr)));
        }
        if !(self.reverse_kl >= 0.0 && self.reverse_kl.is_finite()) {
            return Err(Error::invalid(
                "refine.reverse_kl",
                format!("{}: must be a finite number ≥ 0", self.reverse_kl),
            ));
        }
        Ok(())
    }

    /// The trainer's settings of this refinement: one observation per step, the adaptive
    /// proposal from the first step (q is trained already), a validation batch of one
    /// observation against `draws` prior draws (reported, not used to pick parameters: an
    /// adaptive run keeps its last ones).
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            steps: self.steps,
            obs_per_step: 1,
            thetas_per_step: self.draws,
            lr: self.lr,
            warmup_steps: (self.steps / 10).max(1),
            val_every: (self.steps / 10).max(1),
            val_obs: 1,
            proposal: ProposalConfig {
                kind: ProposalKind::Adaptive,
                warmup: 0.0,
                prior_share: self.prior_share,
                draws_per_obs: self.draws,
                ..ProposalConfig::default()
            },
            temper: TemperConfig {
                mode: if self.temper { Toggle::On } else { Toggle::Off },
                ..TemperConfig::default()
            },
            reverse_kl: self.reverse_kl,
            seed: self.seed,
            ..TrainConfig::default()
        }
    }
}

/// What a model file records of a refinement.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Refinement {
    /// The observation the flow was refined for.
    pub x: Vec<f64>,
    /// The settings.
    pub config: RefineConfig,
    /// The refinement's run: steps, ESS, β, likelihood evaluations, seconds.
    pub summary: TrainSummary,
}

/// A model whose simulator returns one fixed observation: the point mass at x_o as the
/// observation distribution (module docs). Prior and likelihood are the wrapped model's.
pub struct Observed<'a> {
    model: &'a dyn Model,
    x: &'a [f64],
}

impl<'a> Observed<'a> {
    /// `model` with every simulation replaced by `x`; errors when `x` is not of the model's x
    /// dimension or not finite.
    pub fn new(model: &'a dyn Model, x: &'a [f64]) -> Result<Self> {
        if x.len() != model.x_dim() {
            return Err(Error::invalid("observation", format!("{} values, expected {}", x.len(), model.x_dim())));
        }
        if let Some(k) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "observation",
                format!("entry {} is {}, expected a finite number", k + 1, x[k]),
            ));
        }
        Ok(Self { model, x })
    }
}

impl Model for Observed<'_> {
    fn name(&self) -> String {
        self.model.name()
    }
    fn theta_dim(&self) -> usize {
        self.model.theta_dim()
    }
    fn x_dim(&self) -> usize {
        self.model.x_dim()
    }
    fn prior(&self) -> &Prior {
        self.model.prior()
    }
    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        self.model.log_likelihood(x, theta, out)
    }
    fn log_likelihood_at(&self, x: &[f64], theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        self.model.log_likelihood_at(x, theta, out)
    }
    fn simulate(&self, _theta: MatRef<f64>, _rng: &mut Rng, mut x: MatMut<f64>) -> Result<()> {
        for r in 0..x.rows() {
            x.row_mut(r).copy_from_slice(self.x);
        }
        Ok(())
    }
}

/// Refines `flow` for the observation `x` of `model` in place (module docs) and returns what a
/// model file records of it. `on_step` sees every step and may stop the run early (the flow then
/// holds the parameters of the last step taken).
pub fn refine(
    model: &dyn Model,
    flow: &mut Flow<f32>,
    x: &[f64],
    cfg: &RefineConfig,
    on_step: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<Refinement> {
    cfg.validate()?;
    let observed = Observed::new(model, x)?;
    let train_cfg = cfg.train_config();
    let summary = Trainer::new(&observed, flow, &train_cfg)?.run_until(on_step)?;
    Ok(Refinement { x: x.to_vec(), config: cfg.clone(), summary })
}
