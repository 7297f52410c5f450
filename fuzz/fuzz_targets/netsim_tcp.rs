//! TCP on the simulated network under any sequence of socket operations, link
//! shapes, filters and partitions. Nothing may panic, the clock never runs
//! backwards, and what a connection reads is always the next bytes its peer
//! wrote: in order, unchanged (corrupted segments must be discarded), and never
//! more than was written.

#![no_main]

#[path = "../../netsim/tests/model/common.rs"]
mod common;
#[path = "../../netsim/tests/model/tcp.rs"]
mod tcp;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: tcp::Input| tcp::run(input));
