//! `Real`: the scalar types the kernels are generic over (f32 and f64).
//!
//! Kernels are written once against this trait; literals go through [`Real::lit`], and the
//! general matrix product [`Real::gemm_raw`] is the one place that dispatches on the concrete type
//! (to `matrixmultiply::sgemm` / `dgemm`). Finite-difference tests run the same kernel in f64.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A floating-point scalar usable by every lwflow kernel.
pub trait Real:
    num_traits::Float
    + num_traits::FloatConst
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
{
    /// Machine epsilon.
    const EPS: Self;
    /// Name used in model files and messages ("f32" / "f64").
    const NAME: &'static str;

    /// Converts an f64 literal or computed constant.
    fn lit(x: f64) -> Self;
    /// Widens to f64 (exact for both types).
    fn to_f64_lossless(self) -> f64;

    /// `2^n` for an integer-valued `n` in the normal range, built from the exponent bits so
    /// that loops calling it vectorise (used by [`crate::nn::activation`]'s exp).
    fn exp2_int(n: Self) -> Self;

    /// C ← α·op(A)·op(B) + β·C with row/column strides, dispatched to matrixmultiply.
    ///
    /// # Safety
    /// The pointers and strides must describe valid, non-overlapping (for C) matrices of
    /// shapes m×k, k×n and m×n.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

impl Real for f32 {
    const EPS: Self = f32::EPSILON;
    const NAME: &'static str = "f32";
    #[inline(always)]
    fn lit(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64_lossless(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp2_int(n: Self) -> Self {
        // Exponent field is bits 23..31 with bias 127; n is integral and in [-126, 127].
        // n + 127 + 2^23 is exact and its low mantissa bits hold n + 127; shifting them into the
        // exponent field avoids a float→int conversion (`as i32` saturates, which LLVM
        // scalarises, so the SiLU loop would not vectorise).
        f32::from_bits((n + 8_388_735.0).to_bits() << 23)
    }
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}

impl Real for f64 {
    const EPS: Self = f64::EPSILON;
    const NAME: &'static str = "f64";
    #[inline(always)]
    fn lit(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64_lossless(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp2_int(n: Self) -> Self {
        // Exponent field is bits 52..63 with bias 1023; n is integral and in [-1022, 1023].
        // Same trick as f32: the low mantissa bits of n + 1023 + 2^52 hold n + 1023.
        f64::from_bits((n + 4_503_599_627_371_519.0).to_bits() << 52)
    }
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp2_int_matches_powi() {
        for n in [-126, 127].into_iter().chain(-100..100) {
            assert_eq!(f32::exp2_int(n as f32), 2f32.powi(n));
            assert_eq!(f64::exp2_int(n as f64), 2f64.powi(n));
        }
        assert_eq!(f64::exp2_int(-1022.0), 2f64.powi(-1022));
        assert_eq!(f64::exp2_int(1023.0), 2f64.powi(1023));
    }
}
