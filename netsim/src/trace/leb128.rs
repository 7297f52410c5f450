//! The lengths in a trace record's encoding: unsigned LEB128, seven bits a
//! byte, low bits first, the high bit set on every byte but the last. A
//! kind or a detail shorter than 128 bytes (nearly every one) costs one
//! byte of length, where a fixed eight bytes cost more to hash than most
//! details do.

/// Appends `n`.
pub(super) fn put(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The number `bytes` starts with and how many bytes it took; `None` if
/// `bytes` ends first or the number does not fit 64 bits.
pub(super) fn get(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let bits = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return None;
        }
        n |= bits << (7 * i);
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_come_back_as_they_went_and_short_ones_take_a_byte() {
        for n in [0, 1, 63, 127, 128, 300, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put(&mut out, n);
            assert_eq!(get(&out), Some((n, out.len())), "{n}");
            assert_eq!(out.len() == 1, n < 128, "{n}");
            // Cut short, it is not a number.
            assert_eq!(get(&out[..out.len() - 1]), None, "{n}");
        }
        assert_eq!(get(&[0xff; 10]), None, "past 64 bits");
        assert_eq!(get(&[0x80, 0x01, 0xaa]), Some((128, 2)), "what follows is not read");
    }
}
