//! The training loop: draws, weights, chunked forward/backward, Adam, validation, early stopping.

use std::time::Instant;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::flow::{Flow, FlowWorkspace, ObsFeatures, Standardizer, CHUNK_ROWS};
use crate::mat::Mat;
use crate::model::Model;
use crate::nn::{clip_grad_norm, Adam};
use crate::real::Real;
use crate::rng::{stream, Stream};
use crate::weights::BatchLayout;

use super::batch::Batch;
use super::init::MixtureInit;
use super::loss::weighted_nll;
use super::proposal::ProposalConfig;
use super::temper::{median_ess, TemperConfig, Tempering, Toggle};

/// The automatic proposal turns adaptive (and tempering on, for a unimodal base) when the
/// validation batch's prior draws (N per observation, β = 1) give a median per-observation ESS
/// below this: each observation's gradient would rest on a handful of draws (measured pilots:
/// square3d 2.0, bernoulli_glm 3.5; slcp 8.2, square2d 16.5, gaussian_linear 101 above).
pub const AUTO_ESS_THRESHOLD: f64 = 5.0;

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
            seed: 1,
        }
    }
}

fn default_mixture_init() -> MixtureInit {
    MixtureInit::Separated
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
    /// The step budget.
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
    /// Learning rate used for this step.
    pub lr: f64,
}

/// Summary of a finished run; stored in the model file.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainSummary {
    /// Optimiser steps taken (below the budget after early stopping or a time limit).
    pub steps_run: usize,
    /// Whether the run ended on patience or the time limit.
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
}

/// Standardisation of the conditioners' context (x and its [`ObsFeatures`]'s statistics) from `n`
/// prior-predictive simulations.
pub fn prior_predictive_standardizer(
    model: &dyn Model,
    x_features: ObsFeatures,
    n: usize,
    seed: u64,
) -> Result<Standardizer> {
    x_features.validate(model.x_dim())?;
    let (_, x) = simulate_pairs(model, n, seed, Stream::Init, u64::MAX)?;
    Ok(Standardizer::fit(x_features.rows(x.as_ref()).as_ref()))
}

/// `n` prior draws θ and one simulated x each, from the stream `(seed, purpose, step, 0)`.
pub(crate) fn simulate_pairs(
    model: &dyn Model,
    n: usize,
    seed: u64,
    purpose: Stream,
    step: u64,
) -> Result<(Mat<f64>, Mat<f64>)> {
    let mut rng = stream(seed, purpose, step, 0);
    let mut theta = Mat::zeros(n, model.theta_dim());
    model.prior().sample(&mut rng, theta.as_mut());
    let mut x = Mat::zeros(n, model.x_dim());
    model.simulate(theta.as_ref(), &mut rng, x.as_mut())?;
    Ok((theta, x))
}

/// Per-chunk scratch: the flow's workspace and the seed gradient.
pub(crate) struct Chunk<T: Real> {
    pub(crate) ws: FlowWorkspace<T>,
    d_log_q: Vec<T>,
}

impl<T: Real> Chunk<T> {
    /// Scratch for one chunk of [`CHUNK_ROWS`] rows of `flow`.
    pub(crate) fn new(flow: &Flow<T>) -> Self {
        Self { ws: flow.workspace(CHUNK_ROWS), d_log_q: vec![T::zero(); CHUNK_ROWS] }
    }
}

/// Forward pass of the rows `u`, `ctx` in the flow's fixed chunks, in parallel; each chunk's
/// workspace keeps its log q and what the backward pass needs.
pub(crate) fn forward_chunks<T: Real>(flow: &Flow<T>, params: &[T], u: &Mat<T>, ctx: &Mat<T>, chunks: &mut [Chunk<T>]) {
    let n = u.rows();
    chunks[..n.div_ceil(CHUNK_ROWS)].par_iter_mut().enumerate().for_each(|(c, ch)| {
        let start = c * CHUNK_ROWS;
        let rows = CHUNK_ROWS.min(n - start);
        flow.forward_chunk(
            params,
            u.as_ref().rows_range(start, rows),
            ctx.as_ref().rows_range(start, rows),
            &mut ch.ws,
        );
    });
}

/// After [`forward_chunks`] on `w.len()` rows: the weighted NLL −Σ_b w_b log q_b (support space)
/// and, when `grad` is given, its gradient. Chunk gradients are reduced in chunk order, so the
/// result does not depend on the thread count.
pub(crate) fn backward_chunks<T: Real>(
    flow: &Flow<T>,
    params: &[T],
    w: &[T],
    chunks: &mut [Chunk<T>],
    grad: Option<&mut [T]>,
) -> f64 {
    let want_grad = grad.is_some();
    let n = w.len();
    let n_chunks = n.div_ceil(CHUNK_ROWS);
    let losses: Vec<f64> = chunks[..n_chunks]
        .par_iter_mut()
        .enumerate()
        .map(|(c, ch)| {
            let start = c * CHUNK_ROWS;
            let rows = CHUNK_ROWS.min(n - start);
            let l = weighted_nll(&ch.ws.log_q[..rows], &w[start..start + rows], &mut ch.d_log_q[..rows]);
            if want_grad {
                ch.ws.grad.fill(T::zero());
                flow.backward_chunk(params, &ch.d_log_q[..rows], &mut ch.ws);
            }
            l
        })
        .collect();
    if let Some(grad) = grad {
        grad.fill(T::zero());
        for ch in &chunks[..n_chunks] {
            for (g, &c) in grad.iter_mut().zip(&ch.ws.grad) {
                *g += c;
            }
        }
    }
    losses.iter().sum()
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

/// Trains `flow` on `model` in place; returns the run's summary. The parameters left in
/// `flow` are those with the best validation loss, or the last ones for a run with the adaptive
/// proposal (which also never stops on patience). `on_step` is called after every step.
pub fn train<T: Real>(
    model: &dyn Model,
    flow: &mut Flow<T>,
    cfg: &TrainConfig,
    on_step: &mut dyn FnMut(&StepReport),
) -> Result<TrainSummary> {
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
    let (d, c) = (flow.theta_dim(), flow.context_width());
    let (n_theta, m) = (cfg.thetas_per_step, cfg.pairs_per_obs);

    // Fixed validation batch: its own observations, prior draws and pairs, at β = 1, so
    // validation losses are comparable across the whole run whatever the proposal and β.
    let (_, x_val) = simulate_pairs(model, cfg.val_obs, cfg.seed, Stream::Validation, 0)?;
    let mut val = Batch::<T>::new(d, c);
    val.draw_prior(model, flow, &x_val, n_theta, cfg, Stream::Validation, 0)?;
    val.select(flow, &x_val, cfg, 0, 1.0)?;

    let mut batch = Batch::<T>::new(d, c);
    // Pilot for the automatic choices: the validation batch's prior draws at β = 1.
    let pilot_ess = median_ess(&val.log_lik, None, 1.0);
    let degenerate = pilot_ess < AUTO_ESS_THRESHOLD;
    let adaptive_from = cfg.proposal.adaptive_from(cfg.steps, degenerate);
    let tempered = match cfg.temper.mode {
        Toggle::On => true,
        Toggle::Off => false,
        // Tempering joins separated modes (temper module docs): only for a unimodal base.
        Toggle::Auto => degenerate && flow.config().base.components() == 1,
    };
    let adaptive_rows = if adaptive_from.is_some() { cfg.obs_per_step * cfg.proposal.draws_per_obs } else { 0 };

    let max_rows = (cfg.obs_per_step * m).max(cfg.val_obs * m).max(adaptive_rows);
    let mut chunks: Vec<Chunk<T>> = (0..max_rows.div_ceil(CHUNK_ROWS)).map(|_| Chunk::new(flow)).collect();
    let mut grad = vec![T::zero(); flow.n_params()];
    let mut params = flow.params().to_vec();
    let mut best = params.clone();
    let mut adam = Adam::<T>::new(params.len(), cfg.lr);
    let mut summary = TrainSummary {
        best_val_loss: f64::INFINITY,
        pilot_median_ess: pilot_ess,
        adaptive_from,
        tempered,
        ..Default::default()
    };
    let mut tempering = Tempering::default();
    let mut ess_sum = 0.0;
    // Per step (min, median) of the per-observation ESS; summarised over the last 10 % of the
    // steps actually run (early stopping may end the run before the planned last 10 %).
    let mut ess_trace: Vec<(f64, f64)> = Vec::with_capacity(cfg.steps);
    let mut loss_avg = f64::NAN;
    let mut since_best = 0;

    for step in 0..cfg.steps {
        let (_, x) = simulate_pairs(model, cfg.obs_per_step, cfg.seed, Stream::Simulate, step as u64)?;
        let adaptive = adaptive_from.is_some_and(|s| step >= s);
        let (loss, beta) = if adaptive {
            // The draws are the batch: one forward pass gives log q for the proposal density
            // and for the loss; the weights, fixed from it, seed the backward pass.
            batch.draw_adaptive(model, flow, &params, &x, cfg, step as u64)?;
            forward_chunks(flow, &params, &batch.u, &batch.ctx, &mut chunks);
            batch.proposal_offsets(model.prior(), &chunks, cfg.proposal.prior_share, step)?;
            let beta = tempering.update(&cfg.temper, tempered, step, cfg.steps, &batch.log_lik, batch.offset());
            batch.weigh_all(beta)?;
            let reverse = batch.add_reverse_kl(beta, cfg.reverse_kl, cfg.proposal.prior_draws());
            // The reported loss stays the forward KL's weighted NLL.
            let loss = backward_chunks(flow, &params, &batch.w, &mut chunks, Some(&mut grad)) - reverse;
            (loss - batch.support_term, beta)
        } else {
            // The warm-up of an adaptive run only needs a rough start for q: fewer draws.
            let n = if adaptive_from.is_some() { n_theta.min(cfg.proposal.warmup_thetas) } else { n_theta };
            batch.draw_prior(model, flow, &x, n, cfg, Stream::Theta, step as u64)?;
            let beta = tempering.update(&cfg.temper, tempered, step, cfg.steps, &batch.log_lik, None);
            batch.select(flow, &x, cfg, step as u64, beta)?;
            (loss_and_grad(flow, &params, &batch, &mut chunks, Some(&mut grad)), beta)
        };
        summary.likelihood_evals += batch.log_lik.as_slice().len() as u64;
        if beta < 1.0 {
            summary.beta_one_step = step + 1;
        }
        if !loss.is_finite() {
            return Err(Error::NonFinite { step, what: "training loss", value: loss });
        }
        let norm = clip_grad_norm(&mut grad, cfg.clip_norm);
        if !norm.is_finite() {
            return Err(Error::NonFinite { step, what: "gradient norm", value: norm });
        }
        let lr = cfg.lr_at(step);
        adam.set_lr(lr);
        adam.step(&mut params, &grad);
        if let Some(k) = params.iter().position(|p| !p.is_finite()) {
            return Err(Error::NonFinite { step, what: "parameter", value: params[k].to_f64_lossless() });
        }
        loss_avg = if loss_avg.is_nan() { loss } else { 0.98 * loss_avg + 0.02 * loss };
        let (ess_mean, ess_min, ess_median) = (batch.ess.mean(), batch.ess.min(), batch.ess.median());
        ess_sum += ess_mean;
        ess_trace.push((ess_min, ess_median));
        summary.draws_per_obs_late = batch.log_lik.cols();
        summary.steps_run = step + 1;

        // The last step run (budget or time limit) always validates, so every run has a
        // validation loss and kept parameters to report.
        let out_of_time = cfg.time_limit.is_some_and(|t| started.elapsed().as_secs_f64() > t);
        let mut val_loss = None;
        if (step + 1) % cfg.val_every == 0 || step + 1 == cfg.steps || out_of_time {
            let v = loss_and_grad(flow, &params, &val, &mut chunks, None);
            if !v.is_finite() {
                return Err(Error::NonFinite { step, what: "validation loss", value: v });
            }
            summary.history.push((step + 1, loss_avg, v));
            summary.ess_history.push((step + 1, ess_mean));
            summary.beta_history.push((step + 1, beta));
            if v < summary.best_val_loss {
                summary.best_val_loss = v;
                summary.best_step = step + 1;
                best.copy_from_slice(&params);
                since_best = 0;
            } else if beta >= 1.0 && adaptive_from.is_none() {
                // Patience runs only on the untempered target: while β < 1 the validation loss
                // (always at β = 1) may stall for reasons that resolve as β rises.
                since_best += 1;
            }
            val_loss = Some(v);
        }
        on_step(&StepReport {
            step: step + 1,
            steps: cfg.steps,
            loss,
            val_loss,
            ess_mean,
            ess_min,
            ess_median,
            beta,
            adaptive,
            lr,
        });
        if since_best >= cfg.patience || out_of_time {
            summary.stopped_early = true;
            break;
        }
    }
    // An adaptive run keeps its last parameters: its validation batch (prior draws, where the
    // prior's weights degenerate) is too noisy a yardstick to pick a step by, or to stop on
    // (measured on slcp: patience stopped a 16000-step run at 10200 on a plateau of ±0.05 nats).
    // The learning rate has decayed by then, and fresh draws every step leave nothing to overfit.
    if adaptive_from.is_some() {
        best.copy_from_slice(&params);
        summary.best_step = summary.steps_run;
        summary.best_val_loss = summary.history.last().map_or(f64::NAN, |h| h.2);
    }
    flow.params_mut().copy_from_slice(&best);
    summary.final_loss = loss_avg;
    summary.mean_ess = ess_sum / summary.steps_run.max(1) as f64;
    let late = &ess_trace[ess_trace.len() - (ess_trace.len() / 10).max(1).min(ess_trace.len())..];
    summary.min_ess_late = late.iter().map(|e| e.0).fold(f64::INFINITY, f64::min);
    summary.median_ess_late = late.iter().map(|e| e.1).sum::<f64>() / late.len().max(1) as f64;
    summary.likelihood_evals += (cfg.val_obs * n_theta) as u64;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
