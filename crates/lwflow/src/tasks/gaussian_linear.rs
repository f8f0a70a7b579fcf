//! sbibm `gaussian_linear` (Lueckmann et al. 2021, arXiv:2101.04653; sbibm
//! `sbibm/tasks/gaussian_linear/task.py`): θ ~ N(0, 0.1 I₁₀), x | θ ~ N(θ, 0.1 I₁₀).
//!
//! In sbibm both 0.1 are **variances**: the task passes `precision_matrix = inverse(0.1 · I)` to
//! the prior and to the simulator (its docstring calls them standard deviations; the code
//! decides). So the standard deviations are √0.1 ≈ 0.316.
//!
//! log L(x|θ) = Σ_k log N(x_k; θ_k, v),  v = 0.1.
//!
//! Posterior (conjugate, per dimension): precision 1/v₀ + 1/v = 20, so
//! p(θ|x) = N(x · v₀/(v₀ + v), v₀v/(v₀ + v) I) = N(x/2, 0.05 I) — sbibm's
//! `_get_reference_posterior` with N = 1. Exact reference: [`TruncatedNormalPosterior::gaussian`].
//!
//! sbibm's task has a `dim` argument (10 by default); [`GaussianLinear::with_dim`] is the same
//! model in any dimension, for measuring how training scales with θ's dimension
//! ([`crate::experiment::theta_scaling`]). Only the 10-dimensional one is the built-in task.

use rand_distr::{Distribution, StandardNormal};

use crate::error::Result;
use crate::flow::BaseConfig;
use crate::model::{Marginal, Prior};
use crate::reference::TruncatedNormalPosterior;
use crate::rng::Rng;
use crate::special::log_normal;
use crate::tasks::entry::{Published, TaskEntry, TaskReference};
use crate::tasks::rows::{RowModel, RowShapes};

/// Dimension of θ and x.
pub const DIM: usize = 10;
/// Prior variance v₀ of every θ_k.
pub const PRIOR_VARIANCE: f64 = 0.1;
/// Noise variance v of every x_k.
pub const NOISE_VARIANCE: f64 = 0.1;

const SHAPES: RowShapes = RowShapes {
    task: "gaussian_linear",
    x_what: "gaussian_linear x",
    theta_what: "gaussian_linear theta",
    x_dim: DIM,
    theta_dim: DIM,
};

/// Σ_k log N(x_k; θ_k, v): the likelihood `gaussian_linear` and `gaussian_linear_uniform` share.
pub(crate) fn isotropic_log_likelihood(x: &[f64], theta: &[f64], noise_std: f64) -> f64 {
    let inv = 1.0 / noise_std;
    let sq: f64 = x.iter().zip(theta).map(|(&xk, &tk)| ((xk - tk) * inv).powi(2)).sum();
    x.len() as f64 * log_normal(0.0, 0.0, noise_std) - 0.5 * sq
}

/// x_k = θ_k + σ ε_k, ε_k ~ N(0, 1).
pub(crate) fn isotropic_simulate(theta: &[f64], rng: &mut Rng, x: &mut [f64], noise_std: f64) {
    for (xk, &tk) in x.iter_mut().zip(theta) {
        let eps: f64 = StandardNormal.sample(rng);
        *xk = tk + noise_std * eps;
    }
}

/// The catalogue entry of `gaussian_linear` ([`crate::tasks::CATALOG`]).
pub const ENTRY: TaskEntry = TaskEntry {
    name: "gaussian_linear",
    build: || Ok(Box::new(GaussianLinear::new())),
    reference: TaskReference::Exact(|x| Ok(Box::new(GaussianLinear::new().reference(x)?))),
    // Unimodal, near-Gaussian.
    base: BaseConfig::Gaussian,
    adjust: None,
    sign_symmetric: &[],
    sbibm: Some(Published { npe: [None, None, Some(0.506)], best: [None, None, None] }),
};

/// The `gaussian_linear` task (see the module docs).
#[derive(Clone, Debug)]
pub struct GaussianLinear {
    prior: Prior,
}

impl GaussianLinear {
    /// sbibm's task: θ ~ N(0, 0.1 I₁₀), x ~ N(θ, 0.1 I₁₀).
    pub fn new() -> Self {
        Self::with_dim(DIM).expect("10 is a valid dimension")
    }

    /// The same model with θ, x ∈ ℝ^dim (named `gaussian_linear_dim{dim}` unless dim = 10, since
    /// only the 10-dimensional one is the built-in task); errors for dim = 0.
    pub fn with_dim(dim: usize) -> Result<Self> {
        let marginal = Marginal::Normal { mean: 0.0, std: PRIOR_VARIANCE.sqrt() };
        Ok(Self { prior: Prior::new(vec![marginal; dim])? })
    }

    /// The exact posterior N(x v₀/(v₀ + v), v₀v/(v₀ + v) I) for one observation `x`.
    pub fn reference(&self, x: &[f64]) -> Result<TruncatedNormalPosterior> {
        let dim = self.prior.dim();
        if x.len() != dim {
            return Err(crate::Error::Shape { what: "gaussian_linear observation x", expected: dim, got: x.len() });
        }
        let shrink = PRIOR_VARIANCE / (PRIOR_VARIANCE + NOISE_VARIANCE);
        let mean: Vec<f64> = x.iter().map(|&xk| shrink * xk).collect();
        let std = (shrink * NOISE_VARIANCE).sqrt();
        TruncatedNormalPosterior::gaussian(&mean, &vec![std; dim])
    }
}

impl Default for GaussianLinear {
    fn default() -> Self {
        Self::new()
    }
}

impl RowModel for GaussianLinear {
    const SHAPES: RowShapes = SHAPES;

    fn shapes(&self) -> RowShapes {
        let dim = self.prior.dim();
        RowShapes { x_dim: dim, theta_dim: dim, ..SHAPES }
    }

    fn task_name(&self) -> String {
        match self.prior.dim() {
            DIM => SHAPES.task.into(),
            dim => format!("{}_dim{dim}", SHAPES.task),
        }
    }

    fn task_prior(&self) -> &Prior {
        &self.prior
    }

    fn row_log_likelihood(&self, x: &[f64], theta: &[f64]) -> f64 {
        isotropic_log_likelihood(x, theta, NOISE_VARIANCE.sqrt())
    }

    fn row_simulate(&self, theta: &[f64], rng: &mut Rng, x: &mut [f64]) {
        isotropic_simulate(theta, rng, x, NOISE_VARIANCE.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;
    use crate::model::Model;
    use crate::reference::Reference;
    use crate::rng::{stream, Stream};

    /// Allowed deviation of a Monte Carlo estimate, in standard errors.
    const N_STD_ERRS: f64 = 4.0;

    #[test]
    fn log_likelihood_matches_the_gaussian_formula() {
        let task = GaussianLinear::new();
        let theta: Vec<f64> = (0..DIM).map(|k| 0.1 * k as f64 - 0.4).collect();
        let x: Vec<f64> = (0..DIM).map(|k| 0.05 * k as f64).collect();
        let mut out = [0.0];
        task.log_likelihood_at(&x, Mat::from_vec(1, DIM, theta.clone()).as_ref(), &mut out).expect("shapes");
        // log N(x; θ, 0.1 I) = −5 log(2π · 0.1) − Σ (x − θ)² / (2 · 0.1).
        let sq: f64 = x.iter().zip(&theta).map(|(a, b)| (a - b) * (a - b)).sum();
        let want = -5.0 * (2.0 * std::f64::consts::PI * 0.1).ln() - sq / 0.2;
        assert!((out[0] - want).abs() < 1e-12, "{} vs {want}", out[0]);
        let mut pair = [0.0];
        let xm = Mat::from_vec(1, DIM, x);
        task.log_likelihood(xm.as_ref(), Mat::from_vec(1, DIM, theta).as_ref(), &mut pair).expect("shapes");
        assert_eq!(pair[0], out[0]);
    }

    #[test]
    fn posterior_is_n_half_x_and_variance_0_05() {
        let x: Vec<f64> = (0..DIM).map(|k| k as f64 * 0.1 - 0.3).collect();
        let p = GaussianLinear::new().reference(&x).expect("valid x");
        for (k, xk) in x.iter().enumerate() {
            let (m, sd) = p.moments(k);
            assert!((m - 0.5 * xk).abs() < 1e-15 && (sd * sd - 0.05).abs() < 1e-15, "dim {k}: {m} {sd}");
        }
        // Posterior ∝ prior × likelihood, checked at two θ (the ratio cancels the evidence).
        let task = GaussianLinear::new();
        let (a, b) = (vec![0.1; DIM], vec![-0.2; DIM]);
        let mut ll = [0.0; 2];
        task.log_likelihood_at(&x, Mat::from_vec(2, DIM, [a.clone(), b.clone()].concat()).as_ref(), &mut ll)
            .expect("shapes");
        let unnorm = |t: &[f64], l: f64| task.prior().log_density(t) + l;
        let want = unnorm(&a, ll[0]) - unnorm(&b, ll[1]);
        assert!((p.log_density(&a) - p.log_density(&b) - want).abs() < 1e-10);
    }

    #[test]
    fn simulated_pairs_regress_with_slope_one_half_and_residual_variance_0_05() {
        // E[θ_k | x_k] = x_k/2 and Var[θ_k | x_k] = 0.05: the least-squares fit of θ_k on x_k
        // over joint draws (θ, x) recovers the reference posterior from simulations alone.
        let task = GaussianLinear::new();
        let n_draws = 200_000;
        let mut theta = Mat::zeros(n_draws, DIM);
        task.prior().sample(&mut stream(1, Stream::Theta, 0, 0), theta.as_mut());
        let mut x = Mat::zeros(n_draws, DIM);
        task.simulate(theta.as_ref(), &mut stream(1, Stream::Simulate, 0, 0), x.as_mut()).expect("shapes");
        let (mut sxx, mut sxt) = (0.0, 0.0);
        for r in 0..n_draws {
            sxx += x.row(r)[0] * x.row(r)[0];
            sxt += x.row(r)[0] * theta.row(r)[0];
        }
        let slope = sxt / sxx;
        let resid = (0..n_draws).map(|r| (theta.row(r)[0] - slope * x.row(r)[0]).powi(2)).sum::<f64>() / n_draws as f64;
        // std err of the slope: √(0.05 / Σx²).
        assert!((slope - 0.5).abs() < N_STD_ERRS * (0.05 / sxx).sqrt(), "{slope}");
        assert!((resid - 0.05).abs() < N_STD_ERRS * 0.05 * (2.0 / n_draws as f64).sqrt(), "{resid}");
        let mut ll = vec![0.0; n_draws];
        task.log_likelihood(x.as_ref(), theta.as_ref(), &mut ll).expect("shapes");
        assert!(ll.iter().all(|l| l.is_finite()));
    }

    #[test]
    fn wrong_shapes_are_typed_errors() {
        let task = GaussianLinear::new();
        let msg =
            task.log_likelihood_at(&[0.0; 9], Mat::zeros(2, DIM).as_ref(), &mut [0.0; 2]).unwrap_err().to_string();
        assert!(msg.contains("gaussian_linear x") && msg.contains("expected 10"), "{msg}");
        let msg = task.simulate(
            Mat::zeros(2, 3).as_ref(),
            &mut stream(0, Stream::Simulate, 0, 0),
            Mat::zeros(2, DIM).as_mut(),
        );
        assert!(msg.unwrap_err().to_string().contains("theta"));
        assert!(task.reference(&[0.0; 3]).is_err());
    }

    #[test]
    fn any_dimension_is_the_same_model_with_its_own_name() {
        let task = GaussianLinear::with_dim(3).expect("valid dimension");
        assert_eq!((task.theta_dim(), task.x_dim(), task.name().as_str()), (3, 3, "gaussian_linear_dim3"));
        assert_eq!(GaussianLinear::new().name(), "gaussian_linear");
        // Its likelihood is the 10-dimensional one's on the first three coordinates.
        let (x, theta) = ([0.3, -0.1, 0.2], [0.1, 0.0, -0.2]);
        let mut small = [0.0];
        task.log_likelihood_at(&x, Mat::from_vec(1, 3, theta.to_vec()).as_ref(), &mut small).expect("shapes");
        assert!((small[0] - isotropic_log_likelihood(&x, &theta, NOISE_VARIANCE.sqrt())).abs() < 1e-15);
        let p = task.reference(&x).expect("valid x");
        assert_eq!(p.dim(), 3);
        assert!((p.moments(1).0 + 0.05).abs() < 1e-15);
        let msg = task.log_likelihood_at(&[0.0; 10], Mat::zeros(1, 3).as_ref(), &mut [0.0]).unwrap_err().to_string();
        assert!(msg.contains("expected 3"), "{msg}");
        assert!(GaussianLinear::with_dim(0).is_err());
    }
}
