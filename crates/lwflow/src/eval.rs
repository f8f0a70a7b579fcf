//! Judging a trained flow against a reference posterior for one observation: draws from both,
//! then the sample-based metrics of [`crate::metrics`].

use crate::error::Result;
use crate::flow::Flow;
use crate::mat::MatRef;
use crate::metrics::{bridge_mass, c2st, kl_p_q, mode_shares, C2stConfig};
use crate::real::Real;
use crate::reference::Reference;
use crate::rng::{stream, Stream};

/// Density ratio below which a point counts as "between modes" for [`bridge_mass`].
pub const BRIDGE_THRESHOLD: f64 = 1e-3;

/// Metrics of q(·|x) against the reference p(·|x).
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalReport {
    pub x: Vec<f64>,
    pub n_samples: usize,
    /// KL(p‖q) = E_p[log p − log q], Monte Carlo over reference draws.
    pub kl_pq: f64,
    pub kl_pq_std_err: f64,
    /// Classifier two-sample test accuracy (0.5 = indistinguishable), if asked for.
    pub c2st: Option<f64>,
    /// Share of q's samples nearest to each reference mode (empty if modes are not known).
    pub mode_shares: Vec<f64>,
    /// Share of q's samples where p < 1e-3 · max p.
    pub bridge_mass: f64,
    /// The same share for the reference's own samples (the floor of `bridge_mass`).
    pub reference_bridge_mass: f64,
}

/// Draws `n` samples from the flow and from the reference for observation `x` and compares
/// them. The C2ST trains five classifiers, so it is optional (`with_c2st`).
pub fn evaluate<T: Real>(
    flow: &Flow<T>,
    reference: &dyn Reference,
    x: &[f64],
    n: usize,
    seed: u64,
    with_c2st: bool,
) -> Result<EvalReport> {
    let q = flow.sample(x, n, seed)?;
    let p = reference.sample(&mut stream(seed, Stream::Metric, 1000, 0), n);
    let log_q = flow.log_prob(p.as_ref(), MatRef::new(x, 1, x.len()))?;
    let log_p: Vec<f64> = (0..n).map(|r| reference.log_density(p.row(r))).collect();
    let kl = kl_p_q(&log_p, &log_q);
    let c2st = if with_c2st {
        Some(c2st(p.as_ref(), q.as_ref(), &C2stConfig { seed, ..C2stConfig::default() })?)
    } else {
        None
    };
    let mode_shares = reference.modes().map(|m| mode_shares(q.as_ref(), &m)).unwrap_or_default();
    Ok(EvalReport {
        x: x.to_vec(),
        n_samples: n,
        kl_pq: kl.value,
        kl_pq_std_err: kl.std_err,
        c2st,
        mode_shares,
        bridge_mass: bridge_mass(q.as_ref(), reference, BRIDGE_THRESHOLD),
        reference_bridge_mass: bridge_mass(p.as_ref(), reference, BRIDGE_THRESHOLD),
    })
}
