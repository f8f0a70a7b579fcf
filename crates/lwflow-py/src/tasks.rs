//! Built-in tasks ([`lwflow::tasks`]) as `lwflow.Model`s, and their reference posteriors.

use std::sync::Arc;

use lwflow::reference::Reference;
use lwflow::rng::{stream, Stream};
use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;

use crate::arrays;
use crate::errors::IntoPy;
use crate::model::PyModel;

/// The built-in task `name` as a model (`lwflow.TASK_NAMES` lists them).
#[pyfunction]
pub fn task(name: &str) -> PyResult<PyModel> {
    PyModel::task(name)
}

/// The exact or long-run reference posterior p(θ|x) of a built-in task; None for a task whose
/// reference is an SMC run (too slow to build here).
#[pyfunction]
pub fn reference(name: &str, x: &Bound<PyAny>) -> PyResult<Option<PyReference>> {
    let model = lwflow::tasks::by_name(name).py_err()?;
    let x = arrays::vector(x, "x", model.x_dim())?;
    let reference = lwflow::tasks::reference_for(name, &x).py_err()?;
    Ok(reference.map(|r| PyReference { reference: Arc::from(r) }))
}

/// A reference posterior p(θ|x) at one observation.
#[pyclass(name = "Reference", module = "lwflow", frozen)]
pub struct PyReference {
    reference: Arc<dyn Reference>,
}

#[pymethods]
impl PyReference {
    /// Dimension of θ.
    #[getter]
    fn dim(&self) -> usize {
        self.reference.dim()
    }

    /// `n` independent draws, shape (n, dim); the same seed gives the same draws.
    #[pyo3(signature = (n, seed = 1))]
    fn sample<'py>(&self, py: Python<'py>, n: usize, seed: u64) -> Bound<'py, PyArray2<f64>> {
        let draws = py.detach(|| self.reference.sample(&mut stream(seed, Stream::Metric, 0, 0), n));
        arrays::to_numpy(py, draws.as_ref())
    }

    /// Normalised log p(θ|x) per row of theta (shape (n, dim)); None for a sample-only reference.
    fn log_prob<'py>(&self, py: Python<'py>, theta: &Bound<PyAny>) -> PyResult<Option<Bound<'py, PyArray1<f64>>>> {
        if !self.reference.has_density() {
            return Ok(None);
        }
        let theta = arrays::matrix(theta, "theta", self.reference.dim())?;
        let out = (0..theta.rows()).map(|r| self.reference.log_density(theta.row(r))).collect();
        Ok(Some(arrays::vec_to_numpy(py, out)))
    }

    /// Centres of the disconnected modes, when known.
    #[getter]
    fn modes(&self) -> Option<Vec<Vec<f64>>> {
        self.reference.modes()
    }
}
