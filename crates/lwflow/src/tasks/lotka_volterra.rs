//! sbibm `lotka_volterra` (Lueckmann et al. 2021, arXiv:2101.04653; sbibm
//! `sbibm/tasks/lotka_volterra/task.py`): predator–prey dynamics, θ = (α, β, γ, δ), x = 20
//! log-normal observations of the two populations.
//!
//! # Simulator
//!
//! With prey u₁(0) = 30 and predators u₂(0) = 1:
//!
//!   du₁/dt = α u₁ − β u₁ u₂,  du₂/dt = −γ u₂ + δ u₁ u₂,
//!
//! and at t_k = 2.1 k, k = 0..9 (sbibm saves every 0.1 on [0, 20] and keeps every 21st),
//! x = (u₁(t_0..9), u₂(t_0..9)) (prey first) with x_j ~ LogNormal(log clamp(u_j, 10⁻¹⁰, 10⁴), 0.1²)
//! independently. We solve log u, d log u₁/dt = α − β u₂, d log u₂/dt = −γ + δ u₁: the noise
//! lives on log u, and the populations pass through values many orders of magnitude below 1,
//! where an absolute tolerance on u would lose all relative precision. The tolerances
//! ([`TOLERANCES`]) are far tighter than the Julia defaults sbibm's `diffeqtorch` uses.
//!
//! # Prior and likelihood
//!
//! α, γ ~ LogNormal(−0.125, 0.5²), β, δ ~ LogNormal(−3, 0.5²), independent. With
//! m_j = log clamp(u_j, 10⁻¹⁰, 10⁴) and σ = 0.1,
//!
//!   log L(x|θ) = Σ_j [−log x_j − log σ − ½ log 2π − (log x_j − m_j)² / (2σ²)],
//!
//! defined for x_j > 0. One ODE solve gives every m_j of a θ; during training it serves all the
//! observations paired with that θ ([`TrajectoryCache`]). A θ whose solve fails (more than
//! [`Tolerances::max_steps`] steps) has L = 0.
//!
//! # Reference
//!
//! SMC, validated against sbibm's reference samples (`results/sbibm-references/`).

use rand_distr::{Distribution, StandardNormal};

use crate::error::{Error, Result};
use crate::flow::BaseConfig;
use crate::mat::{MatMut, MatRef};
use crate::model::{Marginal, Model, Prior};
use crate::ode::{solve_at, Tolerances, TrajectoryCache};
use crate::rng::Rng;
use crate::special::HALF_LOG_2PI;
use crate::tasks::entry::{Published, TaskEntry, TaskReference};
use crate::tasks::rows::RowShapes;

/// Observation times per species.
pub const N_TIMES: usize = 10;
/// Time between observations.
pub const TIME_STEP: f64 = 2.1;
/// Length of x: both species at every time.
pub const X_DIM: usize = 2 * N_TIMES;
/// Initial (prey, predator) populations.
pub const INITIAL: [f64; 2] = [30.0, 1.0];
/// Standard deviation σ of the log-normal noise.
pub const NOISE_STD: f64 = 0.1;
/// sbibm clamps the populations to [LOW, HIGH] before taking the log.
pub const CLAMP: (f64, f64) = (1e-10, 1e4);
/// Solver tolerances (on log u).
pub const TOLERANCES: Tolerances = Tolerances { rtol: 1e-6, atol: 1e-6, max_steps: 100_000 };

const SHAPES: RowShapes = RowShapes {
    task: "lotka_volterra",
    x_what: "lotka_volterra x",
    theta_what: "lotka_volterra theta",
    x_dim: X_DIM,
    theta_dim: 4,
};

/// The catalogue entry of `lotka_volterra` ([`crate::tasks::CATALOG`]).
pub const ENTRY: TaskEntry = TaskEntry {
    name: "lotka_volterra",
    build: || Ok(Box::new(LotkaVolterra::new())),
    reference: TaskReference::Smc,
    base: BaseConfig::Gaussian,
    adjust: None,
    sign_symmetric: &[],
    sbibm: Some(Published { npe: [None, None, Some(0.981)], best: [None, None, Some((0.695, "SNLE"))] }),
};

/// m_j = log clamp(u_j, 10⁻¹⁰, 10⁴) in x's order.
type Trajectory = [f64; X_DIM];

/// The `lotka_volterra` task (see the module docs).
#[derive(Clone, Debug)]
pub struct LotkaVolterra {
    prior: Prior,
    cache: TrajectoryCache<X_DIM>,
}

impl LotkaVolterra {
    /// sbibm's task.
    pub fn new() -> Self {
        let (a, b) = (
            Marginal::LogNormal { log_mean: -0.125, log_std: 0.5 },
            Marginal::LogNormal { log_mean: -3.0, log_std: 0.5 },
        );
        Self {
            prior: Prior::new(vec![a, b, a, b]).expect("valid log-normal marginals"),
            cache: TrajectoryCache::default(),
        }
    }

    /// The log-normal means m_j (x's order), or `None` when the solve fails.
    pub fn log_means(theta: &[f64]) -> Option<Trajectory> {
        let (alpha, beta, gamma, delta) = (theta[0], theta[1], theta[2], theta[3]);
        let rhs = |_: f64, y: &[f64; 2], dy: &mut [f64; 2]| {
            let (prey, predators) = (y[0].exp(), y[1].exp());
            *dy = [alpha - beta * predators, -gamma + delta * prey];
        };
        let times: [f64; N_TIMES] = std::array::from_fn(|k| TIME_STEP * k as f64);
        let mut states = [[0.0; 2]; N_TIMES];
        solve_at(rhs, 0.0, INITIAL.map(f64::ln), &times, &TOLERANCES, &mut states).ok()?;
        let (low, high) = (CLAMP.0.ln(), CLAMP.1.ln());
        Some(std::array::from_fn(|j| states[j % N_TIMES][j / N_TIMES].clamp(low, high)))
    }

    /// Checks x_j > 0 (the log-normal's support); returns Σ_j (−log x_j) and the log x_j.
    fn log_x(x: &[f64]) -> Result<(f64, [f64; X_DIM])> {
        if let Some(j) = x.iter().position(|v| !(*v > 0.0 && v.is_finite())) {
            return Err(Error::invalid(
                format!("lotka_volterra x[{j}]"),
                format!("is {}; populations observed with log-normal noise are positive and finite", x[j]),
            ));
        }
        let log_x: [f64; X_DIM] = std::array::from_fn(|j| x[j].ln());
        Ok((-log_x.iter().sum::<f64>(), log_x))
    }

    fn log_likelihood_of(log_x: &(f64, [f64; X_DIM]), trajectory: Option<&Trajectory>) -> f64 {
        let Some(m) = trajectory else { return f64::NEG_INFINITY };
        let norm = log_x.0 - X_DIM as f64 * (NOISE_STD.ln() + HALF_LOG_2PI);
        let inv_2var = 0.5 / (NOISE_STD * NOISE_STD);
        norm - inv_2var * log_x.1.iter().zip(m).map(|(l, m)| (l - m) * (l - m)).sum::<f64>()
    }
}

impl Default for LotkaVolterra {
    fn default() -> Self {
        Self::new()
    }
}

impl Model for LotkaVolterra {
    fn name(&self) -> String {
        SHAPES.task.into()
    }

    fn theta_dim(&self) -> usize {
        SHAPES.theta_dim
    }

    fn x_dim(&self) -> usize {
        SHAPES.x_dim
    }

    fn prior(&self) -> &Prior {
        &self.prior
    }

    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        SHAPES.ode_log_likelihood(x, theta, out, Self::log_x, Self::log_means, |_, log_x, m| {
            Self::log_likelihood_of(log_x, m)
        })
    }

    fn log_likelihood_at(&self, x: &[f64], theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        SHAPES.check_at(x, theta, out)?;
        let log_x = Self::log_x(x)?;
        self.cache.for_each_row(theta, Self::log_means, |r, m| out[r] = Self::log_likelihood_of(&log_x, m));
        Ok(())
    }

    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, x: MatMut<f64>) -> Result<()> {
        SHAPES.ode_simulate(theta, rng, x, Self::log_means, |m, rng, x| {
            for (xj, &mj) in x.iter_mut().zip(m) {
                let z: f64 = StandardNormal.sample(rng);
                *xj = (mj + NOISE_STD * z).exp();
            }
        })
    }
}
