//! if-watch 3.2's public API for tg-wasm plans: an [`IfWatcher`] that reports
//! the instance's interfaces once and never a change, standing in for the
//! crate through a `[patch.crates-io]` entry.
//!
//! Owns: which addresses an instance has (loopback, then its data-network
//! address, from the host through `tg-sdk`) and the order they are reported
//! in. Does not own: what a listener does with them (libp2p-tcp turns each
//! into a listen address) nor the addresses themselves (netsim assigns them).
//!
//! if-watch 3.2 does not build for `wasm32-wasip2` (its fallback platform code
//! polls `getifaddrs` on an `async-io` timer, and `polling` has no WASI
//! backend). See README.md for when this crate can go.

#![deny(missing_docs)]

use std::collections::VecDeque;
use std::io::Result;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::FusedStream;
pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};

#[cfg(feature = "tokio")]
pub mod tokio {
    //! The watcher for tokio, as `if_watch::tokio::IfWatcher` names it: the
    //! same as `smol`'s, since it needs no runtime when nothing changes.

    /// Watches for interface changes.
    pub type IfWatcher = super::IfWatcher;
}

#[cfg(feature = "smol")]
pub mod smol {
    //! The watcher for smol, as `if_watch::smol::IfWatcher` names it: the
    //! same as `tokio`'s, since it needs no runtime when nothing changes.

    /// Watches for interface changes.
    pub type IfWatcher = super::IfWatcher;
}

/// An address change event.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum IfEvent {
    /// A new local address has been added.
    Up(IpNet),
    /// A local address has been deleted.
    Down(IpNet),
}

/// The prefix of the data network an instance's address is on: one `/16`
/// block of the `16.0.0.0/8`-style range, as Testground's data network.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
const DATA_PREFIX: u8 = 16;

/// This instance's interfaces, in the order Linux lists them: loopback first.
fn interfaces() -> Vec<IpNet> {
    let loopback = Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).expect("8 is a valid IPv4 prefix");
    #[allow(unused_mut)] // natively there is only loopback
    let mut nets = vec![IpNet::V4(loopback)];
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    {
        let data = tg_sdk::Network::default().data_address();
        nets.push(IpNet::V4(Ipv4Net::new(data, DATA_PREFIX).expect("16 is a valid IPv4 prefix")));
    }
    nets
}

/// Watches this instance's addresses: each is reported once, as
/// [`IfEvent::Up`], and after that the watcher stays pending for good.
#[derive(Debug)]
pub struct IfWatcher {
    /// The addresses already reported, in the order they were.
    addrs: Vec<IpNet>,
    /// The addresses still to report.
    queue: VecDeque<IfEvent>,
}

impl IfWatcher {
    /// Creates a watcher. It cannot fail here; the `Result` is if-watch's.
    pub fn new() -> Result<Self> {
        Ok(IfWatcher::with_interfaces(interfaces()))
    }

    fn with_interfaces(nets: Vec<IpNet>) -> IfWatcher {
        IfWatcher { addrs: Vec::with_capacity(nets.len()), queue: nets.into_iter().map(IfEvent::Up).collect() }
    }

    /// The networks reported so far, as if-watch's does: an address is listed
    /// once its `Up` event has been returned.
    pub fn iter(&self) -> impl Iterator<Item = &IpNet> {
        self.addrs.iter()
    }

    /// The next address event: every interface's `Up`, then `Pending` for
    /// good. No waker is kept, as no event will ever follow.
    pub fn poll_if_event(&mut self, _cx: &mut Context) -> Poll<Result<IfEvent>> {
        match self.queue.pop_front() {
            Some(event) => {
                if let IfEvent::Up(net) = event {
                    self.addrs.push(net);
                }
                Poll::Ready(Ok(event))
            }
            None => Poll::Pending,
        }
    }
}

impl Stream for IfWatcher {
    type Item = Result<IfEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::into_inner(self).poll_if_event(cx).map(Some)
    }
}

impl FusedStream for IfWatcher {
    fn is_terminated(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn next(watcher: &mut IfWatcher) -> Poll<Option<Result<IfEvent>>> {
        Pin::new(watcher).poll_next(&mut Context::from_waker(Waker::noop()))
    }

    fn up(net: &str) -> IfEvent {
        IfEvent::Up(net.parse().unwrap())
    }

    #[test]
    fn natively_reports_loopback_once_then_waits_for_good() {
        let mut watcher = IfWatcher::new().unwrap();
        match next(&mut watcher) {
            Poll::Ready(Some(Ok(event))) => assert_eq!(event, up("127.0.0.1/8")),
            other => panic!("expected loopback, got {other:?}"),
        }
        for _ in 0..3 {
            assert!(next(&mut watcher).is_pending());
        }
        assert!(!watcher.is_terminated(), "libp2p-tcp polls it for as long as it listens");
    }

    #[test]
    fn reports_every_interface_in_order() {
        let mut watcher =
            IfWatcher::with_interfaces(vec!["127.0.0.1/8".parse().unwrap(), "16.0.0.7/16".parse().unwrap()]);
        let mut events = Vec::new();
        while let Poll::Ready(Some(event)) = next(&mut watcher) {
            events.push(event.unwrap());
        }
        assert_eq!(events, vec![up("127.0.0.1/8"), up("16.0.0.7/16")]);
    }

    #[test]
    fn iter_lists_the_addresses_reported_so_far() {
        let mut watcher =
            IfWatcher::with_interfaces(vec!["127.0.0.1/8".parse().unwrap(), "16.0.0.7/16".parse().unwrap()]);
        assert_eq!(watcher.iter().count(), 0, "nothing reported yet");
        let _ = next(&mut watcher);
        assert_eq!(watcher.iter().copied().collect::<Vec<_>>(), vec!["127.0.0.1/8".parse::<IpNet>().unwrap()]);
        let _ = next(&mut watcher);
        assert_eq!(watcher.iter().count(), 2);
    }

    #[test]
    fn poll_if_event_is_the_stream() {
        let mut watcher = IfWatcher::new().unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(watcher.poll_if_event(&mut cx), Poll::Ready(Ok(IfEvent::Up(_)))));
        assert!(watcher.poll_if_event(&mut cx).is_pending());
    }

    #[test]
    fn has_the_names_and_traits_libp2p_tcp_uses() {
        fn watcher<T: Stream<Item = Result<IfEvent>> + FusedStream + Send + Unpin + std::fmt::Debug>() {}
        watcher::<IfWatcher>();
        #[cfg(feature = "tokio")]
        watcher::<crate::tokio::IfWatcher>();
        #[cfg(feature = "smol")]
        watcher::<crate::smol::IfWatcher>();
        let v6: Ipv6Net = "::1/128".parse().unwrap();
        assert_eq!(IpNet::V6(v6).prefix_len(), 128);
    }
}
