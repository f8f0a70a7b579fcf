//! Protocol overhead of [`ExternalModel`]: milliseconds per 10⁵ (x, θ) pairs of one
//! `log_likelihood_at` request, for
//! - `canned`: a process that answers every request with a precomputed line (so the time is our
//!   JSON encode + pipe + decode, plus Python reading one line);
//! - `python square2d`: the example model doing the arithmetic in Python (numpy if installed);
//! - `built-in square2d`: the same likelihood in Rust, no process (the baseline).
//!
//! `cargo bench -p lwflow --bench external` (REPS env var, default 10).

use std::path::PathBuf;
use std::time::Instant;

use lwflow::model::{ExternalConfig, ExternalModel, Model};
use lwflow::rng::{stream, Stream};
use lwflow::tasks::Square;
use lwflow::{Mat, Prior};
use rand::Rng as _;

const N_PAIRS: usize = 100_000;

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
    f(); // warm-up
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
    let reps = std::env::var("REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let mut rng = stream(1, Stream::Metric, 0, 0);
    let theta = Mat::from_fn(N_PAIRS, 2, |_, _| rng.gen_range(-3.0..3.0));
    let x = [1.3, 0.4];
    let mut out = vec![0.0; N_PAIRS];
    let prior = Prior::uniform_box(2, -3.0, 3.0).expect("valid");
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "examples", "square2d_model.py"].iter().collect();
    let spawn = |command: Vec<String>| {
        ExternalModel::spawn(ExternalConfig::new(command, 2, 2, prior.clone())).expect("python3 starts")
    };
    let canned = spawn(vec!["python3".into(), "-c".into(), CANNED.into(), N_PAIRS.to_string()]);
    let python = spawn(vec!["python3".into(), script.to_str().expect("utf-8").into()]);
    let builtin = Square::new(2, Square::DEFAULT_NOISE).expect("valid");
    println!("{:<20} {:>14}", "model", "ms / 1e5 pairs");
    for (name, model) in
        [("canned", &canned as &dyn Model), ("python square2d", &python), ("built-in square2d", &builtin)]
    {
        let ms = median_ms(reps, || model.log_likelihood_at(&x, theta.as_ref(), &mut out).expect("answers"));
        println!("{name:<20} {ms:>14.2}");
    }
    // Our side alone: encoding the request and decoding an answer, no process.
    // A request of the same shape, serialised as `ExternalModel` does (serde_json, ryu floats).
    #[derive(serde::Serialize)]
    struct Request<'a> {
        op: &'static str,
        x: &'a [[f64; 2]],
        theta: &'a [[f64; 2]],
    }
    let (x_rows, theta_rows) =
        (vec![x; N_PAIRS], (0..N_PAIRS).map(|r| [theta.row(r)[0], theta.row(r)[1]]).collect::<Vec<_>>());
    let mut buf = Vec::new();
    let request_ms = median_ms(reps, || {
        buf.clear();
        let request = Request { op: "log_likelihood", x: &x_rows, theta: &theta_rows };
        serde_json::to_writer(&mut buf, &request).expect("serialises");
    });
    let request_mb = buf.len() as f64 / 1e6;
    let answer: String = format!(
        "[{}]",
        (0..N_PAIRS).map(|i| format!("{:?}", -1.2345678901234567 - i as f64 * 1e-7)).collect::<Vec<_>>().join(", ")
    );
    let decode_ms = median_ms(reps, || {
        std::hint::black_box(serde_json::from_str::<Vec<f64>>(&answer).expect("parses"));
    });
    println!("{:<20} {request_ms:>14.2}   ({request_mb:.1} MB)", "encode request");
    println!("{:<20} {decode_ms:>14.2}", "decode answer");
}
