//! The fixed maps between the real line and the circle that bracket a flow's circular layers:
//! [`ToAngle`] first, [`FromAngle`] last. On a periodic coordinate (identity elsewhere):
//!
//! ```text
//! ToAngle:   φ = 2π·Φ(u) − π ∈ [−π, π),      log dφ/du = log 2π + log N(u; 0, 1)
//! FromAngle: z = Φ⁻¹((φ + π)/2π),             log dz/dφ = −log 2π − log N(z; 0, 1)
//! ```
//!
//! The support map sends a periodic U(a, b) to u = Φ⁻¹((θ − a)/(b − a)), so ToAngle ∘ support is
//! the affine angle φ = −π + 2π(θ − a)/(b − a), and ToAngle maps N(0, 1) to the uniform law on
//! the circle. The couplings between the two then act on the circle (`super::circular`), and
//! FromAngle cuts it at −π ≡ π to give the base a real coordinate: a standard normal base there
//! *is* the uniform distribution on the circle. With identity couplings the chain is z = u, so
//! every base, its initialisation and the fitted mixture start (in u-space) stay as they are.
//! The cut is a fixed point the circular couplings rotate mass away from, not a place the
//! posterior must be split at.
//!
//! Both run in f64 inside (Φ and Φ⁻¹ need it near the tails) and use the edge nearer the value,
//! as [`crate::flow::Support`] does. The cut itself, φ = −π exactly, would map to z = −∞: the
//! tail mass is floored at [`MIN_TAIL_MASS`] (z ≥ −7.03), a rounding-level change on a set of
//! angles of width 2π·10⁻¹² that keeps every density finite.

use crate::flow::Layer;
use crate::mat::{MatMut, MatRef};
use crate::real::Real;
use crate::special::{normal_cdf, normal_quantile, HALF_LOG_2PI};

/// Smallest tail mass (φ + π)/2π or (π − φ)/2π given to Φ⁻¹ (module docs).
pub const MIN_TAIL_MASS: f64 = 1e-12;

/// log 2π + log N(u; 0, 1) = log 2π − ½ log 2π − u²/2.
fn log_slope(u: f64) -> f64 {
    std::f64::consts::TAU.ln() - HALF_LOG_2PI - 0.5 * u * u
}

/// The periodic coordinates of u, and the two maps (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AngleCut {
    periodic: Vec<bool>,
}

impl AngleCut {
    /// `periodic` flags, per coordinate, the ones on the circle.
    pub fn new(periodic: Vec<bool>) -> Self {
        Self { periodic }
    }
    /// Which coordinates are angles.
    pub fn periodic(&self) -> &[bool] {
        &self.periodic
    }

    /// π as the type T holds it, in f64: the angle interval is [−π_T, π_T).
    fn pi<T: Real>() -> f64 {
        T::lit(std::f64::consts::PI).to_f64_lossless()
    }

    /// (φ, log dφ/du) of ToAngle.
    fn to_angle<T: Real>(u: f64) -> (f64, f64) {
        let pi = Self::pi::<T>();
        let phi = if u <= 0.0 { -pi + 2.0 * pi * normal_cdf(u) } else { pi - 2.0 * pi * normal_cdf(-u) };
        (phi, log_slope(u))
    }

    /// (u, log du/dφ) of ToAngle's inverse (= FromAngle's forward).
    fn from_angle<T: Real>(phi: f64) -> (f64, f64) {
        let pi = Self::pi::<T>();
        let (low, high) = ((phi + pi) / (2.0 * pi), (pi - phi) / (2.0 * pi));
        let u = if low <= high {
            normal_quantile(low.max(MIN_TAIL_MASS))
        } else {
            -normal_quantile(high.max(MIN_TAIL_MASS))
        };
        (u, -log_slope(u))
    }

    /// The input adjoint of [`AngleCut::apply`]: `d_u = adjoint(g, g_ld, s)` on periodic entries,
    /// with g = ∂L/∂v, g_ld = ∂L/∂log_det and s the per-row value the layer kept in `ws`; the
    /// other entries pass g through.
    fn adjoint<T: Real>(
        &self,
        ws: &[T],
        d_v: MatRef<T>,
        d_log_det: &[T],
        mut d_u: MatMut<T>,
        adjoint: impl Fn(f64, f64, f64) -> f64,
    ) {
        let dim = self.periodic.len();
        for (r, kept) in ws.chunks_exact(dim).enumerate().take(d_v.rows()) {
            let g_ld = d_log_det[r].to_f64_lossless();
            for (((d, &g), &s), &periodic) in d_u.row_mut(r).iter_mut().zip(d_v.row(r)).zip(kept).zip(&self.periodic) {
                *d = if periodic { T::lit(adjoint(g.to_f64_lossless(), g_ld, s.to_f64_lossless())) } else { g };
            }
        }
    }

    /// Applies `map` to every periodic entry of `input`, writing `output` and adding the log-dets;
    /// copies the other entries.
    fn apply<T: Real>(&self, input: MatRef<T>, mut output: MatMut<T>, log_det: &mut [T], map: fn(f64) -> (f64, f64)) {
        for (r, ld) in log_det.iter_mut().enumerate().take(input.rows()) {
            let mut sum = 0.0;
            for ((o, &i), &periodic) in output.row_mut(r).iter_mut().zip(input.row(r)).zip(&self.periodic) {
                *o = if periodic {
                    let (value, l) = map(i.to_f64_lossless());
                    sum += l;
                    T::lit(value)
                } else {
                    i
                };
            }
            *ld += T::lit(sum);
        }
    }
}

/// u ↦ φ on the periodic coordinates (module docs); first layer of a flow with angles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToAngle(pub AngleCut);

/// φ ↦ z on the periodic coordinates (module docs); last layer of a flow with angles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromAngle(pub AngleCut);

impl<T: Real> Layer<T> for ToAngle {
    fn n_params(&self) -> usize {
        0
    }
    /// The input u (backward needs it).
    fn workspace_len(&self, n_batch: usize) -> usize {
        n_batch * self.0.periodic.len()
    }
    fn forward(&self, _p: &[T], u: MatRef<T>, _ctx: MatRef<T>, v: MatMut<T>, log_det: &mut [T], ws: &mut [T]) {
        let dim = self.0.periodic.len();
        for (r, w) in ws.chunks_exact_mut(dim).enumerate().take(u.rows()) {
            w.copy_from_slice(u.row(r));
        }
        self.0.apply(u, v, log_det, AngleCut::to_angle::<T>);
    }
    fn inverse(&self, _p: &[T], v: MatRef<T>, _ctx: MatRef<T>, u: MatMut<T>, log_det: &mut [T], _ws: &mut [T]) {
        self.0.apply(v, u, log_det, AngleCut::from_angle::<T>);
    }
    /// dφ/du = 2π N(u), d(log dφ/du)/du = −u.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        _p: &[T],
        ws: &[T],
        d_v: MatRef<T>,
        d_log_det: &[T],
        d_u: MatMut<T>,
        _d_ctx: Option<MatMut<T>>,
        _d_p: &mut [T],
    ) {
        self.0.adjoint(ws, d_v, d_log_det, d_u, |g, g_ld, u| g * log_slope(u).exp() - g_ld * u);
    }
}

impl<T: Real> Layer<T> for FromAngle {
    fn n_params(&self) -> usize {
        0
    }
    /// The output z (backward needs it).
    fn workspace_len(&self, n_batch: usize) -> usize {
        n_batch * self.0.periodic.len()
    }
    fn forward(&self, _p: &[T], u: MatRef<T>, _ctx: MatRef<T>, mut v: MatMut<T>, log_det: &mut [T], ws: &mut [T]) {
        let dim = self.0.periodic.len();
        self.0.apply(u, v.rb_mut(), log_det, AngleCut::from_angle::<T>);
        for (r, w) in ws.chunks_exact_mut(dim).enumerate().take(u.rows()) {
            w.copy_from_slice(v.rb().row(r));
        }
    }
    fn inverse(&self, _p: &[T], v: MatRef<T>, _ctx: MatRef<T>, u: MatMut<T>, log_det: &mut [T], _ws: &mut [T]) {
        self.0.apply(v, u, log_det, AngleCut::to_angle::<T>);
    }
    /// dz/dφ = 1/(2π N(z)), d(log dz/dφ)/dz = z.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        _p: &[T],
        ws: &[T],
        d_v: MatRef<T>,
        d_log_det: &[T],
        d_u: MatMut<T>,
        _d_ctx: Option<MatMut<T>>,
        _d_p: &mut [T],
    ) {
        self.0.adjoint(ws, d_v, d_log_det, d_u, |g, g_ld, z| (g + g_ld * z) * (-log_slope(z)).exp());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;

    /// Round trips u → φ → u in f64 for |u| ≤ 5, relative to max(1, |u|). (φ holds the tail mass
    /// q = Φ(u) only to ε·π absolute, so u's precision falls with |u|: 1e-10 at 5, 1e-8 at 6.)
    const ROUND_TRIP_TOL: f64 = 1e-9;

    fn run<L: Layer<f64>>(layer: &L, u: &[f64], dim: usize) -> (Mat<f64>, Vec<f64>) {
        let n = u.len() / dim;
        let mut v = Mat::zeros(n, dim);
        let mut ld = vec![0.0; n];
        let mut ws = vec![0.0; layer.workspace_len(n)];
        layer.forward(&[], MatRef::new(u, n, dim), MatRef::new(&[], n, 0), v.as_mut(), &mut ld, &mut ws);
        (v, ld)
    }

    #[test]
    fn to_angle_sends_the_normal_to_the_uniform_circle_and_back() {
        let layer = ToAngle(AngleCut::new(vec![true, false]));
        let us: Vec<f64> = (-50..=50).flat_map(|i| [i as f64 * 0.1, 0.5]).collect();
        let (phi, ld) = run(&layer, &us, 2);
        let mut back = Mat::zeros(phi.rows(), 2);
        let mut ld_inv = vec![0.0; phi.rows()];
        layer.inverse(&[], phi.as_ref(), MatRef::new(&[], phi.rows(), 0), back.as_mut(), &mut ld_inv, &mut []);
        for r in 0..phi.rows() {
            let u = us[2 * r];
            assert!((-std::f64::consts::PI..std::f64::consts::PI).contains(&phi.row(r)[0]));
            assert!((back.row(r)[0] - u).abs() < ROUND_TRIP_TOL * u.abs().max(1.0), "u={u}: {}", back.row(r)[0]);
            assert!((ld[r] + ld_inv[r]).abs() < ROUND_TRIP_TOL && phi.row(r)[1] == 0.5);
            // dφ/du = 2π N(u) by central difference (where φ's rounding, ε·π, is far below the step's change).
            if u.abs() > 3.0 {
                continue;
            }
            let h = 1e-6;
            let fd =
                (run(&layer, &[u + h, 0.0], 2).0.row(0)[0] - run(&layer, &[u - h, 0.0], 2).0.row(0)[0]) / (2.0 * h);
            assert!((ld[r] - fd.ln()).abs() < 1e-6, "u={u}: {} vs {}", ld[r], fd.ln());
        }
    }

    #[test]
    fn the_cut_maps_to_a_finite_value() {
        let layer = FromAngle(AngleCut::new(vec![true]));
        let (z, ld) = run(&layer, &[-std::f64::consts::PI], 1);
        assert!(z.row(0)[0].is_finite() && z.row(0)[0] < -7.0 && ld[0].is_finite());
        // Beyond the floor (|u| > 7.03, prior mass 2·10⁻¹²) the round trip stops at the floor.
        let to = ToAngle(AngleCut::new(vec![true]));
        let (phi, _) = run(&to, &[-9.0], 1);
        let (u, _) = run(&layer, phi.as_slice(), 1);
        assert!((u.row(0)[0] - normal_quantile(MIN_TAIL_MASS)).abs() < 1e-3, "{}", u.row(0)[0]);
    }

    #[test]
    fn backward_matches_central_differences() {
        use crate::testing::{assert_all_close, numerical_gradient, FD_REL_TOL};
        let periodic = vec![true, false, true];
        let inputs = [0.3, -1.2, 2.9, -2.5, 4.0, -0.01, 1.7, 0.2, -3.1];
        let (g, rho) = ([0.3, -0.7, 1.1, 0.5, 0.2, -0.4, 0.9, -1.0, 0.6], [0.8, -0.5, 0.25]);
        fn check<L: Layer<f64>>(layer: &L, x: &[f64], g: &[f64], rho: &[f64]) {
            let loss = |x: &[f64]| {
                let (v, ld) = run(layer, x, 3);
                v.as_slice().iter().zip(g).map(|(v, g)| v * g).sum::<f64>()
                    + ld.iter().zip(rho).map(|(l, r)| l * r).sum::<f64>()
            };
            let want = numerical_gradient(loss, x);
            let mut ws = vec![0.0; layer.workspace_len(3)];
            let (mut v, mut ld) = (Mat::zeros(3, 3), vec![0.0; 3]);
            layer.forward(&[], MatRef::new(x, 3, 3), MatRef::new(&[], 3, 0), v.as_mut(), &mut ld, &mut ws);
            let mut d_u = Mat::zeros(3, 3);
            layer.backward(&[], &ws, MatRef::new(g, 3, 3), rho, d_u.as_mut(), None, &mut []);
            assert_all_close("d_u", d_u.as_slice(), &want, FD_REL_TOL);
        }
        check(&ToAngle(AngleCut::new(periodic.clone())), &inputs, &g, &rho);
        check(&FromAngle(AngleCut::new(periodic)), &inputs, &g, &rho);
    }
}
