//! A trained flow on disk: safetensors tensors (one per layer, plus the base) and, under the
//! metadata key `lwflow`, a JSON document with everything needed to rebuild it — architecture,
//! prior/support, x standardisation, the model's description, the training settings and
//! summary, and the lwflow version. Any safetensors reader can open the file.
//!
//! Reproducible byte for byte: the same seed and settings give the same tensors and the same
//! metadata on any machine and thread count, except the wall-clock fields `summary.seconds` and,
//! with `--components auto`, `auto_components.seconds` and `auto_components.smc_seconds`
//! (pinned by `tests/reliability.rs`, `cause_13_…`). [`model_file::validate_flow_meta`] checks
//! the metadata when a file is read.

use std::path::Path;

use crate::error::{Error, Result};
use crate::flow::Flow;
use crate::io::model_file::{self, Dtype, ModelFile, Tensor};
use crate::train::FlowMeta;

/// Metadata key holding [`FlowMeta`] as JSON.
pub const META_KEY: &str = "lwflow";

/// Writes `flow` and `meta` to `path` atomically (f32 tensors).
pub fn save_flow(path: &Path, flow: &Flow<f32>, meta: &FlowMeta) -> Result<()> {
    let mut file = ModelFile { metadata: Default::default(), tensors: Vec::new() };
    file.metadata.insert(
        META_KEY.to_string(),
        serde_json::to_string(meta).map_err(|e| Error::invalid("model metadata", e.to_string()))?,
    );
    for (name, range) in flow.param_names() {
        let data: Vec<f64> = flow.params()[range].iter().map(|&v| f64::from(v)).collect();
        file.tensors.push(Tensor { name, shape: vec![data.len()], data });
    }
    model_file::save(path, &file, Dtype::F32)
}

/// Reads a flow written by [`save_flow`].
pub fn load_flow(path: &Path) -> Result<(Flow<f32>, FlowMeta)> {
    let bad = |reason: String| Error::ModelFile { path: path.display().to_string(), reason };
    let file = model_file::load(path)?;
    let json =
        file.metadata.get(META_KEY).ok_or_else(|| bad(format!("no '{META_KEY}' metadata: not an lwflow model")))?;
    let meta: FlowMeta = serde_json::from_str(json).map_err(|e| bad(format!("metadata '{META_KEY}': {e}")))?;
    model_file::validate_flow_meta(&meta, file.tensors.iter().map(|t| t.data.len()).sum()).map_err(bad)?;
    let mut flow = Flow::<f32>::architecture(meta.flow.clone(), &meta.prior, meta.x_standardizer.clone())
        .map_err(|e| bad(e.to_string()))?;
    for (name, range) in flow.param_names() {
        let t = file.tensor(&name).ok_or_else(|| bad(format!("missing tensor '{name}'")))?;
        if t.data.len() != range.len() {
            return Err(bad(format!(
                "tensor '{name}' has {} values, the architecture needs {}",
                t.data.len(),
                range.len()
            )));
        }
        for (p, &v) in flow.params_mut()[range].iter_mut().zip(&t.data) {
            *p = v as f32;
        }
    }
    Ok((flow, meta))
}

/// A model file's description (what `lwflow info` prints and Python's `Posterior.info` returns):
/// the architecture, prior, standardiser, training settings and summary.
pub fn describe(flow: &Flow<f32>, meta: &FlowMeta) -> serde_json::Value {
    serde_json::json!({
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
        "external": meta.external,
        "refined": meta.refined,
        "lwflow_version": meta.lwflow_version,
    })
}
