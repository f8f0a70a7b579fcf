//! `lwflow sample`: posterior samples for one observation (`--obs`) or for every row of a file
//! (`--obs-file`, [`lwflow::flow::Flow::sample_many`]), to CSV or .npy (with a JSON sidecar
//! naming the columns); with `--importance`, corrected by the likelihood ([`lwflow::importance`]).

use anyhow::{Context, Result};
use lwflow::flow::importance_resample_many;
use lwflow::importance::{importance_resample, ImportanceConfig};
use lwflow::io::{load_flow, parse_obs, read_samples, write_samples, write_samples_many, write_sidecar, SampleSidecar};
use lwflow::Mat;

use super::importance_line;
use crate::args::SampleArgs;

pub fn run(a: &SampleArgs) -> Result<()> {
    super::check_outputs(&[&a.out], None, &[Some(&a.model), a.obs_file.as_deref()])?;
    let (flow, meta) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let (d, x_dim) = (flow.theta_dim(), flow.ctx_dim());
    // One observation, or a file of them (clap makes sure exactly one is given).
    let (x, source) = match &a.obs_file {
        Some(path) => {
            let x = read_samples(path).with_context(|| format!("--obs-file {}", path.display()))?;
            if x.cols() != x_dim {
                anyhow::bail!(
                    "--obs-file {}: {} columns, expected {x_dim} (one observation x per row, of the model's x dimension)",
                    path.display(),
                    x.cols()
                );
            }
            (x, path.display().to_string())
        }
        None => {
            let obs = a.obs.as_deref().context("--obs or --obs-file is required")?;
            (Mat::from_vec(1, x_dim, parse_obs(obs, x_dim).context("--obs")?), obs.to_string())
        }
    };
    if let Some(r) = &meta.refined {
        if (0..x.rows()).any(|j| x.row(j) != r.x.as_slice()) {
            eprintln!(
                "warning: {} was refined for the observation {:?} (`lwflow refine`); for other observations \
                 its samples are neither refined nor what the amortized flow gave",
                a.model.display(),
                r.x
            );
        }
    }
    let many = a.obs_file.is_some();
    lwflow::limits::check_sample_values("samples (--num)", a.num, d)?;
    let samples = if a.importance {
        let model = super::model_of_file(a.task.as_deref(), a.config.as_deref(), &meta, d, x_dim, &a.model)?;
        let cfg = ImportanceConfig::default();
        if many {
            let (samples, diagnostics) =
                importance_resample_many(model.as_ref(), &flow, x.as_ref(), a.num, &cfg, a.seed)?;
            for (j, c) in diagnostics.iter().enumerate() {
                eprintln!("observation {j}: {}", importance_line(c, a.num));
            }
            samples
        } else {
            let corrected = importance_resample(model.as_ref(), &flow, x.row(0), a.num, &cfg, a.seed)?;
            eprintln!("{}", importance_line(&corrected.diagnostics, a.num));
            corrected.samples
        }
    } else if many {
        flow.sample_many(x.as_ref(), a.num, a.seed)?
    } else {
        flow.sample(x.row(0), a.num, a.seed)?
    };
    // The prior's names (`[prior] names`), else theta_1 .. theta_d.
    let names = meta.prior.names();
    let written = if many {
        write_samples_many(&a.out, &names, samples.as_ref(), x.rows())
    } else {
        write_samples(&a.out, &names, samples.as_ref())
    };
    written.with_context(|| format!("writing {}", a.out.display()))?;
    if a.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
        let (shape, axes) = if many {
            (vec![x.rows(), a.num, d], vec!["obs", "draw", "theta"])
        } else {
            (vec![a.num, d], vec!["draw", "theta"])
        };
        let sidecar = SampleSidecar {
            shape,
            axes: axes.into_iter().map(String::from).collect(),
            names,
            model: meta.model.clone(),
            model_file: a.model.display().to_string(),
            seed: a.seed,
            importance: a.importance,
            observations: source,
        };
        write_sidecar(&a.out, &sidecar).with_context(|| format!("writing the sidecar of {}", a.out.display()))?;
    }
    Ok(())
}

/// Column names theta_1 .. theta_d (of an unnamed prior).
pub fn theta_header(d: usize) -> Vec<String> {
    lwflow::Prior::default_names(d)
}
