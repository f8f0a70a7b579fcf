//! Model files written before the architecture moved (lwflow at commit 027be82) still load, and
//! give the same samples bit for bit: the fixtures in `data/` were written by that commit's
//! binary (`train --steps 20|5 --layers 2 --hidden 16 --components 4`, square2d with a gmm base,
//! slcp with a cgmm base and set moments of x), together with its `sample --num 50 --seed 1` output.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("data").join(name)
}

/// Samples `model` at `obs` with the current binary and compares the CSV with the old binary's.
fn samples_match(model: &str, obs: &str, expected: &str) {
    let dir = tempfile::tempdir().expect("temp dir is writable");
    let out = dir.path().join("samples.csv");
    let model = data(model);
    let status = Command::new(env!("CARGO_BIN_EXE_lwflow"))
        .args(["sample", "--model", model.to_str().unwrap(), "--obs", obs, "--num", "50", "--seed", "1"])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("the binary runs");
    assert!(status.status.success(), "sample failed: {}", String::from_utf8_lossy(&status.stderr));
    let now = std::fs::read_to_string(&out).expect("samples written");
    let before = std::fs::read_to_string(data(expected)).expect("fixture exists");
    assert_eq!(now.lines().count(), 51, "a header and 50 rows");
    assert_eq!(now, before, "samples of {} differ from those of the binary that wrote it", model.display());
}

#[test]
fn square2d_model_file_from_027be82_loads_and_samples_identically() {
    samples_match("square2d_027be82.lwf", "1,1", "square2d_027be82_samples.csv");
}

#[test]
fn slcp_model_file_from_027be82_loads_and_samples_identically() {
    samples_match("slcp_027be82.lwf", "0.5,-1.2,1.1,0.3,-0.7,0.9,2.0,-0.4", "slcp_027be82_samples.csv");
}
