//! Multilayer perceptron, the conditioner of every coupling layer.
//!
//! h₀ = [in_a | in_b], h_l = act(h_{l−1}·W_l + b_l) for the hidden layers, out = h_{L−1}·W_L + b_L.
//! Shapes: rows are batch items; W_l is stored row-major as [fan_in × fan_out] (PyTorch's
//! `x @ w` layout) followed by b_l, layer after layer, in one flat parameter slice.
//!
//! The input comes in two column blocks (a coupling's conditioning half and the context) so it is
//! never concatenated: the first layer is in_a·W_a + in_b·W_b + b with W_a/W_b the top/bottom
//! rows of W₁. When the fan-in is tiny (≤ [`SMALL_FAN_IN`]) that layer is a row loop of axpys
//! (faster than packing for a GEMM with k = 4); the wide layers go through [`crate::mat::gemm`].
//!
//! Workspace (per batch of n rows): for each hidden layer, h_l (n × width) and act'(z_l)
//! (n × width), so backward is a multiply per element and never re-evaluates the activation.
//!
//! Backward scratch: [`Mlp::backward`] (and [`crate::flow::Layer::backward`]) receive `ws` read
//! only, so the adjoint buffers live on the stack: rows are processed in tiles of
//! `Mlp::backward_tile_rows` rows using a fixed [`BACKWARD_STACK_LEN`]-element array. Parameter
//! adjoints accumulate across tiles (GEMMs with β = 1), so the result does not depend on tiling
//! except for summation order.

use super::activation::Activation;
use crate::mat::{gemm, MatMut, MatRef, Op};
use crate::real::Real;
use crate::rng::Rng;
use rand::Rng as _;

/// First layers with at most this many inputs use a row loop instead of a GEMM.
pub const SMALL_FAN_IN: usize = 16;

/// A last layer with at most this many outputs (after ≥ 1 hidden layer) is a row loop of dot
/// products against a transposed copy of W kept in the workspace, instead of a GEMM whose
/// packing of the n × width input would cost as much as the product itself.
pub const SMALL_FAN_OUT: usize = 16;

/// Elements of the stack array that backward uses for adjoints of one row tile: 36 Ki elements
/// (144 KiB in f32, 288 KiB in f64) fits a 128-row tile of a width-128 net within the 2 MiB
/// default thread stack. Widths above ~18 000 do not fit one row and panic.
pub const BACKWARD_STACK_LEN: usize = 36 * 1024;

/// An MLP's shapes: `sizes = [n_in, hidden…, n_out]` and the hidden activation.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    sizes: Vec<usize>,
    act: Activation,
}

/// y += a·x.
#[inline(always)]
pub(crate) fn axpy<T: Real>(a: T, x: &[T], y: &mut [T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = a.mul_add(x, *y);
    }
}

/// Σ xᵢyᵢ with 16 independent accumulators so the reduction vectorises.
#[inline(always)]
pub(crate) fn dot<T: Real>(x: &[T], y: &[T]) -> T {
    const LANES: usize = 16;
    let mut acc = [T::zero(); LANES];
    let (xc, yc) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for ((a, &x), &y) in acc.iter_mut().zip(xs).zip(ys) {
            *a = x.mul_add(y, *a);
        }
    }
    let mut tail = T::zero();
    for (&x, &y) in xr.iter().zip(yr) {
        tail = x.mul_add(y, tail);
    }
    acc.iter().fold(tail, |s, &a| s + a)
}

/// Row `r` of `x`, or `&[]` when `x` has no columns (a zero-column `cols_range` view keeps its
/// stride but no data, so `row` would be out of bounds for r > 0).
#[inline(always)]
fn row_or_empty<'a, T: Copy>(x: &MatRef<'a, T>, r: usize) -> &'a [T] {
    if x.cols() == 0 {
        &[]
    } else {
        x.row(r)
    }
}

impl Mlp {
    /// An MLP `n_in → hidden[0] → … → n_out` with `act` after every hidden layer.
    pub fn new(n_in: usize, hidden: &[usize], n_out: usize, act: Activation) -> Self {
        let mut sizes = Vec::with_capacity(hidden.len() + 2);
        sizes.push(n_in);
        sizes.extend_from_slice(hidden);
        sizes.push(n_out);
        Self { sizes, act }
    }
    /// Input width n₀ (a coupling's conditioner reads n_cond + ctx_dim values).
    pub fn n_in(&self) -> usize {
        self.sizes[0]
    }
    /// Output width n_L (a coupling's conditioner emits (d − n_cond) × raw parameters per coordinate).
    pub fn n_out(&self) -> usize {
        *self.sizes.last().expect("sizes has n_in and n_out")
    }
    /// The nonlinearity after each hidden layer (none after the output layer).
    pub fn activation(&self) -> Activation {
        self.act
    }
    fn n_layers(&self) -> usize {
        self.sizes.len() - 1
    }
    fn max_hidden(&self) -> usize {
        self.sizes[1..self.n_layers()].iter().copied().max().unwrap_or(0)
    }
    /// Σ_l (n_{l−1} + 1)·n_l: every layer's weights and biases.
    pub fn n_params(&self) -> usize {
        self.sizes.windows(2).map(|w| (w[0] + 1) * w[1]).sum()
    }
    /// Offset of layer `l`'s W in the flat parameters (b follows W).
    fn param_offset(&self, l: usize) -> usize {
        self.sizes[..l + 1].windows(2).map(|w| (w[0] + 1) * w[1]).sum()
    }
    /// (W_l, b_l) views into `p`.
    fn layer_params<'p, T>(&self, p: &'p [T], l: usize) -> (&'p [T], &'p [T]) {
        let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
        let off = self.param_offset(l);
        let (w, rest) = p[off..].split_at(fan_in * fan_out);
        (w, &rest[..fan_out])
    }
    fn layer_params_mut<'p, T>(&self, p: &'p mut [T], l: usize) -> (&'p mut [T], &'p mut [T]) {
        let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
        let off = self.param_offset(l);
        let (w, rest) = p[off..].split_at_mut(fan_in * fan_out);
        (w, &mut rest[..fan_out])
    }

    /// Weights and biases ~ U(−1/√fan_in, 1/√fan_in) (PyTorch's `nn.Linear` default); the last
    /// layer is multiplied by `last_scale` (0.0 → zero init so a coupling starts at the identity).
    pub fn init_params<T: Real>(&self, p: &mut [T], rng: &mut Rng, last_scale: f64) {
        assert_eq!(p.len(), self.n_params(), "Mlp::init_params: parameter length");
        for l in 0..self.n_layers() {
            let bound = 1.0 / (self.sizes[l] as f64).sqrt();
            let scale = if l + 1 == self.n_layers() { last_scale } else { 1.0 };
            let (w, b) = self.layer_params_mut(p, l);
            for x in w.iter_mut().chain(b.iter_mut()) {
                *x = T::lit(scale * bound * (2.0 * rng.gen::<f64>() - 1.0));
            }
        }
    }

    /// Workspace `forward` fills and `backward` reads: h_l and act'(z_l) for each hidden layer.
    pub fn workspace_len(&self, n_batch: usize) -> usize {
        let hidden: usize = self.sizes[1..self.n_layers()].iter().map(|h| 2 * n_batch * h).sum();
        hidden + self.last_transposed_len()
    }

    /// Whether the last layer uses the row-loop path ([`SMALL_FAN_OUT`]).
    fn small_last(&self) -> bool {
        self.n_layers() >= 2 && self.n_out() <= SMALL_FAN_OUT
    }
    /// Length of W_Lᵀ (n_out × last width) kept in ws (and of its adjoint in backward scratch).
    fn last_transposed_len(&self) -> usize {
        if self.small_last() {
            self.n_out() * self.sizes[self.n_layers() - 1]
        } else {
            0
        }
    }

    /// Rows per backward tile when a caller also needs `extra_per_row` elements of the stack
    /// array per row (power of two, at most [`BACKWARD_STACK_LEN`] elements in total).
    pub(crate) fn backward_tile_rows(&self, extra_per_row: usize) -> usize {
        let per_row = 2 * self.max_hidden() + extra_per_row;
        if per_row == 0 {
            return BACKWARD_STACK_LEN;
        }
        let rows = BACKWARD_STACK_LEN.saturating_sub(self.last_transposed_len()) / per_row;
        assert!(rows >= 1, "Mlp: layer width {} too large for the backward stack tile", self.max_hidden());
        1 << rows.ilog2()
    }

    /// out = net([in_a | in_b]) row-wise; `in_a.cols() + in_b.cols() == n_in` (either may be
    /// empty). Keeps in `ws` what `backward` needs. Allocation-free.
    pub fn forward<T: Real>(&self, p: &[T], in_a: MatRef<T>, in_b: MatRef<T>, mut out: MatMut<T>, ws: &mut [T]) {
        let n = in_a.rows();
        debug_assert_eq!(in_a.cols() + in_b.cols(), self.n_in());
        debug_assert_eq!((out.rows(), out.cols()), (n, self.n_out()));
        debug_assert!(ws.len() >= self.workspace_len(n));
        let n_layers = self.n_layers();
        let mut rest: &mut [T] = ws;
        let mut prev: &[T] = &[];
        for l in 0..n_layers {
            let (w, b) = self.layer_params(p, l);
            let width = self.sizes[l + 1];
            if l + 1 == n_layers && self.small_last() {
                // out[r, j] = b[j] + h_r · W[:, j], with Wᵀ copied once into ws.
                let fan_in = self.sizes[l];
                let w_t = &mut rest[..width * fan_in];
                for (k, w_row) in w.chunks_exact(width).enumerate() {
                    for (j, &x) in w_row.iter().enumerate() {
                        w_t[j * fan_in + k] = x;
                    }
                }
                for (r, h_row) in prev.chunks_exact(fan_in).enumerate() {
                    for ((o, &b), w_col) in out.row_mut(r).iter_mut().zip(b).zip(w_t.chunks_exact(fan_in)) {
                        *o = b + dot(h_row, w_col);
                    }
                }
            } else if l + 1 == n_layers {
                let fused_bias = self.linear_forward(l, w, b, in_a, in_b, prev, out.rb_mut());
                if !fused_bias {
                    for r in 0..n {
                        axpy(T::one(), b, out.row_mut(r));
                    }
                }
            } else {
                let (h, tail) = std::mem::take(&mut rest).split_at_mut(n * width);
                let (d, tail) = tail.split_at_mut(n * width);
                rest = tail;
                if l == 0 && self.sizes[0] <= SMALL_FAN_IN {
                    self.first_layer_rows(w, b, in_a, in_b, h, d);
                } else if self.linear_forward(l, w, b, in_a, in_b, prev, MatMut::new(h, n, width)) {
                    self.act.apply_with_derivative(h, d);
                } else {
                    self.act.bias_apply_with_derivative(h, b, d);
                }
                prev = h;
            }
        }
    }

    /// Hidden first layer with a tiny fan-in, fused: h = act(b + Σ_k x_k·W[k, :]), d = act'(…),
    /// computed in register-sized column blocks so each output is written once.
    #[allow(clippy::too_many_arguments)]
    fn first_layer_rows<T: Real>(&self, w: &[T], b: &[T], in_a: MatRef<T>, in_b: MatRef<T>, h: &mut [T], d: &mut [T]) {
        const LANES: usize = 16;
        let (fan_in, fan_out) = (self.sizes[0], b.len());
        let mut x = [T::zero(); SMALL_FAN_IN];
        for (r, (h_row, d_row)) in h.chunks_exact_mut(fan_out).zip(d.chunks_exact_mut(fan_out)).enumerate() {
            for (xk, &v) in x.iter_mut().zip(row_or_empty(&in_a, r).iter().chain(row_or_empty(&in_b, r))) {
                *xk = v;
            }
            let xs = &x[..fan_in];
            let mut c0 = 0;
            for ((h_blk, d_blk), b_blk) in
                h_row.chunks_exact_mut(LANES).zip(d_row.chunks_exact_mut(LANES)).zip(b.chunks_exact(LANES))
            {
                let mut acc = [T::zero(); LANES];
                acc.copy_from_slice(b_blk);
                for (k, &xk) in xs.iter().enumerate() {
                    let w_blk = &w[k * fan_out + c0..k * fan_out + c0 + LANES];
                    for (a, &wv) in acc.iter_mut().zip(w_blk) {
                        *a = xk.mul_add(wv, *a);
                    }
                }
                self.act.apply_with_derivative(&mut acc, d_blk);
                h_blk.copy_from_slice(&acc);
                c0 += LANES;
            }
            let (h_tail, d_tail) = (&mut h_row[c0..], &mut d_row[c0..]);
            h_tail.copy_from_slice(&b[c0..]);
            for (k, &xk) in xs.iter().enumerate() {
                axpy(xk, &w[k * fan_out + c0..(k + 1) * fan_out], h_tail);
            }
            self.act.apply_with_derivative(h_tail, d_tail);
        }
    }

    /// out = x·W_l (+ b when the row loop fuses it; returns whether it did). x is [in_a | in_b]
    /// for l = 0, else the previous hidden layer `prev` (contiguous n × fan_in).
    #[allow(clippy::too_many_arguments)]
    fn linear_forward<T: Real>(
        &self,
        l: usize,
        w: &[T],
        b: &[T],
        in_a: MatRef<T>,
        in_b: MatRef<T>,
        prev: &[T],
        mut out: MatMut<T>,
    ) -> bool {
        let (n, fan_in, fan_out) = (out.rows(), self.sizes[l], self.sizes[l + 1]);
        if l > 0 {
            let x = MatRef::new(prev, n, fan_in);
            gemm(T::one(), x, Op::N, MatRef::new(w, fan_in, fan_out), Op::N, T::zero(), out);
            return false;
        }
        let n_a = in_a.cols();
        if fan_in <= SMALL_FAN_IN {
            for r in 0..n {
                let o = out.row_mut(r);
                o.copy_from_slice(b);
                for (&x, w_row) in
                    row_or_empty(&in_a, r).iter().chain(row_or_empty(&in_b, r)).zip(w.chunks_exact(fan_out))
                {
                    axpy(x, w_row, o);
                }
            }
            true
        } else {
            let (w_a, w_b) = w.split_at(n_a * fan_out);
            gemm(T::one(), in_a, Op::N, MatRef::new(w_a, n_a, fan_out), Op::N, T::zero(), out.rb_mut());
            gemm(T::one(), in_b, Op::N, MatRef::new(w_b, fan_in - n_a, fan_out), Op::N, T::one(), out);
            false
        }
    }

    /// Adds parameter adjoints into `d_p`; if `d_in_a` is Some, overwrites it with the adjoint of
    /// in_a; if `d_in_b` is Some, *adds* the adjoint of in_b into it (in_b is a context shared by
    /// several nets, whose adjoints accumulate). `in_a`/`in_b` are the inputs given to `forward`,
    /// `ws` the workspace it filled.
    #[allow(clippy::too_many_arguments)]
    pub fn backward<T: Real>(
        &self,
        p: &[T],
        ws: &[T],
        in_a: MatRef<T>,
        in_b: MatRef<T>,
        d_out: MatRef<T>,
        mut d_in_a: Option<MatMut<T>>,
        mut d_in_b: Option<MatMut<T>>,
        d_p: &mut [T],
    ) {
        let n = d_out.rows();
        let mut scratch = [T::zero(); BACKWARD_STACK_LEN];
        let tile = self.backward_tile_rows(0);
        for r0 in (0..n).step_by(tile) {
            let t = tile.min(n - r0);
            self.backward_rows(
                p,
                ws,
                n,
                r0,
                in_a.rows_range(r0, t),
                in_b.rows_range(r0, t),
                d_out.rows_range(r0, t),
                d_in_a.as_mut().map(|d| d.rows_range_mut(r0, t)),
                d_in_b.as_mut().map(|d| d.rows_range_mut(r0, t)),
                d_p,
                &mut scratch,
            );
        }
    }

    /// Backward for rows `r0..r0 + d_out.rows()` of a batch of `n_batch` rows whose forward
    /// workspace is `ws`; `in_a`, `in_b`, `d_out`, `d_in_a`, `d_in_b` are already restricted to
    /// those rows (`d_in_a` overwritten, `d_in_b` added into, as in [`Mlp::backward`]).
    /// `scratch` needs `2 · rows · max hidden width` elements.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_rows<T: Real>(
        &self,
        p: &[T],
        ws: &[T],
        n_batch: usize,
        r0: usize,
        in_a: MatRef<T>,
        in_b: MatRef<T>,
        d_out: MatRef<T>,
        mut d_in_a: Option<MatMut<T>>,
        mut d_in_b: Option<MatMut<T>>,
        d_p: &mut [T],
        scratch: &mut [T],
    ) {
        let t = d_out.rows();
        let n_layers = self.n_layers();
        let max_h = self.max_hidden();
        let (bufs, rest) = scratch.split_at_mut(2 * t * max_h);
        let d_w_t = &mut rest[..self.last_transposed_len()];
        let (buf0, buf1) = bufs.split_at_mut(t * max_h);
        let (mut cur, mut next) = (buf0, buf1);
        // Offsets of h_l, act'_l in ws.
        let hidden_offset = |l: usize| -> usize { self.sizes[1..l + 1].iter().map(|h| 2 * n_batch * h).sum() };
        for l in (0..n_layers).rev() {
            let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
            let g = if l + 1 == n_layers { d_out } else { MatRef::new(&cur[..t * fan_out], t, fan_out) };
            let (w, _) = self.layer_params(p, l);
            let (d_w, d_b) = self.layer_params_mut(d_p, l);
            for r in 0..t {
                axpy(T::one(), g.row(r), d_b);
            }
            if l + 1 == n_layers && self.small_last() {
                // Row loop against Wᵀ from ws: ∂Wᵀ_j += g[r, j]·h_r, ∂h_r = Σ_j g[r, j]·Wᵀ_j.
                let off = hidden_offset(l - 1);
                let h = &ws[off + r0 * fan_in..off + (r0 + t) * fan_in];
                let act_d = &ws[off + (n_batch + r0) * fan_in..off + (n_batch + r0 + t) * fan_in];
                let w_t_off = hidden_offset(n_layers - 1);
                let w_t = &ws[w_t_off..w_t_off + fan_out * fan_in];
                d_w_t.fill(T::zero());
                let d_x = &mut next[..t * fan_in];
                for (r, ((h_row, ad_row), dx_row)) in
                    h.chunks_exact(fan_in).zip(act_d.chunks_exact(fan_in)).zip(d_x.chunks_exact_mut(fan_in)).enumerate()
                {
                    dx_row.fill(T::zero());
                    for ((&gj, w_col), dw_col) in
                        g.row(r).iter().zip(w_t.chunks_exact(fan_in)).zip(d_w_t.chunks_exact_mut(fan_in))
                    {
                        axpy(gj, h_row, dw_col);
                        axpy(gj, w_col, dx_row);
                    }
                    for (dx, &ad) in dx_row.iter_mut().zip(ad_row) {
                        *dx *= ad;
                    }
                }
                for (k, dw_row) in d_w.chunks_exact_mut(fan_out).enumerate() {
                    for (j, dw) in dw_row.iter_mut().enumerate() {
                        *dw += d_w_t[j * fan_in + k];
                    }
                }
                std::mem::swap(&mut cur, &mut next);
            } else if l > 0 {
                let off = hidden_offset(l - 1);
                let h = &ws[off + r0 * fan_in..off + (r0 + t) * fan_in];
                let act_d = &ws[off + (n_batch + r0) * fan_in..off + (n_batch + r0 + t) * fan_in];
                let x = MatRef::new(h, t, fan_in);
                gemm(T::one(), x, Op::T, g, Op::N, T::one(), MatMut::new(d_w, fan_in, fan_out));
                let d_x = &mut next[..t * fan_in];
                gemm(
                    T::one(),
                    g,
                    Op::N,
                    MatRef::new(w, fan_in, fan_out),
                    Op::T,
                    T::zero(),
                    MatMut::new(d_x, t, fan_in),
                );
                for (dx, &ad) in d_x.iter_mut().zip(act_d) {
                    *dx *= ad;
                }
                std::mem::swap(&mut cur, &mut next);
            } else {
                let n_a = in_a.cols();
                let (w_a, _) = w.split_at(n_a * fan_out);
                if fan_in <= SMALL_FAN_IN {
                    for r in 0..t {
                        let g_row = g.row(r);
                        let x_row = row_or_empty(&in_a, r).iter().chain(row_or_empty(&in_b, r));
                        for (&x, dw_row) in x_row.zip(d_w.chunks_exact_mut(fan_out)) {
                            axpy(x, g_row, dw_row);
                        }
                    }
                } else {
                    let (d_w_a, d_w_b) = d_w.split_at_mut(n_a * fan_out);
                    gemm(T::one(), in_a, Op::T, g, Op::N, T::one(), MatMut::new(d_w_a, n_a, fan_out));
                    gemm(T::one(), in_b, Op::T, g, Op::N, T::one(), MatMut::new(d_w_b, fan_in - n_a, fan_out));
                }
                if let Some(d_in) = d_in_a.as_mut().filter(|_| n_a > 0) {
                    if n_a <= SMALL_FAN_IN {
                        for r in 0..t {
                            let g_row = g.row(r);
                            for (d, w_row) in d_in.row_mut(r).iter_mut().zip(w_a.chunks_exact(fan_out)) {
                                *d = dot(g_row, w_row);
                            }
                        }
                    } else {
                        gemm(T::one(), g, Op::N, MatRef::new(w_a, n_a, fan_out), Op::T, T::zero(), d_in.rb_mut());
                    }
                }
                let n_b = fan_in - n_a;
                if let Some(d_in) = d_in_b.as_mut().filter(|_| n_b > 0) {
                    let w_b = &w[n_a * fan_out..fan_in * fan_out];
                    if n_b <= SMALL_FAN_IN {
                        for r in 0..t {
                            let g_row = g.row(r);
                            for (d, w_row) in d_in.row_mut(r).iter_mut().zip(w_b.chunks_exact(fan_out)) {
                                *d += dot(g_row, w_row);
                            }
                        }
                    } else {
                        gemm(T::one(), g, Op::N, MatRef::new(w_b, n_b, fan_out), Op::T, T::one(), d_in.rb_mut());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;
    use crate::testing::{assert_all_close, numerical_gradient, FD_REL_TOL};
    use rand::SeedableRng;

    fn random(len: usize, scale: f64, rng: &mut Rng) -> Vec<f64> {
        (0..len).map(|_| scale * (2.0 * rng.gen::<f64>() - 1.0)).collect()
    }

    /// Σ r ⊙ net([a | b]) for a fixed probe r.
    fn probe(mlp: &Mlp, p: &[f64], a: &Mat<f64>, b: &Mat<f64>, r: &[f64]) -> f64 {
        let n = a.rows();
        let mut out = Mat::zeros(n, mlp.n_out());
        let mut ws = vec![f64::NAN; mlp.workspace_len(n)];
        mlp.forward(p, a.as_ref(), b.as_ref(), out.as_mut(), &mut ws);
        out.as_slice().iter().zip(r).map(|(o, r)| o * r).sum()
    }

    fn check_mlp_gradient(n_a: usize, n_b: usize, hidden: &[usize], n_out: usize, act: Activation, n: usize) {
        let mlp = Mlp::new(n_a + n_b, hidden, n_out, act);
        let mut rng = Rng::seed_from_u64(3);
        let p = random(mlp.n_params(), 0.7, &mut rng);
        let a = Mat::from_vec(n, n_a, random(n * n_a, 2.0, &mut rng));
        let b = Mat::from_vec(n, n_b, random(n * n_b, 2.0, &mut rng));
        let r = random(n * n_out, 1.0, &mut rng);
        let mut out = Mat::zeros(n, n_out);
        let mut ws = vec![f64::NAN; mlp.workspace_len(n)];
        mlp.forward(&p, a.as_ref(), b.as_ref(), out.as_mut(), &mut ws);
        let offset = random(mlp.n_params(), 1.0, &mut rng);
        let mut d_p = offset.clone();
        let mut d_a = Mat::from_fn(n, n_a, |_, _| f64::NAN);
        let b_offset = random(n * n_b, 1.0, &mut rng);
        let mut d_b = Mat::from_vec(n, n_b, b_offset.clone());
        let d_out = Mat::from_vec(n, n_out, r.clone());
        mlp.backward(&p, &ws, a.as_ref(), b.as_ref(), d_out.as_ref(), Some(d_a.as_mut()), Some(d_b.as_mut()), &mut d_p);
        let got_p: Vec<f64> = d_p.iter().zip(&offset).map(|(d, o)| d - o).collect();
        let want_p = numerical_gradient(|q| probe(&mlp, q, &a, &b, &r), &p);
        assert_all_close("mlp d_p", &got_p, &want_p, FD_REL_TOL);
        let want_a = numerical_gradient(|x| probe(&mlp, &p, &Mat::from_vec(n, n_a, x.to_vec()), &b, &r), a.as_slice());
        assert_all_close("mlp d_in_a", d_a.as_slice(), &want_a, FD_REL_TOL);
        // d_in_b is added into (it started at `b_offset`).
        let got_b: Vec<f64> = d_b.as_slice().iter().zip(&b_offset).map(|(d, o)| d - o).collect();
        let want_b = numerical_gradient(|x| probe(&mlp, &p, &a, &Mat::from_vec(n, n_b, x.to_vec()), &r), b.as_slice());
        assert_all_close("mlp d_in_b", &got_b, &want_b, FD_REL_TOL);
    }

    #[test]
    fn mlp_backward_matches_central_differences_small_fan_in() {
        check_mlp_gradient(2, 3, &[8, 7], 4, Activation::Silu, 5);
        check_mlp_gradient(1, 0, &[6], 2, Activation::Relu, 4);
        check_mlp_gradient(0, 3, &[5, 5], 3, Activation::Silu, 3);
        // hidden width 20: one 16-column register block plus a 4-column tail in the first layer
        check_mlp_gradient(2, 3, &[20, 5], 4, Activation::Silu, 3);
        check_mlp_gradient(1, 3, &[32], 2, Activation::Relu, 4);
    }

    #[test]
    fn mlp_backward_matches_central_differences_gemm_first_layer() {
        check_mlp_gradient(12, 9, &[9], 3, Activation::Silu, 4);
        check_mlp_gradient(20, 0, &[], 3, Activation::Relu, 3);
        // A wide second block (a context of more than SMALL_FAN_IN values): d_in_b through GEMM.
        check_mlp_gradient(2, 18, &[9], 3, Activation::Silu, 4);
        // n_out > SMALL_FAN_OUT after a hidden layer: last layer through GEMM.
        check_mlp_gradient(2, 1, &[6], SMALL_FAN_OUT + 4, Activation::Silu, 3);
    }

    #[test]
    fn mlp_backward_is_the_same_across_row_tiles() {
        // n larger than a tile: tiles must see the right rows of ws.
        let mlp = Mlp::new(3, &[300], 2, Activation::Silu);
        let tile = mlp.backward_tile_rows(0);
        let n = tile + 5;
        let mut rng = Rng::seed_from_u64(9);
        let p = random(mlp.n_params(), 0.3, &mut rng);
        let a = Mat::from_vec(n, 3, random(3 * n, 1.0, &mut rng));
        let d_out = Mat::from_vec(n, 2, random(2 * n, 1.0, &mut rng));
        let mut ws = vec![0.0; mlp.workspace_len(n)];
        let mut out = Mat::zeros(n, 2);
        mlp.forward(&p, a.as_ref(), MatRef::empty(n), out.as_mut(), &mut ws);
        let mut d_p = vec![0.0; mlp.n_params()];
        let mut d_a = Mat::zeros(n, 3);
        mlp.backward(&p, &ws, a.as_ref(), MatRef::empty(n), d_out.as_ref(), Some(d_a.as_mut()), None, &mut d_p);
        // Row by row with n = 1 must give the same sums.
        let mut d_p1 = vec![0.0; mlp.n_params()];
        for r in 0..n {
            let a_r = a.as_ref().rows_range(r, 1);
            let mut ws1 = vec![0.0; mlp.workspace_len(1)];
            let mut o1 = Mat::zeros(1, 2);
            mlp.forward(&p, a_r, MatRef::empty(1), o1.as_mut(), &mut ws1);
            let mut d_a1 = Mat::zeros(1, 3);
            mlp.backward(
                &p,
                &ws1,
                a_r,
                MatRef::empty(1),
                d_out.as_ref().rows_range(r, 1),
                Some(d_a1.as_mut()),
                None,
                &mut d_p1,
            );
            assert_all_close("row d_a", d_a1.as_slice(), d_a.row(r), 1e-12);
        }
        assert_all_close("tiled d_p", &d_p, &d_p1, 1e-10);
    }

    #[test]
    fn init_params_bounds_and_zero_last_layer() {
        let mlp = Mlp::new(4, &[16, 16], 4, Activation::Silu);
        let mut p = vec![f32::NAN; mlp.n_params()];
        mlp.init_params(&mut p, &mut Rng::seed_from_u64(1), 0.0);
        let (w0, _) = mlp.layer_params(&p, 0);
        assert!(w0.iter().all(|x| x.abs() <= 0.5) && w0.iter().any(|&x| x != 0.0));
        let (w2, b2) = mlp.layer_params(&p, 2);
        assert!(w2.iter().chain(b2).all(|&x| x == 0.0));
        assert_eq!(mlp.n_params(), 5 * 16 + 17 * 16 + 17 * 4);
    }
}
