//! The one pass over the pairs every rank-based test shares: for each (θ*, x), L draws from
//! q(·|x), their log-densities and θ*'s, and a reference point; then the SBC ranks per
//! dimension ([`super::sbc`]), the HPD rank ([`super::coverage`]) and the TARP rank
//! ([`super::tarp`]). Pairs run in parallel in fixed blocks, each with its own seeds, so the
//! ranks do not depend on the thread count.

use rand::Rng as _;
use rayon::prelude::*;

use crate::error::Result;
use crate::mat::{Mat, MatRef};
use crate::model::Prior;
use crate::rng::{stream, Stream};

use super::coverage::hpd_rank;
use super::sbc::marginal_rank;
use super::tarp::tarp_rank;
use super::Posterior;

/// Pairs per parallel block (progress is reported between blocks).
pub const BLOCK: usize = 32;

/// The ranks of N pairs, each in 0..=L.
#[derive(Clone, Debug, Default)]
pub struct PairRanks {
    /// `marginal[k][i]`: SBC rank of θ*_k of pair i.
    pub marginal: Vec<Vec<usize>>,
    /// HPD rank of pair i: draws denser than θ* under q.
    pub hpd: Vec<usize>,
    /// TARP rank of pair i.
    pub tarp: Vec<usize>,
}

struct OnePair {
    marginal: Vec<usize>,
    hpd: usize,
    tarp: usize,
}

/// The ranks of every pair (rows of `theta` and `x`) among `n_draws` draws of `q`; `prior` gives
/// TARP's reference points and distance scale. `progress(done)` is called after each block.
pub fn pair_ranks(
    q: &dyn Posterior,
    prior: &Prior,
    theta: MatRef<f64>,
    x: MatRef<f64>,
    n_draws: usize,
    seed: u64,
    progress: &mut dyn FnMut(usize),
) -> Result<PairRanks> {
    let d = theta.cols();
    let inv_scale: Vec<f64> = prior.marginals().iter().map(|m| 1.0 / m.moments().1).collect();
    let n = theta.rows();
    let mut out = PairRanks { marginal: vec![Vec::with_capacity(n); d], ..PairRanks::default() };
    progress(0);
    for start in (0..n).step_by(BLOCK) {
        let rows = BLOCK.min(n - start);
        let block: Vec<OnePair> = (start..start + rows)
            .into_par_iter()
            .map(|i| one_pair(q, prior, theta.row(i), x.row(i), n_draws, &inv_scale, seed, i))
            .collect::<Result<_>>()?;
        for p in block {
            for (col, r) in out.marginal.iter_mut().zip(p.marginal) {
                col.push(r);
            }
            out.hpd.push(p.hpd);
            out.tarp.push(p.tarp);
        }
        progress(start + rows);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn one_pair(
    q: &dyn Posterior,
    prior: &Prior,
    truth: &[f64],
    x: &[f64],
    n_draws: usize,
    inv_scale: &[f64],
    seed: u64,
    i: usize,
) -> Result<OnePair> {
    let d = truth.len();
    let q_seed: u64 = stream(seed, Stream::Metric, super::STEP_DRAWS, i as u64).gen();
    let draws = q.sample(x, n_draws, q_seed)?;
    // Draws and θ* in one call: rows 0..L are q's draws, row L is θ*.
    let mut both = Mat::zeros(n_draws + 1, d);
    both.as_mut().rows_range_mut(0, n_draws).copy_from(draws.as_ref());
    both.row_mut(n_draws).copy_from_slice(truth);
    let log_q = q.log_prob(both.as_ref(), x)?;
    let mut reference = Mat::zeros(1, d);
    prior.sample(&mut stream(seed, Stream::Metric, super::STEP_REFERENCE, i as u64), reference.as_mut());
    let flat = draws.as_slice();
    Ok(OnePair {
        marginal: (0..d).map(|k| marginal_rank(flat.iter().skip(k).step_by(d).copied(), truth[k])).collect(),
        hpd: hpd_rank(&log_q[..n_draws], log_q[n_draws]),
        tarp: tarp_rank(flat, truth, reference.row(0), inv_scale),
    })
}
