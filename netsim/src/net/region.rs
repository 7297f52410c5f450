//! Regions: instances placed in places far from each other, with a latency
//! (and bandwidth, and loss) matrix between them.
//!
//! A region path is the wide-area network between two regions, in series
//! with the sender's own link: a packet first leaves its sender's egress link
//! (shaped by the instance's configuration, as always), then crosses the path
//! from the sender's region to the receiver's, which adds its latency, may
//! lose it, and, with a bandwidth, serializes it through a FIFO of its own.
//! That queue belongs to the sender (one per destination region): a region
//! path's bandwidth is what each instance gets towards that region, not a
//! link all instances share, so a run split across workers (each sender on
//! its own worker) queues exactly as one process does.
//!
//! Instances outside every region have no region paths. Rules, filters and
//! partitions decide before the path is taken ([`super::rule`]).

use super::link::{EGRESS_QUEUE_BYTES, queued_bytes, serialization_nanos};
use super::rule::DropReason;
use crate::rng::RngStream;
use crate::time::SimTime;
use std::collections::BTreeMap;
use std::time::Duration;

/// One directed path between two regions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegionPath {
    /// One-way delay the path adds.
    pub latency: Duration,
    /// Rate in bits per second; 0 is unlimited.
    pub bandwidth: u64,
    /// Probability in `[0, 1]` that the path loses a packet.
    pub loss: f64,
}

/// The regions of a run and where each instance is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Regions {
    /// Region names, in matrix order.
    pub names: Vec<String>,
    /// `paths[from][to]`: a square matrix over `names`.
    pub paths: Vec<Vec<RegionPath>>,
    /// Each instance's region (an index into `names`), by instance; instances
    /// past the end of the list, or `None`, are in no region.
    pub of_node: Vec<Option<u16>>,
}

/// Why a region description cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// The matrix is not square over the regions.
    #[error("region {region:?} has {got} paths but there are {regions} regions: the matrix must be square")]
    NotSquare {
        /// The region whose row is wrong (or the number of rows).
        region: String,
        /// Paths in its row.
        got: usize,
        /// Regions.
        regions: usize,
    },
    /// A loss probability outside `[0, 1]`.
    #[error("path {from:?} -> {to:?}: loss {loss} is not a probability in [0, 1]")]
    Loss {
        /// Source region.
        from: String,
        /// Destination region.
        to: String,
        /// The value.
        loss: String,
    },
    /// An instance placed in a region that does not exist.
    #[error("instance {node} is placed in region #{region}, but there are {regions} regions")]
    NoSuchRegion {
        /// The instance.
        node: u32,
        /// The index it was given.
        region: u16,
        /// Regions.
        regions: usize,
    },
    /// Two regions with one name.
    #[error("two regions are called {0:?}")]
    Duplicate(String),
}

impl Regions {
    /// Checks that the matrix is square, probabilities are probabilities and
    /// every placement names a region.
    pub fn check(&self) -> Result<(), RegionError> {
        let n = self.names.len();
        for (i, name) in self.names.iter().enumerate() {
            if self.names[..i].contains(name) {
                return Err(RegionError::Duplicate(name.clone()));
            }
        }
        if self.paths.len() != n {
            return Err(RegionError::NotSquare { region: "(rows)".into(), got: self.paths.len(), regions: n });
        }
        for (from, row) in self.names.iter().zip(&self.paths) {
            if row.len() != n {
                return Err(RegionError::NotSquare { region: from.clone(), got: row.len(), regions: n });
            }
            for (to, path) in self.names.iter().zip(row) {
                if !(0.0..=1.0).contains(&path.loss) {
                    let (from, to, loss) = (from.clone(), to.clone(), path.loss.to_string());
                    return Err(RegionError::Loss { from, to, loss });
                }
            }
        }
        for (node, region) in self.of_node.iter().enumerate() {
            if let Some(r) = *region
                && usize::from(r) >= n
            {
                return Err(RegionError::NoSuchRegion { node: node as u32, region: r, regions: n });
            }
        }
        Ok(())
    }

    /// The path from instance `src`'s region to `dst`'s, if both are in one.
    pub(crate) fn path(&self, src: usize, dst: usize) -> Option<(u16, &RegionPath)> {
        let from = (*self.of_node.get(src)?)?;
        let to = (*self.of_node.get(dst)?)?;
        Some((to, &self.paths[usize::from(from)][usize::from(to)]))
    }
}

/// A sender's queues onto region paths, by destination region.
#[derive(Default)]
pub(crate) struct WanQueues {
    busy_until: BTreeMap<u16, SimTime>,
}

impl WanQueues {
    /// A packet of `wire` bytes that left the sender's link at `departed`
    /// crosses `path` towards region `to`: the extra time it takes (queueing,
    /// serialization and latency), or why it was lost. Loss draws from `rng`.
    pub(crate) fn cross(
        &mut self,
        to: u16,
        path: &RegionPath,
        departed: SimTime,
        wire: u64,
        rng: &mut RngStream,
    ) -> Result<Duration, DropReason> {
        let mut done = departed;
        if path.bandwidth > 0 {
            let busy = self.busy_until.entry(to).or_insert(SimTime::ZERO);
            let start = (*busy).max(departed);
            let queued_bytes = queued_bytes(start.as_nanos() - departed.as_nanos(), path.bandwidth);
            if queued_bytes + u128::from(wire) > u128::from(EGRESS_QUEUE_BYTES) {
                return Err(DropReason::QueueFull);
            }
            done = start + Duration::from_nanos(serialization_nanos(wire, path.bandwidth));
            *busy = done;
        }
        if path.loss > 0.0 && rng.chance(path.loss) {
            return Err(DropReason::Loss);
        }
        Ok(done.duration_since(departed).saturating_add(path.latency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(rows: Vec<Vec<RegionPath>>) -> Regions {
        Regions { names: vec!["a".into(), "b".into()], paths: rows, of_node: vec![Some(0), Some(1), None] }
    }

    #[test]
    fn the_matrix_must_be_square_and_probabilities_probabilities() {
        let p = RegionPath::default;
        assert!(regions(vec![vec![p(), p()], vec![p(), p()]]).check().is_ok());
        let err = regions(vec![vec![p(), p()], vec![p()]]).check().unwrap_err();
        assert!(err.to_string().contains("region \"b\" has 1 paths"), "{err}");
        let lossy = RegionPath { loss: 1.5, ..p() };
        assert!(regions(vec![vec![p(), lossy], vec![p(), p()]]).check().is_err());
        let mut r = regions(vec![vec![p(), p()], vec![p(), p()]]);
        r.of_node.push(Some(2));
        assert!(r.check().is_err());
    }

    #[test]
    fn paths_between_placed_instances_only() {
        let slow = RegionPath { latency: Duration::from_millis(40), ..RegionPath::default() };
        let r = regions(vec![vec![RegionPath::default(), slow.clone()], vec![slow, RegionPath::default()]]);
        assert_eq!(r.path(0, 1).map(|(to, p)| (to, p.latency)), Some((1, Duration::from_millis(40))));
        assert!(r.path(0, 2).is_none(), "instance 2 is in no region");
        assert!(r.path(0, 7).is_none());
    }

    #[test]
    fn a_path_with_bandwidth_queues_per_destination_region() {
        let mut q = WanQueues::default();
        let mut rng = RngStream::derive(1, "t", 0);
        // 8 Mbit/s: 1000 bytes take 1 ms.
        let path = RegionPath { latency: Duration::from_millis(10), bandwidth: 8_000_000, loss: 0.0 };
        let t = SimTime::ZERO;
        assert_eq!(q.cross(1, &path, t, 1000, &mut rng), Ok(Duration::from_millis(11)));
        assert_eq!(q.cross(1, &path, t, 1000, &mut rng), Ok(Duration::from_millis(12)));
        assert_eq!(q.cross(2, &path, t, 1000, &mut rng), Ok(Duration::from_millis(11)), "another region's queue");
    }
}
