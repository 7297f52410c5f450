//! The wire format of one frame: what a receiving shard needs to check that a
//! frame belongs where it landed. It does not interpret the payload.
//!
//! Layout: the magic `TGF1`, the window (u64, little-endian), the sender's
//! shard index (u32, little-endian), then the payload. The magic catches a
//! list that holds something else (another program's key, a future format).

/// Bytes before the payload.
pub const HEADER_LEN: usize = 4 + 8 + 4;

/// Marks a frame, and its format version.
const MAGIC: &[u8; 4] = b"TGF1";

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The window it belongs to.
    pub window: u64,
    /// The shard that sent it.
    pub from: u32,
    /// The caller's bytes.
    pub payload: Vec<u8>,
}

/// Encodes a frame from `from` for `window`.
pub fn encode(window: u64, from: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&window.to_le_bytes());
    out.extend_from_slice(&from.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Bytes that are not a frame: too short, or without the magic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{len} bytes starting {head} are not a shard frame")]
pub struct NotAFrame {
    /// How many bytes there were.
    pub len: usize,
    /// The first few of them, in hex.
    pub head: String,
}

/// Decodes a frame.
pub fn decode(mut bytes: Vec<u8>) -> Result<Frame, NotAFrame> {
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        let head: String = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return Err(NotAFrame { len: bytes.len(), head });
    }
    let window = u64::from_le_bytes(bytes[4..12].try_into().expect("8 bytes"));
    let from = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    // The payload is most of the frame: shift it down rather than copy it.
    bytes.drain(..HEADER_LEN);
    Ok(Frame { window, from, payload: bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let f = decode(encode(u64::MAX - 1, 7, b"hello")).unwrap();
        assert_eq!(f, Frame { window: u64::MAX - 1, from: 7, payload: b"hello".to_vec() });
        assert_eq!(decode(encode(0, 0, b"")).unwrap().payload, b"");
    }

    #[test]
    fn refuses_other_bytes() {
        assert!(decode(b"TGF1short".to_vec()).is_err());
        let mut wrong = encode(1, 2, b"x");
        wrong[0] = b'X';
        assert!(decode(wrong).unwrap_err().to_string().contains("not a shard frame"));
    }
}
