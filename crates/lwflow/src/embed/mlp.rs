//! MLP embedding: e = MLP(x), hidden layers with the flow's activation, a linear output
//! ([`crate::nn::Mlp`]'s kernels). For an x without known structure: it learns which entries
//! matter (a distractor's first-layer weights can go to zero) once, for every conditioner.

use super::Embedding;
use crate::mat::{MatMut, MatRef};
use crate::nn::{Activation, Mlp};
use crate::real::Real;
use crate::rng::Rng;

/// The network's shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpEmbedding {
    mlp: Mlp,
}

impl MlpEmbedding {
    /// x ∈ ℝ^n_in → `hidden` → e ∈ ℝ^n_out, activation `act` after each hidden layer.
    pub fn new(n_in: usize, hidden: &[usize], n_out: usize, act: Activation) -> Self {
        Self { mlp: Mlp::new(n_in, hidden, n_out, act) }
    }
}

impl<T: Real> Embedding<T> for MlpEmbedding {
    fn n_in(&self) -> usize {
        self.mlp.n_in()
    }
    fn n_out(&self) -> usize {
        self.mlp.n_out()
    }
    fn n_params(&self) -> usize {
        self.mlp.n_params()
    }
    fn workspace_len(&self, n_batch: usize) -> usize {
        self.mlp.workspace_len(n_batch)
    }
    fn init_params(&self, p: &mut [T], rng: &mut Rng) {
        self.mlp.init_params(p, rng, 1.0);
    }
    fn forward(&self, p: &[T], x: MatRef<T>, e: MatMut<T>, ws: &mut [T]) {
        self.mlp.forward(p, x, MatRef::empty(x.rows()), e, ws);
    }
    fn backward(&self, p: &[T], ws: &mut [T], x: MatRef<T>, d_e: MatRef<T>, d_p: &mut [T]) {
        self.mlp.backward(p, ws, x, MatRef::empty(x.rows()), d_e, None, None, d_p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::check::check_embedding_gradient;

    #[test]
    fn mlp_embedding_backward_matches_central_differences() {
        check_embedding_gradient(&MlpEmbedding::new(5, &[7, 6], 3, Activation::Silu), 4, 1);
        // A first layer wide enough for the GEMM path.
        check_embedding_gradient(&MlpEmbedding::new(40, &[9], 4, Activation::Silu), 3, 2);
    }
}
