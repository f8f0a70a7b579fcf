//! A model implemented by another program, spoken to over its stdin/stdout, one JSON object per line.
//!
//! Requests (one line each) and answers (one line each):
//! ```text
//! {"op": "simulate", "theta": [[θ..], ..], "seed": 123}      → {"x": [[x..], ..]}           one x per θ row
//! {"op": "log_likelihood", "x": [[..], ..], "theta": [[..], ..]} → {"log_likelihood": [..]}  pairwise, row by row
//! any request                                                  → {"error": "message"}       the model's own failure
//! ```
//! A zero likelihood is written `null` or `-Infinity` (what Python's `json` writes for `-inf`). The
//! bare literals `-Infinity`, `Infinity` and `NaN` are not JSON, so a tolerant pre-pass quotes them
//! (outside strings) before parsing; `NaN` and `+Infinity` are then errors naming the row.
//!
//! The process is started once and serves every request; requests are serialised by a mutex (the
//! trainer's threads share the model). Each answer must arrive within the timeout: a reader thread
//! feeds answer lines into a channel read with `recv_timeout`, and a writer thread sends requests,
//! so a child that neither reads nor answers cannot block the caller. After a crash, a timeout or
//! an unreadable answer the process is killed and every later request fails; an `{"error": ..}`
//! answer or an answer of the wrong length leaves it usable. Dropping the model closes the
//! child's stdin (its signal to exit), waits briefly, then kills it. Nothing is cached.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng as _;
use serde::de::{self, Deserializer, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mat::{MatMut, MatRef};
use crate::model::{Model, Prior};
use crate::rng::Rng;

/// How an [`ExternalModel`] is started and what it computes.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalConfig {
    /// Program and arguments, e.g. `["python3", "my_model.py"]`.
    pub command: Vec<String>,
    pub theta_dim: usize,
    pub x_dim: usize,
    /// The prior π(θ) (from the configuration, never asked of the process); `theta_dim` marginals.
    pub prior: Prior,
    /// Longest wait for one answer; past it the process is killed and the request fails.
    pub timeout: Duration,
}

impl ExternalConfig {
    /// Default answer timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// A configuration with the default timeout.
    pub fn new(command: Vec<String>, theta_dim: usize, x_dim: usize, prior: Prior) -> Self {
        Self { command, theta_dim, x_dim, prior, timeout: Self::DEFAULT_TIMEOUT }
    }
}

/// Lines of the child's stderr kept for error messages.
const STDERR_TAIL_LINES: usize = 20;
/// How long `Drop` waits for the child to exit after closing its stdin before killing it.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// A [`Model`] served by an external process; see the module docs for the protocol.
pub struct ExternalModel {
    config: ExternalConfig,
    process: Mutex<Process>,
}

/// The running child and the threads around it.
struct Process {
    child: Child,
    /// Request lines to the writer thread; `None` once closed (the child sees EOF on stdin).
    requests: Option<Sender<Vec<u8>>>,
    /// Answer lines from the reader thread; disconnected at the child's EOF.
    answers: Receiver<std::io::Result<String>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// Requests sent so far; the current one's number names it in errors (1-based).
    n_requests: u64,
    /// Why the process is unusable, after a crash, timeout or protocol error.
    broken: Option<String>,
    /// Reused request buffer.
    buf: Vec<u8>,
}

impl ExternalModel {
    /// Validates `config` and starts the process.
    pub fn spawn(config: ExternalConfig) -> Result<Self> {
        let Some((program, args)) = config.command.split_first() else {
            return Err(Error::invalid("external model command", "is empty; expected a program and its arguments"));
        };
        if config.theta_dim == 0 || config.x_dim == 0 {
            return Err(Error::invalid(
                "external model dimensions",
                format!("theta_dim {} and x_dim {} must both be at least 1", config.theta_dim, config.x_dim),
            ));
        }
        if config.prior.dim() != config.theta_dim {
            return Err(Error::invalid(
                "external model prior",
                format!("has {} dimensions; theta_dim is {}", config.prior.dim(), config.theta_dim),
            ));
        }
        if config.timeout.is_zero() {
            return Err(Error::invalid("external model timeout", "must be positive"));
        }
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Model(format!("could not start external model {:?}: {e}", config.command)))?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (request_tx, request_rx) = mpsc::channel::<Vec<u8>>();
        let (answer_tx, answer_rx) = mpsc::channel();
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        thread::spawn(move || write_requests(stdin, request_rx));
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if answer_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let tail = Arc::clone(&stderr_tail);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(std::result::Result::ok) {
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == STDERR_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let process = Process {
            child,
            requests: Some(request_tx),
            answers: answer_rx,
            stderr_tail,
            n_requests: 0,
            broken: None,
            buf: Vec::new(),
        };
        Ok(Self { config, process: Mutex::new(process) })
    }

    pub fn config(&self) -> &ExternalConfig {
        &self.config
    }

    fn check_cols(&self, what: &'static str, expected: usize, got: usize) -> Result<()> {
        if got == expected {
            Ok(())
        } else {
            Err(Error::Shape { what, expected, got })
        }
    }

    /// Sends one `log_likelihood` request for the pairs (x_r, θ_r), x_r = `x.row(r)` or, with
    /// `Rows::Repeat`, the same x for every θ row.
    fn request_log_likelihood(&self, x: Rows<'_>, theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        let n_rows = theta.rows();
        if out.len() != n_rows || x.len() != n_rows {
            return Err(Error::invalid(
                "external log_likelihood rows",
                format!("x has {}, theta {}, out {}; need all equal", x.len(), n_rows, out.len()),
            ));
        }
        if n_rows == 0 {
            return Ok(());
        }
        check_finite("external log_likelihood theta", Rows::Mat(theta))?;
        check_finite("external log_likelihood x", x)?;
        let request = LogLikelihoodRequest { op: "log_likelihood", x, theta: Rows::Mat(theta) };
        let mut process = self.process.lock().unwrap_or_else(|e| e.into_inner());
        let (line, request_no) = process.exchange("log_likelihood", n_rows, &request, self.config.timeout)?;
        let fail =
            |reason: String| Error::External { op: "log_likelihood", request: request_no, rows: 0..n_rows, reason };
        let answer: LogLikelihoodAnswer = parse_answer(&line).map_err(fail)?;
        if let Some(message) = answer.error {
            return Err(fail(format!("the model answered with an error: {message}")));
        }
        let values = answer.log_likelihood.ok_or_else(|| fail(missing_key("log_likelihood", &line)))?;
        if values.len() != n_rows {
            return Err(fail(format!("expected {n_rows} log-likelihoods, got {}", values.len())));
        }
        for (r, (o, v)) in out.iter_mut().zip(values).enumerate() {
            if v.0.is_nan() || v.0 == f64::INFINITY {
                return Err(fail(format!(
                    "log_likelihood[{r}] is {}; write a zero likelihood as null or -Infinity",
                    v.0
                )));
            }
            *o = v.0;
        }
        Ok(())
    }
}

impl Process {
    /// Sends `request` as one line and waits for one answer line. Errors here (not running,
    /// EOF, timeout) leave the process broken, killed, and name the request.
    fn exchange(
        &mut self,
        op: &'static str,
        n_rows: usize,
        request: &impl Serialize,
        timeout: Duration,
    ) -> Result<(String, u64)> {
        self.n_requests += 1;
        let request_no = self.n_requests;
        let fail = |reason: String| Error::External { op, request: request_no, rows: 0..n_rows, reason };
        if let Some(why) = &self.broken {
            return Err(fail(format!("the model process is no longer usable: {why}")));
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        serde_json::to_writer(&mut buf, request).expect("requests of finite numbers serialise");
        buf.push(b'\n');
        let sent = self.requests.as_ref().is_some_and(|tx| tx.send(buf).is_ok());
        let outcome = if sent {
            match self.answers.recv_timeout(timeout) {
                Ok(Ok(line)) => Ok(line),
                Ok(Err(e)) => Err(format!("could not read the answer: {e}")),
                Err(RecvTimeoutError::Timeout) => Err(format!("no answer within {:.3} s", timeout.as_secs_f64())),
                Err(RecvTimeoutError::Disconnected) => Err(self.exit_reason()),
            }
        } else {
            Err(self.exit_reason())
        };
        outcome.map(|line| (line, request_no)).map_err(|reason| {
            self.kill();
            self.broken = Some(reason.clone());
            fail(reason)
        })
    }

    /// "the model process exited (status …)" plus the tail of its stderr.
    fn exit_reason(&mut self) -> String {
        // The reader saw EOF: the child is exiting; give it a moment to be reaped.
        let deadline = Instant::now() + EXIT_GRACE;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.to_string(),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Ok(None) => break "still running, closed its stdout".to_string(),
                Err(e) => break format!("status unknown: {e}"),
            }
        };
        // Let the stderr reader catch up with the child's last words.
        thread::sleep(Duration::from_millis(20));
        let tail = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        let stderr = if tail.is_empty() {
            String::new()
        } else {
            format!("; its stderr ends with:\n{}", tail.iter().cloned().collect::<Vec<_>>().join("\n"))
        };
        format!("the model process ended before answering ({status}){stderr}")
    }

    fn kill(&mut self) {
        self.requests = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Closing stdin is the child's signal to exit.
        self.requests = None;
        let deadline = Instant::now() + EXIT_GRACE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => thread::sleep(Duration::from_millis(5)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The writer thread: one request per message; ends when the channel closes or the pipe breaks,
/// dropping (closing) the child's stdin.
fn write_requests(mut stdin: ChildStdin, requests: Receiver<Vec<u8>>) {
    for line in requests {
        if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
            break;
        }
    }
}

impl Model for ExternalModel {
    /// `external(<command>)`.
    fn name(&self) -> String {
        format!("external({})", self.config.command.join(" "))
    }

    fn theta_dim(&self) -> usize {
        self.config.theta_dim
    }

    fn x_dim(&self) -> usize {
        self.config.x_dim
    }

    fn prior(&self) -> &Prior {
        &self.config.prior
    }

    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        self.check_cols("external log_likelihood x", self.config.x_dim, x.cols())?;
        self.check_cols("external log_likelihood theta", self.config.theta_dim, theta.cols())?;
        self.request_log_likelihood(Rows::Mat(x), theta, out)
    }

    /// One request for the whole θ block, x repeated on every row (without copying it here).
    fn log_likelihood_at(&self, x: &[f64], theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        self.check_cols("external log_likelihood x", self.config.x_dim, x.len())?;
        self.check_cols("external log_likelihood theta", self.config.theta_dim, theta.cols())?;
        self.request_log_likelihood(Rows::Repeat { row: x, n_rows: theta.rows() }, theta, out)
    }

    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, mut x: MatMut<f64>) -> Result<()> {
        self.check_cols("external simulate theta", self.config.theta_dim, theta.cols())?;
        self.check_cols("external simulate x", self.config.x_dim, x.cols())?;
        let n_rows = theta.rows();
        if x.rows() != n_rows {
            return Err(Error::invalid(
                "external simulate rows",
                format!("theta has {n_rows}, x {}; need equal", x.rows()),
            ));
        }
        if n_rows == 0 {
            return Ok(());
        }
        check_finite("external simulate theta", Rows::Mat(theta))?;
        let request = SimulateRequest { op: "simulate", theta: Rows::Mat(theta), seed: rng.gen() };
        let mut process = self.process.lock().unwrap_or_else(|e| e.into_inner());
        let (line, request_no) = process.exchange("simulate", n_rows, &request, self.config.timeout)?;
        let fail = |reason: String| Error::External { op: "simulate", request: request_no, rows: 0..n_rows, reason };
        let answer: SimulateAnswer = parse_answer(&line).map_err(fail)?;
        if let Some(message) = answer.error {
            return Err(fail(format!("the model answered with an error: {message}")));
        }
        let rows = answer.x.ok_or_else(|| fail(missing_key("x", &line)))?;
        if rows.len() != n_rows {
            return Err(fail(format!("expected {n_rows} rows of x, got {}", rows.len())));
        }
        for (r, row) in rows.iter().enumerate() {
            if row.len() != self.config.x_dim {
                return Err(fail(format!(
                    "x row {r} has {} values, expected x_dim = {}",
                    row.len(),
                    self.config.x_dim
                )));
            }
            for (c, (dst, v)) in x.row_mut(r).iter_mut().zip(row).enumerate() {
                if !v.0.is_finite() {
                    return Err(fail(format!("x[{r}][{c}] is {}; simulations must be finite", v.0)));
                }
                *dst = v.0;
            }
        }
        Ok(())
    }
}

/// JSON has no non-finite numbers (serde_json would write `null`): reject them before sending.
fn check_finite(what: &str, rows: Rows<'_>) -> Result<()> {
    let bad = |r: usize, row: &[f64]| row.iter().find(|v| !v.is_finite()).map(|v| (r, *v));
    let found = match rows {
        Rows::Mat(m) => (0..m.rows()).find_map(|r| bad(r, m.row(r))),
        Rows::Repeat { row, .. } => bad(0, row),
    };
    match found {
        Some((r, v)) => {
            Err(Error::invalid(format!("{what} row {r}"), format!("{v} is not finite; JSON cannot carry it")))
        }
        None => Ok(()),
    }
}

// ---- wire format -------------------------------------------------------------------------------

/// Rows of a request: a matrix, or one row repeated.
#[derive(Clone, Copy)]
enum Rows<'a> {
    Mat(MatRef<'a, f64>),
    Repeat { row: &'a [f64], n_rows: usize },
}

impl Rows<'_> {
    fn len(&self) -> usize {
        match self {
            Rows::Mat(m) => m.rows(),
            Rows::Repeat { n_rows, .. } => *n_rows,
        }
    }
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        match *self {
            Rows::Mat(m) => (0..m.rows()).try_for_each(|r| seq.serialize_element(m.row(r)))?,
            Rows::Repeat { row, n_rows } => (0..n_rows).try_for_each(|_| seq.serialize_element(row))?,
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct SimulateRequest<'a> {
    op: &'static str,
    theta: Rows<'a>,
    seed: u64,
}

#[derive(Serialize)]
struct LogLikelihoodRequest<'a> {
    op: &'static str,
    x: Rows<'a>,
    theta: Rows<'a>,
}

#[derive(Deserialize)]
struct SimulateAnswer {
    x: Option<Vec<Vec<Number>>>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct LogLikelihoodAnswer {
    log_likelihood: Option<Vec<Number>>,
    error: Option<String>,
}

/// A number as models write it: a JSON number; `null` (−∞, a zero likelihood); or, after the
/// pre-pass, the quoted literals "-Infinity", "Infinity", "NaN". Other strings are errors.
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, null, -Infinity, Infinity or NaN")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Number, E> {
                Ok(Number(f64::NEG_INFINITY))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Number, E> {
                match v {
                    "-Infinity" => Ok(Number(f64::NEG_INFINITY)),
                    "Infinity" => Ok(Number(f64::INFINITY)),
                    "NaN" => Ok(Number(f64::NAN)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses one answer line, after quoting the non-JSON literals Python writes.
fn parse_answer<T: serde::de::DeserializeOwned>(line: &str) -> std::result::Result<T, String> {
    let quoted = quote_non_finite(line);
    serde_json::from_str(&quoted).map_err(|e| format!("unreadable answer ({e}): {}", preview(line)))
}

/// `-Infinity`, `Infinity` and `NaN` outside JSON strings become `"-Infinity"`, `"Infinity"` and
/// `"NaN"`; everything else is copied. Borrows when there is nothing to quote (the common case).
fn quote_non_finite(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains("Infinity") && !line.contains("NaN") {
        return std::borrow::Cow::Borrowed(line);
    }
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len() + 16);
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let literal = ["-Infinity", "Infinity", "NaN"].into_iter().find(|lit| bytes[i..].starts_with(lit.as_bytes()));
        match literal {
            Some(lit) => {
                out.push_str(&line[copied..i]);
                out.push('"');
                out.push_str(lit);
                out.push('"');
                i += lit.len();
                copied = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&line[copied..]);
    std::borrow::Cow::Owned(out)
}

fn missing_key(key: &str, line: &str) -> String {
    format!("the answer has neither {key:?} nor \"error\": {}", preview(line))
}

/// The start of a long line, for error messages.
fn preview(line: &str) -> String {
    const MAX_CHARS: usize = 200;
    match line.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes)", &line[..cut], line.len()),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_literals_are_quoted_outside_strings_only() {
        let line = r#"{"log_likelihood": [-Infinity, 1.5, NaN, Infinity, null], "note": "NaN -Infinity \" NaN"}"#;
        let want = r#"{"log_likelihood": ["-Infinity", 1.5, "NaN", "Infinity", null], "note": "NaN -Infinity \" NaN"}"#;
        assert_eq!(quote_non_finite(line), want);
        let answer: LogLikelihoodAnswer = parse_answer(line).expect("parses");
        let v: Vec<f64> = answer.log_likelihood.expect("present").into_iter().map(|n| n.0).collect();
        assert_eq!(v[0], f64::NEG_INFINITY);
        assert_eq!(v[1], 1.5);
        assert!(v[2].is_nan());
        assert_eq!((v[3], v[4]), (f64::INFINITY, f64::NEG_INFINITY));
        assert!(matches!(quote_non_finite("[1, 2]"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn strings_other_than_the_literals_are_rejected() {
        let err = parse_answer::<LogLikelihoodAnswer>(r#"{"log_likelihood": [1, "abc"]}"#).err().expect("fails");
        assert!(err.contains("abc") && err.contains("unreadable answer"), "{err}");
    }
}
