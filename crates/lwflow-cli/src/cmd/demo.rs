//! `lwflow demo`: the method's point in about a minute. Trains square2d with a Gaussian base,
//! a 4-component mixture base and a 4-component conditional mixture base (same flow, budget and
//! seed), then shows for four observations how each splits its samples over the four posterior
//! modes and how much falls in the empty space between them.

use anyhow::{Context, Result};
use lwflow::eval::{evaluate, EvalOptions, EvalReport};
use lwflow::flow::{BaseConfig, FlowConfig};
use lwflow::train::{fit, TrainConfig};

use crate::args::DemoArgs;
use crate::progress::Progress;

/// Observations shown by the demo (each has four well-separated modes).
const OBSERVATIONS: [[f64; 2]; 4] = [[1.0, 1.0], [2.0, 0.5], [0.5, 3.0], [4.0, 2.0]];
/// Training steps per base: a third of `lwflow train`'s default budget, so the demo runs in
/// about a minute.
const DEMO_STEPS: usize = 1300;
/// Samples per observation for the shares.
const SAMPLES: usize = 4000;

pub fn run(a: &DemoArgs) -> Result<()> {
    let task = "square2d";
    let model = lwflow::tasks::by_name(task)?;
    let train_cfg = TrainConfig { seed: a.seed, steps: a.steps.unwrap_or(DEMO_STEPS), ..TrainConfig::default() };
    let bases = [
        ("gaussian", BaseConfig::Gaussian),
        ("gmm K=4", BaseConfig::Gmm { components: 4 }),
        ("cgmm K=4", BaseConfig::Cgmm { components: 4 }),
    ];
    let mut results: Vec<(&str, Vec<EvalReport>, f64)> = Vec::new();
    for (name, base) in bases {
        let flow_cfg = FlowConfig::new(model.theta_dim(), model.x_dim(), base);
        let mut progress = Progress::new(train_cfg.steps as u64, a.quiet);
        let (flow, meta) = fit(model.as_ref(), flow_cfg, train_cfg.clone(), &mut |r| {
            progress.update(r.step as u64, &format!("{name}: loss {:.3} ESS {:.1}", r.loss, r.ess_mean));
        })
        .with_context(|| format!("training the {name} base"))?;
        let secs = meta.summary.as_ref().map_or(0.0, |s| s.seconds);
        progress.finish(&format!("{name}: trained in {secs:.1} s"));
        let mut reports = Vec::new();
        for x in OBSERVATIONS {
            let reference = lwflow::tasks::reference_for(task, &x)?.context("square2d has an exact reference")?;
            let opts = EvalOptions { n_samples: SAMPLES, seed: a.seed, c2st: false, distances: false };
            reports.push(evaluate(&flow, reference.as_ref(), &x, &opts)?);
        }
        results.push((name, reports, secs));
    }
    print_table(&results);
    Ok(())
}

fn print_table(results: &[(&str, Vec<EvalReport>, f64)]) {
    println!("\nsquare2d: θ ~ U(-3,3)², x = θ² + N(0, 0.1²): every posterior has 4 modes at (±√x₁, ±√x₂).");
    println!("Share of {SAMPLES} posterior samples per mode (ideal 0.25 each) and mass between modes (ideal ≈ 0):\n");
    print!("{:<12}", "x");
    for (name, _, _) in results {
        print!(" | {:^27} {:>6}", format!("{name}: mode shares"), "bridge");
    }
    println!();
    for i in 0..OBSERVATIONS.len() {
        let x = &results[0].1[i].x;
        print!("{:<12}", format!("({}, {})", x[0], x[1]));
        for (_, reports, _) in results {
            let r = &reports[i];
            let shares: Vec<String> = r.mode_shares.iter().map(|s| format!("{s:.2}")).collect();
            print!(" | {:^27} {:>5.1}%", shares.join(" "), 100.0 * r.bridge_mass);
        }
        println!();
    }
    print!("{:<12}", "KL(p‖q)");
    for (_, reports, _) in results {
        let kl = reports.iter().map(|r| r.kl_pq).sum::<f64>() / reports.len() as f64;
        print!(" | {:^27} {:>6}", format!("mean {kl:.3}"), "");
    }
    println!();
    print!("{:<12}", "train time");
    for (_, _, secs) in results {
        print!(" | {:^27} {:>6}", format!("{secs:.1} s"), "");
    }
    println!("\n\nbridge: share of samples where the exact posterior density is below 1e-3 of its maximum.");
    println!("A flow must tear its base apart to put it on four islands; what it cannot tear stays as bridges.");
    println!("gmm gives the flow four components shared by every x; cgmm computes the components from x,");
    println!("so each can sit on one mode for every observation.");
}
