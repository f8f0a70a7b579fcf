//! Conditional normalizing flows q(θ|x).
//!
//! θ → [`Support`] (fixed: prior box → ℝ^d, standardised) → coupling layers conditioned on the
//! standardised x (and fixed statistics of it, [`ObsFeatures`]) → z, with
//! log q(θ|x) = log p_base(z | x) + Σ log|det J_layer| + log|det J_support|.
//! [`Flow`] owns the architecture, the fixed standardisations and the flat parameter vector;
//! the chunked, allocation-free passes used by training are [`Flow::forward_chunk`] and
//! [`Flow::backward_chunk`] over a [`FlowWorkspace`].

mod affine;
mod coupling;
mod features;
mod layer;
mod permute;
mod spline;
mod support;

pub use affine::{Affine, AffineCoupling};
pub use coupling::{Coupling, Split, Transformer};
pub use features::ObsFeatures;
pub use layer::Layer;
pub use permute::Permutation;
pub use spline::{RqSpline, SplineCoupling, MAX_BINS};
pub use support::Support;

use std::ops::Range;

use rayon::prelude::*;

use crate::base::{Base, ConditionalMixture, GaussianMixture, StandardNormal};
use crate::error::{Error, Result};
use crate::mat::{Mat, MatMut, MatRef};
use crate::model::Prior;
use crate::nn::Activation;
use crate::real::Real;
use crate::rng::{stream, Rng, Stream};

/// Rows per chunk in every parallel pass. Fixed (independent of the thread count) so results
/// are bit-identical on any number of threads.
pub const CHUNK_ROWS: usize = 256;

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

impl BaseConfig {
    /// Number of mixture components (1 for the Gaussian base).
    pub fn components(&self) -> usize {
        match *self {
            BaseConfig::Gaussian => 1,
            BaseConfig::Gmm { components } | BaseConfig::Cgmm { components } => components,
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
}

/// Architecture of a flow; stored in model files.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FlowConfig {
    /// Dimension of θ.
    pub theta_dim: usize,
    /// Dimension of the observation x.
    pub ctx_dim: usize,
    /// What the conditioners see of x ([`ObsFeatures::Raw`]: x itself).
    #[serde(default)]
    pub x_features: ObsFeatures,
    /// Number of coupling layers.
    pub n_layers: usize,
    /// Hidden layer widths of each coupling's conditioner MLP.
    pub hidden: Vec<usize>,
    /// Nonlinearity after each hidden layer of every MLP.
    pub activation: Activation,
    /// Elementwise transform of the coupling layers.
    pub coupling: CouplingConfig,
    /// Base distribution q₀(z).
    pub base: BaseConfig,
}

impl FlowConfig {
    /// The default architecture for θ ∈ ℝ^theta_dim conditioned on x ∈ ℝ^ctx_dim:
    /// [`DEFAULT_LAYERS`] spline couplings with 2×128 SiLU conditioners.
    pub fn new(theta_dim: usize, ctx_dim: usize, base: BaseConfig) -> Self {
        Self {
            theta_dim,
            ctx_dim,
            x_features: ObsFeatures::Raw,
            n_layers: DEFAULT_LAYERS,
            hidden: vec![128, 128],
            activation: Activation::Silu,
            coupling: CouplingConfig::default_spline(),
            base,
        }
    }

    /// Number of context values the conditioners get: x and the statistics its [`ObsFeatures`] adds.
    pub fn context_width(&self) -> usize {
        self.x_features.width(self.ctx_dim)
    }
}

/// Coupling layers of the default architecture.
pub const DEFAULT_LAYERS: usize = 6;

impl CouplingConfig {
    /// Affine couplings with log-scales bounded by 3.
    pub fn default_affine() -> Self {
        CouplingConfig::Affine { scale_bound: 3.0 }
    }
    /// Splines with 8 bins on [−5, 5] (the support map puts the prior at N(0, 1)).
    pub fn default_spline() -> Self {
        CouplingConfig::Spline { bins: 8, tail_bound: 5.0 }
    }
}

/// A layer of the flow's chain.
#[derive(Clone, Debug)]
pub enum LayerKind {
    /// Affine coupling v_b = u_b ⊙ exp(s) + t.
    Affine(AffineCoupling),
    /// Rational-quadratic spline coupling.
    Spline(SplineCoupling),
    /// Fixed permutation of the coordinates (log|det| = 0, no parameters).
    Permute(Permutation),
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

macro_rules! dispatch_layer {
    ($self:ident, $l:ident => $e:expr) => {
        match $self {
            LayerKind::Affine($l) => $e,
            LayerKind::Spline($l) => $e,
            LayerKind::Permute($l) => $e,
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
    fn backward(&self, p: &[T], ws: &[T], d_v: MatRef<T>, d_log_det: &[T], d_u: MatMut<T>, d_p: &mut [T]) {
        dispatch_layer!(self, l => l.backward(p, ws, d_v, d_log_det, d_u, d_p))
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
    fn backward(&self, p: &[T], ws: &[T], d_log_q: &[T], d_z: MatMut<T>, d_p: &mut [T]) {
        dispatch_base!(self, b => b.backward(p, ws, d_log_q, d_z, d_p))
    }
    fn sample(&self, p: &[T], ctx: MatRef<T>, rng: &mut Rng, z: MatMut<T>) {
        dispatch_base!(self, b => b.sample(p, ctx, rng, z))
    }
}

/// Fixed affine standardisation of the conditioners' context c(x) (x, then the statistics of its
/// [`ObsFeatures`]): ctx = (c(x) − mean) / std.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Standardizer {
    /// Per-column mean of c(x) (prior-predictive estimate).
    pub mean: Vec<f64>,
    /// Per-column standard deviation of c(x) (positive).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Mean and std of the rows of `x` (std floored at 1e-12 of the mean's scale).
    pub fn fit(x: MatRef<f64>) -> Self {
        let (n, d) = (x.rows().max(1) as f64, x.cols());
        let mean: Vec<f64> = (0..d).map(|c| (0..x.rows()).map(|r| x.at(r, c)).sum::<f64>() / n).collect();
        let std = (0..d)
            .map(|c| {
                let v = (0..x.rows()).map(|r| (x.at(r, c) - mean[c]).powi(2)).sum::<f64>() / n;
                v.sqrt().max(1e-12 * (1.0 + mean[c].abs()))
            })
            .collect();
        Self { mean, std }
    }
}

/// A conditional normalizing flow q(θ|x) with its parameters.
#[derive(Clone, Debug)]
pub struct Flow<T: Real> {
    config: FlowConfig,
    support: Support,
    ctx_norm: Standardizer,
    layers: Vec<LayerKind>,
    /// Parameter range of each layer, then of the base.
    ranges: Vec<Range<usize>>,
    base: BaseKind,
    params: Vec<T>,
}

impl<T: Real> Flow<T> {
    /// Builds the architecture for `prior` and initialises the parameters (couplings at the
    /// identity, base by its own rule).
    pub fn new(config: FlowConfig, prior: &Prior, ctx_norm: Standardizer, seed: u64) -> Result<Self> {
        let mut flow = Self::architecture(config, prior, ctx_norm)?;
        let mut rng = stream(seed, Stream::Init, 0, 0);
        for (layer, r) in flow.layers.iter().zip(&flow.ranges) {
            match layer {
                LayerKind::Affine(a) => a.init_params(&mut flow.params[r.clone()], &mut rng),
                LayerKind::Spline(s) => s.init_params(&mut flow.params[r.clone()], &mut rng),
                LayerKind::Permute(_) => {}
            }
        }
        let r = flow.ranges.last().expect("base range").clone();
        flow.base.init_params(&mut flow.params[r], &mut rng);
        Ok(flow)
    }

    /// Builds the architecture with zero parameters (used when loading a model file).
    pub fn architecture(config: FlowConfig, prior: &Prior, ctx_norm: Standardizer) -> Result<Self> {
        crate::limits::check_flow(&config)?;
        let d = config.theta_dim;
        if d == 0 || prior.dim() != d {
            return Err(Error::Shape { what: "prior dimension", expected: d, got: prior.dim() });
        }
        config.x_features.validate(config.ctx_dim)?;
        let width = config.context_width();
        if ctx_norm.mean.len() != width || ctx_norm.std.len() != width {
            return Err(Error::Shape {
                what: "observation standardisation",
                expected: width,
                got: ctx_norm.mean.len(),
            });
        }
        if config.n_layers == 0 || config.hidden.is_empty() || config.hidden.contains(&0) {
            return Err(Error::invalid("flow", "needs at least one coupling layer and non-empty hidden layers"));
        }
        match config.coupling {
            CouplingConfig::Affine { scale_bound } if !(scale_bound > 0.0 && scale_bound.is_finite()) => {
                return Err(Error::invalid("flow scale_bound", format!("{scale_bound} must be positive")));
            }
            CouplingConfig::Spline { bins, tail_bound }
                if !(2..=MAX_BINS).contains(&bins) || !tail_bound.is_finite() || tail_bound <= 0.0 =>
            {
                return Err(Error::invalid(
                    "flow spline",
                    format!("bins {bins} must be in 2..={MAX_BINS} and tail_bound {tail_bound} positive"),
                ));
            }
            _ => {}
        }
        let mut layers = Vec::new();
        let lower = d / 2; // conditioning block of even layers
        for l in 0..config.n_layers {
            let (n_cond, split) = if d == 1 {
                (0, Split::Lower)
            } else if l % 2 == 0 {
                (lower, Split::Lower)
            } else {
                (d - lower, Split::Upper)
            };
            let (ctx, hidden, act) = (width, &config.hidden, config.activation);
            layers.push(match config.coupling {
                CouplingConfig::Affine { scale_bound } => {
                    LayerKind::Affine(AffineCoupling::new(d, n_cond, split, ctx, hidden, act, scale_bound))
                }
                CouplingConfig::Spline { bins, tail_bound } => {
                    LayerKind::Spline(SplineCoupling::new(d, n_cond, split, ctx, hidden, act, bins, tail_bound))
                }
            });
            // For d ≥ 3 the alternating halves never mix some pairs of coordinates; a fixed
            // cyclic shift after every pair of couplings lets every coordinate condition on every other.
            if d >= 3 && l % 2 == 1 && l + 1 < config.n_layers {
                layers.push(LayerKind::Permute(Permutation::new((0..d).map(|k| (k + 1) % d).collect())));
            }
        }
        if config.base.components() == 0 {
            return Err(Error::invalid("base components", "must be at least 1"));
        }
        let base = match config.base {
            BaseConfig::Gaussian => BaseKind::Normal(StandardNormal::new(d)),
            BaseConfig::Gmm { components } => BaseKind::Mixture(GaussianMixture::new(d, components)),
            BaseConfig::Cgmm { components } => BaseKind::ConditionalMixture(ConditionalMixture::new(
                d,
                components,
                width,
                &config.hidden,
                config.activation,
            )),
        };
        let mut ranges = Vec::with_capacity(layers.len() + 1);
        let mut off = 0;
        for l in &layers {
            let n = Layer::<T>::n_params(l);
            ranges.push(off..off + n);
            off += n;
        }
        let nb = Base::<T>::n_params(&base);
        ranges.push(off..off + nb);
        off += nb;
        Ok(Self { config, support: Support::new(prior), ctx_norm, layers, ranges, base, params: vec![T::zero(); off] })
    }

    /// The architecture the flow was built from.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }
    /// The fixed bijection from the prior's support to ℝ^d applied to θ first.
    pub fn support(&self) -> &Support {
        &self.support
    }
    /// The fixed standardisation of the context (x and its statistics) the conditioners see.
    pub fn ctx_standardizer(&self) -> &Standardizer {
        &self.ctx_norm
    }
    /// Writes the conditioners' context for the observation `x` into `out`
    /// ([`Flow::context_width`] values: x and its statistics, standardised); allocation-free.
    pub fn context_into(&self, x: &[f64], out: &mut [T]) {
        let (mean, std) = (&self.ctx_norm.mean, &self.ctx_norm.std);
        self.config.x_features.for_each(x, |i, v| out[i] = T::lit((v - mean[i]) / std[i]));
    }
    /// Number of context values the conditioners get per observation ([`FlowConfig::context_width`]).
    pub fn context_width(&self) -> usize {
        self.config.context_width()
    }
    /// Dimension d of θ (samples and `log_prob` inputs have d columns).
    pub fn theta_dim(&self) -> usize {
        self.config.theta_dim
    }
    /// Dimension of x (every observation passed to the flow has this many values).
    pub fn ctx_dim(&self) -> usize {
        self.config.ctx_dim
    }
    /// Length of the flat parameter vector (all layers, then the base).
    pub fn n_params(&self) -> usize {
        self.params.len()
    }
    /// The flat parameters: each layer's range in chain order, then the base's ([`Flow::param_names`]).
    pub fn params(&self) -> &[T] {
        &self.params
    }
    /// The flat parameters, for the optimiser and for loading.
    pub fn params_mut(&mut self) -> &mut [T] {
        &mut self.params
    }
    /// The base distribution's shapes (its parameters are [`Flow::base_params`]).
    pub fn base(&self) -> &BaseKind {
        &self.base
    }
    /// The base distribution's slice of the parameters.
    pub fn base_params(&self) -> &[T] {
        &self.params[self.ranges.last().expect("base range").clone()]
    }
    /// The base distribution's slice of the parameters, for initialisation.
    pub fn base_params_mut(&mut self) -> &mut [T] {
        let r = self.ranges.last().expect("base range").clone();
        &mut self.params[r]
    }

    /// A name and parameter range per trainable part (`layers.{i}.affine`, `base.gmm`), as
    /// stored in model files; parts without parameters are left out.
    pub fn param_names(&self) -> Vec<(String, Range<usize>)> {
        let mut out: Vec<(String, Range<usize>)> = self
            .layers
            .iter()
            .zip(&self.ranges)
            .enumerate()
            .filter(|(_, (_, r))| !r.is_empty())
            .map(|(i, (l, r))| {
                let kind = match l {
                    LayerKind::Affine(_) => "affine",
                    LayerKind::Spline(_) => "spline",
                    LayerKind::Permute(_) => "permute",
                };
                (format!("layers.{i}.{kind}"), r.clone())
            })
            .collect();
        let r = self.ranges.last().expect("base range").clone();
        if !r.is_empty() {
            let kind = match self.base {
                BaseKind::Normal(_) => "normal",
                BaseKind::Mixture(_) => "gmm",
                BaseKind::ConditionalMixture(_) => "conditional_gmm",
            };
            out.push((format!("base.{kind}"), r));
        }
        out
    }

    /// Scratch for one chunk of up to `n_batch` rows.
    pub fn workspace(&self, n_batch: usize) -> FlowWorkspace<T> {
        let mut offsets = Vec::with_capacity(self.layers.len() + 1);
        let mut off = 0;
        for l in &self.layers {
            let n = Layer::<T>::workspace_len(l, n_batch);
            offsets.push(off..off + n);
            off += n;
        }
        let nb = Base::<T>::workspace_len(&self.base, n_batch);
        offsets.push(off..off + nb);
        off += nb;
        let d = self.theta_dim();
        FlowWorkspace {
            n_batch,
            rows: n_batch,
            ws: vec![T::zero(); off],
            ws_ranges: offsets,
            a: Mat::zeros(n_batch, d),
            b: Mat::zeros(n_batch, d),
            log_det: vec![T::zero(); n_batch],
            log_q: vec![T::zero(); n_batch],
            grad: vec![T::zero(); self.params.len()],
        }
    }

    /// Forward pass of one chunk with parameters `p`: u (support space) → z, and
    /// `ws.log_q[r] = log q(u_r | ctx_r)` in support space. Keeps what `backward_chunk` needs.
    pub fn forward_chunk(&self, p: &[T], u: MatRef<T>, ctx: MatRef<T>, ws: &mut FlowWorkspace<T>) {
        let n = u.rows();
        assert!(n <= ws.n_batch, "forward_chunk: {n} rows exceed the workspace's {}", ws.n_batch);
        ws.rows = n;
        ws.a.resize_rows(n);
        ws.b.resize_rows(n);
        ws.a.as_mut().copy_from(u);
        let log_det = &mut ws.log_det[..n];
        log_det.fill(T::zero());
        let mut in_a = true;
        for ((layer, r), wr) in self.layers.iter().zip(&self.ranges).zip(&ws.ws_ranges) {
            let (src, dst) = if in_a { (&ws.a, &mut ws.b) } else { (&ws.b, &mut ws.a) };
            layer.forward(&p[r.clone()], src.as_ref(), ctx, dst.as_mut(), log_det, &mut ws.ws[wr.clone()]);
            in_a = !in_a;
        }
        let z = if in_a { &ws.a } else { &ws.b };
        let br = self.ranges.last().expect("base range").clone();
        let bw = ws.ws_ranges.last().expect("base ws").clone();
        self.base.log_prob(&p[br], z.as_ref(), ctx, &mut ws.log_q[..n], &mut ws.ws[bw]);
        for (q, ld) in ws.log_q[..n].iter_mut().zip(log_det.iter()) {
            *q += *ld;
        }
    }

    /// Backward pass of the chunk last given to `forward_chunk`: given d loss / d log_q per
    /// row, *adds* the parameter gradient into `ws.grad`.
    pub fn backward_chunk(&self, p: &[T], d_log_q: &[T], ws: &mut FlowWorkspace<T>) {
        let n = ws.rows;
        let FlowWorkspace { ws: scratch, ws_ranges, a, b, grad, .. } = ws;
        // After the forward pass, z sits in `a` if the layer count is even. Adjoints reuse the
        // two buffers: d_z overwrites z, which backward no longer needs.
        let even = self.layers.len().is_multiple_of(2);
        let (mut d_cur, mut d_next) = if even { (a, b) } else { (b, a) };
        let br = self.ranges.last().expect("base range").clone();
        let bw = ws_ranges.last().expect("base ws").clone();
        self.base.backward(&p[br.clone()], &scratch[bw], d_log_q, d_cur.as_mut(), &mut grad[br]);
        for ((layer, r), wr) in self.layers.iter().zip(&self.ranges).zip(ws_ranges.iter()).rev() {
            layer.backward(
                &p[r.clone()],
                &scratch[wr.clone()],
                d_cur.as_ref().rows_range(0, n),
                d_log_q,
                d_next.as_mut(),
                &mut grad[r.clone()],
            );
            std::mem::swap(&mut d_cur, &mut d_next);
        }
    }

    /// Maps θ rows to support space (f64 → T); returns the support log-dets (−inf outside).
    fn to_support(&self, theta: MatRef<f64>, u: &mut Mat<T>, log_det: &mut [f64]) {
        let d = self.theta_dim();
        let mut buf = vec![0.0; d];
        for (r, ld) in log_det.iter_mut().enumerate().take(theta.rows()) {
            *ld = self.support.forward(theta.row(r), &mut buf);
            for (o, &v) in u.row_mut(r).iter_mut().zip(&buf) {
                *o = T::lit(v);
            }
        }
    }

    fn check_x(&self, x: MatRef<f64>) -> Result<()> {
        if x.cols() != self.ctx_dim() {
            return Err(Error::Shape { what: "observation", expected: self.ctx_dim(), got: x.cols() });
        }
        if let Some(r) = (0..x.rows()).find(|&r| x.row(r).iter().any(|v| !v.is_finite())) {
            return Err(Error::invalid(format!("observation row {r}"), "contains NaN or infinity"));
        }
        Ok(())
    }

    /// log q(θ_r | x_r) for paired rows (`x` has one row, shared by all θ, or one row per θ).
    /// θ outside the prior's support has log q = −inf.
    pub fn log_prob(&self, theta: MatRef<f64>, x: MatRef<f64>) -> Result<Vec<f64>> {
        let d = self.theta_dim();
        if theta.cols() != d {
            return Err(Error::Shape { what: "theta", expected: d, got: theta.cols() });
        }
        self.check_x(x)?;
        if x.rows() != 1 && x.rows() != theta.rows() {
            return Err(Error::invalid("observations", format!("need 1 or {} rows, got {}", theta.rows(), x.rows())));
        }
        let n = theta.rows();
        let mut out = vec![0.0; n];
        out.par_chunks_mut(CHUNK_ROWS).enumerate().for_each(|(c, out)| {
            let start = c * CHUNK_ROWS;
            let rows = out.len();
            let mut ws = self.workspace(rows);
            let mut u = Mat::zeros(rows, d);
            let mut ctx = Mat::zeros(rows, self.context_width());
            for r in 0..rows {
                let xr = if x.rows() == 1 { 0 } else { start + r };
                self.context_into(x.row(xr), ctx.row_mut(r));
            }
            let mut ld = vec![0.0; rows];
            self.to_support(theta.rows_range(start, rows), &mut u, &mut ld);
            self.forward_chunk(&self.params, u.as_ref(), ctx.as_ref(), &mut ws);
            for ((o, q), l) in out.iter_mut().zip(&ws.log_q).zip(&ld) {
                *o = if *l == f64::NEG_INFINITY { f64::NEG_INFINITY } else { q.to_f64_lossless() + l };
            }
        });
        crate::finite::check_log_q(self, theta, x, &out)?;
        Ok(out)
    }

    /// Draws `n` samples θ ~ q(·|x) for one observation `x`; deterministic given `seed`.
    pub fn sample(&self, x: &[f64], n: usize, seed: u64) -> Result<Mat<f64>> {
        self.check_x(MatRef::new(x, 1, x.len()))?;
        let d = self.theta_dim();
        crate::limits::check_sample_values("samples (--num)", n, d)?;
        let mut ctx_row = vec![T::zero(); self.context_width()];
        self.context_into(x, &mut ctx_row);
        let mut out = Mat::zeros(n, d);
        out.as_mut_slice().par_chunks_mut(CHUNK_ROWS * d).enumerate().for_each(|(c, out)| {
            let rows = out.len() / d;
            let ctx = Mat::from_fn(rows, ctx_row.len(), |_, k| ctx_row[k]);
            let mut rng = stream(seed, Stream::Sample, 0, c as u64);
            let u = self.sample_support(ctx.as_ref(), &mut rng);
            let mut buf = vec![0.0; d];
            for r in 0..rows {
                let ur: Vec<f64> = u.row(r).iter().map(|v| v.to_f64_lossless()).collect();
                self.support.inverse(&ur, &mut buf);
                out[r * d..(r + 1) * d].copy_from_slice(&buf);
            }
        });
        crate::finite::check_samples(self, x, out.as_ref())?;
        Ok(out)
    }

    /// Draws one support-space u per row of `ctx`: z ~ base, then the layers inverted in reverse.
    pub fn sample_support(&self, ctx: MatRef<T>, rng: &mut Rng) -> Mat<T> {
        self.sample_support_with(&self.params, ctx, rng)
    }

    /// [`Flow::sample_support`] with parameters `p` in place of the stored ones (the trainer
    /// samples its proposal from the parameters it is optimising).
    pub fn sample_support_with(&self, p: &[T], ctx: MatRef<T>, rng: &mut Rng) -> Mat<T> {
        let rows = ctx.rows();
        let d = self.theta_dim();
        let br = self.ranges.last().expect("base range").clone();
        let mut a = Mat::zeros(rows, d);
        self.base.sample(&p[br], ctx, rng, a.as_mut());
        let mut b = Mat::zeros(rows, d);
        let mut log_det = vec![T::zero(); rows];
        let mut scratch = Vec::new();
        for (layer, r) in self.layers.iter().zip(&self.ranges).rev() {
            scratch.resize(Layer::<T>::workspace_len(layer, rows), T::zero());
            layer.inverse(&p[r.clone()], a.as_ref(), ctx, b.as_mut(), &mut log_det, &mut scratch);
            std::mem::swap(&mut a, &mut b);
        }
        a
    }
}

/// Scratch memory for one chunk: per-layer workspaces, two ping-pong activation buffers, the
/// per-row log-dets and log-densities, and the chunk's parameter gradient.
#[derive(Clone, Debug)]
pub struct FlowWorkspace<T: Real> {
    n_batch: usize,
    rows: usize,
    ws: Vec<T>,
    ws_ranges: Vec<Range<usize>>,
    a: Mat<T>,
    b: Mat<T>,
    log_det: Vec<T>,
    /// log q(u_r | ctx_r) of the last forward pass.
    pub log_q: Vec<T>,
    /// Accumulated parameter gradient.
    pub grad: Vec<T>,
}
