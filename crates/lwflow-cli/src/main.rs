//! Placeholder: replaced by the real dispatcher, which uses everything these modules export.
#[allow(dead_code)]
mod args;
#[allow(dead_code)]
mod progress;

fn main() {
    let _ = args::Cli::parse_validated();
}
