//! A run directory taken by one run for as long as it writes there.
//!
//! Taking it means: the path is a directory (created if missing), no other
//! live tg-wasm process holds it (a lock file naming the holder's pid), and
//! an earlier run's files are gone, so that the directory never holds two
//! runs' files side by side. A directory that holds files but was never a run
//! directory is refused rather than cleared: `--out .` must not touch a
//! project. Dropping the [`RunDirectory`] releases the lock.
//!
//! What is written there, and how, is the rest of [`crate::outputs`]'.

use crate::error::{Error, InputError};
use anyhow::Context as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The lock file: its contents are the holder's pid.
pub const LOCK_FILE: &str = ".tg-wasm.lock";

/// The files and folders a run writes into its directory; an earlier run's
/// are removed when a new run takes the directory.
const RUN_ENTRIES: &[&str] = &[
    super::RUN_FILE,
    super::COMPONENT_COPY,
    super::SUMMARY_FILE,
    super::TRACE_FILE,
    super::METRICS_FILE,
    super::STATES_FILE,
    super::REPORT_FILE,
    "instances",
    "replay",
];

/// Run directories of a determinism check's later runs are `determinism-<n>`.
const DETERMINISM_PREFIX: &str = "determinism-";

/// A run directory this process holds until dropped.
#[derive(Debug)]
pub struct RunDirectory {
    path: PathBuf,
}

impl RunDirectory {
    /// Takes `path` for a run: see the module's documentation. Refusals are
    /// input errors that say what to do.
    pub fn take(path: &Path) -> Result<RunDirectory, Error> {
        if path.exists() && !path.is_dir() {
            return Err(InputError::new(format!(
                "--out {} is not a directory; give a directory for the run's files",
                path.display()
            ))
            .into());
        }
        std::fs::create_dir_all(path).map_err(|e| {
            InputError::new(format!("cannot create run directory {}: {e}; choose another --out", path.display()))
        })?;
        lock(path)?;
        let taken = RunDirectory { path: path.to_path_buf() };
        clear_earlier_run(path)?;
        Ok(taken)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path.join(LOCK_FILE));
    }
}

/// Creates the lock file, taking over one whose holder is gone.
fn lock(dir: &Path) -> Result<(), Error> {
    let lock = dir.join(LOCK_FILE);
    // Twice at most: a stale lock is removed once, and a process that wins
    // the race for it in between holds it.
    for _ in 0..2 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(mut file) => {
                file.write_all(std::process::id().to_string().as_bytes())
                    .with_context(|| format!("writing {}", lock.display()))?;
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&lock).ok().and_then(|s| s.trim().parse::<u32>().ok());
                match holder {
                    Some(pid) if process_is_alive(pid) => {
                        return Err(InputError::new(format!(
                            "{} is being written by another tg-wasm run (pid {pid}); wait for it or choose another --out",
                            dir.display()
                        ))
                        .into());
                    }
                    // A holder that died, or a lock still being written by a
                    // holder that has not yet put its pid in: the latter is a
                    // window of microseconds, and taking over then is what the
                    // second attempt's create_new arbitrates.
                    _ => {
                        let _ = std::fs::remove_file(&lock);
                    }
                }
            }
            Err(e) => {
                return Err(InputError::new(format!(
                    "cannot write into run directory {}: {e}; choose another --out",
                    dir.display()
                ))
                .into());
            }
        }
    }
    Err(InputError::new(format!(
        "{} is being taken by another tg-wasm run; wait for it or choose another --out",
        dir.display()
    ))
    .into())
}

/// Whether a process with `pid` exists. Where that cannot be known, a lock's
/// holder is taken to be alive: refusing is safe, mixing two runs is not.
fn process_is_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") { Path::new(&format!("/proc/{pid}")).exists() } else { true }
}

/// Removes an earlier run's files; refuses a directory that holds other
/// files and was never a run directory.
fn clear_earlier_run(dir: &Path) -> Result<(), Error> {
    let entries: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != LOCK_FILE)
        .collect();
    let is_run_entry =
        |name: &str| RUN_ENTRIES.contains(&name) || name.starts_with(DETERMINISM_PREFIX) || is_temporary(name);
    let was_a_run = entries.iter().any(|n| n == super::RUN_FILE || n == super::SUMMARY_FILE);
    if let Some(foreign) = entries.iter().find(|n| !was_a_run && !is_run_entry(n)) {
        return Err(InputError::new(format!(
            "--out {} holds files of its own ({foreign}) and is not a run directory; \
             give a new or empty directory, or an earlier run's",
            dir.display()
        ))
        .into());
    }
    for name in entries.iter().filter(|n| is_run_entry(n)) {
        let path = dir.join(name);
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.with_context(|| format!("removing the earlier run's {}", path.display()))?;
    }
    Ok(())
}

/// A temporary file of [`crate::files`], left by a process that was killed
/// while writing.
fn is_temporary(name: &str) -> bool {
    name.rsplit_once(".tmp").is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tg-wasm-take-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_second_take_while_the_first_holds_is_refused_and_succeeds_after() {
        let dir = scratch("twice");
        let first = RunDirectory::take(&dir).unwrap();
        let refused = RunDirectory::take(&dir).unwrap_err();
        assert!(refused.is_input() && refused.to_string().contains("another tg-wasm run"), "{refused}");
        drop(first);
        assert!(!dir.join(LOCK_FILE).exists());
        RunDirectory::take(&dir).unwrap();
    }

    #[test]
    fn a_lock_whose_holder_is_gone_is_taken_over() {
        let dir = scratch("stale");
        std::fs::create_dir_all(&dir).unwrap();
        // Pids wrap far below this on Linux (pid_max ≤ 2^22).
        std::fs::write(dir.join(LOCK_FILE), "4294967294").unwrap();
        let taken = RunDirectory::take(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap(), std::process::id().to_string());
        drop(taken);
    }

    #[test]
    fn an_earlier_runs_files_are_cleared_and_others_kept() {
        let dir = scratch("clear");
        std::fs::create_dir_all(dir.join("instances/0")).unwrap();
        std::fs::create_dir_all(dir.join("determinism-2")).unwrap();
        for f in ["run.json", "summary.json", "trace.jsonl", "metrics.jsonl.tmp77", "notes.txt"] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let _taken = RunDirectory::take(&dir).unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, [LOCK_FILE, "notes.txt"]);
    }

    #[test]
    fn a_directory_that_was_never_a_run_is_refused_untouched() {
        let dir = scratch("foreign");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "x").unwrap();
        std::fs::write(dir.join("trace.jsonl"), "x").unwrap();
        let refused = RunDirectory::take(&dir).unwrap_err();
        assert!(refused.is_input() && refused.to_string().contains("Cargo.toml"), "{refused}");
        assert!(dir.join("trace.jsonl").exists() && !dir.join(LOCK_FILE).exists());
    }

    #[test]
    fn a_file_is_refused_as_a_run_directory() {
        let dir = scratch("file");
        std::fs::write(&dir, "x").unwrap();
        let refused = RunDirectory::take(&dir).unwrap_err();
        assert!(refused.is_input() && refused.to_string().contains("not a directory"), "{refused}");
        std::fs::remove_file(&dir).unwrap();
    }
}
