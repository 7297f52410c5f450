//! `wasi:sockets/ip-name-lookup`: instance names on the data network.
//!
//! Names resolve with [`netsim::Network::resolve`]: `instance-<seq>` (and
//! `instance-<seq>.tg`) is instance `seq`'s current IPv4 address, then its
//! IPv6 one (A before AAAA, as resolvers answer), an IP literal is itself. The
//! answer is known at once, so a resolution takes no virtual time and its
//! pollable is always ready; there is no DNS traffic to shape or lose.

use super::bindings::ip_name_lookup::{ErrorCode, Host, HostResolveAddressStream, IpAddress};
use super::network::Network;
use super::{SocketResult, SocketsView, error_code, ip_address};
use crate::wasi::io::PollReady;
use netsim::Sim;
use std::collections::VecDeque;
use std::task::{Context, Poll};
use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::DynPollable;

/// The addresses a name resolved to, not yet read.
pub struct ResolveAddressStream {
    addresses: VecDeque<IpAddress>,
}

impl PollReady for ResolveAddressStream {
    fn poll_ready(&mut self, _sim: &mut Sim, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi_io::poll::Pollable for ResolveAddressStream {
    async fn ready(&mut self) {}
}

impl Host for SocketsView<'_> {
    fn resolve_addresses(
        &mut self,
        _network: Resource<Network>,
        name: String,
    ) -> SocketResult<Resource<ResolveAddressStream>> {
        let resolved = self.sim.lock().net().resolve(&name);
        match resolved {
            Ok(ips) => {
                let addresses = ips.into_iter().map(ip_address).collect();
                Ok(Ok(self.table.push(ResolveAddressStream { addresses })?))
            }
            Err(e) => Ok(Err(error_code(e))),
        }
    }
}

impl HostResolveAddressStream for SocketsView<'_> {
    fn resolve_next_address(
        &mut self,
        this: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Result<Option<IpAddress>, ErrorCode>> {
        Ok(Ok(self.table.get_mut(&this)?.addresses.pop_front()))
    }

    fn subscribe(&mut self, this: Resource<ResolveAddressStream>) -> wasmtime::Result<Resource<DynPollable>> {
        crate::wasi::io::subscribe(self.table, self.pollables, this)
    }

    fn drop(&mut self, this: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
