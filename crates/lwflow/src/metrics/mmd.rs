//! Unbiased squared maximum mean discrepancy with a Gaussian kernel (Gretton et al. 2012,
//! JMLR 13, eq. 3):
//!
//!   MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(a_i, a_j) + 1/(n(n−1)) Σ_{i≠j} k(b_i, b_j) − 2/(mn) Σ_{i,j} k(a_i, b_j),
//!   k(u, v) = exp(−‖u − v‖² / (2h²)).
//!
//! Unbiased, so it scatters around 0 (and can be slightly negative) when a and b come from the
//! same distribution. Rows are split into fixed-size chunks run in parallel and reduced in chunk
//! order, so the result does not depend on the thread count.

use rayon::prelude::*;

use crate::mat::MatRef;

/// Rows per parallel chunk (fixed, independent of the thread count).
const CHUNK_ROWS: usize = 64;
/// Rows of each sample set used for the median heuristic (the first ones).
const MEDIAN_MAX_ROWS: usize = 1_000;

/// MMD²_u between the rows of `a` (m × d) and `b` (n × d). `bandwidth` is h; `None` uses the
/// median heuristic: h = median pairwise Euclidean distance within the pooled first
/// min(m, 1000) rows of a and min(n, 1000) rows of b (h = 1 if that median is 0).
///
/// # Panics
/// If a or b has fewer than 2 rows, their widths differ, or `bandwidth` is not finite and > 0.
#[track_caller]
pub fn mmd2_unbiased(a: MatRef<f64>, b: MatRef<f64>, bandwidth: Option<f64>) -> f64 {
    assert!(a.rows() >= 2 && b.rows() >= 2, "mmd2_unbiased: need at least 2 rows in each sample set");
    assert_eq!(a.cols(), b.cols(), "mmd2_unbiased: sample sets must have the same width");
    let h = bandwidth.unwrap_or_else(|| median_distance(a, b));
    assert!(h.is_finite() && h > 0.0, "mmd2_unbiased: bandwidth must be finite and > 0, got {h}");
    let gamma = 0.5 / (h * h);
    let (m, n) = (a.rows() as f64, b.rows() as f64);
    let k_aa = 2.0 * kernel_sum(a, a, gamma, true);
    let k_bb = 2.0 * kernel_sum(b, b, gamma, true);
    let k_ab = kernel_sum(a, b, gamma, false);
    k_aa / (m * (m - 1.0)) + k_bb / (n * (n - 1.0)) - 2.0 * k_ab / (m * n)
}

fn sq_dist(u: &[f64], v: &[f64]) -> f64 {
    u.iter().zip(v).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// Σ_i Σ_j exp(−γ ‖u_i − v_j‖²), over j > i only when `upper` (u and v the same set).
fn kernel_sum(u: MatRef<f64>, v: MatRef<f64>, gamma: f64, upper: bool) -> f64 {
    let n_chunks = u.rows().div_ceil(CHUNK_ROWS);
    let partial: Vec<f64> = (0..n_chunks)
        .into_par_iter()
        .map(|c| {
            let rows = c * CHUNK_ROWS..((c + 1) * CHUNK_ROWS).min(u.rows());
            let mut s = 0.0;
            for i in rows {
                let start = if upper { i + 1 } else { 0 };
                for j in start..v.rows() {
                    s += (-gamma * sq_dist(u.row(i), v.row(j))).exp();
                }
            }
            s
        })
        .collect();
    partial.iter().sum()
}

fn median_distance(a: MatRef<f64>, b: MatRef<f64>) -> f64 {
    let pooled: Vec<&[f64]> = (0..a.rows().min(MEDIAN_MAX_ROWS))
        .map(|r| a.row(r))
        .chain((0..b.rows().min(MEDIAN_MAX_ROWS)).map(|r| b.row(r)))
        .collect();
    let mut d2: Vec<f64> =
        pooled.iter().enumerate().flat_map(|(i, u)| pooled[i + 1..].iter().map(move |v| sq_dist(u, v))).collect();
    let mid = d2.len() / 2;
    let (_, median, _) = d2.select_nth_unstable_by(mid, f64::total_cmp);
    if *median > 0.0 {
        median.sqrt()
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;
    use crate::rng::{stream, Stream};
    use rand_distr::{Distribution, StandardNormal};

    fn normal_samples(n_rows: usize, shift: f64, seed: u64) -> Mat<f64> {
        let mut rng = stream(seed, Stream::Metric, 0, 0);
        Mat::from_fn(n_rows, 2, |_, _| shift + Distribution::<f64>::sample(&StandardNormal, &mut rng))
    }

    #[test]
    fn mmd_is_near_zero_for_one_distribution_and_positive_for_a_shift() {
        let a = normal_samples(1_000, 0.0, 41);
        let b = normal_samples(1_000, 0.0, 42);
        let c = normal_samples(1_000, 0.5, 43);
        let same = mmd2_unbiased(a.as_ref(), b.as_ref(), None);
        let shifted = mmd2_unbiased(a.as_ref(), c.as_ref(), None);
        // Null std of MMD²_u at n = 1000 is O(1/n) ≈ 1e-3.
        assert!(same.abs() < 3e-3, "same: {same}");
        assert!(shifted > 0.03 && shifted > 10.0 * same.abs(), "shifted: {shifted}, same: {same}");
    }

    #[test]
    fn mmd_matches_a_direct_double_sum() {
        let a = normal_samples(37, 0.0, 44);
        let b = normal_samples(150, 0.3, 45);
        let h: f64 = 0.8;
        let k = |u: &[f64], v: &[f64]| (-sq_dist(u, v) / (2.0 * h * h)).exp();
        let (m, n) = (37.0, 150.0);
        let mut want = 0.0;
        for i in 0..37 {
            for j in 0..37 {
                if i != j {
                    want += k(a.row(i), a.row(j)) / (m * (m - 1.0));
                }
            }
            for j in 0..150 {
                want -= 2.0 * k(a.row(i), b.row(j)) / (m * n);
            }
        }
        for i in 0..150 {
            for j in 0..150 {
                if i != j {
                    want += k(b.row(i), b.row(j)) / (n * (n - 1.0));
                }
            }
        }
        let got = mmd2_unbiased(a.as_ref(), b.as_ref(), Some(h));
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn median_heuristic_on_known_points() {
        // Pooled points 0, 1, 3 on a line: distances 1, 2, 3, median 2.
        let a = Mat::from_vec(2, 1, vec![0.0, 1.0]);
        let b = Mat::from_vec(1, 1, vec![3.0]);
        assert_eq!(median_distance(a.as_ref(), b.as_ref()), 2.0);
    }
}
