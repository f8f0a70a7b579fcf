//! The chunked forward and backward passes of a training step.
//!
//! Rows are split into fixed chunks of [`CHUNK_ROWS`] run in parallel, each with its own
//! preallocated [`Chunk`] (the flow's workspace, the seed gradient ∂loss/∂log q and its share of
//! the loss); gradients and losses are reduced in chunk order, so a seed gives the same bits on
//! any thread count. Both passes allocate nothing: rayon's `for_each` over the chunks needs no
//! buffer of its own, and every per-chunk result stays in its [`Chunk`].

use rayon::prelude::*;

use crate::flow::{Flow, FlowWorkspace, CHUNK_ROWS};
use crate::mat::Mat;
use crate::real::Real;

use super::loss::weighted_nll;

/// Per-chunk scratch: the flow's workspace, the seed gradient and this chunk's loss.
#[derive(Clone, Debug)]
pub struct Chunk<T: Real> {
    /// Workspace of the last [`forward_chunks`]: log q per row, what backward needs, the gradient.
    pub ws: FlowWorkspace<T>,
    d_log_q: Vec<T>,
    loss: f64,
}

impl<T: Real> Chunk<T> {
    /// Scratch for one chunk of [`CHUNK_ROWS`] rows of `flow`.
    pub fn new(flow: &Flow<T>) -> Self {
        Self { ws: flow.workspace(CHUNK_ROWS), d_log_q: vec![T::zero(); CHUNK_ROWS], loss: 0.0 }
    }

    /// Enough chunks for `rows` rows.
    pub fn for_rows(flow: &Flow<T>, rows: usize) -> Vec<Self> {
        (0..rows.div_ceil(CHUNK_ROWS)).map(|_| Self::new(flow)).collect()
    }
}

/// Forward pass of the rows `u`, `ctx` in the flow's fixed chunks, in parallel; each chunk's
/// workspace keeps its log q and what the backward pass needs.
#[track_caller]
pub fn forward_chunks<T: Real>(flow: &Flow<T>, params: &[T], u: &Mat<T>, ctx: &Mat<T>, chunks: &mut [Chunk<T>]) {
    let n = u.rows();
    assert!(n.div_ceil(CHUNK_ROWS) <= chunks.len(), "forward_chunks: {n} rows need more than {} chunks", chunks.len());
    chunks[..n.div_ceil(CHUNK_ROWS)].par_iter_mut().enumerate().for_each(|(c, ch)| {
        let start = c * CHUNK_ROWS;
        let rows = CHUNK_ROWS.min(n - start);
        flow.forward_chunk(
            params,
            u.as_ref().rows_range(start, rows),
            ctx.as_ref().rows_range(start, rows),
            &mut ch.ws,
        );
    });
}

/// After [`forward_chunks`] on `w.len()` rows: the weighted NLL −Σ_b w_b log q_b (support space)
/// and, when `grad` is given, its gradient. Chunk losses and gradients are reduced in chunk
/// order, so the result does not depend on the thread count.
pub fn backward_chunks<T: Real>(
    flow: &Flow<T>,
    params: &[T],
    w: &[T],
    chunks: &mut [Chunk<T>],
    grad: Option<&mut [T]>,
) -> f64 {
    let want_grad = grad.is_some();
    let n = w.len();
    let n_chunks = n.div_ceil(CHUNK_ROWS);
    chunks[..n_chunks].par_iter_mut().enumerate().for_each(|(c, ch)| {
        let start = c * CHUNK_ROWS;
        let rows = CHUNK_ROWS.min(n - start);
        ch.loss = weighted_nll(&ch.ws.log_q[..rows], &w[start..start + rows], &mut ch.d_log_q[..rows]);
        if want_grad {
            ch.ws.grad.fill(T::zero());
            flow.backward_chunk(params, &ch.d_log_q[..rows], &mut ch.ws);
        }
    });
    if let Some(grad) = grad {
        grad.fill(T::zero());
        for ch in &chunks[..n_chunks] {
            for (g, &c) in grad.iter_mut().zip(&ch.ws.grad) {
                *g += c;
            }
        }
    }
    chunks[..n_chunks].iter().map(|ch| ch.loss).sum()
}

/// log q of row `r` after [`forward_chunks`] (support space).
pub fn log_q_at<T: Real>(chunks: &[Chunk<T>], r: usize) -> T {
    chunks[r / CHUNK_ROWS].ws.log_q[r % CHUNK_ROWS]
}
