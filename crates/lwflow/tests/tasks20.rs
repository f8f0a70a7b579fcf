//! The sbibm tasks of issue 20 with tractable likelihoods: slcp_distractors, bernoulli_glm_raw,
//! sir, lotka_volterra. Layouts and priors against sbibm's facts, likelihoods against their
//! simulators and closed forms, and the SMC reference against importance sampling.

use lwflow::mat::Mat;
use lwflow::model::{Marginal, Model};
use lwflow::reference::{smc_reference, Reference, SmcConfig};
use lwflow::rng::{stream, Stream};
use lwflow::tasks::{self, BernoulliGlm, BernoulliGlmRaw, LotkaVolterra, Sir, Slcp, SlcpDistractors};

/// Allowed deviation of a Monte Carlo estimate, in standard errors.
const N_STD_ERRS: f64 = 4.0;

fn log_lik_at(model: &dyn Model, x: &[f64], theta: &[f64]) -> f64 {
    let mut out = [0.0];
    model.log_likelihood_at(x, Mat::from_vec(1, theta.len(), theta.to_vec()).as_ref(), &mut out).expect("shapes");
    out[0]
}

fn simulate(model: &dyn Model, theta: &[f64], n: usize, seed: u64) -> Mat<f64> {
    let th = Mat::from_fn(n, theta.len(), |_, c| theta[c]);
    let mut x = Mat::zeros(n, model.x_dim());
    model.simulate(th.as_ref(), &mut stream(seed, Stream::Simulate, 0, 0), x.as_mut()).expect("simulates");
    x
}

#[test]
fn dimensions_priors_and_published_numbers_are_sbibm_s() {
    let cases: [(&str, usize, usize, f64, f64); 4] = [
        ("slcp_distractors", 5, 100, 0.863, 0.766),
        ("bernoulli_glm_raw", 10, 100, 0.607, 0.552),
        ("sir", 2, 10, 0.585, 0.547),
        ("lotka_volterra", 4, 20, 0.981, 0.695),
    ];
    for (name, theta_dim, x_dim, npe, best) in cases {
        let entry = tasks::entry(name).expect("listed");
        let model = entry.model().expect("builds");
        assert_eq!((model.theta_dim(), model.x_dim()), (theta_dim, x_dim), "{name}");
        let published = entry.sbibm.expect("sbibm task");
        assert_eq!(published.npe_at(100_000), Some(npe), "{name}");
        assert_eq!(published.best_at(100_000).map(|b| b.0), Some(best), "{name}");
    }
    assert_eq!(SlcpDistractors::new().prior(), Slcp::new().prior());
    assert_eq!(BernoulliGlmRaw::new().prior(), BernoulliGlm::new().prior());
    let log_normal = |m: &Marginal| match *m {
        Marginal::LogNormal { log_mean, log_std } => (log_mean, log_std),
        other => panic!("expected a log-normal marginal, got {other:?}"),
    };
    let sir: Vec<_> = Sir::new().prior().marginals().iter().map(log_normal).collect();
    assert_eq!(sir, [(0.4f64.ln(), 0.5), (0.125f64.ln(), 0.2)]);
    let lv: Vec<_> = LotkaVolterra::new().prior().marginals().iter().map(log_normal).collect();
    assert_eq!(lv, [(-0.125, 0.5), (-3.0, 0.5), (-0.125, 0.5), (-3.0, 0.5)]);
}

#[test]
fn log_normal_prior_draws_have_the_log_normal_moments() {
    let prior = Sir::new().prior().clone();
    let n = 100_000;
    let mut theta = Mat::zeros(n, 2);
    prior.sample(&mut stream(3, Stream::Theta, 0, 0), theta.as_mut());
    for (k, m) in prior.marginals().iter().enumerate() {
        let (mean, sd) = m.moments();
        let logs: Vec<f64> = (0..n).map(|r| theta.row(r)[k].ln()).collect();
        let log_mean = logs.iter().sum::<f64>() / n as f64;
        let Marginal::LogNormal { log_mean: mu, log_std: sigma } = *m else { panic!("log-normal") };
        assert!((log_mean - mu).abs() < N_STD_ERRS * sigma / (n as f64).sqrt(), "dim {k}: {log_mean} vs {mu}");
        let emp = (0..n).map(|r| theta.row(r)[k]).sum::<f64>() / n as f64;
        assert!((emp - mean).abs() < N_STD_ERRS * sd / (n as f64).sqrt(), "dim {k}: mean {emp} vs {mean}");
    }
    // The density integrates to one: trapezoid on log θ.
    let m = prior.marginals()[0];
    let (lo, hi, n_grid) = (-8.0f64, 6.0f64, 20_000);
    let h = (hi - lo) / n_grid as f64;
    let total: f64 = (0..=n_grid)
        .map(|i| {
            let t = (lo + i as f64 * h).exp();
            let w = if i == 0 || i == n_grid { 0.5 } else { 1.0 };
            w * m.log_density(t).exp() * t * h
        })
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    assert_eq!(m.log_density(0.0), f64::NEG_INFINITY);
}

/// sbibm `slcp/files/num_observation_1/observation.csv`: the slcp points of observation 1, which
/// `observation_distractors.csv` holds at entries 23, 34, 24, 68, 43, 22, 17, 91 (1-based).
const SLCP_OBS1: [f64; 8] = [2.3718784, 0.49947417, 9.931435, 1.7136912, -10.436423, -1.9067793, -1.2343777, -0.09735];

#[test]
fn slcp_distractors_permutation_is_sbibm_s() {
    let task = SlcpDistractors::new();
    assert_eq!(task.informative_positions(), [22, 33, 23, 67, 42, 21, 16, 90]);
    // sbibm's permutation_idx.torch begins 87, 47, 39, 9, 25 and is a permutation of 0..100.
    assert_eq!(task.permutation()[..5], [87, 47, 39, 9, 25]);
    let mut sorted = task.permutation().to_vec();
    sorted.sort_unstable();
    assert!(sorted.iter().enumerate().all(|(i, &k)| i == k));
}

#[test]
fn slcp_distractors_likelihood_is_slcp_s_at_the_points_times_a_theta_free_density() {
    let task = SlcpDistractors::new();
    let mut x = vec![0.0; 100];
    for (k, &p) in task.informative_positions().iter().enumerate() {
        x[p] = SLCP_OBS1[k];
    }
    for (i, v) in x.iter_mut().enumerate() {
        if !task.informative_positions().contains(&i) {
            *v = (i as f64 - 50.0) * 0.7;
        }
    }
    assert_eq!(task.points(&x), SLCP_OBS1);
    let log_p_d = task.distractor_log_density(&x);
    assert!(log_p_d.is_finite());
    for theta in [[0.5, -1.0, 1.2, -0.8, 0.3], [2.0, 0.1, -0.4, 1.9, -2.5]] {
        let want = log_lik_at(&Slcp::new(), &SLCP_OBS1, &theta) + log_p_d;
        let got = log_lik_at(&task, &x, &theta);
        assert!((got - want).abs() < 1e-9 * want.abs(), "{got} vs {want}");
        // The pairwise path (with its memo of the last x) agrees.
        let xs = Mat::from_fn(3, 100, |_, c| x[c]);
        let th = Mat::from_fn(3, 5, |_, c| theta[c]);
        let mut out = [0.0; 3];
        task.log_likelihood(xs.as_ref(), th.as_ref(), &mut out).expect("shapes");
        assert!(out.iter().all(|&o| o == got));
    }
}

#[test]
fn slcp_distractors_simulator_puts_slcp_points_at_the_informative_entries() {
    let task = SlcpDistractors::new();
    let theta = [1.0, -2.0, 1.1, 0.9, -0.7];
    let n = 20_000;
    let x = simulate(&task, &theta, n, 5);
    // The first point's mean is (θ₁, θ₂) with sds θ₃², θ₄² (slcp).
    let pos = task.informative_positions();
    for (k, (mean, sd)) in [(1.0, 1.1f64.powi(2)), (-2.0, 0.9f64.powi(2))].into_iter().enumerate() {
        let emp = (0..n).map(|r| x.row(r)[pos[k]]).sum::<f64>() / n as f64;
        assert!((emp - mean).abs() < N_STD_ERRS * sd / (n as f64).sqrt(), "point 1 coordinate {k}: {emp}");
    }
    // Distractors: heavy-tailed, wide, never the informative ones; the density is finite at
    // every draw and higher at draws than at draws shifted far away.
    let mut ll = vec![0.0; n];
    let th = Mat::from_fn(n, 5, |_, c| theta[c]);
    task.log_likelihood(x.as_ref(), th.as_ref(), &mut ll).expect("shapes");
    assert!(ll.iter().all(|l| l.is_finite()));
    let (mut at_draws, mut shifted) = (0.0, 0.0);
    for r in 0..200 {
        let mut row = x.row(r).to_vec();
        at_draws += task.distractor_log_density(&row);
        for (i, v) in row.iter_mut().enumerate() {
            if !pos.contains(&i) {
                *v += 200.0;
            }
        }
        shifted += task.distractor_log_density(&row);
    }
    assert!(at_draws > shifted + 200.0 * 50.0, "{at_draws} vs {shifted}");
}

#[test]
fn bernoulli_glm_raw_likelihood_is_the_spike_train_probability() {
    let raw = BernoulliGlmRaw::new();
    let glm = BernoulliGlm::new();
    let theta: Vec<f64> = (0..10).map(|k| 0.4 - 0.09 * k as f64).collect();
    let y = simulate(&raw, &theta, 1, 11);
    let y = y.row(0);
    assert!(y.iter().all(|&v| v == 0.0 || v == 1.0));
    let mut want = 0.0;
    for (row, &yt) in glm.design().chunks_exact(10).zip(y) {
        let psi: f64 = row.iter().zip(&theta).map(|(a, t)| a * t).sum();
        let p = 1.0 / (1.0 + (-psi).exp());
        want += if yt == 1.0 { p.ln() } else { (1.0 - p).ln() };
    }
    let got = log_lik_at(&raw, y, &theta);
    assert!((got - want).abs() < 1e-10, "{got} vs {want}");
    assert!((got - log_lik_at(&glm, &raw.statistics(y), &theta)).abs() < 1e-10);
    // Bin 0's mass sums to one: L(y) + L(y with bin 0 flipped) = L of the other bins.
    let psi0: f64 = glm.design()[..10].iter().zip(&theta).map(|(a, t)| a * t).sum();
    let p0 = 1.0 / (1.0 + (-psi0).exp());
    let others = got - if y[0] == 1.0 { p0.ln() } else { (1.0 - p0).ln() };
    let mut flipped = y.to_vec();
    flipped[0] = 1.0 - flipped[0];
    let total = got.exp() + log_lik_at(&raw, &flipped, &theta).exp();
    assert!((total / others.exp() - 1.0).abs() < 1e-9, "{}", total / others.exp());
}

#[test]
fn bernoulli_glm_raw_spikes_have_rate_sigma_of_psi() {
    let raw = BernoulliGlmRaw::new();
    let glm = BernoulliGlm::new();
    let theta = [0.5, -0.8, 0.6, 0.3, -0.2, 0.1, 0.0, -0.1, 0.2, 0.05];
    let n = 20_000;
    let y = simulate(&raw, &theta, n, 12);
    for (t, row) in glm.design().chunks_exact(10).enumerate().step_by(9) {
        let psi: f64 = row.iter().zip(&theta).map(|(a, t)| a * t).sum();
        let p = 1.0 / (1.0 + (-psi).exp());
        let rate = (0..n).map(|r| y.row(r)[t]).sum::<f64>() / n as f64;
        assert!((rate - p).abs() < N_STD_ERRS * (p * (1.0 - p) / n as f64).sqrt(), "bin {t}: {rate} vs {p}");
    }
}

#[test]
fn lotka_volterra_solution_conserves_its_first_integral() {
    // V = δu₁ − γ log u₁ + βu₂ − α log u₂ is constant along every solution.
    for theta in [[0.9, 0.05, 0.8, 0.04], [1.3, 0.03, 0.5, 0.08], [0.6, 0.1, 1.4, 0.02]] {
        let m = LotkaVolterra::log_means(&theta).expect("solves");
        let terms = |k: usize| {
            let (l1, l2) = (m[k], m[10 + k]);
            [theta[3] * l1.exp(), -theta[2] * l1, theta[1] * l2.exp(), -theta[0] * l2]
        };
        assert!((m[0] - 30f64.ln()).abs() < 1e-15 && m[10].abs() < 1e-15);
        let v0: f64 = terms(0).iter().sum();
        for k in 1..10 {
            // The solver's global error is ~10 × its tolerance 10⁻⁶ on log u: relative to the
            // size of V's terms, a drift above 10⁻⁴ is a wrong solution, not round-off.
            let (t, v) = (terms(k), terms(k).iter().sum::<f64>());
            let size: f64 = t.iter().map(|v| v.abs()).sum();
            assert!((v - v0).abs() < 1e-4 * size, "θ {theta:?} t_{k}: {v} vs {v0}");
        }
    }
}

#[test]
fn lotka_volterra_noise_is_log_normal_with_sd_0_1_around_the_solution() {
    let task = LotkaVolterra::new();
    let theta = [0.9, 0.05, 0.8, 0.04];
    let m = LotkaVolterra::log_means(&theta).expect("solves");
    let n = 20_000;
    let x = simulate(&task, &theta, n, 13);
    for j in [0, 5, 13, 19] {
        let r: Vec<f64> = (0..n).map(|row| x.row(row)[j].ln() - m[j]).collect();
        let mean = r.iter().sum::<f64>() / n as f64;
        let var = r.iter().map(|v| v * v).sum::<f64>() / n as f64;
        assert!(mean.abs() < N_STD_ERRS * 0.1 / (n as f64).sqrt(), "entry {j}: mean {mean}");
        assert!((var - 0.01).abs() < N_STD_ERRS * 0.01 * (2.0 / n as f64).sqrt(), "entry {j}: var {var}");
    }
    // log L at x = exp(m) is the density's maximum Σ_j (−m_j − log σ − ½ log 2π).
    let x_mode: Vec<f64> = m.iter().map(|v| v.exp()).collect();
    let want: f64 = m.iter().map(|v| -v - 0.1f64.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()).sum();
    assert!((log_lik_at(&task, &x_mode, &theta) - want).abs() < 1e-9);
    let msg = task.log_likelihood_at(&[0.0; 20], Mat::from_vec(1, 4, theta.to_vec()).as_ref(), &mut [0.0]);
    assert!(msg.unwrap_err().to_string().contains("lotka_volterra x[0]"));
}

#[test]
fn sir_below_threshold_decays_at_rate_beta_minus_gamma() {
    // R₀ = β/γ < 1 and I/N ≈ 10⁻⁶: s stays 1 − O(10⁻⁵), so log i(t) = log i₀ + (β − γ) t.
    let (beta, gamma) = (0.1, 0.2);
    let p = Sir::infected_fractions(&[beta, gamma]).expect("solves");
    for (k, pk) in p.iter().enumerate() {
        let want = -(1e6f64).ln() + (beta - gamma) * 17.0 * k as f64;
        assert!((pk.ln() - want).abs() < 1e-4, "t_{k}: {} vs {want}", pk.ln());
    }
}

#[test]
fn sir_counts_are_binomial_and_each_count_s_mass_sums_to_one() {
    let task = Sir::new();
    let theta = [0.6, 0.15];
    let p = Sir::infected_fractions(&theta).expect("solves");
    let n = 20_000;
    let x = simulate(&task, &theta, n, 14);
    for (k, pk) in p.iter().enumerate() {
        let mean = (0..n).map(|r| x.row(r)[k]).sum::<f64>() / n as f64;
        let se = (1000.0 * pk * (1.0 - pk) / n as f64).sqrt().max(1e-3);
        assert!((mean - 1000.0 * pk).abs() < N_STD_ERRS * se, "t_{k}: {mean} vs {}", 1000.0 * pk);
    }
    // Σ_c L(x with x₃ = c) over c = 0..1000 = L of the other counts.
    let mut obs = x.row(0).to_vec();
    let base = log_lik_at(&task, &obs, &theta);
    let own = |c: f64| {
        let (n, pk) = (1000.0f64, p[3]);
        let ln_choose = statrs::function::gamma::ln_gamma(n + 1.0)
            - statrs::function::gamma::ln_gamma(c + 1.0)
            - statrs::function::gamma::ln_gamma(n - c + 1.0);
        ln_choose + c * pk.ln() + (n - c) * (1.0 - pk).ln()
    };
    let others = base - own(obs[3]);
    let total: f64 = (0..=1000)
        .map(|c| {
            obs[3] = c as f64;
            (log_lik_at(&task, &obs, &theta) - others).exp()
        })
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    obs[3] = 1001.0;
    let err = task.log_likelihood_at(&obs, Mat::from_vec(1, 2, theta.to_vec()).as_ref(), &mut [0.0]);
    assert!(err.unwrap_err().to_string().contains("sir x[3]"));
}

#[test]
fn likelihood_at_many_theta_equals_the_pairwise_likelihood() {
    // log_likelihood_at goes through the trajectory cache, log_likelihood solves per pair.
    for model in [Box::new(Sir::new()) as Box<dyn Model>, Box::new(LotkaVolterra::new())] {
        let mut theta = Mat::zeros(64, model.theta_dim());
        model.prior().sample(&mut stream(21, Stream::Theta, 0, 0), theta.as_mut());
        let x = simulate(model.as_ref(), theta.row(0), 2, 22);
        for j in 0..2 {
            let mut at = vec![0.0; 64];
            model.log_likelihood_at(x.row(j), theta.as_ref(), &mut at).expect("shapes");
            let xs = Mat::from_fn(64, model.x_dim(), |_, c| x.row(j)[c]);
            let mut pairwise = vec![0.0; 64];
            model.log_likelihood(xs.as_ref(), theta.as_ref(), &mut pairwise).expect("shapes");
            assert_eq!(at, pairwise, "{}", model.name());
        }
    }
}

#[test]
fn every_prior_draw_solves() {
    for model in [Box::new(Sir::new()) as Box<dyn Model>, Box::new(LotkaVolterra::new())] {
        let mut theta = Mat::zeros(2000, model.theta_dim());
        model.prior().sample(&mut stream(31, Stream::Theta, 0, 0), theta.as_mut());
        let mut x = Mat::zeros(2000, model.x_dim());
        model.simulate(theta.as_ref(), &mut stream(31, Stream::Simulate, 0, 0), x.as_mut()).expect("every draw solves");
        assert!(x.as_slice().iter().all(|v| v.is_finite()), "{}", model.name());
    }
}

#[test]
fn smc_reference_matches_importance_sampling_on_sir() {
    // Posterior mean of θ at a simulated observation: SMC against self-normalised importance
    // sampling from the prior (2-D, so 100,000 prior draws have an ESS in the hundreds).
    let task = Sir::new();
    let x = simulate(&task, &[0.5, 0.14], 1, 41);
    let x = x.row(0);
    let n = 100_000;
    let mut theta = Mat::zeros(n, 2);
    task.prior().sample(&mut stream(42, Stream::Theta, 0, 0), theta.as_mut());
    let mut log_w = vec![0.0; n];
    task.log_likelihood_at(x, theta.as_ref(), &mut log_w).expect("shapes");
    let max = log_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_w.iter().map(|l| (l - max).exp()).collect();
    let (sum_w, sum_w2) = (w.iter().sum::<f64>(), w.iter().map(|v| v * v).sum::<f64>());
    let ess = sum_w * sum_w / sum_w2;
    assert!(ess > 100.0, "importance ESS {ess}");
    let cfg = SmcConfig { n_particles: 4000, seed: 3, ..SmcConfig::default() };
    let smc = smc_reference(&task, x, &cfg).expect("runs");
    let particles = smc.particles();
    for k in 0..2 {
        let is_mean = (0..n).map(|r| w[r] * theta.row(r)[k]).sum::<f64>() / sum_w;
        let is_var = (0..n).map(|r| w[r] * (theta.row(r)[k] - is_mean).powi(2)).sum::<f64>() / sum_w;
        let smc_mean = (0..particles.rows()).map(|r| particles.row(r)[k]).sum::<f64>() / particles.rows() as f64;
        let se = (is_var / ess).sqrt() + (is_var / 1000.0).sqrt();
        assert!((smc_mean - is_mean).abs() < N_STD_ERRS * se, "θ_{k}: SMC {smc_mean} vs IS {is_mean} ± {se}");
    }
    assert_eq!(smc.dim(), 2);
}
