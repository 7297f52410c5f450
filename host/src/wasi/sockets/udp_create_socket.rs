//! `wasi:sockets/udp-create-socket`: a fresh netsim UDP socket, IPv4 or
//! IPv6, for the calling instance.

use super::bindings::udp_create_socket::{Host, IpAddressFamily};
use super::udp::UdpSocket;
use super::{SocketResult, SocketsView, error_code};
use wasmtime::component::Resource;

impl Host for SocketsView<'_> {
    fn create_udp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<UdpSocket>> {
        let family = super::family(family);
        let created = self.sim.lock().net_mut().udp_socket_in(self.node, family);
        match created {
            Ok(id) => Ok(Ok(self.table.push(UdpSocket::new(id, self.sim.clone(), family))?)),
            Err(e) => Ok(Err(error_code(e))),
        }
    }
}
