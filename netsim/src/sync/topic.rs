//! A sync topic: an append-only log of messages.

use std::sync::Arc;

/// An append-only log; subscribers keep their own cursor into it.
#[derive(Default, Debug)]
pub struct Topic {
    messages: Vec<Arc<[u8]>>,
}

impl Topic {
    pub(super) fn append(&mut self, payload: Arc<[u8]>) -> u64 {
        self.messages.push(payload);
        self.messages.len() as u64
    }

    /// The payload of the message at 0-based `index`; shared by every subscriber.
    pub fn get(&self, index: usize) -> Option<&Arc<[u8]>> {
        self.messages.get(index)
    }

    /// How many messages were published.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether nothing was published.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}
