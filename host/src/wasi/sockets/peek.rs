//! `tg:plan/peek`: reading from a socket without taking (`MSG_PEEK`).
//!
//! wasi:sockets has no peek, so wasi-libc answers `MSG_PEEK` with
//! `EOPNOTSUPP` and std's and tokio's `peek`, `peek_from` and `peek_sender`
//! fail with "Unsupported". tg-sdk's `recv`/`recvfrom` ask the host instead:
//! netsim copies what the next read would take and leaves it queued. Waiting
//! for something to peek at is the socket's own readiness, as for a read.
//!
//! Owns: the interface's two functions. Does not own: the buffers (netsim).

use super::bindings::peek::{ErrorCode, Host, PeekedDatagram};
use super::tcp::TcpSocket;
use super::udp::UdpSocket;
use super::{SocketsView, error_code, from_addr};
use wasmtime::component::Resource;

impl Host for SocketsView<'_> {
    fn peek_tcp(
        &mut self,
        socket: Resource<TcpSocket>,
        len: u64,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, ErrorCode>> {
        // A read serves at most what the connection holds; so does a peek.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        Ok(self.table.get(&socket)?.peek(len).map_err(error_code))
    }

    fn peek_udp(
        &mut self,
        socket: Resource<UdpSocket>,
        len: u64,
    ) -> wasmtime::Result<Result<Option<PeekedDatagram>, ErrorCode>> {
        Ok(self.peek_datagram(&socket)?.map_err(error_code).map(|peeked| {
            peeked.map(|d| {
                let size = d.data.len() as u64;
                let mut data = d.data;
                data.truncate(usize::try_from(len).unwrap_or(usize::MAX));
                PeekedDatagram { data, size, remote_address: from_addr(d.from) }
            })
        }))
    }
}
