//! The sync service's control connection: a TCP connection a plan opens to
//! [`CONTROL_ADDRESS`], which never reaches the data network.
//!
//! It exists for executors that can only wait on file descriptors (tokio,
//! through mio and wasi-libc `poll`): reading it yields one byte whenever the
//! instance's [`SyncEvents`] were raised since the connection's last read —
//! a started sync operation got its reply, or a watched subscription got a
//! message. The plan then asks for replies through `tg:plan/sync` calls; the
//! bytes carry nothing else. Writing is refused: the service takes nothing on
//! this connection. Like the rest of the control network, it is never shaped
//! or faulted and adds no virtual time.
//!
//! Connecting is handled by [`super::tcp`]; this file holds the streams and
//! their readiness.

use crate::plan::sync_events::SyncEvents;
use crate::wasi::io::{Always, Pollables, Readiness};
use netsim::{NodeId, Sim, SimHandle};
use std::future::poll_fn;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{
    DynInputStream, DynOutputStream, InputStream, OutputStream, StreamError, StreamResult,
};

/// Where the sync service's control connection is opened: Testground's control
/// network was apart from the data network (`16.0.0.0/8`), as this one is.
pub const CONTROL_ADDRESS: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 18, 0, 1), 5050);

/// The streams of a new control connection of `node`, registered for
/// `wasi:io/poll` to check in place.
pub(crate) fn streams(
    table: &mut ResourceTable,
    pollables: &mut Pollables,
    node: NodeId,
    sim: SimHandle,
    events: Arc<SyncEvents>,
) -> wasmtime::Result<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
    let readiness = Arc::new(Unread { node, sim, events, seen: AtomicU64::new(0) });
    let input: DynInputStream = Box::new(ControlReader(readiness.clone()));
    let output: DynOutputStream = Box::new(ControlWriter);
    let (input, output) = (table.push(input)?, table.push(output)?);
    pollables.register_stream(input.rep(), readiness);
    pollables.register_stream(output.rep(), Arc::new(Always));
    Ok((input, output))
}

/// What a control connection has not read: raises of the events after the
/// generation it has `seen`. An operation whose reply came before the
/// connection was opened still makes it readable once.
struct Unread {
    node: NodeId,
    sim: SimHandle,
    events: Arc<SyncEvents>,
    seen: AtomicU64,
}

impl Readiness for Unread {
    fn poll_ready(&self, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()> {
        let poll = self.events.poll_after(self.seen.load(Ordering::Relaxed), cx).map(|_| ());
        if poll.is_pending() {
            for reason in self.events.waits() {
                sim.add_wait(self.node, reason);
            }
        }
        poll
    }
}

/// The readable side of a control connection.
pub struct ControlReader(Arc<Unread>);

#[wasmtime_wasi::async_trait]
impl Pollable for ControlReader {
    async fn ready(&mut self) {
        let unread = &self.0;
        poll_fn(|cx| unread.poll_ready(&mut unread.sim.lock(), cx)).await
    }
}

impl InputStream for ControlReader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let generation = self.0.events.generation();
        if size == 0 || generation <= self.0.seen.load(Ordering::Relaxed) {
            return Ok(Bytes::new());
        }
        self.0.seen.store(generation, Ordering::Relaxed);
        Ok(Bytes::from_static(&[1]))
    }
}

/// The writable side of a control connection, which takes nothing.
pub struct ControlWriter;

#[wasmtime_wasi::async_trait]
impl Pollable for ControlWriter {
    async fn ready(&mut self) {}
}

impl OutputStream for ControlWriter {
    fn write(&mut self, _bytes: Bytes) -> StreamResult<()> {
        Err(StreamError::Closed)
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Err(StreamError::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsim::SimConfig;

    #[test]
    fn a_raise_makes_one_byte_readable() {
        let sim = SimHandle::new(Sim::new(SimConfig::default()));
        let (events, waker) = SyncEvents::new();
        let mut reader = ControlReader(Arc::new(Unread { node: NodeId(0), sim, events, seen: AtomicU64::new(0) }));
        assert!(reader.read(16).unwrap().is_empty());
        waker.wake_by_ref();
        waker.wake_by_ref();
        assert_eq!(&reader.read(16).unwrap()[..], &[1], "raises since the last read are one byte");
        assert!(reader.read(16).unwrap().is_empty());
        let mut writer = ControlWriter;
        assert!(matches!(writer.check_write(), Err(StreamError::Closed)));
    }
}
