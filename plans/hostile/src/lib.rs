//! `hostile`: a plan that misbehaves on purpose. Every case is a fault class
//! or an escape attempt the runner must contain: it must end as an outcome
//! with a reason, never crash or hang the runner, and never touch the host.

use std::hint::black_box;

use tg_sdk::prelude::*;

const INSTANCES: std::ops::RangeInclusive<u32> = 1..=100_000;

/// The cases. Their panics' messages name the source lines they come from, and
/// are part of the pinned digests (`host/tests/golden/hostile.toml`): a change
/// that moves those lines moves the digests.
fn manifest() -> Manifest {
    let case = |name, f, what| TestCase::new(name, f).describe(what).instances(INSTANCES);
    Manifest::new("hostile")
        .case(case("divide-by-zero", divide_by_zero, "integer division by a zero the compiler cannot see"))
        .case(case("out-of-bounds", out_of_bounds, "reads far outside linear memory"))
        .case(case("stack-overflow", stack_overflow, "recurses without bound"))
        .case(case("spin", spin, "loops forever without calling the host"))
        .case(case("abort", abort, "calls std::process::abort"))
        .case(case("exit", exit, "calls std::process::exit").param(Param::int("code", "3").describe("the exit status")))
        .case(case("oom", oom, "allocates until memory runs out"))
        .case(case("bad-sync", bad_sync, "passes the sync service arguments it must refuse"))
        .case(case("escape", escape, "tries to read, list and write host files and read host variables"))
        .case(case("mixed", mixed, "by seq % 30: 0 panics, 10 spins forever, 20 exhausts memory, the rest succeed"))
        .case(case("publish-flood", publish_flood, "publishes 100 payloads of 4 MiB, which the run keeps to its end"))
        .case(case("message-flood", message_flood, "records 4000 messages of 64 KiB, which the run keeps to its end"))
        .case(case(
            "socket-flood",
            socket_flood,
            "connects to itself without end, leaving 256 KiB unread on every connection",
        ))
        .case(case("state-flood", state_flood, "signals 100,000 distinct states, each kept to the end of the run"))
}

fn divide_by_zero(_env: &RunEnv) -> tg_sdk::Result<()> {
    let zero = black_box(0u64);
    println!("{}", black_box(1u64) / zero);
    Ok(())
}

fn out_of_bounds(_env: &RunEnv) -> tg_sdk::Result<()> {
    // Far beyond any linear memory the runner allows: a trap, not a panic.
    let address = black_box(0xFFFF_FFF0usize) as *const u64;
    let value = unsafe { std::ptr::read_volatile(address) };
    println!("{value}");
    Ok(())
}

fn recurse(depth: u64) -> u64 {
    // The exit no input reaches keeps rustc's lint quiet; `black_box` keeps the
    // compiler from turning the recursion into a loop.
    if depth == u64::MAX {
        return 0;
    }
    black_box(recurse(black_box(depth + 1))).wrapping_add(depth)
}

fn stack_overflow(_env: &RunEnv) -> tg_sdk::Result<()> {
    println!("{}", recurse(0));
    Ok(())
}

fn spin_forever() -> ! {
    let mut x = 0u64;
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

fn spin(_env: &RunEnv) -> tg_sdk::Result<()> {
    spin_forever()
}

fn abort(_env: &RunEnv) -> tg_sdk::Result<()> {
    std::process::abort()
}

fn exit(env: &RunEnv) -> tg_sdk::Result<()> {
    std::process::exit(env.int_param("code") as i32)
}

fn exhaust_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Touch every page so the memory is really used, not just reserved.
        hoard.push(vec![1u8; 1 << 20]);
        black_box(&hoard);
    }
}

fn oom(_env: &RunEnv) -> tg_sdk::Result<()> {
    exhaust_memory()
}

fn bad_sync(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let too_large = vec![0u8; 5 << 20];
    ensure!(sync.publish("big", &too_large).is_err(), "a 5 MiB payload was accepted");
    ensure!(sync.signal_entry("").is_err(), "an empty state name was accepted");
    ensure!(sync.barrier(&"x".repeat(4096), 1).is_err(), "a 4 KiB state name was accepted");
    Ok(())
}

fn escape(_env: &RunEnv) -> tg_sdk::Result<()> {
    let mut escaped = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/etc/passwd") {
        escaped.push(format!("read /etc/passwd ({} bytes)", text.len()));
    }
    if let Ok(entries) = std::fs::read_dir("/") {
        escaped.push(format!("listed / ({} entries)", entries.count()));
    }
    if std::fs::write("../escaped", b"out").is_ok() {
        escaped.push("wrote ../escaped".to_string());
    }
    if std::fs::write("/tmp/tg-wasm-escaped", b"out").is_ok() {
        escaped.push("wrote /tmp/tg-wasm-escaped".to_string());
    }
    for name in ["HOME", "PATH", "USER"] {
        if let Ok(value) = std::env::var(name) {
            escaped.push(format!("read ${name}={value}"));
        }
    }
    // 127.0.0.1 is the instance's own loopback on the simulated network, where
    // nothing listens on these ports: the host's services must stay out of reach.
    for port in [22u16, 6379, 8080] {
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            escaped.push(format!("connected to 127.0.0.1:{port} ({:?})", stream.peer_addr()));
        }
        if let Ok(socket) = std::net::UdpSocket::bind("127.0.0.1:0")
            && socket.send_to(b"x", ("127.0.0.1", port)).is_ok()
            && socket.set_nonblocking(true).is_ok()
            && socket.recv(&mut [0u8; 8]).is_ok()
        {
            escaped.push(format!("got a UDP answer from 127.0.0.1:{port}"));
        }
    }
    let args: Vec<String> = std::env::args().collect();
    if !args.is_empty() {
        escaped.push(format!("saw arguments {args:?}"));
    }
    ensure!(escaped.is_empty(), "escaped the sandbox: {}", escaped.join("; "));
    println!("every escape attempt failed");
    Ok(())
}

fn mixed(env: &RunEnv) -> tg_sdk::Result<()> {
    match env.global_seq() % 30 {
        0 => panic!("mixed: instance {} panics as planned", env.global_seq()),
        10 => spin_forever(),
        20 => exhaust_memory(),
        _ => Ok(()),
    }
}

// The floods below make the host, not the instance, hold what they send: each
// must end at a limit the host names, not in the host's memory.

fn publish_flood(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let payload = vec![0x5a_u8; 4 << 20];
    for i in 0..100 {
        sync.publish("flood", &payload).map_err(|e| format!("publish {i}: {e}"))?;
    }
    Ok(())
}

fn message_flood(env: &RunEnv) -> tg_sdk::Result<()> {
    let message = "m".repeat(64 << 10);
    for _ in 0..4000 {
        env.record_message(&message);
    }
    Ok(())
}

fn socket_flood(_env: &RunEnv) -> tg_sdk::Result<()> {
    use std::io::Write as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("local address: {e}"))?;
    let unread = vec![0xa5_u8; 256 << 10];
    let mut held = Vec::new();
    for i in 0..100_000 {
        let mut client = std::net::TcpStream::connect(addr).map_err(|e| format!("connection {i}: connect: {e}"))?;
        let (server, _) = listener.accept().map_err(|e| format!("connection {i}: accept: {e}"))?;
        client.write_all(&unread).map_err(|e| format!("connection {i}: write: {e}"))?;
        held.push((client, server));
    }
    Ok(())
}

fn state_flood(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let me = env.global_seq();
    for i in 0..100_000 {
        sync.signal_entry(&format!("flood-{me}-{i}")).map_err(|e| format!("state {i}: {e}"))?;
    }
    Ok(())
}

tg_sdk::export_plan!(manifest);
