//! Files in and out: model files ([`model_file`], safetensors + string metadata) and sample files
//! ([`samples`], CSV or NumPy `.npy`). Every write goes through [`atomic::write_atomic`]: a temp
//! file in the target's directory, fsynced, then renamed over the target, so a crash or a failed
//! write never leaves a half-written model or sample file behind.

pub mod atomic;
pub mod flow_file;
pub mod model_file;
pub mod samples;
pub mod samples_many;

pub use atomic::{check_output_path, remove_temp_files, write_atomic};
pub use flow_file::{describe, load_flow, save_flow};
pub use model_file::{load, metadata_json, parse_metadata_json, save, Dtype, ModelFile, Tensor};
pub use samples::{parse_obs, read_csv, read_npy, read_samples, write_csv, write_npy, write_samples};
pub use samples_many::{sidecar_path, write_samples_many, write_sidecar, SampleSidecar};

/// A fresh empty directory under the system temp dir, removed when the guard is dropped.
#[cfg(test)]
pub(crate) fn scratch_dir(test: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("lwflow-io-{test}-")).tempdir().expect("temp dir is writable")
}
