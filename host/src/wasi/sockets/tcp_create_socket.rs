//! `wasi:sockets/tcp-create-socket`: a fresh netsim TCP socket for the
//! calling instance. The simulation is IPv4 only.

use super::bindings::tcp_create_socket::{ErrorCode, Host, IpAddressFamily};
use super::tcp::TcpSocket;
use super::{SocketResult, SocketsView, error_code};
use wasmtime::component::Resource;

impl Host for SocketsView<'_> {
    fn create_tcp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        if family != IpAddressFamily::Ipv4 {
            return Ok(Err(ErrorCode::NotSupported));
        }
        let created = self.sim.lock().net_mut().tcp_socket(self.node);
        match created {
            Ok(id) => Ok(Ok(self.table.push(TcpSocket::new(id, self.sim.clone()))?)),
            Err(e) => Ok(Err(error_code(e))),
        }
    }
}
