//! `lwflow experiment base-topology`: the paper's experiment, written as a Markdown table, a
//! CSV of every (base, seed, observation), a JSON summary and figures.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use lwflow::experiment::{
    base_topology, summarize, theta_scaling, ScalingConfig, ScalingRow, TopologyConfig, TopologyRun, METRICS,
};

use crate::args::{BaseTopologyArgs, ExperimentArgs, ExperimentCommand, ThetaScalingArgs};
use crate::cmd::tables::{csv_opt, csv_vec, write_text};

pub fn run(a: &ExperimentArgs) -> Result<()> {
    match &a.command {
        ExperimentCommand::BaseTopology(b) => base_topology_cmd(b),
        ExperimentCommand::ThetaScaling(t) => theta_scaling_cmd(t),
    }
}

fn theta_scaling_cmd(a: &ThetaScalingArgs) -> Result<()> {
    let cfg = ScalingConfig {
        dims: a.dims.clone(),
        steps: a.steps,
        observations: a.observations,
        samples: a.samples,
        c2st: a.c2st,
        seed: a.seed,
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let started = std::time::Instant::now();
    let mut done: Vec<ScalingRow> = Vec::new();
    let mut partial_error = None;
    let rows = theta_scaling(&cfg, &mut |row| {
        eprintln!(
            "dim {}: {} steps in {:.0} s, KL {:.3} ± {:.3}",
            row.dim, row.steps, row.train_seconds, row.kl.mean, row.kl.std
        );
        done.push(row.clone());
        // Partial tables after every dimension, so a long run's progress is on disk.
        if let Err(e) = write_text(&a.out.join("results.md"), &scaling_markdown(&cfg, &done)) {
            partial_error.get_or_insert(e);
        }
    })?;
    if let Some(e) = partial_error {
        return Err(e);
    }
    write_text(&a.out.join("results.md"), &scaling_markdown(&cfg, &rows))?;
    write_text(&a.out.join("results.json"), &serde_json::to_string_pretty(&rows)?)?;
    crate::plot::theta_scaling(&a.out.join("scaling.png"), &rows)?;
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    eprintln!("wrote {} (results.md, results.json, scaling.png) in {minutes:.1} min", a.out.display());
    Ok(())
}

/// The θ-scaling table: one row per dimension.
fn scaling_markdown(cfg: &ScalingConfig, rows: &[ScalingRow]) -> String {
    let mut s = String::from("# θ-scaling: gaussian_linear in dimension d\n\n");
    let _ = writeln!(
        s,
        "{} observations per d, {} samples each; KL(p‖q) against the exact posterior as mean ± sd over \
         observations; seed {}.\n",
        cfg.observations, cfg.samples, cfg.seed
    );
    let _ = writeln!(
        s,
        "| d | flow parameters | steps | train s | likelihood evals | proposal | KL(p‖q) | KL / d | C2ST | ms/step | \
         likelihood ms | flow gradient ms | rest ms |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let c2st = r.c2st.map_or("–".to_string(), |c| format!("{:.3} ± {:.3}", c.mean, c.std));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.2e} | {} | {:.3} ± {:.3} | {:.4} | {c2st} | {:.1} | {:.1} | {:.1} | {:.1} |",
            r.dim,
            r.params,
            r.steps,
            r.train_seconds,
            r.likelihood_evals as f64,
            if r.adaptive { "adaptive" } else { "prior" },
            r.kl.mean,
            r.kl.std,
            r.kl.mean / r.dim as f64,
            r.step_ms,
            r.likelihood_ms,
            r.gradient_ms,
            r.step_ms - r.likelihood_ms - r.gradient_ms,
        );
    }
    s.push_str(
        "\nms/step: training seconds over steps. Likelihood ms: one step's likelihood evaluations \
         (obs_per_step × thetas_per_step pairs); flow gradient ms: one step's forward and backward passes \
         and Adam; both timed on the trained flow at the step's shapes (median of 7). Rest: drawing θ (and, \
         with the adaptive proposal, sampling q and its density at the draws), weights, validation.\n",
    );
    s
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
