//! Issue 16 causes whose reproduction is a CLI run: each test runs the command from the report
//! and asserts the clear error (exit status 1, a message naming the cause) and that nothing was
//! lost or left behind. The library-level causes are in `crates/lwflow/tests/reliability.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lwflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lwflow")).args(args).output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("lwflow-cli-reliability-").tempdir().unwrap()
}

/// A square2d model trained for a few steps (seconds).
fn tiny_model(dir: &Path) -> PathBuf {
    let out = dir.join("m.lwf");
    let o = lwflow(&[
        "train",
        "--task",
        "square2d",
        "--steps",
        "20",
        "--hidden",
        "16",
        "--thetas-per-step",
        "512",
        "--obs-per-step",
        "8",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

/// Files in `dir` (names), sorted: temp files left behind show up here.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn cause_01_sample_far_outside_the_prior_predictive_is_an_error_not_nan_rows() {
    let dir = scratch();
    let model = tiny_model(dir.path());
    let out = dir.path().join("s.csv");
    let o =
        lwflow(&["sample", "--model", model.to_str().unwrap(), "--obs", "1e300,1e300", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let msg = stderr(&o);
    assert!(msg.contains("x = [1e300, 1e300]") && msg.contains("far outside the prior predictive"), "{msg}");
    assert!(!out.exists(), "no sample file is written");
    let o = lwflow(&["sample", "--model", model.to_str().unwrap(), "--obs", "1,1", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn cause_04_sizes_beyond_their_limits_name_the_flag() {
    let dir = scratch();
    let model = tiny_model(dir.path());
    let out = dir.path().join("s.csv");
    let o = lwflow(&[
        "sample",
        "--model",
        model.to_str().unwrap(),
        "--obs",
        "1,1",
        "--num",
        "1000000000000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let msg = stderr(&o);
    assert!(o.status.code() == Some(1) && msg.contains("--num") && msg.contains("limit"), "{msg}");
    let o = lwflow(&[
        "train",
        "--task",
        "square2d",
        "--components",
        "1000",
        "--out",
        dir.path().join("k.lwf").to_str().unwrap(),
    ]);
    let msg = stderr(&o);
    assert!(o.status.code() == Some(1) && msg.contains("--components") && msg.contains("128"), "{msg}");
    let o = lwflow(&[
        "train",
        "--task",
        "square2d",
        "--hidden",
        "100000",
        "--out",
        dir.path().join("h.lwf").to_str().unwrap(),
    ]);
    let msg = stderr(&o);
    assert!(o.status.code() == Some(1) && msg.contains("--hidden") && msg.contains("8192"), "{msg}");
    let o = lwflow(&["bench", "step", "--threads", "100000"]);
    let msg = stderr(&o);
    assert!(o.status.code() == Some(1) && msg.contains("--threads") && msg.contains("1024"), "{msg}");
}

#[test]
fn cause_05_train_checks_the_output_before_training() {
    let dir = scratch();
    let missing = dir.path().join("missing_dir/x.lwf");
    let o = lwflow(&["train", "--task", "square2d", "--out", missing.to_str().unwrap()]);
    let msg = stderr(&o);
    assert!(o.status.code() == Some(1) && msg.contains("does not exist"), "{msg}");
    // A default budget would train for minutes; the check comes first, so no step ran.
    assert!(!msg.contains("steps in"), "{msg}");
    let o = lwflow(&["train", "--task", "square2d", "--out", dir.path().to_str().unwrap()]);
    assert!(stderr(&o).contains("is a directory"), "{}", stderr(&o));
}

#[test]
fn cause_06_an_output_equal_to_an_input_is_refused() {
    let dir = scratch();
    let model = tiny_model(dir.path());
    let before = std::fs::read(&model).unwrap();
    let m = model.to_str().unwrap();
    let o = lwflow(&["sample", "--model", m, "--obs", "1,1", "--out", m]);
    assert!(o.status.code() == Some(1) && stderr(&o).contains("is the input"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&model).unwrap(), before, "the model file was overwritten");
    let thetas = dir.path().join("t.csv");
    std::fs::write(&thetas, "theta_1,theta_2\n0.5,0.5\n").unwrap();
    let t = thetas.to_str().unwrap();
    let o = lwflow(&["log-prob", "--model", m, "--obs", "1,1", "--input", t, "--out", t]);
    assert!(o.status.code() == Some(1) && stderr(&o).contains("is the input"), "{}", stderr(&o));
    let config = dir.path().join("run.toml");
    std::fs::write(&config, format!("task = \"square2d\"\nout = {:?}\n", config.to_str().unwrap())).unwrap();
    let o = lwflow(&["train", "--config", config.to_str().unwrap()]);
    assert!(o.status.code() == Some(1) && stderr(&o).contains("is the input"), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&config).unwrap().starts_with("task"));
}

#[cfg(target_os = "linux")]
#[test]
fn cause_08_a_full_stdout_is_an_error_not_a_panic() {
    let dir = scratch();
    let model = tiny_model(dir.path());
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_lwflow"))
        .args(["info", "--model", model.to_str().unwrap()])
        .stdout(full)
        .output()
        .unwrap();
    let msg = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{msg}");
    assert!(msg.contains("cannot write to stdout") && !msg.contains("panicked"), "{msg}");
}

#[cfg(unix)]
#[test]
fn cause_09_exceeding_the_file_size_limit_is_reported_and_leaves_no_temp_file() {
    let dir = scratch();
    let out = dir.path().join("big.csv");
    // `ulimit -f 64`: 32 KiB (sh counts 512-byte blocks); the samples need ~4 MB.
    let script = format!(
        "ulimit -f 64; exec {} reference --task square2d --obs 1,1 --num 100000 --out {}",
        env!("CARGO_BIN_EXE_lwflow"),
        out.display()
    );
    let o = Command::new("sh").args(["-c", &script]).output().unwrap();
    let msg = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "killed by a signal instead of an error: {msg}");
    assert!(msg.contains("big.csv") && msg.contains("too large"), "{msg}");
    assert!(entries(dir.path()).is_empty(), "left behind: {:?}", entries(dir.path()));
}

#[test]
fn cause_12_messages_name_the_cause() {
    let dir = scratch();
    // --plot-dir naming a file: refused before training, not after the model was written.
    let file = dir.path().join("plots");
    std::fs::write(&file, "").unwrap();
    let out = dir.path().join("m.lwf");
    let o =
        lwflow(&["train", "--task", "square2d", "--plot-dir", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.code() == Some(1) && stderr(&o).contains("--plot-dir"), "{}", stderr(&o));
    assert!(!out.exists());
    // compare on values whose squared distances overflow: named as such, not "invalid linear_assignment cost".
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    let rows: String = (0..20).map(|i| format!("{}e300,1\n", 1 + i % 9)).collect();
    std::fs::write(&a, format!("p,q\n{rows}")).unwrap();
    std::fs::write(&b, format!("p,q\n{rows}")).unwrap();
    let o = lwflow(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    let msg = stderr(&o);
    assert!(o.status.code() == Some(1) && msg.contains("overflow") && msg.contains("a.csv"), "{msg}");
    // eval --num 1 is refused by the flag, naming what the metrics need.
    let model = tiny_model(dir.path());
    let o = lwflow(&["eval", "--model", model.to_str().unwrap(), "--obs", "1,1", "--num", "1"]);
    let msg = stderr(&o);
    assert!(o.status.code() == Some(1) && msg.contains("--num 1") && msg.contains("at least 10"), "{msg}");
}

#[test]
fn cause_12_lr_and_tail_bound_state_their_range_as_flags_and_keys() {
    let dir = scratch();
    let out = dir.path().join("m.lwf");
    let out = out.to_str().unwrap();
    for (flag, range) in [("--lr", "(0, 1]"), ("--tail-bound", "(0, 1000]")] {
        let o = lwflow(&["train", "--task", "square2d", flag, "1e308", "--out", out]);
        let msg = stderr(&o);
        assert!(o.status.code() == Some(2) && msg.contains(flag) && msg.contains(range), "{msg}");
    }
    for (table, key, range) in [("train", "lr", "(0, 1]"), ("flow", "tail_bound", "(0, 1000]")] {
        let config = dir.path().join(format!("{key}.toml"));
        std::fs::write(&config, format!("task = \"square2d\"\n[{table}]\n{key} = 1e308\n")).unwrap();
        let o = lwflow(&["train", "--config", config.to_str().unwrap(), "--out", out]);
        let msg = stderr(&o);
        assert!(o.status.code() == Some(1) && msg.contains(key) && msg.contains(range), "{msg}");
    }
    assert!(!Path::new(out).exists(), "refused before training");
}

#[test]
fn cause_04_smc_particles_beyond_their_limit_name_the_flag() {
    let o = lwflow(&["components", "--task", "square2d", "--seeds", "1", "--particles", "1000000000000"]);
    let msg = stderr(&o);
    assert!(o.status.code() == Some(1) && msg.contains("--particles") && msg.contains("limit"), "{msg}");
}

#[test]
fn cause_12_the_corner_plot_names_the_column_and_what_is_wrong() {
    let dir = scratch();
    let model = tiny_model(dir.path());
    // Reference draws whose second column spans ±1e308: the axis width overflows.
    let reference = dir.path().join("ref.csv");
    let rows: String = (0..2000).map(|i| format!("0.5,{}e308\n", if i % 2 == 0 { 1 } else { -1 })).collect();
    std::fs::write(&reference, format!("theta_1,theta_2\n{rows}")).unwrap();
    let plot = dir.path().join("corner.png");
    let o = lwflow(&[
        "plot",
        "--model",
        model.to_str().unwrap(),
        "--obs",
        "1,1",
        "--num",
        "100",
        "--reference",
        reference.to_str().unwrap(),
        "--out",
        plot.to_str().unwrap(),
    ]);
    let msg = stderr(&o);
    assert!(
        o.status.code() == Some(1) && msg.contains("θ2 (column 2)") && msg.contains("too wide for an axis"),
        "{msg}"
    );
    assert!(!plot.exists());
}
