//! Property-based fuzzing (proptest, inside `cargo test`, so CI time stays bounded and visible)
//! of the readers of untrusted input: model files and sample files (CSV, `.npy`). The property
//! is the issue-16 contract: any bytes give `Ok` or an error, never a panic, a hang or an
//! allocation beyond the stated limits. The wire protocol's parsers are fuzzed in
//! `model/external/wire.rs` and the config reader in the CLI's `config_fuzz.rs`. Case counts are
//! fixed (no time-based budget) and failures are not persisted, so a run is reproducible.

use lwflow::flow::{BaseConfig, Flow, FlowConfig, Standardizer};
use lwflow::io::{load_flow, read_csv, read_npy, save_flow};
use lwflow::train::FlowMeta;
use lwflow::Prior;
use proptest::prelude::*;

/// Cases per property: 256 × 5 properties, about 4 s in release mode on the 2-core CI machine.
const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() }
}

/// The bytes of a valid small model file.
fn valid_model_file() -> Vec<u8> {
    let prior = Prior::uniform_box(2, -3.0, 3.0).unwrap();
    let mut cfg = FlowConfig::new(2, 2, BaseConfig::Gmm { components: 2 });
    cfg.hidden = vec![4];
    cfg.n_layers = 2;
    let norm = Standardizer { mean: vec![3.0, 3.0], std: vec![2.7, 2.7] };
    let flow = Flow::<f32>::new(cfg.clone(), &prior, norm.clone(), 1).unwrap();
    let meta = FlowMeta::untrained("square2d", prior, cfg, norm);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.lwf");
    save_flow(&path, &flow, &meta).unwrap();
    std::fs::read(path).unwrap()
}

/// Writes `bytes` to a fresh file named `name` and runs `read` on it.
fn read_bytes<T>(name: &str, bytes: &[u8], read: impl Fn(&std::path::Path) -> T) -> T {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    read(&path)
}

/// A mutation of a byte string: overwrite, insert or delete at a position, or truncate.
#[derive(Clone, Debug)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ];
    proptest::collection::vec(edit, 1..8)
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Set(i, b) if !bytes.is_empty() => bytes[i % n] = b,
            Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Edit::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % n);
            }
            Edit::Truncate(i) => bytes.truncate(i % n),
            _ => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(config())]

    /// Mutated model files (header length, JSON header, metadata, tensor bytes) load or fail cleanly.
    #[test]
    fn model_file_reader_never_panics(edits in edits()) {
        let bytes = apply(valid_model_file(), &edits);
        if let Ok((flow, meta)) = read_bytes("m.lwf", &bytes, load_flow) {
            // Whatever loads passed validation: finite parameters, a usable standardiser.
            prop_assert!(flow.params().iter().all(|p| p.is_finite()));
            prop_assert!(meta.x_standardizer.std.iter().all(|s| *s > 0.0));
        }
    }

    /// Mutations of the metadata JSON's numbers (sizes, bounds, std) are validated, not trusted.
    #[test]
    fn model_metadata_values_are_validated(key in 0usize..6, value in prop_oneof![
        Just(0.0), Just(-1.0), Just(1e-300), Just(1e12), Just(1e308), any::<f64>()
    ]) {
        let bytes = valid_model_file();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let patterns = ["\"n_layers\":2", "\"hidden\":[4]", "\"std\":[2.7", "\"low\":-3.0", "\"components\":2", "\"theta_dim\":2"];
        let replacement = match key {
            0 => format!("\"n_layers\":{value}"),
            1 => format!("\"hidden\":[{value}]"),
            2 => format!("\"std\":[{value}"),
            3 => format!("\"low\":{value}"),
            4 => format!("\"components\":{value}"),
            _ => format!("\"theta_dim\":{value}"),
        };
        // Same-length edits keep the header length valid, so the value itself is what is tested;
        // other lengths exercise the header-length check.
        let edited = text.replacen(patterns[key], &replacement, 1);
        let _ = read_bytes("m.lwf", edited.as_bytes(), load_flow);
    }

    /// Arbitrary text as a CSV of samples: parsed or a `Parse` error with file and line.
    #[test]
    fn csv_reader_never_panics(text in "[a-z0-9,.eE+\\-\"\r\n \t]{0,200}") {
        if let Ok((header, rows)) = read_bytes("s.csv", text.as_bytes(), |p| read_csv(p, None)) {
            prop_assert_eq!(header.len(), rows.cols());
            prop_assert!(rows.as_slice().iter().all(|v| v.is_finite()));
        }
    }

    /// An `.npy` magic and version, then an arbitrary header and data: read or a clear error.
    #[test]
    fn npy_reader_never_panics(
        version in 0u8..5,
        header in "\\{'descr': '<f[48]', 'fortran_order': (True|False), 'shape': \\([0-9]{0,12}(, [0-9]{0,12})?,?\\), \\}",
        pad in 0usize..80,
        data in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = b"\x93NUMPY".to_vec();
        bytes.extend_from_slice(&[version, 0]);
        let mut h = header.into_bytes();
        h.extend(std::iter::repeat_n(b' ', pad));
        h.push(b'\n');
        if version >= 2 {
            bytes.extend_from_slice(&(h.len() as u32).to_le_bytes());
        } else {
            bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
        }
        bytes.extend_from_slice(&h);
        bytes.extend_from_slice(&data);
        if let Ok(m) = read_bytes("s.npy", &bytes, read_npy) {
            prop_assert!(m.cols() >= 1 && m.as_slice().iter().all(|v| v.is_finite()));
        }
    }

    /// Raw bytes as `.npy`.
    #[test]
    fn npy_reader_takes_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = read_bytes("s.npy", &data, read_npy);
    }
}
