//! External models over the JSON-lines protocol and its binary (f64le) framing: the Python
//! square2d agrees with the built-in task in both, and every misbehaviour of a process is a
//! clear error naming the op and the request, never a panic or a hang, in both. Skipped (with
//! a note) where `python3` is missing; the example models fall back to pure Python without numpy.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use lwflow::model::{ExternalConfig, ExternalModel, Model};
use lwflow::rng::{stream, Stream};
use lwflow::tasks::Square;
use lwflow::{Error, Mat, Prior};
use rand::Rng as _;

/// Agreement of the Python log-likelihood with the built-in one (both f64, same formula).
const LOG_LIK_TOL: f64 = 1e-9;
/// Largest difference, in units of relative f64 epsilon, between the JSON and binary framings.
const FRAMING_ULPS: f64 = 2.0;
/// Answer timeout of the hang test: short, so the test is quick, but long enough for Python to
/// start and answer the warm-up request on a loaded machine.
const HANG_TIMEOUT: Duration = Duration::from_millis(1500);

/// The two framings of requests after the first: JSON lines, or the binary payloads the model
/// accepted in its first answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    Json,
    F64le,
}

const FRAMINGS: [Framing; 2] = [Framing::Json, Framing::F64le];

fn python() -> Option<&'static str> {
    let ok = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: python3 not found; skipping external-model tests");
    }
    ok.then_some("python3")
}

fn example(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "examples", name].iter().collect();
    path.to_str().expect("utf-8 path").to_string()
}

/// The Python square2d; with `Framing::Json` it declines the binary offer (`--json`).
fn square2d_external(python: &str, framing: Framing) -> ExternalModel {
    let prior = Prior::uniform_box(2, Square::LOW, Square::HIGH).expect("valid");
    let mut command = vec![python.into(), example("square2d_model.py")];
    if framing == Framing::Json {
        command.push("--json".into());
    }
    ExternalModel::spawn(ExternalConfig::new(command, 2, 2, prior), 1).expect("python3 starts")
}

/// A misbehaving model; with `Framing::F64le` it accepts the binary framing in its first
/// (correct) answer and misbehaves from the second request on.
fn misbehaving(python: &str, mode: &str, framing: Framing, timeout: Duration) -> ExternalModel {
    let prior = Prior::uniform_box(2, -3.0, 3.0).expect("valid");
    let mut command = vec![python.into(), example("misbehaving_model.py"), mode.into()];
    if framing == Framing::F64le {
        command.push("f64le".into());
    }
    let mut config = ExternalConfig::new(command, 2, 2, prior);
    config.timeout = timeout;
    ExternalModel::spawn(config, 1).expect("python3 starts")
}

fn random_mat(rows: usize, seed: u64, low: f64, high: f64) -> Mat<f64> {
    let mut rng = stream(seed, Stream::Metric, 0, 0);
    Mat::from_fn(rows, 2, |_, _| rng.gen_range(low..high))
}

/// The first request, answered correctly; it carries the format offer, so for `F64le` every
/// later request is binary. Returns how many requests were made (the next one's number - 1).
fn warm_up(model: &ExternalModel, framing: Framing) -> u64 {
    if framing == Framing::Json {
        return 0;
    }
    let theta = random_mat(3, 9, -3.0, 3.0);
    model.log_likelihood_at(&[1.0, 1.0], theta.as_ref(), &mut [0.0; 3]).expect("the first request is answered");
    1
}

#[test]
fn python_square2d_log_likelihood_matches_builtin() {
    let Some(py) = python() else { return };
    let builtin = Square::new(2, Square::DEFAULT_NOISE).expect("valid");
    for framing in FRAMINGS {
        let external = square2d_external(py, framing);
        warm_up(&external, framing);
        let n_pairs = 5000;
        let theta = random_mat(n_pairs, 1, -3.0, 3.0);
        let x = random_mat(n_pairs, 2, -0.5, 9.5);
        let (mut got, mut want) = (vec![0.0; n_pairs], vec![0.0; n_pairs]);
        external.log_likelihood(x.as_ref(), theta.as_ref(), &mut got).expect("answers");
        builtin.log_likelihood(x.as_ref(), theta.as_ref(), &mut want).expect("shapes match");
        for (r, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= LOG_LIK_TOL * w.abs().max(1.0), "{framing:?} row {r}: external {g}, built-in {w}");
        }
        // One observation against many draws (one request for the whole block).
        let x0 = [1.3, 0.2];
        external.log_likelihood_at(&x0, theta.as_ref(), &mut got).expect("answers");
        builtin.log_likelihood_at(&x0, theta.as_ref(), &mut want).expect("shapes match");
        for (r, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= LOG_LIK_TOL * w.abs().max(1.0), "{framing:?} row {r}: external {g}, built-in {w}");
        }
    }
}

#[test]
fn python_square2d_simulates_one_x_per_theta_with_the_right_noise() {
    let Some(py) = python() else { return };
    for framing in FRAMINGS {
        let external = square2d_external(py, framing);
        warm_up(&external, framing);
        let n_rows = 4000;
        let theta = random_mat(n_rows, 3, -3.0, 3.0);
        let mut x = Mat::zeros(n_rows, 2);
        let mut rng = stream(4, Stream::Simulate, 0, 0);
        external.simulate(theta.as_ref(), &mut rng, x.as_mut()).expect("answers");
        let residuals: Vec<f64> = (0..n_rows)
            .flat_map(|r| (0..2).map(move |c| (r, c)))
            .map(|(r, c)| x.row(r)[c] - theta.row(r)[c].powi(2))
            .collect();
        let var = residuals.iter().map(|e| e * e).sum::<f64>() / residuals.len() as f64;
        assert!((var.sqrt() - Square::DEFAULT_NOISE).abs() < 0.005, "{framing:?}: noise std {}", var.sqrt());
        // The seed comes from the rng: a new draw gives new noise, the same rng state the same noise.
        let mut x2 = Mat::zeros(n_rows, 2);
        external.simulate(theta.as_ref(), &mut rng, x2.as_mut()).expect("answers");
        assert_ne!(x.as_slice(), x2.as_slice());
        let mut x3 = Mat::zeros(n_rows, 2);
        external.simulate(theta.as_ref(), &mut stream(4, Stream::Simulate, 0, 0), x3.as_mut()).expect("answers");
        assert_eq!(x.as_slice(), x3.as_slice());
    }
}

#[test]
fn json_and_f64le_framings_agree_to_the_last_bits() {
    let Some(py) = python() else { return };
    let (json, binary) = (square2d_external(py, Framing::Json), square2d_external(py, Framing::F64le));
    warm_up(&binary, Framing::F64le);
    let theta = random_mat(1000, 11, -3.0, 3.0);
    let (mut a, mut b) = (vec![0.0; 1000], vec![0.0; 1000]);
    json.log_likelihood_at(&[2.5, 0.75], theta.as_ref(), &mut a).expect("answers");
    binary.log_likelihood_at(&[2.5, 0.75], theta.as_ref(), &mut b).expect("answers");
    // Binary payloads carry the model's exact bits; serde_json's default float parser (without
    // its `float_roundtrip` feature) may be off by one ulp on the JSON path.
    for (r, (a, b)) in a.iter().zip(&b).enumerate() {
        assert!((a - b).abs() <= FRAMING_ULPS * f64::EPSILON * b.abs(), "row {r}: json {a}, f64le {b}");
    }
}

#[test]
fn zero_likelihood_as_null_or_minus_infinity_is_minus_inf() {
    let Some(py) = python() else { return };
    for framing in FRAMINGS {
        let model = misbehaving(py, "zero", framing, Duration::from_secs(30));
        warm_up(&model, framing);
        let theta = random_mat(8, 5, -3.0, 3.0);
        let mut out = vec![0.0; 8];
        model.log_likelihood_at(&[1.0, 1.0], theta.as_ref(), &mut out).expect("answers");
        for (r, v) in out.iter().enumerate() {
            assert_eq!(*v == f64::NEG_INFINITY, r % 4 < 2, "{framing:?} row {r}: {v}");
        }
    }
}

/// Runs `op` ("simulate" or "log_likelihood") on 4 rows and returns the error text.
fn failing_request(model: &ExternalModel, op: &str) -> Error {
    let theta = random_mat(4, 6, -3.0, 3.0);
    let result = if op == "simulate" {
        let mut x = Mat::zeros(4, 2);
        model.simulate(theta.as_ref(), &mut stream(1, Stream::Simulate, 0, 0), x.as_mut())
    } else {
        model.log_likelihood_at(&[1.0, 2.0], theta.as_ref(), &mut [0.0; 4])
    };
    result.expect_err("the model misbehaves")
}

fn assert_external(err: &Error, op: &str, request: u64, needle: &str) {
    let msg = err.to_string();
    assert!(matches!(err, Error::External { .. }), "not an External error: {msg}");
    assert!(msg.contains(&format!("{op} request {request} (rows 0..4)")), "{msg}");
    assert!(msg.contains(needle), "expected {needle:?} in: {msg}");
}

#[test]
fn misbehaviours_are_errors_naming_op_and_request() {
    let Some(py) = python() else { return };
    let timeout = Duration::from_secs(30);
    for framing in FRAMINGS {
        for (mode, needle) in [
            ("wrong-length", "expected 4"),
            ("nan", "NaN"),
            ("error", "simulator exploded"),
            ("garbage", "unreadable answer"),
            ("no-key", "neither"),
        ] {
            let model = misbehaving(py, mode, framing, timeout);
            let done = warm_up(&model, framing);
            assert_external(&failing_request(&model, "simulate"), "simulate", done + 1, needle);
            // These leave the protocol in step: the process keeps serving.
            let needle = if mode == "nan" { "log_likelihood[0] is NaN" } else { needle };
            assert_external(&failing_request(&model, "log_likelihood"), "log_likelihood", done + 2, needle);
        }
    }
}

#[test]
fn broken_binary_payloads_are_errors_and_leave_the_process_failed() {
    let Some(py) = python() else { return };
    for (mode, op, needle) in [
        ("short-payload", "log_likelihood", "cut short"),
        ("short-payload", "simulate", "cut short"),
        ("huge-payload", "log_likelihood", "more than the limit"),
        ("huge-payload", "simulate", "more than the limit"),
    ] {
        let model = misbehaving(py, mode, Framing::F64le, Duration::from_secs(30));
        let done = warm_up(&model, Framing::F64le);
        assert_external(&failing_request(&model, op), op, done + 1, needle);
        assert_external(&failing_request(&model, op), op, done + 2, "no longer usable");
    }
}

#[test]
fn process_exit_is_an_error_with_status_and_stderr_and_stays_failed() {
    let Some(py) = python() else { return };
    for framing in FRAMINGS {
        let model = misbehaving(py, "exit", framing, Duration::from_secs(30));
        let theta = random_mat(4, 7, -3.0, 3.0);
        model.log_likelihood_at(&[1.0, 2.0], theta.as_ref(), &mut [0.0; 4]).expect("first request is answered");
        let err = failing_request(&model, "log_likelihood");
        assert_external(&err, "log_likelihood", 2, "ended before answering");
        assert!(err.to_string().contains("exiting on purpose") && err.to_string().contains('3'), "{err}");
        let err = failing_request(&model, "simulate");
        assert_external(&err, "simulate", 3, "no longer usable");
    }
}

#[test]
fn hang_times_out_quickly_and_kills_the_process() {
    let Some(py) = python() else { return };
    for framing in FRAMINGS {
        let model = misbehaving(py, "hang", framing, HANG_TIMEOUT);
        let done = warm_up(&model, framing);
        let start = Instant::now();
        let err = failing_request(&model, "simulate");
        assert!(start.elapsed() < HANG_TIMEOUT + Duration::from_secs(5), "took {:?}", start.elapsed());
        assert_external(&err, "simulate", done + 1, "no answer within 1.500 s");
        assert_external(&failing_request(&model, "log_likelihood"), "log_likelihood", done + 2, "no longer usable");
        let start = Instant::now();
        drop(model);
        assert!(start.elapsed() < Duration::from_secs(2), "drop took {:?}", start.elapsed());
    }
}

#[test]
fn non_finite_inputs_are_rejected_before_sending() {
    let Some(py) = python() else { return };
    let model = square2d_external(py, Framing::F64le);
    let mut theta = random_mat(4, 8, -3.0, 3.0);
    theta.row_mut(2)[1] = f64::NAN;
    let msg = model.log_likelihood_at(&[1.0, 1.0], theta.as_ref(), &mut [0.0; 4]).unwrap_err().to_string();
    assert!(msg.contains("theta row 2") && msg.contains("NaN"), "{msg}");
    let msg = model.log_likelihood_at(&[1.0, f64::INFINITY], random_mat(4, 8, -3.0, 3.0).as_ref(), &mut [0.0; 4]);
    assert!(msg.unwrap_err().to_string().contains("x row 0"));
}

#[test]
fn missing_program_and_bad_config_are_errors() {
    let prior = Prior::uniform_box(2, -1.0, 1.0).expect("valid");
    let missing = ExternalConfig::new(vec!["/nonexistent/lwflow-model".into()], 2, 2, prior.clone());
    let msg = ExternalModel::spawn(missing, 1).err().expect("cannot start").to_string();
    assert!(msg.contains("could not start") && msg.contains("lwflow-model"), "{msg}");
    let msg =
        ExternalModel::spawn(ExternalConfig::new(vec![], 2, 2, prior.clone()), 1).err().expect("empty").to_string();
    assert!(msg.contains("command"), "{msg}");
    let msg =
        ExternalModel::spawn(ExternalConfig::new(vec!["true".into()], 3, 2, prior), 1).err().expect("dims").to_string();
    assert!(msg.contains("prior") && msg.contains("theta_dim is 3"), "{msg}");
}

#[test]
fn external_model_trains_a_tiny_flow() {
    let Some(py) = python() else { return };
    let model = square2d_external(py, Framing::F64le);
    let flow_cfg = lwflow::flow::FlowConfig {
        n_layers: 2,
        hidden: vec![16],
        ..lwflow::flow::FlowConfig::new(2, 2, lwflow::flow::BaseConfig::Gmm { components: 4 })
    };
    let train_cfg = lwflow::train::TrainConfig {
        steps: 3,
        obs_per_step: 4,
        thetas_per_step: 256,
        val_every: 2,
        val_obs: 4,
        ..Default::default()
    };
    let (_flow, meta) = lwflow::train::fit(&model, flow_cfg, train_cfg, &mut |_| {}).expect("trains");
    assert_eq!(meta.summary.expect("summary").steps_run, 3);
}

/// The Python square2d on the binary framing in `workers` copies; with `sleep_ms`, through
/// `slow_model.py`, sleeping that long per row of every request.
fn square2d_copies(python: &str, workers: usize, sleep_ms: Option<&str>) -> ExternalModel {
    let prior = Prior::uniform_box(2, Square::LOW, Square::HIGH).expect("valid");
    let command = match sleep_ms {
        None => vec![python.into(), example("square2d_model.py")],
        Some(ms) => vec![python.into(), example("slow_model.py"), "--ms".into(), ms.into()],
    };
    ExternalModel::spawn(ExternalConfig::new(command, 2, 2, prior), workers).expect("python3 starts")
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn four_workers_give_the_bits_of_one_and_share_the_requests() {
    let Some(py) = python() else { return };
    let (one, four) = (square2d_copies(py, 1, None), square2d_copies(py, 4, None));
    assert_eq!((one.workers(), four.workers()), (1, 4));
    // 5003 pairs: blocks of 1250 and 1251 rows, one per copy.
    let n_pairs = 5003;
    let theta = random_mat(n_pairs, 21, -3.0, 3.0);
    let x = random_mat(n_pairs, 22, -0.5, 9.5);
    let (mut a, mut b) = (vec![0.0; n_pairs], vec![0.0; n_pairs]);
    one.log_likelihood(x.as_ref(), theta.as_ref(), &mut a).expect("answers");
    four.log_likelihood(x.as_ref(), theta.as_ref(), &mut b).expect("answers");
    assert_eq!(bits(&a), bits(&b));
    one.log_likelihood_at(&[1.3, 0.2], theta.as_ref(), &mut a).expect("answers");
    four.log_likelihood_at(&[1.3, 0.2], theta.as_ref(), &mut b).expect("answers");
    assert_eq!(bits(&a), bits(&b));
    // 20 000 simulated rows: 79 requests of at most 256 rows, each with its own seed, whatever
    // the number of copies.
    let theta = random_mat(20_000, 23, -3.0, 3.0);
    let (mut xa, mut xb) = (Mat::zeros(20_000, 2), Mat::zeros(20_000, 2));
    one.simulate(theta.as_ref(), &mut stream(5, Stream::Simulate, 0, 0), xa.as_mut()).expect("answers");
    four.simulate(theta.as_ref(), &mut stream(5, Stream::Simulate, 0, 0), xb.as_mut()).expect("answers");
    assert_eq!(bits(xa.as_slice()), bits(xb.as_slice()));
    // Each block has its own seed: the first rows of two blocks do not share their noise.
    let noise = |x: &Mat<f64>, r: usize| x.row(r)[0] - theta.row(r)[0].powi(2);
    assert_ne!(noise(&xa, 0).to_bits(), noise(&xa, 256).to_bits());
    assert_eq!(one.requests_per_copy(), [81]);
    assert_eq!(four.requests_per_copy(), [22, 22, 22, 21]);
}

#[test]
fn slow_model_trains_the_same_flow_with_one_and_four_workers() {
    let Some(py) = python() else { return };
    let flows: Vec<_> = [1, 4]
        .into_iter()
        .map(|workers| {
            // 0.1 ms per row: the standardiser's 10 000 simulations take a second on one copy.
            let model = square2d_copies(py, workers, Some("0.1"));
            let flow_cfg = lwflow::flow::FlowConfig {
                n_layers: 2,
                hidden: vec![16],
                ..lwflow::flow::FlowConfig::new(2, 2, lwflow::flow::BaseConfig::Gmm { components: 2 })
            };
            let train_cfg = lwflow::train::TrainConfig {
                steps: 3,
                obs_per_step: 4,
                thetas_per_step: 64,
                val_every: 2,
                val_obs: 4,
                seed: 3,
                ..Default::default()
            };
            let (flow, meta) = lwflow::train::fit(&model, flow_cfg, train_cfg, &mut |_| {}).expect("trains");
            let requests = model.requests_per_copy();
            assert_eq!(requests.len(), workers);
            assert!(requests.iter().all(|&n| n > 0), "{workers} workers: requests {requests:?}");
            let summary = meta.summary.expect("summary");
            (flow.params().iter().map(|p| p.to_bits()).collect::<Vec<_>>(), summary.steps_run, summary.likelihood_evals)
        })
        .collect();
    assert_eq!(flows[0], flows[1]);
}

/// A misbehaving model in `workers` copies (JSON lines).
fn misbehaving_copies(python: &str, mode: &str, workers: usize) -> ExternalModel {
    let prior = Prior::uniform_box(2, -3.0, 3.0).expect("valid");
    let command = vec![python.into(), example("misbehaving_model.py"), mode.into()];
    ExternalModel::spawn(ExternalConfig::new(command, 2, 2, prior), workers).expect("python3 starts")
}

#[test]
fn a_failing_copy_is_named_with_its_rows_request_and_stderr() {
    let Some(py) = python() else { return };
    // Both copies answer their first block, then exit: the error is the first copy's (rows 0..2 of 4).
    let model = misbehaving_copies(py, "exit", 2);
    let theta = random_mat(4, 7, -3.0, 3.0);
    model.log_likelihood_at(&[1.0, 2.0], theta.as_ref(), &mut [0.0; 4]).expect("first requests are answered");
    let msg = failing_request(&model, "log_likelihood").to_string();
    assert!(msg.contains("log_likelihood request 2 (rows 0..2): copy 1 of 2: the model process ended"), "{msg}");
    assert!(msg.contains("exiting on purpose") && msg.contains('3'), "{msg}");
    let msg = failing_request(&model, "simulate").to_string();
    assert!(
        msg.contains("simulate request 3 (rows 0..4): copy 1 of 2: the model process is no longer usable"),
        "{msg}"
    );
    // An error answer leaves the copies usable; rows are the call's rows, not the block's.
    let model = misbehaving_copies(py, "nan", 3);
    let msg = failing_request(&model, "log_likelihood").to_string();
    assert!(msg.contains("request 1 (rows 0..1): copy 1 of 3: log_likelihood[0] is NaN"), "{msg}");
    let msg = failing_request(&model, "log_likelihood").to_string();
    assert!(msg.contains("request 2 (rows 0..1): copy 1 of 3: log_likelihood[0] is NaN"), "{msg}");
    assert_eq!(model.requests_per_copy(), [2, 2, 2]);
}

#[test]
fn zero_workers_and_too_many_are_errors_naming_the_key() {
    let prior = Prior::uniform_box(2, -1.0, 1.0).expect("valid");
    let config = ExternalConfig::new(vec!["true".into()], 2, 2, prior);
    let msg = ExternalModel::spawn(config.clone(), 0).err().expect("no copies").to_string();
    assert!(msg.contains("model.workers") && msg.contains("at least 1"), "{msg}");
    let too_many = lwflow::limits::MAX_EXTERNAL_WORKERS + 1;
    let msg = ExternalModel::spawn(config, too_many).err().expect("too many").to_string();
    assert!(msg.contains("model.workers") && msg.contains(&too_many.to_string()), "{msg}");
}

/// State letter of a process from /proc (None once it is gone); Z is a zombie awaiting its reaper.
#[cfg(target_os = "linux")]
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
}

#[cfg(target_os = "linux")]
#[test]
fn every_copy_started_through_a_shell_leaves_no_orphan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("pids");
    let script = format!("sleep 300 & echo $! >> {}; wait", pid_file.display());
    let mut config =
        ExternalConfig::new(vec!["sh".into(), "-c".into(), script], 2, 2, Prior::uniform_box(2, -3.0, 3.0).unwrap());
    config.timeout = Duration::from_millis(500);
    let model = ExternalModel::spawn(config, 3).expect("sh starts");
    let theta = random_mat(3, 1, -3.0, 3.0);
    let msg = model.log_likelihood_at(&[1.0, 1.0], theta.as_ref(), &mut [0.0; 3]).unwrap_err().to_string();
    assert!(msg.contains("copy 1 of 3: no answer within"), "{msg}");
    let start = Instant::now();
    drop(model);
    assert!(start.elapsed() < Duration::from_secs(2), "drop took {:?}", start.elapsed());
    let pids: Vec<u32> = std::fs::read_to_string(&pid_file)
        .expect("pids written")
        .lines()
        .map(|l| l.trim().parse().expect("a pid"))
        .collect();
    assert_eq!(pids.len(), 3);
    for pid in pids {
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(process_state(pid), Some(s) if s != 'Z') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let state = process_state(pid);
        assert!(matches!(state, None | Some('Z')), "a copy's child {pid} is still running ({state:?})");
    }
}
