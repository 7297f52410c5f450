//! The deterministic executor: runs one task per instance on virtual time.
//!
//! Tasks are polled one at a time from a FIFO ready queue. When no task is
//! ready, the executor asks the [`Sim`] to process its next event, which moves
//! the virtual clock and wakes whoever waited on it. Because wakes only happen
//! while a task is being polled or an event is being processed — both on this
//! thread, in a deterministic order — the order of everything is a function of
//! the run's inputs. The executor knows nothing of what tasks do; when no task
//! can run and no event is pending, it reports the run as deadlocked; so
//! it does when events are pending but none can make a task run again (a
//! stall, see [`crate::quiet`]).
//!
//! [`Sim`]: crate::Sim

mod ready;

use crate::fault::InstanceControl;
use crate::node::NodeId;
use crate::quiet::QuietCheck;
use crate::sim::SimHandle;
use crate::time::SimTime;
use crate::trace::Cause;
use ready::ReadyQueue;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

/// A task: the future that runs one instance to its outcome.
pub type Task<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// When to stop a run that has not finished by itself.
#[derive(Clone, Debug, Default)]
pub struct RunLimits {
    /// Stop before processing an event later than this virtual time; without
    /// one, at the end of virtual time ([`RunLimits::deadline`]).
    pub virtual_deadline: Option<SimTime>,
    /// Stop once the host's clock passes this instant. Only ever ends a run; it
    /// never influences the order of events.
    pub wall_deadline: Option<Instant>,
    /// Stop as soon as this flag is set (Ctrl-C).
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Stop as soon as this flag is set: the process went over its memory
    /// budget (the host watches it). Like the wall deadline, it only ever
    /// ends a run.
    pub memory: Option<Arc<AtomicBool>>,
}

impl RunLimits {
    /// The last virtual instant an event may be processed at: the virtual
    /// deadline, and never past [`SimTime::LAST`], so that a run whose events
    /// overflow the clock ends instead of processing them all at its last
    /// instant (or, split into windows, never getting past it).
    pub fn deadline(&self) -> SimTime {
        self.virtual_deadline.map_or(SimTime::LAST, |d| d.min(SimTime::LAST))
    }
}

/// Why [`Executor::run`] returned.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RunEnd {
    /// Every task finished.
    Completed,
    /// Tasks remain, none can run, and no event is pending, or none that
    /// can make one run again ([`crate::Sim::is_stalled`]).
    Deadlock,
    /// The next event lies past [`RunLimits::deadline`]: the virtual
    /// deadline, or the end of virtual time.
    VirtualTimeout,
    /// [`RunLimits::wall_deadline`] passed.
    WallTimeout,
    /// [`RunLimits::interrupt`] was set.
    Interrupted,
    /// [`RunLimits::memory`] was set: the process went over its memory budget.
    MemoryBudget,
    /// The sync backend failed (see [`crate::Sim::sync_failure`]); the
    /// message says why. No sync operation can complete any more.
    SyncFailed(String),
    /// The shards of a split run could not stay in step (a worker or the
    /// transport was lost, or a packet was faster than the lookahead); the
    /// message says why.
    SplitFailed(String),
}

impl RunEnd {
    /// Its name in summaries and reports: `completed`, `deadlock`,
    /// `virtual-timeout`, `wall-timeout`, `interrupted`, `memory-budget`,
    /// `sync-failed`, `split-failed`.
    pub fn name(&self) -> &'static str {
        match self {
            RunEnd::Completed => "completed",
            RunEnd::Deadlock => "deadlock",
            RunEnd::VirtualTimeout => "virtual-timeout",
            RunEnd::WallTimeout => "wall-timeout",
            RunEnd::Interrupted => "interrupted",
            RunEnd::MemoryBudget => "memory-budget",
            RunEnd::SyncFailed(_) => "sync-failed",
            RunEnd::SplitFailed(_) => "split-failed",
        }
    }
}

impl std::fmt::Display for RunEnd {
    /// Why an instance still running at the end was stopped, in words.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunEnd::Completed => Ok(()),
            RunEnd::Deadlock => f.write_str("deadlock: no instance can make progress"),
            RunEnd::VirtualTimeout => f.write_str("virtual time limit reached"),
            RunEnd::WallTimeout => f.write_str("wall-clock time limit reached"),
            RunEnd::Interrupted => f.write_str("run interrupted"),
            RunEnd::MemoryBudget => f.write_str("the run went over its memory budget"),
            RunEnd::SyncFailed(reason) => write!(f, "sync service failed: {reason}"),
            RunEnd::SplitFailed(reason) => write!(f, "the run's workers fell out of step: {reason}"),
        }
    }
}

/// Where [`Executor::run_window`] stopped.
enum Pause {
    /// The run is over, locally at least.
    End(RunEnd),
    /// Nothing more can happen before the window's end.
    WindowDone,
}

struct TaskWaker {
    id: u32,
    ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.ready.push(self.id);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.push(self.id);
    }
}

/// Runs one task per instance until all finish, the run deadlocks, or a limit hits.
///
/// ```
/// use netsim::{Executor, RunEnd, RunLimits, Sim, SimConfig, SimHandle, NodeId};
/// let sim = SimHandle::new(Sim::new(SimConfig { instances: 2, ..SimConfig::default() }));
/// let mut exec = Executor::new(sim.clone());
/// for i in 0..2 {
///     exec.spawn(NodeId(i), Box::pin(async move { i * 10 }));
/// }
/// let mut done = Vec::new();
/// assert_eq!(exec.run(&RunLimits::default(), |node, v| done.push((node.0, v))), RunEnd::Completed);
/// assert_eq!(done, vec![(0, 0), (1, 10)]);
/// ```
pub struct Executor<T> {
    sim: SimHandle,
    tasks: Vec<Option<Task<T>>>,
    wakers: Vec<Waker>,
    ready: Arc<ReadyQueue>,
    live: usize,
    polls: u64,
    last_done: Option<Cause>,
    /// When a task last ran, and when to check for a stall.
    quiet: QuietCheck,
}

/// What the executor reports to, and asks, about instances' tasks.
pub trait Supervisor<T> {
    /// The task of `node` finished with `output`.
    fn done(&mut self, node: NodeId, output: T);

    /// The task of `node` was ended by an injected crash.
    fn crashed(&mut self, _node: NodeId) {}

    /// A new task for `node`, which an injected restart starts; `None` declines.
    fn restart(&mut self, _node: NodeId) -> Option<Task<T>> {
        None
    }
}

struct OnDone<F>(F);

impl<T, F: FnMut(NodeId, T)> Supervisor<T> for OnDone<F> {
    fn done(&mut self, node: NodeId, output: T) {
        (self.0)(node, output)
    }
}

/// How many polls between checks of the wall clock and the interrupt flag.
/// A spinning instance is polled once per fuel-yield slice (milliseconds of
/// CPU), so the check must be frequent to stop within a fraction of a second;
/// reading the clock costs tens of nanoseconds against microseconds per poll.
const LIMIT_CHECK_INTERVAL: u64 = 8;

impl<T> Executor<T> {
    /// An executor over `sim` with no tasks.
    pub fn new(sim: SimHandle) -> Executor<T> {
        Executor {
            sim,
            tasks: Vec::new(),
            wakers: Vec::new(),
            ready: Arc::default(),
            live: 0,
            polls: 0,
            last_done: None,
            quiet: QuietCheck::default(),
        }
    }

    /// Adds the task of instance `node`. Instances must be spawned in
    /// increasing order (`0, 1, 2, …` for a whole run; a shard of a split run
    /// spawns only its own block); each starts ready, and they first run in
    /// that order.
    ///
    /// # Panics
    /// If `node` is not above every instance spawned before.
    pub fn spawn(&mut self, node: NodeId, task: Task<T>) {
        assert!(node.index() >= self.tasks.len(), "instances must be spawned in increasing order");
        while self.tasks.len() < node.index() {
            self.tasks.push(None);
            // Never woken: there is no task; a waker is needed only to keep the tables aligned.
            self.wakers.push(Waker::noop().clone());
        }
        let waker = Waker::from(Arc::new(TaskWaker { id: node.0, ready: self.ready.clone() }));
        self.tasks.push(Some(task));
        self.wakers.push(waker);
        self.live += 1;
        self.ready.push(node.0);
    }

    /// The cause of the latest task's ending (see [`crate::Sim::cause`]), if one has ended.
    pub fn last_done(&self) -> Option<Cause> {
        self.last_done
    }

    /// The world the tasks run in.
    pub fn sim(&self) -> &SimHandle {
        &self.sim
    }

    /// How many tasks have not finished.
    pub fn live(&self) -> usize {
        self.live
    }

    /// The virtual time a task was last polled.
    pub fn last_run(&self) -> SimTime {
        self.quiet.last_run()
    }

    /// Total task polls so far.
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// The instances whose tasks have not finished, in order.
    pub fn unfinished(&self) -> Vec<NodeId> {
        self.tasks.iter().enumerate().filter(|(_, t)| t.is_some()).map(|(i, _)| NodeId(i as u32)).collect()
    }

    /// Drops every unfinished task (ending their instances) and returns who they were.
    pub fn cancel_unfinished(&mut self) -> Vec<NodeId> {
        let nodes = self.unfinished();
        for node in &nodes {
            self.tasks[node.index()] = None;
        }
        self.live = 0;
        nodes
    }

    /// Runs until every task finishes or the run must stop; `on_done` receives
    /// each task's output as it finishes.
    pub fn run(&mut self, limits: &RunLimits, on_done: impl FnMut(NodeId, T)) -> RunEnd {
        self.run_supervised(limits, &mut OnDone(on_done))
    }

    /// Like [`Executor::run`], with a [`Supervisor`] that also handles the
    /// crashes and restarts that fault injection asks for.
    pub fn run_supervised(&mut self, limits: &RunLimits, supervisor: &mut impl Supervisor<T>) -> RunEnd {
        match self.drive(limits, None, supervisor) {
            Pause::End(end) => end,
            Pause::WindowDone => unreachable!("a run without windows has no window to finish"),
        }
    }

    /// Runs the tasks and processes every event before `until` (exclusive):
    /// one window of a shard of a split run (see [`crate::shard`]). Returns
    /// `None` once nothing more can happen before `until`, or how the run must
    /// end if a limit hit or the sync service failed. Finishing every local
    /// task does not end a window: other shards may still send events.
    pub fn run_window(
        &mut self,
        limits: &RunLimits,
        until: SimTime,
        supervisor: &mut impl Supervisor<T>,
    ) -> Option<RunEnd> {
        match self.drive(limits, Some(until), supervisor) {
            Pause::End(end) => Some(end),
            Pause::WindowDone => None,
        }
    }

    fn drive(&mut self, limits: &RunLimits, until: Option<SimTime>, supervisor: &mut impl Supervisor<T>) -> Pause {
        let (sim, ready) = (self.sim.clone(), self.ready.clone());
        // The drive holds the simulation's lock throughout: the tasks' and
        // the events' own locks on this thread are then free (`sim::cell`).
        let _lease = sim.hold();
        // SAFETY: `self` is borrowed mutably for as long as the guard lives,
        // and only the executor drives its queue.
        let _driving = unsafe { ready.drive() };
        let pause = self.steps(limits, until, supervisor);
        self.sim.lock().publish_status();
        pause
    }

    /// [`Executor::drive`]'s work, on the driving thread.
    fn steps(&mut self, limits: &RunLimits, until: Option<SimTime>, supervisor: &mut impl Supervisor<T>) -> Pause {
        loop {
            if self.polls.is_multiple_of(LIMIT_CHECK_INTERVAL) {
                // Other threads cannot look inside while the run is driven.
                self.sim.lock().publish_status();
                if let Some(end) = self.check_limits(limits) {
                    return Pause::End(end);
                }
            }
            if let Some(id) = self.ready.pop() {
                let i = id as usize;
                let Some(task) = self.tasks[i].as_mut() else { continue };
                let node = NodeId(id);
                {
                    let mut sim = self.sim.lock();
                    if let Some(why) = sim.sync_failure() {
                        return Pause::End(RunEnd::SyncFailed(why.to_string()));
                    }
                    sim.clear_waits(node);
                    self.quiet.ran(sim.now());
                }
                self.polls += 1;
                let mut cx = Context::from_waker(&self.wakers[i]);
                if let Poll::Ready(output) = task.as_mut().poll(&mut cx) {
                    self.tasks[i] = None;
                    self.live -= 1;
                    self.last_done = Some(self.sim.lock().cause());
                    supervisor.done(node, output);
                }
                continue;
            }
            // Events, one after another under one lock, for as long as the
            // loop above would find no task ready and come straight back here:
            // the same steps in the same order, without a lock taken and
            // released per event.
            let mut sim = self.sim.lock();
            loop {
                if until.is_none() && self.live == 0 && !sim.restarts_pending() {
                    return Pause::End(RunEnd::Completed);
                }
                // Count event steps toward the limit check too: a run of pure timers polls rarely.
                self.polls += 1;
                if let Some(why) = sim.sync_failure() {
                    return Pause::End(RunEnd::SyncFailed(why.to_string()));
                }
                match (sim.next_event_time(), until) {
                    (Some(t), Some(end)) if t >= end => return Pause::WindowDone,
                    (None, Some(_)) => return Pause::WindowDone,
                    (None, None) => return Pause::End(RunEnd::Deadlock),
                    (Some(t), None) => {
                        // A split run checks at the ends of its windows instead (`shard::driver`).
                        if self.quiet.due_before(t, limits.deadline()) {
                            if sim.is_stalled() {
                                return Pause::End(RunEnd::Deadlock);
                            }
                            self.quiet.passed(t);
                        }
                        if t > limits.deadline() {
                            return Pause::End(RunEnd::VirtualTimeout);
                        }
                        sim.step();
                    }
                    (Some(_), Some(_)) => {
                        sim.step();
                    }
                }
                if sim.has_controls() {
                    let controls = sim.take_controls();
                    drop(sim);
                    for (node, control) in controls {
                        self.control(node, control, supervisor);
                    }
                    break;
                }
                if !self.ready.is_empty() || self.polls.is_multiple_of(LIMIT_CHECK_INTERVAL) {
                    break;
                }
            }
        }
    }

    fn control(&mut self, node: NodeId, control: InstanceControl, supervisor: &mut impl Supervisor<T>) {
        let i = node.index();
        if i >= self.tasks.len() {
            return;
        }
        match control {
            InstanceControl::Crash => {
                if self.tasks[i].take().is_some() {
                    self.live -= 1;
                    self.last_done = Some(self.sim.lock().cause());
                    supervisor.crashed(node);
                }
            }
            InstanceControl::Restart => {
                if self.tasks[i].is_some() {
                    // A running instance restarts as a supervisor restarts a
                    // process: it crashes (its sockets vanish as in a crash), then starts.
                    self.sim.lock().with_net(|net, cx| net.crash_node(cx, node));
                    self.control(node, InstanceControl::Crash, supervisor);
                }
                if self.tasks[i].is_none()
                    && let Some(task) = supervisor.restart(node)
                {
                    self.tasks[i] = Some(task);
                    self.live += 1;
                    self.ready.push(node.0);
                }
            }
        }
    }

    fn check_limits(&self, limits: &RunLimits) -> Option<RunEnd> {
        if limits.interrupt.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)) {
            return Some(RunEnd::Interrupted);
        }
        if limits.memory.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)) {
            return Some(RunEnd::MemoryBudget);
        }
        if limits.wall_deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(RunEnd::WallTimeout);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Sim, SimConfig};
    use crate::sync::SyncOp;
    use std::future::poll_fn;
    use std::time::Duration;

    fn sim(n: u32) -> SimHandle {
        SimHandle::new(Sim::new(SimConfig { instances: n, ..SimConfig::default() }))
    }

    async fn sync(sim: SimHandle, node: NodeId, op: SyncOp) -> u64 {
        let ticket = sim.lock().submit_sync(node, op).unwrap();
        poll_fn(|cx| sim.lock().poll_sync(ticket, cx)).await.unwrap()
    }

    #[test]
    fn timers_jump_virtual_time() {
        let sim = sim(3);
        let mut exec = Executor::new(sim.clone());
        for i in 0..3u32 {
            let s = sim.clone();
            exec.spawn(
                NodeId(i),
                Box::pin(async move {
                    s.sleep(NodeId(i), Duration::from_secs(3600 * u64::from(i + 1))).await;
                    s.lock().now()
                }),
            );
        }
        let mut ends = Vec::new();
        assert_eq!(exec.run(&RunLimits::default(), |n, t| ends.push((n.0, t.as_nanos()))), RunEnd::Completed);
        assert_eq!(ends, vec![(0, 3_600_000_000_000), (1, 7_200_000_000_000), (2, 10_800_000_000_000)]);
    }

    #[test]
    fn a_run_publishes_its_progress_to_other_threads_while_it_holds_the_simulation() {
        let sim = sim(2);
        let status = sim.lock().status();
        let mut exec = Executor::new(sim.clone());
        for i in 0..2u32 {
            let (s, status) = (sim.clone(), status.clone());
            exec.spawn(
                NodeId(i),
                Box::pin(async move {
                    for round in 1..=20u64 {
                        s.sleep(NodeId(i), Duration::from_secs(1)).await;
                        if round == 20 {
                            sync(s.clone(), NodeId(i), SyncOp::SignalEntry { state: "done".into() }).await;
                        }
                    }
                    // Another thread reads what was published, mid-run, without waiting for the drive.
                    let seen = std::thread::scope(|t| t.spawn(|| (status.now(), status.events())).join().unwrap());
                    assert!(seen.0 >= SimTime::ZERO + Duration::from_secs(10), "published as the run went: {seen:?}");
                    assert!(seen.1 > 0);
                }),
            );
        }
        assert_eq!(exec.run(&RunLimits::default(), |_, ()| {}), RunEnd::Completed);
        let s = sim.lock();
        assert_eq!((status.now(), status.events()), (s.now(), s.events_processed()), "the end is published");
        assert_eq!(status.last_state(), Some(("done".to_string(), 2)));
    }

    #[test]
    fn barrier_never_reached_is_a_deadlock_with_a_report() {
        let sim = sim(2);
        let mut exec = Executor::new(sim.clone());
        for i in 0..2u32 {
            let s = sim.clone();
            exec.spawn(
                NodeId(i),
                Box::pin(async move {
                    sync(s.clone(), NodeId(i), SyncOp::SignalAndWait { state: "x".into(), target: 3 }).await
                }),
            );
        }
        assert_eq!(exec.run(&RunLimits::default(), |_, _| {}), RunEnd::Deadlock);
        let blocked = sim.lock().blocked(&exec.unfinished());
        assert_eq!(blocked.len(), 2);
        assert_eq!(blocked[0].waits_on, vec!["barrier \"x\": 2/3 arrived".to_string()]);
    }

    #[test]
    fn virtual_deadline_stops_before_later_events() {
        let sim = sim(1);
        let mut exec = Executor::new(sim.clone());
        let s = sim.clone();
        exec.spawn(NodeId(0), Box::pin(async move { s.sleep(NodeId(0), Duration::from_secs(10)).await }));
        let limits =
            RunLimits { virtual_deadline: Some(SimTime::ZERO + Duration::from_secs(5)), ..RunLimits::default() };
        assert_eq!(exec.run(&limits, |_, _| {}), RunEnd::VirtualTimeout);
        assert_eq!(exec.cancel_unfinished(), vec![NodeId(0)]);
    }

    #[test]
    fn an_event_past_the_end_of_virtual_time_ends_the_run_instead_of_happening() {
        // A sleep whose deadline overflows the clock lands on `SimTime::MAX`,
        // where nothing happens: the run stops there as out of virtual time,
        // with the sleeper still waiting, rather than waking it at the end of
        // time as if the sleep had been served.
        let sim = sim(2);
        let mut exec = Executor::new(sim.clone());
        let (a, b) = (sim.clone(), sim.clone());
        exec.spawn(NodeId(0), Box::pin(async move { a.sleep(NodeId(0), Duration::from_secs(3)).await }));
        exec.spawn(NodeId(1), Box::pin(async move { b.sleep(NodeId(1), Duration::MAX).await }));
        assert_eq!(exec.run(&RunLimits::default(), |_, _| {}), RunEnd::VirtualTimeout);
        assert_eq!(sim.lock().now(), SimTime::ZERO + Duration::from_secs(3), "the sleep that fits was served");
        assert_eq!(exec.unfinished(), vec![NodeId(1)]);
        let deadline = RunLimits { virtual_deadline: Some(SimTime::MAX), ..RunLimits::default() }.deadline();
        assert_eq!(deadline, SimTime::LAST, "no deadline reaches past the clock's end");
    }

    #[test]
    fn the_memory_flag_stops_the_run_as_over_its_budget() {
        let sim = sim(1);
        let mut exec = Executor::<()>::new(sim.clone());
        exec.spawn(NodeId(0), Box::pin(std::future::pending()));
        let limits = RunLimits { memory: Some(Arc::new(AtomicBool::new(true))), ..RunLimits::default() };
        assert_eq!(exec.run(&limits, |_, _| {}), RunEnd::MemoryBudget);
        assert_eq!(RunEnd::MemoryBudget.name(), "memory-budget");
    }

    #[test]
    fn interrupt_flag_stops_the_run() {
        let sim = sim(1);
        let mut exec = Executor::<()>::new(sim.clone());
        exec.spawn(NodeId(0), Box::pin(std::future::pending()));
        let flag = Arc::new(AtomicBool::new(true));
        let limits = RunLimits { interrupt: Some(flag), ..RunLimits::default() };
        assert_eq!(exec.run(&limits, |_, _| {}), RunEnd::Interrupted);
    }

    #[test]
    fn signal_sequence_numbers_follow_event_order() {
        let sim = sim(4);
        let mut exec = Executor::new(sim.clone());
        for i in 0..4u32 {
            let s = sim.clone();
            exec.spawn(
                NodeId(i),
                Box::pin(async move { sync(s, NodeId(i), SyncOp::SignalEntry { state: "s".into() }).await }),
            );
        }
        let mut seqs = Vec::new();
        exec.run(&RunLimits::default(), |n, seq| seqs.push((n.0, seq)));
        assert_eq!(seqs, vec![(0, 1), (1, 2), (2, 3), (3, 4)]);
    }
}
