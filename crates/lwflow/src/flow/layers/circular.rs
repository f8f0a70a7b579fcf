//! Coupling transformer for a block that mixes real coordinates and angles: a monotone
//! rational-quadratic spline ([`RqSpline`], identity tails) on each real coordinate and, on each
//! angle φ ∈ [−π, π), a circular spline followed by a rotation (Rezende et al. 2020, "Normalizing
//! flows on tori and spheres", arXiv:2002.02428, Sec. 3.1 and 4.1):
//!
//! ```text
//! v = wrap(h(φ) + ρ),   wrap(a) = a − 2π·⌊(a + π)/2π⌋ ∈ [−π, π),   log dv/dφ = log h'(φ)
//! ```
//!
//! h is a [`RqSpline::circular`] on [−π, π] (h(±π) = ±π, equal end slopes), a diffeomorphism of
//! the circle that fixes −π ≡ π; the conditional rotation ρ moves every point, so the
//! composition is a general orientation-preserving diffeomorphism of the circle: a mode that
//! straddles −π ≡ π is one mode to it. The rotation is the raw value itself (ρ = raw, no
//! squashing: wrap makes any real ρ a rotation), so zero raw values give the identity.
//!
//! Raw layout, P = 3K + 1 per coordinate, [coord 0 | coord 1 | …]: an angle uses its 3K spline
//! values then ρ; a real coordinate uses the first 3K − 1 (its spline's layout) and ignores the
//! last two, whose gradient is zero (one P for all coordinates keeps the conditioner's output a
//! plain n_b × P block; two unused outputs per real coordinate cost nothing measurable).

use super::coupling::{Coupling, Split, Transformer};
use super::spline::RqSpline;
use crate::nn::Activation;
use crate::real::Real;

/// wrap(a) ∈ [−π, π] (module docs). The floor can put a value a rounding error beyond ±π; the
/// clamp keeps the circular spline's input on its interval (it has no tails).
#[inline]
pub(crate) fn wrap_angle<T: Real>(a: T) -> T {
    let (pi, two_pi) = (T::lit(std::f64::consts::PI), T::lit(std::f64::consts::TAU));
    let wrapped = a - two_pi * ((a + pi) / two_pi).floor();
    wrapped.max(-pi).min(pi)
}

/// The elementwise transformer of a coupling whose transformed block holds angles (module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct TorusSpline {
    spline: RqSpline,
    circle: RqSpline,
    /// One flag per transformed coordinate: whether it is an angle.
    angles: Vec<bool>,
}

impl TorusSpline {
    /// K = `n_bins` bins for every coordinate: real ones on [−B, B] (B = `tail_bound`, identity
    /// outside), angles on the circle [−π, π); `angles` flags the transformed coordinates that
    /// are angles.
    #[track_caller]
    pub fn new(n_bins: usize, tail_bound: f64, angles: Vec<bool>) -> Self {
        Self {
            spline: RqSpline::new(n_bins, tail_bound),
            circle: RqSpline::circular(n_bins, std::f64::consts::PI),
            angles,
        }
    }
    /// The spline of the real coordinates.
    pub fn spline(&self) -> &RqSpline {
        &self.spline
    }
    /// Which transformed coordinates are angles.
    pub fn angles(&self) -> &[bool] {
        &self.angles
    }
    fn n_circle(&self) -> usize {
        self.circle.n_params()
    }
}

impl Transformer for TorusSpline {
    fn n_params(&self) -> usize {
        self.circle.n_params() + 1
    }

    #[inline]
    fn forward_row<T: Real>(&self, raw: &mut [T], u: &[T], v: &mut [T]) -> T {
        debug_assert_eq!(u.len(), self.angles.len());
        let (n_params, n_circle, n_spline) = (Transformer::n_params(self), self.n_circle(), self.spline.n_params());
        let mut log_det = T::zero();
        for (((raw, &u), v), &angle) in raw.chunks_exact(n_params).zip(u).zip(v).zip(&self.angles) {
            let (out, ld) = if angle {
                let (h, ld) = self.circle.forward(&raw[..n_circle], u);
                (wrap_angle(h + raw[n_circle]), ld)
            } else {
                self.spline.forward(&raw[..n_spline], u)
            };
            *v = out;
            log_det += ld;
        }
        log_det
    }

    #[inline]
    fn inverse_row<T: Real>(&self, raw: &[T], v: &[T], u: &mut [T]) -> T {
        let (n_params, n_circle, n_spline) = (Transformer::n_params(self), self.n_circle(), self.spline.n_params());
        let mut log_det = T::zero();
        for (((raw, &v), u), &angle) in raw.chunks_exact(n_params).zip(v).zip(u).zip(&self.angles) {
            let (out, ld) = if angle {
                self.circle.inverse(&raw[..n_circle], wrap_angle(v - raw[n_circle]))
            } else {
                self.spline.inverse(&raw[..n_spline], v)
            };
            *u = out;
            log_det += ld;
        }
        log_det
    }

    #[inline]
    fn backward_row<T: Real>(&self, cache: &[T], u: &[T], d_v: &[T], d_log_det: T, d_raw: &mut [T], d_u: &mut [T]) {
        let (n_params, n_circle, n_spline) = (Transformer::n_params(self), self.n_circle(), self.spline.n_params());
        for (((((raw, d_raw), &u), &g), d_u), &angle) in cache
            .chunks_exact(n_params)
            .zip(d_raw.chunks_exact_mut(n_params))
            .zip(u)
            .zip(d_v)
            .zip(d_u)
            .zip(&self.angles)
        {
            d_raw.fill(T::zero());
            *d_u = if angle {
                // wrap has slope 1 wherever it is differentiable: ∂v/∂h = ∂v/∂ρ = 1.
                d_raw[n_circle] = g;
                self.circle.backward(&raw[..n_circle], u, g, d_log_det, &mut d_raw[..n_circle])
            } else {
                self.spline.backward(&raw[..n_spline], u, g, d_log_det, &mut d_raw[..n_spline])
            };
        }
    }
}

/// Coupling on a torus × ℝ^m: v_a = u_a, v_b = [`TorusSpline`](u_b; net(features(u_a), ctx)),
/// where the conditioner sees each conditioning angle as (cos φ, sin φ)
/// ([`Coupling::with_angle_inputs`]), so it is continuous on the circle.
pub type TorusCoupling = Coupling<TorusSpline>;

impl TorusCoupling {
    /// K = `n_bins` bins; `periodic` flags, per coordinate of u (length `dim`), the angles.
    /// Conditioner MLP (n_cond + conditioning angles + ctx_dim) → hidden → (dim − n_cond)·(3K + 1).
    /// Starts at the identity after [`Coupling::init_params`].
    #[allow(clippy::too_many_arguments)]
    #[track_caller]
    pub fn new_torus(
        dim: usize,
        n_cond: usize,
        split: Split,
        ctx_dim: usize,
        hidden: &[usize],
        act: Activation,
        n_bins: usize,
        tail_bound: f64,
        periodic: &[bool],
    ) -> Self {
        assert_eq!(periodic.len(), dim, "TorusCoupling: one periodic flag per coordinate");
        let (a, b) = match split {
            Split::Lower => (0..n_cond, n_cond..dim),
            Split::Upper => (dim - n_cond..dim, 0..dim - n_cond),
        };
        let transformer = TorusSpline::new(n_bins, tail_bound, periodic[b].to_vec());
        Coupling::with_angle_inputs(dim, n_cond, split, ctx_dim, hidden, act, transformer, periodic[a].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::testing::{assert_all_close, numerical_gradient, FD_REL_TOL};
    use rand::{Rng as _, SeedableRng};
    use std::f64::consts::PI;

    /// inverse(forward(φ)) = φ on the circle to this tolerance, in f64.
    const ROUND_TRIP_TOL: f64 = 1e-10;
    /// ∫ exp(log dv/dφ) dφ over the circle = 2π to this relative tolerance: the midpoint rule's
    /// error on 20,000 cells, O(h²·|h'''|) with the slope's kinks at the knots, measured 1e-6
    /// for the most bent splines here.
    const MASS_TOL: f64 = 1e-5;

    fn random_raw(t: &TorusSpline, scale: f64, rng: &mut Rng) -> Vec<f64> {
        (0..t.angles.len() * Transformer::n_params(t)).map(|_| scale * (2.0 * rng.gen::<f64>() - 1.0)).collect()
    }

    /// Distance on the circle.
    fn circle_dist(a: f64, b: f64) -> f64 {
        let d = (a - b).rem_euclid(2.0 * PI);
        d.min(2.0 * PI - d)
    }

    #[test]
    fn wrap_lands_in_the_interval_and_keeps_the_angle() {
        for a in [-7.0, -PI, -3.0, 0.0, 3.1, PI, 9.5, 1e3] {
            let w = wrap_angle(a);
            assert!((-PI..=PI).contains(&w), "{a} → {w}");
            assert!(circle_dist(w, a) < 1e-12, "{a} → {w}");
        }
        assert_eq!(wrap_angle(PI), -PI);
    }

    #[test]
    fn zero_raw_parameters_give_the_identity() {
        let t = TorusSpline::new(8, 5.0, vec![true, false]);
        let mut raw = vec![0.0; 2 * Transformer::n_params(&t)];
        for u in [[-PI, -4.0], [-1.0, 0.3], [3.0, 7.0]] {
            let mut v = [0.0; 2];
            let ld = t.forward_row(&mut raw, &u, &mut v);
            assert!(ld.abs() < 1e-14 && (v[0] - wrap_angle(u[0])).abs() < 1e-14 && (v[1] - u[1]).abs() < 1e-14);
        }
    }

    #[test]
    fn circle_map_is_a_bijection_whose_density_integrates_to_one() {
        let mut rng = Rng::seed_from_u64(21);
        for n_bins in [1, 4, 8] {
            let t = TorusSpline::new(n_bins, 5.0, vec![true]);
            for scale in [0.5, 3.0] {
                let raw = random_raw(&t, scale, &mut rng);
                let n_grid = 20_000;
                let mut mass = 0.0;
                for i in 0..n_grid {
                    let u = -PI + 2.0 * PI * (i as f64 + 0.5) / n_grid as f64;
                    let (mut cache, mut v, mut back) = (raw.clone(), [0.0], [0.0]);
                    let ld = t.forward_row(&mut cache, &[u], &mut v);
                    let ld_inv = t.inverse_row(&raw, &v, &mut back);
                    assert!((-PI..PI).contains(&v[0]), "K={n_bins}: v={} out of [−π, π)", v[0]);
                    assert!(circle_dist(back[0], u) < ROUND_TRIP_TOL, "K={n_bins} u={u}: back {}", back[0]);
                    assert!((ld + ld_inv).abs() < ROUND_TRIP_TOL);
                    mass += ld.exp() * 2.0 * PI / n_grid as f64;
                }
                // A diffeomorphism of the circle covers it once: ∫ dv/dφ dφ = 2π.
                assert!((mass / (2.0 * PI) - 1.0).abs() < MASS_TOL, "K={n_bins} scale {scale}: {mass}");
            }
        }
    }

    #[test]
    fn slope_matches_on_both_sides_of_the_seam() {
        // The end slopes are one value: h'(−π⁺) = h'(π⁻), so the density is continuous at −π ≡ π.
        let mut rng = Rng::seed_from_u64(22);
        let t = TorusSpline::new(6, 5.0, vec![true]);
        let raw = random_raw(&t, 2.0, &mut rng);
        let ld_at = |u: f64| t.forward_row(&mut raw.clone(), &[u], &mut [0.0]);
        assert!((ld_at(-PI + 1e-9) - ld_at(PI - 1e-9)).abs() < 1e-6);
        let raw_other: Vec<f64> = raw.iter().map(|r| r + 0.3).collect();
        let ld_other = |u: f64| t.forward_row(&mut raw_other.clone(), &[u], &mut [0.0]);
        assert!((ld_other(-PI + 1e-9) - ld_other(PI - 1e-9)).abs() < 1e-6);
    }

    #[test]
    fn backward_matches_central_differences_for_angles_and_reals() {
        let mut rng = Rng::seed_from_u64(23);
        for n_bins in [1, 3, 8] {
            let t = TorusSpline::new(n_bins, 3.0, vec![true, false, true]);
            let n_params = Transformer::n_params(&t);
            for _ in 0..4 {
                let raw = random_raw(&t, 1.5, &mut rng);
                // Stay clear of the wrap's jump (the FD stencil must not cross v = ±π).
                let u: Vec<f64> = (0..3).map(|_| 2.9 * (2.0 * rng.gen::<f64>() - 1.0)).collect();
                let (g, gamma): (Vec<f64>, f64) =
                    ((0..3).map(|_| 2.0 * rng.gen::<f64>() - 1.0).collect(), 2.0 * rng.gen::<f64>() - 1.0);
                let loss = |x: &[f64]| {
                    let (u, raw) = x.split_at(3);
                    let mut v = [0.0; 3];
                    let ld = t.forward_row(&mut raw.to_vec(), u, &mut v);
                    v.iter().zip(&g).map(|(v, g)| v * g).sum::<f64>() + gamma * ld
                };
                let mut at = u.clone();
                at.extend_from_slice(&raw);
                let mut v = [0.0; 3];
                t.forward_row(&mut raw.clone(), &u, &mut v);
                if v.iter().any(|v| PI - v.abs() < 1e-4) {
                    continue;
                }
                let want = numerical_gradient(loss, &at);
                let (mut d_raw, mut d_u) = (vec![7.0; 3 * n_params], vec![7.0; 3]);
                t.backward_row(&raw, &u, &g, gamma, &mut d_raw, &mut d_u);
                let mut got = d_u.clone();
                got.extend_from_slice(&d_raw);
                assert_all_close(&format!("K={n_bins}"), &got, &want, FD_REL_TOL);
                // The two unused raw values of the real coordinate get no gradient.
                assert!(d_raw[2 * n_params - 2..2 * n_params].iter().all(|&d| d == 0.0));
            }
        }
    }
}
