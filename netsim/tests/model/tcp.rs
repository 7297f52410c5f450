//! The TCP world model of the `netsim_tcp` fuzz target, shared with
//! `cargo test` (`tests/oracle.rs`): TCP on the simulated network under any sequence of socket operations, link
//! shapes, filters and partitions. Nothing may panic, the clock never runs
//! backwards, and what a connection reads is always the next bytes its peer
//! wrote: in order, unchanged (corrupted segments must be discarded), and never
//! more than was written.

// The fuzz target and the oracle test each use their own part of the input types.
#![allow(dead_code)]
use crate::common::{Clock, Config, Delay, FilterIn, Target, pattern_byte, port};
use arbitrary::Arbitrary;
use netsim::net::{Shutdown, SocketId, node_of};
use netsim::{NodeId, Sim, SimConfig};
use std::collections::HashMap;
use std::net::SocketAddrV4;

#[derive(Arbitrary, Debug)]
pub enum Op {
    Listen { node: u8, bind: Target, port: u8, backlog: Option<u8> },
    Connect { node: u8, to: Target, port: u8, bind_first: Option<u8> },
    Accept { sock: u8 },
    Write { sock: u8, len: u16 },
    Read { sock: u8, max: u16 },
    Shutdown { sock: u8, how: u8 },
    Reset { sock: u8 },
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

/// Identifies one direction of a connection: (writer node, writer port, reader node, reader port).
type StreamKey = (u32, u16, u32, u16);

fn stream_id(k: StreamKey) -> u64 {
    (u64::from(k.0) << 48) ^ (u64::from(k.1) << 32) ^ (u64::from(k.2) << 16) ^ u64::from(k.3)
}

struct Sock {
    id: SocketId,
    /// (writing key, reading key), known once the connection is established.
    keys: Option<(StreamKey, StreamKey)>,
    written: u64,
    read: u64,
    eof: bool,
}

struct World {
    sim: Sim,
    clock: Clock,
    nodes: u32,
    socks: Vec<Sock>,
    /// How many bytes the current writer of each stream has written.
    written: HashMap<StreamKey, u64>,
}

impl World {
    fn pick(&self, i: u8) -> Option<usize> {
        (!self.socks.is_empty()).then(|| usize::from(i) % self.socks.len())
    }

    fn node(&self, n: u8) -> NodeId {
        NodeId(u32::from(n) % self.nodes)
    }

    /// The node at the other end of an address seen from `me`.
    fn peer_node(&self, me: NodeId, addr: std::net::SocketAddr) -> u32 {
        match addr.ip() {
            ip if ip.is_loopback() => me.0,
            std::net::IpAddr::V4(ip) => node_of(ip).map_or(u32::MAX, |n| n.0),
            std::net::IpAddr::V6(ip) => panic!("an IPv6 address {ip} in an IPv4 run"),
        }
    }

    fn keys(&mut self, i: usize) -> Option<(StreamKey, StreamKey)> {
        if self.socks[i].keys.is_none() {
            let id = self.socks[i].id;
            let net = self.sim.net();
            let (Ok(local), Ok(remote)) = (net.local_addr(id), net.remote_addr(id)) else { return None };
            let peer = self.peer_node(id.node, remote);
            let w = (id.node.0, local.port(), peer, remote.port());
            let r = (peer, remote.port(), id.node.0, local.port());
            self.socks[i].keys = Some((w, r));
            // A new connection may reuse a closed one's addresses: its stream starts over.
            self.written.insert(w, 0);
        }
        self.socks[i].keys
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Listen { node, bind, port: p, backlog } => {
                let node = self.node(node);
                let net = self.sim.net_mut();
                let Ok(id) = net.tcp_socket(node) else { return };
                self.socks.push(Sock { id, keys: None, written: 0, read: 0, eof: false });
                if let Some(b) = backlog {
                    let _ = net.tcp_set_backlog(id, u64::from(b));
                }
                if net.tcp_bind(id, SocketAddrV4::new(bind.ip(self.nodes), port(p))).is_ok() {
                    net.tcp_listen(id).expect("a bound socket can listen");
                }
            }
            Op::Connect { node, to, port: p, bind_first } => {
                let node = self.node(node);
                let Ok(id) = self.sim.net_mut().tcp_socket(node) else { return };
                self.socks.push(Sock { id, keys: None, written: 0, read: 0, eof: false });
                if let Some(b) = bind_first {
                    let _ = self.sim.net_mut().tcp_bind(id, SocketAddrV4::new(Target::Unspecified.ip(0), port(b)));
                }
                let remote = SocketAddrV4::new(to.ip(self.nodes), port(p));
                let _ = self.sim.with_net(|net, cx| net.tcp_connect(cx, id, remote));
                // Connecting twice is refused, never a panic.
                let _ = self.sim.with_net(|net, cx| net.tcp_connect(cx, id, remote));
            }
            Op::Accept { sock } => {
                let Some(i) = self.pick(sock) else { return };
                if let Ok(id) = self.sim.net_mut().tcp_accept(self.socks[i].id) {
                    assert_eq!(id.node, self.socks[i].id.node);
                    self.socks.push(Sock { id, keys: None, written: 0, read: 0, eof: false });
                }
            }
            Op::Write { sock, len } => {
                let Some(i) = self.pick(sock) else { return };
                let id = self.socks[i].id;
                let Some((w, _)) = self.keys(i) else {
                    let _ = self.sim.with_net(|net, cx| net.tcp_write(cx, id, &[0; 16]));
                    return;
                };
                let start = self.socks[i].written;
                let data: Vec<u8> = (0..u64::from(len)).map(|o| pattern_byte(stream_id(w), start + o)).collect();
                let capacity = self.sim.net_mut().tcp_check_write(id);
                if let Ok(n) = self.sim.with_net(|net, cx| net.tcp_write(cx, id, &data)) {
                    assert!(n <= data.len());
                    if let Ok(c) = capacity {
                        assert!(n <= c, "wrote {n} with room for {c}");
                    }
                    self.socks[i].written += n as u64;
                    self.written.insert(w, self.socks[i].written);
                }
            }
            Op::Read { sock, max } => {
                let Some(i) = self.pick(sock) else { return };
                let id = self.socks[i].id;
                let keys = self.keys(i);
                let max = usize::from(max);
                match self.sim.with_net(|net, cx| net.tcp_read(cx, id, max)) {
                    Ok(Some(data)) => {
                        assert!(data.len() <= max, "read {} of at most {max}", data.len());
                        if data.is_empty() {
                            return;
                        }
                        assert!(!self.socks[i].eof, "{} bytes after end of stream", data.len());
                        let (_, r) = keys.expect("a connection that reads data knows its peer");
                        let start = self.socks[i].read;
                        for (o, &b) in data.iter().enumerate() {
                            let offset = start + o as u64;
                            assert_eq!(b, pattern_byte(stream_id(r), offset), "byte {offset} of stream {r:?}");
                        }
                        self.socks[i].read += data.len() as u64;
                        let written = self.written.get(&r).copied().unwrap_or(0);
                        assert!(self.socks[i].read <= written, "read {} of {written} written", self.socks[i].read);
                    }
                    Ok(None) => self.socks[i].eof = true,
                    Err(_) => {}
                }
            }
            Op::Shutdown { sock, how } => {
                let Some(i) = self.pick(sock) else { return };
                let how = [Shutdown::Receive, Shutdown::Send, Shutdown::Both][usize::from(how) % 3];
                let id = self.socks[i].id;
                let _ = self.sim.with_net(|net, cx| net.tcp_shutdown(cx, id, how));
            }
            Op::Reset { sock } => {
                let Some(i) = self.pick(sock) else { return };
                let id = self.socks[i].id;
                let _ = self.sim.with_net(|net, cx| net.tcp_reset(cx, id));
            }
            Op::Close { sock } => {
                let Some(i) = self.pick(sock) else { return };
                let id = self.socks.swap_remove(i).id;
                self.sim.with_net(|net, cx| net.close(cx, id));
                // A closed handle is gone: every operation on it is an error.
                assert!(self.sim.with_net(|net, cx| net.tcp_read(cx, id, 1)).is_err());
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
                let node = self.node(node);
                let config = config.get();
                self.sim.with_net(|net, cx| net.configure(cx, node, config));
            }
            Op::Partition { src, dst, filter } => {
                let (src, dst) = (self.node(src), self.node(dst));
                self.sim.net_mut().set_path_filter(src, dst, filter.map(FilterIn::get));
            }
        }
    }
}

/// Runs `input` and checks every read against what the peer wrote; panics on a violation.
pub fn run(input: Input) {
    let nodes = 2 + u32::from(input.nodes % 3);
    let sim =
        Sim::new(SimConfig { instances: nodes, seed: input.seed, net: input.config.get(), ..SimConfig::default() });
    let mut world = World { sim, clock: Clock { budget: 20_000 }, nodes, socks: Vec::new(), written: HashMap::new() };
    for op in input.ops.into_iter().take(200) {
        world.apply(op);
    }
    // Let what is in flight land: retransmissions, FINs, timeouts.
    while world.clock.step(&mut world.sim) {}
}
