//! One module per subcommand.

mod bench;
mod benchmark;
mod check;
mod compare;
mod components;
mod demo;
mod eval;
mod experiment;
mod figures;
mod file_model;
mod info;
mod log_prob;
mod plot;
mod reference;
mod refine;
mod sample;
mod tables;
mod train;

use std::path::Path;

use anyhow::{bail, Context, Result};
pub use file_model::model_of_file;
use lwflow::importance::ImportanceDiagnostics;

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
        Command::Check(a) => check::run(&a),
        Command::Refine(a) => refine::run(&a),
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
