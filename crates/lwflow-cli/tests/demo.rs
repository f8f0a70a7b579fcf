//! `lwflow demo` on a tiny budget: each base's result is printed before the next is trained, and
//! the models and corner plots land in `--out`, where the demo says they are.

use std::process::Command;

#[test]
fn demo_prints_each_base_and_writes_its_models_and_plots() {
    let dir = tempfile::Builder::new().prefix("lwflow-cli-demo-").tempdir().expect("temp dir is writable");
    let out_dir = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_lwflow"))
        .args(["demo", "--steps", "5", "--quiet", "--out", out_dir.to_str().unwrap()])
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "demo failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");

    let position = |needle: &str| stdout.find(needle).unwrap_or_else(|| panic!("no '{needle}' in:\n{stdout}"));
    let blocks = ["gaussian base: trained", "gmm K=4 base: trained", "cgmm K=4 base: trained"];
    let comparison = position("Share of 4000 posterior samples");
    let mut last = 0;
    for block in blocks {
        let at = position(block);
        assert!(at > last && at < comparison, "'{block}' out of order in:\n{stdout}");
        last = at;
    }
    for stem in ["gaussian", "gmm", "cgmm"] {
        for file in [format!("{stem}.lwf"), format!("corner_{stem}.png")] {
            let path = out_dir.join(&file);
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            assert!(len > 0, "{} missing or empty", path.display());
            assert!(stdout.contains(&path.display().to_string()), "stdout does not name {}", path.display());
        }
    }
    // The written model is a working model file.
    let info = Command::new(env!("CARGO_BIN_EXE_lwflow"))
        .args(["info", "--model", out_dir.join("cgmm.lwf").to_str().unwrap()])
        .output()
        .expect("the binary runs");
    assert!(info.status.success(), "info failed: {}", String::from_utf8_lossy(&info.stderr));
    assert!(String::from_utf8_lossy(&info.stdout).contains("square2d"));
}
