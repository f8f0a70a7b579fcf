//! Layers of a flow's chain: the contract every layer implements ([`Layer`]), the built-in
//! layers (one file each: [`AffineCoupling`], [`SplineCoupling`] over the shared [`Coupling`],
//! [`Permutation`]), and their closed set: [`CouplingConfig`] (the serialisable choice of
//! coupling, stored in model files) and [`LayerKind`] (the built layers of a chain).
//!
//! A layer is a bijection v = f(u | ctx) of each row of `u`, with parameters in a flat slice.
//! `forward` is the density direction (theta → z, used in training), `inverse` the sampling
//! direction (z → theta). Kernels trust their inputs (shapes are checked at the public boundary,
//! `Flow`) and never allocate: scratch memory comes from the caller, sized by `workspace_len`.
//!
//! Everything that differs per layer kind — validation of its settings, construction,
//! initialisation, its name in model files, dispatch of the [`Layer`] contract — is a match in
//! this file, so a new coupling is a new file plus its variants here; every match is exhaustive,
//! so the compiler lists what a new variant must answer.

mod affine;
mod angle;
mod circular;
mod coupling;
mod permute;
mod spline;

pub use affine::{Affine, AffineCoupling};
pub use angle::{AngleCut, FromAngle, ToAngle, MIN_TAIL_MASS};
pub use circular::{TorusCoupling, TorusSpline};
pub use coupling::{Coupling, Split, Transformer};
pub use permute::Permutation;
pub use spline::{RqSpline, SplineCoupling, SplineEnds, MAX_BINS};

use crate::error::{Error, Result};
use crate::mat::{MatMut, MatRef};
use crate::nn::Activation;
use crate::real::Real;
use crate::rng::Rng;

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
    /// *adds* the parameter adjoint into `d_p` (so chunks and shared weights accumulate), and,
    /// when `d_ctx` is given, the context's adjoint into `d_ctx` (every layer reads the same
    /// context, a learned embedding of x, whose adjoint is the sum over layers). Reads the `ws`
    /// filled by the matching `forward` call.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        p: &[T],
        ws: &[T],
        d_v: MatRef<T>,
        d_log_det: &[T],
        d_u: MatMut<T>,
        d_ctx: Option<MatMut<T>>,
        d_p: &mut [T],
    );
}

/// The elementwise transform of the coupling layers.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CouplingConfig {
    /// v = u·exp(s) + t with s = S·tanh(raw/S), S = `scale_bound`.
    Affine {
        /// S > 0: log-scales stay in [−S, S].
        scale_bound: f64,
    },
    /// Monotone rational-quadratic spline with `bins` bins on [−tail_bound, tail_bound],
    /// identity outside.
    Spline {
        /// Number of bins K.
        bins: usize,
        /// B > 0: the spline acts on [−B, B].
        tail_bound: f64,
    },
}

impl CouplingConfig {
    /// Affine couplings with log-scales bounded by 3.
    pub fn default_affine() -> Self {
        CouplingConfig::Affine { scale_bound: 3.0 }
    }
    /// Splines with 8 bins on [−5, 5] (the support map puts the prior at N(0, 1)).
    pub fn default_spline() -> Self {
        CouplingConfig::Spline { bins: 8, tail_bound: 5.0 }
    }

    /// Errors naming the setting that is out of range (a scale bound or tail bound that is not
    /// positive and finite, a bin count outside 2..=[`MAX_BINS`]).
    pub fn validate(&self) -> Result<()> {
        match *self {
            CouplingConfig::Affine { scale_bound } => {
                if !(scale_bound > 0.0 && scale_bound.is_finite()) {
                    return Err(Error::invalid("flow scale_bound", format!("{scale_bound} must be positive")));
                }
            }
            CouplingConfig::Spline { bins, tail_bound } => {
                if !(2..=MAX_BINS).contains(&bins) || !tail_bound.is_finite() || tail_bound <= 0.0 {
                    return Err(Error::invalid(
                        "flow spline",
                        format!("bins {bins} must be in 2..={MAX_BINS} and tail_bound {tail_bound} positive"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// One coupling layer on ℝ^`dim` that conditions on `n_cond` coordinates (the block `split`
    /// names) and `ctx_width` context values, through an MLP with `hidden` sizes and activation `act`.
    pub fn layer(
        &self,
        dim: usize,
        n_cond: usize,
        split: Split,
        ctx_width: usize,
        hidden: &[usize],
        act: Activation,
    ) -> LayerKind {
        match *self {
            CouplingConfig::Affine { scale_bound } => {
                LayerKind::Affine(AffineCoupling::new(dim, n_cond, split, ctx_width, hidden, act, scale_bound))
            }
            CouplingConfig::Spline { bins, tail_bound } => {
                LayerKind::Spline(SplineCoupling::new(dim, n_cond, split, ctx_width, hidden, act, bins, tail_bound))
            }
        }
    }

    /// [`CouplingConfig::layer`] for coordinates of which those flagged in `periodic` (one flag
    /// per coordinate of u) are angles: a [`TorusCoupling`] with this spline's bins. Errors for
    /// affine couplings, which have no circular form.
    #[allow(clippy::too_many_arguments)]
    pub fn torus_layer(
        &self,
        dim: usize,
        n_cond: usize,
        split: Split,
        ctx_width: usize,
        hidden: &[usize],
        act: Activation,
        periodic: &[bool],
    ) -> Result<LayerKind> {
        match *self {
            CouplingConfig::Affine { .. } => Err(Error::invalid(
                "flow kind",
                "affine couplings cannot act on a periodic parameter; use spline couplings (the default)",
            )),
            CouplingConfig::Spline { bins, tail_bound } => Ok(LayerKind::Torus(TorusCoupling::new_torus(
                dim, n_cond, split, ctx_width, hidden, act, bins, tail_bound, periodic,
            ))),
        }
    }
}

/// A layer of the flow's chain.
#[derive(Clone, Debug)]
pub enum LayerKind {
    /// Affine coupling v_b = u_b ⊙ exp(s) + t.
    Affine(AffineCoupling),
    /// Rational-quadratic spline coupling.
    Spline(SplineCoupling),
    /// Spline coupling on angles and reals: circular splines with rotation on the angles.
    Torus(TorusCoupling),
    /// Fixed permutation of the coordinates (log|det| = 0, no parameters).
    Permute(Permutation),
    /// Fixed map of the periodic coordinates from ℝ onto the circle (first layer with angles).
    ToAngle(ToAngle),
    /// Fixed cut of the circle back to ℝ (last layer with angles).
    FromAngle(FromAngle),
}

impl LayerKind {
    /// Name of the layer's parameter tensor in model files (`layers.{i}.{name}`).
    pub fn param_name(&self) -> &'static str {
        match self {
            LayerKind::Affine(_) => "affine",
            LayerKind::Spline(_) => "spline",
            LayerKind::Torus(_) => "torus_spline",
            LayerKind::Permute(_) => "permute",
            LayerKind::ToAngle(_) => "to_angle",
            LayerKind::FromAngle(_) => "from_angle",
        }
    }

    /// Writes the initial parameters `p` (couplings start at the identity map).
    pub fn init_params<T: Real>(&self, p: &mut [T], rng: &mut Rng) {
        match self {
            LayerKind::Affine(a) => a.init_params(p, rng),
            LayerKind::Spline(s) => s.init_params(p, rng),
            LayerKind::Torus(s) => s.init_params(p, rng),
            LayerKind::Permute(_) | LayerKind::ToAngle(_) | LayerKind::FromAngle(_) => {}
        }
    }
}

macro_rules! dispatch_layer {
    ($self:ident, $l:ident => $e:expr) => {
        match $self {
            LayerKind::Affine($l) => $e,
            LayerKind::Spline($l) => $e,
            LayerKind::Torus($l) => $e,
            LayerKind::Permute($l) => $e,
            LayerKind::ToAngle($l) => $e,
            LayerKind::FromAngle($l) => $e,
        }
    };
}

impl<T: Real> Layer<T> for LayerKind {
    fn n_params(&self) -> usize {
        dispatch_layer!(self, l => Layer::<T>::n_params(l))
    }
    fn workspace_len(&self, n_batch: usize) -> usize {
        dispatch_layer!(self, l => Layer::<T>::workspace_len(l, n_batch))
    }
    fn forward(&self, p: &[T], u: MatRef<T>, ctx: MatRef<T>, v: MatMut<T>, log_det: &mut [T], ws: &mut [T]) {
        dispatch_layer!(self, l => l.forward(p, u, ctx, v, log_det, ws))
    }
    fn inverse(&self, p: &[T], v: MatRef<T>, ctx: MatRef<T>, u: MatMut<T>, log_det: &mut [T], ws: &mut [T]) {
        dispatch_layer!(self, l => l.inverse(p, v, ctx, u, log_det, ws))
    }
    fn backward(
        &self,
        p: &[T],
        ws: &[T],
        d_v: MatRef<T>,
        d_log_det: &[T],
        d_u: MatMut<T>,
        d_ctx: Option<MatMut<T>>,
        d_p: &mut [T],
    ) {
        dispatch_layer!(self, l => l.backward(p, ws, d_v, d_log_det, d_u, d_ctx, d_p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_coupling_settings_are_rejected() {
        assert!(CouplingConfig::default_affine().validate().is_ok());
        assert!(CouplingConfig::default_spline().validate().is_ok());
        assert!(CouplingConfig::Affine { scale_bound: 0.0 }.validate().is_err());
        assert!(CouplingConfig::Affine { scale_bound: f64::INFINITY }.validate().is_err());
        assert!(CouplingConfig::Spline { bins: 1, tail_bound: 5.0 }.validate().is_err());
        assert!(CouplingConfig::Spline { bins: MAX_BINS + 1, tail_bound: 5.0 }.validate().is_err());
        assert!(CouplingConfig::Spline { bins: 8, tail_bound: -1.0 }.validate().is_err());
    }

    #[test]
    fn built_coupling_has_the_configured_kind() {
        for cfg in [CouplingConfig::default_affine(), CouplingConfig::default_spline()] {
            let layer = cfg.layer(3, 1, Split::Lower, 2, &[4], Activation::Silu);
            let expected = match cfg {
                CouplingConfig::Affine { .. } => "affine",
                CouplingConfig::Spline { .. } => "spline",
            };
            assert_eq!(layer.param_name(), expected);
            assert!(Layer::<f64>::n_params(&layer) > 0);
        }
    }
}
