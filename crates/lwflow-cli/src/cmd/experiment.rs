//! `lwflow experiment base-topology`: the paper's experiment, written as a Markdown table, a
//! CSV of every (base, seed, observation), a JSON summary and figures.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use lwflow::experiment::{base_topology, summarize, TopologyConfig, TopologyRun, METRICS};

use crate::args::{BaseTopologyArgs, ExperimentArgs, ExperimentCommand};
use crate::cmd::tables::{csv_opt, csv_vec, write_text};

pub fn run(a: &ExperimentArgs) -> Result<()> {
    match &a.command {
        ExperimentCommand::BaseTopology(b) => base_topology_cmd(b),
    }
}

fn base_topology_cmd(a: &BaseTopologyArgs) -> Result<()> {
    let mut cfg = TopologyConfig::standard(&a.task, a.seeds)?;
    if let Some(s) = a.steps {
        cfg.train.steps = s;
    }
    cfg.eval.n_samples = a.num;
    if let Some(family) = a.flow {
        cfg.flow.coupling = family.default_config();
    }
    if !a.variants.is_empty() {
        cfg.select_variants(&a.variants)?;
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let started = std::time::Instant::now();
    let write_tables = |runs: &[TopologyRun]| -> Result<()> {
        let minutes = started.elapsed().as_secs_f64() / 60.0;
        write_text(&a.out.join("results.md"), &markdown(&cfg, runs, minutes))?;
        write_text(&a.out.join("results.csv"), &csv(runs))
    };
    let mut partial_error = None;
    let runs = base_topology(&cfg, &mut |line, runs| {
        eprintln!("{line}");
        // Partial tables after every run, so a long experiment's progress is on disk.
        if let Err(e) = write_tables(runs) {
            partial_error.get_or_insert(e);
        }
    })?;
    if let Some(e) = partial_error {
        return Err(e);
    }
    write_tables(&runs)?;
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let summary: Vec<_> = summarize(&runs)
        .into_iter()
        .map(|(name, stats)| (name, METRICS.iter().zip(stats).map(|(m, s)| (m.to_string(), s)).collect::<Vec<_>>()))
        .collect();
    write_text(&a.out.join("summary.json"), &serde_json::to_string_pretty(&summary)?)?;
    crate::cmd::figures::topology_figures(&a.out, &cfg, &runs)?;
    eprintln!("wrote {} (results.md, results.csv, summary.json, figures) in {minutes:.1} min", a.out.display());
    Ok(())
}

/// The table: one row per base, mean ± std over seeds of the observation-averaged metrics,
/// and the change of KL and bridge mass against the first (Gaussian) base.
fn markdown(cfg: &TopologyConfig, runs: &[TopologyRun], minutes: f64) -> String {
    let summary = summarize(runs);
    let col = |m: &str| METRICS.iter().position(|&k| k == m).expect("known metric");
    let (kl, bridge) = (col("kl_pq"), col("bridge_mass"));
    let base_kl = summary[0].1[kl].mean;
    let base_bridge = summary[0].1[bridge].mean;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Base topology on {}\n\n{} seeds × {} observations {:?}, {} samples each, {} training steps, {} layers of {:?} couplings, hidden {:?}; {:.1} min in all.\n",
        cfg.task,
        cfg.seeds.len(),
        cfg.observations.len(),
        cfg.observations,
        cfg.eval.n_samples,
        cfg.train.steps,
        cfg.flow.n_layers,
        cfg.flow.coupling,
        cfg.flow.hidden,
        minutes
    );
    let _ = writeln!(
        s,
        "| base | KL(p‖q) | ΔKL vs gaussian | bridge mass | Δbridge | KL(q‖p) | C2ST | W2 (floor) | sliced W2 | MMD² | train s |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, st) in &summary {
        let f = |m: &str, p: usize| format!("{:.p$} ± {:.p$}", st[col(m)].mean, st[col(m)].std, p = p);
        let pct = |v: f64, b: f64| if b > 0.0 { format!("{:+.0} %", 100.0 * (v / b - 1.0)) } else { "–".into() };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} | {} ({:.3}) | {} | {} | {:.0} |",
            f("kl_pq", 3),
            pct(st[kl].mean, base_kl),
            f("bridge_mass", 4),
            pct(st[bridge].mean, base_bridge),
            f("kl_qp", 3),
            f("c2st", 3),
            f("w2", 3),
            st[col("w2_floor")].mean,
            f("sliced_w2", 3),
            f("mmd2", 4),
            st[col("train_seconds")].mean,
        );
    }
    let _ = writeln!(
        s,
        "\nMeans ± std over seeds of the per-seed average over observations. Bridge mass: share of q's samples where the exact density is below 1e-3 of its maximum (the exact posterior's own share is about 1e-3). W2: exact optimal transport on {} samples; the floor in brackets is W2 between two independent exact sample sets, the noise level below which W2 cannot separate bases.",
        cfg.eval.n_samples.min(lwflow::eval::W2_MAX_SAMPLES)
    );
    s
}

/// One line per (base, seed, observation).
fn csv(runs: &[TopologyRun]) -> String {
    let mut s =
        String::from("base,seed,x,kl_pq,kl_qp,c2st,w2,w2_floor,sliced_w2,mmd2,bridge_mass,mode_shares,train_seconds\n");
    for run in runs {
        for r in &run.reports {
            let shares: Vec<String> = r.mode_shares.iter().map(|v| format!("{v:.4}")).collect();
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},\"{}\",{}",
                run.variant,
                run.seed,
                csv_vec(&r.x),
                r.kl_pq,
                r.kl_qp,
                csv_opt(r.c2st),
                csv_opt(r.w2),
                csv_opt(r.w2_floor),
                csv_opt(r.sliced_w2),
                csv_opt(r.mmd2),
                r.bridge_mass,
                shares.join(" "),
                run.train_seconds
            );
        }
    }
    s
}
