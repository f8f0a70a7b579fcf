//! What the conditioners see of an observation x: x itself, or x and fixed statistics of it.
//!
//! When x is a set of exchangeable draws (slcp: four i.i.d. 2-d points), the posterior depends
//! on x through permutation-invariant statistics (for Gaussian draws: the mean and covariance).
//! A conditioner given only the raw values has to learn those nonlinear functions itself, once
//! per ordering of the draws, and every error in them widens q. [`ObsFeatures::SetMoments`] hands it
//! the moments directly — x is kept too, so no information is lost.

use crate::error::{Error, Result};
use crate::mat::{Mat, MatRef};

/// Floor of a member variance before its logarithm: identical draws give variance 0, and the
/// floor keeps their log sd finite (−345). A simulator with discrete x, where identical draws are
/// common, would see such outliers dominate the standardisation: use `Raw` there.
const MIN_VARIANCE: f64 = 1e-300;

/// What the conditioners receive from x ∈ ℝ^x_dim, before standardisation; stored in model files
/// (the flow configuration's `x_features`).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ObsFeatures {
    /// x as it is.
    #[default]
    Raw,
    /// x holds `members` exchangeable draws of dimension k = x_dim / members, one after the
    /// other. The conditioners get x, then the draws' mean (k), the log of their standard deviations (k) and
    /// their correlations (k(k − 1)/2, upper triangle row by row), all with divisor `members`.
    /// Standard deviations enter as logs because across the prior predictive they span orders of
    /// magnitude (slcp: sd = θ₃², θ₃ ∈ [−3, 3]); correlations are scale-free already.
    SetMoments {
        /// Number of draws in one x (at least 2).
        members: usize,
    },
}

impl ObsFeatures {
    /// Checks that the context fits observations of dimension `x_dim`.
    pub fn validate(&self, x_dim: usize) -> Result<()> {
        match *self {
            ObsFeatures::Raw => Ok(()),
            ObsFeatures::SetMoments { members } if members < 2 || !x_dim.is_multiple_of(members) => {
                Err(Error::invalid(
                    "flow x_features members",
                    format!("{members} must be at least 2 and divide the observation's dimension {x_dim}"),
                ))
            }
            ObsFeatures::SetMoments { .. } => Ok(()),
        }
    }

    /// Number of context values for an x of dimension `x_dim`.
    pub fn width(&self, x_dim: usize) -> usize {
        match *self {
            ObsFeatures::Raw => x_dim,
            ObsFeatures::SetMoments { members } => {
                let k = x_dim / members;
                x_dim + 2 * k + k * (k - 1) / 2
            }
        }
    }

    /// Calls `f(i, value)` for each context value i of the observation `x`, in order; allocation-free.
    pub fn for_each(&self, x: &[f64], mut f: impl FnMut(usize, f64)) {
        for (i, &v) in x.iter().enumerate() {
            f(i, v);
        }
        let members = match *self {
            ObsFeatures::Raw => return,
            ObsFeatures::SetMoments { members } => members,
        };
        let (n, k) = (members as f64, x.len() / members);
        let member = |m: usize| &x[m * k..(m + 1) * k];
        let mean = |a: usize| (0..members).map(|m| member(m)[a]).sum::<f64>() / n;
        let cov = |a: usize, b: usize| {
            let (ma, mb) = (mean(a), mean(b));
            (0..members).map(|m| (member(m)[a] - ma) * (member(m)[b] - mb)).sum::<f64>() / n
        };
        let mut i = x.len();
        for a in 0..k {
            f(i, mean(a));
            i += 1;
        }
        for a in 0..k {
            f(i, 0.5 * cov(a, a).max(MIN_VARIANCE).ln());
            i += 1;
        }
        for a in 0..k {
            for b in a + 1..k {
                let denom = (cov(a, a) * cov(b, b)).sqrt();
                f(i, if denom > 0.0 { (cov(a, b) / denom).clamp(-1.0, 1.0) } else { 0.0 });
                i += 1;
            }
        }
    }

    /// The context of every row of `x` (rows × width).
    pub fn rows(&self, x: MatRef<f64>) -> Mat<f64> {
        let mut out = Mat::zeros(x.rows(), self.width(x.cols()));
        for r in 0..x.rows() {
            let row = out.row_mut(r);
            self.for_each(x.row(r), |i, v| row[i] = v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_moments_match_direct_formulas_and_ignore_member_order() {
        // three 2-d draws: (1, 2), (3, 0), (2, 7)
        let x = [1.0, 2.0, 3.0, 0.0, 2.0, 7.0];
        let s = ObsFeatures::SetMoments { members: 3 };
        s.validate(6).unwrap();
        let c = s.rows(MatRef::new(&x, 1, 6));
        assert_eq!(c.cols(), 6 + 2 + 2 + 1);
        let (m0, m1) = (2.0, 3.0);
        let v0 = ((1.0f64 - m0).powi(2) + (3.0f64 - m0).powi(2) + 0.0) / 3.0;
        let v1 = ((2.0f64 - m1).powi(2) + (0.0f64 - m1).powi(2) + (7.0f64 - m1).powi(2)) / 3.0;
        let c01 = ((1.0 - m0) * (2.0 - m1) + (3.0 - m0) * (0.0 - m1) + 0.0) / 3.0;
        let want = [m0, m1, 0.5 * v0.ln(), 0.5 * v1.ln(), c01 / (v0 * v1).sqrt()];
        for (i, w) in want.iter().enumerate() {
            assert!((c.row(0)[6 + i] - w).abs() < 1e-12, "value {i}: {} vs {w}", c.row(0)[6 + i]);
        }
        let swapped = [2.0, 7.0, 1.0, 2.0, 3.0, 0.0];
        let c2 = s.rows(MatRef::new(&swapped, 1, 6));
        for i in 6..11 {
            assert!((c.row(0)[i] - c2.row(0)[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn degenerate_sets_stay_finite_and_bad_member_counts_are_refused() {
        let s = ObsFeatures::SetMoments { members: 2 };
        let c = s.rows(MatRef::new(&[1.0, 1.0, 1.0, 1.0], 1, 4));
        assert!(c.row(0).iter().all(|v| v.is_finite()));
        assert!(ObsFeatures::SetMoments { members: 3 }.validate(8).is_err());
        assert!(ObsFeatures::SetMoments { members: 1 }.validate(8).is_err());
        assert_eq!(ObsFeatures::Raw.width(8), 8);
        assert_eq!(ObsFeatures::SetMoments { members: 4 }.width(8), 8 + 2 + 2 + 1);
    }
}
