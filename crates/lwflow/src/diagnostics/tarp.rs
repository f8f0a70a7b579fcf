//! TARP, "tests of accuracy with random points" (Lemos, Coogan, Hezaveh & Perreault-Levasseur
//! 2023, arXiv:2302.03026). For each pair (θ*, x) draw a reference point θ_r independently of
//! θ*, and L draws θ_j ~ q(·|x); the TARP rank
//!
//!   r = #{j : d(θ_j, θ_r) < d(θ*, θ_r)} ∈ {0, …, L}
//!
//! counts q's draws inside the ball around θ_r that reaches θ*. The expected coverage
//! probability ECP(c) = #{r_i < c(L + 1)}/N equals c at every level if q = p; the paper proves the
//! converse when θ_r's distribution is rich enough (it may depend on x), so TARP also sees
//! errors a region anchored at q's own density can miss. Here θ_r ~ π (the prior: independent
//! of θ*, covering its support at its scale) and d is the Euclidean distance after dividing each
//! coordinate by the prior's standard deviation, so no parameter dominates by its units.
//! The curve, band and test are [`super::coverage::CoverageCurve`]'s.

/// The TARP rank #{j : d(θ_j, θ_r) < d(θ*, θ_r)}; `draws` is L × d row-major, `inv_scale` the
/// per-coordinate 1/σ of the distance.
pub fn tarp_rank(draws: &[f64], truth: &[f64], reference: &[f64], inv_scale: &[f64]) -> usize {
    let dist2 =
        |t: &[f64]| -> f64 { t.iter().zip(reference).zip(inv_scale).map(|((a, b), s)| ((a - b) * s).powi(2)).sum() };
    let radius = dist2(truth);
    draws.chunks_exact(truth.len()).filter(|t| dist2(t) < radius).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_draws_inside_the_ball_through_the_truth() {
        // Reference at 0, truth at distance 2 (scaled by 1/σ = 1, 2): inside are draws closer.
        let draws = [0.5, 0.0, 3.0, 0.0, 0.0, 0.9, 1.0, 1.0];
        let r = tarp_rank(&draws, &[2.0, 0.0], &[0.0, 0.0], &[1.0, 2.0]);
        // Distances²: 0.25, 9, 3.24, 5 vs 4: two inside.
        assert_eq!(r, 2);
    }
}
