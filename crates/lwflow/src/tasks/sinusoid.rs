//! `sinusoid`: the frequency and phase of a short noisy sine wave, a task with a periodic
//! parameter and an aliasing symmetry. θ = (f, φ), f ~ U(F_LOW, F_HIGH), φ ~ U(0, 2π) periodic
//! (0 ≡ 2π),
//!
//!   x_k = sin(2π f t_k + φ) + σ ε_k,  ε_k ~ N(0, 1),  t = (0, 1, …, 7, 7.5),  σ = [`NOISE`].
//!
//! At the integer times the pair (1 − f, π − φ) gives the same values as (f, φ):
//! sin(2π(1 − f)k + π − φ) = sin(π − (2πfk + φ)) = sin(2πfk + φ). So the posterior has a mirror
//! mode at (1 − f, π − φ) (the prior interval of f is symmetric about ½, so the mirror lies in
//! it), and only the half-integer sample t = 7.5, where the two differ in sign, weighs one mode
//! against the other: the mode shares change with x. When the true φ is near 0 (or π), one mode
//! straddles φ = 0 ≡ 2π: a flow that cuts the circle there sees it as two pieces at opposite
//! edges of its box. The phase is defined at t = 0 while the data's centre is t ≈ 3.7, so within
//! a mode f and φ are strongly correlated (φ − φ* ≈ −2π t̄ (f − f*)).
//!
//! Likelihood: Gaussian, log L = Σ_k log N(x_k; sin(2π f t_k + φ), σ²). Reference: the grid
//! posterior ([`grid_reference`]) with [`GRID_CELLS_PER_DIM`]² cells.
//!
//! [`Sinusoid::with_periodic_phase`]`(false)` is the same model with the phase declared an
//! ordinary bounded parameter: what a user without periodic parameters gets (docs/periodic.md).

use rand_distr::{Distribution, StandardNormal};

use crate::error::Result;
use crate::flow::BaseConfig;
use crate::model::{Marginal, Prior};
use crate::reference::{grid_reference, GridPosterior};
use crate::rng::Rng;
use crate::special::log_normal;
use crate::tasks::entry::{TaskEntry, TaskReference};
use crate::tasks::rows::{RowModel, RowShapes};

/// Lower end of the frequency prior.
pub const F_LOW: f64 = 0.05;
/// Upper end of the frequency prior (F_LOW + F_HIGH = 1: the alias 1 − f of f is inside).
pub const F_HIGH: f64 = 0.95;
/// Sampling times: eight integers, then one half-integer that tells the aliases apart.
pub const TIMES: [f64; 9] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 7.5];
/// Noise standard deviation σ.
pub const NOISE: f64 = 0.6;
/// Grid reference cells per dimension. A mode's sd is about 0.02 in f and 0.5 in φ (but the
/// two are correlated, so the grid must resolve the narrow direction, ≈ 0.02 in f): 1000²
/// cells give h = (0.0009, 0.0063), measured `cells_per_sd` ≥ 13 on the benchmark observations.
pub const GRID_CELLS_PER_DIM: usize = 1000;

const SHAPES: RowShapes =
    RowShapes { task: "sinusoid", x_what: "sinusoid x", theta_what: "sinusoid theta", x_dim: 9, theta_dim: 2 };

/// The catalogue entry: grid reference; a Gaussian base (measured against a mixture, below).
pub const ENTRY: TaskEntry = TaskEntry {
    name: "sinusoid",
    build: || Ok(Box::new(Sinusoid::new())),
    reference: TaskReference::Grid(|x| Ok(Box::new(Sinusoid::new().reference(x)?))),
    // A Gaussian base (with the periodic phase: uniform on the circle), although the aliasing gives
    // two modes. Measured at 4000 steps, 5 seam observations (`results/periodic/`): C2ST 0.629,
    // KL 0.377, bridge mass 0.10 against 0.757, 1.045, 0.35 with a two-component mixture base.
    base: BaseConfig::Gaussian,
    adjust: None,
    sign_symmetric: &[],
    sbibm: None,
};

/// The `sinusoid` task (module docs).
#[derive(Clone, Debug)]
pub struct Sinusoid {
    prior: Prior,
}

impl Sinusoid {
    /// f ~ U(F_LOW, F_HIGH), φ ~ U(0, 2π) periodic.
    pub fn new() -> Self {
        Self::with_periodic_phase(true)
    }

    /// The task with the phase declared periodic (`true`, the task) or an ordinary bounded
    /// parameter on (0, 2π) (`false`: same model, the flow cuts the circle at 0).
    pub fn with_periodic_phase(periodic: bool) -> Self {
        let marginals = vec![
            Marginal::Uniform { low: F_LOW, high: F_HIGH },
            Marginal::Uniform { low: 0.0, high: std::f64::consts::TAU },
        ];
        let prior = Prior::new(marginals)
            .and_then(|p| p.with_names(vec!["f".into(), "phi".into()]))
            .and_then(|p| p.with_periodic(vec![false, periodic]))
            .expect("valid uniform marginals, two names, the phase uniform");
        Self { prior }
    }

    /// The reference posterior at `x` (length 9): the normalised grid of [`GRID_CELLS_PER_DIM`]²
    /// cells.
    pub fn reference(&self, x: &[f64]) -> Result<GridPosterior> {
        grid_reference(self, x, Some(GRID_CELLS_PER_DIM))
    }
}

impl Default for Sinusoid {
    fn default() -> Self {
        Self::new()
    }
}

/// sin(2π f t + φ) at time `t`.
fn signal(theta: &[f64], t: f64) -> f64 {
    (std::f64::consts::TAU * theta[0] * t + theta[1]).sin()
}

impl RowModel for Sinusoid {
    const SHAPES: RowShapes = SHAPES;

    fn task_prior(&self) -> &Prior {
        &self.prior
    }

    fn row_log_likelihood(&self, x: &[f64], theta: &[f64]) -> f64 {
        x.iter().zip(TIMES).map(|(&x, t)| log_normal(x, signal(theta, t), NOISE)).sum()
    }

    fn row_simulate(&self, theta: &[f64], rng: &mut Rng, x: &mut [f64]) {
        for (x, t) in x.iter_mut().zip(TIMES) {
            let e: f64 = StandardNormal.sample(rng);
            *x = signal(theta, t) + NOISE * e;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;
    use crate::model::Model;
    use crate::reference::Reference;
    use crate::rng::{stream, Stream};
    use std::f64::consts::PI;

    fn log_lik(x: &[f64], theta: [f64; 2]) -> f64 {
        let mut out = [0.0];
        Sinusoid::new().log_likelihood_at(x, Mat::from_vec(1, 2, theta.to_vec()).as_ref(), &mut out).expect("shapes");
        out[0]
    }

    #[test]
    fn aliases_agree_at_integer_times_and_differ_at_the_half_step() {
        let theta = [0.3, 0.4];
        let alias = [1.0 - theta[0], PI - theta[1]];
        for &t in &TIMES[..8] {
            assert!((signal(&theta, t) - signal(&alias, t)).abs() < 1e-12, "t = {t}");
        }
        assert!((signal(&theta, 7.5) + signal(&alias, 7.5)).abs() < 1e-12);
        // A likelihood by hand: x = the signal itself gives 9 · log N(0; 0, σ²).
        let x: Vec<f64> = TIMES.iter().map(|&t| signal(&theta, t)).collect();
        let want = 9.0 * -(NOISE * (2.0 * PI).sqrt()).ln();
        assert!((log_lik(&x, theta) - want).abs() < 1e-12);
        // The phase is periodic: φ and φ + 2π are one point.
        assert!((log_lik(&x, [0.3, 0.4 + 2.0 * PI]) - want).abs() < 1e-9);
    }

    #[test]
    fn prior_flags_the_phase_periodic_only_in_the_task() {
        assert_eq!(Sinusoid::new().prior().periodic(), [false, true]);
        assert!(!Sinusoid::with_periodic_phase(false).prior().has_periodic());
        assert_eq!(Sinusoid::new().prior().names(), ["f", "phi"]);
    }

    #[test]
    fn grid_reference_has_a_mode_straddling_zero_for_a_phase_near_zero() {
        let task = Sinusoid::new();
        let theta = Mat::from_vec(1, 2, vec![0.3, 0.05]);
        let mut x = Mat::zeros(1, 9);
        task.simulate(theta.as_ref(), &mut stream(5, Stream::Simulate, 0, 0), x.as_mut()).expect("shapes");
        let grid = task.reference(x.row(0)).expect("grid");
        let samples = grid.sample(&mut stream(5, Stream::Metric, 0, 0), 20_000);
        // Mass on both sides of the seam φ = 0 ≡ 2π near f = 0.3.
        let near = |lo: f64, hi: f64| {
            (0..samples.rows())
                .filter(|&r| (samples.row(r)[0] - 0.3).abs() < 0.1 && (lo..hi).contains(&samples.row(r)[1]))
                .count() as f64
                / samples.rows() as f64
        };
        // The seam cuts the mode at f ≈ 0.3 (its alias at f ≈ 0.7, φ ≈ π holds most of the mass
        // for this x): a fair part of it lies on each side.
        let (low_side, high_side) = (near(0.0, 1.0), near(2.0 * PI - 1.0, 2.0 * PI));
        let split = high_side / (low_side + high_side);
        assert!(low_side + high_side > 0.02 && (0.1..0.9).contains(&split), "{low_side} {high_side}");
        let resolution = grid.cells_per_sd();
        assert!(resolution.iter().all(|&c| c > 5.0), "{resolution:?}");
    }
}
