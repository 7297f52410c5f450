//! `wasi:sockets` 0.2 on the simulated data network.
//!
//! A plan's `std::net` sockets land here and become operations on
//! [`netsim::net::Network`]: nothing reaches the host's network stack. One file
//! per WIT interface ([`network`], [`instance_network`], [`ip_name_lookup`],
//! [`tcp`], [`tcp_create_socket`], [`udp`], [`udp_create_socket`]); the TCP
//! byte streams are in [`streams`], the generated code in [`bindings`].
//!
//! Every operation is non-blocking, as the interfaces are: a call that cannot
//! complete returns `would-block`, and the plan waits on a pollable whose
//! readiness is a netsim event (a segment arriving, a handshake finishing), so
//! a blocked instance costs nothing until the simulation reaches that event.
//! Only IPv4 exists in the simulation; IPv6 sockets are `not-supported`.

pub mod bindings;
pub mod instance_network;
pub mod ip_name_lookup;
pub mod network;
pub mod streams;
pub mod tcp;
pub mod tcp_create_socket;
pub mod udp;
pub mod udp_create_socket;

use crate::instance::InstanceState;
use bindings::network::{ErrorCode, IpAddress, IpSocketAddress, Ipv4SocketAddress};
use netsim::net::NetError;
use netsim::{NodeId, SimHandle};
use std::net::{Ipv4Addr, SocketAddrV4};
use wasmtime::component::{HasData, Linker, ResourceTable};

/// What the socket host functions need from an instance.
pub struct SocketsView<'a> {
    node: NodeId,
    sim: &'a SimHandle,
    table: &'a mut ResourceTable,
}

struct Sockets;

impl HasData for Sockets {
    type Data<'a> = SocketsView<'a>;
}

fn view(state: &mut InstanceState) -> SocketsView<'_> {
    let (node, sim, table) = state.clock_parts();
    SocketsView { node, sim, table }
}

/// Adds the seven `wasi:sockets` interfaces, over netsim, to `linker`.
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

/// A WASI socket address as an IPv4 one; the simulation has no IPv6, and a
/// socket is IPv4, so an IPv6 address is an `invalid-argument` (wrong family).
fn to_v4(addr: IpSocketAddress) -> Result<SocketAddrV4, ErrorCode> {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (x, y, z, w) = a.address;
            Ok(SocketAddrV4::new(Ipv4Addr::new(x, y, z, w), a.port))
        }
        IpSocketAddress::Ipv6(_) => Err(ErrorCode::InvalidArgument),
    }
}

/// An IPv4 address as a WASI socket address.
fn from_v4(addr: SocketAddrV4) -> IpSocketAddress {
    IpSocketAddress::Ipv4(Ipv4SocketAddress { port: addr.port(), address: ip(*addr.ip()) })
}

/// An IPv4 address as a WASI tuple.
fn ip(ip: Ipv4Addr) -> (u8, u8, u8, u8) {
    let [a, b, c, d] = ip.octets();
    (a, b, c, d)
}

/// A WASI IP address as a WASI IP address of the simulation (IPv4 only).
fn ip_address(ip4: Ipv4Addr) -> IpAddress {
    IpAddress::Ipv4(ip(ip4))
}
