//! Cholesky factorisation A = L Lᵀ of a symmetric positive definite A, L lower triangular.
//!
//! Row by row (Cholesky–Banachiewicz), reading only the lower triangle of A:
//!
//!   L_ij = (A_ij − Σ_{k<j} L_ik L_jk) / L_jj   for j < i,
//!   L_ii = √(A_ii − Σ_{k<i} L_ik²),
//!
//! and the first pivot A_ii − Σ_{k<i} L_ik² that is not a positive finite number stops it: A is
//! not (numerically) positive definite, and [`NonPositivePivot`] says at which row.

/// A is not positive definite: the pivot of row `index` is ≤ 0, NaN or infinite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not positive definite: pivot {index} is not positive")]
pub struct NonPositivePivot {
    /// The row (0-based) whose pivot failed.
    pub index: usize,
}

/// The lower Cholesky factor L (row-major `dim × dim`, zeros above the diagonal) of the symmetric
/// `dim × dim` row-major `a` (module docs); only the lower triangle of `a` is read.
#[track_caller]
pub fn cholesky(a: &[f64], dim: usize) -> Result<Vec<f64>, NonPositivePivot> {
    assert_eq!(a.len(), dim * dim, "cholesky: a must hold dim × dim = {dim}² entries");
    let mut l = vec![0.0; dim * dim];
    for i in 0..dim {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * dim + k] * l[j * dim + k]).sum();
            if i == j {
                let pivot = a[i * dim + i] - s;
                if !(pivot > 0.0 && pivot.is_finite()) {
                    return Err(NonPositivePivot { index: i });
                }
                l[i * dim + i] = pivot.sqrt();
            } else {
                l[i * dim + j] = (a[i * dim + j] - s) / l[j * dim + j];
            }
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};
    use rand::Rng as _;

    /// Allowed |L Lᵀ − A| per entry, in units of machine epsilon times the largest |A_ij|.
    const RECONSTRUCTION_EPS: f64 = 16.0;

    /// A = B Bᵀ + dim·I for a random B: symmetric positive definite, well conditioned.
    fn random_spd(dim: usize, seed: u64) -> Vec<f64> {
        let mut rng = stream(seed, Stream::Metric, 0, 0);
        let b: Vec<f64> = (0..dim * dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let mut a = vec![0.0; dim * dim];
        for i in 0..dim {
            for j in 0..dim {
                a[i * dim + j] = (0..dim).map(|k| b[i * dim + k] * b[j * dim + k]).sum::<f64>();
            }
            a[i * dim + i] += dim as f64;
        }
        a
    }

    #[test]
    fn factor_times_its_transpose_reproduces_the_matrix_at_several_sizes() {
        for (dim, seed) in [(1, 1), (2, 2), (5, 3), (12, 4)] {
            let a = random_spd(dim, seed);
            let l = cholesky(&a, dim).expect("positive definite");
            let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for i in 0..dim {
                for j in 0..dim {
                    let llt: f64 = (0..dim).map(|k| l[i * dim + k] * l[j * dim + k]).sum();
                    let tol = RECONSTRUCTION_EPS * f64::EPSILON * scale;
                    assert!((llt - a[i * dim + j]).abs() <= tol, "dim {dim}, ({i}, {j}): {llt} vs {}", a[i * dim + j]);
                    if j > i {
                        assert_eq!(l[i * dim + j], 0.0, "upper triangle is zero");
                    }
                }
                assert!(l[i * dim + i] > 0.0);
            }
        }
    }

    #[test]
    fn the_error_names_the_first_failing_pivot() {
        // Rank 1: the second pivot is 1 − 1 = 0.
        assert_eq!(cholesky(&[1.0, 1.0, 1.0, 1.0], 2), Err(NonPositivePivot { index: 1 }));
        assert_eq!(cholesky(&[-1.0, 0.0, 0.0, 1.0], 2), Err(NonPositivePivot { index: 0 }));
        let nan = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, f64::NAN];
        assert_eq!(cholesky(&nan, 3), Err(NonPositivePivot { index: 2 }));
        assert_eq!(cholesky(&[f64::INFINITY], 1), Err(NonPositivePivot { index: 0 }));
        let msg = NonPositivePivot { index: 4 }.to_string();
        assert!(msg.contains("pivot 4"), "{msg}");
    }
}
