//! NumPy arrays ⇄ lwflow's row-major matrices. Values are copied at the boundary (the flow works
//! on its own chunked buffers, and a borrowed view must not outlive a call into Python); any
//! array-like of numbers is accepted and cast to float64. Shape errors name the argument and
//! the shape expected.

use lwflow::{Mat, MatRef};
use numpy::ndarray::ArrayViewD;
use numpy::{AllowTypeChange, PyArray1, PyArray2, PyArrayLikeDyn, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// `m` as a new (rows, cols) float64 array.
pub fn to_numpy<'py>(py: Python<'py>, m: MatRef<f64>) -> Bound<'py, PyArray2<f64>> {
    let mut data = Vec::with_capacity(m.rows() * m.cols());
    for r in 0..m.rows() {
        data.extend_from_slice(m.row(r));
    }
    PyArray1::from_vec(py, data).reshape([m.rows(), m.cols()]).expect("rows × cols values")
}

/// `values` as a new 1-D float64 array.
pub fn vec_to_numpy<'py>(py: Python<'py>, values: Vec<f64>) -> Bound<'py, PyArray1<f64>> {
    PyArray1::from_vec(py, values)
}

/// Any array-like of numbers, as float64.
pub fn float_array<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<PyArrayLikeDyn<'py, f64, AllowTypeChange>> {
    obj.extract().map_err(|e: PyErr| {
        let type_name = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        PyValueError::new_err(format!("{what}: expected an array of numbers, got {type_name} ({e})"))
    })
}

/// "(a, b)", as NumPy prints a shape.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// The values of `view` in row-major order (a copy of the buffer when it is already laid out so;
/// walking a dynamic-rank view element by element costs ~10 ns a value).
pub fn row_major(view: &ArrayViewD<f64>) -> Vec<f64> {
    match view.as_slice() {
        Some(values) => values.to_vec(),
        None => view.iter().copied().collect(),
    }
}

/// `obj` as a (n, cols) matrix; `expected` says what n is (e.g. "n" or "1000").
pub fn matrix(obj: &Bound<PyAny>, what: &str, cols: usize) -> PyResult<Mat<f64>> {
    let array = float_array(obj, what)?;
    let view = array.as_array();
    match view.shape() {
        &[rows, c] if c == cols => Ok(Mat::from_vec(rows, cols, row_major(&view))),
        shape => Err(PyValueError::new_err(format!("{what}: expected shape (n, {cols}), got {}", shape_text(shape)))),
    }
}

/// `obj` as a vector of `len` values: a 1-D array, or a number when `len` is 1.
pub fn vector(obj: &Bound<PyAny>, what: &str, len: usize) -> PyResult<Vec<f64>> {
    let array = float_array(obj, what)?;
    let view = array.as_array();
    match view.shape() {
        &[n] if n == len => Ok(row_major(&view)),
        &[] if len == 1 => Ok(row_major(&view)),
        shape => Err(PyValueError::new_err(format!("{what}: expected shape ({len},), got {}", shape_text(shape)))),
    }
}

/// One observation (shape (cols,)) or several (shape (n, cols)), as rows of a matrix, and
/// whether it was several.
pub fn observations(obj: &Bound<PyAny>, what: &str, cols: usize) -> PyResult<(Mat<f64>, bool)> {
    let array = float_array(obj, what)?;
    let view = array.as_array();
    match view.shape() {
        &[n] if n == cols => Ok((Mat::from_vec(1, cols, row_major(&view)), false)),
        &[] if cols == 1 => Ok((Mat::from_vec(1, 1, row_major(&view)), false)),
        &[rows, c] if c == cols => Ok((Mat::from_vec(rows, cols, row_major(&view)), true)),
        shape => Err(PyValueError::new_err(format!(
            "{what}: expected shape ({cols},) for one observation or (n, {cols}) for several, got {}",
            shape_text(shape)
        ))),
    }
}
