//! The stored training set of a budgeted run: every evaluated draw, kept and trained on many times.
//!
//! Per observation x_j the set holds its simulated pair's θ*_j (an exact posterior draw:
//! θ*_j ~ π, x_j ~ p(x|θ*_j) makes θ*_j ~ p(θ|x_j)) and its proposal draws θ_ij, each with
//! u = support(θ), log|du/dθ| and log w_ij = log L(x_j|θ_ij) + log π(θ_ij) − log r(θ_ij|x_j),
//! r being the proposal that draw came from (the prior, or the defensive mixture α π + (1 − α) q
//! of the round that drew it). Self-normalised over all draws stored for x_j, the weights
//! w̃_ij estimate posterior expectations whatever mixture of proposals the draws came from
//! (each draw's own density ratio keeps each term consistent), so
//! −Σ_i w̃_ij log q(θ_ij|x_j) estimates E_{p(θ|x_j)}[−log q(θ|x_j)] = KL(p‖q) + H(p).
//!
//! The exact draw estimates the same expectation with effective size 1, the weighted draws with
//! effective size ESS_j = 1/Σ_i w̃_ij²; combined in proportion to their effective sizes,
//!
//! ℓ_j(q) = (1/(1 + ESS_j))·(−log q(θ*_j|x_j)) + (ESS_j/(1 + ESS_j))·Σ_i w̃_ij (−log q(θ_ij|x_j)),
//!
//! and an observation none of whose draws has any likelihood (ESS_j = 0) still trains on θ*_j.
//! The loss of a minibatch B of observations is (1/|B|) Σ_{j∈B} ℓ_j: an estimate of
//! E_x KL(p‖q) up to a constant, as the fresh-draw trainer's. The weights do not depend on q
//! (no gradient through them), so they are computed once per round ([`StoredSet::reweigh`]).

use crate::mat::{Mat, MatRef};
use crate::real::Real;
use crate::weights::{all_zero, normalise_weights};

/// One stored observation: its context, its rows and whether it is held out.
#[derive(Clone, Debug)]
struct StoredObs<T: Real> {
    /// The conditioners' context of x_j (standardised, with its features).
    ctx: Vec<T>,
    /// Row of the exact draw θ*_j (`None`: θ*_j fell on a bound of the box, outside the support).
    exact: Option<usize>,
    /// Rows of the proposal draws.
    draws: Vec<usize>,
    /// Held out for validation.
    held_out: bool,
    /// ESS_j of the draws' weights (0: every draw has zero likelihood).
    ess: f64,
}

/// The stored draws and their training weights (module docs).
#[derive(Clone, Debug)]
pub(crate) struct StoredSet<T: Real> {
    dim: usize,
    /// Support-space values, one row per stored θ (`rows × dim`).
    u: Vec<T>,
    /// log|du/dθ| per row.
    log_det: Vec<f64>,
    /// log w per row (unused for exact draws).
    log_w: Vec<f64>,
    /// Training weight per row after [`StoredSet::reweigh`]; sums to 1 over an observation's rows
    /// (0 over a skipped observation's).
    weight: Vec<f64>,
    obs: Vec<StoredObs<T>>,
    /// Whether the exact draws θ*_j are trained on.
    use_exact: bool,
}

/// Rows, contexts and weights of some observations, gathered for the flow.
#[derive(Clone, Debug)]
pub(crate) struct Gathered<T: Real> {
    pub(crate) u: Mat<T>,
    pub(crate) ctx: Mat<T>,
    pub(crate) w: Vec<T>,
    /// Σ_b w_b log|du/dθ|_b: turns the support-space NLL into the θ-space one.
    pub(crate) support_term: f64,
}

impl<T: Real> Gathered<T> {
    pub(crate) fn new(dim: usize, ctx_dim: usize) -> Self {
        Self { u: Mat::zeros(0, dim), ctx: Mat::zeros(0, ctx_dim), w: Vec::new(), support_term: 0.0 }
    }
}

impl<T: Real> StoredSet<T> {
    /// An empty set for θ ∈ ℝ^dim; `use_exact`: train on the exact draws θ*_j too.
    pub(crate) fn new(dim: usize, use_exact: bool) -> Self {
        Self {
            dim,
            u: Vec::new(),
            log_det: Vec::new(),
            log_w: Vec::new(),
            weight: Vec::new(),
            obs: Vec::new(),
            use_exact,
        }
    }

    /// Observations stored.
    pub(crate) fn n_obs(&self) -> usize {
        self.obs.len()
    }

    fn push_row(&mut self, u: &[T], log_det: f64, log_w: f64) -> usize {
        debug_assert_eq!(u.len(), self.dim);
        self.u.extend_from_slice(u);
        self.log_det.push(log_det);
        self.log_w.push(log_w);
        self.weight.push(0.0);
        self.log_det.len() - 1
    }

    /// Adds observation x_j with context `ctx`, its exact draw (`None` when it is outside the
    /// support) as (u, log|du/dθ|), and its draws: rows of `u` with `log_det` and `log_w`.
    /// Returns its index.
    pub(crate) fn add_obs(
        &mut self,
        ctx: &[T],
        exact: Option<(&[T], f64)>,
        u: MatRef<T>,
        log_det: &[f64],
        log_w: &[f64],
        held_out: bool,
    ) -> usize {
        let exact = exact.map(|(u, ld)| self.push_row(u, ld, 0.0));
        let draws = (0..u.rows()).map(|r| self.push_row(u.row(r), log_det[r], log_w[r])).collect();
        self.obs.push(StoredObs { ctx: ctx.to_vec(), exact, draws, held_out, ess: 0.0 });
        self.obs.len() - 1
    }

    /// Recomputes every observation's training weights (module docs) and ESS.
    pub(crate) fn reweigh(&mut self) -> crate::error::Result<()> {
        let mut scratch = Vec::new();
        for (j, o) in self.obs.iter_mut().enumerate() {
            scratch.clear();
            scratch.extend(o.draws.iter().map(|&r| self.log_w[r]));
            o.ess = if scratch.is_empty() || all_zero(&scratch) {
                scratch.iter_mut().for_each(|w| *w = 0.0);
                0.0
            } else {
                normalise_weights(&mut scratch, j)?
            };
            let exact_share = match (o.exact, self.use_exact) {
                (Some(_), true) => 1.0 / (1.0 + o.ess),
                _ => 0.0,
            };
            for (&r, &w) in o.draws.iter().zip(&scratch) {
                self.weight[r] = (1.0 - exact_share) * w;
            }
            if let Some(r) = o.exact {
                self.weight[r] = exact_share;
            }
        }
        Ok(())
    }

    /// ESS_j of observation j's draws (after [`StoredSet::reweigh`]).
    pub(crate) fn ess(&self, j: usize) -> f64 {
        self.obs[j].ess
    }

    /// Whether observation j trains on nothing (no draw with likelihood, no exact draw used).
    pub(crate) fn is_skipped(&self, j: usize) -> bool {
        let o = &self.obs[j];
        o.ess == 0.0 && !(self.use_exact && o.exact.is_some())
    }

    /// Indices of the held-out (`true`) or training (`false`) observations that train on something.
    pub(crate) fn indices(&self, held_out: bool) -> Vec<usize> {
        (0..self.obs.len()).filter(|&j| self.obs[j].held_out == held_out && !self.is_skipped(j)).collect()
    }

    /// Gathers the weighted rows of observations `ids` into `out`, each observation's weights
    /// scaled by 1/|ids| so the batch's weights sum to 1; rows with weight 0 are left out.
    pub(crate) fn gather(&self, ids: &[usize], out: &mut Gathered<T>) {
        let c = self.obs.first().map_or(out.ctx.cols(), |o| o.ctx.len());
        let rows: usize = ids
            .iter()
            .map(|&j| {
                let o = &self.obs[j];
                o.exact.iter().chain(&o.draws).filter(|&&r| self.weight[r] > 0.0).count()
            })
            .sum();
        if out.u.rows() != rows || out.ctx.cols() != c {
            out.u = Mat::zeros(rows, self.dim);
            out.ctx = Mat::zeros(rows, c);
        }
        out.w.clear();
        out.support_term = 0.0;
        let scale = 1.0 / ids.len().max(1) as f64;
        let mut b = 0;
        for &j in ids {
            let o = &self.obs[j];
            for &r in o.exact.iter().chain(&o.draws) {
                let w = self.weight[r] * scale;
                if w <= 0.0 {
                    continue;
                }
                out.u.row_mut(b).copy_from_slice(&self.u[r * self.dim..(r + 1) * self.dim]);
                out.ctx.row_mut(b).copy_from_slice(&o.ctx);
                out.w.push(T::lit(w));
                out.support_term += w * self.log_det[r];
                b += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two draws of weights 3:1 (ESS 1.6) and an exact draw: shares 1/2.6 and 1.6/2.6; a
    /// second observation with only zero-likelihood draws trains on its exact draw alone, or is
    /// skipped without exact draws.
    #[test]
    fn weights_combine_exact_and_weighted_draws() {
        for use_exact in [true, false] {
            let mut set = StoredSet::<f64>::new(1, use_exact);
            let u = Mat::from_vec(2, 1, vec![0.5, -0.5]);
            let ld = [0.1, 0.2];
            set.add_obs(&[1.0], Some((&[0.0], 0.3)), u.as_ref(), &ld, &[3f64.ln(), 0.0], false);
            set.add_obs(&[2.0], Some((&[1.0], 0.4)), u.as_ref(), &ld, &[f64::NEG_INFINITY; 2], false);
            set.reweigh().expect("valid weights");
            assert!((set.ess(0) - 1.6).abs() < 1e-12 && set.ess(1) == 0.0);
            assert_eq!(set.is_skipped(1), !use_exact);
            let ids = set.indices(false);
            let mut g = Gathered::new(1, 1);
            set.gather(&ids, &mut g);
            let w: Vec<f64> = g.w.clone();
            let total: f64 = w.iter().sum();
            assert!((total - 1.0).abs() < 1e-12, "weights sum to {total}");
            if use_exact {
                let (a, b) = (1.0 / 2.6, 1.6 / 2.6);
                let want = [a / 2.0, 0.75 * b / 2.0, 0.25 * b / 2.0, 0.5];
                assert_eq!(g.u.rows(), 4);
                w.iter().zip(want).for_each(|(g, w)| assert!((g - w).abs() < 1e-12, "{g} vs {w}"));
                assert_eq!(g.ctx.row(3), &[2.0]);
            } else {
                assert_eq!((g.u.rows(), ids.len()), (2, 1));
                assert!((w[0] - 0.75).abs() < 1e-12 && (g.support_term - (0.75 * 0.1 + 0.25 * 0.2)).abs() < 1e-12);
            }
        }
    }
}
