//! One libp2p node: a swarm of identify and Kademlia over TCP + noise + yamux,
//! built from the libp2p crates as any tokio program would build it, and the
//! loop that drives it while the plan awaits something else.
//!
//! Owns: the transport, the behaviours and their configuration, which
//! addresses go into Kademlia's routing table, and collecting the results of
//! queries. Does not own: what the plan does with them (the cases, in
//! `lib.rs`) nor when instances meet (the sync service).
//!
//! The only line here that is not what a plan on Linux would write is the
//! swarm's executor (`tg_sdk::wasi_compat::spawn`): libp2p-swarm compiles its
//! tokio executor out for WASI.

use std::future::{Future, poll_fn};
use std::num::NonZeroUsize;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite, StreamExt};
use libp2p_core::multiaddr::Protocol;
use libp2p_core::transport::{Boxed, DialOpts, ListenerId, PortUse, TransportError, TransportEvent};
use libp2p_core::upgrade::Version;
use libp2p_core::{Multiaddr, Transport};
use libp2p_identity::{Keypair, PeerId};
use libp2p_kad::store::MemoryStore;
use libp2p_kad::{self as kad, QueryId, QueryResult, QueryStats};
use libp2p_swarm::{NetworkBehaviour, Swarm, SwarmEvent};

/// What identify announces as the protocol version.
const PROTOCOL_VERSION: &str = "/tg-wasm/libp2p-kad/1.0.0";

/// How the Kademlia side of a node is configured, from the plan's parameters.
pub struct KadSettings {
    /// `k`: entries per k-bucket, and the peers a lookup converges on.
    pub k: NonZeroUsize,
    /// Requests a query keeps in flight.
    pub alpha: NonZeroUsize,
    /// How long a whole query may take.
    pub query_timeout: Duration,
    /// How long one request's substream may take.
    pub rpc_timeout: Duration,
    /// How long a connection no behaviour needs stays open.
    pub idle_timeout: Duration,
    /// Whether dials go out from the listening port, as libp2p-tcp does by
    /// default, or from a fresh one ([`FreshPortDials`]).
    pub port_reuse: bool,
}

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p_swarm::derive_prelude")]
struct Behaviour {
    identify: libp2p_identify::Behaviour,
    kad: kad::Behaviour<MemoryStore>,
}

/// A finished query: its result and what it cost.
pub struct Finished {
    pub result: QueryResult,
    pub stats: QueryStats,
}

/// Counters of what the swarm did, reported as diagnostics.
#[derive(Default)]
pub struct Counts {
    pub connections: u64,
    pub dial_failures: u64,
    pub incoming_failures: u64,
    pub identified: u64,
}

pub struct Node {
    swarm: Swarm<Behaviour>,
    /// Queries the plan started and waits for.
    waiting: Vec<QueryId>,
    /// Those of them that have finished and not been collected yet.
    finished: Vec<(QueryId, Finished)>,
    /// Addresses the swarm reported it listens on, in order.
    listening: Vec<Multiaddr>,
    /// Why listening failed, when it did.
    listen_failure: Option<String>,
    pub counts: Counts,
}

impl Node {
    /// Builds a node with a fresh ed25519 identity (drawn from the instance's
    /// seeded randomness, so the same seed gives the same peer ids).
    pub fn new(settings: &KadSettings) -> tg_sdk::Result<Node> {
        let keypair = Keypair::generate_ed25519();
        let peer_id = keypair.public().to_peer_id();
        let transport = transport(&keypair, settings.port_reuse)?;

        let mut kad_config = kad::Config::new(kad::PROTOCOL_NAME);
        kad_config
            .set_kbucket_size(settings.k)
            .set_replication_factor(settings.k)
            .set_parallelism(settings.alpha)
            .set_query_timeout(settings.query_timeout)
            .set_substreams_timeout(settings.rpc_timeout)
            // The cases bootstrap when they join; a periodic one (every 5
            // minutes by default) would only add traffic to longer runs.
            .set_periodic_bootstrap_interval(None)
            // No records are stored in these cases, so the hourly jobs that
            // republish them would only keep timers firing: a node left
            // waiting for a failed peer would never let the run go idle.
            .set_replication_interval(None)
            .set_publication_interval(None)
            .set_provider_publication_interval(None);
        let mut kad = kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), kad_config);
        // Answer queries from the start: kad otherwise stays a client until an
        // external address is confirmed, which needs AutoNAT.
        kad.set_mode(Some(kad::Mode::Server));
        // identify's cache of the addresses peers announce would offer them
        // for dials, loopback included (rust-libp2p does not filter it, as
        // go-libp2p does): every node listens on the same port, so a redial
        // of a peer at 127.0.0.1 reaches the dialler itself and costs a noise
        // handshake to fail with "Unexpected peer ID". Kademlia gets the
        // addresses that matter (`handle`).
        let identify = libp2p_identify::Behaviour::new(
            libp2p_identify::Config::new(PROTOCOL_VERSION.into(), keypair.public()).with_cache_size(0),
        );

        let config = libp2p_swarm::Config::with_executor(tg_sdk::wasi_compat::spawn)
            .with_idle_connection_timeout(settings.idle_timeout);
        let swarm = Swarm::new(transport, Behaviour { identify, kad }, peer_id, config);
        Ok(Node {
            swarm,
            waiting: Vec::new(),
            finished: Vec::new(),
            listening: Vec::new(),
            listen_failure: None,
            counts: Counts::default(),
        })
    }

    pub fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Listens on `addr` and returns the addresses others can dial, once the
    /// swarm reports one: those not on loopback. Fails, rather than waiting
    /// for good, if the swarm cannot listen or reports no such address within
    /// `patience`.
    pub async fn listen(&mut self, addr: Multiaddr, patience: Duration) -> tg_sdk::Result<Vec<Multiaddr>> {
        self.swarm.listen_on(addr.clone()).map_err(|e| format!("cannot listen on {addr}: {}", causes(&e)))?;
        let mut deadline = pin!(tokio::time::sleep(patience));
        let dialable = self
            .drive(|node, cx| {
                if let Some(reason) = node.listen_failure.take() {
                    return Poll::Ready(Err(format!("listening on {addr} failed: {reason}")));
                }
                let dialable: Vec<Multiaddr> = node.listening.iter().filter(|a| !is_loopback(a)).cloned().collect();
                if !dialable.is_empty() {
                    return Poll::Ready(Ok(dialable));
                }
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(format!("listening on {addr}: no dialable address after {patience:?}")));
                }
                Poll::Pending
            })
            .await?;
        Ok(dialable)
    }

    /// Tells Kademlia where `peer` listens.
    pub fn add_address(&mut self, peer: PeerId, addr: Multiaddr) {
        self.swarm.behaviour_mut().kad.add_address(&peer, addr);
    }

    /// Runs libp2p's Kademlia bootstrap (a lookup of our own id, then one of a
    /// random id in every bucket farther than the closest peer's) and returns
    /// once its last lookup has finished.
    pub async fn bootstrap(&mut self) -> tg_sdk::Result<()> {
        let id = self.swarm.behaviour_mut().kad.bootstrap().map_err(|e| format!("cannot bootstrap: {e}"))?;
        match self.query(id).await.result {
            QueryResult::Bootstrap(Ok(_)) => Ok(()),
            QueryResult::Bootstrap(Err(e)) => Err(format!("bootstrap failed: {e}").into()),
            _ => unreachable!("query {id:?} is a bootstrap"),
        }
    }

    /// Looks up the peers closest to `target`: libp2p's way to find a peer.
    /// `found` is whether `target` answered among them.
    pub async fn find(&mut self, target: PeerId) -> (bool, QueryStats) {
        let id = self.swarm.behaviour_mut().kad.get_closest_peers(target);
        let Finished { result, stats } = self.query(id).await;
        let found = match result {
            QueryResult::GetClosestPeers(Ok(ok)) => ok.peers.iter().any(|p| p.peer_id == target),
            QueryResult::GetClosestPeers(Err(kad::GetClosestPeersError::Timeout { peers, .. })) => {
                peers.iter().any(|p| p.peer_id == target)
            }
            _ => unreachable!("query {id:?} is a closest-peers lookup"),
        };
        (found, stats)
    }

    /// Contacts in the routing table, and buckets holding any.
    pub fn routing_table(&mut self) -> (usize, usize) {
        let mut buckets = 0;
        let mut entries = 0;
        for bucket in self.swarm.behaviour_mut().kad.kbuckets() {
            buckets += 1;
            entries += bucket.num_entries();
        }
        (entries, buckets)
    }

    /// Awaits `future` while the swarm keeps running: answering requests,
    /// accepting connections, progressing queries.
    pub async fn serve_while<F: Future>(&mut self, future: F) -> F::Output {
        let mut future = pin!(future);
        self.drive(|_, cx| future.as_mut().poll(cx)).await
    }

    /// Waits for query `id` to finish, serving meanwhile.
    async fn query(&mut self, id: QueryId) -> Finished {
        self.waiting.push(id);
        self.drive(|node, _| match node.finished.iter().position(|(done, _)| *done == id) {
            Some(at) => Poll::Ready(node.finished.swap_remove(at).1),
            None => Poll::Pending,
        })
        .await
    }

    /// Runs the swarm until `done` is ready. `done` is asked again after
    /// every swarm event, and whenever its own wakers fire.
    async fn drive<T>(&mut self, mut done: impl FnMut(&mut Node, &mut Context<'_>) -> Poll<T>) -> T {
        poll_fn(|cx| {
            loop {
                if let Poll::Ready(value) = done(self, cx) {
                    return Poll::Ready(value);
                }
                match self.swarm.poll_next_unpin(cx) {
                    Poll::Ready(Some(event)) => self.handle(event),
                    Poll::Ready(None) => unreachable!("a swarm's event stream never ends"),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    }

    fn handle(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result,
                stats,
                step,
            })) => {
                // A bootstrap reports once per lookup; it is over at the last.
                // kad's automatic bootstraps report here too; nobody waits for them.
                if step.last
                    && let Some(at) = self.waiting.iter().position(|&w| w == id)
                {
                    self.waiting.swap_remove(at);
                    self.finished.push((id, Finished { result, stats }));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(libp2p_identify::Event::Received {
                peer_id, info, ..
            })) => {
                // Kademlia learns the addresses of peers that dialled us only
                // from identify: the connection's remote port is theirs to
                // dial from, not necessarily to listen on.
                self.counts.identified += 1;
                if info.protocols.contains(&kad::PROTOCOL_NAME) {
                    for addr in info.listen_addrs.into_iter().filter(|a| !is_loopback(a)) {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                    }
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => self.listening.push(address),
            SwarmEvent::ListenerClosed { reason: Err(e), .. } | SwarmEvent::ListenerError { error: e, .. } => {
                self.listen_failure.get_or_insert(e.to_string());
            }
            SwarmEvent::ConnectionEstablished { .. } => self.counts.connections += 1,
            SwarmEvent::OutgoingConnectionError { .. } => self.counts.dial_failures += 1,
            SwarmEvent::IncomingConnectionError { .. } => self.counts.incoming_failures += 1,
            _ => {}
        }
    }
}

type Connection = (PeerId, libp2p_core::muxing::StreamMuxerBox);

/// TCP, upgraded to noise and then yamux: libp2p's usual stack.
fn transport(keypair: &Keypair, port_reuse: bool) -> tg_sdk::Result<Boxed<Connection>> {
    let tcp = libp2p_tcp::tokio::Transport::new(libp2p_tcp::Config::new().nodelay(true));
    Ok(if port_reuse { upgrade(tcp, keypair)? } else { upgrade(FreshPortDials(tcp), keypair)? })
}

/// `transport` upgraded to noise and then yamux, with multistream-select.
pub fn upgrade<T>(transport: T, keypair: &Keypair) -> tg_sdk::Result<Boxed<Connection>>
where
    T: Transport + Send + Unpin + 'static,
    T::Output: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    T::Error: Send + Sync + 'static,
    T::Dial: Send + 'static,
    T::ListenerUpgrade: Send + 'static,
{
    Ok(transport
        .upgrade(Version::V1)
        .authenticate(libp2p_noise::Config::new(keypair)?)
        .multiplex(libp2p_yamux::Config::default())
        .boxed())
}

/// A transport that dials from a fresh port whatever the behaviour asked for
/// (`port_reuse=false`).
///
/// libp2p-tcp dials from its listening port by default. When two nodes do so
/// towards each other within a round trip, the two connections have the same
/// addresses and their SYNs cross: TCP completes them as one connection
/// (simultaneous open, as on Linux), on which both ends believe they dialled,
/// so multistream-select and noise fail at once and kad counts a failed dial
/// (`dial-failures`). Dialling from fresh ports gives two connections instead.
struct FreshPortDials<T>(T);

impl<T: Transport + Unpin> Transport for FreshPortDials<T> {
    type Output = T::Output;
    type Error = T::Error;
    type ListenerUpgrade = T::ListenerUpgrade;
    type Dial = T::Dial;

    fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<T::Error>> {
        self.0.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.0.remove_listener(id)
    }

    fn dial(&mut self, addr: Multiaddr, opts: DialOpts) -> Result<T::Dial, TransportError<T::Error>> {
        self.0.dial(addr, DialOpts { port_use: PortUse::New, ..opts })
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TransportEvent<T::ListenerUpgrade, T::Error>> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

/// An error and its sources, as one line: libp2p's `TransportError::Other`
/// displays as nothing and leaves the reason to its source.
fn causes(err: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}
