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
//! Connecting is handled by [`super::tcp`]; this file holds the streams.

use crate::plan::sync_events::SyncEvents;
use netsim::{NodeId, SimHandle};
use std::future::poll_fn;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{InputStream, OutputStream, StreamError, StreamResult};

/// Where the sync service's control connection is opened: Testground's control
/// network was apart from the data network (`16.0.0.0/8`), as this one is.
pub const CONTROL_ADDRESS: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 18, 0, 1), 5050);

/// The readable side of a control connection.
pub struct ControlReader {
    node: NodeId,
    sim: SimHandle,
    events: Arc<SyncEvents>,
    /// The events' generation as of the last read.
    seen: u64,
}

impl ControlReader {
    /// A reader of `events` for `node`, which has seen nothing yet: an
    /// operation whose reply came before the connection was opened still
    /// makes it readable once.
    pub(crate) fn new(node: NodeId, sim: SimHandle, events: Arc<SyncEvents>) -> ControlReader {
        ControlReader { node, sim, events, seen: 0 }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for ControlReader {
    async fn ready(&mut self) {
        poll_fn(|cx| {
            let poll = self.events.poll_after(self.seen, cx).map(|_| ());
            if poll.is_pending() {
                let mut sim = self.sim.lock();
                for reason in self.events.waits() {
                    sim.add_wait(self.node, reason);
                }
            }
            poll
        })
        .await
    }
}

impl InputStream for ControlReader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let generation = self.events.generation();
        if size == 0 || generation <= self.seen {
            return Ok(Bytes::new());
        }
        self.seen = generation;
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
    use netsim::{Sim, SimConfig};

    #[test]
    fn a_raise_makes_one_byte_readable() {
        let sim = SimHandle::new(Sim::new(SimConfig::default()));
        let (events, waker) = SyncEvents::new();
        let mut reader = ControlReader::new(NodeId(0), sim, events);
        assert!(reader.read(16).unwrap().is_empty());
        waker.wake_by_ref();
        waker.wake_by_ref();
        assert_eq!(&reader.read(16).unwrap()[..], &[1], "raises since the last read are one byte");
        assert!(reader.read(16).unwrap().is_empty());
        let mut writer = ControlWriter;
        assert!(matches!(writer.check_write(), Err(StreamError::Closed)));
    }
}
