//! Permutation-invariant (DeepSets) embedding, Zaheer et al. 2017, arXiv:1703.06114 (Theorem 2):
//! x = (x_1, …, x_M), M exchangeable members of k values each, stored one after the other;
//! s = (1/M) Σ_m φ(x_m), e = ρ(s), with φ: ℝ^k → ℝ^w and ρ: ℝ^w → ℝ^out MLPs.
//!
//! Any reordering of the members gives the same s up to the rounding of the sum, so q(θ|x) is
//! invariant by construction, and φ learns from M member rows per observation. The mean (not
//! the sum) keeps s at the scale of one φ(x_m) whatever M.
//!
//! Backward: ∂L/∂s from ρ's input adjoint; ∂L/∂φ(x_m) = ∂L/∂s / M for every member.
//!
//! Workspace (n rows): members (n·M × k, a contiguous copy of x), φ's workspace for n·M rows,
//! φ's outputs (n·M × w), s (n × w), ρ's workspace; then backward's scratch: ∂s (n × w) and
//! ∂φ (n·M × w).

use super::Embedding;
use crate::mat::{MatMut, MatRef};
use crate::nn::{Activation, Mlp};
use crate::real::Real;
use crate::rng::Rng;

/// The network's shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct SetEmbedding {
    members: usize,
    member_dim: usize,
    phi: Mlp,
    rho: Mlp,
}

/// The workspace of `n` rows, split into its parts.
struct Parts<'w, T> {
    members: &'w mut [T],
    phi_ws: &'w mut [T],
    phi_out: &'w mut [T],
    pooled: &'w mut [T],
    rho_ws: &'w mut [T],
    d_pooled: &'w mut [T],
    d_phi_out: &'w mut [T],
}

impl SetEmbedding {
    /// `members` draws of `member_dim` values; φ: member_dim → [width; depth] → width,
    /// ρ: width → \[width\] → n_out; activation `act` after every hidden layer.
    pub fn new(members: usize, member_dim: usize, width: usize, depth: usize, n_out: usize, act: Activation) -> Self {
        let phi = Mlp::new(member_dim, &vec![width; depth], width, act);
        let rho = Mlp::new(width, &[width], n_out, act);
        Self { members, member_dim, phi, rho }
    }

    /// Number of exchangeable members M in one x.
    pub fn members(&self) -> usize {
        self.members
    }

    fn pooled_dim(&self) -> usize {
        self.phi.n_out()
    }

    fn split<'w, T>(&self, ws: &'w mut [T], n: usize) -> Parts<'w, T> {
        let (nm, w) = (n * self.members, self.pooled_dim());
        let (members, rest) = ws.split_at_mut(nm * self.member_dim);
        let (phi_ws, rest) = rest.split_at_mut(self.phi.workspace_len(nm));
        let (phi_out, rest) = rest.split_at_mut(nm * w);
        let (pooled, rest) = rest.split_at_mut(n * w);
        let (rho_ws, rest) = rest.split_at_mut(self.rho.workspace_len(n));
        let (d_pooled, rest) = rest.split_at_mut(n * w);
        let d_phi_out = &mut rest[..nm * w];
        Parts { members, phi_ws, phi_out, pooled, rho_ws, d_pooled, d_phi_out }
    }
}

impl<T: Real> Embedding<T> for SetEmbedding {
    fn n_in(&self) -> usize {
        self.members * self.member_dim
    }
    fn n_out(&self) -> usize {
        self.rho.n_out()
    }
    fn n_params(&self) -> usize {
        self.phi.n_params() + self.rho.n_params()
    }
    fn workspace_len(&self, n_batch: usize) -> usize {
        let (nm, w) = (n_batch * self.members, self.pooled_dim());
        nm * self.member_dim
            + self.phi.workspace_len(nm)
            + 2 * nm * w
            + 2 * n_batch * w
            + self.rho.workspace_len(n_batch)
    }
    fn init_params(&self, p: &mut [T], rng: &mut Rng) {
        let (p_phi, p_rho) = p.split_at_mut(self.phi.n_params());
        self.phi.init_params(p_phi, rng, 1.0);
        self.rho.init_params(p_rho, rng, 1.0);
    }

    fn forward(&self, p: &[T], x: MatRef<T>, e: MatMut<T>, ws: &mut [T]) {
        let (n, m, k, w) = (x.rows(), self.members, self.member_dim, self.pooled_dim());
        debug_assert_eq!(x.cols(), m * k);
        let (p_phi, p_rho) = p.split_at(self.phi.n_params());
        let parts = self.split(ws, n);
        for (r, dst) in parts.members.chunks_exact_mut(m * k).enumerate() {
            dst.copy_from_slice(x.row(r));
        }
        let members = MatRef::new(&*parts.members, n * m, k);
        self.phi.forward(p_phi, members, MatRef::empty(n * m), MatMut::new(parts.phi_out, n * m, w), parts.phi_ws);
        let inv_m = T::one() / T::lit(m as f64);
        for (s, outs) in parts.pooled.chunks_exact_mut(w).zip(parts.phi_out.chunks_exact(m * w)) {
            s.fill(T::zero());
            for out in outs.chunks_exact(w) {
                for (s, &o) in s.iter_mut().zip(out) {
                    *s += o;
                }
            }
            s.iter_mut().for_each(|s| *s *= inv_m);
        }
        self.rho.forward(p_rho, MatRef::new(&*parts.pooled, n, w), MatRef::empty(n), e, parts.rho_ws);
    }

    fn backward(&self, p: &[T], ws: &mut [T], x: MatRef<T>, d_e: MatRef<T>, d_p: &mut [T]) {
        let (n, m, k, w) = (x.rows(), self.members, self.member_dim, self.pooled_dim());
        let (p_phi, p_rho) = p.split_at(self.phi.n_params());
        let (d_phi, d_rho) = d_p.split_at_mut(self.phi.n_params());
        let parts = self.split(ws, n);
        let pooled = MatRef::new(&*parts.pooled, n, w);
        let d_pooled = MatMut::new(parts.d_pooled, n, w);
        self.rho.backward(p_rho, parts.rho_ws, pooled, MatRef::empty(n), d_e, Some(d_pooled), None, d_rho);
        let inv_m = T::one() / T::lit(m as f64);
        for (d_outs, d_s) in parts.d_phi_out.chunks_exact_mut(m * w).zip(parts.d_pooled.chunks_exact(w)) {
            for d_out in d_outs.chunks_exact_mut(w) {
                for (d, &g) in d_out.iter_mut().zip(d_s) {
                    *d = g * inv_m;
                }
            }
        }
        let members = MatRef::new(&*parts.members, n * m, k);
        let d_out = MatRef::new(&*parts.d_phi_out, n * m, w);
        self.phi.backward(p_phi, parts.phi_ws, members, MatRef::empty(n * m), d_out, None, None, d_phi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::check::{check_embedding_gradient, embed, random};
    use crate::mat::Mat;
    use rand::SeedableRng;

    #[test]
    fn set_embedding_backward_matches_central_differences() {
        check_embedding_gradient(&SetEmbedding::new(4, 2, 6, 2, 3, Activation::Silu), 3, 1);
        check_embedding_gradient(&SetEmbedding::new(3, 1, 5, 1, 2, Activation::Silu), 4, 2);
    }

    #[test]
    fn set_embedding_is_invariant_to_the_order_of_members() {
        // Every permutation of 4 members of 2 values: e equal to rounding (the pooled sum's order).
        let net = SetEmbedding::new(4, 2, 16, 2, 5, Activation::Silu);
        let mut rng = crate::rng::Rng::seed_from_u64(3);
        let p = random(Embedding::<f64>::n_params(&net), 0.6, &mut rng);
        let x = random(8, 2.0, &mut rng);
        let e0 = embed(&net, &p, &Mat::from_vec(1, 8, x.clone()));
        let mut seen = 0;
        for perm in permutations(4) {
            let xp: Vec<f64> = perm.iter().flat_map(|&m| x[2 * m..2 * m + 2].to_vec()).collect();
            let e = embed(&net, &p, &Mat::from_vec(1, 8, xp));
            for (a, b) in e.row(0).iter().zip(e0.row(0)) {
                assert!((a - b).abs() <= 1e-14 * (1.0 + b.abs()), "perm {perm:?}: {a} vs {b}");
            }
            seen += 1;
        }
        assert_eq!(seen, 24);
        // It is not invariant to moving values between members.
        let mut mixed = x.clone();
        mixed.swap(0, 1);
        let e = embed(&net, &p, &Mat::from_vec(1, 8, mixed));
        assert!(e.row(0).iter().zip(e0.row(0)).any(|(a, b)| (a - b).abs() > 1e-6));
    }

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 1 {
            return vec![vec![0]];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for i in 0..n {
                let mut q = p.clone();
                q.insert(i, n - 1);
                out.push(q);
            }
        }
        out
    }
}
