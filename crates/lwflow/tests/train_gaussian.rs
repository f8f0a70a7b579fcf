//! End-to-end: likelihood-weighted training recovers a posterior known in closed form.
//! θ ~ U(−3,3)², x = θ + N(0, s² I); for x well inside the box p(θ|x) ≈ N(x, s² I).

use lwflow::flow::{BaseConfig, Flow, FlowConfig};
use lwflow::mat::{MatMut, MatRef};
use lwflow::model::{Model, Prior};
use lwflow::rng::Rng;
use lwflow::train::{prior_predictive_standardizer, train, TrainConfig};
use rand_distr::{Distribution, StandardNormal};

struct Shift {
    prior: Prior,
    s: f64,
}

impl Model for Shift {
    fn name(&self) -> String {
        "shift".into()
    }
    fn theta_dim(&self) -> usize {
        2
    }
    fn x_dim(&self) -> usize {
        2
    }
    fn prior(&self) -> &Prior {
        &self.prior
    }
    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> lwflow::Result<()> {
        for (r, o) in out.iter_mut().enumerate() {
            *o = (0..2)
                .map(|k| {
                    let z = (x.at(r, k) - theta.at(r, k)) / self.s;
                    -0.5 * z * z - self.s.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
                })
                .sum();
        }
        Ok(())
    }
    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, mut x: MatMut<f64>) -> lwflow::Result<()> {
        for r in 0..theta.rows() {
            for k in 0..2 {
                let e: f64 = StandardNormal.sample(rng);
                x.set(r, k, theta.at(r, k) + self.s * e);
            }
        }
        Ok(())
    }
}

#[test]
fn recovers_a_gaussian_posterior() {
    let model = Shift { prior: Prior::uniform_box(2, -3.0, 3.0).unwrap(), s: 0.3 };
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
