//! Numerically stable scalar functions used across the crate: log-sum-exp, softplus, sigmoid.

use crate::real::Real;

/// log Σ_i exp(x_i), computed as m + log Σ exp(x_i − m) with m = max x_i so no term overflows.
/// Returns −inf for an empty slice or when every x_i is −inf.
pub fn log_sum_exp<T: Real>(xs: &[T]) -> T {
    let m = xs.iter().fold(T::neg_infinity(), |m, &x| m.max(x));
    if m == T::neg_infinity() {
        return m;
    }
    let s: T = xs.iter().map(|&x| (x - m).exp()).sum();
    m + s.ln()
}

/// softplus(x) = log(1 + eˣ) without overflow: max(x, 0) + log1p(e^−|x|).
#[inline]
pub fn softplus<T: Real>(x: T) -> T {
    x.max(T::zero()) + (-x.abs()).exp().ln_1p()
}

/// σ(x) = 1 / (1 + e⁻ˣ), the derivative of softplus; stable for large |x|.
#[inline]
pub fn sigmoid<T: Real>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_is_exact_on_small_values_and_finite_on_huge_ones() {
        let xs = [0.1f64, -2.0, 1.5];
        let naive: f64 = xs.iter().map(|x| x.exp()).sum::<f64>().ln();
        assert!((log_sum_exp(&xs) - naive).abs() < 1e-14);
        assert!((log_sum_exp(&[1000.0f64, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(log_sum_exp(&[f64::NEG_INFINITY; 3]), f64::NEG_INFINITY);
        assert!((log_sum_exp(&[f64::NEG_INFINITY, 0.0]) - 0.0).abs() < 1e-15);
    }

    #[test]
    fn softplus_matches_definition_and_does_not_overflow() {
        for x in [-30.0f64, -1.0, 0.0, 0.7, 20.0] {
            assert!((softplus(x) - (1.0 + x.exp()).ln()).abs() < 1e-12);
        }
        assert_eq!(softplus(1e4f64), 1e4);
        assert!((sigmoid(-800.0f64)).abs() < 1e-300 && sigmoid(800.0f64) == 1.0);
    }
}
