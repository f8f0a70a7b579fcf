//! sbibm `sir` (Lueckmann et al. 2021, arXiv:2101.04653; sbibm `sbibm/tasks/sir/task.py`): an
//! SIR epidemic, θ = (β, γ) the contact and recovery rates, x = 10 binomial counts of the
//! infected fraction.
//!
//! # Simulator
//!
//! With N = 10⁶, S(0) = N − 1, I(0) = 1, R(0) = 0:
//!
//!   dS/dt = −β S I / N,  dI/dt = β S I / N − γ I,  dR/dt = γ I,
//!
//! solved on days t = 0..160; x_k ~ Binomial(1000, p_k), p_k = clamp(I(t_k)/N, 0, 1) at
//! t_k = 17k, k = 0..9 (sbibm saves I at every day and keeps every 17th). We solve the
//! fractions s = S/N and log i = log(I/N), ds/dt = −β s i, d log i/dt = β s − γ (R is not
//! needed), so p_k keeps its relative precision where I/N is 10⁻⁶ and below; the tolerances
//! ([`TOLERANCES`]) are far tighter than the Julia solver defaults sbibm's `diffeqtorch` uses.
//!
//! # Prior and likelihood
//!
//! β ~ LogNormal(log 0.4, 0.5²), γ ~ LogNormal(log 0.125, 0.2²), independent.
//!
//!   log L(x|θ) = Σ_k [log C(1000, x_k) + x_k log p_k + (1000 − x_k) log(1 − p_k)],
//!
//! with 0·log 0 = 0. Counts must lie in [0, 1000]. One ODE solve gives every p_k of a θ; during
//! training it serves all the observations paired with that θ ([`TrajectoryCache`]).
//!
//! # Reference
//!
//! SMC; 2-D and unimodal, validated against sbibm's reference samples
//! (`results/sbibm-references/`).

use rand_distr::{Binomial, Distribution};
use statrs::function::gamma::ln_gamma;

use crate::error::{Error, Result};
use crate::flow::{BaseConfig, FlowConfig};
use crate::mat::{MatMut, MatRef};
use crate::model::{Marginal, Model, Prior};
use crate::ode::{solve_at, Tolerances, TrajectoryCache};
use crate::rng::Rng;
use crate::tasks::entry::{Published, TaskEntry, TaskReference};
use crate::tasks::rows::RowShapes;
use crate::train::{ProposalKind, TrainConfig};

/// Population N.
pub const POPULATION: f64 = 1e6;
/// Trials of each binomial count.
pub const TOTAL_COUNT: u64 = 1000;
/// Observed days t_k = 17k.
pub const N_TIMES: usize = 10;
/// Days between observations.
pub const DAYS_BETWEEN: f64 = 17.0;
/// Solver tolerances (on s and log i).
pub const TOLERANCES: Tolerances = Tolerances { rtol: 1e-6, atol: 1e-9, max_steps: 100_000 };

const SHAPES: RowShapes =
    RowShapes { task: "sir", x_what: "sir x", theta_what: "sir theta", x_dim: N_TIMES, theta_dim: 2 };

/// The catalogue entry of `sir` ([`crate::tasks::CATALOG`]).
pub const ENTRY: TaskEntry = TaskEntry {
    name: "sir",
    build: || Ok(Box::new(Sir::new())),
    reference: TaskReference::Smc,
    base: BaseConfig::Gaussian,
    adjust: Some(adjust_settings),
    sign_symmetric: &[],
    sbibm: Some(Published { npe: [None, None, Some(0.585)], best: [None, None, Some((0.547, "SNRE"))] }),
};

/// The adaptive proposal, although the prior's pilot ESS (21.8) would keep prior draws, 16000
/// steps and the reverse-KL term λ = 5. Measured on the benchmark's 5 observations (C2ST, 10,000
/// samples): with these 0.543 ± 0.021 (0.627, 0.525, 0.525, 0.515, 0.521; 1.2·10⁸ likelihood
/// evaluations); adaptive at the generic 4000 steps 0.567 (0.631, 0.569, 0.554, 0.540, 0.539;
/// 3.2·10⁷, 4·10⁶ ODE solves), prior draws 0.579 (0.702, 0.565, 0.541, 0.548, 0.541; 2.1·10⁹,
/// 3.3·10⁷ solves). Observation 1 (γ* 2.6 prior sd above the median) is what is left.
pub fn adjust_settings(_flow: &mut FlowConfig, train: &mut TrainConfig) {
    train.proposal.kind = ProposalKind::Adaptive;
    train.steps = 16_000;
    train.reverse_kl = 5.0;
}

/// (log p_k, log(1 − p_k)) for k = 0..9.
type Trajectory = [f64; 2 * N_TIMES];

/// The `sir` task (see the module docs).
#[derive(Clone, Debug)]
pub struct Sir {
    prior: Prior,
    cache: TrajectoryCache<{ 2 * N_TIMES }>,
}

impl Sir {
    /// sbibm's task.
    pub fn new() -> Self {
        let prior = Prior::new(vec![
            Marginal::LogNormal { log_mean: 0.4f64.ln(), log_std: 0.5 },
            Marginal::LogNormal { log_mean: 0.125f64.ln(), log_std: 0.2 },
        ])
        .expect("valid log-normal marginals");
        Self { prior, cache: TrajectoryCache::default() }
    }

    /// p_k = I(t_k)/N at the observed days, or `None` when the solve fails (then L = 0).
    pub fn infected_fractions(theta: &[f64]) -> Option<[f64; N_TIMES]> {
        Self::trajectory(theta).map(|t| std::array::from_fn(|k| t[k].exp()))
    }

    fn trajectory(theta: &[f64]) -> Option<Trajectory> {
        let (beta, gamma) = (theta[0], theta[1]);
        let rhs = |_: f64, y: &[f64; 2], dy: &mut [f64; 2]| {
            let (s, i) = (y[0], y[1].exp());
            *dy = [-beta * s * i, beta * s - gamma];
        };
        let times: [f64; N_TIMES] = std::array::from_fn(|k| DAYS_BETWEEN * k as f64);
        let mut states = [[0.0; 2]; N_TIMES];
        let i0 = 1.0 / POPULATION;
        solve_at(rhs, 0.0, [1.0 - i0, i0.ln()], &times, &TOLERANCES, &mut states).ok()?;
        let mut out = [0.0; 2 * N_TIMES];
        for (k, state) in states.iter().enumerate() {
            let log_p = state[1].min(0.0);
            out[k] = log_p;
            out[N_TIMES + k] = (-log_p.exp()).ln_1p();
        }
        Some(out)
    }

    /// log C(1000, x_k) per count, after checking each lies in [0, 1000].
    fn log_binomial_coefficients(x: &[f64]) -> Result<[f64; N_TIMES]> {
        let n = TOTAL_COUNT as f64;
        if let Some(k) = x.iter().position(|v| !(0.0..=n).contains(v)) {
            return Err(Error::invalid(
                format!("sir x[{k}]"),
                format!("is {}; counts of {TOTAL_COUNT} trials lie in [0, {TOTAL_COUNT}]", x[k]),
            ));
        }
        Ok(std::array::from_fn(|k| ln_gamma(n + 1.0) - ln_gamma(x[k] + 1.0) - ln_gamma(n - x[k] + 1.0)))
    }

    /// Σ_k log Binomial(x_k; 1000, p_k) from the trajectory (log p, log(1 − p)).
    fn log_likelihood_of(x: &[f64], log_choose: &[f64; N_TIMES], trajectory: Option<&Trajectory>) -> f64 {
        let Some(t) = trajectory else { return f64::NEG_INFINITY };
        let n = TOTAL_COUNT as f64;
        (0..N_TIMES)
            .map(|k| {
                // 0·log 0 = 0: a zero count at p = 0 (or a full one at p = 1) has probability 1.
                let hits = if x[k] > 0.0 { x[k] * t[k] } else { 0.0 };
                let misses = if x[k] < n { (n - x[k]) * t[N_TIMES + k] } else { 0.0 };
                log_choose[k] + hits + misses
            })
            .sum()
    }
}

impl Default for Sir {
    fn default() -> Self {
        Self::new()
    }
}

impl Model for Sir {
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
        SHAPES.ode_log_likelihood(
            x,
            theta,
            out,
            Self::log_binomial_coefficients,
            Self::trajectory,
            Self::log_likelihood_of,
        )
    }

    fn log_likelihood_at(&self, x: &[f64], theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        SHAPES.check_at(x, theta, out)?;
        let log_choose = Self::log_binomial_coefficients(x)?;
        self.cache.for_each_row(theta, Self::trajectory, |r, t| out[r] = Self::log_likelihood_of(x, &log_choose, t));
        Ok(())
    }

    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, x: MatMut<f64>) -> Result<()> {
        SHAPES.ode_simulate(theta, rng, x, Self::infected_fractions, |p, rng, x| {
            for (xk, &pk) in x.iter_mut().zip(p) {
                let draw = Binomial::new(TOTAL_COUNT, pk.clamp(0.0, 1.0)).expect("p in [0, 1]").sample(rng);
                *xk = draw as f64;
            }
        })
    }
}
