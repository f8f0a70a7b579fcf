//! Fixed column permutation: v[:, k] = u[:, perm[k]]; log|det| = 0; no parameters. Placed
//! between couplings so every coordinate gets transformed.

use crate::flow::Layer;
use crate::mat::{MatMut, MatRef};
use crate::real::Real;

/// A permutation of `perm.len()` columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permutation {
    perm: Vec<usize>,
}

impl Permutation {
    /// `v[:, k] = u[:, perm[k]]`. Panics unless `perm` is a permutation of 0..perm.len().
    #[track_caller]
    pub fn new(perm: Vec<usize>) -> Self {
        let mut seen = vec![false; perm.len()];
        for &k in &perm {
            assert!(k < perm.len() && !seen[k], "Permutation::new: {perm:?} is not a permutation");
            seen[k] = true;
        }
        Self { perm }
    }
    /// Reverses the column order.
    pub fn reverse(dim: usize) -> Self {
        Self { perm: (0..dim).rev().collect() }
    }
    /// Number of coordinates permuted.
    pub fn dim(&self) -> usize {
        self.perm.len()
    }
    /// The permutation: forward maps `v[:, k] = u[:, perm[k]]`.
    pub fn perm(&self) -> &[usize] {
        &self.perm
    }
}

impl<T: Real> Layer<T> for Permutation {
    fn n_params(&self) -> usize {
        0
    }
    fn workspace_len(&self, _n_batch: usize) -> usize {
        0
    }
    fn forward(&self, _p: &[T], u: MatRef<T>, _ctx: MatRef<T>, mut v: MatMut<T>, _log_det: &mut [T], _ws: &mut [T]) {
        for r in 0..u.rows() {
            let (u_row, v_row) = (u.row(r), v.row_mut(r));
            for (v, &k) in v_row.iter_mut().zip(&self.perm) {
                *v = u_row[k];
            }
        }
    }
    fn inverse(&self, _p: &[T], v: MatRef<T>, _ctx: MatRef<T>, mut u: MatMut<T>, _log_det: &mut [T], _ws: &mut [T]) {
        for r in 0..v.rows() {
            let (v_row, u_row) = (v.row(r), u.row_mut(r));
            for (&v, &k) in v_row.iter().zip(&self.perm) {
                u_row[k] = v;
            }
        }
    }
    /// Context-free: `d_ctx` is left as it is.
    fn backward(
        &self,
        _p: &[T],
        _ws: &[T],
        d_v: MatRef<T>,
        _d_log_det: &[T],
        mut d_u: MatMut<T>,
        _d_ctx: Option<MatMut<T>>,
        _d_p: &mut [T],
    ) {
        for r in 0..d_v.rows() {
            let (g, d) = (d_v.row(r), d_u.row_mut(r));
            for (&g, &k) in g.iter().zip(&self.perm) {
                d[k] = g;
            }
        }
    }
}
