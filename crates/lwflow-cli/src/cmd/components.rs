//! `lwflow components`: the number of mixture components `--components auto` picks on a task
//! (or a config file's model, or a model file's), one selection per seed, without training.

use anyhow::{Context, Result};
use lwflow::io::load_flow;
use lwflow::train::{auto_components, AutoK, AutoKConfig};

use crate::args::ComponentsArgs;
use crate::config::{open_model, TrainFile};

/// The auto-K settings of `lwflow components` and `lwflow train --components auto`: library
/// defaults with the given overrides.
pub fn auto_config(seed: u64, obs: Option<usize>, particles: Option<usize>, k_max: Option<usize>) -> AutoKConfig {
    let d = AutoKConfig::default();
    AutoKConfig {
        n_obs: obs.unwrap_or(d.n_obs),
        n_particles: particles.unwrap_or(d.n_particles),
        k_max: k_max.unwrap_or(d.k_max),
        seed,
        ..d
    }
}

/// "count×times" for each distinct count, ascending, e.g. "2×1 4×15".
pub fn count_histogram(counts: &[usize]) -> String {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let n = sorted[i..].iter().take_while(|&&c| c == sorted[i]).count();
        parts.push(format!("{}×{n}", sorted[i]));
        i += n;
    }
    parts.join(" ")
}

pub fn run(a: &ComponentsArgs) -> Result<()> {
    let model = match &a.model {
        Some(path) => {
            let (flow, meta) = load_flow(path).with_context(|| format!("loading {}", path.display()))?;
            super::model_of_file(a.task.as_deref(), a.config.as_deref(), &meta, flow.theta_dim(), flow.ctx_dim(), path)?
        }
        None => {
            let file = a.config.as_deref().map(TrainFile::read).transpose()?;
            open_model(a.task.as_deref().or(file.as_ref().and_then(TrainFile::task)), file.as_ref())?
        }
    };
    let name = model.name();
    if !a.json {
        println!(
            "| task | seed | K | modes per x (count×obs) | BIC Gaussians per x | strongest split | seconds (SMC) |"
        );
        println!("|---|---|---|---|---|---|---|");
    }
    for seed in 1..=a.seeds as u64 {
        let cfg = auto_config(seed, a.obs, a.particles, a.k_max);
        let pick: AutoK = auto_components(model.as_ref(), &cfg)
            .with_context(|| format!("choosing components for {name} (seed {seed})"))?;
        if a.json {
            println!("{}", serde_json::json!({ "task": name, "seed": seed, "auto_components": pick }));
            continue;
        }
        let split = pick.per_obs_strongest_split.iter().fold(0.0f64, |m, &v| m.max(v));
        println!(
            "| {name} | {seed} | {} | {} | {} | {split:.3} | {:.1} ({:.1}) |",
            pick.k,
            count_histogram(&pick.per_obs_counts),
            count_histogram(&pick.per_obs_bic_components),
            pick.seconds,
            pick.smc_seconds
        );
    }
    Ok(())
}
