//! `lwflow reference` and `lwflow compare` end to end, `lwflow eval --reference smc` on a
//! bernoulli_glm model, and the errors a user sees for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lwflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lwflow")).args(args).output().expect("the binary runs")
}

/// A fresh empty directory under the system temp dir, removed when the guard is dropped.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("lwflow-cli-ref-{name}-")).tempdir().expect("temp dir is writable")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failure(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure, got: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `lwflow reference` for square2d at `obs`, 400 samples, written to `dir/name`.
fn square2d_reference(dir: &Path, name: &str, obs: &str, seed: &str) -> PathBuf {
    let path = dir.join(name);
    ok(&lwflow(&[
        "reference",
        "--task",
        "square2d",
        "--obs",
        obs,
        "--num",
        "400",
        "--seed",
        seed,
        "--out",
        path.to_str().unwrap(),
    ]));
    path
}

fn compare_json(a: &Path, b: &Path) -> serde_json::Value {
    let out = ok(&lwflow(&["compare", a.to_str().unwrap(), b.to_str().unwrap(), "--json"]));
    serde_json::from_str(&out).expect("compare --json prints JSON")
}

#[test]
fn reference_writes_samples_and_compare_scores_them() {
    let dir_guard = scratch("round-trip");
    let dir = dir_guard.path();
    let a = square2d_reference(dir, "a.csv", "1.0,0.5", "1");
    let text = std::fs::read_to_string(&a).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("theta_1,theta_2"));
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 400);
    // The exact posterior's modes sit at (±√1, ±√0.5).
    assert!(rows.iter().all(|r| (r[0].abs() - 1.0).abs() < 0.3 && (r[1].abs() - 0.5f64.sqrt()).abs() < 0.3));
    let again = square2d_reference(dir, "again.csv", "1.0,0.5", "1");
    assert_eq!(text, std::fs::read_to_string(&again).unwrap(), "same seed, same file");
    let npy = square2d_reference(dir, "a.npy", "1.0,0.5", "1");
    assert!(std::fs::read(&npy).unwrap().starts_with(b"\x93NUMPY"));

    // The same draws as CSV and as npy: identical sets, so the exact W2 is 0.
    let same = compare_json(&a, &npy);
    assert_eq!((same["dim"].as_u64(), same["n_p"].as_u64(), same["w2_rows"].as_u64()), (Some(2), Some(400), Some(400)));
    assert!(same["w2"].as_f64().unwrap() < 1e-12, "{same}");
    // Another seed of the same posterior: indistinguishable; another observation: separable.
    let b = square2d_reference(dir, "b.csv", "1.0,0.5", "2");
    let c2st = compare_json(&a, &b)["c2st"].as_f64().unwrap();
    assert!((0.4..0.6).contains(&c2st), "same posterior: {c2st}");
    let far = square2d_reference(dir, "far.csv", "4.0,4.0", "2");
    let c2st = compare_json(&a, &far)["c2st"].as_f64().unwrap();
    assert!(c2st > 0.95, "different posteriors: {c2st}");
    let table = ok(&lwflow(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]));
    assert!(table.contains("C2ST") && table.contains("sliced W2") && table.contains("a.csv"), "{table}");

    // The default method is the task's own: SMC for slcp, distinct particles.
    let slcp = dir.join("slcp.csv");
    let out = ok(&lwflow(&[
        "reference",
        "--task",
        "slcp",
        "--obs",
        "-0.7,-2.9,-1.0,-2.6,-0.3,-2.9,-1.1,-2.5",
        "--num",
        "300",
        "--out",
        slcp.to_str().unwrap(),
    ]));
    assert!(out.contains("smc reference"), "{out}");
    let text = std::fs::read_to_string(&slcp).unwrap();
    assert!(text.starts_with("theta_1,theta_2,theta_3,theta_4,theta_5\n"));
    let mut rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 300);
    rows.sort_unstable();
    rows.dedup();
    assert!(rows.len() > 290, "mostly distinct particles: {}", rows.len());
}

#[test]
fn reference_and_compare_bad_input_name_the_flag_or_file() {
    let dir_guard = scratch("errors");
    let dir = dir_guard.path();
    let out = dir.join("never.csv");
    let o = out.to_str().unwrap();

    let err = failure(&lwflow(&["reference", "--task", "slcp", "--obs", "1,2", "--out", o]));
    assert!(err.contains("--obs") && err.contains("expected 8"), "{err}");
    let err =
        failure(&lwflow(&["reference", "--task", "slcp", "--obs", "0,0,0,0,0,0,0,0", "--method", "exact", "--out", o]));
    assert!(err.contains("--method exact") && err.contains("'smc'"), "{err}");
    let err = failure(&lwflow(&["reference", "--task", "moons", "--obs", "0,0", "--out", o]));
    assert!(err.contains("--task") && err.contains("two_moons"), "{err}");
    let err = failure(&lwflow(&[
        "reference",
        "--task",
        "square2d",
        "--obs",
        "1,1",
        "--out",
        dir.join("no/such/dir/r.csv").to_str().unwrap(),
    ]));
    assert!(err.contains("r.csv"), "{err}");
    assert!(!out.exists(), "no output file after a failure");

    let two = square2d_reference(dir, "two.csv", "1,1", "1");
    let three = dir.join("three.csv");
    std::fs::write(&three, "a,b,c\n1,2,3\n").unwrap();
    let err = failure(&lwflow(&["compare", two.to_str().unwrap(), three.to_str().unwrap()]));
    assert!(err.contains("two.csv has 2 columns") && err.contains("three.csv has 3"), "{err}");
    assert!(err.contains("same dimension"), "{err}");

    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "theta_1,theta_2\n0.5,0.1\n0.2,oops\n").unwrap();
    let err = failure(&lwflow(&["compare", two.to_str().unwrap(), bad.to_str().unwrap()]));
    assert!(err.contains("bad.csv line 3, column 2") && err.contains("'oops' is not a number"), "{err}");
    let err = failure(&lwflow(&["compare", dir.join("missing.npy").to_str().unwrap(), two.to_str().unwrap()]));
    assert!(err.contains("missing.npy"), "{err}");
    let not_npy = dir.join("text.npy");
    std::fs::write(&not_npy, "theta_1\n1\n").unwrap();
    let err = failure(&lwflow(&["compare", not_npy.to_str().unwrap(), two.to_str().unwrap()]));
    assert!(err.contains("text.npy") && err.contains("not a NumPy .npy file"), "{err}");
    let tiny = dir.join("tiny.csv");
    std::fs::write(&tiny, "theta_1,theta_2\n0.5,0.1\n0.2,0.3\n").unwrap();
    let err = failure(&lwflow(&["compare", two.to_str().unwrap(), tiny.to_str().unwrap()]));
    assert!(err.contains("tiny.csv") && err.contains("at least 10 rows"), "{err}");
}

#[test]
fn eval_with_smc_reference_works_for_bernoulli_glm() {
    let dir_guard = scratch("glm");
    let dir = dir_guard.path();
    let model = dir.join("glm.lwf");
    ok(&lwflow(&[
        "train",
        "--task",
        "bernoulli_glm",
        "--steps",
        "3",
        "--hidden",
        "8",
        "--layers",
        "2",
        "--thetas-per-step",
        "256",
        "--quiet",
        "--out",
        model.to_str().unwrap(),
    ]));
    let obs = "56,3.32306,14.356438,11.104893,-4.167525,-18.507809,-21.917496,-9.553517,-0.357257,-5.497825";
    let out = ok(&lwflow(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--obs",
        obs,
        "--reference",
        "smc",
        "--num",
        "100",
        "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(&out).expect("eval --json prints JSON");
    let c2st = json[0]["c2st"].as_f64().expect("C2ST against the SMC reference");
    assert!((0.4..=1.0).contains(&c2st), "{c2st}");
    assert!(json[0]["kl_pq"].is_null() || json[0]["kl_pq"].as_f64().is_none_or(f64::is_nan), "SMC has no density");
}
