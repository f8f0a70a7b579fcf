//! Every number lwflow hands out is finite. [`Flow::sample`] and [`Flow::log_prob`] pass their
//! results through here before returning them, so every front end (CLI, Python) shares the check.
//!
//! Why q can fail: the flow was trained on x from the prior predictive, and its conditioners see
//! x standardised with that distribution's mean and standard deviation. Far outside it the
//! standardised |x| is 10¹⁰ and more, the conditioners' outputs overflow and q(θ|x) becomes NaN.
//! The error then names the observation and says how many standard deviations out it is.

use crate::error::{Error, Result};
use crate::flow::Flow;
use crate::mat::MatRef;
use crate::real::Real;

/// Standardised |x| above which the error says x lies outside the prior predictive: beyond 10
/// standard deviations the training data held (almost surely) no x like it.
pub const FAR_OUTSIDE_STD: f64 = 10.0;

/// The largest standardised |c_k(x) − mean_k| / std_k over the conditioners' context values
/// (x and the statistics of its features), and its 0-based column.
pub fn max_standardised<T: Real>(flow: &Flow<T>, x: &[f64]) -> (usize, f64) {
    let norm = flow.ctx_standardizer();
    let mut worst = (0, 0.0f64);
    flow.config().x_features.for_each(x, |k, v| {
        let z = ((v - norm.mean[k]) / norm.std[k]).abs();
        // A NaN z (overflowing statistic) counts as the worst.
        if z.is_nan() || z > worst.1 {
            worst = (k, if z.is_nan() { f64::INFINITY } else { z });
        }
    });
    worst
}

/// Why q was not finite at `x`: outside the prior predictive (with the standardised |x|), or not.
pub fn reason<T: Real>(flow: &Flow<T>, x: &[f64]) -> String {
    let (col, z) = max_standardised(flow, x);
    if z > FAR_OUTSIDE_STD {
        format!(
            "x is far outside the prior predictive the model was trained on (standardised |x| = {z:.3e} in context \
             column {}, where training saw values of a few units); q(θ|x) is not defined this far out — check the \
             observation's units, or retrain on a prior whose predictive covers it",
            col + 1
        )
    } else {
        format!(
            "x is within the prior predictive (standardised |x| at most {z:.2}), so the model's parameters are \
             likely damaged (a NaN or huge weight)"
        )
    }
}

/// `x` as the user wrote it: `[1e12, 1]`.
pub fn describe_obs(x: &[f64]) -> String {
    let parts: Vec<String> = x
        .iter()
        .map(|&v| if v != 0.0 && !(1e-4..1e6).contains(&v.abs()) { format!("{v:e}") } else { format!("{v}") })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Samples of q(·|x) must all be finite.
pub(crate) fn check_samples<T: Real>(flow: &Flow<T>, x: &[f64], samples: MatRef<f64>) -> Result<()> {
    let bad: Vec<usize> = (0..samples.rows()).filter(|&r| samples.row(r).iter().any(|v| !v.is_finite())).collect();
    let value = |r: usize| samples.row(r).iter().copied().find(|v| !v.is_finite()).unwrap_or(f64::NAN);
    report(flow, "sample", x, samples.rows(), &bad, value)
}

/// log q(θ_r|x_r) must be finite, or −inf exactly where θ_r is outside the prior's support.
pub(crate) fn check_log_q<T: Real>(flow: &Flow<T>, theta: MatRef<f64>, x: MatRef<f64>, log_q: &[f64]) -> Result<()> {
    let mut u = vec![0.0; flow.theta_dim()];
    let mut outside = |r: usize| flow.support().forward(theta.row(r), &mut u) == f64::NEG_INFINITY;
    // Allowed: finite values, and −inf for θ outside the support (log 0).
    let allowed = |r: usize, outside: &mut dyn FnMut(usize) -> bool| {
        log_q[r].is_finite() || (log_q[r] == f64::NEG_INFINITY && outside(r))
    };
    let bad: Vec<usize> = (0..log_q.len()).filter(|&r| !allowed(r, &mut outside)).collect();
    let x_row = match (bad.first(), x.rows()) {
        (Some(&r), rows) if rows > 1 => r,
        _ => 0,
    };
    report(flow, "log q(θ|x)", x.row(x_row), log_q.len(), &bad, |r| log_q[r])
}

/// The error for the non-finite rows `bad` (sorted) of `total`, or `Ok` if there are none.
fn report<T: Real>(
    flow: &Flow<T>,
    what: &'static str,
    x: &[f64],
    total: usize,
    bad: &[usize],
    value: impl Fn(usize) -> f64,
) -> Result<()> {
    let Some(&row) = bad.first() else { return Ok(()) };
    Err(Error::NonFiniteOutput {
        what,
        obs: describe_obs(x),
        bad: bad.len(),
        total,
        row,
        value: value(row),
        reason: reason(flow, x),
    })
}
