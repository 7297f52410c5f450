//! `wasi:sockets/instance-network`: hands a plan the data network.

use super::SocketsView;
use super::bindings::instance_network::Host;
use super::network::Network;
use wasmtime::component::Resource;

impl Host for SocketsView<'_> {
    fn instance_network(&mut self) -> wasmtime::Result<Resource<Network>> {
        Ok(self.table.push(Network)?)
    }
}
