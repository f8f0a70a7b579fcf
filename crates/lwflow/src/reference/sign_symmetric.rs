//! A reference made exactly symmetric under sign flips of some coordinates, for posteriors known
//! to have that symmetry: p(θ|x) = p(F_S θ|x) for every subset S of the listed coordinates, with
//! F_S negating the coordinates in S (e.g. `slcp`, whose likelihood sees θ₃ and θ₄ only through
//! their squares and whose prior is symmetric: [`crate::tasks::slcp::SIGN_SYMMETRIC`]).
//!
//! Sampling draws from the inner reference and negates each listed coordinate independently with
//! probability ½: the draws come from the symmetrised inner distribution
//! p_sym(θ) = 2⁻ᵏ Σ_S p(F_S θ), which is the posterior itself if the inner reference is right up
//! to the masses of the 2ᵏ mirror-image modes. Why: an SMC reference carries mode masses as Monte
//! Carlo weights (module docs of [`super::smc`]); on slcp with 10,000 particles one of the four
//! sign modes held 34 % instead of 25 % (observation 1 of `lwflow benchmark`), which C2ST would
//! charge to any flow. The density is p_sym's, by log-sum-exp over the 2ᵏ flips.

use rand::Rng as _;

use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::reference::Reference;
use crate::rng::Rng;
use crate::special::log_sum_exp;

/// An inner reference symmetrised under sign flips of `coords` (module docs).
pub struct SignSymmetrized {
    inner: Box<dyn Reference>,
    coords: Vec<usize>,
}

impl SignSymmetrized {
    /// Errors if a coordinate is out of range or listed twice.
    pub fn new(inner: Box<dyn Reference>, coords: Vec<usize>) -> Result<Self> {
        for (i, &c) in coords.iter().enumerate() {
            if c >= inner.dim() || coords[..i].contains(&c) {
                return Err(Error::invalid(
                    "sign-symmetric coordinates",
                    format!("{coords:?}: need distinct indices below {}", inner.dim()),
                ));
            }
        }
        Ok(Self { inner, coords })
    }
}

impl Reference for SignSymmetrized {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// log p_sym(θ) = log 2⁻ᵏ Σ_S p(F_S θ) (module docs); NaN if the inner reference has no density.
    fn log_density(&self, theta: &[f64]) -> f64 {
        let n_flips = 1usize << self.coords.len();
        let mut flipped = theta.to_vec();
        let log_p: Vec<f64> = (0..n_flips)
            .map(|mask| {
                for (bit, &c) in self.coords.iter().enumerate() {
                    flipped[c] = if mask >> bit & 1 == 1 { -theta[c] } else { theta[c] };
                }
                self.inner.log_density(&flipped)
            })
            .collect();
        log_sum_exp(&log_p) - (n_flips as f64).ln()
    }

    fn sample(&self, rng: &mut Rng, n_samples: usize) -> Mat<f64> {
        let mut out = self.inner.sample(rng, n_samples);
        for r in 0..n_samples {
            let row = out.row_mut(r);
            for &c in &self.coords {
                if rng.gen::<bool>() {
                    row[c] = -row[c];
                }
            }
        }
        out
    }

    fn modes(&self) -> Option<Vec<Vec<f64>>> {
        self.inner.modes()
    }

    /// The inner reference's maximum: exact when the inner density is itself symmetric, an upper
    /// bound otherwise.
    fn max_log_density(&self) -> f64 {
        self.inner.max_log_density()
    }

    fn has_density(&self) -> bool {
        self.inner.has_density()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};

    /// All mass at one point, density 0 elsewhere: the most asymmetric inner reference.
    struct PointMass(Vec<f64>);

    impl Reference for PointMass {
        fn dim(&self) -> usize {
            self.0.len()
        }
        fn log_density(&self, theta: &[f64]) -> f64 {
            if theta == self.0.as_slice() {
                0.0
            } else {
                f64::NEG_INFINITY
            }
        }
        fn sample(&self, _rng: &mut Rng, n_samples: usize) -> Mat<f64> {
            Mat::from_fn(n_samples, self.0.len(), |_, c| self.0[c])
        }
        fn modes(&self) -> Option<Vec<Vec<f64>>> {
            None
        }
        fn max_log_density(&self) -> f64 {
            0.0
        }
    }

    /// Allowed deviation of a sampled share, in binomial standard errors.
    const N_STD_ERRS: f64 = 4.0;

    #[test]
    fn mirror_images_get_equal_shares_and_other_coordinates_stay() {
        let n_samples = 20_000;
        let r = SignSymmetrized::new(Box::new(PointMass(vec![1.0, 2.0, 3.0])), vec![0, 2]).expect("valid");
        let s = r.sample(&mut stream(1, Stream::Metric, 0, 0), n_samples);
        let se = (0.25 * 0.75 / n_samples as f64).sqrt();
        for (a, b) in [(1.0, 3.0), (1.0, -3.0), (-1.0, 3.0), (-1.0, -3.0)] {
            let share = (0..n_samples).filter(|&i| s.row(i) == [a, 2.0, b]).count() as f64 / n_samples as f64;
            assert!((share - 0.25).abs() < N_STD_ERRS * se, "({a}, {b}): {share}");
        }
        // The density averages the four mirror images: each holds a quarter of the point mass.
        assert!((r.log_density(&[-1.0, 2.0, 3.0]) - 0.25f64.ln()).abs() < 1e-12);
        assert_eq!(r.log_density(&[1.0, -2.0, 3.0]), f64::NEG_INFINITY, "coordinate 1 is not flipped");
    }

    #[test]
    fn bad_coordinates_are_errors() {
        for coords in [vec![3], vec![1, 1]] {
            assert!(SignSymmetrized::new(Box::new(PointMass(vec![0.0; 3])), coords).is_err());
        }
    }
}
