//! Monte Carlo KL divergence: KL(p‖q) = E_p[log p(θ) − log q(θ)] ≈ (1/N) Σ_i (log p(θ_i) − log q(θ_i))
//! for θ_i ~ p, with standard error s / √N (s the sample standard deviation of the differences).
//! The reverse direction KL(q‖p) = E_q[log q(θ) − log p(θ)] is the same estimator on draws from q.

use crate::metrics::Estimate;

/// KL(p‖q) from `log_p[i] = log p(θ_i)` and `log_q[i] = log q(θ_i)` at draws θ_i from p (the
/// reference); the caller evaluates q (e.g. a flow's log_prob). If q is zero at some draw
/// (`log_q = −inf`) the divergence is +inf with std_err +inf. With one draw the std_err is +inf.
///
/// # Panics
/// If the slices differ in length or are empty.
#[track_caller]
pub fn kl_p_q(log_p: &[f64], log_q: &[f64]) -> Estimate {
    assert_eq!(log_p.len(), log_q.len(), "kl_p_q: log_p and log_q must have one entry per draw");
    assert!(!log_p.is_empty(), "kl_p_q: need at least one draw");
    let n_draws = log_p.len() as f64;
    let diffs = log_p.iter().zip(log_q).map(|(lp, lq)| lp - lq);
    let mean = diffs.clone().sum::<f64>() / n_draws;
    if mean == f64::INFINITY {
        return Estimate { value: f64::INFINITY, std_err: f64::INFINITY };
    }
    let std_err = if log_p.len() > 1 {
        (diffs.map(|d| (d - mean).powi(2)).sum::<f64>() / (n_draws - 1.0) / n_draws).sqrt()
    } else {
        f64::INFINITY
    };
    Estimate { value: mean, std_err }
}

/// KL(q‖p) from draws θ_i ~ q (e.g. a flow's samples): `log_q_at_q[i] = log q(θ_i)` and
/// `log_p_at_q[i] = log p(θ_i)` (the reference). The estimator is [`kl_p_q`] with the roles
/// swapped: mean of log q − log p, std error s / √N.
///
/// Where the exact p is zero at a draw of q (`log_p = −inf`: a q sample outside the posterior's
/// support, e.g. outside the prior box or where the likelihood vanishes) KL(q‖p) is +inf, and so
/// is the estimate with a single such draw: the divergence is infinite, not merely large. Report
/// [`zero_density_fraction`] of `log_p_at_q` next to it to say how much of q's mass is there; a
/// flow with a support map never leaves the prior box, but a grid or truncated reference can
/// vanish where q does not.
///
/// # Panics
/// If the slices differ in length or are empty.
#[track_caller]
pub fn kl_q_p(log_q_at_q: &[f64], log_p_at_q: &[f64]) -> Estimate {
    assert_eq!(log_q_at_q.len(), log_p_at_q.len(), "kl_q_p: log_q and log_p must have one entry per draw of q");
    kl_p_q(log_q_at_q, log_p_at_q)
}

/// Fraction of draws where the density is zero (`log = −inf`), e.g. of q's draws where the
/// reference p vanishes (the draws that make [`kl_q_p`] infinite). 0 for no draws.
pub fn zero_density_fraction(log_density: &[f64]) -> f64 {
    let n_zero = log_density.iter().filter(|&&v| v == f64::NEG_INFINITY).count();
    n_zero as f64 / log_density.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};
    use rand_distr::{Distribution, StandardNormal};

    /// Allowed deviation from the closed form, in standard errors.
    const N_STD_ERRS: f64 = 3.0;
    use crate::special::{log_normal as log_n, HALF_LOG_2PI};

    #[test]
    fn kl_of_two_1d_gaussians_matches_closed_form() {
        let (mp, sp, mq, sq) = (0.3, 0.8, -0.5, 1.7);
        let mut rng = stream(21, Stream::Metric, 0, 0);
        let draws: Vec<f64> =
            (0..50_000).map(|_| mp + sp * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
        let log_p: Vec<f64> = draws.iter().map(|&t| log_n(t, mp, sp)).collect();
        let log_q: Vec<f64> = draws.iter().map(|&t| log_n(t, mq, sq)).collect();
        let est = kl_p_q(&log_p, &log_q);
        let exact = (sq / sp).ln() + (sp * sp + (mp - mq) * (mp - mq)) / (2.0 * sq * sq) - 0.5;
        assert!(est.std_err > 0.0 && est.std_err < 0.01, "{est:?}");
        assert!((est.value - exact).abs() < N_STD_ERRS * est.std_err, "{est:?} vs {exact}");
    }

    #[test]
    fn kl_of_two_correlated_2d_gaussians_matches_closed_form() {
        // p = N(μp, Σp) with Σp = Lp Lpᵀ, q = N(μq, Σq); both 2×2.
        let mu_p = [0.5, -1.0];
        let l_p: [[f64; 2]; 2] = [[1.0, 0.0], [0.6, 0.5]];
        let mu_q = [0.0, 0.0];
        let s_q: [[f64; 2]; 2] = [[2.0, 0.7], [0.7, 1.0]];
        let det_q = s_q[0][0] * s_q[1][1] - s_q[0][1] * s_q[1][0];
        let inv_q = [[s_q[1][1] / det_q, -s_q[0][1] / det_q], [-s_q[1][0] / det_q, s_q[0][0] / det_q]];
        let s_p = [
            [l_p[0][0] * l_p[0][0], l_p[0][0] * l_p[1][0]],
            [l_p[1][0] * l_p[0][0], l_p[1][0] * l_p[1][0] + l_p[1][1] * l_p[1][1]],
        ];
        let det_p = (l_p[0][0] * l_p[1][1]).powi(2);
        let quad = |inv: &[[f64; 2]; 2], d: [f64; 2]| {
            d[0] * (inv[0][0] * d[0] + inv[0][1] * d[1]) + d[1] * (inv[1][0] * d[0] + inv[1][1] * d[1])
        };
        let tr: f64 = (0..2).map(|i| (0..2).map(|j| inv_q[i][j] * s_p[j][i]).sum::<f64>()).sum();
        let dm = [mu_q[0] - mu_p[0], mu_q[1] - mu_p[1]];
        let exact = 0.5 * (tr + quad(&inv_q, dm) - 2.0 + (det_q / det_p).ln());

        let inv_p = [[s_p[1][1] / det_p, -s_p[0][1] / det_p], [-s_p[1][0] / det_p, s_p[0][0] / det_p]];
        let mut rng = stream(22, Stream::Metric, 0, 0);
        let (mut log_p, mut log_q) = (Vec::new(), Vec::new());
        for _ in 0..50_000 {
            let z: [f64; 2] = [StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng)];
            let t = [mu_p[0] + l_p[0][0] * z[0], mu_p[1] + l_p[1][0] * z[0] + l_p[1][1] * z[1]];
            let dp = [t[0] - mu_p[0], t[1] - mu_p[1]];
            let dq = [t[0] - mu_q[0], t[1] - mu_q[1]];
            log_p.push(-0.5 * quad(&inv_p, dp) - 0.5 * det_p.ln() - 2.0 * HALF_LOG_2PI);
            log_q.push(-0.5 * quad(&inv_q, dq) - 0.5 * det_q.ln() - 2.0 * HALF_LOG_2PI);
        }
        let est = kl_p_q(&log_p, &log_q);
        assert!((est.value - exact).abs() < N_STD_ERRS * est.std_err, "{est:?} vs {exact}");
    }

    #[test]
    fn kl_is_zero_for_equal_densities_and_infinite_where_q_vanishes() {
        let lp = [-1.0, -2.0, -0.5];
        assert_eq!(kl_p_q(&lp, &lp), Estimate { value: 0.0, std_err: 0.0 });
        let lq = [-1.0, f64::NEG_INFINITY, -0.5];
        assert_eq!(kl_p_q(&lp, &lq).value, f64::INFINITY);
    }

    #[test]
    fn kl_q_p_of_two_1d_gaussians_matches_closed_form() {
        // q = N(mq, sq²) sampled, p = N(mp, sp²): KL(q‖p) = log(sp/sq) + (sq² + (mq − mp)²)/(2 sp²) − ½.
        let (mq, sq, mp, sp) = (0.4, 0.6, -0.2, 1.1);
        let mut rng = stream(23, Stream::Metric, 0, 0);
        let draws: Vec<f64> =
            (0..50_000).map(|_| mq + sq * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
        let log_q: Vec<f64> = draws.iter().map(|&t| log_n(t, mq, sq)).collect();
        let log_p: Vec<f64> = draws.iter().map(|&t| log_n(t, mp, sp)).collect();
        let est = kl_q_p(&log_q, &log_p);
        let exact = (sp / sq).ln() + (sq * sq + (mq - mp) * (mq - mp)) / (2.0 * sp * sp) - 0.5;
        assert!(est.std_err > 0.0 && est.std_err < 0.01, "{est:?}");
        assert!((est.value - exact).abs() < N_STD_ERRS * est.std_err, "{est:?} vs {exact}");
        assert_eq!(zero_density_fraction(&log_p), 0.0);
    }

    #[test]
    fn kl_q_p_is_infinite_where_p_vanishes_and_reports_the_fraction() {
        let log_q = [-1.0, -2.0, -0.5, -0.7];
        let log_p = [-1.2, f64::NEG_INFINITY, -0.4, -0.9];
        let est = kl_q_p(&log_q, &log_p);
        assert_eq!((est.value, est.std_err), (f64::INFINITY, f64::INFINITY));
        assert_eq!(zero_density_fraction(&log_p), 0.25);
    }
}
