//! Server transactions (RFC 3261 §17.2, with RFC 6026's Accepted state) as one sans-IO table:
//! requests and `now` in, what to send and which transactions timed out or ended out. It
//! absorbs retransmitted requests (answering them with the last response), retransmits final
//! responses over UDP until they are acknowledged (Timer G, and 2xx until the ACK), and forgets
//! each transaction when RFC 3261 no longer needs it (Timers H, I, J, L) — by timers in one
//! ordered set, never by scanning. A finished transaction keeps only its key and the bytes of
//! its last response.

use super::message::Message;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

pub type TxId = u64;

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

/// What identifies a server transaction (§17.2.3): the top Via's branch and sent-by, and
/// whether it is an INVITE (an ACK for a non-2xx belongs to its INVITE); for RFC 2543 peers
/// without a magic-cookie branch, the Call-ID, CSeq number, From tag and top Via. One shared
/// string (the index and the transaction hold the same one).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    id: Arc<str>,
    invite: bool,
    cancel: bool,
}

/// "SIP/2.0/UDP host:port;params" → "host:port"
fn sent_by(via: &str) -> &str {
    let before = via.split(';').next().unwrap_or("");
    before
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("")
}

fn key(m: &Message) -> Option<Key> {
    let method = m.method()?;
    let invite = method == "INVITE" || method == "ACK";
    let cancel = method == "CANCEL";
    let via = m.top_via()?;
    let mut id = String::with_capacity(64);
    match m.branch() {
        Some(branch) => {
            id.push_str(branch);
            id.push('\n');
            id.extend(sent_by(via).chars().map(|c| c.to_ascii_lowercase()));
        }
        None => {
            // Newlines separate the parts (a bare LF inside a value could make a peer's own
            // keys collide with each other, nothing worse).
            let (cseq, _) = m.cseq()?;
            id.push('\n');
            id.push_str(m.call_id());
            id.push('\n');
            id.push_str(&cseq.to_string());
            id.push('\n');
            id.push_str(m.from_tag().unwrap_or(""));
            id.push('\n');
            id.push_str(via.split(';').next().unwrap_or("").trim());
        }
    }
    Some(Key {
        id: id.into(),
        invite,
        cancel,
    })
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
    /// The keys of its timers (the resend timer, and the one that ends it: Timer H, I, J or
    /// L), so that a newer timer replaces an older one and forgetting it takes them along.
    timers: [(i64, u64); 2],
}

/// Whether the top Via names a reliable transport (TCP, TLS, SCTP, WS).
fn reliable(via: &str) -> bool {
    let proto = via.split(|c: char| c.is_whitespace()).next().unwrap_or("");
    let t = proto.rsplit('/').next().unwrap_or("").to_ascii_uppercase();
    matches!(t.as_str(), "TCP" | "TLS" | "SCTP" | "WS" | "WSS")
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
    txs: crate::idmap::IdMap<Tx>,
    index: HashMap<Key, TxId>,
    timers: BTreeMap<(i64, u64), (TxId, u32, Timer)>,
    next: u64,
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

    fn at(&mut self, when: i64, tx: TxId, generation: u32, t: Timer) {
        self.next += 1;
        self.timers.insert((when, self.next), (tx, generation, t));
        if let Some(x) = self.txs.get_mut(&tx) {
            let slot = &mut x.timers[usize::from(t != Timer::Resend)];
            let old = std::mem::replace(slot, (when, self.next));
            // An older timer of the same kind is stale (or has fired): drop it now.
            self.timers.remove(&old);
        }
    }

    /// A request arrived from `peer`.
    pub fn receive(&mut self, now: i64, peer: SocketAddr, m: &Message) -> Incoming {
        let Some(k) = key(m) else {
            return Incoming::Invalid;
        };
        let is_ack = m.method() == Some("ACK");
        match self.index.get(&k).copied() {
            Some(id) => {
                let t4 = self.timing.t4;
                let Some(tx) = self.txs.get_mut(&id) else {
                    return Incoming::Invalid;
                };
                if is_ack {
                    if tx.state == State::Completed && tx.invite {
                        tx.state = State::Confirmed;
                        tx.generation += 1;
                        let g = tx.generation;
                        // Timer I: absorb ACK retransmissions for T4, then forget.
                        self.at(now + t4, id, g, Timer::Forget);
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
                self.next += 1;
                let id = self.next;
                let invite = m.method() == Some("INVITE");
                let reliable = m.top_via().is_some_and(reliable);
                self.index.insert(k.clone(), id);
                self.txs.insert(
                    id,
                    Tx {
                        key: k,
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
                        timers: [(0, 0); 2],
                    },
                );
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
        let timing = self.timing;
        let Some(tx) = self.txs.get_mut(&id) else {
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
            self.at(now + timing.t1, id, g, Timer::Resend);
            self.at(now + 64 * timing.t1, id, g, Timer::NoAck);
        } else if invite {
            tx.state = State::Completed;
            // Timer G only over UDP; a reliable transport delivers the response once.
            if !tx.reliable {
                self.at(now + timing.t1, id, g, Timer::Resend);
            }
            self.at(now + 64 * timing.t1, id, g, Timer::NoAck);
        } else {
            tx.state = State::Completed;
            // Timer J: absorb request retransmissions (none over a reliable transport).
            let j = if tx.reliable { 0 } else { 64 * timing.t1 };
            self.at(now + j, id, g, Timer::Forget);
        }
        vec![Action::Send { to, bytes }]
    }

    /// The ACK for the 2xx of INVITE transaction `tx` arrived (the core matched its dialog).
    pub fn acknowledged(&mut self, id: TxId) {
        if let Some(tx) = self.txs.get_mut(&id) {
            if tx.state == State::Accepted {
                tx.acked = true;
                // Stop retransmitting; keep absorbing INVITE retransmissions until Timer L
                // (RFC 6026: they are not answered again), so the 2xx is no longer needed.
                tx.interval = i64::MAX;
                tx.last = Last::Nothing;
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<i64> {
        self.timers.keys().next().map(|k| k.0)
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: i64) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some((&(when, n), _)) = self.timers.iter().next() {
            if when > now {
                break;
            }
            let Some((id, g, t)) = self.timers.remove(&(when, n)) else {
                break;
            };
            let timing = self.timing;
            let Some(tx) = self.txs.get_mut(&id) else {
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
                        let next = when + tx.interval;
                        self.at(next, id, g, Timer::Resend);
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

    fn forget(&mut self, id: TxId) {
        if let Some(tx) = self.txs.remove(&id) {
            self.index.remove(&tx.key);
            for k in &tx.timers {
                self.timers.remove(k);
            }
        }
    }

    /// Timers pending (for tests and metrics).
    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    /// The INVITE transaction a CANCEL names (same branch and sent-by).
    pub fn cancelled(&self, cancel: &Message) -> Option<TxId> {
        let mut k = key(cancel)?;
        k.invite = true;
        k.cancel = false;
        let id = *self.index.get(&k)?;
        let tx = &self.txs[&id];
        (tx.state == State::Proceeding).then_some(id)
    }
}

/// The `received`/`rport` a response's top Via needs (§18.2.1, RFC 3581): where the request
/// really came from. Responses always go to the packet's source, never to a Via's address.
pub fn via_with_source(via: &str, source: SocketAddr) -> String {
    let mut out = String::with_capacity(via.len() + 40);
    let mut first = true;
    for part in via.split(';') {
        if first {
            out.push_str(part.trim_end());
            first = false;
            continue;
        }
        let (name, _) = part.split_once('=').unwrap_or((part, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("received") {
            continue;
        }
        out.push(';');
        if name.eq_ignore_ascii_case("rport") {
            let _ = write!(out, "rport={}", source.port());
        } else {
            out.push_str(part.trim());
        }
    }
    let _ = write!(out, ";received={}", source.ip());
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
    fn responses_name_the_packets_source() {
        let src: SocketAddr = "10.1.2.3:40000".parse().unwrap();
        assert_eq!(
            via_with_source("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport", src),
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport=40000;received=10.1.2.3"
        );
    }
}
