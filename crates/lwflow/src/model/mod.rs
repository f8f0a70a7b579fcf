//! What a user's Bayesian model must provide: a prior π(θ), a log-likelihood log L(x|θ) and a
//! simulator x ~ p(x|θ). Models work in f64; the flow may train in f32.

mod prior;

pub use prior::{Marginal, Prior};

use crate::error::Result;
use crate::mat::{MatMut, MatRef};
use crate::rng::Rng;

/// A Bayesian model with a tractable likelihood. Implementations must be thread-safe: the
/// trainer evaluates batches from several threads.
pub trait Model: Send + Sync {
    /// A short description stored in model files (e.g. the task name and its settings).
    fn name(&self) -> String;
    /// Dimension of θ.
    fn theta_dim(&self) -> usize;
    /// Dimension of x.
    fn x_dim(&self) -> usize;
    /// The prior π(θ).
    fn prior(&self) -> &Prior;
    /// Pairwise log-likelihoods: `out[r] = log L(x_r | θ_r)` for rows r of `x` and `theta`
    /// (same number of rows). A zero likelihood is `-inf`; NaN or `+inf` is a model bug and is
    /// reported as an error by the caller.
    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> Result<()>;
    /// Simulates one x per row of `theta` into `x`.
    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, x: MatMut<f64>) -> Result<()>;
}
