//! Which instances each shard of a split run hosts.

use crate::node::NodeId;
use std::ops::Range;

/// One shard's place in a run split `count` ways: shard `index` hosts a
/// contiguous block of the run's instances, the blocks as even as they can be.
///
/// ```
/// use netsim::shard::ShardLayout;
/// use netsim::NodeId;
/// let second = ShardLayout::new(1, 3, 10).unwrap();
/// assert_eq!(second.nodes(), 3..6);
/// assert_eq!(second.owner(NodeId(9)), 2);
/// assert!(second.is_local(NodeId(4)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardLayout {
    index: u32,
    count: u32,
    instances: u32,
}

/// A layout that cannot be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// No shards, or a shard number past the last.
    #[error("shard {index} of {count} does not exist (shards are numbered 0..{count})")]
    NoSuchShard {
        /// The shard asked for.
        index: u32,
        /// How many there are.
        count: u32,
    },
    /// More shards than instances: some would host nothing.
    #[error("{count} workers for {instances} instance{}: every worker needs at least one instance", plural(.instances))]
    TooManyShards {
        /// How many shards.
        count: u32,
        /// How many instances.
        instances: u32,
    },
}

/// The plural ending for `n` of something.
fn plural(n: &u32) -> &'static str {
    if *n == 1 { "" } else { "s" }
}

impl ShardLayout {
    /// A run that is not split: one shard hosting every instance.
    pub fn whole(instances: u32) -> ShardLayout {
        ShardLayout { index: 0, count: 1, instances }
    }

    /// Shard `index` of a run of `instances` split `count` ways.
    pub fn new(index: u32, count: u32, instances: u32) -> Result<ShardLayout, LayoutError> {
        if count == 0 || index >= count {
            return Err(LayoutError::NoSuchShard { index, count });
        }
        if count > instances {
            return Err(LayoutError::TooManyShards { count, instances });
        }
        Ok(ShardLayout { index, count, instances })
    }

    /// This shard's number.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// How many shards the run has.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// How many instances the whole run has.
    pub fn instances(&self) -> u32 {
        self.instances
    }

    /// Whether the run is split at all.
    pub fn is_split(&self) -> bool {
        self.count > 1
    }

    /// The instances this shard hosts.
    pub fn nodes(&self) -> Range<u32> {
        self.start(self.index)..self.start(self.index + 1)
    }

    /// The shard that hosts `node`.
    pub fn owner(&self, node: NodeId) -> u32 {
        // The largest s with start(s) <= node: start(s) = floor(s·n/c) <= node
        // exactly when s < (node+1)·c/n.
        let (n, c) = (u64::from(self.instances), u64::from(self.count));
        (((u64::from(node.0) + 1) * c - 1) / n).min(c - 1) as u32
    }

    /// Whether this shard hosts `node`.
    pub fn is_local(&self, node: NodeId) -> bool {
        self.nodes().contains(&node.0)
    }

    fn start(&self, shard: u32) -> u32 {
        (u64::from(shard) * u64::from(self.instances) / u64::from(self.count)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_instance_once_and_owner_agrees() {
        for instances in 1..40u32 {
            for count in 1..=instances.min(9) {
                let mut seen = Vec::new();
                for index in 0..count {
                    let layout = ShardLayout::new(index, count, instances).unwrap();
                    assert!(!layout.nodes().is_empty());
                    for n in layout.nodes() {
                        assert_eq!(layout.owner(NodeId(n)), index, "{n} of {instances} in {count}");
                        seen.push(n);
                    }
                }
                assert_eq!(seen, (0..instances).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn impossible_layouts_are_refused() {
        assert!(ShardLayout::new(3, 3, 10).is_err());
        assert!(ShardLayout::new(0, 0, 10).is_err());
        assert_eq!(ShardLayout::new(0, 5, 4), Err(LayoutError::TooManyShards { count: 5, instances: 4 }));
        assert_eq!(
            ShardLayout::new(0, 2, 1).unwrap_err().to_string(),
            "2 workers for 1 instance: every worker needs at least one instance"
        );
    }
}
