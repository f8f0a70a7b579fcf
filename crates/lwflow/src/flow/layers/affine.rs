//! Conditional affine coupling (RealNVP; Dinh et al. 2016, arXiv:1605.08803):
//! v_a = u_a, v_b = u_b ⊙ exp(s) + t, (raw_s, t) = net([u_a | ctx]), s = S·tanh(raw_s / S);
//! log|det ∂v/∂u| = Σ_j s_j.
//!
//! s is soft-clamped to [−S, S] (S = `scale_bound`) so exp cannot overflow and one layer cannot
//! scale by more than e^±S. [`Affine`] is the elementwise transformer; the conditioner, split,
//! workspace and tiling are the shared [`Coupling`]. The net's output row is
//! [raw_s (n_b) | t (n_b)] (PyTorch's `chunk(2)` order, which `crate::speed` relies on); forward
//! overwrites it with the cache [s | exp(s)] so backward needs no tanh or exp.
//!
//! Backward, with g = ∂L/∂v, γ = ∂L/∂log_det: ∂L/∂t = g_b, ∂L/∂s = g_b ⊙ u_b ⊙ e^s + γ,
//! ∂L/∂raw_s = ∂L/∂s ⊙ (1 − (s/S)²), ∂L/∂u_b = g_b ⊙ e^s.

use super::coupling::{Coupling, Split, Transformer};
use crate::nn::Activation;
use crate::real::Real;

/// The affine transformer v = u·exp(s) + t with soft-clamped log-scale s = S·tanh(raw_s / S).
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    scale_bound: f64,
}

impl Affine {
    /// Log-scales bounded by S = `scale_bound` > 0.
    #[track_caller]
    pub fn new(scale_bound: f64) -> Self {
        assert!(scale_bound > 0.0, "Affine: scale_bound must be positive");
        Self { scale_bound }
    }
    /// The bound S of the log-scale s = S·tanh(raw/S), so exp(s) ∈ [e^−S, e^S].
    pub fn scale_bound(&self) -> f64 {
        self.scale_bound
    }
}

impl Transformer for Affine {
    /// raw_s and t.
    fn n_params(&self) -> usize {
        2
    }

    #[inline]
    fn forward_row<T: Real>(&self, raw: &mut [T], u: &[T], v: &mut [T]) -> T {
        let bound = T::lit(self.scale_bound);
        let inv_bound = T::lit(1.0 / self.scale_bound);
        let (s_row, t_row) = raw.split_at_mut(u.len());
        let mut sum_s = T::zero();
        for (((s, t), &ub), vb) in s_row.iter_mut().zip(t_row.iter_mut()).zip(u).zip(v) {
            let s_val = bound * (*s * inv_bound).tanh();
            let e = s_val.exp();
            *vb = ub.mul_add(e, *t);
            sum_s += s_val;
            (*s, *t) = (s_val, e);
        }
        sum_s
    }

    #[inline]
    fn inverse_row<T: Real>(&self, raw: &[T], v: &[T], u: &mut [T]) -> T {
        let bound = T::lit(self.scale_bound);
        let inv_bound = T::lit(1.0 / self.scale_bound);
        let (raw_s, t) = raw.split_at(v.len());
        let mut sum_s = T::zero();
        for (((&raw, &t), &vb), ub) in raw_s.iter().zip(t).zip(v).zip(u) {
            let s = bound * (raw * inv_bound).tanh();
            *ub = (vb - t) * (-s).exp();
            sum_s += s;
        }
        -sum_s
    }

    #[inline]
    fn backward_row<T: Real>(&self, cache: &[T], u: &[T], d_v: &[T], d_log_det: T, d_raw: &mut [T], d_u: &mut [T]) {
        let inv_bound = T::lit(1.0 / self.scale_bound);
        let (s_row, e_row) = cache.split_at(u.len());
        let (d_raw, d_t) = d_raw.split_at_mut(u.len());
        for (((((d_raw, d_t), d_ub), &g), &s), (&e, &ub)) in
            d_raw.iter_mut().zip(d_t.iter_mut()).zip(d_u.iter_mut()).zip(d_v).zip(s_row).zip(e_row.iter().zip(u))
        {
            let tanh = s * inv_bound;
            *d_raw = (g * ub).mul_add(e, d_log_det) * (T::one() - tanh * tanh);
            *d_t = g;
            *d_ub = g * e;
        }
    }
}

/// An affine coupling layer: [`Coupling`] with the [`Affine`] transformer.
pub type AffineCoupling = Coupling<Affine>;

impl AffineCoupling {
    /// v_b = u_b ⊙ exp(s) + t, v_a = u_a; (raw_s, t) = mlp([u_a | ctx]); s = S·tanh(raw_s / S),
    /// S = `scale_bound`. The MLP is (n_cond + ctx_dim) → hidden → 2(dim − n_cond).
    #[track_caller]
    pub fn new(
        dim: usize,
        n_cond: usize,
        split: Split,
        ctx_dim: usize,
        hidden: &[usize],
        act: Activation,
        scale_bound: f64,
    ) -> Self {
        Coupling::with_transformer(dim, n_cond, split, ctx_dim, hidden, act, Affine::new(scale_bound))
    }
}
