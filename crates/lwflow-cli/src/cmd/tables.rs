//! Result tables of the multi-run commands (`experiment`, `benchmark`): atomic text files and the
//! cell formats they share.

use std::path::Path;

use anyhow::{Context, Result};
use lwflow::io::write_atomic;

/// Writes `text` to `path` atomically (temp file, then rename), so a reader never sees half a table.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |w| w.write_all(text.as_bytes())).with_context(|| format!("writing {}", path.display()))
}

/// A CSV cell for an optional number: empty when absent or NaN (not computed).
pub fn csv_opt(v: Option<f64>) -> String {
    v.filter(|v| !v.is_nan()).map_or(String::new(), |v| v.to_string())
}

/// A vector as one quoted CSV cell, entries separated by spaces.
pub fn csv_vec(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|v| v.to_string()).collect();
    format!("\"{}\"", parts.join(" "))
}
