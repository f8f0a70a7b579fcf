//! The paper's experiment (`lwflow experiment base-topology`): does the base distribution's
//! topology remove the probability bridges a flow leaves between disconnected posterior modes?
//!
//! For each base variant and seed: train with the same architecture, budget and batches
//! (the seed fixes the training data, so variants of one seed see identical draws), then
//! evaluate on fixed observations against the task's exact reference. Aggregation: for each
//! (variant, seed) the metric is averaged over observations; the table reports the mean ± std
//! of that over seeds.

use crate::error::{Error, Result};
use crate::eval::{evaluate, EvalOptions, EvalReport};
use crate::flow::{BaseConfig, Flow, FlowConfig};
use crate::mat::{Mat, MatRef};
use crate::reference::Reference;
use crate::train::{fit, MixtureInit, TrainConfig};

/// One base variant of the experiment.
#[derive(Clone, Debug)]
pub struct Variant {
    /// Short key for selecting variants (`gaussian`, `gmm-random`, `cgmm-control`, ...).
    pub key: &'static str,
    /// Label in tables and figures.
    pub name: String,
    /// The base distribution this variant trains with.
    pub base: BaseConfig,
    /// How a mixture base is initialised (ignored for the Gaussian base).
    pub init: MixtureInit,
}

impl Variant {
    fn new(key: &'static str, name: String, base: BaseConfig, init: MixtureInit) -> Self {
        Self { key, name, base, init }
    }
}

/// Settings of [`base_topology`].
#[derive(Clone, Debug)]
pub struct TopologyConfig {
    /// Built-in task name; it must have an exact reference ([`crate::tasks::reference_for`]).
    pub task: String,
    /// The variants compared; every one is trained once per seed.
    pub variants: Vec<Variant>,
    /// Training seeds; results are reported as mean ± std over them.
    pub seeds: Vec<u64>,
    /// Architecture shared by every variant (its `base` is replaced by the variant's).
    pub flow: FlowConfig,
    /// Training settings shared by every variant (seed and mixture init set per run).
    pub train: TrainConfig,
    /// Observations each trained flow is evaluated at, each of the task's x dimension.
    pub observations: Vec<Vec<f64>>,
    /// Metrics and sample size per evaluation (its seed is set to the run's).
    pub eval: EvalOptions,
}

impl TopologyConfig {
    /// The standard comparison on `task` (square2d or square3d), five observations away from
    /// x = 0: the Gaussian base; mixtures with K = 2^d components initialised at random, by the
    /// generic separated layout, and by a weighted-EM fit to likelihood-weighted prior draws;
    /// the conditional mixture (separated and fitted init); and a conditional single Gaussian
    /// as the control for "conditioning alone".
    pub fn standard(task: &str, n_seeds: usize) -> Result<Self> {
        let model = crate::tasks::by_name(task)?;
        let d = model.theta_dim();
        let observations: Vec<Vec<f64>> = match d {
            2 => vec![vec![1.0, 1.0], vec![2.0, 0.5], vec![0.5, 3.0], vec![4.0, 2.0], vec![2.5, 6.0]],
            3 => vec![
                vec![1.0, 1.0, 1.0],
                vec![2.0, 0.5, 3.0],
                vec![0.5, 3.0, 1.5],
                vec![4.0, 2.0, 1.0],
                vec![1.5, 6.0, 2.5],
            ],
            _ => return Err(Error::invalid("experiment task", format!("{task}: only square2d and square3d"))),
        };
        let k = 1 << d;
        let (gmm, cgmm) = (BaseConfig::Gmm { components: k }, BaseConfig::Cgmm { components: k });
        let variants = vec![
            Variant::new("gaussian", "gaussian".into(), BaseConfig::Gaussian, MixtureInit::Separated),
            Variant::new("gmm-random", format!("gmm K={k}, random init"), gmm, MixtureInit::Random),
            Variant::new("gmm-separated", format!("gmm K={k}, separated init"), gmm, MixtureInit::Separated),
            Variant::new("gmm-fitted", format!("gmm K={k}, fitted init"), gmm, MixtureInit::Fitted),
            Variant::new("cgmm-separated", format!("cgmm K={k}, separated init"), cgmm, MixtureInit::Separated),
            Variant::new("cgmm-fitted", format!("cgmm K={k}, fitted init"), cgmm, MixtureInit::Fitted),
            Variant::new(
                "cgmm-control",
                "cgmm K=1 (control)".into(),
                BaseConfig::Cgmm { components: 1 },
                MixtureInit::Separated,
            ),
        ];
        Ok(Self {
            task: task.to_string(),
            variants,
            seeds: (1..=n_seeds as u64).collect(),
            flow: FlowConfig::new(d, model.x_dim(), BaseConfig::Gaussian),
            train: TrainConfig::default(),
            observations,
            eval: EvalOptions::all(2000, 1),
        })
    }
}

impl TopologyConfig {
    /// Keeps only the variants whose keys are listed (in the standard order); errors on an
    /// unknown key, naming the valid ones.
    pub fn select_variants(&mut self, keys: &[String]) -> Result<()> {
        let valid: Vec<&str> = self.variants.iter().map(|v| v.key).collect();
        if let Some(bad) = keys.iter().find(|k| !valid.contains(&k.as_str())) {
            return Err(Error::invalid("experiment variant", format!("'{bad}': expected one of {}", valid.join(", "))));
        }
        self.variants.retain(|v| keys.iter().any(|k| k == v.key));
        Ok(())
    }
}

/// One trained variant: its flow, training time and per-observation reports.
pub struct TopologyRun {
    /// The variant's label ([`Variant::name`]).
    pub variant: String,
    /// Training seed of this run.
    pub seed: u64,
    /// Wall-clock training time, seconds (machine- and load-dependent).
    pub train_seconds: f64,
    /// The trained flow, kept for density figures.
    pub flow: Flow<f32>,
    /// One report per observation of [`TopologyConfig::observations`], in order.
    pub reports: Vec<EvalReport>,
}

/// Trains and evaluates every (variant, seed); after each finished run `on_run` gets a progress
/// line and every run so far (so callers can write partial results of a long experiment).
pub fn base_topology(cfg: &TopologyConfig, on_run: &mut dyn FnMut(&str, &[TopologyRun])) -> Result<Vec<TopologyRun>> {
    let model = crate::tasks::by_name(&cfg.task)?;
    let references: Vec<Box<dyn Reference>> = cfg
        .observations
        .iter()
        .map(|x| crate::tasks::reference_for(&cfg.task, x)?.ok_or_else(|| Error::invalid("task", "no exact reference")))
        .collect::<Result<_>>()?;
    let mut runs = Vec::new();
    for &seed in &cfg.seeds {
        for v in &cfg.variants {
            let flow_cfg = FlowConfig { base: v.base, ..cfg.flow.clone() };
            let train_cfg = TrainConfig { seed, mixture_init: v.init, ..cfg.train.clone() };
            let (flow, meta) = fit(model.as_ref(), flow_cfg, train_cfg, &mut |_| {})?;
            let train_seconds = meta.summary.map_or(0.0, |s| s.seconds);
            let reports = cfg
                .observations
                .iter()
                .zip(&references)
                .map(|(x, r)| evaluate(&flow, r.as_ref(), x, &EvalOptions { seed, ..cfg.eval }))
                .collect::<Result<Vec<_>>>()?;
            let kl = reports.iter().map(|r| r.kl_pq).sum::<f64>() / reports.len() as f64;
            runs.push(TopologyRun { variant: v.name.clone(), seed, train_seconds, flow, reports });
            on_run(&format!("{} seed {seed}: trained in {train_seconds:.1} s, mean KL(p‖q) {kl:.3}", v.name), &runs);
        }
    }
    Ok(runs)
}

/// A metric's mean and sample standard deviation: over seeds of the per-seed observation average
/// in [`summarize`], over observations in [`super::theta_scaling`].
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for a single value).
    pub std: f64,
}

/// The metrics reported per variant.
pub const METRICS: [&str; 9] =
    ["kl_pq", "kl_qp", "bridge_mass", "c2st", "w2", "w2_floor", "sliced_w2", "mmd2", "train_seconds"];

/// The value of metric `name` in one report (`train_seconds` is per run, not per report).
fn metric(r: &EvalReport, name: &str) -> f64 {
    let nan = f64::NAN;
    match name {
        "kl_pq" => r.kl_pq,
        "kl_qp" => r.kl_qp,
        "bridge_mass" => r.bridge_mass,
        "c2st" => r.c2st.unwrap_or(nan),
        "w2" => r.w2.unwrap_or(nan),
        "w2_floor" => r.w2_floor.unwrap_or(nan),
        "sliced_w2" => r.sliced_w2.unwrap_or(nan),
        "mmd2" => r.mmd2.unwrap_or(nan),
        _ => nan,
    }
}

/// Per variant (in the order first seen): the mean ± std over seeds of each of [`METRICS`].
pub fn summarize(runs: &[TopologyRun]) -> Vec<(String, Vec<MeanStd>)> {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        if !names.contains(&r.variant.as_str()) {
            names.push(&r.variant);
        }
    }
    names
        .iter()
        .map(|&name| {
            let mine: Vec<&TopologyRun> = runs.iter().filter(|r| r.variant == name).collect();
            let stats = METRICS
                .iter()
                .map(|&m| {
                    let per_seed: Vec<f64> = mine
                        .iter()
                        .map(|run| {
                            if m == "train_seconds" {
                                run.train_seconds
                            } else {
                                run.reports.iter().map(|r| metric(r, m)).sum::<f64>() / run.reports.len() as f64
                            }
                        })
                        .collect();
                    mean_std(&per_seed)
                })
                .collect();
            (name.to_string(), stats)
        })
        .collect()
}

/// Sample mean and (n − 1)-normalised standard deviation (0 for a single value).
pub fn mean_std(v: &[f64]) -> MeanStd {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    MeanStd { mean, std: var.sqrt() }
}

/// Density of q(θ|x) on an `n × n` grid of cell centres over `[lo, hi]²` (2-D flows), rows
/// indexed by θ_2 (bottom to top), columns by θ_1.
pub fn flow_density_grid(flow: &Flow<f32>, x: &[f64], lo: f64, hi: f64, n: usize) -> Result<Mat<f64>> {
    let theta = grid_points(lo, hi, n);
    let log_q = flow.log_prob(theta.as_ref(), MatRef::new(x, 1, x.len()))?;
    Ok(Mat::from_vec(n, n, log_q.iter().map(|l| l.exp()).collect()))
}

/// The reference density on the same grid as [`flow_density_grid`].
pub fn reference_density_grid(reference: &dyn Reference, lo: f64, hi: f64, n: usize) -> Mat<f64> {
    let theta = grid_points(lo, hi, n);
    Mat::from_fn(n, n, |r, c| reference.log_density(theta.row(r * n + c)).exp())
}

fn grid_points(lo: f64, hi: f64, n: usize) -> Mat<f64> {
    let h = (hi - lo) / n as f64;
    Mat::from_fn(n * n, 2, |r, c| lo + h * (0.5 + if c == 0 { (r % n) as f64 } else { (r / n) as f64 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_of_known_values() {
        let m = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert!((m.mean - 2.5).abs() < 1e-15);
        assert!((m.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(mean_std(&[7.0]).std, 0.0);
    }
}
