//! A sync topic: an append-only log of messages.

use crate::node::NodeId;
use crate::time::SimTime;
use std::sync::Arc;

/// One published message.
#[derive(Clone, Debug)]
pub struct Message {
    /// The bytes the publisher sent; shared by every subscriber.
    pub payload: Arc<[u8]>,
    /// Who published it.
    pub publisher: NodeId,
    /// When subscribers can first see it.
    pub visible_at: SimTime,
}

/// An append-only log; subscribers keep their own cursor into it.
#[derive(Default, Debug)]
pub struct Topic {
    messages: Vec<Message>,
}

impl Topic {
    pub(super) fn append(&mut self, message: Message) -> u64 {
        self.messages.push(message);
        self.messages.len() as u64
    }

    /// The message at 0-based `index`.
    pub fn get(&self, index: usize) -> Option<&Message> {
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
