//! Figures of the base-topology experiment (presentation only).

use std::path::Path;

use anyhow::Result;
use lwflow::experiment::{TopologyConfig, TopologyRun};

pub fn topology_figures(_dir: &Path, _cfg: &TopologyConfig, _runs: &[TopologyRun]) -> Result<()> {
    Ok(())
}
