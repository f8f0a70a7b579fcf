//! The library's sample metrics ([`lwflow::metrics`]) over NumPy arrays: samples in, numbers out.
//! Arguments are checked here where the library function asserts instead of returning an error.

use lwflow::metrics::{self, C2stConfig};
use lwflow::Mat;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::arrays::{self, float_array, shape_text};
use crate::errors::IntoPy;

/// `obj` as an (n, d) matrix of any width d.
fn samples(obj: &Bound<PyAny>, what: &str) -> PyResult<Mat<f64>> {
    let array = float_array(obj, what)?;
    let cols = match array.as_array().shape() {
        &[_, d] => d,
        shape => {
            return Err(PyValueError::new_err(format!("{what}: expected shape (n, d), got {}", shape_text(shape))))
        }
    };
    arrays::matrix(obj, what, cols)
}

/// Two sample sets of the same width, each with at least `min_rows` rows.
fn pair(p: &Bound<PyAny>, q: &Bound<PyAny>, min_rows: usize) -> PyResult<(Mat<f64>, Mat<f64>)> {
    let p = samples(p, "p")?;
    let q = arrays::matrix(q, "q", p.cols())?;
    for (what, m) in [("p", &p), ("q", &q)] {
        if m.rows() < min_rows {
            return Err(PyValueError::new_err(format!("{what}: need at least {min_rows} rows, got {}", m.rows())));
        }
        if m.as_slice().iter().any(|v| !v.is_finite()) {
            return Err(PyValueError::new_err(format!("{what}: contains NaN or infinity")));
        }
    }
    Ok((p, q))
}

/// Classifier two-sample test accuracy between samples p (the reference) and q, as sbibm
/// computes it: 0.5 indistinguishable, 1.0 fully separable.
#[pyfunction]
#[pyo3(signature = (p, q, seed = 1))]
pub fn c2st(py: Python, p: &Bound<PyAny>, q: &Bound<PyAny>, seed: u64) -> PyResult<f64> {
    let (p, q) = pair(p, q, 1)?;
    let cfg = C2stConfig { seed, ..C2stConfig::default() };
    py.detach(|| metrics::c2st(p.as_ref(), q.as_ref(), &cfg)).py_err()
}

/// Unbiased squared maximum mean discrepancy with a Gaussian kernel of width `bandwidth`
/// (median heuristic when None).
#[pyfunction]
#[pyo3(signature = (p, q, bandwidth = None))]
pub fn mmd2(py: Python, p: &Bound<PyAny>, q: &Bound<PyAny>, bandwidth: Option<f64>) -> PyResult<f64> {
    let (p, q) = pair(p, q, 2)?;
    if let Some(h) = bandwidth.filter(|h| !(h.is_finite() && *h > 0.0)) {
        return Err(PyValueError::new_err(format!("bandwidth: {h} must be a finite number > 0")));
    }
    Ok(py.detach(|| metrics::mmd2_unbiased(p.as_ref(), q.as_ref(), bandwidth)))
}

/// Sliced 2-Wasserstein distance over `n_projections` random directions.
#[pyfunction]
#[pyo3(signature = (p, q, n_projections = 100, seed = 1))]
pub fn sliced_w2(py: Python, p: &Bound<PyAny>, q: &Bound<PyAny>, n_projections: usize, seed: u64) -> PyResult<f64> {
    let (p, q) = pair(p, q, 1)?;
    py.detach(|| metrics::wasserstein::sliced_w2(p.as_ref(), q.as_ref(), n_projections, seed)).py_err()
}

/// Exact 2-Wasserstein distance between two samples of equal size (an assignment problem,
/// O(n³): for a few thousand rows).
#[pyfunction]
pub fn w2(py: Python, p: &Bound<PyAny>, q: &Bound<PyAny>) -> PyResult<f64> {
    let (p, q) = pair(p, q, 1)?;
    py.detach(|| metrics::wasserstein::w2_exact(p.as_ref(), q.as_ref())).py_err()
}

/// KL(p‖q) from log p and log q at draws from p, as (estimate, standard error).
#[pyfunction]
pub fn kl_p_q(log_p: &Bound<PyAny>, log_q: &Bound<PyAny>) -> PyResult<(f64, f64)> {
    let log_p = arrays::row_major(&float_array(log_p, "log_p")?.as_array());
    let log_q = arrays::vector(log_q, "log_q", log_p.len())?;
    if log_p.is_empty() {
        return Err(PyValueError::new_err("log_p: need at least one value"));
    }
    let e = metrics::kl_p_q(&log_p, &log_q);
    Ok((e.value, e.std_err))
}
