//! How many simulated packet events the network processes per wall-clock
//! second on one thread. Prints one JSON line per figure.
//!
//! A packet event is a send, a delivery or a drop: what the trace records per packet.
//! `ns_per_event` is the wall time over those events, the figure to compare
//! against a heap-based DES's 100-200 ns.
//!
//! `cargo bench -p netsim --bench packets -- udp` runs only the figures whose
//! name contains `udp` (for profiling one workload at a time).

use netsim::net::{LinkShape, NetworkConfig, Shutdown, SocketId};
use netsim::{Executor, NodeId, RunEnd, RunLimits, Sim, SimConfig, SimHandle, Task};
use std::future::poll_fn;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

fn world(n: u32, shape: LinkShape) -> SimHandle {
    let net = NetworkConfig { default: shape, ..NetworkConfig::default() };
    SimHandle::new(Sim::new(SimConfig { instances: n, seed: 1, net, ..SimConfig::default() }))
}

/// Wall and CPU seconds of running `tasks` to the end.
fn run(sim: &SimHandle, tasks: Vec<Task<()>>) -> (f64, Option<f64>) {
    let mut exec = Executor::new(sim.clone());
    for (i, t) in tasks.into_iter().enumerate() {
        exec.spawn(NodeId(i as u32), t);
    }
    let cpu = thread_cpu_s();
    let start = Instant::now();
    assert_eq!(exec.run(&RunLimits::default(), |_, ()| {}), RunEnd::Completed);
    while sim.lock().step().is_some() {}
    let wall = start.elapsed().as_secs_f64();
    (wall, cpu.zip(thread_cpu_s()).map(|(a, b)| b - a))
}

/// This thread's CPU time so far (Linux), which other processes on a busy
/// machine disturb less than wall time.
fn thread_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

fn report(name: &str, sim: &SimHandle, (wall_s, cpu_s): (f64, Option<f64>)) {
    let s = sim.lock();
    let st = s.net().stats();
    let events = st.packets_sent + st.packets_delivered + st.packets_dropped;
    let cpu = cpu_s.map_or(String::new(), |c| format!(",\"cpu_s\":{c:.3}"));
    println!(
        "{{\"bench\":\"{name}\",\"events\":{events},\"sim_events\":{},\"wall_s\":{wall_s:.3},\"events_per_s\":{:.0},\"virtual_s\":{:.3},\"ns_per_event\":{:.0}{cpu}}}",
        s.events_processed(),
        events as f64 / wall_s,
        s.now().as_nanos() as f64 / 1e9,
        wall_s * 1e9 / events as f64,
    );
}

/// 1000 instances, each sending 20 datagrams per millisecond to its neighbour for 100 ms, 1% loss.
fn udp_packets() {
    let n = 1000u32;
    let shape = LinkShape {
        latency: Duration::from_millis(2),
        jitter: Duration::from_micros(100),
        bandwidth: 1_000_000_000,
        loss: 0.01,
        ..LinkShape::default()
    };
    let sim = world(n, shape);
    let tasks = (0..n)
        .map(|i| {
            let sim = sim.clone();
            let node = NodeId(i);
            let t: Task<()> = Box::pin(async move {
                let sock: SocketId = {
                    let mut s = sim.lock();
                    let id = s.net_mut().udp_socket(node).unwrap();
                    s.net_mut().udp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9)).unwrap();
                    id
                };
                let dst = SocketAddrV4::new(netsim::net::addr_of(NodeId((i + 1) % n)), 9);
                let payload = [7u8; 100];
                for _ in 0..100 {
                    {
                        let mut s = sim.lock();
                        s.with_net(|net, cx| {
                            for _ in 0..20 {
                                net.udp_send_to(cx, sock, Some(dst.into()), &payload).unwrap();
                            }
                        });
                        while s.net_mut().udp_try_recv(sock).unwrap().is_some() {}
                    }
                    sim.sleep(node, Duration::from_millis(1)).await;
                }
            });
            t
        })
        .collect();
    let wall = run(&sim, tasks);
    report("netsim.udp_packets", &sim, wall);
}

/// 10 pairs each moving 32 MiB over TCP at 1 Gbit/s with 1 ms latency.
fn tcp_bulk() {
    let pairs = 10u32;
    let len = 32usize << 20;
    let shape = LinkShape { latency: Duration::from_millis(1), bandwidth: 1_000_000_000, ..LinkShape::default() };
    let sim = world(2 * pairs, shape);
    let mut tasks: Vec<Task<()>> = Vec::new();
    for i in 0..2 * pairs {
        let sim = sim.clone();
        let node = NodeId(i);
        if i % 2 == 1 {
            let listener = {
                let mut s = sim.lock();
                let id = s.net_mut().tcp_socket(node).unwrap();
                s.net_mut().tcp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
                s.net_mut().tcp_listen(id).unwrap();
                id
            };
            tasks.push(Box::pin(async move {
                let c = poll_fn(|cx| sim.lock().net_mut().tcp_poll_accept(listener, cx)).await.unwrap();
                let mut got = 0;
                loop {
                    match sim.lock().with_net(|n, cx| n.tcp_read(cx, c, 1 << 20)).unwrap() {
                        None => break,
                        Some(d) => got += d.len(),
                    }
                    poll_fn(|cx| sim.lock().net_mut().poll_readable(c, cx)).await;
                }
                assert_eq!(got, len);
            }));
        } else {
            tasks.push(Box::pin(async move {
                let c = sim.lock().net_mut().tcp_socket(node).unwrap();
                let dst = SocketAddrV4::new(netsim::net::addr_of(NodeId(i + 1)), 80);
                sim.lock().with_net(|n, cx| n.tcp_connect(cx, c, dst)).unwrap();
                poll_fn(|cx| sim.lock().net_mut().tcp_poll_connect(c, cx)).await.unwrap();
                let chunk = vec![1u8; 64 * 1024];
                let mut sent = 0;
                while sent < len {
                    let n = sim.lock().with_net(|n, cx| n.tcp_write(cx, c, &chunk[..chunk.len().min(len - sent)]));
                    let n = n.unwrap();
                    sent += n;
                    if n == 0 {
                        poll_fn(|cx| sim.lock().net_mut().poll_writable(c, cx)).await;
                    }
                }
                sim.lock().with_net(|n, cx| n.tcp_shutdown(cx, c, Shutdown::Send)).unwrap();
            }));
        }
    }
    let wall = run(&sim, tasks);
    report("netsim.tcp_bulk", &sim, wall);
}

fn main() {
    // `cargo bench` passes `--bench`; anything else not starting with `--` is a filter.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    if wanted("netsim.udp_packets") {
        udp_packets();
    }
    if wanted("netsim.tcp_bulk") {
        tcp_bulk();
    }
}
