//! `lwflow.Posterior`: a trained flow q(θ|x) with its metadata: samples, densities, model files
//! (the CLI's `.lwf`, read and written by the same library functions) and the description
//! `lwflow info` prints. Sampling and densities run with the GIL released.

use std::path::PathBuf;

use lwflow::flow::{importance_resample_many, Flow};
use lwflow::importance::{importance_resample, ImportanceConfig};
use lwflow::io::{load_flow, save_flow};
use lwflow::train::{refine, FlowMeta, RefineConfig};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays;
use crate::errors::IntoPy;
use crate::model::PyModel;
use crate::prior::PyPrior;
use crate::train::CtrlC;

/// The seed of `sample` when none is given: `lwflow sample`'s default, so both give the same draws.
pub const DEFAULT_SAMPLE_SEED: u64 = 1;

/// A trained posterior approximation q(θ|x).
#[pyclass(name = "Posterior", module = "lwflow", frozen)]
pub struct PyPosterior {
    pub flow: Flow<f32>,
    pub meta: FlowMeta,
    /// The model whose likelihood importance sampling uses: the one trained on, or the built-in
    /// task a model file names.
    pub model: Option<Py<PyModel>>,
}

impl PyPosterior {
    fn likelihood_model<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyModel>> {
        self.model.as_ref().map(|m| m.bind(py)).ok_or_else(|| {
            PyValueError::new_err(format!(
                "importance sampling needs the likelihood of '{}': pass model=lwflow.Model(...) \
                 (or a built-in task's name)",
                self.meta.model
            ))
        })
    }
}

/// `model` given to a method (a Model or a task name), or the posterior's own.
fn model_arg<'py>(py: Python<'py>, model: Option<&Bound<'py, PyAny>>) -> PyResult<Option<Bound<'py, PyModel>>> {
    match model {
        None => Ok(None),
        Some(m) => match m.extract::<String>() {
            Ok(name) => Ok(Some(Bound::new(py, PyModel::task(&name)?)?)),
            Err(_) => Ok(Some(m.cast::<PyModel>()?.clone())),
        },
    }
}

#[pymethods]
impl PyPosterior {
    /// `n` draws θ ~ q(θ|x), shape (n, theta_dim); x of shape (x_dim,). With x of shape
    /// (n_obs, x_dim), shape (n_obs, n, theta_dim): row j the draws of observation j, sampled
    /// in parallel, each observation with its own seed derived from `seed` and j (row 0 is what
    /// x[0] alone gives; `lwflow sample --obs-file` gives the same). The same seed gives the same
    /// draws as `lwflow sample --seed` (default 1, as there). With `importance=True`, draws from
    /// 0.1·prior + 0.9·q are weighted by the likelihood and resampled (`importance()` also
    /// returns the diagnostics).
    #[pyo3(signature = (x, n = 1000, seed = None, importance = false, model = None))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        n: usize,
        seed: Option<u64>,
        importance: bool,
        model: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (obs, many) = arrays::observations(x, "x", self.flow.ctx_dim())?;
        let seed = seed.unwrap_or(DEFAULT_SAMPLE_SEED);
        let d = self.flow.theta_dim();
        let samples = if importance {
            let given = model_arg(py, model)?;
            let model = match &given {
                Some(m) => m,
                None => self.likelihood_model(py)?,
            };
            let m = model.get();
            let result = py.detach(|| {
                importance_resample_many(
                    m.model.as_ref(),
                    &self.flow,
                    obs.as_ref(),
                    n,
                    &ImportanceConfig::default(),
                    seed,
                )
            });
            m.raise(result)?.0
        } else {
            py.detach(|| self.flow.sample_many(obs.as_ref(), n, seed)).py_err()?
        };
        let array = PyArray1::from_vec(py, samples.into_vec());
        Ok(if many { array.reshape([obs.rows(), n, d])?.into_any() } else { array.reshape([n, d])?.into_any() })
    }

    /// Importance-corrected draws for one observation x and how far to trust them: a dict with
    /// `samples` (n, theta_dim), `ess`, `draws`, `unique`, `log_evidence` (log p(x)).
    #[pyo3(signature = (x, n = 1000, seed = None, model = None))]
    fn importance<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        n: usize,
        seed: Option<u64>,
        model: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let x = arrays::vector(x, "x", self.flow.ctx_dim())?;
        let given = model_arg(py, model)?;
        let model = match &given {
            Some(m) => m,
            None => self.likelihood_model(py)?,
        };
        let m = model.get();
        let seed = seed.unwrap_or(DEFAULT_SAMPLE_SEED);
        let result =
            py.detach(|| importance_resample(m.model.as_ref(), &self.flow, &x, n, &ImportanceConfig::default(), seed));
        let corrected = m.raise(result)?;
        let out = pythonize::pythonize(py, &corrected.diagnostics)?.cast_into::<PyDict>()?;
        out.set_item("samples", arrays::to_numpy(py, corrected.samples.as_ref()))?;
        Ok(out)
    }

    /// A new Posterior: this one refined for the one observation x (shape (x_dim,)) by training
    /// on it alone, with draws from prior_share·prior + (1 − prior_share)·q(θ|x) weighted by the
    /// likelihood (`lwflow refine`, the same settings and defaults). Its samples are meant for x;
    /// `info()["refined"]` records the refinement. Costs steps × draws likelihood evaluations.
    #[pyo3(signature = (x, steps = None, draws = None, prior_share = None, lr = None, reverse_kl = None, temper = None, seed = None, model = None))]
    #[allow(clippy::too_many_arguments)]
    fn refine<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        steps: Option<usize>,
        draws: Option<usize>,
        prior_share: Option<f64>,
        lr: Option<f64>,
        reverse_kl: Option<f64>,
        temper: Option<bool>,
        seed: Option<u64>,
        model: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyPosterior> {
        let x = arrays::vector(x, "x", self.flow.ctx_dim())?;
        let given = model_arg(py, model)?;
        let model = match &given {
            Some(m) => m,
            None => self.likelihood_model(py)?,
        };
        let d = RefineConfig::default();
        let cfg = RefineConfig {
            steps: steps.unwrap_or(d.steps),
            draws: draws.unwrap_or(d.draws),
            prior_share: prior_share.unwrap_or(d.prior_share),
            lr: lr.unwrap_or(d.lr),
            reverse_kl: reverse_kl.unwrap_or(d.reverse_kl),
            temper: temper.unwrap_or(d.temper),
            seed: seed.unwrap_or(d.seed),
        };
        let m = model.get();
        m.take_failure();
        // Ctrl-C stops at the next step and raises KeyboardInterrupt, as in `train`.
        let mut ctrl_c = CtrlC::new(m);
        let mut flow = self.flow.clone();
        let result = py.detach(|| refine(m.model.as_ref(), &mut flow, &x, &cfg, &mut |_| ctrl_c.poll(m, |_| {})));
        let refinement = m.raise(result)?;
        if let Some(e) = ctrl_c.take(m) {
            return Err(e);
        }
        let meta = FlowMeta { refined: Some(refinement), ..self.meta.clone() };
        Ok(PyPosterior { flow, meta, model: Some(model.clone().unbind()) })
    }

    /// log q(θ_r | x) per row of theta (shape (n, theta_dim)); x of shape (x_dim,) for all rows,
    /// or (n, x_dim) row by row. −inf outside the prior's support.
    fn log_prob<'py>(
        &self,
        py: Python<'py>,
        theta: &Bound<'py, PyAny>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let theta = arrays::matrix(theta, "theta", self.flow.theta_dim())?;
        let (x, _) = arrays::observations(x, "x", self.flow.ctx_dim())?;
        let out = py.detach(|| self.flow.log_prob(theta.as_ref(), x.as_ref())).py_err()?;
        Ok(arrays::vec_to_numpy(py, out))
    }

    /// This posterior as an sbi posterior (`lwflow.sbi.SbiPosterior`): `.sample(sample_shape,
    /// x=...)`, `.log_prob(theta, x=...)`, `.set_default_x(x)`, torch tensors in and out, for
    /// `sbi.analysis.pairplot`, `sbi.diagnostics.run_sbc`, `sbi.utils.metrics.c2st`. Needs torch.
    #[pyo3(signature = (x = None, importance = false))]
    fn to_sbi<'py>(
        slf: &Bound<'py, Self>,
        x: Option<&Bound<'py, PyAny>>,
        importance: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let wrapper = slf.py().import("lwflow.sbi")?.getattr("SbiPosterior")?;
        wrapper.call1((slf, x, importance))
    }

    /// Writes the model file (`.lwf`, what `lwflow train --out` writes; `lwflow sample` reads it).
    fn save(&self, py: Python, path: PathBuf) -> PyResult<()> {
        py.detach(|| save_flow(&path, &self.flow, &self.meta)).py_err()
    }

    /// What `lwflow info` prints: architecture, prior, training settings and summary.
    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let info = lwflow::io::describe(&self.flow, &self.meta);
        Ok(pythonize::pythonize(py, &info)?)
    }

    /// Dimension of θ.
    #[getter]
    fn theta_dim(&self) -> usize {
        self.flow.theta_dim()
    }

    /// Dimension of x.
    #[getter]
    fn x_dim(&self) -> usize {
        self.flow.ctx_dim()
    }

    /// The prior the flow was trained with.
    #[getter]
    fn prior(&self) -> PyPrior {
        PyPrior { prior: self.meta.prior.clone() }
    }

    /// The model importance sampling uses, if known.
    #[getter]
    fn model(&self, py: Python) -> Option<Py<PyModel>> {
        self.model.as_ref().map(|m| m.clone_ref(py))
    }

    fn __repr__(&self) -> String {
        format!(
            "Posterior({}, theta_dim={}, x_dim={}, base={})",
            self.meta.model,
            self.flow.theta_dim(),
            self.flow.ctx_dim(),
            self.meta.flow.base.name()
        )
    }
}

/// Reads a model file written by `lwflow train` or `Posterior.save`. Importance sampling uses the
/// built-in task the file names, or `model`.
#[pyfunction]
#[pyo3(signature = (path, model = None))]
pub fn load(py: Python, path: PathBuf, model: Option<&Bound<PyAny>>) -> PyResult<PyPosterior> {
    let (flow, meta) = py.detach(|| load_flow(&path)).py_err()?;
    let model = match model_arg(py, model)? {
        Some(m) => Some(m.unbind()),
        None => match lwflow::tasks::find(&meta.model) {
            Some(entry) => Some(Py::new(py, PyModel::task(entry.name)?)?),
            None => None,
        },
    };
    Ok(PyPosterior { flow, meta, model })
}
