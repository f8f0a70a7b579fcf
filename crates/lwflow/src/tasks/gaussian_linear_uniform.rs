//! sbibm `gaussian_linear_uniform` (Lueckmann et al. 2021, arXiv:2101.04653; sbibm
//! `sbibm/tasks/gaussian_linear_uniform/task.py`): θ ~ U(−1, 1)¹⁰, x | θ ~ N(θ, 0.1 I₁₀).
//!
//! As in `gaussian_linear`, 0.1 is the noise **variance** (sbibm passes
//! `precision_matrix = inverse(0.1 · I)`), so the noise sd is √0.1 ≈ 0.316.
//!
//! log L(x|θ) = Σ_k log N(x_k; θ_k, 0.1).
//!
//! Posterior: the uniform prior only truncates, and N(x_k; θ_k, v) = N(θ_k; x_k, v), so
//! p(θ|x) = Π_k N(θ_k; x_k, v) 1[−1 < θ_k < 1] / Z_k, Z_k = Φ((1 − x_k)/√v) − Φ((−1 − x_k)/√v):
//! independent truncated normals (sbibm samples it by rejection from N(x, v I); we evaluate it
//! and sample it exactly by inverse CDF, [`TruncatedNormalPosterior`]).

use crate::error::{Error, Result};
use crate::flow::BaseConfig;
use crate::model::Prior;
use crate::reference::TruncatedNormalPosterior;
use crate::rng::Rng;
use crate::tasks::entry::{Published, TaskEntry, TaskReference};
use crate::tasks::gaussian_linear::{isotropic_log_likelihood, isotropic_simulate};
use crate::tasks::rows::{RowModel, RowShapes};

/// Dimension of θ and x.
pub const DIM: usize = 10;
/// Prior bound: θ_k ~ U(−BOUND, BOUND).
pub const BOUND: f64 = 1.0;
/// Noise variance of every x_k.
pub const NOISE_VARIANCE: f64 = 0.1;

const SHAPES: RowShapes = RowShapes {
    task: "gaussian_linear_uniform",
    x_what: "gaussian_linear_uniform x",
    theta_what: "gaussian_linear_uniform theta",
    x_dim: DIM,
    theta_dim: DIM,
};

/// The catalogue entry of `gaussian_linear_uniform` ([`crate::tasks::CATALOG`]).
pub const ENTRY: TaskEntry = TaskEntry {
    name: "gaussian_linear_uniform",
    build: || Ok(Box::new(GaussianLinearUniform::new())),
    reference: TaskReference::Exact(|x| Ok(Box::new(GaussianLinearUniform::new().reference(x)?))),
    // Unimodal, near-Gaussian.
    base: BaseConfig::Gaussian,
    adjust: None,
    sign_symmetric: &[],
    sbibm: Some(Published { npe: [None, None, None], best: [None, None, Some((0.506, "NLE"))] }),
};

/// The `gaussian_linear_uniform` task (see the module docs).
#[derive(Clone, Debug)]
pub struct GaussianLinearUniform {
    prior: Prior,
}

impl GaussianLinearUniform {
    /// sbibm's task: θ ~ U(−1, 1)¹⁰, x ~ N(θ, 0.1 I₁₀).
    pub fn new() -> Self {
        Self { prior: Prior::uniform_box(DIM, -BOUND, BOUND).expect("U(−1, 1) is a valid marginal") }
    }

    /// The exact posterior (independent truncated normals) for one observation `x`.
    pub fn reference(&self, x: &[f64]) -> Result<TruncatedNormalPosterior> {
        if x.len() != DIM {
            return Err(Error::Shape { what: "gaussian_linear_uniform observation x", expected: DIM, got: x.len() });
        }
        TruncatedNormalPosterior::new(x, &[NOISE_VARIANCE.sqrt(); DIM], &[-BOUND; DIM], &[BOUND; DIM])
    }
}

impl Default for GaussianLinearUniform {
    fn default() -> Self {
        Self::new()
    }
}

impl RowModel for GaussianLinearUniform {
    const SHAPES: RowShapes = SHAPES;

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
        let task = GaussianLinearUniform::new();
        let theta = vec![0.5; DIM];
        let x = vec![0.2; DIM];
        let mut out = [0.0];
        task.log_likelihood_at(&x, Mat::from_vec(1, DIM, theta).as_ref(), &mut out).expect("shapes");
        let want = -5.0 * (2.0 * std::f64::consts::PI * 0.1).ln() - 10.0 * 0.09 / 0.2;
        assert!((out[0] - want).abs() < 1e-12, "{} vs {want}", out[0]);
    }

    #[test]
    fn reference_is_prior_times_likelihood_normalised() {
        let task = GaussianLinearUniform::new();
        let x: Vec<f64> = (0..DIM).map(|k| -1.5 + 0.3 * k as f64).collect();
        let p = task.reference(&x).expect("valid x");
        // Ratios at two interior θ equal the unnormalised posterior's.
        let (a, b) = (vec![0.3; DIM], vec![-0.6; DIM]);
        let mut ll = [0.0; 2];
        task.log_likelihood_at(&x, Mat::from_vec(2, DIM, [a.clone(), b.clone()].concat()).as_ref(), &mut ll)
            .expect("shapes");
        assert!((p.log_density(&a) - p.log_density(&b) - (ll[0] - ll[1])).abs() < 1e-10);
        assert_eq!(p.log_density(&[1.2; DIM]), f64::NEG_INFINITY);
        // Normaliser: log Z_k by the midpoint rule over (−1, 1), per dimension.
        let n_grid = 100_000;
        let h = 2.0 / n_grid as f64;
        let mut log_z_sum = 0.0;
        for &xk in &x {
            let z: f64 = (0..n_grid)
                .map(|i| {
                    let t = -1.0 + (i as f64 + 0.5) * h;
                    (-(t - xk) * (t - xk) / 0.2).exp() / (2.0 * std::f64::consts::PI * 0.1).sqrt() * h
                })
                .sum();
            log_z_sum += z.ln();
        }
        // log p(a|x) = log L(x|a) − Σ log Z_k.
        assert!(
            (p.log_density(&a) - (ll[0] - log_z_sum)).abs() < 1e-8,
            "{} vs {}",
            p.log_density(&a),
            ll[0] - log_z_sum
        );
    }

    #[test]
    fn reference_marginal_agrees_with_rejection_on_simulations() {
        // Dimensions are independent in prior and likelihood, so θ₀ | x₀ is the posterior
        // marginal: keep joint draws with |x₀ − x_obs| < WINDOW and compare the kept θ₀'s mean
        // with the reference's.
        const WINDOW: f64 = 0.01;
        let task = GaussianLinearUniform::new();
        let x_obs = 0.8;
        let p = task.reference(&[x_obs; DIM]).expect("valid x");
        let (mean, sd) = p.moments(0);
        let n_draws = 1_000_000;
        let mut theta = Mat::zeros(n_draws, DIM);
        task.prior().sample(&mut stream(2, Stream::Theta, 0, 0), theta.as_mut());
        let mut x = Mat::zeros(n_draws, DIM);
        task.simulate(theta.as_ref(), &mut stream(2, Stream::Simulate, 0, 0), x.as_mut()).expect("shapes");
        let kept: Vec<f64> =
            (0..n_draws).filter(|&r| (x.row(r)[0] - x_obs).abs() < WINDOW).map(|r| theta.row(r)[0]).collect();
        assert!(kept.len() > 3000, "{}", kept.len());
        let kept_mean = kept.iter().sum::<f64>() / kept.len() as f64;
        // The window adds bias O(WINDOW²), far below the standard error.
        assert!((kept_mean - mean).abs() < N_STD_ERRS * sd / (kept.len() as f64).sqrt(), "{kept_mean} vs {mean}");
    }
}
