//! Plain `std::net` code sees in a plan what it sees on Linux: the same
//! probes (`plans/network/src/parity.rs`) run here, natively over loopback,
//! and inside tg-wasm as the network plan's `linux-parity` case, and must
//! observe the same thing. That holds for what the plan links in too: where
//! Rust 1.95's wasi-libc (wasi-sdk 30) answers otherwise than Linux, tg-sdk
//! replaces the function (`sdk-guest/compat`), and the probes that found
//! each difference stay here; where WASI itself rules otherwise (a connected
//! UDP socket sends only to its peer), the host follows Linux.

mod support;

#[path = "../../plans/network/src/parity.rs"]
mod parity;

use std::net::Ipv4Addr;
use support::{plan, run, spec};

#[test]
fn std_sockets_in_a_plan_see_what_they_see_on_linux() {
    let here = parity::Target { here: Ipv4Addr::LOCALHOST, name: "localhost" };
    let linux: Vec<(String, String)> =
        parity::PROBES.iter().map(|(name, probe)| (name.to_string(), probe(&here))).collect();

    let (summary, exec) = run(&spec(plan("network"), "linux-parity", 1, 0));
    assert!(summary.success(), "{}", summary.render());
    let in_plan: Vec<(String, String)> = exec.records[0]
        .messages
        .iter()
        .map(|m| {
            let (name, seen) = m.text.split_once(": ").expect("`probe: outcome`");
            (name.to_string(), seen.to_string())
        })
        .collect();
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&in_plan), names(&linux), "the plan ran every probe, in order");

    let differ: Vec<String> = in_plan
        .iter()
        .zip(&linux)
        .filter(|((_, plan_saw), (_, linux_saw))| plan_saw != linux_saw)
        .map(|((name, plan_saw), (_, linux_saw))| format!("{name}: Linux {linux_saw:?}, plan {plan_saw:?}"))
        .collect();
    assert!(differ.is_empty(), "the plan sees what Linux does not:\n{}", differ.join("\n"));
}
