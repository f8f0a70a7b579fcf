//! `lwflow`: the command-line face of the lwflow library. Parses arguments, calls the library,
//! reports errors with context. No numerics live here.

mod args;
mod cmd;
mod config;
#[cfg(test)]
mod config_fuzz;
mod plot;
mod progress;

use std::io::Write;

fn main() {
    handle_signals();
    report_closed_output();
    let cli = args::Cli::parse_validated();
    if let Err(e) = cmd::run(cli) {
        let _ = writeln!(std::io::stderr(), "error: {e:#}");
        std::process::exit(1);
    }
}

/// SIGINT and SIGTERM: remove the temp files of writes in flight and kill the external models'
/// process groups, then exit with 128 + the signal's number, as the default action reports it.
/// SIGXFSZ (`ulimit -f` exceeded) is caught and ignored, so the write that exceeded the limit
/// fails with "File too large" and is reported (and its temp file removed) like any write error.
fn handle_signals() {
    use signal_hook::consts::{SIGINT, SIGTERM, SIGXFSZ};
    // Registering a handler, even one that only sets a flag, replaces the default "terminate".
    let _ = signal_hook::flag::register(SIGXFSZ, std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)));
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            lwflow::io::remove_temp_files();
            lwflow::model::kill_external_processes();
            let name = if signal == SIGINT { "interrupted" } else { "terminated" };
            let _ = writeln!(
                std::io::stderr(),
                "\nlwflow: {name}; writes in progress were abandoned (their temporary files removed)"
            );
            std::process::exit(128 + signal);
        }
    });
}

/// `println!` panics when stdout is closed or full (`lwflow info > /dev/full`); say so in one line
/// and exit with status 1 instead of printing a panic.
fn report_closed_output() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if let Some(rest) = message.strip_prefix("failed printing to ") {
            let _ = writeln!(std::io::stderr(), "error: cannot write to {rest}");
            std::process::exit(1);
        }
        default(info);
    }));
}
