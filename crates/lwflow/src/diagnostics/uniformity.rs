//! A test of discrete uniformity with a simultaneous ECDF band (Säilynoja, Bürkner & Vehtari
//! 2022, "Graphical test for discrete uniformity", Stat. Comput. 32:32, arXiv:2103.10522),
//! calibrated by simulation. Every rank-based diagnostic (SBC, coverage, TARP) ends here.
//!
//! Ranks r_1 … r_N are each uniform on {0, …, L} under the null (L posterior draws per pair).
//! At an evaluation point k (1 ≤ k ≤ L, level z_k = k/(L + 1)) the count c_k = #{i : r_i < k}
//! is Binomial(N, z_k), and the ECDF there is c_k/N. Each point's two-sided tail probability is
//!
//!   p_k = min(1, 2 · min(P(X ≤ c_k), P(X ≥ c_k))),  X ~ Binomial(N, z_k),
//!
//! and the statistic is S = min_k p_k: small when the ECDF strays from z anywhere. Its null
//! distribution is simulated once (M sets of N uniform ranks). Then
//! - p-value = (1 + #{S_sim ≤ S})/(M + 1) (Phipson & Smyth 2010); when no simulated S is as
//!   small, the Bonferroni bound |K|·S (P(S ≤ s) ≤ |K|·s) if it is smaller, so a grossly wrong
//!   posterior gets a p-value far below 1/(M + 1) — needed once several dimensions are corrected;
//! - the simultaneous 1 − α band: γ = the α-quantile of the simulated S; at each point the
//!   counts whose p_k ≥ γ. The ECDF leaves the band somewhere exactly when S < γ.

use rand::Rng as _;
use rayon::prelude::*;
use statrs::function::gamma::ln_gamma;

use crate::error::{Error, Result};
use crate::rng::{stream, Stream};

/// Null replicates per rayon chunk: fixed, so the simulated distribution does not depend on the
/// thread count.
const SIMS_PER_CHUNK: usize = 256;

/// The test for N ranks on {0, …, L} at a fixed set of evaluation points (module docs).
#[derive(Clone, Debug)]
pub struct UniformityTest {
    n_obs: usize,
    n_draws: usize,
    points: Vec<usize>,
    /// p_k(c) for each point (outer) and count c = 0..=N (inner).
    tail: Vec<f64>,
    /// Simulated null statistics, ascending.
    null: Vec<f64>,
}

/// One rank sample judged by a [`UniformityTest`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct UniformityResult {
    /// S = min over points of the two-sided binomial tail probability.
    pub statistic: f64,
    /// Simulation-calibrated p-value of S (module docs).
    pub p_value: f64,
    /// The evaluation levels z_k = k/(L + 1).
    pub z: Vec<f64>,
    /// ECDF of the ranks at each level: #{r_i < k}/N.
    pub ecdf: Vec<f64>,
    /// Lower edge of the simultaneous band at each level (an ECDF value).
    pub band_low: Vec<f64>,
    /// Upper edge of the simultaneous band at each level.
    pub band_high: Vec<f64>,
}

impl UniformityTest {
    /// The test for `n_obs` ranks from `n_draws` draws each, evaluated at `points` (each in
    /// 1..=`n_draws`), its null simulated `n_sims` times from `seed`.
    pub fn new(n_obs: usize, n_draws: usize, points: Vec<usize>, n_sims: usize, seed: u64) -> Result<Self> {
        if n_obs == 0 || n_draws == 0 || n_sims == 0 {
            return Err(Error::invalid(
                "uniformity test",
                format!("needs at least one rank, draw and simulation; got {n_obs}, {n_draws} and {n_sims}"),
            ));
        }
        if let Some(&k) = points.iter().find(|&&k| k == 0 || k > n_draws) {
            return Err(Error::invalid("uniformity test point", format!("{k}: expected 1..={n_draws}")));
        }
        let n_ranks = (n_draws + 1) as f64;
        let mut tail = Vec::with_capacity(points.len() * (n_obs + 1));
        for &k in &points {
            tail.extend(two_sided_tails(n_obs, k as f64 / n_ranks));
        }
        let mut test = Self { n_obs, n_draws, points, tail, null: Vec::new() };
        let mut null: Vec<f64> = (0..n_sims.div_ceil(SIMS_PER_CHUNK))
            .into_par_iter()
            .flat_map_iter(|c| {
                let mut rng = stream(seed, Stream::Metric, super::STEP_NULL, c as u64);
                let sims = SIMS_PER_CHUNK.min(n_sims - c * SIMS_PER_CHUNK);
                let mut hist = vec![0usize; n_draws + 1];
                let mut out = Vec::with_capacity(sims);
                for _ in 0..sims {
                    hist.fill(0);
                    for _ in 0..n_obs {
                        hist[rng.gen_range(0..=n_draws)] += 1;
                    }
                    out.push(test.statistic_of_histogram(&hist));
                }
                out
            })
            .collect();
        null.sort_by(f64::total_cmp);
        test.null = null;
        Ok(test)
    }

    /// The evaluation points k.
    pub fn points(&self) -> &[usize] {
        &self.points
    }

    /// Judges `ranks` (N values in 0..=L) and draws the band at level `alpha`.
    pub fn judge(&self, ranks: &[usize], alpha: f64) -> UniformityResult {
        assert_eq!(ranks.len(), self.n_obs, "uniformity test: number of ranks");
        let mut hist = vec![0usize; self.n_draws + 1];
        for &r in ranks {
            hist[r.min(self.n_draws)] += 1;
        }
        let statistic = self.statistic_of_histogram(&hist);
        let n = self.n_obs as f64;
        let counts = self.counts(&hist);
        let gamma = self.gamma(alpha);
        let (mut band_low, mut band_high) = (Vec::new(), Vec::new());
        for j in 0..self.points.len() {
            let row = &self.tail[j * (self.n_obs + 1)..(j + 1) * (self.n_obs + 1)];
            // The tails are unimodal in c: the band is one interval around the mode.
            let low = row.iter().position(|&p| p >= gamma).unwrap_or(0);
            let high = row.iter().rposition(|&p| p >= gamma).unwrap_or(self.n_obs);
            band_low.push(low as f64 / n);
            band_high.push(high as f64 / n);
        }
        UniformityResult {
            statistic,
            p_value: self.p_value(statistic),
            z: self.points.iter().map(|&k| k as f64 / (self.n_draws + 1) as f64).collect(),
            ecdf: counts.iter().map(|&c| c as f64 / n).collect(),
            band_low,
            band_high,
        }
    }

    /// (1 + #{S_sim ≤ s})/(M + 1), or the Bonferroni bound when smaller and no S_sim is ≤ s.
    fn p_value(&self, s: f64) -> f64 {
        let below = self.null.partition_point(|&v| v <= s);
        let m = self.null.len() as f64;
        let p = (1 + below) as f64 / (m + 1.0);
        if below == 0 {
            p.min(self.points.len() as f64 * s)
        } else {
            p
        }
    }

    /// γ: the α-quantile of the simulated statistics (at least one replicate below it is allowed
    /// only when α·M ≥ 1).
    fn gamma(&self, alpha: f64) -> f64 {
        let j = ((alpha * self.null.len() as f64).floor() as usize).min(self.null.len() - 1);
        self.null[j]
    }

    /// c_k = #{r < k} at each point, from the rank histogram.
    fn counts(&self, hist: &[usize]) -> Vec<usize> {
        let mut below = vec![0usize; hist.len() + 1];
        for (r, &h) in hist.iter().enumerate() {
            below[r + 1] = below[r] + h;
        }
        self.points.iter().map(|&k| below[k]).collect()
    }

    fn statistic_of_histogram(&self, hist: &[usize]) -> f64 {
        let mut below = 0;
        let mut next = 0;
        let mut s = 1.0f64;
        // Points ascend in the common case; fall back to counting for any order.
        if self.points.windows(2).all(|w| w[0] < w[1]) {
            for (j, &k) in self.points.iter().enumerate() {
                while next < k {
                    below += hist[next];
                    next += 1;
                }
                s = s.min(self.tail[j * (self.n_obs + 1) + below]);
            }
            s
        } else {
            for (j, c) in self.counts(hist).into_iter().enumerate() {
                s = s.min(self.tail[j * (self.n_obs + 1) + c]);
            }
            s
        }
    }
}

/// min(1, 2 · min(P(X ≤ c), P(X ≥ c))) for X ~ Binomial(n, z), c = 0..=n. Each tail is summed
/// from its own end, so neither is a difference of numbers near 1.
fn two_sided_tails(n: usize, z: f64) -> Vec<f64> {
    let (ln_z, ln_1z) = (z.ln(), (-z).ln_1p());
    let ln_n = ln_gamma(n as f64 + 1.0);
    let pmf: Vec<f64> = (0..=n)
        .map(|c| {
            let c_f = c as f64;
            (ln_n - ln_gamma(c_f + 1.0) - ln_gamma((n - c) as f64 + 1.0) + c_f * ln_z + (n - c) as f64 * ln_1z).exp()
        })
        .collect();
    let mut lower = vec![0.0; n + 1];
    let mut acc = 0.0;
    for c in 0..=n {
        acc += pmf[c];
        lower[c] = acc;
    }
    let mut out = vec![0.0; n + 1];
    let mut upper = 0.0;
    for c in (0..=n).rev() {
        upper += pmf[c];
        out[c] = (2.0 * lower[c].min(upper)).min(1.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tails_match_a_direct_sum() {
        // n = 4, z = 0.25: P(X ≤ 0) = 0.75⁴, P(X ≥ 4) = 0.25⁴.
        let t = two_sided_tails(4, 0.25);
        assert!((t[0] - 2.0 * 0.75f64.powi(4)).abs() < 1e-12, "{t:?}");
        assert!((t[4] - 2.0 * 0.25f64.powi(4)).abs() < 1e-15, "{t:?}");
        assert_eq!(t[1], 1.0);
    }

    /// Under the null, P(p ≤ α) ≈ α; a tilted rank distribution is rejected.
    #[test]
    fn p_values_are_uniform_under_the_null_and_small_for_tilted_ranks() {
        let (n_obs, n_draws) = (200, 19);
        let test = UniformityTest::new(n_obs, n_draws, (1..=n_draws).collect(), 2000, 1).unwrap();
        let mut rng = stream(9, Stream::Metric, 0, 0);
        let reps = 400;
        let mut rejected = 0;
        for _ in 0..reps {
            let ranks: Vec<usize> = (0..n_obs).map(|_| rng.gen_range(0..=n_draws)).collect();
            if test.judge(&ranks, 0.1).p_value <= 0.1 {
                rejected += 1;
            }
        }
        // Binomial(400, 0.1): sd 6; allow 4 sd.
        assert!((rejected as f64 - 40.0).abs() < 24.0, "{rejected} of {reps} rejected at α = 0.1");
        // Ranks piled at the ends (an over-confident posterior): far outside the band.
        let tilted: Vec<usize> = (0..n_obs).map(|i| if i % 3 == 0 { n_draws / 2 } else { (i % 2) * n_draws }).collect();
        let r = test.judge(&tilted, 0.01);
        assert!(r.p_value < 1e-6, "p = {}", r.p_value);
        assert!(r.ecdf.iter().zip(&r.band_low).zip(&r.band_high).any(|((e, l), h)| e < l || e > h));
    }
}
