//! Exact posterior of the square task: θ ~ U(low, high)^d, x = θ ⊙ θ + N(0, σ² I).
//!
//! The posterior factorises over dimensions, p(θ|x) = Π_k p_k(θ_k | x_k), with
//!
//!   p_k(t | x_k) = N(x_k; t², σ²) / Z_k on (low, high),   Z_k = ∫_low^high N(x_k; t², σ²) dt
//!
//! (the uniform prior cancels). `log_density` evaluates this formula exactly; only log Z_k comes
//! from quadrature. Each 1-D marginal is tabulated on a piecewise-uniform grid: spacing
//! (high − low)/20 000, refined to 4 000 cells over a patch of ±40 local widths around every
//! peak candidate (±√x_k, 0, clipped to the support), i.e. 50 points per width.
//!
//! Why the refinement: the modes are sharp (width σ / (2√x_k) ≈ 0.017 at x_k = 9), and for
//! x_k > high² the density piles up against the bound with decay length σ² / (2·high·(x_k − high²)),
//! 5.6·10⁻⁴ at x_k = 12 and 7.9·10⁻⁵ at x_k = 30, comparable to or far below the uniform spacing
//! 3·10⁻⁴ on (−3, 3). The patch must reach e⁻⁴⁰ of the peak: an exponential tail left to the
//! coarse grid still costs ~10⁻⁶ of the mass. Measured against an independent fine midpoint rule,
//! each marginal integrates to 1 within ~5·10⁻¹⁰ (test `each_marginal_integrates_to_one`).
//!
//! log Z_k is the trapezoid rule in log-sum-exp form, log m_i = log h_i + log((f_i + f_{i+1}) / 2),
//! with the Euler–Maclaurin end correction −(h²/12)(f'(high) − f'(low)): the density need not
//! vanish at a bound (x_k near or above high²), and there the plain rule is only O((h/w)²)
//! accurate, ~3·10⁻⁵ relative at 50 points per width. f' = f·2t(x − t²)/σ² is exact. Sampling
//! inverts the CDF of the piecewise-linear (trapezoid) density exactly, normalised by its own
//! total, which differs from Z_k by that end correction only (≲ 3·10⁻⁵ relative, near a bound).

use rand::Rng as _;

use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::reference::Reference;
use crate::rng::Rng;
use crate::special::log_normal;
use crate::special::log_sum_exp;

/// Uniform grid points per dimension on [low, high].
const N_UNIFORM: usize = 20_001;
/// Grid points in each refinement patch around a peak candidate.
const N_PATCH: usize = 4_001;
/// Half-width of a refinement patch, in local widths.
const PATCH_WIDTHS: f64 = 40.0;
/// Jump of log f across one cell beyond which the cell is treated as an unresolved wall ([`log_cell_mass`]);
/// the grid resolves every region holding mass with jumps far below it (50 points per width).
const UNRESOLVED_JUMP: f64 = 30.0;
/// Smallest patch half-width, relative to high − low. For x_k ≳ 10¹⁰ the wall at a bound is
/// narrower than this (10⁻¹² · 6 at the bound 3 spans ~10⁴ ulps), and c ± PATCH_WIDTHS·w would
/// round to c, leaving the wall inside one coarse cell; the floor keeps points beside the bound.
const MIN_PATCH_HALF_WIDTH: f64 = 1e-12;
/// A dimension has two separated modes ±√x_k only when x_k > MODE_SPLIT·σ: then the density at
/// 0 is below exp(−MODE_SPLIT² / 2) = e⁻² ≈ 0.14 of the peak; below it the modes merge into one.
const MODE_SPLIT: f64 = 2.0;

/// Exact posterior of the square task for one observation x (see the module docs).
#[derive(Clone, Debug)]
pub struct SquarePosterior {
    noise: f64,
    axes: Vec<AxisPosterior>,
}

/// p_k(t | x_k) tabulated on a grid, for normalisation and inverse-CDF sampling.
#[derive(Clone, Debug)]
struct AxisPosterior {
    x: f64,
    low: f64,
    high: f64,
    /// |t*|, where the likelihood peaks (see [`log_f_rel`]).
    peak: f64,
    /// log Z_k − log N(x_k; t*², σ²): the normaliser relative to the peak.
    log_z_rel: f64,
    /// log Z_k.
    log_z: f64,
    /// Sorted grid on [low, high], including both ends.
    grid: Vec<f64>,
    /// log N(x_k; t², σ²) − log N(x_k; t*², σ²) at each grid point ([`log_f_rel`]).
    log_f: Vec<f64>,
    /// CDF at each grid point: 0 at `low`, 1 at `high`.
    cdf: Vec<f64>,
}

impl AxisPosterior {
    fn new(x: f64, noise: f64, low: f64, high: f64) -> Self {
        let grid = axis_grid(x, noise, low, high);
        let (a, b) = (low.abs(), high.abs());
        let peak_min = if low < 0.0 && high > 0.0 { 0.0 } else { a.min(b) };
        let peak = x.max(0.0).sqrt().clamp(peak_min, a.max(b));
        let log_f: Vec<f64> = grid.iter().map(|&t| log_f_rel(x, t, peak, noise)).collect();
        // log mass of each trapezoid cell.
        let log_m: Vec<f64> = grid
            .windows(2)
            .zip(log_f.windows(2))
            .map(|(t, f)| (t[1] - t[0]).ln() + log_cell_mass(f[0], f[1]))
            .collect();
        let log_trapezoid = log_sum_exp(&log_m);
        // Euler–Maclaurin end correction, relative to the trapezoid total.
        let n_grid = grid.len();
        let end_term = |i: usize, h: f64| {
            let t = grid[i];
            let d_log_f = 2.0 * t * (x - t * t) / (noise * noise);
            h * h / 12.0 * d_log_f * (log_f[i] - log_trapezoid).exp()
        };
        let rel_corr = end_term(n_grid - 1, grid[n_grid - 1] - grid[n_grid - 2]) - end_term(0, grid[1] - grid[0]);
        // The correction assumes the grid resolves the density. For x_k ≳ 10¹⁰ the wall at a bound
        // is narrower than f64 can space points there (decay length < 10⁻¹⁴); the posterior is then
        // a point mass at the bound to f64 precision, and the trapezoid total is kept as it is.
        let rel_corr = if rel_corr.abs() < 0.5 { rel_corr } else { 0.0 };
        let log_z_rel = log_trapezoid + (-rel_corr).ln_1p();
        let log_z = log_normal(x, peak * peak, noise) + log_z_rel;
        let mut cdf = Vec::with_capacity(n_grid);
        let mut acc = 0.0;
        cdf.push(0.0);
        for lm in &log_m {
            acc += (lm - log_trapezoid).exp();
            cdf.push(acc);
        }
        // Rounding leaves acc within ~1e-13 of 1; pin the end so u ∈ [0, 1) always finds a cell.
        *cdf.last_mut().expect("grid has ≥ 2 points") = 1.0;
        Self { x, low, high, peak, log_z_rel, log_z, grid, log_f, cdf }
    }

    fn log_density(&self, t: f64, noise: f64) -> f64 {
        if t > self.low && t < self.high {
            log_f_rel(self.x, t, self.peak, noise) - self.log_z_rel
        } else {
            f64::NEG_INFINITY
        }
    }

    /// max_t log p_k(t): the residual x_k − t² is smallest at |t| = t* ([`log_f_rel`] = 0 there).
    fn max_log_density(&self) -> f64 {
        -self.log_z_rel
    }

    /// Inverse CDF of the piecewise-linear density: find the cell, then solve the quadratic
    /// f_a τ + (f_b − f_a) τ² / 2 = s (f_a + f_b) / 2 for the fraction τ ∈ [0, 1] of the cell,
    /// in the cancellation-free form τ = s (f_a + f_b) / (f_a + √(f_a² + s (f_b² − f_a²))).
    fn quantile(&self, u: f64) -> f64 {
        // First index with cdf > u, so cell i = that − 1 has cdf[i] ≤ u < cdf[i + 1].
        let i = self.cdf.partition_point(|&c| c <= u).clamp(1, self.cdf.len() - 1) - 1;
        let (c0, c1) = (self.cdf[i], self.cdf[i + 1]);
        let s = if c1 > c0 { ((u - c0) / (c1 - c0)).clamp(0.0, 1.0) } else { 0.5 };
        let m = self.log_f[i].max(self.log_f[i + 1]);
        let (fa, fb) = ((self.log_f[i] - m).exp(), (self.log_f[i + 1] - m).exp());
        let denom = fa + (fa * fa + s * (fb * fb - fa * fa)).max(0.0).sqrt();
        let tau = if denom > 0.0 { (s * (fa + fb) / denom).clamp(0.0, 1.0) } else { s };
        self.grid[i] + tau * (self.grid[i + 1] - self.grid[i])
    }
}

/// log of a cell's mean density from its end values: the trapezoid log((f_a + f_b)/2), unless the
/// density changes by more than e^UNRESOLVED_JUMP across the cell. Such a cell holds a wall the
/// grid does not resolve (x_k ≳ 10¹⁰, decay length below f64's spacing at the bound), where the
/// trapezoid's mass h·f_b/2 is wrong by a factor Δ/2 and scales with the cell's width; the
/// log-linear (exponential) interpolation's mean f_b (1 − e^−Δ)/Δ, Δ = |log f_b − log f_a|, is
/// exact for an exponential wall, so walls at both bounds get equal mass whatever their cells.
fn log_cell_mass(log_fa: f64, log_fb: f64) -> f64 {
    let (lo, hi) = (log_fa.min(log_fb), log_fa.max(log_fb));
    let jump = hi - lo;
    if jump > UNRESOLVED_JUMP {
        hi + (-(-jump).exp_m1()).ln() - jump.ln()
    } else {
        log_sum_exp(&[log_fa, log_fb]) - std::f64::consts::LN_2
    }
}

/// log N(x; t², σ²) − log N(x; t*², σ²), with t* = `peak` where the likelihood is largest (√x
/// clamped to the range of |t|), in the cancellation-free form
///
///   ((x − t*²)² − (x − t²)²) / (2σ²) = (|t| − t*)(|t| + t*) · (x − (t² + t*²)/2) / σ².
///
/// Why: log N(x; t², σ²) itself is −(x − t²)²/(2σ²) ≈ −5·10²³ at x = 10¹⁰, where one ulp is 7·10⁷,
/// so the differences of order 1 between grid points that shape the posterior were rounded away
/// (and (x − t²)² overflows for |x| ≳ 10¹⁵⁴). Here |t| − t* is exact near the peak (Sterbenz)
/// and nothing is squared that can overflow; a product that does is −∞, a density of zero.
fn log_f_rel(x: f64, t: f64, peak: f64, noise: f64) -> f64 {
    let t = t.abs();
    let d = (t - peak) * (t + peak);
    if d == 0.0 {
        return 0.0;
    }
    d * (x - 0.5 * (t * t + peak * peak)) / noise / noise
}

/// A piecewise-uniform grid on [low, high], both ends included: spacing (high − low)/(N_UNIFORM − 1)
/// except in a patch of ±PATCH_WIDTHS local widths w around each peak candidate c ∈ {±√x⁺, 0}
/// (clipped to the support), where it is 2·PATCH_WIDTHS·w / (N_PATCH − 1) if finer. Overlapping
/// patches merge and take the finer spacing. w is the Gaussian width 1/√|g''| at a stationary
/// point or the decay length 1/|g'| at a bound, where g(t) = (x − t²)²/(2σ²),
/// g'(t) = −2t(x − t²)/σ², g''(t) = (6t² − 2x)/σ² (capped at (high − low)/20 where both vanish).
///
/// Piecewise uniform rather than a merge of point sets: interleaving two spacings would break
/// the trapezoid rule's Euler–Maclaurin cancellation and cost ~10⁻⁶ of the mass; junctions sit
/// where the density is below e⁻⁴⁰ of its peak, so they cost nothing.
fn axis_grid(x: f64, noise: f64, low: f64, high: f64) -> Vec<f64> {
    let span = high - low;
    let coarse = span / (N_UNIFORM - 1) as f64;
    let root = x.max(0.0).sqrt();
    // (start, end, spacing) of each patch, sorted by start.
    let mut patches: Vec<(f64, f64, f64)> = [-root, 0.0, root]
        .into_iter()
        .map(|c| {
            let c = c.clamp(low, high);
            let d1 = -2.0 * c * (x - c * c) / (noise * noise);
            let d2 = (6.0 * c * c - 2.0 * x) / (noise * noise);
            let width = (1.0 / d2.abs().sqrt().max(d1.abs())).min(span / 20.0);
            let half = (PATCH_WIDTHS * width).max(MIN_PATCH_HALF_WIDTH * span);
            let spacing = (2.0 * half / (N_PATCH - 1) as f64).min(coarse);
            ((c - half).max(low), (c + half).min(high), spacing)
        })
        .collect();
    patches.sort_by(|p, q| p.0.total_cmp(&q.0));
    let mut merged: Vec<(f64, f64, f64)> = Vec::with_capacity(patches.len());
    for p in patches {
        match merged.last_mut() {
            Some(last) if p.0 <= last.1 => {
                last.1 = last.1.max(p.1);
                last.2 = last.2.min(p.2);
            }
            _ => merged.push(p),
        }
    }
    let mut grid = vec![low];
    let mut push_piece = |a: f64, b: f64, spacing: f64| {
        if b > a {
            let n_cells = ((b - a) / spacing).ceil().max(1.0) as usize;
            grid.extend((1..n_cells).map(|i| a + (b - a) * i as f64 / n_cells as f64));
            grid.push(b);
        }
    };
    let mut cursor = low;
    for (a, b, spacing) in merged {
        push_piece(cursor, a, coarse);
        push_piece(a.max(cursor), b, spacing);
        cursor = cursor.max(b);
    }
    push_piece(cursor, high, coarse);
    grid.dedup_by(|a, b| (*a - *b).abs() <= 1e-14 * span);
    // dedup drops the later of two close points; the grid must still end at `high`, or a wall
    // there narrower than the dedup spacing (x_k ≳ 10¹⁰) loses part of its mass.
    *grid.last_mut().expect("the grid holds low") = high;
    grid
}

impl SquarePosterior {
    /// The posterior for observation `x` under θ ~ U(low, high)^d, x = θ² + N(0, noise² I).
    pub fn new(x: &[f64], noise: f64, low: f64, high: f64) -> Result<Self> {
        if x.is_empty() {
            return Err(Error::invalid("square posterior x", "need at least one dimension"));
        }
        if let Some(k) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!("square posterior x[{k}]"), format!("{} is not finite", x[k])));
        }
        if !(noise.is_finite() && noise > 0.0) {
            return Err(Error::invalid("square posterior noise", format!("{noise}: need finite σ > 0")));
        }
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(Error::invalid("square posterior bounds", format!("({low}, {high}): need finite low < high")));
        }
        Ok(Self { noise, axes: x.iter().map(|&xk| AxisPosterior::new(xk, noise, low, high)).collect() })
    }

    /// log Z_k of each dimension's marginal (see the module docs).
    pub fn log_normalisers(&self) -> Vec<f64> {
        self.axes.iter().map(|a| a.log_z).collect()
    }

    /// Normalised log p_k(t | x_k) of dimension `k` alone; −inf outside (low, high).
    pub fn marginal_log_density(&self, k: usize, t: f64) -> f64 {
        self.axes[k].log_density(t, self.noise)
    }
}

impl Reference for SquarePosterior {
    fn dim(&self) -> usize {
        self.axes.len()
    }

    fn log_density(&self, theta: &[f64]) -> f64 {
        debug_assert_eq!(theta.len(), self.axes.len());
        self.axes.iter().zip(theta).map(|(a, &t)| a.log_density(t, self.noise)).sum()
    }

    fn sample(&self, rng: &mut Rng, n_samples: usize) -> Mat<f64> {
        Mat::from_fn(n_samples, self.axes.len(), |_, k| self.axes[k].quantile(rng.gen::<f64>()))
    }

    /// All sign combinations of the per-dimension centres: ±√x_k (clipped to the support) when
    /// x_k > 2σ, else the single centre 0 (the two modes have merged; the density at 0 is then
    /// above e⁻² of the peak). So 2^d modes when every x_k > 2σ, fewer otherwise; dimension 0
    /// varies slowest. With the symmetric support (−3, 3) the nearest-mode partition of these
    /// centres is exactly the orthant partition of the bimodal dimensions.
    fn modes(&self) -> Option<Vec<Vec<f64>>> {
        let mut modes = vec![Vec::with_capacity(self.axes.len())];
        for a in &self.axes {
            let centres: Vec<f64> = if a.x > MODE_SPLIT * self.noise {
                let r = a.x.sqrt();
                vec![(-r).clamp(a.low, a.high), r.clamp(a.low, a.high)]
            } else {
                vec![0.0f64.clamp(a.low, a.high)]
            };
            modes = modes
                .into_iter()
                .flat_map(|m| {
                    centres.iter().map(move |&c| {
                        let mut m = m.clone();
                        m.push(c);
                        m
                    })
                })
                .collect();
        }
        Some(modes)
    }

    fn max_log_density(&self) -> f64 {
        self.axes.iter().map(|a| a.max_log_density()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};

    /// Allowed deviation of a Monte Carlo estimate, in standard errors.
    const N_STD_ERRS: f64 = 4.0;
    /// Tolerance on an integral of a normalised density computed by fine quadrature.
    const QUAD_TOL: f64 = 1e-8;

    /// Width of the strips at each bound that get their own fine midpoint rule.
    const EDGE: f64 = 0.01;
    /// Midpoint cells per edge strip (spacing 10⁻⁸, ≪ the 8·10⁻⁵ decay length at x_k = 30).
    const EDGE_CELLS: usize = 1_000_000;

    /// ∫ f(t) g(t) dt over (low, high), f the normalised marginal density of dimension k, by the
    /// midpoint rule: `n_cells` cells on the interior plus a much finer rule on a strip at each
    /// bound, where f may be a sharp exponential wall (x_k > high²). Independent of the
    /// reference's grid and trapezoid rule.
    fn marginal_moment(p: &SquarePosterior, k: usize, n_cells: usize, g: impl Fn(f64) -> f64) -> f64 {
        let (low, high) = (p.axes[k].low, p.axes[k].high);
        let midpoint = |a: f64, b: f64, n: usize| {
            let h = (b - a) / n as f64;
            (0..n)
                .map(|i| {
                    let t = a + (i as f64 + 0.5) * h;
                    p.marginal_log_density(k, t).exp() * g(t) * h
                })
                .sum::<f64>()
        };
        midpoint(low, low + EDGE, EDGE_CELLS)
            + midpoint(low + EDGE, high - EDGE, n_cells)
            + midpoint(high - EDGE, high, EDGE_CELLS)
    }

    #[test]
    fn each_marginal_integrates_to_one() {
        // Merged (≤ 2σ), split, near the bound, beyond the bound, negative.
        let xs = [-0.5, 0.0, 0.1, 1.0, 4.0, 8.9, 12.0, 30.0];
        let p = SquarePosterior::new(&xs, 0.1, -3.0, 3.0).expect("valid");
        for (k, xk) in xs.iter().enumerate() {
            let total = marginal_moment(&p, k, 4_000_000, |_| 1.0);
            assert!((total - 1.0).abs() < QUAD_TOL, "x = {xk}: ∫ p = {total}");
        }
    }

    #[test]
    fn joint_log_density_is_normalised_on_square2d() {
        let p = SquarePosterior::new(&[1.0, 2.0], 0.1, -3.0, 3.0).expect("valid");
        let n_cells = 6_000;
        let h = 6.0 / n_cells as f64;
        let mut total = 0.0;
        let mut theta = [0.0; 2];
        for i in 0..n_cells {
            theta[0] = -3.0 + (i as f64 + 0.5) * h;
            for j in 0..n_cells {
                theta[1] = -3.0 + (j as f64 + 0.5) * h;
                total += p.log_density(&theta).exp() * h * h;
            }
        }
        assert!((total - 1.0).abs() < 1e-5, "∫∫ p = {total}");
        assert_eq!(p.log_density(&[3.0, 1.0]), f64::NEG_INFINITY);
    }

    #[test]
    fn max_log_density_bounds_the_density_and_is_attained() {
        let xs = [-0.5, 0.05, 2.0, 12.0];
        let p = SquarePosterior::new(&xs, 0.1, -3.0, 3.0).expect("valid");
        let n_cells = 200_000;
        for (k, a) in p.axes.iter().enumerate() {
            let grid_max = (0..n_cells)
                .map(|i| p.marginal_log_density(k, -3.0 + (i as f64 + 0.5) * 6.0 / n_cells as f64))
                .fold(f64::NEG_INFINITY, f64::max);
            let exact = a.max_log_density();
            // Attained at t = √x_k clamped into the support (nudged inside the open interval).
            let arg = xs[k].max(0.0).sqrt().min(3.0 - 1e-12);
            let at_arg = p.marginal_log_density(k, arg);
            assert!(grid_max <= exact + 1e-12 && (exact - at_arg).abs() < 1e-8, "x = {}: {at_arg} vs {exact}", xs[k]);
        }
        let total: f64 = p.axes.iter().map(|a| a.max_log_density()).sum();
        assert!((p.max_log_density() - total).abs() < 1e-12);
    }

    #[test]
    fn sample_moments_and_cdf_match_the_density() {
        let xs = [1.0, 0.05, 12.0];
        let p = SquarePosterior::new(&xs, 0.1, -3.0, 3.0).expect("valid");
        let n_samples = 200_000;
        let samples = p.sample(&mut stream(11, Stream::Metric, 0, 0), n_samples);
        let n = n_samples as f64;
        for (k, &xk) in xs.iter().enumerate() {
            let col: Vec<f64> = (0..n_samples).map(|r| samples.row(r)[k]).collect();
            let mean = marginal_moment(&p, k, 1_000_000, |t| t);
            let var = marginal_moment(&p, k, 1_000_000, |t| (t - mean).powi(2));
            let mu4 = marginal_moment(&p, k, 1_000_000, |t| (t - mean).powi(4));
            let s_mean = col.iter().sum::<f64>() / n;
            let s_var = col.iter().map(|t| (t - s_mean).powi(2)).sum::<f64>() / (n - 1.0);
            assert!((s_mean - mean).abs() < N_STD_ERRS * (var / n).sqrt(), "x = {xk}: mean {s_mean} vs {mean}");
            let se_var = ((mu4 - var * var) / n).sqrt();
            assert!((s_var - var).abs() < N_STD_ERRS * se_var, "x = {xk}: var {s_var} vs {var}");
            // Empirical CDF at points inside the sharp modes (±√x ± a fraction of the width).
            let r = xk.max(0.0).sqrt().min(3.0);
            for t in [-r - 0.01, -r + 0.004, 0.0, r - 0.02, r - 0.002, r + 0.003] {
                let want = marginal_moment(&p, k, 1_000_000, |s| if s <= t { 1.0 } else { 0.0 });
                let got = col.iter().filter(|&&s| s <= t).count() as f64 / n;
                let se = (want * (1.0 - want) / n).sqrt().max(1.0 / n);
                assert!((got - want).abs() < N_STD_ERRS * se, "x = {xk}, t = {t}: cdf {got} vs {want}");
            }
        }
    }

    #[test]
    fn samples_fall_evenly_into_the_orthants() {
        let p = SquarePosterior::new(&[1.0, 2.0, 0.5], 0.1, -3.0, 3.0).expect("valid");
        let n_samples = 80_000;
        let samples = p.sample(&mut stream(12, Stream::Metric, 0, 0), n_samples);
        let mut counts = [0usize; 8];
        for r in 0..n_samples {
            let o = samples.row(r).iter().fold(0, |o, &t| 2 * o + usize::from(t > 0.0));
            counts[o] += 1;
        }
        let se = (0.125 * 0.875 / n_samples as f64).sqrt();
        for (o, &c) in counts.iter().enumerate() {
            let share = c as f64 / n_samples as f64;
            assert!((share - 0.125).abs() < N_STD_ERRS * se, "orthant {o}: {share}");
        }
    }

    #[test]
    fn modes_are_sign_combinations_and_merge_for_small_x() {
        let p = SquarePosterior::new(&[1.0, 4.0], 0.1, -3.0, 3.0).expect("valid");
        let modes = p.modes().expect("known");
        assert_eq!(modes, vec![vec![-1.0, -2.0], vec![-1.0, 2.0], vec![1.0, -2.0], vec![1.0, 2.0]]);
        let merged = SquarePosterior::new(&[0.15, 16.0], 0.1, -3.0, 3.0).expect("valid");
        assert_eq!(merged.modes().expect("known"), vec![vec![0.0, -3.0], vec![0.0, 3.0]]);
    }

    #[test]
    fn extreme_observations_give_finite_normalisers_and_samples_in_support() {
        let xs = [-50.0, 1_000.0];
        let p = SquarePosterior::new(&xs, 0.1, -3.0, 3.0).expect("valid");
        assert!(p.log_normalisers().iter().all(|z| z.is_finite()), "{:?}", p.log_normalisers());
        assert!(p.max_log_density().is_finite());
        let samples = p.sample(&mut stream(13, Stream::Metric, 0, 0), 2_000);
        for r in 0..samples.rows() {
            let t = samples.row(r);
            // x = −50: width σ/√(2·50) = 0.01 around 0; x = 1000: decay length 1.7·10⁻⁶ at ±3.
            assert!(t[0].abs() < 0.1 && (t[1].abs() - 3.0).abs() < 1e-4, "{t:?}");
            assert!(p.log_density(t).is_finite(), "{t:?}");
        }
    }

    #[test]
    fn log_density_minus_log_likelihood_is_constant_on_the_support() {
        use crate::mat::Mat;
        use crate::model::Model;
        let task = crate::tasks::Square::new(2, 0.1).expect("valid");
        let x = [1.0, 2.0];
        let p = task.reference(&x).expect("valid x");
        let theta = Mat::from_vec(3, 2, vec![1.0, -1.4, -0.3, 2.9, 0.0, 0.0]);
        let mut log_lik = [0.0; 3];
        task.log_likelihood(Mat::from_fn(3, 2, |_, c| x[c]).as_ref(), theta.as_ref(), &mut log_lik).expect("shapes");
        let diffs: Vec<f64> = (0..3).map(|r| p.log_density(theta.row(r)) - log_lik[r]).collect();
        let log_z: f64 = p.log_normalisers().iter().sum();
        for d in diffs {
            assert!((d + log_z).abs() < 1e-12, "{d} vs {}", -log_z);
        }
    }

    /// Issue 16, cause 3: at x₁ = 10¹⁰ the two walls at ±3 carry equal mass, and beyond 10¹⁵⁵
    /// (where (x − t²)² overflows) too; before, log N rounded to multiples of 10⁷ and every
    /// sample came from one wall.
    #[test]
    fn huge_observations_keep_both_sign_modes() {
        for x1 in [1e10, 1e155, 1e300] {
            let p = SquarePosterior::new(&[x1, 1.0], 0.1, -3.0, 3.0).expect("valid");
            let n = 4000;
            let samples = p.sample(&mut stream(5, Stream::Metric, 0, 0), n);
            let positive = (0..n).filter(|&r| samples.row(r)[0] > 0.0).count() as f64 / n as f64;
            // Binomial(n, 1/2): standard error 0.5/√n.
            assert!((positive - 0.5).abs() < N_STD_ERRS * 0.5 / (n as f64).sqrt(), "x₁ = {x1}: {positive}");
            for r in 0..n {
                let t = samples.row(r)[0];
                assert!((t.abs() - 3.0).abs() < 1e-6 && t.abs() < 3.0 + 1e-12, "x₁ = {x1}: {t}");
            }
        }
    }

    #[test]
    fn invalid_inputs_are_rejected() {
        assert!(SquarePosterior::new(&[f64::NAN], 0.1, -3.0, 3.0).is_err());
        assert!(SquarePosterior::new(&[1.0], -0.1, -3.0, 3.0).is_err());
        assert!(SquarePosterior::new(&[1.0], 0.1, 3.0, -3.0).is_err());
        assert!(SquarePosterior::new(&[], 0.1, -3.0, 3.0).is_err());
    }
}
