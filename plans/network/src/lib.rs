//! `network`: instances talking through the simulated data network with
//! nothing but `std::net`, as code written for a real network would. Instance
//! 0 serves; the others find it by name (`instance-0`) and talk to it.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use tg_sdk::prelude::*;

/// The port instance 0 serves TCP on.
const TCP_PORT: u16 = 7000;
/// The port instance 0 serves UDP on.
const UDP_PORT: u16 = 7001;
/// Round trips per client: enough to see a steady round-trip time.
const ROUNDS: u32 = 10;

mod gridlock;
mod heartbeat;
mod mesh;
mod misuse;
mod parity;
mod round_trips;
mod shaping;
mod topology;
mod websocket;

fn manifest() -> Manifest {
    let manifest = Manifest::new("network")
        .case(
            TestCase::new("ping-pong", ping_pong)
                .describe("instance 0 echoes over TCP and UDP; the others ping it and record the round trip")
                .instances(2..=1000)
                .param(
                    Param::duration("latency", "0s")
                        .describe("one-way latency every instance configures first (0s: the unshaped default link)"),
                ),
        )
        .case(
            TestCase::new("many-connections", many_connections)
                .describe("instance 1 opens `connections` TCP connections to instance 0, one after another")
                .instances(2..=2)
                .param(Param::int("connections", 100).describe("connections to open")),
        )
        .case(
            TestCase::new("bulk", bulk)
                .describe(
                    "instance 1 streams `size` bytes to instance 0, which checks every byte and the end of stream",
                )
                .instances(2..=2)
                .param(Param::size("size", "4MiB").describe("bytes to send")),
        )
        .case(
            TestCase::new("silent", silent)
                .describe("instance 1 reads from a connection instance 0 never writes to: a deadlock")
                .instances(2..=2),
        )
        .case(
            TestCase::new("errors", errors)
                .describe("instance 1 meets a refused connect, an unreachable host and an unknown name")
                .instances(2..=2),
        )
        .case(
            TestCase::new("linux-parity", linux_parity)
                .describe("the probes host/tests/linux_parity.rs also runs on Linux; one message per probe")
                .instances(1..=1),
        );
    round_trips::cases(topology::cases(mesh::cases(heartbeat::cases(websocket::cases(misuse::cases(shaping::cases(
        gridlock::cases(manifest),
    )))))))
}

/// The server's TCP address, found by name through `wasi:sockets/ip-name-lookup`.
fn server(port: u16) -> tg_sdk::Result<std::net::SocketAddr> {
    let addr = ("instance-0", port).to_socket_addrs()?.next();
    addr.ok_or_else(|| "instance-0 resolved to no address".into())
}

fn ping_pong(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.params().duration("latency")?;
    if !latency.is_zero() {
        env.network().wait_initialized();
        let shape = LinkShape { latency, ..LinkShape::default() };
        shaping::configure_all(env, shape, RoutingPolicy::AllowAll, "ping-pong-configured")?;
    }
    let sync = env.sync();
    let clients = env.test_instance_count() - 1;
    if env.global_seq() == 0 {
        let listener = TcpListener::bind(("0.0.0.0", TCP_PORT))?;
        let udp = UdpSocket::bind(("0.0.0.0", UDP_PORT))?;
        sync.signal_entry("listening")?;
        for _ in 0..clients {
            let (mut stream, _) = listener.accept()?;
            let mut buf = [0u8; 4];
            for _ in 0..ROUNDS {
                stream.read_exact(&mut buf)?;
                stream.write_all(&buf)?;
            }
        }
        for _ in 0..clients * ROUNDS {
            let mut buf = [0u8; 64];
            let (n, from) = udp.recv_from(&mut buf)?;
            udp.send_to(&buf[..n], from)?;
        }
    } else {
        sync.barrier("listening", 1)?;
        let mut stream = TcpStream::connect(server(TCP_PORT)?)?;
        let mut tcp_rtt = Duration::ZERO;
        for round in 0..ROUNDS {
            let start = Instant::now();
            stream.write_all(&round.to_le_bytes())?;
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf)?;
            tcp_rtt += start.elapsed();
            ensure!(u32::from_le_bytes(buf) == round, "TCP echo {buf:?} for round {round}");
        }
        drop(stream);

        let udp = UdpSocket::bind(("0.0.0.0", 0))?;
        udp.connect(server(UDP_PORT)?)?;
        let mut udp_rtt = Duration::ZERO;
        for round in 0..ROUNDS {
            let start = Instant::now();
            udp.send(&round.to_le_bytes())?;
            let mut buf = [0u8; 64];
            let n = udp.recv(&mut buf)?;
            udp_rtt += start.elapsed();
            ensure!(buf[..n] == round.to_le_bytes(), "UDP echo {:?} for round {round}", &buf[..n]);
        }
        let (tcp_ns, udp_ns) = (tcp_rtt.as_nanos() / u128::from(ROUNDS), udp_rtt.as_nanos() / u128::from(ROUNDS));
        env.record_message(format!("tcp-rtt-ns={tcp_ns} udp-rtt-ns={udp_ns}"));
        env.r().point("tcp-rtt", tcp_ns as f64);
        env.r().point("udp-rtt", udp_ns as f64);
    }
    sync.signal_and_wait("done", u64::from(clients + 1))?;
    Ok(())
}

fn many_connections(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let connections: u32 = env.params().count("connections")?;
    if env.global_seq() == 0 {
        let listener = TcpListener::bind(("0.0.0.0", TCP_PORT))?;
        sync.signal_entry("listening")?;
        for _ in 0..connections {
            let (mut stream, _) = listener.accept()?;
            let mut buf = [0u8; 1];
            stream.read_exact(&mut buf)?;
            stream.write_all(&buf)?;
        }
    } else {
        sync.barrier("listening", 1)?;
        let addr = server(TCP_PORT)?;
        for i in 0..connections {
            let mut stream = TcpStream::connect(addr)?;
            stream.write_all(&[i as u8])?;
            let mut buf = [0u8; 1];
            stream.read_exact(&mut buf)?;
            ensure!(buf[0] == i as u8, "connection {i} echoed {}", buf[0]);
        }
    }
    sync.signal_and_wait("done", 2)?;
    Ok(())
}

/// The byte at `offset` of the bulk stream: a pattern no shift of it repeats.
fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// The `size` parameter of a case that sends it as one buffer (and keeps
/// what it receives in another): refused past what one allocation of a
/// wasm32 instance can be (2 GiB), rather than failing as a capacity
/// overflow deep in `Vec`. Below that, the memory limit is what stops it,
/// and says so.
pub(crate) fn buffer_size(env: &RunEnv) -> tg_sdk::Result<u64> {
    let size = env.params().size("size")?;
    ensure!(
        isize::try_from(size).is_ok(),
        "parameter `size` = {size} bytes: this case sends it as one buffer, and a wasm32 instance holds at most \
         {} bytes in one; give less (with --memory-limit above twice the size)",
        isize::MAX
    );
    Ok(size)
}

fn bulk(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let size = buffer_size(env)?;
    if env.global_seq() == 0 {
        let listener = TcpListener::bind(("0.0.0.0", TCP_PORT))?;
        sync.signal_entry("listening")?;
        let (mut stream, _) = listener.accept()?;
        let mut received = Vec::new();
        stream.read_to_end(&mut received)?;
        ensure!(received.len() as u64 == size, "received {} of {size} bytes", received.len());
        let wrong = (0..size).find(|&i| received[i as usize] != pattern(i));
        ensure!(wrong.is_none(), "byte {wrong:?} differs");
        env.r().counter("bytes-received", received.len() as f64);
    } else {
        sync.barrier("listening", 1)?;
        let mut stream = TcpStream::connect(server(TCP_PORT)?)?;
        let data: Vec<u8> = (0..size).map(pattern).collect();
        let start = Instant::now();
        stream.write_all(&data)?;
        stream.shutdown(std::net::Shutdown::Write)?;
        // Wait for the server to close: everything was read by then.
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest)?;
        env.record_message(format!("bulk-ns={}", start.elapsed().as_nanos()));
    }
    sync.signal_and_wait("done", 2)?;
    Ok(())
}

fn silent(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    if env.global_seq() == 0 {
        let listener = TcpListener::bind(("0.0.0.0", TCP_PORT))?;
        sync.signal_entry("listening")?;
        let _stream = listener.accept()?;
        // Hold the connection open and never write to it.
        sync.barrier("never", 3)?;
    } else {
        sync.barrier("listening", 1)?;
        let mut stream = TcpStream::connect(server(TCP_PORT)?)?;
        let mut buf = [0u8; 1];
        stream.read_exact(&mut buf)?;
    }
    Ok(())
}

fn errors(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    if env.global_seq() == 1 {
        // Nobody listens there: instance 0 answers the SYN with a reset.
        let refused = TcpStream::connect(server(9)?).map(|_| ()).map_err(|e| e.kind());
        ensure!(refused == Err(ErrorKind::ConnectionRefused), "connect to a closed port: {refused:?}");

        // In the data network but no instance has it: unreachable once ARP gives up.
        let start = Instant::now();
        let unreachable = TcpStream::connect(("16.0.0.200", 80)).map(|_| ()).map_err(|e| e.kind());
        let waited = start.elapsed();
        ensure!(unreachable == Err(ErrorKind::HostUnreachable), "connect to nobody: {unreachable:?}");
        ensure!(waited >= Duration::from_secs(3), "unreachable reported after {waited:?}, before ARP gives up");

        let unknown = ("instance-7", 80).to_socket_addrs().map(|_| ());
        ensure!(unknown.is_err(), "instance-7 of 2 resolved");
        env.record_message(format!("unreachable-after-ns={}", waited.as_nanos()));
    }
    sync.signal_and_wait("done", 2)?;
    Ok(())
}

/// Runs the shared socket probes against this instance and records each
/// outcome as a message `<probe>: <what it saw>`, for the host test to hold
/// against what the same probes see on Linux.
fn linux_parity(env: &RunEnv) -> tg_sdk::Result<()> {
    let target = parity::Target { here: env.network().data_address(), name: "instance-0" };
    for (name, probe) in parity::PROBES {
        env.record_message(format!("{name}: {}", probe(&target)));
    }
    Ok(())
}

tg_sdk::export_plan!(manifest);
