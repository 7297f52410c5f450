//! Socket handles, the per-socket state shared by both protocols, and the
//! wakers of tasks waiting on a socket.
//!
//! Protocol behaviour lives in [`super::udp`] and [`super::tcp`]; the tables
//! that find a socket by port live in [`super::host`].

use super::NetError;
use super::tcp::TcpSocket;
use super::udp::UdpSocket;
use crate::node::NodeId;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::task::Waker;

/// A socket's address family.
///
/// An IPv6 socket bound to `[::]` also takes what arrives over IPv4 for its
/// port when no IPv4 socket has the port: a `[::]` listener accepts IPv4 and
/// IPv6 clients, as Linux's dual-stack sockets do by default
/// (`net.ipv6.bindv6only = 0`). It sees IPv4 peers as IPv4-mapped IPv6
/// addresses (`::ffff:16.0.0.3`) and may send to such addresses, which go
/// out over IPv4. An IPv4 socket and an IPv6 one can both bind a port, as on
/// Linux with `IPV6_V6ONLY` (which WASI sets on every IPv6 socket); then the
/// IPv4 socket has the port's IPv4 traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// `AF_INET`.
    Ipv4,
    /// `AF_INET6`.
    Ipv6,
}

impl Family {
    /// The unspecified address of this family.
    pub(crate) fn unspecified(self) -> IpAddr {
        match self {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// `addr` as a socket of this family is given it, in the form packets
    /// carry: an IPv6 socket's IPv4-mapped addresses become IPv4. An address
    /// of the other family is an `invalid-argument`, as `EAFNOSUPPORT` is.
    pub(crate) fn take(self, addr: SocketAddr) -> Result<SocketAddr, NetError> {
        match (self, addr) {
            (Family::Ipv4, SocketAddr::V4(_)) => Ok(addr),
            (Family::Ipv6, SocketAddr::V6(a)) => Ok(match a.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
                None => addr,
            }),
            _ => Err(NetError::InvalidArgument),
        }
    }

    /// `addr` as a socket of this family reports it: IPv4 addresses of an
    /// IPv6 socket as IPv4-mapped IPv6 ones.
    pub(crate) fn show(self, addr: SocketAddr) -> SocketAddr {
        match (self, addr) {
            (Family::Ipv6, SocketAddr::V4(a)) => {
                SocketAddr::V6(SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0))
            }
            _ => addr,
        }
    }
}

/// A socket of one instance. Numbers are allocated per instance in creation
/// order and never reused, so they are the same in every run of the same plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId {
    /// The instance owning the socket.
    pub node: NodeId,
    /// The socket's number on that instance.
    pub n: u32,
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.node, self.n)
    }
}

/// One socket of either protocol.
pub(crate) enum Socket {
    Udp(UdpSocket),
    Tcp(TcpSocket),
}

/// A host's sockets by number. Numbers are handed out in increasing order
/// and never reused, so the table stays sorted by appending and a lookup is a
/// binary search. A `BTreeMap` spent a 1.7 KB leaf on an instance's first
/// socket (a `Socket` is 152 bytes), most of an instance's netsim memory in
/// a run where each has one.
#[derive(Default)]
pub(crate) struct SocketTable(Vec<(u32, Socket)>);

impl SocketTable {
    /// Adds socket `n`, numbered above every socket in the table.
    pub(crate) fn insert(&mut self, n: u32, socket: Socket) {
        debug_assert!(self.0.last().is_none_or(|(last, _)| *last < n), "socket numbers only grow");
        self.0.push((n, socket));
    }

    fn position(&self, n: u32) -> Option<usize> {
        self.0.binary_search_by_key(&n, |(m, _)| *m).ok()
    }

    pub(crate) fn get(&self, n: &u32) -> Option<&Socket> {
        self.position(*n).map(|i| &self.0[i].1)
    }

    pub(crate) fn get_mut(&mut self, n: &u32) -> Option<&mut Socket> {
        self.position(*n).map(|i| &mut self.0[i].1)
    }

    pub(crate) fn remove(&mut self, n: &u32) -> Option<Socket> {
        self.position(*n).map(|i| self.0.remove(i).1)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The sockets, by number.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Socket> {
        self.0.iter().map(|(_, socket)| socket)
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// Tasks waiting for one condition of a socket. A task polling twice registers
/// once, so a busy socket does not accumulate wakers.
#[derive(Default)]
pub(crate) struct WakerSet(Vec<Waker>);

impl WakerSet {
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.0.iter().any(|w| w.will_wake(waker)) {
            self.0.push(waker.clone());
        }
    }

    /// Wakes everyone, in registration order.
    pub(crate) fn wake_all(&mut self) {
        for w in self.0.drain(..) {
            w.wake();
        }
    }
}
