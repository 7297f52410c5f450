//! `wasi:sockets` 0.2 on the simulated data network.
//!
//! A plan's `std::net` sockets land here and become operations on
//! [`netsim::net::Network`]: nothing reaches the host's network stack. One file
//! per WIT interface ([`network`], [`instance_network`], [`ip_name_lookup`],
//! [`tcp`], [`tcp_create_socket`], [`udp`], [`udp_create_socket`]); the TCP
//! byte streams are in [`streams`], the generated code in [`bindings`]. One
//! TCP address is not on the data network: [`control`], the sync service's
//! control connection, through which an fd-polling executor sees sync replies.
//!
//! Every operation is non-blocking, as the interfaces are: a call that cannot
//! complete returns `would-block`, and the plan waits on a pollable whose
//! readiness is a netsim event (a segment arriving, a handshake finishing), so
//! a blocked instance costs nothing until the simulation reaches that event.
//!
//! IPv4 and IPv6 both exist (see [`netsim::net::Family`]). WASI 0.2 says an
//! IPv6 socket is IPv6-only; here, as on Linux by default, an IPv6 socket
//! bound to `[::]` also takes IPv4 traffic for its port when no IPv4 socket
//! has the port, seeing IPv4 peers as IPv4-mapped addresses (`::ffff:a.b.c.d`)
//! — so a `[::]` listener accepts IPv4 and IPv6 clients, and code that binds
//! both `0.0.0.0:p` and `[::]:p` still works. A UDP socket may answer such a
//! peer at its mapped address. What WASI forbids outright is kept: binding or
//! connecting a TCP socket to an IPv4-mapped address is `invalid-argument`.

pub mod bindings;
pub mod control;
pub mod instance_network;
pub mod ip_name_lookup;
pub mod network;
pub mod peek;
pub mod streams;
pub mod tcp;
pub mod tcp_create_socket;
pub mod udp;
pub mod udp_create_socket;

use crate::instance::InstanceState;
use crate::plan::sync_events::SyncEvents;
use crate::wasi::io::Pollables;
use bindings::network::{ErrorCode, IpAddress, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress};
use netsim::net::NetError;
use netsim::net::SocketId;
use netsim::{NodeId, Sim, SimHandle, WaitReason};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime::component::{HasData, Linker, ResourceTable};

/// What the socket host functions need from an instance.
pub struct SocketsView<'a> {
    node: NodeId,
    sim: &'a SimHandle,
    table: &'a mut ResourceTable,
    /// Where the sockets' pollables and streams are registered for `wasi:io/poll`.
    pollables: &'a mut Pollables,
    /// What the sync service's control connection reads.
    sync_events: &'a Arc<SyncEvents>,
}

struct Sockets;

impl HasData for Sockets {
    type Data<'a> = SocketsView<'a>;
}

fn view(state: &mut InstanceState) -> SocketsView<'_> {
    let (node, sim, table, pollables, sync_events) = state.sockets_parts();
    SocketsView { node, sim, table, pollables, sync_events }
}

/// Adds the seven `wasi:sockets` interfaces, over netsim, and `tg:plan/peek` to `linker`.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    // `network-error-code` is unstable in the WIT; linking it costs nothing.
    let mut options = bindings::network::LinkOptions::default();
    options.network_error_code(true);
    bindings::network::add_to_linker::<InstanceState, Sockets>(linker, &options, view)?;
    bindings::instance_network::add_to_linker::<InstanceState, Sockets>(linker, view)?;
    bindings::ip_name_lookup::add_to_linker::<InstanceState, Sockets>(linker, view)?;
    bindings::tcp::add_to_linker::<InstanceState, Sockets>(linker, view)?;
    bindings::tcp_create_socket::add_to_linker::<InstanceState, Sockets>(linker, view)?;
    bindings::udp::add_to_linker::<InstanceState, Sockets>(linker, view)?;
    bindings::udp_create_socket::add_to_linker::<InstanceState, Sockets>(linker, view)?;
    bindings::peek::add_to_linker::<InstanceState, Sockets>(linker, view)?;
    Ok(())
}

/// The `error-code` of a netsim error: netsim has one variant per code.
pub fn error_code(e: NetError) -> ErrorCode {
    match e {
        NetError::AccessDenied => ErrorCode::AccessDenied,
        NetError::NotSupported => ErrorCode::NotSupported,
        NetError::InvalidArgument => ErrorCode::InvalidArgument,
        NetError::OutOfMemory => ErrorCode::OutOfMemory,
        NetError::Timeout => ErrorCode::Timeout,
        NetError::ConcurrencyConflict => ErrorCode::ConcurrencyConflict,
        NetError::NotInProgress => ErrorCode::NotInProgress,
        NetError::WouldBlock => ErrorCode::WouldBlock,
        NetError::InvalidState => ErrorCode::InvalidState,
        NetError::NewSocketLimit => ErrorCode::NewSocketLimit,
        NetError::AddressNotBindable => ErrorCode::AddressNotBindable,
        NetError::AddressInUse => ErrorCode::AddressInUse,
        NetError::RemoteUnreachable => ErrorCode::RemoteUnreachable,
        NetError::ConnectionRefused => ErrorCode::ConnectionRefused,
        NetError::ConnectionReset => ErrorCode::ConnectionReset,
        NetError::ConnectionAborted => ErrorCode::ConnectionAborted,
        NetError::DatagramTooLarge => ErrorCode::DatagramTooLarge,
        NetError::NameUnresolvable => ErrorCode::NameUnresolvable,
        NetError::TemporaryResolverFailure => ErrorCode::TemporaryResolverFailure,
        NetError::PermanentResolverFailure => ErrorCode::PermanentResolverFailure,
    }
}

/// A socket call's result as the bindings return it.
type SocketResult<T> = wasmtime::Result<Result<T, ErrorCode>>;

/// Lifts a netsim result into a binding result.
fn net<T>(r: Result<T, NetError>) -> SocketResult<T> {
    Ok(r.map_err(error_code))
}

/// A WASI socket address as a Rust one. Whether its family suits the
/// socket is netsim's to judge (`invalid-argument` if not).
fn to_addr(addr: IpSocketAddress) -> SocketAddr {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (x, y, z, w) = a.address;
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(x, y, z, w), a.port))
        }
        IpSocketAddress::Ipv6(a) => {
            let (s0, s1, s2, s3, s4, s5, s6, s7) = a.address;
            let ip = Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7);
            SocketAddr::V6(SocketAddrV6::new(ip, a.port, a.flow_info, a.scope_id))
        }
    }
}

/// [`to_addr`] for a TCP bind or connect, which WASI forbids to name an
/// IPv4-mapped IPv6 address (`invalid-argument`, as `EINVAL`).
fn to_tcp_addr(addr: IpSocketAddress) -> Result<SocketAddr, ErrorCode> {
    match to_addr(addr) {
        SocketAddr::V6(a) if a.ip().to_ipv4_mapped().is_some() => Err(ErrorCode::InvalidArgument),
        a => Ok(a),
    }
}

/// A Rust socket address as a WASI one.
fn from_addr(addr: SocketAddr) -> IpSocketAddress {
    match addr {
        SocketAddr::V4(a) => IpSocketAddress::Ipv4(Ipv4SocketAddress { port: a.port(), address: ip4(*a.ip()) }),
        SocketAddr::V6(a) => IpSocketAddress::Ipv6(Ipv6SocketAddress {
            port: a.port(),
            flow_info: a.flowinfo(),
            address: ip6(*a.ip()),
            scope_id: a.scope_id(),
        }),
    }
}

/// An IPv4 address as a WASI tuple.
fn ip4(ip: Ipv4Addr) -> (u8, u8, u8, u8) {
    let [a, b, c, d] = ip.octets();
    (a, b, c, d)
}

/// An IPv6 address as a WASI tuple.
fn ip6(ip: Ipv6Addr) -> (u16, u16, u16, u16, u16, u16, u16, u16) {
    let [a, b, c, d, e, f, g, h] = ip.segments();
    (a, b, c, d, e, f, g, h)
}

/// An IP address as a WASI one.
fn ip_address(ip: IpAddr) -> IpAddress {
    match ip {
        IpAddr::V4(v4) => IpAddress::Ipv4(ip4(v4)),
        IpAddr::V6(v6) => IpAddress::Ipv6(ip6(v6)),
    }
}

/// A WASI address family as netsim's.
fn family(family: bindings::network::IpAddressFamily) -> netsim::net::Family {
    match family {
        bindings::network::IpAddressFamily::Ipv4 => netsim::net::Family::Ipv4,
        bindings::network::IpAddressFamily::Ipv6 => netsim::net::Family::Ipv6,
    }
}

/// netsim's address family as WASI's.
fn wasi_family(family: netsim::net::Family) -> bindings::network::IpAddressFamily {
    match family {
        netsim::net::Family::Ipv4 => bindings::network::IpAddressFamily::Ipv4,
        netsim::net::Family::Ipv6 => bindings::network::IpAddressFamily::Ipv6,
    }
}

/// Whether socket `id` is ready, as `poll` judges it. While it is not, the
/// instance is noted as waiting on "<what> on socket <id>" (what `poll`
/// returns beside its verdict), so deadlock and timeout reports can name it.
pub(crate) fn socket_ready(
    sim: &mut Sim,
    id: SocketId,
    cx: &mut Context<'_>,
    poll: impl FnOnce(&mut netsim::Network, &mut Context<'_>) -> (Poll<()>, &'static str),
) -> Poll<()> {
    let (ready, what) = poll(sim.net_mut(), cx);
    if ready.is_pending() {
        sim.add_wait(id.node, WaitReason::Socket { id, what });
    }
    ready
}

#[cfg(test)]
mod tests {
    use super::bindings::instance_network::Host as _;
    use super::bindings::network::IpAddressFamily;
    use super::bindings::tcp::HostTcpSocket as _;
    use super::bindings::tcp_create_socket::Host as _;
    use super::*;
    use netsim::net::{LinkShape, NetworkConfig};
    use netsim::{Sim, SimConfig};
    use std::time::Duration;
    use wasmtime::component::Resource;

    fn borrow<T: 'static>(r: &Resource<T>) -> Resource<T> {
        Resource::new_borrow(r.rep())
    }

    /// What one instance's store holds for its sockets: its resource table and pollables.
    struct Side {
        node: NodeId,
        table: ResourceTable,
        pollables: Pollables,
    }

    impl Side {
        fn new(node: u32) -> Side {
            Side { node: NodeId(node), table: ResourceTable::new(), pollables: Pollables::new(NodeId(node)) }
        }

        fn view<'a>(&'a mut self, sim: &'a SimHandle, sync_events: &'a Arc<SyncEvents>) -> SocketsView<'a> {
            SocketsView { node: self.node, sim, table: &mut self.table, pollables: &mut self.pollables, sync_events }
        }
    }

    /// The adapter adds no time of its own: a connect through it completes one
    /// round trip of the configured link after it starts.
    #[test]
    fn connect_completes_after_one_round_trip_of_the_link() {
        let latency = Duration::from_millis(5);
        let net = NetworkConfig { default: LinkShape::with_latency(latency), ..NetworkConfig::default() };
        let sim = SimHandle::new(Sim::new(SimConfig { instances: 2, net, ..SimConfig::default() }));
        let events = SyncEvents::new().0;
        let (mut server_side, mut client_side) = (Side::new(0), Side::new(1));
        let mut server = server_side.view(&sim, &events);
        let network = server.instance_network().unwrap();
        let listener = server.create_tcp_socket(IpAddressFamily::Ipv4).unwrap().unwrap();
        let any = from_addr(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000)));
        server.start_bind(borrow(&listener), borrow(&network), any).unwrap().unwrap();
        server.finish_bind(borrow(&listener)).unwrap().unwrap();
        server.start_listen(borrow(&listener)).unwrap().unwrap();
        server.finish_listen(borrow(&listener)).unwrap().unwrap();

        let mut client = client_side.view(&sim, &events);
        let network = client.instance_network().unwrap();
        let socket = client.create_tcp_socket(IpAddressFamily::Ipv4).unwrap().unwrap();
        let remote = from_addr(SocketAddr::V4(SocketAddrV4::new(netsim::net::addr_of(NodeId(0)), 7000)));
        client.start_connect(borrow(&socket), borrow(&network), remote).unwrap().unwrap();
        let started = sim.lock().now();
        loop {
            match client.finish_connect(borrow(&socket)).unwrap() {
                Err(ErrorCode::WouldBlock) => assert!(sim.lock().step().is_some(), "the connect stalled"),
                outcome => {
                    outcome.expect("connected");
                    break;
                }
            }
        }
        assert_eq!(sim.lock().now(), started + 2 * latency);
        assert_eq!(client.finish_connect(borrow(&socket)).unwrap().err(), Some(ErrorCode::NotInProgress));
    }

    /// Bytes written to a connection's output stream are readable from the
    /// peer's input stream one link latency later, not before.
    #[test]
    fn stream_bytes_arrive_one_latency_later() {
        use wasmtime_wasi_io::streams::{InputStream, OutputStream};
        let latency = Duration::from_millis(7);
        let net = NetworkConfig { default: LinkShape::with_latency(latency), ..NetworkConfig::default() };
        let sim = SimHandle::new(Sim::new(SimConfig { instances: 2, net, ..SimConfig::default() }));
        let listener = sim.lock().net_mut().tcp_socket(NodeId(0)).unwrap();
        sim.lock().net_mut().tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000)).unwrap();
        sim.lock().net_mut().tcp_listen(listener).unwrap();
        let conn = sim.lock().net_mut().tcp_socket(NodeId(1)).unwrap();
        let remote = SocketAddrV4::new(netsim::net::addr_of(NodeId(0)), 7000);
        sim.lock().with_net(|net, cx| net.tcp_connect(cx, conn, remote)).unwrap();
        let accepted = loop {
            match sim.lock().net_mut().tcp_accept(listener) {
                Err(NetError::WouldBlock) => {}
                r => break r.unwrap(),
            }
            assert!(sim.lock().step().is_some(), "the handshake stalled");
        };
        let mut writer = streams::TcpWriter { id: conn, sim: sim.clone() };
        let mut reader = streams::TcpReader { id: accepted, sim: sim.clone() };
        assert!(writer.check_write().unwrap() >= 4);
        writer.write(bytes::Bytes::from_static(b"ping")).unwrap();
        let sent = sim.lock().now();
        let data = loop {
            let data = reader.read(16).unwrap();
            if !data.is_empty() {
                break data;
            }
            assert!(sim.lock().step().is_some(), "the data stalled");
        };
        assert_eq!(&data[..], b"ping");
        assert_eq!(sim.lock().now(), sent + latency);
    }

    /// Whether `socket`'s pollable is ready now, polled once as `wasi:io/poll` would.
    fn tcp_ready(view: &mut SocketsView<'_>, socket: &Resource<tcp::TcpSocket>) -> bool {
        use wasmtime_wasi_io::poll::Pollable;
        let socket = view.table.get_mut(socket).unwrap();
        let mut ready = socket.ready();
        ready.as_mut().poll(&mut Context::from_waker(std::task::Waker::noop())).is_ready()
    }

    /// WASI: a socket's pollable is ready when the pending `finish-*` would not
    /// block. An executor that starts a listen, waits on the pollable and only
    /// then finishes it (wstd does) must not wait for a connection first; once
    /// the listen is finished, the pollable waits for one to accept.
    #[test]
    fn the_pollable_is_ready_for_a_pending_finish_then_waits_for_a_connection() {
        let sim = SimHandle::new(Sim::new(SimConfig { instances: 2, ..SimConfig::default() }));
        let events = SyncEvents::new().0;
        let (mut server_side, mut client_side) = (Side::new(0), Side::new(1));
        let mut server = server_side.view(&sim, &events);
        let network = server.instance_network().unwrap();
        let listener = server.create_tcp_socket(IpAddressFamily::Ipv4).unwrap().unwrap();
        let any = from_addr(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000)));
        server.start_bind(borrow(&listener), borrow(&network), any).unwrap().unwrap();
        assert!(tcp_ready(&mut server, &listener), "finish-bind would not block");
        server.finish_bind(borrow(&listener)).unwrap().unwrap();
        server.start_listen(borrow(&listener)).unwrap().unwrap();
        assert!(tcp_ready(&mut server, &listener), "finish-listen would not block");
        server.finish_listen(borrow(&listener)).unwrap().unwrap();
        assert!(!tcp_ready(&mut server, &listener), "nothing to accept yet");

        let mut client = client_side.view(&sim, &events);
        let network = client.instance_network().unwrap();
        let socket = client.create_tcp_socket(IpAddressFamily::Ipv4).unwrap().unwrap();
        let remote = from_addr(SocketAddr::V4(SocketAddrV4::new(netsim::net::addr_of(NodeId(0)), 7000)));
        client.start_connect(borrow(&socket), borrow(&network), remote).unwrap().unwrap();
        assert!(!tcp_ready(&mut client, &socket), "the handshake takes a round trip");
        while !tcp_ready(&mut server, &listener) {
            assert!(sim.lock().step().is_some(), "no connection to accept ever came");
        }
        assert!(tcp_ready(&mut client, &socket), "the connect has its outcome");
        assert!(server.accept(borrow(&listener)).unwrap().is_ok(), "ready means accept would not block");
    }
}
