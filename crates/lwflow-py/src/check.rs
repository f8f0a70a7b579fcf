//! `lwflow.check`: the calibration diagnostics of `lwflow check` ([`lwflow::diagnostics::check`])
//! for a `Posterior` and a model (a `lwflow.Model`, a built-in task's name, or the posterior's
//! own), returned as the dict `lwflow check --json` prints. Runs with the GIL released (a Python
//! model's functions take it back when called).

use lwflow::diagnostics::{check as run_check, prior_predictive_pairs, CheckConfig};
use lwflow::Model;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::arrays;
use crate::model::PyModel;
use crate::posterior::PyPosterior;

/// Calibration diagnostics of `posterior` without a reference posterior: N = `simulations`
/// pairs θ* ~ prior, x ~ simulator(θ*) (or `pairs=(theta, x)`, arrays of shapes (N, theta_dim)
/// and (N, x_dim)), `draws` posterior draws per pair; SBC (θ_k and log q, Holm-corrected), HPD
/// coverage, TARP, the importance ESS of the first `ess_observations` x (all when None, 0
/// skips it) and the posterior predictive check at the first `ppc_observations` x. `model` is a
/// `lwflow.Model`, a built-in task's name, or None for the posterior's own model. Returns the
/// dict `lwflow check --json` prints: `summary` (`alpha`, `calibrated`, `tests`), `sbc`,
/// `coverage`, `tarp`, `ess`, `ppc`, `seconds`.
#[pyfunction]
#[pyo3(signature = (
    posterior, model = None, simulations = 1000, *, pairs = None, draws = 99, alpha = 0.01, ess_draws = 1000,
    ess_observations = None, ppc_observations = 20, ppc_draws = 1000, seed = 1
))]
#[allow(clippy::too_many_arguments)]
pub fn check<'py>(
    py: Python<'py>,
    posterior: PyRef<'py, PyPosterior>,
    model: Option<&Bound<'py, PyAny>>,
    simulations: usize,
    pairs: Option<&Bound<'py, PyAny>>,
    draws: usize,
    alpha: f64,
    ess_draws: usize,
    ess_observations: Option<usize>,
    ppc_observations: usize,
    ppc_draws: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let model: Bound<'py, PyModel> = match model {
        Some(m) => match m.extract::<String>() {
            Ok(name) => Bound::new(py, PyModel::task(&name)?)?,
            Err(_) => m.cast::<PyModel>()?.clone(),
        },
        None => match &posterior.model {
            Some(m) => m.bind(py).clone(),
            None => {
                return Err(PyValueError::new_err(format!(
                    "check needs the prior, simulator and likelihood of '{}': pass model=lwflow.Model(...) or a \
                     built-in task's name",
                    posterior.meta.model
                )))
            }
        },
    };
    let m = model.get();
    let (d, x_dim) = (posterior.flow.theta_dim(), posterior.flow.ctx_dim());
    if (m.model.theta_dim(), m.model.x_dim()) != (d, x_dim) {
        return Err(PyValueError::new_err(format!(
            "model: has θ of dimension {} and x of dimension {}; the posterior has {d} and {x_dim}",
            m.model.theta_dim(),
            m.model.x_dim()
        )));
    }
    let given = match pairs {
        None => None,
        Some(p) => {
            let tuple = p.cast::<PyTuple>().map_err(|_| PyValueError::new_err("pairs: expected a tuple (theta, x)"))?;
            if tuple.len() != 2 {
                return Err(PyValueError::new_err(format!("pairs: expected (theta, x), got {} items", tuple.len())));
            }
            let theta = arrays::matrix(&tuple.get_item(0)?, "pairs theta", d)?;
            let x = arrays::matrix(&tuple.get_item(1)?, "pairs x", x_dim)?;
            if theta.rows() != x.rows() || theta.rows() == 0 {
                return Err(PyValueError::new_err(format!(
                    "pairs: expected the same number (≥ 1) of theta and x rows, got {} and {}",
                    theta.rows(),
                    x.rows()
                )));
            }
            Some((theta, x))
        }
    };
    let cfg = CheckConfig {
        n_draws: draws,
        alpha,
        ess_draws,
        ess_observations,
        ppc_observations,
        ppc_draws,
        seed,
        ..CheckConfig::default()
    };
    m.take_failure();
    let flow = &posterior.flow;
    let result = py.detach(|| {
        let model: &dyn Model = m.model.as_ref();
        let (theta, x) = match given {
            Some(p) => p,
            None => prior_predictive_pairs(model, simulations, seed)?,
        };
        run_check(flow, model, theta.as_ref(), x.as_ref(), &cfg, &mut |_, _, _| {})
    });
    let report = m.raise(result)?;
    Ok(pythonize::pythonize(py, &report)?)
}
