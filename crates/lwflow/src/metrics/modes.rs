//! Mode shares and bridge mass: how a sample set distributes over a multimodal posterior's
//! disconnected modes, and how much of it lies in the low-density "bridges" between them.

use crate::mat::MatRef;
use crate::reference::Reference;

/// Share of sample rows whose nearest mode (Euclidean distance in θ) is `modes[j]`, for each j;
/// ties go to the lower index. The shares sum to 1.
///
/// For the square tasks with every x_k > 2σ the modes are (±√x_1, …, ±√x_d) (clipped to the
/// support), and ‖θ − m‖² = Σ_k (θ_k − s_k r_k)² is minimised by s_k = sign θ_k dimension by
/// dimension, so this nearest-mode partition is exactly the orthant partition.
///
/// # Panics
/// If there are no samples or no modes, or a mode's length differs from the sample width.
#[track_caller]
pub fn mode_shares(samples: MatRef<f64>, modes: &[Vec<f64>]) -> Vec<f64> {
    assert!(samples.rows() > 0, "mode_shares: need at least one sample");
    assert!(!modes.is_empty(), "mode_shares: need at least one mode");
    assert!(modes.iter().all(|m| m.len() == samples.cols()), "mode_shares: every mode needs one entry per θ column");
    let mut counts = vec![0usize; modes.len()];
    for r in 0..samples.rows() {
        let theta = samples.row(r);
        let sq_dist = |m: &Vec<f64>| theta.iter().zip(m).map(|(t, c)| (t - c) * (t - c)).sum::<f64>();
        let (nearest, _) = modes
            .iter()
            .enumerate()
            .map(|(j, m)| (j, sq_dist(m)))
            .fold((0, f64::INFINITY), |best, cur| if cur.1 < best.1 { cur } else { best });
        counts[nearest] += 1;
    }
    counts.iter().map(|&c| c as f64 / samples.rows() as f64).collect()
}

/// Bridge mass: the share of sample rows θ_r with
///
///   log p(θ_r|x) < log(rel_threshold) + max_θ log p(θ|x),
///
/// i.e. reference density below `rel_threshold` (typically 1e-3) times its maximum; rows outside
/// the reference's support (log p = −inf) count as bridge. For draws from a d-dimensional
/// Gaussian mode this is P(χ²_d > 2 log(1/rel_threshold)) (≈ 1e-3 for d = 2 at 1e-3), so a value
/// far above the reference's own bridge mass means samples strewn between the modes.
///
/// # Panics
/// If there are no samples, the width differs from `reference.dim()`, or `rel_threshold` is
/// not in (0, 1].
#[track_caller]
pub fn bridge_mass(samples: MatRef<f64>, reference: &dyn Reference, rel_threshold: f64) -> f64 {
    assert!(samples.rows() > 0, "bridge_mass: need at least one sample");
    assert_eq!(samples.cols(), reference.dim(), "bridge_mass: samples need one column per θ dimension");
    assert!(rel_threshold > 0.0 && rel_threshold <= 1.0, "bridge_mass: rel_threshold must be in (0, 1]");
    let log_threshold = rel_threshold.ln() + reference.max_log_density();
    let n_bridge = (0..samples.rows()).filter(|&r| reference.log_density(samples.row(r)) < log_threshold).count();
    n_bridge as f64 / samples.rows() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;
    use crate::rng::{stream, Stream};
    use crate::tasks::square::SquarePosterior;
    use rand::Rng as _;

    /// Allowed deviation of a Monte Carlo estimate, in standard errors.
    const N_STD_ERRS: f64 = 4.0;
    /// Bridge threshold relative to the maximum density.
    const REL_THRESHOLD: f64 = 1e-3;

    fn binomial_se(p: f64, n_samples: usize) -> f64 {
        (p * (1.0 - p) / n_samples as f64).sqrt().max(1.0 / n_samples as f64)
    }

    /// (∫ p 1[p < τ·max p], area fraction of {p < τ·max p}) over (−3, 3)² by the midpoint rule.
    fn bridge_quadrature(p: &SquarePosterior, n_cells: usize) -> (f64, f64) {
        let h = 6.0 / n_cells as f64;
        let log_threshold = REL_THRESHOLD.ln() + p.max_log_density();
        let (mut mass, mut area) = (0.0, 0.0);
        for i in 0..n_cells {
            for j in 0..n_cells {
                let theta = [-3.0 + (i as f64 + 0.5) * h, -3.0 + (j as f64 + 0.5) * h];
                let lp = p.log_density(&theta);
                if lp < log_threshold {
                    mass += lp.exp() * h * h;
                    area += h * h / 36.0;
                }
            }
        }
        (mass, area)
    }

    #[test]
    fn reference_samples_split_evenly_over_modes() {
        for x in [vec![1.0, 2.0], vec![1.0, 2.0, 0.5]] {
            let p = SquarePosterior::new(&x, 0.1, -3.0, 3.0).expect("valid");
            let modes = p.modes().expect("known");
            assert_eq!(modes.len(), 1 << x.len());
            let n_samples = 80_000;
            let samples = p.sample(&mut stream(31, Stream::Metric, x.len() as u64, 0), n_samples);
            let shares = mode_shares(samples.as_ref(), &modes);
            let want = 1.0 / modes.len() as f64;
            for (j, s) in shares.iter().enumerate() {
                assert!((s - want).abs() < N_STD_ERRS * binomial_se(want, n_samples), "mode {j}: {s}");
            }
        }
    }

    #[test]
    fn mode_shares_on_hand_placed_points() {
        let modes = vec![vec![-1.0, 0.0], vec![1.0, 0.0], vec![0.0, 5.0]];
        let samples = Mat::from_vec(4, 2, vec![-0.9, 0.1, 2.0, -1.0, 0.1, 4.0, 0.4, 0.0]);
        assert_eq!(mode_shares(samples.as_ref(), &modes), vec![0.25, 0.5, 0.25]);
    }

    #[test]
    fn reference_bridge_mass_matches_quadrature_and_is_small() {
        let p = SquarePosterior::new(&[1.0, 2.0], 0.1, -3.0, 3.0).expect("valid");
        let (want, _) = bridge_quadrature(&p, 6_000);
        // Locally Gaussian modes: P(χ²₂ > 2 ln 1000) = 1e-3.
        assert!((want - 1e-3).abs() < 3e-4, "quadrature bridge mass {want}");
        let n_samples = 400_000;
        let samples = p.sample(&mut stream(32, Stream::Metric, 0, 0), n_samples);
        let got = bridge_mass(samples.as_ref(), &p, REL_THRESHOLD);
        assert!((got - want).abs() < N_STD_ERRS * binomial_se(want, n_samples), "{got} vs {want}");
    }

    #[test]
    fn uniform_samples_have_large_bridge_mass() {
        let p = SquarePosterior::new(&[1.0, 2.0], 0.1, -3.0, 3.0).expect("valid");
        let (_, want) = bridge_quadrature(&p, 3_000);
        assert!(want > 0.95, "area fraction {want}");
        let n_samples = 50_000;
        let mut rng = stream(33, Stream::Metric, 0, 0);
        let samples = Mat::from_fn(n_samples, 2, |_, _| rng.gen_range(-3.0..3.0));
        let got = bridge_mass(samples.as_ref(), &p, REL_THRESHOLD);
        assert!((got - want).abs() < N_STD_ERRS * binomial_se(want, n_samples), "{got} vs {want}");
        // Outside the support counts as bridge.
        let outside = Mat::from_vec(1, 2, vec![3.5, 1.0]);
        assert_eq!(bridge_mass(outside.as_ref(), &p, REL_THRESHOLD), 1.0);
    }
}
