//! The reference training step (see `lwflow::bench`): median/min/max milliseconds per step for
//! SiLU and ReLU, plus the loss trajectory to compare with `bench/torch_step.py`.
//!
//! `RAYON_NUM_THREADS=2 cargo bench -p lwflow --bench step` (WARMUP, STEPS, ACT env vars as in
//! the Python script; defaults 10, 60 and both activations).

use lwflow::bench::reference_step;
use lwflow::nn::Activation;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let (warmup, steps) = (env_usize("WARMUP", 10), env_usize("STEPS", 60));
    let threads = rayon::current_num_threads();
    println!("{:<6} {:>10} {:>10} {:>10} {:>6}", "act", "median_ms", "min_ms", "max_ms", "steps");
    let mut lines = Vec::new();
    // ACT=silu or ACT=relu runs one activation only (as torch_step.py's ACT); default both.
    let only = std::env::var("ACT").ok();
    for (name, act) in [("silu", Activation::Silu), ("relu", Activation::Relu)] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let b = reference_step(warmup, steps, act);
        println!("{name:<6} {:>10.3} {:>10.3} {:>10.3} {:>6}", b.median_ms, b.min_ms, b.max_ms, b.steps);
        lines.push(b.summary(&format!("lwflow/threads={threads}/{name}")));
    }
    for l in lines {
        println!("{l}");
    }
}
