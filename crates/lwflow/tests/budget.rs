//! Model calls: every simulation and likelihood evaluation is counted, `train.budget` is never
//! exceeded, and an observation that no draw can explain is skipped rather than ending the run.

use lwflow::flow::{BaseConfig, CouplingConfig, FlowConfig};
use lwflow::model::Model;
use lwflow::train::{fit, ProposalConfig, ProposalKind, StepReport, TrainConfig, TrainSummary};

fn tiny_flow_config() -> FlowConfig {
    let mut c = FlowConfig::new(2, 2, BaseConfig::Gaussian);
    c.hidden = vec![8];
    c.n_layers = 2;
    c.coupling = CouplingConfig::default_affine();
    c
}

/// J = 8 observations against N = 64 prior draws per step (520 calls), or M = 16 adaptive
/// draws (136 calls) from step 20 on with the adaptive proposal; the step count is out of reach
/// of the budgets below, so the budget ends each run.
fn budget_config(kind: ProposalKind, budget: u64, seed: u64) -> TrainConfig {
    TrainConfig {
        steps: 200,
        obs_per_step: 8,
        thetas_per_step: 64,
        val_obs: 8,
        val_every: 5,
        patience: 1000,
        proposal: ProposalConfig { kind, draws_per_obs: 16, ..ProposalConfig::default() },
        budget: Some(budget),
        seed,
        ..TrainConfig::default()
    }
}

fn two_moons() -> Box<dyn Model> {
    lwflow::tasks::by_name("two_moons").expect("built-in task")
}

/// Trains with `cfg`; returns the summary, the last step report and the flow's parameters.
fn run(cfg: TrainConfig) -> (TrainSummary, StepReport, Vec<f32>) {
    let model = two_moons();
    let mut last = None;
    let (flow, meta) = fit(model.as_ref(), tiny_flow_config(), cfg, &mut |r| last = Some(r.clone())).expect("trains");
    (meta.summary.expect("fit records a summary"), last.expect("at least one step"), flow.params().to_vec())
}

#[test]
fn budget_is_never_exceeded_and_is_spent() {
    for kind in [ProposalKind::Prior, ProposalKind::Adaptive] {
        for budget in [7_777u64, 20_000] {
            let (summary, last, _) = run(budget_config(kind, budget, 3));
            let spent = summary.likelihood_evals + summary.simulations;
            assert!(spent <= budget, "{kind:?} budget {budget}: spent {spent}");
            // Stopped by the budget: what is left cannot pay for another step (≤ 8·65 calls).
            assert!(summary.steps_run < 200 && budget - spent < 8 * 65, "{kind:?} {budget}: {summary:?}");
            assert!(summary.stopped_early);
            // The standardiser's tenth of the budget, the validation and step observations.
            let sims = budget / 10 + 8 + 8 * summary.steps_run as u64;
            assert_eq!(summary.simulations, sims, "{kind:?} {budget}");
            assert_eq!((last.likelihood_evals, last.simulations), (summary.likelihood_evals, summary.simulations));
            assert_eq!(summary.history.last().map(|h| h.0), Some(summary.steps_run), "the last step validates");
        }
    }
}

#[test]
fn same_seed_same_model_with_a_budget() {
    let cfg = budget_config(ProposalKind::Adaptive, 12_000, 5);
    let (a, _, pa) = run(cfg.clone());
    let (b, _, pb) = run(cfg);
    assert!(pa.iter().zip(&pb).all(|(x, y)| x.to_bits() == y.to_bits()), "parameters differ");
    assert_eq!((a.steps_run, a.likelihood_evals, a.simulations), (b.steps_run, b.likelihood_evals, b.simulations));
    assert_eq!(a.history, b.history);
}

#[test]
fn budget_below_the_fixed_costs_is_refused() {
    // 100 standardiser simulations + 520 for the validation batch + 520 for one step > 1000.
    let model = two_moons();
    let cfg = budget_config(ProposalKind::Prior, 1_000, 1);
    let err = fit(model.as_ref(), tiny_flow_config(), cfg, &mut |_| panic!("no step may run")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("train.budget") && msg.contains("1000"), "{msg}");
}

/// two_moons' likelihood has bounded support: with 64 prior draws some of 16 observations have
/// no draw with non-zero likelihood (this stopped training before).
#[test]
fn observations_without_likelihood_are_skipped_not_fatal() {
    let cfg = TrainConfig {
        steps: 60,
        obs_per_step: 16,
        thetas_per_step: 64,
        val_obs: 16,
        val_every: 20,
        proposal: ProposalConfig { kind: ProposalKind::Prior, ..ProposalConfig::default() },
        seed: 1,
        ..TrainConfig::default()
    };
    let mut skipped_seen = 0;
    let model = two_moons();
    let (_, meta) = fit(model.as_ref(), tiny_flow_config(), cfg, &mut |r| {
        assert!(r.loss.is_finite() && r.ess_min >= 1.0, "step {}: loss {} ess_min {}", r.step, r.loss, r.ess_min);
        skipped_seen = r.skipped_obs;
    })
    .expect("trains to the end");
    let summary = meta.summary.expect("summary");
    assert_eq!(summary.steps_run, 60);
    assert!(summary.skipped_obs > 0, "the test needs skipped observations");
    assert_eq!(summary.skipped_obs, skipped_seen);
    assert!(summary.skipped_obs < 60 * 16, "{} of 960 skipped", summary.skipped_obs);
}

/// Model files written before the counters existed load, with the counters at 0 and no budget.
#[test]
fn summary_and_settings_without_the_new_fields_load() {
    let mut summary = serde_json::to_value(TrainSummary { likelihood_evals: 123, ..TrainSummary::default() }).unwrap();
    let obj = summary.as_object_mut().unwrap();
    assert!(obj.remove("simulations").is_some() && obj.remove("skipped_obs").is_some());
    let old: TrainSummary = serde_json::from_value(summary).expect("an old summary loads");
    assert_eq!((old.likelihood_evals, old.simulations, old.skipped_obs), (123, 0, 0));

    let mut cfg = serde_json::to_value(TrainConfig { budget: Some(5), ..TrainConfig::default() }).unwrap();
    assert!(cfg.as_object_mut().unwrap().remove("budget").is_some());
    let old: TrainConfig = serde_json::from_value(cfg).expect("old settings load");
    assert_eq!(old.budget, None);
}
