//! Divisive 2-means clustering of the particles, so that separated modes get their own proposal
//! covariance ([`split_clusters`] says why).

use crate::mat::MatRef;

/// At most this many particle clusters, each with its own proposal covariance.
pub const MAX_CLUSTERS: usize = 64;
/// Smallest cluster (also at least 4(d + 1)), so its covariance is well estimated.
pub const MIN_CLUSTER_SIZE: usize = 100;
/// A cluster splits when the within-half variance along the split is below this share of the total.
pub const SPLIT_RATIO: f64 = 0.1;
/// Lloyd iterations of each 2-means split.
const LLOYD_STEPS: usize = 25;

/// Divisive 2-means: starting from one cluster of all particles, a cluster is split in two while
/// [`split_in_two`] finds a clear gap, up to [`MAX_CLUSTERS`] clusters. Deterministic (no RNG).
///
/// Why: one global covariance spans all modes, so in a dimension with two modes ±a of width s its
/// random walk is a times too wide for moves within a mode; the scale adaptation then shrinks it in
/// every dimension and the particles barely move. Mode masses are carried by the weights, and
/// their error grows when particles inside a mode are not equilibrated, so poor within-mode mixing
/// shows up as noisy mode shares. Each cluster's own covariance gives moves of the mode's size.
/// A particle keeps its cluster's covariance for the whole stage even if it walks out of the
/// cluster: every particle's kernel is then a symmetric random walk, invariant for π_β.
pub(super) fn split_clusters(theta: MatRef<f64>) -> Vec<Vec<usize>> {
    let min_size = MIN_CLUSTER_SIZE.max(4 * (theta.cols() + 1));
    let mut done = Vec::new();
    let mut todo = vec![(0..theta.rows()).collect::<Vec<usize>>()];
    while let Some(members) = todo.pop() {
        let split =
            if done.len() + todo.len() + 2 <= MAX_CLUSTERS { split_in_two(theta, &members, min_size) } else { None };
        match split {
            Some((a, b)) => {
                todo.push(b);
                todo.push(a);
            }
            None => done.push(members),
        }
    }
    done
}

/// 2-means (Lloyd, farthest-point start) of the `members` rows in coordinates standardised by the
/// cluster's per-dimension sd. The split is kept when both halves have ≥ `min_size` particles and,
/// projected on the line through the two centroids, the within-half variance is below
/// [`SPLIT_RATIO`] of the total: ≈ 0.36 for one Gaussian, 0.25 for a uniform, s²/(s² + a²) for two
/// equal modes ±a of sd s (< 0.1 when a > 3s, i.e. separated modes).
fn split_in_two(theta: MatRef<f64>, members: &[usize], min_size: usize) -> Option<(Vec<usize>, Vec<usize>)> {
    let (n, dim) = (members.len(), theta.cols());
    if n < 2 * min_size {
        return None;
    }
    let mut mean = vec![0.0; dim];
    for &i in members {
        for (m, t) in mean.iter_mut().zip(theta.row(i)) {
            *m += t / n as f64;
        }
    }
    let mut inv_sd = vec![0.0; dim];
    for &i in members {
        for ((s, t), m) in inv_sd.iter_mut().zip(theta.row(i)).zip(&mean) {
            *s += (t - m) * (t - m) / n as f64;
        }
    }
    for s in inv_sd.iter_mut() {
        // A constant dimension carries no information about the split.
        *s = if *s > 0.0 { 1.0 / s.sqrt() } else { 0.0 };
    }
    let z: Vec<f64> = members
        .iter()
        .flat_map(|&i| theta.row(i).iter().zip(&mean).zip(&inv_sd).map(|((t, m), s)| (t - m) * s))
        .collect();
    let dist2 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum::<f64>();
    let row = |r: usize| &z[r * dim..(r + 1) * dim];
    let farthest = |from: &[f64]| {
        (0..n).map(|r| dist2(row(r), from)).enumerate().fold((0, -1.0), |b, (r, d)| if d > b.1 { (r, d) } else { b }).0
    };
    // Starts: farthest-point pair, and the sign of each standardised coordinate (a bimodal
    // dimension among unimodal ones is rarely where the farthest point lies).
    let (r1, r2) = {
        let r1 = farthest(&vec![0.0; dim]);
        (r1, farthest(row(r1)))
    };
    let mut best: Option<(f64, Vec<bool>)> = None;
    for start in 0..=dim {
        let mut side: Vec<bool> = if start == 0 {
            (0..n).map(|r| dist2(row(r), row(r2)) < dist2(row(r), row(r1))).collect()
        } else {
            (0..n).map(|r| row(r)[start - 1] > 0.0).collect()
        };
        let Some(ratio) = lloyd_split(&z, dim, &mut side) else { continue };
        let n_b = side.iter().filter(|&&s| s).count();
        if n_b >= min_size && n - n_b >= min_size && !matches!(&best, Some((r, _)) if *r <= ratio) {
            best = Some((ratio, side));
        }
    }
    match best {
        Some((ratio, side)) if ratio < SPLIT_RATIO => {
            let a = members.iter().zip(&side).filter(|(_, &s)| !s).map(|(&i, _)| i).collect();
            let b = members.iter().zip(&side).filter(|(_, &s)| s).map(|(&i, _)| i).collect();
            Some((a, b))
        }
        _ => None,
    }
}

/// Lloyd iterations of 2-means on the rows of `z` (n × `dim`) from the assignment `side`;
/// returns the within-half share of the variance along the line through the two centroids, or
/// `None` if a half becomes empty.
fn lloyd_split(z: &[f64], dim: usize, side: &mut [bool]) -> Option<f64> {
    let n = side.len();
    let dist2 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum::<f64>();
    let mut centres = [vec![0.0; dim], vec![0.0; dim]];
    for iter in 0..=LLOYD_STEPS {
        if iter > 0 {
            let mut changed = false;
            for (r, s) in side.iter_mut().enumerate() {
                let row = &z[r * dim..(r + 1) * dim];
                let new = dist2(row, &centres[1]) < dist2(row, &centres[0]);
                changed |= new != *s;
                *s = new;
            }
            if !changed {
                break;
            }
        }
        let mut counts = [0usize; 2];
        for c in centres.iter_mut() {
            c.fill(0.0);
        }
        for (r, &s) in side.iter().enumerate() {
            counts[usize::from(s)] += 1;
            for (c, v) in centres[usize::from(s)].iter_mut().zip(&z[r * dim..(r + 1) * dim]) {
                *c += v;
            }
        }
        if counts.contains(&0) {
            return None;
        }
        for (c, &k) in centres.iter_mut().zip(&counts) {
            c.iter_mut().for_each(|v| *v /= k as f64);
        }
    }
    // Projection on the centroid line: pooled within-half variance over total variance.
    let dir: Vec<f64> = centres[1].iter().zip(&centres[0]).map(|(b, a)| b - a).collect();
    let proj: Vec<f64> = (0..n).map(|r| z[r * dim..(r + 1) * dim].iter().zip(&dir).map(|(u, v)| u * v).sum()).collect();
    let mut sums = [(0.0, 0usize); 2];
    for (p, &s) in proj.iter().zip(side.iter()) {
        sums[usize::from(s)].0 += p;
        sums[usize::from(s)].1 += 1;
    }
    let half_mean = [sums[0].0 / sums[0].1 as f64, sums[1].0 / sums[1].1 as f64];
    let m = proj.iter().sum::<f64>() / n as f64;
    let total: f64 = proj.iter().map(|p| (p - m) * (p - m)).sum();
    let within: f64 = proj.iter().zip(side.iter()).map(|(p, &s)| (p - half_mean[usize::from(s)]).powi(2)).sum();
    Some(within / total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;
    use crate::rng::{stream, Stream};
    use rand_distr::{Distribution, StandardNormal};

    /// `n_points` rows in 3-D: N(0, I) shifted by ±`gap`/2 along the first axis, alternately.
    fn two_blobs(n_points: usize, gap: f64) -> Mat<f64> {
        let mut rng = stream(4, Stream::Metric, 0, 0);
        Mat::from_fn(n_points, 3, |r, c| {
            let z: f64 = StandardNormal.sample(&mut rng);
            z + if c == 0 { gap * (if r % 2 == 0 { 0.5 } else { -0.5 }) } else { 0.0 }
        })
    }

    #[test]
    fn separated_modes_split_and_one_mode_stays_whole() {
        // Modes 10 sd apart: within-half share 1/(1 + 25) < SPLIT_RATIO.
        let theta = two_blobs(1000, 10.0);
        let clusters = split_clusters(theta.as_ref());
        assert_eq!(clusters.len(), 2, "{:?}", clusters.iter().map(Vec::len).collect::<Vec<_>>());
        for members in &clusters {
            let side = members[0] % 2;
            assert!(members.iter().all(|&r| r % 2 == side), "a cluster is one mode");
        }
        // One Gaussian: share ≈ 0.36, no split.
        assert_eq!(split_clusters(two_blobs(1000, 0.0).as_ref()).len(), 1);
    }
}
