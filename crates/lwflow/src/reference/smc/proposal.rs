//! Random-walk proposal covariances, one per cluster of particles ([`super::clusters`]): each
//! cluster's sample covariance Σ̂_c, factored Σ̂_c = L_c L_cᵀ ([`crate::linalg::cholesky`]) with
//! growing diagonal jitter when the particles collapsed onto a subspace.

use super::clusters::split_clusters;
use crate::linalg::cholesky;
use crate::mat::MatRef;

/// Relative jitter added to the covariance diagonal if Cholesky fails (e.g. collapsed particles).
const COV_JITTER: f64 = 1e-10;

/// Random-walk proposal covariances, one per cluster of particles (module docs).
pub(super) struct Proposal {
    /// Cluster of each particle.
    pub(super) label: Vec<usize>,
    /// Lower Cholesky factor (row-major d × d) of each cluster's covariance.
    pub(super) chol: Vec<Vec<f64>>,
}

impl Proposal {
    /// Clusters the particles ([`split_clusters`]) and factors each cluster's covariance; a
    /// cluster whose covariance is zero (all duplicates) falls back to the global covariance.
    pub(super) fn new(theta: MatRef<f64>) -> Self {
        let all: Vec<usize> = (0..theta.rows()).collect();
        let global =
            cholesky_with_jitter(covariance(theta, &all), theta.cols()).unwrap_or_else(|| identity(theta.cols()));
        let clusters = split_clusters(theta);
        let mut label = vec![0; theta.rows()];
        let mut chol = Vec::with_capacity(clusters.len());
        for (c, members) in clusters.iter().enumerate() {
            for &i in members {
                label[i] = c;
            }
            chol.push(cholesky_with_jitter(covariance(theta, members), theta.cols()).unwrap_or_else(|| global.clone()));
        }
        Self { label, chol }
    }
}

/// Sample covariance of the `members` rows of `theta`; row-major d × d.
fn covariance(theta: MatRef<f64>, members: &[usize]) -> Vec<f64> {
    let dim = theta.cols();
    let n = members.len() as f64;
    let mut mean = vec![0.0; dim];
    for &r in members {
        for (m, t) in mean.iter_mut().zip(theta.row(r)) {
            *m += t / n;
        }
    }
    let mut cov = vec![0.0; dim * dim];
    let mut centred = vec![0.0; dim];
    for &r in members {
        for ((c, t), m) in centred.iter_mut().zip(theta.row(r)).zip(&mean) {
            *c = t - m;
        }
        for i in 0..dim {
            for j in 0..=i {
                cov[i * dim + j] += centred[i] * centred[j] / n;
            }
        }
    }
    for i in 0..dim {
        for j in 0..i {
            cov[j * dim + i] = cov[i * dim + j];
        }
    }
    cov
}

fn identity(dim: usize) -> Vec<f64> {
    let mut eye = vec![0.0; dim * dim];
    for i in 0..dim {
        eye[i * dim + i] = 1.0;
    }
    eye
}

/// Cholesky factor of `cov`, adding growing multiples of [`COV_JITTER`]·(mean variance) to the
/// diagonal until it is positive definite: particles that collapsed onto a subspace still get a
/// proposal. `None` if the covariance is zero or not finite (all particles equal).
fn cholesky_with_jitter(mut cov: Vec<f64>, dim: usize) -> Option<Vec<f64>> {
    let mean_var = (0..dim).map(|i| cov[i * dim + i]).sum::<f64>() / dim as f64;
    if !(mean_var > 0.0 && mean_var.is_finite()) {
        return None;
    }
    let mut add = COV_JITTER * mean_var;
    for _ in 0..16 {
        if let Ok(l) = cholesky(&cov, dim) {
            return Some(l);
        }
        for i in 0..dim {
            cov[i * dim + i] += add;
        }
        add *= 10.0;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_rescues_a_singular_covariance_but_not_a_zero_one() {
        let l = cholesky_with_jitter(vec![1.0, 1.0, 1.0, 1.0], 2).expect("rank 1 + jitter");
        assert!(l.iter().all(|v| v.is_finite()) && l[3] > 0.0, "{l:?}");
        assert_eq!(cholesky_with_jitter(vec![4.0, 2.0, 2.0, 5.0], 2), cholesky(&[4.0, 2.0, 2.0, 5.0], 2).ok());
        assert!(cholesky_with_jitter(vec![0.0; 4], 2).is_none());
    }
}
