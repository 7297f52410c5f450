//! A local worker's tie to the `tg-wasm run` that started it.
//!
//! The coordinator starts each local worker with a pipe on its standard input
//! and never closes it while the run lasts. Over it the coordinator forwards a
//! stop (SIGINT or SIGTERM it received: one [`STOP`] byte), and through it the
//! worker learns that the coordinator is gone: the kernel closes the pipe when
//! the coordinator exits, however it exits (SIGKILL included), so the worker
//! reads end of file at once instead of running a shard nobody will collect.
//!
//! The worker's standard output is a pipe back to the coordinator, silent
//! while Redis carries the results. When Redis is lost at the end of a run
//! the worker writes its report there instead ([`send_report`]), so a run
//! whose shards are all local keeps every instance's outcome ([`read_report`]).
//!
//! This module only watches the pipes and frames the report; what a stop does
//! is the run's interrupt flag's business, and what a worker does when
//! orphaned is its caller's (`tg-wasm worker` aborts the run in Redis, for the
//! workers elsewhere, and exits).

use crate::shard::JobBoard;
use crate::sync::redis::RetryPolicy;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The byte that asks a worker to stop at its next window, as Ctrl-C would.
pub const STOP: u8 = b's';

/// Watches `pipe` on a thread of its own: each [`STOP`] byte sets `interrupt`;
/// end of file (or a read error) sets it too and then calls `gone`.
pub fn watch(mut pipe: impl Read + Send + 'static, interrupt: Arc<AtomicBool>, gone: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new().name("lifeline".into()).spawn(move || {
        let mut byte = [0u8; 1];
        loop {
            match pipe.read(&mut byte) {
                Ok(1) if byte[0] == STOP => {
                    tracing::warn!("the coordinator asked this worker to stop");
                    interrupt.store(true, Ordering::SeqCst);
                }
                Ok(1) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(_) | Err(_) => break,
            }
        }
        interrupt.store(true, Ordering::SeqCst);
        gone();
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch the coordinator's pipe: {e}");
    }
}

/// What starts a report on a worker's standard output, followed by the
/// report's length in decimal and a newline, then the report itself: whatever
/// else reaches that stream (nothing, today) cannot be mistaken for it.
const REPORT_HEADER: &[u8] = b"tg-wasm shard report v1 ";

/// Writes `report` (a worker's encoded [`super::result::WorkerReport`]) to
/// `pipe`, framed for [`read_report`].
pub fn send_report(pipe: &mut dyn Write, report: &[u8]) -> std::io::Result<()> {
    pipe.write_all(REPORT_HEADER)?;
    writeln!(pipe, "{}", report.len())?;
    pipe.write_all(report)?;
    pipe.flush()
}

/// The report in `output` (all a worker wrote to its standard output), if a
/// whole one is there.
pub fn read_report(output: &[u8]) -> Option<&[u8]> {
    let start = output.windows(REPORT_HEADER.len()).position(|w| w == REPORT_HEADER)? + REPORT_HEADER.len();
    let rest = &output[start..];
    let newline = rest.iter().position(|&b| b == b'\n')?;
    let len: usize = std::str::from_utf8(&rest[..newline]).ok()?.parse().ok()?;
    rest[newline + 1..].get(..len)
}

/// Reads everything `pipe` (a worker's standard output) carries until the
/// worker closes it, on a thread of its own so that a large report never
/// waits on a full pipe; the thread returns what it read.
pub fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut output = Vec::new();
        // A broken pipe leaves what was read: a partial report is not read as one.
        let _ = pipe.read_to_end(&mut output);
        output
    })
}

/// How long an orphaned worker spends telling the other shards: one try,
/// short timeouts, so that it is gone within a second of its coordinator.
const ORPHAN_POLICY_TIMEOUT: Duration = Duration::from_millis(300);

/// Aborts run `run` in the Redis server at `url` because its coordinator is
/// gone, so that shards on other machines stop too instead of waiting for a
/// peer that will never send; one quick try, as the worker is about to exit.
pub fn abort_orphaned(url: &str, run: &str, shard: &str) {
    let policy = RetryPolicy {
        connect_timeout: ORPHAN_POLICY_TIMEOUT,
        response_timeout: ORPHAN_POLICY_TIMEOUT,
        backoff: Vec::new(),
    };
    let reason = format!("worker {shard}: the coordinating `tg-wasm run` is gone (its pipe closed)");
    match JobBoard::connect(url, policy) {
        Ok(mut board) => {
            if let Err(e) = board.abort(run, &reason) {
                tracing::warn!("could not tell the other shards: {e}");
            }
        }
        Err(e) => tracing::warn!("could not tell the other shards: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_stop_byte_interrupts_and_end_of_file_means_gone() {
        let interrupt = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        watch(&[STOP][..], interrupt.clone(), move || tx.send(()).unwrap());
        rx.recv_timeout(Duration::from_secs(10)).expect("end of file calls `gone`");
        assert!(interrupt.load(Ordering::SeqCst));
    }

    #[test]
    fn a_report_reads_back_whole_and_a_cut_one_does_not() {
        let report = b"{\"Ran\":\"...\"}\nwith a newline and tg-wasm shard report v1 9\n inside";
        let mut output = b"something else first\n".to_vec();
        send_report(&mut output, report).unwrap();
        assert_eq!(read_report(&output), Some(&report[..]));
        for cut in [1, report.len() / 2, output.len() - report.len() - 1] {
            assert_eq!(read_report(&output[..output.len() - cut]), None, "cut {cut} bytes short");
        }
        assert_eq!(read_report(b""), None);
        assert_eq!(read_report(b"tg-wasm shard report v1 x\n"), None);
    }
}
