//! Known answers for `lwflow::diagnostics`: gaussian_linear's exact posterior N(x/2, 0.05 I)
//! wrapped as a [`Posterior`] passes every test; scaled (over- and under-confident) or shifted
//! it fails the tests that should see it, and the coverage curve bends the right way. The
//! posterior predictive check's quantiles follow their closed form for the exact q and go to
//! one side, then to the extremes, for a biased one.

use lwflow::diagnostics::{
    check, posterior_predictive, prior_predictive_pairs, CheckConfig, CheckReport, Posterior, PpcConfig, PpcReport,
};
use lwflow::rand_distr::{Distribution, StandardNormal};
use lwflow::rng::{stream, Stream};
use lwflow::special::log_normal;
use lwflow::tasks::gaussian_linear::{GaussianLinear, DIM, NOISE_VARIANCE, PRIOR_VARIANCE};
use lwflow::{Mat, MatRef, Model};

/// Pairs per check: the CLI's default.
const N_PAIRS: usize = 1000;
/// Level of every test.
const ALPHA: f64 = 0.01;

/// N(x/2 + shift·σ, (scale·σ)² I) with σ² = 0.05 the exact posterior variance.
struct Distorted {
    scale: f64,
    shift: f64,
}

impl Distorted {
    fn exact() -> Self {
        Self { scale: 1.0, shift: 0.0 }
    }

    fn sd0() -> f64 {
        (PRIOR_VARIANCE * NOISE_VARIANCE / (PRIOR_VARIANCE + NOISE_VARIANCE)).sqrt()
    }

    fn mean(&self, xk: f64) -> f64 {
        PRIOR_VARIANCE / (PRIOR_VARIANCE + NOISE_VARIANCE) * xk + self.shift * Self::sd0()
    }
}

impl Posterior for Distorted {
    fn theta_dim(&self) -> usize {
        DIM
    }

    fn x_dim(&self) -> usize {
        DIM
    }

    fn sample(&self, x: &[f64], n: usize, seed: u64) -> lwflow::Result<Mat<f64>> {
        let mut rng = stream(seed, Stream::Sample, 0, 0);
        let sd = self.scale * Self::sd0();
        Ok(Mat::from_fn(n, DIM, |_, k| {
            let z: f64 = StandardNormal.sample(&mut rng);
            self.mean(x[k]) + sd * z
        }))
    }

    fn log_prob(&self, theta: MatRef<f64>, x: &[f64]) -> lwflow::Result<Vec<f64>> {
        let sd = self.scale * Self::sd0();
        Ok((0..theta.rows())
            .map(|r| theta.row(r).iter().zip(x).map(|(&t, &xk)| log_normal(t, self.mean(xk), sd)).sum())
            .collect())
    }
}

fn run(q: &Distorted, seed: u64) -> CheckReport {
    let model = GaussianLinear::new();
    let (theta, x) = prior_predictive_pairs(&model, N_PAIRS, seed).unwrap();
    let cfg = CheckConfig { seed, alpha: ALPHA, ..CheckConfig::default() };
    let model: &dyn Model = &model;
    check(q, model, theta.as_ref(), x.as_ref(), &cfg, &mut |_, _, _| {}).unwrap()
}

fn passed(r: &CheckReport, name: &str) -> bool {
    r.summary.test(name).unwrap_or_else(|| panic!("test {name} missing")).passed
}

fn verdicts(r: &CheckReport) -> String {
    let parts: Vec<String> = r
        .summary
        .tests
        .iter()
        .map(|t| {
            format!("{} {:.3e} {}", t.name, t.p_value.unwrap_or(t.statistic), if t.passed { "pass" } else { "FAIL" })
        })
        .collect();
    format!(
        "{} (coverage deviation {:+.3}, ESS median {:.3})",
        parts.join(", "),
        r.coverage.mean_deviation,
        r.ess.as_ref().map_or(f64::NAN, |e| e.quantiles.median)
    )
}

#[test]
fn the_exact_posterior_passes_every_test_on_several_seeds() {
    for seed in 1..=3 {
        let r = run(&Distorted::exact(), seed);
        eprintln!("exact, seed {seed}: {}", verdicts(&r));
        assert!(r.summary.calibrated, "seed {seed}: {}", verdicts(&r));
        assert_eq!(r.sbc.dimensions.len(), DIM + 1);
        // The coverage curve hugs the diagonal; the ESS of the exact q is about 1 − prior share.
        assert!(r.coverage.mean_deviation.abs() < 0.03, "seed {seed}: {}", verdicts(&r));
        let ess = r.ess.as_ref().unwrap();
        assert!(ess.quantiles.q05 > 0.5 && ess.flagged.is_empty(), "seed {seed}: {:?}", ess.quantiles);
    }
}

#[test]
fn an_over_confident_posterior_fails_and_its_coverage_falls_below_the_diagonal() {
    for seed in 1..=2 {
        let r = run(&Distorted { scale: 0.7, shift: 0.0 }, seed);
        let v = verdicts(&r);
        eprintln!("seed {seed}: {v}");
        assert!(!r.summary.calibrated, "seed {seed}: {v}");
        assert!(!passed(&r, "sbc") && !passed(&r, "coverage") && !passed(&r, "importance_ess"), "seed {seed}: {v}");
        assert!(r.coverage.mean_deviation < -0.05, "seed {seed}: {v}");
        // Ranks pile at both ends: the ECDF is above z at the first level (too many low ranks)
        // and below it at the last (too many high ones).
        let theta1 = &r.sbc.dimensions[0].test;
        assert!(
            theta1.ecdf[0] > theta1.z[0] && theta1.ecdf[theta1.z.len() - 1] < theta1.z[theta1.z.len() - 1],
            "seed {seed}"
        );
    }
}

#[test]
fn an_under_confident_posterior_fails_and_its_coverage_rises_above_the_diagonal() {
    for seed in 1..=2 {
        let r = run(&Distorted { scale: 1.4, shift: 0.0 }, seed);
        let v = verdicts(&r);
        eprintln!("seed {seed}: {v}");
        assert!(!r.summary.calibrated, "seed {seed}: {v}");
        assert!(!passed(&r, "sbc") && !passed(&r, "coverage"), "seed {seed}: {v}");
        assert!(r.coverage.mean_deviation > 0.05, "seed {seed}: {v}");
    }
}

#[test]
fn a_shifted_posterior_fails_sbc_with_ranks_on_one_side() {
    for seed in 1..=2 {
        let r = run(&Distorted { scale: 1.0, shift: 0.5 }, seed);
        let v = verdicts(&r);
        eprintln!("seed {seed}: {v}");
        assert!(!r.summary.calibrated, "seed {seed}: {v}");
        assert!(!passed(&r, "sbc") && !passed(&r, "tarp"), "seed {seed}: {v}");
        // q sits above θ* by 0.5 σ: θ* ranks low in every dimension.
        for dim in &r.sbc.dimensions[..DIM] {
            assert!(dim.mean_rank_offset < -0.1, "{}: {}", dim.name, dim.mean_rank_offset);
        }
        // The coverage of regions centred off θ* falls short.
        assert!(r.coverage.mean_deviation < -0.02, "seed {seed}: {v}");
    }
}

/// Observations and predictive draws of the posterior predictive tests.
const N_PPC_OBS: usize = 200;
const N_PPC_DRAWS: usize = 500;
/// Largest Kolmogorov distance of the exact q's quantiles from their law: the 1 % critical
/// value of 2000 values (1.63/√2000 = 0.036) plus the steps of L = 500 draws.
const KS_EXACT: f64 = 0.05;

fn ppc_of(q: &Distorted, seed: u64) -> PpcReport {
    let model = GaussianLinear::new();
    let (_, x) = prior_predictive_pairs(&model, N_PPC_OBS, seed).unwrap();
    let cfg = PpcConfig { n_draws: N_PPC_DRAWS, alpha: ALPHA, seed, ..PpcConfig::default() };
    posterior_predictive(q, &model, x.as_ref(), 0, &cfg, &mut |_, _| {}).unwrap()
}

/// Kolmogorov distance of `u` from the law of the exact q's quantiles, Φ(Z/√3) (ppc.rs):
/// P(u ≤ t) = Φ(√3 Φ⁻¹(t)).
fn ks_from_exact_law(u: &[f64]) -> f64 {
    use statrs::function::erf::{erfc, erfc_inv};
    let cdf = |t: f64| {
        if t <= 0.0 {
            0.0
        } else if t >= 1.0 {
            1.0
        } else {
            let z = -std::f64::consts::SQRT_2 * erfc_inv(2.0 * t);
            0.5 * erfc(-(3f64.sqrt() * z) / std::f64::consts::SQRT_2)
        }
    };
    let mut v = u.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    v.iter()
        .enumerate()
        .map(|(i, &t)| (cdf(t) - i as f64 / n).abs().max((cdf(t) - (i + 1) as f64 / n).abs()))
        .fold(0.0, f64::max)
}

#[test]
fn the_exact_posterior_predicts_its_observations_as_the_closed_form_says() {
    for seed in 1..=2 {
        let r = ppc_of(&Distorted::exact(), seed);
        let u = r.all_quantiles();
        let ks = ks_from_exact_law(&u);
        eprintln!("exact, seed {seed}: KS {ks:.4}, flagged {}", r.flagged.len());
        assert_eq!(u.len(), N_PPC_OBS * DIM);
        assert!(ks < KS_EXACT, "seed {seed}: KS {ks}");
        assert!(r.passed && r.flagged.is_empty(), "seed {seed}: {:?}", r.flagged);
        // Posterior predictive quantiles concentrate near ½: P(u < 0.002) = Φ(√3 Φ⁻¹(0.002))
        // ≈ 3·10⁻⁷ per value, where a uniform u would put 4 of the 2000 values there.
        assert!(u.iter().all(|&q| (0.002..=0.998).contains(&q)), "seed {seed}");
    }
}

#[test]
fn a_biased_posterior_predicts_on_one_side_and_a_strongly_biased_one_is_flagged() {
    for seed in 1..=2 {
        // q above the posterior by 0.5 σ: x_o sits low among the predictive draws.
        let r = ppc_of(&Distorted { scale: 1.0, shift: 0.5 }, seed);
        let u = r.all_quantiles();
        let (ks, mean) = (ks_from_exact_law(&u), u.iter().sum::<f64>() / u.len() as f64);
        eprintln!("shift 0.5, seed {seed}: KS {ks:.4}, mean quantile {mean:.3}, flagged {}", r.flagged.len());
        assert!(ks > 2.0 * KS_EXACT && mean < 0.45, "seed {seed}: KS {ks}, mean {mean}");
        // 5 σ: the observed x falls below the central 1 − α/10 predictive interval in most
        // observations (per dimension P(Z/√3 < 2.89 − 3.29) ≈ 0.25).
        let r = ppc_of(&Distorted { scale: 1.0, shift: 5.0 }, seed);
        eprintln!("shift 5, seed {seed}: flagged share {:.3}", r.flagged_share);
        assert!(!r.passed && r.flagged_share > 0.6, "seed {seed}: {}", r.flagged_share);
        let low = r.observations.iter().flat_map(|o| o.outside.iter().map(|&k| o.quantile[k])).all(|q| q < 0.5);
        assert!(low, "seed {seed}: every outside dimension is on the low side");
    }
}
