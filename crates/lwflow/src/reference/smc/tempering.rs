//! Steps 1–2 of a stage: the next temperature β + Δβ, chosen so the conditional ESS keeps a target
//! fraction of N (module docs of [`super`]), and the tempered log-likelihood β·ℓ it weights with.

use crate::special::log_sum_exp;

/// Bisection steps for Δβ: resolves Δβ to 2⁻⁶⁰ of the remaining range.
const BISECTION_STEPS: usize = 60;

/// β·ℓ with 0·(−inf) = 0: at β = 0 a zero-likelihood particle keeps its prior weight.
#[inline]
pub(super) fn tempered(log_lik: f64, beta: f64) -> f64 {
    if beta == 0.0 {
        0.0
    } else {
        beta * log_lik
    }
}

/// log CESS(Δβ) − log N = 2 log Σ W w − log Σ W w² (module docs), from log W and ℓ.
fn log_cess_fraction(log_w: &[f64], log_lik: &[f64], delta: f64, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend(log_w.iter().zip(log_lik).map(|(&lw, &ll)| lw + tempered(ll, delta)));
    let log_s1 = log_sum_exp(buf);
    for (b, (&lw, &ll)) in buf.iter_mut().zip(log_w.iter().zip(log_lik)) {
        *b = lw + 2.0 * tempered(ll, delta);
    }
    // log Σ W = 0 since W is normalised.
    2.0 * log_s1 - log_sum_exp(buf)
}

/// The largest Δβ ∈ (0, `max_delta`] with CESS(Δβ) ≥ `target`·N, by bisection. If even the
/// smallest bisected Δβ misses the target (zero-likelihood particles already cost more), that
/// smallest value is returned: the stage then only removes those particles.
pub(super) fn next_delta(log_w: &[f64], log_lik: &[f64], max_delta: f64, target: f64) -> f64 {
    let log_target = target.ln();
    let mut buf = Vec::with_capacity(log_w.len());
    if log_cess_fraction(log_w, log_lik, max_delta, &mut buf) >= log_target {
        return max_delta;
    }
    let (mut lo, mut hi) = (0.0, max_delta);
    for _ in 0..BISECTION_STEPS {
        let mid = 0.5 * (lo + hi);
        if log_cess_fraction(log_w, log_lik, mid, &mut buf) >= log_target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo > 0.0 {
        lo
    } else {
        hi
    }
}
