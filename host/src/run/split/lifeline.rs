//! A local worker's tie to the `tg-wasm run` that started it.
//!
//! The coordinator starts each local worker with a pipe on its standard input
//! and never closes it while the run lasts. Over it the coordinator forwards a
//! stop (SIGINT or SIGTERM it received: one [`STOP`] byte), and through it the
//! worker learns that the coordinator is gone: the kernel closes the pipe when
//! the coordinator exits, however it exits (SIGKILL included), so the worker
//! reads end of file at once instead of running a shard nobody will collect.
//!
//! This module only watches the pipe; what a stop does is the run's interrupt
//! flag's business, and what a worker does when orphaned is its caller's
//! (`tg-wasm worker` aborts the run in Redis, for the workers elsewhere, and exits).

use crate::shard::JobBoard;
use crate::sync::redis::RetryPolicy;
use std::io::Read;
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
}
