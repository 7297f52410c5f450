//! Cases for the network beyond Testground's flat /16, each measured from
//! inside the plan with plain `std::net`: an address the plan chooses
//! (`chosen-address`), stateful inbound blocking (`blocking-inbound`), round
//! trips across regions (`region-rtt`) and a dual-stack `[::]` listener
//! (`dual-stack`). NAT traversal has its own plan, `plans/nat`.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use tg_sdk::prelude::*;

/// The port the cases' servers listen on.
const PORT: u16 = 7300;

/// The topology cases, added to `manifest`.
pub fn cases(manifest: Manifest) -> Manifest {
    manifest
        .case(
            TestCase::new("chosen-address", chosen_address)
                .describe(
                    "instance 0 takes `address`; instance 1 connects to it by address and by name, then tries to \
                     take it too, an address outside the data network and a malformed one (one message each)",
                )
                .instances(2..=2)
                .param(Param::string("address", "16.0.7.7").describe("the address instance 0 takes")),
        )
        .case(
            TestCase::new("blocking-inbound", blocking_inbound)
                .describe(
                    "instance 0 blocks unsolicited inbound traffic (`filter`, set by the plan unless `from-plan` is \
                     false and the composition does); it connects out to instance 1 and gets its echo, while \
                     instance 1's connection to it is dropped or refused",
                )
                .instances(2..=2)
                .param(Param::string("filter", "drop").describe("drop or reject"))
                .param(
                    Param::bool("from-plan", true).describe("set the filter from the plan (else the composition has)"),
                ),
        )
        .case(
            TestCase::new("region-rtt", region_rtt)
                .describe(
                    "every instance measures a UDP round trip to every other, one at a time, and records it as a \
                     message `rtt <from group> <to group> <ns>`",
                )
                .instances(2..=64),
        )
        .case(
            TestCase::new("dual-stack", dual_stack)
                .describe(
                    "instance 0 listens on [::]; instance 1 connects over IPv4 and instance 2 over IPv6 (run with \
                     --ipv6); instance 0 records each peer's address as it sees it",
                )
                .instances(3..=3),
        )
}

fn chosen_address(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let net = env.network();
    let address: Ipv4Addr = env.string_param("address").parse()?;
    if env.global_seq() == 0 {
        net.set_address(address)?;
        ensure!(net.data_address() == address, "data_address() is {} after moving", net.data_address());
        let listener = TcpListener::bind(("0.0.0.0", PORT))?;
        sync.signal_entry("moved")?;
        for _ in 0..2 {
            let (mut s, _) = listener.accept()?;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf)?;
            s.write_all(&buf)?;
        }
    } else {
        sync.barrier("moved", 1)?;
        let by_name = ("instance-0", PORT).to_socket_addrs()?.next().ok_or("instance-0 resolved to nothing")?;
        env.record_message(format!("instance-0 resolves to {}", by_name.ip()));
        for (how, to) in [("address", SocketAddr::from((address, PORT))), ("name", by_name)] {
            let mut s = TcpStream::connect(to)?;
            s.write_all(b"ping")?;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf)?;
            env.record_message(format!("connected by {how} to {to}"));
        }
        for attempt in [address.to_string(), "8.8.8.8".into(), "16.0.7.777".into()] {
            let ip: Result<IpAddr, _> = attempt.parse();
            let refused = match ip {
                Ok(ip) => net.set_address(ip).err().map(|e| e.message),
                // Not an address at all: the host is asked with the text, as the WIT takes it.
                Err(_) => tg_sdk::bindings::tg::plan::network::set_address(&attempt)
                    .err()
                    .map(|e| tg_sdk::network::NetworkError::from(e).message),
            };
            env.record_message(format!("taking {attempt}: {}", refused.unwrap_or_else(|| "accepted".into())));
        }
    }
    sync.signal_and_wait("done", 2)?;
    Ok(())
}

fn blocking_inbound(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let filter = match env.string_param("filter").as_str() {
        "drop" => Filter::Drop,
        "reject" => Filter::Reject,
        other => bail!("filter {other:?} is not drop or reject"),
    };
    let listener = TcpListener::bind(("0.0.0.0", PORT))?;
    if env.global_seq() == 0 {
        if env.bool_param("from-plan") {
            env.network().set_inbound_filter(filter)?;
        }
        sync.signal_and_wait("ready", 2)?;
        // Out: connect to instance 1 and get its echo back through the filter.
        let mut s = TcpStream::connect(("instance-1", PORT))?;
        s.write_all(b"ping")?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf)?;
        ensure!(&buf == b"ping", "the echo came back as {buf:?}");
        env.record_message("outbound: connected and echoed");
        sync.signal_and_wait("done", 2)?;
    } else {
        sync.signal_and_wait("ready", 2)?;
        let (mut s, _) = listener.accept()?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf)?;
        s.write_all(&buf)?;
        let start = Instant::now();
        let inbound = TcpStream::connect(("instance-0", PORT));
        let took = start.elapsed();
        let outcome = match inbound {
            Ok(_) => "connected".to_string(),
            Err(e) => format!("{:?}", e.kind()),
        };
        env.record_message(format!("inbound: {outcome} after {} ms", took.as_millis()));
        sync.signal_and_wait("done", 2)?;
        let expected = if filter == Filter::Drop { ErrorKind::TimedOut } else { ErrorKind::ConnectionRefused };
        ensure!(outcome == format!("{expected:?}"), "a connection to the blocking instance ended {outcome}");
    }
    Ok(())
}

/// Waits for one datagram on `socket`, up to `timeout` of virtual time.
fn recv_within(socket: &UdpSocket, buf: &mut [u8], timeout: Duration) -> tg_sdk::Result<Option<(usize, SocketAddr)>> {
    let ready = tg_sdk::wait::Wait::new().readable(socket).timeout(timeout).wait()?;
    if ready.timed_out() {
        return Ok(None);
    }
    Ok(Some(socket.recv_from(buf)?))
}

fn region_rtt(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let n = env.test_instance_count();
    let me = env.global_seq();
    let socket = UdpSocket::bind(("0.0.0.0", PORT))?;
    sync.publish_json("groups", &(me, env.group_id()))?;
    let mut groups: Vec<(u32, String)> = sync.subscribe("groups")?.take_json(n as usize)?;
    groups.sort();
    sync.signal_and_wait("bound", u64::from(n))?;
    // One prober at a time, so that every other instance only echoes.
    for prober in 0..n {
        if prober == me {
            for (peer, group) in groups.iter().filter(|(p, _)| *p != me) {
                let to = (format!("instance-{peer}"), PORT).to_socket_addrs()?.next().ok_or("no address")?;
                let start = Instant::now();
                socket.send_to(b"ping", to)?;
                let mut buf = [0u8; 16];
                recv_within(&socket, &mut buf, Duration::from_secs(10))?.ok_or("no echo within 10 s")?;
                let ns = start.elapsed().as_nanos();
                env.record_message(format!("rtt {} {group} {ns}", env.group_id()));
            }
            sync.publish(&format!("probed-{prober}"), &[])?;
        } else {
            // Echo until the prober says it is done.
            let probed = sync.subscribe(&format!("probed-{prober}"))?;
            let mut buf = [0u8; 16];
            while probed.try_next().is_none() {
                let ready = tg_sdk::wait::Wait::new().readable(&socket).message(&probed).wait()?;
                if ready.readable(0) {
                    let (len, from) = socket.recv_from(&mut buf)?;
                    socket.send_to(&buf[..len], from)?;
                }
            }
        }
        sync.signal_and_wait(&format!("turn-{prober}"), u64::from(n))?;
    }
    Ok(())
}

fn dual_stack(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    match env.global_seq() {
        0 => {
            let listener = TcpListener::bind("[::]:7300")?;
            sync.signal_entry("listening")?;
            for _ in 0..2 {
                let (mut s, peer) = listener.accept()?;
                let mut buf = [0u8; 2];
                s.read_exact(&mut buf)?;
                env.record_message(format!("accepted {} from {peer}", String::from_utf8_lossy(&buf)));
            }
        }
        seq => {
            sync.barrier("listening", 1)?;
            let addrs: Vec<SocketAddr> = ("instance-0", PORT).to_socket_addrs()?.collect();
            let (family, want_v6) = if seq == 1 { ("v4", false) } else { ("v6", true) };
            let to = addrs
                .iter()
                .find(|a| a.is_ipv6() == want_v6)
                .ok_or_else(|| format!("instance-0 resolves to {addrs:?}, no {family} address (run with --ipv6)"))?;
            // Instance 2 waits so the server accepts in a known order.
            if seq == 2 {
                std::thread::sleep(Duration::from_millis(100));
            }
            let mut s = TcpStream::connect(to)?;
            s.write_all(family.as_bytes())?;
            env.record_message(format!("connected over {family} to {to} from {}", s.local_addr()?));
        }
    }
    sync.signal_and_wait("done", 3)?;
    Ok(())
}
