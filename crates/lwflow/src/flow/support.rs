//! The fixed map from the prior's support to the standardised, unbounded space the coupling
//! layers work in.
//!
//! Per dimension k, with prior marginal π_k:
//! - U(a, b): u = Φ⁻¹(p), p = (θ − a)/(b − a) (the probit). A uniform prior maps to exactly
//!   N(0, 1), the flow's base at initialisation. log|du/dθ| = −log φ(u) − log(b − a)
//!   = u²/2 + ½ log 2π − log(b − a).
//! - N(m, s²): u = (θ − m)/s, log|du/dθ| = −log s.
//! - LogNormal(m, s²): u = (log θ − m)/s, log|du/dθ| = −log s − log θ; a log-normal prior maps
//!   to exactly N(0, 1), like a uniform one.
//!
//! Why the probit and not the logit: posteriors that pile up against a bound of the box (in
//! `square2d`, x ≈ 9 puts θ against ±3) have, in u-space, the tail of the map's density. The
//! logit gives them exponential tails in u, which affine couplings on a Gaussian base cannot
//! follow: measured, a single such observation reached log q ≈ −2000 and dominated the
//! validation loss. The probit gives Gaussian tails, which they can.
//!
//! Because the flow lives on u ∈ ℝ^d and θ = support⁻¹(u) always lands strictly inside the box,
//! no probability mass leaks outside the prior's support. Runs in f64: near the box edges the
//! map needs the precision (the distance to the nearer edge is used, never 1 − p), and it is
//! applied once per batch, not per layer.

use crate::model::{Marginal, Prior};
use crate::special::{normal_cdf, normal_quantile, HALF_LOG_2PI};

/// The support bijection θ ↦ u of a prior (see the module docs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Support {
    marginals: Vec<Marginal>,
}

impl Support {
    /// The bijection of `prior`'s support: probit of the CDF for uniform marginals,
    /// standardisation for normal ones.
    pub fn new(prior: &Prior) -> Self {
        Self { marginals: prior.marginals().to_vec() }
    }

    /// Dimension of θ.
    pub fn dim(&self) -> usize {
        self.marginals.len()
    }

    /// u = f(θ) for one row; returns log|det ∂u/∂θ|, or −inf (with u unspecified) when θ is
    /// outside the support.
    pub fn forward(&self, theta: &[f64], u: &mut [f64]) -> f64 {
        let mut log_det = 0.0;
        for ((m, &t), u) in self.marginals.iter().zip(theta).zip(u.iter_mut()) {
            match *m {
                Marginal::Uniform { low, high } => {
                    let (lo, hi) = ((t - low) / (high - low), (high - t) / (high - low));
                    if !(lo > 0.0 && hi > 0.0) {
                        *u = 0.0;
                        log_det = f64::NEG_INFINITY;
                        continue;
                    }
                    // Use the smaller tail mass so the edge nearest θ keeps full precision.
                    *u = if lo <= hi { normal_quantile(lo) } else { -normal_quantile(hi) };
                    log_det += 0.5 * *u * *u + HALF_LOG_2PI - (high - low).ln();
                }
                Marginal::Normal { mean, std } => {
                    *u = (t - mean) / std;
                    log_det -= std.ln();
                }
                Marginal::LogNormal { log_mean, log_std } => {
                    if t.is_nan() || t <= 0.0 {
                        *u = 0.0;
                        log_det = f64::NEG_INFINITY;
                        continue;
                    }
                    let log_t = t.ln();
                    *u = (log_t - log_mean) / log_std;
                    log_det -= log_std.ln() + log_t;
                }
            }
        }
        log_det
    }

    /// θ = f⁻¹(u) for one row; returns log|det ∂θ/∂u| (= −forward's).
    pub fn inverse(&self, u: &[f64], theta: &mut [f64]) -> f64 {
        let mut log_det = 0.0;
        for ((m, &u), t) in self.marginals.iter().zip(u).zip(theta.iter_mut()) {
            match *m {
                Marginal::Uniform { low, high } => {
                    // From the nearer edge: θ = a + (b − a)Φ(u) for u ≤ 0, b − (b − a)Φ(−u) above.
                    let w = high - low;
                    *t = if u <= 0.0 { low + w * normal_cdf(u) } else { high - w * normal_cdf(-u) };
                    *t = t.clamp(low, high);
                    log_det -= 0.5 * u * u + HALF_LOG_2PI - w.ln();
                }
                Marginal::Normal { mean, std } => {
                    *t = mean + std * u;
                    log_det += std.ln();
                }
                Marginal::LogNormal { log_mean, log_std } => {
                    let log_t = log_mean + log_std * u;
                    *t = log_t.exp();
                    log_det += log_std.ln() + log_t;
                }
            }
        }
        log_det
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prior() -> Prior {
        Prior::new(vec![Marginal::Uniform { low: -3.0, high: 3.0 }, Marginal::Normal { mean: 1.0, std: 0.5 }]).unwrap()
    }

    fn log_normal_prior() -> Prior {
        Prior::new(vec![Marginal::LogNormal { log_mean: -0.5, log_std: 0.4 }]).unwrap()
    }

    #[test]
    fn round_trip_and_log_dets_cancel() {
        let s = Support::new(&prior());
        for theta in [[-2.9999, 0.0], [0.3, 1.7], [2.5, -3.0]] {
            let mut u = [0.0; 2];
            let mut back = [0.0; 2];
            let f = s.forward(&theta, &mut u);
            let b = s.inverse(&u, &mut back);
            assert!((f + b).abs() < 1e-9, "{f} + {b}");
            for k in 0..2 {
                assert!((back[k] - theta[k]).abs() < 1e-9 * (1.0 + theta[k].abs()));
            }
        }
    }

    #[test]
    fn log_det_matches_numerical_derivative() {
        let s = Support::new(&prior());
        let theta = [1.2, 0.4];
        let mut u = [0.0; 2];
        let ld = s.forward(&theta, &mut u);
        let h = 1e-6;
        let mut num = 0.0;
        for k in 0..2 {
            let (mut tp, mut tm) = (theta, theta);
            tp[k] += h;
            tm[k] -= h;
            let (mut up, mut um) = ([0.0; 2], [0.0; 2]);
            s.forward(&tp, &mut up);
            s.forward(&tm, &mut um);
            num += ((up[k] - um[k]) / (2.0 * h)).ln();
        }
        assert!((ld - num).abs() < 1e-7, "{ld} vs {num}");
    }

    #[test]
    fn log_normal_maps_to_the_standard_normal_with_the_density_ratio_as_log_det() {
        // u = (log θ − μ)/σ carries π to φ: π(θ) = φ(u)·|du/dθ|.
        let (s, prior) = (Support::new(&log_normal_prior()), log_normal_prior());
        for theta in [1e-3, 0.2, 0.6065, 4.0] {
            let (mut u, mut back) = ([0.0], [0.0]);
            let f = s.forward(&[theta], &mut u);
            assert!((u[0] - (theta.ln() + 0.5) / 0.4).abs() < 1e-12);
            let want = prior.log_density(&[theta]) - crate::special::log_normal(u[0], 0.0, 1.0);
            assert!((f - want).abs() < 1e-12, "{f} vs {want}");
            let b = s.inverse(&u, &mut back);
            assert!((f + b).abs() < 1e-12 && (back[0] / theta - 1.0).abs() < 1e-12);
        }
        let mut u = [0.0];
        assert_eq!(s.forward(&[0.0], &mut u), f64::NEG_INFINITY);
        assert_eq!(s.forward(&[-1.0], &mut u), f64::NEG_INFINITY);
    }

    #[test]
    fn outside_support_has_zero_density() {
        let s = Support::new(&prior());
        let mut u = [0.0; 2];
        assert_eq!(s.forward(&[3.0, 0.0], &mut u), f64::NEG_INFINITY);
        assert_eq!(s.forward(&[-7.0, 0.0], &mut u), f64::NEG_INFINITY);
    }

    #[test]
    fn probit_is_accurate_in_both_tails() {
        // Φ(−8.2) ≈ 1.2e−16: the round trip keeps relative precision of the edge distance.
        let s = Support::new(&Prior::uniform_box(1, -3.0, 3.0).unwrap());
        for eps in [1e-3, 1e-9, 1e-14] {
            for t in [3.0 - eps, -3.0 + eps] {
                let (mut u, mut back) = ([0.0], [0.0]);
                s.forward(&[t], &mut u);
                s.inverse(&u, &mut back);
                let edge = 3.0 - t.abs();
                assert!(((3.0 - back[0].abs()) - edge).abs() < 1e-6 * edge, "t={t} back={}", back[0]);
            }
        }
        let mut u = [0.0];
        s.forward(&[0.0], &mut u);
        assert!(u[0].abs() < 1e-15);
        s.forward(&[-3.0 + 6.0 * 0.975], &mut u);
        assert!((u[0] - 1.959_963_984_540_054).abs() < 1e-12, "{}", u[0]);
    }

    #[test]
    fn uniform_prior_maps_to_unit_variance() {
        let s = Support::new(&Prior::uniform_box(1, -3.0, 3.0).unwrap());
        let n = 200_000;
        let mut u = [0.0];
        let var: f64 = (0..n)
            .map(|i| {
                s.forward(&[-3.0 + 6.0 * (i as f64 + 0.5) / n as f64], &mut u);
                u[0] * u[0]
            })
            .sum::<f64>()
            / n as f64;
        assert!((var - 1.0).abs() < 2e-3, "{var}");
    }
}
