//! Adam (Kingma & Ba 2014, arXiv:1412.6980) exactly as `torch.optim.Adam` (no weight decay, no
//! amsgrad), and gradient-norm clipping as `torch.nn.utils.clip_grad_norm_`.
//!
//! For step t = 1, 2, …: m ← m + (1 − β₁)(g − m), v ← β₂v + (1 − β₂)g²,
//! p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε). The bias corrections are computed in
//! f64 (as PyTorch does in Python floats) and the element updates in `T`.

use crate::real::Real;

/// Adam state: first/second moment estimates and the step count.
#[derive(Clone, Debug)]
pub struct Adam<T> {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: u64,
    m: Vec<T>,
    v: Vec<T>,
}

impl<T: Real> Adam<T> {
    /// β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (PyTorch defaults); moments start at zero.
    pub fn new(n_params: usize, lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: vec![T::zero(); n_params],
            v: vec![T::zero(); n_params],
        }
    }
    /// Sets the step size for the next steps (the trainer's warm-up and cosine schedule).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    /// The current step size.
    pub fn lr(&self) -> f64 {
        self.lr
    }
    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }
    /// One update of `p` with gradient `grad`. Allocation-free.
    #[track_caller]
    pub fn step(&mut self, p: &mut [T], grad: &[T]) {
        assert_eq!(p.len(), self.m.len(), "Adam::step: parameter length");
        assert_eq!(grad.len(), self.m.len(), "Adam::step: gradient length");
        self.t += 1;
        let t = self.t as i32;
        let bias1 = 1.0 - self.beta1.powi(t);
        let bias2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        let step_size = T::lit(self.lr / bias1);
        let (one_m_b1, b2, one_m_b2) = (T::lit(1.0 - self.beta1), T::lit(self.beta2), T::lit(1.0 - self.beta2));
        let (inv_b2s, eps) = (T::lit(bias2_sqrt), T::lit(self.eps));
        for (((p, &g), m), v) in p.iter_mut().zip(grad).zip(self.m.iter_mut()).zip(self.v.iter_mut()) {
            *m += one_m_b1 * (g - *m);
            *v = b2 * *v + one_m_b2 * g * g;
            let denom = v.sqrt() / inv_b2s + eps;
            *p -= step_size * (*m / denom);
        }
    }
}

/// Scales `grad` so its Euclidean norm is at most `max_norm` (by max_norm / (norm + 1e-6), as
/// PyTorch); returns the norm before clipping. The norm is accumulated in f64.
pub fn clip_grad_norm<T: Real>(grad: &mut [T], max_norm: f64) -> f64 {
    let norm = grad.iter().map(|g| g.to_f64_lossless().powi(2)).sum::<f64>().sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let c = T::lit(coef);
        grad.iter_mut().for_each(|g| *g *= c);
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_first_steps_match_the_formula_by_hand() {
        let mut adam = Adam::<f64>::new(2, 0.1);
        let mut p = [1.0, -2.0];
        let g1 = [0.5, -3.0];
        adam.step(&mut p, &g1);
        // Step 1: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g² → p -= lr · g / (|g| + ε).
        for (i, &g) in g1.iter().enumerate() {
            let want = [1.0, -2.0][i] - 0.1 * g / (g.abs() + 1e-8);
            assert!((p[i] - want).abs() < 1e-15, "step 1, p[{i}] = {} vs {want}", p[i]);
        }
        let before = p;
        let g2 = [-1.0, 0.25];
        adam.step(&mut p, &g2);
        for i in 0..2 {
            let m = 0.9 * (0.1 * g1[i]) + 0.1 * g2[i];
            let v = 0.999 * (0.001 * g1[i] * g1[i]) + 0.001 * g2[i] * g2[i];
            let m_hat = m / (1.0 - 0.9f64.powi(2));
            let v_hat = v / (1.0 - 0.999f64.powi(2));
            let want = before[i] - 0.1 * m_hat / (v_hat.sqrt() + 1e-8);
            assert!((p[i] - want).abs() < 1e-12, "step 2, p[{i}] = {} vs {want}", p[i]);
        }
        assert_eq!(adam.steps(), 2);
    }

    #[test]
    fn clip_grad_norm_rescales_only_large_gradients() {
        let mut g = [3.0f64, 4.0];
        assert_eq!(clip_grad_norm(&mut g, 10.0), 5.0);
        assert_eq!(g, [3.0, 4.0]);
        let norm = clip_grad_norm(&mut g, 1.0);
        assert_eq!(norm, 5.0);
        let new_norm = (g[0] * g[0] + g[1] * g[1]).sqrt();
        assert!((new_norm - 1.0).abs() < 1e-6 && (g[0] / g[1] - 0.75).abs() < 1e-15);
    }
}
