//! `lwflow demo`: the method's point on one built-in task. Trains square2d with a Gaussian base,
//! a 4-component mixture base and a 4-component conditional mixture base (same flow, budget and
//! seed), then shows for four observations how each splits its samples over the four posterior
//! modes and how much falls in the empty space between them. Each base's result is printed as
//! soon as it is trained; its model file and a corner plot go to `--out`.

use std::path::Path;

use anyhow::{Context, Result};
use lwflow::eval::{evaluate_with_samples, EvalOptions, EvalReport};
use lwflow::flow::{BaseConfig, FlowConfig};
use lwflow::io::save_flow;
use lwflow::train::{fit, TrainConfig};

use crate::args::DemoArgs;
use crate::plot::corner;
use crate::progress::Progress;

const TASK: &str = "square2d";
/// Observations shown by the demo (each has four well-separated modes).
const OBSERVATIONS: [[f64; 2]; 4] = [[1.0, 1.0], [2.0, 0.5], [0.5, 3.0], [4.0, 2.0]];
/// The observation of the corner plots: its two modes in θ₁ (±0.71) are the closest of the four,
/// so a bridge between them shows best.
const PLOTTED: usize = 2;
/// Training steps per base: a third of `lwflow train`'s default budget.
const DEMO_STEPS: usize = 1300;
/// Samples per observation for the shares.
const SAMPLES: usize = 4000;

/// One trained base: its name, per-observation reports and training time.
struct BaseResult {
    name: &'static str,
    reports: Vec<EvalReport>,
    seconds: f64,
}

pub fn run(a: &DemoArgs) -> Result<()> {
    let model = lwflow::tasks::by_name(TASK)?;
    let train_cfg = TrainConfig { seed: a.seed, steps: a.steps.unwrap_or(DEMO_STEPS), ..TrainConfig::default() };
    let bases = [
        ("gaussian", "gaussian", BaseConfig::Gaussian),
        ("gmm K=4", "gmm", BaseConfig::Gmm { components: 4 }),
        ("cgmm K=4", "cgmm", BaseConfig::Cgmm { components: 4 }),
    ];
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    println!("square2d: θ ~ U(-3,3)², x = θ² + N(0, 0.1²): every posterior has 4 modes at (±√x₁, ±√x₂).");
    println!(
        "Training one flow per base ({} steps each, seed {}); models and corner plots go to {}/.",
        train_cfg.steps,
        a.seed,
        a.out.display()
    );
    let mut results = Vec::new();
    for (name, stem, base) in bases {
        let flow_cfg = FlowConfig::new(model.theta_dim(), model.x_dim(), base);
        let mut progress = Progress::new(train_cfg.steps as u64, a.quiet);
        let (flow, meta) = fit(model.as_ref(), flow_cfg, train_cfg.clone(), &mut |r| {
            progress.update(r.step as u64, &format!("{name}: loss {:.3} ESS {:.1}", r.loss, r.ess_mean));
        })
        .with_context(|| format!("training the {name} base"))?;
        let seconds = meta.summary.as_ref().map_or(0.0, |s| s.seconds);
        progress.finish(&format!("{name}: trained in {seconds:.1} s"));

        let model_path = a.out.join(format!("{stem}.lwf"));
        save_flow(&model_path, &flow, &meta).with_context(|| format!("writing {}", model_path.display()))?;
        let plot_path = a.out.join(format!("corner_{stem}.png"));
        let mut reports = Vec::with_capacity(OBSERVATIONS.len());
        for (i, x) in OBSERVATIONS.iter().enumerate() {
            let reference = lwflow::tasks::reference_for(TASK, x)?.context("square2d has an exact reference")?;
            let opts = EvalOptions { n_samples: SAMPLES, seed: a.seed, c2st: false, distances: false };
            let (report, samples) = evaluate_with_samples(&flow, reference.as_ref(), x, &opts)?;
            if i == PLOTTED {
                let title = format!("{name}: q(θ | x = ({}, {})), red: exact", x[0], x[1]);
                corner(&plot_path, samples.q.as_ref(), Some(samples.p.as_ref()), &[], &title)
                    .with_context(|| format!("writing {}", plot_path.display()))?;
            }
            reports.push(report);
        }
        let result = BaseResult { name, reports, seconds };
        print_base(&result, &model_path, &plot_path);
        results.push(result);
    }
    print_comparison(&results);
    print_next_steps(&a.out);
    Ok(())
}

/// Mean KL(p‖q) over the demo's observations.
fn mean_kl(reports: &[EvalReport]) -> f64 {
    reports.iter().map(|r| r.kl_pq).sum::<f64>() / reports.len() as f64
}

fn shares(r: &EvalReport) -> String {
    r.mode_shares.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(" ")
}

fn obs_label(x: &[f64]) -> String {
    format!("({}, {})", x[0], x[1])
}

/// One base's block, printed as soon as it is trained.
fn print_base(b: &BaseResult, model_path: &Path, plot_path: &Path) {
    println!("\n{} base: trained in {:.1} s, mean KL(p‖q) {:.3}", b.name, b.seconds, mean_kl(&b.reports));
    println!("  {:<12} {:<27} {:>6}", "x", "mode shares (ideal 0.25)", "bridge");
    for r in &b.reports {
        println!("  {:<12} {:<27} {:>5.1}%", obs_label(&r.x), shares(r), 100.0 * r.bridge_mass);
    }
    println!("  wrote {} and {}", model_path.display(), plot_path.display());
}

/// The three bases side by side.
fn print_comparison(results: &[BaseResult]) {
    println!("\nShare of {SAMPLES} posterior samples per mode (ideal 0.25 each) and mass between modes (ideal ≈ 0):\n");
    print!("{:<12}", "x");
    for b in results {
        print!(" | {:^27} {:>6}", format!("{}: mode shares", b.name), "bridge");
    }
    println!();
    for i in 0..OBSERVATIONS.len() {
        print!("{:<12}", obs_label(&results[0].reports[i].x));
        for b in results {
            let r = &b.reports[i];
            print!(" | {:^27} {:>5.1}%", shares(r), 100.0 * r.bridge_mass);
        }
        println!();
    }
    print!("{:<12}", "KL(p‖q)");
    for b in results {
        print!(" | {:^27} {:>6}", format!("mean {:.3}", mean_kl(&b.reports)), "");
    }
    println!();
    print!("{:<12}", "train time");
    for b in results {
        print!(" | {:^27} {:>6}", format!("{:.1} s", b.seconds), "");
    }
    println!("\n\nbridge: share of samples where the exact posterior density is below 1e-3 of its maximum.");
    println!("A flow must tear its base apart to put it on four islands; what it cannot tear stays as bridges.");
    println!("gmm gives the flow four components shared by every x; cgmm computes the components from x,");
    println!("so each can sit on one mode for every observation.");
}

fn print_next_steps(out: &Path) {
    let cgmm = out.join("cgmm.lwf");
    println!("\nNext, with the models in {}/:", out.display());
    println!("  lwflow sample --model {} --obs 1,2 --num 10000 --out samples.csv", cgmm.display());
    println!("  lwflow plot   --model {} --obs 1,2 --out corner.png", cgmm.display());
    println!("  lwflow eval   --model {} --obs \"1,1;4,2\"", cgmm.display());
}
