//! `lwflow benchmark` end to end on a tiny budget: the files it writes, the CSV's rows and
//! columns (with `--importance`'s), and the errors for bad flags.

use std::process::{Command, Output};

fn lwflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lwflow")).args(args).output().expect("the binary runs")
}

/// A fresh empty directory under the system temp dir, removed when the guard is dropped.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("lwflow-cli-{name}-")).tempdir().expect("temp dir is writable")
}

/// Columns of results.csv, in order.
const COLUMNS: &str = "task,observation,observation_seed,reference,x,theta_true,c2st,kl_pq,kl_qp,w2,w2_floor,sliced_w2,mmd2,bridge_mass,reference_seconds,train_seconds,likelihood_evals,steps_run,seed,n_samples,c2st_importance,importance_draws,importance_ess,budget,simulations,model_calls,median_ess_late,draws_per_obs_late,round_ess_median,refine_steps,refine_likelihood_evals,refine_seconds";

#[test]
fn benchmark_writes_tables_and_samples() {
    let dir_guard = scratch("benchmark");
    let dir = dir_guard.path();
    let d = dir.to_str().unwrap();
    let out = lwflow(&[
        "benchmark",
        "--tasks",
        "gaussian_linear,two_moons",
        "--observations",
        "1",
        "--samples",
        "200",
        "--steps",
        "3",
        "--importance",
        "--quiet",
        "--out",
        d,
    ]);
    assert!(out.status.success(), "benchmark failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "--quiet prints nothing: {}", String::from_utf8_lossy(&out.stderr));

    let md = std::fs::read_to_string(dir.join("results.md")).expect("results.md");
    assert!(md.contains("| gaussian_linear | – | exact |") && md.contains("| two_moons | – | grid |"), "{md}");
    assert!(md.contains("C2ST importance-corrected") && !md.contains("n/a | n/a | n/a |"), "{md}");

    let csv = std::fs::read_to_string(dir.join("results.csv")).expect("results.csv");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(COLUMNS));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "one row per task × observation: {csv}");
    let col = |name: &str| COLUMNS.split(',').position(|c| c == name).expect("known column");
    for (row, task) in rows.iter().zip(["gaussian_linear", "two_moons"]) {
        assert_eq!(row.len(), COLUMNS.split(',').count(), "{row:?}");
        assert_eq!((row[col("task")], row[col("observation")], row[col("observation_seed")]), (task, "1", "1000001"));
        let c2st: f64 = row[col("c2st")].parse().expect("a C2ST value");
        assert!((0.0..=1.0).contains(&c2st), "{c2st}");
        assert_eq!(row[col("steps_run")], "3");
        assert!(row[col("likelihood_evals")].parse::<u64>().expect("a count") > 0);
        // --importance: the corrected samples' C2ST, and at least the 10 draws per sample of a round.
        let corrected: f64 = row[col("c2st_importance")].parse().expect("a corrected C2ST");
        assert!((0.0..=1.0).contains(&corrected), "{corrected}");
        let draws: f64 = row[col("importance_draws")].parse().expect("a draw count");
        let ess: f64 = row[col("importance_ess")].parse().expect("an ESS");
        assert!(draws >= 2000.0 && ess >= 1.0 && ess <= draws, "draws {draws}, ESS {ess}");
    }

    for task in ["gaussian_linear", "two_moons"] {
        let obs = dir.join(task).join("obs_1");
        for file in ["observation.csv", "true_parameters.csv", "flow_samples.npy", "reference_samples.npy"] {
            assert!(obs.join(file).is_file(), "{task}: missing {file}");
        }
        assert!(dir.join(task).join("model.lwf").is_file());
        let npy = std::fs::read(obs.join("flow_samples.npy")).unwrap();
        let dim = if task == "two_moons" { 2 } else { 10 };
        let data = 200 * dim * 8;
        assert!(npy.starts_with(b"\x93NUMPY") && npy.len() > data, "an .npy file");
        assert_eq!((npy.len() - data) % 64, 0, "a 64-byte-aligned header and 200 × {dim} f64 values");
    }
    // The same observation in every run: x does not depend on the training seed.
    let x = std::fs::read_to_string(dir.join("two_moons/obs_1/observation.csv")).unwrap();
    assert!(x.starts_with("x_1,x_2\n"), "{x}");
}

#[test]
fn benchmark_refine_judges_a_flow_refined_for_each_observation() {
    let dir_guard = scratch("benchmark-refine");
    let dir = dir_guard.path();
    // The C2ST and the refinement columns of each observation's row.
    let run = |name: &str, extra: &[&str]| -> Vec<(f64, String, String)> {
        let out_dir = dir.join(name);
        let mut args = vec!["benchmark", "--tasks", "gaussian_linear", "--observations", "2", "--samples", "500"];
        args.extend_from_slice(&["--steps", "30", "--no-distances", "--quiet", "--out", out_dir.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let out = lwflow(&args);
        assert!(out.status.success(), "benchmark failed: {}", String::from_utf8_lossy(&out.stderr));
        let csv = std::fs::read_to_string(out_dir.join("results.csv")).expect("results.csv");
        let col = |name: &str| COLUMNS.split(',').position(|c| c == name).expect("known column");
        csv.lines()
            .skip(1)
            .map(|l| {
                let row: Vec<&str> = l.split(',').collect();
                let c2st = row[col("c2st")].parse().expect("a C2ST");
                (c2st, row[col("refine_steps")].to_string(), row[col("refine_likelihood_evals")].to_string())
            })
            .collect()
    };
    let amortized = run("amortized", &[]);
    let refined = run("refined", &["--refine", "300", "--refine-draws", "128"]);
    for (a, r) in amortized.iter().zip(&refined) {
        assert_eq!((a.1.as_str(), a.2.as_str()), ("", ""), "no refinement asked for");
        // 300 steps of 128 draws, and the one-observation validation batch's 128 prior draws.
        assert_eq!((r.1.as_str(), r.2.as_str()), ("300", "38528"));
        assert!(r.0 < a.0 - 0.1, "C2ST: amortized {}, refined {}", a.0, r.0);
    }
    let md = std::fs::read_to_string(dir.join("refined/results.md")).expect("results.md");
    assert!(md.contains("then refined for each observation (300 steps of 128 draws"), "{md}");
}

#[test]
fn benchmark_budgets_train_once_each_within_the_budget() {
    let dir_guard = scratch("benchmark-budget");
    let dir = dir_guard.path();
    let d = dir.to_str().unwrap();
    let budgets = [600u64, 1500];
    let list = budgets.map(|b| b.to_string()).join(",");
    let out = lwflow(&[
        "benchmark",
        "--tasks",
        "square3d",
        "--observations",
        "2",
        "--samples",
        "100",
        "--steps",
        "60",
        "--budget",
        &list,
        "--no-distances",
        "--out",
        d,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "benchmark failed: {stderr}");
    let csv = std::fs::read_to_string(dir.join("results.csv")).expect("results.csv");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(COLUMNS));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4, "one row per budget × observation: {csv}");
    let col = |name: &str| COLUMNS.split(',').position(|c| c == name).expect("known column");
    for (row, budget) in rows.iter().zip([600, 600, 1500, 1500]) {
        assert_eq!(row[col("budget")].parse::<u64>().expect("a budget"), budget);
        let evals: u64 = row[col("likelihood_evals")].parse().expect("a count");
        let sims: u64 = row[col("simulations")].parse().expect("a count");
        let calls: u64 = row[col("model_calls")].parse().expect("a count");
        assert_eq!(calls, evals + sims);
        assert!(calls <= budget && calls > budget / 2, "{calls} calls on a budget of {budget}");
        assert!(row[col("kl_pq")].parse::<f64>().is_ok() && row[col("bridge_mass")].parse::<f64>().is_ok());
        assert!(row[col("w2")].is_empty(), "--no-distances: {row:?}");
    }
    // The references are built once and reused: every budget is judged on the same draws.
    for obs in ["obs_1", "obs_2"] {
        let reference = |b: u64| std::fs::read(dir.join(format!("square3d/budget_{b}/{obs}/reference_samples.npy")));
        assert_eq!(reference(600).expect("written"), reference(1500).expect("written"));
    }
    assert!(stderr.contains("model calls ≤ budget 1500"), "{stderr}");
    let md = std::fs::read_to_string(dir.join("results.md")).expect("results.md");
    assert!(md.contains("| square3d | 600 | exact |") && md.contains("≤ 1500 |"), "{md}");

    let r = lwflow(&["benchmark", "--tasks", "square3d", "--observations", "1", "--budget", "10,10", "--out", d]);
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("--budget: 10 is listed twice"));
}

#[test]
fn benchmark_bad_flags_are_named() {
    let d_guard = scratch("benchmark-errors");
    let d = d_guard.path().join("out");
    let d = d.to_str().unwrap();
    for (args, flag) in [
        (vec!["--tasks", "nope", "--observations", "1"], "--tasks"),
        (vec!["--tasks", "two_moons", "--observations", "0"], "--observations"),
        (vec!["--tasks", "two_moons", "--observations", "1", "--budget", "0"], "--budget"),
    ] {
        let mut full = vec!["benchmark", "--out", d];
        full.extend(args);
        let r = lwflow(&full);
        assert!(!r.status.success());
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(flag), "{full:?}: {err}");
    }
    assert!(!std::path::Path::new(d).exists(), "nothing written after a flag error");
}
