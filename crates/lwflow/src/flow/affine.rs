//! Conditional affine coupling (RealNVP; Dinh et al. 2016, arXiv:1605.08803):
//! v_a = u_a, v_b = u_b ⊙ exp(s) + t, (raw_s, t) = net([u_a | ctx]), s = S·tanh(raw_s / S);
//! log|det ∂v/∂u| = Σ_j s_j.
//!
//! s is soft-clamped to [−S, S] (S = `scale_bound`) so exp cannot overflow and one layer cannot
//! scale by more than e^±S. The net's output row is [raw_s (n_b) | t (n_b)].
//!
//! Shapes: u, v: n × dim; ctx: n × ctx_dim (0 columns = unconditional); the transformed block
//! u_b has n_b = dim − n_cond columns. [`Split::Lower`] conditions on the first n_cond columns
//! and transforms the rest; [`Split::Upper`] conditions on the last n_cond and transforms the
//! first n_b.
//!
//! Workspace (n rows): the MLP's workspace, then [s | exp(s)] (n × 2n_b), then copies of u_a
//! (n × n_cond), ctx (n × ctx_dim) and u_b (n × n_b). `Layer::backward` gets neither u nor ctx,
//! so forward keeps these copies (a few columns per row, negligible next to the hidden layers).
//!
//! Backward, with g = ∂L/∂v, γ = ∂L/∂log_det: ∂L/∂t = g_b, ∂L/∂s = g_b ⊙ u_b ⊙ e^s + γ,
//! ∂L/∂raw_s = ∂L/∂s ⊙ (1 − (s/S)²), ∂L/∂u_b = g_b ⊙ e^s, ∂L/∂u_a = g_a + net's input adjoint.
//! Its adjoint buffers live in a stack array, [`crate::nn::mlp::BACKWARD_STACK_LEN`] elements,
//! processed in row tiles (backward receives `ws` read-only).

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

/// An affine coupling layer's shapes and conditioner.
#[derive(Clone, Debug, PartialEq)]
pub struct AffineCoupling {
    dim: usize,
    n_cond: usize,
    split: Split,
    ctx_dim: usize,
    mlp: Mlp,
    scale_bound: f64,
}

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
        assert!(n_cond < dim, "AffineCoupling: n_cond {n_cond} must be below dim {dim}");
        assert!(scale_bound > 0.0, "AffineCoupling: scale_bound must be positive");
        let mlp = Mlp::new(n_cond + ctx_dim, hidden, 2 * (dim - n_cond), act);
        Self { dim, n_cond, split, ctx_dim, mlp, scale_bound }
    }
    /// The conditioner's last layer is zero, so the layer starts as the identity.
    pub fn init_params<T: Real>(&self, p: &mut [T], rng: &mut Rng) {
        self.mlp.init_params(p, rng, 0.0);
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn ctx_dim(&self) -> usize {
        self.ctx_dim
    }
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }
    fn n_b(&self) -> usize {
        self.dim - self.n_cond
    }
    /// First column of the conditioning block a and of the transformed block b.
    fn starts(&self) -> (usize, usize) {
        match self.split {
            Split::Lower => (0, self.n_cond),
            Split::Upper => (self.n_b(), 0),
        }
    }
    /// Splits ws into (mlp ws, [s | e^s], u_a, ctx, u_b).
    #[allow(clippy::type_complexity)]
    fn split_ws<'w, T>(
        &self,
        ws: &'w mut [T],
        n: usize,
    ) -> (&'w mut [T], &'w mut [T], &'w mut [T], &'w mut [T], &'w mut [T]) {
        let (mlp_ws, rest) = ws.split_at_mut(self.mlp.workspace_len(n));
        let (o, rest) = rest.split_at_mut(2 * n * self.n_b());
        let (u_a, rest) = rest.split_at_mut(n * self.n_cond);
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

impl<T: Real> Layer<T> for AffineCoupling {
    fn n_params(&self) -> usize {
        self.mlp.n_params()
    }

    fn workspace_len(&self, n_batch: usize) -> usize {
        self.mlp.workspace_len(n_batch) + n_batch * (3 * self.n_b() + self.n_cond + self.ctx_dim)
    }

    fn forward(&self, p: &[T], u: MatRef<T>, ctx: MatRef<T>, mut v: MatMut<T>, log_det: &mut [T], ws: &mut [T]) {
        let (n, n_b, n_cond) = (u.rows(), self.n_b(), self.n_cond);
        let (a0, b0) = self.starts();
        let (mlp_ws, o, u_a, ctx_copy, u_b) = self.split_ws(ws, n);
        copy_cols(u.cols_range(a0, n_cond), u_a);
        copy_cols(ctx, ctx_copy);
        copy_cols(u.cols_range(b0, n_b), u_b);
        let (u_a, ctx_copy) = (MatRef::new(u_a, n, n_cond), MatRef::new(ctx_copy, n, self.ctx_dim));
        self.mlp.forward(p, u_a, ctx_copy, MatMut::new(o, n, 2 * n_b), mlp_ws);
        let bound = T::lit(self.scale_bound);
        let inv_bound = T::lit(1.0 / self.scale_bound);
        for r in 0..n {
            let (s_row, t_row) = o[r * 2 * n_b..(r + 1) * 2 * n_b].split_at_mut(n_b);
            let v_row = v.row_mut(r);
            v_row[a0..a0 + n_cond].copy_from_slice(u_a.row(r));
            let mut sum_s = T::zero();
            for (((s, t), &ub), vb) in
                s_row.iter_mut().zip(t_row.iter_mut()).zip(&u_b[r * n_b..(r + 1) * n_b]).zip(&mut v_row[b0..b0 + n_b])
            {
                let s_val = bound * (*s * inv_bound).tanh();
                let e = s_val.exp();
                *vb = ub.mul_add(e, *t);
                sum_s += s_val;
                (*s, *t) = (s_val, e);
            }
            log_det[r] += sum_s;
        }
    }

    fn inverse(&self, p: &[T], v: MatRef<T>, ctx: MatRef<T>, mut u: MatMut<T>, log_det: &mut [T], ws: &mut [T]) {
        let (n, n_b, n_cond) = (v.rows(), self.n_b(), self.n_cond);
        let (a0, b0) = self.starts();
        let (mlp_ws, o, _, _, _) = self.split_ws(ws, n);
        let v_a = v.cols_range(a0, n_cond);
        self.mlp.forward(p, v_a, ctx, MatMut::new(o, n, 2 * n_b), mlp_ws);
        let bound = T::lit(self.scale_bound);
        let inv_bound = T::lit(1.0 / self.scale_bound);
        for r in 0..n {
            let (raw_s, t) = o[r * 2 * n_b..(r + 1) * 2 * n_b].split_at(n_b);
            let v_row = v.row(r);
            let u_row = u.row_mut(r);
            u_row[a0..a0 + n_cond].copy_from_slice(&v_row[a0..a0 + n_cond]);
            let mut sum_s = T::zero();
            for (((&raw, &t), &vb), ub) in raw_s.iter().zip(t).zip(&v_row[b0..b0 + n_b]).zip(&mut u_row[b0..b0 + n_b]) {
                let s = bound * (raw * inv_bound).tanh();
                *ub = (vb - t) * (-s).exp();
                sum_s += s;
            }
            log_det[r] -= sum_s;
        }
    }

    fn backward(&self, p: &[T], ws: &[T], d_v: MatRef<T>, d_log_det: &[T], mut d_u: MatMut<T>, d_p: &mut [T]) {
        let (n, n_b, n_cond, ctx_dim) = (d_v.rows(), self.n_b(), self.n_cond, self.ctx_dim);
        let (a0, b0) = self.starts();
        let (mlp_ws, rest) = ws.split_at(self.mlp.workspace_len(n));
        let (o, rest) = rest.split_at(2 * n * n_b);
        let (u_a, rest) = rest.split_at(n * n_cond);
        let (ctx_copy, u_b) = rest.split_at(n * ctx_dim);
        let (u_a, ctx_copy) = (MatRef::new(u_a, n, n_cond), MatRef::new(ctx_copy, n, ctx_dim));
        let inv_bound = T::lit(1.0 / self.scale_bound);
        let mut scratch = [T::zero(); BACKWARD_STACK_LEN];
        let tile = self.mlp.backward_tile_rows(2 * n_b);
        for r0 in (0..n).step_by(tile) {
            let t = tile.min(n - r0);
            let (d_o, mlp_scratch) = scratch.split_at_mut(tile * 2 * n_b);
            for i in 0..t {
                let r = r0 + i;
                let (s_row, e_row) = o[r * 2 * n_b..(r + 1) * 2 * n_b].split_at(n_b);
                let (d_raw, d_t) = d_o[i * 2 * n_b..(i + 1) * 2 * n_b].split_at_mut(n_b);
                let g_b = &d_v.row(r)[b0..b0 + n_b];
                let gamma = d_log_det[r];
                let d_u_b = &mut d_u.row_mut(r)[b0..b0 + n_b];
                for (((((d_raw, d_t), d_ub), &g), &s), (&e, &ub)) in d_raw
                    .iter_mut()
                    .zip(d_t.iter_mut())
                    .zip(d_u_b.iter_mut())
                    .zip(g_b)
                    .zip(s_row)
                    .zip(e_row.iter().zip(&u_b[r * n_b..(r + 1) * n_b]))
                {
                    let tanh = s * inv_bound;
                    *d_raw = (g * ub).mul_add(e, gamma) * (T::one() - tanh * tanh);
                    *d_t = g;
                    *d_ub = g * e;
                }
            }
            let mut d_u_tile = d_u.rows_range_mut(r0, t);
            self.mlp.backward_rows(
                p,
                mlp_ws,
                n,
                r0,
                u_a.rows_range(r0, t),
                ctx_copy.rows_range(r0, t),
                MatRef::new(&d_o[..t * 2 * n_b], t, 2 * n_b),
                Some(d_u_tile.cols_range_mut(a0, n_cond)),
                d_p,
                mlp_scratch,
            );
            for i in (0..t).filter(|_| n_cond > 0) {
                let g_a = &d_v.row(r0 + i)[a0..a0 + n_cond];
                for (d, &g) in d_u_tile.row_mut(i)[a0..a0 + n_cond].iter_mut().zip(g_a) {
                    *d += g;
                }
            }
        }
    }
}
