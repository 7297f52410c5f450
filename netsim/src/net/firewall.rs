//! Stateful inbound filtering: an instance that blocks what it did not ask
//! for, as a host firewall with connection tracking does (Linux's
//! `iptables -A INPUT -m conntrack --ctstate NEW -j DROP`, or `REJECT`).
//!
//! While blocking is on, the instance's outgoing UDP datagrams and TCP SYNs
//! open *flows* (protocol, local endpoint, remote endpoint). An arriving UDP
//! datagram (or ICMP error about one) passes if it belongs to a flow; an
//! arriving TCP SYN without ACK — a new connection — passes only if the
//! instance itself sent a SYN to that endpoint (a simultaneous open). Other
//! TCP segments pass: they belong to connections the instance has, which
//! Linux's conntrack picks up mid-stream (`nf_conntrack_tcp_loose`), or are
//! answered by the stack's own reset. Loopback is never filtered.
//!
//! Flows expire as Linux's do: an unanswered UDP flow after 30 s
//! (`nf_conntrack_udp_timeout`), an answered one after 120 s idle
//! (`nf_conntrack_udp_timeout_stream`), a TCP one after 5 days
//! (`nf_conntrack_tcp_timeout_established`; the shorter timeouts of closing
//! connections are not modelled). Flows are tracked only while blocking is
//! on, so turning it on mid-run lets UDP replies in once the instance sends again.
//!
//! This module keeps one instance's flow table and decides; the fabric calls
//! it on the packet's path and answers a refusal (a TCP reset, an ICMP port
//! unreachable) when the filter is `Reject`.

use super::config::Filter;
use super::nat::Proto;
use crate::time::SimTime;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// An unanswered UDP flow's lifetime: Linux's `nf_conntrack_udp_timeout`.
pub const UDP_FLOW_TIMEOUT: Duration = Duration::from_secs(30);
/// An answered UDP flow's idle lifetime: Linux's `nf_conntrack_udp_timeout_stream`.
pub const UDP_STREAM_TIMEOUT: Duration = Duration::from_secs(120);
/// A TCP flow's idle lifetime: Linux's `nf_conntrack_tcp_timeout_established` (5 days).
pub const TCP_FLOW_TIMEOUT: Duration = Duration::from_secs(5 * 24 * 3600);

/// What kind of packet arrives, as far as the filter cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// A UDP datagram, or an ICMP error about one.
    Udp,
    /// A TCP segment opening a connection (SYN without ACK).
    TcpSyn,
    /// Any other TCP segment.
    TcpOther,
}

type Flow = (Proto, SocketAddr, SocketAddr);

struct FlowState {
    last: SimTime,
    answered: bool,
}

/// One instance's inbound filter and flow table.
#[derive(Default)]
pub(crate) struct Firewall {
    /// What happens to unsolicited packets; `Accept` is no filtering.
    pub(crate) filter: Filter,
    flows: BTreeMap<Flow, FlowState>,
}

fn timeout(proto: Proto, answered: bool) -> Duration {
    match (proto, answered) {
        (Proto::Tcp, _) => TCP_FLOW_TIMEOUT,
        (Proto::Udp, false) => UDP_FLOW_TIMEOUT,
        (Proto::Udp, true) => UDP_STREAM_TIMEOUT,
    }
}

impl Firewall {
    /// Whether the filter is on.
    pub(crate) fn blocking(&self) -> bool {
        self.filter != Filter::Accept
    }

    /// Sets the filter; turning it off forgets every flow.
    pub(crate) fn set(&mut self, filter: Filter) {
        self.filter = filter;
        if filter == Filter::Accept {
            self.flows.clear();
        }
    }

    /// Forgets every flow (the instance crashed: its kernel state is gone).
    pub(crate) fn forget(&mut self) {
        self.flows.clear();
    }

    /// The instance sends from `local` to `remote` now.
    pub(crate) fn outbound(&mut self, proto: Proto, local: SocketAddr, remote: SocketAddr, now: SimTime) {
        if !self.blocking() {
            return;
        }
        let flow = self.flows.entry((proto, local, remote)).or_insert(FlowState { last: now, answered: false });
        flow.last = now;
    }

    /// Whether a packet from `remote` to `local` may come in now.
    pub(crate) fn admits(&mut self, kind: Arrival, local: SocketAddr, remote: SocketAddr, now: SimTime) -> bool {
        if !self.blocking() || kind == Arrival::TcpOther {
            return true;
        }
        let proto = if kind == Arrival::Udp { Proto::Udp } else { Proto::Tcp };
        let key = (proto, local, remote);
        match self.flows.get_mut(&key) {
            Some(f) if now.duration_since(f.last) <= timeout(proto, f.answered) => {
                f.last = now;
                f.answered = true;
                true
            }
            Some(_) => {
                self.flows.remove(&key);
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn replies_pass_and_strangers_do_not() {
        let mut fw = Firewall::default();
        let (me, peer) = (a("16.0.0.2:5000"), a("16.0.0.3:53"));
        assert!(fw.admits(Arrival::Udp, me, peer, SimTime::ZERO), "open by default");
        fw.set(Filter::Drop);
        assert!(!fw.admits(Arrival::Udp, me, peer, SimTime::ZERO));
        fw.outbound(Proto::Udp, me, peer, SimTime::ZERO);
        assert!(fw.admits(Arrival::Udp, me, peer, SimTime::ZERO));
        assert!(!fw.admits(Arrival::Udp, me, a("16.0.0.3:54"), SimTime::ZERO), "another port is a stranger");
        assert!(!fw.admits(Arrival::TcpSyn, me, peer, SimTime::ZERO), "per protocol");
        assert!(fw.admits(Arrival::TcpOther, me, peer, SimTime::ZERO), "segments of connections pass");
    }

    #[test]
    fn flows_expire_as_linux_conntrack_does() {
        let mut fw = Firewall::default();
        fw.set(Filter::Reject);
        let (me, peer) = (a("16.0.0.2:5000"), a("16.0.0.3:53"));
        fw.outbound(Proto::Udp, me, peer, SimTime::ZERO);
        let late = SimTime::ZERO + UDP_FLOW_TIMEOUT + Duration::from_nanos(1);
        assert!(!fw.admits(Arrival::Udp, me, peer, late), "unanswered for 30 s");
        fw.outbound(Proto::Udp, me, peer, late);
        assert!(fw.admits(Arrival::Udp, me, peer, late));
        assert!(fw.admits(Arrival::Udp, me, peer, late + Duration::from_secs(100)), "answered: 120 s");
    }
}
