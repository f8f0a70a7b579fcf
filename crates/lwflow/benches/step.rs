//! The reference training step (see `lwflow::speed`): median/min/max milliseconds per step for
//! SiLU and ReLU, plus the loss trajectory to compare with `bench/torch_step.py`.
//!
//! `RAYON_NUM_THREADS=2 cargo bench -p lwflow --bench step` (WARMUP, STEPS, ACT env vars as in
//! the Python script; defaults 10, 60 and both activations). With `TORCH_STEP=/path/to/torch_step.py`
//! the PyTorch peer is run right after each of our runs (python3, `TORCH_THREADS` = our thread
//! count) and the table gains its median and the ratio torch / lwflow (> 1: we are faster).

use lwflow::nn::Activation;
use lwflow::speed::reference_step;
use std::process::Command;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs torch_step.py and returns its RESULT line and median milliseconds.
fn torch_median(script: &str, act: &str, threads: usize, warmup: usize, steps: usize) -> Option<(String, f64)> {
    let out = Command::new("python3")
        .arg(script)
        .env("TORCH_THREADS", threads.to_string())
        .env("ACT", act)
        .env("WARMUP", warmup.to_string())
        .env("STEPS", steps.to_string())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("RESULT"))?.to_string();
    let median = line.split("median=").nth(1)?.split_whitespace().next()?.parse().ok()?;
    Some((line, median))
}

fn main() {
    let (warmup, steps) = (env_usize("WARMUP", 10), env_usize("STEPS", 60));
    let threads = rayon::current_num_threads();
    let torch = std::env::var("TORCH_STEP").ok();
    // ACT=silu or ACT=relu runs one activation only (as torch_step.py's ACT); default both.
    let only = std::env::var("ACT").ok();
    println!(
        "{:<6} {:>10} {:>10} {:>10} {:>6} {:>16} {:>12}",
        "act", "median_ms", "min_ms", "max_ms", "steps", "torch_median_ms", "torch/ours"
    );
    let mut lines = Vec::new();
    for (name, act) in [("silu", Activation::Silu), ("relu", Activation::Relu)] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let b = reference_step(warmup, steps, act);
        let peer = torch.as_deref().and_then(|s| torch_median(s, name, threads, warmup, steps));
        let (t_med, ratio) = match &peer {
            Some((_, m)) => (format!("{m:.3}"), format!("{:.2}", m / b.median_ms)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{name:<6} {:>10.3} {:>10.3} {:>10.3} {:>6} {t_med:>16} {ratio:>12}",
            b.median_ms, b.min_ms, b.max_ms, b.steps
        );
        lines.push(b.summary(&format!("lwflow/threads={threads}/{name}")));
        if let Some((line, _)) = peer {
            lines.push(line);
        }
    }
    for l in lines {
        println!("{l}");
    }
}
