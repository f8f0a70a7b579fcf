//! `lwflow sample`: posterior samples for one observation, to CSV or .npy.

use anyhow::{Context, Result};
use lwflow::io::{load_flow, parse_obs, write_samples};

use crate::args::SampleArgs;

pub fn run(a: &SampleArgs) -> Result<()> {
    let (flow, _) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let x = parse_obs(&a.obs, flow.ctx_dim()).context("--obs")?;
    let samples = flow.sample(&x, a.num, a.seed)?;
    let header = theta_header(flow.theta_dim());
    write_samples(&a.out, &header, samples.as_ref()).with_context(|| format!("writing {}", a.out.display()))?;
    Ok(())
}

/// Column names theta_1 .. theta_d.
pub fn theta_header(d: usize) -> Vec<String> {
    (1..=d).map(|k| format!("theta_{k}")).collect()
}
