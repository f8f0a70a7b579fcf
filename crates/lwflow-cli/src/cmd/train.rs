//! `lwflow train`: the task's recommended settings ← the config file ← the flags
//! ([`lwflow::settings`]), the number of mixture components if it is automatic, training with
//! progress, the model file.

use std::path::Path;

use anyhow::{Context, Result};
use lwflow::io::save_flow;
use lwflow::settings::{Resolved, Settings};
use lwflow::train::{choose_components, fit, StepReport};

use crate::args::TrainArgs;
use crate::config::{open_model, TrainFile};
use crate::progress::Progress;

/// Model file written when neither `--out` nor the config file names one.
pub const DEFAULT_OUT: &str = "model.lwf";

/// A median per-observation ESS below this, sustained, means each observation's gradient rests on a
/// handful of draws. Lower than [`lwflow::train::AUTO_ESS_THRESHOLD`]: an adaptive run draws only
/// M = 16 per observation, so its ESS often sits between the two without harm.
pub const LOW_ESS: f64 = 5.0;
/// Steps the median ESS is averaged over before warning.
const LOW_ESS_WINDOW: usize = 100;

/// Watches the median ESS of untempered steps after any warm-up and warns once when its running
/// mean over [`LOW_ESS_WINDOW`] steps drops below [`LOW_ESS`].
#[derive(Default)]
struct LowEssWatch {
    window: Vec<f64>,
    warned: bool,
}

impl LowEssWatch {
    fn check(&mut self, r: &StepReport) -> Option<String> {
        // No likelihood evaluated yet (a budgeted run's simulation rounds): no weights to judge.
        // An adaptive run's warm-up draws few prior θ on purpose; what counts is the ESS after it.
        if self.warned || r.beta < 1.0 || r.warmup || r.likelihood_evals == 0 {
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

/// `e` with its settings key spelled as a flag and a config key: "--set-members (config:
/// [flow] set_members)" for the library's "flow.set_members"; `kind` keys are `--base`, `--flow`.
fn with_flag_and_key(e: lwflow::Error) -> anyhow::Error {
    let lwflow::Error::Invalid { what, .. } = &e else { return e.into() };
    let (table, name) = what.split_once('.').unwrap_or(("", what));
    let flag = if name == "kind" { table } else { name };
    let spellings = format!("--{} (config: [{table}] {name})", flag.replace('_', "-"));
    anyhow::Error::new(e).context(spellings)
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let file = args.config.as_deref().map(TrainFile::read).transpose()?;
    let task = args.task.as_deref().or(file.as_ref().and_then(TrainFile::task));
    let model = open_model(task, file.as_ref())?;
    let out = args.out.as_deref().or(file.as_ref().and_then(TrainFile::out)).unwrap_or(Path::new(DEFAULT_OUT));
    super::check_outputs(&[out], args.plot_dir.as_deref(), &[args.config.as_deref()])?;
    let file_settings = file.as_ref().map(|f| f.settings().clone()).unwrap_or_default();
    let settings = Settings::overlay([file_settings, args.settings()]);
    let Resolved { flow: mut flow_cfg, train: train_cfg, auto_components } =
        settings.resolve(task, model.theta_dim(), model.x_dim()).map_err(with_flag_and_key)?;
    // Under a budget every call counts and the SMC mode count would spend more than the budget:
    // the task's recommended K (or the generic default) is kept.
    let auto_components = auto_components && train_cfg.budget.is_none();
    let auto = if auto_components {
        let cfg = super::components::auto_config(train_cfg.seed, None, None, None);
        let pick = choose_components(model.as_ref(), &mut flow_cfg, &cfg)
            .with_context(|| format!("choosing the number of components for {}", model.name()))?;
        if let (Some(pick), false) = (&pick, args.quiet) {
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
    // A budgeted run's bar counts model calls; a fresh-draw run's, steps.
    let budget = train_cfg.budget;
    let mut progress = Progress::new(budget.unwrap_or(train_cfg.steps as u64), args.quiet);
    let mut low_ess = LowEssWatch::default();
    let (flow, mut meta) = fit(model.as_ref(), flow_cfg, train_cfg, &mut |r| {
        let val = r.val_loss.map(|v| format!(" val {v:.3}")).unwrap_or_default();
        if let Some(msg) = low_ess.check(r) {
            progress.warn(&msg);
        }
        let beta = if r.beta < 1.0 { format!(" β {:.3}", r.beta) } else { String::new() };
        let proposal = if r.adaptive { " adaptive" } else { "" };
        let calls = r.likelihood_evals + r.simulations;
        progress.update(
            if budget.is_some() { calls } else { r.step as u64 },
            &format!(
                "loss {:.3}{val} ESS {:.1} (min {:.1}){beta}{proposal} calls {} ({} likelihood, {} simulations)",
                r.loss, r.ess_mean, r.ess_min, calls, r.likelihood_evals, r.simulations
            ),
        );
    })
    .with_context(|| format!("training on {}", model.name()))?;
    meta.auto_components = auto;
    meta.external = super::file_model::external_record(task, file.as_ref())?;
    let s = meta.summary.as_ref().expect("fit records a summary");
    let proposal = match s.adaptive_from {
        Some(k) => format!("adaptive from step {k}"),
        None => "prior".to_string(),
    };
    let calls = format!(
        "{} likelihood evaluations + {} simulations = {} model calls",
        s.likelihood_evals,
        s.simulations,
        s.likelihood_evals + s.simulations
    );
    if budget.is_some() {
        progress.finish(&format!(
            "{} rounds, {} steps in {:.1} s, held-out loss {:.4}, mean ESS {:.1}; {calls}",
            s.rounds.len(),
            s.steps_run,
            s.seconds,
            s.best_val_loss,
            s.mean_ess
        ));
    } else {
        progress.finish(&format!(
            "{} steps in {:.1} s, best validation loss {:.4} at step {}, mean ESS {:.1}; pilot median ESS {:.1} \
             → proposal {proposal}{}; {calls}",
            s.steps_run,
            s.seconds,
            s.best_val_loss,
            s.best_step,
            s.mean_ess,
            s.pilot_median_ess,
            if s.tempered { ", tempered" } else { "" }
        ));
    }
    save_flow(out, &flow, &meta).with_context(|| format!("writing {}", out.display()))?;
    if let Some(dir) = &args.plot_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for ext in ["png", "svg"] {
            crate::plot::training_curves(&dir.join(format!("training.{ext}")), &s.history, &s.ess_history)?;
        }
    }
    if !args.quiet {
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(step: usize, ess_median: f64, adaptive: bool, warmup: bool) -> StepReport {
        StepReport {
            step,
            steps: 4000,
            loss: 0.0,
            val_loss: None,
            ess_mean: ess_median,
            ess_min: ess_median,
            ess_median,
            beta: 1.0,
            adaptive,
            warmup,
            lr: 1e-3,
            likelihood_evals: 1000 * step as u64,
            simulations: 64 * step as u64,
            skipped_obs: 0,
        }
    }

    /// Feeds `n` steps from `first` on and returns the warnings.
    fn feed(watch: &mut LowEssWatch, first: usize, n: usize, ess: f64, adaptive: bool, warmup: bool) -> Vec<String> {
        (first..first + n).filter_map(|s| watch.check(&report(s, ess, adaptive, warmup))).collect()
    }

    #[test]
    fn an_adaptive_warm_up_does_not_warn_but_a_low_ess_after_it_does() {
        let mut watch = LowEssWatch::default();
        assert!(feed(&mut watch, 1, 400, 1.0, false, true).is_empty(), "the warm-up's ESS is low by design");
        assert!(feed(&mut watch, 401, 100, LOW_ESS + 1.0, true, false).is_empty());
        let warnings = feed(&mut watch, 501, 300, LOW_ESS - 1.0, true, false);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("steps 501..600") && warnings[0].contains("--draws-per-obs"), "{}", warnings[0]);
    }

    #[test]
    fn a_low_ess_with_prior_draws_warns_once_and_names_the_adaptive_proposal() {
        let mut watch = LowEssWatch::default();
        let warnings = feed(&mut watch, 1, 1000, 2.0, false, false);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("steps 1..100") && warnings[0].contains("--proposal adaptive"), "{}", warnings[0]);
    }
}
