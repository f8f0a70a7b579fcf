//! The periodic-parameter experiment of docs/periodic.md: the `sinusoid` task trained four ways
//! at one budget — phase declared periodic or not, a two-component mixture base or a Gaussian one —
//! and judged on the same observations against the grid posterior: C2ST, KL(p‖q), bridge mass,
//! mode shares, and the share of the posterior in the half of the circle around φ = 0 ≡ 2π
//! ("seam share") for q and for the grid.
//!
//! Observations: the benchmark's fixed observations (`lwflow::benchmark::observations`) whose
//! true phase φ* or its alias π − φ* lies within [`SEAM_WINDOW`] of 0 ≡ 2π, so that one mode
//! straddles the seam, the first `--observations` of them in order (chosen by θ*, before any
//! training).
//!
//! Run: `cargo run --release -p lwflow --example periodic -- --out results/periodic
//!       [--steps 4000] [--observations 5] [--samples 10000] [--seeds 1]`

use std::f64::consts::{PI, TAU};
use std::path::PathBuf;
use std::time::Instant;

use lwflow::benchmark::observations;
use lwflow::eval::{evaluate_with_samples, EvalOptions};
use lwflow::flow::BaseConfig;
use lwflow::mat::{Mat, MatRef};
use lwflow::model::Model;
use lwflow::reference::Reference;
use lwflow::tasks::Sinusoid;
use lwflow::train::fit;
use lwflow::Result;

/// A mode straddles the seam when its phase is within this distance of 0 ≡ 2π.
const SEAM_WINDOW: f64 = 0.6;
/// Benchmark observations scanned for seam-straddling ones.
const SCANNED: usize = 200;

/// Distance of φ from 0 ≡ 2π on the circle.
fn seam_distance(phi: f64) -> f64 {
    let p = phi.rem_euclid(TAU);
    p.min(TAU - p)
}

/// Share of rows with φ within π/2 of the seam: the half of the circle around 0 ≡ 2π.
fn seam_share(samples: MatRef<f64>) -> f64 {
    let n = (0..samples.rows()).filter(|&r| seam_distance(samples.row(r)[1]) < PI / 2.0).count();
    n as f64 / samples.rows() as f64
}

struct Args {
    out: PathBuf,
    steps: usize,
    n_obs: usize,
    n_samples: usize,
    seeds: u64,
}

fn args() -> Args {
    let mut a = Args { out: "results/periodic".into(), steps: 4000, n_obs: 5, n_samples: 10_000, seeds: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = || value.parse::<usize>().unwrap_or_else(|_| panic!("{flag}: {value} is not a count"));
        match flag.as_str() {
            "--out" => a.out = value.clone().into(),
            "--steps" => a.steps = number(),
            "--observations" => a.n_obs = number(),
            "--samples" => a.n_samples = number(),
            "--seeds" => a.seeds = number() as u64,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

struct Row {
    variant: &'static str,
    seed: u64,
    obs: usize,
    train_seconds: f64,
    c2st: f64,
    kl_pq: f64,
    bridge: f64,
    reference_bridge: f64,
    mode_shares: Vec<f64>,
    seam_q: f64,
    seam_p: f64,
}

fn main() -> Result<()> {
    let a = args();
    std::fs::create_dir_all(&a.out).map_err(|e| lwflow::Error::invalid(a.out.display().to_string(), e.to_string()))?;
    let task = Sinusoid::new();
    let (theta_all, x_all) = observations(&task, SCANNED)?;
    let chosen: Vec<usize> = (0..SCANNED)
        .filter(|&i| {
            let phi = theta_all.row(i)[1];
            seam_distance(phi).min(seam_distance(PI - phi)) < SEAM_WINDOW
        })
        .take(a.n_obs)
        .collect();
    eprintln!("observations (benchmark index, 1-based): {:?}", chosen.iter().map(|i| i + 1).collect::<Vec<_>>());
    let references: Vec<_> = chosen.iter().map(|&i| task.reference(x_all.row(i))).collect::<Result<_>>()?;

    let variants: [(&str, bool, BaseConfig); 4] = [
        ("periodic, gmm 2 base", true, BaseConfig::Gmm { components: 2 }),
        ("periodic, gaussian base (the task's)", true, BaseConfig::Gaussian),
        ("not periodic, gmm 2 base", false, BaseConfig::Gmm { components: 2 }),
        ("not periodic, gaussian base", false, BaseConfig::Gaussian),
    ];
    let mut rows = Vec::new();
    for seed in 1..=a.seeds {
        for &(variant, periodic, base) in &variants {
            let model = Sinusoid::with_periodic_phase(periodic);
            let (mut flow_cfg, mut train_cfg) = lwflow::tasks::recommended("sinusoid", 2, model.x_dim());
            flow_cfg.base = base;
            train_cfg.steps = a.steps;
            train_cfg.seed = seed;
            let started = Instant::now();
            let (flow, _) = fit(&model, flow_cfg, train_cfg, &mut |r| {
                if let Some(val) = r.val_loss {
                    eprintln!("  step {}/{}: loss {:.3} val {val:.3}", r.step, r.steps, r.loss);
                }
            })?;
            let train_seconds = started.elapsed().as_secs_f64();
            eprintln!("{variant}, seed {seed}: trained in {train_seconds:.0} s");
            for (k, (&i, reference)) in chosen.iter().zip(&references).enumerate() {
                let x = x_all.row(i);
                let opts = EvalOptions { distances: false, ..EvalOptions::all(a.n_samples, seed) };
                let (report, samples) = evaluate_with_samples(&flow, reference, x, &opts)?;
                let row = Row {
                    variant,
                    seed,
                    obs: i + 1,
                    train_seconds,
                    c2st: report.c2st.unwrap_or(f64::NAN),
                    kl_pq: report.kl_pq,
                    bridge: report.bridge_mass,
                    reference_bridge: report.reference_bridge_mass,
                    mode_shares: report.mode_shares.clone(),
                    seam_q: seam_share(samples.q.as_ref()),
                    seam_p: seam_share(samples.p.as_ref()),
                };
                eprintln!(
                    "  obs {}: C2ST {:.3} KL {:.3} bridge {:.4} seam share q {:.3} p {:.3}",
                    row.obs, row.c2st, row.kl_pq, row.bridge, row.seam_q, row.seam_p
                );
                if seed == 1 {
                    let name = variant.split(',').next().unwrap_or(variant).replace(' ', "_");
                    let base = if base == BaseConfig::Gaussian { "gaussian" } else { "gmm" };
                    write_csv(&a.out.join(format!("q_{name}_{base}_obs{}.csv", k + 1)), samples.q.as_ref())?;
                    if variant == variants[0].0 {
                        write_csv(&a.out.join(format!("p_grid_obs{}.csv", k + 1)), samples.p.as_ref())?;
                    }
                }
                rows.push(row);
            }
        }
    }
    write_tables(&a, &chosen, &theta_all, &references, &rows)
}

fn write_csv(path: &std::path::Path, m: MatRef<f64>) -> Result<()> {
    // The first 2000 draws: enough for a picture, small enough for the repository.
    let n = m.rows().min(2000);
    lwflow::io::samples::write_csv(path, &["f".into(), "phi".into()], m.rows_range(0, n))
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

fn write_tables(
    a: &Args,
    chosen: &[usize],
    theta: &Mat<f64>,
    references: &[lwflow::reference::GridPosterior],
    rows: &[Row],
) -> Result<()> {
    let mut md = String::new();
    md.push_str(&format!(
        "sinusoid, {} steps per training, {} samples, seeds 1..={}, observations (benchmark index): {:?}\n\n",
        a.steps,
        a.n_samples,
        a.seeds,
        chosen.iter().map(|i| i + 1).collect::<Vec<_>>()
    ));
    md.push_str("| obs | θ* (f, φ) | grid modes (f, φ) | grid seam share |\n|---|---|---|---|\n");
    for (k, &i) in chosen.iter().enumerate() {
        let modes = references[k].modes().unwrap_or_default();
        let modes: Vec<String> = modes.iter().map(|m| format!("({:.3}, {:.2})", m[0], m[1])).collect();
        let p = rows.iter().find(|r| r.obs == i + 1).map_or(f64::NAN, |r| r.seam_p);
        md.push_str(&format!(
            "| {} | ({:.3}, {:.2}) | {} | {:.3} |\n",
            i + 1,
            theta.row(i)[0],
            theta.row(i)[1],
            modes.join(" "),
            p
        ));
    }
    md.push_str("\nMeans over observations (and seeds):\n\n| variant | train s | C2ST | KL(p‖q) | bridge mass (grid's) | mean abs seam-share error |\n|---|---|---|---|---|---|\n");
    let mut variants: Vec<&str> = rows.iter().map(|r| r.variant).collect();
    variants.dedup();
    let mut seen = Vec::new();
    for v in variants {
        if seen.contains(&v) {
            continue;
        }
        seen.push(v);
        let of = || rows.iter().filter(move |r| r.variant == v);
        md.push_str(&format!(
            "| {v} | {:.0} | {:.3} | {:.3} | {:.4} ({:.4}) | {:.3} |\n",
            mean(of().map(|r| r.train_seconds)),
            mean(of().map(|r| r.c2st)),
            mean(of().map(|r| r.kl_pq)),
            mean(of().map(|r| r.bridge)),
            mean(of().map(|r| r.reference_bridge)),
            mean(of().map(|r| (r.seam_q - r.seam_p).abs())),
        ));
    }
    md.push_str("\nPer observation:\n\n| variant | seed | obs | C2ST | KL(p‖q) | bridge | seam share q / grid | mode shares (q) |\n|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let shares: Vec<String> = r.mode_shares.iter().map(|s| format!("{s:.3}")).collect();
        md.push_str(&format!(
            "| {} | {} | {} | {:.3} | {:.3} | {:.4} | {:.3} / {:.3} | {} |\n",
            r.variant,
            r.seed,
            r.obs,
            r.c2st,
            r.kl_pq,
            r.bridge,
            r.seam_q,
            r.seam_p,
            shares.join(" ")
        ));
    }
    let path = a.out.join("results.md");
    std::fs::write(&path, md).map_err(|e| lwflow::Error::invalid(path.display().to_string(), e.to_string()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
