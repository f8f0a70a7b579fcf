//! One ODE solve per θ for every observation a training step pairs it with.
//!
//! Prior-draw steps evaluate L(x_j | θ_i) for all J observations against one shared matrix of
//! N draws, one [`crate::model::Model::log_likelihood_at`] call per x_j, in parallel over j
//! ([`crate::model::log_likelihood_matrix`]). The expensive part of an ODE task's likelihood, the
//! trajectory of θ_i, does not depend on x_j, so it should be computed N times, not J·N. The
//! trait's call shape does not say that the J calls share θ; this cache finds out: it keeps the
//! last few θ matrices (compared bit for bit, so a hit is always the same θ) with one
//! once-initialised slot per row. The first call to need a row solves it, concurrent callers
//! wait for that row only, and each caller starts at a different row so two threads rarely want
//! the same row at once. A trajectory is a pure function of θ, so results do not depend on
//! which call solved which row.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::mat::MatRef;

/// θ matrices remembered: a step's shared draws, plus room for calls of other shapes (SMC,
/// importance sampling) made in between without evicting them.
const CAPACITY: usize = 4;

/// A θ matrix and its rows' trajectories, each solved at most once (`None`: the solve failed).
struct Solved<const W: usize> {
    theta: Vec<f64>,
    cols: usize,
    rows: Vec<OnceLock<Option<[f64; W]>>>,
    /// Calls that used this entry: spreads their starting rows.
    calls: AtomicUsize,
}

impl<const W: usize> Solved<W> {
    fn holds(&self, theta: MatRef<f64>) -> bool {
        self.cols == theta.cols()
            && self.rows.len() == theta.rows()
            && self
                .theta
                .chunks_exact(self.cols.max(1))
                .enumerate()
                .all(|(r, row)| row.iter().zip(theta.row(r)).all(|(a, b)| a.to_bits() == b.to_bits()))
    }
}

/// Trajectories of W values per θ row, shared between calls on the same θ matrix (module docs).
pub struct TrajectoryCache<const W: usize> {
    recent: Mutex<VecDeque<Arc<Solved<W>>>>,
}

impl<const W: usize> Default for TrajectoryCache<W> {
    fn default() -> Self {
        Self { recent: Mutex::new(VecDeque::with_capacity(CAPACITY)) }
    }
}

impl<const W: usize> std::fmt::Debug for TrajectoryCache<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrajectoryCache").field("width", &W).finish_non_exhaustive()
    }
}

impl<const W: usize> Clone for TrajectoryCache<W> {
    /// A clone starts empty (the cache is an optimisation, not state).
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<const W: usize> TrajectoryCache<W> {
    /// The entry for `theta`: a remembered one holding the same values, or a new empty one.
    fn entry(&self, theta: MatRef<f64>) -> Arc<Solved<W>> {
        let mut recent = self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = recent.iter().find(|s| s.holds(theta)) {
            return Arc::clone(found);
        }
        let mut copy = Vec::with_capacity(theta.rows() * theta.cols());
        for r in 0..theta.rows() {
            copy.extend_from_slice(theta.row(r));
        }
        let solved = Arc::new(Solved {
            theta: copy,
            cols: theta.cols(),
            rows: (0..theta.rows()).map(|_| OnceLock::new()).collect(),
            calls: AtomicUsize::new(0),
        });
        if recent.len() == CAPACITY {
            recent.pop_back();
        }
        recent.push_front(Arc::clone(&solved));
        solved
    }

    /// Calls `visit(r, trajectory of θ_r)` once for every row r of `theta`, solving with
    /// `solve(θ_r)` the rows no earlier call on the same matrix has solved. Rows are visited in
    /// an order that depends on how many calls came first; `visit` must not depend on it.
    pub fn for_each_row(
        &self,
        theta: MatRef<f64>,
        solve: impl Fn(&[f64]) -> Option<[f64; W]>,
        mut visit: impl FnMut(usize, Option<&[f64; W]>),
    ) {
        let n_rows = theta.rows();
        if n_rows == 0 {
            return;
        }
        let solved = self.entry(theta);
        // Starting rows spread by the golden ratio: 0, 0.618 n, 0.236 n, ...
        let call = solved.calls.fetch_add(1, Ordering::Relaxed);
        let start = ((call as f64 * 0.618_033_988_749_895).fract() * n_rows as f64) as usize % n_rows;
        for r in (start..n_rows).chain(0..start) {
            let trajectory = solved.rows[r].get_or_init(|| solve(theta.row(r)));
            visit(r, trajectory.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;

    #[test]
    fn each_row_is_solved_once_per_matrix_and_values_follow_theta() {
        let cache = TrajectoryCache::<2>::default();
        let solves = AtomicUsize::new(0);
        let solve = |t: &[f64]| {
            solves.fetch_add(1, Ordering::Relaxed);
            Some([t[0] * 2.0, t[0] + 1.0])
        };
        let theta = Mat::from_fn(5, 1, |r, _| r as f64);
        for _ in 0..3 {
            let mut seen = [false; 5];
            cache.for_each_row(theta.as_ref(), solve, |r, v| {
                assert_eq!(v, Some(&[2.0 * r as f64, r as f64 + 1.0]));
                seen[r] = true;
            });
            assert!(seen.iter().all(|&s| s));
        }
        assert_eq!(solves.load(Ordering::Relaxed), 5);
        // Another matrix (one value differs) is solved anew; the first stays remembered.
        let other = Mat::from_fn(5, 1, |r, _| if r == 4 { 4.5 } else { r as f64 });
        cache.for_each_row(other.as_ref(), solve, |_, _| {});
        assert_eq!(solves.load(Ordering::Relaxed), 10);
        cache.for_each_row(theta.as_ref(), solve, |_, _| {});
        assert_eq!(solves.load(Ordering::Relaxed), 10);
        // Past the capacity the oldest matrix is forgotten.
        for k in 0..CAPACITY {
            let m = Mat::from_fn(1, 1, |_, _| 100.0 + k as f64);
            cache.for_each_row(m.as_ref(), solve, |_, _| {});
        }
        cache.for_each_row(theta.as_ref(), solve, |_, _| {});
        assert_eq!(solves.load(Ordering::Relaxed), 10 + CAPACITY + 5);
    }

    #[test]
    fn concurrent_calls_share_the_solves() {
        use rayon::prelude::*;
        let cache = TrajectoryCache::<1>::default();
        let solves = AtomicUsize::new(0);
        let theta = Mat::from_fn(300, 2, |r, c| (r * 2 + c) as f64);
        let sums: Vec<f64> = (0..8)
            .into_par_iter()
            .map(|_| {
                let mut sum = 0.0;
                cache.for_each_row(
                    theta.as_ref(),
                    |t| {
                        solves.fetch_add(1, Ordering::Relaxed);
                        Some([t[0] + t[1]])
                    },
                    |_, v| sum += v.expect("solved")[0],
                );
                sum
            })
            .collect();
        assert_eq!(solves.load(Ordering::Relaxed), 300);
        let want: f64 = (0..300).map(|r| (4 * r + 1) as f64).sum();
        assert!(sums.iter().all(|&s| s == want));
    }
}
