//! Monotone rational-quadratic spline, the elementwise transformer of [`SplineCoupling`]
//! (Durkan et al. 2019, "Neural Spline Flows", arXiv:1906.04032, Sec. 3.1 and Appendix A).
//!
//! On [−B, B] the map passes through K + 1 knots (x_k, y_k) with slopes δ_k; in bin k, with
//! Δx = x_{k+1} − x_k, Δy = y_{k+1} − y_k, s = Δy/Δx, ξ = (u − x_k)/Δx ∈ [0, 1], θ = ξ(1 − ξ):
//!
//! ```text
//! v = y_k + Δy·(s ξ² + δ_k θ) / (s + (δ_{k+1} + δ_k − 2s) θ)                      (eq. 4)
//! dv/du = s²·(δ_{k+1} ξ² + 2s θ + δ_k (1 − ξ)²) / (s + (δ_{k+1} + δ_k − 2s) θ)²    (eq. 5)
//! ```
//!
//! Outside [−B, B] the map is the identity (log-det 0); δ_0 = δ_K = 1 so the slope is continuous
//! at ±B. The inverse solves a ξ² + b ξ + c = 0 for the root in [0, 1] in the cancellation-free
//! form ξ = 2c / (−b − √(b² − 4ac)) (eqs. 29–32).
//!
//! Raw parameters, 3K − 1 per coordinate, laid out [raw_widths (K) | raw_heights (K) |
//! raw_derivatives (K − 1)]:
//! - widths  w = m_w + (1 − K·m_w)·softmax(raw_widths), x_k = −B + 2B·Σ_{i<k} w_i, x_K = B;
//! - heights h = m_h + (1 − K·m_h)·softmax(raw_heights), likewise y_k;
//! - interior slopes δ_k = m_δ + softplus(raw_derivatives[k − 1] + c), with the shift
//!   c = ln(e^{1 − m_δ} − 1) chosen so that δ_k = 1 at raw = 0.
//!
//! All-zero raw parameters therefore give uniform bins, y_k = x_k and every slope 1, i.e. the
//! identity (v = u and log-det 0 up to rounding), which is where a coupling with a zero last
//! conditioner layer must start. Without the shift a zero raw vector would give slopes
//! m_δ + ln 2 ≈ 0.69 and a wiggly non-identity start.
//!
//! Backward is hand-derived: through eq. 4/5, ξ and s, the cumulative sums (piecewise: the bin
//! index is discrete and carries no gradient), the softmax and the softplus. Using Σ w_i = 1
//! identically, Δx_k = 2B·w_k and x_k = −B + 2B·Σ_{i<k} w_i, so ∂/∂w_i is 2B·∂L/∂x_k for i < k,
//! 2B·∂L/∂Δx for i = k and 0 for i > k (the clamped end knot x_K = B differs from the sum only by
//! rounding, and the softmax's Jacobian annihilates constant shifts anyway).
//!
//! A *circular* spline ([`RqSpline::circular`], Rezende et al. 2020, arXiv:2002.02428, Sec. 3.1)
//! keeps the knots on [−B, B] but makes the end slopes one trainable value, δ_0 = δ_K, so the
//! map is a diffeomorphism of the circle [−B, B) with −B ≡ B (it fixes that point; the
//! rotation that moves it is [`super::circular`]'s). Its raw layout has K slopes: the K − 1
//! interior ones, then the shared end slope. Inputs must lie in [−B, B] (no tails).
//!
//! Nothing allocates: knots live in stack arrays of [`MAX_BINS`] + 1 elements.

use super::coupling::{Coupling, Split, Transformer};
use crate::nn::Activation;
use crate::real::Real;
use crate::special::exp_poly;
use crate::special::{sigmoid, softplus};

/// Largest supported bin count (knots are kept in stack arrays of this size + 1).
pub const MAX_BINS: usize = 32;

/// Default minimum bin width, as a fraction of the interval [−B, B].
pub const DEFAULT_MIN_BIN_WIDTH: f64 = 1e-3;
/// Default minimum bin height, as a fraction of the interval [−B, B].
pub const DEFAULT_MIN_BIN_HEIGHT: f64 = 1e-3;
/// Default minimum interior knot slope.
pub const DEFAULT_MIN_DERIVATIVE: f64 = 1e-3;

/// What a spline does at its ends ±B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplineEnds {
    /// Identity outside [−B, B]; end slopes δ_0 = δ_K = 1, so the slope is continuous at ±B.
    IdentityTails,
    /// −B ≡ B: one trainable end slope δ_0 = δ_K, no tails (module docs).
    Circular,
}

/// A rational-quadratic spline's shapes: K bins on [−B, B], its ends ([`SplineEnds`]), minimum
/// widths/heights/slopes. The parameters come per call (one raw slice per coordinate).
#[derive(Clone, Debug, PartialEq)]
pub struct RqSpline {
    n_bins: usize,
    ends: SplineEnds,
    tail_bound: f64,
    min_bin_width: f64,
    min_bin_height: f64,
    min_derivative: f64,
    /// c = ln(e^{1 − m_δ} − 1), so m_δ + softplus(0 + c) = 1.
    derivative_shift: f64,
}

/// Knots of one coordinate's spline, plus the softmax values backward needs.
struct Knots<T> {
    x: [T; MAX_BINS + 1],
    y: [T; MAX_BINS + 1],
    softmax_w: [T; MAX_BINS],
    softmax_h: [T; MAX_BINS],
}

/// One bin's geometry: left knot (x_k, y_k), extent (Δx, Δy), end slopes δ_k, δ_{k+1}.
struct Bin<T> {
    k: usize,
    x0: T,
    dx: T,
    y0: T,
    dy: T,
    d0: T,
    d1: T,
}

impl RqSpline {
    /// K = `n_bins` bins on [−B, B], B = `tail_bound`, with the default minimums (1e-3 each).
    #[track_caller]
    pub fn new(n_bins: usize, tail_bound: f64) -> Self {
        Self::with_minimums(n_bins, tail_bound, DEFAULT_MIN_BIN_WIDTH, DEFAULT_MIN_BIN_HEIGHT, DEFAULT_MIN_DERIVATIVE)
    }

    /// As [`RqSpline::new`] with explicit minimum bin width/height (fractions of 2B) and slope.
    #[track_caller]
    pub fn with_minimums(
        n_bins: usize,
        tail_bound: f64,
        min_bin_width: f64,
        min_bin_height: f64,
        min_derivative: f64,
    ) -> Self {
        assert!((1..=MAX_BINS).contains(&n_bins), "RqSpline: n_bins {n_bins} must be in 1..={MAX_BINS}");
        assert!(tail_bound > 0.0 && tail_bound.is_finite(), "RqSpline: tail_bound {tail_bound} must be positive");
        // Minimums > 0 keep every bin non-degenerate and every slope positive even when the
        // softmax or softplus underflows to 0 for extreme raw values.
        let k = n_bins as f64;
        assert!(
            min_bin_width > 0.0 && min_bin_height > 0.0 && k * min_bin_width < 1.0 && k * min_bin_height < 1.0,
            "RqSpline: minimum bin width/height must be positive with n_bins · minimum below 1"
        );
        assert!(min_derivative > 0.0 && min_derivative < 1.0, "RqSpline: min_derivative must be in (0, 1)");
        let derivative_shift = (1.0 - min_derivative).exp_m1().ln();
        let ends = SplineEnds::IdentityTails;
        Self { n_bins, ends, tail_bound, min_bin_width, min_bin_height, min_derivative, derivative_shift }
    }

    /// The circular spline of K = `n_bins` bins on [−B, B) with −B ≡ B, B = `bound` (module
    /// docs), with the default minimums.
    #[track_caller]
    pub fn circular(n_bins: usize, bound: f64) -> Self {
        Self { ends: SplineEnds::Circular, ..Self::new(n_bins, bound) }
    }

    /// What the spline does at ±B.
    pub fn ends(&self) -> SplineEnds {
        self.ends
    }

    /// Number of bins K on [−B, B].
    pub fn n_bins(&self) -> usize {
        self.n_bins
    }
    /// B: the spline acts on [−B, B] and is the identity outside.
    pub fn tail_bound(&self) -> f64 {
        self.tail_bound
    }
    /// Smallest bin width as a fraction of 2B (keeps every bin resolvable).
    pub fn min_bin_width(&self) -> f64 {
        self.min_bin_width
    }
    /// Smallest bin height as a fraction of 2B.
    pub fn min_bin_height(&self) -> f64 {
        self.min_bin_height
    }
    /// Smallest knot derivative, so the inverse's slope stays bounded.
    pub fn min_derivative(&self) -> f64 {
        self.min_derivative
    }

    /// Raw values per transformed coordinate: 3K − 1 (K widths, K heights, K − 1 slopes), or
    /// 3K for a circular spline (its shared end slope).
    pub fn n_params(&self) -> usize {
        match self.ends {
            SplineEnds::IdentityTails => 3 * self.n_bins - 1,
            SplineEnds::Circular => 3 * self.n_bins,
        }
    }

    /// v = spline(u) and log dv/du for one coordinate with raw parameters `raw` (3K − 1).
    #[inline]
    pub fn forward<T: Real>(&self, raw: &[T], u: T) -> (T, T) {
        debug_assert_eq!(raw.len(), self.n_params());
        let bound = T::lit(self.tail_bound);
        let inside = u >= -bound && u <= bound;
        // Replace out-of-range inputs before evaluating, so the unused branch stays finite.
        let x = if inside { u } else { T::zero() };
        let knots = self.knots(raw);
        let bin = self.bin(raw, &knots, search(&knots.x[..=self.n_bins], x));
        let xi = (x - bin.x0) / bin.dx;
        let (v, log_slope) = bin.eval(xi);
        if inside {
            (v, log_slope)
        } else {
            (u, T::zero())
        }
    }

    /// u = spline⁻¹(v) and log du/dv for one coordinate (eqs. 29–32).
    #[inline]
    pub fn inverse<T: Real>(&self, raw: &[T], v: T) -> (T, T) {
        debug_assert_eq!(raw.len(), self.n_params());
        let bound = T::lit(self.tail_bound);
        let inside = v >= -bound && v <= bound;
        let y = if inside { v } else { T::zero() };
        let knots = self.knots(raw);
        let bin = self.bin(raw, &knots, search(&knots.y[..=self.n_bins], y));
        let s = bin.dy / bin.dx;
        let dy_in = y - bin.y0;
        let curv = bin.d1 + bin.d0 - (s + s);
        let a = bin.dy * (s - bin.d0) + dy_in * curv;
        let b = bin.dy * bin.d0 - dy_in * curv;
        let c = -s * dy_in;
        // b² − 4ac > 0 for a monotone spline (it is (Δy·δ_k)² at ξ = 0 and (Δy·δ_{k+1})² at 1).
        let disc = b * b - T::lit(4.0) * a * c;
        let xi = (c + c) / (-b - disc.sqrt());
        let u = xi.mul_add(bin.dx, bin.x0);
        let (_, log_slope) = bin.eval(xi);
        if inside {
            (u, -log_slope)
        } else {
            (v, T::zero())
        }
    }

    /// Given ∂L/∂v = `d_v` and ∂L/∂(log dv/du) = `d_log_det` at input `u`, *adds* ∂L/∂raw into
    /// `d_raw` (3K − 1) and returns ∂L/∂u. Outside [−B, B]: returns `d_v`, adds nothing.
    #[inline]
    pub fn backward<T: Real>(&self, raw: &[T], u: T, d_v: T, d_log_det: T, d_raw: &mut [T]) -> T {
        debug_assert_eq!(raw.len(), self.n_params());
        debug_assert_eq!(d_raw.len(), self.n_params());
        let bound = T::lit(self.tail_bound);
        if !(u >= -bound && u <= bound) {
            return d_v;
        }
        let n_bins = self.n_bins;
        let knots = self.knots(raw);
        let bin = self.bin(raw, &knots, search(&knots.x[..=n_bins], u));
        let (one, two) = (T::one(), T::lit(2.0));
        let (dx, dy, d0, d1) = (bin.dx, bin.dy, bin.d0, bin.d1);
        let s = dy / dx;
        let xi = (u - bin.x0) / dx;
        let om = one - xi;
        let th = xi * om;
        let curv = d1 + d0 - two * s;
        let num = s * xi * xi + d0 * th;
        let den = s + curv * th;
        let m = d1 * xi * xi + two * s * th + d0 * om * om;
        let (inv_den, inv_m) = (one / den, one / m);
        // v = y_k + Δy·num/den; log dv/du = 2 ln s + ln m − 2 ln den.
        let g_num = d_v * dy * inv_den;
        let g_den = -(d_v * dy * num * inv_den + two * d_log_det) * inv_den;
        let g_m = d_log_det * inv_m;
        let one_m_2xi = one - two * xi;
        let d_xi = g_num * (two * s * xi + d0 * one_m_2xi)
            + g_den * curv * one_m_2xi
            + g_m * two * (d1 * xi + s * one_m_2xi - d0 * om);
        let d_s = g_num * xi * xi + g_den * (one - two * th) + g_m * two * th + two * d_log_det / s;
        let d_d0 = (g_num + g_den) * th + g_m * om * om;
        let d_d1 = g_den * th + g_m * xi * xi;
        // s = Δy/Δx, ξ = (u − x_k)/Δx.
        let d_dy = d_v * num * inv_den + d_s / dx;
        let d_y0 = d_v;
        let d_u = d_xi / dx;
        let d_x0 = -d_u;
        let d_dx = -(d_xi * xi + d_s * s) / dx;

        let (d_raw_w, rest) = d_raw.split_at_mut(n_bins);
        let (d_raw_h, d_raw_d) = rest.split_at_mut(n_bins);
        let two_b = T::lit(2.0 * self.tail_bound);
        let scale_w = two_b * T::lit(1.0 - n_bins as f64 * self.min_bin_width);
        let scale_h = two_b * T::lit(1.0 - n_bins as f64 * self.min_bin_height);
        softmax_cumsum_backward(&knots.softmax_w[..n_bins], bin.k, scale_w * d_x0, scale_w * d_dx, d_raw_w);
        softmax_cumsum_backward(&knots.softmax_h[..n_bins], bin.k, scale_h * d_y0, scale_h * d_dy, d_raw_h);
        let shift = T::lit(self.derivative_shift);
        let (raw_d, k) = (&raw[2 * n_bins..], bin.k);
        if k >= 1 {
            d_raw_d[k - 1] += d_d0 * sigmoid(raw_d[k - 1] + shift);
        }
        if k + 1 < n_bins {
            d_raw_d[k] += d_d1 * sigmoid(raw_d[k] + shift);
        }
        if self.ends == SplineEnds::Circular {
            // δ_0 = δ_K = m_δ + softplus(raw_d[K − 1] + c).
            let end = n_bins - 1;
            let d_end = if k == 0 { d_d0 } else { T::zero() } + if k + 1 == n_bins { d_d1 } else { T::zero() };
            d_raw_d[end] += d_end * sigmoid(raw_d[end] + shift);
        }
        d_u
    }

    /// Knot positions from the raw widths and heights.
    #[inline]
    fn knots<T: Real>(&self, raw: &[T]) -> Knots<T> {
        let n_bins = self.n_bins;
        let mut kn = Knots {
            x: [T::zero(); MAX_BINS + 1],
            y: [T::zero(); MAX_BINS + 1],
            softmax_w: [T::zero(); MAX_BINS],
            softmax_h: [T::zero(); MAX_BINS],
        };
        let bound = T::lit(self.tail_bound);
        cumulative_knots(&raw[..n_bins], self.min_bin_width, bound, &mut kn.softmax_w, &mut kn.x);
        cumulative_knots(&raw[n_bins..2 * n_bins], self.min_bin_height, bound, &mut kn.softmax_h, &mut kn.y);
        kn
    }

    /// Slope δ_j at knot j: m_δ + softplus(raw + c) inside; at the ends 1, or the circular
    /// spline's shared end slope.
    #[inline]
    fn derivative<T: Real>(&self, raw: &[T], j: usize) -> T {
        if j == 0 || j == self.n_bins {
            match self.ends {
                SplineEnds::IdentityTails => T::one(),
                SplineEnds::Circular => {
                    T::lit(self.min_derivative) + softplus(raw[3 * self.n_bins - 1] + T::lit(self.derivative_shift))
                }
            }
        } else {
            T::lit(self.min_derivative) + softplus(raw[2 * self.n_bins + j - 1] + T::lit(self.derivative_shift))
        }
    }

    #[inline]
    fn bin<T: Real>(&self, raw: &[T], kn: &Knots<T>, k: usize) -> Bin<T> {
        Bin {
            k,
            x0: kn.x[k],
            dx: kn.x[k + 1] - kn.x[k],
            y0: kn.y[k],
            dy: kn.y[k + 1] - kn.y[k],
            d0: self.derivative(raw, k),
            d1: self.derivative(raw, k + 1),
        }
    }
}

impl<T: Real> Bin<T> {
    /// (v, log dv/du) at ξ (eqs. 4 and 5).
    #[inline]
    fn eval(&self, xi: T) -> (T, T) {
        let s = self.dy / self.dx;
        let om = T::one() - xi;
        let th = xi * om;
        let den = s + (self.d1 + self.d0 - (s + s)) * th;
        let num = s * xi * xi + self.d0 * th;
        let m = self.d1 * xi * xi + (s + s) * th + self.d0 * om * om;
        let v = self.y0 + self.dy * num / den;
        (v, (s * s * m / (den * den)).ln())
    }
}

/// The bin k with knots[k] ≤ x < knots[k + 1] (k = K − 1 for x = knots[K]); knots has K + 1
/// sorted entries and x lies in [knots[0], knots[K]].
#[inline]
fn search<T: Real>(knots: &[T], x: T) -> usize {
    let n_bins = knots.len() - 1;
    knots[1..n_bins].iter().filter(|&&k| x >= k).count()
}

/// softmax(raw) into `softmax` (exponentials by the vectorisable [`exp_poly`], ~10–20 % faster
/// per coordinate than libm here; its clamp at e^−80 only affects entries that are negligible
/// next to the largest, which is e⁰ = 1), then knots[k] = −B + 2B·Σ_{i<k} (m + (1 − K·m)·softmax_i) with
/// the end knots exactly ±B.
#[inline]
fn cumulative_knots<T: Real>(raw: &[T], min_frac: f64, bound: T, softmax: &mut [T], knots: &mut [T]) {
    let n_bins = raw.len();
    let max = raw.iter().fold(T::neg_infinity(), |m, &r| m.max(r));
    for (e, &r) in softmax.iter_mut().zip(raw) {
        *e = exp_poly(r - max);
    }
    let sum: T = softmax[..n_bins].iter().copied().sum();
    let inv_sum = T::one() / sum;
    let (min, scale) = (T::lit(min_frac), T::lit(1.0 - n_bins as f64 * min_frac));
    let two_b = bound + bound;
    let mut acc = T::zero();
    knots[0] = -bound;
    for (kn, e) in knots[1..n_bins].iter_mut().zip(softmax.iter_mut()) {
        *e *= inv_sum;
        acc += scale.mul_add(*e, min);
        *kn = two_b.mul_add(acc, -bound);
    }
    softmax[n_bins - 1] *= inv_sum;
    knots[n_bins] = bound;
}

/// Backward of knots[k] = Σ_{i<k} w_i·(2B) and Δ_k = w_k·(2B) through w = m + (1 − K m)·softmax:
/// with g_i = `d_left` for i < k, `d_width` for i = k, 0 beyond (already scaled by 2B(1 − K m)),
/// adds softmax_i·(g_i − Σ_j softmax_j g_j) into `d_raw`.
#[inline]
fn softmax_cumsum_backward<T: Real>(softmax: &[T], k: usize, d_left: T, d_width: T, d_raw: &mut [T]) {
    let below: T = softmax[..k].iter().copied().sum();
    let mean = d_left * below + d_width * softmax[k];
    for (i, (d, &p)) in d_raw.iter_mut().zip(softmax).enumerate() {
        let g = if i < k {
            d_left
        } else if i == k {
            d_width
        } else {
            T::zero()
        };
        *d += p * (g - mean);
    }
}

/// The spline as a coupling transformer. Conditioner row layout: coordinate j's 3K − 1 raw values
/// are contiguous, [coord 0 | coord 1 | …]; the cache backward reads is the raw row itself.
impl Transformer for RqSpline {
    fn n_params(&self) -> usize {
        RqSpline::n_params(self)
    }

    #[inline]
    fn forward_row<T: Real>(&self, raw: &mut [T], u: &[T], v: &mut [T]) -> T {
        let mut log_det = T::zero();
        for ((raw, &u), v) in raw.chunks_exact(self.n_params()).zip(u).zip(v) {
            let (out, ld) = self.forward(raw, u);
            *v = out;
            log_det += ld;
        }
        log_det
    }

    #[inline]
    fn inverse_row<T: Real>(&self, raw: &[T], v: &[T], u: &mut [T]) -> T {
        let mut log_det = T::zero();
        for ((raw, &v), u) in raw.chunks_exact(self.n_params()).zip(v).zip(u) {
            let (out, ld) = self.inverse(raw, v);
            *u = out;
            log_det += ld;
        }
        log_det
    }

    #[inline]
    fn backward_row<T: Real>(&self, cache: &[T], u: &[T], d_v: &[T], d_log_det: T, d_raw: &mut [T], d_u: &mut [T]) {
        let n_params = self.n_params();
        for ((((raw, d_raw), &u), &g), d_u) in
            cache.chunks_exact(n_params).zip(d_raw.chunks_exact_mut(n_params)).zip(u).zip(d_v).zip(d_u)
        {
            d_raw.fill(T::zero());
            *d_u = self.backward(raw, u, g, d_log_det, d_raw);
        }
    }
}

/// Rational-quadratic spline coupling: v_a = u_a, v_b,j = spline(u_b,j; raw_j),
/// raw = net([u_a | ctx]) with 3K − 1 raw values per transformed coordinate.
pub type SplineCoupling = Coupling<RqSpline>;

impl SplineCoupling {
    /// K = `n_bins` bins on [−B, B] (B = `tail_bound`, identity outside); conditioner MLP
    /// (n_cond + ctx_dim) → hidden → (dim − n_cond)·(3K − 1). Starts at the identity after
    /// [`Coupling::init_params`].
    #[allow(clippy::too_many_arguments)]
    #[track_caller]
    pub fn new(
        dim: usize,
        n_cond: usize,
        split: Split,
        ctx_dim: usize,
        hidden: &[usize],
        act: Activation,
        n_bins: usize,
        tail_bound: f64,
    ) -> Self {
        Coupling::with_transformer(dim, n_cond, split, ctx_dim, hidden, act, RqSpline::new(n_bins, tail_bound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::testing::{assert_all_close, numerical_gradient, FD_REL_TOL};
    use rand::{Rng as _, SeedableRng};

    /// inverse(forward(u)) = u to this tolerance relative to max(1, |u|), in f64.
    const ROUND_TRIP_TOL_F64: f64 = 1e-10;
    /// The same in f32, relative to max(1, |u|).
    const ROUND_TRIP_TOL_F32: f64 = 1e-5;
    /// Zero raw parameters: |v − u| and |log-det| within this many ulps of max(1, |u|).
    const IDENTITY_ULPS: f64 = 8.0;
    /// log dv/du vs the central difference of forward (step 1e-6: truncation ~1e-10).
    const LOG_SLOPE_TOL: f64 = 1e-7;

    fn random_raw(spline: &RqSpline, scale: f64, rng: &mut Rng) -> Vec<f64> {
        (0..spline.n_params()).map(|_| scale * (2.0 * rng.gen::<f64>() - 1.0)).collect()
    }

    fn knot_positions(spline: &RqSpline, raw: &[f64]) -> Vec<f64> {
        let kn = spline.knots(raw);
        kn.x[..=spline.n_bins()].to_vec()
    }

    /// A grid of inputs: uniform points, every knot exactly, points 1e-9 either side of every
    /// knot, ±B and the tails.
    fn probe_points(spline: &RqSpline, raw: &[f64]) -> Vec<f64> {
        let b = spline.tail_bound();
        let mut pts: Vec<f64> = (0..=200).map(|i| -1.5 * b + 3.0 * b * i as f64 / 200.0).collect();
        for k in knot_positions(spline, raw) {
            pts.extend([k, k - 1e-9, k + 1e-9]);
        }
        pts.extend([-b, b, 2.0 * b, -7.0 * b, 1e3]);
        pts
    }

    fn splines() -> Vec<RqSpline> {
        vec![RqSpline::new(1, 1.0), RqSpline::new(4, 3.0), RqSpline::new(8, 5.0), RqSpline::new(MAX_BINS, 2.0)]
    }

    #[test]
    fn n_params_is_three_per_bin_minus_one() {
        assert_eq!(RqSpline::new(8, 3.0).n_params(), 23);
        assert_eq!(RqSpline::new(1, 3.0).n_params(), 2);
    }

    #[test]
    #[should_panic(expected = "n_bins")]
    fn too_many_bins_panic_at_construction() {
        RqSpline::new(MAX_BINS + 1, 3.0);
    }

    #[test]
    fn zero_raw_parameters_give_the_identity() {
        for spline in splines() {
            let raw64 = vec![0.0f64; spline.n_params()];
            for u in probe_points(&spline, &raw64) {
                let (v, ld) = spline.forward(&raw64, u);
                let tol = IDENTITY_ULPS * f64::EPSILON * u.abs().max(1.0);
                assert!((v - u).abs() <= tol && ld.abs() <= IDENTITY_ULPS * f64::EPSILON, "f64 u={u}: v={v}, ld={ld}");
                let (w, ld_inv) = spline.inverse(&raw64, u);
                assert!((w - u).abs() <= tol && ld_inv.abs() <= IDENTITY_ULPS * f64::EPSILON, "f64 inverse u={u}");
                let raw32 = vec![0.0f32; spline.n_params()];
                let u32_ = u as f32;
                let (v, ld) = spline.forward(&raw32, u32_);
                let tol = IDENTITY_ULPS as f32 * f32::EPSILON * u32_.abs().max(1.0);
                assert!((v - u32_).abs() <= tol && ld.abs() <= IDENTITY_ULPS as f32 * f32::EPSILON, "f32 u={u}");
            }
        }
    }

    #[test]
    fn inverse_undoes_forward_at_knots_near_knots_and_in_the_tails() {
        let mut rng = Rng::seed_from_u64(11);
        for spline in splines() {
            for scale in [0.5, 3.0] {
                let raw = random_raw(&spline, scale, &mut rng);
                let raw32: Vec<f32> = raw.iter().map(|&r| r as f32).collect();
                for u in probe_points(&spline, &raw) {
                    let (v, ld) = spline.forward(&raw, u);
                    let (back, ld_inv) = spline.inverse(&raw, v);
                    let err = (back - u).abs() / u.abs().max(1.0);
                    assert!(err < ROUND_TRIP_TOL_F64, "f64 K={} u={u}: back {back} (err {err:.1e})", spline.n_bins());
                    assert!((ld + ld_inv).abs() < ROUND_TRIP_TOL_F64, "f64 log-dets {ld} + {ld_inv} ≠ 0");
                    // f32: v carries ε·|v| rounding, which the inverse amplifies by du/dv. Mild
                    // raw values (scale 0.5) must meet 1e-5 outright; strongly bent splines
                    // (scale 3, slopes far below 1) get the bound times max(1, du/dv).
                    let u32_ = u as f32;
                    let (v, _) = spline.forward(&raw32, u32_);
                    let (back, _) = spline.inverse(&raw32, v);
                    let err = (back - u32_).abs() as f64 / (u32_.abs() as f64).max(1.0);
                    let amplification = if scale > 1.0 { (-ld).exp().max(1.0) } else { 1.0 };
                    assert!(
                        err < ROUND_TRIP_TOL_F32 * amplification,
                        "f32 K={} u={u}: back {back} (err {err:.1e}, du/dv {amplification:.2})",
                        spline.n_bins()
                    );
                }
            }
        }
    }

    #[test]
    fn log_slope_matches_central_difference_of_forward() {
        let mut rng = Rng::seed_from_u64(12);
        for spline in splines() {
            let raw = random_raw(&spline, 2.0, &mut rng);
            let knots = knot_positions(&spline, &raw);
            let b = spline.tail_bound();
            // Keep the ±h stencil inside one bin: skip points within 1e-5 of a knot.
            let pts = (0..=97).map(|i| -1.2 * b + 2.4 * b * i as f64 / 97.0);
            for u in pts.filter(|u| knots.iter().all(|k| (u - k).abs() > 1e-5)) {
                let h = 1e-6;
                let fd = (spline.forward(&raw, u + h).0 - spline.forward(&raw, u - h).0) / (2.0 * h);
                let (_, ld) = spline.forward(&raw, u);
                assert!(
                    (ld - fd.ln()).abs() < LOG_SLOPE_TOL,
                    "K={} u={u}: log slope {ld} vs {}",
                    spline.n_bins(),
                    fd.ln()
                );
            }
        }
    }

    #[test]
    fn spline_is_strictly_increasing_on_a_fine_grid() {
        let mut rng = Rng::seed_from_u64(13);
        for spline in splines() {
            let raw = random_raw(&spline, 4.0, &mut rng);
            let b = spline.tail_bound();
            let mut prev = f64::NEG_INFINITY;
            for i in 0..=20_000 {
                let u = -1.1 * b + 2.2 * b * i as f64 / 20_000.0;
                let (v, ld) = spline.forward(&raw, u);
                assert!(v > prev && ld.is_finite(), "K={} not increasing at u={u}", spline.n_bins());
                prev = v;
            }
        }
    }

    /// Probe loss L = g·v + γ·log dv/du; backward (d_u and every raw entry) vs central differences.
    fn check_gradient(spline: &RqSpline, raw: &[f64], u: f64, rng: &mut Rng) {
        let (g, gamma) = (2.0 * rng.gen::<f64>() - 1.0, 2.0 * rng.gen::<f64>() - 1.0);
        let loss = |x: &[f64]| {
            let (v, ld) = spline.forward(&x[1..], x[0]);
            g * v + gamma * ld
        };
        let mut at = vec![u];
        at.extend_from_slice(raw);
        let want = numerical_gradient(loss, &at);
        let offset: Vec<f64> = (0..raw.len()).map(|i| 0.1 * i as f64 - 0.5).collect();
        let mut d_raw = offset.clone();
        let d_u = spline.backward(raw, u, g, gamma, &mut d_raw);
        let mut got = vec![d_u];
        got.extend(d_raw.iter().zip(&offset).map(|(d, o)| d - o));
        assert_all_close(&format!("K={} u={u}", spline.n_bins()), &got, &want, FD_REL_TOL);
    }

    #[test]
    fn backward_matches_central_differences_inside_near_knots_and_in_tails() {
        let mut rng = Rng::seed_from_u64(14);
        for spline in splines() {
            for _ in 0..3 {
                let raw = random_raw(&spline, 1.5, &mut rng);
                let b = spline.tail_bound();
                let knots = knot_positions(&spline, &raw);
                let mut pts: Vec<f64> = (0..7).map(|_| b * (2.0 * rng.gen::<f64>() - 1.0)).collect();
                // 1e-4 from each knot: near the edge but the FD stencil (1e-6) stays in one bin.
                for &k in &knots[1..spline.n_bins()] {
                    pts.extend([k - 1e-4, k + 1e-4]);
                }
                pts.extend([-b + 1e-4, b - 1e-4]);
                for u in pts {
                    check_gradient(&spline, &raw, u, &mut rng);
                }
            }
        }
    }

    #[test]
    fn tails_have_identity_gradient_and_no_parameter_gradient() {
        let mut rng = Rng::seed_from_u64(15);
        for spline in splines() {
            let raw = random_raw(&spline, 1.5, &mut rng);
            let b = spline.tail_bound();
            for u in [-1.0001 * b, 1.5 * b, 40.0, -1e6] {
                let mut d_raw = vec![0.0; raw.len()];
                let d_u = spline.backward(&raw, u, 0.7, -0.3, &mut d_raw);
                assert_eq!(d_u, 0.7);
                assert!(d_raw.iter().all(|&d| d == 0.0), "K={} u={u}: {d_raw:?}", spline.n_bins());
                check_gradient(&spline, &raw, u, &mut rng);
            }
        }
    }

    #[test]
    fn extreme_raw_parameters_stay_finite_and_invertible() {
        for spline in splines() {
            let raw: Vec<f64> = (0..spline.n_params()).map(|i| if i % 3 == 0 { 30.0 } else { -30.0 }).collect();
            for u in probe_points(&spline, &raw) {
                let (v, ld) = spline.forward(&raw, u);
                let (back, _) = spline.inverse(&raw, v);
                assert!(v.is_finite() && ld.is_finite(), "K={} u={u}", spline.n_bins());
                assert!((back - u).abs() < 1e-6 * u.abs().max(1.0), "K={} u={u}: back {back}", spline.n_bins());
            }
        }
    }
}
