//! Host-side bindings of `wasi:sockets` 0.2, generated from the vendored WIT
//! in `wit/deps/`.
//!
//! Only generated code lives here. wasmtime-wasi's own socket bindings tie the
//! resources to its OS-socket types, so we generate our own with the resources
//! mapped onto the netsim-backed types of [`super`], and `wasi:io`/`wasi:clocks`
//! mapped onto the shared bindings so that pollables and streams are the same
//! resources every other interface uses. Every socket operation is
//! non-blocking (waiting happens in `wasi:io/poll`), so no import is async.

wasmtime::component::bindgen!({
    world: "host-sockets",
    path: "../wit",
    imports: { default: trappable },
    require_store_data_send: true,
    with: {
        "wasi:io": wasmtime_wasi_io::bindings::wasi::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:sockets/network.network": super::network::Network,
        "wasi:sockets/ip-name-lookup.resolve-address-stream": super::ip_name_lookup::ResolveAddressStream,
        "wasi:sockets/tcp.tcp-socket": super::tcp::TcpSocket,
        "wasi:sockets/udp.udp-socket": super::udp::UdpSocket,
        "wasi:sockets/udp.incoming-datagram-stream": super::udp::IncomingDatagramStream,
        "wasi:sockets/udp.outgoing-datagram-stream": super::udp::OutgoingDatagramStream,
    },
});

pub use tg::plan::peek;
pub use wasi::sockets::*;
