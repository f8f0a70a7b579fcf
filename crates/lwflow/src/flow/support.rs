//! The fixed map from the prior's support to the standardised, unbounded space the coupling
//! layers work in.
//!
//! Per dimension k, with prior marginal π_k:
//! - U(a, b): y = logit((θ − a)/(b − a)), then u = y / (π/√3). The logit of a uniform draw is
//!   standard-logistic (mean 0, std π/√3), so u has unit variance under the prior.
//!   log|du/dθ| = −log p − log(1 − p) − log(b − a) − log(π/√3), p = (θ − a)/(b − a).
//! - N(m, s²): u = (θ − m)/s, log|du/dθ| = −log s.
//!
//! Because the flow lives on u ∈ ℝ^d and θ = support⁻¹(u) always lands strictly inside the box,
//! no probability mass leaks outside the prior's support. Runs in f64: the logit near the box
//! edges needs the precision, and it is applied once per batch, not per layer.

use crate::model::{Marginal, Prior};

/// std of the standard logistic distribution, π/√3.
const LOGISTIC_STD: f64 = 1.813_799_364_234_217_8;

/// The support bijection θ ↦ u of a prior (see the module docs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Support {
    marginals: Vec<Marginal>,
}

impl Support {
    pub fn new(prior: &Prior) -> Self {
        Self { marginals: prior.marginals().to_vec() }
    }

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
                    let p = (t - low) / (high - low);
                    if !(p > 0.0 && p < 1.0) {
                        *u = 0.0;
                        log_det = f64::NEG_INFINITY;
                        continue;
                    }
                    // logit via ln(p) − ln1p(−p) keeps precision when p is close to 0 or 1.
                    let (lp, l1mp) = (p.ln(), (-p).ln_1p());
                    *u = (lp - l1mp) / LOGISTIC_STD;
                    log_det += -lp - l1mp - (high - low).ln() - LOGISTIC_STD.ln();
                }
                Marginal::Normal { mean, std } => {
                    *u = (t - mean) / std;
                    log_det -= std.ln();
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
                    let y = u * LOGISTIC_STD;
                    // p = σ(y); log p = −softplus(−y), log(1 − p) = −softplus(y).
                    let p = crate::special::sigmoid(y);
                    *t = (low + (high - low) * p).clamp(low, high);
                    let lp = -crate::special::softplus(-y);
                    let l1mp = -crate::special::softplus(y);
                    log_det += lp + l1mp + (high - low).ln() + LOGISTIC_STD.ln();
                }
                Marginal::Normal { mean, std } => {
                    *t = mean + std * u;
                    log_det += std.ln();
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
    fn outside_support_has_zero_density() {
        let s = Support::new(&prior());
        let mut u = [0.0; 2];
        assert_eq!(s.forward(&[3.0, 0.0], &mut u), f64::NEG_INFINITY);
        assert_eq!(s.forward(&[-7.0, 0.0], &mut u), f64::NEG_INFINITY);
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
