//! Running a command under a memory limit and measuring its peak RSS, for the
//! tests that a hostile input or plan cannot grow tg-wasm without bound.
//!
//! The child runs with `RLIMIT_DATA` (private writable memory: the heap and
//! anonymous mappings, what a runaway allocation grows) set to the bound, so a
//! regression fails fast instead of taking the machine; its peak RSS comes from
//! the kernel's own accounting (`wait4`'s `ru_maxrss`).
#![allow(dead_code, unsafe_code)]

use std::io::Read;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a bounded run left.
pub struct Bounded {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
    /// Its peak resident set, in bytes.
    pub peak_rss: u64,
}

impl Bounded {
    /// The exit code (`None` if a signal ended it).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Standard error as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// How long a bounded run may take before it is killed as hung.
pub const TIME_LIMIT: Duration = Duration::from_secs(300);

/// Runs `cmd` with at most `limit` bytes of private writable memory and returns
/// how it ended and its peak RSS.
///
/// # Panics
/// If it runs past [`TIME_LIMIT`] (it is killed first: a hang is a failure, not a stuck test).
// The child is reaped by `wait4` (for its rusage), not by `Child::wait`.
pub fn run_bounded(cmd: &mut Command, limit: u64) -> Bounded {
    run_limited(cmd, libc::RLIMIT_DATA, limit)
}

/// Runs `cmd` with `resource` (an `RLIMIT_*`) limited to `limit` and returns
/// how it ended and its peak RSS; hangs fail as for [`run_bounded`].
#[allow(clippy::zombie_processes)]
pub fn run_limited(cmd: &mut Command, resource: libc::__rlimit_resource_t, limit: u64) -> Bounded {
    // SAFETY: setrlimit is async-signal-safe and touches nothing of the parent's.
    unsafe {
        cmd.pre_exec(move || {
            let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(resource, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawning");
    let pid = child.id() as libc::pid_t;
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while !done.load(Ordering::SeqCst) {
                if started.elapsed() > TIME_LIMIT {
                    // SAFETY: the child is not reaped before `done` is set, so the pid is still ours.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        })
    };
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let mut stderr = Vec::new();
    let _ = err.read_to_end(&mut stderr);
    let stdout = reader.join().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 reaps our own child, which std never waits for here.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
    let reaped = if reaped == 0 {
        // Still running with its pipes closed: wait for it, the watchdog still armed.
        unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }
    } else {
        reaped
    };
    done.store(true, Ordering::SeqCst);
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(!watchdog.join().unwrap(), "killed after {TIME_LIMIT:?}: it hung");
    // Linux reports ru_maxrss in KiB.
    Bounded { status: ExitStatus::from_raw(status), stdout, stderr, peak_rss: usage.ru_maxrss as u64 * 1024 }
}
