//! The contract every flow layer implements.
//!
//! A layer is a bijection v = f(u | ctx) of each row of `u`, with parameters in a flat slice.
//! `forward` is the density direction (theta → z, used in training), `inverse` the sampling
//! direction (z → theta). Kernels trust their inputs (shapes are checked at the public boundary,
//! `Flow`) and never allocate: scratch memory comes from the caller, sized by `workspace_len`.

use crate::mat::{MatMut, MatRef};
use crate::real::Real;

/// A bijective, hand-differentiated layer.
pub trait Layer<T: Real>: Send + Sync {
    /// Number of trainable parameters.
    fn n_params(&self) -> usize;
    /// Scratch length `forward`/`inverse` need for a batch of `n_batch` rows (and `backward`
    /// reads what `forward` left there).
    fn workspace_len(&self, n_batch: usize) -> usize;
    /// v = f(u | ctx); adds each row's log|det ∂f/∂u| to `log_det`; keeps in `ws` what
    /// `backward` needs.
    fn forward(&self, p: &[T], u: MatRef<T>, ctx: MatRef<T>, v: MatMut<T>, log_det: &mut [T], ws: &mut [T]);
    /// u = f⁻¹(v | ctx); adds each row's log|det ∂f⁻¹/∂v| (= −log|det ∂f/∂u|) to `log_det`.
    fn inverse(&self, p: &[T], v: MatRef<T>, ctx: MatRef<T>, u: MatMut<T>, log_det: &mut [T], ws: &mut [T]);
    /// Given adjoints of v and of the added log-det, overwrites `d_u` with the adjoint of u and
    /// *adds* the parameter adjoint into `d_p` (so chunks and shared weights accumulate).
    /// Reads the `ws` filled by the matching `forward` call.
    #[allow(clippy::too_many_arguments)]
    fn backward(&self, p: &[T], ws: &[T], d_v: MatRef<T>, d_log_det: &[T], d_u: MatMut<T>, d_p: &mut [T]);
}
