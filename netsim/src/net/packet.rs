//! What travels between instances: IPv4 or IPv6 packets carrying a UDP
//! datagram, a TCP segment or an ICMP error, with the header sizes that links
//! charge for.
//!
//! Packets are plain data; nothing here routes or interprets them.

use crate::node::NodeId;
use std::net::SocketAddr;

/// IPv4 header without options.
pub const IPV4_HEADER: u64 = 20;
/// IPv6 header without extension headers.
pub const IPV6_HEADER: u64 = 40;
/// UDP header.
pub const UDP_HEADER: u64 = 8;
/// TCP header without options.
pub const TCP_HEADER: u64 = 20;
/// ICMP header.
pub const ICMP_HEADER: u64 = 8;

/// A TCP segment's flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flags(u8);

impl Flags {
    /// Opens a connection.
    pub const SYN: Flags = Flags(1);
    /// `ack` is valid.
    pub const ACK: Flags = Flags(2);
    /// The sender will send no more data.
    pub const FIN: Flags = Flags(4);
    /// Aborts the connection.
    pub const RST: Flags = Flags(8);

    /// Whether every flag of `other` is set.
    pub fn has(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// A TCP segment. Sequence numbers are byte offsets into each direction's
/// stream, starting at 0 after the handshake, as 64-bit numbers that never wrap:
/// initial sequence numbers defend against attackers and stale segments of old
/// connections, neither of which exists here.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// Control flags.
    pub flags: Flags,
    /// Offset of the first payload byte (or of the FIN).
    pub seq: u64,
    /// Next offset the sender expects from the peer, plus one once the peer's FIN arrived.
    pub ack: u64,
    /// Receive window the sender advertises, in bytes: at most a receive
    /// buffer ([`super::tcp::RECV_BUFFER`]), so 32 bits hold it, and a packet
    /// is a word smaller for every event that carries one.
    pub wnd: u32,
    /// Payload.
    pub data: Vec<u8>,
}

impl Segment {
    /// The RST a host answers this segment with when nothing takes it (a
    /// closed port, a firewall's REJECT): at the sequence the segment
    /// acknowledged, acknowledging everything it occupied — its payload, and
    /// one each for a SYN and a FIN (RFC 793 §3.4). Whatever its numbers,
    /// the connection that gets it is reset.
    pub(crate) fn reset_reply(&self) -> Segment {
        let occupied =
            self.data.len() as u64 + u64::from(self.flags.has(Flags::SYN)) + u64::from(self.flags.has(Flags::FIN));
        Segment { flags: Flags::RST | Flags::ACK, seq: self.ack, ack: self.seq + occupied, wnd: 0, data: Vec::new() }
    }
}

/// An ICMP error message. The packet carrying it goes from the address that
/// could not be reached to the sender of the datagram it answers, so its
/// addresses say which socket the error is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Icmp {
    /// Destination unreachable, port unreachable: no socket took a datagram.
    PortUnreachable,
}

/// What a packet carries.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Body {
    /// A UDP datagram's payload.
    Udp(Vec<u8>),
    /// A TCP segment.
    Tcp(Segment),
    /// An ICMP error about a datagram.
    Icmp(Icmp),
}

/// One packet on the data network.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Packet {
    /// Sending instance.
    pub src_node: NodeId,
    /// Receiving instance.
    pub dst_node: NodeId,
    /// Source address and port; the same family as `dst`.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Payload.
    pub body: Body,
    /// Whether the link damaged it. TCP discards such a segment on arrival (its
    /// checksum covers the header too); UDP has had a payload bit flipped.
    pub corrupted: bool,
}

/// The most a packet may take, in bytes. Every packet is moved by value
/// into and out of the event queue; a value of more than 128 bytes is moved
/// by a call to `memcpy`, one of at most that by a few inline vector moves.
/// At 136 bytes (a 64-bit window) the packet bench processed 3.80 M UDP
/// events a second, at 128 bytes 4.61 M (medians of 5 side by side). Below
/// it size hardly counts: at 104 bytes (the segment boxed, tried) 4.65 M
/// against 4.67 M.
pub(crate) const MAX_PACKET_SIZE: usize = 128;

const _: () = assert!(std::mem::size_of::<Packet>() <= MAX_PACKET_SIZE, "a packet outgrew MAX_PACKET_SIZE");

impl Packet {
    /// Bytes on the wire at the IP layer: what links serialize and totals count.
    pub fn wire_len(&self) -> u64 {
        let ip = if self.dst.is_ipv6() { IPV6_HEADER } else { IPV4_HEADER };
        ip + match &self.body {
            Body::Udp(d) => UDP_HEADER + d.len() as u64,
            Body::Tcp(s) => TCP_HEADER + s.data.len() as u64,
            // The error quotes the offending packet's IP header and first 8 bytes (RFC 792, RFC 4443).
            Body::Icmp(_) => ICMP_HEADER + ip + UDP_HEADER,
        }
    }

    /// The protocol's short name for the trace.
    pub fn proto(&self) -> &'static str {
        match self.body {
            Body::Udp(_) => "udp",
            Body::Tcp(_) => "tcp",
            Body::Icmp(_) => "icmp",
        }
    }

    /// An answer host `from`'s stack makes itself (a reset, an ICMP error) to
    /// a packet `to` received at `at`: from `at` back to `to`, routed as any.
    pub(crate) fn stack_reply(from: NodeId, at: SocketAddr, to: SocketAddr, body: Body) -> Packet {
        Packet { src_node: from, dst_node: NodeId::SIM, src: at, dst: to, body, corrupted: false }
    }

    /// Flips one bit of the payload chosen by `pick`; a packet without payload is unchanged.
    pub fn corrupt(&mut self, pick: u64) {
        let data = match &mut self.body {
            Body::Udp(d) => d,
            Body::Tcp(s) => &mut s.data,
            Body::Icmp(_) => return,
        };
        if !data.is_empty() {
            let bit = pick % (data.len() as u64 * 8);
            data[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_acknowledges_everything_the_segment_occupied_at_the_sequence_it_acknowledged() {
        let seg = |flags: Flags, data: &[u8]| Segment { flags, seq: 100, ack: 7, wnd: 1000, data: data.to_vec() };
        for (answered, ack) in
            [(seg(Flags::SYN, b""), 101), (seg(Flags::ACK, b"hello"), 105), (seg(Flags::FIN | Flags::ACK, b"bye"), 104)]
        {
            let rst = answered.reset_reply();
            assert_eq!((rst.flags, rst.seq, rst.ack, rst.wnd, rst.data.len()), (Flags::RST | Flags::ACK, 7, ack, 0, 0));
        }
    }
}
