//! A run directory taken by one run for as long as it writes there.
//!
//! Taking it means: the path is a directory (created if missing), no other
//! live tg-wasm process holds it (an OS lock on a file naming the holder's
//! pid, released by the kernel however the holder ends), and
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

/// How many numbered names [`RunDirectory::take_new`] tries: more runs of
/// one plan and case than start within one second anywhere.
const MAX_SIBLINGS: u32 = 10_000;

/// The refusal of a directory that could not be created.
fn cannot_create(path: &Path, e: std::io::Error) -> InputError {
    InputError::new(format!("cannot create run directory {}: {e}; choose another --out", path.display()))
}

/// `base` with `-<n>` after its last component.
fn sibling(base: &Path, n: u32) -> PathBuf {
    let mut name = base.file_name().unwrap_or_default().to_os_string();
    name.push(format!("-{n}"));
    base.with_file_name(name)
}

/// Run directories of a determinism check's later runs are `determinism-<n>`.
const DETERMINISM_PREFIX: &str = "determinism-";

/// A run directory this process holds until dropped.
#[derive(Debug)]
pub struct RunDirectory {
    path: PathBuf,
    /// The lock file, open and locked: the operating system releases the
    /// lock when the process ends however it ends, so no lock is ever stale.
    lock: std::fs::File,
    /// Whether this run created the directory (rather than reusing one).
    created: bool,
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
        let created = !path.is_dir();
        std::fs::create_dir_all(path).map_err(|e| cannot_create(path, e))?;
        let taken = RunDirectory { path: path.to_path_buf(), lock: lock(path)?, created };
        clear_earlier_run(path)?;
        Ok(taken)
    }

    /// Takes a new directory named after `base`: `base` itself, else
    /// `base-2`, `base-3`, … — the first one this process creates. For a
    /// name tg-wasm chose (the default `runs/<time>-<plan>-<case>`), which
    /// runs started in the same second choose alike: each gets one of its
    /// own instead of all but one being refused.
    pub fn take_new(base: &Path) -> Result<RunDirectory, Error> {
        if let Some(parent) = base.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| cannot_create(parent, e))?;
        }
        for n in 1..=MAX_SIBLINGS {
            let path = if n == 1 { base.to_path_buf() } else { sibling(base, n) };
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(RunDirectory { lock: lock(&path)?, path, created: true }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(cannot_create(&path, e).into()),
            }
        }
        Err(InputError::new(format!(
            "{} and {MAX_SIBLINGS} numbered siblings all exist; choose another --out",
            base.display()
        ))
        .into())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes what the run wrote, and the directory if the run created it,
    /// for a run refused after it took the directory (bad input found only
    /// when the run starts, such as a Redis server that cannot be reached):
    /// nothing that looks like a run is left where no run happened.
    pub fn abandon(self) {
        if let Ok(entries) = entries_of(&self.path) {
            let _ = remove_run_entries(&self.path, &entries);
        }
        let _ = std::fs::remove_file(self.path.join(LOCK_FILE));
        if self.created {
            // Only if empty: whatever else is there was not this run's.
            let _ = std::fs::remove_dir(&self.path);
        }
    }
}

impl Drop for RunDirectory {
    fn drop(&mut self) {
        // Removed while still locked: a process that opened this file and
        // waits for it finds, once it gets the lock, that the path no longer
        // names it, and starts over (see `lock`).
        let _ = std::fs::remove_file(self.path.join(LOCK_FILE));
        let _ = self.lock.unlock();
    }
}

/// Opens and locks the lock file, writing this process's pid into it for the
/// message another run gets.
fn lock(dir: &Path) -> Result<std::fs::File, Error> {
    let path = dir.join(LOCK_FILE);
    let cannot_write = |e: std::io::Error| {
        InputError::new(format!("cannot write into run directory {}: {e}; choose another --out", dir.display()))
    };
    // A lock won on a file its holder removed as we opened it locks nothing;
    // each such loss means another run took and released the directory, so
    // a few rounds settle it.
    for _ in 0..8 {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(cannot_write)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                let holder = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
                return Err(InputError::new(format!(
                    "{} is being written by another tg-wasm run{holder}; wait for it or choose another --out",
                    dir.display()
                ))
                .into());
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(cannot_write(e).into()),
        }
        if !still_named_by(&file, &path) {
            continue;
        }
        file.set_len(0).map_err(cannot_write)?;
        file.write_all(std::process::id().to_string().as_bytes()).map_err(cannot_write)?;
        return Ok(file);
    }
    Err(InputError::new(format!(
        "{} is being taken and released by other tg-wasm runs; wait for them or choose another --out",
        dir.display()
    ))
    .into())
}

/// Whether `path` still names the open `file`.
fn still_named_by(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

/// Removes an earlier run's files; refuses a directory that holds other
/// files and was never a run directory.
fn clear_earlier_run(dir: &Path) -> Result<(), Error> {
    let entries = entries_of(dir)?;
    let was_a_run = entries.iter().any(|n| n == super::RUN_FILE || n == super::SUMMARY_FILE);
    if let Some(foreign) = entries.iter().find(|n| !was_a_run && !is_run_entry(n)) {
        return Err(InputError::new(format!(
            "--out {} holds files of its own ({foreign}) and is not a run directory; \
             give a new or empty directory, or an earlier run's",
            dir.display()
        ))
        .into());
    }
    remove_run_entries(dir, &entries)
}

/// The names in `dir` but the lock file.
fn entries_of(dir: &Path) -> Result<Vec<String>, Error> {
    Ok(std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != LOCK_FILE)
        .collect())
}

/// Removes those of `entries` (names in `dir`) that a run writes.
fn remove_run_entries(dir: &Path, entries: &[String]) -> Result<(), Error> {
    for name in entries.iter().filter(|n| is_run_entry(n)) {
        let path = dir.join(name);
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.with_context(|| format!("removing the earlier run's {}", path.display()))?;
    }
    Ok(())
}

/// Whether a run writes `name` into its directory.
fn is_run_entry(name: &str) -> bool {
    RUN_ENTRIES.contains(&name)
        || name.starts_with(DETERMINISM_PREFIX)
        || (name.starts_with(crate::run::record::GROUP_COMPONENT_PREFIX) && name.ends_with(".wasm"))
        || is_temporary(name)
}

/// A temporary file of [`crate::files`], left by a process that was killed
/// while writing.
fn is_temporary(name: &str) -> bool {
    name.rsplit_once(".tmp").is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path that does not exist yet, in a directory removed with what
    /// the test wrote when the first value is dropped.
    fn scratch() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::Builder::new().prefix("tg-wasm-take-").tempdir().unwrap();
        let path = root.path().join("run");
        (root, path)
    }

    #[test]
    fn an_abandoned_run_leaves_no_files_and_no_directory_it_made() {
        let (_scratch, dir) = scratch();
        let made = RunDirectory::take(&dir).unwrap();
        std::fs::write(dir.join(super::super::RUN_FILE), "{}").unwrap();
        std::fs::write(dir.join(super::super::COMPONENT_COPY), "wasm").unwrap();
        made.abandon();
        assert!(!dir.exists(), "the directory the run made is gone");

        // A directory that was there before stays, emptied of the run's files only.
        std::fs::create_dir_all(&dir).unwrap();
        let given = RunDirectory::take(&dir).unwrap();
        std::fs::write(dir.join(super::super::RUN_FILE), "{}").unwrap();
        given.abandon();
        assert!(dir.is_dir() && std::fs::read_dir(&dir).unwrap().count() == 0);
    }

    #[test]
    fn a_second_take_while_the_first_holds_is_refused_and_succeeds_after() {
        let (_scratch, dir) = scratch();
        let first = RunDirectory::take(&dir).unwrap();
        let refused = RunDirectory::take(&dir).unwrap_err();
        assert!(refused.is_input() && refused.to_string().contains("another tg-wasm run"), "{refused}");
        drop(first);
        assert!(!dir.join(LOCK_FILE).exists());
        RunDirectory::take(&dir).unwrap();
    }

    #[test]
    fn a_new_directory_is_never_one_another_run_has_or_had() {
        let (_scratch, root) = scratch();
        let base = root.join("runs").join("2026-12-07T040657-placebo-sleep");
        // A finished run's directory, kept as it is.
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("summary.json"), "{}").unwrap();
        let racers: Vec<RunDirectory> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4).map(|_| scope.spawn(|| RunDirectory::take_new(&base).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut names: Vec<String> =
            racers.iter().map(|d| d.path().file_name().unwrap().to_string_lossy().into_owned()).collect();
        names.sort();
        let expected: Vec<String> = (2..=5).map(|n| format!("2026-12-07T040657-placebo-sleep-{n}")).collect();
        assert_eq!(names, expected);
        assert_eq!(std::fs::read_to_string(base.join("summary.json")).unwrap(), "{}");
    }

    #[test]
    fn racing_takers_never_hold_the_directory_together() {
        let (_scratch, dir) = scratch();
        std::fs::create_dir_all(&dir).unwrap();
        let holders = std::sync::atomic::AtomicUsize::new(0);
        let (taken, overlapped) = (std::sync::atomic::AtomicUsize::new(0), std::sync::atomic::AtomicBool::new(false));
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| {
                    for _ in 0..300 {
                        if let Ok(held) = RunDirectory::take(&dir) {
                            if holders.fetch_add(1, std::sync::atomic::Ordering::SeqCst) != 0 {
                                overlapped.store(true, std::sync::atomic::Ordering::SeqCst);
                            }
                            taken.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            std::thread::yield_now();
                            holders.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                            drop(held);
                        }
                    }
                });
            }
        });
        assert!(!overlapped.into_inner(), "two takers held the directory at once");
        assert!(taken.into_inner() > 0);
        assert!(!dir.join(LOCK_FILE).exists());
    }

    #[test]
    fn a_lock_whose_holder_is_gone_is_taken_over() {
        let (_scratch, dir) = scratch();
        std::fs::create_dir_all(&dir).unwrap();
        // Pids wrap far below this on Linux (pid_max ≤ 2^22).
        std::fs::write(dir.join(LOCK_FILE), "4294967294").unwrap();
        let taken = RunDirectory::take(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap(), std::process::id().to_string());
        drop(taken);
    }

    #[test]
    fn an_earlier_runs_files_are_cleared_and_others_kept() {
        let (_scratch, dir) = scratch();
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
        let (_scratch, dir) = scratch();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "x").unwrap();
        std::fs::write(dir.join("trace.jsonl"), "x").unwrap();
        let refused = RunDirectory::take(&dir).unwrap_err();
        assert!(refused.is_input() && refused.to_string().contains("Cargo.toml"), "{refused}");
        assert!(dir.join("trace.jsonl").exists() && !dir.join(LOCK_FILE).exists());
    }

    #[test]
    fn a_file_is_refused_as_a_run_directory() {
        let (_scratch, dir) = scratch();
        std::fs::write(&dir, "x").unwrap();
        let refused = RunDirectory::take(&dir).unwrap_err();
        assert!(refused.is_input() && refused.to_string().contains("not a directory"), "{refused}");
        std::fs::remove_file(&dir).unwrap();
    }
}
