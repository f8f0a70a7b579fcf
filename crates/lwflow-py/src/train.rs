//! `lwflow.train(model, **settings)`: the keywords are the library's [`Settings`] in the
//! command line's spelling ([`Settings::from_keywords`]), laid over the task's recommended
//! settings exactly as `lwflow train` does, so the same settings and seed give the same flow.
//! The GIL is released while training; the step callback takes it a few times a second to
//! check for Ctrl-C (which stops training at the next step and raises `KeyboardInterrupt`
//! carrying the posterior trained so far as `.posterior`) and to print progress.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use lwflow::settings::{Resolved, Settings};
use lwflow::train::{choose_components, fit_until, AutoKConfig, StepReport};
use lwflow::Error;
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::to_py;
use crate::model::PyModel;
use crate::posterior::PyPosterior;

/// How often the step callback takes the GIL: Ctrl-C answers within this, plus one step.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// How often the progress line is rewritten.
const SHOW_EVERY: Duration = Duration::from_secs(1);

/// Ctrl-C during a run with the GIL released (`train`, `Posterior.refine`): a step callback
/// [`CtrlC::poll`]s it, and the run ends with [`CtrlC::take`]'s `KeyboardInterrupt`, if any.
pub(crate) struct CtrlC {
    last_check: Instant,
    interrupt: Option<PyErr>,
}

impl CtrlC {
    /// Clears an interrupt left by an earlier run of `m`.
    pub(crate) fn new(m: &PyModel) -> Self {
        m.take_interrupt();
        Self { last_check: Instant::now(), interrupt: None }
    }

    /// Break when Ctrl-C arrived inside a call of `m`'s Python functions, or, at most every
    /// [`CHECK_EVERY`], at the terminal (the GIL is taken for the check, and `with_gil` runs
    /// then too when no signal is pending).
    pub(crate) fn poll(&mut self, m: &PyModel, with_gil: impl FnOnce(Python)) -> ControlFlow<()> {
        if m.interrupted() {
            return ControlFlow::Break(());
        }
        if self.last_check.elapsed() < CHECK_EVERY {
            return ControlFlow::Continue(());
        }
        self.last_check = Instant::now();
        Python::attach(|py| match py.check_signals() {
            Ok(()) => {
                with_gil(py);
                ControlFlow::Continue(())
            }
            Err(e) => {
                self.interrupt = Some(e);
                ControlFlow::Break(())
            }
        })
    }

    /// The interrupt that stopped the run, if one did.
    pub(crate) fn take(self, m: &PyModel) -> Option<PyErr> {
        self.interrupt.or_else(|| m.take_interrupt())
    }
}

/// A resolve error about "train.steps" is about the keyword `steps`.
fn keyword_error(e: Error) -> PyErr {
    if let Error::Invalid { what, reason } = &e {
        if let Some(k) = Settings::keywords().into_iter().find(|k| &k.path() == what) {
            return PyValueError::new_err(format!("invalid keyword '{}': {reason}", k.name));
        }
    }
    to_py(e)
}

/// Writes one progress line to `sys.stderr` (where a notebook shows it), `\r`-rewritten.
fn show_progress(py: Python, r: &StepReport) -> PyResult<()> {
    let beta = if r.beta < 1.0 { format!(" β {:.3}", r.beta) } else { String::new() };
    let line =
        format!("\rstep {}/{} loss {:.3} ESS {:.1} (min {:.1}){beta}", r.step, r.steps, r.loss, r.ess_mean, r.ess_min);
    write_stderr(py, &line)
}

fn write_stderr(py: Python, text: &str) -> PyResult<()> {
    py.import("sys")?.getattr("stderr")?.call_method1("write", (text,))?;
    Ok(())
}

/// Trains a posterior for `model` (a `Model`, or a built-in task's name) with the settings given
/// as keywords (`steps=2000`, `base="cgmm"`, `components="auto"`, `seed=1`, …: every
/// `lwflow train` flag, `-` written `_`, with the same defaults). Progress goes to stderr unless
/// `progress=False`.
#[pyfunction]
#[pyo3(signature = (model, *, progress = true, **settings))]
pub fn train(
    py: Python,
    model: &Bound<PyAny>,
    progress: bool,
    settings: Option<&Bound<PyDict>>,
) -> PyResult<PyPosterior> {
    let model: Bound<PyModel> = match model.extract::<String>() {
        Ok(name) => Bound::new(py, PyModel::task(&name)?)?,
        Err(_) => model.cast::<PyModel>()?.clone(),
    };
    let keywords = match settings {
        Some(dict) => match pythonize::depythonize::<serde_json::Value>(dict.as_any())? {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("a dict depythonizes to an object"),
        },
        None => Default::default(),
    };
    let settings = Settings::from_keywords(keywords).map_err(to_py)?;
    let m = model.get();
    let Resolved { flow: mut flow_cfg, train: train_cfg, auto_components } =
        settings.resolve(m.task, m.model.theta_dim(), m.model.x_dim()).map_err(keyword_error)?;
    m.take_failure();
    let mut ctrl_c = CtrlC::new(m);
    let mut last_shown: Option<Instant> = None;
    let result = py.detach(|| {
        let auto = if auto_components {
            let cfg = AutoKConfig { seed: train_cfg.seed, ..AutoKConfig::default() };
            choose_components(m.model.as_ref(), &mut flow_cfg, &cfg)?
        } else {
            None
        };
        let (flow, mut meta) = fit_until(m.model.as_ref(), flow_cfg, train_cfg, &mut |r| {
            ctrl_c.poll(m, |py| {
                // Progress is best effort: a closed stderr must not stop training.
                if progress && last_shown.is_none_or(|t| t.elapsed() >= SHOW_EVERY) {
                    last_shown = Some(Instant::now());
                    let _ = show_progress(py, r);
                }
            })
        })?;
        meta.auto_components = auto;
        Ok((flow, meta))
    });
    let (flow, meta) = m.raise(result)?;
    let interrupt = ctrl_c.take(m);
    if progress {
        let s = meta.summary.as_ref().expect("fit records a summary");
        let line = format!(
            "\n{} steps in {:.1} s, best validation loss {:.4} at step {}, mean ESS {:.1}\n",
            s.steps_run, s.seconds, s.best_val_loss, s.best_step, s.mean_ess
        );
        let _ = write_stderr(py, &line);
    }
    let posterior = PyPosterior { flow, meta, model: Some(model.clone().unbind()) };
    match interrupt {
        None => Ok(posterior),
        Some(e) => {
            // Keep what was trained: `except KeyboardInterrupt as e: e.posterior`.
            if e.is_instance_of::<PyKeyboardInterrupt>(py) {
                e.value(py).setattr("posterior", Py::new(py, posterior)?)?;
            }
            Err(e)
        }
    }
}

/// Every settings keyword `train` accepts, in the library's order.
pub fn keyword_names() -> Vec<String> {
    Settings::keywords().into_iter().map(|k| k.name).collect()
}
