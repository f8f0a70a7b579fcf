//! lwflow for Python: conversions between NumPy and the library, and the GIL; no science here.
//! The Python package around this module is `python/lwflow` (`lwflow.tasks`, `lwflow.metrics`,
//! `lwflow.plot` re-export and document what is defined here).

mod arrays;
mod check;
mod errors;
mod metrics;
mod model;
mod posterior;
mod prior;
mod tasks;
mod train;

use pyo3::prelude::*;

#[pymodule]
fn _lwflow(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<prior::PyPrior>()?;
    m.add_function(wrap_pyfunction!(prior::uniform, m)?)?;
    m.add_function(wrap_pyfunction!(prior::normal, m)?)?;
    m.add_function(wrap_pyfunction!(prior::multivariate_normal, m)?)?;
    m.add_class::<model::PyModel>()?;
    m.add_class::<posterior::PyPosterior>()?;
    m.add_function(wrap_pyfunction!(posterior::load, m)?)?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add("SETTINGS", train::keyword_names())?;
    m.add_class::<tasks::PyReference>()?;
    m.add("TASK_NAMES", lwflow::tasks::NAMES.to_vec())?;
    m.add_function(wrap_pyfunction!(tasks::task, m)?)?;
    m.add_function(wrap_pyfunction!(tasks::reference, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::c2st, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::mmd2, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::sliced_w2, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::w2, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::kl_p_q, m)?)?;
    m.add_function(wrap_pyfunction!(check::check, m)?)?;
    Ok(())
}
