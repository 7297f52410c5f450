//! Waiting on several things at once from blocking code: sockets, sync
//! subscriptions and a timeout, with no `unsafe` in the plan.
//!
//! A read timeout serves one socket; a subscription is not a file
//! descriptor, so a plan that waits on several sockets, or listens to a topic
//! beside a socket, would otherwise call `libc::poll` itself. [`Wait`] does it: sockets are
//! polled as file descriptors, subscriptions through the sync service's
//! control connection ([`crate::sync::control`], opened only when a
//! subscription is waited on), and the timeout is virtual time like every
//! other.
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use std::time::Duration;
//! use tg_sdk::wait::Wait;
//!
//! # fn f(socket: &UdpSocket, peers: &tg_sdk::Subscription) -> std::io::Result<()> {
//! let ready = Wait::new().readable(socket).message(peers).timeout(Duration::from_millis(500)).wait()?;
//! if ready.readable(0) {
//!     let mut buf = [0u8; 1500];
//!     let (len, from) = socket.recv_from(&mut buf)?;
//! } else if ready.message(0) {
//!     let peer = peers.try_next();
//! } else {
//!     assert!(ready.timed_out());
//! }
//! # Ok(()) }
//! ```
//!
//! This module waits; it does not read what became ready.

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::sync::{Subscription, control};

/// What to wait for; build it, then [`wait`](Wait::wait).
#[derive(Default)]
pub struct Wait<'a> {
    sockets: Vec<(BorrowedFd<'a>, libc::c_short)>,
    subscriptions: Vec<&'a Subscription>,
    timeout: Option<Duration>,
}

/// What was ready when [`Wait::wait`] returned, by the order things were added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    sockets: Vec<bool>,
    messages: Vec<bool>,
}

impl Ready {
    /// Whether the `i`-th socket added (by [`Wait::readable`] or
    /// [`Wait::writable`]) is ready: a read or write would not block, or it failed.
    pub fn readable(&self, i: usize) -> bool {
        self.sockets.get(i).copied().unwrap_or(false)
    }

    /// The same as [`readable`](Self::readable), for a socket added by [`Wait::writable`].
    pub fn writable(&self, i: usize) -> bool {
        self.readable(i)
    }

    /// Whether the `i`-th subscription added has a message: its `try_next` returns one.
    pub fn message(&self, i: usize) -> bool {
        self.messages.get(i).copied().unwrap_or(false)
    }

    /// Whether nothing was ready before the timeout.
    pub fn timed_out(&self) -> bool {
        !self.sockets.iter().chain(&self.messages).any(|&r| r)
    }
}

impl<'a> Wait<'a> {
    /// Waits for nothing, forever, until told what.
    pub fn new() -> Self {
        Wait::default()
    }

    /// Waits until `socket` can be read without blocking (data, a datagram,
    /// a connection to accept, end of stream, or an error).
    pub fn readable(mut self, socket: &'a impl AsFd) -> Self {
        self.sockets.push((socket.as_fd(), libc::POLLIN));
        self
    }

    /// Waits until `socket` can be written without blocking (or a connect finished).
    pub fn writable(mut self, socket: &'a impl AsFd) -> Self {
        self.sockets.push((socket.as_fd(), libc::POLLOUT));
        self
    }

    /// Waits until `subscription` has a message.
    pub fn message(mut self, subscription: &'a Subscription) -> Self {
        self.subscriptions.push(subscription);
        self
    }

    /// Gives up after `timeout` of virtual time.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits until one of the things added is ready, or the timeout passes.
    pub fn wait(self) -> io::Result<Ready> {
        let control = match self.subscriptions.is_empty() {
            true => None,
            false => Some(control_connection()?),
        };
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut fds: Vec<libc::pollfd> = self
            .sockets
            .iter()
            .map(|(fd, events)| libc::pollfd { fd: fd.as_raw_fd(), events: *events, revents: 0 })
            .chain(control.map(|c| libc::pollfd { fd: c.as_raw_fd(), events: libc::POLLIN, revents: 0 }))
            .collect();
        loop {
            if let Some(control) = control {
                control::drain_std(control)?;
            }
            // Checking a subscription also asks the host to raise the control
            // connection when it gets a message, so none is missed below.
            let messages: Vec<bool> = self.subscriptions.iter().map(|s| s.poll_message()).collect();
            let any_message = messages.iter().any(|&m| m);
            let timeout = match (any_message, deadline) {
                (true, _) => Some(Duration::ZERO),
                (false, Some(deadline)) => Some(deadline.saturating_duration_since(Instant::now())),
                (false, None) => None,
            };
            poll(&mut fds, timeout)?;
            let sockets: Vec<bool> = fds[..self.sockets.len()].iter().map(|fd| fd.revents != 0).collect();
            let ready = Ready { sockets, messages };
            let expired = deadline.is_some_and(|d| Instant::now() >= d);
            if !ready.timed_out() || expired {
                return Ok(ready);
            }
            // Only the control connection woke us: look at the subscriptions again.
        }
    }
}

/// The instance's control connection for blocking waits, opened once.
fn control_connection() -> io::Result<&'static TcpStream> {
    static CONTROL: OnceLock<Result<TcpStream, String>> = OnceLock::new();
    CONTROL
        .get_or_init(|| control::connect().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|why| io::Error::other(format!("opening the sync service's control connection: {why}")))
}

/// `poll(2)` over `fds`, retried when interrupted; `None` waits forever.
fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    // Round up so that a sub-millisecond remainder still waits instead of spinning.
    let ms = timeout.map_or(-1, |t| t.as_nanos().div_ceil(1_000_000).min(libc::c_int::MAX as u128) as libc::c_int);
    loop {
        // SAFETY: `fds` is a valid, exclusively borrowed slice of `pollfd` for
        // the length given, and every descriptor in it is borrowed for `'a`
        // (or is the static control connection), so none is closed meanwhile.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        (a, b)
    }

    #[test]
    fn a_socket_with_a_datagram_is_readable() {
        let (a, b) = pair();
        a.send(b"x").unwrap();
        let ready = Wait::new().readable(&a).readable(&b).timeout(Duration::from_secs(5)).wait().unwrap();
        assert!(!ready.readable(0));
        assert!(ready.readable(1));
        assert!(!ready.timed_out());
    }

    #[test]
    fn nothing_ready_times_out() {
        let (a, _b) = pair();
        let ready = Wait::new().readable(&a).timeout(Duration::from_millis(1)).wait().unwrap();
        assert!(ready.timed_out());
        assert!(!ready.readable(0));
    }

    #[test]
    fn a_socket_is_writable_at_once() {
        let (a, _b) = pair();
        let ready = Wait::new().writable(&a).timeout(Duration::from_secs(5)).wait().unwrap();
        assert!(ready.writable(0));
    }
}
