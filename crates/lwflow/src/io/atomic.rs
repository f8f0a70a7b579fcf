//! Atomic file replacement: write `.{name}.tmp-{pid}-{counter}` beside the target, fsync it,
//! rename it over the target, fsync the directory (best effort). Readers see either the old
//! file or the complete new one, never a prefix. On any error the temp file is removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Distinguishes temp files of concurrent writers within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `path` atomically: `write` fills a buffered temp file in the same directory, which is
/// then fsynced and renamed over `path`. Errors (from `write` or the file system) remove the temp
/// file and are returned as [`Error::Io`] naming `path`.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let io_err = |source: io::Error| Error::Io { path: path.display().to_string(), source };
    let tmp = temp_path(path).map_err(io_err)?;
    let result = write_then_rename(&tmp, path, write);
    if result.is_err() {
        // The temp file may not exist (creation failed) or may already be renamed; either is fine.
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err)
}

/// `dir/.{name}.tmp-{pid}-{counter}` for target `dir/name`.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "path has no file name, cannot write it atomically")
    })?;
    let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp_name = format!(".{}.tmp-{}-{}", name.to_string_lossy(), std::process::id(), counter);
    Ok(path.with_file_name(tmp_name))
}

fn write_then_rename(tmp: &Path, path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    // `create_new` so that a stale temp file of another writer is never clobbered.
    let file = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    let mut out = BufWriter::new(file);
    write(&mut out)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    sync_dir(path);
    Ok(())
}

/// Makes the rename durable. Best effort: some platforms and file systems cannot open or fsync
/// a directory, and the data itself is already on disk.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch_dir;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("scratch dir exists")
            .map(|e| e.expect("readable entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn failing_writer_leaves_no_file_and_no_temp() {
        let dir_guard = scratch_dir("atomic-fail");
        let dir = dir_guard.path();
        let path = dir.join("out.csv");
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        })
        .unwrap_err();
        assert!(matches!(&err, Error::Io { path: p, .. } if p.ends_with("out.csv")), "{err}");
        assert!(err.to_string().contains("boom"), "{err}");
        assert!(entries(dir).is_empty(), "left behind: {:?}", entries(dir));
    }

    #[test]
    fn failing_writer_keeps_existing_file() {
        let dir_guard = scratch_dir("atomic-keep");
        let dir = dir_guard.path();
        let path = dir.join("model.lwf");
        fs::write(&path, b"old").unwrap();
        assert!(write_atomic(&path, |_| Err(io::Error::other("boom"))).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(dir), vec!["model.lwf".to_string()]);
    }

    #[test]
    fn success_replaces_existing_content() {
        let dir_guard = scratch_dir("atomic-ok");
        let dir = dir_guard.path();
        let path = dir.join("out.csv");
        fs::write(&path, b"old content that is longer").unwrap();
        write_atomic(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(entries(dir), vec!["out.csv".to_string()]);
    }

    #[test]
    fn missing_directory_is_an_io_error_naming_the_target() {
        let dir_guard = scratch_dir("atomic-nodir");
        let dir = dir_guard.path();
        let path = dir.join("no/such/dir/out.csv");
        let err = write_atomic(&path, |w| w.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("out.csv"), "{err}");
    }
}
