//! Reference posteriors p(θ|x) for fixed observations: the ground truth the metrics compare a
//! trained flow's samples and densities against.
//!
//! This module holds the machinery that works for any model or family — the [`Reference`]
//! contract, grids, SMC, truncated normals, sign symmetrisation — and knows no task. A task's own
//! exact reference lives with the task ([`crate::tasks`]), which builds on these.

pub mod grid;
pub mod sign_symmetric;
pub mod smc;
pub mod truncated_normal;

pub use grid::{grid_reference, GridPosterior};
pub use sign_symmetric::SignSymmetrized;
pub use smc::{smc_reference, SmcConfig, SmcDiagnostics, SmcPosterior};
pub use truncated_normal::TruncatedNormalPosterior;

use crate::mat::Mat;
use crate::rng::Rng;

/// Where a reference posterior comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceKind {
    /// Exact density and sampler (a task's own, [`crate::tasks::reference_for`]).
    Exact,
    /// Normalised grid posterior ([`grid_reference`]).
    Grid,
    /// SMC particles ([`smc_reference`]): samples only, no density.
    Smc,
    /// No reference: only training cost and flow samples are reported.
    None,
}

impl ReferenceKind {
    /// Lower-case name used in tables: "exact", "grid", "smc", "none".
    pub fn name(self) -> &'static str {
        match self {
            ReferenceKind::Exact => "exact",
            ReferenceKind::Grid => "grid",
            ReferenceKind::Smc => "smc",
            ReferenceKind::None => "none",
        }
    }
}

/// A posterior p(θ|x) for one fixed observation x.
pub trait Reference: Send + Sync {
    /// Dimension of θ.
    fn dim(&self) -> usize;
    /// Normalised log p(θ|x); −inf outside the support.
    fn log_density(&self, theta: &[f64]) -> f64;
    /// `n_samples` independent draws, one per row (`n_samples × dim`).
    fn sample(&self, rng: &mut Rng, n_samples: usize) -> Mat<f64>;
    /// The centres of the disconnected modes, if known (for mode shares).
    fn modes(&self) -> Option<Vec<Vec<f64>>>;
    /// Max of the density (for the bridge-mass threshold), as a log.
    fn max_log_density(&self) -> f64;
    /// Whether [`Reference::log_density`] is a normalised density; false for a sample-only
    /// reference ([`SmcPosterior`]), whose density-based metrics are then not computed.
    fn has_density(&self) -> bool {
        true
    }
}
