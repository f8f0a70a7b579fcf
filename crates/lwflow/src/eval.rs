//! Judging a trained flow against a reference posterior for one observation: draws from both,
//! then the sample-based metrics of [`crate::metrics`].

use crate::error::Result;
use crate::flow::Flow;
use crate::mat::{Mat, MatRef};
use crate::metrics::wasserstein::{sliced_w2, w2_exact};
use crate::metrics::{bridge_mass, c2st, kl_p_q, mmd2_unbiased, mode_shares, C2stConfig};
use crate::real::Real;
use crate::reference::Reference;
use crate::rng::{stream, Stream};

/// Density ratio below which a point counts as "between modes" for [`bridge_mass`].
pub const BRIDGE_THRESHOLD: f64 = 1e-3;
/// Random directions for the sliced Wasserstein distance.
const SLICED_PROJECTIONS: usize = 500;
/// Largest sample size for the exact (O(n³)) 2-Wasserstein distance.
pub const W2_MAX_SAMPLES: usize = 2000;

/// Which metrics [`evaluate`] computes; KL, bridge mass and mode shares are always computed.
#[derive(Clone, Copy, Debug)]
pub struct EvalOptions {
    /// Samples drawn from q and from the reference.
    pub n_samples: usize,
    /// Seed of the q sampler, the reference sampler and the C2ST classifiers.
    pub seed: u64,
    /// Classifier two-sample test (trains five small classifiers).
    pub c2st: bool,
    /// Exact 2-Wasserstein on the first [`W2_MAX_SAMPLES`] samples, its noise floor between two
    /// reference sample sets, sliced W2 and MMD.
    pub distances: bool,
}

impl EvalOptions {
    /// Every metric, `n_samples` draws.
    pub fn all(n_samples: usize, seed: u64) -> Self {
        Self { n_samples, seed, c2st: true, distances: true }
    }
}

/// Metrics of q(·|x) against the reference p(·|x).
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalReport {
    /// The observation x the posteriors are conditioned on.
    pub x: Vec<f64>,
    /// Samples drawn from each of q(·|x) and p(·|x).
    pub n_samples: usize,
    /// KL(p‖q) = E_p[log p − log q], Monte Carlo over reference draws (NaN, like every
    /// density-based field, when the reference has samples only).
    pub kl_pq: f64,
    /// Standard error of `kl_pq`: the sample std of log p − log q over √n.
    pub kl_pq_std_err: f64,
    /// KL(q‖p) = E_q[log q − log p], Monte Carlo over q's draws (+inf if q puts mass where p
    /// is zero).
    pub kl_qp: f64,
    /// Standard error of `kl_qp`, as for `kl_pq_std_err`.
    pub kl_qp_std_err: f64,
    /// Classifier two-sample test accuracy (0.5 = indistinguishable), if asked for.
    pub c2st: Option<f64>,
    /// Exact 2-Wasserstein distance between q's and p's samples, if asked for.
    pub w2: Option<f64>,
    /// The same distance between two independent reference sample sets: the noise floor.
    pub w2_floor: Option<f64>,
    /// Sliced 2-Wasserstein distance (mean over random 1-D projections), if asked for; cheap at
    /// any sample size, unlike the exact `w2`.
    pub sliced_w2: Option<f64>,
    /// Unbiased squared MMD, Gaussian kernel with the median-heuristic bandwidth.
    pub mmd2: Option<f64>,
    /// Share of q's samples nearest to each reference mode (empty if modes are not known).
    pub mode_shares: Vec<f64>,
    /// Share of q's samples where p < 1e-3 · max p.
    pub bridge_mass: f64,
    /// The same share for the reference's own samples (the floor of `bridge_mass`).
    pub reference_bridge_mass: f64,
}

/// Draws samples from the flow and from the reference for observation `x` and compares them.
pub fn evaluate<T: Real>(
    flow: &Flow<T>,
    reference: &dyn Reference,
    x: &[f64],
    opts: &EvalOptions,
) -> Result<EvalReport> {
    evaluate_with_samples(flow, reference, x, opts).map(|(report, _)| report)
}

/// The samples [`evaluate_with_samples`] compared, `n_samples × dim` each.
pub struct EvalSamples {
    /// Draws from the flow q(θ|x), seed `opts.seed`.
    pub q: Mat<f64>,
    /// Draws from the reference p(θ|x), stream (`opts.seed`, Metric, 1000, 0).
    pub p: Mat<f64>,
}

/// [`evaluate`], also returning the flow's and the reference's samples (e.g. to save them).
/// With a sample-only reference ([`Reference::has_density`] false) the density-based fields
/// (both KLs and their standard errors, both bridge masses) are NaN: not computed.
pub fn evaluate_with_samples<T: Real>(
    flow: &Flow<T>,
    reference: &dyn Reference,
    x: &[f64],
    opts: &EvalOptions,
) -> Result<(EvalReport, EvalSamples)> {
    let (n, seed) = (opts.n_samples, opts.seed);
    let x_row = MatRef::new(x, 1, x.len());
    let q = flow.sample(x, n, seed)?;
    let p = reference.sample(&mut stream(seed, Stream::Metric, 1000, 0), n);
    let log_p = |s: &Mat<f64>| -> Vec<f64> { (0..s.rows()).map(|r| reference.log_density(s.row(r))).collect() };
    let nan = crate::metrics::Estimate { value: f64::NAN, std_err: f64::NAN };
    let (kl_pq, kl_qp) = if reference.has_density() {
        // KL(q‖p): the same estimator with the roles swapped, mean over q's draws of log q − log p.
        (kl_p_q(&log_p(&p), &flow.log_prob(p.as_ref(), x_row)?), kl_p_q(&flow.log_prob(q.as_ref(), x_row)?, &log_p(&q)))
    } else {
        (nan, nan)
    };
    let c2st = if opts.c2st {
        Some(c2st(p.as_ref(), q.as_ref(), &C2stConfig { seed, ..C2stConfig::default() })?)
    } else {
        None
    };
    let (mut w2, mut w2_floor, mut sliced, mut mmd2) = (None, None, None, None);
    if opts.distances {
        let m = n.min(W2_MAX_SAMPLES);
        let p2 = reference.sample(&mut stream(seed, Stream::Metric, 1001, 0), m);
        w2 = Some(w2_exact(q.as_ref().rows_range(0, m), p.as_ref().rows_range(0, m))?);
        w2_floor = Some(w2_exact(p2.as_ref(), p.as_ref().rows_range(0, m))?);
        sliced = Some(sliced_w2(q.as_ref(), p.as_ref(), SLICED_PROJECTIONS, seed)?);
        mmd2 = Some(mmd2_unbiased(q.as_ref().rows_range(0, m), p.as_ref().rows_range(0, m), None));
    }
    let mode_shares = reference.modes().map(|m| mode_shares(q.as_ref(), &m)).unwrap_or_default();
    let report = EvalReport {
        x: x.to_vec(),
        n_samples: n,
        kl_pq: kl_pq.value,
        kl_pq_std_err: kl_pq.std_err,
        kl_qp: kl_qp.value,
        kl_qp_std_err: kl_qp.std_err,
        c2st,
        w2,
        w2_floor,
        sliced_w2: sliced,
        mmd2,
        mode_shares,
        bridge_mass: if reference.has_density() {
            bridge_mass(q.as_ref(), reference, BRIDGE_THRESHOLD)
        } else {
            f64::NAN
        },
        reference_bridge_mass: if reference.has_density() {
            bridge_mass(p.as_ref(), reference, BRIDGE_THRESHOLD)
        } else {
            f64::NAN
        },
    };
    Ok((report, EvalSamples { q, p }))
}
