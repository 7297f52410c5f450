//! Socket handles, the per-socket state shared by both protocols, and the
//! wakers of tasks waiting on a socket.
//!
//! Protocol behaviour lives in [`super::udp`] and [`super::tcp`]; the tables
//! that find a socket by port live in [`super::host`].

use super::tcp::TcpSocket;
use super::udp::UdpSocket;
use crate::node::NodeId;
use std::fmt;
use std::task::Waker;

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
