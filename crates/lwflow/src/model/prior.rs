//! Priors with independent marginals: uniform on an interval or normal.

use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Error, Result};
use crate::mat::{MatMut, MatRef};
use crate::rng::Rng;

/// One dimension of a factorised prior.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Marginal {
    /// U(low, high).
    Uniform { low: f64, high: f64 },
    /// N(mean, std²).
    Normal { mean: f64, std: f64 },
}

/// A prior π(θ) = Π_k π_k(θ_k).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prior {
    marginals: Vec<Marginal>,
}

impl Marginal {
    fn validate(&self, k: usize) -> Result<()> {
        let ok = match *self {
            Marginal::Uniform { low, high } => low.is_finite() && high.is_finite() && low < high,
            Marginal::Normal { mean, std } => mean.is_finite() && std.is_finite() && std > 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(
                format!("prior dimension {k}"),
                format!("{self:?}: need finite low < high, or finite mean and std > 0"),
            ))
        }
    }

    /// log π_k(t); −inf outside the support.
    pub fn log_density(&self, t: f64) -> f64 {
        match *self {
            Marginal::Uniform { low, high } => {
                if t > low && t < high {
                    -(high - low).ln()
                } else {
                    f64::NEG_INFINITY
                }
            }
            Marginal::Normal { mean, std } => {
                let z = (t - mean) / std;
                -0.5 * z * z - std.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
            }
        }
    }

    /// One draw.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        match *self {
            Marginal::Uniform { low, high } => rng.gen_range(low..high),
            Marginal::Normal { mean, std } => {
                let z: f64 = StandardNormal.sample(rng);
                mean + std * z
            }
        }
    }

    /// (low, high) of a bounded support, `None` for an unbounded one.
    pub fn bounds(&self) -> Option<(f64, f64)> {
        match *self {
            Marginal::Uniform { low, high } => Some((low, high)),
            Marginal::Normal { .. } => None,
        }
    }

    /// Mean and standard deviation.
    pub fn moments(&self) -> (f64, f64) {
        match *self {
            Marginal::Uniform { low, high } => (0.5 * (low + high), (high - low) / 12f64.sqrt()),
            Marginal::Normal { mean, std } => (mean, std),
        }
    }
}

impl Prior {
    /// A prior from its marginals; each is validated.
    pub fn new(marginals: Vec<Marginal>) -> Result<Self> {
        if marginals.is_empty() {
            return Err(Error::invalid("prior", "needs at least one dimension"));
        }
        for (k, m) in marginals.iter().enumerate() {
            m.validate(k)?;
        }
        Ok(Self { marginals })
    }

    /// U(low, high)^dim.
    pub fn uniform_box(dim: usize, low: f64, high: f64) -> Result<Self> {
        Self::new(vec![Marginal::Uniform { low, high }; dim])
    }

    pub fn dim(&self) -> usize {
        self.marginals.len()
    }

    pub fn marginals(&self) -> &[Marginal] {
        &self.marginals
    }

    /// log π(θ) of one row.
    pub fn log_density(&self, theta: &[f64]) -> f64 {
        self.marginals.iter().zip(theta).map(|(m, &t)| m.log_density(t)).sum()
    }

    /// log π(θ_r) for every row.
    pub fn log_density_rows(&self, theta: MatRef<f64>, out: &mut [f64]) {
        for (r, o) in out.iter_mut().enumerate().take(theta.rows()) {
            *o = self.log_density(theta.row(r));
        }
    }

    /// Fills every row of `theta` with a prior draw.
    pub fn sample(&self, rng: &mut Rng, mut theta: MatMut<f64>) {
        for r in 0..theta.rows() {
            for (t, m) in theta.row_mut(r).iter_mut().zip(&self.marginals) {
                *t = m.sample(rng);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_density_integrates_to_one() {
        let m = Marginal::Uniform { low: -3.0, high: 3.0 };
        let n = 10_000;
        let h = 8.0 / n as f64;
        let s: f64 = (0..n).map(|i| m.log_density(-4.0 + (i as f64 + 0.5) * h).exp() * h).sum();
        assert!((s - 1.0).abs() < 1e-3, "{s}");
    }

    #[test]
    fn normal_density_integrates_to_one() {
        let m = Marginal::Normal { mean: 1.0, std: 0.5 };
        let n = 10_000;
        let h = 10.0 / n as f64;
        let s: f64 = (0..n).map(|i| m.log_density(-4.0 + (i as f64 + 0.5) * h).exp() * h).sum();
        assert!((s - 1.0).abs() < 1e-9, "{s}");
    }

    #[test]
    fn invalid_marginal_is_rejected_with_its_dimension() {
        let e = Prior::new(vec![Marginal::Uniform { low: 0.0, high: 1.0 }, Marginal::Uniform { low: 1.0, high: 1.0 }]);
        assert!(e.unwrap_err().to_string().contains("prior dimension 1"));
    }
}
