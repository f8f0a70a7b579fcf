//! `lwflow bench step`: the reference training step (see `lwflow::speed`), optionally against
//! PyTorch's version of the same step run by this command, with the speed ratio.

use std::process::Command;

use anyhow::{bail, Context, Result};
use lwflow::speed::reference_step;

use lwflow::nn::Activation;

use crate::args::{ActArg, BenchArgs, BenchCommand};

pub fn run(a: &BenchArgs) -> Result<()> {
    match &a.command {
        BenchCommand::Step(s) => {
            let threads = s.threads.unwrap_or_else(rayon::current_num_threads);
            lwflow::limits::check_count(
                "--threads",
                threads,
                lwflow::limits::MAX_THREADS,
                "one thread per core is enough",
            )?;
            rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().ok();
            let (act, act_name) = match s.act.unwrap_or(ActArg::Silu) {
                ActArg::Silu => (Activation::Silu, "silu"),
                ActArg::Relu => (Activation::Relu, "relu"),
            };
            let torch = match &s.torch {
                Some(script) => Some(run_torch(script, threads, s.warmup, s.steps)?),
                None => None,
            };
            let r = reference_step(s.warmup, s.steps, act);
            let label = format!("lwflow-{}/threads={threads}/{act_name}", env!("CARGO_PKG_VERSION"));
            println!("{}", r.summary(&label));
            if let Some((line, torch_ms)) = torch {
                println!("{line}");
                println!("ratio torch/lwflow (median step time) = {:.2}", torch_ms / r.median_ms);
            }
            Ok(())
        }
    }
}

/// Runs PyTorch's reference step script and returns its RESULT line and median ms.
fn run_torch(script: &std::path::Path, threads: usize, warmup: usize, steps: usize) -> Result<(String, f64)> {
    let out = Command::new("python3")
        .arg(script)
        .env("TORCH_THREADS", threads.to_string())
        .env("WARMUP", warmup.to_string())
        .env("STEPS", steps.to_string())
        .output()
        .with_context(|| format!("running python3 {}", script.display()))?;
    if !out.status.success() {
        bail!("python3 {} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("RESULT")).context("no RESULT line from the torch script")?;
    let median = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("median="))
        .and_then(|v| v.parse::<f64>().ok())
        .context("no median= in the torch RESULT line")?;
    Ok((line.to_string(), median))
}
