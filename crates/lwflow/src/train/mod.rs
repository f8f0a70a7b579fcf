//! Likelihood-weighted training of a [`Flow`].
//!
//! Each step: simulate J training observations from prior draws, draw N proposal θ from the
//! prior, evaluate log L(x_j|θ_i) for all J·N pairs, self-normalise per x_j
//! ([`crate::weights`]), pick m pairs per x_j, and take one Adam step on the weighted NLL
//! ([`loss`]). Fresh draws every step, so there is no training set to overfit; a fixed,
//! held-out validation batch drives early stopping and the choice of the returned parameters.

pub mod auto_k;
pub mod init;
pub mod loss;
mod trainer;

pub use auto_k::{auto_components, combine_counts, count_modes, mixture_modes, AutoK, AutoKConfig};
pub use init::{
    apply_mixture_init, init_mixture_from_model, init_mixture_with_pooling, MixtureInit, MixtureInitReport, Pooling,
};
pub(crate) use trainer::simulate_pairs;
pub use trainer::{prior_predictive_standardizer, train, StepReport, TrainConfig, TrainSummary};

use crate::error::Result;
use crate::flow::{Flow, FlowConfig};
use crate::io::FlowMeta;
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
    let norm = prior_predictive_standardizer(model, STANDARDIZER_SIMULATIONS, train_cfg.seed)?;
    let mut flow = Flow::<f32>::new(flow_cfg.clone(), model.prior(), norm.clone(), train_cfg.seed)?;
    apply_mixture_init(&mut flow, train_cfg.mixture_init, model, train_cfg.seed)?;
    let summary = train(model, &mut flow, &train_cfg, on_step)?;
    let meta = FlowMeta {
        lwflow_version: env!("CARGO_PKG_VERSION").to_string(),
        model: model.name(),
        prior: model.prior().clone(),
        flow: flow_cfg,
        x_standardizer: norm,
        train: Some(train_cfg),
        summary: Some(summary),
        auto_components: None,
    };
    Ok((flow, meta))
}
