//! Probes of what plain `std::net` code observes from sockets, written once
//! and run twice: natively over Linux loopback (`host/tests/linux_parity.rs`
//! includes this file) and inside tg-wasm as the network plan's
//! `linux-parity` case. Each probe returns what a program would notice — an
//! `io::ErrorKind`, a byte count, whose address a socket reports — never raw
//! errno values, which differ between Linux and wasi-libc.
//!
//! This module owns the probes and the one piece of raw socket code they need
//! (binding before connecting, which `std::net` cannot do). It does not judge:
//! which differences are known, and why, is the test's business.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// Where the probes run.
pub struct Target {
    /// The address this machine or instance has and can reach itself at:
    /// `127.0.0.1` natively, the instance's data address in a plan.
    pub here: Ipv4Addr,
    /// A name that resolves to `here`, in lower case.
    pub name: &'static str,
}

/// A probe: what it saw, in words that are the same wherever it ran.
pub type Probe = fn(&Target) -> String;

/// Every probe, by name, in the order they run.
pub const PROBES: [(&str, Probe); 63] = [
    ("tcp-connect-refused", tcp_connect_refused),
    ("tcp-connect-timeout-refused", tcp_connect_timeout_refused),
    ("tcp-connect-timeout-refused-take-error", tcp_connect_timeout_refused_take_error),
    ("tcp-read-after-reset", tcp_read_after_reset),
    ("tcp-write-after-reset", tcp_write_after_reset),
    ("tcp-second-listener", tcp_second_listener),
    ("tcp-rebind-while-accepted-closes", tcp_rebind_while_accepted_closes),
    ("tcp-rebind-while-accepted-open", tcp_rebind_while_accepted_open),
    ("tcp-dial-from-listening-port", tcp_dial_from_listening_port),
    ("tcp-second-dial-from-listening-port", tcp_second_dial_from_listening_port),
    ("tcp-connected-local-address", tcp_connected_local_address),
    ("tcp-read-timeout", tcp_read_timeout),
    ("tcp-read-vectored-timeout", tcp_read_vectored_timeout),
    ("tcp-nonblocking-read-vectored", tcp_nonblocking_read_vectored),
    ("tcp-nonblocking-write-vectored-until-full", tcp_nonblocking_write_vectored_until_full),
    ("tcp-write-vectored-whole", tcp_write_vectored_whole),
    ("tcp-read-vectored-fills-all", tcp_read_vectored_fills_all),
    ("tcp-peek", tcp_peek),
    ("tcp-options", tcp_options),
    ("tcp-shutdown-write", tcp_shutdown_write),
    ("tcp-shutdown-read", tcp_shutdown_read),
    ("tcp-nonblocking-accept", tcp_nonblocking_accept),
    ("tcp-write-after-shutdown-write", tcp_write_after_shutdown_write),
    ("tcp-defaults", tcp_defaults),
    ("tcp-bind-on-a-udp-port", tcp_bind_on_a_udp_port),
    ("tcp-write-after-peer-close", tcp_write_after_peer_close),
    ("tcp-read-after-peer-close", tcp_read_after_peer_close),
    ("tcp-reads-coalesce", tcp_reads_coalesce),
    ("tcp-connect-timeout-ok", tcp_connect_timeout_ok),
    ("tcp-listener-on-any", tcp_listener_on_any),
    ("tcp-connect-to-any", tcp_connect_to_any),
    ("tcp-connect-port-zero", tcp_connect_port_zero),
    ("tcp-shutdown-twice", tcp_shutdown_twice),
    ("tcp-peer-address-after-reset", tcp_peer_address_after_reset),
    ("tcp-calls-after-reset", tcp_calls_after_reset),
    ("tcp-read-after-own-shutdown-write", tcp_read_after_own_shutdown_write),
    ("ttl-defaults", ttl_defaults),
    ("tcp-write-timeout", tcp_write_timeout),
    ("udp-connected-local-address", udp_connected_local_address),
    ("udp-unconnected-local-address", udp_unconnected_local_address),
    ("udp-refused-connected", udp_refused_connected),
    ("udp-refused-unconnected", udp_refused_unconnected),
    ("udp-read-timeout", udp_read_timeout),
    ("udp-peek-from", udp_peek_from),
    ("udp-empty-datagram", udp_empty_datagram),
    ("udp-send-too-large", udp_send_too_large),
    ("udp-connected-send-to-other", udp_connected_send_to_other),
    ("udp-bind-twice", udp_bind_twice),
    ("udp-nonblocking-recv", udp_nonblocking_recv),
    ("udp-recv-truncates", udp_recv_truncates),
    ("udp-send-unconnected", udp_send_unconnected),
    ("udp-send-to-self", udp_send_to_self),
    ("udp-connected-ignores-others", udp_connected_ignores_others),
    ("udp-options", udp_options),
    ("udp-send-to-any", udp_send_to_any),
    ("udp-send-to-port-zero", udp_send_to_port_zero),
    ("udp-peer-address-unconnected", udp_peer_address_unconnected),
    ("udp-recv-into-nothing", udp_recv_into_nothing),
    ("udp-connect-twice", udp_connect_twice),
    ("tcp-listener-ttl", tcp_listener_ttl),
    ("resolve-upper-case", resolve_upper_case),
    ("resolve-localhost", resolve_localhost),
    ("ipv6", ipv6),
];

/// `ok` or `err <ErrorKind>`.
fn kind<T>(r: &io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("err {:?}", e.kind()),
    }
}

/// A read's outcome: `ok <bytes>` or `err <ErrorKind>`.
fn read_outcome(r: io::Result<usize>) -> String {
    match r {
        Ok(n) => format!("ok {n}"),
        Err(e) => format!("err {:?}", e.kind()),
    }
}

/// A local address as `here`, `any` or the address itself, with `:port` only
/// when the port is not the one `port` names (`None`: any nonzero port).
fn describe(t: &Target, addr: io::Result<SocketAddr>, port: Option<u16>) -> String {
    let addr = match addr {
        Ok(SocketAddr::V4(a)) => a,
        other => return format!("{other:?}"),
    };
    let ip = match *addr.ip() {
        ip if ip == t.here => "here".to_string(),
        Ipv4Addr::UNSPECIFIED => "any".to_string(),
        ip => ip.to_string(),
    };
    match port {
        Some(p) if p == addr.port() => ip,
        None if addr.port() != 0 => ip,
        _ => format!("{ip}:{}", addr.port()),
    }
}

fn listener(t: &Target) -> io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind((t.here, 0))?;
    let a = l.local_addr()?;
    Ok((l, a))
}

/// An address of `t` where nobody listens: a port that was just free.
fn closed_port(t: &Target) -> io::Result<SocketAddr> {
    let (l, a) = listener(t)?;
    drop(l);
    Ok(a)
}

/// A connected pair: (client, accepted).
fn pair(t: &Target) -> io::Result<(TcpListener, TcpStream, TcpStream)> {
    let (l, a) = listener(t)?;
    let c = TcpStream::connect(a)?;
    let (s, _) = l.accept()?;
    Ok((l, c, s))
}

fn or_setup<F: FnOnce() -> io::Result<String>>(f: F) -> String {
    f().unwrap_or_else(|e| format!("setup failed: {e}"))
}

fn tcp_connect_refused(t: &Target) -> String {
    or_setup(|| Ok(kind(&TcpStream::connect(closed_port(t)?))))
}

fn tcp_connect_timeout_refused(t: &Target) -> String {
    or_setup(|| Ok(kind(&TcpStream::connect_timeout(&closed_port(t)?, Duration::from_secs(10)))))
}

/// `connect_timeout`, then the pending error it may have left unreported.
fn tcp_connect_timeout_refused_take_error(t: &Target) -> String {
    or_setup(|| {
        let connected = TcpStream::connect_timeout(&closed_port(t)?, Duration::from_secs(10));
        let checked = connected.and_then(|s| match s.take_error()? {
            Some(e) => Err(e),
            None => Ok(s),
        });
        Ok(kind(&checked))
    })
}

/// A pair whose server side closed with a byte unread, which resets the
/// connection; by the time this returns the reset has reached the client.
fn reset_pair(t: &Target) -> io::Result<TcpStream> {
    let (_l, mut c, mut s) = pair(t)?;
    c.write_all(b"ab")?;
    let mut one = [0u8; 1];
    s.read_exact(&mut one)?;
    drop(s);
    // On Linux loopback the reset is delivered inside close(); in a simulated
    // network it needs a moment of (virtual) time to travel.
    std::thread::sleep(Duration::from_millis(1));
    Ok(c)
}

fn tcp_read_after_reset(t: &Target) -> String {
    or_setup(|| {
        let mut c = reset_pair(t)?;
        let mut buf = [0u8; 8];
        let first = read_outcome(c.read(&mut buf));
        let write = read_outcome(c.write(b"x"));
        let second = read_outcome(c.read(&mut buf));
        Ok(format!("read {first}, write {write}, read {second}"))
    })
}

fn tcp_write_after_reset(t: &Target) -> String {
    or_setup(|| {
        let mut c = reset_pair(t)?;
        let mut buf = [0u8; 8];
        let first = read_outcome(c.write(b"x"));
        let second = read_outcome(c.write(b"x"));
        let read = read_outcome(c.read(&mut buf));
        Ok(format!("write {first}, write {second}, read {read}"))
    })
}

fn tcp_second_listener(t: &Target) -> String {
    or_setup(|| {
        let (_l, a) = listener(t)?;
        Ok(kind(&TcpListener::bind(a)))
    })
}

/// The listener is gone and the connection it accepted is closing (this side
/// closed first, the peer has not): Linux lets a new listener take the port.
fn tcp_rebind_while_accepted_closes(t: &Target) -> String {
    or_setup(|| {
        let (l, c, s) = pair(t)?;
        let a = l.local_addr()?;
        drop(s);
        drop(l);
        let again = TcpListener::bind(a);
        drop(c);
        Ok(kind(&again))
    })
}

/// The listener is gone, the connection it accepted is still open.
fn tcp_rebind_while_accepted_open(t: &Target) -> String {
    or_setup(|| {
        let (l, _c, _s) = pair(t)?;
        let a = l.local_addr()?;
        drop(l);
        Ok(kind(&TcpListener::bind(a)))
    })
}

/// What libp2p-tcp does with port reuse: its listener and its dials share one
/// port, every socket with `SO_REUSEADDR` (and `SO_REUSEPORT` where the
/// platform has it), the dial bound to the listener's address before it
/// connects. The peer must see the listening port as the dial's source, and
/// the listener must go on accepting.
fn tcp_dial_from_listening_port(t: &Target) -> String {
    or_setup(|| {
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
        let ours = raw::reusable_listener(any)?;
        let port = ours.local_addr()?.port();
        let (remote, remote_addr) = listener(t)?;
        let dial = raw::reusable_dial(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port), remote_addr);
        let dial = match dial {
            Ok(d) => d,
            Err(e) => return Ok(format!("dial err {:?}", e.kind())),
        };
        let (_accepted, seen) = remote.accept()?;
        let source = if seen.port() == port { "listening port".to_string() } else { format!("port {}", seen.port()) };
        // The listener still serves.
        let _incoming = TcpStream::connect(SocketAddrV4::new(t.here, port))?;
        let served = kind(&ours.accept());
        drop(dial);
        Ok(format!("dial ok from {source}, listener accept {served}"))
    })
}

/// libp2p-tcp dials a peer it is already connected to from its listening
/// port again: the second connection would repeat the first one's addresses,
/// which Linux refuses with `EADDRNOTAVAIL`, and libp2p-tcp then dials from
/// a fresh port instead.
fn tcp_second_dial_from_listening_port(t: &Target) -> String {
    or_setup(|| {
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
        let ours = raw::reusable_listener(any)?;
        let from = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, ours.local_addr()?.port());
        let (remote, remote_addr) = listener(t)?;
        let _first = raw::reusable_dial(from, remote_addr)?;
        let _accepted = remote.accept()?;
        Ok(kind(&raw::reusable_dial(from, remote_addr)))
    })
}

fn tcp_connected_local_address(t: &Target) -> String {
    or_setup(|| {
        let (_l, c, s) = pair(t)?;
        Ok(format!("client {}, accepted {}", describe(t, c.local_addr(), None), describe(t, s.local_addr(), None)))
    })
}

fn tcp_read_timeout(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, _s) = pair(t)?;
        let set = kind(&c.set_read_timeout(Some(Duration::from_millis(10))));
        let mut buf = [0u8; 1];
        Ok(format!("set {set}, read {}", read_outcome(c.read(&mut buf))))
    })
}

/// `read_vectored` (`readv`, which wasi-libc serves by `read`), with a
/// receive timeout and nothing to read.
fn tcp_read_vectored_timeout(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, _s) = pair(t)?;
        c.set_read_timeout(Some(Duration::from_millis(10)))?;
        let mut buf = [0u8; 1];
        Ok(read_outcome(c.read_vectored(&mut [IoSliceMut::new(&mut buf)])))
    })
}

fn tcp_nonblocking_read_vectored(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, _s) = pair(t)?;
        c.set_nonblocking(true)?;
        let mut buf = [0u8; 1];
        Ok(read_outcome(c.read_vectored(&mut [IoSliceMut::new(&mut buf)])))
    })
}

/// Vectored writes (tokio's and hyper's) to a peer that does not read, until
/// the socket is full: a non-blocking socket then says so.
fn tcp_nonblocking_write_vectored_until_full(t: &Target) -> String {
    /// Far above any send and receive buffer; a socket that takes this much
    /// without filling up is reported, not written to forever.
    const LIMIT: usize = 256 << 20;
    or_setup(|| {
        let (_l, mut c, _s) = pair(t)?;
        c.set_nonblocking(true)?;
        let chunk = [7u8; 64 << 10];
        let mut written = 0;
        while written < LIMIT {
            match c.write_vectored(&[IoSlice::new(&chunk)]) {
                Ok(n) => written += n,
                Err(e) => return Ok(format!("err {:?}", e.kind())),
            }
        }
        Ok(format!("ok, {LIMIT} bytes and never full"))
    })
}

/// A vectored write of a head and a body (hyper's response) sends both, and
/// the peer reads them in one go.
fn tcp_write_vectored_whole(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, mut s) = pair(t)?;
        let written = s.write_vectored(&[IoSlice::new(b"head:"), IoSlice::new(b""), IoSlice::new(b"body")])?;
        std::thread::sleep(Duration::from_millis(1));
        let mut buf = [0u8; 64];
        let n = c.read(&mut buf)?;
        Ok(format!("wrote {written}, read {:?}", String::from_utf8_lossy(&buf[..n])))
    })
}

/// A vectored read fills its buffers in order with what has arrived.
fn tcp_read_vectored_fills_all(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, mut s) = pair(t)?;
        s.write_all(b"0123456789")?;
        std::thread::sleep(Duration::from_millis(1));
        let (mut a, mut b) = ([0u8; 4], [0u8; 8]);
        let n = c.read_vectored(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut []), IoSliceMut::new(&mut b)])?;
        Ok(format!(
            "read {n}: {:?} {:?}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b[..n.saturating_sub(4)])
        ))
    })
}

/// A blocking `peek` waits for bytes and leaves them for the next read.
fn tcp_peek(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, mut s) = pair(t)?;
        s.write_all(b"abc")?;
        let mut buf = [0u8; 8];
        let peeked = read_outcome(c.peek(&mut buf));
        let read = read_outcome(c.read(&mut buf));
        Ok(format!("peek {peeked}, read {read}"))
    })
}

/// `peek_from` waits for a datagram and leaves it for the next receive.
fn udp_peek_from(t: &Target) -> String {
    or_setup(|| {
        let a = UdpSocket::bind((t.here, 0))?;
        let b = UdpSocket::bind((t.here, 0))?;
        b.send_to(b"abc", a.local_addr()?)?;
        let mut buf = [0u8; 8];
        let peeked = match a.peek_from(&mut buf) {
            Ok((n, from)) => {
                format!("ok {n} from {}", if Some(from) == b.local_addr().ok() { "peer" } else { "elsewhere" })
            }
            Err(e) => format!("err {:?}", e.kind()),
        };
        let recv = read_outcome(a.recv_from(&mut buf).map(|(n, _)| n));
        Ok(format!("peek {peeked}, recv {recv}"))
    })
}

/// A datagram of no bytes is a datagram: peeked at, then received.
fn udp_empty_datagram(t: &Target) -> String {
    or_setup(|| {
        let a = UdpSocket::bind((t.here, 0))?;
        let b = UdpSocket::bind((t.here, 0))?;
        b.send_to(&[], a.local_addr()?)?;
        b.send_to(b"after", a.local_addr()?)?;
        let mut buf = [0u8; 8];
        let peeked = read_outcome(a.peek_from(&mut buf).map(|(n, _)| n));
        let first = read_outcome(a.recv_from(&mut buf).map(|(n, _)| n));
        let second = read_outcome(a.recv_from(&mut buf).map(|(n, _)| n));
        Ok(format!("peek {peeked}, recv {first}, recv {second}"))
    })
}

/// A datagram larger than UDP can carry.
fn udp_send_too_large(t: &Target) -> String {
    or_setup(|| {
        let a = UdpSocket::bind((t.here, 0))?;
        let b = UdpSocket::bind((t.here, 0))?;
        Ok(kind(&b.send_to(&vec![0u8; 70_000], a.local_addr()?)))
    })
}

/// A connected socket sending to someone else.
fn udp_connected_send_to_other(t: &Target) -> String {
    or_setup(|| {
        let peer = UdpSocket::bind((t.here, 0))?;
        let other = UdpSocket::bind((t.here, 0))?;
        let u = UdpSocket::bind((t.here, 0))?;
        u.connect(peer.local_addr()?)?;
        Ok(kind(&u.send_to(b"x", other.local_addr()?)))
    })
}

/// `accept` on a non-blocking listener with nobody waiting.
fn tcp_nonblocking_accept(t: &Target) -> String {
    or_setup(|| {
        let (l, _) = listener(t)?;
        l.set_nonblocking(true)?;
        Ok(kind(&l.accept()))
    })
}

/// This side shut its reading half: reads see end of stream at once.
fn tcp_shutdown_read(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, _s) = pair(t)?;
        c.shutdown(std::net::Shutdown::Read)?;
        let mut buf = [0u8; 8];
        Ok(read_outcome(c.read(&mut buf)))
    })
}

/// TCP and UDP ports are separate spaces.
fn tcp_bind_on_a_udp_port(t: &Target) -> String {
    or_setup(|| {
        let u = UdpSocket::bind((t.here, 0))?;
        Ok(kind(&TcpListener::bind(u.local_addr()?)))
    })
}

fn udp_bind_twice(t: &Target) -> String {
    or_setup(|| {
        let u = UdpSocket::bind((t.here, 0))?;
        Ok(kind(&UdpSocket::bind(u.local_addr()?)))
    })
}

fn udp_nonblocking_recv(t: &Target) -> String {
    or_setup(|| {
        let u = UdpSocket::bind((t.here, 0))?;
        u.set_nonblocking(true)?;
        let mut buf = [0u8; 8];
        Ok(read_outcome(u.recv(&mut buf)))
    })
}

/// A datagram bigger than the buffer: the buffer's worth, the rest gone.
fn udp_recv_truncates(t: &Target) -> String {
    or_setup(|| {
        let a = UdpSocket::bind((t.here, 0))?;
        let b = UdpSocket::bind((t.here, 0))?;
        b.send_to(b"0123456789", a.local_addr()?)?;
        b.send_to(b"ab", a.local_addr()?)?;
        let mut small = [0u8; 4];
        let first = read_outcome(a.recv(&mut small));
        let mut buf = [0u8; 16];
        let second = read_outcome(a.recv(&mut buf));
        Ok(format!("recv {first} ({}), recv {second}", String::from_utf8_lossy(&small)))
    })
}

fn udp_send_unconnected(t: &Target) -> String {
    or_setup(|| {
        let u = UdpSocket::bind((t.here, 0))?;
        Ok(kind(&u.send(b"x")))
    })
}

/// Writes after this side shut its writing half.
fn tcp_write_after_shutdown_write(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, _s) = pair(t)?;
        c.shutdown(std::net::Shutdown::Write)?;
        let again = kind(&c.shutdown(std::net::Shutdown::Write));
        Ok(format!("shutdown again {again}, write {}", read_outcome(c.write(b"x"))))
    })
}

/// What a fresh connection reports before anything is set.
fn tcp_defaults(t: &Target) -> String {
    or_setup(|| {
        let (_l, c, s) = pair(t)?;
        let error = c.take_error().map(|e| e.map(|e| e.kind()));
        Ok(format!(
            "nodelay {:?}, error {error:?}, peer of accepted {}",
            c.nodelay().ok(),
            describe(t, s.peer_addr(), None)
        ))
    })
}

/// The peer closed in order, with nothing unread: the first write goes, the
/// peer's reset answers it, and the next write fails.
fn tcp_write_after_peer_close(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, s) = pair(t)?;
        drop(s);
        std::thread::sleep(Duration::from_millis(1));
        let first = read_outcome(c.write(b"x"));
        std::thread::sleep(Duration::from_millis(1));
        let second = read_outcome(c.write(b"x"));
        let mut buf = [0u8; 8];
        let read = read_outcome(c.read(&mut buf));
        Ok(format!("write {first}, write {second}, read {read}"))
    })
}

/// The peer sent and closed: what it sent is read, then end of stream.
fn tcp_read_after_peer_close(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, mut s) = pair(t)?;
        s.write_all(b"last words")?;
        drop(s);
        std::thread::sleep(Duration::from_millis(1));
        let mut buf = [0u8; 64];
        let first = read_outcome(c.read(&mut buf));
        let second = read_outcome(c.read(&mut buf));
        Ok(format!("read {first}, read {second}"))
    })
}

/// Small writes wait in the receiver's buffer and come out in one read.
fn tcp_reads_coalesce(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, mut s) = pair(t)?;
        for i in 0..10u8 {
            s.write_all(&[i])?;
        }
        std::thread::sleep(Duration::from_millis(1));
        let mut buf = [0u8; 64];
        Ok(read_outcome(c.read(&mut buf)))
    })
}

fn udp_send_to_self(t: &Target) -> String {
    or_setup(|| {
        let u = UdpSocket::bind((t.here, 0))?;
        u.send_to(b"me", u.local_addr()?)?;
        let mut buf = [0u8; 8];
        Ok(match u.recv_from(&mut buf) {
            Ok((n, from)) => {
                format!("ok {n} from {}", if Some(from) == u.local_addr().ok() { "itself" } else { "elsewhere" })
            }
            Err(e) => format!("err {:?}", e.kind()),
        })
    })
}

fn tcp_connect_timeout_ok(t: &Target) -> String {
    or_setup(|| {
        let (_l, a) = listener(t)?;
        Ok(kind(&TcpStream::connect_timeout(&a, Duration::from_secs(10))))
    })
}

fn tcp_listener_on_any(t: &Target) -> String {
    or_setup(|| {
        let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        Ok(describe(t, l.local_addr(), None))
    })
}

/// Blocking writes to a peer that does not read, with a send timeout: they
/// fill the buffers, then one waits that long and fails.
fn tcp_write_timeout(t: &Target) -> String {
    /// As in `tcp_nonblocking_write_vectored_until_full`.
    const LIMIT: usize = 256 << 20;
    or_setup(|| {
        let (_l, mut c, _s) = pair(t)?;
        c.set_write_timeout(Some(Duration::from_millis(10)))?;
        let chunk = [7u8; 64 << 10];
        let mut written = 0;
        while written < LIMIT {
            match c.write(&chunk) {
                Ok(n) => written += n,
                Err(e) => return Ok(format!("err {:?}", e.kind())),
            }
        }
        Ok(format!("ok, {LIMIT} bytes and never full"))
    })
}

/// A connected socket hears only its peer.
fn udp_connected_ignores_others(t: &Target) -> String {
    or_setup(|| {
        let peer = UdpSocket::bind((t.here, 0))?;
        let other = UdpSocket::bind((t.here, 0))?;
        let u = UdpSocket::bind((t.here, 0))?;
        u.connect(peer.local_addr()?)?;
        other.send_to(b"stranger", u.local_addr()?)?;
        peer.send_to(b"peer", u.local_addr()?)?;
        u.set_read_timeout(Some(Duration::from_millis(10)))?;
        let mut buf = [0u8; 16];
        let first = read_outcome(u.recv(&mut buf));
        let second = read_outcome(u.recv(&mut buf));
        Ok(format!("recv {first}, recv {second}"))
    })
}

/// Options a program sets and reads back.
/// A program that connects to its listener's `local_addr()`, the
/// unspecified address, reaches it: Linux takes 0.0.0.0 for this host.
fn tcp_connect_to_any(_t: &Target) -> String {
    or_setup(|| {
        let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        let port = l.local_addr()?.port();
        let c = TcpStream::connect((Ipv4Addr::UNSPECIFIED, port));
        // Linux takes the unspecified address for loopback when the dialer is bound to none.
        let accepted =
            c.as_ref().ok().map(|_| l.accept().and_then(|(s, _)| s.local_addr()).map(|a| a.ip().is_loopback()));
        Ok(format!("connect {}, accepted on loopback: {accepted:?}", kind(&c)))
    })
}

/// Nobody listens on port 0: the connection is refused.
fn tcp_connect_port_zero(t: &Target) -> String {
    kind(&TcpStream::connect((t.here, 0)))
}

/// A datagram to the unspecified address comes to this host, from the
/// address the sender is bound to.
fn udp_send_to_any(t: &Target) -> String {
    or_setup(|| {
        let server = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        server.set_read_timeout(Some(Duration::from_millis(100)))?;
        let port = server.local_addr()?.port();
        let client = UdpSocket::bind((t.here, 0))?;
        let sent = client.send_to(b"x", (Ipv4Addr::UNSPECIFIED, port));
        let mut buf = [0u8; 8];
        let got = server.recv_from(&mut buf).map(|(n, from)| (n, describe(t, Ok(from), None)));
        Ok(format!("send {}, received {:?}", kind(&sent), got.map_err(|e| e.kind())))
    })
}

fn udp_send_to_port_zero(t: &Target) -> String {
    or_setup(|| {
        let u = UdpSocket::bind((t.here, 0))?;
        Ok(kind(&u.send_to(b"x", (t.here, 0))))
    })
}

fn udp_peer_address_unconnected(t: &Target) -> String {
    or_setup(|| {
        let u = UdpSocket::bind((t.here, 0))?;
        Ok(kind(&u.peer_addr()))
    })
}

fn tcp_shutdown_twice(t: &Target) -> String {
    or_setup(|| {
        let (_l, c, _s) = pair(t)?;
        let first = c.shutdown(std::net::Shutdown::Both);
        let second = c.shutdown(std::net::Shutdown::Both);
        Ok(format!("{}, then {}", kind(&first), kind(&second)))
    })
}

fn tcp_peer_address_after_reset(t: &Target) -> String {
    or_setup(|| {
        let mut c = reset_pair(t)?;
        let mut buf = [0u8; 8];
        let read = c.read(&mut buf);
        Ok(format!("read {}, then peer {}", kind(&read), kind(&c.peer_addr())))
    })
}

/// What a program may still ask of a connection the peer reset.
fn tcp_calls_after_reset(t: &Target) -> String {
    or_setup(|| {
        let mut c = reset_pair(t)?;
        let mut buf = [0u8; 8];
        let _ = c.read(&mut buf);
        let local = describe(t, c.local_addr(), None);
        let ttl = c.set_ttl(9).and_then(|()| c.ttl());
        let nodelay = c.set_nodelay(true).and_then(|()| c.nodelay());
        // A multiple of any kernel tick: Linux rounds a timeout up to whole ticks.
        let timeout = c.set_read_timeout(Some(Duration::from_millis(100))).and_then(|()| c.read_timeout());
        let shutdown = c.shutdown(std::net::Shutdown::Write);
        let error = c.take_error().map(|e| e.map(|e| e.kind()));
        Ok(format!(
            "local {local}, ttl {:?}, nodelay {:?}, timeout {:?}, shutdown {}, error {error:?}",
            ttl.map_err(|e| e.kind()),
            nodelay.map_err(|e| e.kind()),
            timeout.map_err(|e| e.kind()),
            kind(&shutdown)
        ))
    })
}

/// A half-closed stream still reads what the peer sends.
fn tcp_read_after_own_shutdown_write(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, mut s) = pair(t)?;
        c.shutdown(std::net::Shutdown::Write)?;
        let mut buf = [0u8; 8];
        let eof = s.read(&mut buf)?;
        s.write_all(b"back")?;
        Ok(format!("peer read {eof}, then {}", read_outcome(c.read(&mut buf))))
    })
}

fn ttl_defaults(t: &Target) -> String {
    or_setup(|| {
        let (_l, c, _s) = pair(t)?;
        let u = UdpSocket::bind((t.here, 0))?;
        Ok(format!("tcp {:?}, udp {:?}", c.ttl().map_err(|e| e.kind()), u.ttl().map_err(|e| e.kind())))
    })
}

/// A receive into no room takes the datagram and returns 0, as Linux's does.
fn udp_recv_into_nothing(t: &Target) -> String {
    or_setup(|| {
        let a = UdpSocket::bind((t.here, 0))?;
        let b = UdpSocket::bind((t.here, 0))?;
        b.send_to(b"abc", a.local_addr()?)?;
        b.send_to(b"de", a.local_addr()?)?;
        std::thread::sleep(Duration::from_millis(1));
        let empty = a.recv_from(&mut []).map(|(n, _)| n);
        let mut buf = [0u8; 8];
        let next = a.recv_from(&mut buf).map(|(n, _)| n);
        Ok(format!("{empty:?}, then {next:?}"))
    })
}

/// Connecting a connected UDP socket again moves it to the new peer.
fn udp_connect_twice(t: &Target) -> String {
    or_setup(|| {
        let (a, b) = (UdpSocket::bind((t.here, 0))?, UdpSocket::bind((t.here, 0))?);
        b.set_read_timeout(Some(Duration::from_millis(100)))?;
        let u = UdpSocket::bind((t.here, 0))?;
        u.connect(a.local_addr()?)?;
        let again = u.connect(b.local_addr()?);
        let sent = u.send(b"x");
        let mut buf = [0u8; 4];
        let got = b.recv(&mut buf).map_err(|e| e.kind());
        Ok(format!("connect {}, send {}, new peer got {got:?}, peer {}", kind(&again), kind(&sent), {
            let p = u.peer_addr();
            let b = b.local_addr()?;
            if p.as_ref().ok() == Some(&b) { "the new one".to_string() } else { format!("{p:?}") }
        }))
    })
}

fn tcp_listener_ttl(t: &Target) -> String {
    or_setup(|| {
        let (l, _) = listener(t)?;
        let ttl = l.set_ttl(21).and_then(|()| l.ttl());
        Ok(format!("{:?}", ttl.map_err(|e| e.kind())))
    })
}

fn tcp_options(t: &Target) -> String {
    or_setup(|| {
        let (_l, c, _s) = pair(t)?;
        let nodelay = c.set_nodelay(true).and_then(|()| c.nodelay());
        let ttl = c.set_ttl(17).and_then(|()| c.ttl());
        Ok(format!("nodelay {nodelay:?}, ttl {ttl:?}"))
    })
}

fn udp_options(t: &Target) -> String {
    or_setup(|| {
        let u = UdpSocket::bind((t.here, 0))?;
        let broadcast = u.set_broadcast(true).and_then(|()| u.broadcast()).map_err(|e| e.kind());
        let ttl = u.set_ttl(17).and_then(|()| u.ttl()).map_err(|e| e.kind());
        Ok(format!("broadcast {broadcast:?}, ttl {ttl:?}"))
    })
}

/// The peer shut its writing half: reads see end of stream, writes still go.
fn tcp_shutdown_write(t: &Target) -> String {
    or_setup(|| {
        let (_l, mut c, s) = pair(t)?;
        s.shutdown(std::net::Shutdown::Write)?;
        let mut buf = [0u8; 8];
        let read = read_outcome(c.read(&mut buf));
        let write = read_outcome(c.write(b"x"));
        Ok(format!("read {read}, write {write}"))
    })
}

fn udp_connected_local_address(t: &Target) -> String {
    or_setup(|| {
        let peer = UdpSocket::bind((t.here, 0))?;
        let u = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        u.connect(peer.local_addr()?)?;
        Ok(describe(t, u.local_addr(), None))
    })
}

fn udp_unconnected_local_address(t: &Target) -> String {
    or_setup(|| {
        let u = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        Ok(describe(t, u.local_addr(), None))
    })
}

/// A free UDP port of `t`.
fn closed_udp_port(t: &Target) -> io::Result<SocketAddr> {
    let u = UdpSocket::bind((t.here, 0))?;
    u.local_addr()
}

fn udp_refused_connected(t: &Target) -> String {
    or_setup(|| {
        let closed = closed_udp_port(t)?;
        let u = UdpSocket::bind((t.here, 0))?;
        u.connect(closed)?;
        let sent = kind(&u.send(b"x"));
        let mut buf = [0u8; 8];
        let recv = read_outcome(u.recv(&mut buf));
        let again = kind(&u.send(b"x"));
        Ok(format!("send {sent}, recv {recv}, send {again}"))
    })
}

/// An unconnected socket hears nothing of the refusal: the next datagram it
/// receives is a peer's answer.
fn udp_refused_unconnected(t: &Target) -> String {
    or_setup(|| {
        let closed = closed_udp_port(t)?;
        let echo = UdpSocket::bind((t.here, 0))?;
        let echo_addr = echo.local_addr()?;
        let u = UdpSocket::bind((t.here, 0))?;
        let sent = kind(&u.send_to(b"x", closed));
        u.send_to(b"ping", echo_addr)?;
        let mut buf = [0u8; 8];
        let (n, from) = echo.recv_from(&mut buf)?;
        echo.send_to(&buf[..n], from)?;
        let recv = match u.recv_from(&mut buf) {
            Ok((n, from)) if from == echo_addr => format!("ok {n} from the peer"),
            other => format!("{other:?}"),
        };
        Ok(format!("send {sent}, recv {recv}"))
    })
}

/// A receive with nothing to receive gives up at the read timeout.
fn udp_read_timeout(t: &Target) -> String {
    or_setup(|| {
        let u = UdpSocket::bind((t.here, 0))?;
        let set = kind(&u.set_read_timeout(Some(Duration::from_millis(10))));
        let got = kind(&u.read_timeout());
        let mut buf = [0u8; 8];
        let recv = read_outcome(u.recv_from(&mut buf).map(|(n, _)| n));
        Ok(format!("set {set}, get {got}, recv {recv}"))
    })
}

/// `localhost` is the loopback address, as every resolver has it.
fn resolve_localhost(_t: &Target) -> String {
    match ("localhost", 80).to_socket_addrs() {
        Ok(addrs) => {
            let v4: Vec<_> = addrs.filter(|a| a.is_ipv4()).map(|a| a.ip().to_string()).collect();
            format!("{v4:?}")
        }
        Err(e) => format!("err {:?}", e.kind()),
    }
}

fn resolve_upper_case(t: &Target) -> String {
    let name = t.name.to_ascii_uppercase();
    match (name.as_str(), 80).to_socket_addrs() {
        Ok(mut addrs) => {
            if addrs.any(|a| a.ip() == t.here) {
                "here".into()
            } else {
                "resolved elsewhere".into()
            }
        }
        Err(e) => format!("err {:?}", e.kind()),
    }
}

fn ipv6(_t: &Target) -> String {
    let bind_any = kind(&TcpListener::bind("[::]:0"));
    let udp_loopback = kind(&UdpSocket::bind("[::1]:0"));
    format!("tcp [::] {bind_any}, udp [::1] {udp_loopback}")
}

/// Sockets configured before they bind, which `std::net` cannot do: the
/// C library's own calls, with each platform's constants.
mod raw {
    use std::io;
    use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream};
    use std::os::fd::{FromRawFd, OwnedFd};

    #[cfg(target_os = "wasi")]
    mod sys {
        pub const AF_INET: i32 = 1;
        pub const SOCK_STREAM: i32 = 6;
        pub const SOL_SOCKET: i32 = 0x7fff_ffff;
        pub const SO_REUSEADDR: i32 = 2;
        /// wasi-libc has no `SO_REUSEPORT`; libp2p-tcp sets it only on Unix.
        pub const REUSE_PORT: Option<i32> = None;

        /// wasi-libc's `sockaddr_in`: its first field is aligned to `__BIGGEST_ALIGNMENT__`.
        #[repr(C, align(16))]
        pub struct SockaddrIn {
            pub family: u16,
            pub port: [u8; 2],
            pub addr: [u8; 4],
        }
    }

    #[cfg(target_os = "linux")]
    mod sys {
        pub const AF_INET: i32 = 2;
        pub const SOCK_STREAM: i32 = 1;
        pub const SOL_SOCKET: i32 = 1;
        pub const SO_REUSEADDR: i32 = 2;
        pub const REUSE_PORT: Option<i32> = Some(15);

        #[repr(C)]
        pub struct SockaddrIn {
            pub family: u16,
            pub port: [u8; 2],
            pub addr: [u8; 4],
            pub zero: [u8; 8],
        }
    }

    unsafe extern "C" {
        fn socket(domain: i32, ty: i32, protocol: i32) -> i32;
        fn setsockopt(fd: i32, level: i32, name: i32, value: *const std::ffi::c_void, len: u32) -> i32;
        fn bind(fd: i32, addr: *const sys::SockaddrIn, len: u32) -> i32;
        fn listen(fd: i32, backlog: i32) -> i32;
        fn connect(fd: i32, addr: *const sys::SockaddrIn, len: u32) -> i32;
    }

    fn check(r: i32) -> io::Result<i32> {
        if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
    }

    fn sockaddr(a: SocketAddrV4) -> sys::SockaddrIn {
        sys::SockaddrIn {
            family: sys::AF_INET as u16,
            port: a.port().to_be_bytes(),
            addr: a.ip().octets(),
            #[cfg(target_os = "linux")]
            zero: [0; 8],
        }
    }

    /// A TCP socket with address (and, where there is one, port) reuse, bound to `local`.
    fn reusable_bound(local: SocketAddrV4) -> io::Result<OwnedFd> {
        // SAFETY: plain C calls on a descriptor this function owns; every
        // pointer passed lives across its call and has the size given.
        unsafe {
            let fd = OwnedFd::from_raw_fd(check(socket(sys::AF_INET, sys::SOCK_STREAM, 0))?);
            let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
            let on: i32 = 1;
            let on_ptr = (&raw const on).cast();
            check(setsockopt(raw, sys::SOL_SOCKET, sys::SO_REUSEADDR, on_ptr, 4))?;
            if let Some(reuse_port) = sys::REUSE_PORT {
                check(setsockopt(raw, sys::SOL_SOCKET, reuse_port, on_ptr, 4))?;
            }
            let addr = sockaddr(local);
            check(bind(raw, &addr, size_of::<sys::SockaddrIn>() as u32))?;
            Ok(fd)
        }
    }

    /// A listener on `local` that shares its port with dials.
    pub fn reusable_listener(local: SocketAddrV4) -> io::Result<TcpListener> {
        let fd = reusable_bound(local)?;
        // SAFETY: `fd` is a bound socket this function owns.
        check(unsafe { listen(std::os::fd::AsRawFd::as_raw_fd(&fd), 128) })?;
        Ok(TcpListener::from(fd))
    }

    /// A connection to `remote` from `local`, bound before it connects.
    pub fn reusable_dial(local: SocketAddrV4, remote: SocketAddr) -> io::Result<TcpStream> {
        let SocketAddr::V4(remote) = remote else { return Err(io::ErrorKind::Unsupported.into()) };
        let fd = reusable_bound(local)?;
        let addr = sockaddr(remote);
        // SAFETY: `fd` is a bound socket this function owns; `addr` outlives the call.
        check(unsafe { connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr, size_of::<sys::SockaddrIn>() as u32) })?;
        Ok(TcpStream::from(fd))
    }
}
