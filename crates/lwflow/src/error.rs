//! The library's error type. Every variant names the thing that was wrong and what was expected.

/// Errors returned by lwflow's public API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A matrix or vector argument had the wrong size.
    #[error("{what}: expected {expected} columns, got {got}")]
    Shape { what: &'static str, expected: usize, got: usize },
    /// A value was outside its allowed range or otherwise invalid.
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },
    /// The model returned NaN or +inf for a log-likelihood.
    #[error("log-likelihood is {value} for theta row {row} (x row {obs}); only finite values or -inf are allowed")]
    BadLogLikelihood { row: usize, obs: usize, value: f64 },
    /// Every weight for an observation was zero.
    #[error("observation {obs}: every proposal draw has zero likelihood; cannot form weights")]
    DegenerateWeights { obs: usize },
    /// Training diverged.
    #[error("training step {step}: {what} is not finite ({value})")]
    NonFinite { step: usize, what: &'static str, value: f64 },
    /// An external model failed.
    #[error("model: {0}")]
    Model(String),
    /// An external model process failed one request: `op` is "simulate" or "log_likelihood",
    /// `request` counts requests to that process from 1, `rows` are the rows the request covered.
    #[error("external model, {op} request {request} (rows {rows:?}): {reason}")]
    External { op: &'static str, request: u64, rows: std::ops::Range<usize>, reason: String },
    /// A model file could not be read or written.
    #[error("model file {path}: {reason}")]
    ModelFile { path: String, reason: String },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A data file (e.g. a CSV of thetas) had a malformed entry; `line` and `column` are 1-based.
    #[error("{path} line {line}{}: {reason}", column_suffix(.column))]
    Parse { path: String, line: u64, column: Option<usize>, reason: String },
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
