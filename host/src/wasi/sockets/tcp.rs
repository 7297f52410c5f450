//! `wasi:sockets/tcp`: TCP sockets over netsim's TCP.
//!
//! The state machine — binding, listening, the handshake, windows and
//! retransmission — is netsim's ([`netsim::net::tcp`]); this file adapts it to
//! the WASI resource. What WASI adds is the split of `bind`, `listen` and
//! `connect` into `start-*` and `finish-*`: the netsim operation runs in
//! `start-*` (bind and listen complete at once, a connect sends its SYN), and
//! `finish-*` reports the outcome once. Socket options netsim does not model
//! (keep-alive, hop limit, buffer sizes) are remembered and reported back, so
//! code that sets them runs unchanged.

use super::bindings::tcp::{Duration, ErrorCode, Host, HostTcpSocket, IpAddressFamily, IpSocketAddress, ShutdownType};
use super::control::{self, CONTROL_ADDRESS};
use super::network::Network;
use super::streams::{Readable, TcpReader, TcpWriter, Writable};
use super::{SocketResult, SocketsView, from_addr, net, to_tcp_addr, wasi_family};
use crate::wasi::io::{PollReady, Pollables};
use netsim::net::{NetError, Shutdown, SocketId, TcpState};
use netsim::{Sim, SimHandle};
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

/// Linux's default `tcp_keepalive_time`: two hours.
const DEFAULT_KEEP_ALIVE_IDLE: Duration = 7_200_000_000_000;
/// Linux's default `tcp_keepalive_intvl`: 75 seconds.
const DEFAULT_KEEP_ALIVE_INTERVAL: Duration = 75_000_000_000;
/// Linux's default `tcp_keepalive_probes`.
const DEFAULT_KEEP_ALIVE_COUNT: u32 = 9;
/// Linux's default `ip_default_ttl`.
const DEFAULT_HOP_LIMIT: u8 = 64;
/// Linux's default `tcp_rmem`/`tcp_wmem` middle value, reported for buffer sizes.
const DEFAULT_BUFFER_SIZE: u64 = 131_072;

/// Which `start-*` awaits its `finish-*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    None,
    Bind,
    Listen,
    Connect,
}

/// Options netsim does not model, kept so that reading one returns what was set.
struct Options {
    keep_alive: bool,
    keep_alive_idle: Duration,
    keep_alive_interval: Duration,
    keep_alive_count: u32,
    hop_limit: u8,
    receive_buffer: u64,
    send_buffer: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            keep_alive: false,
            keep_alive_idle: DEFAULT_KEEP_ALIVE_IDLE,
            keep_alive_interval: DEFAULT_KEEP_ALIVE_INTERVAL,
            keep_alive_count: DEFAULT_KEEP_ALIVE_COUNT,
            hop_limit: DEFAULT_HOP_LIMIT,
            receive_buffer: DEFAULT_BUFFER_SIZE,
            send_buffer: DEFAULT_BUFFER_SIZE,
        }
    }
}

/// A plan's TCP socket: a netsim socket and the WASI bookkeeping around it.
pub struct TcpSocket {
    id: SocketId,
    sim: SimHandle,
    pending: Pending,
    options: Options,
    /// Connected to the sync service's control address: its streams are the
    /// instance's sync events, not a netsim connection.
    control: bool,
    /// The family it was created with.
    family: netsim::net::Family,
}

impl TcpSocket {
    /// A socket of `family` over netsim socket `id`.
    pub(crate) fn new(id: SocketId, sim: SimHandle, family: netsim::net::Family) -> TcpSocket {
        TcpSocket { id, sim, pending: Pending::None, options: Options::default(), control: false, family }
    }

    /// What the next read of this connection would return, left for it
    /// (`tg:plan/peek`): the sync service's control connection has nothing to peek.
    pub(super) fn peek(&self, len: usize) -> Result<Option<Vec<u8>>, NetError> {
        if self.control {
            return Err(NetError::NotSupported);
        }
        self.sim.lock().net_mut().tcp_peek(self.id, len)
    }

    fn state(&self) -> TcpState {
        self.sim.lock().net_mut().tcp_state(self.id).unwrap_or(TcpState::Closed)
    }
}

impl PollReady for TcpSocket {
    /// Ready when the pending `finish-*` would not block, as WASI asks: at
    /// once for bind and listen, which complete in their `start-*`, when the
    /// outcome is known for a connect. A listener whose listen is finished is
    /// ready when `accept` would not block; every other state at once.
    fn poll_ready(&mut self, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()> {
        let (id, pending) = (self.id, self.pending);
        super::socket_ready(sim, id, cx, |net, cx| match (pending, net.tcp_state(id)) {
            (Pending::Bind | Pending::Listen, _) => (Poll::Ready(()), ""),
            (_, Ok(TcpState::Connecting)) => (net.tcp_poll_connect(id, cx).map(|_| ()), "tcp connect"),
            (Pending::None, Ok(TcpState::Listening)) => (net.poll_readable(id, cx), "tcp accept"),
            _ => (Poll::Ready(()), ""),
        })
    }
}

crate::pollable_via_poll_ready!(TcpSocket, this => this.sim);

/// The streams of connection `id`, in `table`, registered for `wasi:io/poll`
/// to check in place.
fn streams(
    table: &mut ResourceTable,
    pollables: &mut Pollables,
    id: SocketId,
    sim: &SimHandle,
) -> wasmtime::Result<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
    let input: DynInputStream = Box::new(TcpReader { id, sim: sim.clone() });
    let output: DynOutputStream = Box::new(TcpWriter { id, sim: sim.clone() });
    let (input, output) = (table.push(input)?, table.push(output)?);
    pollables.register_stream(input.rep(), Arc::new(Readable(id)));
    pollables.register_stream(output.rep(), Arc::new(Writable(id)));
    Ok((input, output))
}

impl Host for SocketsView<'_> {}

impl SocketsView<'_> {
    fn tcp(&mut self, this: &Resource<TcpSocket>) -> wasmtime::Result<&mut TcpSocket> {
        Ok(self.table.get_mut(this)?)
    }

    /// Completes the `start-*` that `pending` names, or says none was started.
    fn finish(&mut self, this: &Resource<TcpSocket>, pending: Pending) -> SocketResult<()> {
        let s = self.tcp(this)?;
        if s.pending != pending {
            return Ok(Err(ErrorCode::NotInProgress));
        }
        s.pending = Pending::None;
        Ok(Ok(()))
    }

    /// Starts `pending` with `op`, unless another `start-*` awaits its finish.
    fn start(
        &mut self,
        this: &Resource<TcpSocket>,
        pending: Pending,
        op: impl FnOnce(&mut netsim::Sim, SocketId) -> Result<(), NetError>,
    ) -> SocketResult<()> {
        let s = self.tcp(this)?;
        if s.pending != Pending::None {
            return Ok(Err(ErrorCode::ConcurrencyConflict));
        }
        let id = s.id;
        let r = op(&mut s.sim.lock(), id);
        if r.is_ok() {
            s.pending = pending;
        }
        net(r)
    }
}

impl HostTcpSocket for SocketsView<'_> {
    fn start_bind(
        &mut self,
        this: Resource<TcpSocket>,
        _network: Resource<Network>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        let local = match to_tcp_addr(local_address) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        self.start(&this, Pending::Bind, |sim, id| sim.net_mut().tcp_bind(id, local).map(|_| ()))
    }

    fn finish_bind(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        self.finish(&this, Pending::Bind)
    }

    fn start_connect(
        &mut self,
        this: Resource<TcpSocket>,
        _network: Resource<Network>,
        remote_address: IpSocketAddress,
    ) -> SocketResult<()> {
        let remote = match to_tcp_addr(remote_address) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        if remote == std::net::SocketAddr::V4(CONTROL_ADDRESS) {
            // The control network is not the data network: nothing to send, connected at once.
            let r = self.start(&this, Pending::Connect, |_, _| Ok(()));
            self.tcp(&this)?.control = true;
            return r;
        }
        self.start(&this, Pending::Connect, |sim, id| sim.with_net(|net, cx| net.tcp_connect(cx, id, remote)))
    }

    fn finish_connect(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let s = self.tcp(&this)?;
        if s.pending != Pending::Connect {
            return Ok(Err(ErrorCode::NotInProgress));
        }
        let (id, sim) = (s.id, s.sim.clone());
        if s.control {
            s.pending = Pending::None;
            return Ok(Ok(control::streams(self.table, self.pollables, id.node, sim, self.sync_events.clone())?));
        }
        let outcome = sim.lock().net_mut().tcp_finish_connect(id);
        match outcome {
            Err(NetError::WouldBlock) => net(Err(NetError::WouldBlock)),
            Err(e) => {
                s.pending = Pending::None;
                net(Err(e))
            }
            Ok(()) => {
                s.pending = Pending::None;
                Ok(Ok(streams(self.table, self.pollables, id, &sim)?))
            }
        }
    }

    fn start_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        self.start(&this, Pending::Listen, |sim, id| sim.net_mut().tcp_listen(id))
    }

    fn finish_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        self.finish(&this, Pending::Listen)
    }

    fn accept(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(Resource<TcpSocket>, Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let s = self.tcp(&this)?;
        let (sim, family) = (s.sim.clone(), s.family);
        let accepted = sim.lock().net_mut().tcp_accept(s.id);
        let id = match accepted {
            Ok(id) => id,
            Err(e) => return net(Err(e)),
        };
        let (input, output) = streams(self.table, self.pollables, id, &sim)?;
        let socket = self.table.push(TcpSocket::new(id, sim, family))?;
        Ok(Ok((socket, input, output)))
    }

    fn local_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        let s = self.tcp(&this)?;
        let addr = s.sim.lock().net().local_addr(s.id);
        net(addr.map(from_addr))
    }

    fn remote_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        let s = self.tcp(&this)?;
        if s.control {
            return Ok(Ok(from_addr(CONTROL_ADDRESS.into())));
        }
        let addr = s.sim.lock().net().remote_addr(s.id);
        net(addr.map(from_addr))
    }

    fn is_listening(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<bool> {
        Ok(self.tcp(&this)?.state() == TcpState::Listening)
    }

    fn address_family(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<IpAddressFamily> {
        Ok(wasi_family(self.tcp(&this)?.family))
    }

    fn set_listen_backlog_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        let s = self.tcp(&this)?;
        let r = s.sim.lock().net_mut().tcp_set_backlog(s.id, value);
        net(r)
    }

    fn keep_alive_enabled(&mut self, this: Resource<TcpSocket>) -> SocketResult<bool> {
        Ok(Ok(self.tcp(&this)?.options.keep_alive))
    }

    fn set_keep_alive_enabled(&mut self, this: Resource<TcpSocket>, value: bool) -> SocketResult<()> {
        self.tcp(&this)?.options.keep_alive = value;
        Ok(Ok(()))
    }

    fn keep_alive_idle_time(&mut self, this: Resource<TcpSocket>) -> SocketResult<Duration> {
        Ok(Ok(self.tcp(&this)?.options.keep_alive_idle))
    }

    fn set_keep_alive_idle_time(&mut self, this: Resource<TcpSocket>, value: Duration) -> SocketResult<()> {
        if value == 0 {
            return Ok(Err(ErrorCode::InvalidArgument));
        }
        self.tcp(&this)?.options.keep_alive_idle = value;
        Ok(Ok(()))
    }

    fn keep_alive_interval(&mut self, this: Resource<TcpSocket>) -> SocketResult<Duration> {
        Ok(Ok(self.tcp(&this)?.options.keep_alive_interval))
    }

    fn set_keep_alive_interval(&mut self, this: Resource<TcpSocket>, value: Duration) -> SocketResult<()> {
        if value == 0 {
            return Ok(Err(ErrorCode::InvalidArgument));
        }
        self.tcp(&this)?.options.keep_alive_interval = value;
        Ok(Ok(()))
    }

    fn keep_alive_count(&mut self, this: Resource<TcpSocket>) -> SocketResult<u32> {
        Ok(Ok(self.tcp(&this)?.options.keep_alive_count))
    }

    fn set_keep_alive_count(&mut self, this: Resource<TcpSocket>, value: u32) -> SocketResult<()> {
        if value == 0 {
            return Ok(Err(ErrorCode::InvalidArgument));
        }
        self.tcp(&this)?.options.keep_alive_count = value;
        Ok(Ok(()))
    }

    fn hop_limit(&mut self, this: Resource<TcpSocket>) -> SocketResult<u8> {
        Ok(Ok(self.tcp(&this)?.options.hop_limit))
    }

    fn set_hop_limit(&mut self, this: Resource<TcpSocket>, value: u8) -> SocketResult<()> {
        if value == 0 {
            return Ok(Err(ErrorCode::InvalidArgument));
        }
        self.tcp(&this)?.options.hop_limit = value;
        Ok(Ok(()))
    }

    fn receive_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        Ok(Ok(self.tcp(&this)?.options.receive_buffer))
    }

    fn set_receive_buffer_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        if value == 0 {
            return Ok(Err(ErrorCode::InvalidArgument));
        }
        self.tcp(&this)?.options.receive_buffer = value;
        Ok(Ok(()))
    }

    fn send_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        Ok(Ok(self.tcp(&this)?.options.send_buffer))
    }

    fn set_send_buffer_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        if value == 0 {
            return Ok(Err(ErrorCode::InvalidArgument));
        }
        self.tcp(&this)?.options.send_buffer = value;
        Ok(Ok(()))
    }

    fn subscribe(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        crate::wasi::io::subscribe(self.table, self.pollables, this)
    }

    fn shutdown(&mut self, this: Resource<TcpSocket>, shutdown_type: ShutdownType) -> SocketResult<()> {
        let how = match shutdown_type {
            ShutdownType::Receive => Shutdown::Receive,
            ShutdownType::Send => Shutdown::Send,
            ShutdownType::Both => Shutdown::Both,
        };
        let s = self.tcp(&this)?;
        let id = s.id;
        let r = s.sim.lock().with_net(|net, cx| net.tcp_shutdown(cx, id, how));
        net(r)
    }

    fn drop(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<()> {
        let s = self.table.delete(this)?;
        s.sim.lock().with_net(|net, cx| net.close(cx, s.id));
        Ok(())
    }
}
