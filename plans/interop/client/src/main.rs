//! The interop client: asks `--server` for protocol revision `--revision`
//! and exits 0 if the server speaks it, 3 if it refuses. A plain program on
//! `std::net`: it learns its place from Testground's `TEST_*` variables and
//! nothing else of tg-wasm.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

/// How long the client keeps trying while the server is not yet listening.
const CONNECT_ATTEMPTS: u32 = 100;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let revision = value(&args, "--revision").unwrap_or("1").to_string();
    let Some(server) = value(&args, "--server") else {
        eprintln!("usage: interop-client --server HOST:PORT [--revision N]");
        return ExitCode::from(2);
    };
    let me = format!(
        "{} #{}",
        std::env::var("TEST_GROUP_ID").unwrap_or_default(),
        std::env::var("TEST_GROUP_SEQ").unwrap_or_default()
    );
    // The server may not listen yet: it starts at the same virtual instant.
    let mut stream = None;
    for _ in 0..CONNECT_ATTEMPTS {
        match TcpStream::connect(server) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let Some(stream) = stream else {
        eprintln!("{me}: {server} never accepted a connection");
        return ExitCode::from(2);
    };
    if let Err(e) = (&stream).write_all(format!("HELLO {revision}\n").as_bytes()) {
        eprintln!("{me}: sending to {server}: {e}");
        return ExitCode::from(2);
    }
    let mut answer = String::new();
    let _ = BufReader::new(&stream).read_line(&mut answer);
    let answer = answer.trim();
    if answer.starts_with("OK ") {
        println!("{me}: {server} speaks revision {revision}");
        ExitCode::SUCCESS
    } else {
        eprintln!("{me}: {server} refused revision {revision}: {answer}");
        ExitCode::from(3)
    }
}

/// The value after `name` in `args`, if any.
fn value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}
