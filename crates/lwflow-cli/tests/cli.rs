//! The `lwflow` binary end to end on a tiny budget: train → info → sample → log-prob, and the
//! errors a user sees for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lwflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lwflow")).args(args).output().expect("the binary runs")
}

/// A fresh empty directory under the system temp dir, removed when the guard is dropped.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("lwflow-cli-{name}-")).tempdir().expect("temp dir is writable")
}

fn train_tiny(dir: &Path, base: &str) -> PathBuf {
    let model = dir.join(format!("{base}.lwf"));
    let out = lwflow(&[
        "train",
        "--task",
        "square2d",
        "--base",
        base,
        "--seed",
        "3",
        "--steps",
        "40",
        "--hidden",
        "16",
        "--layers",
        "2",
        "--thetas-per-step",
        "512",
        "--quiet",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "train failed: {}", String::from_utf8_lossy(&out.stderr));
    model
}

#[test]
fn train_info_sample_log_prob_round_trip() {
    let dir_guard = scratch("round-trip");
    let dir = dir_guard.path();
    let model = train_tiny(dir, "gmm");
    let m = model.to_str().unwrap();

    let info = lwflow(&["info", "--model", m]);
    assert!(info.status.success());
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).expect("info prints JSON");
    assert_eq!(json["task"], "square2d");
    assert_eq!(json["base"], "gmm");
    assert_eq!(json["components"], 4);
    assert_eq!(json["theta_dim"], 2);
    assert_eq!(json["summary"]["steps_run"], 40);

    let samples = dir.join("s.csv");
    let out = lwflow(&[
        "sample",
        "--model",
        m,
        "--obs",
        "1.0,0.5",
        "--num",
        "300",
        "--seed",
        "2",
        "--out",
        samples.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&samples).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("theta_1,theta_2"));
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 300);
    assert!(rows.iter().flatten().all(|v| v.abs() < 3.0), "samples stay in the prior box");

    // Same seed, same file; the .npy output holds the same numbers.
    let again = dir.join("s2.csv");
    lwflow(&[
        "sample",
        "--model",
        m,
        "--obs",
        "1.0,0.5",
        "--num",
        "300",
        "--seed",
        "2",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(text, std::fs::read_to_string(&again).unwrap());
    let npy = dir.join("s.npy");
    let out = lwflow(&[
        "sample",
        "--model",
        m,
        "--obs",
        "1.0,0.5",
        "--num",
        "300",
        "--seed",
        "2",
        "--out",
        npy.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let bytes = std::fs::read(&npy).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let first = f64::from_le_bytes(bytes[bytes.len() - 600 * 8..][..8].try_into().unwrap());
    assert_eq!(first, rows[0][0]);

    let lp = dir.join("lp.csv");
    let out = lwflow(&[
        "log-prob",
        "--model",
        m,
        "--obs",
        "1.0,0.5",
        "--input",
        samples.to_str().unwrap(),
        "--out",
        lp.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&lp).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("log_q"));
    let values: Vec<f64> = lines.map(|l| l.parse().unwrap()).collect();
    assert_eq!(values.len(), 300);
    assert!(values.iter().all(|v| v.is_finite()));
}

/// `--importance` corrects a barely trained flow with the likelihood: against square2d's exact
/// posterior its samples must score a C2ST near 0.5 where the flow's own draws are far off.
#[test]
fn importance_corrects_a_tiny_model() {
    let dir_guard = scratch("importance");
    let dir = dir_guard.path();
    let model = train_tiny(dir, "gmm");
    let m = model.to_str().unwrap();
    let eval = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["eval", "--model", m, "--obs", "1.0,0.5", "--num", "2000", "--json"];
        args.extend_from_slice(extra);
        let out = lwflow(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
    };
    let (own, importance) = (eval(&[]), eval(&["--importance"]));
    let (raw, corrected) = (own["c2st"].as_f64().unwrap(), importance["c2st"].as_f64().unwrap());
    assert!(own.get("importance").is_none());
    let ess = importance["importance"]["ess"].as_f64().unwrap();
    assert!(ess > 0.0 && ess <= importance["importance"]["draws"].as_f64().unwrap());
    assert!(raw > 0.6, "the tiny flow should be visibly off: C2ST {raw}");
    assert!(corrected < 0.56, "importance-corrected C2ST {corrected} (flow's own {raw})");

    let samples = dir.join("is.csv");
    let out = lwflow(&[
        "sample",
        "--model",
        m,
        "--obs",
        "1.0,0.5",
        "--num",
        "300",
        "--importance",
        "--out",
        samples.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ESS") && stderr.contains("log evidence"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&samples).unwrap().lines().count(), 301);
    let out = lwflow(&["sample", "--model", m, "--obs", "1.0,0.5", "--importance", "--task", "slcp"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--task slcp has θ of dimension 5"));
}

#[test]
fn bad_input_gives_clear_errors_and_no_output_file() {
    let dir_guard = scratch("errors");
    let dir = dir_guard.path();
    let model = train_tiny(dir, "gaussian");
    let m = model.to_str().unwrap();
    let out_path = dir.join("never.csv");
    let o = out_path.to_str().unwrap();

    let r = lwflow(&["sample", "--model", m, "--obs", "1.0", "--out", o]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("--obs") && err.contains("expected 2"), "{err}");

    let r = lwflow(&["sample", "--model", dir.join("missing.lwf").to_str().unwrap(), "--obs", "1,1", "--out", o]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("missing.lwf"));

    let bad_csv = dir.join("bad.csv");
    std::fs::write(&bad_csv, "theta_1,theta_2\n0.5,0.1\n0.2,abc\n").unwrap();
    let r = lwflow(&["log-prob", "--model", m, "--obs", "1,1", "--input", bad_csv.to_str().unwrap(), "--out", o]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("bad.csv") && err.contains("line 3"), "{err}");

    let not_model = dir.join("not-a-model.lwf");
    std::fs::write(&not_model, b"hello").unwrap();
    let r = lwflow(&["info", "--model", not_model.to_str().unwrap()]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("not-a-model.lwf"));

    let r = lwflow(&["train", "--task", "nope", "--out", o]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("square2d"), "lists the valid tasks");

    // slcp's x has 8 values: 3 draws cannot split it.
    let r = lwflow(&["train", "--task", "slcp", "--set-members", "3", "--steps", "1", "--out", o]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("--set-members") && err.contains("divide the observation's dimension 8"), "{err}");
    assert!(!out_path.exists(), "no output file after a failure");
}

#[test]
fn eval_uses_the_benchmark_references() {
    // two_moons' own reference is its fine grid: `--reference exact` and `--reference grid` are
    // the same posterior (the benchmark's), so the same KL to the digit.
    let dir_guard = scratch("eval-references");
    let dir = dir_guard.path();
    let model = dir.join("moons.lwf");
    let m = model.to_str().unwrap();
    let args = ["--task", "two_moons", "--components", "2", "--steps", "20", "--hidden", "16", "--layers", "2"];
    let out = lwflow(&[&["train"][..], &args, &["--quiet", "--out", m]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kl = |reference: &str| {
        let out =
            lwflow(&["eval", "--model", m, "--obs", "0.1,-0.2", "--num", "500", "--reference", reference, "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json[0]["kl_pq"].as_f64().expect("a grid has a density")
    };
    let (exact, grid) = (kl("exact"), kl("grid"));
    assert!(exact.is_finite() && exact == grid, "exact {exact} vs grid {grid}");
}

#[test]
fn refine_writes_a_model_that_is_closer_at_its_observation_and_records_it() {
    let dir_guard = scratch("refine");
    let dir = dir_guard.path();
    let model = train_tiny(dir, "gmm");
    let refined = dir.join("refined.lwf");
    let (m, r) = (model.to_str().unwrap(), refined.to_str().unwrap());
    let c2st = |file: &str| -> f64 {
        let out = lwflow(&["eval", "--model", file, "--obs", "1.0,0.5", "--num", "2000", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0]["c2st"].as_f64().unwrap()
    };
    let out = lwflow(&["refine", "--model", m, "--obs", "1.0,0.5", "--steps", "2000", "--quiet", "--out", r]);
    assert!(out.status.success(), "refine failed: {}", String::from_utf8_lossy(&out.stderr));
    let (before, after) = (c2st(m), c2st(r));
    assert!(before > 0.9 && after < 0.7, "C2ST at the observation: amortized {before}, refined {after}");

    let info = lwflow(&["info", "--model", r]);
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).expect("info prints JSON");
    assert_eq!(json["refined"]["x"], serde_json::json!([1.0, 0.5]));
    assert_eq!(json["refined"]["summary"]["steps_run"], 2000);
    assert_eq!(json["summary"]["steps_run"], 40, "the amortized run's record is kept");
    let info = lwflow(&["info", "--model", m]);
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).expect("info prints JSON");
    assert!(json["refined"].is_null(), "an amortized model has no refinement");

    // Sampling a refined model elsewhere than its observation warns; at it, it does not.
    let sample = |obs: &str| {
        let out = lwflow(&[
            "sample",
            "--model",
            r,
            "--obs",
            obs,
            "--num",
            "10",
            "--out",
            dir.join("s.csv").to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(sample("1.0,0.5").is_empty());
    assert!(sample("2.0,0.5").contains("was refined for the observation [1.0, 0.5]"));

    // Bad input: the flag is named, and no file is written.
    let bad = dir.join("bad.lwf");
    for (args, expect) in [
        (vec!["--obs", "1.0"], "--obs"),
        (vec!["--obs", "1.0,0.5", "--prior-share", "0"], "refine.prior_share"),
        (vec!["--obs", "1.0,0.5", "--task", "slcp"], "--task slcp"),
    ] {
        let mut full = vec!["refine", "--model", m, "--out", bad.to_str().unwrap(), "--quiet"];
        full.extend(args);
        let out = lwflow(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(expect), "{expect}: {stderr}");
        assert!(!bad.exists());
    }
}
