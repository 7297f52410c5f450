//! The sync service's control connection, as a plan opens it.
//!
//! An executor that waits on file descriptors (tokio through mio, or a plain
//! `poll`) cannot wait on a `tg:plan/sync` pollable, so the host offers a TCP
//! connection to [`CONTROL_ADDRESS`] that becomes readable whenever one of the
//! instance's started operations got its reply or a subscription whose
//! `try_next` came back empty got a message. Its bytes mean nothing else:
//! [`drain`] reads them, and the caller re-checks what it waits for through
//! ordinary sync calls. The connection is on the control network, not the
//! data network: it is never shaped, faulted, or seen by other instances.
//!
//! This module opens and drains the connection; what waits on it is
//! [`crate::wait`] (blocking code) and the async clients.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};

/// Where the host listens for control connections (`tg:plan/sync`'s
/// `operation` documents the contract).
pub const CONTROL_ADDRESS: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 18, 0, 1), 5050);

/// Opens a control connection, non-blocking, ready to be polled for reading.
pub(crate) fn connect() -> io::Result<TcpStream> {
    let stream = TcpStream::connect(CONTROL_ADDRESS)?;
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// Reads what the connection has, without waiting; returns whether anything
/// was there, i.e. whether sync events were raised since the last drain.
pub(crate) fn drain(mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) -> io::Result<bool> {
    let mut buf = [0u8; 16];
    let mut raised = false;
    loop {
        match read(&mut buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the sync service closed its control connection",
                ));
            }
            Ok(_) => raised = true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(raised),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// [`drain`] over a std stream.
pub(crate) fn drain_std(mut stream: &TcpStream) -> io::Result<bool> {
    drain(|buf| stream.read(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_reads_until_it_would_block() {
        let mut reads = vec![Ok(1), Ok(1), Err(io::ErrorKind::WouldBlock.into())].into_iter();
        assert!(drain(|_| reads.next().unwrap()).unwrap());
        let mut reads = vec![Err::<usize, _>(io::Error::from(io::ErrorKind::WouldBlock))].into_iter();
        assert!(!drain(|_| reads.next().unwrap()).unwrap());
        assert!(drain(|_| Ok(0)).is_err(), "a closed connection is an error, not a silent stall");
    }
}
