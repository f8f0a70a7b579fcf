//! Property-based fuzzing of the config reader (proptest, inside `cargo test`): any TOML text,
//! and any value in any key of a valid config, gives a `TrainFile` or an error naming file and
//! line, never a panic (e.g. `timeout_seconds = 1e308`, a prior of ±1e308).

use std::path::Path;

use proptest::prelude::*;

use crate::config::TrainFile;

/// Cases per property: 512 × 2, about a second in release mode.
const CASES: u32 = 512;

/// A valid config with an external model: (line before the value, value); each property
/// replaces one value.
const TEMPLATE: [(&str, &str); 13] = [
    ("seed = ", "1"),
    ("[model]\nkind = \"external\"\ncommand = ", "[\"python3\", \"m.py\"]"),
    ("theta_dim = ", "2"),
    ("x_dim = ", "3"),
    ("timeout_seconds = ", "5"),
    ("workers = ", "2"),
    ("[prior]\nkind = \"uniform\"\nlow = ", "[-3.0, -3.0]"),
    ("high = ", "[3.0, 3.0]"),
    ("[base]\nkind = \"gmm\"\ncomponents = ", "6"),
    ("[flow]\nlayers = ", "3"),
    ("hidden = ", "32"),
    ("[train]\nsteps = ", "20"),
    ("lr = ", "0.002"),
];

fn text(replace: Option<(usize, &str)>) -> String {
    let mut out = String::new();
    for (k, (before, value)) in TEMPLATE.iter().enumerate() {
        let value = match replace {
            Some((i, v)) if i == k => v,
            _ => value,
        };
        out.push_str(&format!("{before}{value}\n"));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn config_reader_takes_any_text(text in "\\PC{0,200}") {
        let _ = TrainFile::parse(Path::new("fuzz.toml"), &text);
    }

    #[test]
    fn config_reader_takes_any_value_in_any_key(
        key in 0..TEMPLATE.len(),
        value in prop_oneof![
            Just("1e308".to_string()), Just("-1e308".to_string()), Just("1e-12".to_string()),
            Just("0".to_string()), Just("-1".to_string()), Just("nan".to_string()), Just("inf".to_string()),
            Just("18446744073709551615".to_string()), Just("[-1e308, 1e308]".to_string()),
            Just("\"\"".to_string()), Just("[]".to_string()), "-?[0-9]{1,25}(\\.[0-9]{0,5})?(e-?[0-9]{1,3})?",
        ],
    ) {
        let _ = TrainFile::parse(Path::new("fuzz.toml"), &text(Some((key, &value))));
    }
}

#[test]
fn template_is_a_valid_config() {
    TrainFile::parse(Path::new("fuzz.toml"), &text(None)).unwrap();
}
