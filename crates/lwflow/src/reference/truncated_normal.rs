//! Exact posterior that is a product of independent (possibly truncated) normals:
//!
//!   p(θ|x) = Π_k N(θ_k; μ_k, σ_k²) · 𝟙(a_k < θ_k < b_k) / Z_k,   Z_k = Φ(β_k) − Φ(α_k),
//!   α_k = (a_k − μ_k)/σ_k,  β_k = (b_k − μ_k)/σ_k,
//!
//! with a_k = −∞, b_k = +∞ allowed (then Z_k = 1: a plain Gaussian). This is the posterior of
//! `gaussian_linear` (Gaussian prior and noise, no truncation) and of `gaussian_linear_uniform`
//! (uniform box prior, Gaussian noise: the likelihood restricted to the box).
//!
//! Numerics: Φ(u) = ½ erfc(−u/√2) is accurate in the lower tail only, so an interval lying in
//! the upper tail (α_k ≥ 0) is reflected, (α, β) → (−β, −α), and everything is computed there:
//! log Z = log Φ(β) + log1p(−Φ(α)/Φ(β)). Sampling inverts the CDF, z = Φ⁻¹(Φ(α) + u·Z) with
//! u ~ U(0, 1) and Φ⁻¹(q) = −√2 erfc⁻¹(2q), and reflects back. The interval must keep some mass
//! in double precision (Φ(β) > 0 after reflection, i.e. β > −37): a truncation more than ~37 σ
//! away from μ is an error, not a silent zero.

use rand::Rng as _;

use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::reference::Reference;
use crate::rng::Rng;
use crate::special::{normal_cdf, normal_quantile, HALF_LOG_2PI};

/// One truncated normal N(μ, σ²) on (a, b), stored as its standardised interval in the lower
/// tail (reflected when α ≥ 0, see the module docs).
#[derive(Clone, Debug)]
struct Axis {
    mean: f64,
    std: f64,
    low: f64,
    high: f64,
    /// Whether the standardised interval was reflected to (−β, −α).
    reflected: bool,
    /// Φ of the (possibly reflected) standardised lower end.
    cdf_low: f64,
    /// Z = Φ(β) − Φ(α) of the (possibly reflected) interval.
    mass: f64,
    /// log Z.
    log_mass: f64,
}

impl Axis {
    fn new(k: usize, mean: f64, std: f64, low: f64, high: f64) -> Result<Self> {
        if !(mean.is_finite() && std.is_finite() && std > 0.0 && low < high) {
            return Err(Error::invalid(
                format!("truncated normal dimension {k}"),
                format!("mean {mean}, std {std} on ({low}, {high}): need finite mean, std > 0 and low < high"),
            ));
        }
        let (alpha, beta) = ((low - mean) / std, (high - mean) / std);
        let reflected = alpha >= 0.0;
        let (lo, hi) = if reflected { (-beta, -alpha) } else { (alpha, beta) };
        let (cdf_low, cdf_high) = (normal_cdf(lo), normal_cdf(hi));
        let mass = cdf_high - cdf_low;
        if !(cdf_high > 0.0 && mass > 0.0) {
            return Err(Error::invalid(
                format!("truncated normal dimension {k}"),
                format!("({low}, {high}) is more than ~37 std from the mean {mean}; its mass underflows"),
            ));
        }
        let log_mass = cdf_high.ln() + (-cdf_low / cdf_high).ln_1p();
        Ok(Self { mean, std, low, high, reflected, cdf_low, mass, log_mass })
    }

    fn log_density(&self, t: f64) -> f64 {
        if !(t > self.low && t < self.high) {
            return f64::NEG_INFINITY;
        }
        let z = (t - self.mean) / self.std;
        -0.5 * z * z - self.std.ln() - HALF_LOG_2PI - self.log_mass
    }

    fn sample(&self, rng: &mut Rng) -> f64 {
        let u: f64 = rng.gen();
        let z = normal_quantile(self.cdf_low + u * self.mass);
        let t = self.mean + self.std * if self.reflected { -z } else { z };
        // Rounding in Φ⁻¹ can land exactly on a bound; the open interval excludes it.
        t.clamp(self.low, self.high)
    }

    /// The mode: μ clamped to [a, b].
    fn mode(&self) -> f64 {
        self.mean.clamp(self.low, self.high)
    }
}

/// A product of independent truncated normals (see the module docs).
#[derive(Clone, Debug)]
pub struct TruncatedNormalPosterior {
    axes: Vec<Axis>,
}

impl TruncatedNormalPosterior {
    /// Π_k N(μ_k, σ_k²) on (low_k, high_k); infinite bounds are allowed. All slices have the
    /// same length ≥ 1.
    pub fn new(mean: &[f64], std: &[f64], low: &[f64], high: &[f64]) -> Result<Self> {
        let dim = mean.len();
        if dim == 0 {
            return Err(Error::invalid("truncated normal", "needs at least one dimension"));
        }
        for (what, len) in [("truncated normal std", std.len()), ("truncated normal low", low.len())] {
            if len != dim {
                return Err(Error::Shape { what, expected: dim, got: len });
            }
        }
        if high.len() != dim {
            return Err(Error::Shape { what: "truncated normal high", expected: dim, got: high.len() });
        }
        let axes = (0..dim).map(|k| Axis::new(k, mean[k], std[k], low[k], high[k])).collect::<Result<_>>()?;
        Ok(Self { axes })
    }

    /// A Gaussian N(μ, diag σ²) without truncation.
    pub fn gaussian(mean: &[f64], std: &[f64]) -> Result<Self> {
        let inf = vec![f64::INFINITY; mean.len()];
        let neg_inf = vec![f64::NEG_INFINITY; mean.len()];
        Self::new(mean, std, &neg_inf, &inf)
    }

    /// log Π_k Z_k: the log mass of the untruncated Gaussian inside the box.
    pub fn log_mass(&self) -> f64 {
        self.axes.iter().map(|a| a.log_mass).sum()
    }

    /// Mean and standard deviation of dimension k (closed form):
    /// E = μ + σ (φ(α) − φ(β))/Z, Var = σ² [1 + (α φ(α) − β φ(β))/Z − ((φ(α) − φ(β))/Z)²].
    pub fn moments(&self, k: usize) -> (f64, f64) {
        let a = &self.axes[k];
        let (alpha, beta) = ((a.low - a.mean) / a.std, (a.high - a.mean) / a.std);
        let phi = |u: f64| if u.is_finite() { (-0.5 * u * u - HALF_LOG_2PI).exp() } else { 0.0 };
        let u_phi = |u: f64| if u.is_finite() { u * phi(u) } else { 0.0 };
        let z = a.log_mass.exp();
        let d = (phi(alpha) - phi(beta)) / z;
        let var = 1.0 + (u_phi(alpha) - u_phi(beta)) / z - d * d;
        (a.mean + a.std * d, a.std * var.sqrt())
    }
}

impl Reference for TruncatedNormalPosterior {
    fn dim(&self) -> usize {
        self.axes.len()
    }

    fn log_density(&self, theta: &[f64]) -> f64 {
        self.axes.iter().zip(theta).map(|(a, &t)| a.log_density(t)).sum()
    }

    fn sample(&self, rng: &mut Rng, n_samples: usize) -> Mat<f64> {
        let mut out = Mat::zeros(n_samples, self.axes.len());
        for r in 0..n_samples {
            for (t, a) in out.row_mut(r).iter_mut().zip(&self.axes) {
                *t = a.sample(rng);
            }
        }
        out
    }

    /// One mode: μ clamped into the box.
    fn modes(&self) -> Option<Vec<Vec<f64>>> {
        Some(vec![self.axes.iter().map(Axis::mode).collect()])
    }

    fn max_log_density(&self) -> f64 {
        // The formula at the mode, which may sit on a bound that `log_density` excludes.
        self.axes
            .iter()
            .map(|a| {
                let z = (a.mode() - a.mean) / a.std;
                -0.5 * z * z - a.std.ln() - HALF_LOG_2PI - a.log_mass
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};

    /// Allowed deviation of a Monte Carlo estimate, in standard errors.
    const N_STD_ERRS: f64 = 4.0;

    /// ∫ exp(log p) over dimension k by the midpoint rule on (lo, hi), other coordinates fixed
    /// at `at`, divided by the density of the other coordinates: 1 for a normalised product.
    fn marginal_integral(p: &TruncatedNormalPosterior, at: &[f64], k: usize, lo: f64, hi: f64) -> f64 {
        let n_grid = 200_000;
        let h = (hi - lo) / n_grid as f64;
        let others: f64 = p.axes.iter().enumerate().filter(|&(j, _)| j != k).map(|(j, a)| a.log_density(at[j])).sum();
        let mut theta = at.to_vec();
        (0..n_grid)
            .map(|i| {
                theta[k] = lo + (i as f64 + 0.5) * h;
                (p.log_density(&theta) - others).exp() * h
            })
            .sum()
    }

    #[test]
    fn each_axis_integrates_to_one_inside_and_far_outside_the_box() {
        // Means inside, at a bound, and 6 and 20 std beyond the upper bound (reflected branch).
        let mean = [0.3, 1.0, 1.0 + 6.0 * 0.3, 1.0 + 20.0 * 0.3, -3.0];
        let p = TruncatedNormalPosterior::new(&mean, &[0.3; 5], &[-1.0; 5], &[1.0; 5]).expect("valid");
        let at = [0.0; 5];
        for k in 0..5 {
            let s = marginal_integral(&p, &at, k, -1.0, 1.0);
            assert!((s - 1.0).abs() < 1e-6, "dimension {k}: {s}");
        }
        let g = TruncatedNormalPosterior::gaussian(&[0.5, -0.2], &[0.2, 1.5]).expect("valid");
        let s = marginal_integral(&g, &[0.0, 0.0], 1, -15.0, 15.0);
        assert!((s - 1.0).abs() < 1e-9, "{s}");
    }

    #[test]
    fn sample_moments_match_the_closed_form() {
        let mean = [0.3, 1.0, 2.5, -0.7];
        let p = TruncatedNormalPosterior::new(&mean, &[0.3; 4], &[-1.0; 4], &[1.0; 4]).expect("valid");
        let n_samples = 100_000;
        let s = p.sample(&mut stream(5, Stream::Metric, 0, 0), n_samples);
        for k in 0..4 {
            let (m, sd) = p.moments(k);
            let col: Vec<f64> = (0..n_samples).map(|r| s.row(r)[k]).collect();
            assert!(col.iter().all(|&t| (-1.0..=1.0).contains(&t)), "dimension {k} leaves the box");
            let mean_hat = col.iter().sum::<f64>() / n_samples as f64;
            let var_hat = col.iter().map(|t| (t - mean_hat).powi(2)).sum::<f64>() / (n_samples - 1) as f64;
            assert!((mean_hat - m).abs() < N_STD_ERRS * sd / (n_samples as f64).sqrt(), "dim {k}: {mean_hat} vs {m}");
            // Loose bound on the variance: 4 std errors of a normal's sample variance, doubled
            // for the truncated shapes' kurtosis.
            let tol = 2.0 * N_STD_ERRS * sd * sd * (2.0 / n_samples as f64).sqrt();
            assert!((var_hat - sd * sd).abs() < tol, "dim {k}: {var_hat} vs {}", sd * sd);
        }
    }

    #[test]
    fn far_truncation_is_an_error_and_bad_shapes_are_typed() {
        assert!(TruncatedNormalPosterior::new(&[60.0], &[1.0], &[-1.0], &[1.0]).is_err());
        let msg = TruncatedNormalPosterior::new(&[0.0, 0.0], &[1.0], &[-1.0; 2], &[1.0; 2]).unwrap_err().to_string();
        assert!(msg.contains("std") && msg.contains("expected 2"), "{msg}");
    }
}
