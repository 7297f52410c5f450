//! What one receiving shard holds while it exchanges a window: a slot per
//! sender, frames that arrived early, and the rules that decide whether a
//! frame is new, a duplicate, or a protocol error. No I/O: the mailbox feeds
//! it whatever Redis returned.
//!
//! Which frames can legitimately arrive while this shard exchanges window `w`
//! (the previous window it exchanged being `p`):
//!
//! - `w` itself: the frames it is waiting for.
//! - The window after `w`, once per sender: a sender that has all its frames
//!   of `w` moves on and sends its next frame while this shard still waits
//!   for someone else's. It is kept for the next exchange. A sender cannot be
//!   two windows ahead, because it needs this shard's next frame first.
//! - Repeats of frames already received, from `w`, the next window, or `p`: a
//!   sender whose reply from Redis was lost retries the send, which may
//!   already have been applied. The repeat reaches the list before anything
//!   the sender sends later, so it is never older than `p`. Repeats are dropped.
//!
//! Anything else — an older window, a second future window, a repeat with
//! different bytes (two processes acting as one shard), a sender index out of
//! range — is a protocol error.

/// A frame that cannot belong to the exchange: the shards are out of step,
/// or something else writes to this shard's inbox.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InboxError {
    /// The bytes are not a frame.
    #[error(transparent)]
    NotAFrame(#[from] frame::NotAFrame),
    /// A frame came early for another window than the next.
    #[error(
        "shard {from} sent a frame for window {sent}, but this shard's next window is {next}; \
         every shard must exchange the same windows in the same order"
    )]
    OutOfStep { from: usize, sent: u64, next: u64 },
    /// A frame names a sender that is not another shard of the run.
    #[error("a frame claims to come from shard {from} but this is shard {index} of {count}")]
    NoSuchSender { from: u32, index: u32, count: u32 },
    /// One sender sent two different frames for one window.
    #[error("shard {from} sent two different frames for window {window}; two processes may be acting as shard {from}")]
    TwoFrames { from: usize, window: u64 },
    /// One sender is two windows ahead.
    #[error(
        "shard {from} sent frames for windows {first} and {second} while this shard exchanges window {current}; \
         a shard cannot be two windows ahead"
    )]
    TwoAhead { from: usize, first: u64, second: u64, current: u64 },
    /// A frame for a window older than the previous one.
    #[error(
        "shard {from} sent a frame for window {window}, older than this shard's previous window ({prev:?}) \
         while it exchanges window {current}"
    )]
    Stale { from: usize, window: u64, prev: Option<u64>, current: u64 },
}

use super::frame;

/// What [`Inbox::accept`] did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// A frame of the current window, now in its sender's slot.
    Current,
    /// A frame of the next window, kept for the next exchange.
    Ahead,
    /// A repeat of a frame already received; dropped.
    Duplicate,
}

/// The receiving side of one shard; see the module documentation.
#[derive(Debug)]
pub struct Inbox {
    index: u32,
    count: u32,
    /// The last window exchanged to completion.
    prev: Option<u64>,
    /// The window being exchanged, between [`Inbox::begin`] and [`Inbox::finish`].
    current: Option<u64>,
    slots: Vec<Option<Vec<u8>>>,
    missing: usize,
    /// Frames of the next window, by sender.
    ahead: Vec<Option<(u64, Vec<u8>)>>,
    duplicates: u64,
}

impl Inbox {
    /// The inbox of shard `index` among `count`.
    ///
    /// # Panics
    /// If `index >= count`.
    pub fn new(index: u32, count: u32) -> Inbox {
        assert!(index < count, "shard index {index} out of range for {count} shards");
        let n = count as usize;
        Inbox {
            index,
            count,
            prev: None,
            current: None,
            slots: vec![None; n],
            missing: 0,
            ahead: vec![None; n],
            duplicates: 0,
        }
    }

    /// Starts exchanging `window`, taking in the frames that arrived early.
    ///
    /// # Panics
    /// If a window is already being exchanged, or `window` is not after the
    /// previous one: the caller must give each window once, in increasing order.
    pub fn begin(&mut self, window: u64) -> Result<(), InboxError> {
        assert!(self.current.is_none(), "exchange of window {:?} was not finished", self.current);
        if let Some(prev) = self.prev {
            assert!(window > prev, "windows must increase: window {window} after window {prev}");
        }
        self.current = Some(window);
        self.missing = self.count as usize - 1;
        for (from, early) in self.ahead.iter_mut().enumerate() {
            if let Some((w, payload)) = early.take() {
                if w != window {
                    return Err(InboxError::OutOfStep { from, sent: w, next: window });
                }
                self.slots[from] = Some(payload);
                self.missing -= 1;
            }
        }
        Ok(())
    }

    /// Files one frame as it came from Redis.
    ///
    /// # Panics
    /// Outside [`Inbox::begin`] … [`Inbox::finish`].
    pub fn accept(&mut self, raw: Vec<u8>) -> Result<Accepted, InboxError> {
        let current = self.current.expect("accept() between begin() and finish()");
        let f = frame::decode(raw)?;
        let from = f.from as usize;
        if f.from >= self.count || f.from == self.index {
            return Err(InboxError::NoSuchSender { from: f.from, index: self.index, count: self.count });
        }
        let twice = |window: u64| InboxError::TwoFrames { from, window };
        if f.window == current {
            return match &self.slots[from] {
                Some(have) if *have == f.payload => self.duplicate(),
                Some(_) => Err(twice(f.window)),
                None => {
                    self.slots[from] = Some(f.payload);
                    self.missing -= 1;
                    Ok(Accepted::Current)
                }
            };
        }
        if f.window > current {
            return match &self.ahead[from] {
                None => {
                    self.ahead[from] = Some((f.window, f.payload));
                    Ok(Accepted::Ahead)
                }
                Some((w, have)) if *w == f.window && *have == f.payload => self.duplicate(),
                Some((w, _)) if *w == f.window => Err(twice(f.window)),
                Some((w, _)) => Err(InboxError::TwoAhead { from, first: *w, second: f.window, current }),
            };
        }
        if Some(f.window) == self.prev {
            // The previous exchange completed, so this sender's frame for it was received.
            return self.duplicate();
        }
        Err(InboxError::Stale { from, window: f.window, prev: self.prev, current })
    }

    fn duplicate(&mut self) -> Result<Accepted, InboxError> {
        self.duplicates += 1;
        Ok(Accepted::Duplicate)
    }

    /// Whether every other shard's frame for the current window is here.
    pub fn complete(&self) -> bool {
        self.current.is_some() && self.missing == 0
    }

    /// The shards whose frame for the current window is still missing.
    pub fn missing(&self) -> Vec<u32> {
        (0..self.count).filter(|&d| d != self.index && self.slots[d as usize].is_none()).collect()
    }

    /// Ends the exchange: the frames by sender index, this shard's own slot empty.
    ///
    /// # Panics
    /// If the exchange is not [`complete`](Inbox::complete).
    pub fn finish(&mut self) -> Vec<Vec<u8>> {
        assert!(self.complete(), "finish() of an incomplete exchange; missing {:?}", self.missing());
        self.prev = self.current.take();
        self.slots.iter_mut().map(|s| s.take().unwrap_or_default()).collect()
    }

    /// Abandons the current exchange, after an error ended it.
    pub fn reset(&mut self) {
        self.current = None;
        self.slots.iter_mut().for_each(|s| *s = None);
    }

    /// How many repeated frames were dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::frame::encode;

    #[test]
    fn orders_by_sender_and_drops_repeats() {
        let mut inbox = Inbox::new(1, 3);
        inbox.begin(0).unwrap();
        assert_eq!(inbox.accept(encode(0, 2, b"c")).unwrap(), Accepted::Current);
        assert_eq!(inbox.accept(encode(0, 2, b"c")).unwrap(), Accepted::Duplicate);
        assert!(!inbox.complete());
        assert_eq!(inbox.missing(), vec![0]);
        assert_eq!(inbox.accept(encode(0, 0, b"a")).unwrap(), Accepted::Current);
        assert_eq!(inbox.finish(), vec![b"a".to_vec(), vec![], b"c".to_vec()]);
        assert_eq!(inbox.duplicates(), 1);
    }

    #[test]
    fn keeps_early_frames_and_drops_late_repeats() {
        let mut inbox = Inbox::new(0, 3);
        inbox.begin(5).unwrap();
        inbox.accept(encode(5, 1, b"b5")).unwrap();
        assert_eq!(inbox.accept(encode(6, 1, b"b6")).unwrap(), Accepted::Ahead);
        assert_eq!(inbox.accept(encode(6, 1, b"b6")).unwrap(), Accepted::Duplicate);
        inbox.accept(encode(5, 2, b"c5")).unwrap();
        inbox.finish();
        inbox.begin(6).unwrap();
        assert_eq!(inbox.accept(encode(5, 2, b"c5")).unwrap(), Accepted::Duplicate, "a retried send of window 5");
        assert_eq!(inbox.missing(), vec![2]);
        inbox.accept(encode(6, 2, b"c6")).unwrap();
        assert_eq!(inbox.finish(), vec![vec![], b"b6".to_vec(), b"c6".to_vec()]);
    }

    #[test]
    fn refuses_frames_of_the_wrong_window_or_sender() {
        let mut inbox = Inbox::new(0, 3);
        inbox.begin(1).unwrap();
        inbox.accept(encode(1, 1, b"")).unwrap();
        inbox.accept(encode(1, 2, b"")).unwrap();
        inbox.finish();
        inbox.begin(2).unwrap();
        assert!(inbox.accept(encode(0, 1, b"")).unwrap_err().to_string().contains("older than"));
        assert!(inbox.accept(encode(2, 0, b"")).unwrap_err().to_string().contains("this is shard 0"));
        assert!(inbox.accept(encode(2, 3, b"")).unwrap_err().to_string().contains("this is shard 0"));
        inbox.accept(encode(2, 1, b"x")).unwrap();
        assert!(inbox.accept(encode(2, 1, b"y")).unwrap_err().to_string().contains("two processes"));
        inbox.accept(encode(3, 2, b"")).unwrap();
        assert!(inbox.accept(encode(4, 2, b"")).unwrap_err().to_string().contains("two windows ahead"));
    }

    #[test]
    fn an_early_frame_for_a_skipped_window_is_an_error() {
        let mut inbox = Inbox::new(0, 2);
        inbox.begin(1).unwrap();
        inbox.accept(encode(1, 1, b"")).unwrap();
        inbox.accept(encode(2, 1, b"")).unwrap();
        inbox.finish();
        assert!(inbox.begin(3).unwrap_err().to_string().contains("same windows in the same order"));
    }
}
