//! The byte streams of a TCP connection, as `wasi:io` streams over netsim.
//!
//! A [`TcpReader`] and a [`TcpWriter`] name their connection by
//! [`SocketId`]; reads and writes go straight to the connection's buffers in
//! the simulated network, and readiness is the network's `poll_readable` /
//! `poll_writable` ([`Readable`], [`Writable`], registered with the streams
//! so that `wasi:io/poll` checks them in place), so a plan blocked in `read`
//! wakes exactly when a segment arrives in virtual time. `flush` has nothing to wait for: what was written
//! is in the connection's send buffer, which is as far as a kernel's flush goes.

use crate::wasi::io::Readiness;
use netsim::net::{NetError, SocketId};
use netsim::{Sim, SimHandle, WaitReason};
use std::future::poll_fn;
use std::task::{Context, Poll};
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{InputStream, OutputStream, StreamError, StreamResult};

/// Largest read served at once: bounds the host allocation a plan's `read`
/// size asks for, as wasmtime-wasi's `MAX_READ_SIZE_ALLOC` does.
const MAX_READ: usize = 64 * 1024;

fn failed(e: NetError) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::new(e))
}

/// A write-side failure: a stream that can take no more bytes because this
/// side shut it down (or the connection ended in order) is `closed`, as
/// wasi:io says, which libc reports as `EPIPE` like Linux; a reset or timeout
/// stays the network error it is. netsim reports a connection's failure once
/// (Linux's `sk_err`), so after one `last-operation-failed` a stream is
/// `closed`, as wasi:io requires: reads then see end of stream, writes `EPIPE`.
fn write_failed(e: NetError) -> StreamError {
    match e {
        NetError::InvalidState => StreamError::Closed,
        e => failed(e),
    }
}

/// The receiving half of a TCP connection.
pub struct TcpReader {
    pub(crate) id: SocketId,
    pub(crate) sim: SimHandle,
}

/// The sending half of a TCP connection.
pub struct TcpWriter {
    pub(crate) id: SocketId,
    pub(crate) sim: SimHandle,
}

/// A connection's readability, as `wasi:io/poll` checks its input stream.
pub(crate) struct Readable(pub(crate) SocketId);

impl Readiness for Readable {
    fn poll_ready(&self, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()> {
        let id = self.0;
        super::socket_ready(sim, id, cx, |net, cx| (net.poll_readable(id, cx), "tcp read"))
    }

    fn edge(&self) -> Option<WaitReason> {
        Some(WaitReason::Socket { id: self.0, what: "tcp read" })
    }
}

/// A connection's writability, as `wasi:io/poll` checks its output stream.
pub(crate) struct Writable(pub(crate) SocketId);

impl Readiness for Writable {
    fn poll_ready(&self, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()> {
        let id = self.0;
        super::socket_ready(sim, id, cx, |net, cx| (net.poll_writable(id, cx), "tcp write"))
    }

    fn edge(&self) -> Option<WaitReason> {
        Some(WaitReason::Socket { id: self.0, what: "tcp write" })
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for TcpReader {
    async fn ready(&mut self) {
        let (readable, sim) = (Readable(self.id), &self.sim);
        poll_fn(|cx| readable.poll_ready(&mut sim.lock(), cx)).await
    }
}

impl InputStream for TcpReader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let id = self.id;
        match self.sim.lock().with_net(|net, cx| net.tcp_read(cx, id, size.min(MAX_READ))) {
            Ok(Some(data)) => Ok(Bytes::from(data)),
            Ok(None) => Err(StreamError::Closed),
            Err(e) => Err(failed(e)),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for TcpWriter {
    async fn ready(&mut self) {
        let (writable, sim) = (Writable(self.id), &self.sim);
        poll_fn(|cx| writable.poll_ready(&mut sim.lock(), cx)).await
    }
}

impl OutputStream for TcpWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let id = self.id;
        let taken = self.sim.lock().with_net(|net, cx| net.tcp_write(cx, id, &bytes)).map_err(write_failed)?;
        if taken < bytes.len() {
            // check-write promised room for this much; writing more is the plan's bug.
            return Err(StreamError::trap("write exceeded the permit of check-write"));
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.sim.lock().net_mut().tcp_check_write(self.id).map_err(write_failed)
    }
}
