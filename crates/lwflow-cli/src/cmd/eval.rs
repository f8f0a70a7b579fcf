//! `lwflow eval`: metrics of a trained model against a reference posterior of its task (the model
//! file's task, or `--task` for a model trained on an external version of a built-in task): the
//! same references as `lwflow benchmark` builds. A model that is not a built-in task (an external
//! model, started again as [`super::model_of_file`] says) is judged against a grid (d ≤ 3,
//! bounded prior) or SMC reference built from its own likelihood.

use anyhow::{bail, Context, Result};
use lwflow::eval::{evaluate, evaluate_importance, EvalOptions, EvalReport};
use lwflow::importance::ImportanceConfig;
use lwflow::io::{load_flow, parse_obs};

use lwflow::benchmark::{build_reference, ReferenceKind};
use lwflow::reference::{grid_reference, Reference};

use super::{importance_line, model_of_file};
use crate::args::{EvalArgs, ReferenceArg};

pub fn run(a: &EvalArgs) -> Result<()> {
    if a.num < lwflow::eval::MIN_COMPARE_ROWS {
        bail!("--num {}: the metrics need at least {} samples", a.num, lwflow::eval::MIN_COMPARE_ROWS);
    }
    let (flow, meta) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    // The model whose reference applies (and whose likelihood serves --importance): `--task`,
    // `--config`, else the one the model was trained on, checked against the flow's dimensions.
    let model =
        model_of_file(a.task.as_deref(), a.config.as_deref(), &meta, flow.theta_dim(), flow.ctx_dim(), &a.model)?;
    let task = model.name();
    let task = task.as_str();
    // A built-in task has its own references; any other model only the generic grid and SMC.
    let built_in = lwflow::tasks::find(task).is_some();
    lwflow::limits::check_sample_values("samples (--num)", a.num, flow.theta_dim())?;
    // The same references as `lwflow benchmark` (`build_reference`): `exact` is the task's own
    // density reference (two_moons': its fine grid), `grid` the task's grid or a generic one.
    let own = if built_in { ReferenceKind::of_task(task)? } else { ReferenceKind::None };
    let kind = match (a.reference, own) {
        (ReferenceArg::Exact, ReferenceKind::Smc | ReferenceKind::None) => {
            bail!("model '{task}' has no exact reference; try --reference smc (or grid, for up to 3 parameters)")
        }
        (ReferenceArg::Exact, own @ (ReferenceKind::Exact | ReferenceKind::Grid)) => own,
        (ReferenceArg::Grid, _) => ReferenceKind::Grid,
        (ReferenceArg::Smc, _) => ReferenceKind::Smc,
    };
    let mut reports = Vec::new();
    for obs in a.obs.iter().flat_map(|s| s.split(';')).filter(|s| !s.trim().is_empty()) {
        let x = parse_obs(obs, flow.ctx_dim()).context("--obs")?;
        let reference: Option<Box<dyn Reference>> = if built_in || kind == ReferenceKind::Smc {
            build_reference(task, kind, model.as_ref(), &x, a.seed, a.num)?.0
        } else {
            Some(Box::new(grid_reference(model.as_ref(), &x, None)?))
        };
        let reference = reference.with_context(|| format!("no {} reference for '{task}'", kind.name()))?;
        let opts = EvalOptions::all(a.num, a.seed);
        if a.importance {
            let icfg = ImportanceConfig::default();
            let report = evaluate_importance(&flow, model.as_ref(), reference.as_ref(), &x, &opts, &icfg)
                .with_context(|| format!("--obs {obs}"))?;
            if let Some(diag) = &report.importance {
                eprintln!("x = {obs}: {}", importance_line(diag, a.num));
            }
            reports.push(report);
        } else {
            reports.push(evaluate(&flow, reference.as_ref(), &x, &opts).with_context(|| format!("--obs {obs}"))?);
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print_table(&reports);
    }
    Ok(())
}

/// `v` with `decimals` decimals in a field of `width`, or "–" when the reference cannot give it
/// (NaN: an SMC reference has no density, so no KL or bridge mass).
fn cell(v: f64, decimals: usize, width: usize) -> String {
    if v.is_finite() {
        format!("{v:>width$.decimals$}")
    } else {
        format!("{:>width$}", "–")
    }
}

fn print_table(reports: &[EvalReport]) {
    println!(
        "{:<16} {:>8} {:>8} {:>8} {:>7} {:>13} {:>8}  mode shares",
        "x", "KL(p‖q)", "± se", "KL(q‖p)", "C2ST", "W2 (floor)", "bridge"
    );
    let w2 = |w2: f64, floor: f64| format!("{} ({})", cell(w2, 3, 0), cell(floor, 3, 0));
    for r in reports {
        let x: Vec<String> = r.x.iter().map(|v| format!("{v}")).collect();
        let shares: Vec<String> = r.mode_shares.iter().map(|s| format!("{s:.3}")).collect();
        println!(
            "{:<16} {} {} {} {} {:>13} {}%  {}",
            format!("({})", x.join(", ")),
            cell(r.kl_pq, 4, 8),
            cell(r.kl_pq_std_err, 4, 8),
            cell(r.kl_qp, 4, 8),
            cell(r.c2st.unwrap_or(f64::NAN), 3, 7),
            w2(r.w2.unwrap_or(f64::NAN), r.w2_floor.unwrap_or(f64::NAN)),
            cell(100.0 * r.bridge_mass, 2, 7),
            shares.join(" ")
        );
    }
    let n = reports.len().max(1) as f64;
    let mean = |f: &dyn Fn(&EvalReport) -> f64| reports.iter().map(f).sum::<f64>() / n;
    println!(
        "{:<16} {} {:>8} {} {} {:>13} {}%",
        "mean",
        cell(mean(&|r| r.kl_pq), 4, 8),
        "",
        cell(mean(&|r| r.kl_qp), 4, 8),
        cell(mean(&|r| r.c2st.unwrap_or(f64::NAN)), 3, 7),
        w2(mean(&|r| r.w2.unwrap_or(f64::NAN)), mean(&|r| r.w2_floor.unwrap_or(f64::NAN))),
        cell(100.0 * mean(&|r| r.bridge_mass), 2, 7)
    );
}
