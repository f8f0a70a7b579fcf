//! The square task: θ ~ U(−3, 3)^d, x = θ ⊙ θ + ε, ε ~ N(0, σ² I), σ = 0.1 by default.
//!
//! log L(x|θ) = Σ_k log N(x_k; θ_k², σ²) = Σ_k [−(x_k − θ_k²)² / (2σ²) − log σ − ½ log 2π].
//! Each x_k > 0 well above σ has two posterior modes θ_k ≈ ±√x_k, so the posterior has 2^d
//! disconnected modes of equal mass: the case where a unimodal-base flow leaves "bridges".

use rand_distr::{Distribution, StandardNormal};

mod posterior;

pub use posterior::SquarePosterior;

use crate::error::{Error, Result};
use crate::flow::{BaseConfig, FlowConfig};
use crate::mat::{MatMut, MatRef};
use crate::model::{Model, Prior};
use crate::rng::Rng;
use crate::special::log_normal;
use crate::tasks::entry::{TaskEntry, TaskReference};
use crate::train::TrainConfig;

/// The catalogue entry of `square2d`: [`Square`] in 2 dimensions with [`Square::DEFAULT_NOISE`].
pub const SQUARE2D: TaskEntry = TaskEntry {
    name: "square2d",
    build: || Ok(Box::new(Square::new(2, Square::DEFAULT_NOISE)?)),
    reference: TaskReference::Exact(|x| Ok(Box::new(Square::new(2, Square::DEFAULT_NOISE)?.reference(x)?))),
    // 2^d disconnected modes.
    base: BaseConfig::Gmm { components: 4 },
    adjust: None,
    sign_symmetric: &[],
    sbibm: None,
};

/// The catalogue entry of `square3d`: [`Square`] in 3 dimensions with [`Square::DEFAULT_NOISE`].
pub const SQUARE3D: TaskEntry = TaskEntry {
    name: "square3d",
    build: || Ok(Box::new(Square::new(3, Square::DEFAULT_NOISE)?)),
    reference: TaskReference::Exact(|x| Ok(Box::new(Square::new(3, Square::DEFAULT_NOISE)?.reference(x)?))),
    // 2^d disconnected modes, placed at (±√x_1, ±√x_2, ±√x_3): a conditional mixture puts its
    // components there from x (measured in `adjust_square3d`).
    base: BaseConfig::Cgmm { components: 8 },
    adjust: Some(adjust_square3d),
    sign_symmetric: &[],
    sbibm: None,
};

/// square3d's measured settings: 16000 steps and a reverse-KL weight λ = 5 with the conditional
/// mixture base; the automatic proposal is adaptive (pilot median ESS 2.0), untempered (8 modes).
///
/// On the benchmark's 5 observations (C2ST / KL(p‖q) / bridge mass against the exact posterior):
/// gmm at 4000 steps (the generic budget) 0.538 / 0.116 / 4.6 %; cgmm 0.517 / 0.061 / 2.2 %;
/// cgmm with λ = 5 0.513 / 0.049 / 1.6 %; cgmm at 16000 steps 0.510 / 0.021 / 1.3 %; both
/// 0.506 / 0.012 / 1.1 %. With gmm: 16000 steps 0.511, λ = 5 0.518, 64 draws per observation
/// 0.527, prior weights 0.617 (`results/benchmark/square3d/variants.md`).
pub fn adjust_square3d(_flow: &mut FlowConfig, train: &mut TrainConfig) {
    train.steps = 16_000;
    train.reverse_kl = 5.0;
}

/// The square task in `dim` dimensions with observation noise `noise` (σ).
#[derive(Clone, Debug)]
pub struct Square {
    dim: usize,
    noise: f64,
    prior: Prior,
}

impl Square {
    /// Lower bound of the uniform prior on every θ_k.
    pub const LOW: f64 = -3.0;
    /// Upper bound of the uniform prior on every θ_k.
    pub const HIGH: f64 = 3.0;
    /// σ of the named tasks `square2d` / `square3d`.
    pub const DEFAULT_NOISE: f64 = 0.1;

    /// The task with θ ∈ (−3, 3)^dim and noise σ = `noise` (finite, > 0).
    pub fn new(dim: usize, noise: f64) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid("square task dim", "need at least one dimension"));
        }
        if !(noise.is_finite() && noise > 0.0) {
            return Err(Error::invalid("square task noise", format!("{noise}: need finite σ > 0")));
        }
        Ok(Self { dim, noise, prior: Prior::uniform_box(dim, Self::LOW, Self::HIGH)? })
    }

    /// Dimension d of θ and of x.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Noise standard deviation σ of x = θ² + N(0, σ² I).
    pub fn noise(&self) -> f64 {
        self.noise
    }

    /// The exact posterior p(θ | x) for one observation `x` (length `dim`).
    pub fn reference(&self, x: &[f64]) -> Result<SquarePosterior> {
        if x.len() != self.dim {
            return Err(Error::Shape { what: "square task observation x", expected: self.dim, got: x.len() });
        }
        SquarePosterior::new(x, self.noise, Self::LOW, Self::HIGH)
    }

    /// Σ_k log N(0; 0, σ²): the normalising constant of one row's likelihood, hoisted out of
    /// the hot loop (training evaluates J·N pairs per step).
    fn log_norm(&self) -> f64 {
        self.dim as f64 * log_normal(0.0, 0.0, self.noise)
    }

    /// Σ_k log N(x_k; θ_k², σ²) given `log_norm` = [`Square::log_norm`].
    #[inline]
    fn row_log_likelihood(&self, x: &[f64], theta: &[f64], log_norm: f64) -> f64 {
        let inv = 1.0 / self.noise;
        let sq: f64 = x.iter().zip(theta).map(|(&xk, &tk)| ((xk - tk * tk) * inv).powi(2)).sum();
        log_norm - 0.5 * sq
    }

    fn check_cols(&self, what: &'static str, got: usize) -> Result<()> {
        if got == self.dim {
            Ok(())
        } else {
            Err(Error::Shape { what, expected: self.dim, got })
        }
    }
}

impl Model for Square {
    /// `square{dim}d`, with `(noise=σ)` appended when σ is not the default.
    fn name(&self) -> String {
        if self.noise == Self::DEFAULT_NOISE {
            format!("square{}d", self.dim)
        } else {
            format!("square{}d(noise={})", self.dim, self.noise)
        }
    }

    fn theta_dim(&self) -> usize {
        self.dim
    }

    fn x_dim(&self) -> usize {
        self.dim
    }

    fn prior(&self) -> &Prior {
        &self.prior
    }

    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        self.check_cols("square log_likelihood x", x.cols())?;
        self.check_cols("square log_likelihood theta", theta.cols())?;
        if x.rows() != theta.rows() || out.len() != theta.rows() {
            return Err(Error::invalid(
                "square log_likelihood rows",
                format!("x has {}, theta {}, out {}; need all equal", x.rows(), theta.rows(), out.len()),
            ));
        }
        let log_norm = self.log_norm();
        for (r, o) in out.iter_mut().enumerate() {
            *o = self.row_log_likelihood(x.row(r), theta.row(r), log_norm);
        }
        Ok(())
    }

    fn log_likelihood_at(&self, x: &[f64], theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        self.check_cols("square log_likelihood x", x.len())?;
        self.check_cols("square log_likelihood theta", theta.cols())?;
        let log_norm = self.log_norm();
        for (r, o) in out.iter_mut().enumerate().take(theta.rows()) {
            *o = self.row_log_likelihood(x, theta.row(r), log_norm);
        }
        Ok(())
    }

    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, mut x: MatMut<f64>) -> Result<()> {
        self.check_cols("square simulate theta", theta.cols())?;
        self.check_cols("square simulate x", x.cols())?;
        if x.rows() != theta.rows() {
            return Err(Error::invalid(
                "square simulate rows",
                format!("theta has {}, x {}; need equal", theta.rows(), x.rows()),
            ));
        }
        for r in 0..theta.rows() {
            for (xk, &tk) in x.row_mut(r).iter_mut().zip(theta.row(r)) {
                let eps: f64 = StandardNormal.sample(rng);
                *xk = tk * tk + self.noise * eps;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;
    use crate::rng::{stream, Stream};

    /// Allowed deviation of a Monte Carlo estimate, in standard errors.
    const N_STD_ERRS: f64 = 4.0;

    #[test]
    fn log_likelihood_matches_closed_form() {
        let task = Square::new(2, 0.1).expect("valid");
        let theta = Mat::from_vec(2, 2, vec![1.0, -2.0, 0.5, 0.0]);
        let x = Mat::from_vec(2, 2, vec![1.1, 3.9, 0.2, -0.1]);
        let mut out = [0.0; 2];
        task.log_likelihood(x.as_ref(), theta.as_ref(), &mut out).expect("shapes match");
        let c = -(0.1f64).ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
        let want0 = 2.0 * c - 0.5 * (0.1f64 / 0.1).powi(2) - 0.5 * (0.1f64 / 0.1).powi(2);
        let want1 = 2.0 * c - 0.5 * (0.05f64 / 0.1).powi(2) - 0.5 * (0.1f64 / 0.1).powi(2);
        assert!((out[0] - want0).abs() < 1e-12 && (out[1] - want1).abs() < 1e-12, "{out:?}");
    }

    #[test]
    fn likelihood_integrates_to_one_over_x() {
        let task = Square::new(2, 0.1).expect("valid");
        let theta = [1.3, -0.4];
        let (n_grid, lo, hi) = (800, -1.0, 3.0);
        let h = (hi - lo) / n_grid as f64;
        let mut x = Mat::zeros(n_grid * n_grid, 2);
        for i in 0..n_grid {
            for j in 0..n_grid {
                x.row_mut(i * n_grid + j).copy_from_slice(&[lo + (i as f64 + 0.5) * h, lo + (j as f64 + 0.5) * h]);
            }
        }
        let theta = Mat::from_fn(n_grid * n_grid, 2, |_, c| theta[c]);
        let mut out = vec![0.0; n_grid * n_grid];
        task.log_likelihood(x.as_ref(), theta.as_ref(), &mut out).expect("shapes match");
        let total: f64 = out.iter().map(|l| l.exp() * h * h).sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
    }

    #[test]
    fn simulated_noise_has_mean_zero_and_std_sigma() {
        let task = Square::new(3, 0.1).expect("valid");
        let n_draws = 20_000;
        let theta = Mat::from_fn(n_draws, 3, |_, c| [0.5, -1.5, 2.0][c]);
        let mut x = Mat::zeros(n_draws, 3);
        task.simulate(theta.as_ref(), &mut stream(3, Stream::Simulate, 0, 0), x.as_mut()).expect("shapes match");
        for (c, t) in [0.5f64, -1.5, 2.0].into_iter().enumerate() {
            let eps: Vec<f64> = (0..n_draws).map(|r| x.row(r)[c] - t * t).collect();
            let mean = eps.iter().sum::<f64>() / n_draws as f64;
            let var = eps.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n_draws - 1) as f64;
            assert!(mean.abs() < N_STD_ERRS * 0.1 / (n_draws as f64).sqrt(), "dim {c}: mean {mean}");
            // std err of the sample variance of a normal: σ² √(2 / (n − 1)).
            assert!((var - 0.01).abs() < N_STD_ERRS * 0.01 * (2.0 / n_draws as f64).sqrt(), "dim {c}: var {var}");
        }
    }

    #[test]
    fn wrong_shapes_are_errors_naming_the_argument() {
        let task = Square::new(2, 0.1).expect("valid");
        let theta = Mat::zeros(3, 3);
        let x = Mat::zeros(3, 2);
        let mut out = [0.0; 3];
        let msg = task.log_likelihood(x.as_ref(), theta.as_ref(), &mut out).unwrap_err().to_string();
        assert!(msg.contains("theta") && msg.contains("expected 2"), "{msg}");
        assert!(Square::new(2, 0.0).is_err() && Square::new(0, 0.1).is_err());
    }
}
