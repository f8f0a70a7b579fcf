//! What a model file records about a trained flow besides its parameters: the architecture and
//! fixed standardisations it was built with, the model it was trained on, and the training run
//! ([`crate::io::save_flow`] writes it as JSON beside the tensors).

use crate::flow::{FlowConfig, Standardizer};
use crate::model::{ExternalRecord, Prior};

use super::{AutoK, Refinement, TrainConfig, TrainSummary};

/// Everything about a trained flow except its parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FlowMeta {
    /// Version of lwflow that wrote the file (`CARGO_PKG_VERSION`).
    pub lwflow_version: String,
    /// The model's description (built-in task name or a user model's).
    pub model: String,
    /// The prior π(θ); defines the support map and the box samples stay in.
    pub prior: Prior,
    /// The architecture, enough to rebuild the flow before loading its parameters.
    pub flow: FlowConfig,
    /// Standardisation of the conditioners' context (x, and the statistics `flow.x_features` adds),
    /// fitted on prior-predictive draws at training time.
    pub x_standardizer: Standardizer,
    /// Training settings of the run (absent for an untrained flow).
    pub train: Option<TrainConfig>,
    /// What the run did: steps, losses, ESS, time (absent for an untrained flow).
    pub summary: Option<TrainSummary>,
    /// How `--components auto` chose the base's number of components (per-observation mode
    /// counts, settings, time; [`crate::train::auto_components`]); `None` when K was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_components: Option<AutoK>,
    /// How to start the external model the flow was trained on again (command as a list,
    /// absolute directory, timeout, copies); `None` for a built-in task, and in files written
    /// before it was recorded, which name only `external(<command joined by spaces>)` in `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalRecord>,
    /// The refinement for one observation ([`mod@crate::train::refine`]) the flow went through
    /// after its amortized training; `None` for an amortized flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refined: Option<Refinement>,
}

impl FlowMeta {
    /// The record of a flow built but not (yet) trained: this version, the model's description,
    /// its prior, the architecture and the x standardiser; no run, no automatic K, no external
    /// command. Training fills in the rest.
    pub fn untrained(model: impl Into<String>, prior: Prior, flow: FlowConfig, x_standardizer: Standardizer) -> Self {
        FlowMeta {
            lwflow_version: env!("CARGO_PKG_VERSION").to_string(),
            model: model.into(),
            prior,
            flow,
            x_standardizer,
            train: None,
            summary: None,
            auto_components: None,
            external: None,
            refined: None,
        }
    }
}
