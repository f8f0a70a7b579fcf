//! `lwflow log-prob`: log q(θ|x) for each row of a CSV of θ.

use anyhow::{Context, Result};
use lwflow::io::{load_flow, parse_obs, read_csv, write_csv};
use lwflow::MatRef;

use crate::args::LogProbArgs;

pub fn run(a: &LogProbArgs) -> Result<()> {
    super::check_outputs(&[&a.out], None, &[Some(&a.model), Some(&a.input)])?;
    let (flow, _) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let x = parse_obs(&a.obs, flow.ctx_dim()).context("--obs")?;
    let (_, theta) = read_csv(&a.input, Some(flow.theta_dim()))?;
    let log_q = flow.log_prob(theta.as_ref(), MatRef::new(&x, 1, x.len()))?;
    write_csv(&a.out, &["log_q".to_string()], MatRef::new(&log_q, log_q.len(), 1))
        .with_context(|| format!("writing {}", a.out.display()))?;
    Ok(())
}
