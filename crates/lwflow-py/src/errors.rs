//! lwflow's errors as Python exceptions: what the caller gave wrong (shapes, values, settings,
//! files' contents) is a `ValueError`, what the operating system refused an `OSError`, and what
//! went wrong while computing (divergence, degenerate weights) a `RuntimeError`. The message is
//! the library's, which names the argument and what was expected.

use lwflow::Error;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

/// `e` as the Python exception of its kind (module docs).
pub fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::Shape { .. }
        | Error::Invalid { .. }
        | Error::Limit { .. }
        | Error::Parse { .. }
        | Error::ModelFile { .. }
        | Error::BadLogLikelihood { .. } => PyValueError::new_err(message),
        Error::Io { .. } => PyOSError::new_err(message),
        Error::DegenerateWeights { .. }
        | Error::NonFinite { .. }
        | Error::NonFiniteOutput { .. }
        | Error::Model(_)
        | Error::External { .. } => PyRuntimeError::new_err(message),
    }
}

/// `Result<T, lwflow::Error>` → `PyResult<T>`.
pub trait IntoPy<T> {
    /// The value, or the error as a Python exception ([`to_py`]).
    fn py_err(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPy<T> for lwflow::Result<T> {
    fn py_err(self) -> pyo3::PyResult<T> {
        self.map_err(to_py)
    }
}
