//! Atomic file writes: a temporary file in the target's directory, synced,
//! then renamed over the target. Readers (and a run killed mid-write) see the
//! old file or the complete new one, never a part of one.

use std::fs::{self, File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::{Error, Result, invalid_arg};

/// Writes through a temporary file in the same directory (so the rename
/// cannot cross file systems), synced before it replaces `path`.
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io_err = |source| Error::Io { path: path.to_path_buf(), source };
    let Some(file_name) = path.file_name() else {
        invalid_arg!("'{}' does not name a file", path.display());
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io_err)?;
    let written = (|| {
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    })();
    pause_before_rename();
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    // The rename itself is durable only once the directory is synced; where
    // directories cannot be opened (Windows) the rename has to suffice.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A test hook: `WASSERFLOW_TEST_WRITE_DELAY_MS=<ms>` holds every atomic
/// write that long between writing its temporary file and renaming it, so
/// that the crash-safety tests (tests/crash_safety.rs) can kill a process
/// while a checkpoint is being written. Unset, it costs one cached lookup.
fn pause_before_rename() {
    static DELAY: OnceLock<Option<Duration>> = OnceLock::new();
    let delay = DELAY.get_or_init(|| {
        let ms = std::env::var("WASSERFLOW_TEST_WRITE_DELAY_MS").ok()?.parse().ok()?;
        Some(Duration::from_millis(ms))
    });
    if let Some(d) = delay {
        std::thread::sleep(*d);
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |w| std::io::Write::write_all(w, bytes))
}
