//! The errors socket operations return.
//!
//! [`NetError`] has one variant per `wasi:sockets` `error-code` (except
//! `unknown`, which the simulation never needs), so the host adapter maps it
//! with a plain `match` and no judgement calls. Which situation produces which
//! code is decided by the TCP and UDP modules, not here.

/// Why a socket operation failed. Each variant is the `wasi:sockets` `error-code` of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NetError {
    /// `access-denied`: the operation is not permitted.
    #[error("access denied")]
    AccessDenied,
    /// `not-supported`: the operation is not supported (e.g. IPv6).
    #[error("not supported")]
    NotSupported,
    /// `invalid-argument`: an argument is out of range (port 0 as a destination, say).
    #[error("invalid argument")]
    InvalidArgument,
    /// `out-of-memory`.
    #[error("out of memory")]
    OutOfMemory,
    /// `timeout`: a connect or a connection gave up after its retransmissions.
    #[error("timed out")]
    Timeout,
    /// `concurrency-conflict`: another operation on the socket is in progress.
    #[error("concurrency conflict")]
    ConcurrencyConflict,
    /// `not-in-progress`: a `finish-*` call without its `start-*`.
    #[error("not in progress")]
    NotInProgress,
    /// `would-block`: the operation cannot complete yet; wait for readiness and retry.
    #[error("would block")]
    WouldBlock,
    /// `invalid-state`: the socket is in the wrong state for the operation (or closed).
    #[error("invalid state")]
    InvalidState,
    /// `new-socket-limit`: the node has too many sockets.
    #[error("new socket limit")]
    NewSocketLimit,
    /// `address-not-bindable`: the local address is not one of the node's, or
    /// a connect would repeat the addresses of a connection that exists.
    #[error("address not bindable")]
    AddressNotBindable,
    /// `address-in-use`: the port is taken, or no ephemeral port is free.
    #[error("address in use")]
    AddressInUse,
    /// `remote-unreachable`: no route to the destination.
    #[error("remote unreachable")]
    RemoteUnreachable,
    /// `connection-refused`: nobody listens there, or a `Reject` filter answered.
    #[error("connection refused")]
    ConnectionRefused,
    /// `connection-reset`: the peer reset the connection.
    #[error("connection reset")]
    ConnectionReset,
    /// `connection-aborted`: the connection was aborted locally.
    #[error("connection aborted")]
    ConnectionAborted,
    /// `datagram-too-large`: a UDP payload over [`crate::net::MAX_DATAGRAM`].
    #[error("datagram too large")]
    DatagramTooLarge,
    /// `name-unresolvable`: no instance has that name.
    #[error("name unresolvable")]
    NameUnresolvable,
    /// `temporary-resolver-failure`.
    #[error("temporary resolver failure")]
    TemporaryResolverFailure,
    /// `permanent-resolver-failure`.
    #[error("permanent resolver failure")]
    PermanentResolverFailure,
}
