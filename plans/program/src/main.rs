//! A plain `wasm32-wasip2` program whose outcome its test case chooses, to
//! test how tg-wasm runs programs: what they are given and how they end. It
//! imports nothing of tg-wasm; `TEST_CASE` picks what it does.

use std::process::ExitCode;

fn main() -> ExitCode {
    let case = std::env::var("TEST_CASE").unwrap_or_default();
    match case.as_str() {
        // Prints what it was given, then exits 0.
        "environment" => {
            let mut vars: Vec<(String, String)> = std::env::vars().collect();
            vars.sort();
            for (k, v) in vars {
                println!("{k}={v}");
            }
            println!("args={:?}", std::env::args().collect::<Vec<_>>());
            ExitCode::SUCCESS
        }
        "ok" => ExitCode::SUCCESS,
        "exit-3" => {
            eprintln!("giving up with status 3");
            std::process::exit(3)
        }
        "main-error" => ExitCode::from(7),
        "panic" => panic!("the program panicked on purpose"),
        "trap" => {
            // What an abort compiles to: the instance traps.
            std::process::abort()
        }
        "missing-variable" => {
            let peer = std::env::var("PEER_ADDRESS").expect("PEER_ADDRESS is not set");
            println!("{peer}");
            ExitCode::SUCCESS
        }
        "sleep" => {
            let start = std::time::Instant::now();
            std::thread::sleep(std::time::Duration::from_secs(3600));
            println!("slept {:?} of virtual time", start.elapsed());
            ExitCode::SUCCESS
        }
        other => {
            eprintln!(
                "unknown test case {other:?}; this program's cases are environment, ok, exit-3, main-error, panic, \
                 trap, missing-variable, sleep (give one with -t)"
            );
            ExitCode::from(2)
        }
    }
}
