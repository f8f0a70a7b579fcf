//! `lwflow check` end to end, and every tool on a model file trained on an external model
//! (`sample --importance`, `eval --reference grid|smc`, `components --model`, `check`): the file
//! records the external command, which is started again from any directory; files written
//! before the record existed still start theirs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lwflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lwflow")).args(args).output().expect("the binary runs")
}

/// `lwflow args` run in `dir`.
fn lwflow_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lwflow")).args(args).current_dir(dir).output().expect("the binary runs")
}

fn example(name: &str) -> PathBuf {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "lwflow", "examples", name].iter().collect();
    path.canonicalize().expect("example exists")
}

fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("lwflow-check-{name}-")).tempdir().expect("temp dir is writable")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn has_python() -> bool {
    let ok = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: python3 not found; skipping the external-model tests");
    }
    ok
}

/// A square2d flow trained for 40 steps: far from calibrated.
fn train_tiny(dir: &Path, args: &[&str]) -> PathBuf {
    let model = dir.join("model.lwf");
    let m = model.to_str().unwrap();
    let tiny = ["--seed", "3", "--steps", "40", "--hidden", "16", "--layers", "2", "--thetas-per-step", "512"];
    ok(&lwflow(&[&["train"], args, &tiny[..], &["--quiet", "--out", m]].concat()));
    model
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(b"\x89PNG\r\n\x1a\n"))
}

#[test]
fn check_reports_every_test_and_fails_an_undertrained_flow() {
    let dir_guard = scratch("tiny");
    let dir = dir_guard.path();
    let model = train_tiny(dir, &["--task", "square2d"]);
    let out_dir = dir.join("report");
    let args = ["check", "--model", model.to_str().unwrap(), "--simulations", "300", "--ess-obs", "30", "--quiet"];
    let json = ok(&lwflow(&[&args[..], &["--json", "--out", out_dir.to_str().unwrap()]].concat()));
    let report: serde_json::Value = serde_json::from_str(&json).expect("--json prints JSON");
    let names: Vec<&str> =
        report["summary"]["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["sbc", "coverage", "tarp", "importance_ess", "ppc"]);
    assert_eq!(report["n_simulations"], 300);
    assert_eq!(report["sbc"]["dimensions"].as_array().unwrap().len(), 3, "θ₁, θ₂ and log q");
    assert_eq!(report["ess"]["ess_fraction"].as_array().unwrap().len(), 30);
    assert_eq!(report["summary"]["calibrated"], false, "40 steps cannot be calibrated: {}", report["summary"]);
    let ppc = &report["ppc"]["observations"];
    assert_eq!(ppc.as_array().unwrap().len(), 20, "the first 20 pairs by default");
    assert_eq!(ppc[0]["quantile"].as_array().unwrap().len(), 2, "one quantile per dimension of x");
    for file in ["sbc_ecdf.png", "coverage.png", "ppc.png"] {
        assert!(is_png(&out_dir.join(file)), "{file} is not a PNG");
    }
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("check.json")).unwrap()).expect("check.json is JSON");
    assert_eq!(saved["summary"], report["summary"]);
    // The table names each test and the overall verdict.
    let table = ok(&lwflow(&args));
    assert!(table.contains("sbc") && table.contains("calibrated: no"), "{table}");
}

#[test]
fn check_reads_pairs_and_names_what_is_wrong() {
    let dir_guard = scratch("pairs");
    let dir = dir_guard.path();
    let model = train_tiny(dir, &["--task", "square2d"]);
    let m = model.to_str().unwrap();
    let good = dir.join("pairs.csv");
    let rows: String =
        (0..50).map(|i| format!("{},{},{},{}\n", (i % 5) as f64 - 2.0, 0.5, 1.0 + i as f64 * 0.1, 0.3)).collect();
    std::fs::write(&good, format!("t1,t2,x1,x2\n{rows}")).unwrap();
    let json =
        ok(&lwflow(&["check", "--model", m, "--pairs", good.to_str().unwrap(), "--ess-obs", "0", "--quiet", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["n_simulations"], 50);
    assert!(report["ess"].is_null(), "--ess-obs 0 skips the ESS check");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "t1,t2,x1\n1,2,3\n").unwrap();
    let out = lwflow(&["check", "--model", m, "--pairs", bad.to_str().unwrap(), "--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("bad.csv") && err.contains("expected 4 columns"), "{err}");
    let out = lwflow(&["check", "--model", m, "--alpha", "1.5", "--quiet"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--alpha 1.5"));
}

#[test]
fn every_tool_runs_on_a_model_trained_on_an_external_model() {
    if !has_python() {
        return;
    }
    let dir_guard = scratch("external");
    let dir = dir_guard.path();
    let script: PathBuf =
        [env!("CARGO_MANIFEST_DIR"), "..", "lwflow", "examples", "square2d_model.py"].iter().collect();
    let script = script.canonicalize().expect("example exists");
    let config = dir.join("run.toml");
    std::fs::write(
        &config,
        format!(
            "[model]\nkind = \"external\"\ncommand = [\"python3\", \"{}\"]\ntheta_dim = 2\nx_dim = 2\n\
             [prior]\nkind = \"uniform\"\nlow = [-3.0, -3.0]\nhigh = [3.0, 3.0]\n",
            script.display()
        ),
    )
    .unwrap();
    let model = train_tiny(dir, &["--config", config.to_str().unwrap()]);
    let m = model.to_str().unwrap();

    let samples = dir.join("s.csv");
    let out = lwflow(&[
        "sample",
        "--model",
        m,
        "--obs",
        "1,2",
        "--num",
        "200",
        "--importance",
        "--out",
        samples.to_str().unwrap(),
    ]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("log evidence"));
    assert_eq!(std::fs::read_to_string(&samples).unwrap().lines().count(), 201);

    let json = ok(&lwflow(&["eval", "--model", m, "--obs", "1,2", "--num", "300", "--reference", "grid", "--json"]));
    let reports: serde_json::Value = serde_json::from_str(&json).unwrap();
    let c2st = reports[0]["c2st"].as_f64().expect("C2ST against the grid");
    assert!((0.4..=1.0).contains(&c2st), "{c2st}");
    assert!(reports[0]["kl_pq"].as_f64().is_some_and(f64::is_finite), "a grid has a density: KL is computed");
    let out = lwflow(&["eval", "--model", m, "--obs", "1,2"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no exact reference"), "exact needs a built-in task");

    let json = ok(&lwflow(&["check", "--model", m, "--simulations", "100", "--ess-obs", "10", "--quiet", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["ess"]["ess_fraction"].as_array().unwrap().len(), 10);

    let json = ok(&lwflow(&["components", "--model", m, "--seeds", "1", "--obs", "2", "--particles", "200", "--json"]));
    let pick: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert!(pick["task"].as_str().is_some_and(|t| t.starts_with("external(python3")), "{pick}");
}

#[test]
fn check_runs_the_predictive_check_at_given_observations() {
    let dir_guard = scratch("ppc-obs");
    let model = train_tiny(dir_guard.path(), &["--task", "square2d"]);
    let m = model.to_str().unwrap();
    let args = ["check", "--model", m, "--simulations", "50", "--ess-obs", "0", "--quiet", "--json"];
    // x = (1, 1) is typical of square2d; x = (40, -5) cannot come from θ ∈ [−3, 3]²: outside.
    let json = ok(&lwflow(&[&args[..], &["--ppc-obs", "1,1;40,-5", "--ppc-draws", "300"]].concat()));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let obs = report["ppc"]["observations"].as_array().unwrap();
    assert_eq!(obs.len(), 2);
    assert_eq!(obs[1]["x"], serde_json::json!([40.0, -5.0]));
    assert_eq!(obs[1]["quantile"], serde_json::json!([1.0, 0.0]), "beyond every predictive draw");
    assert_eq!(report["ppc"]["flagged"], serde_json::json!([1]));
    let ppc = report["summary"]["tests"].as_array().unwrap().iter().find(|t| t["name"] == "ppc").unwrap();
    assert_eq!((ppc["statistic"].as_f64(), ppc["passed"].as_bool()), (Some(0.5), Some(false)));
    let out = lwflow(&[&args[..], &["--ppc-obs", "1,2,3"]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--ppc-obs 1,2,3"), "{err}");
    let json = ok(&lwflow(&[&args[..], &["--ppc", "0"]].concat()));
    assert!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["ppc"].is_null(), "--ppc 0 skips it");
}

#[test]
fn an_external_model_file_records_how_to_start_it_again_from_any_directory() {
    if !has_python() {
        return;
    }
    let dir_guard = scratch("record");
    let dir = dir_guard.path();
    let model_dir = dir.join("my model");
    std::fs::create_dir(&model_dir).unwrap();
    std::fs::copy(example("square2d_model.py"), model_dir.join("square2d_model.py")).unwrap();
    // A relative script beside the config, an argument with a space, a timeout and two copies.
    let config = model_dir.join("run.toml");
    std::fs::write(
        &config,
        "[model]\nkind = \"external\"\ncommand = [\"python3\", \"square2d_model.py\", \"--noise\", \" 0.5\"]\n\
         theta_dim = 2\nx_dim = 2\ntimeout_seconds = 30\nworkers = 2\n\
         [prior]\nkind = \"uniform\"\nlow = [-3.0, -3.0]\nhigh = [3.0, 3.0]\n",
    )
    .unwrap();
    let model = train_tiny(dir, &["--config", config.to_str().unwrap()]);
    let m = model.to_str().unwrap();
    let info: serde_json::Value = serde_json::from_str(&ok(&lwflow(&["info", "--model", m]))).unwrap();
    let record = &info["external"];
    assert_eq!(record["command"], serde_json::json!(["python3", "square2d_model.py", "--noise", " 0.5"]));
    assert_eq!(Path::new(record["dir"].as_str().unwrap()).canonicalize().unwrap(), model_dir.canonicalize().unwrap());
    assert_eq!((record["timeout_seconds"].as_f64(), record["workers"].as_u64()), (Some(30.0), Some(2)));

    // Started again from elsewhere: the record, not the current directory, says where.
    let elsewhere = scratch("elsewhere");
    let args = ["check", "--model", m, "--simulations", "60", "--ess-obs", "5", "--ppc", "3", "--quiet", "--json"];
    let report: serde_json::Value = serde_json::from_str(&ok(&lwflow_in(elsewhere.path(), &args))).unwrap();
    assert_eq!(report["n_simulations"], 60);

    // The model moved: the error names the directory and the way out.
    std::fs::rename(&model_dir, dir.join("moved")).unwrap();
    let out = lwflow_in(elsewhere.path(), &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("my model") && err.contains("no longer exists"), "{err}");
    assert!(err.contains("--config"), "{err}");
}

#[test]
fn an_external_model_file_written_before_the_record_still_starts_its_command() {
    if !has_python() {
        return;
    }
    // Written by 5de9d01's binary (`train --config run.toml --seed 3 --steps 20 --hidden 16
    // --layers 2 --thetas-per-step 512 --components 4` with command ["python3",
    // "square2d_model.py"]): it records only "external(python3 square2d_model.py)".
    let old: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", "square2d_external_5de9d01.lwf"].iter().collect();
    let old = old.canonicalize().unwrap();
    let args = ["check", "--model", old.to_str().unwrap(), "--simulations", "40", "--ess-obs", "4", "--ppc", "2"];
    let args = [&args[..], &["--quiet", "--json"]].concat();
    let examples = example("square2d_model.py").parent().unwrap().to_path_buf();
    let report: serde_json::Value = serde_json::from_str(&ok(&lwflow_in(&examples, &args))).unwrap();
    assert_eq!(report["n_simulations"], 40);
    // From elsewhere the script is not found, and the error says so.
    let elsewhere = scratch("old-elsewhere");
    let out = lwflow_in(elsewhere.path(), &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("square2d_model.py"), "{err}");
}
