//! Atomic file replacement: write `.{name}.tmp-{pid}-{counter}` beside the target, fsync it,
//! rename it over the target, fsync the directory (best effort). Readers see either the old
//! file or the complete new one, never a prefix. On any error the temp file is removed, and
//! [`remove_temp_files`] removes the ones being written, for a signal handler about to exit
//! (the CLI's, on SIGINT and SIGTERM; it also handles SIGXFSZ, so that exceeding `ulimit -f` is a
//! write error — "File too large" — that removes the temp file, not a silent kill).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Distinguishes temp files of concurrent writers within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Temp files being written now (created, not yet renamed or removed).
static LIVE_TEMPS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn live_temps() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE_TEMPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes every temp file a [`write_atomic`] is writing now. For signal handlers that exit the
/// process: the writes in flight are abandoned and their targets keep their old content.
pub fn remove_temp_files() {
    for tmp in live_temps().drain(..) {
        let _ = fs::remove_file(tmp);
    }
}

/// Writes `path` atomically: `write` fills a buffered temp file in the same directory, which is
/// then fsynced and renamed over `path`. Errors (from `write` or the file system) remove the temp
/// file and are returned as [`Error::Io`] naming `path`.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let io_err = |source: io::Error| Error::Io { path: path.display().to_string(), source };
    let tmp = temp_path(path).map_err(io_err)?;
    let result = write_then_rename(&tmp, path, write);
    live_temps().retain(|t| t != &tmp);
    if result.is_err() {
        // The temp file may not exist (creation failed) or may already be renamed; either is fine.
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err)
}

/// Checks, before any work, that [`write_atomic`] will be able to write `path`: it is not a
/// directory, its directory exists and accepts a new file (probed with a temp file that is removed
/// at once), and it is not the same file as any of `inputs` (a command must never overwrite what it
/// reads). Errors are [`Error::Invalid`] naming `path` and the reason; call this first, so that a
/// long run never ends by throwing its result away.
pub fn check_output_path(path: &Path, inputs: &[&Path]) -> Result<()> {
    let bad = |reason: String| Error::invalid(format!("output {}", path.display()), reason);
    if path.is_dir() {
        return Err(bad("is a directory; give a file name".into()));
    }
    for input in inputs {
        if same_file(path, input) {
            return Err(bad(format!("is the input {}; writing it would destroy what is read", input.display())));
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(bad(format!("directory {} does not exist", dir.display())));
    }
    let probe = temp_path(path).map_err(|e| bad(e.to_string()))?;
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(bad(format!("cannot create a file in {}: {e}", dir.display()))),
    }
}

/// Whether `a` and `b` name one existing file (after links; on Unix also hard links).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (ma.dev(), ma.ino()) == (mb.dev(), mb.ino()) {
            return true;
        }
    }
    let _ = (ma, mb);
    matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
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
    live_temps().push(tmp.to_path_buf());
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
