//! sbibm `gaussian_mixture` (Lueckmann et al. 2021, arXiv:2101.04653; sbibm
//! `sbibm/tasks/gaussian_mixture/task.py`; after Sisson et al. 2007): θ ~ U(−10, 10)²,
//!
//!   x | θ ~ ½ N(θ, I) + ½ N(θ, 0.01 I)   (x ∈ ℝ², component sds 1 and 0.1),
//!
//! log L(x|θ) = log_sum_exp(log ½ + log N(x; θ, I), log ½ + log N(x; θ, 0.01 I)).
//!
//! Difference from sbibm's code: sbibm's simulator draws **one** mixture index per call and uses
//! it for the whole batch of θ rows; here each row draws its own, which is the model as written
//! (one simulation is distributed identically either way; only joint batches differ).
//!
//! Exact posterior: N(x; θ, s² I) = N(θ; x, s² I), so with the box B = (−10, 10)²
//!
//!   p(θ|x) = Σ_c w_c · N_B(θ; x, s_c² I),  w_c ∝ ½ Z_c,  Z_c = Π_k [Φ((10 − x_k)/s_c) − Φ((−10 − x_k)/s_c)],
//!
//! N_B the normal truncated to B: a two-component mixture of [`TruncatedNormalPosterior`]s
//! ([`GaussianMixturePosterior`]), evaluated and sampled exactly (sbibm samples it by rejection).

use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Error, Result};
use crate::flow::BaseConfig;
use crate::mat::Mat;
use crate::model::Prior;
use crate::reference::{Reference, TruncatedNormalPosterior};
use crate::rng::Rng;
use crate::special::log_normal;
use crate::special::log_sum_exp;
use crate::tasks::defaults::DEFAULT_COMPONENTS;
use crate::tasks::entry::{Published, TaskEntry, TaskReference};
use crate::tasks::rows::{RowModel, RowShapes};

/// Prior bound: θ_k ~ U(−BOUND, BOUND).
pub const BOUND: f64 = 10.0;
/// Component standard deviations (sbibm `mixture_scales`).
pub const SCALES: [f64; 2] = [1.0, 0.1];
/// Component weights (sbibm `mixture_weights`).
pub const WEIGHTS: [f64; 2] = [0.5, 0.5];

const SHAPES: RowShapes = RowShapes {
    task: "gaussian_mixture",
    x_what: "gaussian_mixture x",
    theta_what: "gaussian_mixture theta",
    x_dim: 2,
    theta_dim: 2,
};

/// log L(x|θ) for one row (module docs).
fn log_likelihood_row(x: &[f64], theta: &[f64]) -> f64 {
    let component =
        |c: usize| WEIGHTS[c].ln() + x.iter().zip(theta).map(|(&xk, &tk)| log_normal(xk, tk, SCALES[c])).sum::<f64>();
    log_sum_exp(&[component(0), component(1)])
}

/// The catalogue entry of `gaussian_mixture` ([`crate::tasks::CATALOG`]).
pub const ENTRY: TaskEntry = TaskEntry {
    name: "gaussian_mixture",
    build: || Ok(Box::new(GaussianMixture::new())),
    reference: TaskReference::Exact(|x| Ok(Box::new(GaussianMixture::new().reference(x)?))),
    // Unimodal but a scale mixture: the generic default kept.
    base: BaseConfig::Gmm { components: DEFAULT_COMPONENTS },
    adjust: None,
    sign_symmetric: &[],
    sbibm: Some(Published {
        npe: [Some(0.731), Some(0.661), Some(0.548)],
        best: [Some((0.697, "SNPE")), Some((0.583, "SNPE")), Some((0.533, "SNPE"))],
    }),
};

/// The `gaussian_mixture` task (see the module docs).
#[derive(Clone, Debug)]
pub struct GaussianMixture {
    prior: Prior,
}

impl GaussianMixture {
    /// sbibm's task: θ ~ U(−10, 10)², x ~ ½ N(θ, I) + ½ N(θ, 0.01 I).
    pub fn new() -> Self {
        Self { prior: Prior::uniform_box(2, -BOUND, BOUND).expect("U(−10, 10) is a valid marginal") }
    }

    /// The exact posterior for one observation `x` (module docs).
    pub fn reference(&self, x: &[f64]) -> Result<GaussianMixturePosterior> {
        if x.len() != 2 {
            return Err(Error::Shape { what: "gaussian_mixture observation x", expected: 2, got: x.len() });
        }
        let component = |c: usize| TruncatedNormalPosterior::new(x, &[SCALES[c]; 2], &[-BOUND; 2], &[BOUND; 2]);
        let components = [component(0)?, component(1)?];
        let log_w: Vec<f64> = (0..2).map(|c| WEIGHTS[c].ln() + components[c].log_mass()).collect();
        let log_total = log_sum_exp(&log_w);
        let log_weights = [log_w[0] - log_total, log_w[1] - log_total];
        Ok(GaussianMixturePosterior { components, log_weights })
    }
}

impl Default for GaussianMixture {
    fn default() -> Self {
        Self::new()
    }
}

impl RowModel for GaussianMixture {
    const SHAPES: RowShapes = SHAPES;

    fn task_prior(&self) -> &Prior {
        &self.prior
    }

    fn row_log_likelihood(&self, x: &[f64], theta: &[f64]) -> f64 {
        log_likelihood_row(x, theta)
    }

    fn row_simulate(&self, theta: &[f64], rng: &mut Rng, x: &mut [f64]) {
        let c = usize::from(rng.gen::<f64>() >= WEIGHTS[0]);
        for (xk, &tk) in x.iter_mut().zip(theta) {
            let eps: f64 = StandardNormal.sample(rng);
            *xk = tk + SCALES[c] * eps;
        }
    }
}

/// Exact `gaussian_mixture` posterior: two truncated normals centred at x (module docs).
#[derive(Clone, Debug)]
pub struct GaussianMixturePosterior {
    components: [TruncatedNormalPosterior; 2],
    /// Normalised log w_c.
    log_weights: [f64; 2],
}

impl GaussianMixturePosterior {
    /// Posterior weight of the broad (sd 1) and the narrow (sd 0.1) component.
    pub fn weights(&self) -> [f64; 2] {
        self.log_weights.map(f64::exp)
    }
}

impl Reference for GaussianMixturePosterior {
    fn dim(&self) -> usize {
        2
    }

    fn log_density(&self, theta: &[f64]) -> f64 {
        let terms = [0, 1].map(|c| self.log_weights[c] + self.components[c].log_density(theta));
        log_sum_exp(&terms)
    }

    fn sample(&self, rng: &mut Rng, n_samples: usize) -> Mat<f64> {
        let mut out = Mat::zeros(n_samples, 2);
        let w_broad = self.log_weights[0].exp();
        for r in 0..n_samples {
            let c = usize::from(rng.gen::<f64>() >= w_broad);
            out.row_mut(r).copy_from_slice(self.components[c].sample(rng, 1).row(0));
        }
        out
    }

    /// One mode: both components peak at x clamped into the box.
    fn modes(&self) -> Option<Vec<Vec<f64>>> {
        self.components[1].modes()
    }

    fn max_log_density(&self) -> f64 {
        // Both components share their argmax, so the mixture's max is the weighted sum of maxima.
        let terms = [0, 1].map(|c| self.log_weights[c] + self.components[c].max_log_density());
        log_sum_exp(&terms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::reference::grid_reference;
    use crate::rng::{stream, Stream};

    /// Allowed deviation of a Monte Carlo estimate, in standard errors.
    const N_STD_ERRS: f64 = 4.0;

    #[test]
    fn log_likelihood_matches_the_mixture_formula() {
        let (x, theta) = ([1.0, -2.0], [1.05, -1.9]);
        let mut out = [0.0];
        GaussianMixture::new()
            .log_likelihood_at(&x, Mat::from_vec(1, 2, theta.to_vec()).as_ref(), &mut out)
            .expect("shapes");
        let d2 = 0.05f64 * 0.05 + 0.1 * 0.1;
        let two_pi = 2.0 * std::f64::consts::PI;
        let want = (0.5 * (-d2 / 2.0).exp() / two_pi + 0.5 * (-d2 / 0.02).exp() / (two_pi * 0.01)).ln();
        assert!((out[0] - want).abs() < 1e-12, "{} vs {want}", out[0]);
    }

    #[test]
    fn likelihood_integrates_to_one_over_x() {
        let theta = [3.0, -1.0];
        let (n_grid, half) = (1200, 6.0);
        let h = 2.0 * half / n_grid as f64;
        let x = Mat::from_fn(n_grid * n_grid, 2, |r, c| {
            let i = if c == 0 { r / n_grid } else { r % n_grid };
            theta[c] - half + (i as f64 + 0.5) * h
        });
        let th = Mat::from_fn(x.rows(), 2, |_, c| theta[c]);
        let mut out = vec![0.0; x.rows()];
        GaussianMixture::new().log_likelihood(x.as_ref(), th.as_ref(), &mut out).expect("shapes");
        let total: f64 = out.iter().map(|l| l.exp() * h * h).sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
    }

    #[test]
    fn simulations_put_half_their_mass_in_the_narrow_component() {
        // P(|x − θ|∞ < 0.3) = ½ (2Φ(0.3) − 1)² + ½ (2Φ(3) − 1)², from the mixture formula.
        let task = GaussianMixture::new();
        let n_draws = 200_000;
        let th = Mat::from_fn(n_draws, 2, |_, c| [2.0, -4.0][c]);
        let mut x = Mat::zeros(n_draws, 2);
        task.simulate(th.as_ref(), &mut stream(4, Stream::Simulate, 0, 0), x.as_mut()).expect("shapes");
        let inside =
            (0..n_draws).filter(|&r| (x.row(r)[0] - 2.0).abs() < 0.3 && (x.row(r)[1] + 4.0).abs() < 0.3).count();
        let box_mass = |s: f64| (1.0 - statrs::function::erf::erfc(0.3 / s / std::f64::consts::SQRT_2)).powi(2);
        let want = 0.5 * box_mass(1.0) + 0.5 * box_mass(0.1);
        let got = inside as f64 / n_draws as f64;
        assert!((got - want).abs() < N_STD_ERRS * (want * (1.0 - want) / n_draws as f64).sqrt(), "{got} vs {want}");
    }

    #[test]
    fn exact_reference_is_normalised_and_matches_a_fine_grid() {
        let task = GaussianMixture::new();
        // Near the box edge, so the truncation changes the weights.
        let x = [9.5, -3.0];
        let p = task.reference(&x).expect("valid x");
        let w = p.weights();
        assert!(w[0] < 0.5 && w[1] > 0.5, "{w:?}");
        let grid = grid_reference(&task, &x, Some(2000)).expect("2-D bounded");
        // Grid log densities at cell centres equal the exact ones up to the midpoint rule's
        // normalisation error; summed against the grid's mass this is KL(grid ‖ exact).
        let h = grid.cell_widths()[0];
        let mut kl = 0.0;
        for (c, &g) in grid.cell_log_densities().iter().enumerate() {
            if g == f64::NEG_INFINITY {
                continue;
            }
            let t = [-BOUND + ((c / 2000) as f64 + 0.5) * h, -BOUND + ((c % 2000) as f64 + 0.5) * h];
            kl += g.exp() * h * h * (g - p.log_density(&t));
        }
        assert!(kl.abs() < 1e-3, "KL(grid ‖ exact) = {kl}");
        // Exact samples: the narrow share within 0.3 of x matches the weights.
        let n_samples = 100_000;
        let s = p.sample(&mut stream(6, Stream::Metric, 0, 0), n_samples);
        assert!((0..n_samples).all(|r| s.row(r).iter().all(|t| t.abs() < BOUND)));
        let mean0 = (0..n_samples).map(|r| s.row(r)[0]).sum::<f64>() / n_samples as f64;
        let want0 = w[0]
            * TruncatedNormalPosterior::new(&[9.5], &[1.0], &[-BOUND], &[BOUND]).expect("valid").moments(0).0
            + w[1] * TruncatedNormalPosterior::new(&[9.5], &[0.1], &[-BOUND], &[BOUND]).expect("valid").moments(0).0;
        assert!((mean0 - want0).abs() < N_STD_ERRS * 0.7 / (n_samples as f64).sqrt(), "{mean0} vs {want0}");
        assert!(p.max_log_density() >= p.log_density(&[9.5, -3.0]) - 1e-12);
    }
}
