//! Training on a budget of model calls (`train.budget = N`): rounds of new calls, each followed
//! by training to convergence on everything stored so far (the stored set, `train/stored.rs`).
//!
//! Round r spends its share of the calls left, N_r = remaining / (R − r), on J_r = ⌊N_r/(1 + M_r)⌋
//! new observations: the simulated pairs (θ*_j, x_j), one call each (θ*_j ~ π, x_j ~ p(x|θ*_j)
//! makes θ*_j an exact draw of p(θ|x_j)), and M_r likelihood evaluations per x_j. The last
//! `train.likelihood_rounds` rounds take M_r = `draws_per_obs` draws from the defensive mixture
//! α π + (1 − α) q(θ|x_j) of the flow trained so far ([`super::proposal`]); the others, round 0
//! always, spend every call on simulations (M_r = 0). The default is no likelihood rounds: at
//! 10⁴–10⁵ calls a draw from q reaches an ESS of 0.1–0.6 per likelihood call, while a
//! simulation is one exact draw for a new x, and the amortized flow gains more from new x
//! (two_moons, slcp: docs/budget.md).
//! Every draw is stored with its weight; gradient steps cost no calls, so each round trains
//! (Adam, warm-started from the previous round) until the loss of the held-out observations
//! (1 in [`HELD_OUT_EVERY`] of each round's, with their draws) has not improved for
//! [`PATIENCE`] validations, then goes on from the best parameters at a quarter of the learning
//! rate ([`LR_DECAYS`] times), at most `train.round_steps` gradient steps,
//! and keeps its best parameters, which the next round draws from. Tempering and the reverse-KL
//! term of the fresh-draw trainer are not used: the stored weights are at β = 1, and the
//! reverse-KL estimator needs draws from the current q.
//!
//! The x standardiser is fitted on round 0's simulated x (no calls of its own). Every call goes
//! through a [`CountedModel`], which refuses a call past the budget: the counts in the summary are
//! the calls made.

use std::ops::ControlFlow;
use std::time::Instant;

use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::flow::{Flow, FlowConfig, Standardizer};
use crate::mat::{Mat, MatRef};
use crate::model::{simulate_pairs_into, CountedModel, Model};
use crate::nn::Adam;
use crate::rng::{stream, Stream};
use crate::weights::median;

use super::batch::{Batch, BatchSettings};
use super::chunks::{backward_chunks, forward_chunks, Chunk};
use super::init::apply_mixture_init;
use super::stored::{Gathered, StoredSet};
use super::trainer::descend;
use super::{RoundSummary, StepReport, TrainConfig, TrainSummary};

/// One observation in this many of each round's is held out for validation (at least one per
/// round of two or more).
pub const HELD_OUT_EVERY: usize = 10;
/// A round stops training after this many validations without a lower held-out loss.
pub const PATIENCE: usize = 10;
/// When a round's held-out loss stops improving, training goes on from the best parameters at
/// the learning rate times [`LR_DECAY`], this many times (measured on two_moons at 10⁵ calls:
/// C2ST 0.620 without, 0.583 with two decays).
pub const LR_DECAYS: usize = 2;
/// Factor of each learning-rate decay.
pub const LR_DECAY: f64 = 0.25;
/// Validations are at least this many gradient steps apart (whole epochs).
pub const MIN_STEPS_PER_VALIDATION: usize = 50;
/// Stream steps of the budgeted rounds (simulations, proposal draws, shuffles), apart from a
/// fresh-draw run's step numbers.
const ROUND_STEP: u64 = 0x726f_756e_6400_0000;

/// Likelihood draws per new observation in `round`: M = `draws_per_obs` in the last
/// `likelihood_rounds` rounds, none before (every call a simulation). Without the exact draws
/// (`exact_draws = false`) every round draws M, round 0 from the prior: there is nothing else to
/// train on.
fn round_draws(cfg: &TrainConfig, round: usize) -> usize {
    if !cfg.exact_draws || round + cfg.likelihood_rounds >= cfg.rounds {
        cfg.proposal.draws_per_obs
    } else {
        0
    }
}

/// Observations a round of `calls` calls can pay for with `draws` draws each.
fn round_obs(calls: u64, draws: usize) -> usize {
    (calls / (1 + draws as u64)) as usize
}

/// Trains a flow for `model` on a budget of `cfg.budget` model calls (module docs); returns the
/// flow (its kept parameters in place), the x standardiser and the run's summary.
pub(crate) fn fit_rounds(
    model: &dyn Model,
    flow_cfg: FlowConfig,
    cfg: &TrainConfig,
    on_step: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<(Flow<f32>, Standardizer, TrainSummary)> {
    let started = Instant::now();
    let budget = cfg.budget.expect("fit_rounds runs a budgeted configuration");
    cfg.validate_budgeted()?;
    let model = CountedModel::new(model, Some(budget));
    let n_rounds = cfg.rounds;
    let first = round_obs(budget / n_rounds as u64, round_draws(cfg, 0));
    if first < 2 {
        return Err(Error::invalid(
            "train.budget",
            format!(
                "{budget} model calls cannot pay for a first round of 2 simulations ({} calls, the budget split \
                 over {n_rounds} rounds); raise the budget or lower train.rounds",
                2 * n_rounds
            ),
        ));
    }
    let (d, x_dim) = (model.theta_dim(), model.x_dim());
    let mut theta_sim = Mat::zeros(first, d);
    let mut x_sim = Mat::zeros(first, x_dim);
    simulate_pairs_into(&model, cfg.seed, Stream::Simulate, ROUND_STEP, &mut theta_sim, &mut x_sim)?;
    let norm = flow_cfg.fit_standardizer(x_sim.as_ref())?;
    let mut flow = Flow::<f32>::new(flow_cfg, model.prior(), norm.clone(), cfg.seed)?;
    apply_mixture_init(&mut flow, cfg.mixture_init, &model, cfg.seed)?;

    let mut run = Rounds::new(&model, &flow, cfg, started);
    for round in 0..n_rounds {
        if round > 0 {
            let n_obs = round_obs(model.remaining() / (n_rounds - round) as u64, round_draws(cfg, round));
            if n_obs == 0 {
                break;
            }
            theta_sim = Mat::zeros(n_obs, d);
            x_sim = Mat::zeros(n_obs, x_dim);
            let step = ROUND_STEP + round as u64;
            simulate_pairs_into(&model, cfg.seed, Stream::Simulate, step, &mut theta_sim, &mut x_sim)?;
        }
        run.add_round(&flow, round, theta_sim.as_ref(), x_sim.as_ref())?;
        if run.train_round(&flow, round, on_step)?.is_break() {
            run.summary.stopped_early = true;
            break;
        }
    }
    let summary = run.finish(&model);
    flow.params_mut().copy_from_slice(&summary.1);
    Ok((flow, norm, summary.0))
}

/// The state of a budgeted run between rounds.
struct Rounds<'a> {
    model: &'a CountedModel<'a>,
    cfg: &'a TrainConfig,
    started: Instant,
    set: StoredSet<f32>,
    batch: Batch<f32>,
    gathered: Gathered<f32>,
    chunks: Vec<Chunk<f32>>,
    params: Vec<f32>,
    grad: Vec<f32>,
    adam: Adam<f32>,
    summary: TrainSummary,
    /// Scratch: one θ in support space.
    u_row: Vec<f64>,
}

impl<'a> Rounds<'a> {
    fn new(model: &'a CountedModel<'a>, flow: &Flow<f32>, cfg: &'a TrainConfig, started: Instant) -> Self {
        let (d, c) = (flow.theta_dim(), flow.context_width());
        let params = flow.params().to_vec();
        Self {
            model,
            cfg,
            started,
            set: StoredSet::new(d, cfg.exact_draws),
            batch: Batch::new(d, c),
            gathered: Gathered::new(d, c),
            chunks: Vec::new(),
            grad: vec![0.0; params.len()],
            adam: Adam::new(params.len(), cfg.lr),
            params,
            summary: TrainSummary { best_val_loss: f64::INFINITY, ..Default::default() },
            u_row: vec![0.0; d],
        }
    }

    /// Enough chunks for `rows` rows.
    fn ensure_chunks(&mut self, flow: &Flow<f32>, rows: usize) {
        let need = rows.div_ceil(crate::flow::CHUNK_ROWS);
        while self.chunks.len() < need {
            self.chunks.push(Chunk::new(flow));
        }
    }

    /// Draws M θ per new observation from this round's proposal, evaluates their likelihoods,
    /// and stores them with the exact draws `theta_sim` of the observations `x_sim`.
    fn add_round(&mut self, flow: &Flow<f32>, round: usize, theta_sim: MatRef<f64>, x_sim: MatRef<f64>) -> Result<()> {
        let cfg = self.cfg;
        let m = round_draws(cfg, round);
        let prior_draws = if round == 0 { m } else { cfg.proposal.prior_draws() };
        let settings = BatchSettings {
            seed: cfg.seed,
            layout: cfg.layout,
            pairs_per_obs: cfg.pairs_per_obs,
            draws_per_obs: m,
            prior_draws,
        };
        let step = ROUND_STEP + round as u64;
        if m > 0 && round == 0 {
            self.batch.draw_adaptive(self.model, flow, &self.params, x_sim, &settings, step)?;
            self.batch.prior_offsets();
        } else if m > 0 {
            self.batch.draw_adaptive(self.model, flow, &self.params, x_sim, &settings, step)?;
            self.ensure_chunks(flow, self.batch.u.rows());
            forward_chunks(flow, &self.params, &self.batch.u, &self.batch.ctx, &mut self.chunks);
            self.batch.proposal_offsets(self.model.prior(), &self.chunks, cfg.proposal.prior_share, round)?;
        }
        let n_obs = x_sim.rows();
        let held_out = if n_obs >= 2 { n_obs.div_ceil(HELD_OUT_EVERY) } else { 0 };
        let (u, log_det, log_w) = self.batch.draws();
        let log_w: Vec<f64> = if m > 0 { log_w.collect() } else { Vec::new() };
        let first_new = self.set.n_obs();
        let mut ctx_row = vec![0.0f32; flow.context_width()];
        let empty = Mat::<f32>::zeros(0, flow.theta_dim());
        for j in 0..n_obs {
            let ld = flow.support().forward(theta_sim.row(j), &mut self.u_row);
            let u_exact: Vec<f32> = self.u_row.iter().map(|&v| v as f32).collect();
            let exact = ld.is_finite().then_some((u_exact.as_slice(), ld));
            let rows = j * m..(j + 1) * m;
            flow.context_into(x_sim.row(j), &mut ctx_row);
            self.set.add_obs(
                &ctx_row,
                exact,
                if m > 0 { u.as_ref().rows_range(j * m, m) } else { empty.as_ref() },
                &log_det[rows.clone()],
                &log_w[rows],
                j >= n_obs - held_out,
            );
        }
        self.set.reweigh()?;
        let mut ess: Vec<f64> = (first_new..self.set.n_obs()).map(|j| self.set.ess(j)).collect();
        // A simulations-only round has no draws to miss.
        let skipped = if m > 0 { ess.iter().filter(|&&e| e == 0.0).count() } else { 0 };
        let ess_mean = ess.iter().sum::<f64>() / (ess.len() - skipped).max(1) as f64;
        ess.retain(|&e| e > 0.0);
        self.summary.rounds.push(RoundSummary {
            new_obs: n_obs,
            draws_per_obs: m,
            prior_draws,
            ess_mean,
            ess_median: median(&mut ess),
            no_likelihood_obs: skipped,
            likelihood_evals: self.model.likelihood_evals(),
            simulations: self.model.simulations(),
            ..Default::default()
        });
        self.summary.skipped_obs += (first_new..self.set.n_obs()).filter(|&j| self.set.is_skipped(j)).count() as u64;
        Ok(())
    }

    /// The loss of observations `ids` under the current parameters (and its gradient in `grad`
    /// when asked): (1/|ids|) Σ_j ℓ_j in θ space (the stored set, `train/stored.rs`).
    fn loss(&mut self, flow: &Flow<f32>, ids: &[usize], with_grad: bool) -> f64 {
        self.set.gather(ids, &mut self.gathered);
        self.ensure_chunks(flow, self.gathered.u.rows());
        let g = &self.gathered;
        forward_chunks(flow, &self.params, &g.u, &g.ctx, &mut self.chunks);
        let grad = with_grad.then_some(self.grad.as_mut_slice());
        backward_chunks(flow, &self.params, &g.w, &mut self.chunks, grad) - g.support_term
    }

    /// Held-out loss, in blocks of observations (the sum of each block's mean, weighted by its size).
    fn validate(&mut self, flow: &Flow<f32>, ids: &[usize]) -> f64 {
        let block = self.cfg.obs_per_step.max(1) * 4;
        let mut total = 0.0;
        for part in ids.chunks(block) {
            total += self.loss(flow, part, false) * part.len() as f64;
        }
        total / ids.len().max(1) as f64
    }

    /// Trains on the stored set until the held-out loss stops improving (or `train.round_steps`
    /// gradient steps in this round); keeps the best parameters.
    /// Returns [`ControlFlow::Break`] when `on_step` asked to stop (the best parameters so far kept).
    fn train_round(
        &mut self,
        flow: &Flow<f32>,
        round: usize,
        on_step: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        let cfg = self.cfg;
        let mut train_ids = self.set.indices(false);
        let mut val_ids = self.set.indices(true);
        if val_ids.is_empty() {
            // Nothing held out (a round of one observation): the training loss decides.
            val_ids = train_ids.clone();
        }
        if train_ids.is_empty() {
            train_ids = val_ids.clone();
        }
        let per_batch = cfg.obs_per_step.min(train_ids.len()).max(1);
        let steps_per_epoch = train_ids.len().div_ceil(per_batch);
        let epochs_per_validation = MIN_STEPS_PER_VALIDATION.div_ceil(steps_per_epoch);
        let mut best = self.params.clone();
        let mut best_val = self.validate(flow, &val_ids);
        let (mut since_best, mut round_steps, mut epoch) = (0, 0, 0);
        let (mut loss_sum, mut loss_n) = (0.0, 0usize);
        self.adam.set_lr(cfg.lr);
        let max_steps = cfg.round_steps;
        let mut lr = cfg.lr;
        let mut decays_left = LR_DECAYS;
        let mut flow_control = ControlFlow::Continue(());
        loop {
            if since_best >= PATIENCE && decays_left > 0 && round_steps < max_steps {
                // A plateau: from the best parameters, at a lower learning rate.
                decays_left -= 1;
                lr *= LR_DECAY;
                self.adam.set_lr(lr);
                self.params.copy_from_slice(&best);
                since_best = 0;
            }
            if since_best >= PATIENCE || round_steps >= max_steps {
                break;
            }
            let mut rng = stream(cfg.seed, Stream::Resample, ROUND_STEP + round as u64, epoch as u64);
            train_ids.shuffle(&mut rng);
            let order = train_ids.clone();
            for part in order.chunks(per_batch) {
                let loss = self.loss(flow, part, true);
                let step = self.summary.steps_run;
                if !loss.is_finite() {
                    return Err(Error::NonFinite { step, what: "training loss", value: loss });
                }
                descend(&mut self.adam, &mut self.params, &mut self.grad, cfg.clip_norm, lr, step)?;
                self.summary.steps_run += 1;
                round_steps += 1;
                loss_sum += loss;
                loss_n += 1;
                if round_steps >= max_steps {
                    break;
                }
            }
            epoch += 1;
            if epoch % epochs_per_validation != 0 && round_steps < max_steps {
                continue;
            }
            let val = self.validate(flow, &val_ids);
            if !val.is_finite() {
                return Err(Error::NonFinite { step: self.summary.steps_run, what: "validation loss", value: val });
            }
            let train_loss = loss_sum / loss_n.max(1) as f64;
            (loss_sum, loss_n) = (0.0, 0);
            if val < best_val {
                best_val = val;
                best.copy_from_slice(&self.params);
                since_best = 0;
            } else {
                since_best += 1;
            }
            flow_control = self.record(round, train_loss, val, on_step);
            if flow_control.is_break() {
                break;
            }
        }
        self.params.copy_from_slice(&best);
        let r = self.summary.rounds.last_mut().expect("add_round records the round");
        r.epochs = epoch;
        r.steps = round_steps;
        r.best_val_loss = best_val;
        r.seconds = self.started.elapsed().as_secs_f64();
        self.summary.best_val_loss = best_val;
        self.summary.best_step = self.summary.steps_run;
        Ok(flow_control)
    }

    /// Records a validation in the summary and reports it.
    fn record(
        &mut self,
        round: usize,
        train_loss: f64,
        val: f64,
        on_step: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let step = self.summary.steps_run;
        let mut ess: Vec<f64> = (0..self.set.n_obs()).map(|j| self.set.ess(j)).filter(|&e| e > 0.0).collect();
        // No likelihood draws yet (every call a simulation): ESS 0, not the empty sum's −0.
        let (ess_mean, ess_min) = if ess.is_empty() {
            (0.0, 0.0)
        } else {
            (ess.iter().sum::<f64>() / ess.len() as f64, ess.iter().copied().fold(f64::INFINITY, f64::min))
        };
        let ess_median = median(&mut ess);
        self.summary.history.push((step, train_loss, val));
        self.summary.ess_history.push((step, ess_mean));
        on_step(&StepReport {
            step,
            // The most this run can take: every round at its step cap.
            steps: self.cfg.rounds * self.cfg.round_steps,
            loss: train_loss,
            val_loss: Some(val),
            ess_mean,
            ess_min,
            ess_median,
            beta: 1.0,
            adaptive: round > 0,
            warmup: false,
            lr: self.cfg.lr,
            likelihood_evals: self.model.likelihood_evals(),
            simulations: self.model.simulations(),
            skipped_obs: self.summary.skipped_obs,
        })
    }

    /// The run's summary and the kept parameters.
    fn finish(mut self, model: &CountedModel) -> (TrainSummary, Vec<f32>) {
        let s = &mut self.summary;
        s.likelihood_evals = model.likelihood_evals();
        s.simulations = model.simulations();
        s.final_loss = s.history.last().map_or(f64::NAN, |h| h.1);
        let mut ess: Vec<f64> = (0..self.set.n_obs()).map(|j| self.set.ess(j)).filter(|&e| e > 0.0).collect();
        s.mean_ess = ess.iter().sum::<f64>() / ess.len().max(1) as f64;
        s.min_ess_late = if ess.is_empty() { 0.0 } else { ess.iter().copied().fold(f64::INFINITY, f64::min) };
        s.median_ess_late = median(&mut ess);
        s.draws_per_obs_late = self.cfg.proposal.draws_per_obs;
        s.adaptive_from = (s.rounds.len() > 1).then_some(1);
        s.seconds = self.started.elapsed().as_secs_f64();
        (self.summary, self.params)
    }
}
