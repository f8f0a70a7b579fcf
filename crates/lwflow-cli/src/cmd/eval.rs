//! `lwflow eval`: metrics of a trained model against the task's exact reference posterior.

use anyhow::{Context, Result};
use lwflow::eval::{evaluate, EvalOptions, EvalReport};
use lwflow::io::{load_flow, parse_obs};

use lwflow::benchmark::{build_reference, ReferenceKind};
use lwflow::reference::{grid_reference, Reference};

use crate::args::{EvalArgs, ReferenceArg};

pub fn run(a: &EvalArgs) -> Result<()> {
    let (flow, meta) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let mut reports = Vec::new();
    for obs in a.obs.iter().flat_map(|s| s.split(';')).filter(|s| !s.trim().is_empty()) {
        let x = parse_obs(obs, flow.ctx_dim()).context("--obs")?;
        let reference: Box<dyn Reference> = match a.reference {
            ReferenceArg::Exact => lwflow::tasks::reference_for(&meta.model, &x)?
                .with_context(|| format!("model '{}' has no exact reference; try --reference grid", meta.model))?,
            ReferenceArg::Grid => {
                let model = lwflow::tasks::by_name(&meta.model)?;
                Box::new(grid_reference(model.as_ref(), &x, None)?)
            }
            ReferenceArg::Smc => {
                let model = lwflow::tasks::by_name(&meta.model)?;
                let (reference, _) =
                    build_reference(&meta.model, ReferenceKind::Smc, model.as_ref(), &x, a.seed, a.num)?;
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
