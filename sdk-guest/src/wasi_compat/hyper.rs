//! [`Resolver`]: a hyper-util resolver that needs no thread.
//!
//! Owns: the `tower_service::Service<Name>` hyper-util's `HttpConnector`
//! resolves through. Does not own: the lookup (std's, as in
//! [`resolve`](super::resolve)) or the port, which `HttpConnector` sets on
//! every address it gets back.

use std::future::{Ready, ready};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// hyper-util's `GaiResolver` without a thread: give it to
/// `HttpConnector::new_with_resolver` in place of the default, which resolves
/// on tokio's blocking pool and panics on `wasm32-wasip2` ("OS can't spawn
/// worker thread").
///
/// Resolves inline, at once on tg-wasm (see [`resolve`](super::resolve)).
///
/// ```no_run
/// use hyper_util::client::legacy::connect::HttpConnector;
///
/// let connector = HttpConnector::new_with_resolver(tg_sdk::wasi_compat::Resolver);
/// // then, as usual: Client::builder(TokioExecutor::new()).build(connector)
/// # drop(connector);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Resolver;

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Ready<io::Result<Self::Response>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        // Port 0, as GaiResolver: the connector puts the URI's port on each address.
        let resolved = (name.as_str(), 0).to_socket_addrs().map(|addrs| addrs.collect::<Vec<_>>().into_iter());
        ready(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_service::Service;

    #[test]
    fn resolves_an_address_at_once_with_port_zero() {
        let name: Name = "16.0.0.2".parse().unwrap();
        let addrs: Vec<_> = Resolver.call(name).into_inner().unwrap().collect();
        assert_eq!(addrs, vec!["16.0.0.2:0".parse().unwrap()]);
    }
}
