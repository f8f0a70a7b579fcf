//! Conditional diagonal Gaussian mixture base:
//!
//!   q(z | x) = Σ_k π_k(x) N(z; μ_k(x), diag σ_k(x)²),   [μ | raw log-scales | raw logits](x) = MLP(ctx),
//!
//! with π = softmax(raw logits) and log σ = S·tanh(raw/S) exactly as in [`GaussianMixture`]. The MLP
//! maps one standardised observation row ctx (ctx_dim) to one raw mixture parameter row of
//! K(2d + 1) values in [`GaussianMixture`]'s parameter layout:
//!
//!   [means μ (K × d, row-major) | raw log-scales (K × d) | raw logits (K)].
//!
//! Each z row is then scored by the shared per-row mixture kernel (`GaussianMixture::row_log_prob`,
//! `row_backward`), whose raw-parameter adjoints become the MLP's output adjoint d_out, so the
//! mixture math (bounded log-scale, softmax, log-sum-exp, responsibilities) is written once.
//!
//! Why: a posterior whose modes move with x needs components that move with x. An unconditional
//! mixture can only place fixed components and leaves the flow to bend them onto the modes,
//! which smears probability between modes; with parameters following x most of that spurious
//! mass disappears (measured ~96 % less between posterior modes in another implementation).
//!
//! Initialisation ([`ConditionalMixture::init_params`]): hidden layers get the MLP default, the
//! last layer's weights are multiplied by [`INIT_LAST_SCALE`] = 0 and its bias is set to the
//! separated unconditional layout [`GaussianMixture::init_layout`]. So at initialisation q(z | x)
//! *equals* the well-separated unconditional mixture for every x, and x-dependence is learnt from
//! there: the first gradient step reaches the last layer's weights (d W_L = hᵀ d_out, h ≠ 0), and
//! from the second step on every layer. [`ConditionalMixture::set_bias_layout`] replaces the bias
//! layout for a data-driven start.

use super::{Base, GaussianMixture};
use crate::mat::{Mat, MatMut, MatRef};
use crate::nn::mlp::BACKWARD_STACK_LEN;
use crate::nn::{Activation, Mlp};
use crate::real::Real;
use crate::rng::Rng;

/// Scale of the MLP's last-layer weights at initialisation: 0, so the initial conditional
/// mixture is exactly the unconditional initial layout for every ctx.
pub const INIT_LAST_SCALE: f64 = 0.0;

/// Rows per block in [`ConditionalMixture::sample`] (bounds its scratch allocation).
const SAMPLE_BLOCK_ROWS: usize = 256;

/// q(z | ctx): a K-component diagonal Gaussian mixture on R^dim whose parameters are an MLP of
/// ctx (shapes only; the MLP's parameters are the base's flat parameters).
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionalMixture {
    dim: usize,
    n_components: usize,
    ctx_dim: usize,
    mlp: Mlp,
    /// Shapes of one row's mixture: the per-row kernel and the parameter-row layout.
    row: GaussianMixture,
}

impl ConditionalMixture {
    /// An MLP ctx_dim → hidden… → K(2d + 1) with `act` after each hidden layer, feeding a
    /// K-component mixture on R^dim. `ctx_dim = 0` is allowed (then q does not depend on x).
    #[track_caller]
    pub fn new(dim: usize, n_components: usize, ctx_dim: usize, hidden: &[usize], act: Activation) -> Self {
        assert!(dim > 0 && n_components > 0, "ConditionalMixture: dim and n_components must be positive");
        let row = GaussianMixture::new(dim, n_components);
        let mlp = Mlp::new(ctx_dim, hidden, row.row_len(), act);
        Self { dim, n_components, ctx_dim, mlp, row }
    }

    /// Dimension d of θ's base space (the mixture's support is R^d).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of components K; the MLP emits K(2d + 1) raw values per row.
    pub fn n_components(&self) -> usize {
        self.n_components
    }

    /// Dimension of the standardised observation the MLP reads (0: unconditional).
    pub fn ctx_dim(&self) -> usize {
        self.ctx_dim
    }

    /// The conditioner; its output row is a [`GaussianMixture`] parameter vector.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    /// The unconditional mixture with the same (dim, K): its parameter layout is the MLP's
    /// output layout, so [`GaussianMixture::unpack`] reads a row of [`Self::raw_mixture_params`].
    pub fn row_mixture(&self) -> &GaussianMixture {
        &self.row
    }

    /// Range of the MLP's last-layer bias in the flat parameters: the MLP stores W_l then b_l,
    /// layer after layer, so b_L is the last K(2d + 1) entries.
    pub fn output_bias_range(&self) -> std::ops::Range<usize> {
        let n = self.mlp.n_params();
        n - self.mlp.n_out()..n
    }

    /// Sets the last-layer bias to the mixture with `means` (K × d), `scales` σ (K × d) and
    /// `weights` (K, normalised here); with zero last-layer weights this is q(z | x) for every x.
    /// Same rules and panics as [`GaussianMixture::set_params`].
    #[track_caller]
    pub fn set_bias_layout<T: Real>(&self, p: &mut [T], means: &[f64], scales: &[f64], weights: &[f64]) {
        assert_eq!(p.len(), self.mlp.n_params(), "ConditionalMixture::set_bias_layout: parameter length");
        let range = self.output_bias_range();
        self.row.set_params(&mut p[range], means, scales, weights);
    }

    /// The raw mixture parameter row for each ctx row (n × K(2d + 1), [`GaussianMixture`] layout).
    /// Allocates; for inspection and tests, not the training path.
    pub fn raw_mixture_params<T: Real>(&self, p: &[T], ctx: MatRef<T>) -> Mat<T> {
        assert_eq!(ctx.cols(), self.ctx_dim, "ConditionalMixture::raw_mixture_params: ctx columns");
        let n_batch = ctx.rows();
        let mut out = Mat::zeros(n_batch, self.mlp.n_out());
        let mut ws = vec![T::zero(); self.mlp.workspace_len(n_batch)];
        self.mlp.forward(p, ctx, MatRef::empty(n_batch), out.as_mut(), &mut ws);
        out
    }

    /// Workspace lengths after the MLP's: ctx copy, raw rows, derived rows, z, γ (per row).
    fn per_row_lens(&self) -> [usize; 5] {
        [self.ctx_dim, self.row.row_len(), self.row.derived_len(), self.dim, self.n_components]
    }
}

/// The workspace split into the MLP's part and the per-row blocks (each n_batch rows).
struct Parts<S> {
    mlp: S,
    ctx: S,
    raw: S,
    derived: S,
    z: S,
    gamma: S,
}

impl ConditionalMixture {
    fn split_mut<'a, T>(&self, ws: &'a mut [T], n_batch: usize) -> Parts<&'a mut [T]> {
        let [c, r, d, z, g] = self.per_row_lens().map(|l| l * n_batch);
        let (mlp, rest) = ws.split_at_mut(self.mlp.workspace_len(n_batch));
        let (ctx, rest) = rest.split_at_mut(c);
        let (raw, rest) = rest.split_at_mut(r);
        let (derived, rest) = rest.split_at_mut(d);
        let (z_keep, rest) = rest.split_at_mut(z);
        Parts { mlp, ctx, raw, derived, z: z_keep, gamma: &mut rest[..g] }
    }

    fn split<'a, T>(&self, ws: &'a [T], n_batch: usize) -> Parts<&'a [T]> {
        let [c, r, d, z, g] = self.per_row_lens().map(|l| l * n_batch);
        let (mlp, rest) = ws.split_at(self.mlp.workspace_len(n_batch));
        let (ctx, rest) = rest.split_at(c);
        let (raw, rest) = rest.split_at(r);
        let (derived, rest) = rest.split_at(d);
        let (z_keep, rest) = rest.split_at(z);
        Parts { mlp, ctx, raw, derived, z: z_keep, gamma: &rest[..g] }
    }
}

impl<T: Real> Base<T> for ConditionalMixture {
    fn dim(&self) -> usize {
        self.dim
    }

    fn n_params(&self) -> usize {
        self.mlp.n_params()
    }

    /// The MLP's workspace, then per row: ctx (ctx_dim, backward's MLP input), the raw mixture
    /// row (K(2d + 1)), its derived quantities (2Kd + 2K), z (d) and γ (K).
    fn workspace_len(&self, n_batch: usize) -> usize {
        self.mlp.workspace_len(n_batch) + n_batch * self.per_row_lens().iter().sum::<usize>()
    }

    /// MLP default init with the last layer's weights scaled by [`INIT_LAST_SCALE`] (= 0) and its
    /// bias set to [`GaussianMixture::init_layout`]: q(z | x) starts as the separated
    /// unconditional mixture for every x (see the module doc).
    fn init_params(&self, p: &mut [T], rng: &mut Rng) {
        self.mlp.init_params(p, rng, INIT_LAST_SCALE);
        let (means, scales, weights) = self.row.init_layout();
        self.set_bias_layout(p, &means, &scales, &weights);
    }

    fn log_prob(&self, p: &[T], z: MatRef<T>, ctx: MatRef<T>, log_q: &mut [T], ws: &mut [T]) {
        let n_batch = z.rows();
        let (dim, n_comp, ctx_dim) = (self.dim, self.n_components, self.ctx_dim);
        let (row_len, derived_len) = (self.row.row_len(), self.row.derived_len());
        debug_assert_eq!(p.len(), self.mlp.n_params());
        debug_assert_eq!(z.cols(), dim);
        debug_assert_eq!((ctx.rows(), ctx.cols()), (n_batch, ctx_dim));
        debug_assert_eq!(log_q.len(), n_batch);
        debug_assert!(ws.len() >= <Self as Base<T>>::workspace_len(self, n_batch));
        let parts = self.split_mut(ws, n_batch);
        if ctx_dim > 0 {
            for (r, c) in parts.ctx.chunks_exact_mut(ctx_dim).enumerate() {
                c.copy_from_slice(ctx.row(r));
            }
        }
        let ctx_keep = MatRef::new(&*parts.ctx, n_batch, ctx_dim);
        self.mlp.forward(p, ctx_keep, MatRef::empty(n_batch), MatMut::new(parts.raw, n_batch, row_len), parts.mlp);
        let rows = log_q
            .iter_mut()
            .zip(parts.raw.chunks_exact(row_len))
            .zip(parts.derived.chunks_exact_mut(derived_len))
            .zip(parts.z.chunks_exact_mut(dim))
            .zip(parts.gamma.chunks_exact_mut(n_comp));
        for (r, ((((lq, raw), derived), z_r), gamma)) in rows.enumerate() {
            z_r.copy_from_slice(z.row(r));
            self.row.prepare_row(raw, derived);
            *lq = self.row.row_log_prob(raw, derived, z_r, gamma);
        }
    }

    /// Per row, the kernel's raw-parameter adjoints form d_out (tiles of rows in a stack array,
    /// since `ws` is read-only here); the MLP backward adds d_out's pull-back into `d_p`.
    fn backward(
        &self,
        p: &[T],
        ws: &[T],
        d_log_q: &[T],
        mut d_z: MatMut<T>,
        mut d_ctx: Option<MatMut<T>>,
        d_p: &mut [T],
    ) {
        let n_batch = d_log_q.len();
        let (dim, n_comp, ctx_dim) = (self.dim, self.n_components, self.ctx_dim);
        let (row_len, derived_len) = (self.row.row_len(), self.row.derived_len());
        debug_assert_eq!((d_z.rows(), d_z.cols()), (n_batch, dim));
        debug_assert_eq!(d_p.len(), self.mlp.n_params());
        let parts = self.split(ws, n_batch);
        let ctx_keep = MatRef::new(parts.ctx, n_batch, ctx_dim);
        let mut scratch = [T::zero(); BACKWARD_STACK_LEN];
        let tile = self.mlp.backward_tile_rows(row_len);
        // backward_tile_rows(row_len) sizes the tile so the MLP's own scratch (2 · tile · max width,
        // plus its last-layer Wᵀ adjoint when it has one) fits in front of tile · row_len for d_out.
        let (mlp_scratch, d_out_buf) = scratch.split_at_mut(BACKWARD_STACK_LEN - tile * row_len);
        for r0 in (0..n_batch).step_by(tile) {
            let t = tile.min(n_batch - r0);
            let d_out = &mut d_out_buf[..t * row_len];
            d_out.fill(T::zero());
            for (i, d_raw) in d_out.chunks_exact_mut(row_len).enumerate() {
                let r = r0 + i;
                let raw = &parts.raw[r * row_len..(r + 1) * row_len];
                let derived = &parts.derived[r * derived_len..(r + 1) * derived_len];
                let z_r = &parts.z[r * dim..(r + 1) * dim];
                let gamma = &parts.gamma[r * n_comp..(r + 1) * n_comp];
                self.row.row_backward(d_log_q[r], raw, derived, z_r, gamma, d_z.row_mut(r), d_raw);
            }
            // The forward pass fed ctx as the net's first input block; here it is the second,
            // whose adjoint the net adds into `d_ctx`. Same first-layer weights, same order of
            // operations for the parameter adjoints.
            self.mlp.backward_rows(
                p,
                parts.mlp,
                n_batch,
                r0,
                MatRef::empty(t),
                ctx_keep.rows_range(r0, t),
                MatRef::new(d_out, t, row_len),
                None,
                d_ctx.as_mut().map(|d| d.rows_range_mut(r0, t)),
                d_p,
                mlp_scratch,
            );
        }
    }

    /// Per row, the mixture of that ctx row's MLP output. Computes the MLP in blocks of
    /// `SAMPLE_BLOCK_ROWS` rows with scratch allocated once per call (sampling is not the
    /// allocation-free training path).
    fn sample(&self, p: &[T], ctx: MatRef<T>, rng: &mut Rng, mut z: MatMut<T>) {
        let n_batch = z.rows();
        debug_assert_eq!(z.cols(), self.dim);
        debug_assert_eq!((ctx.rows(), ctx.cols()), (n_batch, self.ctx_dim));
        let row_len = self.row.row_len();
        let block = SAMPLE_BLOCK_ROWS.min(n_batch);
        let mut raw = vec![T::zero(); block * row_len];
        let mut ws = vec![T::zero(); self.mlp.workspace_len(block)];
        for r0 in (0..n_batch).step_by(SAMPLE_BLOCK_ROWS) {
            let t = block.min(n_batch - r0);
            let raw_t = &mut raw[..t * row_len];
            let ws_t = &mut ws[..self.mlp.workspace_len(t)];
            self.mlp.forward(p, ctx.rows_range(r0, t), MatRef::empty(t), MatMut::new(raw_t, t, row_len), ws_t);
            for (i, raw_r) in raw_t.chunks_exact(row_len).enumerate() {
                self.row.sample_row(raw_r, rng, z.row_mut(r0 + i));
            }
        }
    }
}
