//! [`spawn`]: the executor rust-libp2p's swarm runs its connections on, in
//! place of `libp2p_swarm::Config::with_tokio_executor`, which libp2p-swarm
//! compiles out for `target_os = "wasi"`.
//!
//! Owns: handing the swarm's background tasks to the plan's tokio runtime.
//! Does not own: the runtime (the plan's current-thread one) nor what else a
//! libp2p plan needs on `wasm32-wasip2` — the `futures-timer` and `if-watch`
//! stand-ins, which come in through `[patch.crates-io]` (the README's
//! "libp2p" section), since Cargo replaces a crate for all its dependents
//! only that way.

use std::future::Future;
use std::pin::Pin;

/// Runs one of a libp2p swarm's connection tasks on the current tokio
/// runtime: give it to `libp2p_swarm::Config::with_executor` (a function of
/// this shape is an `Executor`).
///
/// ```text
/// let config = libp2p_swarm::Config::with_executor(tg_sdk::wasi_compat::spawn);
/// let swarm = libp2p_swarm::Swarm::new(transport, behaviour, peer_id, config);
/// ```
///
/// libp2p-swarm's own tokio executor is compiled out for `target_os = "wasi"`
/// (it treats every wasm target as a browser); without an executor the swarm
/// polls every connection itself, inside `Swarm::poll`, which works but puts
/// all connections in one task. Must be called inside the runtime, which is
/// where a swarm that is being polled calls it.
pub fn spawn(future: Pin<Box<dyn Future<Output = ()> + Send>>) {
    // The task ends on its own when its connection closes; nothing awaits it.
    drop(tokio::spawn(future));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// What libp2p-swarm requires of an executor: `Fn(Pin<Box<dyn Future
    /// + Send>>)`, `Send` and `'static` (`Config::with_executor`).
    fn executor<E: Fn(Pin<Box<dyn Future<Output = ()> + Send>>) + Send + 'static>(e: E) -> E {
        e
    }

    #[test]
    fn spawned_tasks_run_on_the_current_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let spawn = executor(spawn);
        rt.block_on(async move {
            spawn(Box::pin(async move { flag.store(true, Ordering::SeqCst) }));
            // A current-thread runtime runs the task when this one yields.
            tokio::task::yield_now().await;
        });
        assert!(ran.load(Ordering::SeqCst));
    }
}
