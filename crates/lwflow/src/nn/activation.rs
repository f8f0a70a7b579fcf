//! Elementwise activations and their derivatives, as slice kernels that LLVM vectorises.
//!
//! ReLU(x) = max(x, 0), ReLU'(x) = 1 if x > 0 else 0.
//! SiLU(x) = x·σ(x) = x / (1 + e⁻ˣ), SiLU'(x) = σ(x)·(1 + x·(1 − σ(x))) (Elfwing et al. 2017,
//! arXiv:1702.03118; Hendrycks & Gimpel's GELU paper calls it "SiLU").
//!
//! The forward kernels also write the derivative at the same point, so a network's backward is
//! one multiply per element and never re-evaluates `exp`.
//!
//! SiLU needs e⁻ˣ for every hidden unit of every row; `std` `exp` is a libm call that blocks
//! vectorisation, so the kernels use the branch-free [`exp_poly`].

use crate::real::Real;
use crate::special::exp_poly;

/// A hidden-layer nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// x·σ(x) (swish), smooth; the default.
    Silu,
}

/// SiLU(x) and SiLU'(x) at one point.
#[inline(always)]
fn silu_and_derivative<T: Real>(x: T) -> (T, T) {
    let sig = T::one() / (T::one() + exp_poly(-x));
    (x * sig, sig * x.mul_add(T::one() - sig, T::one()))
}

/// ReLU(x) and ReLU'(x) at one point (the derivative at 0 is taken as 0, like PyTorch).
#[inline(always)]
fn relu_and_derivative<T: Real>(x: T) -> (T, T) {
    if x > T::zero() {
        (x, T::one())
    } else {
        (T::zero(), T::zero())
    }
}

impl Activation {
    /// act(x) at one point (reference implementation for tests and scalar callers).
    pub fn apply<T: Real>(self, x: T) -> T {
        match self {
            Activation::Relu => relu_and_derivative(x).0,
            Activation::Silu => silu_and_derivative(x).0,
        }
    }

    /// act'(x) at one point.
    pub fn derivative<T: Real>(self, x: T) -> T {
        match self {
            Activation::Relu => relu_and_derivative(x).1,
            Activation::Silu => silu_and_derivative(x).1,
        }
    }

    /// xs ← act(xs).
    pub fn apply_in_place<T: Real>(self, xs: &mut [T]) {
        match self {
            Activation::Relu => xs.iter_mut().for_each(|x| *x = relu_and_derivative(*x).0),
            Activation::Silu => xs.iter_mut().for_each(|x| *x = silu_and_derivative(*x).0),
        }
    }

    /// xs ← act(xs) and d ← act'(xs) (at the old xs). `d.len() == xs.len()`.
    pub fn apply_with_derivative<T: Real>(self, xs: &mut [T], d: &mut [T]) {
        debug_assert_eq!(xs.len(), d.len());
        fn run<T: Real>(xs: &mut [T], d: &mut [T], f: impl Fn(T) -> (T, T)) {
            for (x, d) in xs.iter_mut().zip(d.iter_mut()) {
                (*x, *d) = f(*x);
            }
        }
        match self {
            Activation::Relu => run(xs, d, relu_and_derivative),
            Activation::Silu => run(xs, d, silu_and_derivative),
        }
    }

    /// Fused bias + activation over the rows of a contiguous `n_rows × bias.len()` matrix:
    /// `z[r, j] ← act(z[r, j] + b[j])`, `d[r, j] ← act'(z[r, j] + b[j])`.
    pub fn bias_apply_with_derivative<T: Real>(self, z: &mut [T], bias: &[T], d: &mut [T]) {
        debug_assert_eq!(z.len(), d.len());
        let width = bias.len();
        fn run<T: Real>(z: &mut [T], bias: &[T], d: &mut [T], f: impl Fn(T) -> (T, T)) {
            let width = bias.len();
            for (zr, dr) in z.chunks_exact_mut(width).zip(d.chunks_exact_mut(width)) {
                for ((z, d), &b) in zr.iter_mut().zip(dr.iter_mut()).zip(bias) {
                    (*z, *d) = f(*z + b);
                }
            }
        }
        if width == 0 {
            return;
        }
        match self {
            Activation::Relu => run(z, bias, d, relu_and_derivative),
            Activation::Silu => run(z, bias, d, silu_and_derivative),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f64> {
        (-8000..=8000).map(|i| i as f64 * 0.01)
    }

    #[test]
    fn silu_matches_definition_and_is_finite_for_large_inputs() {
        for x in grid() {
            let sig = 1.0 / (1.0 + (-x).exp());
            let (y, d) = silu_and_derivative(x);
            assert!((y - x * sig).abs() <= 1e-13 * (1.0 + x.abs()), "silu({x})");
            assert!((d - sig * (1.0 + x * (1.0 - sig))).abs() <= 1e-13, "silu'({x})");
            let (y32, d32) = silu_and_derivative(x as f32);
            assert!((y32 as f64 - x * sig).abs() <= 1e-6 * (1.0 + x.abs()), "f32 silu({x})");
            assert!((d32 as f64 - sig * (1.0 + x * (1.0 - sig))).abs() <= 1e-6, "f32 silu'({x})");
        }
        for x in [1e6f32, -1e6, 1e38, -1e38] {
            let (y, d) = silu_and_derivative(x);
            assert!(y.is_finite() && d.is_finite(), "silu({x}) = {y}, {d}");
        }
        assert_eq!(silu_and_derivative(1e6f32), (1e6, 1.0));
    }

    #[test]
    fn silu_derivative_matches_central_differences() {
        for x in grid().step_by(37) {
            let h = 1e-6;
            let fd = (Activation::Silu.apply(x + h) - Activation::Silu.apply(x - h)) / (2.0 * h);
            assert!((fd - Activation::Silu.derivative(x)).abs() < 1e-8, "x={x}");
        }
    }

    #[test]
    fn slice_kernels_agree_with_scalar_versions() {
        for act in [Activation::Relu, Activation::Silu] {
            let bias = [0.5f32, -1.0, 2.0];
            let mut z: Vec<f32> = (0..12).map(|i| i as f32 * 0.7 - 4.0).collect();
            let orig = z.clone();
            let mut d = vec![f32::NAN; 12];
            act.bias_apply_with_derivative(&mut z, &bias, &mut d);
            for i in 0..12 {
                let x = orig[i] + bias[i % 3];
                assert_eq!(z[i], act.apply(x));
                assert_eq!(d[i], act.derivative(x));
            }
            let mut y = orig.clone();
            act.apply_in_place(&mut y);
            for i in 0..12 {
                assert_eq!(y[i], act.apply(orig[i]));
            }
        }
    }

    #[test]
    fn activation_serialises_lowercase() {
        assert_eq!(serde_json::to_string(&Activation::Silu).unwrap(), "\"silu\"");
        assert_eq!(serde_json::from_str::<Activation>("\"relu\"").unwrap(), Activation::Relu);
    }
}
