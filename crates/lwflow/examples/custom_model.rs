//! A user's own model in Rust, end to end: prior, likelihood, simulator, train, sample.
//!
//! θ ~ U(−2, 2)², x = (θ₁ θ₂, θ₁ + θ₂) + N(0, 0.05² I): the product and the sum of two numbers.
//! Swapping θ₁ and θ₂ gives the same x, so every posterior has two modes.
//!
//! Run: `cargo run --release -p lwflow --example custom_model`
//!
//! In a crate of your own, the only dependency is lwflow itself; the random-number crates its
//! `Rng` needs come re-exported as `lwflow::rand` and `lwflow::rand_distr`.

use lwflow::flow::{BaseConfig, FlowConfig};
use lwflow::model::{Model, Prior};
use lwflow::rand_distr::{Distribution, StandardNormal};
use lwflow::rng::Rng;
use lwflow::train::{fit, TrainConfig};
use lwflow::{MatMut, MatRef, Result};

const NOISE: f64 = 0.05;

struct ProductSum {
    prior: Prior,
}

fn mean(theta: &[f64]) -> [f64; 2] {
    [theta[0] * theta[1], theta[0] + theta[1]]
}

impl Model for ProductSum {
    fn name(&self) -> String {
        "product_sum".into()
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
    /// Pairwise: out[r] = log N(x_r; m(θ_r), σ² I).
    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        let log_norm = -2.0 * (NOISE.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln());
        for (r, o) in out.iter_mut().enumerate() {
            let m = mean(theta.row(r));
            let sq: f64 = x.row(r).iter().zip(m).map(|(xk, mk)| ((xk - mk) / NOISE).powi(2)).sum();
            *o = log_norm - 0.5 * sq;
        }
        Ok(())
    }
    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, mut x: MatMut<f64>) -> Result<()> {
        for r in 0..theta.rows() {
            let m = mean(theta.row(r));
            for (k, mk) in m.iter().enumerate() {
                let e: f64 = StandardNormal.sample(rng);
                x.set(r, k, mk + NOISE * e);
            }
        }
        Ok(())
    }
}

fn main() -> Result<()> {
    let model = ProductSum { prior: Prior::uniform_box(2, -2.0, 2.0)? };
    let flow_cfg = FlowConfig::new(2, 2, BaseConfig::Cgmm { components: 2 });
    let train_cfg = TrainConfig { steps: 1500, ..TrainConfig::default() };
    let (flow, meta) = fit(&model, flow_cfg, train_cfg, &mut |r| {
        if r.step % 500 == 0 {
            eprintln!("step {}: loss {:.3}, mean ESS {:.1}", r.step, r.loss, r.ess_mean);
        }
    })?;
    let summary = meta.summary.expect("fit records a summary");
    eprintln!("trained in {:.1} s", summary.seconds);

    // x = (0.5, 1.5): θ₁θ₂ = 0.5, θ₁ + θ₂ = 1.5, so θ ∈ {(1, 0.5), (0.5, 1)}.
    let samples = flow.sample(&[0.5, 1.5], 4000, 1)?;
    let near = |a: f64, b: f64| {
        (0..samples.rows())
            .filter(|&r| (samples.row(r)[0] - a).abs() < 0.15 && (samples.row(r)[1] - b).abs() < 0.15)
            .count()
    };
    println!("share of samples near (1, 0.5): {:.3}", near(1.0, 0.5) as f64 / 4000.0);
    println!("share of samples near (0.5, 1): {:.3}", near(0.5, 1.0) as f64 / 4000.0);
    Ok(())
}
