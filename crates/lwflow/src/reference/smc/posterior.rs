//! What an SMC run returns: the equally weighted particles as a sample-only [`Reference`], and
//! the run's diagnostics, stage by stage.

use rand::Rng as _;

use crate::mat::{Mat, MatRef};
use crate::reference::Reference;
use crate::rng::Rng;

/// What the sampler did, stage by stage (index t = 1..T; `betas` also holds β_0 = 0).
#[derive(Clone, Debug, Default)]
pub struct SmcDiagnostics {
    /// β_0 = 0, β_1, …, β_T = 1.
    pub betas: Vec<f64>,
    /// ESS of the weights after reweighting, before any resampling, per stage.
    pub ess: Vec<f64>,
    /// Whether the stage resampled.
    pub resampled: Vec<bool>,
    /// Metropolis sweeps run per stage.
    pub sweeps: Vec<usize>,
    /// Mean acceptance over the stage's sweeps.
    pub acceptance: Vec<f64>,
    /// Proposal scale factor c (s = c·2.38/√d) at the end of each stage.
    pub scale: Vec<f64>,
    /// Number of particle clusters (each with its own proposal covariance) per stage.
    pub clusters: Vec<usize>,
    /// log Z = Σ_t log Σ_i W_i exp(Δβ_t ℓ_i), the log evidence log p(x).
    pub log_evidence: f64,
}

impl SmcDiagnostics {
    /// Number of tempering stages T.
    pub fn n_stages(&self) -> usize {
        self.betas.len().saturating_sub(1)
    }
}

/// The equally weighted particles of an SMC run for one observation (see the module docs).
#[derive(Clone, Debug)]
pub struct SmcPosterior {
    pub(super) particles: Mat<f64>,
    pub(super) diagnostics: SmcDiagnostics,
}

impl SmcPosterior {
    /// The N × d particles, equally weighted.
    pub fn particles(&self) -> MatRef<'_, f64> {
        self.particles.as_ref()
    }

    /// How the run went: tempering steps, acceptance rates, ESS.
    pub fn diagnostics(&self) -> &SmcDiagnostics {
        &self.diagnostics
    }

    /// log p(x), the SMC evidence estimate.
    pub fn log_evidence(&self) -> f64 {
        self.diagnostics.log_evidence
    }
}

impl Reference for SmcPosterior {
    fn dim(&self) -> usize {
        self.particles.cols()
    }

    /// Not available: NaN (module docs). Use sample-based metrics with an SMC reference.
    fn log_density(&self, _theta: &[f64]) -> f64 {
        f64::NAN
    }

    /// Particles without replacement when `n_samples` ≤ N (partial Fisher–Yates), otherwise with
    /// replacement. Particles may repeat (rejected moves); see the module docs.
    fn sample(&self, rng: &mut Rng, n_samples: usize) -> Mat<f64> {
        let (n_particles, dim) = (self.particles.rows(), self.particles.cols());
        let mut out = Mat::zeros(n_samples, dim);
        if n_samples <= n_particles {
            let mut idx: Vec<usize> = (0..n_particles).collect();
            for r in 0..n_samples {
                let k = rng.gen_range(r..n_particles);
                idx.swap(r, k);
                out.row_mut(r).copy_from_slice(self.particles.row(idx[r]));
            }
        } else {
            for r in 0..n_samples {
                let k = rng.gen_range(0..n_particles);
                out.row_mut(r).copy_from_slice(self.particles.row(k));
            }
        }
        out
    }

    fn modes(&self) -> Option<Vec<Vec<f64>>> {
        None
    }

    /// Not available: NaN (module docs).
    fn max_log_density(&self) -> f64 {
        f64::NAN
    }

    /// False: an SMC reference has samples but no density (module docs).
    fn has_density(&self) -> bool {
        false
    }
}
