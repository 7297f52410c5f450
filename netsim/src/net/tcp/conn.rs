//! One TCP connection's state machine: handshake, sliding window, cumulative
//! ACKs, retransmission and congestion control, FIN and RST.
//!
//! A [`Conn`] consumes segments and timer expiries and produces segments to
//! send and [`Effects`] to report; it never touches the event queue, the
//! trace, other sockets or the network. What is modelled:
//!
//! - three-way handshake with SYN / SYN-ACK retransmission;
//! - byte-stream sequence numbers from 0 (see [`Segment`]);
//! - segments of at most [`MSS`] bytes, an ACK for every segment received (no
//!   delayed ACKs), out-of-order segments buffered by the receiver;
//! - Reno congestion control with NewReno partial-ACK recovery (RFC 5681,
//!   RFC 6582): initial window 10 segments, slow start, congestion avoidance,
//!   fast retransmit on the third duplicate ACK, and on timeout go-back-N from
//!   one segment. No SACK, no pacing, no delayed ACKs, no Nagle;
//! - flow control by the receiver's free buffer, with a window update once a
//!   reader frees half the buffer, and zero-window probes on the retransmit timer;
//! - FIN half-close and RST abort. No TIME_WAIT: a closed connection's tuple
//!   is free at once (sequence numbers of a new connection restart at 0, and
//!   ephemeral ports are handed out in turn, so a stale segment meets no new
//!   connection of the same tuple; only a dial bound to a fixed port, redialling
//!   the same peer within a round trip of a close, could meet one).

use super::rtt::Rtt;
use crate::net::NetError;
use crate::net::packet::{Flags, Segment};
use crate::time::SimTime;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

/// Largest payload of one segment: the 1500-byte Ethernet MTU minus 20 bytes of
/// IPv4 and 20 of TCP header.
pub const MSS: u64 = 1460;
/// Bytes a connection buffers for sending (written but not yet acknowledged).
/// Linux starts at 16 KiB and autotunes up to 4 MiB; 256 KiB covers the
/// bandwidth-delay product of 1 Gbit/s at 2 ms or 100 Mbit/s at 20 ms.
pub const SEND_BUFFER: u64 = 256 * 1024;
/// Bytes a connection buffers for its reader, which bounds the advertised window.
pub const RECV_BUFFER: u64 = 256 * 1024;
/// Initial congestion window: RFC 6928's ten segments.
pub const INITIAL_CWND: u64 = 10 * MSS;
/// Duplicate ACKs that trigger a fast retransmit (RFC 5681).
pub const DUPACK_THRESHOLD: u32 = 3;
/// SYN retransmissions before a connect gives up. Linux's `tcp_syn_retries`
/// is 6 (about 127 s); 3 ends an unanswered connect after 1+2+4+8 = 15 s.
pub const SYN_RETRIES: u32 = 3;
/// SYN-ACK retransmissions before a half-open connection is dropped: Linux's `tcp_synack_retries`.
pub const SYNACK_RETRIES: u32 = 5;
/// Data retransmissions before an established connection times out. Linux's
/// `tcp_retries2` is 15 (about 15 minutes); 8 gives up after about 100 s at the
/// minimum timeout, so a partitioned run ends sooner.
pub const DATA_RETRIES: u32 = 8;

/// Where in its life a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    SynSent,
    SynReceived,
    Established,
    Closed,
}

/// What processing a segment or timer changed, for the socket layer to act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Effects {
    /// Something to read (data, end of stream, an error, a finished connect).
    pub(crate) readable: bool,
    /// Send-buffer space freed, or the connection finished or failed.
    pub(crate) writable: bool,
    /// The handshake completed.
    pub(crate) established: bool,
    /// The connection ended (its `error` says why, if abnormally).
    pub(crate) closed: bool,
}

pub(crate) struct Conn {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) phase: Phase,
    /// The listener a passive connection will be queued on once established.
    pub(crate) listener: Option<u32>,
    /// Closed by its owner: finishing in the background.
    pub(crate) orphan: bool,
    pub(crate) error: Option<NetError>,
    /// A stream operation has returned `error` (see [`Conn::take_error`]).
    error_reported: bool,

    // Send side. `snd_buf` holds bytes from `snd_una` to the end of what was written.
    snd_buf: VecDeque<u8>,
    snd_una: u64,
    snd_nxt: u64,
    snd_wnd: u64,
    pub(crate) fin_queued: bool,
    fin_sent: bool,
    pub(crate) fin_acked: bool,
    cwnd: u64,
    ssthresh: u64,
    dupacks: u32,
    recover: Option<u64>,
    rtt: Rtt,
    /// Karn's rule: the one segment being timed, by its end offset, and when it was sent.
    timing: Option<(u64, SimTime)>,
    retries: u32,
    /// Zero-window probes sent since the peer last acknowledged anything:
    /// Linux's `icsk_probes_out`. Probing gives up after [`DATA_RETRIES`]
    /// nobody answered, as a retransmission does.
    probes_out: u32,
    pub(crate) rto_deadline: Option<SimTime>,
    /// The earliest timer event already in the queue.
    pub(crate) timer_armed: Option<SimTime>,

    // Receive side.
    rcv_nxt: u64,
    rcv_buf: RecvBuffer,
    ooo: BTreeMap<u64, Vec<u8>>,
    peer_fin_at: Option<u64>,
    pub(crate) fin_received: bool,
    pub(crate) rcv_shutdown: bool,
    last_adv: u64,
    /// A zero window was advertised and no segment since has shown that the
    /// peer learnt of a larger one: it may be probing (see [`Conn::hides_window`]).
    zero_window_advertised: bool,
}

impl Conn {
    fn new(local: SocketAddr, remote: SocketAddr, phase: Phase) -> Conn {
        Conn {
            local,
            remote,
            phase,
            listener: None,
            orphan: false,
            error: None,
            error_reported: false,
            snd_buf: VecDeque::new(),
            snd_una: 0,
            snd_nxt: 0,
            snd_wnd: 0,
            fin_queued: false,
            fin_sent: false,
            fin_acked: false,
            cwnd: INITIAL_CWND,
            ssthresh: u64::MAX,
            dupacks: 0,
            recover: None,
            rtt: Rtt::default(),
            timing: None,
            retries: 0,
            probes_out: 0,
            rto_deadline: None,
            timer_armed: None,
            rcv_nxt: 0,
            rcv_buf: RecvBuffer::default(),
            ooo: BTreeMap::new(),
            peer_fin_at: None,
            fin_received: false,
            rcv_shutdown: false,
            last_adv: RECV_BUFFER,
            zero_window_advertised: false,
        }
    }

    /// An outgoing connection; call [`Conn::open`] to send its SYN.
    pub(crate) fn active(local: SocketAddr, remote: SocketAddr) -> Conn {
        Conn::new(local, remote, Phase::SynSent)
    }

    /// An incoming connection for `listener`, answering a SYN that arrived now.
    pub(crate) fn passive(
        local: SocketAddr,
        remote: SocketAddr,
        listener: u32,
        now: SimTime,
        out: &mut Vec<Segment>,
    ) -> Conn {
        let mut c = Conn::new(local, remote, Phase::SynReceived);
        c.listener = Some(listener);
        c.send_syn(now, out);
        c
    }

    /// Sends the SYN of an active open.
    pub(crate) fn open(&mut self, now: SimTime, out: &mut Vec<Segment>) {
        self.send_syn(now, out);
    }

    fn send_syn(&mut self, now: SimTime, out: &mut Vec<Segment>) {
        let flags = if self.phase == Phase::SynSent { Flags::SYN } else { Flags::SYN | Flags::ACK };
        out.push(Segment { flags, seq: 0, ack: 0, wnd: window(self.rcv_space()), data: Vec::new() });
        if self.retries == 0 {
            self.timing = Some((0, now));
        }
        self.arm(now);
    }

    fn rcv_space(&self) -> u64 {
        RECV_BUFFER.saturating_sub(self.rcv_buf.len() as u64)
    }

    fn ack_no(&self) -> u64 {
        self.rcv_nxt + u64::from(self.fin_received)
    }

    fn segment(&mut self, flags: Flags, seq: u64, data: Vec<u8>) -> Segment {
        let wnd = self.rcv_space();
        self.last_adv = wnd;
        self.zero_window_advertised |= wnd == 0;
        Segment { flags: flags | Flags::ACK, seq, ack: self.ack_no(), wnd: window(wnd), data }
    }

    fn data_end(&self) -> u64 {
        self.snd_una + self.snd_buf.len() as u64
    }

    fn outstanding(&self) -> bool {
        self.snd_nxt > self.snd_una || (self.fin_sent && !self.fin_acked)
    }

    fn arm(&mut self, now: SimTime) {
        self.rto_deadline = Some(now + self.rtt.rto());
    }

    /// Bytes the writer may add now.
    pub(crate) fn send_capacity(&self) -> u64 {
        SEND_BUFFER.saturating_sub(self.snd_buf.len() as u64)
    }

    /// Queues up to [`Conn::send_capacity`] bytes of `data`; returns how many.
    pub(crate) fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.send_capacity() as usize);
        self.snd_buf.extend(&data[..n]);
        n
    }

    /// Bytes waiting for the reader.
    pub(crate) fn readable_bytes(&self) -> usize {
        self.rcv_buf.len()
    }

    /// Takes up to `max` bytes for the reader, and sends a window update if the
    /// window had closed to under half the buffer and now opened past it.
    pub(crate) fn read(&mut self, max: usize, out: &mut Vec<Segment>) -> Vec<u8> {
        let n = max.min(self.rcv_buf.len());
        let data = self.rcv_buf.take(n);
        if self.phase == Phase::Established && self.last_adv < RECV_BUFFER / 2 && self.rcv_space() >= RECV_BUFFER / 2 {
            let seg = self.segment(Flags::ACK, self.snd_nxt, Vec::new());
            out.push(seg);
        }
        data
    }

    /// A copy of up to `max` bytes the reader would take next, left for it.
    pub(crate) fn peek(&self, max: usize) -> Vec<u8> {
        self.rcv_buf.peek(max.min(self.rcv_buf.len()))
    }

    /// Discards everything received and to be received (shutdown of the read side).
    pub(crate) fn shutdown_read(&mut self) {
        self.rcv_shutdown = true;
        self.rcv_buf.clear();
    }

    /// A segment for this connection arrived now.
    /// Its payload is taken, not copied, when it is in order and fits.
    pub(crate) fn on_segment(&mut self, now: SimTime, seg: Segment, out: &mut Vec<Segment>) -> Effects {
        let mut fx = Effects::default();
        if seg.flags.has(Flags::RST) {
            let err =
                if self.phase == Phase::SynSent { NetError::ConnectionRefused } else { NetError::ConnectionReset };
            self.fail(err, &mut fx);
            if self.phase_was_close_wait() {
                // Linux's CLOSE_WAIT: the peer ended in order and this side has
                // not; a reset then leaves `EPIPE` (`tcp_reset`), not a reset to
                // report: writes fail as on a closed pipe, reads see the end.
                self.error_reported = true;
            }
            return fx;
        }
        match self.phase {
            Phase::Closed => return fx,
            Phase::SynSent => {
                if seg.flags.has(Flags::SYN | Flags::ACK) {
                    self.establish_acking(now, &seg, out, &mut fx);
                } else if seg.flags.has(Flags::SYN) {
                    // Simultaneous open (RFC 793 §3.4): the peer dialled us as we dialled
                    // it. Answer its SYN with a SYN-ACK and wait for its SYN-ACK.
                    self.phase = Phase::SynReceived;
                    self.snd_wnd = u64::from(seg.wnd);
                    self.send_syn(now, out);
                }
                return fx;
            }
            Phase::SynReceived => {
                if seg.flags.has(Flags::SYN | Flags::ACK) && self.listener.is_none() {
                    // The other half of a simultaneous open: its SYN-ACK acknowledges
                    // our SYN. Established; acknowledge its SYN in turn.
                    self.establish_acking(now, &seg, out, &mut fx);
                    return fx;
                }
                if seg.flags.has(Flags::SYN) {
                    // Our SYN-ACK was lost; the client asks again.
                    self.send_syn(now, out);
                    return fx;
                }
                if !seg.flags.has(Flags::ACK) {
                    return fx;
                }
                self.phase = Phase::Established;
                self.handshake_done(now, &seg);
                fx.established = true;
                if self.listener.is_none() {
                    // An active open that met the peer's SYN: its connect is done.
                    fx.readable = true;
                    fx.writable = true;
                }
            }
            Phase::Established => {
                if seg.flags.has(Flags::SYN) {
                    // A retransmitted SYN-ACK (our ACK was lost) or SYN: acknowledge again.
                    let ack = self.segment(Flags::ACK, self.snd_nxt, Vec::new());
                    out.push(ack);
                    return fx;
                }
            }
        }
        self.on_ack(now, &seg, out, &mut fx);
        self.on_data(seg, out, &mut fx);
        self.output(now, out);
        fx
    }

    /// A SYN-ACK completed our side of the handshake: established, its SYN
    /// acknowledged, and whatever waited to be sent goes out.
    fn establish_acking(&mut self, now: SimTime, seg: &Segment, out: &mut Vec<Segment>, fx: &mut Effects) {
        self.phase = Phase::Established;
        self.handshake_done(now, seg);
        let ack = self.segment(Flags::ACK, 0, Vec::new());
        out.push(ack);
        fx.established = true;
        fx.readable = true;
        fx.writable = true;
        self.output(now, out);
    }

    fn handshake_done(&mut self, now: SimTime, seg: &Segment) {
        self.snd_wnd = u64::from(seg.wnd);
        if let Some((_, sent)) = self.timing.take() {
            self.rtt.sample(now.duration_since(sent));
        }
        self.retries = 0;
        self.rto_deadline = None;
    }

    fn on_ack(&mut self, now: SimTime, seg: &Segment, out: &mut Vec<Segment>, fx: &mut Effects) {
        // Whatever it says, the peer is there (Linux's `tcp_ack`).
        self.probes_out = 0;
        let data_end = self.data_end();
        let acks_fin = self.fin_queued && self.fin_sent && seg.ack == data_end + 1;
        let ack = seg.ack.min(data_end);
        self.snd_wnd = u64::from(seg.wnd);
        if ack > self.snd_una || (acks_fin && !self.fin_acked) {
            let acked = ack - self.snd_una;
            self.snd_buf.drain(..acked as usize);
            self.snd_una = ack;
            self.snd_nxt = self.snd_nxt.max(ack);
            if acks_fin {
                self.fin_acked = true;
            }
            if let Some((end, sent)) = self.timing
                && seg.ack >= end
            {
                self.rtt.sample(now.duration_since(sent));
                self.timing = None;
            }
            self.retries = 0;
            match self.recover {
                Some(recover) if ack >= recover => {
                    self.recover = None;
                    self.cwnd = self.ssthresh;
                }
                Some(_) => {
                    // NewReno partial ACK: the next hole is lost too; resend it at once.
                    self.cwnd = self.cwnd.saturating_sub(acked) + MSS;
                    self.retransmit_first(now, out);
                }
                None if self.cwnd < self.ssthresh => self.cwnd += acked.min(MSS),
                None => self.cwnd += (MSS * MSS / self.cwnd).max(1),
            }
            self.dupacks = 0;
            if self.outstanding() {
                self.arm(now)
            } else {
                self.rto_deadline = None
            }
            fx.writable = acked > 0 || acks_fin;
        } else if ack == self.snd_una
            && seg.data.is_empty()
            && !seg.flags.has(Flags::FIN)
            && self.snd_nxt > self.snd_una
        {
            // A duplicate ACK. RFC 5681 also asks for an unchanged window, but ours moves with every
            // read; window updates are rare (one per half buffer drained), so the check is left out.
            self.dupacks += 1;
            if self.dupacks == DUPACK_THRESHOLD && self.recover.is_none() {
                let flight = self.snd_nxt - self.snd_una;
                self.ssthresh = (flight / 2).max(2 * MSS);
                self.recover = Some(self.snd_nxt);
                self.timing = None;
                self.retransmit_first(now, out);
                self.cwnd = self.ssthresh + u64::from(DUPACK_THRESHOLD) * MSS;
            } else if self.recover.is_some() {
                self.cwnd += MSS;
            }
        }
    }

    fn on_data(&mut self, seg: Segment, out: &mut Vec<Segment>, fx: &mut Effects) {
        let has_fin = seg.flags.has(Flags::FIN);
        if seg.data.is_empty() && !has_fin {
            return;
        }
        let len = seg.data.len() as u64;
        let before = self.rcv_nxt;
        if seg.seq <= self.rcv_nxt {
            self.take_in_order(seg.seq, seg.data);
            while let Some(entry) = self.ooo.first_entry() {
                if *entry.key() > self.rcv_nxt {
                    break;
                }
                let (seq, data) = entry.remove_entry();
                self.take_in_order(seq, data);
            }
        } else if seg.seq + len <= self.rcv_nxt + self.rcv_space() {
            self.ooo.entry(seg.seq).or_insert(seg.data);
        }
        if has_fin {
            self.peer_fin_at = Some(seg.seq + len);
        }
        if !self.fin_received && self.peer_fin_at == Some(self.rcv_nxt) {
            self.fin_received = true;
            fx.readable = true;
        }
        if self.rcv_nxt > before + 1 {
            // More than a probe's one byte: the peer knows the window is open.
            self.zero_window_advertised = false;
        }
        if self.rcv_nxt > before {
            fx.readable = true;
            if self.rcv_shutdown {
                self.rcv_buf.clear();
            }
        }
        let ack = self.segment(Flags::ACK, self.snd_nxt, Vec::new());
        out.push(ack);
    }

    /// Appends the part of `data` (starting at offset `seq`) beyond `rcv_nxt` that fits the buffer.
    fn take_in_order(&mut self, seq: u64, data: Vec<u8>) {
        let end = seq + data.len() as u64;
        if end <= self.rcv_nxt {
            return;
        }
        let skip = (self.rcv_nxt - seq) as usize;
        let room = self.rcv_space() as usize;
        let take = (data.len() - skip).min(room);
        if skip == 0 && take == data.len() {
            // The usual case: the whole segment, kept as it came.
            self.rcv_buf.push(data);
        } else {
            self.rcv_buf.push(data[skip..skip + take].to_vec());
        }
        self.rcv_nxt += take as u64;
    }

    /// Sends what the windows allow, then a FIN if one is due.
    pub(crate) fn output(&mut self, now: SimTime, out: &mut Vec<Segment>) {
        if self.phase != Phase::Established {
            return;
        }
        let data_end = self.data_end();
        let wnd = self.cwnd.min(self.snd_wnd);
        while self.snd_nxt < data_end {
            let flight = self.snd_nxt - self.snd_una;
            let pending = data_end - self.snd_nxt;
            let len = MSS.min(pending).min(wnd.saturating_sub(flight));
            // Sender-side silly-window avoidance: wait for room for a full segment unless it is the tail.
            if len == 0 || (len < MSS && len < pending && flight > 0) {
                break;
            }
            self.send_data(now, self.snd_nxt, len, out);
            self.snd_nxt += len;
        }
        if self.fin_queued && !self.fin_sent && self.snd_nxt == data_end {
            self.fin_sent = true;
            let fin = self.segment(Flags::FIN, data_end, Vec::new());
            out.push(fin);
        }
        let zero_window = self.snd_wnd == 0 && self.snd_nxt < data_end;
        if (self.outstanding() || zero_window) && self.rto_deadline.is_none() {
            self.arm(now);
        }
    }

    fn send_data(&mut self, now: SimTime, seq: u64, len: u64, out: &mut Vec<Segment>) {
        let start = (seq - self.snd_una) as usize;
        let data = copy_range(&self.snd_buf, start, len as usize);
        if self.timing.is_none() && seq + len > self.snd_nxt {
            self.timing = Some((seq + len, now));
        }
        let seg = self.segment(Flags::ACK, seq, data);
        out.push(seg);
    }

    /// Resends the first unacknowledged segment (or the FIN, if only it is),
    /// no longer than the peer's window, as Linux trims a retransmission to
    /// it (`tcp_retransmit_skb`): bytes past it would be dropped for want of
    /// room, and the next timeout would count them lost again.
    fn retransmit_first(&mut self, now: SimTime, out: &mut Vec<Segment>) {
        let data_end = self.data_end();
        let len = MSS.min(data_end - self.snd_una).min(self.snd_wnd);
        if len > 0 {
            self.send_data(now, self.snd_una, len, out);
            self.snd_nxt = self.snd_nxt.max(self.snd_una + len);
        } else if data_end == self.snd_una && self.fin_sent && !self.fin_acked {
            let fin = self.segment(Flags::FIN, data_end, Vec::new());
            out.push(fin);
        }
    }

    /// The retransmission timer fired now (callers check the deadline).
    pub(crate) fn on_timer(&mut self, now: SimTime, out: &mut Vec<Segment>) -> Effects {
        let mut fx = Effects::default();
        self.rto_deadline = None;
        match self.phase {
            Phase::Closed => {}
            Phase::SynSent | Phase::SynReceived => {
                let limit = if self.phase == Phase::SynSent { SYN_RETRIES } else { SYNACK_RETRIES };
                if self.retries >= limit {
                    self.fail(NetError::Timeout, &mut fx);
                } else {
                    self.retries += 1;
                    self.rtt.back_off();
                    self.timing = None;
                    self.send_syn(now, out);
                }
            }
            Phase::Established => {
                let probe_due = self.snd_wnd == 0 && self.data_end() > self.snd_una;
                if probe_due {
                    // Data sent before the window closed to it found no room and
                    // is sent again once the window opens. Until then the timer
                    // probes: a peer that answers with a closed window is alive,
                    // and the connection does not time out on it (Linux's
                    // `tcp_retransmit_timer` on a window the receiver shrank).
                    self.snd_nxt = self.snd_una;
                }
                if !self.outstanding() && !probe_due {
                    return fx;
                }
                self.timing = None;
                self.rtt.back_off();
                // Only data waits for the window: a FIN outstanding behind a zero window has
                // no byte to probe with and is retransmitted like any unacknowledged segment.
                if probe_due {
                    // A one-byte window probe, not counted as in flight: the peer answers with its
                    // current window (taking the byte if it has room). Answered, probing goes on for
                    // ever, so a run whose only events are probes is over (`tcp::stall`); unanswered,
                    // it gives up as a retransmission does (Linux's `tcp_probe_timer`).
                    if self.probes_out >= DATA_RETRIES {
                        self.fail(NetError::Timeout, &mut fx);
                        return fx;
                    }
                    self.probes_out += 1;
                    let data = vec![self.snd_buf[0]];
                    let probe = self.segment(Flags::ACK, self.snd_una, data);
                    out.push(probe);
                } else {
                    self.retries += 1;
                    if self.retries > DATA_RETRIES {
                        self.fail(NetError::Timeout, &mut fx);
                        return fx;
                    }
                    let flight = self.snd_nxt - self.snd_una;
                    self.ssthresh = (flight / 2).max(2 * MSS);
                    self.cwnd = MSS;
                    self.recover = None;
                    self.dupacks = 0;
                    // Go back N: everything after the first segment is sent again as ACKs allow.
                    self.snd_nxt = self.snd_una;
                    self.retransmit_first(now, out);
                }
                self.arm(now);
            }
        }
        fx
    }

    /// Ends the connection with `err`.
    pub(crate) fn fail(&mut self, err: NetError, fx: &mut Effects) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.error = Some(err);
            self.rto_deadline = None;
            fx.closed = true;
            fx.readable = true;
            fx.writable = true;
        }
    }

    /// Why the connection failed, the first time a stream operation asks; after
    /// that `None`: the connection is simply over. This is Linux's `sk_err`,
    /// which the call that reports it clears, so a reset fails one read or
    /// write with `ECONNRESET` and later ones see end of stream or `EPIPE`.
    pub(crate) fn take_error(&mut self) -> Option<NetError> {
        if self.phase != Phase::Closed || self.error_reported {
            return None;
        }
        self.error_reported = true;
        self.error
    }

    /// Whether the peer's FIN came and this side has not sent its own: the
    /// state Linux calls CLOSE_WAIT (as it was before a reset closed it).
    fn phase_was_close_wait(&self) -> bool {
        self.fin_received && !self.fin_queued
    }

    /// Whether the connection failed and said so already.
    pub(crate) fn failure_reported(&self) -> bool {
        self.phase == Phase::Closed && self.error_reported
    }

    /// An RST for this connection (sequence at what the peer expects).
    pub(crate) fn rst(&self) -> Segment {
        Segment { flags: Flags::RST | Flags::ACK, seq: self.snd_nxt, ack: self.ack_no(), wnd: 0, data: Vec::new() }
    }

    /// Whether the connection has sent and received everything, FINs included.
    pub(crate) fn finished(&self) -> bool {
        self.fin_acked && self.fin_received
    }

    /// Whether this side has data to send and the peer's window is closed:
    /// the connection only probes until the peer reads.
    pub(crate) fn peer_window_closed(&self) -> bool {
        self.phase == Phase::Established && self.snd_wnd == 0 && self.data_end() > self.snd_una
    }

    /// Whether the retransmission timer, when it fires, can change nothing
    /// but the zero-window probing itself: it has nothing in flight to resend
    /// and no handshake or close to time out, so it sends a probe or nothing.
    /// (Whether the probe is taken is the peer's to say: [`Conn::hides_window`].)
    ///
    /// Probes nobody answers lead to a time-out, so the timer is idle only
    /// while at most the latest probe is unanswered: it may still be on its
    /// way, or its answer. A probe whose answer takes longer than the timer
    /// (the probe timer backs off to a minute) is not idle until the answer comes.
    pub(crate) fn timer_is_idle(&self) -> bool {
        if self.rto_deadline.is_none() {
            return true;
        }
        if self.orphan && self.fin_acked {
            // FIN_WAIT2's time-out closes the connection.
            return false;
        }
        match self.phase {
            Phase::Closed => true,
            Phase::Established => !self.outstanding() && self.probes_out <= 1,
            Phase::SynSent | Phase::SynReceived => false,
        }
    }

    /// Whether `seg`, arriving now, would change nothing but the probing: a
    /// zero-window probe this side has no room for, or the bare answer to one
    /// (nothing new acknowledged, the same window), on a connection with
    /// nothing in flight, nothing it could send, and no close under way.
    pub(crate) fn absorbs(&self, seg: &Segment) -> bool {
        let nothing_to_send =
            if self.data_end() > self.snd_una { self.snd_wnd == 0 } else { !self.fin_queued || self.fin_sent };
        let control = seg.flags.has(Flags::SYN) || seg.flags.has(Flags::FIN) || seg.flags.has(Flags::RST);
        let end = seg.seq + seg.data.len() as u64;
        let takes_nothing = seg.data.is_empty() || self.rcv_space() == 0 || end <= self.rcv_nxt;
        self.phase == Phase::Established
            && !control
            && !(self.orphan && (!seg.data.is_empty() || self.fin_acked))
            && !self.outstanding()
            && nothing_to_send
            && seg.ack == self.snd_una
            && u64::from(seg.wnd) == self.snd_wnd
            && takes_nothing
    }

    /// Whether the peer may be probing a window this side has opened without
    /// the peer knowing (the update was not due yet, or was lost): its next
    /// probe would be taken, so the probing is not idle.
    pub(crate) fn hides_window(&self) -> bool {
        self.phase == Phase::Established && self.zero_window_advertised && self.rcv_space() > 0
    }

    /// The smoothed round-trip time, once measured.
    pub(crate) fn srtt(&self) -> Option<std::time::Duration> {
        self.rtt.srtt()
    }
}

/// Bytes `start..start + len` of `buf`, copied out a slice at a time (an
/// iterator over a `VecDeque<u8>` moves a byte at a time).
fn copy_range(buf: &VecDeque<u8>, start: usize, len: usize) -> Vec<u8> {
    let end = start + len;
    assert!(end <= buf.len(), "a range of the buffer");
    let (a, b) = buf.as_slices();
    let mut out = Vec::with_capacity(len);
    if start < a.len() {
        out.extend_from_slice(&a[start..end.min(a.len())]);
    }
    if end > a.len() {
        out.extend_from_slice(&b[start.saturating_sub(a.len())..end - a.len()]);
    }
    out
}

/// Bytes received in order and not yet read: the segments' own buffers, in
/// order, not copied into one ring. A reader that keeps up takes a segment's
/// buffer as it came.
#[derive(Default)]
struct RecvBuffer {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the first chunk already read.
    read: usize,
    len: usize,
}

impl RecvBuffer {
    fn len(&self) -> usize {
        self.len
    }

    /// Appends `data`.
    fn push(&mut self, data: Vec<u8>) {
        if !data.is_empty() {
            self.len += data.len();
            self.chunks.push_back(data);
        }
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.read = 0;
        self.len = 0;
    }

    /// A copy of the first `n` bytes (at most [`RecvBuffer::len`]), left in place.
    fn peek(&self, n: usize) -> Vec<u8> {
        assert!(n <= self.len, "peeking at what was received");
        let mut out = Vec::with_capacity(n);
        let mut skip = self.read;
        for chunk in &self.chunks {
            if out.len() == n {
                break;
            }
            let chunk = &chunk[skip..];
            skip = 0;
            out.extend_from_slice(&chunk[..chunk.len().min(n - out.len())]);
        }
        out
    }

    /// Takes the first `n` bytes (at most [`RecvBuffer::len`]).
    fn take(&mut self, n: usize) -> Vec<u8> {
        assert!(n <= self.len, "taking what was received");
        self.len -= n;
        if self.read == 0 && self.chunks.front().is_some_and(|c| c.len() == n) {
            return self.chunks.pop_front().expect("a first chunk");
        }
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let first = &self.chunks[0][self.read..];
            let want = n - out.len();
            if first.len() <= want {
                out.extend_from_slice(first);
                self.chunks.pop_front();
                self.read = 0;
            } else {
                out.extend_from_slice(&first[..want]);
                self.read += want;
            }
        }
        out
    }
}

/// A window of at most [`RECV_BUFFER`] bytes as a segment carries it.
fn window(bytes: u64) -> u32 {
    const _: () = assert!(RECV_BUFFER <= u32::MAX as u64, "a segment's window is 32 bits");
    bytes.min(RECV_BUFFER) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn ranges_copy_across_the_ring_s_wrap() {
        let mut buf: VecDeque<u8> = (0..20).collect();
        buf.drain(..12);
        buf.extend(20..30u8);
        // Now 12..30, with the ring's halves split somewhere inside.
        let all: Vec<u8> = buf.iter().copied().collect();
        for start in 0..=all.len() {
            for len in 0..=all.len() - start {
                assert_eq!(copy_range(&buf, start, len), &all[start..start + len], "{start}+{len}");
            }
        }
    }

    #[test]
    fn the_receive_buffer_hands_out_and_shows_what_came_in_order() {
        let mut buf = RecvBuffer::default();
        let mut model = VecDeque::new();
        let mut next = 0u8;
        for (i, &(push, take)) in [(5, 5), (3, 0), (4, 2), (0, 5), (6, 1), (2, 7), (9, 9), (0, 0)].iter().enumerate() {
            let data: Vec<u8> = (0..push)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            model.extend(&data);
            buf.push(data);
            // A peek at any length sees what a take of it would, and takes nothing.
            for n in 0..=buf.len() {
                let ahead: Vec<u8> = model.iter().take(n).copied().collect();
                assert_eq!(buf.peek(n), ahead, "step {i}, peek {n}");
            }
            let got = buf.take(take);
            let want: Vec<u8> = model.drain(..take).collect();
            assert_eq!(got, want, "step {i}");
            assert_eq!(buf.len(), model.len());
        }
        buf.push(vec![1, 2, 3]);
        buf.clear();
        assert_eq!((buf.len(), buf.take(0)), (0, Vec::new()));
    }

    /// A connection from 16.0.0.2 established with a peer that advertised `wnd`.
    fn established(wnd: u32) -> Conn {
        let local = SocketAddr::new(Ipv4Addr::new(16, 0, 0, 2).into(), 49152);
        let remote = SocketAddr::new(Ipv4Addr::new(16, 0, 0, 3).into(), 80);
        let mut c = Conn::active(local, remote);
        let mut out = Vec::new();
        c.open(SimTime::ZERO, &mut out);
        let synack = Segment { flags: Flags::SYN | Flags::ACK, seq: 0, ack: 0, wnd, data: Vec::new() };
        c.on_segment(SimTime::from_nanos(1), synack, &mut out);
        c
    }

    fn ack(ack: u64, wnd: u32) -> Segment {
        Segment { flags: Flags::ACK, seq: 0, ack, wnd, data: Vec::new() }
    }

    #[test]
    fn a_retransmission_stays_within_the_peer_s_window() {
        let mut c = established(2 * MSS as u32);
        let mut out = Vec::new();
        c.write(&[9; 10_000]);
        c.output(SimTime::from_nanos(2), &mut out);
        assert_eq!(out.iter().map(|s| s.data.len()).sum::<usize>(), 2920, "the window's worth");
        // The first 2116 bytes arrive; the reader reads none: 804 bytes of room are left.
        out.clear();
        c.on_segment(SimTime::from_nanos(3), ack(2116, 804), &mut out);
        let deadline = c.rto_deadline.expect("the rest is timed");
        out.clear();
        c.on_timer(deadline, &mut out);
        let resent: Vec<_> = out.iter().map(|s| (s.seq, s.data.len())).collect();
        assert_eq!(resent, [(2116, 804)], "one segment, cut to the room the peer has");
    }

    #[test]
    fn data_past_a_window_the_peer_closed_is_probed_for_and_never_timed_out() {
        let mut c = established(2 * MSS as u32);
        let mut out = Vec::new();
        c.write(&[9; 10_000]);
        c.output(SimTime::from_nanos(2), &mut out);
        // The peer takes 1196 bytes and then has no room: the rest in flight found none.
        c.on_segment(SimTime::from_nanos(3), ack(1196, 0), &mut out);
        for round in 0..=2 * DATA_RETRIES {
            let deadline = c.rto_deadline.expect("timed");
            out.clear();
            let fx = c.on_timer(deadline, &mut out);
            assert_eq!(fx, Effects::default(), "round {round}: the connection lives");
            let sent: Vec<_> = out.iter().map(|s| (s.seq, s.data.len())).collect();
            assert_eq!(sent, [(1196, 1)], "round {round}: a probe");
            // The peer answers the probe: still no room.
            c.on_segment(deadline, ack(1196, 0), &mut out);
        }
        assert!(c.timer_is_idle(), "nothing in flight: the timer only probes");
        // The window opens: everything from the first unacknowledged byte goes out again.
        out.clear();
        c.on_segment(SimTime::from_nanos(4), ack(1196, 2 * MSS as u32), &mut out);
        let sent: Vec<_> = out.iter().map(|s| (s.seq, s.data.len())).collect();
        assert_eq!(sent, [(1196, 1460), (2656, 1460)]);
    }

    #[test]
    fn probes_nobody_answers_time_out_as_retransmissions_do() {
        let mut c = established(MSS as u32);
        let mut out = Vec::new();
        c.write(&[9; 4000]);
        c.output(SimTime::from_nanos(2), &mut out);
        c.on_segment(SimTime::from_nanos(3), ack(MSS, 0), &mut out);
        // The peer answers the first probes, then is never heard from again.
        let mut probes = 0;
        for round in 0..3 {
            let deadline = c.rto_deadline.expect("timed");
            out.clear();
            assert_eq!(c.on_timer(deadline, &mut out), Effects::default(), "round {round}");
            probes += out.len();
            c.on_segment(deadline, ack(MSS, 0), &mut out);
            assert!(c.timer_is_idle(), "round {round}: answered, the probing is idle");
        }
        for unanswered in 1..=DATA_RETRIES {
            let deadline = c.rto_deadline.expect("timed");
            out.clear();
            assert_eq!(c.on_timer(deadline, &mut out), Effects::default(), "probe {unanswered} unanswered");
            assert_eq!(out.iter().map(|s| (s.seq, s.data.len())).collect::<Vec<_>>(), [(MSS, 1)]);
            probes += 1;
            assert_eq!(c.timer_is_idle(), unanswered == 1, "probe {unanswered}: only the latest may still be answered");
        }
        let deadline = c.rto_deadline.expect("timed");
        out.clear();
        let fx = c.on_timer(deadline, &mut out);
        assert!(
            fx.closed && out.is_empty(),
            "{} probes, the last {DATA_RETRIES} unanswered: the connection gives up",
            probes
        );
        assert_eq!(c.take_error(), Some(NetError::Timeout));
    }

    #[test]
    fn a_fin_behind_a_zero_window_is_retransmitted_not_probed() {
        let local = SocketAddr::new(Ipv4Addr::new(16, 0, 0, 2).into(), 49152);
        let remote = SocketAddr::new(Ipv4Addr::new(16, 0, 0, 3).into(), 80);
        let mut c = Conn::active(local, remote);
        let mut out = Vec::new();
        c.open(SimTime::ZERO, &mut out);
        // The peer's buffer is full: it completes the handshake advertising a zero window.
        let synack = Segment { flags: Flags::SYN | Flags::ACK, seq: 0, ack: 0, wnd: 0, data: Vec::new() };
        c.on_segment(SimTime::from_nanos(1), synack, &mut out);
        c.fin_queued = true;
        out.clear();
        c.output(SimTime::from_nanos(1), &mut out);
        assert!(out.iter().any(|s| s.flags.has(Flags::FIN)), "nothing to send but the FIN");
        let deadline = c.rto_deadline.expect("the FIN is timed");
        out.clear();
        let fx = c.on_timer(deadline, &mut out);
        assert_eq!(fx, Effects::default());
        assert!(out.iter().any(|s| s.flags.has(Flags::FIN) && s.data.is_empty()), "the FIN is sent again");
        assert!(c.rto_deadline.is_some(), "and timed again");
    }
}
