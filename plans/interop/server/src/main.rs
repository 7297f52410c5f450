//! The interop server: speaks protocol revisions up to `--revision`, serves
//! `--clients` connections, then exits. A plain program: `std::net`, `main`,
//! an exit status; it imports nothing of tg-wasm.
//!
//! The protocol: a client sends `HELLO <revision>\n`; a server that speaks
//! that revision answers `OK <revision>\n`, one that does not answers
//! `ERR unsupported revision <revision>; this server speaks 1..=<max>\n`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let revision = option(&args, "--revision").unwrap_or(1);
    let clients = option(&args, "--clients").unwrap_or(1);
    let group = std::env::var("TEST_GROUP_ID").unwrap_or_default();
    let listener = match TcpListener::bind("0.0.0.0:7000") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{group}: cannot listen on port 7000: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{group}: revision {revision}, serving {clients} clients");
    for _ in 0..clients {
        let (stream, peer) = match listener.accept() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{group}: accept failed: {e}");
                return ExitCode::from(2);
            }
        };
        let mut line = String::new();
        let mut reader = BufReader::new(&stream);
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let asked: u32 = line.trim().strip_prefix("HELLO ").and_then(|r| r.parse().ok()).unwrap_or(0);
        let answer = if (1..=revision).contains(&asked) {
            format!("OK {asked}\n")
        } else {
            format!("ERR unsupported revision {asked}; this server speaks 1..={revision}\n")
        };
        println!("{group}: {peer} asked for revision {asked}: {}", answer.trim());
        let _ = (&stream).write_all(answer.as_bytes());
    }
    ExitCode::SUCCESS
}

/// The number after `name` in `args`, if any.
fn option(args: &[String], name: &str) -> Option<u32> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}
