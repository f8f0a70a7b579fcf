//! Base distributions of the flow in z-space: [`StandardNormal`], [`GaussianMixture`] and
//! [`ConditionalMixture`] (a mixture whose parameters are an MLP of ctx; same per-row kernel).
//! The closed set of them, with the serialisable choice [`BaseConfig`], is [`BaseKind`].
//!
//! Same conventions as [`crate::flow::Layer`]: flat parameters, caller-provided scratch,
//! `backward` overwrites `d_z` and adds into `d_p`.

mod conditional_mixture;
pub mod fit;
mod kind;
mod mixture;
mod normal;

pub use conditional_mixture::{ConditionalMixture, INIT_LAST_SCALE};
pub use fit::{em_weighted_mixture, fit_weighted_mixture, EmStop, MixtureFit};
pub use kind::{BaseConfig, BaseKind};
pub use mixture::{GaussianMixture, INIT_MAX_SCALE, INIT_RADIUS, INIT_SEPARATION, LOG_SCALE_BOUND};
pub use normal::StandardNormal;

use crate::mat::{MatMut, MatRef};
use crate::real::Real;
use crate::rng::Rng;

/// A trainable density on R^dim, possibly conditioned on `ctx`.
pub trait Base<T: Real>: Send + Sync {
    /// Dimension d of the support R^d (equals the flow's θ dimension).
    fn dim(&self) -> usize;
    /// Length of this base's slice of the flow's flat parameter vector (0 for N(0, I)).
    fn n_params(&self) -> usize;
    /// Scratch elements [`Base::log_prob`] and its backward need for `n_batch` rows.
    fn workspace_len(&self, n_batch: usize) -> usize;
    /// Writes an initial parameter vector (the distribution must be valid after this).
    fn init_params(&self, p: &mut [T], rng: &mut Rng);
    /// Overwrites `log_q[r]` with log q(z_r | ctx_r); keeps in `ws` what `backward` needs.
    fn log_prob(&self, p: &[T], z: MatRef<T>, ctx: MatRef<T>, log_q: &mut [T], ws: &mut [T]);
    /// Given d loss / d log_q, overwrites `d_z` and adds into `d_p`. Reads `ws` from `log_prob`.
    fn backward(&self, p: &[T], ws: &[T], d_log_q: &[T], d_z: MatMut<T>, d_p: &mut [T]);
    /// Draws one z per row of `ctx` (`z.rows()` rows) into `z`.
    fn sample(&self, p: &[T], ctx: MatRef<T>, rng: &mut Rng, z: MatMut<T>);
}
