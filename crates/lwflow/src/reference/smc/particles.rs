//! The particle cloud: N draws θ_i with their log-likelihoods and log-priors, drawn from the
//! prior in fixed chunks and resampled systematically.

use rayon::prelude::*;

use super::SmcConfig;
use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::model::Model;
use crate::rng::{stream, Stream};
use crate::weights::systematic_resample;

/// Particles per parallel task: fixed, so results do not depend on the thread count.
pub const PARTICLES_PER_CHUNK: usize = 512;

/// The particle cloud: θ (N × d), log L(x|θ) and log π(θ) per particle.
pub(super) struct Particles {
    pub(super) theta: Mat<f64>,
    pub(super) log_lik: Vec<f64>,
    pub(super) log_prior: Vec<f64>,
}

impl Particles {
    /// N prior draws with their log-likelihoods, chunk c drawn from stream (Theta, 0, c).
    pub(super) fn from_prior(model: &dyn Model, x: &[f64], cfg: &SmcConfig) -> Result<Self> {
        let (n, dim) = (cfg.n_particles, model.theta_dim());
        let mut theta = Mat::zeros(n, dim);
        let mut log_lik = vec![0.0; n];
        let mut log_prior = vec![0.0; n];
        let results: Vec<Result<()>> = theta
            .as_mut_slice()
            .par_chunks_mut(PARTICLES_PER_CHUNK * dim)
            .zip(log_lik.par_chunks_mut(PARTICLES_PER_CHUNK))
            .zip(log_prior.par_chunks_mut(PARTICLES_PER_CHUNK))
            .enumerate()
            .map(|(chunk, ((t, ll), lp))| {
                let rows = ll.len();
                let mut rng = stream(cfg.seed, Stream::Theta, 0, chunk as u64);
                let mut t = crate::mat::MatMut::new(t, rows, dim);
                model.prior().sample(&mut rng, t.rb_mut());
                model.prior().log_density_rows(t.rb(), lp);
                model.log_likelihood_at(x, t.rb(), ll)?;
                check_log_lik(ll, chunk * PARTICLES_PER_CHUNK)
            })
            .collect();
        results.into_iter().collect::<Result<()>>()?;
        Ok(Self { theta, log_lik, log_prior })
    }

    /// Replaces the cloud by a systematic resample of itself with weights `w`.
    pub(super) fn resample(&mut self, w: &[f64], u: f64) {
        let n = w.len();
        let mut idx = vec![0usize; n];
        systematic_resample(w, u, &mut idx);
        let dim = self.theta.cols();
        let theta = Mat::from_fn(n, dim, |r, c| self.theta.row(idx[r])[c]);
        self.log_lik = idx.iter().map(|&i| self.log_lik[i]).collect();
        self.log_prior = idx.iter().map(|&i| self.log_prior[i]).collect();
        self.theta = theta;
    }
}

/// NaN or +inf log-likelihood → [`Error::BadLogLikelihood`] naming the particle.
pub(super) fn check_log_lik(log_lik: &[f64], first_row: usize) -> Result<()> {
    match crate::model::first_bad(log_lik) {
        Some(k) => Err(Error::BadLogLikelihood { row: first_row + k, obs: 0, value: log_lik[k] }),
        None => Ok(()),
    }
}
