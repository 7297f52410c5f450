//! `websocket`: a third-party protocol crate that only knows `std::net` —
//! `tungstenite` — running unchanged on the simulated network. Instance 0
//! serves WebSocket echo; instance 1 connects by URL (`ws://instance-0:…`, so
//! the crate also does the name lookup), sends messages and times the echoes.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use tg_sdk::prelude::*;
use tungstenite::Message;

/// The port the WebSocket server listens on.
const WS_PORT: u16 = 8080;

/// The WebSocket case, added to `manifest`.
pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("websocket", websocket)
            .describe("tungstenite WebSocket client and server over std::net, on links of `latency`")
            .instances(2..=2)
            .param(Param::int("messages", 20).describe("messages the client sends"))
            .param(Param::duration("latency", "25ms").describe("one-way latency of both instances")),
    )
}

fn websocket(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let messages: u32 = env.params().count("messages")?;
    ensure!(messages >= 1, "messages must be at least 1: the echo time is their mean");
    let latency = env.params().duration("latency")?;
    env.network().configure(&NetworkConfig {
        default: LinkShape::with_latency(latency),
        callback_state: Some("configured".into()),
        ..NetworkConfig::default()
    })?;
    sync.barrier("configured", 2)?;
    if env.global_seq() == 0 {
        let listener = TcpListener::bind(("0.0.0.0", WS_PORT))?;
        sync.signal_entry("listening")?;
        let (stream, _) = listener.accept()?;
        let mut socket = tungstenite::accept(stream).map_err(|e| format!("WebSocket handshake: {e}"))?;
        loop {
            match socket.read()? {
                msg @ (Message::Text(_) | Message::Binary(_)) => socket.send(msg)?,
                Message::Close(_) => break,
                _ => {}
            }
        }
        // Answer the close and let the client see it.
        while socket.flush().is_ok() && socket.read().is_ok() {}
    } else {
        sync.barrier("listening", 1)?;
        let start = Instant::now();
        let (mut socket, response) = tungstenite::connect(format!("ws://instance-0:{WS_PORT}/echo"))?;
        let handshake = start.elapsed();
        ensure!(response.status().as_u16() == 101, "upgrade answered {}", response.status());
        let mut total = Duration::ZERO;
        for i in 0..messages {
            let text = format!("message {i}");
            let start = Instant::now();
            socket.send(Message::text(text.clone()))?;
            let echo = socket.read()?;
            total += start.elapsed();
            ensure!(echo == Message::text(text), "echo {i}: {echo:?}");
        }
        socket.close(None)?;
        while socket.read().is_ok() {}
        let rtt = total.as_nanos() as f64 / f64::from(messages);
        env.r().unit("ns").point("websocket-rtt", rtt);
        env.r().unit("ns").point("websocket-handshake", handshake.as_nanos() as f64);
        env.record_message(format!("websocket-rtt-ns={rtt} handshake-ns={}", handshake.as_nanos()));
        // Each echo is one round trip on the shaped links.
        let expected = 2.0 * latency.as_nanos() as f64;
        ensure!((rtt - expected).abs() <= expected * 0.01, "WebSocket echo {rtt} ns, expected {expected} ns");
    }
    sync.signal_and_wait("done", 2)?;
    Ok(())
}
