//! `wasi:sockets/udp-create-socket`: a fresh netsim UDP socket for the
//! calling instance. The simulation is IPv4 only.

use super::bindings::udp_create_socket::{ErrorCode, Host, IpAddressFamily};
use super::udp::UdpSocket;
use super::{SocketResult, SocketsView, error_code};
use wasmtime::component::Resource;

impl Host for SocketsView<'_> {
    fn create_udp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<UdpSocket>> {
        if family != IpAddressFamily::Ipv4 {
            return Ok(Err(ErrorCode::NotSupported));
        }
        let created = self.sim.lock().net_mut().udp_socket(self.node);
        match created {
            Ok(id) => Ok(Ok(self.table.push(UdpSocket::new(id, self.sim.clone()))?)),
            Err(e) => Ok(Err(error_code(e))),
        }
    }
}
