//! Known answers: the random streams and the trace encoding are promised to
//! stay the same across platforms and upgrades (a run's digest depends on
//! both), so their outputs are pinned here to literal values, and checked
//! against reference implementations written from their specifications, which
//! are themselves checked against the published test vectors.
//!
//! A failure here means every digest of every run changes: see "Determinism"
//! in the README before touching the generator or the encoding.

use netsim::{NodeId, RngStream, SimTime, Trace};
use sha2::{Digest, Sha256};

/// SplitMix64 (Steele, Lea, Flood 2014), as in Vigna's reference `splitmix64.c`.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** 1.0 (Blackman, Vigna 2018), as in the reference `xoshiro256starstar.c`.
fn xoshiro256starstar(s: &mut [u64; 4]) -> u64 {
    let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
    let t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3].rotate_left(45);
    result
}

/// The derivation `RngStream::derive` documents: FNV-1a 64 of the domain,
/// rotated left by 17, and the index times an odd constant, xored into the
/// seed, expanded into xoshiro's state by four SplitMix64 steps.
fn reference_stream(seed: u64, domain: &str, index: u64) -> [u64; 4] {
    let fnv = domain.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let mut sm = seed ^ fnv.rotate_left(17) ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    [splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm)]
}

#[test]
fn the_reference_generators_give_their_published_test_vectors() {
    let mut sm = 0;
    let first: Vec<u64> = (0..3).map(|_| splitmix64(&mut sm)).collect();
    assert_eq!(first, [0xe220_a839_7b1d_cdaf, 0x6e78_9e6a_a1b9_65f4, 0x06c4_5d18_8009_454f]);
    let mut s = [1, 2, 3, 4];
    let first: Vec<u64> = (0..4).map(|_| xoshiro256starstar(&mut s)).collect();
    assert_eq!(first, [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240]);
    // FNV-1a 64 of "a", from the FNV specification's test suite.
    let fnv = b"a".iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
    assert_eq!(fnv, 0xaf63_dc4c_8601_ec8c);
}

#[test]
fn streams_follow_their_specification() {
    for seed in [0, 1, 7, 0xdead_beef, u64::MAX] {
        for domain in ["", "wasi-random", "net", "link-jitter", "é"] {
            for index in [0, 1, 3, 1 << 40, u64::MAX] {
                let mut reference = reference_stream(seed, domain, index);
                let mut stream = RngStream::derive(seed, domain, index);
                for _ in 0..8 {
                    assert_eq!(stream.next_u64(), xoshiro256starstar(&mut reference), "{seed} {domain:?} {index}");
                }
            }
        }
    }
}

/// One pinned stream: seed, domain, index; its first four `u64`s; and, drawn
/// after 13 bytes (the last field), a `u32` and an `f64`.
type PinnedStream = (u64, &'static str, u64, [u64; 4], u32, f64, [u8; 13]);

#[test]
fn streams_give_their_pinned_values() {
    let cases: [PinnedStream; 3] = [
        (
            0,
            "wasi-random",
            0,
            [0xbf04_3390_7ca1_e025, 0x1522_6efe_ce03_89b7, 0x28b7_31fe_66fe_f3a1, 0xcb92_e506_cdf7_c58f],
            0xf950_6e40,
            0.393_832_003_340_999_1,
            [0x7e, 0x14, 0xb3, 0x5a, 0x3b, 0x33, 0x2d, 0x6b, 0xf7, 0xce, 0x46, 0x9e, 0x7a],
        ),
        (
            7,
            "net",
            3,
            [0x974e_b9c5_228b_195e, 0xd866_fd0e_4703_d2a9, 0xe3a9_a44b_cbb3_0a3c, 0x92df_d2de_c107_5b1b],
            0x9b6e_9ce5,
            0.809_282_126_440_540_4,
            [0x0a, 0x67, 0x64, 0x35, 0xbc, 0xf1, 0x7b, 0x4b, 0x31, 0x6a, 0xeb, 0x40, 0xcf],
        ),
        (
            u64::MAX,
            "",
            u64::MAX,
            [0xbb78_8d33_236c_e5cf, 0x07ac_62af_c2a4_420a, 0x66a5_e8d3_bd50_86cb, 0x14e8_3559_9f3d_c5fd],
            0xdcad_2a51,
            0.272_500_726_865_315_57,
            [0x02, 0x63, 0x13, 0x5b, 0x1b, 0x5a, 0xf2, 0x21, 0x87, 0x4a, 0x49, 0xe5, 0xbd],
        ),
    ];
    for (seed, domain, index, words, word32, float, bytes) in cases {
        let mut s = RngStream::derive(seed, domain, index);
        let got: Vec<u64> = (0..4).map(|_| s.next_u64()).collect();
        assert_eq!(got, words, "{seed} {domain:?} {index}");
        // Bytes eight at a time, little-endian: 13 bytes take two words.
        let mut filled = [0u8; 13];
        s.fill_bytes(&mut filled);
        assert_eq!(filled, bytes);
        assert_eq!(s.next_u32(), word32);
        assert_eq!(s.next_f64().to_bits(), float.to_bits());
    }
}

/// The documented encoding of one record: time (8 bytes) and node (4),
/// little-endian, then kind and detail each after its length in unsigned
/// LEB128 (seven bits a byte, low first, the high bit set on all but the last).
fn encode(t: u64, node: u32, kind: &str, detail: &str) -> Vec<u8> {
    fn length(out: &mut Vec<u8>, n: usize) {
        let mut rest = n;
        loop {
            let low = (rest % 128) as u8;
            rest /= 128;
            out.push(if rest == 0 { low } else { low + 128 });
            if rest == 0 {
                break;
            }
        }
    }
    let mut out = Vec::new();
    out.extend_from_slice(&t.to_le_bytes());
    out.extend_from_slice(&node.to_le_bytes());
    length(&mut out, kind.len());
    out.extend_from_slice(kind.as_bytes());
    length(&mut out, detail.len());
    out.extend_from_slice(detail.as_bytes());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_trace_encoding_and_digests_are_pinned() {
    // A detail of 200 bytes: its length takes two bytes.
    let long = "ab".repeat(100);
    let records: [(u64, NodeId, &str, &str); 5] = [
        (0, NodeId(0), "instance.start", ""),
        (1_500, NodeId(1), "sync.signal", "state=\"ready\" seq=1"),
        (2_000_000_000, NodeId(0), "instance.end", "outcome=ok reason=\"\""),
        (7, NodeId::SIM, "net.topology", "é"),
        (3_000, NodeId(1), "plan.message", &long),
    ];
    let mut trace = Trace::new(true);
    for (t, node, kind, detail) in records {
        trace.record(SimTime::from_nanos(t), node, kind, format_args!("{detail}"));
    }
    // The kept records read back as they were made.
    let kept: Vec<(u64, Option<u32>, String, String)> =
        trace.records().unwrap().iter().map(|r| (r.t, r.node, r.kind.to_string(), r.detail.to_string())).collect();
    let made: Vec<(u64, Option<u32>, String, String)> = records
        .iter()
        .map(|&(t, n, kind, detail)| (t, (n != NodeId::SIM).then_some(n.0), kind.to_string(), detail.to_string()))
        .collect();
    assert_eq!(kept, made);

    // Each node's digest is SHA-256 over its records' encodings, in the order made.
    let chain = |node: NodeId| {
        let mut h = Sha256::new();
        for (t, n, kind, detail) in records.iter().filter(|r| r.1 == node) {
            h.update(encode(*t, n.0, kind, detail));
        }
        hex(&h.finalize())
    };
    let digests = trace.node_digests();
    let got: Vec<(u32, u64, String)> = digests.iter().map(|d| (d.node, d.records, hex(&d.digest))).collect();
    let pinned = [
        (0, 2, "7471ed1d3aac07feaafdce5089219a41e8de6a5acc112b0b0eb89d77f0ba84df"),
        (1, 2, "c86381a52238e9f31e943e638b249548c49212b23c252253efc71931a2546058"),
        (u32::MAX, 1, "93022dd4760cae81980e087a958fe7735d4fbc6bc787a26b2bac2fc5a986b6aa"),
    ];
    for ((node, count, digest), (pn, pc, pd)) in got.iter().zip(pinned) {
        assert_eq!((*node, *count, digest.as_str()), (pn, pc, pd));
        assert_eq!(*digest, chain(NodeId(*node)), "node {node} follows the documented encoding");
    }
    assert_eq!(got.len(), pinned.len());

    // The run digest: SHA-256 over each node's number, record count and digest, in node order.
    let mut h = Sha256::new();
    for d in &digests {
        h.update(d.node.to_le_bytes());
        h.update(d.records.to_le_bytes());
        h.update(d.digest);
    }
    assert_eq!(trace.digest_hex(), hex(&h.finalize()));
    assert_eq!(trace.digest_hex(), "df690726df1967f78f3dfc247799a2e9c035cfdebda7fa6c2cd6e64187ee01ae");
}
