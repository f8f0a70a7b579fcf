//! `lwflow check`: calibration diagnostics of a trained model without a reference posterior
//! ([`lwflow::diagnostics`]): N pairs from the prior predictive (or `--pairs FILE`), then SBC,
//! HPD coverage, TARP, the importance ESS per observation and the posterior predictive check at
//! chosen observations; a table (or `--json`), and with `--out DIR` the JSON report and the
//! figures.

use std::path::Path;

use anyhow::{bail, Context, Result};
use lwflow::diagnostics::{
    check, posterior_predictive, prior_predictive_pairs, CheckConfig, CheckReport, Posterior, Stage,
};
use lwflow::io::{load_flow, parse_obs, read_samples};
use lwflow::Mat;
use lwflow::Model;

use super::model_of_file;
use crate::args::CheckArgs;
use crate::progress::Progress;

pub fn run(a: &CheckArgs) -> Result<()> {
    if !(a.alpha > 0.0 && a.alpha < 1.0) {
        bail!("--alpha {}: expected a level in (0, 1)", a.alpha);
    }
    if let Some(dir) = &a.out {
        if dir.exists() && !dir.is_dir() {
            bail!("--out {}: is a file, not a directory", dir.display());
        }
    }
    let (flow, meta) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let (d, x_dim) = (flow.theta_dim(), flow.ctx_dim());
    let model = model_of_file(a.task.as_deref(), a.config.as_deref(), &meta, d, x_dim, &a.model)?;
    let (theta, x) = match &a.pairs {
        Some(path) => read_pairs(path, d, x_dim)?,
        None => prior_predictive_pairs(model.as_ref(), a.simulations, a.seed)
            .with_context(|| format!("simulating {} pairs from {}", a.simulations, model.name()))?,
    };
    let cfg = CheckConfig {
        n_draws: a.draws,
        alpha: a.alpha,
        ess_draws: a.ess_draws,
        ess_observations: a.ess_obs,
        ppc_observations: if a.ppc_obs.is_empty() { a.ppc } else { 0 },
        ppc_draws: a.ppc_draws,
        seed: a.seed,
        ..CheckConfig::default()
    };
    let own_obs = parse_ppc_obs(&a.ppc_obs, x_dim)?;
    let mut bar: Option<(Stage, Progress)> = None;
    let mut progress = |stage: Stage, done: usize, total: usize| {
        if !matches!(&bar, Some((s, _)) if *s == stage) {
            if let Some((_, mut old)) = bar.take() {
                old.finish("");
            }
            bar = Some((stage, Progress::new(total as u64, a.quiet)));
        }
        if let Some((_, p)) = bar.as_mut() {
            let what = match stage {
                Stage::Ranks => "posterior draws and ranks",
                Stage::Ess => "importance ESS",
                Stage::Ppc => "posterior predictive check",
            };
            p.update(done as u64, &format!("{what}: {done}/{total} observations"));
        }
    };
    let mut report = check(&flow, model.as_ref(), theta.as_ref(), x.as_ref(), &cfg, &mut progress)
        .with_context(|| format!("checking {}", a.model.display()))?;
    if let Some(obs) = own_obs {
        let started = std::time::Instant::now();
        let (q, m): (&dyn Posterior, &dyn Model) = (&flow, model.as_ref());
        let ppc = posterior_predictive(q, m, obs.as_ref(), 0, &cfg.ppc(), &mut |done, total| {
            progress(Stage::Ppc, done, total)
        })
        .context("posterior predictive check at --ppc-obs")?;
        report = report.with_ppc(ppc, started.elapsed().as_secs_f64());
    }
    if let Some((_, mut p)) = bar.take() {
        p.finish("");
    }
    if let Some(dir) = &a.out {
        write_outputs(dir, &report)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// θ* and x from a pair file: `d` θ columns, then `x_dim` x columns.
fn read_pairs(path: &Path, d: usize, x_dim: usize) -> Result<(Mat<f64>, Mat<f64>)> {
    let rows = read_samples(path).with_context(|| format!("--pairs {}", path.display()))?;
    if rows.cols() != d + x_dim {
        bail!(
            "--pairs {}: expected {} columns (θ: {d}, then x: {x_dim}), got {}",
            path.display(),
            d + x_dim,
            rows.cols()
        );
    }
    if rows.rows() == 0 {
        bail!("--pairs {}: no rows", path.display());
    }
    if let Some(r) = (0..rows.rows()).find(|&r| rows.row(r).iter().any(|v| !v.is_finite())) {
        bail!("--pairs {}: row {} holds NaN or infinity", path.display(), r + 1);
    }
    let theta = Mat::from_fn(rows.rows(), d, |r, c| rows.row(r)[c]);
    let x = Mat::from_fn(rows.rows(), x_dim, |r, c| rows.row(r)[d + c]);
    Ok((theta, x))
}

/// The observations of `--ppc-obs` as rows (`None` when not given).
fn parse_ppc_obs(obs: &[String], x_dim: usize) -> Result<Option<Mat<f64>>> {
    let rows: Vec<&str> = obs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let mut out = Mat::zeros(rows.len(), x_dim);
    for (r, text) in rows.iter().enumerate() {
        let x = parse_obs(text, x_dim).with_context(|| format!("--ppc-obs {text}"))?;
        out.row_mut(r).copy_from_slice(&x);
    }
    Ok(Some(out))
}

fn write_outputs(dir: &Path, report: &CheckReport) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating --out {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    let path = dir.join("check.json");
    lwflow::io::write_atomic(&path, |w| w.write_all(json.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    crate::plot::sbc_ecdf(&dir.join("sbc_ecdf.png"), &report.sbc)?;
    crate::plot::coverage(&dir.join("coverage.png"), &report.coverage, &report.tarp)?;
    if let Some(ppc) = &report.ppc {
        crate::plot::ppc(&dir.join("ppc.png"), ppc)?;
    }
    Ok(())
}

fn print_table(r: &CheckReport) {
    println!("{} pairs, {} posterior draws each; α = {}", r.n_simulations, r.n_draws, r.summary.alpha);
    println!("{:<16} {:>12} {:>12}  verdict", "test", "statistic", "p-value");
    for t in &r.summary.tests {
        let p = t.p_value.map_or("–".to_string(), |p| format!("{p:.3e}"));
        println!("{:<16} {:>12.3e} {:>12}  {}", t.name, t.statistic, p, if t.passed { "pass" } else { "FAIL" });
    }
    let worst = r.sbc.dimensions.iter().min_by(|a, b| a.p_value_holm.total_cmp(&b.p_value_holm));
    if let Some(w) = worst {
        println!(
            "SBC: weakest {} (Holm p = {:.3e}, mean rank offset {:+.3})",
            w.name, w.p_value_holm, w.mean_rank_offset
        );
    }
    let tone = |dev: f64| if dev < 0.0 { "over-confident side" } else { "under-confident side" };
    println!("coverage: mean deviation {:+.3} ({})", r.coverage.mean_deviation, tone(r.coverage.mean_deviation));
    println!("TARP: mean deviation {:+.3}", r.tarp.mean_deviation);
    if let Some(e) = &r.ess {
        let q = &e.quantiles;
        println!(
            "importance ESS/draws over {} observations ({} draws each): min {:.3}, 5% {:.3}, median {:.3}, max {:.3}; {} flagged below {}",
            e.observations.len(),
            e.draws,
            q.min,
            q.q05,
            q.median,
            q.max,
            e.flagged.len(),
            e.flag_below
        );
    }
    if let Some(p) = &r.ppc {
        let u: Vec<f64> = p.all_quantiles();
        let extreme = u.iter().filter(|&&q| !(0.025..=0.975).contains(&q)).count();
        println!(
            "predictive check over {} observations ({} draws each): {} of {} quantiles beyond [0.025, 0.975]; {} observations flagged (outside the central {:.4} interval)",
            p.observations.len(),
            p.draws,
            extreme,
            u.len(),
            p.flagged.len(),
            1.0 - 2.0 * p.flag_tail
        );
    }
    println!("calibrated: {}", if r.summary.calibrated { "yes" } else { "no" });
    println!(
        "seconds: ranks {:.1}, tests {:.1}, ESS {:.1}, predictive check {:.1}",
        r.seconds.ranks, r.seconds.tests, r.seconds.ess, r.seconds.ppc
    );
}
