//! Sample files: CSV (header row, one sample per row) and NumPy `.npy` (v1.0, `<f8`, C order).
//!
//! Values are written with f64's `Display`, the shortest decimal string that parses back to the
//! same bits, so a CSV round trip is exact. Readers validate everything and every error names the
//! file, the 1-based line and column (CSV) or row and column (npy), and what was expected.
//! [`read_samples`] reads either format, so files written by other tools (sbibm's reference
//! samples after `bunzip2`, `numpy.save`) can be compared with ours.

use std::fmt::Write as _;
use std::path::Path;

use super::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::mat::{Mat, MatRef};

/// Writes `rows` (one sample per row) as CSV with `header` (one name per column), atomically.
///
/// Fails with [`Error::Shape`] if `header.len() != rows.cols()`, [`Error::Io`] on write errors.
pub fn write_csv(path: &Path, header: &[String], rows: MatRef<f64>) -> Result<()> {
    if header.len() != rows.cols() {
        return Err(Error::Shape { what: "write_csv header", expected: rows.cols(), got: header.len() });
    }
    check_written(path, rows, true)?;
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(header)?;
        let mut field = String::new();
        for r in 0..rows.rows() {
            for &v in rows.row(r) {
                field.clear();
                write!(field, "{v}").expect("writing to a String cannot fail");
                csv.write_field(&field)?;
            }
            csv.write_record(None::<&[u8]>)?;
        }
        csv.flush()
    })
}

/// Writes `rows` as a NumPy `.npy` file (format v1.0, dtype `<f8`, `fortran_order: False`,
/// shape `(rows, cols)`), atomically.
///
/// Layout (NEP 1 / `numpy.lib.format`): magic `\x93NUMPY`, version bytes 1 0, header length as
/// u16 little-endian, an ASCII Python-dict header padded with spaces and ended by `\n` so that
/// magic + version + length + header is a multiple of 64 bytes, then the data in C order.
pub fn write_npy(path: &Path, rows: MatRef<f64>) -> Result<()> {
    write_npy_shaped(path, rows, &[rows.rows(), rows.cols()])
}

/// [`write_npy`] with the header's `shape`: `rows` in C order is the array (its product of
/// `shape` equals the values of `rows`; e.g. `(n_obs, n, d)` for n_obs · n rows of d).
pub(super) fn write_npy_shaped(path: &Path, rows: MatRef<f64>, shape: &[usize]) -> Result<()> {
    debug_assert_eq!(shape.iter().product::<usize>(), rows.rows() * rows.cols());
    check_written(path, rows, false)?;
    let header = npy_header(shape);
    write_atomic(path, |w| {
        w.write_all(&header)?;
        let mut line = Vec::with_capacity(rows.cols() * 8);
        for r in 0..rows.rows() {
            line.clear();
            line.extend(rows.row(r).iter().flat_map(|v| v.to_le_bytes()));
            w.write_all(&line)?;
        }
        Ok(())
    })
}

/// Every value lwflow writes is a number: NaN and +inf are refused, naming the file, row and column;
/// −inf only where `allow_neg_inf` (a CSV of log-densities, where it is log 0 outside the support).
pub(super) fn check_written(path: &Path, rows: MatRef<f64>, allow_neg_inf: bool) -> Result<()> {
    for r in 0..rows.rows() {
        if let Some(c) = rows
            .row(r)
            .iter()
            .position(|&v| v.is_nan() || v == f64::INFINITY || (v == f64::NEG_INFINITY && !allow_neg_inf))
        {
            return Err(Error::invalid(
                format!("output {}", path.display()),
                format!(
                    "row {}, column {} is {}; refusing to write a value that is not a number",
                    r + 1,
                    c + 1,
                    rows.row(r)[c]
                ),
            ));
        }
    }
    Ok(())
}

/// Writes `.npy` if `path` ends in `.npy` (any case), CSV otherwise. `header` is ignored for npy.
/// Samples must be finite: a non-finite value is refused ([`Error::Invalid`] naming row and column).
pub fn write_samples(path: &Path, header: &[String], rows: MatRef<f64>) -> Result<()> {
    check_written(path, rows, false)?;
    let is_npy = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if is_npy {
        if header.len() != rows.cols() {
            return Err(Error::Shape { what: "write_samples header", expected: rows.cols(), got: header.len() });
        }
        write_npy(path, rows)
    } else {
        write_csv(path, header, rows)
    }
}

/// Magic, version, header length and padded header of a v1.0 `.npy` file of f64 of `shape`
/// (two or more axes, C order).
fn npy_header(shape: &[usize]) -> Vec<u8> {
    const MAGIC: &[u8] = b"\x93NUMPY\x01\x00";
    const ALIGN: usize = 64;
    debug_assert!(shape.len() >= 2, "a 1-axis shape would need Python's trailing comma");
    let shape = shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
    let mut dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({shape}), }}");
    // 10 = magic (6) + version (2) + header length (2); the trailing '\n' counts toward alignment.
    let unpadded = MAGIC.len() + 2 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(ALIGN) - unpadded));
    dict.push('\n');
    let len = u16::try_from(dict.len()).expect("a header of a few axes is far below 64 KiB");
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + dict.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Reads a CSV with a header row; returns the column names and an `n_rows × n_cols` matrix.
///
/// Every row must have the header's number of columns (and `expected_cols`, if given) and every
/// field must be a finite number (surrounding whitespace is ignored). Errors are
/// [`Error::Parse`] naming the file, 1-based line and column, e.g.
/// `thetas.csv line 4, column 2: 'abc' is not a number`; [`Error::Io`] if the file cannot be opened.
pub fn read_csv(path: &Path, expected_cols: Option<usize>) -> Result<(Vec<String>, Mat<f64>)> {
    let name = path.display().to_string();
    let parse_err =
        |line: u64, column: Option<usize>, reason: String| Error::Parse { path: name.clone(), line, column, reason };
    let file = std::fs::File::open(path).map_err(|source| Error::Io { path: name.clone(), source })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(std::io::BufReader::new(file));
    let mut records = reader.records();
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        parse_err(line, None, e.to_string())
    };

    let header = match records.next() {
        Some(rec) => rec.map_err(csv_err)?,
        None => return Err(parse_err(1, None, "file is empty; expected a header row of column names".into())),
    };
    let header_line = header.position().map_or(1, |p| p.line());
    let header: Vec<String> = header.iter().map(str::to_string).collect();
    if let Some(expected) = expected_cols {
        if header.len() != expected {
            return Err(parse_err(
                header_line,
                None,
                format!("header has {} columns, expected {expected}", header.len()),
            ));
        }
    }
    if let Some(c) = header.iter().position(|h| h.parse::<f64>().is_ok()) {
        return Err(parse_err(
            header_line,
            Some(c + 1),
            format!("header row required, but '{}' is a number (add a row of column names)", header[c]),
        ));
    }

    let n_cols = header.len();
    let mut data = Vec::new();
    let mut n_rows = 0;
    for rec in records {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() != n_cols {
            return Err(parse_err(line, None, format!("expected {n_cols} columns, got {}", rec.len())));
        }
        for (c, field) in rec.iter().enumerate() {
            let v: f64 =
                field.parse().map_err(|_| parse_err(line, Some(c + 1), format!("'{field}' is not a number")))?;
            if !v.is_finite() {
                return Err(parse_err(line, Some(c + 1), format!("'{field}' is not a finite number")));
            }
            data.push(v);
        }
        n_rows += 1;
    }
    Ok((header, Mat::from_vec(n_rows, n_cols, data)))
}

/// Reads a NumPy `.npy` file of samples into an `n_rows × n_cols` matrix.
///
/// Accepts format versions 1.0, 2.0 and 3.0, little-endian `<f8` or `<f4` (widened to f64), C or
/// Fortran order, and shape `(n_rows, n_cols)` or `(n_rows,)` (one column). Every value must be
/// finite. Errors are [`Error::Invalid`] naming the file and what was expected (e.g.
/// `s.npy: dtype '<i8' is not supported; expected '<f8' or '<f4'`, `row 3, column 2 is NaN`);
/// [`Error::Io`] if the file cannot be read.
pub fn read_npy(path: &Path) -> Result<Mat<f64>> {
    let name = path.display().to_string();
    let bad = |reason: String| Error::invalid(format!("npy file {name}"), reason);
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: name.clone(), source })?;
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < MAGIC.len() + 4 || !bytes.starts_with(MAGIC) {
        return Err(bad("not a NumPy .npy file (missing the \\x93NUMPY magic)".into()));
    }
    // Version 1.x stores the header length as u16, 2.x and 3.x as u32 (little-endian).
    let (header_start, header_len) = match bytes[6] {
        1 => (10, usize::from(u16::from_le_bytes([bytes[8], bytes[9]]))),
        2 | 3 if bytes.len() >= 12 => (12, u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize),
        v => return Err(bad(format!("format version {v}.{} is not supported; expected 1, 2 or 3", bytes[7]))),
    };
    let data_start = header_start + header_len;
    let header = bytes
        .get(header_start..data_start)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad(format!("header of {header_len} bytes is truncated or not text")))?;
    let npy = NpyHeader::parse(header).map_err(bad)?;
    let (n_rows, n_cols) = npy.shape;
    if n_cols == 0 {
        return Err(bad(format!("shape ({n_rows}, 0) has no columns; samples need at least one")));
    }
    let width = npy.dtype.width();
    let data = &bytes[data_start..];
    let n_values = n_rows.checked_mul(n_cols).filter(|n| n.checked_mul(width) == Some(data.len()));
    if n_values.is_none() {
        return Err(bad(format!(
            "shape ({n_rows}, {n_cols}) of {width}-byte values needs {} data bytes, the file has {}",
            n_rows.saturating_mul(n_cols).saturating_mul(width),
            data.len()
        )));
    }
    let value = |k: usize| -> f64 {
        let b = &data[k * width..(k + 1) * width];
        match npy.dtype {
            NpyDtype::F8 => f64::from_le_bytes(b.try_into().expect("8-byte chunk")),
            NpyDtype::F4 => f64::from(f32::from_le_bytes(b.try_into().expect("4-byte chunk"))),
        }
    };
    let mut out = Mat::zeros(n_rows, n_cols);
    for r in 0..n_rows {
        for c in 0..n_cols {
            let v = value(if npy.fortran_order { c * n_rows + r } else { r * n_cols + c });
            if !v.is_finite() {
                return Err(bad(format!("row {}, column {} is {v}; expected finite numbers", r + 1, c + 1)));
            }
            out.row_mut(r)[c] = v;
        }
    }
    Ok(out)
}

/// Reads samples from `.npy` ([`read_npy`]) if `path` ends in `.npy` (any case), else from CSV
/// with a header row ([`read_csv`]). Returns the `n_rows × n_cols` samples.
pub fn read_samples(path: &Path) -> Result<Mat<f64>> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
        read_npy(path)
    } else {
        read_csv(path, None).map(|(_, rows)| rows)
    }
}

/// The element types [`read_npy`] accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
enum NpyDtype {
    /// `<f8`: little-endian f64.
    F8,
    /// `<f4`: little-endian f32.
    F4,
}

impl NpyDtype {
    fn width(self) -> usize {
        match self {
            NpyDtype::F8 => 8,
            NpyDtype::F4 => 4,
        }
    }
}

/// The fields of an `.npy` header dict, e.g.
/// `{'descr': '<f8', 'fortran_order': False, 'shape': (5, 2), }`.
#[derive(Debug, PartialEq)]
struct NpyHeader {
    dtype: NpyDtype,
    fortran_order: bool,
    /// (rows, columns); a 1-D array is one column.
    shape: (usize, usize),
}

impl NpyHeader {
    /// Parses the header dict; the error says which field is missing or unsupported.
    fn parse(header: &str) -> std::result::Result<Self, String> {
        let field = |key: &str| -> std::result::Result<&str, String> {
            let quoted = format!("'{key}'");
            let at = header.find(&quoted).ok_or_else(|| format!("header has no {quoted} field: {}", header.trim()))?;
            let rest = header[at + quoted.len()..].trim_start();
            rest.strip_prefix(':').map(str::trim_start).ok_or_else(|| format!("header field {quoted} has no ':'"))
        };
        let descr = field("descr")?;
        let dtype = if descr.starts_with("'<f8'") {
            NpyDtype::F8
        } else if descr.starts_with("'<f4'") {
            NpyDtype::F4
        } else {
            let shown: String = descr.chars().take_while(|&c| c != ',').collect();
            return Err(format!("dtype {shown} is not supported; expected '<f8' or '<f4'"));
        };
        let order = field("fortran_order")?;
        let fortran_order = if order.starts_with("True") {
            true
        } else if order.starts_with("False") {
            false
        } else {
            return Err("header field 'fortran_order' is neither True nor False".into());
        };
        let shape = field("shape")?;
        let inner = shape
            .strip_prefix('(')
            .and_then(|s| s.split_once(')'))
            .map(|(inner, _)| inner)
            .ok_or_else(|| "header field 'shape' is not a tuple".to_string())?;
        let dims: Vec<usize> = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| format!("shape entry '{s}' is not a whole number")))
            .collect::<std::result::Result<_, _>>()?;
        let shape = match dims[..] {
            [n_rows] => (n_rows, 1),
            [n_rows, n_cols] => (n_rows, n_cols),
            _ => return Err(format!("shape ({inner}) has {} dimensions; expected 1 or 2", dims.len())),
        };
        Ok(Self { dtype, fortran_order, shape })
    }
}

/// Parses an observation such as `"1.0,0.5"` into `expected_dim` finite numbers. Errors
/// ([`Error::Invalid`]) name the 1-based position of a bad value and the expected dimension.
pub fn parse_obs(s: &str, expected_dim: usize) -> Result<Vec<f64>> {
    let what = || format!("observation '{s}'");
    let fields: Vec<&str> = if s.trim().is_empty() { Vec::new() } else { s.split(',').map(str::trim).collect() };
    if fields.len() != expected_dim {
        return Err(Error::invalid(
            what(),
            format!("expected {expected_dim} comma-separated numbers, got {}", fields.len()),
        ));
    }
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| match f.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => {
                Err(Error::invalid(what(), format!("value {} of {expected_dim} ('{f}') is not a finite number", i + 1)))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch_dir;

    fn names(cols: usize) -> Vec<String> {
        (0..cols).map(|c| format!("theta_{c}")).collect()
    }

    /// Values that stress shortest-round-trip formatting.
    fn awkward(rows: usize, cols: usize) -> Mat<f64> {
        let special = [0.1, 1.0 / 3.0, -2.5e-300, 1.7976931348623157e308, -0.0, 5e-324, 123456789.12345679];
        Mat::from_fn(rows, cols, |r, c| special[(r * cols + c) % special.len()] * if r % 2 == 0 { 1.0 } else { -1.0 })
    }

    #[test]
    fn csv_round_trip_is_bit_exact() {
        let dir_guard = scratch_dir("csv-round");
        let dir = dir_guard.path();
        let path = dir.join("samples.csv");
        let m = awkward(9, 3);
        write_csv(&path, &names(3), m.as_ref()).unwrap();
        let (header, back) = read_csv(&path, Some(3)).unwrap();
        assert_eq!(header, names(3));
        assert_eq!(back.rows(), 9);
        for (a, b) in back.as_slice().iter().zip(m.as_slice()) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn csv_writes_strided_views_and_quotes_header() {
        let dir_guard = scratch_dir("csv-strided");
        let dir = dir_guard.path();
        let path = dir.join("s.csv");
        let m = Mat::from_fn(2, 3, |r, c| (10 * r + c) as f64);
        write_csv(&path, &["a,b".to_string()], m.as_ref().cols_range(1, 1)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "\"a,b\"\n1\n11\n");
        let err = write_csv(&path, &names(2), m.as_ref()).unwrap_err().to_string();
        assert!(err.contains("expected 3") && err.contains("got 2"), "{err}");
    }

    #[test]
    fn npy_header_is_64_byte_aligned_and_parses_back() {
        let dir_guard = scratch_dir("npy");
        let dir = dir_guard.path();
        let path = dir.join("s.npy");
        let m = awkward(5, 2);
        write_npy(&path, m.as_ref()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.ends_with('\n'));
        assert_eq!(header.trim_end(), "{'descr': '<f8', 'fortran_order': False, 'shape': (5, 2), }");
        let data = &bytes[10 + header_len..];
        assert_eq!(data.len(), 5 * 2 * 8);
        for (chunk, want) in data.chunks_exact(8).zip(m.as_slice()) {
            assert_eq!(f64::from_le_bytes(chunk.try_into().unwrap()).to_bits(), want.to_bits());
        }
    }

    #[test]
    fn npy_header_alignment_holds_for_many_shapes() {
        for (r, c) in [(0, 0), (1, 1), (10, 3), (123456, 7), (usize::MAX, usize::MAX)] {
            let h = npy_header(&[r, c]);
            assert_eq!(h.len() % 64, 0, "shape ({r}, {c})");
            assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, h.len() - 10);
            assert_eq!(h.last(), Some(&b'\n'));
        }
    }

    /// Optional cross-check with NumPy itself; skipped (passes) when python3 or numpy is missing.
    #[test]
    fn npy_loads_in_numpy_if_available() {
        let dir_guard = scratch_dir("npy-numpy");
        let dir = dir_guard.path();
        let path = dir.join("s.npy");
        let m = Mat::from_fn(3, 2, |r, c| r as f64 + 0.25 * c as f64);
        write_npy(&path, m.as_ref()).unwrap();
        let script = "import sys, numpy as np; a = np.load(sys.argv[1]); \
                      assert a.shape == (3, 2) and a.dtype == np.float64; print(float(a[2, 1]))";
        let out = std::process::Command::new("python3").args(["-c", script]).arg(&path).output();
        match out {
            Ok(o) if o.status.success() => assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "2.25"),
            Ok(o) if String::from_utf8_lossy(&o.stderr).contains("No module named") => {
                eprintln!("numpy not installed; skipping")
            }
            Ok(o) => panic!("numpy rejected the file: {}", String::from_utf8_lossy(&o.stderr)),
            Err(_) => eprintln!("python3 not found; skipping"),
        }
    }

    #[test]
    fn write_samples_chooses_format_by_extension() {
        let dir_guard = scratch_dir("samples-ext");
        let dir = dir_guard.path();
        let m = awkward(2, 2);
        for name in ["a.npy", "b.NPY"] {
            write_samples(&dir.join(name), &names(2), m.as_ref()).unwrap();
            assert!(std::fs::read(dir.join(name)).unwrap().starts_with(b"\x93NUMPY"));
        }
        for name in ["c.csv", "d.txt", "e"] {
            write_samples(&dir.join(name), &names(2), m.as_ref()).unwrap();
            assert!(std::fs::read_to_string(dir.join(name)).unwrap().starts_with("theta_0,theta_1\n"));
        }
    }

    /// Writes `content` to `dir/name`, reads it back expecting an error, returns the message.
    fn read_err(dir: &Path, name: &str, content: &str, expected_cols: Option<usize>) -> String {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        read_csv(&path, expected_cols).unwrap_err().to_string()
    }

    #[test]
    fn read_csv_errors_name_file_line_and_column() {
        let dir_guard = scratch_dir("csv-errors");
        let dir = dir_guard.path();
        let not_number = read_err(dir, "thetas.csv", "a,b\n1,2\n3, 4\n5,abc\n", None);
        assert!(not_number.ends_with("thetas.csv line 4, column 2: 'abc' is not a number"), "{not_number}");

        let not_finite = read_err(dir, "inf.csv", "a,b\n1,NaN\n", None);
        assert!(not_finite.ends_with("inf.csv line 2, column 2: 'NaN' is not a finite number"), "{not_finite}");

        let short_row = read_err(dir, "short.csv", "a,b\n1,2\n3\n", None);
        assert!(short_row.ends_with("short.csv line 3: expected 2 columns, got 1"), "{short_row}");

        let long_row = read_err(dir, "long.csv", "a,b\n1,2,3\n", None);
        assert!(long_row.ends_with("long.csv line 2: expected 2 columns, got 3"), "{long_row}");

        let wrong_dim = read_err(dir, "dim.csv", "a,b,c\n1,2,3\n", Some(2));
        assert!(wrong_dim.ends_with("dim.csv line 1: header has 3 columns, expected 2"), "{wrong_dim}");

        let no_header = read_err(dir, "nohead.csv", "1,2\n3,4\n", None);
        assert!(no_header.contains("nohead.csv line 1, column 1: header row required"), "{no_header}");

        let empty = read_err(dir, "empty.csv", "", None);
        assert!(empty.contains("empty.csv line 1: file is empty"), "{empty}");

        let missing = read_csv(&dir.join("missing.csv"), None).unwrap_err().to_string();
        assert!(missing.contains("missing.csv"), "{missing}");
    }

    #[test]
    fn read_csv_accepts_header_only_and_crlf() {
        let dir_guard = scratch_dir("csv-edge");
        let dir = dir_guard.path();
        let path = dir.join("h.csv");
        std::fs::write(&path, "x,y\n").unwrap();
        let (h, m) = read_csv(&path, Some(2)).unwrap();
        assert_eq!((h.len(), m.rows(), m.cols()), (2, 0, 2));
        std::fs::write(&path, "x,y\r\n1e-3, -2\r\n").unwrap();
        let (_, m) = read_csv(&path, None).unwrap();
        assert_eq!(m.as_slice(), &[1e-3, -2.0]);
    }

    /// A hand-built `.npy`: version 1.0 header `dict` (padded to 64 bytes) followed by `data`.
    fn npy_bytes(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut header = dict.to_string();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn npy_round_trip_is_bit_exact_and_read_samples_dispatches() {
        let dir_guard = scratch_dir("npy-read");
        let dir = dir_guard.path();
        let m = awkward(7, 3);
        write_samples(&dir.join("s.npy"), &names(3), m.as_ref()).unwrap();
        write_samples(&dir.join("s.csv"), &names(3), m.as_ref()).unwrap();
        for name in ["s.npy", "s.csv"] {
            let back = read_samples(&dir.join(name)).unwrap();
            assert_eq!((back.rows(), back.cols()), (7, 3), "{name}");
            assert!(back.as_slice().iter().zip(m.as_slice()).all(|(a, b)| a.to_bits() == b.to_bits()), "{name}");
        }
    }

    #[test]
    fn npy_reads_f4_fortran_order_and_one_dimensional_arrays() {
        let dir_guard = scratch_dir("npy-variants");
        let dir = dir_guard.path();
        // [[1, 2, 3], [4, 5, 6]] stored column by column as f32.
        let data: Vec<u8> = [1f32, 4.0, 2.0, 5.0, 3.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let path = dir.join("f.npy");
        std::fs::write(&path, npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", &data)).unwrap();
        let m = read_npy(&path).unwrap();
        assert_eq!((m.rows(), m.cols()), (2, 3));
        assert_eq!(m.as_slice(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let data: Vec<u8> = [0.5f64, -1.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&path, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", &data)).unwrap();
        let m = read_npy(&path).unwrap();
        assert_eq!((m.rows(), m.cols(), m.as_slice()), (2, 1, &[0.5, -1.5][..]));
    }

    #[test]
    fn npy_errors_name_the_file_and_what_was_expected() {
        let dir_guard = scratch_dir("npy-errors");
        let dir = dir_guard.path();
        let f8 = |vals: &[f64]| -> Vec<u8> { vals.iter().flat_map(|v| v.to_le_bytes()).collect() };
        let cases: [(&str, Vec<u8>, &str); 6] = [
            ("text.npy", b"theta_1\n0.5\n".to_vec(), "not a NumPy .npy file"),
            (
                "int.npy",
                npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }", &[0; 8]),
                "dtype '<i8' is not supported",
            ),
            (
                "short.npy",
                npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", &f8(&[1.0; 5])),
                "needs 48 data bytes, the file has 40",
            ),
            (
                "nan.npy",
                npy_bytes(
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                    &f8(&[1.0, 2.0, 3.0, f64::NAN]),
                ),
                "row 2, column 2 is NaN",
            ),
            (
                "3d.npy",
                npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1), }", &f8(&[1.0])),
                "has 3 dimensions; expected 1 or 2",
            ),
            ("noshape.npy", npy_bytes("{'descr': '<f8', 'fortran_order': False, }", &[]), "no 'shape' field"),
        ];
        for (name, bytes, want) in cases {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            let err = read_samples(&path).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(want), "{name}: {err}");
        }
        let missing = read_npy(&dir.join("missing.npy")).unwrap_err().to_string();
        assert!(missing.contains("missing.npy"), "{missing}");
    }

    /// Optional: a file written by `numpy.save` (f32, Fortran order) reads back; skipped (passes)
    /// when python3 or numpy is missing.
    #[test]
    fn npy_written_by_numpy_reads_back_if_available() {
        let dir_guard = scratch_dir("npy-from-numpy");
        let dir = dir_guard.path();
        let path = dir.join("np.npy");
        let script = "import sys, numpy as np; \
                      np.save(sys.argv[1], np.asfortranarray(np.arange(6, dtype=np.float32).reshape(3, 2) / 4))";
        let out = std::process::Command::new("python3").args(["-c", script]).arg(&path).output();
        match out {
            Ok(o) if o.status.success() => {
                let m = read_npy(&path).unwrap();
                assert_eq!((m.rows(), m.cols()), (3, 2));
                assert_eq!(m.as_slice(), &[0.0, 0.25, 0.5, 0.75, 1.0, 1.25]);
            }
            Ok(o) => eprintln!("numpy unavailable; skipping: {}", String::from_utf8_lossy(&o.stderr)),
            Err(_) => eprintln!("python3 not found; skipping"),
        }
    }

    #[test]
    fn parse_obs_reads_values_and_names_bad_position() {
        assert_eq!(parse_obs("1.0,0.5", 2).unwrap(), vec![1.0, 0.5]);
        assert_eq!(parse_obs(" -3 , 2e-1 ,0", 3).unwrap(), vec![-3.0, 0.2, 0.0]);
        let err = parse_obs("1.0,x", 2).unwrap_err().to_string();
        assert!(err.contains("value 2 of 2 ('x')"), "{err}");
        let err = parse_obs("1.0,inf", 2).unwrap_err().to_string();
        assert!(err.contains("value 2 of 2 ('inf') is not a finite number"), "{err}");
        let err = parse_obs("1.0,0.5,2", 2).unwrap_err().to_string();
        assert!(err.contains("expected 2 comma-separated numbers, got 3"), "{err}");
        let err = parse_obs("", 2).unwrap_err().to_string();
        assert!(err.contains("expected 2") && err.contains("got 0"), "{err}");
        let err = parse_obs("1,", 2).unwrap_err().to_string();
        assert!(err.contains("value 2 of 2 ('')"), "{err}");
    }
}
