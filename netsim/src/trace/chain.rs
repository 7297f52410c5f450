//! SHA-256 fed one trace record at a time: the per-node digests.
//!
//! It computes exactly what `sha2::Sha256` computes over the same bytes (a
//! test below holds it to that), with its own block buffer, so that a record
//! of up to [`MAX_DIRECT`] bytes (nearly every one) is written once, straight
//! into the bytes to be hashed, in fixed-size moves, and its detail with it
//! ([`super::Detail`]). The blocks it completes are compressed when the chain
//! takes its next record, not at once: by then the CPU has long written the
//! record's bytes to its cache, where reading them back at once would wait
//! for every store before them, cold ones included. Encoding a record into a
//! buffer and copying it into a hasher's, with a `memcpy` for every field and
//! such waits in each, cost as much per packet as hashing it. The compression
//! function is `sha2`'s, with its hardware path where the CPU has one.

use sha2::digest::generic_array::GenericArray;

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// The longest record [`Chain::absorb_with`] takes.
pub(super) const MAX_DIRECT: usize = 128;

/// Bytes a record written directly may spill past its end (a number's
/// whole 16-byte store, see [`super::Detail::number`]).
pub(super) const SPILL: usize = 16;

/// The buffer: under 64 bytes left from earlier records, a record and its
/// spill, and room to move a whole 64 bytes down after the last full block.
const BUFFER: usize = 64 + MAX_DIRECT + 64;

/// One node's running SHA-256.
#[derive(Clone)]
pub(super) struct Chain {
    state: [u32; 8],
    /// Bytes taken in but not yet compressed: the first `filled`. Under 64
    /// between records but for the last record's, compressed at the next.
    buf: [u8; BUFFER],
    filled: usize,
    /// Blocks compressed so far.
    blocks: u64,
    /// Records taken in (counted by the trace).
    pub(super) records: u64,
}

impl Default for Chain {
    fn default() -> Self {
        Chain { state: IV, buf: [0; BUFFER], filled: 0, blocks: 0, records: 0 }
    }
}

/// Compresses `blocks`, a whole number of 64-byte blocks, into `state`.
fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    for block in blocks.chunks_exact(64) {
        sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
}

impl Chain {
    /// Compresses the whole blocks the buffer holds and moves the rest (under
    /// 64 bytes) to its front.
    #[inline]
    fn settle(&mut self) {
        if self.filled < 64 {
            return;
        }
        let full = self.filled / 64 * 64;
        compress(&mut self.state, &self.buf[..full]);
        self.blocks += (full / 64) as u64;
        // Whole 64 bytes, whatever is left: a fixed-size move.
        let rest: [u8; 64] = self.buf[full..full + 64].try_into().expect("64 bytes");
        self.buf[..64].copy_from_slice(&rest);
        self.filled -= full;
    }

    /// Takes in one record that `write` writes at the start of the slice it
    /// is given ([`MAX_DIRECT`] bytes and [`SPILL`] more it may scribble on)
    /// and whose length it returns, at most [`MAX_DIRECT`]. Returns the record.
    #[inline]
    pub(super) fn absorb_with(&mut self, write: impl FnOnce(&mut [u8]) -> usize) -> &[u8] {
        self.settle();
        let start = self.filled;
        let len = write(&mut self.buf[start..start + MAX_DIRECT + SPILL]);
        assert!(len <= MAX_DIRECT, "a record written directly is at most {MAX_DIRECT} bytes");
        self.filled = start + len;
        &self.buf[start..start + len]
    }

    /// Takes in `bytes`, of any length.
    pub(super) fn absorb(&mut self, mut bytes: &[u8]) {
        self.settle();
        if self.filled > 0 {
            let take = (64 - self.filled).min(bytes.len());
            self.buf[self.filled..self.filled + take].copy_from_slice(&bytes[..take]);
            self.filled += take;
            bytes = &bytes[take..];
            if self.filled < 64 {
                return;
            }
            self.settle();
        }
        let full = bytes.len() / 64 * 64;
        compress(&mut self.state, &bytes[..full]);
        self.blocks += (full / 64) as u64;
        let rest = &bytes[full..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// The SHA-256 of everything taken in so far.
    pub(super) fn finalize(&self) -> [u8; 32] {
        let mut chain = self.clone();
        chain.settle();
        let used = chain.filled;
        let mut tail = [0u8; 128];
        tail[..used].copy_from_slice(&chain.buf[..used]);
        tail[used] = 0x80;
        let bits = (chain.blocks * 64 + used as u64) * 8;
        let len = if used < 56 { 64 } else { 128 };
        tail[len - 8..len].copy_from_slice(&bits.to_be_bytes());
        compress(&mut chain.state, &tail[..len]);
        let mut out = [0u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(chain.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// Writes `src` at `out[at..]` and returns where it ends: short strings in
/// two overlapping fixed-size moves, as `memcpy` itself does, but inline.
#[inline(always)]
pub(super) fn put(out: &mut [u8], at: usize, src: &[u8]) -> usize {
    let n = src.len();
    let dst = &mut out[at..at + n];
    match n {
        0 => {}
        1..=3 => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        4..=7 => {
            mv::<4>(dst, src, 0);
            mv::<4>(dst, src, n - 4);
        }
        8..=16 => {
            mv::<8>(dst, src, 0);
            mv::<8>(dst, src, n - 8);
        }
        17..=32 => {
            mv::<16>(dst, src, 0);
            mv::<16>(dst, src, n - 16);
        }
        _ => dst.copy_from_slice(src),
    }
    at + n
}

/// Moves `N` bytes from `src[at..]` to `dst[at..]`.
#[inline(always)]
fn mv<const N: usize>(dst: &mut [u8], src: &[u8], at: usize) {
    let bytes: [u8; N] = src[at..at + N].try_into().expect("N bytes");
    dst[at..at + N].copy_from_slice(&bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn hashes_what_sha2_hashes_whatever_the_pieces() {
        // Pieces of every length up to past two blocks, directly and not, in
        // a scrambled order, so that every offset in a block is crossed.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut chain = Chain::default();
        let mut reference = Sha256::new();
        assert_eq!(chain.finalize(), <[u8; 32]>::from(reference.clone().finalize()), "nothing taken in");
        for i in 0..3000 {
            let r = next();
            let len = (r % 150) as usize;
            let piece: Vec<u8> = (0..len).map(|j| (r >> (j % 56)) as u8 ^ j as u8).collect();
            reference.update(&piece);
            if len <= MAX_DIRECT && r % 3 != 0 {
                let written = chain.absorb_with(|out| {
                    // Scribbling past the end is allowed, and must not count.
                    out[len..len + SPILL].fill(0xee);
                    put(out, 0, &piece)
                });
                assert_eq!(written, &piece[..]);
            } else {
                chain.absorb(&piece);
            }
            if i % 97 == 0 {
                assert_eq!(chain.finalize(), <[u8; 32]>::from(reference.clone().finalize()), "after piece {i}");
            }
        }
        assert_eq!(chain.finalize(), <[u8; 32]>::from(reference.finalize()));
    }

    #[test]
    fn put_writes_every_length_exactly() {
        for n in 0..=70 {
            let src: Vec<u8> = (1..=n as u8).collect();
            let mut out = [0u8; 100];
            assert_eq!(put(&mut out, 3, &src), 3 + n);
            assert_eq!(&out[3..3 + n], &src[..]);
            assert!(out[..3].iter().chain(&out[3 + n..]).all(|&b| b == 0), "nothing else written for {n}");
        }
    }
}
