//! End-to-end: likelihood-weighted training recovers a posterior known in closed form.
//! θ ~ U(−3,3)², x = θ + N(0, s² I); for x well inside the box p(θ|x) ≈ N(x, s² I).

use lwflow::flow::{BaseConfig, Flow, FlowConfig};
use lwflow::model::Model;
use lwflow::testing::Shift;
use lwflow::train::{prior_predictive_standardizer, train, TrainConfig};

#[test]
fn recovers_a_gaussian_posterior() {
    let model = Shift::new(0.3);
    let cfg = TrainConfig { steps: 1500, thetas_per_step: 2048, seed: 2, ..TrainConfig::default() };
    let mut fc = FlowConfig::new(2, 2, BaseConfig::Gaussian);
    let norm = prior_predictive_standardizer(&model, &fc, 5000, 2).unwrap();
    fc.hidden = vec![32, 32];
    fc.n_layers = 4;
    let mut flow = Flow::<f32>::new(fc, model.prior(), norm, 2).unwrap();
    let summary = train(&model, &mut flow, &cfg, &mut |_| {}).unwrap();
    eprintln!("{:?}", summary.history);
    for x in [[0.5, -1.0], [-1.5, 1.2]] {
        let s = flow.sample(&x, 4000, 1).unwrap();
        for k in 0..2 {
            let col: Vec<f64> = (0..s.rows()).map(|r| s.row(r)[k]).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let std = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64).sqrt();
            eprintln!("x={x:?} k={k}: mean {mean:.3} std {std:.3}");
            assert!((mean - x[k]).abs() < 0.05, "x={x:?} k={k}: mean {mean}");
            assert!((std - 0.3).abs() < 0.035, "x={x:?} k={k}: std {std}");
        }
    }
}
