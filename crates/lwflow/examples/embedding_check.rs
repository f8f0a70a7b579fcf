//! Learned embeddings against none on slcp and on slcp with appended distractors (issue 20).
//!
//! Trains one flow with slcp's recommended settings (steps from `--steps`) on either slcp itself
//! or slcp with `--distractors N` entries of N(0, 1) noise appended to x (independent of θ, so the
//! posterior is slcp's posterior of the first 8 entries), then compares q(θ|x) with slcp's SMC
//! reference on the benchmark's first `--observations` observations (C2ST, `lwflow benchmark`'s
//! observations and reference settings; the distractors of observation i are drawn from its own
//! seed). Prints one JSON line.
//!
//! Run: `cargo run --release -p lwflow --example embedding_check -- --embedding set --steps 3000`
//! With `--task NAME` (another built-in task, e.g. slcp_distractors) the flow is trained on that
//! task with its recommended settings and judged against its own reference instead.
//! Options: `--embedding none|mlp|set|conv1d` (default none), `--features raw|moments` (default:
//! moments for slcp without an embedding or with mlp, raw otherwise), `--distractors N` (0),
//! `--steps N` (3000), `--seed S` (1), `--observations K` (3), `--samples N` (4000),
//! `--embedding-out N` (16), `--embedding-width N` (64).

use lwflow::benchmark::{observation_seed, observations, reference_samples};
use lwflow::embed::EmbeddingConfig;
use lwflow::eval::compare_samples;
use lwflow::flow::ObsFeatures;
use lwflow::model::{Model, Prior};
use lwflow::rand_distr::{Distribution, StandardNormal};
use lwflow::reference::ReferenceKind;
use lwflow::rng::{stream, Rng, Stream};
use lwflow::train::fit;
use lwflow::{Error, Mat, MatMut, MatRef, Result};

/// slcp's 8 entries, then `n_noise` entries of N(0, 1) noise.
struct WithDistractors {
    slcp: Box<dyn Model>,
    n_noise: usize,
}

const SLCP_X: usize = 8;

impl Model for WithDistractors {
    fn name(&self) -> String {
        format!("slcp+{}noise", self.n_noise)
    }
    fn theta_dim(&self) -> usize {
        self.slcp.theta_dim()
    }
    fn x_dim(&self) -> usize {
        SLCP_X + self.n_noise
    }
    fn prior(&self) -> &Prior {
        self.slcp.prior()
    }
    /// slcp's log-likelihood of the first 8 entries plus the noise's log-density (constant in θ).
    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        self.slcp.log_likelihood(x.cols_range(0, SLCP_X), theta, out)?;
        let log_norm = -0.5 * (2.0 * std::f64::consts::PI).ln();
        for (r, o) in out.iter_mut().enumerate() {
            *o += x.row(r)[SLCP_X..].iter().map(|v| log_norm - 0.5 * v * v).sum::<f64>();
        }
        Ok(())
    }
    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, mut x: MatMut<f64>) -> Result<()> {
        let mut informative = Mat::zeros(theta.rows(), SLCP_X);
        self.slcp.simulate(theta, rng, informative.as_mut())?;
        for r in 0..theta.rows() {
            let row = x.row_mut(r);
            row[..SLCP_X].copy_from_slice(informative.row(r));
            for v in &mut row[SLCP_X..] {
                *v = StandardNormal.sample(rng);
            }
        }
        Ok(())
    }
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::invalid(name.to_string(), "needs a value of the right type")),
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let embedding_name: String = arg(&args, "--embedding", "none".to_string())?;
    let n_noise: usize = arg(&args, "--distractors", 0)?;
    let steps: usize = arg(&args, "--steps", 3000)?;
    let seed: u64 = arg(&args, "--seed", 1)?;
    let n_obs: usize = arg(&args, "--observations", 3)?;
    let n_samples: usize = arg(&args, "--samples", 4000)?;
    let out: usize = arg(&args, "--embedding-out", 16)?;
    let width: usize = arg(&args, "--embedding-width", 64)?;
    let task: String = arg(&args, "--task", "slcp".to_string())?;
    if task != "slcp" {
        return other_task(&task, &args, steps, seed, n_obs, n_samples, width, out);
    }
    let model = WithDistractors { slcp: lwflow::tasks::by_name("slcp")?, n_noise };
    let x_dim = model.x_dim();
    let embedding = match embedding_name.as_str() {
        "none" => EmbeddingConfig::None,
        "mlp" => EmbeddingConfig::Mlp { width, depth: 2, out },
        "set" => EmbeddingConfig::Set { members: 4, width, depth: 2, out },
        "conv1d" => EmbeddingConfig::Conv1d { channels_in: 1, channels: width.min(32), kernel: 5, blocks: 2, out },
        other => return Err(Error::invalid("--embedding", format!("'{other}' is not none, mlp, set or conv1d"))),
    };
    let default_features = if matches!(embedding, EmbeddingConfig::None | EmbeddingConfig::Mlp { .. }) && n_noise == 0 {
        "moments"
    } else {
        "raw"
    };
    let features: String = arg(&args, "--features", default_features.to_string())?;
    let (mut flow_cfg, mut train_cfg) = lwflow::tasks::recommended("slcp", 5, SLCP_X);
    flow_cfg.ctx_dim = x_dim;
    flow_cfg.x_features = match features.as_str() {
        "raw" => ObsFeatures::Raw,
        "moments" => ObsFeatures::SetMoments { members: 4 },
        other => return Err(Error::invalid("--features", format!("'{other}' is not raw or moments"))),
    };
    flow_cfg.embedding = embedding;
    train_cfg.steps = steps;
    train_cfg.seed = seed;
    let (flow, meta) = fit(&model, flow_cfg.clone(), train_cfg, &mut |_| {})?;
    let summary = meta.summary.expect("fit records a summary");

    let slcp = lwflow::tasks::by_name("slcp")?;
    let (_, x_slcp) = observations(slcp.as_ref(), n_obs)?;
    let mut c2st = Vec::new();
    for i in 0..n_obs {
        let mut x = x_slcp.row(i).to_vec();
        let mut rng = stream(observation_seed(i + 1), Stream::Simulate, 1, 0);
        x.extend((0..n_noise).map(|_| -> f64 { StandardNormal.sample(&mut rng) }));
        let obs_seed = observation_seed(i + 1);
        let (reference, _) = reference_samples("slcp", ReferenceKind::Smc, x_slcp.row(i), n_samples, obs_seed)?;
        let q = flow.sample(&x, n_samples, seed.wrapping_add(i as u64))?;
        c2st.push(compare_samples(reference.as_ref(), q.as_ref(), seed)?.c2st);
    }
    let mean = c2st.iter().sum::<f64>() / c2st.len() as f64;
    let json = serde_json::json!({
        "embedding": embedding, "x_features": flow_cfg.x_features, "distractors": n_noise, "x_dim": x_dim,
        "steps": summary.steps_run, "seed": seed, "train_seconds": summary.seconds, "n_params": flow.n_params(),
        "best_val_loss": summary.best_val_loss, "c2st": c2st, "c2st_mean": mean, "samples": n_samples,
    });
    println!("{json}");
    Ok(())
}

/// The comparison on a built-in task other than slcp: its recommended settings with the
/// embedding asked for, judged against its own reference on the benchmark's observations.
#[allow(clippy::too_many_arguments)]
fn other_task(
    task: &str,
    args: &[String],
    steps: usize,
    seed: u64,
    n_obs: usize,
    n_samples: usize,
    width: usize,
    out: usize,
) -> Result<()> {
    let model = lwflow::tasks::by_name(task)?;
    let (mut flow_cfg, mut train_cfg) = lwflow::tasks::recommended(task, model.theta_dim(), model.x_dim());
    flow_cfg.embedding = match arg(args, "--embedding", "none".to_string())?.as_str() {
        "none" => EmbeddingConfig::None,
        "mlp" => EmbeddingConfig::Mlp { width, depth: 2, out },
        other => return Err(Error::invalid("--embedding", format!("'{other}': none or mlp with --task"))),
    };
    train_cfg.steps = steps;
    train_cfg.seed = seed;
    let (flow, meta) = fit(model.as_ref(), flow_cfg.clone(), train_cfg, &mut |_| {})?;
    let summary = meta.summary.expect("fit records a summary");
    let (_, x) = observations(model.as_ref(), n_obs)?;
    let kind = ReferenceKind::of_task(task)?;
    let mut c2st = Vec::new();
    for i in 0..n_obs {
        let (reference, _) = reference_samples(task, kind, x.row(i), n_samples, observation_seed(i + 1))?;
        let q = flow.sample(x.row(i), n_samples, seed.wrapping_add(i as u64))?;
        c2st.push(compare_samples(reference.as_ref(), q.as_ref(), seed)?.c2st);
    }
    let mean = c2st.iter().sum::<f64>() / c2st.len() as f64;
    let json = serde_json::json!({
        "task": task, "embedding": flow_cfg.embedding, "steps": summary.steps_run, "seed": seed,
        "train_seconds": summary.seconds, "n_params": flow.n_params(), "best_val_loss": summary.best_val_loss,
        "c2st": c2st, "c2st_mean": mean, "samples": n_samples,
    });
    println!("{json}");
    Ok(())
}
