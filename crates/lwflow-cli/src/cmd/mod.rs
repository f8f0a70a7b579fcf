//! One module per subcommand.

mod bench;
mod benchmark;
mod compare;
mod components;
mod demo;
mod eval;
mod experiment;
mod figures;
mod info;
mod log_prob;
mod plot;
mod reference;
mod sample;
mod tables;
mod train;

use std::path::Path;

use anyhow::{bail, Context, Result};
use lwflow::flow::Flow;
use lwflow::importance::ImportanceDiagnostics;
use lwflow::model::Model;
use lwflow::Real;

use crate::args::{Cli, Command};

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train::run(&a),
        Command::Sample(a) => sample::run(&a),
        Command::LogProb(a) => log_prob::run(&a),
        Command::Info(a) => info::run(&a),
        Command::Demo(a) => demo::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Eval(a) => eval::run(&a),
        Command::Experiment(a) => experiment::run(&a),
        Command::Plot(a) => plot::run(&a),
        Command::Benchmark(a) => benchmark::run(&a),
        Command::Components(a) => components::run(&a),
        Command::Reference(a) => reference::run(&a),
        Command::Compare(a) => compare::run(&a),
    }
}

/// Checks every output before any work ([`lwflow::io::check_output_path`]): each file in `files` is
/// writable and none of `inputs`; `plot_dir`, if given, is not an existing file. A run then never
/// ends by discarding its result because the output cannot be written.
pub fn check_outputs(files: &[&Path], plot_dir: Option<&Path>, inputs: &[Option<&Path>]) -> Result<()> {
    let inputs: Vec<&Path> = inputs.iter().flatten().copied().collect();
    for out in files {
        lwflow::io::check_output_path(out, &inputs).context("--out")?;
    }
    if let Some(dir) = plot_dir {
        if dir.exists() && !dir.is_dir() {
            bail!("--plot-dir {}: is a file, not a directory", dir.display());
        }
    }
    Ok(())
}

/// What to do for a model file whose task is not built in (an external model).
pub const TASK_HINT: &str = "for a model trained on an external version of a built-in task, give --task NAME";

/// The built-in task `task` (or else the model file's `file_task`), checked against the flow's
/// dimensions: the likelihood for `--importance` and the reference for `eval`.
pub fn task_model<T: Real>(task: Option<&str>, file_task: &str, flow: &Flow<T>, path: &Path) -> Result<Box<dyn Model>> {
    let name = task.unwrap_or(file_task);
    let model = lwflow::tasks::by_name(name).with_context(|| match task {
        Some(_) => "--task".to_string(),
        None => format!("the model file's task '{name}' is not built in; {TASK_HINT}"),
    })?;
    if (model.theta_dim(), model.x_dim()) != (flow.theta_dim(), flow.ctx_dim()) {
        let who = if task.is_some() { "--task" } else { "the model file's task" };
        bail!(
            "{who} {name} has θ of dimension {} and x of dimension {}; the model in {} has {} and {}",
            model.theta_dim(),
            model.x_dim(),
            path.display(),
            flow.theta_dim(),
            flow.ctx_dim()
        );
    }
    Ok(model)
}

/// One line of importance diagnostics, with a warning when the ESS is below the samples asked for.
pub fn importance_line(c: &ImportanceDiagnostics, n: usize) -> String {
    let mut line = format!(
        "importance: {} draws, ESS {:.0} ({:.2}%), {} distinct of {n} resampled, log evidence {:.4}",
        c.draws,
        c.ess,
        100.0 * c.ess / c.draws as f64,
        c.unique,
        c.log_evidence
    );
    if c.ess < n as f64 {
        line.push_str(" — warning: ESS below the samples requested (repeated draws); q is far from this posterior");
    }
    line
}
