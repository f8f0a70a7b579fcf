//! Standard normal base: log N(z; 0, I) = −½‖z‖² − (d/2)·log 2π, no parameters.
//!
//! Gradient: ∂ log q / ∂z = −z, so `backward` writes d_z = −z · d_log_q; `log_prob` keeps a copy
//! of z in `ws` (n_batch × dim) for it. For |z| so large that ‖z‖² overflows, log q = −inf (the
//! correctly rounded value) and d_z stays finite.

use rand_distr::{Distribution, StandardNormal as StdNormalDist};

use super::Base;
use crate::mat::{MatMut, MatRef};
use crate::real::Real;
use crate::rng::Rng;

/// N(0, I) on R^dim; unconditional (ignores `ctx`) and without parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandardNormal {
    /// Dimension d of the support R^d.
    pub dim: usize,
}

impl StandardNormal {
    /// N(0, I_dim); panics if `dim` is 0.
    #[track_caller]
    pub fn new(dim: usize) -> Self {
        assert!(dim > 0, "StandardNormal: dim must be positive");
        Self { dim }
    }
}

impl<T: Real> Base<T> for StandardNormal {
    fn dim(&self) -> usize {
        self.dim
    }

    fn n_params(&self) -> usize {
        0
    }

    fn workspace_len(&self, n_batch: usize) -> usize {
        n_batch * self.dim
    }

    fn init_params(&self, _p: &mut [T], _rng: &mut Rng) {}

    fn log_prob(&self, _p: &[T], z: MatRef<T>, _ctx: MatRef<T>, log_q: &mut [T], ws: &mut [T]) {
        let dim = self.dim;
        debug_assert_eq!(z.cols(), dim);
        debug_assert_eq!(log_q.len(), z.rows());
        debug_assert!(ws.len() >= z.rows() * dim);
        let log_norm = T::lit(-0.5 * dim as f64 * (2.0 * std::f64::consts::PI).ln());
        let half = T::lit(0.5);
        for (r, (lq, z_keep)) in log_q.iter_mut().zip(ws.chunks_exact_mut(dim.max(1))).enumerate() {
            let z_r = z.row(r);
            let sq: T = z_r.iter().map(|&v| v * v).sum();
            *lq = log_norm - half * sq;
            z_keep[..dim].copy_from_slice(z_r);
        }
    }

    fn backward(
        &self,
        _p: &[T],
        ws: &[T],
        d_log_q: &[T],
        mut d_z: MatMut<T>,
        _d_ctx: Option<MatMut<T>>,
        _d_p: &mut [T],
    ) {
        let dim = self.dim;
        debug_assert_eq!(d_z.cols(), dim);
        debug_assert_eq!(d_log_q.len(), d_z.rows());
        for (r, (&g, z_r)) in d_log_q.iter().zip(ws.chunks_exact(dim.max(1))).enumerate() {
            for (dz, &zv) in d_z.row_mut(r).iter_mut().zip(&z_r[..dim]) {
                *dz = -zv * g;
            }
        }
    }

    fn sample(&self, _p: &[T], _ctx: MatRef<T>, rng: &mut Rng, mut z: MatMut<T>) {
        debug_assert_eq!(z.cols(), self.dim);
        for r in 0..z.rows() {
            for v in z.row_mut(r) {
                let e: f64 = StdNormalDist.sample(rng);
                *v = T::lit(e);
            }
        }
    }
}
