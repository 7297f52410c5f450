//! Socket behaviour a program on Linux would notice, at netsim's level: ICMP
//! port-unreachable answers and the error they leave on a connected UDP
//! socket, the address a connected socket reports, and ports shared the way
//! `SO_REUSEADDR`/`SO_REUSEPORT` share them. The same behaviours are compared
//! with real Linux sockets by the host's `linux_parity` test.

mod common;

use common::*;
use netsim::net::udp::{ICMP_RATE_BURST, ICMP_RATE_INTERVAL};
use netsim::net::{Filter, LinkShape, NetError, NetworkConfig};
use netsim::{NodeId, Sim, SimConfig, SimHandle, Task};
use std::future::poll_fn;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn traced(n: u32, net: NetworkConfig) -> SimHandle {
    SimHandle::new(Sim::new(SimConfig { instances: n, keep_trace: true, net, ..SimConfig::default() }))
}

/// Steps the simulation until nothing is left to happen.
fn settle(sim: &SimHandle) {
    while sim.lock().step().is_some() {}
}

/// The trace records of `kind` whose detail starts with `detail`.
fn count(sim: &SimHandle, kind: &str, detail: &str) -> usize {
    let mut s = sim.lock();
    s.trace_mut().commit(None);
    let records = s.trace().records().expect("the trace keeps records");
    records.iter().filter(|r| r.kind == kind && r.detail.starts_with(detail)).count()
}

fn udp_connected(sim: &SimHandle, node: u32, port: u16, remote: SocketAddr) -> netsim::net::SocketId {
    let id = udp_bound(sim, node, port);
    sim.lock().net_mut().udp_connect(id, Some(remote)).unwrap();
    id
}

#[test]
fn a_datagram_nobody_takes_is_answered_and_fails_the_connected_senders_next_receive_once() {
    let sim =
        traced(2, NetworkConfig { default: LinkShape::with_latency(Duration::from_millis(3)), ..Default::default() });
    let u = udp_connected(&sim, 0, 5000, sa(1, 9));
    sim.lock().with_net(|n, cx| n.udp_send_to(cx, u, None, b"x")).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s0, sn) = (sim.clone(), seen.clone());
    let task: Task<()> = Box::pin(async move {
        poll_fn(|cx| s0.lock().net_mut().poll_readable(u, cx)).await;
        let at = now(&s0);
        let first = s0.lock().net_mut().udp_try_recv(u);
        let second = s0.lock().net_mut().udp_try_recv(u);
        sn.lock().unwrap().push(format!("{} {first:?} {second:?}", ms(at)));
    });
    run(&sim, vec![task]);
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["6 Err(ConnectionRefused) Ok(None)".to_string()],
        "a round trip later, once"
    );
    assert_eq!(count(&sim, "net.send", "icmp"), 1, "the answer is a packet");
    assert_eq!(count(&sim, "net.deliver", "icmp"), 1);
    let sent = sim.lock().with_net(|n, cx| n.udp_send_to(cx, u, None, b"x"));
    assert_eq!(sent, Ok(()), "reported already");
}

#[test]
fn a_pending_refusal_fails_the_next_send_too() {
    let sim = traced(2, NetworkConfig::default());
    let u = udp_connected(&sim, 0, 5000, sa(1, 9));
    sim.lock().with_net(|n, cx| n.udp_send_to(cx, u, None, b"x")).unwrap();
    settle(&sim);
    let sent = |sim: &SimHandle| sim.lock().with_net(|n, cx| n.udp_send_to(cx, u, None, b"x"));
    assert_eq!(sent(&sim), Err(NetError::ConnectionRefused));
    assert_eq!(sent(&sim), Ok(()));
}

#[test]
fn an_unconnected_sender_or_one_connected_elsewhere_hears_nothing() {
    let sim = traced(3, NetworkConfig::default());
    let open = udp_bound(&sim, 0, 5000);
    let elsewhere = udp_connected(&sim, 0, 5001, sa(2, 9));
    sim.lock().with_net(|n, cx| n.udp_send_to(cx, open, Some(sa(1, 9)), b"x")).unwrap();
    // Linux lets a connected socket send elsewhere; an error about that
    // destination is not its peer's, so it does not hear it either.
    sim.lock().with_net(|n, cx| n.udp_send_to(cx, elsewhere, Some(sa(1, 9)), b"x")).unwrap();
    settle(&sim);
    assert_eq!(sim.lock().net_mut().udp_try_recv(open), Ok(None));
    assert_eq!(sim.lock().net_mut().udp_try_recv(elsewhere), Ok(None));
    assert_eq!(count(&sim, "net.send", "icmp"), 2, "the closed port answers each");
    assert_eq!(count(&sim, "net.drop", "noport"), 4, "each datagram, then each answer nobody takes");
}

#[test]
fn a_connected_socket_refuses_strangers_like_a_closed_port() {
    let sim = traced(3, NetworkConfig::default());
    let _peer_only = udp_connected(&sim, 1, 7000, sa(2, 7000));
    let stranger = udp_connected(&sim, 0, 5000, sa(1, 7000));
    sim.lock().with_net(|n, cx| n.udp_send_to(cx, stranger, None, b"x")).unwrap();
    settle(&sim);
    assert_eq!(sim.lock().net_mut().udp_try_recv(stranger), Err(NetError::ConnectionRefused));
}

#[test]
fn icmp_answers_are_rate_limited_per_destination_as_linux_does() {
    let sim = traced(2, NetworkConfig::default());
    let u = udp_bound(&sim, 0, 5000);
    let burst = 2 * ICMP_RATE_BURST;
    for _ in 0..burst {
        sim.lock().with_net(|n, cx| n.udp_send_to(cx, u, Some(sa(1, 9)), b"x")).unwrap();
    }
    settle(&sim);
    assert_eq!(count(&sim, "net.send", "icmp"), ICMP_RATE_BURST as usize, "a burst, then silence");
    let (s0, t0) = (sim.clone(), now(&sim));
    let task: Task<()> = Box::pin(async move {
        sleep(&s0, 0, ICMP_RATE_INTERVAL).await;
        s0.lock().with_net(|n, cx| n.udp_send_to(cx, u, Some(sa(1, 9)), b"x")).unwrap();
        s0.lock().with_net(|n, cx| n.udp_send_to(cx, u, Some(sa(1, 9)), b"x")).unwrap();
    });
    run(&sim, vec![task]);
    settle(&sim);
    assert_eq!(now(&sim).duration_since(t0), ICMP_RATE_INTERVAL);
    assert_eq!(count(&sim, "net.send", "icmp"), ICMP_RATE_BURST as usize + 1, "one more per interval");
}

#[test]
fn an_instance_answering_itself_is_not_rate_limited() {
    let sim = traced(1, NetworkConfig::default());
    let u = udp_bound(&sim, 0, 5000);
    for _ in 0..3 * ICMP_RATE_BURST {
        sim.lock().with_net(|n, cx| n.udp_send_to(cx, u, Some(sa(0, 9)), b"x")).unwrap();
    }
    settle(&sim);
    assert_eq!(count(&sim, "net.send", "icmp"), 3 * ICMP_RATE_BURST as usize);
}

#[test]
fn the_answer_takes_the_shaped_path_back() {
    let lost_back = NetworkConfig {
        rules: vec![netsim::net::LinkRule {
            subnet: Ipv4Addr::new(16, 0, 0, 2).into(),
            prefix: 32,
            shape: LinkShape::default(),
            filter: Filter::Drop,
        }],
        ..NetworkConfig::default()
    };
    let sim = traced(2, NetworkConfig::default());
    sim.lock().with_net(|n, cx| n.configure(cx, NodeId(1), lost_back));
    let u = udp_connected(&sim, 0, 5000, sa(1, 9));
    sim.lock().with_net(|n, cx| n.udp_send_to(cx, u, None, b"x")).unwrap();
    settle(&sim);
    assert_eq!(sim.lock().net_mut().udp_try_recv(u), Ok(None), "a filtered answer never arrives");
    assert_eq!(count(&sim, "net.drop", "filter"), 1);
}

#[test]
fn a_connected_socket_reports_the_address_it_sends_from() {
    let sim = world(2, 0, NetworkConfig::default());
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    let mut s = sim.lock();
    let net = s.net_mut();
    let u = net.udp_socket(NodeId(0)).unwrap();
    let bound = net.udp_bind(u, any).unwrap();
    assert_eq!(net.local_addr(u), Ok(bound), "unconnected: the unspecified address");
    net.udp_connect(u, Some(sa(1, 9))).unwrap();
    assert_eq!(net.local_addr(u), Ok(sa(0, bound.port())));
    net.udp_connect(u, Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9).into())).unwrap();
    assert_eq!(net.local_addr(u), Ok(SocketAddrV4::new(Ipv4Addr::LOCALHOST, bound.port()).into()));
    net.udp_connect(u, None).unwrap();
    assert_eq!(net.local_addr(u), Ok(bound), "disconnected: unspecified again");
    drop(s);

    let l = listen(&sim, 1, 80);
    let (s0, s1) = (sim.clone(), sim.clone());
    let local = Arc::new(Mutex::new(None));
    let lc = local.clone();
    let client: Task<()> = Box::pin(async move {
        let c = connect(&s0, 0, sa(1, 80)).await.unwrap();
        *lc.lock().unwrap() = Some(s0.lock().net().local_addr(c).unwrap());
    });
    let server: Task<()> = Box::pin(async move {
        accept(&s1, l).await;
    });
    run(&sim, vec![client, server]);
    assert_eq!(local.lock().unwrap().as_ref().unwrap().ip(), Ipv4Addr::new(16, 0, 0, 2));
}

/// What libp2p-tcp's port reuse needs: a dial bound to the port its listener
/// listens on, which the peer sees as the source, while the listener serves on.
#[test]
fn a_dial_may_leave_from_a_listening_port() {
    let sim = world(3, 0, NetworkConfig::default());
    let ours = listen(&sim, 0, 4001);
    let theirs = listen(&sim, 1, 4001);
    let dial = {
        let mut s = sim.lock();
        let id = s.net_mut().tcp_socket(NodeId(0)).unwrap();
        s.net_mut().tcp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 4001)).unwrap();
        s.with_net(|n, cx| n.tcp_connect(cx, id, sa(1, 4001))).unwrap();
        id
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s0, s1, s2, sn1, sn2) = (sim.clone(), sim.clone(), sim.clone(), seen.clone(), seen.clone());
    let dialer: Task<()> = Box::pin(async move {
        poll_fn(|cx| s0.lock().net_mut().tcp_poll_connect(dial, cx)).await.unwrap();
        write_all(&s0, dial, b"hi").await.unwrap();
        let c = accept(&s0, ours).await;
        assert_eq!(read_exact(&s0, c, 3).await.unwrap(), b"hey");
    });
    let peer: Task<()> = Box::pin(async move {
        let c = accept(&s1, theirs).await;
        let from = s1.lock().net().remote_addr(c).unwrap();
        assert_eq!(read_exact(&s1, c, 2).await.unwrap(), b"hi");
        sn1.lock().unwrap().push(format!("peer saw {from}"));
    });
    let third: Task<()> = Box::pin(async move {
        let c = connect(&s2, 2, sa(0, 4001)).await.unwrap();
        write_all(&s2, c, b"hey").await.unwrap();
        sn2.lock().unwrap().push("listener served".to_string());
    });
    run(&sim, vec![dialer, peer, third]);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, vec!["listener served".to_string(), "peer saw 16.0.0.2:4001".to_string()]);
    let again = {
        let mut s = sim.lock();
        let id = s.net_mut().tcp_socket(NodeId(0)).unwrap();
        s.net_mut().tcp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 4001)).unwrap();
        s.with_net(|n, cx| n.tcp_connect(cx, id, sa(1, 4001)))
    };
    assert_eq!(again, Err(NetError::AddressNotBindable), "one connection per (port, remote): EADDRNOTAVAIL");
}

/// The listener is gone and a connection it accepted is still closing: a new
/// listener may take the port, as with Linux's `SO_REUSEADDR`.
#[test]
fn a_port_can_listen_again_while_its_old_connections_close() {
    let sim = world(2, 0, NetworkConfig::default());
    let l = listen(&sim, 1, 80);
    let (s0, s1) = (sim.clone(), sim.clone());
    let relisten = Arc::new(Mutex::new(None));
    let r = relisten.clone();
    let client: Task<()> = Box::pin(async move {
        let c = connect(&s0, 0, sa(1, 80)).await.unwrap();
        // Never closes: the server's side waits in FIN_WAIT2.
        let _ = read_to_end(&s0, c).await;
    });
    let server: Task<()> = Box::pin(async move {
        let c = accept(&s1, l).await;
        s1.lock().with_net(|n, cx| {
            n.close(cx, c);
            n.close(cx, l);
        });
        let mut s = s1.lock();
        let again = s.net_mut().tcp_socket(NodeId(1)).unwrap();
        let bound = s.net_mut().tcp_bind(again, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80));
        *r.lock().unwrap() = Some((bound.map(|a| a.port()), s.net_mut().tcp_listen(again)));
    });
    run(&sim, vec![client, server]);
    assert_eq!(relisten.lock().unwrap().take(), Some((Ok(80), Ok(()))));
}

#[test]
fn the_unspecified_address_is_this_host_and_port_zero_refuses() {
    let sim = traced(2, NetworkConfig::default());
    let l = listen(&sim, 0, 7000);
    let any = |port| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (s, out) = (sim.clone(), seen.clone());
    let task: Task<()> = Box::pin(async move {
        // An unbound dialer reaches its own listener over loopback, as Linux routes 0.0.0.0.
        let c = connect(&s, 0, any(7000)).await.unwrap();
        let accepted = accept(&s, l).await;
        let (dialer, local) = {
            let s = s.lock();
            (s.net().local_addr(c).unwrap(), s.net().local_addr(accepted).unwrap())
        };
        out.lock().unwrap().push(format!("{} {local}", dialer.ip()));
        // Nobody listens on port 0: refused, not an invalid argument.
        let refused = connect(&s, 0, sa(1, 0)).await.err();
        out.lock().unwrap().push(format!("{refused:?}"));
        // A datagram to 0.0.0.0 comes from, and to, the address its sender is bound to.
        let a = udp_bound(&s, 0, 7001);
        let b = s.lock().net_mut().udp_socket(NodeId(0)).unwrap();
        let here = netsim::net::addr_of(NodeId(0));
        s.lock().net_mut().udp_bind(b, SocketAddrV4::new(here, 0)).unwrap();
        udp_send(&s, b, any(7001), b"x");
        let got = udp_recv(&s, a).await;
        out.lock().unwrap().push(format!("{}", got.from.ip()));
    });
    run(&sim, vec![task, Box::pin(async {})]);
    assert_eq!(*seen.lock().unwrap(), ["127.0.0.1 127.0.0.1:7000", "Some(ConnectionRefused)", "16.0.0.2"]);
}
