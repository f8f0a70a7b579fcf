//! Judging a trained flow against a reference posterior for one observation: draws from both,
//! then the sample-based metrics of [`crate::metrics`]. [`compare_samples`] runs the same
//! sample-based metrics on two given sample sets (e.g. two references, read from files);
//! [`evaluate_importance`] judges the flow's importance-corrected samples ([`crate::importance`]).

use crate::error::{Error, Result};
use crate::flow::Flow;
use crate::importance::{importance_resample, ImportanceConfig, ImportanceDiagnostics};
use crate::mat::{Mat, MatRef};
use crate::metrics::wasserstein::{sliced_w2, w2_exact};
use crate::metrics::{bridge_mass, c2st, kl_p_q, mmd2_unbiased, mode_shares, C2stConfig};
use crate::model::Model;
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
    /// Set when the samples judged are importance-corrected ([`evaluate_importance`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub importance: Option<ImportanceDiagnostics>,
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
    let q = flow.sample(x, opts.n_samples, opts.seed)?;
    report_on_samples(Some(flow), reference, x, q, opts)
}

/// [`evaluate`] of the flow's importance-corrected samples ([`importance_resample`] with
/// `model`'s likelihood): the sample metrics of the resampled draws; both KLs are NaN (they
/// are properties of the density q, which the resampled set does not have).
pub fn evaluate_importance<T: Real>(
    flow: &Flow<T>,
    model: &dyn Model,
    reference: &dyn Reference,
    x: &[f64],
    opts: &EvalOptions,
    importance: &ImportanceConfig,
) -> Result<EvalReport> {
    let corrected = importance_resample(model, flow, x, opts.n_samples, importance, opts.seed)?;
    let (mut report, _) = report_on_samples(None::<&Flow<T>>, reference, x, corrected.samples, opts)?;
    report.importance = Some(corrected.diagnostics);
    Ok(report)
}

/// The report for draws `q` (from the flow, or importance-corrected); KLs need `flow`'s density.
fn report_on_samples<T: Real>(
    flow: Option<&Flow<T>>,
    reference: &dyn Reference,
    x: &[f64],
    q: Mat<f64>,
    opts: &EvalOptions,
) -> Result<(EvalReport, EvalSamples)> {
    let (n, seed) = (opts.n_samples, opts.seed);
    let x_row = MatRef::new(x, 1, x.len());
    let p = reference.sample(&mut stream(seed, Stream::Metric, 1000, 0), n);
    let log_p = |s: &Mat<f64>| -> Vec<f64> { (0..s.rows()).map(|r| reference.log_density(s.row(r))).collect() };
    let nan = crate::metrics::Estimate { value: f64::NAN, std_err: f64::NAN };
    let (kl_pq, kl_qp) = match flow {
        // KL(q‖p): the same estimator with the roles swapped, mean over q's draws of log q − log p.
        Some(flow) if reference.has_density() => (
            kl_p_q(&log_p(&p), &flow.log_prob(p.as_ref(), x_row)?),
            kl_p_q(&flow.log_prob(q.as_ref(), x_row)?, &log_p(&q)),
        ),
        _ => (nan, nan),
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
        let d = distances(p.as_ref(), q.as_ref(), seed)?;
        w2 = Some(d.w2);
        w2_floor = Some(w2_exact(p2.as_ref(), p.as_ref().rows_range(0, m))?);
        sliced = Some(d.sliced_w2);
        mmd2 = Some(d.mmd2);
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
        importance: None,
    };
    Ok((report, EvalSamples { q, p }))
}

/// The sample distances of [`evaluate`] and [`compare_samples`] between reference draws `p` and
/// draws `q`: exact W2 and MMD² on the first m = min(n_p, n_q, [`W2_MAX_SAMPLES`]) rows of each,
/// sliced W2 on all rows. Callers have checked the shapes (same width, ≥ 2 rows each).
struct Distances {
    w2: f64,
    w2_rows: usize,
    sliced_w2: f64,
    mmd2: f64,
}

fn distances(p: MatRef<f64>, q: MatRef<f64>, seed: u64) -> Result<Distances> {
    let m = p.rows().min(q.rows()).min(W2_MAX_SAMPLES);
    let (p_m, q_m) = (p.rows_range(0, m), q.rows_range(0, m));
    Ok(Distances {
        w2: w2_exact(q_m, p_m)?,
        w2_rows: m,
        sliced_w2: sliced_w2(q, p, SLICED_PROJECTIONS, seed)?,
        mmd2: mmd2_unbiased(q_m, p_m, None),
    })
}

/// Fewest rows per sample set [`compare_samples`] accepts: C2ST's 5 folds need a few each.
pub const MIN_COMPARE_ROWS: usize = 10;

/// Sample-based metrics between two sample sets ([`compare_samples`]).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SampleComparison {
    /// Dimension of θ (columns of both sets).
    pub dim: usize,
    /// Rows of the reference set p.
    pub n_p: usize,
    /// Rows of the other set q.
    pub n_q: usize,
    /// C2ST accuracy, sbibm-style ([`c2st()`]: z-scored with p's statistics); 0.5 = indistinguishable.
    pub c2st: f64,
    /// Unbiased MMD², Gaussian kernel with the median-heuristic bandwidth, on the first `w2_rows`.
    pub mmd2: f64,
    /// Sliced 2-Wasserstein distance over all rows (500 random directions).
    pub sliced_w2: f64,
    /// Exact 2-Wasserstein distance between the first `w2_rows` rows of each set.
    pub w2: f64,
    /// min(n_p, n_q, [`W2_MAX_SAMPLES`]): rows used by `w2` and `mmd2`.
    pub w2_rows: usize,
}

/// Compares samples `q` with reference samples `p` (each `n × dim`, rows may differ in number):
/// C2ST on all rows, and the distances [`evaluate`] reports (exact W2 and MMD² on the first
/// min(n_p, n_q, [`W2_MAX_SAMPLES`]) rows, sliced W2 on all). `seed` seeds the C2ST classifiers
/// and the sliced-W2 directions. Put samples in random order: the subsample is the first rows.
///
/// Errors: different widths ([`Error::Shape`]); fewer than
/// [`MIN_COMPARE_ROWS`] rows in either set.
pub fn compare_samples(p: MatRef<f64>, q: MatRef<f64>, seed: u64) -> Result<SampleComparison> {
    if q.cols() != p.cols() {
        return Err(Error::Shape { what: "compare_samples second sample set", expected: p.cols(), got: q.cols() });
    }
    if p.rows().min(q.rows()) < MIN_COMPARE_ROWS {
        return Err(Error::invalid(
            "compare_samples sample sizes",
            format!("need at least {MIN_COMPARE_ROWS} rows in each set, got {} and {}", p.rows(), q.rows()),
        ));
    }
    let c2st = c2st(p, q, &C2stConfig { seed, ..C2stConfig::default() })?;
    let d = distances(p, q, seed)?;
    Ok(SampleComparison {
        dim: p.cols(),
        n_p: p.rows(),
        n_q: q.rows(),
        c2st,
        mmd2: d.mmd2,
        sliced_w2: d.sliced_w2,
        w2: d.w2,
        w2_rows: d.w2_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, StandardNormal};

    fn normal(n_rows: usize, dim: usize, shift: f64, seed: u64) -> Mat<f64> {
        let mut rng = stream(seed, Stream::Metric, 7, 0);
        Mat::from_fn(n_rows, dim, |_, _| shift + Distribution::<f64>::sample(&StandardNormal, &mut rng))
    }

    #[test]
    fn compare_samples_separates_a_shift_from_no_shift() {
        let (p, same, shifted) = (normal(1000, 2, 0.0, 1), normal(800, 2, 0.0, 2), normal(800, 2, 1.0, 3));
        let a = compare_samples(p.as_ref(), same.as_ref(), 1).unwrap();
        let b = compare_samples(p.as_ref(), shifted.as_ref(), 1).unwrap();
        assert_eq!((a.dim, a.n_p, a.n_q, a.w2_rows), (2, 1000, 800, 800));
        assert!(a.c2st < 0.56 && b.c2st > 0.65, "C2ST {} vs {}", a.c2st, b.c2st);
        // A shift of (1, 1): sliced W2 → |m|/√d = 1, W2 → |m| = √2, plus the finite-sample floor.
        assert!(a.sliced_w2 < 0.15 && (b.sliced_w2 - 1.0).abs() < 0.15, "{} {}", a.sliced_w2, b.sliced_w2);
        assert!(a.w2 < 0.5 && (b.w2 - 2f64.sqrt()).abs() < 0.2, "{} {}", a.w2, b.w2);
        assert!(a.mmd2.abs() < 0.01 && b.mmd2 > 0.1, "{} {}", a.mmd2, b.mmd2);
    }

    #[test]
    fn compare_samples_rejects_mismatched_or_tiny_sets() {
        let p = normal(50, 2, 0.0, 1);
        let msg = compare_samples(p.as_ref(), normal(50, 3, 0.0, 2).as_ref(), 1).unwrap_err().to_string();
        assert!(msg.contains("expected 2 columns, got 3"), "{msg}");
        let msg = compare_samples(p.as_ref(), normal(9, 2, 0.0, 2).as_ref(), 1).unwrap_err().to_string();
        assert!(msg.contains("at least 10 rows") && msg.contains("got 50 and 9"), "{msg}");
    }
}
