//! The library's error type. Every variant names the thing that was wrong and what was expected.

/// Errors returned by lwflow's public API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A matrix or vector argument had the wrong size.
    #[error("{what}: expected {expected} columns, got {got}")]
    Shape {
        /// The argument, e.g. "external log_likelihood theta".
        what: &'static str,
        /// Columns (or length) the callee needs.
        expected: usize,
        /// Columns (or length) it was given.
        got: usize,
    },
    /// A value was outside its allowed range or otherwise invalid.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The value, e.g. "external model timeout".
        what: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// The model returned NaN or +inf for a log-likelihood.
    #[error("log-likelihood is {value} for theta row {row} (x row {obs}); only finite values or -inf are allowed")]
    BadLogLikelihood {
        /// Row of the θ matrix.
        row: usize,
        /// Row of the x matrix.
        obs: usize,
        /// The offending value (NaN or +inf).
        value: f64,
    },
    /// Every weight for an observation was zero.
    #[error("observation {obs}: every proposal draw has zero likelihood; cannot form weights")]
    DegenerateWeights {
        /// Row of the x matrix.
        obs: usize,
    },
    /// Training diverged.
    #[error("training step {step}: {what} is not finite ({value})")]
    NonFinite {
        /// The step (1-based) at which it happened.
        step: usize,
        /// The quantity: "loss", "gradient norm", ….
        what: &'static str,
        /// Its value (NaN or ±inf).
        value: f64,
    },
    /// An external model failed.
    #[error("model: {0}")]
    Model(String),
    /// An external model process failed one request: `op` is "simulate" or "log_likelihood",
    /// `request` counts requests to that process from 1, `rows` are the rows the request covered.
    #[error("external model, {op} request {request} (rows {rows:?}): {reason}")]
    External {
        /// "simulate" or "log_likelihood".
        op: &'static str,
        /// Requests to this process so far, counting this one (1-based).
        request: u64,
        /// Rows of the request's θ matrix.
        rows: std::ops::Range<usize>,
        /// What went wrong, with the process's exit status and stderr tail where it ended.
        reason: String,
    },
    /// A model file could not be read or written.
    #[error("model file {path}: {reason}")]
    ModelFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A size was above its stated limit ([`crate::limits`]); `what` names the flag or key.
    #[error("{what} = {value} is above the limit of {limit} ({reason})")]
    Limit {
        /// The size, with the flag or config key that sets it, e.g. "hidden width (--hidden, key `hidden`)".
        what: String,
        /// The value asked for.
        value: u64,
        /// The largest value allowed.
        limit: u64,
        /// Why the limit exists.
        reason: &'static str,
    },
    /// A density or a sample lwflow was about to hand out was not finite ([`crate::finite`]).
    #[error(
        "{what} for observation x = {obs}: {bad} of {total} rows are not finite (first: row {row}, {value}); {reason}"
    )]
    NonFiniteOutput {
        /// "sample" or "log q(θ|x)".
        what: &'static str,
        /// The observation, as given.
        obs: String,
        /// Rows with a NaN or infinite value.
        bad: usize,
        /// Rows computed.
        total: usize,
        /// The first such row (0-based).
        row: usize,
        /// Its value.
        value: f64,
        /// Why, e.g. how far x is outside the prior predictive the model was trained on.
        reason: String,
    },
    /// A data file (e.g. a CSV of thetas) had a malformed entry; `line` and `column` are 1-based.
    #[error("{path} line {line}{}: {reason}", column_suffix(.column))]
    Parse {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
        /// 1-based column, where known.
        column: Option<usize>,
        /// What was read and what was expected.
        reason: String,
    },
}

/// ", column c" or nothing, for [`Error::Parse`].
fn column_suffix(column: &Option<usize>) -> String {
    column.map(|c| format!(", column {c}")).unwrap_or_default()
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), reason: reason.into() }
    }
}
