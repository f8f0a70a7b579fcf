//! The training loop: draws, weights, chunked forward/backward, Adam, validation, early stopping.

use std::time::Instant;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::flow::{Flow, FlowWorkspace, Standardizer, CHUNK_ROWS};
use crate::mat::Mat;
use crate::model::{log_likelihood_matrix, Model};
use crate::nn::{clip_grad_norm, Adam};
use crate::real::Real;
use crate::rng::{stream, Stream};
use crate::weights::{weighted_batch, BatchLayout, EssStats, WeightedBatch};

use super::init::MixtureInit;
use super::loss::weighted_nll;

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
    /// Stop after this many validations without improvement.
    pub patience: usize,
    /// How a mixture base is initialised before training (ignored for a Gaussian base).
    #[serde(default = "default_mixture_init")]
    pub mixture_init: MixtureInit,
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
        if self.clip_norm.is_nan() || self.clip_norm <= 0.0 {
            return Err(Error::invalid("train.clip_norm", "must be positive"));
        }
        Ok(())
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
    /// Step whose parameters were kept (best validation loss).
    pub best_step: usize,
    /// The best validation loss (weighted NLL on the held-out batch).
    pub best_val_loss: f64,
    /// Training loss at the end: exponential moving average (weight 0.02 per step) of the step losses.
    pub final_loss: f64,
    /// Mean over steps of the per-observation ESS averaged over observations.
    pub mean_ess: f64,
    /// Smallest per-observation ESS seen in the last 10% of steps.
    pub min_ess_late: f64,
    /// Likelihood pairs L(x_j|θ_i) evaluated over the run (J·N per step, plus initialisation).
    pub likelihood_evals: u64,
    /// Wall-clock training time, seconds.
    pub seconds: f64,
    /// (step, train loss, validation loss) at each validation.
    pub history: Vec<(usize, f64, f64)>,
    /// (step, mean ESS) at each validation.
    pub ess_history: Vec<(usize, f64)>,
}

/// Standardisation of x from `n` prior-predictive simulations.
pub fn prior_predictive_standardizer(model: &dyn Model, n: usize, seed: u64) -> Result<Standardizer> {
    let (_, x) = simulate_pairs(model, n, seed, Stream::Init, u64::MAX)?;
    Ok(Standardizer::fit(x.as_ref()))
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

/// One weighted batch gathered into flow inputs, plus the scratch to build it.
struct Batch<T: Real> {
    theta: Mat<f64>,
    u_all: Mat<T>,
    ld_all: Vec<f64>,
    log_w: Mat<f64>,
    pairs: WeightedBatch,
    ess: EssStats,
    u: Mat<T>,
    ctx: Mat<T>,
    w: Vec<T>,
    /// Σ_b w_b log|det J_support(θ_b)|: turns the support-space NLL into the θ-space one.
    support_term: f64,
}

impl<T: Real> Batch<T> {
    fn new(n_theta: usize, n_obs: usize, m: usize, d: usize, c: usize) -> Self {
        Self {
            theta: Mat::zeros(n_theta, d),
            u_all: Mat::zeros(n_theta, d),
            ld_all: vec![0.0; n_theta],
            log_w: Mat::zeros(n_obs, n_theta),
            pairs: WeightedBatch::default(),
            ess: EssStats::default(),
            u: Mat::zeros(n_obs * m, d),
            ctx: Mat::zeros(n_obs * m, c),
            w: vec![T::zero(); n_obs * m],
            support_term: 0.0,
        }
    }

    /// Draws θ from the prior, weights them against the observations `x`, picks the pairs.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        model: &dyn Model,
        flow: &Flow<T>,
        x: &Mat<f64>,
        cfg: &TrainConfig,
        purpose: Stream,
        step: u64,
    ) -> Result<()> {
        let mut rng = stream(cfg.seed, purpose, step, 1);
        model.prior().sample(&mut rng, self.theta.as_mut());
        log_likelihood_matrix(model, x.as_ref(), self.theta.as_ref(), &mut self.log_w)?;
        // Proposal = prior: log π(θ) − log r(θ) = 0, so log w = log L.
        weighted_batch(&mut self.log_w, cfg.layout, cfg.pairs_per_obs, cfg.seed, step, &mut self.pairs, &mut self.ess)?;
        let d = flow.theta_dim();
        let mut buf = vec![0.0; d];
        for i in 0..self.theta.rows() {
            self.ld_all[i] = flow.support().forward(self.theta.row(i), &mut buf);
            for (o, &v) in self.u_all.row_mut(i).iter_mut().zip(&buf) {
                *o = T::lit(v);
            }
        }
        let norm = flow.ctx_standardizer();
        self.support_term = 0.0;
        for b in 0..self.pairs.len() {
            let (i, j) = (self.pairs.theta_idx[b], self.pairs.x_idx[b]);
            self.u.row_mut(b).copy_from_slice(self.u_all.row(i));
            norm.apply(x.row(j), self.ctx.row_mut(b));
            self.w[b] = T::lit(self.pairs.w[b]);
            self.support_term += self.pairs.w[b] * self.ld_all[i];
        }
        Ok(())
    }
}

/// Per-chunk scratch: the flow's workspace and the seed gradient.
struct Chunk<T: Real> {
    ws: FlowWorkspace<T>,
    d_log_q: Vec<T>,
}

/// Weighted NLL of `batch` under `params` (and its gradient when `grad` is given), chunked
/// in parallel; chunk gradients are reduced in chunk order, so the result does not depend on
/// the thread count.
fn loss_and_grad<T: Real>(
    flow: &Flow<T>,
    params: &[T],
    batch: &Batch<T>,
    chunks: &mut [Chunk<T>],
    grad: Option<&mut [T]>,
) -> f64 {
    let want_grad = grad.is_some();
    let n = batch.u.rows();
    let n_chunks = n.div_ceil(CHUNK_ROWS);
    let losses: Vec<f64> = chunks[..n_chunks]
        .par_iter_mut()
        .enumerate()
        .map(|(c, ch)| {
            let start = c * CHUNK_ROWS;
            let rows = CHUNK_ROWS.min(n - start);
            let u = batch.u.as_ref().rows_range(start, rows);
            let ctx = batch.ctx.as_ref().rows_range(start, rows);
            flow.forward_chunk(params, u, ctx, &mut ch.ws);
            let l = weighted_nll(&ch.ws.log_q[..rows], &batch.w[start..start + rows], &mut ch.d_log_q[..rows]);
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
    losses.iter().sum::<f64>() - batch.support_term
}

/// Trains `flow` on `model` in place; returns the run's summary. The parameters left in
/// `flow` are those with the best validation loss. `on_step` is called after every step.
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
    let (d, c) = (flow.theta_dim(), flow.ctx_dim());
    let (n_theta, m) = (cfg.thetas_per_step, cfg.pairs_per_obs);

    // Fixed validation batch: its own observations, draws and pairs.
    let (_, x_val) = simulate_pairs(model, cfg.val_obs, cfg.seed, Stream::Validation, 0)?;
    let mut val = Batch::<T>::new(n_theta, cfg.val_obs, m, d, c);
    val.fill(model, flow, &x_val, cfg, Stream::Validation, 0)?;

    let mut batch = Batch::<T>::new(n_theta, cfg.obs_per_step, m, d, c);
    let max_rows = (cfg.obs_per_step * m).max(cfg.val_obs * m);
    let mut chunks: Vec<Chunk<T>> = (0..max_rows.div_ceil(CHUNK_ROWS))
        .map(|_| Chunk { ws: flow.workspace(CHUNK_ROWS), d_log_q: vec![T::zero(); CHUNK_ROWS] })
        .collect();
    let mut grad = vec![T::zero(); flow.n_params()];
    let mut params = flow.params().to_vec();
    let mut best = params.clone();
    let mut adam = Adam::<T>::new(params.len(), cfg.lr);
    let mut summary = TrainSummary { best_val_loss: f64::INFINITY, ..Default::default() };
    let mut ess_sum = 0.0;
    let mut min_ess_late = f64::INFINITY;
    let mut loss_avg = f64::NAN;
    let mut since_best = 0;
    let late = cfg.steps - cfg.steps / 10;

    for step in 0..cfg.steps {
        let (_, x) = simulate_pairs(model, cfg.obs_per_step, cfg.seed, Stream::Simulate, step as u64)?;
        batch.fill(model, flow, &x, cfg, Stream::Theta, step as u64)?;
        summary.likelihood_evals += (cfg.obs_per_step * n_theta) as u64;
        let loss = loss_and_grad(flow, &params, &batch, &mut chunks, Some(&mut grad));
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
        let (ess_mean, ess_min) = (batch.ess.mean(), batch.ess.min());
        ess_sum += ess_mean;
        if step >= late {
            min_ess_late = min_ess_late.min(ess_min);
        }
        summary.steps_run = step + 1;

        let mut val_loss = None;
        if (step + 1) % cfg.val_every == 0 || step + 1 == cfg.steps {
            let v = loss_and_grad(flow, &params, &val, &mut chunks, None);
            if !v.is_finite() {
                return Err(Error::NonFinite { step, what: "validation loss", value: v });
            }
            summary.history.push((step + 1, loss_avg, v));
            summary.ess_history.push((step + 1, ess_mean));
            if v < summary.best_val_loss {
                summary.best_val_loss = v;
                summary.best_step = step + 1;
                best.copy_from_slice(&params);
                since_best = 0;
            } else {
                since_best += 1;
            }
            val_loss = Some(v);
        }
        on_step(&StepReport { step: step + 1, steps: cfg.steps, loss, val_loss, ess_mean, ess_min, lr });
        let out_of_time = cfg.time_limit.is_some_and(|t| started.elapsed().as_secs_f64() > t);
        if since_best >= cfg.patience || out_of_time {
            summary.stopped_early = true;
            break;
        }
    }
    flow.params_mut().copy_from_slice(&best);
    summary.final_loss = loss_avg;
    summary.mean_ess = ess_sum / summary.steps_run.max(1) as f64;
    summary.min_ess_late = if min_ess_late.is_finite() { min_ess_late } else { 0.0 };
    summary.likelihood_evals += (cfg.val_obs * n_theta) as u64;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
