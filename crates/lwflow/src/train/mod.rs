//! Likelihood-weighted training of a [`Flow`].
//!
//! Each step simulates J training observations from prior draws and weights proposal draws θ
//! against them ([`proposal`]): during a warm-up (or throughout, with the prior proposal) N
//! prior draws shared by all x_j, all J·N pairs weighted, m pairs per x_j resampled
//! ([`crate::weights`]); afterwards M draws per x_j from the defensive mixture of the prior and
//! the flow itself, every draw in the loss with its weight. Early steps may use tempered
//! weights L^β ([`temper`]). One Adam step on the weighted NLL ([`loss`]) follows. Fresh draws
//! every step, so there is no training set to overfit; a fixed, held-out validation batch
//! (prior draws, β = 1) drives early stopping and the choice of the returned parameters.

pub mod auto_k;
mod batch;
pub(crate) mod chunks;
pub mod init;
pub mod loss;
mod meta;
pub mod proposal;
pub mod refine;
pub mod rounds;
pub(crate) mod stored;
pub mod temper;
mod trainer;

pub use auto_k::{auto_components, choose_components, combine_counts, AutoK, AutoKConfig};
pub use init::{
    apply_mixture_init, init_mixture_from_model, init_mixture_with_pooling, MixtureInit, MixtureInitReport, Pooling,
};
pub use meta::FlowMeta;
pub use proposal::{ProposalConfig, ProposalKind};
pub use refine::{refine, RefineConfig, Refinement};
pub use temper::{TemperConfig, Toggle};
pub use trainer::{
    prior_predictive_standardizer, train, ModelCalls, RoundSummary, StepReport, TrainConfig, TrainSummary, Trainer,
    AUTO_ESS_THRESHOLD, DEFAULT_ROUNDS, DEFAULT_ROUND_STEPS,
};

use std::ops::ControlFlow;

use crate::error::Result;
use crate::flow::{Flow, FlowConfig};
use crate::model::Model;

/// Observations simulated to standardise x (prior predictive).
const STANDARDIZER_SIMULATIONS: usize = 10_000;

/// Builds a flow for `model` (x standardised with prior-predictive statistics), trains it, and
/// returns it with the metadata a model file stores.
pub fn fit(
    model: &dyn Model,
    flow_cfg: FlowConfig,
    train_cfg: TrainConfig,
    on_step: &mut dyn FnMut(&StepReport),
) -> Result<(Flow<f32>, FlowMeta)> {
    fit_until(model, flow_cfg, train_cfg, &mut |r| {
        on_step(r);
        ControlFlow::Continue(())
    })
}

/// [`fit`], stopped early when `on_step` returns [`ControlFlow::Break`] (a user's interrupt): the
/// flow and metadata are then those of a run whose budget ended at that step (the best
/// validated parameters so far, `summary.steps_run` the steps taken). With `train.budget` set the
/// run is the budgeted, round-based one ([`rounds`]), and `on_step` is called at its validations.
pub fn fit_until(
    model: &dyn Model,
    flow_cfg: FlowConfig,
    train_cfg: TrainConfig,
    on_step: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<(Flow<f32>, FlowMeta)> {
    let (flow, norm, summary) = if train_cfg.budget.is_some() {
        rounds::fit_rounds(model, flow_cfg.clone(), &train_cfg, on_step)?
    } else {
        let n_norm = STANDARDIZER_SIMULATIONS;
        let norm = prior_predictive_standardizer(model, &flow_cfg, n_norm, train_cfg.seed)?;
        let mut flow = Flow::<f32>::new(flow_cfg.clone(), model.prior(), norm.clone(), train_cfg.seed)?;
        let mut spent = ModelCalls { likelihood_evals: 0, simulations: n_norm as u64 };
        // A fitted mixture initialisation weighs its own simulated observations against prior draws.
        if apply_mixture_init(&mut flow, train_cfg.mixture_init, model, train_cfg.seed)?.fitted.is_some() {
            spent = spent.plus(ModelCalls::weighted_obs(init::DEFAULT_INIT_OBS, init::DEFAULT_INIT_THETA));
        }
        let summary = Trainer::with_spent(model, &mut flow, &train_cfg, spent)?.run_until(on_step)?;
        (flow, norm, summary)
    };
    let meta = FlowMeta {
        train: Some(train_cfg),
        summary: Some(summary),
        ..FlowMeta::untrained(model.name(), model.prior().clone(), flow_cfg, norm)
    };
    Ok((flow, meta))
}
