//! What a user's Bayesian model must provide: a prior π(θ), a log-likelihood log L(x|θ) and a
//! simulator x ~ p(x|θ). Models work in f64; the flow may train in f32. A model can also be
//! another program, spoken to over a pipe ([`ExternalModel`]).

mod counted;
mod external;
mod prior;
mod simulate;

pub use counted::CountedModel;
pub use external::{kill_external_processes, ExternalConfig, ExternalModel, ExternalRecord};
pub use prior::{Marginal, Prior};
pub use simulate::{simulate_pairs, simulate_pairs_into};

use crate::error::{Error, Result};
use crate::mat::{Mat, MatMut, MatRef};
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

    /// `out[r] = log L(x | θ_r)`: one observation against many draws, the shape training
    /// needs. The default repeats `x` and calls [`Model::log_likelihood`] in blocks; models
    /// with a cheap likelihood may override it to skip the copy.
    fn log_likelihood_at(&self, x: &[f64], theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        let n = theta.rows();
        let block = PAIRS_PER_CALL.min(n.max(1));
        let x_rep = Mat::from_fn(block, x.len(), |_, c| x[c]);
        for start in (0..n).step_by(block) {
            let rows = block.min(n - start);
            self.log_likelihood(
                x_rep.as_ref().rows_range(0, rows),
                theta.rows_range(start, rows),
                &mut out[start..start + rows],
            )?;
        }
        Ok(())
    }
}

/// Pairs per model call in [`Model::log_likelihood_at`]'s default: large enough to amortise an
/// external model's call overhead, small enough to keep memory flat.
const PAIRS_PER_CALL: usize = 8192;

/// Index of the first log-likelihood that is NaN or +inf (a model bug; −inf is a valid zero).
pub(crate) fn first_bad(log_lik: &[f64]) -> Option<usize> {
    log_lik.iter().position(|v| v.is_nan() || *v == f64::INFINITY)
}

/// `out[r] = log L(x_{obs(r)} | θ_r)` where row r of `theta` belongs to observation
/// `obs(r) = r / per_obs`: each observation has its own block of `per_obs` draws (the shape of a
/// per-observation proposal). Parallel over blocks of whole observations; `+inf` and NaN are
/// errors naming the observation and draw (the first in row order), `-inf` (zero likelihood) is
/// kept. `x_rep` is scratch for each observation repeated over its block (`theta.rows()` ×
/// `x.cols()` values): reused, it makes repeated calls allocation-free.
pub fn log_likelihood_blocks(
    model: &dyn Model,
    x: MatRef<f64>,
    theta: MatRef<f64>,
    per_obs: usize,
    x_rep: &mut Vec<f64>,
    out: &mut [f64],
) -> Result<()> {
    use rayon::prelude::*;
    assert_eq!(theta.rows(), x.rows() * per_obs, "log_likelihood_blocks: theta rows");
    assert_eq!(out.len(), theta.rows(), "log_likelihood_blocks: output length");
    // Enough observations per call to amortise an external model's round trip.
    let obs_per_call = (PAIRS_PER_CALL / per_obs.max(1)).max(1);
    let rows_per_call = (obs_per_call * per_obs).max(1);
    let x_dim = x.cols();
    // One slice of x_rep per call (at least one value, so every call gets its slice).
    let rep_len = (rows_per_call * x_dim).max(1);
    x_rep.resize(out.len().div_ceil(rows_per_call) * rep_len, 0.0);
    // `reduce` with `Result::and` keeps the first error in row order, like collecting would,
    // without a buffer of results.
    out.par_chunks_mut(rows_per_call)
        .zip(x_rep.par_chunks_mut(rep_len))
        .enumerate()
        .map(|(c, (out, x_rep))| {
            let first = c * obs_per_call;
            let rows = out.len();
            let mut x_rep = MatMut::new(&mut x_rep[..rows * x_dim], rows, x_dim);
            for r in 0..rows {
                x_rep.row_mut(r).copy_from_slice(x.row(first + r / per_obs));
            }
            model.log_likelihood(x_rep.rb(), theta.rows_range(first * per_obs, rows), out)?;
            match first_bad(out) {
                Some(k) => Err(Error::BadLogLikelihood { row: k % per_obs, obs: first + k / per_obs, value: out[k] }),
                None => Ok(()),
            }
        })
        .reduce(|| Ok(()), Result::and)
}

/// `out[j, i] = log L(x_j | θ_i)` for every observation row j and draw row i, computed with
/// the model's pairwise [`Model::log_likelihood`], in parallel over observations. `+inf` and
/// NaN are errors naming the rows (the first observation's first); `-inf` (zero likelihood) is kept.
pub fn log_likelihood_matrix(model: &dyn Model, x: MatRef<f64>, theta: MatRef<f64>, out: &mut Mat<f64>) -> Result<()> {
    use rayon::prelude::*;
    let (n_obs, n_theta) = (x.rows(), theta.rows());
    assert_eq!((out.rows(), out.cols()), (n_obs, n_theta), "log_likelihood_matrix: output shape");
    out.as_mut_slice()
        .par_chunks_mut(n_theta.max(1))
        .enumerate()
        .map(|(j, row)| {
            model.log_likelihood_at(x.row(j), theta, row)?;
            match first_bad(row) {
                Some(k) => Err(Error::BadLogLikelihood { row: k, obs: j, value: row[k] }),
                None => Ok(()),
            }
        })
        .reduce(|| Ok(()), Result::and)
}
