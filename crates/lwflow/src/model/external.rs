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
//! **Binary framing (optional).** The first request also carries `"formats": ["json", "f64le"]`.
//! A model that answers it with `"format": "f64le"` among its keys gets every later request with
//! its matrices as payload descriptors, `{"f64le": [rows, cols]}`, each followed after the line
//! by rows·cols little-endian f64 (row-major; x before θ):
//! ```text
//! {"op": "log_likelihood", "x": {"f64le": [n, dx]}, "theta": {"f64le": [n, dθ]}}\n<8·n·dx bytes><8·n·dθ bytes>
//! {"op": "simulate", "theta": {"f64le": [n, dθ]}, "seed": 123}\n<8·n·dθ bytes>
//! ```
//! and may answer the same way, `{"log_likelihood": {"f64le": n}}\n<8·n bytes>` or
//! `{"x": {"f64le": [n, dx]}}\n<8·n·dx bytes>` (−∞ is a zero likelihood, NaN an error), or
//! with any JSON answer above. A model that ignores the offer keeps speaking JSON lines. With a
//! numpy model the binary framing makes a training step's 524 288 pairs ~70× cheaper than JSON
//! (`benches/external.rs`, README).
//!
//! **Request ids.** Every request carries `"id": n` (1, 2, … per process). A model should echo it
//! in its answer (`{"id": n, "x": ..}`); an answer whose id differs from the request's means the
//! model answered some request twice or skipped one, and every later answer would be shifted, so
//! the process is killed and the request fails. An answer without `id` is accepted (models written
//! before ids existed), but once a model has echoed an id, every later answer must carry one.
//!
//! The process is started once and serves every request; requests are serialised by a mutex (the
//! trainer's threads share the model). With `workers` = N > 1, N copies of the program run, and
//! each call's rows are cut into contiguous blocks, one request per block, sent to the copies
//! concurrently and written back at their rows ([`blocks`] says how, and why the results are
//! the same bits as with one copy); a copy's failure is reported as one process's, naming the
//! copy. Each answer must arrive within the timeout: a reader thread
//! feeds answers (line and payload) into a channel read with `recv_timeout`, and a writer thread
//! sends requests, so a child that neither reads nor answers cannot block the caller. After a
//! crash, a timeout, an unreadable answer or a cut-short payload the process is killed and every
//! later request fails; an `{"error": ..}` answer or an answer of the wrong length leaves it
//! usable. Dropping the model closes the child's stdin (its signal to exit), waits briefly, then
//! kills it. On Unix the child is started in its own process group and the whole group is killed,
//! so a model started through a shell (`sh -c "python3 m.py"`) leaves no orphan; the groups of all
//! running models are killed by [`kill_external_processes`] (the CLI calls it on SIGINT/SIGTERM).
//! Its stderr is kept as a bounded tail ([`crate::limits::MAX_STDERR_TAIL`] bytes, lines ended by
//! `\n` or `\r`), so a model printing progress bars forever cannot exhaust memory. Nothing is cached.

mod blocks;
mod wire;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng as _;

use self::wire::{
    f64le_values, missing_key, parse_answer, payload_len, Answer, Format, FormatChoice, LogLikelihoodAnswer, Payload,
    Request, Rows, SimulateAnswer,
};
use crate::error::{Error, Result};
use crate::mat::{MatMut, MatRef};
use crate::model::{Model, Prior};
use crate::rng::Rng;

/// How an [`ExternalModel`] is started and what it computes.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalConfig {
    /// Program and arguments, e.g. `["python3", "my_model.py"]`.
    pub command: Vec<String>,
    /// Columns of every θ matrix sent to the process (and of the prior).
    pub theta_dim: usize,
    /// Columns of every x matrix sent to or received from the process.
    pub x_dim: usize,
    /// The prior π(θ) (from the configuration, never asked of the process); `theta_dim` marginals.
    pub prior: Prior,
    /// Longest wait for one answer; past it the process is killed and the request fails.
    pub timeout: Duration,
    /// The directory the process runs in, against which a relative program path (one with a
    /// directory part, `./model`, `bin/model`) is also taken: a config file's directory, so
    /// that `command = ["python3", "model.py"]` means the model.py beside it. `None`: the
    /// caller's working directory, and the program as `Command` finds it.
    pub dir: Option<PathBuf>,
}

impl ExternalConfig {
    /// Default answer timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    /// Shortest answer timeout: below a millisecond no process can answer.
    pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

    /// The timeout of `seconds` (key `timeout_seconds`), between [`Self::MIN_TIMEOUT`] and
    /// [`crate::limits::MAX_TIMEOUT_SECONDS`]; errors name the key and the range.
    pub fn timeout_from_secs(seconds: f64) -> Result<Duration> {
        let (min, max) = (Self::MIN_TIMEOUT.as_secs_f64(), crate::limits::MAX_TIMEOUT_SECONDS);
        if !(min..=max).contains(&seconds) {
            return Err(Error::invalid(
                "external model timeout_seconds",
                format!("{seconds} is outside [{min}, {max}] seconds (1 ms to a week)"),
            ));
        }
        Ok(Duration::from_secs_f64(seconds))
    }

    /// A configuration with the default timeout.
    pub fn new(command: Vec<String>, theta_dim: usize, x_dim: usize, prior: Prior) -> Self {
        Self { command, theta_dim, x_dim, prior, timeout: Self::DEFAULT_TIMEOUT, dir: None }
    }
}

/// What a model file records to start an external model again
/// ([`crate::train::FlowMeta::external`]): the program and arguments as a list (never split
/// again), the absolute directory the process ran in (a config file's directory, or the working
/// directory of the run), the answer timeout and the number of copies. With the file's θ and x
/// dimensions and prior it gives back the [`ExternalConfig`] the model was trained with.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExternalRecord {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Absolute directory the process runs in (and relative program paths are taken from).
    pub dir: PathBuf,
    /// Longest wait for one answer, in seconds.
    pub timeout_seconds: f64,
    /// Copies of the process (`[model] workers`).
    pub workers: usize,
}

impl ExternalRecord {
    /// The record of `config` run as `workers` copies. A relative or absent directory is made
    /// absolute against the current working directory, where the process runs now.
    pub fn of(config: &ExternalConfig, workers: usize) -> Result<Self> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::invalid("external model directory", format!("the working directory: {e}")))?;
        let dir = match &config.dir {
            Some(dir) if dir.is_absolute() => dir.clone(),
            Some(dir) => cwd.join(dir),
            None => cwd,
        };
        Ok(Self { command: config.command.clone(), dir, timeout_seconds: config.timeout.as_secs_f64(), workers })
    }

    /// The configuration to start the model again with θ ∈ ℝ^theta_dim, x ∈ ℝ^x_dim and `prior`
    /// (a model file's); errors name the timeout if it is out of range.
    pub fn config(&self, theta_dim: usize, x_dim: usize, prior: Prior) -> Result<ExternalConfig> {
        Ok(ExternalConfig {
            command: self.command.clone(),
            theta_dim,
            x_dim,
            prior,
            timeout: ExternalConfig::timeout_from_secs(self.timeout_seconds)?,
            dir: Some(self.dir.clone()),
        })
    }
}

/// Lines of the child's stderr kept for error messages.
const STDERR_TAIL_LINES: usize = 20;
/// Bytes of one stderr line kept (the rest of the line is dropped); 20 of them stay within
/// [`crate::limits::MAX_STDERR_TAIL`].
const STDERR_LINE_BYTES: usize = crate::limits::MAX_STDERR_TAIL / STDERR_TAIL_LINES;
/// How long `Drop` waits for the child to exit after closing its stdin before killing it.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// A [`Model`] served by one or more copies of an external process; see the module docs for the
/// protocol.
pub struct ExternalModel {
    config: ExternalConfig,
    /// The running copies (`workers` of them); each call's blocks go to them concurrently.
    copies: Vec<Mutex<Process>>,
}

/// The running child and the threads around it.
struct Process {
    child: Child,
    /// "copy k of N: " when N > 1 copies run (prefixed to every error), else empty.
    label: String,
    /// Set once the process group has been killed (it is killed once: its id may be reused).
    killed: bool,
    /// Request lines to the writer thread; `None` once closed (the child sees EOF on stdin).
    requests: Option<Sender<Vec<u8>>>,
    /// Answers (line and payload) from the reader thread; disconnected at the child's EOF.
    answers: Receiver<std::io::Result<Answer>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// Requests sent so far; the current one's number names it in errors (1-based) and is its `id`.
    n_requests: u64,
    /// Whether the model has echoed a request id (then every answer must).
    echoes_ids: bool,
    /// Why the process is unusable, after a crash, timeout or protocol error.
    broken: Option<String>,
    /// Framing of requests: JSON until the model accepts binary in its first answer.
    format: Format,
    /// Reused request buffer.
    buf: Vec<u8>,
}

impl ExternalModel {
    /// Validates `config` and `workers` and starts `workers` copies of the process (key
    /// `[model] workers`; [`ExternalModel::check_workers`]). If a copy cannot start, those
    /// already started are stopped.
    pub fn spawn(config: ExternalConfig, workers: usize) -> Result<Self> {
        if config.command.is_empty() {
            return Err(Error::invalid("external model command", "is empty; expected a program and its arguments"));
        }
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
        ExternalConfig::timeout_from_secs(config.timeout.as_secs_f64())?;
        Self::check_workers(workers)?;
        let copies =
            (0..workers).map(|k| Process::start(&config, k, workers).map(Mutex::new)).collect::<Result<Vec<_>>>()?;
        Ok(Self { config, copies })
    }

    /// `workers` (copies of the process, key `[model] workers`) is at least 1 and at most
    /// [`crate::limits::MAX_EXTERNAL_WORKERS`]; errors name `model.workers`.
    pub fn check_workers(workers: usize) -> Result<()> {
        if workers == 0 {
            return Err(Error::invalid("model.workers", "is 0; expected at least 1 copy of the model process"));
        }
        crate::limits::check_count(
            "model.workers",
            workers,
            crate::limits::MAX_EXTERNAL_WORKERS,
            "each copy is a process with its own pipes and threads",
        )
    }

    /// Copies of the process running (`workers`).
    pub fn workers(&self) -> usize {
        self.copies.len()
    }

    /// Requests sent to each copy so far, in copy order (how a call's blocks were spread).
    pub fn requests_per_copy(&self) -> Vec<u64> {
        self.copies.iter().map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).n_requests).collect()
    }

    /// What the process was started with.
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

    /// Sends the `log_likelihood` requests for the pairs (x_r, θ_r), x_r = `x.row(r)` or, with
    /// `Rows::Repeat`, the same x for every θ row: one block of rows per copy ([`blocks::balanced`]).
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
        let mut items = Vec::with_capacity(self.copies.len());
        let mut rest = out;
        for rows in blocks::balanced(n_rows, self.copies.len()) {
            let (block, tail) = rest.split_at_mut(rows.len());
            rest = tail;
            items.push((rows, block));
        }
        blocks::spread(items, self.copies.len(), |copy, (rows, out)| {
            let request = Request::LogLikelihood {
                x: x.rows_range(rows.clone()),
                theta: Rows::Mat(theta.rows_range(rows.start, rows.len())),
            };
            self.log_likelihood_block(copy, &request, rows, out)
        })
    }

    /// One `log_likelihood` request, for the call's rows `rows`, to copy `copy`; its answer into `out`.
    fn log_likelihood_block(
        &self,
        copy: usize,
        request: &Request<'_>,
        rows: Range<usize>,
        out: &mut [f64],
    ) -> Result<()> {
        let n_rows = rows.len();
        let (answer, sent) = self.exchange(copy, request, rows.clone())?;
        let fail = |reason: String| sent.error(reason);
        let parsed: LogLikelihoodAnswer = parse_answer(&answer.line).map_err(&fail)?;
        if let Some(message) = parsed.error {
            return Err(fail(format!("the model answered with an error: {}", wire::model_message(&message))));
        }
        let values = parsed.log_likelihood.ok_or_else(|| fail(missing_key("log_likelihood", &answer.line)))?;
        let check = |r: usize, v: f64| {
            if v.is_nan() || v == f64::INFINITY {
                let r = rows.start + r;
                Err(fail(format!("log_likelihood[{r}] is {v}; write a zero likelihood as null or -Infinity")))
            } else {
                Ok(v)
            }
        };
        match values {
            Payload::Inline(values) => {
                if values.len() != n_rows {
                    return Err(fail(format!("expected {n_rows} log-likelihoods, got {}", values.len())));
                }
                for (r, (o, v)) in out.iter_mut().zip(values).enumerate() {
                    *o = check(r, v.0)?;
                }
            }
            Payload::F64le(dims) => {
                let got = match dims[..] {
                    [n] | [n, 1] => n,
                    _ => return Err(fail(format!("log_likelihood payload has shape {dims:?}; expected [{n_rows}]"))),
                };
                if got != n_rows {
                    return Err(fail(format!("expected {n_rows} log-likelihoods, got {got}")));
                }
                for (r, (o, v)) in out.iter_mut().zip(f64le_values(&answer.payload)).enumerate() {
                    *o = check(r, v)?;
                }
            }
        }
        Ok(())
    }

    /// One `simulate` request, for the call's rows `rows`, to copy `copy`; its x into `x`
    /// (`rows.len()` × x_dim values, row-major).
    fn simulate_block(&self, copy: usize, request: &Request<'_>, rows: Range<usize>, x: &mut [f64]) -> Result<()> {
        let n_rows = rows.len();
        let (answer, sent) = self.exchange(copy, request, rows.clone())?;
        let fail = |reason: String| sent.error(reason);
        let parsed: SimulateAnswer = parse_answer(&answer.line).map_err(&fail)?;
        if let Some(message) = parsed.error {
            return Err(fail(format!("the model answered with an error: {}", wire::model_message(&message))));
        }
        let x_dim = self.config.x_dim;
        let check = |r: usize, c: usize, v: f64| {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(fail(format!("x[{}][{c}] is {v}; simulations must be finite", rows.start + r)))
            }
        };
        match parsed.x.ok_or_else(|| fail(missing_key("x", &answer.line)))? {
            Payload::Inline(answer_rows) => {
                if answer_rows.len() != n_rows {
                    return Err(fail(format!("expected {n_rows} rows of x, got {}", answer_rows.len())));
                }
                for (r, (row, dst)) in answer_rows.iter().zip(x.chunks_exact_mut(x_dim)).enumerate() {
                    if row.len() != x_dim {
                        let r = rows.start + r;
                        return Err(fail(format!("x row {r} has {} values, expected x_dim = {x_dim}", row.len())));
                    }
                    for (c, (dst, v)) in dst.iter_mut().zip(row).enumerate() {
                        *dst = check(r, c, v.0)?;
                    }
                }
            }
            Payload::F64le(dims) => {
                let (got_rows, got_cols) = match dims[..] {
                    [rows, cols] => (rows, cols),
                    _ => return Err(fail(format!("x payload has shape {dims:?}; expected [{n_rows}, {x_dim}]"))),
                };
                if got_rows != n_rows {
                    return Err(fail(format!("expected {n_rows} rows of x, got {got_rows}")));
                }
                if got_cols != x_dim {
                    return Err(fail(format!("x rows have {got_cols} values, expected x_dim = {x_dim}")));
                }
                for (i, (dst, v)) in x.iter_mut().zip(f64le_values(&answer.payload)).enumerate() {
                    *dst = check(i / x_dim, i % x_dim, v)?;
                }
            }
        }
        Ok(())
    }

    /// Sends `request` (the call's rows `rows`) to copy `copy` and waits for its answer (the
    /// copy is locked meanwhile, so answers cannot cross). Returns the answer and what names
    /// the request in errors.
    fn exchange(&self, copy: usize, request: &Request<'_>, rows: Range<usize>) -> Result<(Answer, Sent)> {
        let mut process = self.copies[copy].lock().unwrap_or_else(|e| e.into_inner());
        let (answer, request_no) = process.exchange(request, rows.clone(), self.config.timeout)?;
        let sent = Sent { op: request.op(), request_no, rows, label: process.label.clone() };
        Ok((answer, sent))
    }
}

/// A request that was answered, as its errors name it: the op, the copy's request number, the
/// call's rows it covered and (with several copies) the copy.
struct Sent {
    op: &'static str,
    request_no: u64,
    rows: Range<usize>,
    label: String,
}

impl Sent {
    /// The error `reason` about this request's answer.
    fn error(&self, reason: String) -> Error {
        let Sent { op, request_no, ref rows, ref label } = *self;
        Error::External { op, request: request_no, rows: rows.clone(), reason: format!("{label}{reason}") }
    }
}

impl Process {
    /// Starts copy `copy` (0-based) of `copies` of the program, with its reader, writer and
    /// stderr threads, in its own process group.
    fn start(config: &ExternalConfig, copy: usize, copies: usize) -> Result<Self> {
        let label = if copies > 1 { format!("copy {} of {copies}: ", copy + 1) } else { String::new() };
        let (program, args) = config.command.split_first().expect("the command was checked to be non-empty");
        let mut command = match &config.dir {
            Some(dir) => {
                let program = Path::new(program);
                let mut command = if program.is_relative() && program.components().count() > 1 {
                    Command::new(dir.join(program))
                } else {
                    Command::new(program)
                };
                command.current_dir(dir);
                command
            }
            None => Command::new(program),
        };
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .map_err(|e| Error::Model(format!("{label}could not start external model {:?}: {e}", config.command)))?;
        process_groups().push(child.id());
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (request_tx, request_rx) = mpsc::channel::<Vec<u8>>();
        let (answer_tx, answer_rx) = mpsc::channel();
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        thread::spawn(move || write_requests(stdin, request_rx));
        thread::spawn(move || read_answers(stdout, answer_tx));
        let tail = Arc::clone(&stderr_tail);
        thread::spawn(move || read_stderr(stderr, &tail));
        Ok(Process {
            child,
            label,
            killed: false,
            requests: Some(request_tx),
            answers: answer_rx,
            stderr_tail,
            n_requests: 0,
            echoes_ids: false,
            broken: None,
            format: Format::Json,
            buf: Vec::new(),
        })
    }

    /// Sends `request` (the call's rows `rows`, in the framing agreed so far) and waits for one
    /// answer. Errors here (not running, EOF, timeout, a cut-short payload) leave the process
    /// broken, killed, and name the request. The first answer may switch later requests to
    /// binary framing.
    fn exchange(&mut self, request: &Request<'_>, rows: Range<usize>, timeout: Duration) -> Result<(Answer, u64)> {
        self.n_requests += 1;
        let request_no = self.n_requests;
        let op = request.op();
        let label = self.label.clone();
        let fail = |reason: String| Error::External {
            op,
            request: request_no,
            rows: rows.clone(),
            reason: format!("{label}{reason}"),
        };
        if let Some(why) = &self.broken {
            return Err(fail(format!("the model process is no longer usable: {why}")));
        }
        let offer = request_no == 1;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        request.encode(self.format, offer, request_no, &mut buf);
        let sent = self.requests.as_ref().is_some_and(|tx| tx.send(buf).is_ok());
        let outcome = if sent {
            match self.answers.recv_timeout(timeout) {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(e)) => Err(format!("could not read the answer: {e}")),
                Err(RecvTimeoutError::Timeout) => Err(format!("no answer within {:.3} s", timeout.as_secs_f64())),
                Err(RecvTimeoutError::Disconnected) => Err(self.exit_reason()),
            }
        } else {
            Err(self.exit_reason())
        };
        let answer = outcome.map_err(|reason| {
            self.kill();
            self.broken = Some(reason.clone());
            fail(reason)
        })?;
        if offer && answer.line.contains("\"format\"") {
            // A choice that does not parse leaves JSON in force; the answer itself is checked by the caller.
            match parse_answer::<FormatChoice>(&answer.line).ok().and_then(|c| c.format).as_deref() {
                Some("f64le") => self.format = Format::F64le,
                Some("json") | None => {}
                Some(other) => {
                    return Err(fail(format!(
                        "the model chose the format {other:?}; lwflow offers {:?}",
                        wire::OFFERED_FORMATS
                    )))
                }
            }
        }
        if let Err(reason) = self.check_id(&answer.line, request_no) {
            self.kill();
            self.broken = Some(reason.clone());
            return Err(fail(reason));
        }
        Ok((answer, request_no))
    }

    /// The answer's `id` must be the request's; a model that echoed ids once must keep doing so.
    fn check_id(&mut self, line: &str, request_no: u64) -> std::result::Result<(), String> {
        match wire::answer_id(line) {
            Some(id) if id == request_no => {
                self.echoes_ids = true;
                Ok(())
            }
            Some(id) => Err(format!(
                "the answer carries id {id}, but this is request {request_no}: the model answered a request twice or \
                 skipped one, so every later answer would belong to another request"
            )),
            // A line that is not a JSON object is reported as unreadable by the caller.
            None if self.echoes_ids && line.trim_start().starts_with('{') => {
                Err(format!("the answer has no id, but earlier answers echoed theirs; expected \"id\": {request_no}"))
            }
            None => Ok(()),
        }
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
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        kill_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        process_groups().retain(|&g| g != self.child.id());
    }
}

/// Process groups of the running external models (each child leads its own, id = its pid).
fn process_groups() -> std::sync::MutexGuard<'static, Vec<u32>> {
    static GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// SIGKILL to the process group `group` (the child and everything it started); no-op off Unix.
fn kill_group(group: u32) {
    #[cfg(unix)]
    if let Ok(pgid) = libc::pid_t::try_from(group) {
        // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory of ours.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = group;
}

/// Kills the process groups of every running external model. For a signal handler that is about
/// to exit the process: `Drop` does not run then, and a model in its own group would not see the
/// terminal's Ctrl-C.
pub fn kill_external_processes() {
    for group in process_groups().drain(..) {
        kill_group(group);
    }
}

/// The stderr reader thread: keeps the last [`STDERR_TAIL_LINES`] lines, each cut at
/// [`STDERR_LINE_BYTES`]; `\r` ends a line like `\n`, so progress bars that redraw one line
/// forever keep memory bounded.
fn read_stderr(mut stderr: impl Read, tail: &Mutex<VecDeque<String>>) {
    let mut chunk = [0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let push = |line: &mut Vec<u8>| {
        if line.is_empty() {
            return;
        }
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(String::from_utf8_lossy(line).into_owned());
        line.clear();
    };
    loop {
        let n = match stderr.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &chunk[..n] {
            if b == b'\n' || b == b'\r' {
                push(&mut line);
            } else if line.len() < STDERR_LINE_BYTES {
                line.push(b);
            }
        }
    }
    push(&mut line);
}

impl Process {
    /// Closes the child's stdin (its signal to exit), waits for it until `deadline`, then kills
    /// the group, with anything the child started and left behind.
    fn shut_down(&mut self, deadline: Instant) {
        self.requests = None;
        while !self.killed && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => thread::sleep(Duration::from_millis(5)),
            }
        }
        self.kill();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.shut_down(Instant::now() + EXIT_GRACE);
    }
}

impl Drop for ExternalModel {
    /// Every copy's stdin is closed first, so the copies exit together within one grace period.
    fn drop(&mut self) {
        for process in self.copies.iter_mut() {
            process.get_mut().unwrap_or_else(|e| e.into_inner()).requests = None;
        }
        let deadline = Instant::now() + EXIT_GRACE;
        for process in self.copies.iter_mut() {
            process.get_mut().unwrap_or_else(|e| e.into_inner()).shut_down(deadline);
        }
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

/// The reader thread: one [`Answer`] per line, with the payload its descriptors announce; ends
/// at the child's EOF, a read error or an unreadable header (after sending the error).
fn read_answers(stdout: ChildStdout, answers: Sender<std::io::Result<Answer>>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut line = String::new();
        let answer = match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {
                let trimmed = line.trim_end_matches(['\n', '\r']).len();
                line.truncate(trimmed);
                match payload_len(&line) {
                    Ok(0) => Ok(Answer { line, payload: Vec::new() }),
                    Ok(n_bytes) => {
                        let mut payload = vec![0; n_bytes];
                        match reader.read_exact(&mut payload) {
                            Ok(()) => Ok(Answer { line, payload }),
                            Err(e) => Err(std::io::Error::new(
                                e.kind(),
                                format!(
                                    "the payload of {n_bytes} bytes announced by {} was cut short ({e})",
                                    wire::preview(&line)
                                ),
                            )),
                        }
                    }
                    Err(reason) => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, reason)),
                }
            }
            Err(e) => Err(e),
        };
        let stop = answer.is_err();
        if answers.send(answer).is_err() || stop {
            return;
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
        // Fixed blocks, each with its own seed drawn in block order: the same x for any number
        // of copies (see `blocks`); one block, one seed for calls of up to 256 rows.
        let x_dim = self.config.x_dim;
        let mut values = vec![0.0; n_rows * x_dim];
        let items: Vec<_> = blocks::fixed(n_rows, blocks::SIMULATED_ROWS_PER_REQUEST)
            .into_iter()
            .zip(values.chunks_mut(blocks::SIMULATED_ROWS_PER_REQUEST * x_dim))
            .map(|(rows, x)| (rows, rng.gen::<u64>(), x))
            .collect();
        blocks::spread(items, self.copies.len(), |copy, (rows, seed, x)| {
            let request = Request::Simulate { theta: Rows::Mat(theta.rows_range(rows.start, rows.len())), seed };
            self.simulate_block(copy, &request, rows, x)
        })?;
        for (r, row) in values.chunks_exact(x_dim).enumerate() {
            x.row_mut(r).copy_from_slice(row);
        }
        Ok(())
    }
}

/// Non-finite inputs are a caller's bug (and JSON cannot carry them): reject them before sending.
fn check_finite(what: &str, rows: Rows<'_>) -> Result<()> {
    let bad = |r: usize, row: &[f64]| row.iter().find(|v| !v.is_finite()).map(|v| (r, *v));
    let found = match rows {
        Rows::Mat(m) => (0..m.rows()).find_map(|r| bad(r, m.row(r))),
        Rows::Repeat { row, .. } => bad(0, row),
    };
    match found {
        Some((r, v)) => Err(Error::invalid(format!("{what} row {r}"), format!("{v} is not finite"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_tail_is_bounded() {
        // 64 MB of a progress bar redrawn with '\r' and never a newline, then one very long line.
        let mut flood: Vec<u8> = b"\r 42%|####      | 4242/10000".repeat(2_400_000);
        flood.extend(std::iter::repeat_n(b'x', 10 * crate::limits::MAX_STDERR_TAIL));
        flood.extend_from_slice(b"\nlast words\n");
        let tail = Mutex::new(VecDeque::new());
        read_stderr(std::io::Cursor::new(flood), &tail);
        let tail = tail.into_inner().unwrap();
        let held: usize = tail.iter().map(String::len).sum();
        assert_eq!(tail.len(), STDERR_TAIL_LINES);
        assert!(held <= crate::limits::MAX_STDERR_TAIL, "{held} bytes held");
        assert_eq!(tail.back().map(String::as_str), Some("last words"));
        assert_eq!(tail[STDERR_TAIL_LINES - 2].len(), STDERR_LINE_BYTES);
    }
}
