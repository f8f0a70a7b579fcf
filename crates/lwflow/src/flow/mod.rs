//! Conditional normalizing flows q(θ|x).
//!
//! θ → [`Support`] (fixed: prior box → ℝ^d, standardised) → coupling layers conditioned on the
//! standardised x (and fixed statistics of it, [`ObsFeatures`]), or on a learned embedding of it
//! ([`crate::embed`], evaluated once per observation) → z, with
//! log q(θ|x) = log p_base(z | x) + Σ log|det J_layer| + log|det J_support|.
//! [`Flow`] owns the architecture, the fixed standardisations and the flat parameter vector;
//! the chunked, allocation-free passes used by training are [`Flow::forward_chunk`] and
//! [`Flow::backward_chunk`] over a [`FlowWorkspace`]. It is built from a [`FlowConfig`]; the
//! closed sets it draws on are [`LayerKind`] (chosen by [`CouplingConfig`]) and [`BaseKind`]
//! (chosen by [`BaseConfig`]), and x is standardised by a fixed [`Standardizer`].

mod config;
mod embedded;
mod features;
mod layers;
mod sample_many;
mod standardize;
mod support;

pub use config::{FlowConfig, DEFAULT_LAYERS};
pub use features::ObsFeatures;
// Every layer type, the `Layer` contract and the closed set (`LayerKind`, `CouplingConfig`) at
// `flow::` itself: a new coupling is registered in `layers/` only.
pub use layers::*;
pub use sample_many::{importance_resample_many, observation_seed};
pub use standardize::Standardizer;
pub use support::Support;
// The base's choice and built form live in `crate::base`; re-exported beside the coupling's.
pub use crate::base::{BaseConfig, BaseKind};

use std::ops::Range;

use rayon::prelude::*;

use crate::base::Base;
use crate::embed::{Embedding, EmbeddingKind};
use crate::error::{Error, Result};
use crate::mat::{Mat, MatMut, MatRef};
use crate::model::Prior;
use crate::real::Real;
use crate::rng::{stream, Rng, Stream};

/// Rows per chunk in every parallel pass. Fixed (independent of the thread count) so results
/// are bit-identical on any number of threads.
pub const CHUNK_ROWS: usize = 256;

/// A conditional normalizing flow q(θ|x) with its parameters.
#[derive(Clone, Debug)]
pub struct Flow<T: Real> {
    config: FlowConfig,
    support: Support,
    ctx_norm: Standardizer,
    layers: Vec<LayerKind>,
    /// Parameter range of each layer, in chain order.
    layer_ranges: Vec<Range<usize>>,
    base: BaseKind,
    /// Parameter range of the base (after every layer's).
    base_range: Range<usize>,
    /// The learned embedding of the standardised features, if any: the conditioners' context.
    embedding: Option<EmbeddingKind>,
    /// Parameter range of the embedding (after the base's; empty without one).
    embedding_range: Range<usize>,
    params: Vec<T>,
}

impl<T: Real> Flow<T> {
    /// Builds the architecture for `prior` and initialises the parameters (couplings at the
    /// identity, base by its own rule, then the embedding's, from the same stream).
    pub fn new(config: FlowConfig, prior: &Prior, ctx_norm: Standardizer, seed: u64) -> Result<Self> {
        let mut flow = Self::architecture(config, prior, ctx_norm)?;
        let mut rng = stream(seed, Stream::Init, 0, 0);
        for (layer, r) in flow.layers.iter().zip(&flow.layer_ranges) {
            layer.init_params(&mut flow.params[r.clone()], &mut rng);
        }
        flow.base.init_params(&mut flow.params[flow.base_range.clone()], &mut rng);
        if let Some(net) = &flow.embedding {
            net.init_params(&mut flow.params[flow.embedding_range.clone()], &mut rng);
        }
        Ok(flow)
    }

    /// Builds the architecture with zero parameters (used when loading a model file).
    pub fn architecture(config: FlowConfig, prior: &Prior, ctx_norm: Standardizer) -> Result<Self> {
        crate::limits::check_flow(&config)?;
        let d = config.theta_dim;
        if d == 0 || prior.dim() != d {
            return Err(Error::Shape { what: "prior dimension", expected: d, got: prior.dim() });
        }
        config.validate_context()?;
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
        config.coupling.validate()?;
        let ctx_width = config.conditioner_width();
        let mut layers = Vec::new();
        // Periodic parameters: the couplings act on the circle between ToAngle and FromAngle
        // (`layers/angle.rs`); `periodic` follows the coordinates through the permutations.
        let mut periodic = prior.periodic();
        let on_circle = prior.has_periodic();
        if on_circle {
            layers.push(LayerKind::ToAngle(ToAngle(AngleCut::new(periodic.clone()))));
        }
        let lower = d / 2; // conditioning block of even layers
        for l in 0..config.n_layers {
            let (n_cond, split) = if d == 1 {
                (0, Split::Lower)
            } else if l % 2 == 0 {
                (lower, Split::Lower)
            } else {
                (d - lower, Split::Upper)
            };
            let (hidden, act) = (&config.hidden, config.activation);
            layers.push(if on_circle {
                config.coupling.torus_layer(d, n_cond, split, ctx_width, hidden, act, &periodic)?
            } else {
                config.coupling.layer(d, n_cond, split, ctx_width, hidden, act)
            });
            // For d ≥ 3 the alternating halves never mix some pairs of coordinates; a fixed
            // cyclic shift after every pair of couplings lets every coordinate condition on every other.
            if d >= 3 && l % 2 == 1 && l + 1 < config.n_layers {
                let perm = Permutation::new((0..d).map(|k| (k + 1) % d).collect());
                periodic = perm.perm().iter().map(|&k| periodic[k]).collect();
                layers.push(LayerKind::Permute(perm));
            }
        }
        if on_circle {
            layers.push(LayerKind::FromAngle(FromAngle(AngleCut::new(periodic))));
        }
        Self::assemble(config, prior, ctx_norm, layers)
    }

    /// A flow whose chain is `layers` instead of the one `config` describes (`config` still
    /// gives the dimensions, the context and the base); parameters zero. For the speed
    /// benchmark's reference flow ([`crate::speed`]), which matches a PyTorch peer layer for layer.
    /// The layers must map θ ∈ ℝ^theta_dim given a context of [`FlowConfig::conditioner_width`].
    pub(crate) fn from_layers(
        config: FlowConfig,
        prior: &Prior,
        ctx_norm: Standardizer,
        layers: Vec<LayerKind>,
    ) -> Result<Self> {
        Self::assemble(config, prior, ctx_norm, layers)
    }

    /// The base and the embedding `config` names after `layers`, and the parameter ranges of all.
    fn assemble(config: FlowConfig, prior: &Prior, ctx_norm: Standardizer, layers: Vec<LayerKind>) -> Result<Self> {
        let (d, width) = (config.theta_dim, config.conditioner_width());
        let base = config.base.build(d, width, &config.hidden, config.activation)?;
        let embedding = config.embedding.build(config.context_width(), config.activation);
        let layer_ranges = consecutive_ranges(layers.iter().map(|l| Layer::<T>::n_params(l)));
        let base_start = layer_ranges.last().map_or(0, |r| r.end);
        let base_range = base_start..base_start + Base::<T>::n_params(&base);
        let embedding_len = embedding.as_ref().map_or(0, |e| Embedding::<T>::n_params(e));
        let embedding_range = base_range.end..base_range.end + embedding_len;
        let params = vec![T::zero(); embedding_range.end];
        let support = Support::new(prior);
        Ok(Self {
            config,
            support,
            ctx_norm,
            layers,
            layer_ranges,
            base,
            base_range,
            embedding,
            embedding_range,
            params,
        })
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
    /// Number of standardised feature values per observation ([`FlowConfig::context_width`]): the
    /// columns of the `ctx` the chunked passes and sampling take (the embedding's input, if any).
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
    /// The flat parameters: each layer's range in chain order, then the base's, then the
    /// embedding's ([`Flow::param_names`]).
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
        &self.params[self.base_range.clone()]
    }
    /// The base distribution's slice of the parameters, for initialisation.
    pub fn base_params_mut(&mut self) -> &mut [T] {
        &mut self.params[self.base_range.clone()]
    }

    /// Writes a mixture layout (means K × d, scales K × d, weights K) into the base's parameters
    /// ([`BaseKind::set_mixture_layout`]); a base without components is left as it is.
    pub fn set_base_mixture_layout(&mut self, means: &[f64], scales: &[f64], weights: &[f64]) {
        self.base.set_mixture_layout(&mut self.params[self.base_range.clone()], means, scales, weights);
    }

    /// A name and parameter range per trainable part (`layers.{i}.affine`, `base.gmm`,
    /// `embedding.set`), as stored in model files; parts without parameters are left out.
    pub fn param_names(&self) -> Vec<(String, Range<usize>)> {
        let mut out: Vec<(String, Range<usize>)> = self
            .layers
            .iter()
            .zip(&self.layer_ranges)
            .enumerate()
            .filter(|(_, (_, r))| !r.is_empty())
            .map(|(i, (l, r))| (format!("layers.{i}.{}", l.param_name()), r.clone()))
            .collect();
        if !self.base_range.is_empty() {
            out.push((format!("base.{}", self.base.param_name()), self.base_range.clone()));
        }
        if let Some(net) = self.embedding.as_ref().filter(|_| !self.embedding_range.is_empty()) {
            out.push((format!("embedding.{}", net.param_name()), self.embedding_range.clone()));
        }
        out
    }

    /// Scratch for one chunk of up to `n_batch` rows.
    pub fn workspace(&self, n_batch: usize) -> FlowWorkspace<T> {
        let layer_ws = consecutive_ranges(self.layers.iter().map(|l| Layer::<T>::workspace_len(l, n_batch)));
        let base_start = layer_ws.last().map_or(0, |r| r.end);
        let base_ws = base_start..base_start + Base::<T>::workspace_len(&self.base, n_batch);
        let d = self.theta_dim();
        FlowWorkspace {
            n_batch,
            rows: n_batch,
            ws: vec![T::zero(); base_ws.end],
            layer_ws,
            base_ws,
            a: Mat::zeros(n_batch, d),
            b: Mat::zeros(n_batch, d),
            log_det: vec![T::zero(); n_batch],
            log_q: vec![T::zero(); n_batch],
            grad: vec![T::zero(); self.params.len()],
            embed: embedded::EmbedWorkspace::new(self.embedding.as_ref(), n_batch, self.context_width()),
        }
    }

    /// Forward pass of one chunk with parameters `p`: u (support space) → z, and
    /// `ws.log_q[r] = log q(u_r | ctx_r)` in support space. Keeps what `backward_chunk` needs.
    /// `ctx` holds each row's standardised features ([`Flow::context_into`]); with an embedding
    /// the conditioners read E of them, evaluated once per run of equal rows.
    pub fn forward_chunk(&self, p: &[T], u: MatRef<T>, ctx: MatRef<T>, ws: &mut FlowWorkspace<T>) {
        let n = u.rows();
        assert!(n <= ws.n_batch, "forward_chunk: {n} rows exceed the workspace's {}", ws.n_batch);
        let ctx = match &self.embedding {
            Some(net) => {
                ws.embed.forward(net, &p[self.embedding_range.clone()], ctx);
                ws.embed.ctx.as_ref()
            }
            None => ctx,
        };
        ws.rows = n;
        ws.a.resize_rows(n);
        ws.b.resize_rows(n);
        ws.a.as_mut().copy_from(u);
        let log_det = &mut ws.log_det[..n];
        log_det.fill(T::zero());
        let mut in_a = true;
        for ((layer, r), wr) in self.layers.iter().zip(&self.layer_ranges).zip(&ws.layer_ws) {
            let (src, dst) = if in_a { (&ws.a, &mut ws.b) } else { (&ws.b, &mut ws.a) };
            layer.forward(&p[r.clone()], src.as_ref(), ctx, dst.as_mut(), log_det, &mut ws.ws[wr.clone()]);
            in_a = !in_a;
        }
        let z = if in_a { &ws.a } else { &ws.b };
        let (br, bw) = (self.base_range.clone(), ws.base_ws.clone());
        self.base.log_prob(&p[br], z.as_ref(), ctx, &mut ws.log_q[..n], &mut ws.ws[bw]);
        for (q, ld) in ws.log_q[..n].iter_mut().zip(log_det.iter()) {
            *q += *ld;
        }
    }

    /// Backward pass of the chunk last given to `forward_chunk`: given d loss / d log_q per
    /// row, *adds* the parameter gradient into `ws.grad` (the embedding's too: the layers and the
    /// base add ∂loss/∂ctx per row, summed per observation before E's backward).
    pub fn backward_chunk(&self, p: &[T], d_log_q: &[T], ws: &mut FlowWorkspace<T>) {
        let n = ws.rows;
        let FlowWorkspace { ws: scratch, layer_ws, base_ws, a, b, grad, embed, .. } = ws;
        let mut d_ctx = self.embedding.as_ref().map(|_| embed.zeroed_adjoint());
        // After the forward pass, z sits in `a` if the layer count is even. Adjoints reuse the
        // two buffers: d_z overwrites z, which backward no longer needs.
        let even = self.layers.len().is_multiple_of(2);
        let (mut d_cur, mut d_next) = if even { (a, b) } else { (b, a) };
        let br = self.base_range.clone();
        let base_scratch = &scratch[base_ws.clone()];
        let d_ctx_base = d_ctx.as_mut().map(|d| d.rb_mut());
        self.base.backward(&p[br.clone()], base_scratch, d_log_q, d_cur.as_mut(), d_ctx_base, &mut grad[br]);
        for ((layer, r), wr) in self.layers.iter().zip(&self.layer_ranges).zip(layer_ws.iter()).rev() {
            layer.backward(
                &p[r.clone()],
                &scratch[wr.clone()],
                d_cur.as_ref().rows_range(0, n),
                d_log_q,
                d_next.as_mut(),
                d_ctx.as_mut().map(|d| d.rb_mut()),
                &mut grad[r.clone()],
            );
            std::mem::swap(&mut d_cur, &mut d_next);
        }
        if let Some(net) = &self.embedding {
            let er = self.embedding_range.clone();
            embed.backward(net, &p[er.clone()], &mut grad[er]);
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

    /// Draws `n` samples θ ~ q(·|x) for one observation `x`; deterministic given `seed`: the
    /// one-observation case of [`Flow::sample_many`].
    pub fn sample(&self, x: &[f64], n: usize, seed: u64) -> Result<Mat<f64>> {
        self.sample_many(MatRef::new(x, 1, x.len()), n, seed)
    }

    /// Fills `out` (rows × d values, row-major) with draws θ ~ q(·|x) for the conditioners'
    /// context `ctx_row` of one observation ([`Flow::context_into`]): one chunk of a sampling pass.
    fn sample_rows_into(&self, ctx_row: &[T], rng: &mut Rng, out: &mut [f64]) {
        let d = self.theta_dim();
        let rows = out.len() / d;
        let ctx = Mat::from_fn(rows, ctx_row.len(), |_, k| ctx_row[k]);
        let u = self.sample_support(ctx.as_ref(), rng);
        let mut buf = vec![0.0; d];
        for r in 0..rows {
            let ur: Vec<f64> = u.row(r).iter().map(|v| v.to_f64_lossless()).collect();
            self.support.inverse(&ur, &mut buf);
            out[r * d..(r + 1) * d].copy_from_slice(&buf);
        }
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
        let mut u = Mat::zeros(rows, d);
        let mut tmp = Mat::zeros(rows, d);
        let mut log_det = vec![T::zero(); rows];
        let mut ws = vec![T::zero(); self.sample_workspace_len(rows)];
        self.sample_support_into(p, ctx, rng, u.as_mut(), tmp.as_mut(), &mut log_det, &mut ws);
        u
    }

    /// Scratch length [`Flow::sample_support_into`] needs for `n_batch` rows: the largest
    /// layer workspace (the layers are inverted one at a time), plus the embedding's context.
    pub fn sample_workspace_len(&self, n_batch: usize) -> usize {
        let layers = self.layers.iter().map(|l| Layer::<T>::workspace_len(l, n_batch)).max().unwrap_or(0);
        let embedding = self
            .embedding
            .as_ref()
            .map_or(0, |net| embedded::sampling_scratch_len::<T>(net, n_batch, self.context_width()));
        layers + embedding
    }

    /// [`Flow::sample_support_with`] into `u` (one row per row of `ctx`), allocation-free with
    /// the caller's scratch: `tmp` of u's shape, `log_det` of one value per row and `ws` of
    /// [`Flow::sample_workspace_len`] values. (A conditional mixture base still allocates its own.)
    #[allow(clippy::too_many_arguments)]
    pub fn sample_support_into(
        &self,
        p: &[T],
        ctx: MatRef<T>,
        rng: &mut Rng,
        u: MatMut<T>,
        tmp: MatMut<T>,
        log_det: &mut [T],
        ws: &mut [T],
    ) {
        let rows = ctx.rows();
        debug_assert_eq!((u.rows(), tmp.rows(), log_det.len()), (rows, rows, rows));
        let (ctx, ws) = match &self.embedding {
            Some(net) => embedded::embed_for_sampling(net, &p[self.embedding_range.clone()], ctx, ws),
            None => (ctx, ws),
        };
        // z ~ base, then the layers inverted in reverse, alternating between the two buffers:
        // start in the one that makes the last inverse land in `u`.
        let (mut a, mut b) = if self.layers.len().is_multiple_of(2) { (u, tmp) } else { (tmp, u) };
        self.base.sample(&p[self.base_range.clone()], ctx, rng, a.rb_mut());
        log_det.fill(T::zero());
        for (layer, r) in self.layers.iter().zip(&self.layer_ranges).rev() {
            let ws = &mut ws[..Layer::<T>::workspace_len(layer, rows)];
            layer.inverse(&p[r.clone()], a.rb(), ctx, b.rb_mut(), log_det, ws);
            std::mem::swap(&mut a, &mut b);
        }
    }
}

/// Scratch memory for one chunk: per-layer workspaces, two ping-pong activation buffers, the
/// per-row log-dets and log-densities, and the chunk's parameter gradient.
#[derive(Clone, Debug)]
pub struct FlowWorkspace<T: Real> {
    n_batch: usize,
    rows: usize,
    ws: Vec<T>,
    /// Each layer's range of `ws`, in chain order.
    layer_ws: Vec<Range<usize>>,
    /// The base's range of `ws` (after every layer's).
    base_ws: Range<usize>,
    a: Mat<T>,
    b: Mat<T>,
    log_det: Vec<T>,
    /// log q(u_r | ctx_r) of the last forward pass.
    pub log_q: Vec<T>,
    /// Accumulated parameter gradient.
    pub grad: Vec<T>,
    /// The embedding's scratch (empty without one).
    embed: embedded::EmbedWorkspace<T>,
}

/// Back-to-back ranges 0..l₀, l₀..l₀+l₁, … of the given lengths.
fn consecutive_ranges(lens: impl Iterator<Item = usize>) -> Vec<Range<usize>> {
    let mut start = 0;
    lens.map(|len| {
        let r = start..start + len;
        start += len;
        r
    })
    .collect()
}
