//! `lwflow.Model`: a model whose likelihood and simulator are Python functions, or a built-in
//! task. [`PythonModel`] implements [`lwflow::Model`] by calling the functions with the GIL
//! taken for the call only; the trainer calls it from several threads, each call waits for the
//! GIL in turn.
//!
//! A Python exception, a wrong shape or a NaN stops the run: the first such failure is kept
//! (with its traceback) and raised by whoever started the run ([`PythonModel::take_failure`]),
//! every later call fails at once without calling Python, and the library sees an
//! [`Error::Model`] that ends training.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lwflow::model::Model;
use lwflow::rand::Rng as _;
use lwflow::rng::{stream, Rng, Stream};
use lwflow::{Error, Mat, MatMut, MatRef, Prior};
use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::{PyKeyboardInterrupt, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::arrays::{self, float_array, shape_text};
use crate::errors::IntoPy;
use crate::prior::PyPrior;

/// The model's two operations, for messages and call counts.
#[derive(Clone, Copy, Debug)]
enum Op {
    LogLikelihood,
    Simulate,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::LogLikelihood => "log_likelihood",
            Op::Simulate => "simulator",
        }
    }
}

/// A model given as Python functions (module docs).
pub struct PythonModel {
    name: String,
    prior: Prior,
    x_dim: usize,
    /// f(x (n, dx), θ (n, dθ)) → log L, shape (n,).
    log_likelihood: Py<PyAny>,
    /// g(θ (n, dθ), seed) → x, shape (n, dx).
    simulator: Py<PyAny>,
    /// Calls so far, per [`Op`], for messages.
    calls: [AtomicU64; 2],
    /// The first failure of a run, kept for [`PythonModel::take_failure`].
    failure: Mutex<Option<PyErr>>,
    /// A Ctrl-C that arrived while a function ran on the main thread ([`PythonModel::call`]).
    interrupt: Mutex<Option<PyErr>>,
}

impl PythonModel {
    /// The failure that stopped the last run, if any; clears it for the next run.
    pub fn take_failure(&self) -> Option<PyErr> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Whether Ctrl-C arrived during a call of the current run.
    pub fn interrupted(&self) -> bool {
        self.interrupt.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// The `KeyboardInterrupt` raised inside a call of the last run, if any; clears it.
    pub fn take_interrupt(&self) -> Option<PyErr> {
        self.interrupt.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Runs `run` with the GIL, passing it the call's number. The number is taken with the GIL
    /// held, so "call k" is the k-th time the user's function ran, whatever order the trainer's
    /// threads arrive in. The trainer calls some functions from the thread that started
    /// training, the main thread, where Python raises `KeyboardInterrupt` for Ctrl-C inside the
    /// user's function: the first such call is kept as the run's interrupt and made again (as
    /// the next call), so the step completes and training stops at its end with what it has
    /// learnt (a second Ctrl-C fails the call and ends training at once).
    fn call(&self, op: Op, mut run: impl FnMut(Python, u64) -> PyResult<()>) -> lwflow::Result<()> {
        Python::attach(|py| {
            let call = self.next_call(op);
            match run(py, call) {
                Err(e) if e.is_instance_of::<PyKeyboardInterrupt>(py) && !self.interrupted() => {
                    *self.interrupt.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    let again = self.next_call(op);
                    run(py, again).map_err(|e| self.fail(op, again, e))
                }
                result => result.map_err(|e| self.fail(op, call, e)),
            }
        })
    }

    fn failed(&self) -> bool {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Keeps `e` if it is the run's first failure; the library's error says which call failed.
    fn fail(&self, op: Op, call: u64, e: PyErr) -> Error {
        let message = e.to_string().replace('\n', " ");
        let mut slot = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        Error::Model(format!("Python {} call {call} failed: {message}", op.name()))
    }

    /// An error for calls after the first failure: training is stopping.
    fn stopped(&self, op: Op) -> Error {
        Error::Model(format!("Python {} not called: an earlier call failed", op.name()))
    }

    fn next_call(&self, op: Op) -> u64 {
        self.calls[op as usize].fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Calls `f(*args)` and reads its result as a float64 array of exactly `shape`.
    fn call_for_array<'py>(
        &self,
        py: Python<'py>,
        op: Op,
        call: u64,
        args: impl pyo3::call::PyCallArgs<'py>,
        shape: &[usize],
        out: &mut [f64],
    ) -> PyResult<()> {
        let function = match op {
            Op::LogLikelihood => &self.log_likelihood,
            Op::Simulate => &self.simulator,
        };
        let result = function.bind(py).call1(args)?;
        let what = format!("{} call {call} result", op.name());
        let array = float_array(&result, &what)?;
        let view = array.as_array();
        if view.shape() != shape {
            let meaning = match op {
                Op::LogLikelihood => "one log-likelihood per row of x and theta",
                Op::Simulate => "one x per row of theta",
            };
            return Err(PyValueError::new_err(format!(
                "{} call {call} returned shape {}; expected {} ({meaning})",
                op.name(),
                shape_text(view.shape()),
                shape_text(shape)
            )));
        }
        match view.as_slice() {
            Some(values) => out.copy_from_slice(values),
            None => out.iter_mut().zip(view.iter()).for_each(|(o, v)| *o = *v),
        }
        Ok(())
    }
}

/// "[a, b, c]" for a row in a message.
fn row_text(row: &[f64]) -> String {
    format!("[{}]", row.iter().map(|v| format!("{v}")).collect::<Vec<_>>().join(", "))
}

/// −inf is a zero likelihood; NaN and +inf are the model's bug, reported with the call, the row
/// and its θ and x (`x` has one row per θ row, or one row for all).
fn check_log_likelihood(call: u64, x: MatRef<f64>, theta: MatRef<f64>, out: &[f64]) -> PyResult<()> {
    match out.iter().position(|v| v.is_nan() || *v == f64::INFINITY) {
        None => Ok(()),
        Some(r) => Err(PyValueError::new_err(format!(
            "log_likelihood call {call} returned {} at row {r} of {} (theta = {}, x = {}); \
             expected finite values, or -inf for a zero likelihood",
            out[r],
            out.len(),
            row_text(theta.row(r)),
            row_text(x.row(if x.rows() == 1 { 0 } else { r }))
        ))),
    }
}

impl Model for PythonModel {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn theta_dim(&self) -> usize {
        self.prior.dim()
    }

    fn x_dim(&self) -> usize {
        self.x_dim
    }

    fn prior(&self) -> &Prior {
        &self.prior
    }

    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> lwflow::Result<()> {
        let op = Op::LogLikelihood;
        if self.failed() {
            return Err(self.stopped(op));
        }
        let n = theta.rows();
        self.call(op, |py, call| {
            let args = (arrays::to_numpy(py, x), arrays::to_numpy(py, theta));
            self.call_for_array(py, op, call, args, &[n], out)?;
            check_log_likelihood(call, x, theta, out)
        })
    }

    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, mut x: MatMut<f64>) -> lwflow::Result<()> {
        let op = Op::Simulate;
        if self.failed() {
            return Err(self.stopped(op));
        }
        let seed: u64 = rng.gen();
        let (n, dx) = (theta.rows(), self.x_dim);
        let mut values = vec![0.0; n * dx];
        self.call(op, |py, call| {
            self.call_for_array(py, op, call, (arrays::to_numpy(py, theta), seed), &[n, dx], &mut values)?;
            if let Some(k) = values.iter().position(|v| !v.is_finite()) {
                return Err(PyValueError::new_err(format!(
                    "simulator call {call} returned {} at row {} of {n} (theta = {}); expected finite values",
                    values[k],
                    k / dx,
                    row_text(theta.row(k / dx))
                )));
            }
            Ok(())
        })?;
        for r in 0..n {
            x.row_mut(r).copy_from_slice(&values[r * dx..(r + 1) * dx]);
        }
        Ok(())
    }
}

/// A Bayesian model: a prior, a vectorised log-likelihood and a simulator written in Python, or a
/// built-in task (`lwflow.tasks.get(name)`).
#[pyclass(name = "Model", module = "lwflow", frozen)]
pub struct PyModel {
    /// What the library trains on.
    pub model: Arc<dyn Model>,
    /// The built-in task's name, whose recommended settings training starts from.
    pub task: Option<&'static str>,
    /// The same model when it is Python's, for its failures.
    pub python: Option<Arc<PythonModel>>,
}

impl PyModel {
    /// The built-in task called `name`.
    pub fn task(name: &str) -> PyResult<Self> {
        let entry = lwflow::tasks::entry(name).py_err()?;
        Ok(Self { model: Arc::from(entry.model().py_err()?), task: Some(entry.name), python: None })
    }

    /// The failure that stopped the last run of a Python model, if any (cleared).
    pub fn take_failure(&self) -> Option<PyErr> {
        self.python.as_ref().and_then(|p| p.take_failure())
    }

    /// Whether Ctrl-C arrived inside a Python model's function during the current run.
    pub fn interrupted(&self) -> bool {
        self.python.as_ref().is_some_and(|p| p.interrupted())
    }

    /// That Ctrl-C's `KeyboardInterrupt`, if any (cleared).
    pub fn take_interrupt(&self) -> Option<PyErr> {
        self.python.as_ref().and_then(|p| p.take_interrupt())
    }
}

/// The name of a Python callable, for the model's description: `module.qualname`.
fn callable_name(f: &Bound<PyAny>) -> String {
    let attr = |name: &str| f.getattr(name).and_then(|v| v.extract::<String>()).ok();
    match (attr("__module__"), attr("__qualname__")) {
        (Some(m), Some(q)) => format!("{m}.{q}"),
        (None, Some(q)) => q,
        _ => "a Python callable".to_string(),
    }
}

#[pymethods]
impl PyModel {
    /// `log_likelihood(x, theta)`: x of shape (n, x_dim) and theta of shape (n, prior.dim) as
    /// float64 arrays, row r paired with row r; returns log L(x_r | θ_r), shape (n,), −inf for a
    /// zero likelihood. `simulator(theta, seed)`: one x per row of theta, shape (n, x_dim), a
    /// function of theta and the integer seed only. `x_dim` is read from one simulation when not given.
    #[new]
    #[pyo3(signature = (prior, log_likelihood, simulator, *, x_dim = None, name = None))]
    fn new(
        py: Python,
        prior: PyRef<PyPrior>,
        log_likelihood: Bound<PyAny>,
        simulator: Bound<PyAny>,
        x_dim: Option<usize>,
        name: Option<String>,
    ) -> PyResult<Self> {
        for (what, f) in [("log_likelihood", &log_likelihood), ("simulator", &simulator)] {
            if !f.is_callable() {
                return Err(PyTypeError::new_err(format!("{what} must be callable, got {}", f.get_type().name()?)));
            }
        }
        let prior = prior.prior.clone();
        let x_dim = match x_dim {
            Some(0) => return Err(PyValueError::new_err("x_dim must be at least 1")),
            Some(d) => d,
            None => {
                // One simulation at a prior draw tells the dimension of x.
                let mut theta = Mat::zeros(1, prior.dim());
                prior.sample(&mut stream(0, Stream::Theta, 0, 0), theta.as_mut());
                let x = simulator.call1((arrays::to_numpy(py, theta.as_ref()), 0u64))?;
                let array = float_array(&x, "simulator result")?;
                match array.as_array().shape() {
                    &[1, d] if d >= 1 => d,
                    shape => {
                        return Err(PyValueError::new_err(format!(
                            "simulator returned shape {} for theta of shape (1, {}); expected (1, x_dim)",
                            shape_text(shape),
                            prior.dim()
                        )))
                    }
                }
            }
        };
        let name = name.unwrap_or_else(|| format!("python:{}", callable_name(&log_likelihood)));
        let python = Arc::new(PythonModel {
            name,
            prior,
            x_dim,
            log_likelihood: log_likelihood.unbind(),
            simulator: simulator.unbind(),
            calls: [AtomicU64::new(0), AtomicU64::new(0)],
            failure: Mutex::new(None),
            interrupt: Mutex::new(None),
        });
        Ok(Self { model: python.clone(), task: None, python: Some(python) })
    }

    /// The model's description, stored in model files.
    #[getter]
    fn name(&self) -> String {
        self.model.name()
    }

    /// The prior π(θ).
    #[getter]
    fn prior(&self) -> PyPrior {
        PyPrior { prior: self.model.prior().clone() }
    }

    /// Dimension of θ.
    #[getter]
    fn theta_dim(&self) -> usize {
        self.model.theta_dim()
    }

    /// Dimension of x.
    #[getter]
    fn x_dim(&self) -> usize {
        self.model.x_dim()
    }

    /// The built-in task's name, or None for a Python model.
    #[getter]
    fn task_name(&self) -> Option<&'static str> {
        self.task
    }

    /// log L(x_r | θ_r) per row (x of shape (n, x_dim) or (x_dim,) for one observation against
    /// every θ; theta of shape (n, theta_dim)).
    fn log_likelihood<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<PyAny>,
        theta: &Bound<PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let theta = arrays::matrix(theta, "theta", self.model.theta_dim())?;
        let (x, _) = arrays::observations(x, "x", self.model.x_dim())?;
        let n = theta.rows();
        let mut out = vec![0.0; n];
        let result = py.detach(|| {
            if x.rows() == 1 {
                self.model.log_likelihood_at(x.row(0), theta.as_ref(), &mut out)
            } else if x.rows() == n {
                self.model.log_likelihood(x.as_ref(), theta.as_ref(), &mut out)
            } else {
                Err(Error::invalid("x", format!("need 1 or {n} rows (one per row of theta), got {}", x.rows())))
            }
        });
        self.raise(result)?;
        Ok(arrays::vec_to_numpy(py, out))
    }

    /// One x per row of theta (shape (n, theta_dim)), shape (n, x_dim); the same seed gives the same x.
    #[pyo3(signature = (theta, seed = 1))]
    fn simulate<'py>(&self, py: Python<'py>, theta: &Bound<PyAny>, seed: u64) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let theta = arrays::matrix(theta, "theta", self.model.theta_dim())?;
        let mut x = Mat::zeros(theta.rows(), self.model.x_dim());
        let result =
            py.detach(|| self.model.simulate(theta.as_ref(), &mut stream(seed, Stream::Simulate, 0, 0), x.as_mut()));
        self.raise(result)?;
        Ok(arrays::to_numpy(py, x.as_ref()))
    }

    fn __repr__(&self) -> String {
        format!("Model({}, theta_dim={}, x_dim={})", self.model.name(), self.model.theta_dim(), self.model.x_dim())
    }
}

impl PyModel {
    /// `result`'s error as the Python exception that caused it, or as the library's error.
    pub fn raise<T>(&self, result: lwflow::Result<T>) -> PyResult<T> {
        let failure = self.take_failure();
        match (result, failure) {
            (Ok(v), None) => Ok(v),
            (_, Some(e)) => Err(e),
            (Err(e), None) => Err(crate::errors::to_py(e)),
        }
    }
}
