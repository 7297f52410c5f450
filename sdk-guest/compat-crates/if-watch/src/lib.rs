//! if-watch 3.2's public API for tg-wasm plans: an [`IfWatcher`] that reports
//! the instance's interfaces once and never a change, standing in for the
//! crate through a `[patch.crates-io]` entry.
//!
//! Owns: which addresses an instance has (loopback and its data-network
//! addresses, from the host through `tg-sdk`) and the order they are reported
//! in. Does not own: what a listener does with them (libp2p-tcp turns those
//! of its listener's family into listen addresses) nor the addresses
//! themselves (netsim assigns them; a plan may choose its own).
//!
//! if-watch 3.2 does not build for `wasm32-wasip2` (its fallback platform code
//! polls `getifaddrs` on an `async-io` timer, and `polling` has no WASI
//! backend). See README.md for when this crate can go.

#![deny(missing_docs)]

use std::collections::VecDeque;
use std::io::Result;
use std::net::{Ipv4Addr, Ipv6Addr};
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

/// This instance's interfaces, in the order Linux's netlink dump lists them:
/// IPv4 before IPv6, loopback before the data network. Natively (this
/// crate's tests) there is only loopback.
fn interfaces() -> Vec<IpNet> {
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    let (data_v4, data_v6) = {
        let network = tg_sdk::Network::default();
        (Some(network.data_address()), network.data_address_v6())
    };
    #[cfg(not(all(target_os = "wasi", target_env = "p2")))]
    let (data_v4, data_v6) = (None, None);
    interfaces_with(data_v4, data_v6)
}

/// The interfaces of an instance with these data addresses. The prefixes are
/// those of the networks the addresses are in — the data network
/// `16.0.0.0/4` or a NAT's private `10.0.0.0/8`, and `fd00::/8` — since every
/// address there is reached directly; libp2p-tcp uses only the address.
fn interfaces_with(data_v4: Option<Ipv4Addr>, data_v6: Option<Ipv6Addr>) -> Vec<IpNet> {
    let net4 = |addr: Ipv4Addr, prefix| IpNet::V4(Ipv4Net::new(addr, prefix).expect("a valid IPv4 prefix"));
    let net6 = |addr: Ipv6Addr, prefix| IpNet::V6(Ipv6Net::new(addr, prefix).expect("a valid IPv6 prefix"));
    let mut nets = vec![net4(Ipv4Addr::LOCALHOST, 8)];
    nets.extend(data_v4.map(|addr| net4(addr, if addr.octets()[0] & 0xf0 == 16 { 4 } else { 8 })));
    nets.push(net6(Ipv6Addr::LOCALHOST, 128));
    nets.extend(data_v6.map(|addr| net6(addr, 8)));
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
        for expected in ["127.0.0.1/8", "::1/128"] {
            match next(&mut watcher) {
                Poll::Ready(Some(Ok(event))) => assert_eq!(event, up(expected)),
                other => panic!("expected {expected}, got {other:?}"),
            }
        }
        for _ in 0..3 {
            assert!(next(&mut watcher).is_pending());
        }
        assert!(!watcher.is_terminated(), "libp2p-tcp polls it for as long as it listens");
    }

    #[test]
    fn an_instance_has_loopback_and_its_data_addresses_as_linux_lists_them() {
        let nets = |v4: Option<&str>, v6: Option<&str>| {
            let nets = interfaces_with(v4.map(|a| a.parse().unwrap()), v6.map(|a| a.parse().unwrap()));
            nets.iter().map(ToString::to_string).collect::<Vec<_>>()
        };
        assert_eq!(nets(Some("16.0.0.2"), None), ["127.0.0.1/8", "16.0.0.2/4", "::1/128"]);
        assert_eq!(
            nets(Some("16.1.0.9"), Some("fd00::1001:9")),
            ["127.0.0.1/8", "16.1.0.9/4", "::1/128", "fd00::1001:9/8"]
        );
        // Behind a NAT: a private address, and no IPv6.
        assert_eq!(nets(Some("10.0.0.5"), None), ["127.0.0.1/8", "10.0.0.5/8", "::1/128"]);
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
