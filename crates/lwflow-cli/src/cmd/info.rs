//! `lwflow info`: a model file's description as JSON on stdout.

use anyhow::{Context, Result};
use lwflow::io::{describe, load_flow};

use crate::args::InfoArgs;

pub fn run(a: &InfoArgs) -> Result<()> {
    let (flow, meta) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let info = describe(&flow, &meta);
    println!("{}", serde_json::to_string_pretty(&info)?);
    Ok(())
}
