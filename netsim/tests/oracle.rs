//! Oracle tests, run by `cargo test` with fixed seeds: netsim's event queue
//! against a sorted-`Vec` model, and the fuzz targets' TCP and UDP world
//! models (`tests/model/`, shared with `fuzz/`) on a few hundred generated
//! inputs each. The fuzzers search far wider; these keep every `cargo test`
//! checking the same properties, the same way on every machine.
//!
//! Inputs come from [`arbtest`] over the `arbitrary` types the fuzz targets
//! already take, each from a seed fixed here: a failure names its seed, and
//! `arbtest(...).seed(SEED)` (or `ARBTEST_SEED`) replays it.

#[path = "model/common.rs"]
mod common;
#[path = "model/tcp.rs"]
mod tcp;
#[path = "model/udp.rs"]
mod udp;

use arbitrary::{Arbitrary, Unstructured};
use netsim::{EventKey, EventQueue, NodeId, SimTime};

/// `count` seeds for arbtest, each fixing its input size (low 32 bits) and its
/// bytes (high 32 bits): sizes grow from 64 bytes to about `max_size`, so
/// small inputs and long operation sequences are both covered.
fn seeds(count: u32, max_size: u32) -> impl Iterator<Item = u64> {
    (0..count).map(move |i| {
        let size = 64 + u64::from(max_size - 64) * u64::from(i) / u64::from(count.max(2) - 1);
        // Any nonzero value: arbtest's xorshift would stay at zero.
        let bytes = u64::from(i).wrapping_mul(0x9E37_79B9).wrapping_add(0x1234_5677) as u32 | 1;
        (u64::from(bytes) << 32) | size
    })
}

/// One thing done to a queue.
#[derive(Arbitrary, Debug)]
enum QueueOp {
    /// Schedule at `now + delay` on behalf of `source`.
    Schedule {
        delay: u8,
        source: u8,
    },
    /// Take a key without queueing (an event another queue holds).
    Allocate {
        delay: u8,
        source: u8,
    },
    /// Insert under a key made elsewhere, for a source this queue never schedules for.
    Insert {
        delay: u8,
        source: u8,
        seq: u16,
    },
    Pop,
    Peek,
}

/// A delay drawn from `d`: a few nanoseconds, so that keys often tie on time,
/// and for half of the values up to three of the queue's buckets more, so
/// that events are parked and heaped as their buckets come.
fn delay_of(d: u8) -> std::time::Duration {
    let buckets = u64::from(d / 64) * (netsim::event::BUCKET_NANOS - 3);
    std::time::Duration::from_nanos(u64::from(d % 8) + buckets)
}

#[test]
fn the_event_queue_pops_what_a_sorted_vec_would() {
    for seed in seeds(300, 8 << 10) {
        arbtest::arbtest(|u: &mut Unstructured<'_>| {
            let mut queue = EventQueue::new();
            // The model: every pending (key, payload), and each source's next sequence number.
            let mut model: Vec<(EventKey, u32)> = Vec::new();
            let mut next_seq = std::collections::BTreeMap::<NodeId, u64>::new();
            let mut now = SimTime::ZERO;
            let mut payload = 0u32;
            let mut foreign = std::collections::BTreeSet::new();
            while !u.is_empty() {
                match u.arbitrary::<QueueOp>()? {
                    op @ (QueueOp::Schedule { .. } | QueueOp::Allocate { .. }) => {
                        let (delay, source, queued) = match op {
                            QueueOp::Schedule { delay, source } => (delay, source, true),
                            QueueOp::Allocate { delay, source } => (delay, source, false),
                            _ => unreachable!("matched above"),
                        };
                        let at = now + delay_of(delay);
                        let node = NodeId(u32::from(source % 6));
                        let seq = next_seq.entry(node).or_insert(0);
                        let expected = EventKey { time: at, source: node, seq: *seq };
                        *seq += 1;
                        let key = if queued {
                            payload += 1;
                            model.push((expected, payload));
                            queue.schedule(at, node, payload)
                        } else {
                            queue.allocate_key(at, node)
                        };
                        assert_eq!(key, expected, "keys count each source's events");
                    }
                    QueueOp::Insert { delay, source, seq } => {
                        // Sources 100.. are other shards': this queue never schedules for them.
                        let key = EventKey {
                            time: now + delay_of(delay),
                            source: NodeId(100 + u32::from(source % 4)),
                            seq: u64::from(seq),
                        };
                        if foreign.insert(key) {
                            payload += 1;
                            model.push((key, payload));
                            queue.insert(key, payload);
                        }
                    }
                    QueueOp::Pop => {
                        model.sort_by_key(|(k, _)| *k);
                        let expected = (!model.is_empty()).then(|| model.remove(0));
                        let got = queue.pop();
                        assert_eq!(got, expected);
                        if let Some((key, _)) = got {
                            assert!(key.time >= now, "time never runs backwards");
                            now = key.time;
                        }
                    }
                    QueueOp::Peek => {
                        assert_eq!(queue.peek_key(), model.iter().map(|(k, _)| *k).min());
                    }
                }
                assert_eq!(queue.len(), model.len());
                assert_eq!(queue.is_empty(), model.is_empty());
            }
            // What is left comes out in key order.
            model.sort_by_key(|(k, _)| *k);
            let rest: Vec<(EventKey, u32)> = std::iter::from_fn(|| queue.pop()).collect();
            assert_eq!(rest, model);
            Ok(())
        })
        .seed(seed)
        .run();
    }
}

#[test]
fn tcp_streams_deliver_exactly_what_was_written_on_generated_worlds() {
    for seed in seeds(300, 16 << 10) {
        arbtest::arbtest(|u| {
            tcp::run(u.arbitrary()?);
            Ok(())
        })
        .seed(seed)
        .run();
    }
}

#[test]
fn udp_datagrams_arrive_unchanged_and_at_most_once_on_generated_worlds() {
    for seed in seeds(300, 16 << 10) {
        arbtest::arbtest(|u| {
            udp::run(u.arbitrary()?);
            Ok(())
        })
        .seed(seed)
        .run();
    }
}
