//! Plain `std::net` code sees in a plan what it sees on Linux: the same
//! probes (`plans/network/src/parity.rs`) run here, natively over loopback,
//! and inside tg-wasm as the network plan's `linux-parity` case, and must
//! observe the same thing. That holds for what the plan links in too: where
//! Rust 1.95's wasi-libc (wasi-sdk 30) answers otherwise than Linux, tg-sdk
//! replaces the function (`sdk-guest/compat`), and the probes that found
//! each difference stay here. What WASI itself rules otherwise than Linux,
//! and tg-wasm keeps, is listed in [`NOT_LINUX`] with what the plan sees and
//! why, so that the day it changes this test says to drop the entry.

mod support;

#[path = "../../plans/network/src/parity.rs"]
mod parity;

use std::net::Ipv4Addr;
use support::{plan, run, spec};

/// Probes whose outcome in a plan differs from Linux by a rule of WASI's:
/// (probe, what the plan sees, why).
const NOT_LINUX: &[(&str, &str, &str)] = &[(
    "udp-connected-send-to-other",
    "err Uncategorized",
    "wasi:sockets lets a connected UDP socket send only to its peer (invalid-argument), and wasi-libc \
     refuses first with EISCONN, as BSD does; Linux sends to the address given",
)];

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

    let mut differ = Vec::new();
    for ((name, plan_saw), (_, linux_saw)) in in_plan.iter().zip(&linux) {
        match NOT_LINUX.iter().find(|(probe, ..)| probe == name) {
            Some((_, expected, why)) => assert_eq!(
                plan_saw, expected,
                "{name}: the plan no longer sees the documented difference ({why}); if it now sees \
                 Linux's {linux_saw:?}, drop the entry"
            ),
            None if plan_saw != linux_saw => differ.push(format!("{name}: Linux {linux_saw:?}, plan {plan_saw:?}")),
            None => {}
        }
    }
    assert!(differ.is_empty(), "the plan sees what Linux does not:\n{}", differ.join("\n"));
}

/// The documented differences are differences: on Linux each probe sees something else.
#[test]
fn each_documented_difference_is_one_linux_does_not_share() {
    let here = parity::Target { here: Ipv4Addr::LOCALHOST, name: "localhost" };
    for (name, plan_sees, _) in NOT_LINUX {
        let (_, probe) = parity::PROBES.iter().find(|(n, _)| n == name).expect("a probe of that name");
        assert_ne!(&probe(&here), plan_sees, "{name}");
    }
}
