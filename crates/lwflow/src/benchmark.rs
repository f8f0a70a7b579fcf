//! Benchmark of the built-in tasks against their reference posteriors, after sbibm (Lueckmann et
//! al. 2021, arXiv:2101.04653): per task, train one flow with the task's recommended settings
//! ([`crate::tasks::recommended`]), then for each of N fixed observations draw `n_samples` from
//! q(θ|x) and from the reference p(θ|x) and compare them ([`crate::eval`]): C2ST, and the other
//! metrics the reference supports.
//!
//! **Observations.** Observation i = 1, 2, … is θ*ᵢ ~ π(θ), xᵢ ~ p(x|θ*ᵢ), both drawn from the
//! stream (`observation_seed(i)`, Simulate, 0, 0) with [`observation_seed`]`(i)` =
//! [`OBSERVATION_SEED_BASE`] + i. They do not depend on the training seed (every run of a task is
//! judged on the same observations) nor on N (the first 5 of 10 are the 5 of a 5-observation run).
//!
//! **References** ([`ReferenceKind`], each task's from its catalogue entry,
//! [`crate::tasks::TaskEntry::reference`]): exact for `square*`, `gaussian_mixture`,
//! `gaussian_linear(_uniform)`; a fine grid for `two_moons`; for `slcp` and `bernoulli_glm`,
//! adaptive-tempering SMC ([`smc_reference`], settings [`reference_smc_config`]) with
//! [`SMC_PARTICLES_PER_SAMPLE`] particles per requested sample (at least [`MIN_SMC_PARTICLES`]),
//! seeded by the observation's seed, so the reference draws are distinct particles and the same
//! in every run; with the signs of the task's [`sign_symmetric`](crate::tasks::TaskEntry::sign_symmetric)
//! coordinates randomised ([`SignSymmetrized`]; `slcp`'s θ₃, θ₄: the posterior's four sign modes
//! have equal mass, which SMC's weights only estimate). SMC references
//! have no density: KL and bridge mass are NaN for them. A task's references are built once per
//! run ([`TaskObservations::build`]) and reused by every training judged on them ([`run_task_on`],
//! e.g. one per model-call budget); nothing is cached across runs, and
//! [`ObservationResult::reference_seconds`] says what each reference cost.
//!
//! **Budgets** ([`BenchmarkConfig::budget`]): the training may make at most N model calls,
//! likelihood evaluations plus simulations (`train.budget`, [`crate::train::TrainConfig::budget`]),
//! with the task's recommended settings otherwise; its mixture keeps the catalogue's number of
//! components, as the automatic choice's SMC alone costs millions of likelihood evaluations.
//! [`TaskResult::within_budget`] checks the count the training recorded.
//!
//! **Importance correction** ([`BenchmarkConfig::importance`]): the same observations are also
//! judged on q's draws corrected by the likelihood ([`crate::importance`], default settings),
//! with the correction's ESS and draws — what a user of `lwflow sample --importance` gets.
//!
//! **Refinement** ([`BenchmarkConfig::refine`]): the trained flow is refined for each observation
//! before it is judged ([`mod@crate::train::refine`], seeded by the training seed), so the flow judged
//! on observation i is the amortized one trained further on xᵢ alone — a sequential method's
//! cost per observation, recorded in [`ObservationResult::refinement`].
//!
//! **Validation** (`results/sbibm-references/`): every reference above, at each of sbibm's 10
//! observations, against sbibm's published reference samples (10,000 each, sbibm-style C2ST; 0.50–
//! 0.51 for two sample sets of one distribution). With [`SmcConfig::default`]'s coarser settings
//! (Δβ for a conditional ESS of 0.5, 10 sweeps per stage, one particle per sample) the `slcp`
//! reference was off (C2ST up to 0.55: the mass of its two θ₁ modes and the tail of θ₅ near the
//! prior bound varied between seeds); with the settings of [`reference_smc_config`] it agrees.

use std::ops::ControlFlow;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::eval::{evaluate_importance, evaluate_with_samples, EvalOptions, EvalReport};
use crate::experiment::{mean_std, MeanStd};
use crate::flow::{Flow, FlowConfig};
use crate::importance::ImportanceConfig;
use crate::mat::Mat;
use crate::model::Model;
pub use crate::reference::ReferenceKind;
use crate::reference::{grid_reference, smc_reference, Reference, SignSymmetrized, SmcConfig};
use crate::rng::{stream, Stream};
use crate::train::FlowMeta;
use crate::train::ModelCalls;
use crate::train::{choose_components, fit, refine, AutoKConfig, RefineConfig, TrainConfig, TrainSummary};

/// Observations per task by default: sbibm averages its metrics over 10.
pub const DEFAULT_OBSERVATIONS: usize = 10;

/// Observation i is simulated from the seed `OBSERVATION_SEED_BASE + i` (module docs).
pub const OBSERVATION_SEED_BASE: u64 = 1_000_000;
/// Samples per observation from q and from the reference, as in sbibm.
pub const DEFAULT_SAMPLES: usize = 10_000;
/// Fewest SMC particles used for an SMC reference, however few samples are asked for.
pub const MIN_SMC_PARTICLES: usize = 1_000;
/// SMC particles per requested reference sample: the draws are distinct particles, and mode
/// masses carried by the weights are more precise than with one particle per sample.
pub const SMC_PARTICLES_PER_SAMPLE: usize = 2;
/// Conditional-ESS fraction kept by each tempering stage of a reference SMC run: finer stages
/// than [`SmcConfig::default`]'s 0.5 (about 20 stages instead of 7 on `slcp`).
pub const REFERENCE_SMC_TARGET_ESS: f64 = 0.9;
/// Minimum Metropolis sweeps per stage of a reference SMC run ([`SmcConfig::default`]: 10).
pub const REFERENCE_SMC_MOVES: usize = 30;

/// The seed of observation `index` (1-based): [`OBSERVATION_SEED_BASE`] + `index`.
pub fn observation_seed(index: usize) -> u64 {
    OBSERVATION_SEED_BASE + index as u64
}

/// Observations 1..=`n_observations` of `model` (module docs): the true parameters θ* and the
/// observations x, one row each.
pub fn observations(model: &dyn Model, n_observations: usize) -> Result<(Mat<f64>, Mat<f64>)> {
    let mut theta = Mat::zeros(n_observations, model.theta_dim());
    let mut x = Mat::zeros(n_observations, model.x_dim());
    for i in 0..n_observations {
        let mut rng = stream(observation_seed(i + 1), Stream::Simulate, 0, 0);
        let (mut theta_i, mut x_i) = (Mat::zeros(1, model.theta_dim()), Mat::zeros(1, model.x_dim()));
        model.prior().sample(&mut rng, theta_i.as_mut());
        model.simulate(theta_i.as_ref(), &mut rng, x_i.as_mut())?;
        theta.row_mut(i).copy_from_slice(theta_i.row(0));
        x.row_mut(i).copy_from_slice(x_i.row(0));
    }
    Ok((theta, x))
}

/// Settings of [`run_task`].
#[derive(Clone, Debug)]
pub struct BenchmarkConfig {
    /// Training seed; also seeds the flow's samples and the metrics. The observations do not
    /// depend on it.
    pub seed: u64,
    /// Observations per task (at least 1).
    pub n_observations: usize,
    /// Samples per observation from q and from the reference (at least 10, for C2ST's 5 folds).
    pub n_samples: usize,
    /// Overrides the recommended training budget (quick runs; on a model-call budget, the gradient
    /// steps per round, `train.round_steps`); `None` keeps it.
    pub steps: Option<usize>,
    /// Also judge importance-corrected samples of every observation that has a reference
    /// ([`ObservationResult::importance_report`]).
    pub importance: bool,
    /// Model calls the training may make (`train.budget`: likelihood evaluations plus
    /// simulations, module docs); `None` trains with the recommended step budget.
    pub budget: Option<u64>,
    /// Also compute the sample distances (exact and sliced W2, its noise floor, MMD²:
    /// [`EvalOptions::distances`]); C2ST, KL and bridge mass are always computed.
    pub distances: bool,
    /// Refine the trained flow for each observation before judging it (module docs); its seed
    /// is replaced by the training seed. `None`: the amortized flow is judged.
    pub refine: Option<RefineConfig>,
}

impl Default for BenchmarkConfig {
    /// Seed 1, 10 observations, [`DEFAULT_SAMPLES`] samples, the recommended budget, every metric.
    fn default() -> Self {
        Self {
            seed: 1,
            n_observations: DEFAULT_OBSERVATIONS,
            n_samples: DEFAULT_SAMPLES,
            steps: None,
            importance: false,
            budget: None,
            distances: true,
            refine: None,
        }
    }
}

impl BenchmarkConfig {
    fn validate(&self) -> Result<()> {
        if self.n_observations == 0 {
            return Err(Error::invalid("benchmark observations", "0: need at least 1"));
        }
        if self.n_samples < 10 {
            return Err(Error::invalid("benchmark samples", format!("{}: need at least 10", self.n_samples)));
        }
        if self.steps == Some(0) {
            return Err(Error::invalid("benchmark steps", "0: need at least 1"));
        }
        if self.budget == Some(0) {
            return Err(Error::invalid("benchmark budget", "0: need at least 1 model call"));
        }
        Ok(())
    }
}

/// One observation of a task: what was compared and how it scored.
pub struct ObservationResult {
    /// 1-based observation number.
    pub index: usize,
    /// [`observation_seed`]`(index)`.
    pub seed: u64,
    /// θ* the observation was simulated from.
    pub theta_true: Vec<f64>,
    /// The observation x ~ p(x|θ*).
    pub x: Vec<f64>,
    /// Metrics against the reference; `None` without a reference.
    pub report: Option<EvalReport>,
    /// Metrics of the importance-corrected samples, with the correction's diagnostics in
    /// [`EvalReport::importance`]; `None` unless [`BenchmarkConfig::importance`] and a reference.
    pub importance_report: Option<EvalReport>,
    /// Seconds to build the reference (the SMC run, the grid); 0 for an exact one.
    pub reference_seconds: f64,
    /// `n_samples × theta_dim` draws from q(θ|x).
    pub flow_samples: Mat<f64>,
    /// `n_samples × theta_dim` draws from the reference, if there is one.
    pub reference_samples: Option<Mat<f64>>,
    /// The refinement for this observation ([`BenchmarkConfig::refine`]): steps, likelihood
    /// evaluations, seconds; `None` when the amortized flow was judged.
    pub refinement: Option<TrainSummary>,
}

/// A metric over a task's observations: mean, standard error of the mean (sd/√n) and the worst
/// observation (largest value: for C2ST, the most distinguishable).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Mean over the observations.
    pub mean: f64,
    /// Sample standard deviation over √n (0 for one observation).
    pub standard_error: f64,
    /// The largest value.
    pub worst: f64,
    /// Its 1-based observation number ([`ObservationResult::index`]).
    pub worst_index: usize,
    /// Observations with a value.
    pub n: usize,
}

/// One task of the benchmark: the trained flow, its cost, and every observation's result.
pub struct TaskResult {
    /// Task name.
    pub task: String,
    /// Which reference the observations were judged against.
    pub reference: ReferenceKind,
    /// The trained flow.
    pub flow: Flow<f32>,
    /// Its model-file metadata (settings and training summary).
    pub meta: FlowMeta,
    /// Wall-clock training time, seconds.
    pub train_seconds: f64,
    /// log L(x|θ) evaluations during training ([`crate::train::TrainSummary::likelihood_evals`]).
    pub likelihood_evals: u64,
    /// Simulator calls during training ([`crate::train::TrainSummary::simulations`]).
    pub simulations: u64,
    /// The training's model-call budget ([`BenchmarkConfig::budget`]), if it had one.
    pub budget: Option<u64>,
    /// Optimiser steps run (fewer than the budget after early stopping).
    pub steps_run: usize,
    /// Per-observation results, in order.
    pub observations: Vec<ObservationResult>,
}

impl TaskResult {
    /// The training's model calls: likelihood evaluations plus simulations.
    pub fn model_calls(&self) -> u64 {
        ModelCalls { likelihood_evals: self.likelihood_evals, simulations: self.simulations }.total()
    }

    /// Whether the training stayed within its budget (true without one).
    pub fn within_budget(&self) -> bool {
        self.budget.is_none_or(|b| self.model_calls() <= b)
    }

    /// Mean ± sd over observations of `metric`, skipping observations without a value (no
    /// reference, or NaN: not computed); `None` if no observation has one.
    pub fn summary(&self, metric: impl Fn(&EvalReport) -> Option<f64>) -> Option<MeanStd> {
        summarize(self.observations.iter().map(|o| o.report.as_ref().and_then(&metric)))
    }

    /// Mean ± sd of C2ST over observations ([`TaskResult::summary`]).
    pub fn c2st(&self) -> Option<MeanStd> {
        self.summary(|r| r.c2st)
    }

    /// C2ST over observations as sbibm reports it (a mean over observations) with the standard
    /// error of that mean and the worst observation; `None` if no observation has a C2ST.
    pub fn c2st_spread(&self) -> Option<Spread> {
        spread(self.observations.iter().map(|o| (o.index, o.report.as_ref().and_then(|r| r.c2st))))
    }

    /// Likelihood evaluations of the per-observation refinements, in all (0 without).
    pub fn refine_likelihood_evals(&self) -> u64 {
        self.observations.iter().filter_map(|o| o.refinement.as_ref()).map(|r| r.likelihood_evals).sum()
    }

    /// [`TaskResult::summary`] of the importance-corrected samples' reports.
    pub fn importance_summary(&self, metric: impl Fn(&EvalReport) -> Option<f64>) -> Option<MeanStd> {
        summarize(self.observations.iter().map(|o| o.importance_report.as_ref().and_then(&metric)))
    }
}

/// [`Spread`] of the finite values among (observation number, value) pairs; `None` if there are
/// none.
fn spread(values: impl Iterator<Item = (usize, Option<f64>)>) -> Option<Spread> {
    let scored: Vec<(usize, f64)> =
        values.filter_map(|(index, v)| v.filter(|v| v.is_finite()).map(|v| (index, v))).collect();
    let (worst_index, worst) = scored.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let values: Vec<f64> = scored.iter().map(|&(_, v)| v).collect();
    let MeanStd { mean, std } = mean_std(&values);
    let n = values.len();
    Some(Spread { mean, standard_error: std / (n as f64).sqrt(), worst, worst_index, n })
}

/// Mean ± sd of the finite values of `values`; `None` if there are none.
fn summarize(values: impl Iterator<Item = Option<f64>>) -> Option<MeanStd> {
    let v: Vec<f64> = values.flatten().filter(|v| v.is_finite()).collect();
    (!v.is_empty()).then(|| mean_std(&v))
}

/// The flow and training settings [`run_task`] uses for `task`: the recommended ones
/// ([`crate::tasks::recommended`]), with the training seed, the step override and the model-call
/// budget of `cfg`.
pub fn task_settings(task: &str, model: &dyn Model, cfg: &BenchmarkConfig) -> (FlowConfig, TrainConfig) {
    let (flow, mut train) = crate::tasks::recommended(task, model.theta_dim(), model.x_dim());
    train.seed = cfg.seed;
    if let Some(s) = cfg.steps {
        // On a budget the cap of each round's gradient steps.
        train.steps = s;
        train.round_steps = s;
    }
    train.budget = cfg.budget;
    (flow, train)
}

/// Settings of an SMC reference for `n_samples` draws (module docs): max(`n_samples` ·
/// [`SMC_PARTICLES_PER_SAMPLE`], [`MIN_SMC_PARTICLES`]) particles, [`REFERENCE_SMC_TARGET_ESS`],
/// [`REFERENCE_SMC_MOVES`], seed `seed`. Validated against sbibm's `slcp` and `bernoulli_glm`
/// references; for 10,000 samples it costs about 3 CPU seconds on `slcp` and 30 on `bernoulli_glm`
/// (6× and 9× the cost with [`SmcConfig::default`]'s settings).
pub fn reference_smc_config(n_samples: usize, seed: u64) -> SmcConfig {
    SmcConfig {
        n_particles: n_samples.saturating_mul(SMC_PARTICLES_PER_SAMPLE).max(MIN_SMC_PARTICLES),
        target_ess_fraction: REFERENCE_SMC_TARGET_ESS,
        moves_per_stage: REFERENCE_SMC_MOVES,
        seed,
        ..SmcConfig::default()
    }
}

/// The reference posterior of `task` at observation `x` (module docs), and the seconds it took.
///
/// `kind` need not be the task's own ([`ReferenceKind::of_task`]): `Smc` works for any model;
/// `Grid` is the task's fine grid for `two_moons`, else [`grid_reference`] with its default cells
/// (bounded priors, d ≤ 3); `Exact` is `Ok(None)` unless the task's reference is exact; `None` is
/// `Ok(None)`.
pub fn build_reference(
    task: &str,
    kind: ReferenceKind,
    model: &dyn Model,
    x: &[f64],
    seed: u64,
    n_samples: usize,
) -> Result<(Option<Box<dyn Reference>>, f64)> {
    let started = Instant::now();
    let reference: Option<Box<dyn Reference>> = match kind {
        ReferenceKind::Smc => {
            let particles = Box::new(smc_reference(model, x, &reference_smc_config(n_samples, seed))?);
            // Exact equal masses for the sign modes of a built-in task that has them.
            match crate::tasks::find(task).map_or(&[][..], |entry| entry.sign_symmetric) {
                [] => Some(particles),
                coords => Some(Box::new(SignSymmetrized::new(particles, coords.to_vec())?)),
            }
        }
        ReferenceKind::Exact | ReferenceKind::Grid if ReferenceKind::of_task(task)? == kind => {
            crate::tasks::reference_for(task, x)?
        }
        ReferenceKind::Grid => Some(Box::new(grid_reference(model, x, None)?)),
        ReferenceKind::Exact | ReferenceKind::None => None,
    };
    Ok((reference, started.elapsed().as_secs_f64()))
}

/// `n_samples` draws from the `kind` reference of the built-in `task` at observation `x`
/// ([`build_reference`], seeded by `seed`; the draws come from stream (`seed`, Metric, 1000, 0),
/// as in [`crate::eval::evaluate`]), and the seconds building and drawing took. An SMC reference
/// ([`reference_smc_config`]) returns distinct particles.
///
/// Errors: unknown task, `x` of the wrong length, `n_samples` = 0, or a `kind` the task has no
/// reference of (e.g. `Exact` for `slcp`; the message names the task's own kind).
pub fn reference_samples(
    task: &str,
    kind: ReferenceKind,
    x: &[f64],
    n_samples: usize,
    seed: u64,
) -> Result<(Mat<f64>, f64)> {
    let model = crate::tasks::by_name(task)?;
    if n_samples == 0 {
        return Err(Error::invalid("reference samples", "0: need at least 1"));
    }
    let started = Instant::now();
    let (reference, _) = build_reference(task, kind, model.as_ref(), x, seed, n_samples)?;
    let reference = reference.ok_or_else(|| {
        let own = ReferenceKind::of_task(task).map_or("none", ReferenceKind::name);
        Error::invalid(
            format!("{} reference of task {task}", kind.name()),
            format!("not available; {task}'s reference is '{own}' (any task can use 'smc')"),
        )
    })?;
    let samples = reference.sample(&mut stream(seed, Stream::Metric, 1000, 0), n_samples);
    Ok((samples, started.elapsed().as_secs_f64()))
}

/// A task's fixed observations (module docs) with their references, built once and judged
/// against by any number of trainings ([`run_task_on`]): `slcp`'s and `bernoulli_glm`'s SMC
/// references cost seconds to a minute each.
pub struct TaskObservations {
    /// Task name.
    pub task: String,
    /// Which reference the observations are judged against (the task's own).
    pub kind: ReferenceKind,
    /// θ*ᵢ, one row per observation.
    pub theta_true: Mat<f64>,
    /// xᵢ, one row per observation.
    pub x: Mat<f64>,
    /// Samples per observation the references were built for (an SMC reference's particles).
    pub n_samples: usize,
    /// Seconds building each observation's reference took.
    pub reference_seconds: Vec<f64>,
    references: Vec<Option<Box<dyn Reference>>>,
}

impl TaskObservations {
    /// Observations 1..=`cfg.n_observations` of `task` and their references for `cfg.n_samples`
    /// samples. `on_line` gets one line per reference built.
    pub fn build(task: &str, cfg: &BenchmarkConfig, on_line: &mut dyn FnMut(&str)) -> Result<Self> {
        cfg.validate()?;
        let model = crate::tasks::by_name(task)?;
        let kind = ReferenceKind::of_task(task)?;
        let (theta_true, x) = observations(model.as_ref(), cfg.n_observations)?;
        let (mut references, mut reference_seconds) = (Vec::new(), Vec::new());
        for i in 0..cfg.n_observations {
            let seed = observation_seed(i + 1);
            let (reference, seconds) = build_reference(task, kind, model.as_ref(), x.row(i), seed, cfg.n_samples)?;
            if seconds >= 1.0 {
                on_line(&format!("{task}: observation {}: {} reference built in {seconds:.1} s", i + 1, kind.name()));
            }
            references.push(reference);
            reference_seconds.push(seconds);
        }
        Ok(Self {
            task: task.to_string(),
            kind,
            theta_true,
            x,
            n_samples: cfg.n_samples,
            reference_seconds,
            references,
        })
    }
}

/// Trains on `task` with its recommended settings and judges the flow on the fixed observations
/// (module docs). `on_line` gets progress lines (training validations, each observation).
pub fn run_task(task: &str, cfg: &BenchmarkConfig, on_line: &mut dyn FnMut(&str)) -> Result<TaskResult> {
    let observations = TaskObservations::build(task, cfg, on_line)?;
    run_task_on(&observations, cfg, on_line)
}

/// [`run_task`] on observations whose references are already built: trains on their task with
/// its recommended settings (and `cfg`'s seed, steps and budget) and judges the flow on them.
///
/// Errors: `cfg` asks for other observations or sample counts than `observations` was built for.
pub fn run_task_on(
    observations: &TaskObservations,
    cfg: &BenchmarkConfig,
    on_line: &mut dyn FnMut(&str),
) -> Result<TaskResult> {
    cfg.validate()?;
    let task = observations.task.as_str();
    if (observations.x.rows(), observations.n_samples) != (cfg.n_observations, cfg.n_samples) {
        return Err(Error::invalid(
            "benchmark observations",
            format!(
                "built for {} observations of {} samples, asked for {} of {}",
                observations.x.rows(),
                observations.n_samples,
                cfg.n_observations,
                cfg.n_samples
            ),
        ));
    }
    let model = crate::tasks::by_name(task)?;
    let (mut flow_cfg, train_cfg) = task_settings(task, model.as_ref(), cfg);
    // The number of mixture components is chosen automatically, as `lwflow train --task` does,
    // except on a budget (module docs).
    let auto = match cfg.budget {
        None => {
            let auto_k = AutoKConfig { seed: cfg.seed, ..AutoKConfig::default() };
            choose_components(model.as_ref(), &mut flow_cfg, &auto_k)?
        }
        Some(_) => None,
    };
    if let Some(pick) = &auto {
        on_line(&format!("{task}: K = {} components chosen automatically ({:.1} s)", pick.k, pick.seconds));
    }
    let label = cfg.budget.map_or(task.to_string(), |b| format!("{task} @ {b} calls"));
    let (flow, mut meta) = fit(model.as_ref(), flow_cfg, train_cfg, &mut |r| {
        if let Some(val) = r.val_loss {
            on_line(&format!(
                "{label}: step {}/{} loss {:.3} val {val:.3} ESS {:.1}",
                r.step, r.steps, r.loss, r.ess_mean
            ));
        }
    })?;
    meta.auto_components = auto;
    let summary = meta.summary.clone().expect("fit records a summary");
    on_line(&format!(
        "{label}: trained {} steps in {:.1} s, {} likelihood evaluations + {} simulations",
        summary.steps_run, summary.seconds, summary.likelihood_evals, summary.simulations
    ));
    let opts = EvalOptions { distances: cfg.distances, ..EvalOptions::all(cfg.n_samples, cfg.seed) };
    let mut results = Vec::with_capacity(cfg.n_observations);
    for (i, reference) in observations.references.iter().enumerate() {
        let (index, seed, x) = (i + 1, observation_seed(i + 1), observations.x.row(i));
        let reference_seconds = observations.reference_seconds[i];
        let (refined, refinement) = match &cfg.refine {
            Some(rc) => {
                let mut refined = flow.clone();
                let rc = RefineConfig { seed: cfg.seed, ..rc.clone() };
                let s = refine(model.as_ref(), &mut refined, x, &rc, &mut |_| ControlFlow::Continue(()))?.summary;
                on_line(&format!(
                    "{label}: observation {index}: refined {} steps in {:.1} s, median ESS {:.1} of {} over the last tenth, {} likelihood evaluations",
                    s.steps_run, s.seconds, s.median_ess_late, rc.draws, s.likelihood_evals
                ));
                (Some(refined), Some(s))
            }
            None => (None, None),
        };
        let flow = refined.as_ref().unwrap_or(&flow);
        let (report, flow_samples, reference_samples) = match reference {
            Some(r) => {
                let (report, samples) = evaluate_with_samples(flow, r.as_ref(), x, &opts)?;
                (Some(report), samples.q, Some(samples.p))
            }
            None => (None, flow.sample(x, cfg.n_samples, cfg.seed)?, None),
        };
        let importance_report = match reference {
            Some(r) if cfg.importance => {
                let icfg = ImportanceConfig::default();
                Some(evaluate_importance(flow, model.as_ref(), r.as_ref(), x, &opts, &icfg)?)
            }
            _ => None,
        };
        let c2st = |r: &Option<EvalReport>| r.as_ref().and_then(|r| r.c2st).map_or("n/a".into(), |c| format!("{c:.3}"));
        let corrected = match importance_report.as_ref().and_then(|r| r.importance.as_ref()) {
            Some(d) => {
                format!(", importance-corrected {} ({} draws, ESS {:.0})", c2st(&importance_report), d.draws, d.ess)
            }
            None => String::new(),
        };
        on_line(&format!(
            "{label}: observation {index}: C2ST {}{corrected} (reference {reference_seconds:.1} s)",
            c2st(&report)
        ));
        results.push(ObservationResult {
            index,
            seed,
            theta_true: observations.theta_true.row(i).to_vec(),
            x: x.to_vec(),
            report,
            importance_report,
            reference_seconds,
            flow_samples,
            reference_samples,
            refinement,
        });
    }
    Ok(TaskResult {
        task: task.to_string(),
        reference: observations.kind,
        flow,
        meta,
        train_seconds: summary.seconds,
        likelihood_evals: summary.likelihood_evals,
        simulations: summary.simulations,
        budget: cfg.budget,
        steps_run: summary.steps_run,
        observations: results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_depend_on_neither_count_nor_training_seed() {
        let model = crate::tasks::by_name("two_moons").expect("valid task");
        let (theta3, x3) = observations(model.as_ref(), 3).expect("simulates");
        let (theta5, x5) = observations(model.as_ref(), 5).expect("simulates");
        assert_eq!(theta3.as_slice(), &theta5.as_slice()[..3 * 2]);
        assert_eq!(x3.as_slice(), &x5.as_slice()[..3 * 2]);
        assert_ne!(x5.row(0), x5.row(1), "observations differ from each other");
        assert!(theta5.as_slice().iter().all(|v| v.abs() <= 1.0), "θ* is a prior draw");
    }

    #[test]
    fn reference_kind_agrees_with_reference_for() {
        let model_x = |name: &str| {
            let model = crate::tasks::by_name(name).expect("valid task");
            observations(model.as_ref(), 1).expect("simulates").1
        };
        for &name in crate::tasks::NAMES {
            let kind = ReferenceKind::of_task(name).expect("listed names are valid");
            let has_reference = crate::tasks::reference_for(name, model_x(name).row(0)).expect("valid x").is_some();
            assert_eq!(has_reference, matches!(kind, ReferenceKind::Exact | ReferenceKind::Grid), "{name}");
        }
        assert!(ReferenceKind::of_task("nope").is_err());
    }

    #[test]
    fn reference_samples_follow_the_kind_and_name_what_is_missing() {
        let x = [0.1, -0.2, 0.3];
        let (exact, _) = reference_samples("square3d", ReferenceKind::Exact, &x, 200, 3).expect("exact");
        let (again, _) = reference_samples("square3d", ReferenceKind::Exact, &x, 200, 3).expect("exact");
        assert_eq!((exact.rows(), exact.cols()), (200, 3));
        assert_eq!(exact.as_slice(), again.as_slice(), "same seed, same draws");
        let (grid, _) = reference_samples("square3d", ReferenceKind::Grid, &x, 50, 3).expect("grid");
        assert_eq!((grid.rows(), grid.cols()), (50, 3));
        let (smc, _) = reference_samples("square3d", ReferenceKind::Smc, &x, 300, 3).expect("smc");
        assert_eq!(smc.rows(), 300);
        let distinct = (1..smc.rows()).filter(|&r| smc.row(r) != smc.row(0)).count();
        assert!(distinct > 250, "draws are distinct particles: {distinct}");

        let x_slcp = [0.0; 8];
        let msg = reference_samples("slcp", ReferenceKind::Exact, &x_slcp, 10, 1).unwrap_err().to_string();
        assert!(msg.contains("exact reference of task slcp") && msg.contains("'smc'"), "{msg}");
        let msg = reference_samples("two_moons", ReferenceKind::Exact, &[0.0, 0.0], 10, 1).unwrap_err().to_string();
        assert!(msg.contains("two_moons's reference is 'grid'"), "{msg}");
        let msg = reference_samples("square3d", ReferenceKind::Exact, &[0.0; 2], 10, 1).unwrap_err().to_string();
        assert!(msg.contains("expected 3"), "{msg}");
        assert!(reference_samples("square3d", ReferenceKind::Exact, &x, 0, 1).is_err());
    }

    #[test]
    fn reference_smc_config_uses_two_particles_per_sample_and_finer_stages() {
        let cfg = reference_smc_config(10_000, 7);
        assert_eq!((cfg.n_particles, cfg.seed), (20_000, 7));
        assert_eq!((cfg.target_ess_fraction, cfg.moves_per_stage), (0.9, 30));
        assert_eq!(reference_smc_config(10, 1).n_particles, MIN_SMC_PARTICLES);
        assert_eq!(ReferenceKind::of_task("bernoulli_glm").expect("valid"), ReferenceKind::Smc);
    }

    /// sbibm's `slcp` observation 1 (`files/num_observation_1/observation.csv`).
    const SLCP_OBS1: [f64; 8] =
        [2.3718784, 0.49947417, 9.931435, 1.7136912, -10.436423, -1.9067793, -1.2343777, -0.09735];
    /// E[θ₅ | x] at [`SLCP_OBS1`]: importance sampling with 200,000 draws (ESS 50,000) from a
    /// kernel density fit to two reference sample sets plus 10 % prior, ± 0.005; sbibm's
    /// reference samples give 2.400 ± 0.005.
    const SLCP_OBS1_THETA5_MEAN: f64 = 2.397;

    #[test]
    fn reference_smc_settings_get_the_slcp_theta5_tail_that_the_default_misses() {
        let theta5_mean = |cfg: &SmcConfig| {
            let particles = smc_reference(&crate::tasks::Slcp::new(), &SLCP_OBS1, cfg).expect("runs");
            let t = particles.particles();
            (0..t.rows()).map(|r| t.row(r)[4]).sum::<f64>() / t.rows() as f64
        };
        let reference = theta5_mean(&reference_smc_config(10_000, 1));
        assert!((reference - SLCP_OBS1_THETA5_MEAN).abs() < 0.02, "reference settings: {reference}");
        // SmcConfig::default's 7 coarse stages leave θ₅ short of its tail near the bound 3.
        let coarse = theta5_mean(&SmcConfig { n_particles: 10_000, seed: 1, ..SmcConfig::default() });
        assert!(SLCP_OBS1_THETA5_MEAN - coarse > 0.04, "default settings: {coarse}");
    }

    #[test]
    fn summary_skips_missing_and_nan_values() {
        let s = summarize([Some(0.5), None, Some(0.7), Some(f64::NAN)].into_iter()).expect("two values");
        assert!((s.mean - 0.6).abs() < 1e-15);
        assert!((s.std - 0.02f64.sqrt()).abs() < 1e-15);
        assert!(summarize([None, Some(f64::NAN)].into_iter()).is_none());
    }

    #[test]
    fn spread_gives_the_standard_error_and_the_worst_observation() {
        let s = spread([(1, Some(0.5)), (2, None), (3, Some(0.7)), (4, Some(f64::NAN)), (5, Some(0.6))].into_iter())
            .expect("three values");
        assert!((s.mean - 0.6).abs() < 1e-15);
        // sd of (0.5, 0.7, 0.6) is 0.1; over √3.
        assert!((s.standard_error - 0.1 / 3f64.sqrt()).abs() < 1e-15, "{s:?}");
        assert_eq!((s.worst, s.worst_index, s.n), (0.7, 3, 3));
        assert!(spread([(1, None), (2, Some(f64::INFINITY))].into_iter()).is_none());
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let bad = BenchmarkConfig { n_observations: 0, ..BenchmarkConfig::default() };
        let msg = run_task("gaussian_linear", &bad, &mut |_| {}).err().expect("0 observations").to_string();
        assert!(msg.contains("observations"), "{msg}");
        let msg = run_task("nope", &BenchmarkConfig::default(), &mut |_| {}).err().expect("unknown").to_string();
        assert!(msg.contains("nope") && msg.contains("two_moons"), "{msg}");
    }

    #[test]
    fn references_are_built_once_for_the_observations_asked_for() {
        let cfg = BenchmarkConfig { n_observations: 2, n_samples: 50, budget: Some(0), ..BenchmarkConfig::default() };
        let msg = TaskObservations::build("square3d", &cfg, &mut |_| {}).err().expect("budget 0").to_string();
        assert!(msg.contains("budget"), "{msg}");
        let cfg = BenchmarkConfig { budget: None, ..cfg };
        let built = TaskObservations::build("square3d", &cfg, &mut |_| {}).expect("exact references");
        let model = crate::tasks::by_name("square3d").expect("valid task");
        let (theta, x) = observations(model.as_ref(), 2).expect("simulates");
        assert_eq!((built.theta_true.as_slice(), built.x.as_slice()), (theta.as_slice(), x.as_slice()));
        assert_eq!((built.kind, built.references.len()), (ReferenceKind::Exact, 2));
        // A training judged on other observations or sample counts than they were built for.
        for other in [BenchmarkConfig { n_observations: 3, ..cfg.clone() }, BenchmarkConfig { n_samples: 60, ..cfg }] {
            let msg = run_task_on(&built, &other, &mut |_| {}).err().expect("mismatch").to_string();
            assert!(msg.contains("built for 2 observations of 50 samples"), "{msg}");
        }
    }

    #[test]
    fn settings_are_the_recommended_ones_with_overrides() {
        let model = crate::tasks::by_name("two_moons").expect("valid task");
        let cfg = BenchmarkConfig { seed: 7, steps: Some(12), budget: Some(10_000), ..BenchmarkConfig::default() };
        let (flow, train) = task_settings("two_moons", model.as_ref(), &cfg);
        let (flow0, train0) = crate::tasks::recommended("two_moons", 2, 2);
        assert_eq!(flow, flow0);
        assert_eq!((train.seed, train.steps, train.round_steps, train.budget), (7, 12, 12, Some(10_000)));
        assert_eq!(train0.budget, None);
        let rest = TrainConfig {
            seed: train0.seed,
            steps: train0.steps,
            round_steps: train0.round_steps,
            budget: None,
            ..train
        };
        assert_eq!(rest, train0);
    }
}
