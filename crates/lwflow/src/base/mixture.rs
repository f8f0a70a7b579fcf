//! Diagonal Gaussian mixture base (unconditional, trainable):
//!
//!   log q(z) = log Σ_k exp(a_k),  a_k = log π_k + Σ_j log N(z_j; μ_kj, σ_kj),
//!   π = softmax(raw_logits),  σ_kj = exp(S · tanh(raw_log_scale_kj / S)),  S = [`LOG_SCALE_BOUND`].
//!
//! Parameters, flat, in this order: means μ (K × d, row-major), raw log-scales (K × d), raw
//! logits (K). The log-scale is soft-bounded to (−S, S) by the smooth map above (identity near 0,
//! slope 1 − tanh²) because maximum likelihood for a mixture is unbounded: a component that
//! shrinks onto one point sends log q → +∞, and exp(raw) would overflow or underflow long before
//! training noticed. The bound's derivative is part of the gradient.
//!
//! Gradients (γ_k = exp(a_k − log q), the responsibilities, u_kj = (z_j − μ_kj)/σ_kj):
//!   ∂log q/∂z_j = −Σ_k γ_k u_kj/σ_kj,   ∂log q/∂μ_kj = γ_k u_kj/σ_kj,
//!   ∂log q/∂log σ_kj = γ_k (u_kj² − 1),   ∂log q/∂raw_logit_k = γ_k − π_k.
//! The sum over k uses [`log_sum_exp`], so a z far from every component keeps finite a_k and
//! γ ∈ {0, 1} instead of 0/0. Only if ½‖u‖² itself overflows (|z| ≳ 1e19 in f32) are all a_k = −inf;
//! then log q = −inf (the correctly rounded value) and that row's γ is set to 0 (no gradient).
//!
//! The math above is written once, as a per-row kernel (`prepare_row`, `row_log_prob`,
//! `row_backward`, `sample_row`) over one raw parameter row: `GaussianMixture` uses the same row for
//! every z (its d_p is the sum of the rows' adjoints); [`super::ConditionalMixture`] uses one row
//! per z, produced by an MLP of ctx.
//!
//! Bases of this kind let each component take one posterior mode, so the flow need not stretch a
//! unimodal base into disconnected modes (arXiv:2512.04954).

use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal as StdNormalDist};

use super::Base;
use crate::mat::{MatMut, MatRef};
use crate::real::Real;
use crate::rng::{self, Rng, Stream};
use crate::special::{log_sum_exp, HALF_LOG_2PI};

/// Soft bound S on log σ: σ ∈ (e^−S, e^S) ≈ (6.7e−3, 148) for S = 5.
pub const LOG_SCALE_BOUND: f64 = 5.0;

/// Radius of the sphere the initial means are spread on (z-space is roughly standardised).
pub const INIT_RADIUS: f64 = 2.0;

/// Initial σ = min(INIT_MAX_SCALE, min pairwise mean distance / INIT_SEPARATION).
pub const INIT_SEPARATION: f64 = 4.0;
/// Upper limit of the initial σ (reached for K ≤ 2, where the rule above gives ≥ 1).
pub const INIT_MAX_SCALE: f64 = 1.0;

/// Seed of the fixed start of the repulsion that spreads the initial means.
const INIT_LAYOUT_SEED: u64 = 0x6d69_7874_7572_6573;
/// Riesz exponent of the repulsion energy Σ 1/‖x_i − x_j‖^s; large s approximates max-min distance.
const REPULSION_EXPONENT: f64 = 12.0;
const REPULSION_STEPS: usize = 3000;

/// A K-component diagonal Gaussian mixture on R^dim (shapes only; parameters live in a flat slice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GaussianMixture {
    dim: usize,
    n_components: usize,
}

impl GaussianMixture {
    /// Shapes of a K = `n_components` mixture on R^`dim`; its K(2d + 1) parameters (means,
    /// log-scales, logits) live in the flow's flat vector. Panics if either size is 0.
    #[track_caller]
    pub fn new(dim: usize, n_components: usize) -> Self {
        assert!(dim > 0 && n_components > 0, "GaussianMixture: dim and n_components must be positive");
        Self { dim, n_components }
    }

    /// Dimension d of the support R^d.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of components K.
    pub fn n_components(&self) -> usize {
        self.n_components
    }

    /// Range of the means μ (K × d, row-major) in the flat parameter vector.
    pub fn means_range(&self) -> std::ops::Range<usize> {
        0..self.n_components * self.dim
    }

    /// Range of the raw log-scales (K × d).
    pub fn raw_log_scales_range(&self) -> std::ops::Range<usize> {
        let kd = self.n_components * self.dim;
        kd..2 * kd
    }

    /// Range of the raw logits (K).
    pub fn raw_logits_range(&self) -> std::ops::Range<usize> {
        let kd = self.n_components * self.dim;
        2 * kd..2 * kd + self.n_components
    }

    /// Writes parameters giving the mixture with `means` (K × d), `scales` σ (K × d) and `weights`
    /// (K, positive, normalised here). Each log σ is clipped to ±0.999·S: the bounded map cannot
    /// represent scales at or beyond e^±S. Panics on wrong lengths or non-positive values.
    #[track_caller]
    pub fn set_params<T: Real>(&self, p: &mut [T], means: &[f64], scales: &[f64], weights: &[f64]) {
        let kd = self.n_components * self.dim;
        assert_eq!(p.len(), <Self as Base<T>>::n_params(self), "GaussianMixture::set_params: parameter length");
        assert_eq!(means.len(), kd, "GaussianMixture::set_params: means must be K × d");
        assert_eq!(scales.len(), kd, "GaussianMixture::set_params: scales must be K × d");
        assert_eq!(weights.len(), self.n_components, "GaussianMixture::set_params: weights must have K entries");
        assert!(scales.iter().all(|s| *s > 0.0 && s.is_finite()), "GaussianMixture::set_params: scales must be > 0");
        assert!(weights.iter().all(|w| *w > 0.0 && w.is_finite()), "GaussianMixture::set_params: weights must be > 0");
        let max_log = 0.999 * LOG_SCALE_BOUND;
        for (dst, &m) in p[self.means_range()].iter_mut().zip(means) {
            *dst = T::lit(m);
        }
        for (dst, &s) in p[self.raw_log_scales_range()].iter_mut().zip(scales) {
            let log_s = s.ln().clamp(-max_log, max_log);
            *dst = T::lit(LOG_SCALE_BOUND * (log_s / LOG_SCALE_BOUND).atanh());
        }
        let log_total = weights.iter().sum::<f64>().ln();
        for (dst, &w) in p[self.raw_logits_range()].iter_mut().zip(weights) {
            *dst = T::lit(w.ln() - log_total);
        }
    }

    /// The means μ (K × d, row-major) encoded in `p`.
    pub fn means<T: Real>(&self, p: &[T]) -> Vec<f64> {
        p[self.means_range()].iter().map(|v| v.to_f64_lossless()).collect()
    }

    /// The scales σ (K × d, row-major) encoded in `p`.
    pub fn scales<T: Real>(&self, p: &[T]) -> Vec<f64> {
        p[self.raw_log_scales_range()].iter().map(|v| bounded_log_scale(v.to_f64_lossless()).exp()).collect()
    }

    /// The weights π (K, summing to 1) encoded in `p`.
    pub fn weights<T: Real>(&self, p: &[T]) -> Vec<f64> {
        let logits: Vec<f64> = p[self.raw_logits_range()].iter().map(|v| v.to_f64_lossless()).collect();
        let lse = log_sum_exp(&logits);
        logits.iter().map(|l| (l - lse).exp()).collect()
    }

    /// (means, scales, weights) encoded in `p`; see [`Self::means`], [`Self::scales`], [`Self::weights`].
    pub fn unpack<T: Real>(&self, p: &[T]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        (self.means(p), self.scales(p), self.weights(p))
    }

    /// The generic, task-independent initial mixture as (means, scales, weights); a function of
    /// (dim, K) only. Rule:
    /// - K = 1: μ = 0, σ = 1 (the standard normal);
    /// - d = 1: K means evenly spaced on [−r, r];
    /// - d ≥ 2: K means on the sphere of radius r spread by minimising the Riesz energy
    ///   Σ_{i<j} ‖x_i − x_j‖^−s (s = 12, which approaches the max-min-distance arrangement:
    ///   regular polygon for d = 2, simplex for K ≤ d + 1, cross-polytope for K = 2d) by projected
    ///   gradient steps from a fixed seeded start;
    /// - σ = min(1, d_min / 4) in every coordinate, d_min the smallest distance between means, so
    ///   nearest neighbours are 4σ apart (each sends a fraction Φ(−2) ≈ 2.3% of its mass past the
    ///   midpoint); equal weights. r = [`INIT_RADIUS`].
    pub fn init_layout(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (dim, n_comp) = (self.dim, self.n_components);
        let means = spread_means(dim, n_comp, INIT_RADIUS);
        let d_min = min_pairwise_distance(&means, dim);
        let sigma = if d_min.is_finite() { (d_min / INIT_SEPARATION).min(INIT_MAX_SCALE) } else { INIT_MAX_SCALE };
        (means, vec![sigma; n_comp * dim], vec![1.0 / n_comp as f64; n_comp])
    }
}

/// log σ = S · tanh(raw / S).
#[inline]
fn bounded_log_scale<T: Real>(raw: T) -> T {
    let s = T::lit(LOG_SCALE_BOUND);
    s * (raw / s).tanh()
}

/// Smallest Euclidean distance between rows of `points` (n × dim); +inf for fewer than two rows.
fn min_pairwise_distance(points: &[f64], dim: usize) -> f64 {
    let mut best = f64::INFINITY;
    for (i, a) in points.chunks_exact(dim).enumerate() {
        for b in points.chunks_exact(dim).skip(i + 1) {
            let d2: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
            best = best.min(d2.sqrt());
        }
    }
    best
}

/// K points in R^dim (K × dim, row-major), spread far apart at radius `radius`; see `init_layout`.
fn spread_means(dim: usize, n_comp: usize, radius: f64) -> Vec<f64> {
    if n_comp == 1 {
        return vec![0.0; dim];
    }
    if dim == 1 {
        let step = 2.0 * radius / (n_comp - 1) as f64;
        return (0..n_comp).map(|k| -radius + step * k as f64).collect();
    }
    let mut rng = rng::stream(INIT_LAYOUT_SEED, Stream::Init, dim as u64, n_comp as u64);
    let mut x: Vec<f64> = (0..n_comp * dim).map(|_| StdNormalDist.sample(&mut rng)).collect();
    x.chunks_exact_mut(dim).for_each(normalise);
    let mut force = vec![0.0; n_comp * dim];
    for step in 0..REPULSION_STEPS {
        force.fill(0.0);
        // Gradient of Σ ‖x_i − x_j‖^−s, scaled by d_min^(s+1) so the largest pull is O(1).
        let d_min = min_pairwise_distance(&x, dim);
        for i in 0..n_comp {
            for j in 0..n_comp {
                if i == j {
                    continue;
                }
                let (xi, xj) = (&x[i * dim..(i + 1) * dim], &x[j * dim..(j + 1) * dim]);
                let d2: f64 = xi.iter().zip(xj).map(|(a, b)| (a - b) * (a - b)).sum();
                let dist = d2.sqrt().max(1e-12);
                let w = (d_min / dist).powf(REPULSION_EXPONENT + 2.0) / d_min;
                for ((f, a), b) in force[i * dim..(i + 1) * dim].iter_mut().zip(xi).zip(xj) {
                    *f += w * (a - b);
                }
            }
        }
        // Step size decays geometrically from 0.05 to 5e-5 (chord units on the unit sphere).
        let eta = 0.05 * (1e-3f64).powf(step as f64 / REPULSION_STEPS as f64);
        for (xi, fi) in x.chunks_exact_mut(dim).zip(force.chunks_exact(dim)) {
            // Keep only the tangential part so points slide along the sphere.
            let radial: f64 = xi.iter().zip(fi).map(|(a, b)| a * b).sum();
            let tang_norm2: f64 = xi.iter().zip(fi).map(|(a, b)| (b - radial * a).powi(2)).sum();
            let scale = eta / tang_norm2.sqrt().max(1.0);
            for (a, b) in xi.iter_mut().zip(fi) {
                *a += scale * (b - radial * *a);
            }
            normalise(xi);
        }
    }
    x.iter_mut().for_each(|v| *v *= radius);
    x
}

fn normalise(v: &mut [f64]) {
    let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
    v.iter_mut().for_each(|a| *a /= norm);
}

// ---- the per-row kernel, shared by `GaussianMixture` and `ConditionalMixture` ----
//
// One "row" of raw mixture parameters is a parameter vector of this mixture's layout
// ([μ (Kd) | raw log-scales (Kd) | raw logits (K)]). `GaussianMixture` uses one such row for every
// z row; `ConditionalMixture` gets one per z row from its MLP. The kernel never allocates.

impl GaussianMixture {
    /// Length of the derived quantities of one parameter row (see [`Self::prepare_row`]).
    pub(crate) fn derived_len(&self) -> usize {
        2 * self.n_components * self.dim + 2 * self.n_components
    }

    /// Length of one raw parameter row, K(2d + 1).
    pub(crate) fn row_len(&self) -> usize {
        self.n_components * (2 * self.dim + 1)
    }

    /// From one raw parameter row, writes `derived` = [1/σ (Kd) | ∂log σ/∂raw = 1 − tanh² (Kd) |
    /// π (K) | c_k = log π_k − Σ_j log σ_kj − (d/2) log 2π (K)], everything the row functions need.
    pub(crate) fn prepare_row<T: Real>(&self, params: &[T], derived: &mut [T]) {
        let (dim, n_comp) = (self.dim, self.n_components);
        let kd = n_comp * dim;
        debug_assert_eq!(params.len(), self.row_len());
        debug_assert_eq!(derived.len(), self.derived_len());
        let (raw_log_scales, raw_logits) = params[kd..].split_at(kd);
        let (inv_sigma, rest) = derived.split_at_mut(kd);
        let (chain, rest) = rest.split_at_mut(kd);
        let (pi, comp_const) = rest.split_at_mut(n_comp);
        let bound = T::lit(LOG_SCALE_BOUND);
        let lse_logits = log_sum_exp(raw_logits);
        let log_norm = T::lit(-(dim as f64) * HALF_LOG_2PI);
        for k in 0..n_comp {
            let mut sum_log_sigma = T::zero();
            for j in k * dim..(k + 1) * dim {
                let t = (raw_log_scales[j] / bound).tanh();
                let log_sigma = bound * t;
                inv_sigma[j] = (-log_sigma).exp();
                chain[j] = T::one() - t * t;
                sum_log_sigma += log_sigma;
            }
            let log_pi = raw_logits[k] - lse_logits;
            pi[k] = log_pi.exp();
            comp_const[k] = log_pi - sum_log_sigma + log_norm;
        }
    }

    /// log q(z_r) for one z row under one parameter row (`derived` from [`Self::prepare_row`]);
    /// overwrites `gamma` (K) with the responsibilities γ_k, or zeros when log q = −inf.
    pub(crate) fn row_log_prob<T: Real>(&self, params: &[T], derived: &[T], z_r: &[T], gamma: &mut [T]) -> T {
        let (dim, n_comp) = (self.dim, self.n_components);
        let kd = n_comp * dim;
        let means = &params[..kd];
        let inv_sigma = &derived[..kd];
        let comp_const = &derived[2 * kd + n_comp..2 * kd + 2 * n_comp];
        let half = T::lit(0.5);
        for (((a, &c), mu_k), is_k) in
            gamma.iter_mut().zip(comp_const).zip(means.chunks_exact(dim)).zip(inv_sigma.chunks_exact(dim))
        {
            let sq: T = z_r.iter().zip(mu_k).zip(is_k).map(|((&zj, &m), &is)| ((zj - m) * is).powi(2)).sum();
            *a = c - half * sq;
        }
        let log_q = log_sum_exp(gamma);
        if log_q == T::neg_infinity() {
            gamma.fill(T::zero());
        } else {
            for g in gamma.iter_mut() {
                *g = (*g - log_q).exp();
            }
        }
        log_q
    }

    /// Backward of `g · log q(z_r)` for one row: overwrites `d_z_r` (d) and *adds* the adjoints of
    /// the raw parameter row into `d_params` (K(2d + 1), same layout as `params`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn row_backward<T: Real>(
        &self,
        g: T,
        params: &[T],
        derived: &[T],
        z_r: &[T],
        gamma: &[T],
        d_z_r: &mut [T],
        d_params: &mut [T],
    ) {
        let (dim, n_comp) = (self.dim, self.n_components);
        let kd = n_comp * dim;
        let means = &params[..kd];
        let (inv_sigma, rest) = derived.split_at(kd);
        let (chain, rest) = rest.split_at(kd);
        let pi = &rest[..n_comp];
        let (d_means, rest) = d_params.split_at_mut(kd);
        let (d_raw_log_scales, d_raw_logits) = rest.split_at_mut(kd);
        d_z_r.fill(T::zero());
        for k in 0..n_comp {
            let g_k = g * gamma[k];
            d_raw_logits[k] += g_k - g * pi[k];
            if g_k == T::zero() {
                continue;
            }
            let span = k * dim..(k + 1) * dim;
            let row = means[span.clone()].iter().zip(&inv_sigma[span.clone()]).zip(&chain[span.clone()]);
            let adjoints = d_means[span.clone()].iter_mut().zip(d_raw_log_scales[span].iter_mut());
            for (((&zj, d_zj), ((&m, &is), &ch)), (d_m, d_rls)) in
                z_r.iter().zip(d_z_r.iter_mut()).zip(row).zip(adjoints)
            {
                let u = (zj - m) * is;
                let s = g_k * u * is;
                *d_zj -= s;
                *d_m += s;
                *d_rls += g_k * (u * u - T::one()) * ch;
            }
        }
    }

    /// Draws one z row from the mixture of one raw parameter row: the component by inverse CDF of
    /// π = softmax(logits) in f64, then μ + σ ⊙ ε. Allocation-free.
    pub(crate) fn sample_row<T: Real>(&self, params: &[T], rng: &mut Rng, z_r: &mut [T]) {
        let (dim, n_comp) = (self.dim, self.n_components);
        let kd = n_comp * dim;
        let (means, rest) = params.split_at(kd);
        let (raw_log_scales, raw_logits) = rest.split_at(kd);
        let max_logit = raw_logits.iter().fold(f64::NEG_INFINITY, |m, l| m.max(l.to_f64_lossless()));
        let total: f64 = raw_logits.iter().map(|l| (l.to_f64_lossless() - max_logit).exp()).sum();
        let target = rng.gen::<f64>() * total;
        let mut acc = 0.0;
        let mut comp = n_comp - 1;
        for (k, l) in raw_logits.iter().enumerate() {
            acc += (l.to_f64_lossless() - max_logit).exp();
            if target < acc {
                comp = k;
                break;
            }
        }
        let span = comp * dim..(comp + 1) * dim;
        for ((v, &m), &raw) in z_r.iter_mut().zip(&means[span.clone()]).zip(&raw_log_scales[span]) {
            let eps: f64 = StdNormalDist.sample(rng);
            *v = m + bounded_log_scale(raw).exp() * T::lit(eps);
        }
    }
}

impl<T: Real> Base<T> for GaussianMixture {
    fn dim(&self) -> usize {
        self.dim
    }

    fn n_params(&self) -> usize {
        self.row_len()
    }

    /// Head: the derived quantities of `GaussianMixture::prepare_row` (1/σ, ∂log σ/∂raw, π, c_k),
    /// computed once since every row shares the parameters; then per row z (d) and γ (K).
    fn workspace_len(&self, n_batch: usize) -> usize {
        self.derived_len() + n_batch * (self.dim + self.n_components)
    }

    /// The task-independent layout of [`GaussianMixture::init_layout`]; `rng` is not used, so
    /// the initial base depends on (dim, K) only.
    fn init_params(&self, p: &mut [T], _rng: &mut Rng) {
        let (means, scales, weights) = self.init_layout();
        self.set_params(p, &means, &scales, &weights);
    }

    fn log_prob(&self, p: &[T], z: MatRef<T>, _ctx: MatRef<T>, log_q: &mut [T], ws: &mut [T]) {
        let (dim, n_comp) = (self.dim, self.n_components);
        let n_batch = z.rows();
        debug_assert_eq!(p.len(), <Self as Base<T>>::n_params(self));
        debug_assert_eq!(z.cols(), dim);
        debug_assert_eq!(log_q.len(), n_batch);
        debug_assert!(ws.len() >= <Self as Base<T>>::workspace_len(self, n_batch));
        let (derived, rows) = ws.split_at_mut(self.derived_len());
        self.prepare_row(p, derived);
        let (z_keep, gammas) = rows.split_at_mut(n_batch * dim);
        let row_iter = log_q.iter_mut().zip(z_keep.chunks_exact_mut(dim)).zip(gammas.chunks_exact_mut(n_comp));
        for (r, ((lq, z_r), gamma)) in row_iter.enumerate() {
            z_r.copy_from_slice(z.row(r));
            *lq = self.row_log_prob(p, derived, z_r, gamma);
        }
    }

    /// d_p is the sum over rows of each row's parameter adjoints (all rows share the parameters).
    fn backward(&self, p: &[T], ws: &[T], d_log_q: &[T], mut d_z: MatMut<T>, _d_ctx: Option<MatMut<T>>, d_p: &mut [T]) {
        let (dim, n_comp) = (self.dim, self.n_components);
        let n_batch = d_log_q.len();
        debug_assert_eq!(d_z.rows(), n_batch);
        debug_assert_eq!(d_z.cols(), dim);
        debug_assert_eq!(d_p.len(), <Self as Base<T>>::n_params(self));
        let (derived, rows) = ws.split_at(self.derived_len());
        let (z_keep, gammas) = rows.split_at(n_batch * dim);
        for (r, ((&g, z_r), gamma)) in d_log_q
            .iter()
            .zip(z_keep.chunks_exact(dim))
            .zip(gammas[..n_batch * n_comp].chunks_exact(n_comp))
            .enumerate()
        {
            self.row_backward(g, p, derived, z_r, gamma, d_z.row_mut(r), d_p);
        }
    }

    fn sample(&self, p: &[T], _ctx: MatRef<T>, rng: &mut Rng, mut z: MatMut<T>) {
        debug_assert_eq!(z.cols(), self.dim);
        for r in 0..z.rows() {
            self.sample_row(p, rng, z.row_mut(r));
        }
    }
}
