//! Seeded random streams.
//!
//! Every source of randomness in a run is an [`RngStream`] derived from the run's
//! seed, a domain name and an index (usually the instance), so that one instance's
//! draws never shift another's and a run is a pure function of its seed. The
//! generator is xoshiro256** seeded through SplitMix64: both are fully specified,
//! so streams stay identical across platforms and crate upgrades.

/// A deterministic pseudo-random stream (xoshiro256**).
///
/// ```
/// use netsim::RngStream;
/// let mut a = RngStream::derive(7, "wasi-random", 3);
/// let mut b = RngStream::derive(7, "wasi-random", 3);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let mut c = RngStream::derive(8, "wasi-random", 3);
/// assert_ne!(RngStream::derive(7, "wasi-random", 3).next_u64(), c.next_u64());
/// ```
#[derive(Clone, Debug)]
pub struct RngStream {
    s: [u64; 4],
}

/// SplitMix64 step: the recommended way to expand a 64-bit seed into xoshiro state.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over the domain name: a fixed, documented mixing of text into the seed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

impl RngStream {
    /// The stream for `(seed, domain, index)`. Different domains (e.g. `"wasi-random"`,
    /// `"link-jitter"`) give independent streams for the same instance.
    pub fn derive(seed: u64, domain: &str, index: u64) -> RngStream {
        let mut sm = seed ^ fnv1a(domain.as_bytes()).rotate_left(17) ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let mut s = [0u64; 4];
        for word in &mut s {
            *word = splitmix64(&mut sm);
        }
        RngStream { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// The next 32 random bits (the high half of [`RngStream::next_u64`]).
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Fills `dest` with random bytes, eight at a time in little-endian order.
    pub fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A uniform float in `[0, 1)` with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_per_domain_and_index() {
        let a = RngStream::derive(1, "x", 0).next_u64();
        assert_ne!(a, RngStream::derive(1, "y", 0).next_u64());
        assert_ne!(a, RngStream::derive(1, "x", 1).next_u64());
        assert_eq!(a, RngStream::derive(1, "x", 0).next_u64());
    }

    #[test]
    fn floats_are_in_unit_interval_and_roughly_uniform() {
        let mut r = RngStream::derive(42, "f", 0);
        let n = 100_000;
        let mut below_half = 0;
        for _ in 0..n {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            if x < 0.5 {
                below_half += 1;
            }
        }
        let share = f64::from(below_half) / f64::from(n);
        assert!((share - 0.5).abs() < 0.01, "share below 0.5 was {share}");
    }

    #[test]
    fn fill_bytes_handles_partial_words() {
        let mut r = RngStream::derive(3, "b", 0);
        let mut buf = [0u8; 13];
        r.fill_bytes(&mut buf);
        assert!(buf.iter().any(|b| *b != 0));
    }
}
