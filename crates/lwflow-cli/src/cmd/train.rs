//! `lwflow train`: builds the model and flow from a config file and flags (flags win), trains,
//! writes the model file.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use lwflow::flow::{BaseConfig, CouplingConfig, FlowConfig, ObsFeatures};
use lwflow::io::save_flow;
use lwflow::model::{ExternalModel, Model};
use lwflow::tasks::defaults::DEFAULT_COMPONENTS;
use lwflow::tasks::recommended;
use lwflow::train::{choose_components, fit, MixtureInit, ProposalKind, StepReport, Toggle, TrainConfig};
use lwflow::weights::BatchLayout;

use crate::args::{BaseArg, ComponentsArg, FlowArg, InitArg, LayoutArg, ProposalArg, TemperArg, TrainArgs};
use crate::config::TrainFile;
use crate::progress::Progress;

/// Seed when neither `--seed` nor the config file gives one.
pub const DEFAULT_SEED: u64 = 1;
/// Model file written when neither `--out` nor the config file names one.
pub const DEFAULT_OUT: &str = "model.lwf";

/// Resolves the flow and training settings: the task's recommended settings
/// ([`lwflow::tasks::recommended`]; an external model gets the generic defaults), then the flags.
/// With a config file, pass [`TrainFile::apply_to`]'s result: file values fill the flags left
/// unset. `--base gmm|cgmm` without `--components` keeps the task's number of components if its
/// recommended base is a mixture, and [`DEFAULT_COMPONENTS`] otherwise; `--components K|auto`
/// alone turns a Gaussian base into a mixture. The count is final only with `--components K`:
/// where [`wants_auto_components`], [`run`] replaces it by the automatic choice.
pub fn resolve(a: &TrainArgs, theta_dim: usize, x_dim: usize) -> (FlowConfig, TrainConfig) {
    let (mut flow, recommended_train) = recommended(a.task.as_deref().unwrap_or(""), theta_dim, x_dim);
    let asked = match a.components {
        Some(ComponentsArg::Count(k)) => Some(k),
        Some(ComponentsArg::Auto) | None => None,
    };
    let components = asked.unwrap_or(match flow.base {
        BaseConfig::Gaussian => DEFAULT_COMPONENTS,
        BaseConfig::Gmm { components } | BaseConfig::Cgmm { components } => components,
    });
    flow.base = match a.base {
        None if a.components.is_none() => flow.base,
        None => match flow.base {
            BaseConfig::Cgmm { .. } => BaseConfig::Cgmm { components },
            _ => BaseConfig::Gmm { components },
        },
        Some(BaseArg::Gaussian) => BaseConfig::Gaussian,
        Some(BaseArg::Gmm) => BaseConfig::Gmm { components },
        Some(BaseArg::Cgmm) => BaseConfig::Cgmm { components },
    };
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
    if let Some(members) = a.set_members {
        flow.x_features = if members == 1 { ObsFeatures::Raw } else { ObsFeatures::SetMoments { members } };
    }
    if a.hidden.is_some() || a.depth.is_some() {
        let width = a.hidden.unwrap_or(flow.hidden[0]);
        flow.hidden = vec![width; a.depth.unwrap_or(flow.hidden.len())];
    }
    let mut train = TrainConfig { seed: a.seed.unwrap_or(DEFAULT_SEED), ..recommended_train };
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
    if let Some(v) = a.clip_norm {
        train.clip_norm = v;
    }
    train.time_limit = a.time_limit;
    if let Some(i) = a.mixture_init {
        train.mixture_init = match i {
            InitArg::Separated => MixtureInit::Separated,
            InitArg::Random => MixtureInit::Random,
            InitArg::Fitted => MixtureInit::Fitted,
        };
    }
    if let Some(p) = a.proposal {
        train.proposal.kind = match p {
            ProposalArg::Auto => ProposalKind::Auto,
            ProposalArg::Prior => ProposalKind::Prior,
            ProposalArg::Adaptive => ProposalKind::Adaptive,
        };
    }
    if let Some(v) = a.draws_per_obs {
        train.proposal.draws_per_obs = v;
    }
    if let Some(v) = a.prior_share {
        train.proposal.prior_share = v;
    }
    if let Some(t) = a.temper {
        train.temper.mode = match t {
            TemperArg::Auto => Toggle::Auto,
            TemperArg::On => Toggle::On,
            TemperArg::Off => Toggle::Off,
        };
    }
    if let Some(v) = a.temper_target {
        train.temper.target_ess_fraction = v;
    }
    if let Some(v) = a.temper_end {
        train.temper.end = v;
    }
    if let Some(v) = a.reverse_kl {
        train.reverse_kl = v;
    }
    if let Some(l) = a.layout {
        train.layout = match l {
            LayoutArg::Resample => BatchLayout::Resample,
            LayoutArg::TopWeights => BatchLayout::TopWeights,
        };
    }
    (flow, train)
}

/// Whether the number of mixture components is chosen automatically
/// ([`lwflow::train::choose_components`]): with `--components auto`, and by default for a built-in
/// task. An external model keeps the fixed default unless asked: the selection runs an SMC
/// sampler on its likelihood, whose cost lwflow cannot know in advance.
pub fn wants_auto_components(a: &TrainArgs) -> bool {
    match a.components {
        Some(ComponentsArg::Auto) => true,
        Some(ComponentsArg::Count(_)) => false,
        None => a.task.is_some(),
    }
}

/// A median per-observation ESS below this, sustained, means each observation's gradient rests on a
/// handful of draws.
pub const LOW_ESS: f64 = lwflow::train::AUTO_ESS_THRESHOLD;
/// Steps the median ESS is averaged over before warning.
const LOW_ESS_WINDOW: usize = 100;

/// Watches the median ESS of untempered steps and warns once when its running mean over
/// [`LOW_ESS_WINDOW`] steps drops below [`LOW_ESS`].
#[derive(Default)]
struct LowEssWatch {
    window: Vec<f64>,
    warned: bool,
}

impl LowEssWatch {
    fn check(&mut self, r: &StepReport) -> Option<String> {
        if self.warned || r.beta < 1.0 {
            return None;
        }
        self.window.push(r.ess_median);
        if self.window.len() < LOW_ESS_WINDOW {
            return None;
        }
        let mean = self.window.iter().sum::<f64>() / self.window.len() as f64;
        self.window.clear();
        if mean >= LOW_ESS {
            return None;
        }
        self.warned = true;
        let advice = if r.adaptive {
            "more --draws-per-obs, or a larger --prior-share if modes are missed"
        } else {
            "--proposal adaptive, --temper on, or more --thetas-per-step"
        };
        Some(format!(
            "median per-observation ESS {mean:.1} < {LOW_ESS} over steps {}..{}: the weights rest on a few draws \
             per observation and the gradient is noisy; try {advice}",
            r.step + 1 - LOW_ESS_WINDOW,
            r.step
        ))
    }
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
    super::check_outputs(&[&out], a.plot_dir.as_deref(), &[args.config.as_deref()])?;
    let seed = a.seed.unwrap_or(DEFAULT_SEED);
    let (mut flow_cfg, train_cfg) = resolve(a, model.theta_dim(), model.x_dim());
    flow_cfg.x_features.validate(model.x_dim()).context("--set-members (config: [flow] set_members)")?;
    let auto = if wants_auto_components(a) {
        let cfg = super::components::auto_config(seed, None, None, None);
        let pick = choose_components(model.as_ref(), &mut flow_cfg, &cfg)
            .with_context(|| format!("choosing the number of components for {}", model.name()))?;
        if let (Some(pick), false) = (&pick, a.quiet) {
            eprintln!(
                "components: K = {} chosen automatically (modes per observation: {}; {:.1} s)",
                pick.k,
                super::components::count_histogram(&pick.per_obs_counts),
                pick.seconds
            );
        }
        pick
    } else {
        None
    };
    let mut progress = Progress::new(train_cfg.steps as u64, a.quiet);
    let mut low_ess = LowEssWatch::default();
    let (flow, mut meta) = fit(model.as_ref(), flow_cfg, train_cfg, &mut |r| {
        let val = r.val_loss.map(|v| format!(" val {v:.3}")).unwrap_or_default();
        if let Some(msg) = low_ess.check(r) {
            progress.warn(&msg);
        }
        let beta = if r.beta < 1.0 { format!(" β {:.3}", r.beta) } else { String::new() };
        let proposal = if r.adaptive { " adaptive" } else { "" };
        progress.update(
            r.step as u64,
            &format!("loss {:.3}{val} ESS {:.1} (min {:.1}){beta}{proposal}", r.loss, r.ess_mean, r.ess_min),
        );
    })
    .with_context(|| format!("training on {}", model.name()))?;
    meta.auto_components = auto;
    let s = meta.summary.as_ref().expect("fit records a summary");
    let proposal = match s.adaptive_from {
        Some(k) => format!("adaptive from step {k}"),
        None => "prior".to_string(),
    };
    progress.finish(&format!(
        "{} steps in {:.1} s, best validation loss {:.4} at step {}, mean ESS {:.1}; pilot median ESS {:.1} \
         → proposal {proposal}{}",
        s.steps_run,
        s.seconds,
        s.best_val_loss,
        s.best_step,
        s.mean_ess,
        s.pilot_median_ess,
        if s.tempered { ", tempered" } else { "" }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};

    fn resolved(line: &str, theta_dim: usize, x_dim: usize) -> (FlowConfig, TrainConfig) {
        let cli = Cli::try_parse_validated(line.split_whitespace()).expect("valid flags");
        let Command::Train(a) = cli.command else { panic!("expected train") };
        resolve(&a, theta_dim, x_dim)
    }

    #[test]
    fn task_recommendations_are_the_starting_point_and_flags_override_them() {
        let (flow, train) = resolved("lwflow train --task gaussian_linear", 10, 10);
        assert_eq!((flow.base, train.steps), (BaseConfig::Gaussian, TrainConfig::default().steps));
        assert_eq!(resolved("lwflow train --task two_moons", 2, 2).0.base, BaseConfig::Gmm { components: 2 });
        // A mixture base asked for by flag keeps the task's components, or the generic default.
        assert_eq!(
            resolved("lwflow train --task two_moons --base cgmm", 2, 2).0.base,
            BaseConfig::Cgmm { components: 2 }
        );
        let base = resolved("lwflow train --task gaussian_linear --base gmm", 10, 10).0.base;
        assert_eq!(base, BaseConfig::Gmm { components: DEFAULT_COMPONENTS });
        let base = resolved("lwflow train --task gaussian_linear --components 6", 10, 10).0.base;
        assert_eq!(base, BaseConfig::Gmm { components: 6 });
        let (flow, train) = resolved("lwflow train --task square3d --base gaussian --steps 7 --seed 3", 3, 3);
        assert_eq!((flow.base, train.steps, train.seed), (BaseConfig::Gaussian, 7, 3));
        // No task (an external model): the generic defaults.
        let base = resolved("lwflow train --config run.toml", 2, 2).0.base;
        assert_eq!(base, BaseConfig::Gmm { components: DEFAULT_COMPONENTS });
        // `--components auto` alone asks for a mixture, whose count `run` then chooses.
        let base = resolved("lwflow train --task gaussian_linear --components auto", 10, 10).0.base;
        assert_eq!(base, BaseConfig::Gmm { components: DEFAULT_COMPONENTS });
    }

    #[test]
    fn components_are_automatic_for_tasks_unless_given() {
        let wants = |line: &str| {
            let cli = Cli::try_parse_validated(line.split_whitespace()).expect("valid flags");
            let Command::Train(a) = cli.command else { panic!("expected train") };
            wants_auto_components(&a)
        };
        assert!(wants("lwflow train --task slcp"));
        assert!(wants("lwflow train --task slcp --components auto"));
        assert!(!wants("lwflow train --task slcp --components 3"));
        assert!(!wants("lwflow train --config run.toml"));
        assert!(wants("lwflow train --config run.toml --components auto"));
    }
}
