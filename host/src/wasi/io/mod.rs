//! `wasi:io` for plans: polls over many pollables that cost what their
//! readiness checks cost, and the streams that make pollables.
//!
//! An async runtime waits in one `wasi:io/poll.poll` over every socket it has
//! armed — a libp2p node over every peer's connection — on every wake.
//! wasmtime-wasi-io's `poll` makes a boxed future per pollable and a map per
//! call, and each of our sockets' futures locked the simulation on its own;
//! that made a node's cost per event grow with its sockets. Here the host's
//! own pollables are registered in the instance's [`Pollables`] as a
//! [`Source`]: a readiness check that takes the already-locked [`Sim`], with
//! no future and no allocation, so [`poll`] locks the simulation once and
//! checks each pollable in place. Pollables made by wasmtime-wasi (stdio,
//! files) are not registered; a poll that includes one falls back to
//! wasmtime-wasi-io's implementation as a whole.
//!
//! A runtime that waits in `poll(2)` (mio) still hands every armed socket to
//! each call. tg-sdk's `poll` instead keeps them in the instance's watch set
//! (`tg:plan/poll-set`, [`poll::wait_set`]): a pollable is watched under a
//! key of the caller's until it is unwatched or dropped, and a socket's edge
//! waker queues it for checking when something happens to it, so a wait
//! checks only what was woken, newly watched or ready before.
//!
//! Owns: the registry and the watch set, the `wasi:io/poll` and
//! `wasi:io/streams` host functions ([`poll`], [`streams`]), the bindings
//! ([`bindings`]). Does not
//! own: what makes a socket or timer ready (netsim, and each resource's
//! [`PollReady`]), or the streams' behaviour (their `InputStream` and
//! `OutputStream` impls).

pub mod bindings;
pub mod poll;
pub mod streams;

use netsim::{NodeId, Sim, SimHandle, WaitReason};
use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi_io::poll::DynPollable;

use crate::instance::InstanceState;

/// A resource of the host's own whose readiness can be checked in place.
pub trait PollReady: Send + 'static {
    /// Ready, or `cx` is registered to be woken when it may be, and what the
    /// instance waits on is noted in `sim`.
    fn poll_ready(&mut self, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()>;

    /// See [`Readiness::edge`].
    fn edge(&self) -> Option<WaitReason> {
        None
    }
}

/// Readiness that does not live in the resource polled: a stream's, which
/// sits behind wasmtime-wasi-io's `DynInputStream` and cannot be reached as
/// its own type, is registered as this when the stream is made.
pub trait Readiness: Send + Sync {
    /// As [`PollReady::poll_ready`].
    fn poll_ready(&self, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()>;

    /// For readiness that changes only where netsim wakes what registered
    /// (a socket's: data, a connection, an error, a close all wake its
    /// waiters), what the instance waits on while it is not ready. A poll may
    /// then skip checking it until it is woken, which is what keeps a node's
    /// idle connections from costing it on every wake. `None` (a timer, a
    /// sync reply) is checked on every poll.
    fn edge(&self) -> Option<WaitReason> {
        None
    }
}

/// Readiness that is always there: a stream or socket that never waits.
pub struct Always;

impl Readiness for Always {
    fn poll_ready(&self, _sim: &mut Sim, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

/// How a registered pollable's readiness is checked.
#[derive(Clone)]
pub enum Source {
    /// Through [`PollReady`] on the parent resource at table index `parent`.
    Own { parent: u32, poll: fn(&mut dyn Any, &mut Sim, &mut Context<'_>) -> Poll<()> },
    /// Through readiness registered with the parent stream.
    Shared(Arc<dyn Readiness>),
}

/// A registered pollable.
pub struct Entry {
    pub(crate) source: Source,
    /// Set for edge readiness ([`Readiness::edge`]).
    pub(crate) edge: Option<Edge>,
    /// The key it is watched under in the watch set, if it is.
    pub(crate) key: Option<u32>,
    /// In the watch set's queue of pollables to check at the next wait.
    pub(crate) queued: bool,
}

/// What a poll knows of an edge-readiness pollable between checks.
pub struct Edge {
    /// What the instance waits on while it is not ready.
    pub(crate) reason: WaitReason,
    /// Checked, found not ready, and its waker is registered where the
    /// change will come from: until woken, it is not ready.
    pub(crate) armed: bool,
    /// The waker it registers: marks it for checking, and wakes the task.
    pub(crate) wake: Arc<EdgeWake>,
}

/// The waker of an edge-readiness pollable.
pub struct EdgeWake {
    woken: AtomicBool,
    /// In the watch set: a wake also queues `rep` for the next wait's check.
    watched: AtomicBool,
    /// The pollable's table index.
    rep: u32,
    task: Arc<TaskWaker>,
}

impl EdgeWake {
    /// Whether it was woken since [`Self::rearm`].
    pub(crate) fn woken(&self) -> bool {
        self.woken.load(Ordering::Relaxed)
    }

    /// Forgets an earlier wake, before a check registers it again.
    pub(crate) fn rearm(&self) {
        self.woken.store(false, Ordering::Relaxed);
    }
}

impl Wake for EdgeWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Queued once per wake after a check, and only while watched (a
        // pollable only `wasi:io/poll.poll` sees needs no queue).
        if !self.woken.swap(true, Ordering::Relaxed) && self.watched.load(Ordering::Relaxed) {
            self.task.woken.lock().unwrap_or_else(|e| e.into_inner()).push(self.rep);
        }
        self.task.wake();
    }
}

/// The instance's task waker, as of its latest poll: what edge wakers wake.
#[derive(Default)]
pub struct TaskWaker {
    waker: Mutex<Option<Waker>>,
    /// Watched edge pollables woken since the last wait, in wake order.
    woken: Mutex<Vec<u32>>,
}

impl TaskWaker {
    pub(crate) fn set(&self, waker: &Waker) {
        let mut task = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        if !task.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }

    fn wake(&self) {
        if let Some(task) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            task.wake_by_ref();
        }
    }
}

/// The pollables and streams of one instance the host can check in place,
/// by table index.
pub struct Pollables {
    /// The instance they belong to.
    pub(crate) node: NodeId,
    pub(crate) sources: Vec<Option<Entry>>,
    streams: Vec<Option<Arc<dyn Readiness>>>,
    pub(crate) task: Arc<TaskWaker>,
    /// The watch set: by key, the table index of the pollable watched.
    pub(crate) watched: Vec<Option<u32>>,
    /// Watched pollables to check at the next wait: newly watched, woken,
    /// or ready at the last check (readiness is level-triggered).
    pub(crate) queue: Vec<u32>,
    /// Watched pollables without edge readiness (a timer, a listener, a
    /// sync reply), checked at every wait.
    pub(crate) level: Vec<u32>,
    /// Keys whose pollables were dropped since the last wait.
    pub(crate) dropped: Vec<u32>,
}

fn slot<T>(v: &mut Vec<Option<T>>, rep: u32) -> &mut Option<T> {
    let i = rep as usize;
    if v.len() <= i {
        v.resize_with(i + 1, || None);
    }
    &mut v[i]
}

impl Pollables {
    /// The registry of instance `node`.
    pub fn new(node: NodeId) -> Pollables {
        Pollables {
            node,
            sources: Vec::new(),
            streams: Vec::new(),
            task: Arc::default(),
            watched: Vec::new(),
            queue: Vec::new(),
            level: Vec::new(),
            dropped: Vec::new(),
        }
    }

    /// How pollable `rep` is checked, if the host registered it.
    pub fn source(&self, rep: u32) -> Option<&Source> {
        Some(&self.sources.get(rep as usize)?.as_ref()?.source)
    }

    /// Pollable `rep`, if the host registered it.
    pub(crate) fn entry_mut(&mut self, rep: u32) -> Option<&mut Entry> {
        self.sources.get_mut(rep as usize)?.as_mut()
    }

    /// Registers the readiness of the stream at table index `rep`, so that
    /// the pollables it makes are checked in place.
    pub fn register_stream(&mut self, rep: u32, readiness: Arc<dyn Readiness>) {
        *slot(&mut self.streams, rep) = Some(readiness);
    }

    fn stream(&self, rep: u32) -> Option<&Arc<dyn Readiness>> {
        self.streams.get(rep as usize)?.as_ref()
    }

    fn forget_stream(&mut self, rep: u32) {
        if let Some(s) = self.streams.get_mut(rep as usize) {
            *s = None;
        }
    }

    fn register(&mut self, rep: u32, source: Source, edge: Option<WaitReason>) {
        let edge = edge.map(|reason| Edge {
            reason,
            armed: false,
            wake: Arc::new(EdgeWake {
                woken: AtomicBool::new(false),
                watched: AtomicBool::new(false),
                rep,
                task: self.task.clone(),
            }),
        });
        *slot(&mut self.sources, rep) = Some(Entry { source, edge, key: None, queued: false });
    }

    fn forget(&mut self, rep: u32) {
        if let Some(key) = self.entry_mut(rep).and_then(|e| e.key) {
            self.unwatch(key);
            self.dropped.push(key);
        }
        if let Some(s) = self.sources.get_mut(rep as usize) {
            *s = None;
        }
    }

    /// Removes `key` from the watch set, if it is there.
    pub(crate) fn unwatch(&mut self, key: u32) {
        let Some(rep) = self.watched.get_mut(key as usize).and_then(Option::take) else { return };
        let Some(entry) = self.entry_mut(rep) else { return };
        entry.key = None;
        match &entry.edge {
            Some(edge) => edge.wake.watched.store(false, Ordering::Relaxed),
            None => self.level.retain(|&r| r != rep),
        }
        // A queued entry stays in the queue, which skips unwatched ones.
    }

    /// Adds pollable `rep` (registered) to the watch set under `key`.
    pub(crate) fn watch(&mut self, key: u32, rep: u32) {
        if self.watched.get(key as usize).copied().flatten() == Some(rep) {
            return;
        }
        self.unwatch(key);
        if let Some(old) = self.entry_mut(rep).and_then(|e| e.key) {
            self.unwatch(old);
        }
        *slot(&mut self.watched, key) = Some(rep);
        self.dropped.retain(|&k| k != key);
        let Some(entry) = self.entry_mut(rep) else { return };
        entry.key = Some(key);
        match &entry.edge {
            Some(edge) => {
                edge.wake.watched.store(true, Ordering::Relaxed);
                // Unless known not ready and untouched since (its wake will
                // queue it), it is checked at the next wait.
                let known_idle = edge.armed && !edge.wake.woken();
                if !known_idle && !entry.queued {
                    entry.queued = true;
                    self.queue.push(rep);
                }
            }
            None => self.level.push(rep),
        }
    }
}

/// Makes a pollable of `resource`, checked in place through its [`PollReady`].
/// (The resource is also wasmtime-wasi-io `Pollable`, for polls that fall back.)
pub fn subscribe<T>(
    table: &mut ResourceTable,
    pollables: &mut Pollables,
    resource: Resource<T>,
) -> wasmtime::Result<Resource<DynPollable>>
where
    T: PollReady + wasmtime_wasi_io::poll::Pollable,
{
    fn poll<T: PollReady>(any: &mut dyn Any, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()> {
        match any.downcast_mut::<T>() {
            Some(resource) => resource.poll_ready(sim, cx),
            // Not reached: the parent of a pollable outlives it, as its own type.
            None => Poll::Ready(()),
        }
    }
    let parent = resource.rep();
    let edge = table.get(&resource)?.edge();
    let pollable = wasmtime_wasi_io::poll::subscribe(table, resource)?;
    pollables.register(pollable.rep(), Source::Own { parent, poll: poll::<T> }, edge);
    Ok(pollable)
}

/// Implements wasmtime-wasi-io's `Pollable` for a [`PollReady`] type, for the
/// polls that fall back to wasmtime-wasi-io (`$sim` reaches its `SimHandle`).
#[macro_export]
macro_rules! pollable_via_poll_ready {
    ($ty:ty, $self:ident => $sim:expr) => {
        #[wasmtime_wasi::async_trait]
        impl wasmtime_wasi_io::poll::Pollable for $ty {
            async fn ready(&mut self) {
                std::future::poll_fn(|cx| {
                    let $self = &mut *self;
                    let sim = ($sim).clone();
                    $crate::wasi::io::PollReady::poll_ready($self, &mut sim.lock(), cx)
                })
                .await
            }
        }
    };
}

/// What the `wasi:io` host functions need from an instance.
pub struct IoView<'a> {
    pub(crate) sim: &'a SimHandle,
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) pollables: &'a mut Pollables,
}

struct Io;

impl HasData for Io {
    type Data<'a> = IoView<'a>;
}

/// Adds `wasi:io` (error, poll, streams) to `linker`.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    fn view(state: &mut InstanceState) -> IoView<'_> {
        state.io_view()
    }
    bindings::error::add_to_linker::<InstanceState, Io>(linker, view)?;
    bindings::poll::add_to_linker::<InstanceState, Io>(linker, view)?;
    bindings::streams::add_to_linker::<InstanceState, Io>(linker, view)?;
    Ok(())
}
