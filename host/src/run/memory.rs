//! The run's memory budget: how much resident memory the whole process may
//! hold, and the watch that ends the run when it holds more.
//!
//! `--memory-limit` bounds each instance, not their sum: a few hundred
//! rust-libp2p nodes hold tens of GiB between them, and a process that
//! outgrows the machine is killed by the system with nothing written. The
//! watch samples the process's resident set on a thread of its own and sets
//! a flag the executor reads with its other limits ([`netsim::RunLimits`]),
//! so such a run ends as a timed-out one does: stopped, its results written,
//! saying why. Like the wall-clock limit it only ever ends a run; a run that
//! stays under its budget is the run it would have been.
//!
//! Owns: the budget and the sampling. Does not own: what happens to a run
//! the flag stops (the executor and [`super::execute`]).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the resident set is read: often enough that a run growing by a
/// GiB a second overshoots its budget by a few tens of MiB at most, rarely
/// enough that reading `/proc/self/status` costs nothing measurable.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// The share of the machine's memory (or of the cgroup's limit) a run may
/// take by default: the rest is for the system, the page cache and whatever
/// else runs beside it.
const DEFAULT_SHARE_PERCENT: u64 = 90;

/// `--max-memory`: the budget as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryBudget {
    /// [`DEFAULT_SHARE_PERCENT`] of the machine's memory, or of the cgroup's
    /// limit when that is lower; none where neither can be read.
    Auto,
    /// No budget.
    Off,
    /// This many bytes.
    Bytes(u64),
}

impl MemoryBudget {
    /// Parses `auto`, `off`, or a size such as `16GiB`.
    pub fn parse(text: &str) -> Result<MemoryBudget, String> {
        match text {
            "auto" => Ok(MemoryBudget::Auto),
            "off" => Ok(MemoryBudget::Off),
            size => match crate::params::parse_size(size) {
                Some(0) | None => {
                    Err(format!("{size:?} is not a memory budget: give a size (e.g. 16GiB), auto or off"))
                }
                Some(bytes) => Ok(MemoryBudget::Bytes(bytes)),
            },
        }
    }

    /// The budget in bytes, if there is one.
    pub fn bytes(self) -> Option<u64> {
        match self {
            MemoryBudget::Auto => machine_memory().map(|total| total / 100 * DEFAULT_SHARE_PERCENT),
            MemoryBudget::Off => None,
            MemoryBudget::Bytes(bytes) => Some(bytes),
        }
    }
}

/// The memory this process may use: the machine's, or its cgroup's limit
/// when that is lower. `None` where `/proc` cannot tell (not Linux).
pub fn machine_memory() -> Option<u64> {
    let total = meminfo_total(&std::fs::read_to_string("/proc/meminfo").ok()?)?;
    let cgroup =
        std::fs::read_to_string(Path::new("/sys/fs/cgroup/memory.max")).ok().and_then(|s| s.trim().parse().ok());
    Some(cgroup.map_or(total, |limit: u64| limit.min(total)))
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn meminfo_total(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemTotal:")
}

/// The process's resident set, in bytes (`VmRSS` of `/proc/self/status`).
pub fn resident_bytes() -> Option<u64> {
    kib_field(&std::fs::read_to_string("/proc/self/status").ok()?, "VmRSS:")
}

/// The value of a `Name:   1234 kB` line, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(name))?;
    let kib: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// A thread that reads the resident set every [`SAMPLE_EVERY`] and sets
/// [`MemoryWatch::flag`] once it is over the budget. Stopped when dropped.
pub struct MemoryWatch {
    budget: u64,
    over: Arc<AtomicBool>,
    /// The largest resident set read, in bytes.
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MemoryWatch {
    /// Starts watching for `budget` bytes. The first reading is taken before
    /// this returns, so a process already over the budget stops the run
    /// before its first event.
    pub fn start(budget: u64) -> MemoryWatch {
        let over = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sample = {
            let (over, peak) = (over.clone(), peak.clone());
            move || {
                if let Some(rss) = resident_bytes() {
                    peak.fetch_max(rss, Ordering::Relaxed);
                    if rss > budget {
                        over.store(true, Ordering::Relaxed);
                    }
                }
            }
        };
        sample();
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("memory-watch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(SAMPLE_EVERY);
                        sample();
                    }
                })
                .ok()
        };
        MemoryWatch { budget, over, peak, stop, thread }
    }

    /// The flag the executor stops on ([`netsim::RunLimits::memory`]).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.over.clone()
    }

    /// The budget, in bytes.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// The largest resident set read so far, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Whether the process went over the budget.
    pub fn exceeded(&self) -> bool {
        self.over.load(Ordering::Relaxed)
    }
}

impl Drop for MemoryWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_as_sizes_or_words() {
        assert_eq!(MemoryBudget::parse("auto"), Ok(MemoryBudget::Auto));
        assert_eq!(MemoryBudget::parse("off"), Ok(MemoryBudget::Off));
        assert_eq!(MemoryBudget::parse("2GiB"), Ok(MemoryBudget::Bytes(2 << 30)));
        assert!(MemoryBudget::parse("0").unwrap_err().contains("auto or off"));
        assert!(MemoryBudget::parse("lots").is_err());
        assert_eq!(MemoryBudget::Off.bytes(), None);
    }

    #[test]
    fn fields_of_proc_files_are_read_in_bytes() {
        let meminfo = "MemTotal:       24588924 kB\nMemFree:         1000 kB\n";
        assert_eq!(meminfo_total(meminfo), Some(24_588_924 * 1024));
        assert_eq!(kib_field("VmRSS:\t  2048 kB\n", "VmRSS:"), Some(2048 * 1024));
        assert_eq!(kib_field("VmPeak: 1 kB\n", "VmRSS:"), None);
    }

    #[test]
    fn a_process_over_its_budget_is_flagged_at_once_and_one_under_it_is_not() {
        let tiny = MemoryWatch::start(1);
        assert!(tiny.exceeded(), "this test process holds more than a byte");
        assert!(tiny.peak() > 1);
        let ample = MemoryWatch::start(u64::MAX);
        assert!(!ample.exceeded());
        assert!(ample.peak() > 0);
    }
}
