//! Step 4 of a stage: random-walk Metropolis moves targeting π_β(θ) ∝ π(θ) L(x|θ)^β, each particle
//! with its cluster's covariance ([`super::proposal`]), θ' = θ + s·L_c ε, s = c·2.38/√d, and the
//! scale factor c adapted after every sweep towards [`TARGET_ACCEPTANCE`] (module docs of
//! [`super`]).

use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::particles::{Particles, PARTICLES_PER_CHUNK};
use super::proposal::Proposal;
use super::tempering::tempered;
use super::SmcConfig;
use crate::error::{Error, Result};
use crate::mat::MatRef;
use crate::model::Model;
use crate::rng::{stream, Rng, Stream};

/// Target mean acceptance of the random-walk moves (0.234 is optimal for a Gaussian target in
/// high d; 0.3 is a common compromise for the moderate d of reference posteriors).
pub const TARGET_ACCEPTANCE: f64 = 0.3;
/// Gain of the scale adaptation, log c += SCALE_GAIN·(ā − TARGET_ACCEPTANCE).
pub const SCALE_GAIN: f64 = 2.0;
/// A stage keeps sweeping until Σ ā (expected accepted moves per particle) reaches this.
pub const MIN_ACCEPTED_MOVES: f64 = 3.0;
/// At most this many times `moves_per_stage` sweeps per stage.
pub const MAX_MOVE_FACTOR: usize = 4;

/// The sweeps of one stage at temperature `beta`: at least `cfg.moves_per_stage`, then more (up to
/// [`MAX_MOVE_FACTOR`]×) until the summed acceptance reaches [`MIN_ACCEPTED_MOVES`]; after every
/// sweep log c += [`SCALE_GAIN`]·(ā − [`TARGET_ACCEPTANCE`]) updates `scale`, and `sweep_index`
/// (the RNG stream of the sweep) advances. Returns the sweeps run and the summed acceptance.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_moves(
    state: &mut Particles,
    model: &dyn Model,
    x: &[f64],
    beta: f64,
    proposal: &Proposal,
    cfg: &SmcConfig,
    scale: &mut f64,
    sweep_index: &mut u64,
) -> Result<(usize, f64)> {
    let step0 = 2.38 / (model.theta_dim() as f64).sqrt();
    let (mut sweeps, mut accepted) = (0, 0.0);
    while sweeps < cfg.moves_per_stage
        || (accepted < MIN_ACCEPTED_MOVES && sweeps < MAX_MOVE_FACTOR * cfg.moves_per_stage)
    {
        let rate = state.sweep(model, x, beta, proposal, *scale * step0, cfg.seed, *sweep_index)?;
        *sweep_index += 1;
        sweeps += 1;
        accepted += rate;
        *scale *= (SCALE_GAIN * (rate - TARGET_ACCEPTANCE)).exp();
    }
    Ok((sweeps, accepted))
}

impl Particles {
    /// One random-walk Metropolis move of every particle targeting π(θ) L^β; returns the
    /// acceptance rate. Particle i proposes with its cluster's covariance from `proposal`, times
    /// `step²`. Chunk c uses stream (Proposal, sweep, c).
    #[allow(clippy::too_many_arguments)]
    fn sweep(
        &mut self,
        model: &dyn Model,
        x: &[f64],
        beta: f64,
        proposal: &Proposal,
        step: f64,
        seed: u64,
        sweep: u64,
    ) -> Result<f64> {
        let dim = self.theta.cols();
        let results: Vec<Result<usize>> = self
            .theta
            .as_mut_slice()
            .par_chunks_mut(PARTICLES_PER_CHUNK * dim)
            .zip(self.log_lik.par_chunks_mut(PARTICLES_PER_CHUNK))
            .zip(self.log_prior.par_chunks_mut(PARTICLES_PER_CHUNK))
            .zip(proposal.label.par_chunks(PARTICLES_PER_CHUNK))
            .enumerate()
            .map(|(chunk, (((t, ll), lp), label))| {
                let mut rng = stream(seed, Stream::Proposal, sweep, chunk as u64);
                let walk = Walk { chol: &proposal.chol, label, step, beta };
                move_chunk(model, x, &walk, &mut rng, t, ll, lp, chunk * PARTICLES_PER_CHUNK)
            })
            .collect();
        let mut n_accepted = 0;
        for r in results {
            n_accepted += r?;
        }
        Ok(n_accepted as f64 / self.log_lik.len() as f64)
    }
}

/// One chunk's random walk: Cholesky factors per cluster, each row's cluster, step, β.
struct Walk<'a> {
    chol: &'a [Vec<f64>],
    label: &'a [usize],
    step: f64,
    beta: f64,
}

/// The Metropolis step for one chunk (see [`Particles::sweep`]); returns the number accepted.
/// Proposals outside the prior support are rejected before the likelihood is called.
#[allow(clippy::too_many_arguments)]
fn move_chunk(
    model: &dyn Model,
    x: &[f64],
    walk: &Walk<'_>,
    rng: &mut Rng,
    theta: &mut [f64],
    log_lik: &mut [f64],
    log_prior: &mut [f64],
    first_row: usize,
) -> Result<usize> {
    let (rows, dim, step, beta) = (log_lik.len(), model.theta_dim(), walk.step, walk.beta);
    let mut eps = vec![0.0; dim];
    // In-support proposals, compacted: their row in the chunk, θ', log π(θ').
    let mut rows_in = Vec::with_capacity(rows);
    let mut prop = Vec::with_capacity(rows * dim);
    let mut prop_log_prior = Vec::with_capacity(rows);
    let mut log_u = Vec::with_capacity(rows);
    for r in 0..rows {
        for e in eps.iter_mut() {
            *e = StandardNormal.sample(rng);
        }
        let start = prop.len();
        let cur = &theta[r * dim..(r + 1) * dim];
        let chol = &walk.chol[walk.label[r]];
        for (i, c) in cur.iter().enumerate() {
            let l_row = &chol[i * dim..i * dim + i + 1];
            prop.push(c + step * l_row.iter().zip(&eps).map(|(l, e)| l * e).sum::<f64>());
        }
        // Draw u for every row so the stream does not depend on which proposals were in support.
        let u: f64 = rng.gen();
        let lp = model.prior().log_density(&prop[start..]);
        if lp == f64::NEG_INFINITY {
            prop.truncate(start);
        } else {
            rows_in.push(r);
            prop_log_prior.push(lp);
            log_u.push(u.ln());
        }
    }
    let mut prop_log_lik = vec![0.0; rows_in.len()];
    model.log_likelihood_at(x, MatRef::new(&prop, rows_in.len(), dim), &mut prop_log_lik)?;
    let mut n_accepted = 0;
    for (k, &r) in rows_in.iter().enumerate() {
        let ll = prop_log_lik[k];
        if ll.is_nan() || ll == f64::INFINITY {
            return Err(Error::BadLogLikelihood { row: first_row + r, obs: 0, value: ll });
        }
        let log_ratio = prop_log_prior[k] + tempered(ll, beta) - log_prior[r] - tempered(log_lik[r], beta);
        if log_u[k] < log_ratio {
            theta[r * dim..(r + 1) * dim].copy_from_slice(&prop[k * dim..(k + 1) * dim]);
            log_lik[r] = ll;
            log_prior[r] = prop_log_prior[k];
            n_accepted += 1;
        }
    }
    Ok(n_accepted)
}
