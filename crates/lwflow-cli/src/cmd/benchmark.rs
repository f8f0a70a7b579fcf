//! `lwflow benchmark`: per task, the observations and references once
//! ([`lwflow::benchmark::TaskObservations`]), then [`lwflow::benchmark::run_task_on`] once, or once
//! per `--budget`; per training the model, observations and samples (in `<task>/`, or
//! `<task>/budget_<N>/`), and after every training the tables results.md and results.csv (so a
//! long run leaves partial results).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use lwflow::benchmark::{run_task_on, BenchmarkConfig, TaskObservations, TaskResult, OBSERVATION_SEED_BASE};
use lwflow::experiment::MeanStd;
use lwflow::io::{save_flow, write_csv, write_npy};
use lwflow::MatRef;

use crate::args::BenchmarkArgs;
use crate::cmd::tables::{csv_opt, csv_vec, write_text};

pub fn run(a: &BenchmarkArgs) -> Result<()> {
    let base = BenchmarkConfig {
        seed: a.seed,
        n_observations: a.observations,
        n_samples: a.samples,
        steps: a.steps,
        importance: a.importance,
        budget: None,
        distances: !a.no_distances,
        refine: a.refine_config(),
    };
    // One training per budget, or one with the recommended step budget.
    let budgets: Vec<Option<u64>> =
        if a.budget.is_empty() { vec![None] } else { a.budget.iter().copied().map(Some).collect() };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let started = Instant::now();
    let mut log = |line: &str| {
        if !a.quiet {
            eprintln!("{line}");
        }
    };
    let mut done: Vec<TaskResult> = Vec::new();
    for task in &a.tasks {
        let observations =
            TaskObservations::build(task, &base, &mut log).with_context(|| format!("benchmark task {task}"))?;
        for &budget in &budgets {
            let cfg = BenchmarkConfig { budget, ..base.clone() };
            let result = run_task_on(&observations, &cfg, &mut log).with_context(|| match budget {
                Some(b) => format!("benchmark task {task} on a budget of {b} model calls"),
                None => format!("benchmark task {task}"),
            })?;
            if let Some(b) = budget {
                let (calls, within) = (result.model_calls(), result.within_budget());
                // Printed even with --quiet when the budget was exceeded: the run's premise failed.
                if !within || !a.quiet {
                    eprintln!(
                        "{task}: {} likelihood evaluations + {} simulations = {calls} model calls {} budget {b}{}",
                        result.likelihood_evals,
                        result.simulations,
                        if within { "≤" } else { ">" },
                        if within { "" } else { ": OVER BUDGET" },
                    );
                }
            }
            let dir = match budget {
                Some(b) => a.out.join(task).join(format!("budget_{b}")),
                None => a.out.join(task),
            };
            write_task_files(&dir, &result)?;
            done.push(result);
            let minutes = started.elapsed().as_secs_f64() / 60.0;
            write_text(&a.out.join("results.md"), &markdown(&base, &done, minutes))?;
            write_text(&a.out.join("results.csv"), &csv(&base, &done))?;
        }
    }
    if !a.quiet {
        let minutes = started.elapsed().as_secs_f64() / 60.0;
        eprintln!("wrote {} (results.md, results.csv, per-task samples) in {minutes:.1} min", a.out.display());
    }
    Ok(())
}

/// `dir`/model.lwf, and per observation `dir`/obs_<i>/ with observation.csv, true_parameters.csv,
/// flow_samples.npy and (with a reference) reference_samples.npy: sbibm's layout.
fn write_task_files(dir: &Path, r: &TaskResult) -> Result<()> {
    let model = dir.join("model.lwf");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    save_flow(&model, &r.flow, &r.meta).with_context(|| format!("writing {}", model.display()))?;
    let names = |prefix: &str, n: usize| -> Vec<String> { (1..=n).map(|k| format!("{prefix}_{k}")).collect() };
    for o in &r.observations {
        let obs_dir = dir.join(format!("obs_{}", o.index));
        std::fs::create_dir_all(&obs_dir).with_context(|| format!("creating {}", obs_dir.display()))?;
        let files: [(&str, Result<(), lwflow::Error>); 3] = [
            ("observation.csv", write_csv(&obs_dir.join("observation.csv"), &names("x", o.x.len()), row(&o.x))),
            (
                "true_parameters.csv",
                write_csv(
                    &obs_dir.join("true_parameters.csv"),
                    &names("theta", o.theta_true.len()),
                    row(&o.theta_true),
                ),
            ),
            ("flow_samples.npy", write_npy(&obs_dir.join("flow_samples.npy"), o.flow_samples.as_ref())),
        ];
        for (name, written) in files {
            written.with_context(|| format!("writing {}", obs_dir.join(name).display()))?;
        }
        if let Some(p) = &o.reference_samples {
            let path = obs_dir.join("reference_samples.npy");
            write_npy(&path, p.as_ref()).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

fn row(v: &[f64]) -> MatRef<'_, f64> {
    MatRef::new(v, 1, v.len())
}

/// C2ST as "mean ± standard error" over the observations, or "n/a".
fn c2st_cell(r: &TaskResult) -> String {
    r.c2st_spread().map_or("n/a".into(), |c| format!("{:.3} ± {:.3}", c.mean, c.standard_error))
}

/// The worst observation's C2ST and its number, or "n/a".
fn worst_cell(r: &TaskResult) -> String {
    r.c2st_spread().map_or("n/a".into(), |c| format!("{:.3} (obs {})", c.worst, c.worst_index))
}

/// sbibm's published NPE / best C2ST at the row's budget (10⁵ simulations without one: sbibm's
/// largest), or "–".
fn published_cell(task: &str, budget: Option<u64>) -> String {
    let Some(published) = lwflow::tasks::find(task).and_then(|e| e.sbibm) else {
        return "–".into();
    };
    let simulations = budget.unwrap_or(100_000);
    let npe = published.npe_at(simulations).map_or("–".into(), |v| format!("{v:.3}"));
    let best = published.best_at(simulations).map_or("–".into(), |(v, method)| format!("{v:.3} ({method})"));
    format!("{npe} / {best}")
}

/// "mean ± sd" with `digits` decimals, or "n/a".
fn cell(v: Option<MeanStd>, digits: usize) -> String {
    v.map_or("n/a".into(), |m| format!("{:.p$} ± {:.p$}", m.mean, m.std, p = digits))
}

/// `calls ≤ budget` (or `> budget (over)`), or the bare call count without a budget.
fn calls_cell(r: &TaskResult) -> String {
    match r.budget {
        Some(b) if r.within_budget() => format!("{} ≤ {b}", r.model_calls()),
        Some(b) => format!("{} > {b} (over)", r.model_calls()),
        None => r.model_calls().to_string(),
    }
}

/// The training's ESS per observation: on a budget, the median over each round's new
/// observations, round by round ("1.2 → 3.4 / 16": of M draws each); else the median over its
/// last 10 % of steps and the draws each observation was weighted against ("ESS / draws").
fn ess_cell(r: &TaskResult) -> String {
    match r.meta.summary.as_ref() {
        Some(s) if !s.rounds.is_empty() => {
            let medians: Vec<String> = s.rounds.iter().map(|round| format!("{:.1}", round.ess_median)).collect();
            format!("{} / {}", medians.join(" → "), s.rounds.last().map_or(0, |round| round.draws_per_obs))
        }
        Some(s) => format!("{:.1} / {}", s.median_ess_late, s.draws_per_obs_late),
        None => "n/a".into(),
    }
}

/// One row per training (task, and budget if any): metrics as mean ± sd over observations, cost.
fn markdown(cfg: &BenchmarkConfig, done: &[TaskResult], minutes: f64) -> String {
    let mut s = String::new();
    let steps = match (cfg.steps, done.iter().any(|r| r.budget.is_some())) {
        (_, true) => "each task's recommended settings on the row's budget of model calls".to_string(),
        (Some(n), false) => format!("{n} training steps (override)"),
        (None, false) => "each task's recommended budget".to_string(),
    };
    let steps = match &cfg.refine {
        Some(r) => format!(
            "{steps}, then refined for each observation ({} steps of {} draws; the refinement's likelihood evaluations per observation in their own column)",
            r.steps, r.draws
        ),
        None => steps,
    };
    let _ = writeln!(
        s,
        "# Benchmark\n\n{} observations per task (seeds {}…{}), {} samples each from q and the reference, training seed {}, {steps}; {minutes:.1} min in all.\n",
        cfg.n_observations,
        OBSERVATION_SEED_BASE + 1,
        OBSERVATION_SEED_BASE + cfg.n_observations as u64,
        cfg.n_samples,
        cfg.seed,
    );
    let _ = writeln!(
        s,
        "| task | budget | reference | C2ST | worst C2ST | sbibm NPE / best | KL(p‖q) | bridge mass | W2 (floor) | sliced W2 | MMD² | train s | likelihood evals | simulations | model calls | steps | base | ESS per x / draws | reference s/obs | C2ST importance-corrected | ESS / draws | draws per obs | refinement evals per obs |"
    );
    let _ =
        writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in done {
        let floor = r.summary(|e| e.w2_floor).map_or(String::new(), |m| format!(" ({:.3})", m.mean));
        let reference_seconds =
            r.observations.iter().map(|o| o.reference_seconds).sum::<f64>() / r.observations.len().max(1) as f64;
        let base = &r.meta.flow.base;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {}{floor} | {} | {} | {:.0} | {:.3e} | {:.3e} | {} | {} | {} K={} | {} | {:.1} | {} | {} | {} | {} |",
            r.task,
            r.budget.map_or("–".into(), |b| b.to_string()),
            r.reference.name(),
            c2st_cell(r),
            worst_cell(r),
            published_cell(&r.task, r.budget),
            cell(r.summary(|e| Some(e.kl_pq)), 3),
            cell(r.summary(|e| Some(e.bridge_mass)), 4),
            cell(r.summary(|e| e.w2), 3),
            cell(r.summary(|e| e.sliced_w2), 3),
            cell(r.summary(|e| e.mmd2), 4),
            r.train_seconds,
            r.likelihood_evals as f64,
            r.simulations as f64,
            calls_cell(r),
            r.steps_run,
            base.name(),
            base.components(),
            ess_cell(r),
            reference_seconds,
            cell(r.importance_summary(|e| e.c2st), 3),
            cell(r.importance_summary(|e| e.importance.as_ref().map(|d| d.ess / d.draws as f64)), 3),
            r.importance_summary(|e| e.importance.as_ref().map(|d| d.draws as f64))
                .map_or("n/a".into(), |m| format!("{:.0}", m.mean)),
            match r.refine_likelihood_evals() {
                0 => "–".to_string(),
                n => format!("{:.3e}", n as f64 / r.observations.len().max(1) as f64),
            },
        );
    }
    let _ = writeln!(
        s,
        "\nC2ST: 5-fold classifier accuracy, 0.5 = indistinguishable (sbibm's), as mean ± standard error over the observations (sd/√n), and the worst observation; sbibm NPE / best: the published means over sbibm's 10 observations (Lueckmann et al. 2021) at the row's budget of simulations, or at 10⁵ without a budget (NPE is amortized like lwflow; the best is often a sequential method fitted to one observation at a time); – where not transcribed. Other metrics: mean ± sd over observations. KL(p‖q) and bridge mass (share of q's samples where the reference density is below {} of its maximum) need a reference density (exact or grid); W2 is exact optimal transport on {} samples with, in brackets, the same between two reference sample sets (the noise floor). Model calls: likelihood evaluations plus simulations of the training, against its budget. ESS per x / draws: on a budget, the median ESS of each round's new observations over their M draws, round by round; else the median per-observation ESS over the last 10 % of steps, and the draws each observation was weighted against. n/a: not available for that reference (SMC references, for slcp and bernoulli_glm, have samples only) or not asked for (the importance-corrected columns need `--importance`: q's draws reweighted by L·π/r and resampled, with the ESS per likelihood evaluation). Training time was measured on a machine shared with other jobs.",
        lwflow::eval::BRIDGE_THRESHOLD,
        cfg.n_samples.min(lwflow::eval::W2_MAX_SAMPLES)
    );
    s
}

/// One line per (task, observation).
fn csv(cfg: &BenchmarkConfig, done: &[TaskResult]) -> String {
    let mut s = String::from(
        "task,observation,observation_seed,reference,x,theta_true,c2st,kl_pq,kl_qp,w2,w2_floor,sliced_w2,mmd2,bridge_mass,reference_seconds,train_seconds,likelihood_evals,steps_run,seed,n_samples,c2st_importance,importance_draws,importance_ess,budget,simulations,model_calls,median_ess_late,draws_per_obs_late,round_ess_median,refine_steps,refine_likelihood_evals,refine_seconds\n",
    );
    for r in done {
        let summary = r.meta.summary.as_ref();
        for o in &r.observations {
            let e = o.report.as_ref();
            let corrected = o.importance_report.as_ref();
            let diag = corrected.and_then(|r| r.importance.as_ref());
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.task,
                o.index,
                o.seed,
                r.reference.name(),
                csv_vec(&o.x),
                csv_vec(&o.theta_true),
                csv_opt(e.and_then(|e| e.c2st)),
                csv_opt(e.map(|e| e.kl_pq)),
                csv_opt(e.map(|e| e.kl_qp)),
                csv_opt(e.and_then(|e| e.w2)),
                csv_opt(e.and_then(|e| e.w2_floor)),
                csv_opt(e.and_then(|e| e.sliced_w2)),
                csv_opt(e.and_then(|e| e.mmd2)),
                csv_opt(e.map(|e| e.bridge_mass)),
                o.reference_seconds,
                r.train_seconds,
                r.likelihood_evals,
                r.steps_run,
                cfg.seed,
                cfg.n_samples,
                csv_opt(corrected.and_then(|e| e.c2st)),
                csv_opt(diag.map(|d| d.draws as f64)),
                csv_opt(diag.map(|d| d.ess)),
                r.budget.map_or(String::new(), |b| b.to_string()),
                r.simulations,
                r.model_calls(),
                csv_opt(summary.map(|s| s.median_ess_late)),
                summary.map_or(String::new(), |s| s.draws_per_obs_late.to_string()),
                summary.map_or(String::new(), |s| {
                    let medians: Vec<String> = s.rounds.iter().map(|round| round.ess_median.to_string()).collect();
                    medians.join(" ")
                }),
                o.refinement.as_ref().map_or(String::new(), |r| r.steps_run.to_string()),
                o.refinement.as_ref().map_or(String::new(), |r| r.likelihood_evals.to_string()),
                csv_opt(o.refinement.as_ref().map(|r| r.seconds)),
            );
        }
    }
    s
}
