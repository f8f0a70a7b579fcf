//! Prior-predictive pairs: θ ~ π, then x ~ p(x|θ), from one seeded stream.

use crate::error::Result;
use crate::mat::Mat;
use crate::rng::{stream, Stream};

use super::Model;

/// `n` prior draws θ and one simulated x each, from the stream `(seed, purpose, step, 0)`.
pub fn simulate_pairs(
    model: &dyn Model,
    n: usize,
    seed: u64,
    purpose: Stream,
    step: u64,
) -> Result<(Mat<f64>, Mat<f64>)> {
    let mut theta = Mat::zeros(n, model.theta_dim());
    let mut x = Mat::zeros(n, model.x_dim());
    simulate_pairs_into(model, seed, purpose, step, &mut theta, &mut x)?;
    Ok((theta, x))
}

/// [`simulate_pairs`] into `theta` and `x`, whose row counts say how many pairs (equal, with
/// the model's θ and x widths): the same draws, allocation-free.
#[track_caller]
pub fn simulate_pairs_into(
    model: &dyn Model,
    seed: u64,
    purpose: Stream,
    step: u64,
    theta: &mut Mat<f64>,
    x: &mut Mat<f64>,
) -> Result<()> {
    assert_eq!(theta.rows(), x.rows(), "simulate_pairs_into: theta and x rows");
    assert_eq!((theta.cols(), x.cols()), (model.theta_dim(), model.x_dim()), "simulate_pairs_into: widths");
    let mut rng = stream(seed, purpose, step, 0);
    model.prior().sample(&mut rng, theta.as_mut());
    // Fresh zeros, as the allocating version hands the simulator.
    x.as_mut().fill(0.0);
    model.simulate(theta.as_ref(), &mut rng, x.as_mut())
}
