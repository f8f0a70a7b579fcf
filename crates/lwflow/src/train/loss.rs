//! The likelihood-weighted negative log-likelihood and its seed gradient.
//!
//! loss = −Σ_b w_b log q(θ_b | x_b), with Σ_b w_b = 1 over the whole batch (see
//! [`crate::weights`]): an estimate of −(1/J) Σ_j Σ_i w̃_ij log q(θ_i|x_j), which equals
//! E_x KL(p(θ|x) ‖ q(θ|x)) up to a constant independent of q.

use crate::real::Real;

/// Writes d loss / d log_q_b = −w_b into `d_log_q` and returns this chunk's share of the loss
/// in f64 (chunks are summed in order by the caller).
pub fn weighted_nll<T: Real>(log_q: &[T], w: &[T], d_log_q: &mut [T]) -> f64 {
    let mut loss = 0.0;
    for ((d, &q), &wb) in d_log_q.iter_mut().zip(log_q).zip(w) {
        *d = -wb;
        loss -= wb.to_f64_lossless() * q.to_f64_lossless();
    }
    loss
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_all_close, numerical_gradient};

    #[test]
    fn seed_gradient_matches_finite_differences() {
        let w = [0.2, 0.5, 0.3];
        let q = [-1.0, -2.5, 0.4];
        let mut d = [0.0; 3];
        weighted_nll(&q, &w, &mut d);
        let num = numerical_gradient(|q| weighted_nll(q, &w, &mut [0.0; 3]), &q);
        assert_all_close("d_log_q", &d, &num, 1e-8);
        assert!((weighted_nll(&q, &w, &mut d) - (0.2 + 1.25 - 0.12)).abs() < 1e-12);
    }
}
