//! `wasi:sockets/udp`: UDP sockets over netsim's datagrams.
//!
//! Datagrams go through the sender's shaped egress link and land in the
//! receiving socket's bounded queue ([`netsim::net::udp`]); nothing is
//! retransmitted. `stream(remote)` makes one peer the socket's only sender
//! and its default destination, as a `connect` does; a send may still name
//! another address, as on Linux (WASI says `invalid-argument`). Options
//! netsim does not model (hop limit, buffer sizes) are remembered and
//! reported back.

use super::bindings::udp::{
    ErrorCode, Host, HostIncomingDatagramStream, HostOutgoingDatagramStream, HostUdpSocket, IncomingDatagram,
    IpAddressFamily, IpSocketAddress, OutgoingDatagram,
};
use super::network::Network;
use super::{SocketResult, SocketsView, from_addr, net, to_addr, wasi_family};
use crate::wasi::io::PollReady;
use netsim::net::{Datagram, NetError, SocketId};
use netsim::{Sim, SimHandle, WaitReason};
use std::task::{Context, Poll};
use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::DynPollable;

/// Datagrams `check-send` allows per `send`: sending never blocks (the link
/// queues or drops), so this only bounds the work of one call.
const SEND_PERMITS: u64 = 64;
/// Linux's default `ip_default_ttl`.
const DEFAULT_HOP_LIMIT: u8 = 64;
/// Linux's default `rmem_default`/`wmem_default`, reported for buffer sizes.
const DEFAULT_BUFFER_SIZE: u64 = 212_992;

/// A plan's UDP socket.
pub struct UdpSocket {
    id: SocketId,
    sim: SimHandle,
    bind_pending: bool,
    hop_limit: u8,
    receive_buffer: u64,
    send_buffer: u64,
    family: netsim::net::Family,
}

impl UdpSocket {
    /// A socket of `family` over netsim socket `id`.
    pub(crate) fn new(id: SocketId, sim: SimHandle, family: netsim::net::Family) -> UdpSocket {
        UdpSocket {
            id,
            sim,
            family,
            bind_pending: false,
            hop_limit: DEFAULT_HOP_LIMIT,
            receive_buffer: DEFAULT_BUFFER_SIZE,
            send_buffer: DEFAULT_BUFFER_SIZE,
        }
    }
}

impl PollReady for UdpSocket {
    /// Binding completes at once, so the socket itself is always ready.
    fn poll_ready(&mut self, _sim: &mut Sim, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

crate::pollable_via_poll_ready!(UdpSocket, this => this.sim);

/// The receiving side of a UDP socket's stream.
pub struct IncomingDatagramStream {
    id: SocketId,
    sim: SimHandle,
}

impl PollReady for IncomingDatagramStream {
    fn poll_ready(&mut self, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()> {
        let id = self.id;
        super::socket_ready(sim, id, cx, |net, cx| (net.poll_readable(id, cx), "udp receive"))
    }

    fn edge(&self) -> Option<WaitReason> {
        Some(WaitReason::Socket { id: self.id, what: "udp receive" })
    }
}

crate::pollable_via_poll_ready!(IncomingDatagramStream, this => this.sim);

/// The sending side of a UDP socket's stream.
pub struct OutgoingDatagramStream {
    id: SocketId,
    sim: SimHandle,
}

impl PollReady for OutgoingDatagramStream {
    /// Sending never waits: the egress link queues, or drops when full.
    fn poll_ready(&mut self, _sim: &mut Sim, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

crate::pollable_via_poll_ready!(OutgoingDatagramStream, this => this.sim);

impl Host for SocketsView<'_> {}

impl SocketsView<'_> {
    /// The datagram the next receive would return, left for it (`tg:plan/peek`).
    pub(super) fn peek_datagram(
        &mut self,
        this: &Resource<UdpSocket>,
    ) -> wasmtime::Result<Result<Option<Datagram>, NetError>> {
        let s = self.udp(this)?;
        Ok(s.sim.lock().net_mut().udp_peek(s.id))
    }

    fn udp(&mut self, this: &Resource<UdpSocket>) -> wasmtime::Result<&mut UdpSocket> {
        Ok(self.table.get_mut(this)?)
    }
}

impl HostUdpSocket for SocketsView<'_> {
    fn start_bind(
        &mut self,
        this: Resource<UdpSocket>,
        _network: Resource<Network>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        let local = to_addr(local_address);
        let s = self.udp(&this)?;
        if s.bind_pending {
            return Ok(Err(ErrorCode::ConcurrencyConflict));
        }
        let r = s.sim.lock().net_mut().udp_bind(s.id, local);
        s.bind_pending = r.is_ok();
        net(r.map(|_| ()))
    }

    fn finish_bind(&mut self, this: Resource<UdpSocket>) -> SocketResult<()> {
        let s = self.udp(&this)?;
        if !std::mem::take(&mut s.bind_pending) {
            return Ok(Err(ErrorCode::NotInProgress));
        }
        Ok(Ok(()))
    }

    fn stream(
        &mut self,
        this: Resource<UdpSocket>,
        remote_address: Option<IpSocketAddress>,
    ) -> SocketResult<(Resource<IncomingDatagramStream>, Resource<OutgoingDatagramStream>)> {
        let remote = remote_address.map(to_addr);
        let s = self.udp(&this)?;
        let (id, sim) = (s.id, s.sim.clone());
        // WASI requires a bound socket here; netsim would bind one implicitly.
        if sim.lock().net().local_addr(id).is_err() {
            return Ok(Err(ErrorCode::InvalidState));
        }
        if let Err(e) = sim.lock().net_mut().udp_connect(id, remote) {
            return net(Err(e));
        }
        let incoming = self.table.push(IncomingDatagramStream { id, sim: sim.clone() })?;
        let outgoing = self.table.push(OutgoingDatagramStream { id, sim })?;
        Ok(Ok((incoming, outgoing)))
    }

    fn local_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        let s = self.udp(&this)?;
        let addr = s.sim.lock().net().local_addr(s.id);
        net(addr.map(from_addr))
    }

    fn remote_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        let s = self.udp(&this)?;
        let addr = s.sim.lock().net().remote_addr(s.id);
        net(addr.map(from_addr))
    }

    fn address_family(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<IpAddressFamily> {
        Ok(wasi_family(self.udp(&this)?.family))
    }

    fn unicast_hop_limit(&mut self, this: Resource<UdpSocket>) -> SocketResult<u8> {
        Ok(Ok(self.udp(&this)?.hop_limit))
    }

    fn set_unicast_hop_limit(&mut self, this: Resource<UdpSocket>, value: u8) -> SocketResult<()> {
        if value == 0 {
            return Ok(Err(ErrorCode::InvalidArgument));
        }
        self.udp(&this)?.hop_limit = value;
        Ok(Ok(()))
    }

    fn receive_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        Ok(Ok(self.udp(&this)?.receive_buffer))
    }

    fn set_receive_buffer_size(&mut self, this: Resource<UdpSocket>, value: u64) -> SocketResult<()> {
        if value == 0 {
            return Ok(Err(ErrorCode::InvalidArgument));
        }
        self.udp(&this)?.receive_buffer = value;
        Ok(Ok(()))
    }

    fn send_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        Ok(Ok(self.udp(&this)?.send_buffer))
    }

    fn set_send_buffer_size(&mut self, this: Resource<UdpSocket>, value: u64) -> SocketResult<()> {
        if value == 0 {
            return Ok(Err(ErrorCode::InvalidArgument));
        }
        self.udp(&this)?.send_buffer = value;
        Ok(Ok(()))
    }

    fn subscribe(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        crate::wasi::io::subscribe(self.table, self.pollables, this)
    }

    fn drop(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<()> {
        let s = self.table.delete(this)?;
        s.sim.lock().with_net(|net, cx| net.close(cx, s.id));
        Ok(())
    }
}

impl HostIncomingDatagramStream for SocketsView<'_> {
    fn receive(
        &mut self,
        this: Resource<IncomingDatagramStream>,
        max_results: u64,
    ) -> SocketResult<Vec<IncomingDatagram>> {
        let s = self.table.get_mut(&this)?;
        let mut sim = s.sim.lock();
        let mut out = Vec::new();
        while (out.len() as u64) < max_results {
            match sim.net_mut().udp_try_recv(s.id) {
                Ok(Some(d)) => out.push(IncomingDatagram { data: d.data, remote_address: from_addr(d.from) }),
                Ok(None) => break,
                // An error after some datagrams is reported by the next call.
                Err(_) if !out.is_empty() => break,
                Err(e) => return net(Err(e)),
            }
        }
        Ok(Ok(out))
    }

    fn subscribe(&mut self, this: Resource<IncomingDatagramStream>) -> wasmtime::Result<Resource<DynPollable>> {
        crate::wasi::io::subscribe(self.table, self.pollables, this)
    }

    fn drop(&mut self, this: Resource<IncomingDatagramStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl HostOutgoingDatagramStream for SocketsView<'_> {
    fn check_send(&mut self, _this: Resource<OutgoingDatagramStream>) -> SocketResult<u64> {
        Ok(Ok(SEND_PERMITS))
    }

    fn send(&mut self, this: Resource<OutgoingDatagramStream>, datagrams: Vec<OutgoingDatagram>) -> SocketResult<u64> {
        let s = self.table.get_mut(&this)?;
        let id = s.id;
        let mut sim = s.sim.lock();
        let mut sent = 0;
        for d in datagrams {
            let dst = d.remote_address.map(to_addr);
            let r = sim.with_net(|net, cx| net.udp_send_to(cx, id, dst, &d.data));
            match r {
                Ok(()) => sent += 1,
                // WASI: report how many went if any did; the error comes with the next call.
                Err(_) if sent > 0 => break,
                Err(e) => return net(Err(e)),
            }
        }
        Ok(Ok(sent))
    }

    fn subscribe(&mut self, this: Resource<OutgoingDatagramStream>) -> wasmtime::Result<Resource<DynPollable>> {
        crate::wasi::io::subscribe(self.table, self.pollables, this)
    }

    fn drop(&mut self, this: Resource<OutgoingDatagramStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
