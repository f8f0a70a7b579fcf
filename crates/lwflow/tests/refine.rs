//! Refinement for one observation (`lwflow::train::refine`): a briefly trained amortized flow,
//! refined for x_o, gets the closed-form posterior at x_o; the model file records it.
//! θ ~ U(−3,3)², x = θ + N(0, s² I) with s = 0.05, so p(θ|x) = N(x, s² I) for x inside the box.

use std::ops::ControlFlow;

use lwflow::flow::{BaseConfig, Flow, FlowConfig};
use lwflow::io::{load_flow, save_flow};
use lwflow::mat::{Mat, MatRef};
use lwflow::model::Model;
use lwflow::rng::Rng;
use lwflow::testing::Shift;
use lwflow::train::refine::Observed;
use lwflow::train::{fit, refine, RefineConfig, TrainConfig};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

const S: f64 = 0.05;

/// KL(p‖q) at x by Monte Carlo over exact posterior draws θ ~ N(x, S² I).
fn kl(model: &Shift, flow: &Flow<f32>, x: &[f64; 2]) -> f64 {
    let n = 4000;
    let mut rng = Rng::seed_from_u64(9);
    let theta = Mat::from_fn(n, 2, |_, k| {
        let e: f64 = StandardNormal.sample(&mut rng);
        x[k] + S * e
    });
    let log_q = flow.log_prob(theta.as_ref(), MatRef::new(x, 1, 2)).expect("log q");
    (0..n)
        .map(|r| model.log_normal(theta.row(r)[0], x[0]) + model.log_normal(theta.row(r)[1], x[1]) - log_q[r])
        .sum::<f64>()
        / n as f64
}

fn amortized(model: &Shift) -> (Flow<f32>, lwflow::train::FlowMeta) {
    let mut fc = FlowConfig::new(2, 2, BaseConfig::Gaussian);
    fc.hidden = vec![32, 32];
    fc.n_layers = 4;
    // Far too short a run for a posterior this narrow: q(θ|x) is wide and off centre.
    let cfg = TrainConfig { steps: 150, thetas_per_step: 1024, seed: 3, ..TrainConfig::default() };
    fit(model, fc, cfg, &mut |_| {}).expect("trains")
}

#[test]
fn refinement_gets_the_posterior_at_its_observation_and_is_recorded() {
    let model = Shift::new(S);
    let (mut flow, mut meta) = amortized(&model);
    let x = [0.7, -1.2];
    let before = kl(&model, &flow, &x);
    let cfg = RefineConfig { steps: 600, draws: 256, seed: 4, ..RefineConfig::default() };
    let mut steps = 0;
    let refinement = refine(&model, &mut flow, &x, &cfg, &mut |_| {
        steps += 1;
        ControlFlow::Continue(())
    })
    .expect("refines");
    let after = kl(&model, &flow, &x);
    eprintln!("KL(p‖q) at x: amortized {before:.3}, refined {after:.3}; {:?}", refinement.summary.history);
    assert!(before > 0.3, "the amortized flow should be poor here: KL {before}");
    assert!(after < 0.05, "refined: KL {after}");
    assert_eq!((steps, refinement.summary.steps_run), (600, 600));
    // Each step weighs its 256 draws against x alone (plus the one-observation validation batch).
    assert_eq!(refinement.summary.likelihood_evals, 256 * 600 + 256);
    assert!(refinement.summary.median_ess_late > 0.5 * 256.0, "q ≈ p: {}", refinement.summary.median_ess_late);

    meta.refined = Some(refinement);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("refined.lwf");
    save_flow(&path, &flow, &meta).expect("saves");
    let (loaded, loaded_meta) = load_flow(&path).expect("loads");
    // As JSON: a NaN field (a loss never computed) does not equal itself.
    let json = |m: &lwflow::train::FlowMeta| serde_json::to_value(m).expect("serialises");
    assert_eq!(json(&loaded_meta), json(&meta));
    assert_eq!(loaded_meta.refined.as_ref().map(|r| r.x.clone()), Some(x.to_vec()));
    assert_eq!(loaded.params(), flow.params());
}

#[test]
fn a_stop_from_the_callback_ends_the_refinement_at_that_step() {
    let model = Shift::new(S);
    let (mut flow, _) = amortized(&model);
    let cfg = RefineConfig { steps: 50, draws: 64, ..RefineConfig::default() };
    let r = refine(&model, &mut flow, &[0.0, 0.0], &cfg, &mut |s| {
        if s.step == 7 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .expect("refines");
    assert_eq!(r.summary.steps_run, 7);
}

#[test]
fn bad_settings_and_observations_name_what_is_wrong() {
    let model = Shift::new(S);
    let (mut flow, _) = amortized(&model);
    let params = flow.params().to_vec();
    let mut err = |x: &[f64], cfg: RefineConfig| {
        refine(&model, &mut flow, x, &cfg, &mut |_| ControlFlow::Continue(())).unwrap_err().to_string()
    };
    let ok = RefineConfig::default();
    let msg = err(&[0.0], ok.clone());
    assert!(msg.contains("observation") && msg.contains("expected 2"), "{msg}");
    let msg = err(&[0.0, f64::NAN], ok.clone());
    assert!(msg.contains("entry 2") && msg.contains("finite"), "{msg}");
    for (cfg, field) in [
        (RefineConfig { steps: 0, ..ok.clone() }, "refine.steps"),
        (RefineConfig { draws: 1, ..ok.clone() }, "refine.draws"),
        (RefineConfig { prior_share: 0.0, ..ok.clone() }, "refine.prior_share"),
        (RefineConfig { lr: f64::NAN, ..ok.clone() }, "refine.lr"),
        (RefineConfig { reverse_kl: -1.0, ..ok.clone() }, "refine.reverse_kl"),
    ] {
        let msg = err(&[0.0, 0.0], cfg);
        assert!(msg.contains(field), "{field}: {msg}");
    }
    assert_eq!(flow.params(), &params[..], "a refused refinement leaves the flow as it was");
}

#[test]
fn the_observed_model_simulates_its_observation_and_keeps_the_likelihood() {
    let model = Shift::new(S);
    let x = [0.25, -0.5];
    let observed = Observed::new(&model, &x).expect("valid x");
    let theta = Mat::from_fn(3, 2, |r, k| 0.1 * (r + k) as f64);
    let mut sim = Mat::zeros(3, 2);
    observed.simulate(theta.as_ref(), &mut Rng::seed_from_u64(1), sim.as_mut()).expect("simulates");
    assert!((0..3).all(|r| sim.row(r) == x), "every row is x_o");
    let (mut a, mut b) = (vec![0.0; 3], vec![0.0; 3]);
    observed.log_likelihood_at(&x, theta.as_ref(), &mut a).expect("likelihood");
    model.log_likelihood_at(&x, theta.as_ref(), &mut b).expect("likelihood");
    assert_eq!(a, b);
}
