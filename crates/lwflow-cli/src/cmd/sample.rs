//! `lwflow sample`: posterior samples for one observation, to CSV or .npy; with `--importance`,
//! corrected by the likelihood ([`lwflow::importance`]).

use anyhow::{Context, Result};
use lwflow::importance::{importance_resample, ImportanceConfig};
use lwflow::io::{load_flow, parse_obs, write_samples};

use super::importance_line;
use crate::args::SampleArgs;

pub fn run(a: &SampleArgs) -> Result<()> {
    super::check_outputs(&[&a.out], None, &[Some(&a.model)])?;
    let (flow, meta) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let x = parse_obs(&a.obs, flow.ctx_dim()).context("--obs")?;
    lwflow::limits::check_sample_values("samples (--num)", a.num, flow.theta_dim())?;
    let samples = if a.importance {
        let model = super::model_of_file(
            a.task.as_deref(),
            a.config.as_deref(),
            &meta,
            flow.theta_dim(),
            flow.ctx_dim(),
            &a.model,
        )?;
        let corrected = importance_resample(model.as_ref(), &flow, &x, a.num, &ImportanceConfig::default(), a.seed)?;
        eprintln!("{}", importance_line(&corrected.diagnostics, a.num));
        corrected.samples
    } else {
        flow.sample(&x, a.num, a.seed)?
    };
    // The prior's names (`[prior] names`), else theta_1 .. theta_d.
    let header = meta.prior.names();
    write_samples(&a.out, &header, samples.as_ref()).with_context(|| format!("writing {}", a.out.display()))?;
    Ok(())
}

/// Column names theta_1 .. theta_d (of an unnamed prior).
pub fn theta_header(d: usize) -> Vec<String> {
    lwflow::Prior::default_names(d)
}
