//! Weighted EM for a K-component diagonal Gaussian mixture on weighted points in ℝ^d, then a
//! "spread apart" pass so the fitted components start training well separated.
//!
//! Model and objective (weights w_n ≥ 0 normalised to Σ w_n = 1):
//!
//!   ℓ(φ) = Σ_n w_n log Σ_k π_k Π_j N(y_nj; μ_kj, σ_kj²).
//!
//! E-step: γ_nk = π_k N(y_n; μ_k, σ_k²) / Σ_l π_l N(y_n; μ_l, σ_l²) (log-sum-exp).
//! M-step with S_k = Σ_n w_n γ_nk: π_k = S_k, μ_k = Σ_n w_n γ_nk y_n / S_k,
//! σ_kj² = max(Σ_n w_n γ_nk (y_nj − μ_kj)² / S_k, floor_j). Each is the exact maximiser of the
//! expected complete-data log-likelihood (for σ² under the constraint σ² ≥ floor, because that
//! objective is unimodal in σ²), so ℓ never decreases (Dempster, Laird & Rubin 1977); the floor
//! (σ ≥ [`SCALE_FLOOR_REL`] × the cloud's sd per dimension) keeps ℓ bounded, since a component
//! collapsing onto one point would send it to +∞. A component whose mass S_k underflows keeps
//! its μ, σ and gets π_k = S_k.
//!
//! Seeding: weighted k-means++ (Arthur & Vassilvitskii 2007) with a fixed seed: the first centre
//! is a point drawn ∝ w_n, each next one ∝ w_n · D_n², D_n the distance to the nearest centre
//! chosen so far; every point is then assigned to its nearest centre and one M-step on these
//! hard responsibilities gives the starting φ. Stops when ℓ improves by less than
//! [`REL_TOL`]·(1 + |ℓ|) or after [`MAX_ITERATIONS`].
//!
//! E and M steps run over fixed chunks of 4096 points in parallel, and the partial
//! sums are reduced in chunk order, so the result is the same on any number of threads. The
//! sufficient statistics are taken about the current means (y − μ_k^old) so the variance is not
//! a difference of two large numbers.
//!
//! Spreading rule ([`spread_components`]): with s̄_k the RMS of σ_k over dimensions, every pair
//! should satisfy ‖μ_a − μ_b‖ ≥ [`SPREAD_SEPARATION`] · max(s̄_a, s̄_b) (= 4, as
//! [`super::GaussianMixture::init_layout`]: each component then sends ≲ Φ(−2) ≈ 2.3% of its mass
//! past the midpoint). (1) Shrink: σ_k is multiplied by min(1, D_k / (4 s̄_k)), D_k the distance
//! to the nearest other mean, but by no less than [`MAX_SHRINK`]. (2) Push: pairs still too
//! close (EM split one blob into overlapping components, or two means coincide) are moved apart
//! symmetrically along μ_a − μ_b (along the dimension of largest σ if they coincide) to exactly
//! the required distance; repeated for a few sweeps since a push can crowd a third component.
//! Training then corrects any displacement; the point is that no two components start on top of
//! each other, which gradient descent cannot undo (their gradients are identical).

use rand::Rng as _;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mat::MatRef;
use crate::rng::{stream, Stream};
use crate::special::{log_sum_exp, HALF_LOG_2PI};

/// Largest number of EM iterations.
pub const MAX_ITERATIONS: usize = 500;
/// EM stops when ℓ improves by less than REL_TOL · (1 + |ℓ|).
pub const REL_TOL: f64 = 1e-10;
/// σ_kj ≥ SCALE_FLOOR_REL · (weighted sd of the points in dimension j).
pub const SCALE_FLOOR_REL: f64 = 1e-3;
/// Required distance between two means, in units of the larger RMS scale.
pub const SPREAD_SEPARATION: f64 = 4.0;
/// Smallest factor the spreading rule multiplies a scale by.
pub const MAX_SHRINK: f64 = 0.25;
/// Push sweeps of the spreading rule.
const PUSH_SWEEPS: usize = 10;
/// Points per parallel chunk (fixed, so results do not depend on the thread count).
const CHUNK_POINTS: usize = 4096;
/// Stream `step` of the seeding RNG (keeps it apart from a flow's own `Init` stream, step 0).
const SEED_STREAM_STEP: u64 = 0x656d;

/// A fitted diagonal Gaussian mixture.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureFit {
    /// μ (K × d, row-major).
    pub means: Vec<f64>,
    /// σ (K × d, row-major), after spreading ([`fit_weighted_mixture`]; as fitted by [`em_weighted_mixture`]).
    pub scales: Vec<f64>,
    /// π (K), summing to 1.
    pub weights: Vec<f64>,
    /// ℓ of the EM fit (before spreading), per unit weight.
    pub log_likelihood: f64,
    /// EM iterations run.
    pub iterations: usize,
    /// ℓ after the seeding M-step and after each EM iteration (non-decreasing up to rounding).
    pub log_likelihood_trace: Vec<f64>,
    /// Pairs whose means the spreading rule pushed apart (0 if EM already separated them).
    pub n_pushed: usize,
}

/// Fits K = `n_comp` diagonal Gaussians to the rows of `points` (n × d) with weights `weights` (n,
/// ≥ 0, not all 0; normalised here) by seeded weighted EM, then spreads them apart (module
/// docs). Errors on a length mismatch, non-finite points or weights, negative weights,
/// n_comp = 0, or fewer distinct positively weighted points than n_comp.
pub fn fit_weighted_mixture(points: MatRef<f64>, weights: &[f64], n_comp: usize, seed: u64) -> Result<MixtureFit> {
    let mut fit = em_weighted_mixture(points, weights, n_comp, seed, EmStop::DEFAULT)?;
    spread_components(&mut fit, points.cols());
    Ok(fit)
}

/// When EM stops: after `max_iterations`, or when ℓ improves by less than `rel_tol` · (1 + |ℓ|).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmStop {
    /// Largest number of EM iterations.
    pub max_iterations: usize,
    /// Relative improvement below which EM stops.
    pub rel_tol: f64,
}

impl EmStop {
    /// What [`fit_weighted_mixture`] uses: [`MAX_ITERATIONS`], [`REL_TOL`].
    pub const DEFAULT: EmStop = EmStop { max_iterations: MAX_ITERATIONS, rel_tol: REL_TOL };
}

/// [`fit_weighted_mixture`] without the spreading pass and with the stopping rule `stop`: the
/// maximum-likelihood EM fit itself (`n_pushed` = 0), as a density estimate (model selection,
/// mode finding) needs it.
pub fn em_weighted_mixture(
    points: MatRef<f64>,
    weights: &[f64],
    n_comp: usize,
    seed: u64,
    stop: EmStop,
) -> Result<MixtureFit> {
    let (n_points, dim) = (points.rows(), points.cols());
    if weights.len() != n_points {
        return Err(Error::Shape { what: "fit_weighted_mixture weights", expected: n_points, got: weights.len() });
    }
    if n_comp == 0 || dim == 0 {
        return Err(Error::invalid("fit_weighted_mixture", "need n_comp ≥ 1 components and points with ≥ 1 column"));
    }
    if let Some(n) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(Error::invalid(
            format!("fit_weighted_mixture weight {n}"),
            format!("{}: need finite ≥ 0", weights[n]),
        ));
    }
    if let Some(n) = (0..n_points).find(|&n| points.row(n).iter().any(|v| !v.is_finite())) {
        return Err(Error::invalid(format!("fit_weighted_mixture point {n}"), "not finite"));
    }
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return Err(Error::invalid("fit_weighted_mixture weights", "all zero"));
    }
    let w: Vec<f64> = weights.iter().map(|v| v / total).collect();

    // Weighted variance of the cloud per dimension.
    let mut var = vec![0.0; dim];
    let mut mean = vec![0.0; dim];
    for (n, &wn) in w.iter().enumerate() {
        for (m, &y) in mean.iter_mut().zip(points.row(n)) {
            *m += wn * y;
        }
    }
    for (n, &wn) in w.iter().enumerate() {
        for ((s, &m), &y) in var.iter_mut().zip(&mean).zip(points.row(n)) {
            *s += wn * (y - m) * (y - m);
        }
    }
    let var_floor: Vec<f64> = var.iter().map(|v| (SCALE_FLOOR_REL * v.sqrt()).powi(2).max(1e-300)).collect();

    let centres = seed_centres(points, &w, n_comp, seed)?;
    let start_vars: Vec<f64> = (0..n_comp).flat_map(|_| var.iter().zip(&var_floor).map(|(v, f)| v.max(*f))).collect();
    let mut mix = Params { dim, means: centres, vars: start_vars, log_pi: vec![-(n_comp as f64).ln(); n_comp] };
    // Hard assignment to the nearest seed, then one M-step on it.
    let hard = |n: usize, gamma: &mut [f64]| {
        let y = points.row(n);
        let nearest = (0..n_comp)
            .map(|c| (c, sq_dist(y, &mix.means[c * dim..(c + 1) * dim])))
            .fold((0, f64::INFINITY), |best, cur| if cur.1 < best.1 { cur } else { best })
            .0;
        gamma.fill(0.0);
        gamma[nearest] = 1.0;
        0.0
    };
    let stats = sufficient_stats(points, &w, n_comp, &mix.means, hard);
    mix.m_step(&stats, &var_floor);

    let mut trace = Vec::new();
    let mut iterations = 0;
    let mut log_lik = f64::NEG_INFINITY;
    for it in 0..=stop.max_iterations {
        let stats =
            sufficient_stats(points, &w, n_comp, &mix.means, |n, gamma| mix.responsibilities(points.row(n), gamma));
        let improvement = stats.log_lik - log_lik;
        log_lik = stats.log_lik;
        trace.push(log_lik);
        if it == stop.max_iterations || improvement < stop.rel_tol * (1.0 + log_lik.abs()) {
            break;
        }
        mix.m_step(&stats, &var_floor);
        iterations = it + 1;
    }
    let weights_out: Vec<f64> = mix.log_pi.iter().map(|l| l.exp()).collect();
    Ok(MixtureFit {
        means: mix.means,
        scales: mix.vars.iter().map(|v| v.sqrt()).collect(),
        weights: weights_out,
        log_likelihood: log_lik,
        iterations,
        log_likelihood_trace: trace,
        n_pushed: 0,
    })
}

/// Applies the spreading rule of the module docs to `fit` (K × `dim` means and scales) in place;
/// sets `fit.n_pushed`. Deterministic.
pub fn spread_components(fit: &mut MixtureFit, dim: usize) {
    let n_comp = fit.weights.len();
    let rms = |scales: &[f64], c: usize| {
        (scales[c * dim..(c + 1) * dim].iter().map(|s| s * s).sum::<f64>() / dim as f64).sqrt()
    };
    // (1) Shrink.
    let shrink: Vec<f64> = (0..n_comp)
        .map(|a| {
            let d_min = (0..n_comp)
                .filter(|&b| b != a)
                .map(|b| sq_dist(&fit.means[a * dim..(a + 1) * dim], &fit.means[b * dim..(b + 1) * dim]).sqrt())
                .fold(f64::INFINITY, f64::min);
            (d_min / (SPREAD_SEPARATION * rms(&fit.scales, a))).clamp(MAX_SHRINK, 1.0)
        })
        .collect();
    for (c, f) in shrink.iter().enumerate() {
        fit.scales[c * dim..(c + 1) * dim].iter_mut().for_each(|s| *s *= f);
    }
    // (2) Push.
    let mut pushed = vec![false; n_comp * n_comp];
    for _ in 0..PUSH_SWEEPS {
        let mut moved = false;
        for a in 0..n_comp {
            for b in a + 1..n_comp {
                let need = SPREAD_SEPARATION * rms(&fit.scales, a).max(rms(&fit.scales, b));
                let diff: Vec<f64> = (0..dim).map(|j| fit.means[a * dim + j] - fit.means[b * dim + j]).collect();
                let dist = diff.iter().map(|v| v * v).sum::<f64>().sqrt();
                // Small relative slack so a pair placed at exactly `need` is not pushed again.
                if dist >= need * (1.0 - 1e-9) {
                    continue;
                }
                let dir: Vec<f64> = if dist > 1e-12 * need {
                    diff.iter().map(|v| v / dist).collect()
                } else {
                    let widest = (0..dim)
                        .max_by(|&i, &j| fit.scales[a * dim + i].total_cmp(&fit.scales[a * dim + j]))
                        .expect("dim ≥ 1");
                    (0..dim).map(|j| if j == widest { 1.0 } else { 0.0 }).collect()
                };
                let half = 0.5 * (need - dist);
                for (j, u) in dir.iter().enumerate() {
                    fit.means[a * dim + j] += half * u;
                    fit.means[b * dim + j] -= half * u;
                }
                pushed[a * n_comp + b] = true;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    fit.n_pushed = pushed.iter().filter(|&&p| p).count();
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Weighted k-means++ seeding: K distinct points (K × d).
fn seed_centres(points: MatRef<f64>, w: &[f64], n_comp: usize, seed: u64) -> Result<Vec<f64>> {
    let (n_points, dim) = (points.rows(), points.cols());
    let mut rng = stream(seed, Stream::Init, SEED_STREAM_STEP, 0);
    let mut centres = Vec::with_capacity(n_comp * dim);
    // Score of each point: w_n before the first centre, then w_n · D_n².
    let mut score: Vec<f64> = w.to_vec();
    let mut d2 = vec![f64::INFINITY; n_points];
    for c in 0..n_comp {
        let total: f64 = score.iter().sum();
        if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(Error::invalid(
                "fit_weighted_mixture points",
                format!("only {c} distinct positively weighted points; need at least n_comp = {n_comp}"),
            ));
        }
        let target = rng.gen::<f64>() * total;
        let mut acc = 0.0;
        let mut pick = score.iter().rposition(|&s| s > 0.0).expect("total > 0");
        for (n, &s) in score.iter().enumerate() {
            acc += s;
            if target < acc && s > 0.0 {
                pick = n;
                break;
            }
        }
        let centre = points.row(pick);
        centres.extend_from_slice(centre);
        for (n, (d, s)) in d2.iter_mut().zip(score.iter_mut()).enumerate() {
            *d = d.min(sq_dist(points.row(n), centre));
            *s = w[n] * *d;
        }
    }
    Ok(centres)
}

/// Current mixture: means and variances (K × d), log π (K).
struct Params {
    dim: usize,
    means: Vec<f64>,
    vars: Vec<f64>,
    log_pi: Vec<f64>,
}

/// Σ_n w_n γ_nk (mass), Σ_n w_n γ_nk (y_n − μ_k) and Σ_n w_n γ_nk (y_n − μ_k)² (K × d) about the
/// means they were taken with, and Σ_n w_n log p(y_n).
struct Stats {
    mass: Vec<f64>,
    first: Vec<f64>,
    second: Vec<f64>,
    log_lik: f64,
}

impl Params {
    /// Writes γ_n· into `gamma` and returns log p(y).
    fn responsibilities(&self, y: &[f64], gamma: &mut [f64]) -> f64 {
        let dim = self.dim;
        for (c, g) in gamma.iter_mut().enumerate() {
            let span = c * dim..(c + 1) * dim;
            let mut a = self.log_pi[c] - dim as f64 * HALF_LOG_2PI;
            for ((&yj, &m), &v) in y.iter().zip(&self.means[span.clone()]).zip(&self.vars[span]) {
                a -= 0.5 * ((yj - m) * (yj - m) / v + v.ln());
            }
            *g = a;
        }
        let log_p = log_sum_exp(gamma);
        if log_p == f64::NEG_INFINITY {
            gamma.fill(0.0);
        } else {
            gamma.iter_mut().for_each(|g| *g = (*g - log_p).exp());
        }
        log_p
    }

    fn m_step(&mut self, stats: &Stats, var_floor: &[f64]) {
        let dim = self.dim;
        let total: f64 = stats.mass.iter().sum();
        for c in 0..self.log_pi.len() {
            let s = stats.mass[c];
            self.log_pi[c] = (s / total).ln();
            if s <= f64::MIN_POSITIVE {
                continue;
            }
            let span = c * dim..(c + 1) * dim;
            let sums = stats.first[span.clone()].iter().zip(&stats.second[span.clone()]).zip(var_floor);
            for ((m, v), ((&first, &second), &floor)) in
                self.means[span.clone()].iter_mut().zip(&mut self.vars[span]).zip(sums)
            {
                let shift = first / s;
                *m += shift;
                *v = (second / s - shift * shift).max(floor);
            }
        }
    }
}

/// One pass over the points: `gamma_of(n, γ)` writes point n's responsibilities and returns its
/// log p; statistics are taken about `means`. Fixed chunks, reduced in chunk order.
fn sufficient_stats(
    points: MatRef<f64>,
    w: &[f64],
    n_comp: usize,
    means: &[f64],
    gamma_of: impl Fn(usize, &mut [f64]) -> f64 + Sync,
) -> Stats {
    let dim = points.cols();
    let n_chunks = points.rows().div_ceil(CHUNK_POINTS);
    let partial: Vec<Stats> = (0..n_chunks)
        .into_par_iter()
        .map(|chunk| {
            let mut st = Stats {
                mass: vec![0.0; n_comp],
                first: vec![0.0; n_comp * dim],
                second: vec![0.0; n_comp * dim],
                log_lik: 0.0,
            };
            let mut gamma = vec![0.0; n_comp];
            let end = ((chunk + 1) * CHUNK_POINTS).min(points.rows());
            for (n, &wn) in w.iter().enumerate().take(end).skip(chunk * CHUNK_POINTS) {
                if wn == 0.0 {
                    continue;
                }
                st.log_lik += wn * gamma_of(n, &mut gamma);
                let y = points.row(n);
                for (c, &g) in gamma.iter().enumerate() {
                    let wg = wn * g;
                    if wg == 0.0 {
                        continue;
                    }
                    st.mass[c] += wg;
                    let span = c * dim..(c + 1) * dim;
                    for (((f, s), &yj), &m) in
                        st.first[span.clone()].iter_mut().zip(&mut st.second[span.clone()]).zip(y).zip(&means[span])
                    {
                        *f += wg * (yj - m);
                        *s += wg * (yj - m) * (yj - m);
                    }
                }
            }
            st
        })
        .collect();
    let mut out = Stats {
        mass: vec![0.0; n_comp],
        first: vec![0.0; n_comp * dim],
        second: vec![0.0; n_comp * dim],
        log_lik: 0.0,
    };
    for st in partial {
        out.log_lik += st.log_lik;
        out.mass.iter_mut().zip(&st.mass).for_each(|(a, b)| *a += b);
        out.first.iter_mut().zip(&st.first).for_each(|(a, b)| *a += b);
        out.second.iter_mut().zip(&st.second).for_each(|(a, b)| *a += b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;
    use rand_distr::{Distribution, StandardNormal};

    /// Allowed error of a recovered mean, in units of that component's sd.
    const MEAN_TOL_SDS: f64 = 0.05;
    /// Allowed relative error of a recovered sd and absolute error of a weight.
    const SCALE_REL_TOL: f64 = 0.05;
    const WEIGHT_TOL: f64 = 0.02;
    /// Rounding slack for the monotonicity check, relative to |ℓ|.
    const MONOTONE_SLACK: f64 = 1e-12;

    /// Four components in 2-D: means, sds and weights.
    fn truth() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let means = vec![-2.0, -1.0, 2.5, -1.5, -1.0, 2.0, 2.0, 2.5];
        let sds = vec![0.3, 0.5, 0.6, 0.2, 0.4, 0.4, 0.25, 0.7];
        (means, sds, vec![0.1, 0.2, 0.3, 0.4])
    }

    /// Points from the truth sampled *uniformly over components* and weighted by π_k / (1/4),
    /// so recovering the weights needs the weights to be used.
    fn weighted_sample(n_points: usize) -> (Mat<f64>, Vec<f64>) {
        let (means, sds, pis) = truth();
        let mut rng = stream(51, Stream::Metric, 0, 0);
        let mut pts = Mat::zeros(n_points, 2);
        let mut w = vec![0.0; n_points];
        for (n, wn) in w.iter_mut().enumerate() {
            let c = n % 4;
            *wn = pis[c] * 4.0;
            for j in 0..2 {
                let e: f64 = StandardNormal.sample(&mut rng);
                pts.row_mut(n)[j] = means[c * 2 + j] + sds[c * 2 + j] * e;
            }
        }
        (pts, w)
    }

    #[test]
    fn em_recovers_a_known_four_component_mixture_from_weighted_points() {
        let (pts, w) = weighted_sample(40_000);
        let fit = fit_weighted_mixture(pts.as_ref(), &w, 4, 7).expect("valid input");
        let (means, sds, pis) = truth();
        eprintln!("iterations {}, ℓ {}, fit {:?}", fit.iterations, fit.log_likelihood, fit);
        assert_eq!(fit.n_pushed, 0, "truth is well separated");
        for c in 0..4 {
            // Match each true component to the nearest fitted mean.
            let f = (0..4)
                .min_by(|&a, &b| {
                    sq_dist(&fit.means[a * 2..a * 2 + 2], &means[c * 2..c * 2 + 2])
                        .total_cmp(&sq_dist(&fit.means[b * 2..b * 2 + 2], &means[c * 2..c * 2 + 2]))
                })
                .expect("4 components");
            for j in 0..2 {
                let (m, s) = (means[c * 2 + j], sds[c * 2 + j]);
                assert!((fit.means[f * 2 + j] - m).abs() < MEAN_TOL_SDS * s, "component {c} mean {j}: {fit:?}");
                assert!((fit.scales[f * 2 + j] / s - 1.0).abs() < SCALE_REL_TOL, "component {c} sd {j}: {fit:?}");
            }
            assert!((fit.weights[f] - pis[c]).abs() < WEIGHT_TOL, "component {c} weight: {fit:?}");
        }
    }

    #[test]
    fn em_log_likelihood_never_decreases() {
        let (pts, w) = weighted_sample(8_000);
        // K = 6 > 4 true components: EM must share blobs, a slower, more tangled run.
        for n_comp in [2, 4, 6] {
            let fit = fit_weighted_mixture(pts.as_ref(), &w, n_comp, 3).expect("valid input");
            assert!(fit.log_likelihood_trace.len() >= 2);
            for pair in fit.log_likelihood_trace.windows(2) {
                assert!(pair[1] >= pair[0] - MONOTONE_SLACK * pair[0].abs(), "n_comp = {n_comp}: {pair:?}");
            }
            assert!(fit.iterations <= MAX_ITERATIONS);
        }
    }

    #[test]
    fn spreading_separates_overlapping_components() {
        let mut fit = MixtureFit {
            means: vec![0.0, 0.0, 0.0, 0.0, 0.5, 0.0],
            scales: vec![1.0; 6],
            weights: vec![1.0 / 3.0; 3],
            log_likelihood: 0.0,
            iterations: 0,
            log_likelihood_trace: vec![],
            n_pushed: 0,
        };
        spread_components(&mut fit, 2);
        assert!(fit.n_pushed > 0);
        for a in 0..3 {
            for b in a + 1..3 {
                let dist = sq_dist(&fit.means[a * 2..a * 2 + 2], &fit.means[b * 2..b * 2 + 2]).sqrt();
                let s = fit.scales[a * 2].max(fit.scales[b * 2]);
                assert!(dist >= SPREAD_SEPARATION * s * (1.0 - 1e-6), "{a}, {b}: {fit:?}");
            }
        }
        assert!(fit.scales.iter().all(|&s| s >= MAX_SHRINK));
    }

    #[test]
    fn bad_inputs_are_rejected() {
        let pts = Mat::from_vec(3, 1, vec![0.0, 1.0, 2.0]);
        assert!(fit_weighted_mixture(pts.as_ref(), &[1.0, 1.0], 1, 0).is_err());
        assert!(fit_weighted_mixture(pts.as_ref(), &[1.0, -1.0, 1.0], 1, 0).is_err());
        assert!(fit_weighted_mixture(pts.as_ref(), &[0.0; 3], 1, 0).is_err());
        assert!(fit_weighted_mixture(pts.as_ref(), &[1.0, 0.0, 0.0], 2, 0).is_err());
        assert!(fit_weighted_mixture(pts.as_ref(), &[1.0; 3], 0, 0).is_err());
        let fit = fit_weighted_mixture(pts.as_ref(), &[1.0, 0.0, 1.0], 2, 0).expect("two distinct points");
        assert!(fit.weights.iter().all(|w| (w - 0.5).abs() < 1e-9), "{fit:?}");
    }
}
