//! `lwflow plot`: a corner plot of posterior samples, optionally over reference samples.

use anyhow::{Context, Result};
use lwflow::io::{load_flow, parse_obs, read_csv};

use crate::args::PlotArgs;
use crate::plot::corner;

pub fn run(a: &PlotArgs) -> Result<()> {
    let (flow, meta) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let x = parse_obs(&a.obs, flow.ctx_dim()).context("--obs")?;
    let samples = flow.sample(&x, a.num, a.seed)?;
    let overlay = match &a.reference {
        Some(path) => Some(read_csv(path, Some(flow.theta_dim()))?.1),
        None => None,
    };
    let labels: Vec<String> = (1..=flow.theta_dim()).map(|k| format!("θ{k}")).collect();
    let title = format!("{}: q(θ | x = {x:?})", meta.model);
    corner(&a.out, samples.as_ref(), overlay.as_ref().map(|m| m.as_ref()), &labels, &title)
        .with_context(|| format!("writing {}", a.out.display()))
}
