//! `lwflow train`: builds the model and flow from a config file and flags (flags win), trains,
//! writes the model file.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use lwflow::flow::{BaseConfig, CouplingConfig, FlowConfig};
use lwflow::io::save_flow;
use lwflow::model::{ExternalModel, Model};
use lwflow::train::{auto_components, fit, MixtureInit, TrainConfig};
use lwflow::weights::BatchLayout;

use crate::args::{BaseArg, ComponentsArg, FlowArg, InitArg, LayoutArg, TrainArgs};
use crate::config::TrainFile;
use crate::progress::Progress;

/// Mixture components when `--components` is not given.
pub const DEFAULT_COMPONENTS: usize = 4;

/// Seed when neither `--seed` nor the config file gives one.
pub const DEFAULT_SEED: u64 = 1;
/// Model file written when neither `--out` nor the config file names one.
pub const DEFAULT_OUT: &str = "model.lwf";

/// Resolves the flow and training settings: library defaults, then the flags. With a config
/// file, pass [`TrainFile::apply_to`]'s result: file values fill the flags left unset.
/// `auto_k` is the count chosen for `--components auto` (ignored otherwise; `auto` without it
/// falls back to [`DEFAULT_COMPONENTS`]).
pub fn resolve(a: &TrainArgs, theta_dim: usize, x_dim: usize, auto_k: Option<usize>) -> (FlowConfig, TrainConfig) {
    let components = match a.components {
        None => DEFAULT_COMPONENTS,
        Some(ComponentsArg::Count(k)) => k,
        Some(ComponentsArg::Auto) => auto_k.unwrap_or(DEFAULT_COMPONENTS),
    };
    let base = match a.base.unwrap_or(BaseArg::Gmm) {
        BaseArg::Gaussian => BaseConfig::Gaussian,
        BaseArg::Gmm => BaseConfig::Gmm { components },
        BaseArg::Cgmm => BaseConfig::Cgmm { components },
    };
    let mut flow = FlowConfig::new(theta_dim, x_dim, base);
    flow.coupling = match (a.flow, flow.coupling) {
        (Some(FlowArg::Affine), CouplingConfig::Affine { .. }) | (None, _) => flow.coupling,
        (Some(FlowArg::Affine), _) => CouplingConfig::default_affine(),
        (Some(FlowArg::Spline), CouplingConfig::Spline { .. }) => flow.coupling,
        (Some(FlowArg::Spline), _) => CouplingConfig::default_spline(),
    };
    if let CouplingConfig::Spline { bins, tail_bound } = &mut flow.coupling {
        *bins = a.bins.unwrap_or(*bins);
        *tail_bound = a.tail_bound.unwrap_or(*tail_bound);
    }
    if let Some(l) = a.layers {
        flow.n_layers = l;
    }
    if a.hidden.is_some() || a.depth.is_some() {
        let width = a.hidden.unwrap_or(flow.hidden[0]);
        flow.hidden = vec![width; a.depth.unwrap_or(flow.hidden.len())];
    }
    let mut train = TrainConfig { seed: a.seed.unwrap_or(DEFAULT_SEED), ..TrainConfig::default() };
    if let Some(s) = a.steps {
        train.steps = s;
    }
    if let Some(v) = a.obs_per_step {
        train.obs_per_step = v;
    }
    if let Some(v) = a.thetas_per_step {
        train.thetas_per_step = v;
    }
    if let Some(v) = a.batch {
        train.pairs_per_obs = (v / train.obs_per_step).max(1);
    }
    if let Some(v) = a.lr {
        train.lr = v;
    }
    train.time_limit = a.time_limit;
    if let Some(i) = a.mixture_init {
        train.mixture_init = match i {
            InitArg::Separated => MixtureInit::Separated,
            InitArg::Random => MixtureInit::Random,
            InitArg::Fitted => MixtureInit::Fitted,
        };
    }
    if let Some(l) = a.layout {
        train.layout = match l {
            LayoutArg::Resample => BatchLayout::Resample,
            LayoutArg::TopWeights => BatchLayout::TopWeights,
        };
    }
    (flow, train)
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let file = args.config.as_deref().map(TrainFile::read).transpose()?;
    let a = match &file {
        Some(f) => f.apply_to(args),
        None => args.clone(),
    };
    let model: Box<dyn Model> = match (&a.task, file.as_ref().and_then(TrainFile::external)) {
        (Some(task), _) => lwflow::tasks::by_name(task)?,
        (None, Some(external)) => Box::new(ExternalModel::spawn(external.clone()).with_context(|| {
            format!("starting the external model of {}", file.as_ref().expect("has a file").path().display())
        })?),
        (None, None) => match &file {
            Some(f) => bail!("{}: give a task (or --task) or a [model] table", f.path().display()),
            None => bail!("train needs --task, or --config with a task or a [model] table"),
        },
    };
    let a = &a;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    let seed = a.seed.unwrap_or(DEFAULT_SEED);
    let auto = match (a.components, a.base.unwrap_or(BaseArg::Gmm)) {
        (Some(ComponentsArg::Auto), BaseArg::Gmm | BaseArg::Cgmm) => {
            let cfg = super::components::auto_config(seed, None, None, None);
            let pick = auto_components(model.as_ref(), &cfg)
                .with_context(|| format!("choosing the number of components for {}", model.name()))?;
            if !a.quiet {
                eprintln!(
                    "--components auto: K = {} (modes per observation: {}; {:.1} s)",
                    pick.k,
                    super::components::count_histogram(&pick.per_obs_counts),
                    pick.seconds
                );
            }
            Some(pick)
        }
        _ => None,
    };
    let (flow_cfg, train_cfg) = resolve(a, model.theta_dim(), model.x_dim(), auto.as_ref().map(|p| p.k));
    let mut progress = Progress::new(train_cfg.steps as u64, a.quiet);
    let (flow, mut meta) = fit(model.as_ref(), flow_cfg, train_cfg, &mut |r| {
        let val = r.val_loss.map(|v| format!(" val {v:.3}")).unwrap_or_default();
        progress
            .update(r.step as u64, &format!("loss {:.3}{val} ESS {:.1} (min {:.1})", r.loss, r.ess_mean, r.ess_min));
    })
    .with_context(|| format!("training on {}", model.name()))?;
    meta.auto_components = auto;
    let s = meta.summary.as_ref().expect("fit records a summary");
    progress.finish(&format!(
        "{} steps in {:.1} s, best validation loss {:.4} at step {}, mean ESS {:.1}",
        s.steps_run, s.seconds, s.best_val_loss, s.best_step, s.mean_ess
    ));
    save_flow(&out, &flow, &meta).with_context(|| format!("writing {}", out.display()))?;
    if let Some(dir) = &a.plot_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for ext in ["png", "svg"] {
            crate::plot::training_curves(&dir.join(format!("training.{ext}")), &s.history, &s.ess_history)?;
        }
    }
    if !a.quiet {
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}
