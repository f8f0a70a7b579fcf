//! `lwflow`: the command-line face of the lwflow library. Parses arguments, calls the library,
//! reports errors with context. No numerics live here.

mod args;
mod cmd;
mod config;
mod plot;
mod progress;

fn main() {
    let cli = args::Cli::parse_validated();
    if let Err(e) = cmd::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
