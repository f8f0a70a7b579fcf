//! The training loop: draws, weights, chunked forward/backward, Adam, validation, early stopping.
//!
//! [`Trainer::new`] sets a run up: the fixed validation batch, the pilot that decides the
//! automatic proposal and tempering, and every buffer a step needs. [`Trainer::step`] is one
//! optimiser step (fresh draws, weights, gradient, Adam, validation when due), and
//! [`Trainer::finish`] leaves the kept parameters in the flow. After the first step of each kind
//! (prior draws, adaptive draws, validation) a step allocates nothing of its own
//! (`tests/step_alloc.rs`): what remains is matrixmultiply's packing buffer, allocated and
//! freed inside each GEMM call; the conditional-mixture base's sampler (adaptive steps only); and
//! rayon's global queue, which allocates a block of 63 slots each time it fills when parallel work
//! is started from outside the pool (one allocation per 63 parallel passes; none inside
//! `ThreadPool::install`).

use std::ops::ControlFlow;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::flow::{Flow, FlowConfig, Standardizer};
use crate::mat::Mat;
use crate::model::{simulate_pairs, simulate_pairs_into, Model};
use crate::nn::{clip_grad_norm, Adam};
use crate::real::Real;
use crate::rng::Stream;
use crate::weights::{median, BatchLayout};

use super::batch::{Batch, BatchSettings};
use super::chunks::{backward_chunks, forward_chunks, Chunk};
use super::init::MixtureInit;
use super::proposal::ProposalConfig;
use super::temper::{median_ess, TemperConfig, Tempering, Toggle};

/// The automatic proposal turns adaptive (and tempering on, for a unimodal base) when the
/// validation batch's prior draws (N per observation, β = 1) give a median per-observation ESS
/// below this: each observation's gradient would rest on a handful of draws, and a self-normalised
/// estimate from so few is pulled towards the proposal (wider than the posterior). Measured pilots:
/// square3d 2.0, bernoulli_glm 3.5, gaussian_linear_uniform 6.0, slcp 8.2 below; gaussian_mixture
/// 12.4, square2d 16.5, two_moons 44, gaussian_linear 101 above. Why 10 and not 5: on prior draws
/// gaussian_linear_uniform (6.0) came out under-confident (coverage +0.128, C2ST 0.524 on 5
/// benchmark observations), adaptive it passes every calibration test (C2ST 0.504); slcp (8.2)
/// measured better adaptive too (`docs/proposals.md`).
pub const AUTO_ESS_THRESHOLD: f64 = 10.0;

/// Settings of one training run. `Default` is the budget used by `lwflow train`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Maximum number of optimiser steps.
    pub steps: usize,
    /// Training observations x_j simulated per step (J).
    pub obs_per_step: usize,
    /// Proposal draws θ_i per step (N); every x_j is weighted against all of them.
    pub thetas_per_step: usize,
    /// Pairs per observation the flow is evaluated on (m); batch = J·m rows.
    pub pairs_per_obs: usize,
    /// How the J·m pairs are picked from the J × N weights.
    pub layout: BatchLayout,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate as a fraction of `lr` (cosine decay).
    pub lr_final_ratio: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Global gradient-norm clip.
    pub clip_norm: f64,
    /// Validate every this many steps.
    pub val_every: usize,
    /// Held-out validation observations.
    pub val_obs: usize,
    /// Stop after this many validations without improvement (prior proposal only: see [`train`]).
    pub patience: usize,
    /// How a mixture base is initialised before training (ignored for a Gaussian base).
    #[serde(default = "default_mixture_init")]
    pub mixture_init: MixtureInit,
    /// Where the training draws come from (prior or adaptive defensive mixture).
    #[serde(default = "ProposalConfig::prior")]
    pub proposal: ProposalConfig,
    /// Likelihood tempering of the early steps.
    #[serde(default = "TemperConfig::off")]
    pub temper: TemperConfig,
    /// Weight λ ≥ 0 of the reverse-KL term λ·KL(q‖p) added to the loss of the adaptive steps
    /// (0: the forward KL only). See the module docs of [`crate::train::proposal`].
    #[serde(default)]
    pub reverse_kl: f64,
    /// Optional wall-clock limit in seconds. Stopping on time makes the result depend on the
    /// machine's speed; leave it unset for runs that must be reproducible from the seed.
    pub time_limit: Option<f64>,
    /// Optional budget of model calls: likelihood evaluations plus simulations, the
    /// prior-predictive standardiser's and the validation batch's included, never exceeded. The run
    /// stops before a step that would exceed it (and validates after the last step run); settings
    /// whose fixed costs (standardiser, validation batch, one step) already exceed it are refused.
    /// [`crate::train::fit`] gives the standardiser a tenth of the budget, at most its usual 10,000
    /// simulations. Unset: no limit.
    #[serde(default)]
    pub budget: Option<u64>,
    /// Rounds of a budgeted run (`budget` set; [`crate::train::rounds`]): each spends its share
    /// of the calls left on new observations and draws, then trains on everything stored.
    #[serde(default = "default_rounds")]
    pub rounds: usize,
    /// Whether a budgeted run trains on each observation's simulated θ, an exact posterior draw,
    /// beside its weighted draws (`train/stored.rs`: θ* weighs 1/(1 + ESS) of the observation's loss).
    #[serde(default = "default_exact_draws")]
    pub exact_draws: bool,
    /// Of a budgeted run's rounds, the last this many also evaluate the likelihood, at
    /// `proposal.draws_per_obs` draws per new observation from the defensive mixture of the flow
    /// trained so far; the other rounds spend every call on simulations. At most `rounds − 1`:
    /// round 0 has no flow to draw from. 0 (the default, measured best: docs/budget.md) makes
    /// the run amortized neural posterior estimation on the simulated pairs alone.
    #[serde(default)]
    pub likelihood_rounds: usize,
    /// Gradient steps per round of a budgeted run at most (`steps` is the fresh-draw run's).
    #[serde(default = "default_round_steps")]
    pub round_steps: usize,
    /// Seed of every random stream; the same seed gives the same model on any thread count.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 4000,
            obs_per_step: 64,
            thetas_per_step: 8192,
            pairs_per_obs: 16,
            layout: BatchLayout::Resample,
            lr: 1e-3,
            lr_final_ratio: 0.02,
            warmup_steps: 100,
            clip_norm: 10.0,
            val_every: 100,
            val_obs: 256,
            patience: 10,
            mixture_init: MixtureInit::Separated,
            proposal: ProposalConfig::default(),
            temper: TemperConfig::default(),
            reverse_kl: 0.0,
            time_limit: None,
            budget: None,
            rounds: DEFAULT_ROUNDS,
            exact_draws: true,
            likelihood_rounds: 0,
            round_steps: DEFAULT_ROUND_STEPS,
            seed: 1,
        }
    }
}

fn default_mixture_init() -> MixtureInit {
    MixtureInit::Separated
}

/// Rounds of a budgeted run by default.
pub const DEFAULT_ROUNDS: usize = 4;

fn default_rounds() -> usize {
    DEFAULT_ROUNDS
}

/// Gradient steps per round of a budgeted run at most, by default: model calls are what is
/// expensive, not steps (two_moons at 10⁴ calls: C2ST 0.560 with 4,000, 0.525 with 20,000).
pub const DEFAULT_ROUND_STEPS: usize = 20_000;

fn default_round_steps() -> usize {
    DEFAULT_ROUND_STEPS
}

fn default_exact_draws() -> bool {
    true
}

impl TrainConfig {
    fn validate(&self) -> Result<()> {
        let positive = [
            ("steps", self.steps),
            ("obs_per_step", self.obs_per_step),
            ("thetas_per_step", self.thetas_per_step),
            ("pairs_per_obs", self.pairs_per_obs),
            ("val_every", self.val_every),
            ("val_obs", self.val_obs),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(Error::invalid(format!("train.{name}"), "must be at least 1"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::invalid("train.lr", format!("{} must be a positive number", self.lr)));
        }
        if !(self.reverse_kl >= 0.0 && self.reverse_kl.is_finite()) {
            return Err(Error::invalid("train.reverse_kl", format!("{} must be a finite number ≥ 0", self.reverse_kl)));
        }
        if self.clip_norm.is_nan() || self.clip_norm <= 0.0 {
            return Err(Error::invalid("train.clip_norm", "must be positive"));
        }
        crate::limits::check_train(self)?;
        self.proposal.validate()?;
        self.temper.validate()
    }

    /// The checks of a budgeted run ([`crate::train::rounds`]): those of a fresh-draw run that
    /// apply, and at least one round.
    pub(crate) fn validate_budgeted(&self) -> Result<()> {
        if self.rounds == 0 {
            return Err(Error::invalid("train.rounds", "must be at least 1"));
        }
        if self.round_steps == 0 {
            return Err(Error::invalid("train.round_steps", "must be at least 1"));
        }
        if self.likelihood_rounds >= self.rounds {
            return Err(Error::invalid(
                "train.likelihood_rounds",
                format!(
                    "{} of {} rounds: at most rounds − 1 (round 0 has no flow to draw from and spends its calls on simulations)",
                    self.likelihood_rounds, self.rounds
                ),
            ));
        }
        self.validate()
    }

    /// What the batch needs of these settings.
    fn batch_settings(&self) -> BatchSettings {
        BatchSettings {
            seed: self.seed,
            layout: self.layout,
            pairs_per_obs: self.pairs_per_obs,
            draws_per_obs: self.proposal.draws_per_obs,
            prior_draws: self.proposal.prior_draws(),
        }
    }

    /// Linear warm-up, then cosine decay from `lr` to `lr · lr_final_ratio`.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let t = (step - self.warmup_steps) as f64 / (self.steps - self.warmup_steps).max(1) as f64;
        let c = 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos());
        self.lr * (self.lr_final_ratio + (1.0 - self.lr_final_ratio) * c)
    }
}

/// What the progress callback sees after each step.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// The step just finished, 1-based.
    pub step: usize,
    /// The step budget (for a budgeted run, the most its rounds can take).
    pub steps: usize,
    /// This step's weighted NLL −Σ_b w_b log q(θ_b|x_b).
    pub loss: f64,
    /// Set on validation steps.
    pub val_loss: Option<f64>,
    /// Mean over the step's observations of ESS_j = 1/Σ_i w̃_ij².
    pub ess_mean: f64,
    /// Smallest ESS_j of the step.
    pub ess_min: f64,
    /// Median per-observation ESS of this step's weights.
    pub ess_median: f64,
    /// Likelihood temperature β of this step's weights.
    pub beta: f64,
    /// Whether this step's draws came from the adaptive proposal.
    pub adaptive: bool,
    /// Whether this step is an adaptive run's warm-up on the prior (its few draws per step give a
    /// low ESS by design).
    pub warmup: bool,
    /// Learning rate used for this step.
    pub lr: f64,
    /// Likelihood evaluations so far (cumulative, the validation batch's included).
    pub likelihood_evals: u64,
    /// Simulator calls so far (cumulative: training and validation observations, and those
    /// counted before the trainer started, such as the standardiser's).
    pub simulations: u64,
    /// Observations skipped so far because every draw had zero likelihood for them.
    pub skipped_obs: u64,
}

/// Summary of a finished run; stored in the model file.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainSummary {
    /// Optimiser steps taken (below the budget after early stopping or a time limit).
    pub steps_run: usize,
    /// Whether the run ended on patience, the time limit or the model-call budget.
    pub stopped_early: bool,
    /// Step whose parameters were kept (best validation loss; the last step of an adaptive run).
    pub best_step: usize,
    /// The validation loss (weighted NLL on the held-out batch) at `best_step`.
    pub best_val_loss: f64,
    /// Training loss at the end: exponential moving average (weight 0.02 per step) of the step losses.
    pub final_loss: f64,
    /// Mean over steps of the per-observation ESS averaged over observations.
    pub mean_ess: f64,
    /// Smallest per-observation ESS seen in the last 10% of the steps run.
    pub min_ess_late: f64,
    /// Mean over the last 10% of the steps run of the median per-observation ESS.
    #[serde(default)]
    pub median_ess_late: f64,
    /// Draws each observation was weighted against in the last step (N for the prior, M for the
    /// adaptive proposal): the scale of the ESS figures.
    #[serde(default)]
    pub draws_per_obs_late: usize,
    /// Likelihood pairs L(x_j|θ_i) evaluated over the run (J·N per prior step, J·M per adaptive step, plus validation).
    pub likelihood_evals: u64,
    /// Simulator calls x ~ p(x|θ) over the run: J per step, the validation observations and the
    /// prior-predictive standardiser's (when trained through [`crate::train::fit`]).
    /// `likelihood_evals + simulations` is the run's cost in model calls (≤ `train.budget`).
    #[serde(default)]
    pub simulations: u64,
    /// (observation, step) pairs left out of a training step because every draw had zero
    /// likelihood for the observation (its weights are zero, it is excluded from the loss and the
    /// ESS figures). Validation observations are excluded the same way but not counted here.
    #[serde(default)]
    pub skipped_obs: u64,
    /// Wall-clock training time, seconds.
    pub seconds: f64,
    /// (step, train loss, validation loss) at each validation.
    pub history: Vec<(usize, f64, f64)>,
    /// (step, mean ESS) at each validation.
    pub ess_history: Vec<(usize, f64)>,
    /// (step, β) at each validation.
    #[serde(default)]
    pub beta_history: Vec<(usize, f64)>,
    /// First step that trained on β = 1 (0 without tempering).
    #[serde(default)]
    pub beta_one_step: usize,
    /// Median per-observation ESS of the validation batch's prior draws at β = 1 (the pilot that
    /// decides the automatic proposal and tempering).
    #[serde(default)]
    pub pilot_median_ess: f64,
    /// First step drawn from the adaptive proposal (`None`: prior draws throughout).
    #[serde(default)]
    pub adaptive_from: Option<usize>,
    /// Whether the early steps were tempered.
    #[serde(default)]
    pub tempered: bool,
    /// The rounds of a budgeted run (empty for a fresh-draw run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<RoundSummary>,
}

/// One round of a budgeted run ([`crate::train::rounds`]).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoundSummary {
    /// Observations simulated in this round.
    pub new_obs: usize,
    /// Draws per new observation (M).
    pub draws_per_obs: usize,
    /// How many of the M came from the prior (all in round 0).
    pub prior_draws: usize,
    /// Mean ESS of the new observations' draws (those with any likelihood).
    pub ess_mean: f64,
    /// Median ESS of the new observations' draws (those with any likelihood).
    pub ess_median: f64,
    /// New observations none of whose draws has any likelihood.
    pub no_likelihood_obs: usize,
    /// Likelihood evaluations spent by the end of the round's calls (cumulative).
    pub likelihood_evals: u64,
    /// Simulations spent by the end of the round's calls (cumulative).
    pub simulations: u64,
    /// Epochs trained on the stored set in this round.
    pub epochs: usize,
    /// Gradient steps in this round.
    pub steps: usize,
    /// Best held-out loss of the round (its parameters are kept).
    pub best_val_loss: f64,
    /// Seconds since the run started, at the end of the round.
    pub seconds: f64,
}

/// Model calls: likelihood evaluations L(x_j|θ_i) and simulator calls x ~ p(x|θ).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelCalls {
    /// Likelihood pairs evaluated.
    pub likelihood_evals: u64,
    /// Observations simulated.
    pub simulations: u64,
}

impl ModelCalls {
    /// Likelihood evaluations plus simulations: what `train.budget` limits.
    pub fn total(&self) -> u64 {
        self.likelihood_evals + self.simulations
    }

    /// The calls of `n_obs` simulated observations, each weighted against `draws` draws.
    pub(crate) fn weighted_obs(n_obs: usize, draws: usize) -> Self {
        Self { likelihood_evals: (n_obs * draws) as u64, simulations: n_obs as u64 }
    }

    /// The calls of both.
    pub(crate) fn plus(self, other: Self) -> Self {
        Self {
            likelihood_evals: self.likelihood_evals + other.likelihood_evals,
            simulations: self.simulations + other.simulations,
        }
    }
}

/// Draws each training observation of step `step` is weighted against: N for prior steps
/// (fewer during an adaptive run's warm-up: a rough start for q needs fewer), M for adaptive ones.
fn draws_at(cfg: &TrainConfig, adaptive_from: Option<usize>, step: usize) -> usize {
    match adaptive_from {
        None => cfg.thetas_per_step,
        Some(first) if step < first => cfg.thetas_per_step.min(cfg.proposal.warmup_thetas),
        Some(_) => cfg.proposal.draws_per_obs,
    }
}

/// Refuses a budget that cannot cover the calls spent before training, the validation batch and
/// (once the proposal is known) one step.
fn check_fixed_costs(
    cfg: &TrainConfig,
    spent: ModelCalls,
    val: ModelCalls,
    first_step: Option<ModelCalls>,
) -> Result<()> {
    let Some(budget) = cfg.budget else { return Ok(()) };
    let need = spent.plus(val).plus(first_step.unwrap_or_default()).total();
    if need <= budget {
        return Ok(());
    }
    let step = first_step.map_or(String::new(), |s| format!(", {} for one training step", s.total()));
    Err(Error::invalid(
        "train.budget",
        format!(
            "{budget} model calls cannot cover the fixed costs of {need}: {} spent before training \
             (the standardiser's simulations), {} for the validation batch (val_obs × (thetas_per_step + 1)){step}; \
             raise the budget or lower val_obs, thetas_per_step, obs_per_step",
            spent.total(),
            val.total()
        ),
    ))
}

/// Standardisation of the conditioners' context (x and its [`ObsFeatures`](crate::flow::ObsFeatures)'s statistics, as
/// [`FlowConfig::fit_standardizer`] fits it for `flow`) from `n` prior-predictive simulations.
pub fn prior_predictive_standardizer(
    model: &dyn Model,
    flow: &FlowConfig,
    n: usize,
    seed: u64,
) -> Result<Standardizer> {
    flow.validate_context()?;
    let (_, x) = simulate_pairs(model, n, seed, Stream::Init, u64::MAX)?;
    flow.fit_standardizer(x.as_ref())
}

/// Weighted NLL of a gathered `batch` in θ space (and its gradient when `grad` is given).
fn loss_and_grad<T: Real>(
    flow: &Flow<T>,
    params: &[T],
    batch: &Batch<T>,
    chunks: &mut [Chunk<T>],
    grad: Option<&mut [T]>,
) -> f64 {
    forward_chunks(flow, params, &batch.u, &batch.ctx, chunks);
    backward_chunks(flow, params, &batch.w, chunks, grad) - batch.support_term
}

/// The fixed validation batch: its own observations, prior draws and pairs, at β = 1, so
/// validation losses are comparable across the whole run whatever the proposal and β.
fn validation_batch<T: Real>(
    model: &dyn Model,
    flow: &Flow<T>,
    cfg: &TrainConfig,
    settings: &BatchSettings,
) -> Result<Batch<T>> {
    let (_, x_val) = simulate_pairs(model, cfg.val_obs, cfg.seed, Stream::Validation, 0)?;
    let mut val = Batch::new(flow.theta_dim(), flow.context_width());
    val.draw_prior(model, flow, x_val.as_ref(), cfg.thetas_per_step, cfg.seed, Stream::Validation, 0)?;
    val.select(flow, x_val.as_ref(), settings, 0, 1.0)?;
    Ok(val)
}

/// The automatic choices, from a pilot on the validation batch's prior draws at β = 1: its
/// median per-observation ESS, the first adaptive step (`None`: prior draws throughout) and
/// whether the early steps are tempered.
fn pilot<T: Real>(val: &Batch<T>, flow: &Flow<T>, cfg: &TrainConfig) -> (f64, Option<usize>, bool) {
    let pilot_ess = median_ess(&val.log_lik, None, 1.0);
    let degenerate = pilot_ess < AUTO_ESS_THRESHOLD;
    let adaptive_from = cfg.proposal.adaptive_from(cfg.steps, degenerate);
    let tempered = match cfg.temper.mode {
        Toggle::On => true,
        Toggle::Off => false,
        // Tempering joins separated modes (temper module docs): only for a unimodal base.
        Toggle::Auto => degenerate && flow.config().base.components() == 1,
    };
    (pilot_ess, adaptive_from, tempered)
}

/// Trains `flow` on `model` in place; returns the run's summary. The parameters left in
/// `flow` are those with the best validation loss, or the last ones for a run with the adaptive
/// proposal (which also never stops on patience). `on_step` is called after every step.
pub fn train<T: Real>(
    model: &dyn Model,
    flow: &mut Flow<T>,
    cfg: &TrainConfig,
    on_step: &mut dyn FnMut(&StepReport),
) -> Result<TrainSummary> {
    Trainer::new(model, flow, cfg)?.run_until(&mut |r| {
        on_step(r);
        ControlFlow::Continue(())
    })
}

/// One training run of `flow` on `model` (module docs). The flow's own parameters are untouched
/// until [`Trainer::finish`] writes the kept ones.
pub struct Trainer<'a, T: Real> {
    model: &'a dyn Model,
    flow: &'a mut Flow<T>,
    cfg: &'a TrainConfig,
    settings: BatchSettings,
    started: Instant,
    /// First step drawn from the adaptive proposal (`None`: prior draws throughout).
    adaptive_from: Option<usize>,
    tempered: bool,
    /// The held-out batch: its own observations and prior draws, gathered once at β = 1.
    val: Batch<T>,
    /// The current step's draws, weights and gathered rows.
    batch: Batch<T>,
    /// The current step's simulated pairs (θ unused: x is what is trained on).
    theta_sim: Mat<f64>,
    x_sim: Mat<f64>,
    chunks: Vec<Chunk<T>>,
    grad: Vec<T>,
    params: Vec<T>,
    /// The parameters to keep (best validation loss so far).
    best: Vec<T>,
    adam: Adam<T>,
    tempering: Tempering,
    /// Scratch for the median of the step's per-observation ESS.
    ess_scratch: Vec<f64>,
    summary: TrainSummary,
    ess_sum: f64,
    /// Per step (min, median) of the per-observation ESS; summarised over the last 10 % of the
    /// steps actually run (early stopping may end the run before the planned last 10 %).
    ess_trace: Vec<(f64, f64)>,
    /// Exponential moving average of the step losses (weight 0.02 per step).
    loss_avg: f64,
    /// Validations since the best one.
    since_best: usize,
    stopped: bool,
}

impl<'a, T: Real> Trainer<'a, T> {
    /// Checks the settings against `model` and `flow`, builds the validation batch and runs the
    /// pilot that decides the automatic proposal and tempering, and allocates every buffer.
    pub fn new(model: &'a dyn Model, flow: &'a mut Flow<T>, cfg: &'a TrainConfig) -> Result<Self> {
        Self::with_spent(model, flow, cfg, ModelCalls::default())
    }

    /// [`Trainer::new`] for a run that has already spent `spent` model calls (the prior-predictive
    /// standardiser's simulations, say): they are counted in the summary and against `train.budget`.
    pub fn with_spent(
        model: &'a dyn Model,
        flow: &'a mut Flow<T>,
        cfg: &'a TrainConfig,
        spent: ModelCalls,
    ) -> Result<Self> {
        cfg.validate()?;
        if model.theta_dim() != flow.theta_dim() || model.x_dim() != flow.ctx_dim() {
            return Err(Error::invalid(
                "flow",
                format!(
                    "built for theta_dim {} / x_dim {}, model has {} / {}",
                    flow.theta_dim(),
                    flow.ctx_dim(),
                    model.theta_dim(),
                    model.x_dim()
                ),
            ));
        }
        let started = Instant::now();
        let settings = cfg.batch_settings();
        let (d, c) = (flow.theta_dim(), flow.context_width());
        let val_calls = ModelCalls::weighted_obs(cfg.val_obs, cfg.thetas_per_step);
        check_fixed_costs(cfg, spent, val_calls, None)?;
        let val = validation_batch(model, flow, cfg, &settings)?;
        let (pilot_ess, adaptive_from, tempered) = pilot(&val, flow, cfg);
        let first_step = ModelCalls::weighted_obs(cfg.obs_per_step, draws_at(cfg, adaptive_from, 0));
        check_fixed_costs(cfg, spent, val_calls, Some(first_step))?;

        let m = cfg.pairs_per_obs;
        let adaptive_rows = if adaptive_from.is_some() { cfg.obs_per_step * cfg.proposal.draws_per_obs } else { 0 };
        let max_rows = (cfg.obs_per_step * m).max(cfg.val_obs * m).max(adaptive_rows);
        let params = flow.params().to_vec();
        // Validation records: every val_every steps, plus the last step run.
        let validations = cfg.steps / cfg.val_every + 1;
        let summary = TrainSummary {
            best_val_loss: f64::INFINITY,
            pilot_median_ess: pilot_ess,
            adaptive_from,
            tempered,
            // The validation batch's calls, spent here, after those spent before.
            likelihood_evals: spent.likelihood_evals + val.log_lik.as_slice().len() as u64,
            simulations: spent.simulations + cfg.val_obs as u64,
            history: Vec::with_capacity(validations),
            ess_history: Vec::with_capacity(validations),
            beta_history: Vec::with_capacity(validations),
            ..Default::default()
        };
        Ok(Self {
            model,
            settings,
            started,
            adaptive_from,
            tempered,
            val,
            batch: Batch::new(d, c),
            theta_sim: Mat::zeros(cfg.obs_per_step, model.theta_dim()),
            x_sim: Mat::zeros(cfg.obs_per_step, model.x_dim()),
            chunks: Chunk::for_rows(flow, max_rows),
            grad: vec![T::zero(); flow.n_params()],
            best: params.clone(),
            adam: Adam::new(params.len(), cfg.lr),
            params,
            tempering: Tempering::default(),
            ess_scratch: Vec::with_capacity(cfg.obs_per_step),
            summary,
            ess_sum: 0.0,
            ess_trace: Vec::with_capacity(cfg.steps),
            loss_avg: f64::NAN,
            since_best: 0,
            stopped: false,
            flow,
            cfg,
        })
    }

    /// Whether the run is over: the step budget is spent, it stopped on patience or time, or the
    /// next step would exceed `train.budget`.
    pub fn is_done(&self) -> bool {
        self.stopped || self.summary.steps_run >= self.cfg.steps || self.out_of_budget()
    }

    /// Model calls spent so far.
    pub fn calls(&self) -> ModelCalls {
        ModelCalls { likelihood_evals: self.summary.likelihood_evals, simulations: self.summary.simulations }
    }

    /// Whether the next step's model calls would take the run over `train.budget`.
    fn out_of_budget(&self) -> bool {
        let step = self.summary.steps_run;
        let next = ModelCalls::weighted_obs(self.cfg.obs_per_step, draws_at(self.cfg, self.adaptive_from, step));
        self.cfg.budget.is_some_and(|budget| self.calls().plus(next).total() > budget)
    }

    /// Steps taken so far.
    pub fn steps_run(&self) -> usize {
        self.summary.steps_run
    }

    /// Likelihood pairs L(x_j|θ_i) evaluated so far, the validation batch's included.
    pub fn likelihood_evals(&self) -> u64 {
        self.summary.likelihood_evals
    }

    /// One optimiser step: simulate the step's observations, draw and weigh θ, the gradient of
    /// the weighted NLL, Adam; validates on the step the settings call for. Panics after
    /// [`Trainer::is_done`].
    pub fn step(&mut self) -> Result<StepReport> {
        assert!(!self.is_done(), "Trainer::step: the run is over");
        let (cfg, step) = (self.cfg, self.summary.steps_run);
        simulate_pairs_into(self.model, cfg.seed, Stream::Simulate, step as u64, &mut self.theta_sim, &mut self.x_sim)?;
        let adaptive = self.adaptive_from.is_some_and(|s| step >= s);
        let (loss, beta) = if adaptive { self.adaptive_gradient(step)? } else { self.prior_gradient(step)? };
        self.summary.likelihood_evals += self.batch.log_lik.as_slice().len() as u64;
        self.summary.simulations += cfg.obs_per_step as u64;
        self.summary.skipped_obs += self.batch.ess.skipped() as u64;
        if beta < 1.0 {
            self.summary.beta_one_step = step + 1;
        }
        if !loss.is_finite() {
            return Err(Error::NonFinite { step, what: "training loss", value: loss });
        }
        let lr = self.descend(step)?;
        self.loss_avg = if self.loss_avg.is_nan() { loss } else { 0.98 * self.loss_avg + 0.02 * loss };
        let ess = &self.batch.ess;
        let (ess_mean, ess_min) = (ess.mean(), ess.min());
        self.ess_scratch.clear();
        self.ess_scratch.extend(ess.per_obs.iter().filter(|&&e| e > 0.0));
        let ess_median = median(&mut self.ess_scratch);
        self.ess_sum += ess_mean;
        self.ess_trace.push((ess_min, ess_median));
        self.summary.draws_per_obs_late = self.batch.log_lik.cols();
        self.summary.steps_run = step + 1;

        // The last step run (steps, time limit or model-call budget) always validates, so every
        // run has a validation loss and kept parameters to report.
        let out_of_time = cfg.time_limit.is_some_and(|t| self.started.elapsed().as_secs_f64() > t);
        let out_of_calls = step + 1 < cfg.steps && self.out_of_budget();
        let mut val_loss = None;
        if (step + 1) % cfg.val_every == 0 || step + 1 == cfg.steps || out_of_time || out_of_calls {
            let v = self.validate()?;
            self.record_validation(v, ess_mean, beta);
            val_loss = Some(v);
        }
        if self.since_best >= cfg.patience || out_of_time || out_of_calls {
            self.summary.stopped_early = true;
            self.stopped = true;
        }
        Ok(StepReport {
            step: step + 1,
            steps: cfg.steps,
            loss,
            val_loss,
            ess_mean,
            ess_min,
            ess_median,
            beta,
            adaptive,
            warmup: self.adaptive_from.is_some_and(|s| step < s),
            lr,
            likelihood_evals: self.summary.likelihood_evals,
            simulations: self.summary.simulations,
            skipped_obs: self.summary.skipped_obs,
        })
    }

    /// A prior step: shared prior draws (fewer during an adaptive run's warm-up), weights at
    /// this step's β, pairs gathered by the layout; returns (loss, β) with the gradient in `grad`.
    fn prior_gradient(&mut self, step: usize) -> Result<(f64, f64)> {
        let cfg = self.cfg;
        let flow: &Flow<T> = self.flow;
        let n = draws_at(cfg, self.adaptive_from, step);
        let x = self.x_sim.as_ref();
        self.batch.draw_prior(self.model, flow, x, n, cfg.seed, Stream::Theta, step as u64)?;
        let beta = self.tempering.update(&cfg.temper, self.tempered, step, cfg.steps, &self.batch.log_lik, None);
        self.batch.select(flow, x, &self.settings, step as u64, beta)?;
        let loss = loss_and_grad(flow, &self.params, &self.batch, &mut self.chunks, Some(&mut self.grad));
        Ok((loss, beta))
    }

    /// An adaptive step: M draws per observation from the defensive mixture of the prior and
    /// the current q, every draw in the loss with its weight; returns (loss, β) with the
    /// gradient in `grad`. The draws are the batch: one forward pass gives log q for the
    /// proposal density and for the loss; the weights, fixed from it, seed the backward pass.
    fn adaptive_gradient(&mut self, step: usize) -> Result<(f64, f64)> {
        let cfg = self.cfg;
        let flow: &Flow<T> = self.flow;
        let (batch, chunks, params) = (&mut self.batch, &mut self.chunks, &self.params);
        batch.draw_adaptive(self.model, flow, params, self.x_sim.as_ref(), &self.settings, step as u64)?;
        forward_chunks(flow, params, &batch.u, &batch.ctx, chunks);
        batch.proposal_offsets(self.model.prior(), chunks, cfg.proposal.prior_share, step)?;
        let beta = self.tempering.update(&cfg.temper, self.tempered, step, cfg.steps, &batch.log_lik, batch.offset());
        batch.weigh_all(beta)?;
        let reverse = batch.add_reverse_kl(beta, cfg.reverse_kl, self.settings.prior_draws);
        // The reported loss stays the forward KL's weighted NLL.
        let loss = backward_chunks(flow, params, &batch.w, chunks, Some(&mut self.grad)) - reverse;
        Ok((loss - batch.support_term, beta))
    }

    /// Clips the gradient, takes the Adam step at this step's learning rate; returns the rate.
    fn descend(&mut self, step: usize) -> Result<f64> {
        let lr = self.cfg.lr_at(step);
        descend(&mut self.adam, &mut self.params, &mut self.grad, self.cfg.clip_norm, lr, step)?;
        Ok(lr)
    }

    /// The weighted NLL of the held-out validation batch (its own observations and prior
    /// draws, β = 1) under the current parameters.
    pub fn validate(&mut self) -> Result<f64> {
        let v = loss_and_grad(self.flow, &self.params, &self.val, &mut self.chunks, None);
        if !v.is_finite() {
            let step = self.summary.steps_run.saturating_sub(1);
            return Err(Error::NonFinite { step, what: "validation loss", value: v });
        }
        Ok(v)
    }

    /// Records validation loss `v` after the step just run, keeps the parameters if it is the
    /// best so far, and counts towards patience otherwise.
    fn record_validation(&mut self, v: f64, ess_mean: f64, beta: f64) {
        let step = self.summary.steps_run;
        let summary = &mut self.summary;
        summary.history.push((step, self.loss_avg, v));
        summary.ess_history.push((step, ess_mean));
        summary.beta_history.push((step, beta));
        if v < summary.best_val_loss {
            summary.best_val_loss = v;
            summary.best_step = step;
            self.best.copy_from_slice(&self.params);
            self.since_best = 0;
        } else if beta >= 1.0 && self.adaptive_from.is_none() {
            // Patience runs only on the untempered target: while β < 1 the validation loss
            // (always at β = 1) may stall for reasons that resolve as β rises.
            self.since_best += 1;
        }
    }

    /// Steps until the run is done or `on_step`, called after every step, returns
    /// [`ControlFlow::Break`] (a user's interrupt); then [`Trainer::finish`].
    pub fn run_until(mut self, on_step: &mut dyn FnMut(&StepReport) -> ControlFlow<()>) -> Result<TrainSummary> {
        while !self.is_done() {
            if on_step(&self.step()?).is_break() {
                break;
            }
        }
        Ok(self.finish())
    }

    /// Ends the run: writes the kept parameters into the flow and returns the summary.
    pub fn finish(mut self) -> TrainSummary {
        let summary = &mut self.summary;
        // An adaptive run keeps its last parameters: its validation batch (prior draws, where the
        // prior's weights degenerate) is too noisy a yardstick to pick a step by, or to stop on
        // (measured on slcp: patience stopped a 16000-step run at 10200 on a plateau of ±0.05 nats).
        // The learning rate has decayed by then, and fresh draws every step leave nothing to overfit.
        if self.adaptive_from.is_some() {
            self.best.copy_from_slice(&self.params);
            summary.best_step = summary.steps_run;
            summary.best_val_loss = summary.history.last().map_or(f64::NAN, |h| h.2);
        }
        self.flow.params_mut().copy_from_slice(&self.best);
        summary.final_loss = self.loss_avg;
        summary.mean_ess = self.ess_sum / summary.steps_run.max(1) as f64;
        let trace = &self.ess_trace;
        let late = &trace[trace.len() - (trace.len() / 10).max(1).min(trace.len())..];
        summary.min_ess_late = late.iter().map(|e| e.0).fold(f64::INFINITY, f64::min);
        summary.median_ess_late = late.iter().map(|e| e.1).sum::<f64>() / late.len().max(1) as f64;
        summary.seconds = self.started.elapsed().as_secs_f64();
        self.summary
    }
}

/// One optimiser step of every trainer: clips `grad` to norm `clip_norm`, takes the Adam step at
/// learning rate `lr`; a non-finite gradient norm or parameter is an error naming `step`.
pub(crate) fn descend<T: Real>(
    adam: &mut Adam<T>,
    params: &mut [T],
    grad: &mut [T],
    clip_norm: f64,
    lr: f64,
    step: usize,
) -> Result<()> {
    let norm = clip_grad_norm(grad, clip_norm);
    if !norm.is_finite() {
        return Err(Error::NonFinite { step, what: "gradient norm", value: norm });
    }
    adam.set_lr(lr);
    adam.step(params, grad);
    if let Some(k) = params.iter().position(|p| !p.is_finite()) {
        return Err(Error::NonFinite { step, what: "parameter", value: params[k].to_f64_lossless() });
    }
    Ok(())
}
