//! `lwflow info`: a model file's description as JSON on stdout.

use anyhow::{Context, Result};
use lwflow::io::load_flow;

use crate::args::InfoArgs;

pub fn run(a: &InfoArgs) -> Result<()> {
    let (flow, meta) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let info = serde_json::json!({
        "task": meta.model,
        "theta_dim": flow.theta_dim(),
        "x_dim": flow.ctx_dim(),
        "base": meta.flow.base.name(),
        "components": meta.flow.base.components(),
        "n_params": flow.n_params(),
        "flow": meta.flow,
        "prior": meta.prior,
        "x_standardizer": meta.x_standardizer,
        "train": meta.train,
        "summary": meta.summary,
        "auto_components": meta.auto_components,
        "lwflow_version": meta.lwflow_version,
    });
    println!("{}", serde_json::to_string_pretty(&info)?);
    Ok(())
}
