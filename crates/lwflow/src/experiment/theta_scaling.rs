//! How training scales with the dimension of θ (`lwflow experiment theta-scaling`).
//!
//! The model is sbibm's gaussian_linear in dimension d ([`GaussianLinear::with_dim`]: θ, x ∈ ℝ^d,
//! exact Gaussian posterior), trained for each d with the task's recommended settings (the same
//! steps for every d unless overridden), and judged by KL(p‖q) against the exact posterior on the
//! benchmark's observations. KL grows with d even at a fixed per-coordinate error (it adds over
//! independent coordinates), so the table also gives KL / d.
//!
//! Where the cost goes: the training's seconds per step, split by timing its two large parts on
//! the trained flow and the step's shapes — the likelihood of every (x_j, θ_i) pair of a step
//! (obs_per_step × thetas_per_step evaluations, [`Model::log_likelihood_at`]), and the flow's
//! gradient (forward and backward over the step's obs_per_step × pairs_per_obs rows, then Adam,
//! as the trainer runs them). The remainder is drawing θ (and, with the adaptive proposal,
//! sampling q and evaluating its density at the draws), the weights and the validations.

use std::time::Instant;

use crate::benchmark::observations;
use crate::error::{Error, Result};
use crate::eval::{evaluate, EvalOptions};
use crate::flow::Flow;
use crate::mat::Mat;
use crate::model::Model;
use crate::nn::Adam;
use crate::rng::{stream, Stream};
use crate::tasks::{recommended, GaussianLinear};
use crate::train::chunks::{backward_chunks, forward_chunks, Chunk};
use crate::train::{fit, TrainConfig};
use crate::weights::median;

use super::{mean_std, MeanStd};

/// Repetitions of each timed part; the median is reported.
const TIMING_REPS: usize = 7;

/// Settings of [`theta_scaling`].
#[derive(Clone, Debug)]
pub struct ScalingConfig {
    /// Dimensions of θ (and x), each at least 1.
    pub dims: Vec<usize>,
    /// Training steps for every dimension; `None` keeps the recommended number.
    pub steps: Option<usize>,
    /// Benchmark observations per dimension ([`crate::benchmark::observations`]).
    pub observations: usize,
    /// Samples from q and from the exact posterior per observation.
    pub samples: usize,
    /// Also the classifier two-sample test (minutes per observation at d = 64).
    pub c2st: bool,
    /// Training seed (also seeds the samples).
    pub seed: u64,
}

impl Default for ScalingConfig {
    fn default() -> Self {
        Self { dims: vec![2, 8, 32, 64], steps: None, observations: 5, samples: 10_000, c2st: false, seed: 1 }
    }
}

/// One dimension's training and evaluation.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScalingRow {
    /// Dimension of θ and x.
    pub dim: usize,
    /// Flow parameters.
    pub params: usize,
    /// Optimiser steps run.
    pub steps: usize,
    /// Wall-clock seconds of the training.
    pub train_seconds: f64,
    /// Likelihood evaluations of the training.
    pub likelihood_evals: u64,
    /// Whether the training switched to the adaptive proposal.
    pub adaptive: bool,
    /// KL(p‖q) over the observations: mean and standard deviation.
    pub kl: MeanStd,
    /// C2ST over the observations (when asked for).
    pub c2st: Option<MeanStd>,
    /// Training seconds per step, milliseconds.
    pub step_ms: f64,
    /// One step's likelihood evaluations, milliseconds (median of repetitions).
    pub likelihood_ms: f64,
    /// One step's flow gradient (forward, backward, Adam), milliseconds (median of repetitions).
    pub gradient_ms: f64,
}

/// Trains and evaluates gaussian_linear in every dimension of `cfg.dims`, in order; `on_row` sees
/// each finished row (for progress and partial tables).
pub fn theta_scaling(cfg: &ScalingConfig, on_row: &mut dyn FnMut(&ScalingRow)) -> Result<Vec<ScalingRow>> {
    if cfg.dims.is_empty() || cfg.dims.contains(&0) {
        return Err(Error::invalid("theta-scaling dims", "need at least one dimension, each at least 1"));
    }
    if cfg.observations == 0 || cfg.samples < 10 {
        return Err(Error::invalid("theta-scaling", "need at least 1 observation and 10 samples"));
    }
    let mut rows = Vec::with_capacity(cfg.dims.len());
    for &dim in &cfg.dims {
        let row = scale_one(cfg, dim)?;
        on_row(&row);
        rows.push(row);
    }
    Ok(rows)
}

fn scale_one(cfg: &ScalingConfig, dim: usize) -> Result<ScalingRow> {
    let model = GaussianLinear::with_dim(dim)?;
    let (flow_cfg, mut train) = recommended("gaussian_linear", dim, dim);
    train.seed = cfg.seed;
    if let Some(steps) = cfg.steps {
        train.steps = steps;
    }
    let (flow, meta) = fit(&model, flow_cfg, train.clone(), &mut |_| {})?;
    let summary = meta.summary.ok_or_else(|| Error::invalid("theta-scaling", "training recorded no summary"))?;

    let (_, xs) = observations(&model, cfg.observations)?;
    let opts = EvalOptions { n_samples: cfg.samples, seed: cfg.seed, c2st: cfg.c2st, distances: false };
    let (mut kl, mut c2st) = (Vec::new(), Vec::new());
    for i in 0..xs.rows() {
        let x = xs.row(i);
        let report = evaluate(&flow, &model.reference(x)?, x, &opts)?;
        kl.push(report.kl_pq);
        c2st.extend(report.c2st);
    }

    Ok(ScalingRow {
        dim,
        params: flow.n_params(),
        steps: summary.steps_run,
        train_seconds: summary.seconds,
        likelihood_evals: summary.likelihood_evals,
        adaptive: summary.adaptive_from.is_some(),
        kl: mean_std(&kl),
        c2st: cfg.c2st.then(|| mean_std(&c2st)),
        step_ms: 1e3 * summary.seconds / summary.steps_run.max(1) as f64,
        likelihood_ms: time_likelihood(&model, &train)?,
        gradient_ms: time_gradient(&flow, &train),
    })
}

/// Median milliseconds of one step's likelihood evaluations: obs_per_step observations, each
/// against thetas_per_step prior draws.
fn time_likelihood(model: &dyn Model, train: &TrainConfig) -> Result<f64> {
    let mut rng = stream(train.seed, Stream::Theta, 0, 0);
    let mut theta = Mat::zeros(train.thetas_per_step, model.theta_dim());
    model.prior().sample(&mut rng, theta.as_mut());
    let (_, xs) = observations(model, train.obs_per_step)?;
    let mut out = vec![0.0; train.thetas_per_step];
    let mut times = Vec::with_capacity(TIMING_REPS);
    for _ in 0..TIMING_REPS {
        let t0 = Instant::now();
        for j in 0..xs.rows() {
            model.log_likelihood_at(xs.row(j), theta.as_ref(), &mut out)?;
        }
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(&mut times))
}

/// Median milliseconds of one flow gradient step at the trainer's batch size (obs_per_step ×
/// pairs_per_obs rows): the chunked forward and backward passes, then Adam, on a copy of the
/// trained parameters. Timing does not depend on the values, so the rows are standard normal.
fn time_gradient(flow: &Flow<f32>, train: &TrainConfig) -> f64 {
    let rows = train.obs_per_step * train.pairs_per_obs;
    let mut rng = stream(train.seed, Stream::Init, 1, 0);
    let normal = |rng: &mut _, cols| {
        let mut m = Mat::<f32>::zeros(rows, cols);
        for v in m.as_mut_slice() {
            *v = rand_distr::Distribution::<f64>::sample(&rand_distr::StandardNormal, rng) as f32;
        }
        m
    };
    let (u, ctx) = (normal(&mut rng, flow.theta_dim()), normal(&mut rng, flow.context_width()));
    let w = vec![1.0 / rows as f32; rows];
    let mut params = flow.params().to_vec();
    let mut grad = vec![0.0f32; params.len()];
    let mut chunks = Chunk::for_rows(flow, rows);
    let mut adam = Adam::new(params.len(), train.lr);
    let mut times = Vec::with_capacity(TIMING_REPS);
    for _ in 0..TIMING_REPS {
        let t0 = Instant::now();
        forward_chunks(flow, &params, &u, &ctx, &mut chunks);
        backward_chunks(flow, &params, &w, &mut chunks, Some(&mut grad));
        adam.step(&mut params, &grad);
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    median(&mut times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_reports_every_dimension_with_finite_numbers() {
        let cfg =
            ScalingConfig { dims: vec![1, 3], steps: Some(30), observations: 2, samples: 200, ..Default::default() };
        let mut seen = Vec::new();
        let rows = theta_scaling(&cfg, &mut |r| seen.push(r.dim)).expect("runs");
        assert_eq!(seen, vec![1, 3]);
        for r in &rows {
            assert_eq!(r.steps, 30);
            assert!(r.kl.mean.is_finite() && r.kl.mean > -0.1, "dim {}: KL {}", r.dim, r.kl.mean);
            assert!(r.step_ms > 0.0 && r.likelihood_ms > 0.0 && r.gradient_ms > 0.0, "{r:?}");
        }
        assert!(rows[1].params > rows[0].params);
    }

    #[test]
    fn bad_settings_are_refused() {
        let err = theta_scaling(&ScalingConfig { dims: vec![2, 0], ..Default::default() }, &mut |_| {});
        assert!(err.unwrap_err().to_string().contains("dims"));
    }
}
