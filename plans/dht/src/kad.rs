//! A small Kademlia over one UDP socket: 160-bit ids, XOR metric, k-buckets,
//! iterative lookups with `alpha` requests in flight, and the four RPCs the
//! test cases need (PING, FIND_NODE, ADD_PROVIDER, GET_PROVIDERS).
//!
//! Everything runs on one thread: wasm has none, and a plan instance must keep
//! answering other nodes while its own lookup waits. So there is one event
//! loop, [`Node::poll`]: it waits on the socket with a read timeout, answers
//! every request that arrives on the spot, and hands responses back to the
//! caller (a lookup's state machine). Timeouts cost nothing on virtual time, so
//! waiting on a read timeout is how a lookup notices that an RPC was lost.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// Bytes in a node id or key: 160 bits, as in the Kademlia paper.
pub const ID_LEN: usize = 20;
/// Bits in an id, and so the number of k-buckets.
pub const ID_BITS: usize = ID_LEN * 8;

/// A node id or a record key. Byte-wise ordering of big-endian bytes is
/// numeric ordering, so a distance compares as a number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Id(pub [u8; ID_LEN]);

impl Id {
    /// A uniformly random id.
    pub fn random(rng: &mut Rng) -> Id {
        let mut bytes = [0u8; ID_LEN];
        for chunk in bytes.chunks_mut(8) {
            let word = rng.next_u64().to_be_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Id(bytes)
    }

    /// The key of record `index`: the same on every instance, spread over the id space.
    pub fn record_key(index: u64) -> Id {
        Id::random(&mut Rng::new(0x5245_434f_5244 ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
    }

    /// The XOR distance to `other`.
    pub fn distance(&self, other: &Id) -> Id {
        let mut out = [0u8; ID_LEN];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = self.0[i] ^ other.0[i];
        }
        Id(out)
    }

    /// Orders `a` and `b` by XOR distance to this id without building either
    /// distance: the first byte where they differ decides, usually the first.
    pub fn cmp_distance(&self, a: &Id, b: &Id) -> std::cmp::Ordering {
        for i in 0..ID_LEN {
            let (x, y) = (a.0[i] ^ self.0[i], b.0[i] ^ self.0[i]);
            if x != y {
                return x.cmp(&y);
            }
        }
        std::cmp::Ordering::Equal
    }

    /// Length of the common prefix with `other`, in bits ([`ID_BITS`] if equal).
    pub fn common_prefix(&self, other: &Id) -> usize {
        for i in 0..ID_LEN {
            let x = self.0[i] ^ other.0[i];
            if x != 0 {
                return i * 8 + x.leading_zeros() as usize;
            }
        }
        ID_BITS
    }

    /// A random id in this id's bucket `bucket`: sharing its first `bucket`
    /// bits, differing in the next one.
    pub fn random_in_bucket(&self, bucket: usize, rng: &mut Rng) -> Id {
        let mut id = Id::random(rng);
        for bit in 0..=bucket.min(ID_BITS - 1) {
            let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
            let mine = self.0[byte] & mask;
            let want = if bit == bucket { mine ^ mask } else { mine };
            id.0[byte] = (id.0[byte] & !mask) | want;
        }
        id
    }

    /// The first eight hex digits, enough to tell ids apart in messages.
    pub fn short(&self) -> String {
        self.0[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// SplitMix64: small, fast, and enough for choosing targets; seeded from the
/// instance's (host-seeded) `wasi:random`.
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0); the modulo bias is negligible for small `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A node as others know it: its id and where it answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Contact {
    /// The node's id.
    pub id: Id,
    /// Its UDP address on the data network.
    pub addr: SocketAddrV4,
}

/// The k-bucket routing table: bucket `i` holds nodes whose id shares exactly
/// `i` leading bits with ours, at most `k` of them.
pub struct RoutingTable {
    me: Id,
    k: usize,
    buckets: Vec<Vec<Contact>>,
    len: usize,
}

impl RoutingTable {
    /// An empty table for node `me` with buckets of `k`.
    pub fn new(me: Id, k: usize) -> RoutingTable {
        RoutingTable { me, k, buckets: vec![Vec::new(); ID_BITS], len: 0 }
    }

    /// Contacts in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Buckets holding at least one contact.
    pub fn buckets_used(&self) -> usize {
        self.buckets.iter().filter(|b| !b.is_empty()).count()
    }

    /// Whether `id` is in the table.
    pub fn contains(&self, id: &Id) -> bool {
        let bucket = self.me.common_prefix(id);
        bucket < ID_BITS && self.buckets[bucket].iter().any(|c| c.id == *id)
    }

    /// Records that `contact` was heard from. A known contact moves to the
    /// bucket's tail (most recently seen); a new one joins if the bucket has
    /// room. A full bucket keeps its old contacts, as Kademlia prefers nodes
    /// that have stayed up; nodes do not leave in these tests, so the
    /// liveness ping before eviction is left out.
    pub fn insert(&mut self, contact: Contact) {
        let index = self.me.common_prefix(&contact.id);
        if index >= ID_BITS {
            return;
        }
        let bucket = &mut self.buckets[index];
        if let Some(pos) = bucket.iter().position(|c| c.id == contact.id) {
            bucket.remove(pos);
            bucket.push(contact);
        } else if bucket.len() < self.k {
            bucket.push(contact);
            self.len += 1;
        }
    }

    /// Up to `n` contacts closest to `target`, closest first.
    ///
    /// No sort over the whole table: with `b` the common prefix of our id and
    /// the target, bucket `b` holds the closest contacts, then every bucket
    /// above `b` (all share exactly `b` bits with the target), then buckets
    /// `b-1`, `b-2`, … in that order, each farther than the last.
    pub fn closest(&self, target: &Id, n: usize) -> Vec<Contact> {
        let mut out: Vec<Contact> = Vec::with_capacity(n + self.k);
        let b = self.me.common_prefix(target);
        // Buckets in order of distance to the target; the buckets above `b`
        // form one group, since they are equally far from it.
        let groups: Vec<&[Contact]> = if b >= ID_BITS {
            // The target is our own id: bucket i shares exactly i bits with it.
            self.buckets.iter().rev().map(Vec::as_slice).collect()
        } else {
            let mut groups = vec![self.buckets[b].as_slice()];
            groups.extend(self.buckets[b + 1..].iter().filter(|g| !g.is_empty()).map(Vec::as_slice));
            groups.extend(self.buckets[..b].iter().rev().map(Vec::as_slice));
            groups
        };
        let above = if b >= ID_BITS { 0 } else { groups.len() - b - 1 };
        let mut i = 0;
        while i < groups.len() && out.len() < n {
            let start = out.len();
            // Bucket `b` alone, then every bucket above it together, then one by one.
            let end = if b < ID_BITS && i == 1 && above > 0 { 1 + above } else { i + 1 };
            for group in &groups[i..end] {
                out.extend_from_slice(group);
            }
            i = end;
            take_closest(&mut out, start, n - start, target);
        }
        out
    }
}

/// Keeps the `need` contacts of `contacts[start..]` closest to `target`, sorted.
/// A bootstrapper's table holds hundreds of contacts; selecting before sorting
/// keeps answering a FIND_NODE cheap.
fn take_closest(contacts: &mut Vec<Contact>, start: usize, need: usize, target: &Id) {
    let by_distance = |a: &Contact, b: &Contact| target.cmp_distance(&a.id, &b.id);
    let group = &mut contacts[start..];
    if group.len() > need {
        group.select_nth_unstable_by(need - 1, by_distance);
        contacts.truncate(start + need);
    }
    contacts[start..].sort_unstable_by(by_distance);
}

/// What an RPC carries.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// Are you there?
    Ping,
    /// Yes.
    Pong,
    /// Which nodes do you know closest to this id?
    FindNode(Id),
    /// These.
    Nodes(Vec<Contact>),
    /// Remember that I (the sender) provide this key.
    AddProvider(Id),
    /// Remembered.
    Ack,
    /// Who provides this key?
    GetProviders(Id),
    /// These provide it (maybe none), and these nodes are closer to it.
    Providers {
        /// Nodes that announced the key.
        providers: Vec<Contact>,
        /// The responder's closest contacts to the key.
        closer: Vec<Contact>,
    },
}

impl Body {
    fn is_request(&self) -> bool {
        matches!(self, Body::Ping | Body::FindNode(_) | Body::AddProvider(_) | Body::GetProviders(_))
    }
}

/// One datagram: a request id (echoed by the response), the sender's id, the body.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Matches a response to its request.
    pub rid: u32,
    /// The sender's node id.
    pub from: Id,
    /// What it says.
    pub body: Body,
}

/// Bytes per encoded contact: id, IPv4 address, port.
const CONTACT_LEN: usize = ID_LEN + 6;

impl Message {
    /// The wire form: `kind u8 | rid u32 LE | from [20] | body`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        let kind = match self.body {
            Body::Ping => 0,
            Body::Pong => 1,
            Body::FindNode(_) => 2,
            Body::Nodes(_) => 3,
            Body::AddProvider(_) => 4,
            Body::Ack => 5,
            Body::GetProviders(_) => 6,
            Body::Providers { .. } => 7,
        };
        out.push(kind);
        out.extend_from_slice(&self.rid.to_le_bytes());
        out.extend_from_slice(&self.from.0);
        match &self.body {
            Body::Ping | Body::Pong | Body::Ack => {}
            Body::FindNode(id) | Body::AddProvider(id) | Body::GetProviders(id) => out.extend_from_slice(&id.0),
            Body::Nodes(contacts) => encode_contacts(contacts, out),
            Body::Providers { providers, closer } => {
                encode_contacts(providers, out);
                encode_contacts(closer, out);
            }
        }
    }

    /// Parses a datagram; `None` if it is malformed.
    pub fn decode(bytes: &[u8]) -> Option<Message> {
        let (&kind, rest) = bytes.split_first()?;
        let rid = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
        let from = read_id(rest.get(4..)?)?;
        let body = rest.get(4 + ID_LEN..)?;
        let body = match kind {
            0 => Body::Ping,
            1 => Body::Pong,
            2 => Body::FindNode(read_id(body)?),
            3 => Body::Nodes(decode_contacts(body)?.0),
            4 => Body::AddProvider(read_id(body)?),
            5 => Body::Ack,
            6 => Body::GetProviders(read_id(body)?),
            7 => {
                let (providers, used) = decode_contacts(body)?;
                let (closer, _) = decode_contacts(&body[used..])?;
                Body::Providers { providers, closer }
            }
            _ => return None,
        };
        Some(Message { rid, from, body })
    }
}

fn read_id(bytes: &[u8]) -> Option<Id> {
    Some(Id(bytes.get(..ID_LEN)?.try_into().ok()?))
}

fn encode_contacts(contacts: &[Contact], out: &mut Vec<u8>) {
    out.push(contacts.len().min(255) as u8);
    for c in contacts.iter().take(255) {
        out.extend_from_slice(&c.id.0);
        out.extend_from_slice(&c.addr.ip().octets());
        out.extend_from_slice(&c.addr.port().to_le_bytes());
    }
}

/// Contacts and the bytes they took.
fn decode_contacts(bytes: &[u8]) -> Option<(Vec<Contact>, usize)> {
    let (&n, rest) = bytes.split_first()?;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let raw = rest.get(i * CONTACT_LEN..(i + 1) * CONTACT_LEN)?;
        let id = read_id(raw)?;
        let ip = Ipv4Addr::new(raw[ID_LEN], raw[ID_LEN + 1], raw[ID_LEN + 2], raw[ID_LEN + 3]);
        let port = u16::from_le_bytes([raw[ID_LEN + 4], raw[ID_LEN + 5]]);
        out.push(Contact { id, addr: SocketAddrV4::new(ip, port) });
    }
    Some((out, 1 + n as usize * CONTACT_LEN))
}

/// How a lookup behaves.
#[derive(Clone, Copy, Debug)]
pub struct LookupConfig {
    /// Requests in flight at once.
    pub alpha: usize,
    /// How many closest nodes the lookup converges on (the bucket size).
    pub k: usize,
    /// How long one RPC may take before it counts as lost.
    pub rpc_timeout: Duration,
    /// How long the whole lookup may take.
    pub timeout: Duration,
}

/// What a lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// The `k` closest nodes to the target (self-lookup, refresh, provide).
    Closest,
    /// One node: stop as soon as a node with the target id is known.
    Node,
    /// Providers of the target key: stop at the first response naming one.
    Providers,
}

/// How a lookup ended.
#[derive(Debug, Default)]
pub struct LookupResult {
    /// The goal was reached (for [`Goal::Closest`]: the lookup converged).
    pub found: bool,
    /// Sequential RPC rounds on the path to the answer: 0 if the routing
    /// table already held it, 1 if a node we knew named it, and so on.
    pub hops: u32,
    /// The closest nodes that answered, closest first.
    pub closest: Vec<Contact>,
    /// Providers found ([`Goal::Providers`]).
    pub providers: Vec<Contact>,
    /// RPCs sent.
    pub queried: u32,
    /// RPCs that timed out.
    pub timeouts: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    InFlight,
    Answered,
    Failed,
}

struct Candidate {
    contact: Contact,
    state: State,
    hop: u32,
}

/// Waits until `socket` has a datagram or `wait` has passed, whichever is first.
///
/// `poll(2)`, as a Unix program would use with a non-blocking socket: wasi-libc
/// implements it over the socket's and a monotonic clock's pollables, so the
/// wait is on virtual time. (`set_read_timeout` serves as well since tg-sdk
/// answers `SO_RCVTIMEO` on UDP; one wait per receive keeps the digests.)
fn wait_readable(socket: &UdpSocket, wait: Duration) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // Whole milliseconds, rounded up so the wait never ends early.
    let ms = wait.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
    let mut fd = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid `pollfd` that outlives the call.
    let ready = unsafe { libc::poll(&mut fd, 1, ms) };
    if ready < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A Kademlia node: the socket, the routing table and the provider records.
pub struct Node {
    socket: UdpSocket,
    /// This node's id.
    pub id: Id,
    /// Its routing table.
    pub table: RoutingTable,
    providers: BTreeMap<Id, Vec<Contact>>,
    next_rid: u32,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
    /// Requests this node answered.
    pub served: u64,
}

impl Node {
    /// A node with id `id` answering on `port` of every local address.
    pub fn bind(id: Id, port: u16, k: usize) -> std::io::Result<Node> {
        let socket = UdpSocket::bind(("0.0.0.0", port))?;
        socket.set_nonblocking(true)?;
        Ok(Node {
            socket,
            id,
            table: RoutingTable::new(id, k),
            providers: BTreeMap::new(),
            next_rid: 1,
            send_buf: Vec::with_capacity(1024),
            recv_buf: vec![0u8; 2048],
            served: 0,
        })
    }

    /// Sends a request to `to` and returns its request id.
    pub fn request(&mut self, to: SocketAddrV4, body: Body) -> std::io::Result<u32> {
        let rid = self.next_rid;
        self.next_rid = self.next_rid.wrapping_add(1).max(1);
        self.send(to, rid, body)?;
        Ok(rid)
    }

    fn send(&mut self, to: SocketAddrV4, rid: u32, body: Body) -> std::io::Result<()> {
        Message { rid, from: self.id, body }.encode(&mut self.send_buf);
        self.socket.send_to(&self.send_buf, to)?;
        Ok(())
    }

    /// Waits until `until` for a response, answering every request that
    /// arrives meanwhile. Returns the first response, or `None` at `until`.
    pub fn poll(&mut self, until: Instant) -> std::io::Result<Option<(SocketAddrV4, Message)>> {
        loop {
            let (n, from) = match self.socket.recv_from(&mut self.recv_buf) {
                Ok(received) => received,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let now = Instant::now();
                    if now >= until {
                        return Ok(None);
                    }
                    wait_readable(&self.socket, until - now)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let SocketAddr::V4(from) = from else { continue };
            let Some(message) = Message::decode(&self.recv_buf[..n]) else { continue };
            if message.from == self.id {
                continue;
            }
            self.table.insert(Contact { id: message.from, addr: from });
            if message.body.is_request() {
                self.answer(from, message)?;
            } else {
                return Ok(Some((from, message)));
            }
        }
    }

    /// Answers requests until `until`, dropping any late responses.
    pub fn serve(&mut self, until: Instant) -> std::io::Result<()> {
        while self.poll(until)?.is_some() {}
        Ok(())
    }

    fn answer(&mut self, from: SocketAddrV4, request: Message) -> std::io::Result<()> {
        self.served += 1;
        let k = self.table.k;
        let body = match request.body {
            Body::Ping => Body::Pong,
            Body::FindNode(target) => Body::Nodes(self.closest_excluding(&target, k, &request.from)),
            Body::AddProvider(key) => {
                let entry = self.providers.entry(key).or_default();
                let provider = Contact { id: request.from, addr: from };
                if !entry.iter().any(|c| c.id == provider.id) {
                    entry.push(provider);
                }
                Body::Ack
            }
            Body::GetProviders(key) => Body::Providers {
                providers: self.providers.get(&key).cloned().unwrap_or_default(),
                closer: self.closest_excluding(&key, k, &request.from),
            },
            _ => return Ok(()),
        };
        self.send(from, request.rid, body)
    }

    /// Our `n` closest contacts to `target`, leaving out the asker (it knows itself).
    fn closest_excluding(&self, target: &Id, n: usize, asker: &Id) -> Vec<Contact> {
        let mut out = self.table.closest(target, n + 1);
        out.retain(|c| c.id != *asker);
        out.truncate(n);
        out
    }

    /// Pings `addr` until it answers or `deadline` passes; learns its id.
    pub fn ping(&mut self, addr: SocketAddrV4, rpc_timeout: Duration, deadline: Instant) -> std::io::Result<bool> {
        while Instant::now() < deadline {
            let rid = self.request(addr, Body::Ping)?;
            let until = (Instant::now() + rpc_timeout).min(deadline);
            while let Some((_, response)) = self.poll(until)? {
                if response.rid == rid {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Announces to the `k` closest nodes to `key` that this node provides it;
    /// returns how many acknowledged and the lookup that found them.
    pub fn provide(&mut self, key: Id, config: &LookupConfig) -> std::io::Result<(usize, LookupResult)> {
        let lookup = self.lookup(key, Goal::Closest, config)?;
        let mut pending = BTreeMap::new();
        for contact in &lookup.closest {
            let rid = self.request(contact.addr, Body::AddProvider(key))?;
            pending.insert(rid, ());
        }
        let until = Instant::now() + config.rpc_timeout;
        let mut acked = 0;
        while !pending.is_empty() {
            match self.poll(until)? {
                Some((_, response)) => {
                    if response.body == Body::Ack && pending.remove(&response.rid).is_some() {
                        acked += 1;
                    }
                }
                None => break,
            }
        }
        Ok((acked, lookup))
    }

    /// An iterative Kademlia lookup for `target`: keep `alpha` requests in
    /// flight to the closest nodes not yet asked, merge what they answer,
    /// and stop when the goal is met or the `k` closest have all answered.
    pub fn lookup(&mut self, target: Id, goal: Goal, config: &LookupConfig) -> std::io::Result<LookupResult> {
        let deadline = Instant::now() + config.timeout;
        let mut result = LookupResult::default();
        if goal == Goal::Node && self.table.contains(&target) {
            result.found = true;
            return Ok(result);
        }
        // A provider record this node stores itself answers at once, as
        // go-libp2p-kad-dht's provider store does: in a network of two, the
        // other node stores every record this one looks up, and nobody else has it.
        if goal == Goal::Providers
            && let Some(providers) = self.providers.get(&target).filter(|p| !p.is_empty())
        {
            result.found = true;
            result.providers = providers.clone();
            return Ok(result);
        }
        // Candidates by distance to the target; the distance is the key, so
        // each node appears once.
        let mut candidates: BTreeMap<Id, Candidate> = BTreeMap::new();
        for contact in self.table.closest(&target, config.k) {
            candidates.insert(contact.id.distance(&target), Candidate { contact, state: State::Waiting, hop: 0 });
        }
        // Request id → (candidate key, when it times out).
        let mut in_flight: BTreeMap<u32, (Id, Instant)> = BTreeMap::new();
        loop {
            // Send to the closest waiting candidates among the k closest still alive.
            let mut considered = 0;
            let mut to_ask = Vec::new();
            for (key, c) in candidates.iter() {
                if considered >= config.k || in_flight.len() + to_ask.len() >= config.alpha {
                    break;
                }
                match c.state {
                    State::Failed => continue,
                    State::Waiting => to_ask.push(*key),
                    State::InFlight | State::Answered => {}
                }
                considered += 1;
            }
            for key in to_ask {
                let c = candidates.get_mut(&key).expect("candidate");
                c.state = State::InFlight;
                let body = match goal {
                    Goal::Providers => Body::GetProviders(target),
                    Goal::Closest | Goal::Node => Body::FindNode(target),
                };
                let rid = self.request(c.contact.addr, body)?;
                result.queried += 1;
                in_flight.insert(rid, (key, Instant::now() + config.rpc_timeout));
            }
            if in_flight.is_empty() {
                // Nothing left to ask among the k closest: converged.
                result.found = goal == Goal::Closest;
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
            let wake = in_flight.values().map(|(_, t)| *t).min().expect("in flight").min(deadline);
            match self.poll(wake)? {
                Some((_, response)) => {
                    let Some((key, _)) = in_flight.remove(&response.rid) else { continue };
                    let hop = {
                        let c = candidates.get_mut(&key).expect("candidate");
                        c.state = State::Answered;
                        c.hop + 1
                    };
                    let learned = match response.body {
                        Body::Nodes(contacts) => contacts,
                        Body::Providers { providers, closer } => {
                            if !providers.is_empty() && goal == Goal::Providers {
                                result.found = true;
                                result.hops = hop;
                                result.providers = providers;
                                break;
                            }
                            closer
                        }
                        _ => Vec::new(),
                    };
                    for contact in learned {
                        if contact.id == self.id {
                            continue;
                        }
                        if goal == Goal::Node && contact.id == target {
                            result.found = true;
                            result.hops = hop;
                        }
                        candidates.entry(contact.id.distance(&target)).or_insert(Candidate {
                            contact,
                            state: State::Waiting,
                            hop,
                        });
                    }
                    if result.found {
                        break;
                    }
                }
                None => {
                    let now = Instant::now();
                    let expired: Vec<u32> = in_flight.iter().filter(|(_, (_, t))| *t <= now).map(|(r, _)| *r).collect();
                    for rid in expired {
                        let (key, _) = in_flight.remove(&rid).expect("expired");
                        candidates.get_mut(&key).expect("candidate").state = State::Failed;
                        result.timeouts += 1;
                    }
                }
            }
        }
        result.closest =
            candidates.values().filter(|c| c.state == State::Answered).take(config.k).map(|c| c.contact).collect();
        if goal == Goal::Closest {
            result.hops =
                candidates.values().filter(|c| c.state == State::Answered).map(|c| c.hop + 1).max().unwrap_or(0);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let mut rng = Rng::new(1);
        let contact = Contact { id: Id::random(&mut rng), addr: SocketAddrV4::new(Ipv4Addr::new(16, 0, 0, 9), 4000) };
        for body in [
            Body::Ping,
            Body::FindNode(Id::random(&mut rng)),
            Body::Nodes(vec![contact; 3]),
            Body::Providers { providers: vec![contact], closer: vec![contact; 2] },
        ] {
            let message = Message { rid: 7, from: Id::random(&mut rng), body };
            let mut wire = Vec::new();
            message.encode(&mut wire);
            assert_eq!(Message::decode(&wire), Some(message));
        }
    }

    #[test]
    fn closest_matches_a_full_sort() {
        let mut rng = Rng::new(2);
        let me = Id::random(&mut rng);
        let mut table = RoutingTable::new(me, 4);
        let mut all = Vec::new();
        for i in 0..400u16 {
            let c = Contact { id: Id::random(&mut rng), addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, i) };
            table.insert(c);
            if table.contains(&c.id) {
                all.push(c);
            }
        }
        for round in 0..60 {
            // Our own id, ids near it (nothing above their bucket), and random ones.
            let target = match round % 3 {
                0 => me,
                1 => me.random_in_bucket(150 + round % 10, &mut rng),
                _ => Id::random(&mut rng),
            };
            let mut sorted = all.clone();
            sorted.sort_by_key(|c| c.id.distance(&target));
            sorted.truncate(10);
            assert_eq!(table.closest(&target, 10), sorted);
        }
    }

    #[test]
    fn random_in_bucket_lands_in_the_bucket() {
        let mut rng = Rng::new(3);
        let me = Id::random(&mut rng);
        for bucket in [0, 1, 7, 8, 63, 159] {
            assert_eq!(me.common_prefix(&me.random_in_bucket(bucket, &mut rng)), bucket);
        }
    }
}
