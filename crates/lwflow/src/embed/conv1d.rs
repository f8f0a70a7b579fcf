//! 1-D convolutional embedding for series. x holds C₀ series (channels) of length L, one after
//! the other. Block b (b = 0 … B−1) maps X_b (c_b × L_b) to X_{b+1} (C × L_b/2):
//!   Y[c, t] = β_b[c] + Σ_{c'} Σ_j W_b[c, c', j] · X_b[c', t + j − K/2]   (zero outside 0..L_b),
//!   A = act(Y),  X_{b+1}[c, t] = (A[c, 2t] + A[c, 2t + 1]) / 2            (average pooling),
//! with c_0 = C₀ and c_b = C after; then e = X_B (flattened) · W_head + b_head.
//! Convolutions share weights along the series, so a feature is found wherever it occurs;
//! pooling halves the length per block, so the head sees C · L/2^B values instead of L.
//! (LeCun et al. 1998; the summary networks of BayesFlow, Radev et al. 2020, arXiv:2003.06281.)
//!
//! Backward per row: the head's input adjoint gives ∂X_B; pooling spreads ∂X_{b+1}[c, t] / 2 to
//! A[c, 2t] and A[c, 2t + 1] (a trailing odd sample gets 0); ∂Y = ∂A ⊙ act'(Y); then
//! ∂β[c] += Σ_t ∂Y[c, t], ∂W[c, c', j] += Σ_t ∂Y[c, t] X_b[c', t + j − K/2], and for b > 0
//! ∂X_b[c', t + j − K/2] += W[c, c', j] ∂Y[c, t].
//!
//! Parameters: per block W_b (C × c_b × K, row-major) then β_b (C); then the head's (a
//! [`crate::nn::Mlp`] without hidden layers). Workspace (n rows): X_0 (a copy of x), per block
//! A_b, act'(Y_b) and X_{b+1}, the head's workspace; then backward's scratch: ∂X_B (n rows)
//! and three per-row buffers of C · L values.

use rand::Rng as _;

use super::Embedding;
use crate::mat::{MatMut, MatRef};
use crate::nn::mlp::{axpy, dot};
use crate::nn::{Activation, Mlp};
use crate::real::Real;
use crate::rng::Rng;

/// The network's shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv1dEmbedding {
    channels_in: usize,
    len: usize,
    channels: usize,
    kernel: usize,
    blocks: usize,
    act: Activation,
    head: Mlp,
}

/// The outputs t ∈ lo..hi a tap shifted by `shift` reaches on a series of length `len` (those
/// with 0 ≤ t + shift < len), and the first input it reads, lo + shift; `None` when the tap lies
/// wholly in the zero padding (a filter wider than a pooled series).
fn tap_range(shift: isize, len: usize) -> Option<(usize, usize, usize)> {
    let len = len as isize;
    let (lo, hi) = ((-shift).max(0), (len - shift).min(len));
    (lo < hi).then(|| (lo as usize, hi as usize, (lo + shift) as usize))
}

impl Conv1dEmbedding {
    /// `channels_in` series of length `len`; `blocks` blocks of `channels` filters of odd width
    /// `kernel`; `n_out` outputs; activation `act` after each convolution.
    pub fn new(
        channels_in: usize,
        len: usize,
        channels: usize,
        kernel: usize,
        blocks: usize,
        n_out: usize,
        act: Activation,
    ) -> Self {
        assert!(kernel % 2 == 1 && blocks >= 1 && len >> blocks >= 1, "Conv1dEmbedding: shapes (validate first)");
        let head = Mlp::new(channels * (len >> blocks), &[], n_out, act);
        Self { channels_in, len, channels, kernel, blocks, act, head }
    }

    /// Series length L_b at the input of block b (L_B: at the head).
    fn len_at(&self, b: usize) -> usize {
        self.len >> b
    }
    /// Input channels of block b.
    fn channels_at(&self, b: usize) -> usize {
        if b == 0 {
            self.channels_in
        } else {
            self.channels
        }
    }
    /// Parameters of block b: W (C × c_b × K), then β (C).
    fn block_len(&self, b: usize) -> usize {
        self.channels * (self.channels_at(b) * self.kernel + 1)
    }
    fn block_offset(&self, b: usize) -> usize {
        (0..b).map(|i| self.block_len(i)).sum()
    }
    fn head_offset(&self) -> usize {
        self.block_offset(self.blocks)
    }
    /// Per-row values kept for block b: A_b, act'(Y_b), X_{b+1}.
    fn block_ws_len(&self, b: usize) -> usize {
        self.channels * (2 * self.len_at(b) + self.len_at(b + 1))
    }
    fn head_in(&self) -> usize {
        self.channels * self.len_at(self.blocks)
    }
    fn buffer_len(&self) -> usize {
        self.channels.max(self.channels_in) * self.len
    }

    /// Y = W ∗ x + β for one row: `x` is c_b × L_b, `y` is C × L_b.
    fn conv_row<T: Real>(&self, w: &[T], bias: &[T], c_in: usize, len: usize, x: &[T], y: &mut [T]) {
        let (k, pad) = (self.kernel, (self.kernel / 2) as isize);
        for ((y_c, w_c), &b) in y.chunks_exact_mut(len).zip(w.chunks_exact(c_in * k)).zip(bias) {
            y_c.fill(b);
            for (x_ci, w_ci) in x.chunks_exact(len).zip(w_c.chunks_exact(k)) {
                for (j, &w_j) in w_ci.iter().enumerate() {
                    if let Some((lo, hi, src)) = tap_range(j as isize - pad, len) {
                        axpy(w_j, &x_ci[src..src + hi - lo], &mut y_c[lo..hi]);
                    }
                }
            }
        }
    }
}

impl<T: Real> Embedding<T> for Conv1dEmbedding {
    fn n_in(&self) -> usize {
        self.channels_in * self.len
    }
    fn n_out(&self) -> usize {
        self.head.n_out()
    }
    fn n_params(&self) -> usize {
        self.head_offset() + self.head.n_params()
    }
    fn workspace_len(&self, n_batch: usize) -> usize {
        let kept: usize = (0..self.blocks).map(|b| self.block_ws_len(b)).sum();
        n_batch * (Embedding::<T>::n_in(self) + kept + self.head_in())
            + self.head.workspace_len(n_batch)
            + 3 * self.buffer_len()
    }
    fn init_params(&self, p: &mut [T], rng: &mut Rng) {
        // PyTorch's Conv1d default: weights and biases ~ U(−1/√(c_b·K), 1/√(c_b·K)).
        for b in 0..self.blocks {
            let bound = 1.0 / ((self.channels_at(b) * self.kernel) as f64).sqrt();
            let off = self.block_offset(b);
            for v in &mut p[off..off + self.block_len(b)] {
                *v = T::lit(bound * (2.0 * rng.gen::<f64>() - 1.0));
            }
        }
        let head = self.head_offset();
        self.head.init_params(&mut p[head..], rng, 1.0);
    }

    fn forward(&self, p: &[T], x: MatRef<T>, e: MatMut<T>, ws: &mut [T]) {
        let n = x.rows();
        let n_in = Embedding::<T>::n_in(self);
        debug_assert_eq!(x.cols(), n_in);
        let (x0, mut rest) = ws.split_at_mut(n * n_in);
        for (r, dst) in x0.chunks_exact_mut(n_in).enumerate() {
            dst.copy_from_slice(x.row(r));
        }
        let mut input: &[T] = x0;
        for b in 0..self.blocks {
            let (c_in, len, len_next, c) = (self.channels_at(b), self.len_at(b), self.len_at(b + 1), self.channels);
            let off = self.block_offset(b);
            let (w, bias) = p[off..off + self.block_len(b)].split_at(c * c_in * self.kernel);
            let (a, tail) = std::mem::take(&mut rest).split_at_mut(n * c * len);
            let (d, tail) = tail.split_at_mut(n * c * len);
            let (pooled, tail) = tail.split_at_mut(n * c * len_next);
            rest = tail;
            let rows = input.chunks_exact(c_in * len).zip(a.chunks_exact_mut(c * len)).zip(d.chunks_exact_mut(c * len));
            for ((x_r, a_r), d_r) in rows {
                self.conv_row(w, bias, c_in, len, x_r, a_r);
                self.act.apply_with_derivative(a_r, d_r);
            }
            let half = T::lit(0.5);
            for (a_c, p_c) in a.chunks_exact(len).zip(pooled.chunks_exact_mut(len_next)) {
                for (t, o) in p_c.iter_mut().enumerate() {
                    *o = half * (a_c[2 * t] + a_c[2 * t + 1]);
                }
            }
            input = pooled;
        }
        let head_in = MatRef::new(input, n, self.head_in());
        self.head.forward(&p[self.head_offset()..], head_in, MatRef::empty(n), e, rest);
    }

    fn backward(&self, p: &[T], ws: &mut [T], x: MatRef<T>, d_e: MatRef<T>, d_p: &mut [T]) {
        let (n, k, c) = (x.rows(), self.kernel, self.channels);
        let n_in = Embedding::<T>::n_in(self);
        let pad = (k / 2) as isize;
        // Split ws back into what forward kept; blocks' parts are found by offset.
        let kept: usize = (0..self.blocks).map(|b| self.block_ws_len(b)).sum();
        let (kept_ws, rest) = ws.split_at_mut(n * (n_in + kept));
        let (head_ws, rest) = rest.split_at_mut(self.head.workspace_len(n));
        let (d_head_in, rest) = rest.split_at_mut(n * self.head_in());
        let (buf_a, rest) = rest.split_at_mut(self.buffer_len());
        let (buf_b, rest) = rest.split_at_mut(self.buffer_len());
        let d_y = &mut rest[..self.buffer_len()];
        let kept_ws: &[T] = kept_ws;
        // Start of block b's (A, act', X_{b+1}) arrays, each n rows.
        let block_start = |b: usize| n * (n_in + (0..b).map(|i| self.block_ws_len(i)).sum::<usize>());
        let head_x = {
            let b = self.blocks - 1;
            let s = block_start(b) + 2 * n * c * self.len_at(b);
            MatRef::new(&kept_ws[s..s + n * self.head_in()], n, self.head_in())
        };
        let head = self.head_offset();
        let d_head = MatMut::new(d_head_in, n, self.head_in());
        self.head.backward(&p[head..], head_ws, head_x, MatRef::empty(n), d_e, Some(d_head), None, &mut d_p[head..]);

        let (mut d_x, mut d_prev) = (buf_a, buf_b);
        for r in 0..n {
            d_x[..self.head_in()].copy_from_slice(&d_head_in[r * self.head_in()..(r + 1) * self.head_in()]);
            for b in (0..self.blocks).rev() {
                let (c_in, len, len_next) = (self.channels_at(b), self.len_at(b), self.len_at(b + 1));
                let s = block_start(b);
                let a_d = &kept_ws[s + n * c * len..s + 2 * n * c * len];
                let act_d = &a_d[r * c * len..(r + 1) * c * len];
                let x_b = if b == 0 {
                    &kept_ws[r * n_in..(r + 1) * n_in]
                } else {
                    let sp = block_start(b - 1) + 2 * n * c * self.len_at(b - 1);
                    &kept_ws[sp + r * c * len..sp + (r + 1) * c * len]
                };
                // ∂Y = pool-adjoint(∂X_{b+1}) ⊙ act'(Y).
                let d_y = &mut d_y[..c * len];
                let half = T::lit(0.5);
                for ((dy_c, ad_c), dx_c) in
                    d_y.chunks_exact_mut(len).zip(act_d.chunks_exact(len)).zip(d_x.chunks_exact(len_next))
                {
                    for (t, (dy, &ad)) in dy_c.iter_mut().zip(ad_c).enumerate() {
                        let g = if t / 2 < len_next { half * dx_c[t / 2] } else { T::zero() };
                        *dy = g * ad;
                    }
                }
                let off = self.block_offset(b);
                let (d_w, d_bias) = d_p[off..off + self.block_len(b)].split_at_mut(c * c_in * k);
                let w = &p[off..off + c * c_in * k];
                let d_in = &mut d_prev[..c_in * len];
                d_in.fill(T::zero());
                for (((dy_c, db), dw_c), w_c) in d_y
                    .chunks_exact(len)
                    .zip(d_bias.iter_mut())
                    .zip(d_w.chunks_exact_mut(c_in * k))
                    .zip(w.chunks_exact(c_in * k))
                {
                    *db += dy_c.iter().fold(T::zero(), |acc, &g| acc + g);
                    for (((x_ci, dw_ci), w_ci), dx_ci) in x_b
                        .chunks_exact(len)
                        .zip(dw_c.chunks_exact_mut(k))
                        .zip(w_c.chunks_exact(k))
                        .zip(d_in.chunks_exact_mut(len))
                    {
                        for (j, (dw, &w_j)) in dw_ci.iter_mut().zip(w_ci).enumerate() {
                            let Some((lo, hi, src)) = tap_range(j as isize - pad, len) else { continue };
                            *dw += dot(&dy_c[lo..hi], &x_ci[src..src + hi - lo]);
                            if b > 0 {
                                axpy(w_j, &dy_c[lo..hi], &mut dx_ci[src..src + hi - lo]);
                            }
                        }
                    }
                }
                std::mem::swap(&mut d_x, &mut d_prev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::check::{check_embedding_gradient, embed, random};
    use crate::mat::Mat;
    use rand::SeedableRng;

    #[test]
    fn conv1d_embedding_backward_matches_central_differences() {
        // Odd lengths (a dropped trailing sample), several channels in, kernel wider than a block's input.
        check_embedding_gradient(&Conv1dEmbedding::new(1, 11, 3, 3, 2, 4, Activation::Silu), 3, 1);
        check_embedding_gradient(&Conv1dEmbedding::new(2, 8, 4, 5, 1, 3, Activation::Silu), 2, 2);
        check_embedding_gradient(&Conv1dEmbedding::new(1, 4, 2, 7, 2, 2, Activation::Silu), 2, 3);
    }

    #[test]
    fn conv1d_matches_the_direct_sum_of_its_formula() {
        // One block, identity-free check: Y from the formula, pooled, against the kernel's head input
        // (read through a head of identity weights).
        let net = Conv1dEmbedding::new(1, 8, 2, 3, 1, 8, Activation::Relu);
        let mut rng = crate::rng::Rng::seed_from_u64(4);
        let mut p = random(Embedding::<f64>::n_params(&net), 0.7, &mut rng);
        let head = net.head_offset();
        // Head: e = X_1 flattened (8 = 2 channels × 4).
        p[head..].iter_mut().for_each(|v| *v = 0.0);
        for i in 0..8 {
            p[head + i * 8 + i] = 1.0;
        }
        let x = random(8, 2.0, &mut rng);
        let e = embed(&net, &p, &Mat::from_vec(1, 8, x.clone()));
        let (w, bias) = p[..2 * 3 + 2].split_at(6);
        for ch in 0..2 {
            let y = |t: isize| -> f64 {
                let mut s = bias[ch];
                for j in 0..3isize {
                    let i = t + j - 1;
                    if (0..8).contains(&i) {
                        s += w[ch * 3 + j as usize] * x[i as usize];
                    }
                }
                s.max(0.0)
            };
            for t in 0..4 {
                let want = 0.5 * (y(2 * t) + y(2 * t + 1));
                let got = e.row(0)[ch * 4 + t as usize];
                assert!((got - want).abs() < 1e-12, "channel {ch} t {t}: {got} vs {want}");
            }
        }
    }
}
