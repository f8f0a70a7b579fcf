//! Priors: `Uniform(low, high)`, `Normal(mean, std)` (independent marginals, one per entry of
//! the arguments, a number repeated over `dim`), `MultivariateNormal(mean, precision)` (a
//! correlated Gaussian) and `Prior.independent(a, b, …)` (the product of independent priors,
//! their dimensions one after another). All are one class, [`PyPrior`] over [`lwflow::Prior`].
//! `Uniform(..., periodic=True)` (or one flag per dimension) declares an angle: U(a, b) with a ≡ b.

use lwflow::model::Marginal;
use lwflow::rng::{stream, Stream};
use lwflow::{Mat, Prior};
use numpy::PyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::arrays::{self, float_array, shape_text};
use crate::errors::IntoPy;

/// A prior π(θ) over θ ∈ ℝ^dim.
#[pyclass(name = "Prior", module = "lwflow", frozen)]
#[derive(Clone)]
pub struct PyPrior {
    pub prior: Prior,
}

/// The values of `obj` (a number or a 1-D array-like), as a list.
fn values(obj: &Bound<PyAny>, what: &str) -> PyResult<Vec<f64>> {
    let array = float_array(obj, what)?;
    let view = array.as_array();
    match view.shape() {
        [] | [_] => Ok(arrays::row_major(&view)),
        shape => {
            Err(PyValueError::new_err(format!("{what}: expected a number or shape (dim,), got {}", shape_text(shape))))
        }
    }
}

/// `a` and `b` as two lists of one length: a single value is repeated to the other's length, or to `dim`.
fn paired(a: (&str, Vec<f64>), b: (&str, Vec<f64>), dim: Option<usize>) -> PyResult<Vec<(f64, f64)>> {
    let (a_name, a) = a;
    let (b_name, b) = b;
    let dim = dim.unwrap_or(a.len().max(b.len()));
    let stretch = |name: &str, v: Vec<f64>| -> PyResult<Vec<f64>> {
        match v.len() {
            1 => Ok(vec![v[0]; dim]),
            n if n == dim => Ok(v),
            n => Err(PyValueError::new_err(format!("{name}: {n} values for a prior of dimension {dim}"))),
        }
    };
    let (a, b) = (stretch(a_name, a)?, stretch(b_name, b)?);
    Ok(a.into_iter().zip(b).collect())
}

/// U(low, high) per dimension: `low` and `high` are numbers or one value per dimension;
/// `periodic` (a bool for every dimension, or one per dimension) makes a dimension an angle whose
/// ends are one point, low ≡ high (the flow then treats it on the circle).
#[pyfunction(name = "Uniform")]
#[pyo3(signature = (low, high, dim = None, names = None, periodic = None))]
pub fn uniform(
    low: &Bound<PyAny>,
    high: &Bound<PyAny>,
    dim: Option<usize>,
    names: Option<Vec<String>>,
    periodic: Option<&Bound<PyAny>>,
) -> PyResult<PyPrior> {
    let pairs = paired(("low", values(low, "low")?), ("high", values(high, "high")?), dim)?;
    let dim = pairs.len();
    let marginals = pairs.into_iter().map(|(low, high)| Marginal::Uniform { low, high }).collect();
    let prior = Prior::new(marginals).py_err()?;
    let prior = match periodic {
        None => prior,
        Some(flags) => {
            let flags: Vec<bool> = match flags.extract::<bool>() {
                Ok(all) => vec![all; dim],
                Err(_) => flags.extract::<Vec<bool>>().map_err(|_| {
                    PyValueError::new_err(format!("periodic: expected a bool or {dim} bools, got {flags}"))
                })?,
            };
            prior.with_periodic(flags).py_err()?
        }
    };
    named(prior, names)
}

/// N(mean, std²) per dimension: `mean` and `std` are numbers or one value per dimension.
#[pyfunction(name = "Normal")]
#[pyo3(signature = (mean, std, dim = None, names = None))]
pub fn normal(
    mean: &Bound<PyAny>,
    std: &Bound<PyAny>,
    dim: Option<usize>,
    names: Option<Vec<String>>,
) -> PyResult<PyPrior> {
    let pairs = paired(("mean", values(mean, "mean")?), ("std", values(std, "std")?), dim)?;
    let marginals = pairs.into_iter().map(|(mean, std)| Marginal::Normal { mean, std }).collect();
    named(Prior::new(marginals).py_err()?, names)
}

/// `prior` with the parameter names `names` (CSV columns, plot axes, stored in model files), or
/// unnamed (`theta_1`, …) for `None`.
fn named(prior: Prior, names: Option<Vec<String>>) -> PyResult<PyPrior> {
    let prior = match names {
        Some(names) => prior.with_names(names).py_err()?,
        None => prior,
    };
    Ok(PyPrior { prior })
}

/// The correlated Gaussian N(mean, precision⁻¹), given by its precision matrix (dim × dim,
/// symmetric positive definite).
#[pyfunction(name = "MultivariateNormal")]
#[pyo3(signature = (mean, precision, names = None))]
pub fn multivariate_normal(
    mean: &Bound<PyAny>,
    precision: &Bound<PyAny>,
    names: Option<Vec<String>>,
) -> PyResult<PyPrior> {
    let mean = values(mean, "mean")?;
    let dim = mean.len();
    let precision = arrays::matrix(precision, "precision", dim)?;
    if precision.rows() != dim {
        return Err(PyValueError::new_err(format!(
            "precision: expected shape ({dim}, {dim}), got ({}, {dim})",
            precision.rows()
        )));
    }
    named(Prior::gaussian(mean, precision.as_slice()).py_err()?, names)
}

#[pymethods]
impl PyPrior {
    /// The product of independent priors: θ = (θ_a, θ_b, …).
    #[staticmethod]
    #[pyo3(signature = (*priors))]
    fn independent(priors: Vec<PyRef<PyPrior>>) -> PyResult<PyPrior> {
        if let Some(k) = priors.iter().position(|p| p.prior.is_correlated()) {
            return Err(PyValueError::new_err(format!(
                "prior {k} is a correlated Gaussian; independent() joins priors of independent dimensions"
            )));
        }
        let marginals = priors.iter().flat_map(|p| p.prior.marginals().iter().copied()).collect();
        let periodic: Vec<bool> = priors.iter().flat_map(|p| p.prior.periodic()).collect();
        // Names carry over when every part has them.
        let names: Option<Vec<String>> = priors
            .iter()
            .map(|p| p.prior.given_names().map(<[String]>::to_vec))
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.concat());
        named(Prior::new(marginals).and_then(|p| p.with_periodic(periodic)).py_err()?, names)
    }

    /// This prior with parameter names (one per dimension, unique, no commas or line breaks).
    fn with_names(&self, names: Vec<String>) -> PyResult<PyPrior> {
        named(self.prior.clone(), Some(names))
    }

    /// The parameter names: the given ones, else `theta_1`, `theta_2`, ….
    #[getter]
    fn names(&self) -> Vec<String> {
        self.prior.names()
    }

    /// One bool per dimension: whether it is periodic (an angle, `Uniform(..., periodic=...)`).
    #[getter]
    fn periodic(&self) -> Vec<bool> {
        self.prior.periodic()
    }

    /// Dimension of θ.
    #[getter]
    fn dim(&self) -> usize {
        self.prior.dim()
    }

    /// Whether the dimensions are correlated (a `MultivariateNormal`).
    #[getter]
    fn correlated(&self) -> bool {
        self.prior.is_correlated()
    }

    /// The marginals, one dict per dimension (`{"kind": "uniform", "low": …, "high": …}`, or
    /// `"normal"` with `mean`, `std`), as model files store them.
    #[getter]
    fn marginals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, self.prior.marginals())?)
    }

    /// `n` draws, shape (n, dim); the same seed gives the same draws.
    #[pyo3(signature = (n, seed = 1))]
    fn sample<'py>(&self, py: Python<'py>, n: usize, seed: u64) -> Bound<'py, numpy::PyArray2<f64>> {
        let mut theta = Mat::zeros(n, self.prior.dim());
        self.prior.sample(&mut stream(seed, Stream::Theta, 0, 0), theta.as_mut());
        arrays::to_numpy(py, theta.as_ref())
    }

    /// log π(θ) per row of `theta` (shape (n, dim)); −inf outside the support.
    fn log_prob<'py>(&self, py: Python<'py>, theta: &Bound<PyAny>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let theta = arrays::matrix(theta, "theta", self.prior.dim())?;
        let mut out = vec![0.0; theta.rows()];
        self.prior.log_density_rows(theta.as_ref(), &mut out);
        Ok(arrays::vec_to_numpy(py, out))
    }

    fn __len__(&self) -> usize {
        self.prior.dim()
    }

    fn __repr__(&self) -> String {
        if self.prior.is_correlated() {
            return format!("Prior(MultivariateNormal, dim={})", self.prior.dim());
        }
        let parts: Vec<String> = self
            .prior
            .marginals()
            .iter()
            .map(|m| match *m {
                Marginal::Uniform { low, high } => format!("U({low}, {high})"),
                Marginal::Normal { mean, std } => format!("N({mean}, {std})"),
                Marginal::LogNormal { log_mean, log_std } => format!("LogNormal({log_mean}, {log_std})"),
            })
            .collect();
        format!("Prior({})", parts.join(" × "))
    }
}
