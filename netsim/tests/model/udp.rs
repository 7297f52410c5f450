//! The UDP world model of the `netsim_udp` fuzz target, shared with
//! `cargo test` (`tests/oracle.rs`): UDP on the simulated network under any datagrams, link shapes, filters and
//! partitions. Nothing may panic, the clock never runs backwards, and every
//! datagram delivered was sent to that socket, from the address it names, with
//! the payload it was sent with (unless a link corrupts), at most once (twice
//! when a link duplicates).

// The fuzz target and the oracle test each use their own part of the input types.
#![allow(dead_code)]

use crate::common::{Clock, Config, Delay, FilterIn, Target, pattern_byte, port};
use arbitrary::Arbitrary;
use netsim::net::{MAX_DATAGRAM, NetError, SocketId, node_of};
use netsim::{NodeId, Sim, SimConfig};
use std::net::SocketAddrV4;

#[derive(Arbitrary, Debug)]
pub enum Op {
    Bind { node: u8, ip: Target, port: u8 },
    Connect { sock: u8, to: Option<(Target, u8)> },
    Send { sock: u8, to: Option<(Target, u8)>, len: u16 },
    Recv { sock: u8 },
    Close { sock: u8 },
    Step { events: u8 },
    Advance { by: Delay },
    Configure { node: u8, config: Config },
    Partition { src: u8, dst: u8, filter: Option<FilterIn> },
}

#[derive(Arbitrary, Debug)]
pub struct Input {
    nodes: u8,
    seed: u64,
    config: Config,
    ops: Vec<Op>,
}

/// What was sent, by datagram number (the first 8 bytes of every payload of 8 bytes or more).
struct Sent {
    src_node: u32,
    src_port: u16,
    dst: SocketAddrV4,
    len: usize,
    deliveries: u32,
}

struct World {
    sim: Sim,
    clock: Clock,
    nodes: u32,
    socks: Vec<SocketId>,
    sent: Vec<Sent>,
    corrupts: bool,
    duplicates: bool,
}

impl World {
    fn pick(&self, i: u8) -> Option<SocketId> {
        (!self.socks.is_empty()).then(|| self.socks[usize::from(i) % self.socks.len()])
    }

    fn addr(&self, to: (Target, u8)) -> SocketAddrV4 {
        SocketAddrV4::new(to.0.ip(self.nodes), port(to.1))
    }

    fn note_config(&mut self, config: &Config) {
        self.corrupts |= config.corrupts();
        self.duplicates |= config.duplicates();
    }

    /// Receives one datagram on `id` and checks it; false when none was waiting.
    fn recv(&mut self, id: SocketId) -> bool {
        let Ok(Some(d)) = self.sim.net_mut().udp_try_recv(id) else { return false };
        if self.corrupts || d.data.len() < 8 {
            return true;
        }
        let n = u64::from_le_bytes(d.data[..8].try_into().unwrap());
        let local = self.sim.net().local_addr(id).expect("a socket that received is bound");
        let Some(sent) = usize::try_from(n).ok().and_then(|n| self.sent.get_mut(n)) else {
            panic!("datagram {n} was never sent")
        };
        assert_eq!(d.data.len(), sent.len, "datagram {n} changed length");
        assert!(d.data[8..].iter().zip(8..).all(|(&b, o)| b == pattern_byte(n, o)), "datagram {n} changed");
        sent.deliveries += 1;
        assert!(sent.deliveries <= 1 + u32::from(self.duplicates), "datagram {n} delivered too often");
        assert_eq!(d.from.port(), sent.src_port, "datagram {n}: wrong source port");
        let from_node = if d.from.ip().is_loopback() { id.node.0 } else { node_of(*v4(d.from).ip()).unwrap().0 };
        assert_eq!(from_node, sent.src_node, "datagram {n}: wrong source node");
        assert_eq!(local.port(), sent.dst.port(), "datagram {n} reached the wrong port");
        let dst_node =
            if sent.dst.ip().is_loopback() { sent.src_node } else { node_of(*sent.dst.ip()).map_or(u32::MAX, |n| n.0) };
        assert_eq!(id.node.0, dst_node, "datagram {n} reached the wrong node");
        true
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Bind { node, ip, port: p } => {
                let node = NodeId(u32::from(node) % self.nodes);
                let local = SocketAddrV4::new(ip.ip(self.nodes), port(p));
                let net = self.sim.net_mut();
                let Ok(id) = net.udp_socket(node) else { return };
                self.socks.push(id);
                if let Ok(bound) = net.udp_bind(id, local) {
                    assert_eq!(bound.ip(), std::net::IpAddr::V4(*local.ip()));
                    assert!(local.port() == 0 || bound.port() == local.port());
                }
            }
            Op::Connect { sock, to } => {
                let Some(id) = self.pick(sock) else { return };
                let to = to.map(|t| self.addr(t));
                let _ = self.sim.net_mut().udp_connect(id, to.map(Into::into));
            }
            Op::Send { sock, to, len } => {
                let Some(id) = self.pick(sock) else { return };
                let to = to.map(|t| self.addr(t));
                let len = usize::from(len);
                let n = self.sent.len() as u64;
                let mut data: Vec<u8> = (0..len as u64).map(|o| pattern_byte(n, o)).collect();
                if len >= 8 {
                    data[..8].copy_from_slice(&n.to_le_bytes());
                }
                let result = self.sim.with_net(|net, cx| net.udp_send_to(cx, id, to.map(Into::into), &data));
                if len > MAX_DATAGRAM {
                    assert_eq!(result, Err(NetError::DatagramTooLarge));
                }
                if result.is_ok() && len >= 8 {
                    let net = self.sim.net();
                    let local = net.local_addr(id).expect("a socket that sent is bound");
                    let dst = to.or_else(|| net.remote_addr(id).ok().map(v4)).expect("a datagram has a destination");
                    self.sent.push(Sent { src_node: id.node.0, src_port: local.port(), dst, len, deliveries: 0 });
                }
            }
            Op::Recv { sock } => {
                if let Some(id) = self.pick(sock) {
                    self.recv(id);
                }
            }
            Op::Close { sock } => {
                let Some(id) = self.pick(sock) else { return };
                self.socks.retain(|&s| s != id);
                self.sim.with_net(|net, cx| net.close(cx, id));
                assert!(self.sim.net_mut().udp_try_recv(id).is_err());
            }
            Op::Step { events } => {
                for _ in 0..events {
                    if !self.clock.step(&mut self.sim) {
                        break;
                    }
                }
            }
            Op::Advance { by } => self.clock.advance(&mut self.sim, by.get()),
            Op::Configure { node, config } => {
                self.note_config(&config);
                let node = NodeId(u32::from(node) % self.nodes);
                let config = config.get();
                self.sim.with_net(|net, cx| net.configure(cx, node, config));
            }
            Op::Partition { src, dst, filter } => {
                let (src, dst) = (NodeId(u32::from(src) % self.nodes), NodeId(u32::from(dst) % self.nodes));
                self.sim.net_mut().set_path_filter(src, dst, filter.map(FilterIn::get));
            }
        }
    }
}

/// Runs `input` and checks every datagram received; panics on a violation.
pub fn run(input: Input) {
    let nodes = 2 + u32::from(input.nodes % 3);
    let sim =
        Sim::new(SimConfig { instances: nodes, seed: input.seed, net: input.config.get(), ..SimConfig::default() });
    let mut world = World {
        sim,
        clock: Clock { budget: 20_000 },
        nodes,
        socks: Vec::new(),
        sent: Vec::new(),
        corrupts: false,
        duplicates: false,
    };
    world.note_config(&input.config);
    for op in input.ops.into_iter().take(200) {
        world.apply(op);
    }
    while world.clock.step(&mut world.sim) {}
    // Drain every queue: each datagram still waiting must check out too.
    for i in 0..world.socks.len() {
        while world.recv(world.socks[i]) {}
    }
}

/// An address the IPv4-only harness handed netsim, as it comes back.
fn v4(addr: std::net::SocketAddr) -> SocketAddrV4 {
    match addr {
        std::net::SocketAddr::V4(a) => a,
        std::net::SocketAddr::V6(a) => panic!("an IPv6 address {a} in an IPv4 run"),
    }
}
