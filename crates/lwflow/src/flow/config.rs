//! [`FlowConfig`]: the architecture of a flow, as stored in model files — dimensions, what the
//! conditioners see of x, the coupling stack, and the base.

use crate::base::BaseConfig;
use crate::nn::Activation;

use super::{CouplingConfig, ObsFeatures};

/// Coupling layers of the default architecture.
pub const DEFAULT_LAYERS: usize = 6;

/// Architecture of a flow; stored in model files.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FlowConfig {
    /// Dimension of θ.
    pub theta_dim: usize,
    /// Dimension of the observation x.
    pub ctx_dim: usize,
    /// What the conditioners see of x ([`ObsFeatures::Raw`]: x itself).
    #[serde(default)]
    pub x_features: ObsFeatures,
    /// Number of coupling layers.
    pub n_layers: usize,
    /// Hidden layer widths of each coupling's conditioner MLP.
    pub hidden: Vec<usize>,
    /// Nonlinearity after each hidden layer of every MLP.
    pub activation: Activation,
    /// Elementwise transform of the coupling layers.
    pub coupling: CouplingConfig,
    /// Base distribution q₀(z).
    pub base: BaseConfig,
}

impl FlowConfig {
    /// The default architecture for θ ∈ ℝ^theta_dim conditioned on x ∈ ℝ^ctx_dim:
    /// [`DEFAULT_LAYERS`] spline couplings with 2×128 SiLU conditioners.
    pub fn new(theta_dim: usize, ctx_dim: usize, base: BaseConfig) -> Self {
        Self {
            theta_dim,
            ctx_dim,
            x_features: ObsFeatures::Raw,
            n_layers: DEFAULT_LAYERS,
            hidden: vec![128, 128],
            activation: Activation::Silu,
            coupling: CouplingConfig::default_spline(),
            base,
        }
    }

    /// Number of context values the conditioners get: x and the statistics its [`ObsFeatures`] adds.
    pub fn context_width(&self) -> usize {
        self.x_features.width(self.ctx_dim)
    }
}
