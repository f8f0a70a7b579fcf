//! Conditional coupling layer (Dinh et al. 2016, arXiv:1605.08803), generic over its elementwise
//! transformer τ (flowjax's `Coupling`: transformer + conditioner sized from its parameter count):
//! v_a = u_a, v_b = τ(u_b; raw), raw = net([u_a | ctx]); log|det ∂v/∂u| = Σ_j log τ'(u_b,j).
//!
//! Shapes: u, v: n × dim; ctx: n × ctx_dim (0 columns = unconditional); the transformed block
//! u_b has n_b = dim − n_cond columns and the net outputs n_b·P raw values per row (P =
//! [`Transformer::n_params`]), laid out as the transformer documents. [`Split::Lower`]
//! conditions on the first n_cond columns and transforms the rest; [`Split::Upper`] conditions
//! on the last n_cond and transforms the first n_b.
//!
//! Angle inputs ([`Coupling::with_angle_inputs`]): a conditioning coordinate that is an angle φ
//! reaches the net as (cos φ, sin φ), so the conditioner is continuous on the circle; its input
//! adjoint is ∂L/∂φ = −sin φ·∂L/∂cos φ + cos φ·∂L/∂sin φ. Without angles the net reads u_a as is.
//!
//! Workspace (n rows): the MLP's workspace, then the net output (n × n_b·P; the transformer's
//! forward may overwrite it with a cache for its backward), then copies of u_a (n × n_cond; with
//! angle inputs its features, n × (n_cond + angles)),
//! ctx (n × ctx_dim) and u_b (n × n_b). `Layer::backward` gets neither u nor ctx, so forward
//! keeps these copies (a few columns per row, negligible next to the hidden layers).
//!
//! Backward: the transformer turns (∂L/∂v_b, ∂L/∂log_det) into ∂L/∂raw and ∂L/∂u_b per row, the
//! net adds its input adjoint to ∂L/∂u_a = ∂L/∂v_a. The raw adjoints live in a stack array,
//! [`crate::nn::mlp::BACKWARD_STACK_LEN`] elements, processed in row tiles (backward receives
//! `ws` read-only).

use std::fmt::Debug;

use crate::flow::Layer;
use crate::mat::{MatMut, MatRef};
use crate::nn::mlp::BACKWARD_STACK_LEN;
use crate::nn::{Activation, Mlp};
use crate::real::Real;
use crate::rng::Rng;

/// Which columns condition the coupling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Condition on the first n_cond columns, transform the rest.
    Lower,
    /// Condition on the last n_cond columns, transform the first dim − n_cond.
    Upper,
}

/// A context-free elementwise bijection τ(u; raw) applied to each transformed coordinate, with
/// `n_params()` raw values per coordinate. Row functions get one row's n_b coordinates and its
/// n_b·P raw values in the transformer's own layout; zero raw values must give the identity.
pub trait Transformer: Clone + Debug + PartialEq + Send + Sync {
    /// Raw values per transformed coordinate (P).
    fn n_params(&self) -> usize;
    /// v = τ(u; raw) for one row; returns Σ log τ'(u). May overwrite `raw` with a same-length
    /// cache that `backward_row` reads instead.
    fn forward_row<T: Real>(&self, raw: &mut [T], u: &[T], v: &mut [T]) -> T;
    /// u = τ⁻¹(v; raw) for one row; returns Σ log (τ⁻¹)'(v) = −Σ log τ'(u).
    fn inverse_row<T: Real>(&self, raw: &[T], v: &[T], u: &mut [T]) -> T;
    /// Given the cache `forward_row` left, its input u and the adjoints of v and of the row's
    /// log-det, *overwrites* `d_raw` (n_b·P) and `d_u` (n_b).
    fn backward_row<T: Real>(&self, cache: &[T], u: &[T], d_v: &[T], d_log_det: T, d_raw: &mut [T], d_u: &mut [T]);
}

/// A coupling layer's shapes, conditioner and transformer.
#[derive(Clone, Debug, PartialEq)]
pub struct Coupling<Tr> {
    dim: usize,
    n_cond: usize,
    split: Split,
    ctx_dim: usize,
    mlp: Mlp,
    transformer: Tr,
    /// Per conditioning coordinate, whether it is an angle the net sees as (cos, sin); empty
    /// when none is.
    angle_inputs: Vec<bool>,
}

impl<Tr: Transformer> Coupling<Tr> {
    /// v_a = u_a, v_b = τ(u_b; mlp([u_a | ctx])); the MLP is (n_cond + ctx_dim) → hidden →
    /// (dim − n_cond)·P.
    #[allow(clippy::too_many_arguments)]
    #[track_caller]
    pub fn with_transformer(
        dim: usize,
        n_cond: usize,
        split: Split,
        ctx_dim: usize,
        hidden: &[usize],
        act: Activation,
        transformer: Tr,
    ) -> Self {
        Self::with_angle_inputs(dim, n_cond, split, ctx_dim, hidden, act, transformer, Vec::new())
    }

    /// [`Coupling::with_transformer`] whose conditioner sees the conditioning coordinates flagged
    /// in `angle_inputs` (one flag per conditioning coordinate, or empty for none) as
    /// (cos φ, sin φ): the MLP is (n_cond + angles + ctx_dim) → hidden → (dim − n_cond)·P.
    #[allow(clippy::too_many_arguments)]
    #[track_caller]
    pub fn with_angle_inputs(
        dim: usize,
        n_cond: usize,
        split: Split,
        ctx_dim: usize,
        hidden: &[usize],
        act: Activation,
        transformer: Tr,
        angle_inputs: Vec<bool>,
    ) -> Self {
        assert!(n_cond < dim, "Coupling: n_cond {n_cond} must be below dim {dim}");
        assert!(
            angle_inputs.is_empty() || angle_inputs.len() == n_cond,
            "Coupling: one angle flag per conditioning coordinate"
        );
        let angle_inputs = if angle_inputs.contains(&true) { angle_inputs } else { Vec::new() };
        let n_features = n_cond + angle_inputs.iter().filter(|&&a| a).count();
        let mlp = Mlp::new(n_features + ctx_dim, hidden, (dim - n_cond) * transformer.n_params(), act);
        Self { dim, n_cond, split, ctx_dim, mlp, transformer, angle_inputs }
    }
    /// The conditioner's last layer is zero, so the layer starts as the identity.
    pub fn init_params<T: Real>(&self, p: &mut [T], rng: &mut Rng) {
        self.mlp.init_params(p, rng, 0.0);
    }
    /// Dimension of θ (the layer's input u and output v).
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Coordinates the conditioner reads (passed through unchanged); the other dim − n_cond are
    /// transformed.
    pub fn n_cond(&self) -> usize {
        self.n_cond
    }
    /// Which end of u is conditioned on.
    pub fn split(&self) -> Split {
        self.split
    }
    /// Dimension of the standardised observation appended to the conditioner's input.
    pub fn ctx_dim(&self) -> usize {
        self.ctx_dim
    }
    /// The conditioner: (u_cond, ctx) ↦ raw transformer parameters of every transformed coordinate.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }
    /// The elementwise transformer (affine or spline) the conditioner parameterises.
    pub fn transformer(&self) -> &Tr {
        &self.transformer
    }
    /// Which conditioning coordinates the net sees as (cos, sin); empty when none.
    pub fn angle_inputs(&self) -> &[bool] {
        &self.angle_inputs
    }
    fn n_b(&self) -> usize {
        self.dim - self.n_cond
    }
    /// Net inputs from u_a per row: n_cond, plus one per angle.
    fn n_features(&self) -> usize {
        self.mlp.n_in() - self.ctx_dim
    }
    /// Writes the features of the conditioning rows `u_a` (n × n_cond) into `out` (n × n_features).
    fn angle_features<T: Real>(&self, u_a: MatRef<T>, out: &mut [T]) {
        for (r, out) in out.chunks_exact_mut(self.n_features()).enumerate().take(u_a.rows()) {
            let mut i = 0;
            for (&u, &angle) in u_a.row(r).iter().zip(&self.angle_inputs) {
                if angle {
                    out[i] = u.cos();
                    out[i + 1] = u.sin();
                    i += 2;
                } else {
                    out[i] = u;
                    i += 1;
                }
            }
        }
    }
    /// Net outputs per row, n_b·P.
    fn n_out(&self) -> usize {
        self.n_b() * self.transformer.n_params()
    }
    /// First column of the conditioning block a and of the transformed block b.
    fn starts(&self) -> (usize, usize) {
        match self.split {
            Split::Lower => (0, self.n_cond),
            Split::Upper => (self.n_b(), 0),
        }
    }
    /// Splits ws into (mlp ws, net output, u_a, ctx, u_b).
    #[allow(clippy::type_complexity)]
    fn split_ws<'w, T>(
        &self,
        ws: &'w mut [T],
        n: usize,
    ) -> (&'w mut [T], &'w mut [T], &'w mut [T], &'w mut [T], &'w mut [T]) {
        let (mlp_ws, rest) = ws.split_at_mut(self.mlp.workspace_len(n));
        let (o, rest) = rest.split_at_mut(n * self.n_out());
        let (u_a, rest) = rest.split_at_mut(n * self.n_features());
        let (ctx, rest) = rest.split_at_mut(n * self.ctx_dim);
        (mlp_ws, o, u_a, ctx, &mut rest[..n * self.n_b()])
    }
}

fn copy_cols<T: Real>(src: MatRef<T>, dst: &mut [T]) {
    if src.cols() == 0 {
        return;
    }
    for (r, d) in dst.chunks_exact_mut(src.cols()).enumerate().take(src.rows()) {
        d.copy_from_slice(src.row(r));
    }
}

impl<T: Real, Tr: Transformer> Layer<T> for Coupling<Tr> {
    fn n_params(&self) -> usize {
        self.mlp.n_params()
    }

    fn workspace_len(&self, n_batch: usize) -> usize {
        self.mlp.workspace_len(n_batch) + n_batch * (self.n_out() + self.n_b() + self.n_features() + self.ctx_dim)
    }

    fn forward(&self, p: &[T], u: MatRef<T>, ctx: MatRef<T>, mut v: MatMut<T>, log_det: &mut [T], ws: &mut [T]) {
        let (n, n_b, n_cond, n_out) = (u.rows(), self.n_b(), self.n_cond, self.n_out());
        let (a0, b0) = self.starts();
        let (mlp_ws, o, u_a, ctx_copy, u_b) = self.split_ws(ws, n);
        if self.angle_inputs.is_empty() {
            copy_cols(u.cols_range(a0, n_cond), u_a);
        } else {
            self.angle_features(u.cols_range(a0, n_cond), u_a);
        }
        copy_cols(ctx, ctx_copy);
        copy_cols(u.cols_range(b0, n_b), u_b);
        let (u_a, ctx_copy) = (MatRef::new(u_a, n, self.n_features()), MatRef::new(ctx_copy, n, self.ctx_dim));
        self.mlp.forward(p, u_a, ctx_copy, MatMut::new(o, n, n_out), mlp_ws);
        for (r, (raw, u_b)) in o.chunks_exact_mut(n_out).zip(u_b.chunks_exact(n_b)).enumerate() {
            let v_row = v.row_mut(r);
            v_row[a0..a0 + n_cond].copy_from_slice(&u.row(r)[a0..a0 + n_cond]);
            log_det[r] += self.transformer.forward_row(raw, u_b, &mut v_row[b0..b0 + n_b]);
        }
    }

    fn inverse(&self, p: &[T], v: MatRef<T>, ctx: MatRef<T>, mut u: MatMut<T>, log_det: &mut [T], ws: &mut [T]) {
        let (n, n_b, n_cond, n_out) = (v.rows(), self.n_b(), self.n_cond, self.n_out());
        let (a0, b0) = self.starts();
        let (mlp_ws, o, features, _, _) = self.split_ws(ws, n);
        let v_a = v.cols_range(a0, n_cond);
        if self.angle_inputs.is_empty() {
            self.mlp.forward(p, v_a, ctx, MatMut::new(o, n, n_out), mlp_ws);
        } else {
            self.angle_features(v_a, features);
            let features = MatRef::new(features, n, self.n_features());
            self.mlp.forward(p, features, ctx, MatMut::new(o, n, n_out), mlp_ws);
        }
        for (r, raw) in o.chunks_exact(n_out).enumerate() {
            let v_row = v.row(r);
            let u_row = u.row_mut(r);
            u_row[a0..a0 + n_cond].copy_from_slice(&v_row[a0..a0 + n_cond]);
            log_det[r] += self.transformer.inverse_row(raw, &v_row[b0..b0 + n_b], &mut u_row[b0..b0 + n_b]);
        }
    }

    fn backward(
        &self,
        p: &[T],
        ws: &[T],
        d_v: MatRef<T>,
        d_log_det: &[T],
        mut d_u: MatMut<T>,
        mut d_ctx: Option<MatMut<T>>,
        d_p: &mut [T],
    ) {
        let (n, n_b, n_cond, ctx_dim, n_out) = (d_v.rows(), self.n_b(), self.n_cond, self.ctx_dim, self.n_out());
        let (a0, b0) = self.starts();
        let (mlp_ws, rest) = ws.split_at(self.mlp.workspace_len(n));
        let (o, rest) = rest.split_at(n * n_out);
        let n_features = self.n_features();
        let (u_a, rest) = rest.split_at(n * n_features);
        let (ctx_copy, u_b) = rest.split_at(n * ctx_dim);
        let (u_a, ctx_copy) = (MatRef::new(u_a, n, n_features), MatRef::new(ctx_copy, n, ctx_dim));
        let mut scratch = [T::zero(); BACKWARD_STACK_LEN];
        // With angle inputs the net's input adjoint (per feature) goes to a tile of the stack
        // array first, then through (cos, sin) into d_u.
        let n_feature_adj = if self.angle_inputs.is_empty() { 0 } else { n_features };
        let tile = self.mlp.backward_tile_rows(n_out + n_feature_adj);
        for r0 in (0..n).step_by(tile) {
            let t = tile.min(n - r0);
            let (d_o, rest) = scratch.split_at_mut(tile * n_out);
            let (d_features, mlp_scratch) = rest.split_at_mut(tile * n_feature_adj);
            for (i, d_raw) in d_o.chunks_exact_mut(n_out).take(t).enumerate() {
                let r = r0 + i;
                self.transformer.backward_row(
                    &o[r * n_out..(r + 1) * n_out],
                    &u_b[r * n_b..(r + 1) * n_b],
                    &d_v.row(r)[b0..b0 + n_b],
                    d_log_det[r],
                    d_raw,
                    &mut d_u.row_mut(r)[b0..b0 + n_b],
                );
            }
            let mut d_u_tile = d_u.rows_range_mut(r0, t);
            let d_in_a = if self.angle_inputs.is_empty() {
                d_u_tile.cols_range_mut(a0, n_cond)
            } else {
                MatMut::new(&mut d_features[..t * n_features], t, n_features)
            };
            self.mlp.backward_rows(
                p,
                mlp_ws,
                n,
                r0,
                u_a.rows_range(r0, t),
                ctx_copy.rows_range(r0, t),
                MatRef::new(&d_o[..t * n_out], t, n_out),
                Some(d_in_a),
                d_ctx.as_mut().map(|d| d.rows_range_mut(r0, t)),
                d_p,
                mlp_scratch,
            );
            if !self.angle_inputs.is_empty() {
                for i in 0..t {
                    let (features, d_f) = (u_a.row(r0 + i), &d_features[i * n_features..(i + 1) * n_features]);
                    let d_row = &mut d_u_tile.row_mut(i)[a0..a0 + n_cond];
                    let mut j = 0;
                    for (d, &angle) in d_row.iter_mut().zip(&self.angle_inputs) {
                        if angle {
                            // features (cos φ, sin φ): ∂L/∂φ = −sin φ·∂L/∂cos + cos φ·∂L/∂sin.
                            *d = features[j] * d_f[j + 1] - features[j + 1] * d_f[j];
                            j += 2;
                        } else {
                            *d = d_f[j];
                            j += 1;
                        }
                    }
                }
            }
            for i in (0..t).filter(|_| n_cond > 0) {
                let g_a = &d_v.row(r0 + i)[a0..a0 + n_cond];
                for (d, &g) in d_u_tile.row_mut(i)[a0..a0 + n_cond].iter_mut().zip(g_a) {
                    *d += g;
                }
            }
        }
    }
}
