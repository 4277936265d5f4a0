//! Server transactions (RFC 3261 §17.2, with RFC 6026's Accepted state) as one sans-IO table:
//! requests and `now` in, what to send and which transactions timed out or ended out. It
//! absorbs retransmitted requests (answering them with the last response), retransmits final
//! responses over UDP until they are acknowledged (Timer G, and 2xx until the ACK), and forgets
//! each transaction when RFC 3261 no longer needs it (Timers H, I, J, L) — by timers in
//! first-in-first-out queues, one per delay, never by scanning. A finished transaction keeps
//! only its key and the bytes of its last response.

use super::message::{Message, find, parts, split_at_byte};
use super::text::{push_decimal, push_ip};
use std::collections::VecDeque;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

pub type TxId = u64;

/// A step back of the clock larger than this (ms) moves the timers with it.
pub const STEP_BACK_MS: i64 = 100;

/// RFC 3261 timer values (milliseconds); tests and servers may shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub t1: i64,
    pub t2: i64,
    pub t4: i64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            t1: 500,
            t2: 4_000,
            t4: 5_000,
        }
    }
}

/// What identifies a server transaction (§17.2.3), as one string: a letter for the kind (`I`:
/// INVITE, whose non-2xx ACK belongs to it; `C`: CANCEL; `N`: any other), then the top Via's
/// branch and sent-by; for RFC 2543 peers without a magic-cookie branch, the Call-ID, CSeq
/// number, From tag and top Via. The index and the transaction share it; a look-up builds it
/// in a reused buffer and allocates nothing.
type Key = Arc<str>;

/// "SIP/2.0/UDP host:port;params" → "host:port"
fn sent_by(via: &str) -> &str {
    let before = find(via, b';').map_or(via, |i| &via[..i]);
    match before.bytes().rposition(|c| c.is_ascii_whitespace()) {
        Some(i) => &before[i + 1..],
        None => before,
    }
}

/// Writes the key of request `m` into `id` (emptied first); `None` when it has none.
fn key(m: &Message, id: &mut String) -> Option<()> {
    let method = m.method()?;
    let via = m.top_via()?;
    id.clear();
    id.push(match method {
        "INVITE" | "ACK" => 'I',
        "CANCEL" => 'C',
        _ => 'N',
    });
    match m.branch() {
        Some(branch) => {
            id.push_str(branch);
            id.push('\n');
            let from = id.len();
            id.push_str(sent_by(via));
            id[from..].make_ascii_lowercase();
        }
        None => {
            // Newlines separate the parts (a bare LF inside a value could make a peer's own
            // keys collide with each other, nothing worse).
            let (cseq, _) = m.cseq()?;
            id.push('\n');
            id.push_str(m.call_id());
            id.push('\n');
            let _ = write!(id, "{cseq}");
            id.push('\n');
            id.push_str(m.from_tag().unwrap_or(""));
            id.push('\n');
            id.push_str(via.split(';').next().unwrap_or("").trim());
        }
    }
    Some(())
}

/// What a transaction keeps of its last response.
#[derive(Debug)]
enum Last {
    Nothing,
    Bytes(Vec<u8>),
    /// Only the status: the core builds the response again from a retransmitted request.
    Plain(u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Non-INVITE, no response yet.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent (non-2xx for INVITE); waiting out retransmissions.
    Completed,
    /// INVITE: the ACK for the non-2xx came.
    Confirmed,
    /// INVITE: a 2xx was sent; retransmitted until the ACK (RFC 6026).
    Accepted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Timer {
    /// Retransmit the last final response (Timer G, and 2xx retransmission).
    Resend,
    /// Give up: no ACK came (Timer H for non-2xx, the end of 2xx retransmission).
    NoAck,
    /// Forget the transaction (Timers I, J, L).
    Forget,
}

#[derive(Debug)]
struct Tx {
    key: Key,
    peer: SocketAddr,
    invite: bool,
    state: State,
    /// The last response sent, to answer retransmissions.
    last: Last,
    /// The current retransmission interval.
    interval: i64,
    /// Bumped on each state change: timers of an older generation are stale.
    generation: u32,
    acked: bool,
    /// Over TCP (or another reliable transport): no retransmission of non-2xx finals.
    reliable: bool,
}

/// A timer in its queue. It is stale (and skipped when due) once its transaction is gone or
/// has moved to another generation: each generation has at most one timer of each kind
/// pending.
#[derive(Clone, Copy, Debug)]
struct Due {
    when: i64,
    tx: TxId,
    generation: u32,
    timer: Timer,
}

/// The timers, in one first-in-first-out queue per delay. Every timer of a queue was armed
/// with the same delay from a time that never goes back (see [`Timers::arm`]), so each queue
/// is in order of when its timers are due: arming is a push, the next due is the earliest of
/// the queues' fronts (a handful: T1, its doublings up to T2, T4, 64·T1), and nothing is ever
/// searched or removed from the middle.
#[derive(Debug, Default)]
struct Timers {
    queues: Vec<(i64, VecDeque<Due>)>,
}

impl Timers {
    /// Arms a timer `delay` after `from`. A queue's timers stay in order: one armed from a
    /// time before its queue's last (a resend scheduled from when it was due, not from when
    /// it ran) waits for that last one — late by at most how late its predecessor ran.
    fn arm(&mut self, from: i64, delay: i64, (tx, generation, timer): (TxId, u32, Timer)) {
        let i = match self.queues.iter().position(|(d, _)| *d == delay) {
            Some(i) => i,
            None => {
                self.queues.push((delay, VecDeque::new()));
                self.queues.len() - 1
            }
        };
        let q = &mut self.queues[i].1;
        let when = q.back().map_or(from + delay, |b| b.when.max(from + delay));
        q.push_back(Due {
            when,
            tx,
            generation,
            timer,
        });
    }

    /// The queue whose front is due first, and when.
    fn first(&self) -> Option<(usize, i64)> {
        self.queues
            .iter()
            .enumerate()
            .filter_map(|(i, (_, q))| q.front().map(|d| (i, d.when)))
            .min_by_key(|&(_, when)| when)
    }

    /// The next timer due at `now` or before.
    fn pop_due(&mut self, now: i64) -> Option<Due> {
        let (i, when) = self.first()?;
        if when > now {
            return None;
        }
        self.queues[i].1.pop_front()
    }

    fn len(&self) -> usize {
        self.queues.iter().map(|(_, q)| q.len()).sum()
    }

    /// Moves every timer by `by` ms (all alike: each queue stays in order).
    fn shift(&mut self, by: i64) {
        for (_, q) in &mut self.queues {
            for d in q.iter_mut() {
                d.when += by;
            }
        }
    }

    /// Drops the timers of `tx` that are the last of their queues: a transaction answered and
    /// then forgotten at once (the stateless fast path) leaves nothing queued.
    fn drop_last(&mut self, tx: TxId) {
        for (_, q) in &mut self.queues {
            while q.back().is_some_and(|d| d.tx == tx) {
                q.pop_back();
            }
        }
    }
}

/// Whether the top Via names a reliable transport (TCP, TLS, SCTP, WS).
fn reliable(via: &str) -> bool {
    let proto = via
        .bytes()
        .position(|c| c.is_ascii_whitespace())
        .map_or(via, |i| &via[..i]);
    let t = proto.rsplit('/').next().unwrap_or("");
    ["TCP", "TLS", "SCTP", "WS", "WSS"]
        .iter()
        .any(|r| t.eq_ignore_ascii_case(r))
}

/// What a request is to the transaction layer.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A new transaction: the core must answer it.
    New(TxId),
    /// A retransmission: send these bytes again (the last response), or nothing yet.
    Again(Option<Vec<u8>>),
    /// An ACK for a non-2xx final response of ours: nothing to do.
    Absorbed,
    /// A retransmission of a request answered with a plain response (see
    /// [`Transactions::respond_plain`]): build it again from this request, with this status.
    AgainPlain(u16),
    /// An ACK for a 2xx (its own transaction in RFC 3261): the core matches it to its dialog.
    AckFor2xx,
    /// Not a request a transaction can be built from.
    Invalid,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Send {
        to: SocketAddr,
        bytes: Vec<u8>,
    },
    /// The INVITE transaction's final response was never acknowledged.
    NoAck {
        tx: TxId,
    },
}

#[derive(Debug, Default)]
pub struct Transactions {
    txs: crate::slab::Slab<Tx>,
    /// Keys are the peer's (branches): the seeded standard hasher.
    index: crate::idmap::PeerMap<Key, TxId>,
    timers: Timers,
    /// The latest `now` seen: timers are armed from it (see [`Transactions::tick`]).
    now: i64,
    /// Where a request's key is built for its look-up.
    scratch: String,
    pub timing: Timing,
}

impl Transactions {
    pub fn new(timing: Timing) -> Transactions {
        Transactions {
            timing,
            ..Transactions::default()
        }
    }

    /// Live transactions (for tests and metrics).
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Arms `timer` of transaction `tx` (of `generation`) `delay` after `from`.
    fn at(&mut self, from: i64, delay: i64, tx: TxId, generation: u32, timer: Timer) {
        self.timers.arm(from, delay, (tx, generation, timer));
    }

    /// Moves the layer's clock to `now`. The clock is the wall clock: when it is stepped back
    /// (NTP, a resumed VM) by more than [`STEP_BACK_MS`], every timer is moved back as much,
    /// so each still comes due after the time it had left and new ones count from the new
    /// time; a smaller step back is held (timers armed meanwhile are that much late, and the
    /// queues stay in order either way).
    fn tick(&mut self, now: i64) -> i64 {
        if now < self.now - STEP_BACK_MS {
            self.timers.shift(now - self.now);
            self.now = now;
        }
        self.now = self.now.max(now);
        self.now
    }

    /// A request arrived from `peer`.
    pub fn receive(&mut self, now: i64, peer: SocketAddr, m: &Message) -> Incoming {
        let now = self.tick(now);
        if key(m, &mut self.scratch).is_none() {
            return Incoming::Invalid;
        }
        let is_ack = m.method() == Some("ACK");
        match self.index.get(self.scratch.as_str()).copied() {
            Some(id) => {
                let t4 = self.timing.t4;
                let Some(tx) = self.txs.get_mut(id) else {
                    return Incoming::Invalid;
                };
                if is_ack {
                    if tx.state == State::Completed && tx.invite {
                        tx.state = State::Confirmed;
                        tx.generation += 1;
                        let g = tx.generation;
                        // Timer I: absorb ACK retransmissions for T4, then forget.
                        self.at(now, t4, id, g, Timer::Forget);
                    }
                    return Incoming::Absorbed;
                }
                match &tx.last {
                    Last::Nothing => Incoming::Again(None),
                    Last::Bytes(b) => Incoming::Again(Some(b.clone())),
                    Last::Plain(code) => Incoming::AgainPlain(*code),
                }
            }
            None if is_ack => Incoming::AckFor2xx,
            None => {
                let invite = m.method() == Some("INVITE");
                let reliable = m.top_via().is_some_and(reliable);
                let k: Key = Arc::from(self.scratch.as_str());
                // Slots for 16.7 million live transactions: past that, the request is dropped
                // (its retransmission may find room).
                let Some(id) = self.txs.insert(Tx {
                    key: k.clone(),
                    peer,
                    invite,
                    state: if invite {
                        State::Proceeding
                    } else {
                        State::Trying
                    },
                    last: Last::Nothing,
                    interval: self.timing.t1,
                    generation: 0,
                    acked: false,
                    reliable,
                }) else {
                    return Incoming::Invalid;
                };
                self.index.insert(k, id);
                Incoming::New(id)
            }
        }
    }

    /// The core answers transaction `tx` with a response (`code`, the encoded bytes). Returns
    /// what to send (nothing when the transaction is gone).
    pub fn respond(&mut self, now: i64, id: TxId, code: u16, bytes: Vec<u8>) -> Vec<Action> {
        self.answer(now, id, code, bytes, false)
    }

    /// As [`respond`](Self::respond), for a response the core can build again from the request
    /// alone (no headers or body of its own): a non-INVITE transaction keeps only the status
    /// while it waits out retransmissions, and a retransmission comes back as
    /// [`Incoming::AgainPlain`].
    pub fn respond_plain(&mut self, now: i64, id: TxId, code: u16, bytes: Vec<u8>) -> Vec<Action> {
        self.answer(now, id, code, bytes, true)
    }

    fn answer(
        &mut self,
        now: i64,
        id: TxId,
        code: u16,
        bytes: Vec<u8>,
        plain: bool,
    ) -> Vec<Action> {
        let now = self.tick(now);
        let timing = self.timing;
        let Some(tx) = self.txs.get_mut(id) else {
            return Vec::new();
        };
        if matches!(
            tx.state,
            State::Completed | State::Confirmed | State::Accepted
        ) {
            // Final already sent: a second final is not allowed.
            return Vec::new();
        }
        tx.last = if plain && !tx.invite && code >= 200 {
            Last::Plain(code)
        } else {
            Last::Bytes(bytes.clone())
        };
        let to = tx.peer;
        if code < 200 {
            tx.state = State::Proceeding;
            return vec![Action::Send { to, bytes }];
        }
        tx.generation += 1;
        let g = tx.generation;
        tx.interval = timing.t1;
        let invite = tx.invite;
        if invite && code < 300 {
            tx.state = State::Accepted;
            self.at(now, timing.t1, id, g, Timer::Resend);
            self.at(now, 64 * timing.t1, id, g, Timer::NoAck);
        } else if invite {
            tx.state = State::Completed;
            // Timer G only over UDP; a reliable transport delivers the response once.
            if !tx.reliable {
                self.at(now, timing.t1, id, g, Timer::Resend);
            }
            self.at(now, 64 * timing.t1, id, g, Timer::NoAck);
        } else {
            tx.state = State::Completed;
            // Timer J: absorb request retransmissions (none over a reliable transport).
            let j = if tx.reliable { 0 } else { 64 * timing.t1 };
            self.at(now, j, id, g, Timer::Forget);
        }
        vec![Action::Send { to, bytes }]
    }

    /// The ACK for the 2xx of INVITE transaction `tx` arrived (the core matched its dialog).
    pub fn acknowledged(&mut self, id: TxId) {
        if let Some(tx) = self.txs.get_mut(id) {
            if tx.state == State::Accepted {
                tx.acked = true;
                // Stop retransmitting; keep absorbing INVITE retransmissions until Timer L
                // (RFC 6026: they are not answered again), so the 2xx is no longer needed.
                tx.interval = i64::MAX;
                tx.last = Last::Nothing;
            }
        }
    }

    /// When the next timer is due (possibly a stale one: it is then dropped, nothing more).
    pub fn poll_timeout(&self) -> Option<i64> {
        self.timers.first().map(|(_, when)| when)
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: i64) -> Vec<Action> {
        let now = self.tick(now);
        let mut out = Vec::new();
        while let Some(due) = self.timers.pop_due(now) {
            let Due {
                when,
                tx: id,
                generation: g,
                timer: t,
            } = due;
            let timing = self.timing;
            let Some(tx) = self.txs.get_mut(id) else {
                continue;
            };
            if tx.generation != g {
                continue;
            }
            match t {
                Timer::Resend => {
                    let resend = match tx.state {
                        State::Completed => true,
                        State::Accepted => !tx.acked,
                        _ => false,
                    };
                    if resend {
                        if let Last::Bytes(bytes) = &tx.last {
                            out.push(Action::Send {
                                to: tx.peer,
                                bytes: bytes.clone(),
                            });
                        }
                        tx.interval = (tx.interval * 2).min(timing.t2);
                        let interval = tx.interval;
                        self.at(when, interval, id, g, Timer::Resend);
                    }
                }
                Timer::NoAck => {
                    let unacked = match tx.state {
                        State::Completed => true,
                        State::Accepted => !tx.acked,
                        _ => false,
                    };
                    if unacked {
                        out.push(Action::NoAck { tx: id });
                    }
                    self.forget(id);
                }
                Timer::Forget => self.forget(id),
            }
        }
        out
    }

    /// Drops a transaction whose final response was decided statelessly: a retransmitted
    /// request is decided again (the same way), and nothing is kept per call.
    pub fn discard(&mut self, id: TxId) {
        self.forget(id);
    }

    /// Forgets a transaction; its timers still queued are stale from now on (those last in
    /// their queues go at once).
    fn forget(&mut self, id: TxId) {
        if let Some(tx) = self.txs.remove(id) {
            self.index.remove(&tx.key);
            self.timers.drop_last(id);
        }
    }

    /// Timers queued, stale ones included until they come due (for tests and metrics).
    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    /// The INVITE transaction a CANCEL names (same branch and sent-by).
    pub fn cancelled(&mut self, cancel: &Message) -> Option<TxId> {
        key(cancel, &mut self.scratch)?;
        // The INVITE's key: the same but for its kind.
        self.scratch.replace_range(..1, "I");
        let id = *self.index.get(self.scratch.as_str())?;
        let tx = self.txs.get(id)?;
        (tx.state == State::Proceeding).then_some(id)
    }
}

/// The `received`/`rport` a response's top Via needs (§18.2.1, RFC 3581): where the request
/// really came from. Responses always go to the packet's source, never to a Via's address.
pub fn via_with_source(via: &str, source: SocketAddr) -> String {
    let mut out = String::with_capacity(via.len() + 40);
    let mut first = true;
    for part in parts(via, b';') {
        if first {
            out.push_str(part.trim_end());
            first = false;
            continue;
        }
        let name = split_at_byte(part, b'=').map_or(part, |(n, _)| n);
        let name = name.trim_ascii();
        if name.eq_ignore_ascii_case("received") {
            continue;
        }
        out.push(';');
        if name.eq_ignore_ascii_case("rport") {
            out.push_str("rport=");
            push_decimal(&mut out, source.port().into());
        } else {
            out.push_str(part.trim_ascii());
        }
    }
    out.push_str(";received=");
    push_ip(&mut out, source.ip());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;

    fn peer() -> SocketAddr {
        "127.0.0.1:5070".parse().unwrap()
    }

    fn req(method: &str, branch: &str, cseq: &str) -> Vec<u8> {
        format!(
            "{method} sip:200@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\r\n\
             From: <sip:a@127.0.0.1>;tag=f1\r\nTo: <sip:200@127.0.0.1>\r\nCall-ID: c1\r\n\
             CSeq: {cseq}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn retransmissions_get_the_last_response_and_acks_are_absorbed() {
        let mut t = Transactions::new(Timing::default());
        let invite = req("INVITE", "z9hG4bK1", "1 INVITE");
        let m = parse(&invite).unwrap();
        let Incoming::New(id) = t.receive(0, peer(), &m) else {
            panic!()
        };
        assert_eq!(t.receive(10, peer(), &m), Incoming::Again(None));
        t.respond(10, id, 100, b"100".to_vec());
        assert_eq!(
            t.receive(20, peer(), &m),
            Incoming::Again(Some(b"100".to_vec()))
        );
        t.respond(30, id, 486, b"486".to_vec());
        // Timer G: 486 again at 530, 1530, 3530 (T1, 2T1, 4T1 ...), then H at 64*T1.
        let sent: Vec<i64> = (0..40)
            .flat_map(|i| {
                let now = 30 + i * 250;
                t.handle_timeout(now)
                    .into_iter()
                    .filter(|a| matches!(a, Action::Send { .. }))
                    .map(move |_| now)
            })
            .collect();
        assert_eq!(sent, vec![530, 1530, 3530, 7530]);
        let ack = req("ACK", "z9hG4bK1", "1 ACK");
        assert_eq!(
            t.receive(8000, peer(), &parse(&ack).unwrap()),
            Incoming::Absorbed
        );
        assert!(
            t.handle_timeout(20_000).is_empty(),
            "acknowledged: no more resends"
        );
        assert!(t.is_empty(), "Timer I forgot it");
    }

    #[test]
    fn an_unacknowledged_2xx_is_resent_then_reported() {
        let mut t = Transactions::new(Timing::default());
        let m_bytes = req("INVITE", "z9hG4bK2", "1 INVITE");
        let m = parse(&m_bytes).unwrap();
        let Incoming::New(id) = t.receive(0, peer(), &m) else {
            panic!()
        };
        t.respond(0, id, 200, b"200".to_vec());
        let mut resends = 0;
        let mut noack = false;
        for now in (0..=32_000).step_by(100) {
            for a in t.handle_timeout(now) {
                match a {
                    Action::Send { .. } => resends += 1,
                    Action::NoAck { tx } => noack = tx == id,
                }
            }
        }
        assert!(noack);
        assert_eq!(resends, 10, "T1, 2T1, 4T1, then every T2 until 64*T1");
        assert!(t.is_empty());
        // With the ACK, retransmission stops.
        let Incoming::New(id) = t.receive(40_000, peer(), &m) else {
            panic!()
        };
        t.respond(40_000, id, 200, b"200".to_vec());
        let ack = req("ACK", "z9hG4bK-other", "1 ACK");
        assert_eq!(
            t.receive(40_100, peer(), &parse(&ack).unwrap()),
            Incoming::AckFor2xx
        );
        t.acknowledged(id);
        let later: usize = (40_100..80_000)
            .step_by(100)
            .map(|now| t.handle_timeout(now).len())
            .sum();
        assert_eq!(later, 0);
    }

    #[test]
    fn non_invite_is_forgotten_after_timer_j_and_cancel_finds_its_invite() {
        let mut t = Transactions::new(Timing::default());
        let o = req("OPTIONS", "z9hG4bK3", "1 OPTIONS");
        let m = parse(&o).unwrap();
        let Incoming::New(id) = t.receive(0, peer(), &m) else {
            panic!()
        };
        t.respond(0, id, 200, b"200".to_vec());
        assert_eq!(
            t.receive(100, peer(), &m),
            Incoming::Again(Some(b"200".to_vec()))
        );
        t.handle_timeout(32_000);
        assert!(t.is_empty());
        // A plain final keeps only its status.
        let Incoming::New(id) = t.receive(40_000, peer(), &m) else {
            panic!()
        };
        assert_eq!(t.respond_plain(40_000, id, 200, b"200".to_vec()).len(), 1);
        assert_eq!(t.receive(40_100, peer(), &m), Incoming::AgainPlain(200));
        t.handle_timeout(80_000);
        assert!(t.is_empty());
        let inv = req("INVITE", "z9hG4bK4", "1 INVITE");
        let Incoming::New(id) = t.receive(0, peer(), &parse(&inv).unwrap()) else {
            panic!()
        };
        let cancel = req("CANCEL", "z9hG4bK4", "1 CANCEL");
        let cm = parse(&cancel).unwrap();
        assert!(
            matches!(t.receive(0, peer(), &cm), Incoming::New(_)),
            "CANCEL is its own"
        );
        assert_eq!(t.cancelled(&cm), Some(id));
    }

    #[test]
    fn over_tcp_a_non_2xx_final_is_sent_once() {
        let mut t = Transactions::new(Timing::default());
        let invite = String::from_utf8(req("INVITE", "z9hG4bK9", "1 INVITE"))
            .unwrap()
            .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
        let Incoming::New(id) = t.receive(0, peer(), &parse(invite.as_bytes()).unwrap()) else {
            panic!()
        };
        assert_eq!(t.respond(0, id, 486, b"486".to_vec()).len(), 1);
        let resent: usize = (0..70).map(|i| t.handle_timeout(i * 500).len()).sum();
        assert_eq!(resent, 1, "only the NoAck at Timer H");
    }

    #[test]
    fn timers_fire_in_order_across_queues_and_move_with_a_clock_stepped_back() {
        let mut t = Transactions::new(Timing::default());
        let answer = |t: &mut Transactions, now: i64, branch: &str, method: &str, code: u16| {
            let m_bytes = req(method, branch, &format!("1 {method}"));
            let Incoming::New(id) = t.receive(now, peer(), &parse(&m_bytes).unwrap()) else {
                panic!()
            };
            t.respond(now, id, code, code.to_string().into_bytes());
            id
        };
        // A 486 (Timer G at T1, 2·T1, ...) and an OPTIONS' 200 (Timer J at 64·T1).
        let invite = answer(&mut t, 0, "z9hG4bKa", "INVITE", 486);
        answer(&mut t, 100, "z9hG4bKb", "OPTIONS", 200);
        assert_eq!(t.poll_timeout(), Some(500));
        // A step back under STEP_BACK_MS is held: nothing moves.
        t.handle_timeout(50);
        assert_eq!(t.poll_timeout(), Some(500));
        // The clock steps back an hour (at 100): the timers move with it, and what is armed
        // now counts from the new time.
        let back = 100 - 3_600_000;
        answer(&mut t, back, "z9hG4bKc", "OPTIONS", 200);
        assert_eq!(t.poll_timeout(), Some(back + 400));
        let mut fired = Vec::new();
        for now in (back..=back + 40_000).step_by(50) {
            let before = t.len();
            for a in t.handle_timeout(now) {
                if let Action::Send { bytes, .. } = a {
                    fired.push((now - back, String::from_utf8(bytes).unwrap()));
                }
            }
            if t.len() < before {
                fired.push((now - back, format!("forgot {}", before - t.len())));
            }
        }
        // As before the step, less the 100 ms that had passed: the 486 again 400 ms after the
        // step, ..., its Timer H 31.9 s after; both OPTIONS forgotten 32 s after.
        let expect: Vec<(i64, String)> = vec![
            (400, "486".into()),
            (1400, "486".into()),
            (3400, "486".into()),
            (7400, "486".into()),
            (11400, "486".into()),
            (15400, "486".into()),
            (19400, "486".into()),
            (23400, "486".into()),
            (27400, "486".into()),
            (31400, "486".into()),
            (31900, "forgot 1".into()),
            (32000, "forgot 2".into()),
        ];
        assert_eq!(fired, expect);
        assert!(t.txs.get(invite).is_none());
        assert_eq!(t.timers(), 0, "every timer came due and went");
    }

    #[test]
    fn a_transaction_answered_and_forgotten_at_once_leaves_no_timer() {
        let mut t = Transactions::new(Timing::default());
        let m_bytes = req("INVITE", "z9hG4bK5", "1 INVITE");
        let m = parse(&m_bytes).unwrap();
        let Incoming::New(id) = t.receive(0, peer(), &m) else {
            panic!()
        };
        assert_eq!(t.respond(0, id, 302, b"302".to_vec()).len(), 1);
        assert_eq!(t.timers(), 2, "Timer G and Timer H");
        t.discard(id);
        assert_eq!((t.len(), t.timers()), (0, 0));
        assert!(matches!(t.receive(10, peer(), &m), Incoming::New(_)));
    }

    #[test]
    fn responses_name_the_packets_source() {
        let src: SocketAddr = "10.1.2.3:40000".parse().unwrap();
        assert_eq!(
            via_with_source("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport", src),
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport=40000;received=10.1.2.3"
        );
        let src: SocketAddr = "0.10.200.255:9".parse().unwrap();
        assert_eq!(
            via_with_source("SIP/2.0/UDP h;rport;received=1.2.3.4", src),
            "SIP/2.0/UDP h;rport=9;received=0.10.200.255"
        );
        let src: SocketAddr = "[2001:db8::1]:5060".parse().unwrap();
        assert_eq!(
            via_with_source("SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK2", src),
            "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK2;received=2001:db8::1"
        );
    }
}
