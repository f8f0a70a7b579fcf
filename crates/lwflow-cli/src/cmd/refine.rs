//! `lwflow refine`: a trained model refined for one observation ([`lwflow::train::refine`]),
//! written as a new model file that records the refinement.

use std::ops::ControlFlow;

use anyhow::{Context, Result};
use lwflow::io::{load_flow, parse_obs, save_flow};

use crate::args::RefineArgs;
use crate::progress::Progress;

pub fn run(a: &RefineArgs) -> Result<()> {
    super::check_outputs(&[&a.out], None, &[Some(&a.model)])?;
    let (mut flow, mut meta) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let (d, x_dim) = (flow.theta_dim(), flow.ctx_dim());
    let x = parse_obs(&a.obs, x_dim).context("--obs")?;
    let model = super::model_of_file(a.task.as_deref(), a.config.as_deref(), &meta, d, x_dim, &a.model)?;
    let cfg = a.refine_config();
    let mut progress = Progress::new(cfg.steps as u64, a.quiet);
    let refinement = lwflow::train::refine(model.as_ref(), &mut flow, &x, &cfg, &mut |r| {
        let beta = if r.beta < 1.0 { format!(" β {:.3}", r.beta) } else { String::new() };
        progress.update(
            r.step as u64,
            &format!(
                "loss {:.3} ESS {:.1} of {}{beta} likelihood {}",
                r.loss, r.ess_mean, cfg.draws, r.likelihood_evals
            ),
        );
        ControlFlow::Continue(())
    })
    .with_context(|| format!("refining for --obs {}", a.obs))?;
    let s = &refinement.summary;
    progress.finish(&format!(
        "{} steps in {:.1} s, β = 1 from step {}, median ESS {:.1} of {} over the last tenth; {} likelihood evaluations",
        s.steps_run, s.seconds, s.beta_one_step, s.median_ess_late, cfg.draws, s.likelihood_evals
    ));
    meta.refined = Some(refinement);
    save_flow(&a.out, &flow, &meta).with_context(|| format!("writing {}", a.out.display()))?;
    if !a.quiet {
        eprintln!("wrote {}", a.out.display());
    }
    Ok(())
}
