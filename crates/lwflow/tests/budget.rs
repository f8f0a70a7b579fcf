//! Model calls: every simulation and likelihood evaluation is counted, `train.budget` is never
//! exceeded, and an observation that no draw can explain is skipped rather than ending the run.
//! With a budget, [`fit`] trains in rounds on a stored set (`lwflow::train::rounds`); the
//! fresh-draw trainer keeps its own skipping of such observations.

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

/// Draws per observation and round of the budgeted runs below.
const DRAWS: usize = 8;

/// A budgeted run: 3 rounds, the last 2 with M = 8 likelihood draws per observation, at most 30
/// gradient steps per round.
fn budget_config(budget: u64, seed: u64) -> TrainConfig {
    TrainConfig {
        round_steps: 30,
        obs_per_step: 16,
        rounds: 3,
        likelihood_rounds: 2,
        proposal: ProposalConfig { draws_per_obs: DRAWS, ..ProposalConfig::default() },
        budget: Some(budget),
        seed,
        ..TrainConfig::default()
    }
}

fn two_moons() -> Box<dyn Model> {
    lwflow::tasks::by_name("two_moons").expect("built-in task")
}

/// Trains with `cfg`; returns the summary, the last report and the flow's parameters.
fn run(cfg: TrainConfig) -> (TrainSummary, StepReport, Vec<f32>) {
    let model = two_moons();
    let mut last = None;
    let (flow, meta) = fit(model.as_ref(), tiny_flow_config(), cfg, &mut |r| last = Some(r.clone())).expect("trains");
    (meta.summary.expect("fit records a summary"), last.expect("at least one validation"), flow.params().to_vec())
}

#[test]
fn budget_is_never_exceeded_and_is_spent() {
    for budget in [100u64, 1_000, 7_777] {
        let (summary, last, _) = run(budget_config(budget, 3));
        let spent = summary.likelihood_evals + summary.simulations;
        assert!(spent <= budget, "budget {budget}: spent {spent}");
        // The last round spends what is left: less than one more observation's calls remain.
        assert!(budget - spent < 1 + DRAWS as u64, "budget {budget}: spent {spent}");
        // One simulation per observation, M likelihood evaluations per observation: the wrapper's
        // counts are exactly the rounds' calls.
        let obs: usize = summary.rounds.iter().map(|r| r.new_obs).sum();
        let evals: usize = summary.rounds.iter().map(|r| r.new_obs * r.draws_per_obs).sum();
        assert_eq!((summary.simulations, summary.likelihood_evals), (obs as u64, evals as u64), "{budget}");
        assert_eq!(summary.rounds.len(), 3);
        assert_eq!((last.likelihood_evals, last.simulations), (summary.likelihood_evals, summary.simulations));
        assert!(summary.best_val_loss.is_finite());
    }
}

#[test]
fn same_seed_same_model_with_a_budget() {
    let (a, _, pa) = run(budget_config(3_000, 5));
    let (b, _, pb) = run(budget_config(3_000, 5));
    assert!(pa.iter().zip(&pb).all(|(x, y)| x.to_bits() == y.to_bits()), "parameters differ");
    assert_eq!((a.steps_run, a.likelihood_evals, a.simulations), (b.steps_run, b.likelihood_evals, b.simulations));
    assert_eq!(a.history, b.history);
    let (_, _, pc) = run(budget_config(3_000, 6));
    assert!(pa.iter().zip(&pc).any(|(x, y)| x.to_bits() != y.to_bits()), "another seed, another model");
}

#[test]
fn budget_below_a_first_round_is_refused_naming_the_key() {
    // Round 0 is simulations only: 3 rounds of at least 2 simulations need 6 calls.
    for budget in [1u64, 5] {
        let model = two_moons();
        let err = fit(model.as_ref(), tiny_flow_config(), budget_config(budget, 1), &mut |_| panic!("no training"))
            .expect_err("too small");
        let msg = err.to_string();
        assert!(msg.contains("train.budget") && msg.contains(&budget.to_string()), "{msg}");
    }
    let model = two_moons();
    fit(model.as_ref(), tiny_flow_config(), budget_config(6, 1), &mut |_| {}).expect("6 calls pay for a first round");
}

/// two_moons' likelihood has bounded support: of observations with 2 draws each, many have no
/// draw with any likelihood. With the exact draws they still train; without, they are skipped
/// (counted) and training goes on.
#[test]
fn observations_without_likelihood_are_skipped_not_fatal() {
    for exact_draws in [true, false] {
        // Without exact draws every round draws, round 0 from the prior: one round suffices.
        let rounds = if exact_draws { 2 } else { 1 };
        let cfg = TrainConfig {
            rounds,
            likelihood_rounds: rounds - 1,
            exact_draws,
            proposal: ProposalConfig { draws_per_obs: 2, ..ProposalConfig::default() },
            ..budget_config(900, 2)
        };
        let (summary, _, _) = run(cfg);
        let round = summary.rounds.last().expect("a round");
        assert_eq!((round.new_obs, round.draws_per_obs), (if exact_draws { 150 } else { 300 }, 2));
        assert!(round.no_likelihood_obs > 10, "the test needs observations without likelihood: {round:?}");
        let want = if exact_draws { 0 } else { round.no_likelihood_obs as u64 };
        assert_eq!(summary.skipped_obs, want, "exact draws {exact_draws}");
        assert!(summary.best_val_loss.is_finite() && summary.steps_run > 0);
    }
}

/// Without likelihood rounds (the default) every call is a simulation and the run is NPE on the
/// simulated pairs; with `likelihood_rounds` = rounds the settings are refused, naming the key.
#[test]
fn likelihood_rounds_choose_which_rounds_evaluate_the_likelihood() {
    let cfg = TrainConfig { likelihood_rounds: 0, ..budget_config(600, 4) };
    let (summary, _, _) = run(cfg);
    assert_eq!((summary.likelihood_evals, summary.simulations), (0, 600));
    assert!(summary.rounds.iter().all(|r| r.draws_per_obs == 0));
    let (summary, _, _) = run(budget_config(600, 4));
    let draws: Vec<usize> = summary.rounds.iter().map(|r| r.draws_per_obs).collect();
    assert_eq!(draws, [0, DRAWS, DRAWS]);
    let model = two_moons();
    let cfg = TrainConfig { likelihood_rounds: 3, ..budget_config(600, 4) };
    let err = fit(model.as_ref(), tiny_flow_config(), cfg, &mut |_| panic!("no training")).expect_err("refused");
    assert!(err.to_string().contains("train.likelihood_rounds"), "{err}");
}

/// The fresh-draw trainer (no budget): with 64 prior draws some of 16 observations have no draw
/// with non-zero likelihood (this stopped training before); they are skipped and counted.
#[test]
fn fresh_draw_observations_without_likelihood_are_skipped_not_fatal() {
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
    // No budget: the standardiser's 10,000 simulations, the validation and step observations.
    assert_eq!(summary.simulations, 10_000 + 16 + 60 * 16);
}

/// Model files written before the counters existed load, with the counters at 0 and no budget.
#[test]
fn summary_and_settings_without_the_new_fields_load() {
    let mut summary = serde_json::to_value(TrainSummary { likelihood_evals: 123, ..TrainSummary::default() }).unwrap();
    let obj = summary.as_object_mut().unwrap();
    assert!(obj.remove("simulations").is_some() && obj.remove("skipped_obs").is_some());
    assert!(!obj.contains_key("rounds"), "a fresh-draw run writes no rounds");
    let old: TrainSummary = serde_json::from_value(summary).expect("an old summary loads");
    assert_eq!((old.likelihood_evals, old.simulations, old.skipped_obs), (123, 0, 0));

    let mut cfg = serde_json::to_value(TrainConfig { budget: Some(5), ..TrainConfig::default() }).unwrap();
    let obj = cfg.as_object_mut().unwrap();
    assert!(obj.remove("budget").is_some() && obj.remove("rounds").is_some() && obj.remove("exact_draws").is_some());
    assert!(obj.remove("likelihood_rounds").is_some() && obj.remove("round_steps").is_some());
    let old: TrainConfig = serde_json::from_value(cfg).expect("old settings load");
    assert_eq!((old.budget, old.rounds, old.exact_draws), (None, lwflow::train::DEFAULT_ROUNDS, true));
    assert_eq!((old.likelihood_rounds, old.round_steps), (0, lwflow::train::DEFAULT_ROUND_STEPS));
}
