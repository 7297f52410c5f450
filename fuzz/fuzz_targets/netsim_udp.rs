//! UDP on the simulated network under any datagrams, link shapes, filters and
//! partitions. Nothing may panic, the clock never runs backwards, and every
//! datagram delivered was sent to that socket, from the address it names, with
//! the payload it was sent with (unless a link corrupts), at most once (twice
//! when a link duplicates).

#![no_main]

#[path = "../../netsim/tests/model/common.rs"]
mod common;
#[path = "../../netsim/tests/model/udp.rs"]
mod udp;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: udp::Input| udp::run(input));
