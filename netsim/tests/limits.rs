//! The run's limits on what plans make the simulation hold: refused at the
//! operation that would pass them, the same one every run, with the limit named.

use netsim::sync::SyncError;
use netsim::{LimitReached, Limits, NodeId, Sim, SimConfig, SyncOp};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Submits `op` for `node`, runs the world until nothing is left, and returns the reply.
fn reply(sim: &mut Sim, node: u32, op: SyncOp) -> Result<u64, SyncError> {
    let ticket = sim.submit_sync(NodeId(node), op).expect("accepted for submission");
    while sim.step().is_some() {}
    match sim.poll_sync(ticket, &mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => panic!("no reply"),
    }
}

fn publish(topic: &str, len: usize) -> SyncOp {
    SyncOp::Publish { topic: topic.into(), payload: Arc::from(vec![0u8; len]) }
}

fn signal(state: &str) -> SyncOp {
    SyncOp::SignalEntry { state: state.into() }
}

#[test]
fn a_publish_past_the_topic_bytes_of_a_run_is_refused_naming_the_limit() {
    let limits = Limits { topic_bytes: 1000, ..Limits::default() };
    let mut sim = Sim::new(SimConfig { instances: 2, limits, ..SimConfig::default() });
    assert_eq!(reply(&mut sim, 0, publish("a", 600)), Ok(1));
    assert_eq!(reply(&mut sim, 1, publish("b", 400)), Ok(1), "exactly at the limit is within it");
    let refused = reply(&mut sim, 0, publish("a", 1));
    assert_eq!(refused, Err(SyncError::LimitReached(LimitReached::TopicBytes(1000))));
    assert!(refused.unwrap_err().to_string().contains("more than 1000 payload bytes"));
    // Nothing of the refused message was kept; an empty one still fits.
    assert_eq!(reply(&mut sim, 0, publish("a", 0)), Ok(2));
}

#[test]
fn a_new_sync_name_past_the_limit_is_refused_and_known_names_go_on() {
    let limits = Limits { sync_names: 2, ..Limits::default() };
    let mut sim = Sim::new(SimConfig { instances: 1, limits, ..SimConfig::default() });
    assert_eq!(reply(&mut sim, 0, signal("a")), Ok(1));
    assert_eq!(reply(&mut sim, 0, publish("t", 1)), Ok(1));
    assert_eq!(reply(&mut sim, 0, signal("b")), Err(SyncError::LimitReached(LimitReached::SyncNames(2))));
    let waits_on_new = SyncOp::Barrier { state: "c".into(), target: 1 };
    assert_eq!(reply(&mut sim, 0, waits_on_new), Err(SyncError::LimitReached(LimitReached::SyncNames(2))));
    // A barrier of target 0 keeps nothing, and names already used go on.
    assert_eq!(reply(&mut sim, 0, SyncOp::Barrier { state: "d".into(), target: 0 }), Ok(0));
    assert_eq!(reply(&mut sim, 0, signal("a")), Ok(2));
    assert_eq!(reply(&mut sim, 0, publish("t", 1)), Ok(2));
}

#[test]
fn sockets_past_the_limit_of_an_instance_are_refused_and_noted() {
    let limits = Limits { sockets_per_node: 3, ..Limits::default() };
    let mut sim = Sim::new(SimConfig { instances: 2, limits, ..SimConfig::default() });
    let net = sim.net_mut();
    for _ in 0..3 {
        net.udp_socket(NodeId(0)).expect("within the limit");
    }
    assert!(!net.socket_limit_hit(NodeId(0)));
    assert_eq!(net.tcp_socket(NodeId(0)).err(), Some(netsim::NetError::NewSocketLimit));
    assert!(net.socket_limit_hit(NodeId(0)));
    assert!(net.udp_socket(NodeId(1)).is_ok(), "the limit is per instance");
    assert!(!net.socket_limit_hit(NodeId(1)));
}
