//! Writing a file so that a reader sees the old contents or the new, never
//! half of either: everything a run writes goes through here.
//!
//! The new contents go to a temporary file beside the target, named after this
//! process so that two runs writing into one directory do not share one, and
//! are renamed over the target once complete. A failed write leaves the
//! target as it was and removes its temporary file.
//!
//! A target that is neither a file nor a directory — `/dev/null`, a named
//! pipe a CI step reads from — is written into, as a shell redirection
//! would: renaming over it would replace the device or the pipe with a
//! plain file (`--junit /dev/null` run as root replaced the machine's
//! `/dev/null`).

use anyhow::Context as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The temporary file a write of `path` goes through.
fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_with(path, |out| Ok(out.write_all(bytes)?))
}

/// Writes what `f` writes into the special file `path` (a device, a pipe) as it is.
fn write_into(path: &Path, f: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let file =
        std::fs::OpenOptions::new().write(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    fill(file, path, f).map(drop)
}

/// `file` (the file `path` names) holding what `f` writes, buffered and flushed.
fn fill(
    file: std::fs::File,
    path: &Path,
    f: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<()>,
) -> anyhow::Result<std::fs::File> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    f(&mut out).with_context(|| format!("writing {}", path.display()))?;
    out.flush().with_context(|| format!("writing {}", path.display()))?;
    out.into_inner().map_err(|e| e.into_error()).with_context(|| format!("writing {}", path.display()))
}

/// Copies `from` to `to` atomically: a reader of `to` (a run loading the
/// plan a build replaces) sees the old file or the new, never half of one.
pub fn copy_atomic(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut source = std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
    write_with(to, |out| {
        std::io::copy(&mut source, out).with_context(|| format!("reading {}", from.display()))?;
        Ok(())
    })
}

/// Writes `path` atomically with what `f` writes, buffered.
pub fn write_with(path: &Path, f: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<()>) -> anyhow::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return write_into(path, f);
    }
    let tmp = temporary(path);
    let written = (|| {
        let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let file = fill(file, &tmp, f)?;
        // A full disk can surface only when the data reaches it.
        file.sync_data().with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming {} into place", tmp.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty directory, removed with what the test wrote when dropped.
    fn scratch() -> tempfile::TempDir {
        tempfile::Builder::new().prefix("tg-wasm-files-").tempdir().unwrap()
    }

    #[test]
    fn a_write_replaces_the_file_and_leaves_nothing_beside_it() {
        let scratch = scratch();
        let dir = scratch.path();
        let path = dir.join("summary.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_removes_its_temporary() {
        let scratch = scratch();
        let dir = scratch.path();
        let path = dir.join("metrics.jsonl");
        write_atomic(&path, b"old").unwrap();
        let err = write_with(&path, |out| {
            out.write_all(b"half")?;
            anyhow::bail!("the disk is full")
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
    }

    #[test]
    fn a_named_pipe_is_written_into_not_replaced() {
        use std::os::unix::fs::FileTypeExt as _;
        let scratch = scratch();
        let dir = scratch.path();
        let fifo = dir.join("junit.xml");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
        // A reader already there (opened without waiting for a writer), as a CI step would be.
        let mut reader = {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap()
        };
        write_atomic(&fifo, b"<testsuites/>").unwrap();
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "still a pipe");
        let mut got = Vec::new();
        let _ = std::io::Read::read_to_end(&mut reader, &mut got);
        assert_eq!(got, b"<testsuites/>");
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1, "no temporary beside it");
    }

    #[test]
    fn a_copy_replaces_the_file_and_a_failed_one_leaves_it_and_nothing_else() {
        let scratch = scratch();
        let dir = scratch.path();
        let (built, plan) = (dir.join("built.wasm"), dir.join("plan.wasm"));
        std::fs::write(&built, b"new component").unwrap();
        std::fs::write(&plan, b"old component").unwrap();
        copy_atomic(&built, &plan).unwrap();
        assert_eq!(std::fs::read(&plan).unwrap(), b"new component");
        // A source that cannot be read (a directory) fails the copy before anything is replaced.
        let err = copy_atomic(dir, &plan).unwrap_err();
        assert!(format!("{err:#}").contains(&dir.display().to_string()), "{err:#}");
        assert_eq!(std::fs::read(&plan).unwrap(), b"new component");
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 2, "no temporary left beside the plan");
    }
}
