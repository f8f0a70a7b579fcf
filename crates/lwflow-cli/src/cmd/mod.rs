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

use anyhow::Result;

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
