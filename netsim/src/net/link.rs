//! One instance's egress link: turns a [`LinkShape`] into when (and whether,
//! and how often, and how damaged) a packet arrives.
//!
//! The link is a FIFO with a rate: a packet starts serializing when the link is
//! free ("busy until"), takes `wire bytes × 8 / bandwidth` to leave, then
//! travels `latency ± jitter`. Random decisions draw from the sender's own
//! [`RngStream`], so one instance's traffic never shifts another's draws. The
//! link does not know about sockets, rules or the event queue.

use super::config::LinkShape;
use super::rule::DropReason;
use crate::rng::RngStream;
use crate::time::SimTime;
use std::time::Duration;

/// Bytes the egress queue holds before it tail-drops: netem's default limit of
/// 1000 packets, at a full 1500-byte MTU.
pub const EGRESS_QUEUE_BYTES: u64 = 1000 * 1500;

/// The least extra delay of a reordered packet, so reordering is visible even
/// on a link without latency.
pub const REORDER_MIN_EXTRA: Duration = Duration::from_millis(1);

/// Where a packet goes after it left the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Departure {
    /// When its last bit left the link.
    pub departed: SimTime,
    /// When the packet arrives.
    pub arrive: SimTime,
    /// When its duplicate arrives, if it was duplicated.
    pub duplicate: Option<SimTime>,
    /// A random value choosing the bit to flip, if it was corrupted.
    pub corrupt: Option<u64>,
}

/// The decision of the previous packet, per correlated property.
#[derive(Clone, Copy, Debug, Default)]
struct Last {
    loss: bool,
    duplicate: bool,
    corrupt: bool,
    reorder: bool,
}

/// The state of one instance's egress link.
#[derive(Clone, Debug)]
pub struct EgressLink {
    busy_until: SimTime,
    rng: RngStream,
    last: Last,
}

/// `p` with probability-correlation `corr` to the previous decision `last`:
/// repeat `last` with probability `corr`, else draw afresh. The stationary rate
/// of this chain is exactly `p`.
fn correlated(rng: &mut RngStream, p: f64, corr: f64, last: &mut bool) -> bool {
    if p <= 0.0 {
        *last = false;
        return false;
    }
    if corr > 0.0 && rng.chance(corr) {
        return *last;
    }
    *last = rng.chance(p);
    *last
}

/// Bytes a link of `bandwidth` bits per second sends in `nanos`: what is
/// queued ahead of a packet that waits that long. In 64 bits when the
/// product fits (always, on links and waits of this world), else in 128,
/// with the same result.
pub(crate) fn queued_bytes(nanos: u64, bandwidth: u64) -> u128 {
    match nanos.checked_mul(bandwidth) {
        Some(bits_e9) => u128::from(bits_e9 / 8 / 1_000_000_000),
        None => u128::from(nanos) * u128::from(bandwidth) / 8 / 1_000_000_000,
    }
}

/// Nanoseconds `wire_bytes` take to leave a link of `bandwidth` (> 0) bits
/// per second, rounded up: a packet never leaves before its last bit.
/// Saturates at `u64::MAX`. In 64 bits when they suffice, as [`queued_bytes`].
pub(crate) fn serialization_nanos(wire_bytes: u64, bandwidth: u64) -> u64 {
    match wire_bytes.checked_mul(8 * 1_000_000_000) {
        Some(bits_e9) => bits_e9.div_ceil(bandwidth),
        None => {
            let nanos = (u128::from(wire_bytes) * 8 * 1_000_000_000).div_ceil(u128::from(bandwidth));
            u64::try_from(nanos).unwrap_or(u64::MAX)
        }
    }
}

impl EgressLink {
    /// An idle link drawing from `rng`.
    pub fn new(rng: RngStream) -> EgressLink {
        EgressLink { busy_until: SimTime::ZERO, rng, last: Last::default() }
    }

    /// Sends a packet of `wire_bytes` at `now` over a link shaped `shape`.
    pub fn transmit(&mut self, now: SimTime, shape: &LinkShape, wire_bytes: u64) -> Result<Departure, DropReason> {
        let start = self.busy_until.max(now);
        if shape.bandwidth > 0 {
            let queued_bytes = queued_bytes(start.as_nanos() - now.as_nanos(), shape.bandwidth);
            if queued_bytes + u128::from(wire_bytes) > u128::from(EGRESS_QUEUE_BYTES) {
                return Err(DropReason::QueueFull);
            }
        }
        let serialization = if shape.bandwidth == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(serialization_nanos(wire_bytes, shape.bandwidth))
        };
        let departed = start + serialization;
        self.busy_until = departed;

        let rng = &mut self.rng;
        if correlated(rng, shape.loss, shape.loss_correlation, &mut self.last.loss) {
            return Err(DropReason::Loss);
        }
        let duplicated = correlated(rng, shape.duplicate, shape.duplicate_correlation, &mut self.last.duplicate);
        let corrupt =
            correlated(rng, shape.corrupt, shape.corrupt_correlation, &mut self.last.corrupt).then(|| rng.next_u64());
        let reordered = correlated(rng, shape.reorder, shape.reorder_correlation, &mut self.last.reorder);

        let mut delay = shape.latency;
        if !shape.jitter.is_zero() {
            // Clamped so that `2j + 1` cannot overflow: a jitter over 146 years is
            // as good as infinite, and arrival times saturate at the end of time anyway.
            let j = u64::try_from(shape.jitter.as_nanos()).unwrap_or(u64::MAX).min(u64::MAX / 4);
            let offset = rng.next_u64() % (2 * j + 1);
            let base = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
            delay = Duration::from_nanos(base.saturating_add(offset).saturating_sub(j));
        }
        if reordered {
            delay = delay.saturating_add(shape.latency.max(REORDER_MIN_EXTRA));
        }
        let arrive = departed + delay;
        Ok(Departure { departed, arrive, duplicate: duplicated.then_some(arrive), corrupt })
    }

    /// The link's random stream, for decisions further along the sender's path.
    pub(crate) fn rng(&mut self) -> &mut RngStream {
        &mut self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_queues_back_to_back() {
        let mut link = EgressLink::new(RngStream::derive(1, "t", 0));
        // 8 Mbit/s: 1000 bytes take exactly 1 ms.
        let shape = LinkShape { bandwidth: 8_000_000, latency: Duration::from_millis(10), ..LinkShape::default() };
        let a = link.transmit(SimTime::ZERO, &shape, 1000).unwrap();
        let b = link.transmit(SimTime::ZERO, &shape, 1000).unwrap();
        assert_eq!(a.arrive, SimTime::from_nanos(11_000_000));
        assert_eq!(b.arrive, SimTime::from_nanos(12_000_000));
        let later = link.transmit(SimTime::from_nanos(50_000_000), &shape, 1000).unwrap();
        assert_eq!(later.arrive, SimTime::from_nanos(61_000_000));
    }

    #[test]
    fn absurd_latency_and_jitter_saturate_instead_of_overflowing() {
        let mut link = EgressLink::new(RngStream::derive(1, "t", 0));
        for latency in [Duration::from_nanos(u64::MAX), Duration::MAX] {
            for jitter in [Duration::from_nanos(u64::MAX), Duration::from_nanos(u64::MAX / 2 + 1), Duration::MAX] {
                let shape = LinkShape { latency, jitter, reorder: 1.0, ..LinkShape::default() };
                for _ in 0..100 {
                    let d = link.transmit(SimTime::from_nanos(5), &shape, 100).unwrap();
                    assert!(d.arrive >= SimTime::from_nanos(5));
                }
            }
        }
    }

    #[test]
    fn the_64_bit_arithmetic_agrees_with_the_128_bit_one() {
        let values = [0u64, 1, 7, 8, 999, 1500, 65_535, 1_000_000_000, 1 << 40, u64::MAX / 8_000_000_000, u64::MAX];
        for &a in &values {
            for &b in values.iter().filter(|&&b| b > 0) {
                let wide = (u128::from(a) * 8 * 1_000_000_000).div_ceil(u128::from(b));
                assert_eq!(serialization_nanos(a, b), u64::try_from(wide).unwrap_or(u64::MAX), "{a} bytes at {b}");
                assert_eq!(queued_bytes(a, b), u128::from(a) * u128::from(b) / 8 / 1_000_000_000, "{a} ns at {b}");
            }
        }
    }

    #[test]
    fn a_full_queue_tail_drops() {
        let mut link = EgressLink::new(RngStream::derive(1, "t", 0));
        let shape = LinkShape { bandwidth: 1_000_000, ..LinkShape::default() };
        let sent = (0..2000).filter(|_| link.transmit(SimTime::ZERO, &shape, 1500).is_ok()).count();
        assert_eq!(sent, 1000);
    }

    #[test]
    fn correlation_keeps_the_rate_and_makes_bursts() {
        let mut rng = RngStream::derive(5, "t", 0);
        let (mut last, mut hits, mut runs) = (false, 0u32, 0u32);
        let n = 200_000;
        for _ in 0..n {
            let prev = last;
            if correlated(&mut rng, 0.1, 0.8, &mut last) {
                hits += 1;
                if !prev {
                    runs += 1;
                }
            }
        }
        let rate = f64::from(hits) / f64::from(n);
        assert!((rate - 0.1).abs() < 0.01, "rate {rate}");
        // Uncorrelated 10% losses would come in runs of ~1.1; correlation 0.8 makes them ~5 long.
        assert!(f64::from(hits) / f64::from(runs) > 3.0);
    }
}
