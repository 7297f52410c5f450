//! Helpers shared by the network tests: a world of instances, and the small
//! async socket calls a plan would make, driven by the deterministic executor.
#![allow(dead_code)]

use netsim::net::{Datagram, NetError, NetworkConfig, SocketId, addr_of};
use netsim::{Executor, NodeId, RunEnd, RunLimits, Sim, SimConfig, SimHandle, SimTime};
use std::future::{Future, poll_fn};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

/// A world of `n` instances with `net` as everyone's configuration.
pub fn world(n: u32, seed: u64, net: NetworkConfig) -> SimHandle {
    SimHandle::new(Sim::new(SimConfig { instances: n, seed, net, ..SimConfig::default() }))
}

/// Runs one task per instance to completion and returns the end time.
pub fn run(sim: &SimHandle, tasks: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>) -> SimTime {
    let mut exec = Executor::new(sim.clone());
    for (i, t) in tasks.into_iter().enumerate() {
        exec.spawn(NodeId(i as u32), t);
    }
    let end = exec.run(&RunLimits::default(), |_, ()| {});
    assert_eq!(end, RunEnd::Completed, "blocked: {:?}", sim.lock().blocked(&exec.unfinished()));
    sim.lock().now()
}

/// `node`'s address and `port`.
pub fn sa(node: u32, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(addr_of(NodeId(node)), port))
}

pub fn now(sim: &SimHandle) -> SimTime {
    sim.lock().now()
}

pub fn ms(t: SimTime) -> f64 {
    t.as_nanos() as f64 / 1e6
}

pub async fn sleep(sim: &SimHandle, node: u32, d: Duration) {
    sim.sleep(NodeId(node), d).await
}

pub fn listen(sim: &SimHandle, node: u32, port: u16) -> SocketId {
    let mut s = sim.lock();
    let net = s.net_mut();
    let id = net.tcp_socket(NodeId(node)).unwrap();
    net.tcp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).unwrap();
    net.tcp_listen(id).unwrap();
    id
}

pub async fn accept(sim: &SimHandle, listener: SocketId) -> SocketId {
    poll_fn(|cx| sim.lock().net_mut().tcp_poll_accept(listener, cx)).await.unwrap()
}

pub async fn connect(sim: &SimHandle, node: u32, remote: impl Into<SocketAddr>) -> Result<SocketId, NetError> {
    let remote = remote.into();
    let id = sim.lock().net_mut().tcp_socket(NodeId(node)).unwrap();
    sim.lock().with_net(|n, cx| n.tcp_connect(cx, id, remote))?;
    poll_fn(|cx| sim.lock().net_mut().tcp_poll_connect(id, cx)).await?;
    Ok(id)
}

pub async fn write_all(sim: &SimHandle, id: SocketId, data: &[u8]) -> Result<(), NetError> {
    let mut off = 0;
    while off < data.len() {
        let n = sim.lock().with_net(|net, cx| net.tcp_write(cx, id, &data[off..]))?;
        off += n;
        if n == 0 {
            poll_fn(|cx| sim.lock().net_mut().poll_writable(id, cx)).await;
        }
    }
    Ok(())
}

/// The next bytes, waiting for them; `None` at end of stream.
pub async fn read_some(sim: &SimHandle, id: SocketId) -> Result<Option<Vec<u8>>, NetError> {
    loop {
        match sim.lock().with_net(|net, cx| net.tcp_read(cx, id, 1 << 20))? {
            Some(d) if d.is_empty() => {}
            other => return Ok(other),
        }
        poll_fn(|cx| sim.lock().net_mut().poll_readable(id, cx)).await;
    }
}

pub async fn read_exact(sim: &SimHandle, id: SocketId, n: usize) -> Result<Vec<u8>, NetError> {
    let mut buf = Vec::with_capacity(n);
    while buf.len() < n {
        match read_some(sim, id).await? {
            Some(d) => buf.extend(d),
            None => break,
        }
    }
    Ok(buf)
}

pub async fn read_to_end(sim: &SimHandle, id: SocketId) -> Result<Vec<u8>, NetError> {
    let mut buf = Vec::new();
    while let Some(d) = read_some(sim, id).await? {
        buf.extend(d);
    }
    Ok(buf)
}

pub fn udp_bound(sim: &SimHandle, node: u32, port: u16) -> SocketId {
    let mut s = sim.lock();
    let id = s.net_mut().udp_socket(NodeId(node)).unwrap();
    s.net_mut().udp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).unwrap();
    id
}

pub fn udp_send(sim: &SimHandle, id: SocketId, dst: impl Into<SocketAddr>, data: &[u8]) {
    let dst = dst.into();
    sim.lock().with_net(|n, cx| n.udp_send_to(cx, id, Some(dst), data)).unwrap();
}

pub async fn udp_recv(sim: &SimHandle, id: SocketId) -> Datagram {
    poll_fn(|cx| sim.lock().net_mut().udp_poll_recv(id, cx)).await.unwrap()
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = netsim::RngStream::derive(seed, "test-data", 0);
    let mut v = vec![0; len];
    rng.fill_bytes(&mut v);
    v
}
