//! `wasi:sockets/network`: the network capability, of which a run has one.
//!
//! The resource carries no state: every instance is on the one simulated data
//! network, and which instance is asking comes from the store, not from here.

use super::bindings::network::{ErrorCode, Host, HostNetwork};
use super::{SocketsView, error_code};
use netsim::net::NetError;
use wasmtime::component::Resource;
use wasmtime_wasi_io::streams::Error as IoError;

/// The simulated data network, as handed to a plan.
pub struct Network;

impl Host for SocketsView<'_> {
    /// The socket error behind a stream error, when a TCP stream failed.
    /// wasi-libc (wasi-sdk 30) never asks: it reports every failed stream
    /// operation as `EIO`. Code on the bindings (wstd) does.
    fn network_error_code(&mut self, err: Resource<IoError>) -> wasmtime::Result<Option<ErrorCode>> {
        Ok(self.table.get(&err)?.downcast_ref::<NetError>().map(|e| error_code(*e)))
    }
}

impl HostNetwork for SocketsView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
