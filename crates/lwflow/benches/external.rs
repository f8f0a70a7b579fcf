//! Protocol overhead of [`ExternalModel`] on the workload of one training step: the likelihood
//! matrix of J = 64 observations × N = 8192 θ (524 288 pairs, 64 `log_likelihood_at` requests
//! of 8192 rows, as `log_likelihood_matrix` sends them), for
//! - `canned json`: a process that answers every request with a precomputed JSON line (so the
//!   time is our JSON encode + pipe + decode, plus Python reading one line);
//! - `python square2d json`: the example model (numpy if installed) declining the binary framing;
//! - `python square2d f64le`: the same model on the binary framing;
//! - `built-in square2d`: the same likelihood in Rust, no process (the baseline).
//!
//! Then lwflow's own side of JSON alone (encode one request, decode one answer, no process).
//! `benches/external_breakdown.py` times the Python side of one request the same way.
//! `cargo bench -p lwflow --bench external` (REPS env var, default 5).

use std::path::PathBuf;
use std::time::Instant;

use lwflow::model::{log_likelihood_matrix, ExternalConfig, ExternalModel, Model};
use lwflow::rng::{stream, Stream};
use lwflow::tasks::Square;
use lwflow::{Mat, Prior};
use rand::Rng as _;

/// Observations per training step (J).
const N_OBS: usize = 64;
/// Proposal θ per training step (N): rows of each request.
const N_THETA: usize = 8192;

/// Answers every request line with the same `{"log_likelihood": [...]}` of `argv[1]` values.
const CANNED: &str = r#"
import sys
n = int(sys.argv[1])
answer = '{"log_likelihood": [' + ', '.join(repr(-1.2345678901234567 - i * 1e-7) for i in range(n)) + ']}\n'
for line in sys.stdin:
    sys.stdout.write(answer)
    sys.stdout.flush()
"#;

/// Median milliseconds of `reps` calls.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up (and, for external models, the first request that settles the framing)
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[reps / 2]
}

fn main() {
    let reps = std::env::var("REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let mut rng = stream(1, Stream::Metric, 0, 0);
    let theta = Mat::from_fn(N_THETA, 2, |_, _| rng.gen_range(-3.0..3.0));
    let x = Mat::from_fn(N_OBS, 2, |_, _| rng.gen_range(0.0..9.0));
    let mut out = Mat::zeros(N_OBS, N_THETA);
    let prior = Prior::uniform_box(2, -3.0, 3.0).expect("valid");
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "examples", "square2d_model.py"].iter().collect();
    let script = script.to_str().expect("utf-8").to_string();
    let spawn = |command: Vec<String>| {
        ExternalModel::spawn(ExternalConfig::new(command, 2, 2, prior.clone()), 1).expect("python3 starts")
    };
    let canned = spawn(vec!["python3".into(), "-c".into(), CANNED.into(), N_THETA.to_string()]);
    let json = spawn(vec!["python3".into(), script.clone(), "--json".into()]);
    let binary = spawn(vec!["python3".into(), script]);
    let builtin = Square::new(2, Square::DEFAULT_NOISE).expect("valid");
    println!("one training step's likelihoods: {N_OBS} requests × {N_THETA} pairs, median of {reps}");
    println!("{:<24} {:>10} {:>14}", "model", "ms / step", "µs / 1e3 pairs");
    for (name, model) in [
        ("canned json", &canned as &dyn Model),
        ("python square2d json", &json),
        ("python square2d f64le", &binary),
        ("built-in square2d", &builtin),
    ] {
        let ms =
            median_ms(reps, || log_likelihood_matrix(model, x.as_ref(), theta.as_ref(), &mut out).expect("answers"));
        println!("{name:<24} {ms:>10.1} {:>14.1}", ms * 1e6 / (N_OBS * N_THETA) as f64);
    }
    // Our side alone, per request of N_THETA rows: encoding the request and decoding an answer.
    // A request of the same shape, serialised as `ExternalModel` does (serde_json, ryu floats).
    #[derive(serde::Serialize)]
    struct Request<'a> {
        op: &'static str,
        x: &'a [[f64; 2]],
        theta: &'a [[f64; 2]],
    }
    let x_rows = vec![[x.row(0)[0], x.row(0)[1]]; N_THETA];
    let theta_rows: Vec<[f64; 2]> = (0..N_THETA).map(|r| [theta.row(r)[0], theta.row(r)[1]]).collect();
    let mut buf = Vec::new();
    let request_ms = median_ms(reps, || {
        buf.clear();
        let request = Request { op: "log_likelihood", x: &x_rows, theta: &theta_rows };
        serde_json::to_writer(&mut buf, &request).expect("serialises");
    });
    let request_kb = buf.len() as f64 / 1e3;
    let answer: String = format!(
        "[{}]",
        (0..N_THETA).map(|i| format!("{:?}", -1.2345678901234567 - i as f64 * 1e-7)).collect::<Vec<_>>().join(", ")
    );
    let decode_ms = median_ms(reps, || {
        std::hint::black_box(serde_json::from_str::<Vec<f64>>(&answer).expect("parses"));
    });
    println!("lwflow's side of JSON, one request of {N_THETA} rows:");
    println!("{:<24} {request_ms:>10.2} ms ({request_kb:.0} kB)", "encode request");
    println!("{:<24} {decode_ms:>10.2} ms", "decode answer");
}
