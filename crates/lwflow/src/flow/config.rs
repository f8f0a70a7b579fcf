//! [`FlowConfig`]: the architecture of a flow, as stored in model files — dimensions, what the
//! conditioners see of x (its features, and a learned embedding of them), the coupling stack,
//! and the base.

use crate::base::BaseConfig;
use crate::embed::EmbeddingConfig;
use crate::error::Result;
use crate::mat::MatRef;
use crate::nn::Activation;

use super::{CouplingConfig, ObsFeatures, Standardizer};

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
    /// A learned embedding of the standardised features, the conditioners' context in their
    /// place ([`EmbeddingConfig::None`]: the features themselves). Left out of the file when none,
    /// so files without an embedding are written as before and older files read as none.
    #[serde(default, skip_serializing_if = "EmbeddingConfig::is_none")]
    pub embedding: EmbeddingConfig,
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
            embedding: EmbeddingConfig::None,
            n_layers: DEFAULT_LAYERS,
            hidden: vec![128, 128],
            activation: Activation::Silu,
            coupling: CouplingConfig::default_spline(),
            base,
        }
    }

    /// Number of standardised values per observation: x and the statistics its [`ObsFeatures`]
    /// adds. The conditioners read them directly, or through the embedding.
    pub fn context_width(&self) -> usize {
        self.x_features.width(self.ctx_dim)
    }

    /// Number of context values each conditioner (and a conditional base) reads: the embedding's
    /// output, or [`FlowConfig::context_width`] without an embedding.
    pub fn conditioner_width(&self) -> usize {
        self.embedding.out_width(self.context_width())
    }

    /// Checks that the features and the embedding fit observations of dimension `ctx_dim`;
    /// errors name the settings key.
    pub fn validate_context(&self) -> Result<()> {
        self.x_features.validate(self.ctx_dim)?;
        self.embedding.validate(self.ctx_dim, self.x_features == ObsFeatures::Raw)
    }

    /// The fixed standardisation of the features of the observations `x` (rows): per-column mean
    /// and standard deviation, pooled over the members of a set embedding, whose invariance to the
    /// members' order needs every member standardised alike.
    pub fn fit_standardizer(&self, x: MatRef<f64>) -> Result<Standardizer> {
        self.validate_context()?;
        let norm = Standardizer::fit(self.x_features.rows(x).as_ref());
        Ok(match self.embedding {
            EmbeddingConfig::Set { members, .. } => norm.pooled(members),
            _ => norm,
        })
    }
}
