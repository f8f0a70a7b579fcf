//! The conditioners' context through a learned embedding ([`crate::embed`]): ctx_r = E(c(x_r)),
//! evaluated once per observation of a chunk, and its adjoint summed over that observation's rows.
//!
//! Batches list an observation's rows together (J observations × m pairs, a sampling chunk of one
//! x), so a chunk's rows fall into runs with equal standardised features c(x). E runs on one row
//! per run and its output is copied to the run's rows; in the backward pass the layers and the
//! base add ∂L/∂ctx_r per row, the rows of a run are summed, and E's backward runs once per run:
//! ∂L/∂p_E = Σ_runs (∂E/∂p_E)ᵀ Σ_{r ∈ run} ∂L/∂ctx_r. Rows are compared by value, so the result
//! is the same whatever the layout; only the work depends on it.

use crate::embed::{Embedding, EmbeddingKind};
use crate::mat::{Mat, MatMut, MatRef};
use crate::real::Real;

/// Scratch of one chunk's embedding: the runs, the distinct inputs and their embeddings, the
/// per-row context (then its adjoint) and the network's workspace. Empty without an embedding.
#[derive(Clone, Debug)]
pub(super) struct EmbedWorkspace<T: Real> {
    /// Run i covers rows run_starts[i]..run_starts[i + 1].
    run_starts: Vec<usize>,
    /// One row of standardised features per run.
    x: Mat<T>,
    /// E(x) per run; in the backward pass, its adjoint.
    e: Mat<T>,
    /// The context of every row; in the backward pass, its adjoint.
    pub(super) ctx: Mat<T>,
    ws: Vec<T>,
}

impl<T: Real> EmbedWorkspace<T> {
    /// Scratch for chunks of up to `n_batch` rows of `in_width` features.
    pub(super) fn new(net: Option<&EmbeddingKind>, n_batch: usize, in_width: usize) -> Self {
        let Some(net) = net else {
            return Self {
                run_starts: Vec::new(),
                x: Mat::zeros(0, 0),
                e: Mat::zeros(0, 0),
                ctx: Mat::zeros(0, 0),
                ws: Vec::new(),
            };
        };
        let out = Embedding::<T>::n_out(net);
        Self {
            run_starts: Vec::with_capacity(n_batch + 1),
            x: Mat::zeros(n_batch, in_width),
            e: Mat::zeros(n_batch, out),
            ctx: Mat::zeros(n_batch, out),
            ws: vec![T::zero(); Embedding::<T>::workspace_len(net, n_batch)],
        }
    }

    /// ctx_r = E(features_r) for every row, E evaluated once per run of equal rows; keeps what
    /// [`EmbedWorkspace::backward`] needs. Allocation-free within the chunk size.
    pub(super) fn forward(&mut self, net: &EmbeddingKind, p: &[T], features: MatRef<T>) {
        let n = features.rows();
        self.run_starts.clear();
        for r in 0..n {
            if r == 0 || features.row(r) != features.row(r - 1) {
                self.run_starts.push(r);
            }
        }
        self.run_starts.push(n);
        let n_runs = self.run_starts.len() - 1;
        self.x.resize_rows(n_runs);
        for (i, &r) in self.run_starts[..n_runs].iter().enumerate() {
            self.x.row_mut(i).copy_from_slice(features.row(r));
        }
        self.e.resize_rows(n_runs);
        let ws_len = Embedding::<T>::workspace_len(net, n_runs);
        net.forward(p, self.x.as_ref(), self.e.as_mut(), &mut self.ws[..ws_len]);
        self.ctx.resize_rows(n);
        for (i, run) in self.run_starts.windows(2).enumerate() {
            for r in run[0]..run[1] {
                self.ctx.row_mut(r).copy_from_slice(self.e.row(i));
            }
        }
    }

    /// The per-row context of the last forward pass, zeroed, for the layers and the base to add
    /// their adjoints into.
    pub(super) fn zeroed_adjoint(&mut self) -> MatMut<'_, T> {
        let mut d = self.ctx.as_mut();
        d.fill(T::zero());
        d
    }

    /// After the layers and the base have added ∂L/∂ctx into the per-row context: sums it per
    /// run and *adds* E's parameter adjoint into `d_p`.
    pub(super) fn backward(&mut self, net: &EmbeddingKind, p: &[T], d_p: &mut [T]) {
        let n_runs = self.run_starts.len() - 1;
        for (i, run) in self.run_starts.windows(2).enumerate() {
            let d_e = self.e.row_mut(i);
            d_e.fill(T::zero());
            for r in run[0]..run[1] {
                for (d, &g) in d_e.iter_mut().zip(self.ctx.row(r)) {
                    *d += g;
                }
            }
        }
        let ws_len = Embedding::<T>::workspace_len(net, n_runs);
        net.backward(p, &mut self.ws[..ws_len], self.x.as_ref(), self.e.as_ref(), d_p);
    }
}

/// Scratch [`embed_for_sampling`] needs for `n_batch` rows of `in_width` features.
pub(super) fn sampling_scratch_len<T: Real>(net: &EmbeddingKind, n_batch: usize, in_width: usize) -> usize {
    let out = Embedding::<T>::n_out(net);
    n_batch * (in_width + 2 * out) + Embedding::<T>::workspace_len(net, n_batch)
}

/// The per-row context E(features_r) for sampling, built in the front of `scratch` (E once per
/// run of equal rows, as in training); returns it and the rest of `scratch`.
pub(super) fn embed_for_sampling<'w, T: Real>(
    net: &EmbeddingKind,
    p: &[T],
    features: MatRef<T>,
    scratch: &'w mut [T],
) -> (MatRef<'w, T>, &'w mut [T]) {
    let (n, in_width, out) = (features.rows(), features.cols(), Embedding::<T>::n_out(net));
    let (ctx, rest) = scratch.split_at_mut(n * out);
    let (x, rest) = rest.split_at_mut(n * in_width);
    let (e, rest) = rest.split_at_mut(n * out);
    let new_run = |r: usize| r == 0 || features.row(r) != features.row(r - 1);
    let mut n_runs = 0;
    for r in (0..n).filter(|&r| new_run(r)) {
        x[n_runs * in_width..(n_runs + 1) * in_width].copy_from_slice(features.row(r));
        n_runs += 1;
    }
    let (net_ws, rest) = rest.split_at_mut(Embedding::<T>::workspace_len(net, n_runs));
    let x = MatRef::new(&x[..n_runs * in_width], n_runs, in_width);
    net.forward(p, x, MatMut::new(&mut e[..n_runs * out], n_runs, out), net_ws);
    let mut run = 0;
    for (r, row) in ctx.chunks_exact_mut(out).enumerate() {
        if r > 0 && new_run(r) {
            run += 1;
        }
        row.copy_from_slice(&e[run * out..(run + 1) * out]);
    }
    (MatRef::new(ctx, n, out), rest)
}
