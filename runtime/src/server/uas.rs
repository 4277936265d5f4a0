//! The user agent server core, sans-IO: datagrams and `now` in, datagrams to send, call
//! records and log lines out. It owns the server transactions, the dialogs, and one session
//! per call, whose VM it drives: a flow's effects become SIP (answer, 302, BYE), timers
//! (prompt lengths, key timeouts) and engine requests (routes); keys arrive as SIP INFO.
//! Responses always go to the packet's source address.

use super::cdr::Record;
use crate::acd::agent::Presence;
use crate::acd::engine::{self, Action as EngineAction, Config as EngineConfig, Engine, RouteRequest};
use crate::acd::store::Durable;
use crate::sip::build::{self, InDialog};
use crate::sip::message::{self, Message, Start};
use crate::sip::transaction::{Action as TxAction, Incoming, Timing, Transactions, TxId};
use crate::sip::uri::Uri;
use crate::vm::{Call, Effect, EffectId, End, Event, Machine, Step, Trace, World};
use callflow_compiler::bytecode::{Program, Stat};
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Config {
    /// The address the server listens on (Via sent-by of our requests, Contact, SDP).
    pub local: SocketAddr,
    pub timing: Timing,
    /// Calls in progress at most; more get 503 with Retry-After.
    pub max_calls: usize,
    /// Prompt lengths by file (ms); other prompts play this long.
    pub prompt_ms: HashMap<String, u64>,
    pub default_prompt_ms: u64,
}

impl Config {
    pub fn new(local: SocketAddr) -> Config {
        Config {
            local,
            timing: Timing::default(),
            max_calls: 1_000,
            prompt_ms: HashMap::new(),
            default_prompt_ms: 3_000,
        }
    }
}

/// What the core asks its driver to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Out {
    Send { to: SocketAddr, bytes: Vec<u8> },
    /// One finished call's record (a JSON line for the CDR file).
    Record(String),
    /// A line for the log, with the Call-ID it concerns.
    Log { call_id: String, text: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// A prompt plays until the timer; keys pressed meanwhile are typed ahead.
    Prompt,
    /// Waiting for keys: first-key or digit timeout.
    Keys,
    /// Waiting for the engine (a route).
    Route,
    /// Nothing (the call is ending).
    Nothing,
}

struct Session {
    vm: Call,
    flow: usize,
    peer: SocketAddr,
    call_id: String,
    our_tag: String,
    /// The caller's From (their side) and the To with our tag (our side).
    their: String,
    ours: String,
    /// Where requests inside the dialog go (the caller's Contact).
    remote_target: String,
    invite_tx: TxId,
    answered: bool,
    ended: bool,
    /// The effect the VM waits on and what the session does meanwhile.
    effect: EffectId,
    wait: Wait,
    /// Digits collected for the current key prompt, or typed during a prompt.
    keys: String,
    interruptible: bool,
    generation: u32,
    cseq: u32,
    record: Record,
    trace: PathTrace,
}

/// Records the flow lines a call passes (for the call record).
#[derive(Default)]
struct PathTrace {
    lines: Vec<(u16, u32)>,
    debug: Vec<Option<(u16, u32)>>,
}

impl Trace for PathTrace {
    fn step(&mut self, pc: u32) {
        if let Some(Some(loc)) = self.debug.get(pc as usize) {
            if self.lines.last() != Some(loc) {
                self.lines.push(*loc);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// The session's current wait is over (prompt end, key timeout).
    Wait,
    /// Retransmit our BYE.
    Bye,
}

struct Bye {
    to: SocketAddr,
    bytes: Vec<u8>,
    interval: i64,
    deadline: i64,
}

pub struct Uas {
    machine: Arc<Machine>,
    engine: Engine<Arc<Program>>,
    config: Config,
    tx: Transactions,
    calls: HashMap<u64, Session>,
    /// (Call-ID, our tag) → call.
    dialogs: HashMap<(String, String), u64>,
    /// INVITE transaction → call.
    invites: HashMap<TxId, u64>,
    timers: BTreeMap<(i64, u64), (u64, u32, Timer)>,
    byes: HashMap<String, Bye>,
    out: VecDeque<Out>,
    next: u64,
    switches: HashMap<String, bool>,
}

struct ServerWorld<'a> {
    now: Timestamp,
    engine: &'a Engine<Arc<Program>>,
    switches: &'a HashMap<String, bool>,
}

impl World for ServerWorld<'_> {
    fn now(&self) -> Timestamp {
        self.now
    }
    fn switch(&self, name: &str, default: bool) -> bool {
        self.switches.get(name).copied().unwrap_or(default)
    }
    fn stat(&self, group: &str, stat: Stat) -> i64 {
        let p = self.engine.program();
        match p.groups.iter().position(|g| p.str(g.name) == group) {
            Some(g) => self.engine.stat(self.now, g as u16, stat),
            None => 0,
        }
    }
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The URI inside a name-addr (`"Bob" <sip:bob@h>;tag=1` → `sip:bob@h`).
fn uri_of(v: &str) -> &str {
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v).trim(),
    }
}

/// Digits from an INFO body: `application/dtmf-relay` (`Signal=5`) or `application/dtmf`.
fn info_digits(kind: &str, body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let kind = kind.to_ascii_lowercase();
    let raw = if kind.starts_with("application/dtmf-relay") {
        text.lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
            })?
            .to_string()
    } else if kind.starts_with("application/dtmf") {
        text.trim().to_string()
    } else {
        return None;
    };
    let digits: String = raw
        .chars()
        .filter_map(|c| match c {
            '0'..='9' | '*' | '#' => Some(c),
            // RFC 4733 event numbers sometimes arrive as 10 and 11.
            _ => None,
        })
        .collect();
    match raw.as_str() {
        "10" => Some("*".into()),
        "11" => Some("#".into()),
        _ if !digits.is_empty() && digits.len() == raw.len() => Some(digits),
        _ => None,
    }
}

impl Uas {
    pub fn new(machine: Arc<Machine>, config: Config) -> Uas {
        let engine = Engine::new(
            machine.shared_program().clone(),
            EngineConfig {
                // Agents' phones come with the agents issue: nobody is logged in yet.
                default_presence: Presence::LoggedOut,
                ..EngineConfig::default()
            },
            &Durable::default(),
        );
        Uas {
            machine,
            engine,
            tx: Transactions::new(config.timing),
            config,
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            invites: HashMap::new(),
            timers: BTreeMap::new(),
            byes: HashMap::new(),
            out: VecDeque::new(),
            next: 0,
            switches: HashMap::new(),
        }
    }

    pub fn poll_out(&mut self) -> Option<Out> {
        self.out.pop_front()
    }

    /// Calls in progress.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    pub fn set_switch(&mut self, name: &str, on: bool) {
        self.switches.insert(name.to_string(), on);
    }

    pub fn poll_timeout(&self) -> Option<i64> {
        [
            self.timers.keys().next().map(|k| k.0),
            self.tx.poll_timeout(),
            self.engine.poll_timeout().map(|t| t.as_millisecond()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn send(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.out.push_back(Out::Send { to, bytes });
    }

    fn log(&mut self, call_id: &str, text: String) {
        self.out.push_back(Out::Log {
            call_id: call_id.to_string(),
            text,
        });
    }

    fn tx_actions(&mut self, actions: Vec<TxAction>, now: i64) {
        for a in actions {
            match a {
                TxAction::Send { to, bytes } => self.send(to, bytes),
                TxAction::NoAck { tx } => {
                    if let Some(call) = self.invites.get(&tx).copied() {
                        let id = self.calls.get(&call).map(|s| s.call_id.clone());
                        self.log(&id.unwrap_or_default(), "no ACK for our final response".into());
                        self.hang_up(now, call, "no ACK");
                    }
                }
            }
        }
    }

    /// Answers the request of transaction `tx` (from `req`, which came from `source`).
    fn reply(
        &mut self,
        now: i64,
        tx: TxId,
        req: &Message,
        source: SocketAddr,
        code: u16,
        tag: Option<&str>,
        extra: &[String],
        body: Option<(&str, &[u8])>,
    ) {
        let bytes = build::response(req, source, code, tag, extra, body);
        let actions = self.tx.respond(now, tx, code, bytes);
        self.tx_actions(actions, now);
    }

    /// A datagram arrived from `source`.
    pub fn receive(&mut self, now: i64, source: SocketAddr, bytes: &[u8]) {
        let m = match message::parse(bytes) {
            Ok(m) => m,
            Err(refusal) => {
                // A request we can still answer gets the status; anything else is dropped.
                if let Some(code) = refusal.status {
                    if let Some(bytes) = self.stateless_refusal(bytes, source, code) {
                        self.send(source, bytes);
                    }
                }
                return;
            }
        };
        match m.start {
            Start::Response { .. } => self.response(&m),
            Start::Request { .. } => self.request(now, source, &m),
        }
    }

    /// 400 (or 505, 416 ...) to a request that failed the strict checks, built from whatever
    /// headers can be read; nothing when not even those are there.
    fn stateless_refusal(&self, bytes: &[u8], source: SocketAddr, code: u16) -> Option<Vec<u8>> {
        let text = std::str::from_utf8(bytes).ok()?;
        let head = text.split("\r\n\r\n").next()?;
        let mut lines = head.split("\r\n");
        let first = lines.next()?;
        if first.starts_with("SIP/") {
            return None;
        }
        let mut keep = String::new();
        let mut has = [false; 4];
        for l in lines {
            let name = l.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
            let i = match name.as_str() {
                "via" | "v" => 0,
                "from" | "f" => 1,
                "to" | "t" => 2,
                "call-id" | "i" => 3,
                "cseq" => 4,
                _ => continue,
            };
            if i < 4 {
                has[i] = true;
            }
            keep.push_str(l);
            keep.push_str("\r\n");
        }
        if !has[0] {
            return None;
        }
        let minimal = format!("OPTIONS sip:x@x SIP/2.0\r\n{keep}Content-Length: 0\r\n\r\n");
        let m = message::parse(minimal.as_bytes()).ok();
        match m {
            Some(m) => Some(build::response(&m, source, code, None, &[], None)),
            None => {
                // Only the Via is usable: answer with what there is.
                let via = keep
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with('v'))
                    .unwrap_or("");
                Some(
                    format!(
                        "SIP/2.0 {code} {}\r\n{via}\r\nContent-Length: 0\r\n\r\n",
                        build::reason(code)
                    )
                    .into_bytes(),
                )
            }
        }
    }

    fn response(&mut self, m: &Message) {
        // Responses to our BYEs: stop retransmitting.
        if let Some(b) = m.branch() {
            self.byes.remove(&b);
        }
    }

    fn request(&mut self, now: i64, source: SocketAddr, m: &Message) {
        let method = m.method().unwrap_or("");
        let tx = match self.tx.receive(now, source, m) {
            Incoming::New(tx) => tx,
            Incoming::Again(Some(bytes)) => return self.send(source, bytes),
            Incoming::Again(None) | Incoming::Absorbed | Incoming::Invalid => return,
            Incoming::AckFor2xx => {
                if let Some(call) = self.dialog_of(m) {
                    let tx = self.calls[&call].invite_tx;
                    self.tx.acknowledged(tx);
                }
                return;
            }
        };
        // Options we do not support.
        let unsupported: Vec<String> = m
            .all("Require")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .collect();
        if !unsupported.is_empty() && method != "ACK" && method != "CANCEL" {
            let extra = [format!("Unsupported: {}", unsupported.join(", "))];
            return self.reply(now, tx, m, source, 420, None, &extra, None);
        }
        match method {
            "OPTIONS" => {
                let extra = [
                    "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO".to_string(),
                    "Accept: application/sdp, application/dtmf-relay, application/dtmf".into(),
                ];
                self.reply(now, tx, m, source, 200, None, &extra, None)
            }
            "INVITE" => self.invite(now, tx, source, m),
            "CANCEL" => self.cancel(now, tx, source, m),
            "BYE" | "INFO" => match self.dialog_of(m) {
                Some(call) => {
                    if method == "BYE" {
                        self.reply(now, tx, m, source, 200, None, &[], None);
                        self.caller_gone(now, call, "the caller hung up");
                    } else {
                        let kind = m.get("Content-Type").unwrap_or("");
                        match info_digits(kind, m.body) {
                            Some(d) => {
                                self.reply(now, tx, m, source, 200, None, &[], None);
                                self.digits(now, call, &d);
                            }
                            None => {
                                let extra =
                                    ["Accept: application/dtmf-relay, application/dtmf".into()];
                                self.reply(now, tx, m, source, 415, None, &extra, None)
                            }
                        }
                    }
                }
                None => self.reply(now, tx, m, source, 481, None, &[], None),
            },
            "REGISTER" | "PRACK" | "UPDATE" | "SUBSCRIBE" | "NOTIFY" | "REFER" | "MESSAGE"
            | "PUBLISH" => {
                let extra = ["Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO".to_string()];
                let code = if method == "REGISTER" { 501 } else { 405 };
                self.reply(now, tx, m, source, code, None, &extra, None)
            }
            _ => self.reply(now, tx, m, source, 501, None, &[], None),
        }
    }

    fn dialog_of(&self, m: &Message) -> Option<u64> {
        let tag = m.to_tag()?;
        self.dialogs
            .get(&(m.call_id().to_string(), tag.to_string()))
            .copied()
    }

    fn invite(&mut self, now: i64, tx: TxId, source: SocketAddr, m: &Message) {
        if m.to_tag().is_some() {
            // A re-INVITE: media changes come with the media issue; keep the session as is.
            return match self.dialog_of(m) {
                Some(_) => self.reply(now, tx, m, source, 488, None, &[], None),
                None => self.reply(now, tx, m, source, 481, None, &[], None),
            };
        }
        if m.max_forwards() == 0 {
            return self.reply(now, tx, m, source, 483, None, &[], None);
        }
        if !m.body.is_empty() {
            let kind = m.get("Content-Type").unwrap_or("");
            if !kind.to_ascii_lowercase().starts_with("application/sdp") {
                let extra = ["Accept: application/sdp".to_string()];
                return self.reply(now, tx, m, source, 415, None, &extra, None);
            }
        }
        if let Some(accept) = m.get("Accept") {
            if !accept.to_ascii_lowercase().contains("application/sdp") {
                let extra = ["Accept: application/sdp".to_string()];
                return self.reply(now, tx, m, source, 406, None, &extra, None);
            }
        }
        let Start::Request { uri, .. } = m.start else {
            return;
        };
        // The dialled number: the Request-URI's user, normalised as the language does.
        let dialled = Uri::parse(uri)
            .ok()
            .and_then(|u| u.user_decoded().map(|s| s.into_owned()))
            .map(|u| u.split(';').next().unwrap_or("").to_string())
            .unwrap_or_default();
        let p = self.machine.program();
        let flow = callflow_compiler::numbers::normalize(&dialled).and_then(|n| p.flow_for(&n));
        let Some(flow) = flow else {
            self.log(m.call_id(), format!("no flow answers {dialled:?}: 404"));
            return self.reply(now, tx, m, source, 404, None, &[], None);
        };
        if self.calls.len() >= self.config.max_calls {
            let extra = ["Retry-After: 5".to_string()];
            return self.reply(now, tx, m, source, 503, None, &extra, None);
        }
        self.next += 1;
        let call = self.next;
        let our_tag = format!("cf{:x}{:x}", now, call);
        let their = m.get("From").unwrap_or("").to_string();
        let ours = format!("{};tag={our_tag}", m.get("To").unwrap_or(""));
        let caller = Uri::parse(uri_of(&their))
            .ok()
            .and_then(|u| u.user_decoded().map(|s| s.into_owned()))
            .unwrap_or_else(|| "anonymous".into());
        let remote_target = m
            .get("Contact")
            .map(|c| uri_of(c).to_string())
            .unwrap_or_else(|| uri_of(&their).to_string());
        let number = callflow_compiler::numbers::normalize(&dialled).unwrap_or_default();
        let vm = self.machine.start(flow, &caller, &number);
        let debug = p
            .debug
            .iter()
            .map(|d| (!d.implicit).then_some((d.file, d.line)))
            .collect();
        let record = Record::new(
            m.call_id(),
            &caller,
            &number,
            p.str(p.flows[flow].name),
            self.machine.checksum(),
            now,
        );
        self.calls.insert(
            call,
            Session {
                vm,
                flow,
                peer: source,
                call_id: m.call_id().to_string(),
                our_tag: our_tag.clone(),
                their,
                ours,
                remote_target,
                invite_tx: tx,
                answered: false,
                ended: false,
                effect: 0,
                wait: Wait::Nothing,
                keys: String::new(),
                interruptible: false,
                generation: 0,
                cseq: 0,
                record,
                trace: PathTrace {
                    lines: Vec::new(),
                    debug,
                },
            },
        );
        self.dialogs
            .insert((m.call_id().to_string(), our_tag.clone()), call);
        self.invites.insert(tx, call);
        self.reply(now, tx, m, source, 100, None, &[], None);
        // Keep what later answers need from the INVITE (its bytes are gone after this).
        self.pending_invites.insert(call, PendingInvite::from(m, source));
        self.step(now, call, Event::Start);
    }

    fn cancel(&mut self, now: i64, tx: TxId, source: SocketAddr, m: &Message) {
        let Some(invite) = self.tx.cancelled(m) else {
            return self.reply(now, tx, m, source, 481, None, &[], None);
        };
        self.reply(now, tx, m, source, 200, None, &[], None);
        if let Some(call) = self.invites.get(&invite).copied() {
            self.final_to_invite(now, call, 487, &[]);
            self.caller_gone(now, call, "the caller cancelled");
        }
    }
}
