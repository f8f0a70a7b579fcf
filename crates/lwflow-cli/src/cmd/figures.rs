//! Figures of the base-topology experiment (presentation only): for 2-D tasks, density heat
//! maps of the exact posterior and of every base's flow side by side (log colour scale, so
//! bridges of low mass show); for 3-D tasks, pairwise marginals of samples.

use std::path::Path;

use anyhow::{Context, Result};
use lwflow::experiment::{flow_density_grid, reference_density_grid, TopologyConfig, TopologyRun};
use lwflow::rng::{stream, Stream};

use crate::plot::{heatmaps, pair_marginals, Heatmap};

/// Grid cells per axis of the heat maps.
const GRID: usize = 160;
/// Samples per set in the 3-D pairwise marginals.
const PAIR_SAMPLES: usize = 4000;

/// Writes `density_obs{i}.png` (2-D) or `pairs_obs{i}.png` (3-D) per observation for the first
/// seed, plus an SVG of the first observation's figure.
pub fn topology_figures(dir: &Path, cfg: &TopologyConfig, runs: &[TopologyRun]) -> Result<()> {
    let seed = cfg.seeds[0];
    let first: Vec<&TopologyRun> = runs.iter().filter(|r| r.seed == seed).collect();
    let (lo, hi) = (-3.0, 3.0);
    for (i, x) in cfg.observations.iter().enumerate() {
        let reference = lwflow::tasks::reference_for(&cfg.task, x)?.context("task has an exact reference")?;
        let label = format!("x = {x:?}");
        let exts: &[&str] = if i == 0 { &["png", "svg"] } else { &["png"] };
        match x.len() {
            2 => {
                let mut panels = vec![Heatmap {
                    title: format!("exact, {label}"),
                    values: reference_density_grid(reference.as_ref(), lo, hi, GRID),
                    x_range: (lo, hi),
                    y_range: (lo, hi),
                }];
                for run in &first {
                    panels.push(Heatmap {
                        title: run.variant.clone(),
                        values: flow_density_grid(&run.flow, x, lo, hi, GRID)?,
                        x_range: (lo, hi),
                        y_range: (lo, hi),
                    });
                }
                for ext in exts {
                    heatmaps(&dir.join(format!("density_obs{i}.{ext}")), &panels, true)?;
                }
            }
            3 => {
                let exact = reference.sample(&mut stream(seed, Stream::Metric, 77, i as u64), PAIR_SAMPLES);
                let mut sets = vec![(format!("exact, {label}"), exact)];
                for run in &first {
                    sets.push((run.variant.clone(), run.flow.sample(x, PAIR_SAMPLES, seed)?));
                }
                let views: Vec<(String, lwflow::MatRef<f64>)> =
                    sets.iter().map(|(n, m)| (n.clone(), m.as_ref())).collect();
                for ext in exts {
                    pair_marginals(&dir.join(format!("pairs_obs{i}.{ext}")), &views, &[(lo, hi); 3])?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}
