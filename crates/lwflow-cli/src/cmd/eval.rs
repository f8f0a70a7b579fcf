//! `lwflow eval`: metrics of a trained model against the task's exact reference posterior (the
//! model file's task, or `--task` for a model trained on an external version of a built-in task).

use anyhow::{bail, Context, Result};
use lwflow::eval::{evaluate, EvalOptions, EvalReport};
use lwflow::io::{load_flow, parse_obs};

use lwflow::benchmark::{build_reference, ReferenceKind};
use lwflow::reference::{grid_reference, Reference};

use crate::args::{EvalArgs, ReferenceArg};

/// What to do for a model file whose task is not built in (an external model).
const TASK_HINT: &str = "for a model trained on an external version of a built-in task, give --task NAME";

pub fn run(a: &EvalArgs) -> Result<()> {
    let (flow, meta) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    // The task whose reference applies: `--task`, else the one the model was trained on.
    let task = match &a.task {
        Some(task) => {
            let model = lwflow::tasks::by_name(task).context("--task")?;
            if (model.theta_dim(), model.x_dim()) != (flow.theta_dim(), flow.ctx_dim()) {
                bail!(
                    "--task {task} has θ of dimension {} and x of dimension {}; the model in {} has {} and {}",
                    model.theta_dim(),
                    model.x_dim(),
                    a.model.display(),
                    flow.theta_dim(),
                    flow.ctx_dim()
                );
            }
            task.as_str()
        }
        None => meta.model.as_str(),
    };
    let mut reports = Vec::new();
    for obs in a.obs.iter().flat_map(|s| s.split(';')).filter(|s| !s.trim().is_empty()) {
        let x = parse_obs(obs, flow.ctx_dim()).context("--obs")?;
        let reference: Box<dyn Reference> = match a.reference {
            ReferenceArg::Exact => lwflow::tasks::reference_for(task, &x)
                .with_context(|| format!("no reference for '{task}'; {TASK_HINT}"))?
                .with_context(|| format!("model '{task}' has no exact reference; try --reference grid"))?,
            ReferenceArg::Grid => {
                let model = lwflow::tasks::by_name(task)
                    .with_context(|| format!("no built-in task '{task}' to build a grid from; {TASK_HINT}"))?;
                Box::new(grid_reference(model.as_ref(), &x, None)?)
            }
            ReferenceArg::Smc => {
                let model = lwflow::tasks::by_name(task)
                    .with_context(|| format!("no built-in task '{task}' to run SMC on; {TASK_HINT}"))?;
                let (reference, _) = build_reference(task, ReferenceKind::Smc, model.as_ref(), &x, a.seed, a.num)?;
                reference.context("SMC gave no reference")?
            }
        };
        reports.push(evaluate(&flow, reference.as_ref(), &x, &EvalOptions::all(a.num, a.seed))?);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print_table(&reports);
    }
    Ok(())
}

fn print_table(reports: &[EvalReport]) {
    println!(
        "{:<16} {:>8} {:>8} {:>8} {:>7} {:>13} {:>8}  mode shares",
        "x", "KL(p‖q)", "± se", "KL(q‖p)", "C2ST", "W2 (floor)", "bridge"
    );
    for r in reports {
        let x: Vec<String> = r.x.iter().map(|v| format!("{v}")).collect();
        let shares: Vec<String> = r.mode_shares.iter().map(|s| format!("{s:.3}")).collect();
        println!(
            "{:<16} {:>8.4} {:>8.4} {:>8.4} {:>7.3} {:>13} {:>7.2}%  {}",
            format!("({})", x.join(", ")),
            r.kl_pq,
            r.kl_pq_std_err,
            r.kl_qp,
            r.c2st.unwrap_or(f64::NAN),
            format!("{:.3} ({:.3})", r.w2.unwrap_or(f64::NAN), r.w2_floor.unwrap_or(f64::NAN)),
            100.0 * r.bridge_mass,
            shares.join(" ")
        );
    }
    let n = reports.len().max(1) as f64;
    let mean = |f: &dyn Fn(&EvalReport) -> f64| reports.iter().map(f).sum::<f64>() / n;
    println!(
        "{:<16} {:>8.4} {:>8} {:>8.4} {:>7.3} {:>13} {:>7.2}%",
        "mean",
        mean(&|r| r.kl_pq),
        "",
        mean(&|r| r.kl_qp),
        mean(&|r| r.c2st.unwrap_or(f64::NAN)),
        format!("{:.3} ({:.3})", mean(&|r| r.w2.unwrap_or(f64::NAN)), mean(&|r| r.w2_floor.unwrap_or(f64::NAN))),
        100.0 * mean(&|r| r.bridge_mass)
    );
}
