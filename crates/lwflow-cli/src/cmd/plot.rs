//! `lwflow plot`: a corner plot of posterior samples, optionally over reference samples.

use std::path::Path;

use anyhow::{bail, Context, Result};
use lwflow::io::{load_flow, parse_obs, read_csv};

use crate::args::PlotArgs;
use crate::plot::corner;

pub fn run(a: &PlotArgs) -> Result<()> {
    let (flow, meta) = load_flow(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let x = parse_obs(&a.obs, flow.ctx_dim()).context("--obs")?;
    let dim = flow.theta_dim();
    let labels: Vec<String> = match &a.labels {
        Some(text) => {
            let labels: Vec<String> = text.split(',').map(|l| l.trim().to_string()).collect();
            if labels.len() != dim {
                bail!(
                    "--labels: {} labels for θ of dimension {dim}; give one per dimension, comma-separated",
                    labels.len()
                );
            }
            labels
        }
        None => match meta.prior.given_names() {
            Some(names) => names.to_vec(),
            None => (1..=dim).map(|k| format!("θ{k}")).collect(),
        },
    };
    let samples = flow.sample(&x, a.num, a.seed)?;
    let overlay = match &a.reference {
        Some(path) => Some(read_csv(path, Some(dim))?.1),
        None => None,
    };
    let title = a.title.clone().unwrap_or_else(|| default_title(&meta.model, &a.model, &x));
    corner(&a.out, samples.as_ref(), overlay.as_ref().map(|m| m.as_ref()), &labels, &title)
        .with_context(|| format!("writing {}", a.out.display()))
}

/// Longest model name shown in a default title; longer ones (an external model's command line)
/// are replaced by the model file's name, which fits above even a one-panel plot.
const MAX_TITLE_NAME: usize = 32;
/// Observation values shown in a default title; the rest are counted.
const MAX_TITLE_VALUES: usize = 4;

/// "`name`: q(θ | x = (1, 0.5))": the model's name, or for a long one the file's stem, and the
/// first few values of x.
fn default_title(model_name: &str, file: &Path, x: &[f64]) -> String {
    let name = if model_name.chars().count() <= MAX_TITLE_NAME {
        model_name.to_string()
    } else {
        file.file_stem()
            .map_or_else(|| model_name.chars().take(MAX_TITLE_NAME).collect(), |s| s.to_string_lossy().into())
    };
    let shown: Vec<String> = x.iter().take(MAX_TITLE_VALUES).map(|v| format!("{}", round_to_4_digits(*v))).collect();
    let more = if x.len() > MAX_TITLE_VALUES { format!(", … {} values", x.len()) } else { String::new() };
    format!("{name}: q(θ | x = ({}{more}))", shown.join(", "))
}

/// `v` to 4 significant digits (so 0.1 + 0.2 shows as 0.3), printed in its shortest form.
fn round_to_4_digits(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(3 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_titles_are_short() {
        let file = Path::new("/runs/sinusoid.lwf");
        assert_eq!(default_title("square2d", file, &[1.0, 0.5]), "square2d: q(θ | x = (1, 0.5))");
        let long = "external(python3 /home/someone/projects/physics/sinusoid_model.py --noise 0.1)";
        assert_eq!(default_title(long, file, &[0.1 + 0.2, -1234.5678]), "sinusoid: q(θ | x = (0.3, -1235))");
        let x = [0.5, -1.2, 1.1, 0.3, -0.7, 0.9, 2.0, -0.4];
        assert_eq!(default_title("slcp", file, &x), "slcp: q(θ | x = (0.5, -1.2, 1.1, 0.3, … 8 values))");
    }
}
