//! The network beyond Testground's flat /16: addresses of a plan's choosing,
//! stateful inbound filtering, NATs with hole punching, regions and IPv6 —
//! each a decision on a packet's path, driven here natively.

mod common;

use common::*;
use netsim::net::{
    Family, Filter, LinkShape, NatConfig, NatSpec, NetError, NetworkConfig, RegionPath, Regions, Topology,
};
use netsim::{Executor, NodeId, RunLimits, SimHandle, SimTime, Task};
use std::future::poll_fn;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every instance's link: 10 ms one way.
fn link() -> NetworkConfig {
    NetworkConfig { default: LinkShape::with_latency(Duration::from_millis(10)), ..NetworkConfig::default() }
}

fn laid_out(n: u32, topology: &Topology) -> SimHandle {
    let sim = world(n, 1, link());
    sim.lock().net_mut().set_topology(topology).expect("a valid topology");
    sim
}

/// Runs the tasks (one per instance, in order) until virtual time `secs`; servers may loop forever.
fn run_for(sim: &SimHandle, tasks: Vec<Task<()>>, secs: u64) {
    let mut exec = Executor::new(sim.clone());
    for (i, t) in tasks.into_iter().enumerate() {
        exec.spawn(NodeId(i as u32), t);
    }
    let limits =
        RunLimits { virtual_deadline: Some(SimTime::ZERO + Duration::from_secs(secs)), ..RunLimits::default() };
    exec.run(&limits, |_, ()| {});
}

type Slot<T> = Arc<Mutex<Option<T>>>;

fn slot<T>() -> Slot<T> {
    Arc::new(Mutex::new(None))
}

fn take<T>(s: &Slot<T>) -> T {
    s.lock().unwrap().take().expect("the task finished")
}

/// The next queued datagram, without holding the lock past the call.
fn try_recv(sim: &SimHandle, id: netsim::net::SocketId) -> Option<netsim::net::Datagram> {
    sim.lock().net_mut().udp_try_recv(id).unwrap()
}

fn idle() -> Task<()> {
    Box::pin(async {})
}

#[test]
fn a_chosen_address_is_reachable_by_address_and_by_name() {
    let sim = world(3, 1, link());
    let chosen: IpAddr = "16.0.7.7".parse().unwrap();
    let moved = sim.lock().with_net(|n, cx| n.set_address(cx, NodeId(0), chosen)).unwrap();
    assert_eq!(moved, sa(0, 0).ip(), "the address given up");
    assert_eq!(sim.lock().net().resolve("instance-0"), Ok(vec![chosen]));
    assert_eq!(sim.lock().net().node_of(chosen), Some(NodeId(0)));
    assert_eq!(sim.lock().net().node_of(sa(0, 0).ip()), None, "the old address leads nowhere");

    let taken = sim.lock().with_net(|n, cx| n.set_address(cx, NodeId(1), chosen)).unwrap_err();
    assert_eq!(taken.to_string(), "16.0.7.7 is taken by instance 0");
    let outside = sim.lock().with_net(|n, cx| n.set_address(cx, NodeId(1), "8.8.8.8".parse().unwrap())).unwrap_err();
    assert!(outside.to_string().starts_with("8.8.8.8 is outside the data network 16.0.0.0/4"), "{outside}");
    let gateway = sim.lock().with_net(|n, cx| n.set_address(cx, NodeId(1), "16.0.0.1".parse().unwrap()));
    assert!(gateway.is_err(), "x.y.0.1 is the gateway's");

    let _l = listen(&sim, 0, 80);
    let outcome: Slot<(Result<(), NetError>, Result<(), NetError>)> = slot();
    let (s, o) = (sim.clone(), outcome.clone());
    let client: Task<()> = Box::pin(async move {
        let by_address = connect(&s, 1, SocketAddr::new(chosen, 80)).await.map(|_| ());
        let by_name = s.lock().net().resolve("instance-0").unwrap()[0];
        let by_name = connect(&s, 1, SocketAddr::new(by_name, 80)).await.map(|_| ());
        *o.lock().unwrap() = Some((by_address, by_name));
    });
    run(&sim, vec![idle(), client, idle()]);
    assert_eq!(take(&outcome), (Ok(()), Ok(())));
}

#[test]
fn connections_on_a_given_up_address_time_out_as_on_linux() {
    let sim = world(2, 1, link());
    let listener = listen(&sim, 0, 80);
    let outcome: Slot<(Result<(), NetError>, f64)> = slot();
    let (s0, s1, o) = (sim.clone(), sim.clone(), outcome.clone());
    let server: Task<()> = Box::pin(async move {
        let conn = accept(&s0, listener).await;
        let _ = read_exact(&s0, conn, 4).await;
        // The server moves while the connection is open; the connection keeps the old address.
        s0.lock().with_net(|n, cx| n.set_address(cx, NodeId(0), "16.0.9.9".parse().unwrap())).unwrap();
        let _ = read_some(&s0, conn).await;
    });
    let client: Task<()> = Box::pin(async move {
        let c = connect(&s1, 1, sa(0, 80)).await.unwrap();
        write_all(&s1, c, b"ping").await.unwrap();
        sleep(&s1, 1, Duration::from_millis(100)).await;
        let t0 = now(&s1);
        write_all(&s1, c, b"lost").await.unwrap();
        let r = read_some(&s1, c).await.map(|_| ());
        *o.lock().unwrap() = Some((r, ms(now(&s1)) - ms(t0)));
    });
    run_for(&sim, vec![server, client], 600);
    let (result, after_ms) = take(&outcome);
    assert_eq!(result, Err(NetError::Timeout), "the peer's segments find no host");
    assert!(after_ms > 60_000.0, "after the retransmissions, not at once: {after_ms} ms");
    let drops = sim.lock().net().stats().packets_dropped;
    assert!(drops > 5, "retransmissions dropped: {drops}");
}

/// Node 0 blocks inbound with `filter`; it connects out to node 1 and sends
/// it a datagram, while node 2 sends node 0 a datagram and connects to it.
/// Returns node 0's connect, whether node 1's answer got in, whether node 2's
/// datagram got in, node 2's connect and how long it took in seconds.
fn blocked_inbound(filter: Filter) -> (Result<(), NetError>, bool, bool, Result<(), NetError>, f64) {
    let topology = Topology { inbound: vec![filter], ..Topology::default() };
    let sim = laid_out(3, &topology);
    let _l0 = listen(&sim, 0, 80);
    let l1 = listen(&sim, 1, 80);
    let u0 = udp_bound(&sim, 0, 53);
    let u1 = udp_bound(&sim, 1, 53);
    let u2 = udp_bound(&sim, 2, 53);
    let mine: Slot<(Result<(), NetError>, bool, bool)> = slot();
    let theirs: Slot<(Result<(), NetError>, f64)> = slot();
    let (s0, s1, s2, m, t) = (sim.clone(), sim.clone(), sim.clone(), mine.clone(), theirs.clone());
    let inside: Task<()> = Box::pin(async move {
        let c = connect(&s0, 0, sa(1, 80)).await.map(|_| ());
        udp_send(&s0, u0, sa(1, 53), b"q");
        sleep(&s0, 0, Duration::from_secs(30)).await;
        let (mut answered, mut stranger) = (false, false);
        while let Some(d) = try_recv(&s0, u0) {
            answered |= d.from == sa(1, 53);
            stranger |= d.from.ip() == sa(2, 0).ip();
        }
        *m.lock().unwrap() = Some((c, answered, stranger));
    });
    let peer: Task<()> = Box::pin(async move {
        let _ = accept(&s1, l1).await;
        let d = udp_recv(&s1, u1).await;
        udp_send(&s1, u1, d.from, b"a");
    });
    let stranger: Task<()> = Box::pin(async move {
        udp_send(&s2, u2, sa(0, 53), b"hello?");
        let t0 = now(&s2);
        let r = connect(&s2, 2, sa(0, 80)).await.map(|_| ());
        *t.lock().unwrap() = Some((r, (ms(now(&s2)) - ms(t0)) / 1000.0));
    });
    run_for(&sim, vec![inside, peer, stranger], 60);
    let (out, answered, stranger) = take(&mine);
    let (theirs, took) = take(&theirs);
    (out, answered, stranger, theirs, took)
}

#[test]
fn blocking_inbound_lets_replies_in_and_keeps_strangers_out() {
    let (out, answered, stranger, theirs, took) = blocked_inbound(Filter::Drop);
    assert_eq!(out, Ok(()), "connecting out works");
    assert!(answered, "the reply to a datagram it sent gets in");
    assert!(!stranger, "an unsolicited datagram does not");
    assert_eq!((theirs, took), (Err(NetError::Timeout), 15.0), "drop: the stranger's SYNs vanish");

    let (out, answered, stranger, theirs, took) = blocked_inbound(Filter::Reject);
    assert_eq!(out, Ok(()));
    assert!(answered && !stranger);
    assert_eq!((theirs, took), (Err(NetError::ConnectionRefused), 0.02), "reject: a reset, one round trip later");

    let (_, _, stranger, theirs, _) = blocked_inbound(Filter::Accept);
    assert_eq!(theirs, Ok(()), "accept: nothing is blocked");
    assert!(stranger);
}

/// What sits in front of a peer in the hole-punching matrix.
const KINDS: [&str; 5] = ["public", "full-cone", "restricted-cone", "port-restricted-cone", "symmetric"];

/// Whether hole punching succeeds between these two kinds, as on the Internet:
/// only a symmetric NAT facing a port-restricted or symmetric one defeats it.
fn punches(a: &str, b: &str) -> bool {
    let hard = |x: &str| x == "symmetric";
    let port_restricted = |x: &str| x == "port-restricted-cone" || x == "symmetric";
    !((hard(a) && port_restricted(b)) || (hard(b) && port_restricted(a)))
}

/// Node 0 is a public observer (a STUN server, in effect); nodes 1 and 2 sit behind `a` and `b`.
fn nat_topology(a: &str, b: &str) -> Topology {
    let mut nats = Vec::new();
    for (node, kind) in [(1, a), (2, b)] {
        if kind != "public" {
            let config = NatConfig::named(kind).unwrap();
            nats.push(NatSpec { config, public: None, members: vec![NodeId(node)] });
        }
    }
    Topology { nats, ..Topology::default() }
}

const OBSERVER_UDP: u16 = 3478;
const OBSERVER_TCP: u16 = 3479;
const PUNCH_PORT: u16 = 6000;

type Rendezvous = Arc<Mutex<[Option<SocketAddr>; 3]>>;

/// Publishes `mine` for `me` and waits for `other`'s: the rendezvous, as the sync service is in a plan.
async fn meet(sim: &SimHandle, rv: &Rendezvous, me: u32, other: u32, mine: SocketAddr) -> SocketAddr {
    rv.lock().unwrap()[me as usize] = Some(mine);
    loop {
        if let Some(theirs) = rv.lock().unwrap()[other as usize] {
            return theirs;
        }
        sleep(sim, me, Duration::from_millis(10)).await;
    }
}

fn parse_addr(bytes: &[u8]) -> SocketAddr {
    std::str::from_utf8(bytes).unwrap().parse().unwrap()
}

/// UDP hole punching between `a` and `b`: each learns its public endpoint
/// from the observer, they swap them at the rendezvous, then ping each other's
/// candidates (and every address a ping came from, as ICE does) and answer
/// pings. Returns whether each got an answer.
fn punch_udp(a: &str, b: &str) -> [bool; 2] {
    punch_udp_traced(a, b).0
}

/// [`punch_udp`], with the run's trace digest.
fn punch_udp_traced(a: &str, b: &str) -> ([bool; 2], String) {
    let sim = laid_out(3, &nat_topology(a, b));
    let rv: Rendezvous = Arc::default();
    let results = Arc::new(Mutex::new([false; 2]));
    let obs = udp_bound(&sim, 0, OBSERVER_UDP);
    let s = sim.clone();
    let observer: Task<()> = Box::pin(async move {
        loop {
            let d = udp_recv(&s, obs).await;
            udp_send(&s, obs, d.from, d.from.to_string().as_bytes());
        }
    });
    let mut tasks = vec![observer];
    for (me, other) in [(1u32, 2u32), (2, 1)] {
        let (s, rv, results) = (sim.clone(), rv.clone(), results.clone());
        let sock = udp_bound(&sim, me, PUNCH_PORT);
        tasks.push(Box::pin(async move {
            udp_send(&s, sock, sa(0, OBSERVER_UDP), b"who am I");
            let mine = parse_addr(&udp_recv(&s, sock).await.data);
            let theirs = meet(&s, &rv, me, other, mine).await;
            let mut candidates = vec![theirs];
            let mut answered = false;
            for _ in 0..20 {
                for &c in &candidates {
                    udp_send(&s, sock, c, b"ping");
                }
                sleep(&s, me, Duration::from_millis(100)).await;
                while let Some(d) = try_recv(&s, sock) {
                    if d.data == b"ping" {
                        udp_send(&s, sock, d.from, b"pong");
                        if !candidates.contains(&d.from) {
                            candidates.push(d.from);
                        }
                    } else if d.data == b"pong" {
                        answered = true;
                    }
                }
            }
            results.lock().unwrap()[me as usize - 1] = answered;
        }));
    }
    run_for(&sim, tasks, 10);
    let digest = sim.lock().trace().digest_hex();
    (*results.lock().unwrap(), digest)
}

/// Whether a connect on `id` has its outcome yet: `Some(Ok)` connected.
fn connect_outcome(sim: &SimHandle, id: netsim::net::SocketId) -> Option<Result<(), NetError>> {
    match sim.lock().net_mut().tcp_finish_connect(id) {
        Err(NetError::WouldBlock) => None,
        r => Some(r),
    }
}

/// TCP hole punching between `a` and `b`: each listens on its punch port
/// and learns that port's public endpoint by connecting from it to the
/// observer; after the rendezvous both dial each other from the same port (a
/// simultaneous open through both NATs), redialling when a dial fails. A
/// side succeeds when its dial connects or its listener accepts the peer.
fn punch_tcp(a: &str, b: &str) -> [bool; 2] {
    let sim = laid_out(3, &nat_topology(a, b));
    let rv: Rendezvous = Arc::default();
    let results = Arc::new(Mutex::new([false; 2]));
    let obs = listen(&sim, 0, OBSERVER_TCP);
    let s = sim.clone();
    let observer: Task<()> = Box::pin(async move {
        loop {
            let c = accept(&s, obs).await;
            let seen = s.lock().net().remote_addr(c).unwrap();
            write_all(&s, c, seen.to_string().as_bytes()).await.unwrap();
            s.lock().with_net(|n, cx| n.tcp_shutdown(cx, c, netsim::net::Shutdown::Send)).unwrap();
        }
    });
    let mut tasks = vec![observer];
    for (me, other) in [(1u32, 2u32), (2, 1)] {
        let (s, rv, results) = (sim.clone(), rv.clone(), results.clone());
        let listener = listen(&sim, me, PUNCH_PORT);
        tasks.push(Box::pin(async move {
            let dial = |s: &SimHandle, to: SocketAddr| {
                let mut g = s.lock();
                let id = g.net_mut().tcp_socket(NodeId(me)).unwrap();
                g.net_mut().tcp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PUNCH_PORT)).unwrap();
                g.with_net(|n, cx| n.tcp_connect(cx, id, to)).unwrap();
                id
            };
            let probe = dial(&s, sa(0, OBSERVER_TCP));
            poll_fn(|cx| s.lock().net_mut().tcp_poll_connect(probe, cx)).await.unwrap();
            let mine = parse_addr(&read_to_end(&s, probe).await.unwrap());
            s.lock().with_net(|n, cx| n.close(cx, probe));
            let theirs = meet(&s, &rv, me, other, mine).await;
            let mut attempt = dial(&s, theirs);
            let mut connected = false;
            for _ in 0..300 {
                match connect_outcome(&s, attempt) {
                    Some(Ok(())) => connected = true,
                    Some(Err(_)) => {
                        s.lock().with_net(|n, cx| n.close(cx, attempt));
                        attempt = dial(&s, theirs);
                    }
                    None => {}
                }
                let accepted = s.lock().net_mut().tcp_accept(listener);
                if let Ok(c) = accepted {
                    connected |= s.lock().net().remote_addr(c).unwrap().ip() == theirs.ip();
                }
                if connected {
                    break;
                }
                sleep(&s, me, Duration::from_millis(100)).await;
            }
            results.lock().unwrap()[me as usize - 1] = connected;
        }));
    }
    run_for(&sim, tasks, 40);
    *results.lock().unwrap()
}

#[test]
fn udp_hole_punching_succeeds_where_the_internet_lets_it() {
    for a in KINDS {
        for b in KINDS {
            let expect = punches(a, b);
            assert_eq!(punch_udp(a, b), [expect, expect], "UDP {a} <-> {b}");
        }
    }
}

#[test]
fn tcp_hole_punching_by_simultaneous_open_succeeds_where_the_internet_lets_it() {
    for a in KINDS {
        for b in KINDS {
            let expect = punches(a, b);
            assert_eq!(punch_tcp(a, b), [expect, expect], "TCP {a} <-> {b}");
        }
    }
}

#[test]
fn simultaneous_open_without_listeners_establishes_both_ends() {
    let sim = world(2, 1, link());
    let outcome = Arc::new(Mutex::new(Vec::new()));
    let mut tasks: Vec<Task<()>> = Vec::new();
    for (me, other) in [(0u32, 1u32), (1, 0)] {
        let (s, o) = (sim.clone(), outcome.clone());
        tasks.push(Box::pin(async move {
            let id = s.lock().net_mut().tcp_socket(NodeId(me)).unwrap();
            s.lock().net_mut().tcp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000)).unwrap();
            s.lock().with_net(|n, cx| n.tcp_connect(cx, id, sa(other, 7000))).unwrap();
            let r = poll_fn(|cx| s.lock().net_mut().tcp_poll_connect(id, cx)).await;
            let t = ms(now(&s));
            if r.is_ok() {
                write_all(&s, id, &[me as u8]).await.unwrap();
                let got = read_exact(&s, id, 1).await.unwrap();
                assert_eq!(got, vec![other as u8]);
            }
            o.lock().unwrap().push((me, r, t));
        }));
    }
    run(&sim, tasks);
    let mut v = outcome.lock().unwrap().clone();
    v.sort_by_key(|x| x.0);
    // Both SYNs cross (10 ms), both SYN-ACKs cross (10 ms more).
    assert_eq!(v, vec![(0, Ok(()), 20.0), (1, Ok(()), 20.0)]);
}

#[test]
fn hairpinning_turns_packets_back_in_only_when_on() {
    for hairpinning in [true, false] {
        // Nodes 0 and 1 share one NAT; node 2 is a public observer.
        let config = NatConfig { hairpinning, ..NatConfig::named("full-cone").unwrap() };
        let topology = Topology {
            nats: vec![NatSpec { config, public: None, members: vec![NodeId(0), NodeId(1)] }],
            ..Topology::default()
        };
        let sim = laid_out(3, &topology);
        let (a, b) = (udp_bound(&sim, 0, 5000), udp_bound(&sim, 1, 5001));
        let seen: Slot<Option<SocketAddr>> = slot();
        let (s0, s1, o) = (sim.clone(), sim.clone(), seen.clone());
        let public = sim.lock().net().nat_public_of(NodeId(0)).unwrap();
        assert_eq!(public, Ipv4Addr::new(16, 0, 0, 2), "the first member's planned address");
        let sender: Task<()> = Box::pin(async move {
            // Open a mapping for B's port by having B send out first, then send to it via the public address.
            sleep(&s0, 0, Duration::from_millis(100)).await;
            udp_send(&s0, a, SocketAddrV4::new(public, 5001), b"around");
        });
        let receiver: Task<()> = Box::pin(async move {
            udp_send(&s1, b, sa(2, 9), b"out");
            sleep(&s1, 1, Duration::from_secs(1)).await;
            let d = s1.lock().net_mut().udp_try_recv(b).unwrap();
            *o.lock().unwrap() = Some(d.map(|d| d.from));
        });
        run_for(&sim, vec![sender, receiver, idle()], 5);
        let from = take(&seen);
        if hairpinning {
            assert_eq!(from, Some(SocketAddr::from((public, 5000))), "the sender's public mapping as source");
        } else {
            assert_eq!(from, None, "hairpinning off: dropped at the NAT");
        }
    }
}

#[test]
fn nat_mappings_expire_after_their_timeout() {
    let config = NatConfig { udp_timeout: Duration::from_secs(30), ..NatConfig::named("full-cone").unwrap() };
    let topology =
        Topology { nats: vec![NatSpec { config, public: None, members: vec![NodeId(1)] }], ..Topology::default() };
    let sim = laid_out(2, &topology);
    let public = SocketAddrV4::new(sim.lock().net().nat_public_of(NodeId(1)).unwrap(), 5000);
    let (outside, inside) = (udp_bound(&sim, 0, 9), udp_bound(&sim, 1, 5000));
    let got = Arc::new(Mutex::new(Vec::new()));
    let (s0, s1, g) = (sim.clone(), sim.clone(), got.clone());
    let prober: Task<()> = Box::pin(async move {
        // At 20 s (mapping 20 s idle) and at 60 s (50 s idle, past its 30 s).
        for at in [20, 60] {
            sleep(&s0, 0, Duration::from_secs(at) - now(&s0).duration_since(SimTime::ZERO)).await;
            udp_send(&s0, outside, public, b"knock");
        }
    });
    let insider: Task<()> = Box::pin(async move {
        udp_send(&s1, inside, sa(0, 9), b"open");
        for _ in 0..70 {
            sleep(&s1, 1, Duration::from_secs(1)).await;
            while let Some(d) = try_recv(&s1, inside) {
                g.lock().unwrap().push(ms(now(&s1)) as u64 / 1000);
                assert_eq!(d.data, b"knock");
            }
        }
    });
    run_for(&sim, vec![prober, insider], 80);
    assert_eq!(*got.lock().unwrap(), vec![21], "the knock at 20 s got in, the one at 60 s did not");
}

#[test]
fn regions_add_their_latency_matrix_to_every_round_trip() {
    let ms_path = |ms: u64| RegionPath { latency: Duration::from_millis(ms), ..RegionPath::default() };
    // One-way latencies: within a region 1 ms; a<->b 40 ms, a<->c 80 ms, b<->c 60 ms.
    let regions = Regions {
        names: vec!["a".into(), "b".into(), "c".into()],
        paths: vec![
            vec![ms_path(1), ms_path(40), ms_path(80)],
            vec![ms_path(40), ms_path(1), ms_path(60)],
            vec![ms_path(80), ms_path(60), ms_path(1)],
        ],
        of_node: vec![Some(0), Some(1), Some(2)],
    };
    let sim = world(3, 1, NetworkConfig::default());
    sim.lock().net_mut().set_topology(&Topology { regions, ..Topology::default() }).unwrap();
    let rtts = Arc::new(Mutex::new(Vec::new()));
    let socks: Vec<_> = (0..3).map(|n| udp_bound(&sim, n, 7)).collect();
    let mut tasks: Vec<Task<()>> = Vec::new();
    let s = sim.clone();
    let (r, first) = (rtts.clone(), socks[0]);
    tasks.push(Box::pin(async move {
        for dst in [1, 2] {
            let t0 = now(&s);
            udp_send(&s, first, sa(dst, 7), b"ping");
            udp_recv(&s, first).await;
            r.lock().unwrap().push(ms(now(&s)) - ms(t0));
        }
    }));
    for (n, &sock) in socks.iter().enumerate().skip(1) {
        let s = sim.clone();
        tasks.push(Box::pin(async move {
            let d = udp_recv(&s, sock).await;
            udp_send(&s, sock, d.from, b"pong");
            let _ = n;
        }));
    }
    run(&sim, tasks);
    assert_eq!(*rtts.lock().unwrap(), vec![80.0, 160.0]);
}

#[test]
fn an_ipv6_any_listener_accepts_ipv4_and_ipv6_clients() {
    let sim = laid_out(3, &Topology { ipv6: true, ..Topology::default() });
    let listener = {
        let mut g = sim.lock();
        let id = g.net_mut().tcp_socket_in(NodeId(0), Family::Ipv6).unwrap();
        g.net_mut().tcp_bind(id, SocketAddr::from(([0u16; 8], 80))).unwrap();
        g.net_mut().tcp_listen(id).unwrap();
        id
    };
    let v6_of_0 = sim.lock().net().ipv6_of(NodeId(0)).unwrap();
    assert_eq!(v6_of_0.to_string(), "fd00::1000:2");
    assert_eq!(sim.lock().net().resolve("instance-0").unwrap(), vec![sa(0, 0).ip(), IpAddr::V6(v6_of_0)]);
    let peers = Arc::new(Mutex::new(Vec::new()));
    let (s, p) = (sim.clone(), peers.clone());
    let server: Task<()> = Box::pin(async move {
        for _ in 0..2 {
            let c = accept(&s, listener).await;
            p.lock().unwrap().push(s.lock().net().remote_addr(c).unwrap().to_string());
        }
    });
    let s1 = sim.clone();
    let over_v4: Task<()> = Box::pin(async move {
        connect(&s1, 1, sa(0, 80)).await.unwrap();
    });
    let s2 = sim.clone();
    let over_v6: Task<()> = Box::pin(async move {
        sleep(&s2, 2, Duration::from_millis(100)).await;
        let id = s2.lock().net_mut().tcp_socket_in(NodeId(2), Family::Ipv6).unwrap();
        s2.lock().with_net(|n, cx| n.tcp_connect(cx, id, SocketAddr::new(IpAddr::V6(v6_of_0), 80))).unwrap();
        poll_fn(|cx| s2.lock().net_mut().tcp_poll_connect(id, cx)).await.unwrap();
        assert_eq!(s2.lock().net().local_addr(id).unwrap().to_string(), "[fd00::1000:4]:49152");
    });
    run(&sim, vec![server, over_v4, over_v6]);
    let peers = peers.lock().unwrap().clone();
    assert_eq!(peers, vec!["[::ffff:16.0.0.3]:49152".to_string(), "[fd00::1000:4]:49152".to_string()]);
}

#[test]
fn an_ipv4_socket_on_the_port_takes_its_ipv4_traffic_from_an_any_ipv6_one() {
    let sim = laid_out(2, &Topology { ipv6: true, ..Topology::default() });
    let (v4, v6) = {
        let mut g = sim.lock();
        let net = g.net_mut();
        let v6 = net.udp_socket_in(NodeId(0), Family::Ipv6).unwrap();
        net.udp_bind(v6, SocketAddr::from(([0u16; 8], 53))).unwrap();
        let v4 = net.udp_socket(NodeId(0)).unwrap();
        net.udp_bind(v4, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 53)).unwrap();
        (v4, v6)
    };
    let client = udp_bound(&sim, 1, 9);
    let v6_of_0 = sim.lock().net().ipv6_of(NodeId(0)).unwrap();
    let s = sim.clone();
    let task: Task<()> = Box::pin(async move {
        udp_send(&s, client, sa(0, 53), b"four");
        let client6 = s.lock().net_mut().udp_socket_in(NodeId(1), Family::Ipv6).unwrap();
        s.lock()
            .with_net(|n, cx| n.udp_send_to(cx, client6, Some(SocketAddr::new(IpAddr::V6(v6_of_0), 53)), b"six"))
            .unwrap();
    });
    let s0 = sim.clone();
    let wait: Task<()> = Box::pin(async move { sleep(&s0, 0, Duration::from_secs(1)).await });
    run(&sim, vec![wait, task]);
    let mut g = sim.lock();
    assert_eq!(g.net_mut().udp_try_recv(v4).unwrap().map(|d| d.data), Some(b"four".to_vec()));
    assert_eq!(g.net_mut().udp_try_recv(v6).unwrap().map(|d| d.data), Some(b"six".to_vec()));
    assert_eq!(g.net_mut().udp_try_recv(v6).unwrap(), None, "IPv4 went to the IPv4 socket");
}

#[test]
fn the_same_nat_run_gives_the_same_digest() {
    let first = punch_udp_traced("symmetric", "restricted-cone");
    for _ in 0..4 {
        assert_eq!(punch_udp_traced("symmetric", "restricted-cone"), first);
    }
    let other = punch_udp_traced("full-cone", "restricted-cone");
    assert_eq!(other.0, first.0, "both punch through");
    assert_ne!(other.1, first.1, "but the NATs' decisions are in the trace");
}

#[test]
fn rules_apply_to_their_own_family_and_nats_say_they_translate_ipv4_only() {
    use netsim::net::LinkRule;
    let topology = Topology {
        ipv6: true,
        nats: vec![NatSpec { config: NatConfig::named("full-cone").unwrap(), public: None, members: vec![NodeId(2)] }],
        ..Topology::default()
    };
    let sim = laid_out(3, &topology);
    // Node 0 drops what it sends to fd00::/8, and only that.
    let drop_v6 =
        LinkRule { subnet: "fd00::".parse().unwrap(), prefix: 8, shape: LinkShape::default(), filter: Filter::Drop };
    let config = NetworkConfig { rules: vec![drop_v6], ..link() };
    sim.lock().with_net(|n, cx| n.configure(cx, NodeId(0), config));
    let v6_of_1 = sim.lock().net().ipv6_of(NodeId(1)).unwrap();
    let (v4_in, v6_in) = (udp_bound(&sim, 1, 53), {
        let mut g = sim.lock();
        let id = g.net_mut().udp_socket_in(NodeId(1), Family::Ipv6).unwrap();
        g.net_mut().udp_bind(id, SocketAddr::from(([0u16; 8], 54))).unwrap();
        id
    });
    let out4 = udp_bound(&sim, 0, 9);
    let out6 = {
        let mut g = sim.lock();
        let id = g.net_mut().udp_socket_in(NodeId(0), Family::Ipv6).unwrap();
        g.net_mut().udp_bind(id, SocketAddr::from(([0u16; 8], 10))).unwrap();
        id
    };
    let s = sim.clone();
    let sender: Task<()> = Box::pin(async move {
        udp_send(&s, out4, sa(1, 53), b"v4");
        udp_send(&s, out6, SocketAddr::new(IpAddr::V6(v6_of_1), 54), b"v6");
        sleep(&s, 0, Duration::from_secs(1)).await;
    });
    run(&sim, vec![sender, idle(), idle()]);
    assert!(try_recv(&sim, v4_in).is_some(), "the IPv6 rule leaves IPv4 alone");
    assert!(try_recv(&sim, v6_in).is_none(), "and drops IPv6");

    // Behind a NAT there is no IPv6 address to have, and taking one says why.
    assert_eq!(sim.lock().net().ipv6_of(NodeId(2)), None);
    let refused = sim.lock().with_net(|n, cx| n.set_address(cx, NodeId(2), "fd00::99".parse().unwrap())).unwrap_err();
    assert_eq!(refused.to_string(), "an instance behind a NAT has no IPv6 address (NATs translate IPv4 only)");
    let moved = sim.lock().with_net(|n, cx| n.set_address(cx, NodeId(1), "fd00::99".parse().unwrap()));
    assert_eq!(moved, Ok(IpAddr::V6(v6_of_1)), "an instance with IPv6 may move within fd00::/8");
}
