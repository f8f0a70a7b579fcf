//! What the diagnostics need from a posterior approximation q(θ|x): draws and log-densities for
//! one observation. A trained [`Flow`] is one; so is any closed-form posterior a test wraps
//! (e.g. gaussian_linear's exact N(x/2, 0.05 I), scaled or shifted to be wrong on purpose).

use crate::error::Result;
use crate::flow::Flow;
use crate::mat::{Mat, MatRef};
use crate::real::Real;

/// A conditional density q(θ|x) that can be sampled and evaluated; deterministic given `seed`.
pub trait Posterior: Sync {
    /// Dimension of θ.
    fn theta_dim(&self) -> usize;
    /// Dimension of x.
    fn x_dim(&self) -> usize;
    /// `n` draws θ ~ q(·|x), one per row (`n × theta_dim`).
    fn sample(&self, x: &[f64], n: usize, seed: u64) -> Result<Mat<f64>>;
    /// log q(θ_r|x) for every row of `theta`; −inf outside q's support, never NaN.
    fn log_prob(&self, theta: MatRef<f64>, x: &[f64]) -> Result<Vec<f64>>;
}

impl<T: Real> Posterior for Flow<T> {
    fn theta_dim(&self) -> usize {
        Flow::theta_dim(self)
    }

    fn x_dim(&self) -> usize {
        self.ctx_dim()
    }

    fn sample(&self, x: &[f64], n: usize, seed: u64) -> Result<Mat<f64>> {
        Flow::sample(self, x, n, seed)
    }

    fn log_prob(&self, theta: MatRef<f64>, x: &[f64]) -> Result<Vec<f64>> {
        Flow::log_prob(self, theta, MatRef::new(x, 1, x.len()))
    }
}
