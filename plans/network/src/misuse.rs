//! `misuse`: a plan that gets sockets wrong on purpose — binding a port twice,
//! connecting to addresses no connect can reach, using a stream after shutting
//! it down, configuring an impossible network — and checks that each mistake is the `std::io::Error` a program on
//! a real OS would see, not a crash of the instance or the host.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};

use tg_sdk::prelude::*;

/// The misuse case, added to `manifest`.
pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("misuse", misuse)
            .describe("bind twice, connect to invalid addresses, use a stream after shutdown: each is a std error")
            .instances(1..=1),
    )
}

/// Fails unless `result` is an error of `kind`; returns what was observed otherwise.
fn expect_kind<T>(what: &str, result: std::io::Result<T>, kind: ErrorKind) -> tg_sdk::Result<()> {
    match result {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => bail!("{what}: {e} ({:?}), expected {kind:?}", e.kind()),
        Ok(_) => bail!("{what}: succeeded, expected {kind:?}"),
    }
}

fn misuse(env: &RunEnv) -> tg_sdk::Result<()> {
    let me = env.network().data_address();

    // EADDRINUSE, for TCP and UDP alike.
    let listener = TcpListener::bind(("0.0.0.0", 7100))?;
    expect_kind("second TCP bind", TcpListener::bind(("0.0.0.0", 7100)), ErrorKind::AddrInUse)?;
    let _udp = UdpSocket::bind((me, 7101))?;
    expect_kind("second UDP bind", UdpSocket::bind((me, 7101)), ErrorKind::AddrInUse)?;

    // EADDRNOTAVAIL: an address this instance does not have.
    expect_kind("bind to another's address", TcpListener::bind(("16.0.0.99", 7102)), ErrorKind::AddrNotAvailable)?;

    // Linux's rules, where WASI calls both `invalid-argument`: nobody
    // listens on port 0, so that connect is refused; 0.0.0.0 is this host,
    // so that one reaches our own listener, over loopback.
    expect_kind("connect to port 0", TcpStream::connect((me, 0)), ErrorKind::ConnectionRefused)?;
    let to_self = TcpStream::connect(("0.0.0.0", 7100))?;
    let (accepted, _) = listener.accept()?;
    let local = accepted.local_addr()?;
    ensure!(local.ip().is_loopback(), "a connect to 0.0.0.0 arrived at {local}, not over loopback");
    drop((to_self, accepted));

    // Addresses no connect can reach. WASI makes these `invalid-argument`
    // (EINVAL) where Linux would try and fail later.
    expect_kind("connect to broadcast", TcpStream::connect(("255.255.255.255", 80)), ErrorKind::InvalidInput)?;
    expect_kind("connect to multicast", TcpStream::connect(("224.0.0.1", 80)), ErrorKind::InvalidInput)?;
    let udp = UdpSocket::bind(("0.0.0.0", 0))?;
    expect_kind("UDP send to port 0", udp.send_to(b"x", (me, 0)), ErrorKind::InvalidInput)?;

    // A stream used after shutting it down: reads see end of stream, writes
    // EPIPE, as on Linux.
    let mut client = TcpStream::connect((me, 7100))?;
    let (mut served, _) = listener.accept()?;
    served.write_all(b"ok")?;
    let mut buf = [0u8; 2];
    client.read_exact(&mut buf)?;
    client.shutdown(Shutdown::Write)?;
    expect_kind("write after shutdown(Write)", client.write_all(b"more"), ErrorKind::BrokenPipe)?;
    client.shutdown(Shutdown::Read)?;
    let after = client.read(&mut buf)?;
    ensure!(after == 0, "read after shutdown(Read) returned {after} bytes, expected end of stream");
    // The server sees the orderly end of the client's stream.
    let n = served.read(&mut buf)?;
    ensure!(n == 0, "server read {n} bytes after the client's shutdown");

    // A reset reaches the peer: the client's next read after the server is
    // gone with unread data is an error or end of stream, never a hang.
    drop(served);
    let gone = client.read(&mut buf);
    ensure!(matches!(gone, Ok(0)) || gone.is_err(), "read from a closed peer: {gone:?}");

    // A malformed network configuration is refused with where it is wrong,
    // and changes nothing.
    let bad = NetworkConfig { default: LinkShape { loss: 1.5, ..LinkShape::default() }, ..NetworkConfig::default() };
    let refused = env.network().configure(&bad).map_err(|e| e.message);
    ensure!(matches!(&refused, Err(m) if m.starts_with("default.loss")), "loss 1.5: {refused:?}");
    let bad = NetworkConfig {
        rules: vec![LinkRule { subnet: "16.0.0.0/33".into(), shape: LinkShape::default(), filter: Filter::Drop }],
        ..NetworkConfig::default()
    };
    let refused = env.network().configure(&bad).map_err(|e| e.message);
    ensure!(matches!(&refused, Err(m) if m.starts_with("rules[0].subnet")), "prefix /33: {refused:?}");
    let refused = env.network().set_path_filter(0, 5, Some(Filter::Drop)).map_err(|e| e.message);
    ensure!(matches!(&refused, Err(m) if m.starts_with("dst")), "path to instance 5 of 1: {refused:?}");

    env.record_message("every misuse was the expected error");
    Ok(())
}
