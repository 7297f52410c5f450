//! The round trip of one shard window exchange through Redis
//! (`tg_wasm::shard::ShardMailbox::exchange`): every shard sends every other
//! shard a frame and waits for all of theirs.
//!
//! Shards are threads of this process, each with its own connection, against
//! its own `redis-server` on a free loopback port (Debian's package), so the
//! figure is the protocol's cost over loopback: a lower bound for shards on
//! separate machines. For 2 and 4 shards, with empty and 64 KiB frames, each
//! repetition times `WINDOWS` consecutive exchanges on shard 0 and divides;
//! the figure is the median over `REPETITIONS`. Prints one JSON line per case.
//! Run with `cargo bench -p tg-wasm --bench shard_exchange`.

#[path = "../tests/support/redis.rs"]
mod redis_server;

use std::sync::{Arc, Barrier};
use std::time::Instant;
use tg_wasm::shard::{MailboxPolicy, ShardMailbox};

const WINDOWS: u64 = 200;
const REPETITIONS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Per-exchange seconds of each repetition, as shard 0 saw them.
fn measure(url: &str, run: &str, shards: u32, frame_bytes: usize) -> Vec<f64> {
    let barrier = Arc::new(Barrier::new(shards as usize));
    let threads: Vec<_> = (0..shards)
        .map(|i| {
            let mut mb = ShardMailbox::connect(url, run, i, shards, MailboxPolicy::default()).expect("connect");
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut per_exchange = Vec::new();
                let mut window = 0;
                // Repetition 0 is unmeasured: connections and scripts warm up.
                for rep in 0..=REPETITIONS {
                    barrier.wait();
                    let started = Instant::now();
                    for _ in 0..WINDOWS {
                        let out =
                            (0..shards).map(|d| if d == i { vec![] } else { vec![d as u8; frame_bytes] }).collect();
                        let got = mb.exchange(window, out).expect("exchange");
                        assert!(
                            got.iter().enumerate().all(|(d, f)| f.len() == if d as u32 == i { 0 } else { frame_bytes })
                        );
                        window += 1;
                    }
                    if rep > 0 {
                        per_exchange.push(started.elapsed().as_secs_f64() / WINDOWS as f64);
                    }
                }
                mb.close().expect("close");
                per_exchange
            })
        })
        .collect();
    let mut all: Vec<Vec<f64>> = threads.into_iter().map(|t| t.join().expect("shard thread")).collect();
    all.swap_remove(0)
}

fn main() {
    let server = redis_server::RedisServer::start();
    for shards in [2u32, 4] {
        for frame_bytes in [0usize, 64 * 1024] {
            let run = format!("bench-{shards}-{frame_bytes}");
            let times = measure(&server.url(), &run, shards, frame_bytes);
            let (lo, hi) =
                (times.iter().copied().fold(f64::INFINITY, f64::min), times.iter().copied().fold(0.0, f64::max));
            println!(
                "{{\"bench\":\"shard_exchange\",\"shards\":{shards},\"frame_bytes\":{frame_bytes},\"exchange_median_us\":{:.1},\"min_us\":{:.1},\"max_us\":{:.1},\"windows\":{WINDOWS},\"repetitions\":{REPETITIONS}}}",
                median(times) * 1e6,
                lo * 1e6,
                hi * 1e6
            );
            assert_eq!(server.dbsize(), 0, "the shards deleted their keys");
        }
    }
}
