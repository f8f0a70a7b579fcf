//! Base distributions of the flow in z-space: [`StandardNormal`], [`GaussianMixture`] and
//! [`ConditionalMixture`] (a mixture whose parameters are an MLP of ctx; same per-row kernel).
//! Each is a file implementing the contract [`Base`]; this file holds the contract and the
//! closed set: [`BaseConfig`] (the serialisable choice, stored in model files) and [`BaseKind`]
//! (the built base a flow owns). Everything that differs per base family — its names, its
//! component count, how it is built, how a mixture layout is written into it — is a match here,
//! so a new base is a new file plus its variants here; every match is exhaustive, so the compiler
//! lists what a new variant must answer.
//!
//! Same conventions as [`crate::flow::Layer`]: flat parameters, caller-provided scratch,
//! `backward` overwrites `d_z` and adds into `d_p`.

mod conditional_mixture;
pub mod fit;
mod mixture;
mod normal;

pub use conditional_mixture::{ConditionalMixture, INIT_LAST_SCALE};
pub use fit::{em_weighted_mixture, fit_weighted_mixture, EmStop, MixtureFit};
pub use mixture::{GaussianMixture, INIT_MAX_SCALE, INIT_RADIUS, INIT_SEPARATION, LOG_SCALE_BOUND};
pub use normal::StandardNormal;

use crate::error::{Error, Result};
use crate::mat::{MatMut, MatRef};
use crate::nn::Activation;
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
    /// Given d loss / d log_q, overwrites `d_z` and adds into `d_p` and, when given, the context's
    /// adjoint into `d_ctx` (as [`crate::flow::Layer::backward`]). Reads `ws` from `log_prob`.
    fn backward(&self, p: &[T], ws: &[T], d_log_q: &[T], d_z: MatMut<T>, d_ctx: Option<MatMut<T>>, d_p: &mut [T]);
    /// Draws one z per row of `ctx` (`z.rows()` rows) into `z`.
    fn sample(&self, p: &[T], ctx: MatRef<T>, rng: &mut Rng, z: MatMut<T>);
}

/// The base distribution's family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BaseConfig {
    /// Standard normal N(0, I).
    Gaussian,
    /// Gaussian mixture with `components` trainable components.
    Gmm {
        /// Number of components K ≥ 1.
        components: usize,
    },
    /// Gaussian mixture whose means, scales and weights are computed from x by an MLP with the
    /// couplings' hidden sizes and activation.
    Cgmm {
        /// Number of components K ≥ 1.
        components: usize,
    },
}

impl BaseConfig {
    /// Number of mixture components (1 for the Gaussian base).
    pub fn components(&self) -> usize {
        self.mixture_components().unwrap_or(1)
    }

    /// The number of components of a mixture base; `None` for a base without components.
    pub fn mixture_components(&self) -> Option<usize> {
        match *self {
            BaseConfig::Gaussian => None,
            BaseConfig::Gmm { components } | BaseConfig::Cgmm { components } => Some(components),
        }
    }

    /// The same family with `components` components; `None` for a base without components
    /// (a caller that wants a mixture then picks one).
    pub fn with_components(&self, components: usize) -> Option<Self> {
        match *self {
            BaseConfig::Gaussian => None,
            BaseConfig::Gmm { .. } => Some(BaseConfig::Gmm { components }),
            BaseConfig::Cgmm { .. } => Some(BaseConfig::Cgmm { components }),
        }
    }

    /// Short name used in files and tables: "gaussian", "gmm", "cgmm".
    pub fn name(&self) -> &'static str {
        match self {
            BaseConfig::Gaussian => "gaussian",
            BaseConfig::Gmm { .. } => "gmm",
            BaseConfig::Cgmm { .. } => "cgmm",
        }
    }

    /// Builds the base on ℝ^`dim`; a conditional base reads `ctx_width` context values through an
    /// MLP with the couplings' `hidden` sizes and activation `act`. Errors on zero components.
    pub fn build(&self, dim: usize, ctx_width: usize, hidden: &[usize], act: Activation) -> Result<BaseKind> {
        if self.components() == 0 {
            return Err(Error::invalid("base components", "must be at least 1"));
        }
        Ok(match *self {
            BaseConfig::Gaussian => BaseKind::Normal(StandardNormal::new(dim)),
            BaseConfig::Gmm { components } => BaseKind::Mixture(GaussianMixture::new(dim, components)),
            BaseConfig::Cgmm { components } => {
                BaseKind::ConditionalMixture(ConditionalMixture::new(dim, components, ctx_width, hidden, act))
            }
        })
    }
}

/// The base distribution.
#[derive(Clone, Debug)]
pub enum BaseKind {
    /// N(0, I).
    Normal(StandardNormal),
    /// Trainable, unconditional diagonal Gaussian mixture.
    Mixture(GaussianMixture),
    /// Mixture whose parameters are an MLP of the standardised observation.
    ConditionalMixture(ConditionalMixture),
}

impl BaseKind {
    /// Name of the base's parameter tensor in model files (`base.{name}`).
    pub fn param_name(&self) -> &'static str {
        match self {
            BaseKind::Normal(_) => "normal",
            BaseKind::Mixture(_) => "gmm",
            BaseKind::ConditionalMixture(_) => "conditional_gmm",
        }
    }

    /// (dim, K) of a mixture base, or `None` for a base without components.
    pub fn mixture_shape(&self) -> Option<(usize, usize)> {
        match self {
            BaseKind::Normal(_) => None,
            BaseKind::Mixture(g) => Some((g.dim(), g.n_components())),
            BaseKind::ConditionalMixture(c) => Some((c.dim(), c.n_components())),
        }
    }

    /// Writes a mixture layout (means K × d, scales K × d, weights K) into the base's parameters
    /// `p`: [`GaussianMixture::set_params`], or [`ConditionalMixture::set_bias_layout`] (last-layer
    /// weights untouched, so the layout holds for every x while they stay zero). A base without
    /// components is left as it is.
    pub fn set_mixture_layout<T: Real>(&self, p: &mut [T], means: &[f64], scales: &[f64], weights: &[f64]) {
        match self {
            BaseKind::Normal(_) => {}
            BaseKind::Mixture(g) => g.set_params(p, means, scales, weights),
            BaseKind::ConditionalMixture(c) => c.set_bias_layout(p, means, scales, weights),
        }
    }
}

macro_rules! dispatch_base {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            BaseKind::Normal($b) => $e,
            BaseKind::Mixture($b) => $e,
            BaseKind::ConditionalMixture($b) => $e,
        }
    };
}

impl<T: Real> Base<T> for BaseKind {
    fn dim(&self) -> usize {
        dispatch_base!(self, b => Base::<T>::dim(b))
    }
    fn n_params(&self) -> usize {
        dispatch_base!(self, b => Base::<T>::n_params(b))
    }
    fn workspace_len(&self, n_batch: usize) -> usize {
        dispatch_base!(self, b => Base::<T>::workspace_len(b, n_batch))
    }
    fn init_params(&self, p: &mut [T], rng: &mut Rng) {
        dispatch_base!(self, b => b.init_params(p, rng))
    }
    fn log_prob(&self, p: &[T], z: MatRef<T>, ctx: MatRef<T>, log_q: &mut [T], ws: &mut [T]) {
        dispatch_base!(self, b => b.log_prob(p, z, ctx, log_q, ws))
    }
    fn backward(&self, p: &[T], ws: &[T], d_log_q: &[T], d_z: MatMut<T>, d_ctx: Option<MatMut<T>>, d_p: &mut [T]) {
        dispatch_base!(self, b => b.backward(p, ws, d_log_q, d_z, d_ctx, d_p))
    }
    fn sample(&self, p: &[T], ctx: MatRef<T>, rng: &mut Rng, z: MatMut<T>) {
        dispatch_base!(self, b => b.sample(p, ctx, rng, z))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [BaseConfig; 3] =
        [BaseConfig::Gaussian, BaseConfig::Gmm { components: 3 }, BaseConfig::Cgmm { components: 3 }];

    #[test]
    fn with_components_keeps_the_family_and_sets_the_count() {
        for base in ALL {
            match base.with_components(5) {
                Some(b) => assert_eq!((b.name(), b.mixture_components()), (base.name(), Some(5))),
                None => assert_eq!(base.mixture_components(), None, "{base:?}"),
            }
        }
    }

    #[test]
    fn built_base_agrees_with_its_config() {
        for base in ALL {
            let built = base.build(2, 4, &[8], Activation::Silu).expect("valid");
            assert_eq!(built.mixture_shape().map(|(_, k)| k), base.mixture_components(), "{base:?}");
            assert_eq!(Base::<f64>::dim(&built), 2);
        }
        assert!(BaseConfig::Gmm { components: 0 }.build(2, 4, &[8], Activation::Silu).is_err());
    }
}
