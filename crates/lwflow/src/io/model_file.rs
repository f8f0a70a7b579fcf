//! Model files: named f64 tensors plus string metadata, stored as safetensors
//! (<https://github.com/huggingface/safetensors>): an 8-byte little-endian header length, a JSON
//! header (dtype, shape, byte offsets per tensor, and `__metadata__`: string → string), then the
//! raw little-endian tensor bytes. Any safetensors reader (Python, Rust, JS) can open the file.
//!
//! Tensors are kept in f64 in memory and stored as F32 (half the size) or F64 (bit-exact) on
//! disk. Structured metadata (flow architecture, training config) goes into one key as JSON via
//! [`metadata_json`] / [`parse_metadata_json`]; safetensors metadata values must be strings.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{SafeTensors, TensorView};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::limits::{self, MAX_MODEL_FILE_BYTES};
use crate::train::FlowMeta;

/// A model file's contents: string metadata and named tensors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelFile {
    /// Free-form string metadata (safetensors `__metadata__`).
    pub metadata: BTreeMap<String, String>,
    /// Tensors; names must be unique. [`load`] returns them sorted by name, because safetensors
    /// stores them by offset, not in insertion order — look them up with [`ModelFile::tensor`].
    pub tensors: Vec<Tensor>,
}

/// One named tensor, row-major, `data.len() == shape.iter().product()`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Tensor name, e.g. `layers.0.spline` or `base.gmm`.
    pub name: String,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f64>,
}

/// On-disk element type of every tensor in a saved file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// IEEE single, little-endian: half the size, ~7 significant digits.
    F32,
    /// IEEE double, little-endian: bit-exact round trip.
    F64,
}

impl ModelFile {
    /// The tensor called `name`, if any.
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// Writes `file` to `path` atomically, storing every tensor as `dtype`.
///
/// Fails with [`Error::ModelFile`] if a tensor's data length differs from its shape's product or
/// two tensors share a name, and with [`Error::Io`] if the file cannot be written.
pub fn save(path: &Path, file: &ModelFile, dtype: Dtype) -> Result<()> {
    let fail = |reason: String| Error::ModelFile { path: path.display().to_string(), reason };
    let mut seen = std::collections::HashSet::new();
    let mut bytes: Vec<Vec<u8>> = Vec::with_capacity(file.tensors.len());
    for t in &file.tensors {
        let numel: usize = t.shape.iter().product();
        if numel != t.data.len() {
            return Err(fail(format!(
                "tensor '{}': shape {:?} has {numel} elements but data has {}",
                t.name,
                t.shape,
                t.data.len()
            )));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(fail(format!("tensor name '{}' appears twice", t.name)));
        }
        bytes.push(encode(&t.data, dtype));
    }
    let st_dtype = match dtype {
        Dtype::F32 => safetensors::Dtype::F32,
        Dtype::F64 => safetensors::Dtype::F64,
    };
    let views = file
        .tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            let view =
                TensorView::new(st_dtype, t.shape.clone(), b).map_err(|e| fail(format!("tensor '{}': {e}", t.name)))?;
            Ok((t.name.as_str(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata: HashMap<String, String> = file.metadata.clone().into_iter().collect();
    let buffer = safetensors::serialize(views, &Some(metadata)).map_err(|e| fail(format!("cannot serialise: {e}")))?;
    write_atomic(path, |w| w.write_all(&buffer))
}

/// Reads a safetensors model file written by [`save`] (or any writer that uses F32/F64 tensors
/// and sets `__metadata__`). Tensors are converted to f64 and returned sorted by name.
///
/// Fails with [`Error::ModelFile`] naming `path` if the file is missing or unreadable, is not
/// safetensors, has no metadata, or holds a tensor of another dtype.
pub fn load(path: &Path) -> Result<ModelFile> {
    let fail = |reason: String| Error::ModelFile { path: path.display().to_string(), reason };
    let size = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?.len();
    if size > MAX_MODEL_FILE_BYTES {
        return Err(fail(format!("{size} bytes is above the limit of {MAX_MODEL_FILE_BYTES} for a model file")));
    }
    let buffer = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(&buffer).map_err(|e| fail(format!("not a safetensors file ({e})")))?;
    let metadata = header
        .metadata()
        .as_ref()
        .ok_or_else(|| fail("no __metadata__ section; not an lwflow model file".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let st = SafeTensors::deserialize(&buffer).map_err(|e| fail(format!("not a safetensors file ({e})")))?;
    let mut tensors = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let data = decode(view.dtype(), view.data()).ok_or_else(|| {
                fail(format!("tensor '{name}' has dtype {:?}; only F32 and F64 are supported", view.dtype()))
            })?;
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(fail(format!("tensor '{name}' value {i} is {}; every parameter must be finite", data[i])));
            }
            Ok(Tensor { name, shape: view.shape().to_vec(), data })
        })
        .collect::<Result<Vec<_>>>()?;
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ModelFile { metadata, tensors })
}

/// The one validation pass over a flow's metadata when a model file is read, before anything
/// is built from it: the version is compatible, every size is within its [`limits`] (and the
/// file holds at least as many values as the architecture needs, so an absurd size is refused
/// before any allocation), the prior is valid, and the x standardiser is finite with standard
/// deviations a division can use. `n_values` is the number of tensor values in the file.
/// Returns the reason for [`Error::ModelFile`].
pub fn validate_flow_meta(meta: &FlowMeta, n_values: usize) -> std::result::Result<(), String> {
    check_version(&meta.lwflow_version)?;
    limits::check_flow(&meta.flow).map_err(|e| e.to_string())?;
    let needed = limits::param_lower_bound(&meta.flow);
    if needed > n_values {
        return Err(format!(
            "the architecture in the metadata needs at least {needed} parameters, the file holds {n_values} values"
        ));
    }
    meta.prior.validate().map_err(|e| format!("prior: {e}"))?;
    if meta.prior.dim() != meta.flow.theta_dim {
        return Err(format!("prior has {} dimensions, the flow's θ has {}", meta.prior.dim(), meta.flow.theta_dim));
    }
    let norm = &meta.x_standardizer;
    let width = meta.flow.context_width();
    if norm.mean.len() != width || norm.std.len() != width {
        return Err(format!(
            "x_standardizer has {} means and {} standard deviations, the flow's context has {width} values",
            norm.mean.len(),
            norm.std.len()
        ));
    }
    for (k, (&m, &s)) in norm.mean.iter().zip(&norm.std).enumerate() {
        // Standardizer::fit floors std at 1e-12·(1 + |mean|); anything smaller was not fitted.
        if !m.is_finite() || !s.is_finite() || s < MIN_RELATIVE_STD * (1.0 + m.abs()) {
            return Err(format!(
                "x_standardizer column {}: mean {m}, std {s}; need a finite mean and a finite std ≥ {MIN_RELATIVE_STD:e}·(1 + |mean|)",
                k + 1
            ));
        }
    }
    Ok(())
}

/// Smallest x standard deviation a model file may hold, relative to 1 + |mean| (half the floor
/// [`crate::flow::Standardizer::fit`] applies).
const MIN_RELATIVE_STD: f64 = 5e-13;

/// Model files are compatible within one release series: the same major version, and for 0.x the
/// same minor version (semver's rule for pre-1.0 crates).
fn check_version(written: &str) -> std::result::Result<(), String> {
    let ours = env!("CARGO_PKG_VERSION");
    let series = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        Some((major, if major == 0 { minor } else { 0 }))
    };
    match series(written) {
        Some(s) if Some(s) == series(ours) => Ok(()),
        Some(_) => Err(format!(
            "written by lwflow {written}; this is lwflow {ours}, which reads model files of the same release series only"
        )),
        None => Err(format!("lwflow_version '{written}' is not a version number (expected MAJOR.MINOR.PATCH)")),
    }
}

/// Serialises `value` to the JSON string stored under metadata key `key`; the error names `key`.
pub fn metadata_json<T: Serialize>(key: &str, value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::invalid(format!("model file metadata '{key}'"), format!("cannot serialise to JSON: {e}")))
}

/// Parses the JSON stored under metadata key `key`; the error names `key` if it is missing or
/// does not parse as `T`.
pub fn parse_metadata_json<T: DeserializeOwned>(file: &ModelFile, key: &str) -> Result<T> {
    let what = || format!("model file metadata '{key}'");
    let json = file.metadata.get(key).ok_or_else(|| {
        let keys: Vec<&str> = file.metadata.keys().map(String::as_str).collect();
        Error::invalid(what(), format!("key is missing (keys present: {keys:?})"))
    })?;
    serde_json::from_str(json).map_err(|e| Error::invalid(what(), format!("invalid JSON: {e}")))
}

/// Little-endian bytes of `data` as `dtype`. F32 rounds to nearest.
fn encode(data: &[f64], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => data.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect(),
        Dtype::F64 => data.iter().flat_map(|&x| x.to_le_bytes()).collect(),
    }
}

/// f64 values of little-endian F32/F64 bytes; `None` for any other dtype.
fn decode(dtype: safetensors::Dtype, bytes: &[u8]) -> Option<Vec<f64>> {
    match dtype {
        safetensors::Dtype::F32 => Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("chunks_exact(4) yields 4 bytes")) as f64)
                .collect(),
        ),
        safetensors::Dtype::F64 => Some(
            bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("chunks_exact(8) yields 8 bytes")))
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch_dir;

    fn sample_file() -> ModelFile {
        let mut metadata = BTreeMap::new();
        metadata.insert("format".to_string(), "lwflow".to_string());
        let config = serde_json::json!({ "layers": 4, "hidden": [64, 64], "base": "gmm" });
        metadata.insert("lwflow".to_string(), metadata_json("lwflow", &config).unwrap());
        ModelFile {
            metadata,
            tensors: vec![
                Tensor { name: "weights".into(), shape: vec![2, 3], data: vec![0.1, -2.5, 1e-30, 3.0, 7.0, 1.0 / 3.0] },
                Tensor { name: "bias".into(), shape: vec![3], data: vec![f64::MIN_POSITIVE, 0.0, -0.0] },
                Tensor { name: "scalar".into(), shape: vec![], data: vec![42.0] },
            ],
        }
    }

    fn sorted(mut f: ModelFile) -> ModelFile {
        f.tensors.sort_by(|a, b| a.name.cmp(&b.name));
        f
    }

    #[test]
    fn f64_round_trip_is_bit_exact() {
        let dir_guard = scratch_dir("model-f64");
        let dir = dir_guard.path();
        let path = dir.join("m.lwf");
        let file = sample_file();
        save(&path, &file, Dtype::F64).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(back, sorted(file));
        let config: serde_json::Value = parse_metadata_json(&back, "lwflow").unwrap();
        assert_eq!(config["layers"], 4);
    }

    #[test]
    fn f32_round_trip_rounds_to_single_precision() {
        let dir_guard = scratch_dir("model-f32");
        let dir = dir_guard.path();
        let path = dir.join("m.lwf");
        let file = sample_file();
        save(&path, &file, Dtype::F32).unwrap();
        let back = load(&path).unwrap();
        let want = sorted(file);
        assert_eq!(back.metadata, want.metadata);
        for (b, w) in back.tensors.iter().zip(&want.tensors) {
            assert_eq!((&b.name, &b.shape), (&w.name, &w.shape));
            for (&x, &y) in b.data.iter().zip(&w.data) {
                assert_eq!(x, y as f32 as f64, "tensor {}", b.name);
            }
        }
    }

    #[test]
    fn any_safetensors_reader_can_read_the_file() {
        let dir_guard = scratch_dir("model-raw");
        let dir = dir_guard.path();
        let path = dir.join("m.safetensors");
        save(&path, &sample_file(), Dtype::F32).unwrap();
        let buffer = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&buffer).unwrap();
        let w = st.tensor("weights").unwrap();
        assert_eq!(w.dtype(), safetensors::Dtype::F32);
        assert_eq!(w.shape(), &[2, 3]);
        let first = f32::from_le_bytes(w.data()[..4].try_into().unwrap());
        assert_eq!(first, 0.1f32);
        let (_, header) = SafeTensors::read_metadata(&buffer).unwrap();
        assert_eq!(header.metadata().as_ref().unwrap()["format"], "lwflow");
    }

    #[test]
    fn load_errors_name_the_file_and_the_problem() {
        let dir_guard = scratch_dir("model-bad");
        let dir = dir_guard.path();
        let missing = dir.join("missing.lwf");
        let err = load(&missing).unwrap_err().to_string();
        assert!(err.contains("missing.lwf") && err.contains("cannot read"), "{err}");

        let corrupt = dir.join("corrupt.lwf");
        std::fs::write(&corrupt, b"this is not a safetensors file at all").unwrap();
        let err = load(&corrupt).unwrap_err().to_string();
        assert!(err.contains("corrupt.lwf") && err.contains("not a safetensors file"), "{err}");

        let good = dir.join("good.lwf");
        save(&good, &sample_file(), Dtype::F64).unwrap();
        let mut bytes = std::fs::read(&good).unwrap();
        bytes.truncate(bytes.len() - 5);
        let truncated = dir.join("truncated.lwf");
        std::fs::write(&truncated, &bytes).unwrap();
        let err = load(&truncated).unwrap_err().to_string();
        assert!(err.contains("truncated.lwf") && err.contains("not a safetensors file"), "{err}");

        let no_meta = dir.join("nometa.lwf");
        let data = [1u8, 2, 3, 4];
        let view = TensorView::new(safetensors::Dtype::F32, vec![1], &data).unwrap();
        std::fs::write(&no_meta, safetensors::serialize([("a", view)], &None).unwrap()).unwrap();
        let err = load(&no_meta).unwrap_err().to_string();
        assert!(err.contains("nometa.lwf") && err.contains("__metadata__"), "{err}");

        let int = dir.join("int.lwf");
        let view = TensorView::new(safetensors::Dtype::I32, vec![1], &data).unwrap();
        let meta = Some(HashMap::from([("k".to_string(), "v".to_string())]));
        std::fs::write(&int, safetensors::serialize([("counts", view)], &meta).unwrap()).unwrap();
        let err = load(&int).unwrap_err().to_string();
        assert!(err.contains("int.lwf") && err.contains("'counts'") && err.contains("I32"), "{err}");
    }

    #[test]
    fn save_rejects_inconsistent_tensors() {
        let dir_guard = scratch_dir("model-inconsistent");
        let dir = dir_guard.path();
        let path = dir.join("m.lwf");
        let mut file = sample_file();
        file.tensors[0].data.pop();
        let err = save(&path, &file, Dtype::F64).unwrap_err().to_string();
        assert!(err.contains("'weights'") && err.contains("6 elements"), "{err}");
        let mut file = sample_file();
        file.tensors[1].name = "weights".into();
        let err = save(&path, &file, Dtype::F64).unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
        assert!(!path.exists());
        // Empty metadata, or no tensors, still make a loadable file. (Both at once does not: safetensors
        // 0.4 cannot read back a header holding only an empty `__metadata__`.)
        let mut empty_meta = sample_file();
        empty_meta.metadata.clear();
        save(&path, &empty_meta, Dtype::F64).unwrap();
        assert_eq!(load(&path).unwrap(), sorted(empty_meta));
        let no_tensors = ModelFile { tensors: vec![], ..sample_file() };
        save(&path, &no_tensors, Dtype::F64).unwrap();
        assert_eq!(load(&path).unwrap(), no_tensors);
    }

    #[test]
    fn metadata_json_errors_name_the_key() {
        let file = sample_file();
        let err = parse_metadata_json::<serde_json::Value>(&file, "config").unwrap_err().to_string();
        assert!(err.contains("'config'") && err.contains("missing"), "{err}");
        let err = parse_metadata_json::<Vec<u32>>(&file, "format").unwrap_err().to_string();
        assert!(err.contains("'format'") && err.contains("invalid JSON"), "{err}");
    }
}
