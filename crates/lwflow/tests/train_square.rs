//! End-to-end on square2d: a short likelihood-weighted training run (release mode) gives every
//! one of the four posterior modes its share of the mass, 0.25 ± 0.05.

use lwflow::flow::{BaseConfig, FlowConfig};
use lwflow::metrics::mode_shares;
use lwflow::train::{fit, TrainConfig};

#[test]
fn short_training_puts_a_quarter_of_the_mass_on_each_mode() {
    let model = lwflow::tasks::by_name("square2d").unwrap();
    let mut flow_cfg = FlowConfig::new(2, 2, BaseConfig::Gmm { components: 4 });
    flow_cfg.hidden = vec![64, 64];
    let train_cfg = TrainConfig { steps: 1500, seed: 3, ..TrainConfig::default() };
    let (flow, meta) = fit(model.as_ref(), flow_cfg, train_cfg, &mut |_| {}).unwrap();
    let summary = meta.summary.unwrap();
    assert!(summary.best_val_loss.is_finite());
    for x in [[1.0, 1.0], [2.0, 0.5], [0.5, 3.0], [4.0, 2.0]] {
        let reference = lwflow::tasks::reference_for("square2d", &x).unwrap().unwrap();
        let samples = flow.sample(&x, 4000, 7).unwrap();
        let shares = mode_shares(samples.as_ref(), &reference.modes().unwrap());
        assert_eq!(shares.len(), 4);
        for (k, s) in shares.iter().enumerate() {
            assert!((s - 0.25).abs() <= 0.05, "x={x:?}: mode {k} has share {s:.3} ({shares:?})");
        }
    }
}
