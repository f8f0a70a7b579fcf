//! Sample files for many observations ([`crate::flow::Flow::sample_many`]): one NumPy `.npy`
//! array of shape (n_obs, n, d), or a long CSV whose first column `obs` is the observation's
//! 0-based row, then one column per parameter. A `.npy` carries no column names, so a JSON
//! sidecar `F.npy.json` ([`SampleSidecar`]) beside it says what the axes and columns are.

use std::path::{Path, PathBuf};

use super::atomic::write_atomic;
use super::samples::{check_written, write_csv, write_npy_shaped};
use crate::error::{Error, Result};
use crate::mat::{Mat, MatRef};

/// What a `.npy` of samples holds, written beside it as `F.npy.json` so names and provenance
/// travel with the array (`json.load` in Python; axes are named in `axes`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SampleSidecar {
    /// The array's shape: (n_obs, n, d) for many observations, (n, d) for one.
    pub shape: Vec<usize>,
    /// What each axis indexes, e.g. ["obs", "draw", "theta"].
    pub axes: Vec<String>,
    /// Parameter names, one per θ column (the prior's `names`, or theta_1 .. theta_d).
    pub names: Vec<String>,
    /// The model the flow was trained on (a task name or a model's description).
    pub model: String,
    /// The model file sampled.
    pub model_file: String,
    /// The sampler's seed.
    pub seed: u64,
    /// Whether the draws were importance-corrected by the likelihood.
    pub importance: bool,
    /// Where the observations came from: the `--obs` values or the observation file.
    pub observations: String,
}

/// The sidecar's path for the `.npy` file `npy`: `F.npy` → `F.npy.json`.
pub fn sidecar_path(npy: &Path) -> PathBuf {
    let mut name = npy.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// Writes `sidecar` to [`sidecar_path`]`(npy)`, atomically.
pub fn write_sidecar(npy: &Path, sidecar: &SampleSidecar) -> Result<()> {
    let text = serde_json::to_string_pretty(sidecar).expect("strings and numbers serialise");
    write_atomic(&sidecar_path(npy), |w| {
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")
    })
}

/// Writes the draws of `n_obs` observations (`rows`: (n_obs·n) × d, observation j's n draws in
/// rows j·n .. (j+1)·n) as `.npy` of shape (n_obs, n, d) if `path` ends in `.npy` (any case),
/// else as CSV with the header `obs`, `names`… and one row per draw, atomically. Samples must be
/// finite (an [`Error::Invalid`] names the row and column).
pub fn write_samples_many(path: &Path, names: &[String], rows: MatRef<f64>, n_obs: usize) -> Result<()> {
    if names.len() != rows.cols() {
        return Err(Error::Shape { what: "write_samples_many names", expected: rows.cols(), got: names.len() });
    }
    let n = match rows.rows().checked_div(n_obs) {
        Some(n) if n * n_obs == rows.rows() => n,
        _ => {
            return Err(Error::invalid(
                "write_samples_many rows",
                format!("{} rows are not n draws for each of {n_obs} observations", rows.rows()),
            ))
        }
    };
    check_written(path, rows, false)?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
        write_npy_shaped(path, rows, &[n_obs, n, rows.cols()])
    } else {
        let header: Vec<String> = std::iter::once("obs".to_string()).chain(names.iter().cloned()).collect();
        let long =
            Mat::from_fn(rows.rows(), rows.cols() + 1, |r, c| if c == 0 { (r / n) as f64 } else { rows.at(r, c - 1) });
        write_csv(path, &header, long.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{read_csv, scratch_dir};

    fn draws(n_obs: usize, n: usize) -> Mat<f64> {
        Mat::from_fn(n_obs * n, 2, |r, c| r as f64 * 0.5 - c as f64 / 3.0)
    }

    fn names() -> Vec<String> {
        vec!["freq".into(), "phase".into()]
    }

    #[test]
    fn npy_has_the_observation_axis_and_the_values_in_order() {
        let dir = scratch_dir("many-npy");
        let path = dir.path().join("s.npy");
        let m = draws(3, 4);
        write_samples_many(&path, &names(), m.as_ref(), 3).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.contains("'shape': (3, 4, 2)"), "{header}");
        let data = &bytes[10 + header_len..];
        let values: Vec<f64> = data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(values, m.as_slice());
    }

    #[test]
    fn csv_is_long_with_the_observation_row_first() {
        let dir = scratch_dir("many-csv");
        let path = dir.path().join("s.csv");
        let m = draws(2, 3);
        write_samples_many(&path, &names(), m.as_ref(), 2).unwrap();
        let (header, back) = read_csv(&path, Some(3)).unwrap();
        assert_eq!(header, ["obs", "freq", "phase"]);
        assert_eq!((0..6).map(|r| back.row(r)[0]).collect::<Vec<_>>(), [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        assert_eq!(back.row(4)[1..], m.row(4)[..]);
    }

    #[test]
    fn rows_that_do_not_split_into_observations_are_refused() {
        let dir = scratch_dir("many-bad");
        let err = write_samples_many(&dir.path().join("s.npy"), &names(), draws(1, 5).as_ref(), 2).unwrap_err();
        assert!(err.to_string().contains("5 rows are not n draws for each of 2 observations"), "{err}");
        let err = write_samples_many(&dir.path().join("s.npy"), &names()[..1], draws(1, 4).as_ref(), 2).unwrap_err();
        assert!(matches!(err, Error::Shape { expected: 2, got: 1, .. }));
    }

    #[test]
    fn sidecar_sits_beside_the_array_and_reads_back() {
        let dir = scratch_dir("many-sidecar");
        let npy = dir.path().join("s.npy");
        let sidecar = SampleSidecar {
            shape: vec![3, 4, 2],
            axes: vec!["obs".into(), "draw".into(), "theta".into()],
            names: names(),
            model: "square2d".into(),
            model_file: "m.lwf".into(),
            seed: 7,
            importance: false,
            observations: "obs.csv".into(),
        };
        write_sidecar(&npy, &sidecar).unwrap();
        let path = dir.path().join("s.npy.json");
        assert_eq!(sidecar_path(&npy), path);
        let back: SampleSidecar = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(back, sidecar);
    }
}
