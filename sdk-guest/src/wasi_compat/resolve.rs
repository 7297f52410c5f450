//! [`resolve`]: `tokio::net::lookup_host` without tokio's blocking pool.
//!
//! Owns: turning a name into socket addresses from async code. Does not own:
//! the lookup itself, which is std's (`getaddrinfo` over
//! `wasi:sockets/ip-name-lookup`), nor connecting.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `addr` — `"instance-3:7000"`, `("instance-3", 7000)` or a socket
/// address — as `tokio::net::lookup_host` would, but on the calling task:
/// tokio resolves on its blocking pool, which needs a thread `wasm32-wasip2`
/// does not have.
///
/// Resolving inline does not stall the runtime on tg-wasm: the host knows
/// every instance's name and answers `wasi:sockets/ip-name-lookup` at once,
/// with no simulated DNS traffic. (On a host whose lookups wait, this would
/// hold the current-thread runtime for the lookup's duration.)
///
/// Connect to what it returns — tokio's `connect` takes a slice of addresses
/// and does not resolve it again:
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let addrs = tg_sdk::wasi_compat::resolve(("instance-0", 7000)).await?;
/// let stream = tokio::net::TcpStream::connect(&*addrs).await?;
/// # drop(stream);
/// # Ok(())
/// # }
/// ```
pub async fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    Ok(addr.to_socket_addrs()?.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls a future that must be ready at once.
    fn now<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("resolve waited"),
        }
    }

    #[test]
    fn addresses_resolve_at_once() {
        let addrs = now(resolve("16.0.0.2:7000")).unwrap();
        assert_eq!(addrs, vec!["16.0.0.2:7000".parse().unwrap()]);
        let addrs = now(resolve(("16.0.0.3", 80))).unwrap();
        assert_eq!(addrs, vec!["16.0.0.3:80".parse().unwrap()]);
    }

    #[test]
    fn a_malformed_address_is_an_error() {
        assert!(now(resolve("no port here")).is_err());
    }
}
