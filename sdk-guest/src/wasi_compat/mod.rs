//! Stand-ins for what `wasm32-wasip2` lacks and async networking crates
//! expect, so tokio, hyper and socket2 code runs unchanged or nearly so.
//!
//! Owns:
//!
//! - **`fcntl(F_GETFL/F_SETFL)` on sockets.** The wasi-libc Rust 1.95 ships
//!   answers them with `EINVAL`, so mio cannot make an accepted socket
//!   non-blocking and a tokio `TcpListener` fails to accept. `build.rs` links a
//!   replacement `fcntl` (`compat/fcntl.rs`, rules in `fcntl.rs` here) into
//!   every `wasm32-wasip2` plan; nothing to enable. Retired by a toolchain
//!   whose wasi-libc has wasi-libc PR #742 (wasi-sdk 31 or later): `build.rs`
//!   then links nothing.
//! - **Name resolution without a thread** (features `tokio` and `hyper`).
//!   tokio resolves names on its blocking pool, and `wasm32-wasip2` has no
//!   threads, so `tokio::net::lookup_host`, `TcpStream::connect("name:port")`
//!   and hyper-util's default `GaiResolver` panic with "OS can't spawn worker
//!   thread". [`resolve`] and [`Resolver`] resolve inline instead. Retired
//!   when tokio resolves names on `wasm32-wasip2` without its blocking pool.
//! - **rust-libp2p's swarm executor** (feature `libp2p`): [`spawn`], for
//!   `libp2p_swarm::Config::with_executor`, as libp2p-swarm compiles its
//!   tokio executor out for `target_os = "wasi"`. Retired when libp2p-swarm
//!   offers `with_tokio_executor` on WASI. (The other stand-ins a libp2p plan
//!   needs, futures-timer and if-watch, are crates of their own in
//!   `compat-crates/`, patched in with `[patch.crates-io]`.)
//! - **The hint** a panic from a missing thread gets ([`panic_hint`]): the
//!   resolvers above, or a current-thread runtime when the thread was a
//!   worker of tokio's multi-thread runtime, or the futures-timer stand-in
//!   when futures-timer's helper thread could not start, so the crash reason
//!   says what to change.
//!
//! Does not own: the runtime itself (a plan builds a current-thread tokio
//! runtime; `wasm32-wasip2` cannot run a multi-threaded one) or `--cfg
//! tokio_unstable`, which `tg-wasm build` sets and `build.rs` checks.

#[cfg(test)]
mod fcntl;
#[cfg(feature = "hyper")]
mod hyper;
#[cfg(feature = "libp2p")]
mod libp2p;
#[cfg(feature = "tokio")]
mod resolve;

#[cfg(feature = "hyper")]
pub use hyper::Resolver;
#[cfg(feature = "libp2p")]
pub use libp2p::spawn;
#[cfg(feature = "tokio")]
pub use resolve::resolve;

/// What tokio panics with when it cannot start a thread, for its blocking
/// pool or a worker of its multi-thread runtime.
const TOKIO_NO_THREAD: &str = "OS can't spawn worker thread";
/// Part of the path of the tokio source a multi-thread runtime's failure to
/// start its workers is reported at (the panic's location is its caller's).
const TOKIO_MULTI_THREAD: &str = "multi_thread";

/// What futures-timer 3.0 panics with when polled: its global timer lives on
/// a helper thread, and without one every `Delay` is inert.
const FUTURES_TIMER_GONE: &str = "timer has gone away";

/// What to add to the reason of a panic with `message` raised in source file
/// `file`, when its cause is a known gap of `wasm32-wasip2` with a known way
/// around; `None` otherwise.
pub fn panic_hint(message: &str, file: Option<&str>) -> Option<&'static str> {
    if message.contains(FUTURES_TIMER_GONE) {
        return Some(
            "futures-timer could not start its helper thread, as wasm32-wasip2 has none: patch in tg-wasm's \
             stand-in on tokio::time, [patch.crates-io] futures-timer = { path = \"<tg-wasm>/sdk-guest/\
             compat-crates/futures-timer\" } in the plan's workspace (the README's \"libp2p\" has the whole block)",
        );
    }
    if !message.contains(TOKIO_NO_THREAD) {
        return None;
    }
    if file.is_some_and(|file| file.contains(TOKIO_MULTI_THREAD)) {
        return Some(
            "wasm32-wasip2 has no threads for tokio's multi-thread runtime: build a current-thread one, \
             tokio::runtime::Builder::new_current_thread() or #[tokio::main(flavor = \"current_thread\")]",
        );
    }
    Some(
        "wasm32-wasip2 has no threads for tokio's blocking pool (spawn_blocking, lookup_host, \
         connecting by name, hyper-util's GaiResolver): resolve names with \
         tg_sdk::wasi_compat::resolve (tg-sdk feature `tokio`) or give hyper-util's \
         HttpConnector::new_with_resolver tg_sdk::wasi_compat::Resolver (feature `hyper`)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_THREAD: &str = "OS can't spawn worker thread: Not supported (os error 58)";

    #[test]
    fn tokio_blocking_pool_names_the_resolvers() {
        for file in [Some("/cargo/registry/src/tokio-1.54.1/src/net/addr.rs"), Some("src/lib.rs"), None] {
            let hint = panic_hint(NO_THREAD, file).unwrap();
            assert!(hint.contains("tg_sdk::wasi_compat::resolve"), "{hint}");
            assert!(hint.contains("tg_sdk::wasi_compat::Resolver"), "{hint}");
            assert!(!hint.contains('\n'), "one line: {hint}");
        }
    }

    #[test]
    fn a_multi_thread_runtime_names_the_current_thread_one() {
        let file = "/cargo/registry/src/tokio-1.54.1/src/runtime/scheduler/multi_thread/worker.rs";
        let hint = panic_hint(NO_THREAD, Some(file)).unwrap();
        assert!(hint.contains("new_current_thread"), "{hint}");
        assert!(hint.contains("flavor = \"current_thread\""), "{hint}");
        assert!(!hint.contains("Resolver"), "{hint}");
        assert!(!hint.contains('\n'), "one line: {hint}");
    }

    #[test]
    fn futures_timers_missing_thread_names_the_stand_in_and_the_patch() {
        let file = "/cargo/registry/src/futures-timer-3.0.4/src/native/delay.rs";
        for file in [Some(file), None] {
            let hint = panic_hint("timer has gone away", file).unwrap();
            assert!(hint.contains("[patch.crates-io] futures-timer"), "{hint}");
            assert!(hint.contains("compat-crates/futures-timer"), "{hint}");
            assert!(!hint.contains('\n'), "one line: {hint}");
        }
    }

    #[test]
    fn other_panics_get_no_hint() {
        assert_eq!(panic_hint("index out of bounds: the len is 0 but the index is 0", Some("src/lib.rs")), None);
        assert_eq!(panic_hint("", None), None);
    }
}
