//! The sync backend is storage only: a run gives the same events, in the same
//! order, whatever backend holds its states and topics, and a backend failure
//! ends the run instead of hanging it.

use netsim::{
    BackendError, Executor, NodeId, RunEnd, RunLimits, Sim, SimConfig, SimHandle, SyncBackend, SyncOp, SyncService,
    Ticket,
};
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The embedded service behind a log of the calls made to it, failing from
/// call number `fail_at` on.
struct Logged {
    inner: SyncService,
    calls: Arc<Mutex<Vec<String>>>,
    fail_at: usize,
}

impl Logged {
    fn call(&mut self, what: String) -> Result<(), BackendError> {
        let mut calls = self.calls.lock().unwrap();
        if calls.len() >= self.fail_at {
            return Err(BackendError("test backend is down".into()));
        }
        calls.push(what);
        Ok(())
    }
}

impl SyncBackend for Logged {
    fn increment(&mut self, op: Ticket, state: &str) -> Result<u64, BackendError> {
        self.call(format!("incr {state} by {}/{}", op.node.0, op.n))?;
        self.inner.increment(op, state)
    }
    fn count(&mut self, state: &str) -> Result<u64, BackendError> {
        self.call(format!("count {state}"))?;
        SyncBackend::count(&mut self.inner, state)
    }
    fn append(&mut self, op: Ticket, topic: &str, payload: &Arc<[u8]>) -> Result<u64, BackendError> {
        self.call(format!("append {topic} by {}/{}", op.node.0, op.n))?;
        self.inner.append(op, topic, payload)
    }
    fn message(&mut self, topic: &str, index: u64) -> Result<Option<Arc<[u8]>>, BackendError> {
        self.call(format!("message {topic} {index}"))?;
        self.inner.message(topic, index)
    }
    fn describe(&self) -> String {
        "logged".into()
    }
}

async fn sync(sim: &SimHandle, node: NodeId, op: SyncOp) -> u64 {
    let ticket = sim.lock().submit_sync(node, op).unwrap();
    poll_fn(|cx| sim.lock().poll_sync(ticket, cx)).await.unwrap()
}

/// Every instance signals, waits for all, publishes its number and reads every message.
fn run(sim: &SimHandle, n: u32) -> RunEnd {
    let mut exec = Executor::new(sim.clone());
    for i in 0..n {
        let s = sim.clone();
        exec.spawn(
            NodeId(i),
            Box::pin(async move {
                let node = NodeId(i);
                sync(&s, node, SyncOp::SignalAndWait { state: "ready".into(), target: u64::from(n) }).await;
                sync(&s, node, SyncOp::Publish { topic: "t".into(), payload: Arc::from(vec![i as u8]) }).await;
                let mut got = Vec::new();
                for cursor in 0..n as usize {
                    let m = poll_fn(|cx| s.lock().poll_topic(node, "t", cursor, cx)).await;
                    got.push(m[0]);
                }
                sync(&s, node, SyncOp::Barrier { state: "ready".into(), target: 0 }).await;
                assert_eq!(got.len(), n as usize);
            }),
        );
    }
    exec.run(&RunLimits::default(), |_, ()| {})
}

fn config(n: u32) -> SimConfig {
    SimConfig { instances: n, sync_latency: Duration::from_millis(3), keep_trace: true, ..SimConfig::default() }
}

#[test]
fn same_digest_with_any_backend() {
    let embedded = SimHandle::new(Sim::new(config(5)));
    assert_eq!(run(&embedded, 5), RunEnd::Completed);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let logged = Logged { inner: SyncService::new(), calls: calls.clone(), fail_at: usize::MAX };
    let other = SimHandle::new(Sim::with_sync_backend(config(5), Box::new(logged)));
    assert_eq!(run(&other, 5), RunEnd::Completed);
    assert_eq!(embedded.lock().trace().digest_hex(), other.lock().trace().digest_hex());
    assert_eq!(embedded.lock().trace().records(), other.lock().trace().records());
    let calls = calls.lock().unwrap();
    // Signals in submission order, each followed by its barrier's count read.
    assert_eq!(calls[..4], ["incr ready by 0/0", "count ready", "incr ready by 1/0", "count ready"]);
}

#[test]
fn backend_failure_ends_the_run_with_its_reason() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let logged = Logged { inner: SyncService::new(), calls: calls.clone(), fail_at: 7 };
    let sim = SimHandle::new(Sim::with_sync_backend(config(5), Box::new(logged)));
    let mut exec = Executor::new(sim.clone());
    for i in 0..5u32 {
        let s = sim.clone();
        exec.spawn(
            NodeId(i),
            Box::pin(async move {
                sync(&s, NodeId(i), SyncOp::SignalAndWait { state: "ready".into(), target: 5 }).await;
            }),
        );
    }
    let end = exec.run(&RunLimits::default(), |_, ()| {});
    assert_eq!(end, RunEnd::SyncFailed("test backend is down".into()));
    assert_eq!(calls.lock().unwrap().len(), 7, "no call after the failure");
    let blocked = sim.lock().blocked(&exec.unfinished());
    assert_eq!(blocked.len(), 5);
    assert_eq!(blocked[0].waits_on, vec!["barrier \"ready\": 4/5 arrived".to_string()]);
}
