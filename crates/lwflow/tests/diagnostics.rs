//! Known answers for `lwflow::diagnostics`: gaussian_linear's exact posterior N(x/2, 0.05 I)
//! wrapped as a [`Posterior`] passes every test; scaled (over- and under-confident) or shifted
//! it fails the tests that should see it, and the coverage curve bends the right way.

use lwflow::diagnostics::{check, prior_predictive_pairs, CheckConfig, CheckReport, Posterior};
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
