//! Calibration diagnostics for any posterior approximation q(θ|x), without a reference
//! posterior: draw N pairs θ* ~ π, x ~ p(x|θ*) from the prior predictive (or take them from
//! the user); then, with L draws from q(·|x) per pair,
//!
//! - [`sbc`]: simulation-based calibration, the rank of each θ*_k (and of log q(θ*|x)) among
//!   the draws, uniform on {0, …, L} when q is the posterior; Holm-corrected uniformity tests;
//! - [`coverage`]: expected coverage of q's highest-density regions at levels 0.05 … 0.95;
//! - [`tarp`]: TARP coverage around random reference points;
//! - [`ess`]: the importance ESS of q at each x, since the likelihood is known;
//! - [`ppc`]: the posterior predictive check at chosen observations, per dimension of x.
//!
//! Every rank test is one [`uniformity::UniformityTest`] (ECDF with a simultaneous band,
//! calibrated by simulation). [`check`] runs them all and returns a [`CheckReport`] whose
//! [`Summary`] holds each test's statistic, p-value and verdict at α and `calibrated`
//! (every test passed). Passing says q is calibrated *on average over the prior predictive*;
//! the ESS and predictive checks are per-observation grades.

pub mod coverage;
pub mod ess;
pub mod posterior;
pub mod ppc;
pub mod ranks;
pub mod sbc;
pub mod summary;
pub mod tarp;
pub mod uniformity;

pub use coverage::CoverageCurve;
pub use ess::EssReport;
pub use posterior::Posterior;
pub use ppc::{posterior_predictive, PpcConfig, PpcReport};
pub use sbc::SbcReport;
pub use summary::{Summary, TestVerdict};

use std::time::Instant;

use rand::Rng as _;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mat::{Mat, MatRef};
use crate::model::{simulate_pairs, Model};
use crate::rng::{stream, Stream};

use uniformity::UniformityTest;

/// Sub-streams of [`Stream::Metric`] the diagnostics draw from (far from the steps
/// [`crate::eval`] uses).
const STEP_PAIRS: u64 = 0xD1A6_0001;
const STEP_DRAWS: u64 = 0xD1A6_0002;
const STEP_REFERENCE: u64 = 0xD1A6_0003;
const STEP_NULL: u64 = 0xD1A6_0004;
const STEP_ESS: u64 = 0xD1A6_0005;
const STEP_PPC_DRAWS: u64 = 0xD1A6_0006;
const STEP_PPC_SIMULATE: u64 = 0xD1A6_0007;

/// Settings of [`check`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckConfig {
    /// Posterior draws L per pair; L + 1 a multiple of 20 makes the coverage levels exact.
    pub n_draws: usize,
    /// Level of every test.
    pub alpha: f64,
    /// Simulated null rank sets calibrating the uniformity tests and bands.
    pub null_simulations: usize,
    /// Importance draws M per observation for the ESS check.
    pub ess_draws: usize,
    /// Observations (the first ones) whose ESS is computed; `None` = all, 0 = skip the check.
    pub ess_observations: Option<usize>,
    /// Flag an observation whose ESS/M is below this.
    pub ess_flag_below: f64,
    /// The ESS check passes when at most this share of observations is flagged.
    pub ess_max_flagged_share: f64,
    /// Observations (the first pairs) of the posterior predictive check; 0 skips it.
    #[serde(default = "default_ppc_observations")]
    pub ppc_observations: usize,
    /// Predictive draws per observation of the posterior predictive check.
    #[serde(default = "default_ppc_draws")]
    pub ppc_draws: usize,
    /// The predictive check passes when at most this share of its observations is flagged.
    #[serde(default = "default_ppc_max_flagged_share")]
    pub ppc_max_flagged_share: f64,
    /// Seed of the pairs, draws, reference points and null simulations.
    pub seed: u64,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            n_draws: 99,
            alpha: 0.01,
            null_simulations: 10_000,
            ess_draws: 1000,
            ess_observations: None,
            ess_flag_below: 0.1,
            ess_max_flagged_share: 0.05,
            ppc_observations: default_ppc_observations(),
            ppc_draws: default_ppc_draws(),
            ppc_max_flagged_share: default_ppc_max_flagged_share(),
            seed: 1,
        }
    }
}

fn default_ppc_observations() -> usize {
    20
}

fn default_ppc_draws() -> usize {
    PpcConfig::default().n_draws
}

fn default_ppc_max_flagged_share() -> f64 {
    PpcConfig::default().max_flagged_share
}

impl CheckConfig {
    fn validate(&self) -> Result<()> {
        if self.n_draws == 0 {
            return Err(Error::invalid("check n_draws", "must be at least 1"));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(Error::invalid("check alpha", format!("{}: expected a level in (0, 1)", self.alpha)));
        }
        if self.null_simulations == 0 {
            return Err(Error::invalid("check null_simulations", "must be at least 1"));
        }
        if self.ess_draws == 0 {
            return Err(Error::invalid("check ess_draws", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.ess_flag_below) || !(0.0..=1.0).contains(&self.ess_max_flagged_share) {
            return Err(Error::invalid("check ess_flag_below / ess_max_flagged_share", "expected shares in [0, 1]"));
        }
        if self.ppc_draws == 0 {
            return Err(Error::invalid("check ppc_draws", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.ppc_max_flagged_share) {
            return Err(Error::invalid("check ppc_max_flagged_share", "expected a share in [0, 1]"));
        }
        Ok(())
    }

    /// The settings of the posterior predictive check within [`check`].
    pub fn ppc(&self) -> PpcConfig {
        PpcConfig {
            n_draws: self.ppc_draws,
            alpha: self.alpha,
            max_flagged_share: self.ppc_max_flagged_share,
            seed: self.seed,
        }
    }
}

/// Which part of [`check`] is running, for progress reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Posterior draws and ranks, per pair.
    Ranks,
    /// Importance ESS, per observation.
    Ess,
    /// Posterior predictive check, per observation.
    Ppc,
}

/// Seconds each part of [`check`] took.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckSeconds {
    /// Posterior draws, log-densities and ranks.
    pub ranks: f64,
    /// Null simulations and tests.
    pub tests: f64,
    /// Importance ESS.
    pub ess: f64,
    /// Posterior predictive check.
    pub ppc: f64,
}

/// Everything [`check`] found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckReport {
    /// Verdicts and `calibrated`.
    pub summary: Summary,
    /// Pairs N.
    pub n_simulations: usize,
    /// Draws L per pair.
    pub n_draws: usize,
    /// SBC per dimension and of log q.
    pub sbc: SbcReport,
    /// Expected coverage of highest-density regions.
    pub coverage: CoverageCurve,
    /// TARP expected coverage (reference points from the prior).
    pub tarp: CoverageCurve,
    /// Importance ESS per observation (`None` when skipped).
    pub ess: Option<EssReport>,
    /// Posterior predictive check at chosen observations (`None` when skipped).
    pub ppc: Option<PpcReport>,
    /// Time per part.
    pub seconds: CheckSeconds,
}

/// N prior-predictive pairs (θ* ~ π, x ~ p(x|θ*)) of `model`, from `seed`.
pub fn prior_predictive_pairs(model: &dyn Model, n: usize, seed: u64) -> Result<(Mat<f64>, Mat<f64>)> {
    if n == 0 {
        return Err(Error::invalid("check simulations", "must be at least 1"));
    }
    simulate_pairs(model, n, seed, Stream::Metric, STEP_PAIRS)
}

/// Runs every diagnostic of q on the pairs (rows of `theta`, `x`; e.g. from
/// [`prior_predictive_pairs`]). `model` gives the prior (TARP's reference points) and the
/// likelihood (ESS). `progress(stage, done, total)` is called as each stage starts (done = 0)
/// and after each block of pairs.
pub fn check(
    q: &dyn Posterior,
    model: &dyn Model,
    theta: MatRef<f64>,
    x: MatRef<f64>,
    cfg: &CheckConfig,
    progress: &mut dyn FnMut(Stage, usize, usize),
) -> Result<CheckReport> {
    cfg.validate()?;
    let (d, n) = (q.theta_dim(), theta.rows());
    if (model.theta_dim(), model.x_dim()) != (d, q.x_dim()) {
        return Err(Error::invalid(
            "check model",
            format!(
                "has θ of dimension {} and x of dimension {}; the posterior has {d} and {}",
                model.theta_dim(),
                model.x_dim(),
                q.x_dim()
            ),
        ));
    }
    if theta.cols() != d {
        return Err(Error::Shape { what: "check θ*", expected: d, got: theta.cols() });
    }
    if x.cols() != q.x_dim() {
        return Err(Error::Shape { what: "check x", expected: q.x_dim(), got: x.cols() });
    }
    if n == 0 || x.rows() != n {
        return Err(Error::invalid(
            "check pairs",
            format!("need N ≥ 1 rows of θ* and x alike, got {n} and {}", x.rows()),
        ));
    }
    let started = Instant::now();
    let ranks = ranks::pair_ranks(q, model.prior(), theta, x, cfg.n_draws, cfg.seed, &mut |done| {
        progress(Stage::Ranks, done, n)
    })?;
    let ranks_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let all_points: Vec<usize> = (1..=cfg.n_draws).collect();
    let sbc_test = UniformityTest::new(n, cfg.n_draws, all_points, cfg.null_simulations, cfg.seed)?;
    let mut sbc_ranks = ranks.marginal;
    sbc_ranks.push(ranks.hpd.clone());
    let mut names: Vec<String> = (1..=d).map(|k| format!("theta_{k}")).collect();
    names.push("log_q".into());
    let sbc = sbc::sbc(&sbc_ranks, &names, cfg.n_draws, &sbc_test, cfg.alpha);
    let level_test =
        UniformityTest::new(n, cfg.n_draws, coverage::level_points(cfg.n_draws), cfg.null_simulations, cfg.seed)?;
    let coverage = coverage::coverage_curve(&ranks.hpd, &level_test, cfg.alpha);
    let tarp = coverage::coverage_curve(&ranks.tarp, &level_test, cfg.alpha);
    let tests_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let n_ess = cfg.ess_observations.unwrap_or(n).min(n);
    let ess = if n_ess == 0 {
        None
    } else {
        let mut fractions = Vec::with_capacity(n_ess);
        progress(Stage::Ess, 0, n_ess);
        for start in (0..n_ess).step_by(ranks::BLOCK) {
            let rows = ranks::BLOCK.min(n_ess - start);
            let block: Vec<f64> = (start..start + rows)
                .into_par_iter()
                .map(|i| {
                    let seed: u64 = stream(cfg.seed, Stream::Metric, STEP_ESS, i as u64).gen();
                    ess::ess_fraction(model, q, x.row(i), cfg.ess_draws, seed)
                })
                .collect::<Result<_>>()?;
            fractions.extend(block);
            progress(Stage::Ess, start + rows, n_ess);
        }
        Some(EssReport::new(
            cfg.ess_draws,
            (0..n_ess).collect(),
            fractions,
            cfg.ess_flag_below,
            cfg.ess_max_flagged_share,
        ))
    };
    let ess_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let n_ppc = cfg.ppc_observations.min(n);
    let ppc = if n_ppc == 0 {
        None
    } else {
        let rows = x.rows_range(0, n_ppc);
        Some(ppc::posterior_predictive(q, model, rows, 0, &cfg.ppc(), &mut |done, total| {
            progress(Stage::Ppc, done, total)
        })?)
    };
    let ppc_seconds = started.elapsed().as_secs_f64();

    let mut report = CheckReport {
        summary: Summary::new(cfg.alpha, vec![]),
        n_simulations: n,
        n_draws: cfg.n_draws,
        sbc,
        coverage,
        tarp,
        ess,
        ppc,
        seconds: CheckSeconds { ranks: ranks_seconds, tests: tests_seconds, ess: ess_seconds, ppc: ppc_seconds },
    };
    report.summarize();
    Ok(report)
}

impl CheckReport {
    /// The report with `ppc` (e.g. [`posterior_predictive`] at the user's own observations) in
    /// place of its predictive check, and the summary updated.
    pub fn with_ppc(mut self, ppc: PpcReport, seconds: f64) -> Self {
        self.ppc = Some(ppc);
        self.seconds.ppc = seconds;
        self.summarize();
        self
    }

    /// Rebuilds [`Summary`] from the tests' results.
    fn summarize(&mut self) {
        let mut tests = vec![
            TestVerdict {
                name: "sbc",
                statistic_name: "smallest ECDF tail probability over dimensions and log q",
                statistic: self.sbc.dimensions.iter().map(|s| s.test.statistic).fold(1.0, f64::min),
                p_value: Some(self.sbc.p_value),
                passed: self.sbc.passed,
            },
            TestVerdict {
                name: "coverage",
                statistic_name: "smallest coverage tail probability over levels 0.05..0.95",
                statistic: self.coverage.test.statistic,
                p_value: Some(self.coverage.test.p_value),
                passed: self.coverage.passed,
            },
            TestVerdict {
                name: "tarp",
                statistic_name: "smallest TARP coverage tail probability over levels 0.05..0.95",
                statistic: self.tarp.test.statistic,
                p_value: Some(self.tarp.test.p_value),
                passed: self.tarp.passed,
            },
        ];
        if let Some(e) = &self.ess {
            tests.push(TestVerdict {
                name: "importance_ess",
                statistic_name: "share of observations with ESS/M below flag_below",
                statistic: e.flagged_share,
                p_value: None,
                passed: e.passed,
            });
        }
        if let Some(p) = &self.ppc {
            tests.push(TestVerdict {
                name: "ppc",
                statistic_name: "share of observations outside the central 1 - alpha/x_dim predictive interval",
                statistic: p.flagged_share,
                p_value: None,
                passed: p.passed,
            });
        }
        self.summary = Summary::new(self.summary.alpha, tests);
    }
}
