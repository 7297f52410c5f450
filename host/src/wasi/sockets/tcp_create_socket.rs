//! `wasi:sockets/tcp-create-socket`: a fresh netsim TCP socket, IPv4 or
//! IPv6, for the calling instance.

use super::bindings::tcp_create_socket::{Host, IpAddressFamily};
use super::tcp::TcpSocket;
use super::{SocketResult, SocketsView, error_code};
use wasmtime::component::Resource;

impl Host for SocketsView<'_> {
    fn create_tcp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        let family = super::family(family);
        let created = self.sim.lock().net_mut().tcp_socket_in(self.node, family);
        match created {
            Ok(id) => Ok(Ok(self.table.push(TcpSocket::new(id, self.sim.clone(), family))?)),
            Err(e) => Ok(Err(error_code(e))),
        }
    }
}
