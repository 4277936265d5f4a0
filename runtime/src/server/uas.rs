//! The user agent server core, sans-IO: datagrams and `now` in, datagrams to send, call
//! records and log lines out. It owns the server transactions, the dialogs, and one session
//! per call, whose VM it drives: a flow's effects become SIP (answer, 302, BYE), timers
//! (prompt lengths, key timeouts) and engine requests (routes); keys arrive as SIP INFO.
//! Responses always go to the packet's source address.

mod api;
mod features;
mod legs;
mod metrics;
mod ports;
mod register;

pub use api::{Reply as AdminReply, Request as AdminRequest};

use super::cdr::Record;
use super::media::{Command as MediaCommand, Report as MediaReport};
use crate::acd::agent::Presence;
use crate::acd::engine::{
    self, Action as EngineAction, Config as EngineConfig, Engine, RouteRequest,
};
use crate::acd::store::Durable;
use crate::acd::timer::shift_deadlines;
use crate::idmap::{IdMap, PeerMap};
use crate::media::sdp;
use crate::media::stream::{Play, Prompt};
use crate::sip::build::{self, InDialog};
use crate::sip::message::{self, Message, Start};
use crate::sip::transaction::{
    Action as TxAction, Incoming, STEP_BACK_MS, Timing, Transactions, TxId,
};
use crate::sip::uri::Uri;
use crate::vm::{Call, Effect, EffectId, End, Event, Machine, Step, Trace, World};
use callflow_compiler::bytecode::{Program, Sides, Stat};
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
    /// New calls one source address may start per second; more get 503 with Retry-After.
    /// A source may also send [`REQUESTS_PER_CALL`] times as many requests outside dialogs a
    /// second (at least [`MIN_REQUESTS`]); beyond, they go unanswered until the next second.
    pub calls_per_source: u32,
    /// Whether to hand out log lines at all (a quiet server skips making them).
    pub log: bool,
    /// The prompts' audio by file (as the program names them); other prompts play
    /// `default_prompt_ms` of silence.
    pub prompts: Prompts,
    /// The RTP ports calls take (even ones, from the first to the last).
    pub rtp_ports: (u16, u16),
    /// The media threads the driver runs (the ports are shared out among them; a call's
    /// media runs on [`super::media::thread_of`] its number).
    pub media_threads: usize,
    /// Where numbers outside this server go (`host[:port]` of a trunk or outbound proxy).
    pub trunk: Option<String>,
    /// Number patterns (the language's: `+49 *`, `0800XXXXXXX`) that transfers computed at
    /// run time may reach, besides the always-allowed ones.
    pub allow: Vec<callflow_compiler::pattern::Pattern>,
    pub default_prompt_ms: u64,
    /// Where recordings go (`None`: the server keeps none; a flow's `record` is logged).
    pub recordings: Option<std::path::PathBuf>,
    /// Where voicemail messages go, a folder per box (`None`: none are kept).
    pub voicemail: Option<std::path::PathBuf>,
    /// How long a message may be when its box does not say.
    pub message_ms: u64,
    /// Where each agent's phone is reached (by agent name: its `contact` resolved at load).
    pub agents: HashMap<String, SocketAddr>,
    /// The program feature-code calls run (a confirmation, then the server hangs up); without
    /// it the server has no feature codes.
    pub features: Option<Arc<Machine>>,
    /// Agents whose phones register, with their passwords (from the data directory).
    pub credentials: HashMap<String, String>,
    /// The digest realm of REGISTER challenges, the algorithms offered (in order of
    /// preference), and the secret nonces are made with.
    pub realm: String,
    pub digest: Vec<crate::sip::digest::Algorithm>,
    pub secret: String,
}

impl Config {
    pub fn new(local: SocketAddr) -> Config {
        Config {
            local,
            timing: Timing::default(),
            max_calls: 1_000,
            calls_per_source: 100,
            log: true,
            prompts: Prompts::default(),
            // Below Linux's ephemeral ports (32768-60999), where no client socket lands.
            rtp_ports: (16_384, 32_767),
            media_threads: 1,
            trunk: None,
            allow: Vec::new(),
            default_prompt_ms: 3_000,
            recordings: None,
            voicemail: None,
            message_ms: 180_000,
            agents: HashMap::new(),
            features: None,
            credentials: HashMap::new(),
            realm: "callflow".into(),
            digest: vec![
                crate::sip::digest::Algorithm::Sha256,
                crate::sip::digest::Algorithm::Md5,
            ],
            secret: {
                use std::hash::BuildHasher;
                let a = std::collections::hash_map::RandomState::new().hash_one(local);
                let b = std::collections::hash_map::RandomState::new().hash_one(a);
                format!("{a:x}{b:x}")
            },
        }
    }
}

/// The prompts' audio, shared by every call (and by a reload with the same files).
pub type Prompts = Arc<Library>;

/// Audio decoded at load: the prompt files by path (as the program names them; the words of
/// `say` packs as `<pack>/<word>.wav`), and the `say` packs: for each folder of prompt files,
/// its pack's folder (`<prompt folder>/say`) and the language its words are in.
#[derive(Debug, Default)]
pub struct Library {
    pub files: HashMap<String, Arc<Prompt>>,
    pub say: HashMap<String, (String, String)>,
}

/// What the core asks its driver to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Out {
    Send {
        to: SocketAddr,
        bytes: Vec<u8>,
    },
    /// One finished call's record (a JSON line for the CDR file).
    Record(String),
    /// For the media thread.
    Media(MediaCommand),
    /// Write a small file (a voicemail message's metadata, beside its audio).
    File {
        path: std::path::PathBuf,
        contents: String,
    },
    /// An event for wallboards (a JSON object: `{"event": "call" | "agent", ...}`), made only
    /// while somebody listens ([`Uas::set_events`]).
    Event(String),
    /// A line for the log, with the Call-ID it concerns.
    Log {
        call_id: String,
        text: String,
    },
    /// Ask a web service (HTTP GET); answer with [`Uas::lookup_result`] naming `call` and
    /// `effect`. After a failure (not a 404) ask again up to `retries` times, `retry_ms`
    /// later ([`super::lookup::get_with_retries`]). The core gives up by itself a little
    /// after every try has timed out.
    Lookup {
        call: u64,
        effect: EffectId,
        url: String,
        timeout_ms: u64,
        retries: u32,
        retry_ms: u64,
    },
}

/// What a web look-up brought.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupResult {
    /// A 2xx with a JSON object: its fields as text.
    Fields(Vec<(String, String)>),
    /// A 404: the service knows nothing of the caller.
    NotFound,
    /// Anything else (timeout, other status, not JSON), with why.
    Failed(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// A prompt plays until the timer; keys pressed meanwhile are typed ahead.
    Prompt,
    /// Waiting for keys: first-key or digit timeout.
    Keys,
    /// Waiting for the engine (a route).
    Route,
    /// Waiting for a web look-up.
    Lookup,
    /// Waiting for the outcome of a REFER (its answer, then a NOTIFY with the final status).
    Refer,
    /// A voicemail box's greeting and beep play.
    Greeting,
    /// The caller speaks a message (until `#`, the box's length, or the caller hangs up).
    Message,
    /// Connected to an agent (RTP relayed): until either side hangs up.
    Talking,
    /// Nothing (the call is ending).
    Nothing,
}

impl Wait {
    /// What the call is doing, for the admin API.
    fn name(self) -> &'static str {
        match self {
            Wait::Prompt => "playing",
            Wait::Keys => "waiting for keys",
            Wait::Route => "routed",
            Wait::Lookup => "looking up",
            Wait::Refer => "transferring",
            Wait::Greeting => "voicemail greeting",
            Wait::Message => "leaving a message",
            Wait::Talking => "talking",
            Wait::Nothing => "ending",
        }
    }
}

/// A voicemail message being left: where it goes and what its metadata says.
struct Message_ {
    vbox: String,
    reason: &'static str,
    email: Option<String>,
    audio: std::path::PathBuf,
    /// When the caller began to speak (after the beep), once the recording runs.
    started: Option<i64>,
    max_ms: u64,
}

struct Session {
    /// The program the call started on: it finishes on it, whatever is reloaded meanwhile.
    machine: Arc<Machine>,
    vm: Call,
    flow: usize,
    peer: SocketAddr,
    /// The caller's From (their side) and the To with our tag (our side).
    their: String,
    ours: String,
    /// Where requests inside the dialog go (the caller's Contact).
    remote_target: String,
    invite_tx: TxId,
    /// What the INVITE's responses repeat of it (dropped after the final response).
    echo: Option<build::Echo>,
    /// Whether any response to the INVITE went out (a 100 is needed otherwise).
    responded: bool,
    /// Whether 180 Ringing went out (once, for a `wait` before answering).
    rang: bool,
    /// Whether 183 with SDP went out (early media before answering).
    early: bool,
    /// The call's RTP port, and the terms agreed with the caller (`None` until an INVITE
    /// without an offer gets the answer in its ACK).
    port: u16,
    media: Option<sdp::Media>,
    /// Whether the media thread was asked to open the stream.
    media_open: bool,
    /// Whether another program holds our RTP port (it is not given out again).
    port_taken: bool,
    /// Our SDP's version (RFC 3264 §8: up by one with every new answer in the dialog).
    sdp_version: u64,
    /// A re-INVITE whose 200 waits for its ACK, and its CSeq number (the ACK's says which
    /// 200 it acknowledges). Boxed, as most calls never have one.
    reinvite_tx: Option<Box<(TxId, u32)>>,
    /// Our 200 to a re-INVITE without an offer carried an offer: its ACK brings the answer.
    offer_pending: bool,
    /// What the flow asked to play before the stream could open (an INVITE without an
    /// offer: the stream opens with the ACK's answer).
    pending_play: Vec<Play>,
    /// Until when what was last asked to play goes on (a key stops it earlier).
    playing_until: i64,
    /// The voicemail message being left.
    message: Option<Box<Message_>>,
    /// The folder of the last prompt file played (its `say` pack speaks the same language).
    prompt_dir: Option<String>,
    /// The last keys pressed, for withdraw keys (input handling never clears it).
    recent: String,
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
    /// The agent's leg the call is bridged to.
    bridged: Option<u64>,
    /// Whether (and which sides) the route asks the conversation to be recorded (the VM
    /// decided consent).
    record_route: Option<Sides>,
    /// Whether ringback or the queue's audio plays while routed (stopped when the route ends).
    ringback: bool,
    /// The queue's hold music (it follows every announcement).
    music: Option<Arc<Prompt>>,
    /// Once routed to a group: when, which, and the conversation with an agent (boxed: most
    /// calls never are, and a held call's state is counted in bytes).
    routed: Option<Box<Routed>>,
    /// The bridge to an agent's leg, waiting for the caller's stream to open (an INVITE
    /// without an offer: the ACK brings the caller's answer).
    pending_bridge: Option<Box<(u16, sdp::Media)>>,
}

/// A call routed to a group.
#[derive(Debug, Default)]
struct Routed {
    /// When it was last routed (ms since the epoch), and to which group.
    at: i64,
    group: String,
    /// When the conversation with an agent began.
    talking_since: Option<i64>,
}

/// The group a call was routed to and how long it has waited there ("" and 0 if never).
fn routed_wait(s: &Session, now: i64) -> (&str, i64) {
    s.routed
        .as_ref()
        .map_or(("", 0), |r| (r.group.as_str(), now - r.at))
}

impl Session {
    /// Whether the call was answered (the record has the time).
    fn answered(&self) -> bool {
        self.record.answered.is_some()
    }

    /// Our To-tag (the end of `ours`: the INVITE's To had none).
    fn our_tag(&self) -> &str {
        tag_of(&self.ours)
    }
}

/// The tag of a From or To header value we wrote.
fn tag_of(header: &str) -> &str {
    // What follows the last ";tag=" (a byte scan back from the end: a string pattern's
    // searcher costs more than these short headers).
    let b = header.as_bytes();
    let mut end = b.len();
    while let Some(i) = b[..end].iter().rposition(|&c| c == b';') {
        if b[i..].starts_with(b";tag=") {
            return &header[i + 5..];
        }
        end = i;
    }
    ""
}

/// How dialogs are found: the Call-ID and our tag, joined by a newline (our tags never hold
/// one, so a Call-ID cannot reach another call's dialog).
fn dialog_key(call_id: &str, our_tag: &str) -> Box<str> {
    let mut k = String::with_capacity(call_id.len() + our_tag.len() + 1);
    k.push_str(call_id);
    k.push('\n');
    k.push_str(our_tag);
    k.into()
}

/// Records the flow lines a call passes (for the call record), from its program's debug table.
struct PathTrace {
    lines: Vec<(u16, u32)>,
    machine: Arc<Machine>,
}

impl Trace for PathTrace {
    fn step(&mut self, pc: u32) {
        let Some(d) = self.machine.program().debug.get(pc as usize) else {
            return;
        };
        let loc = (d.file, d.line);
        if !d.implicit && self.lines.last() != Some(&loc) {
            self.lines.push(loc);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// The session's current wait is over (prompt end, key timeout).
    Wait,
    /// A minute of ringing: 180 again while the call is not answered (RFC 3261 §13.3.1.1:
    /// a provisional response at least every minute, or proxies give up on the call).
    Ringing,
    /// An agent's leg: Timer A/B, the end of the wait after CANCEL (the number is the leg's).
    Leg,
    /// The ACK kept for copies of an ended leg's 200 is forgotten (the number: its key).
    LegAck,
    /// A phone's registration may have expired (the number: its key).
    Registration,
}

/// What a source sent in the current second.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    /// New calls.
    calls: u32,
    /// Requests outside dialogs (and unreadable ones).
    requests: u32,
}

/// Requests outside dialogs a source may send per second for each call it may start per
/// second.
pub const REQUESTS_PER_CALL: u32 = 20;

/// Requests outside dialogs any source may send per second, whatever its call rate.
pub const MIN_REQUESTS: u32 = 1_000;

/// How often 180 Ringing is sent again while a call waits unanswered.
const RING_AGAIN_MS: i64 = 60_000;

/// A request we sent inside a dialog (BYE, REFER), resent until answered.
struct Bye {
    to: SocketAddr,
    bytes: Vec<u8>,
    interval: i64,
    deadline: i64,
    /// For a REFER: the call whose transfer it asks for.
    refer: Option<u64>,
}

pub struct Uas {
    machine: Arc<Machine>,
    engine: Engine<Arc<Program>>,
    config: Config,
    tx: Transactions,
    /// Boxed: the map's spare capacity then costs a pointer per slot, not a session.
    calls: IdMap<Box<Session>>,
    /// (Call-ID, our tag) → call.
    dialogs: PeerMap<Box<str>, u64>,
    /// INVITE transaction → call.
    invites: IdMap<u64>,
    timers: BTreeMap<(i64, u64), (u64, u32, Timer)>,
    byes: PeerMap<String, Bye>,
    bye_timers: BTreeMap<(i64, u64), String>,
    out: VecDeque<Out>,
    next: u64,
    switches: HashMap<String, bool>,
    /// Per source address in the second `rates_second`: new calls, and requests outside
    /// dialogs.
    rates: PeerMap<std::net::IpAddr, Counts>,
    rates_second: i64,
    /// Transfer targets the flows write literally (normalised numbers, SIP URIs).
    literal_targets: std::collections::HashSet<String>,
    /// Contact and Allow of our 200 to an INVITE (the same for every call).
    answer_headers: Vec<String>,
    /// RTP ports free for new calls.
    ports: ports::Ports,
    /// The voicemail beep (1 kHz, 400 ms).
    beep: Arc<Prompt>,
    /// Ringback for answered callers while agents ring (425 Hz, 1 s on, 4 s off).
    ringback: Arc<Prompt>,
    /// Agents' legs by number; by the branch of their INVITE; by their dialog (Call-ID and
    /// our tag); by caller and agent.
    legs: IdMap<legs::Leg>,
    leg_branches: PeerMap<String, u64>,
    /// The ACK of each answered leg that ended, by its INVITE's branch: a copy of the 200
    /// arriving later gets it again (for 64 × T1).
    leg_acks: PeerMap<String, (SocketAddr, Vec<u8>)>,
    ack_keys: HashMap<u64, String>,
    /// Agents' phones registered, by agent name; and the timers that may end them.
    registrations: HashMap<String, register::Registration>,
    /// A registration was made, renewed or ended since the durable state was last taken.
    registrations_changed: bool,
    registration_timers: HashMap<u64, (String, i64)>,
    leg_dialogs: PeerMap<Box<str>, u64>,
    ringing: HashMap<(u64, crate::acd::AgentId), u64>,
    metrics: metrics::Metrics,
    /// The loop is saturated (`server::load`): new calls get 503 before any work on them.
    shedding: bool,
    /// Whether anybody listens to events.
    events: bool,
    /// A program whose routing changed, waiting for the routed calls to be over.
    pending_reload: Option<(Arc<Machine>, Prompts)>,
    /// The latest time the core was given (`tick`).
    clock: i64,
}

/// What a reload did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// New calls run the new program.
    Done,
    /// The routing changed and this many calls are routed: the new program is taken once
    /// they are over.
    Waiting(usize),
}

/// The targets a program transfers to literally: a text pushed right before `Transfer`.
/// The header lines of our 200 to an INVITE besides the echoed ones.
fn answer_headers(local: SocketAddr) -> Vec<String> {
    vec![
        format!("Contact: <sip:callflow@{local}>"),
        "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO".into(),
    ]
}

fn literal_targets(p: &Program) -> std::collections::HashSet<String> {
    use callflow_compiler::bytecode::Instr;
    p.code
        .windows(2)
        .filter_map(|w| match w {
            [Instr::PushStr(s), Instr::Transfer] => {
                let t = p.str(*s);
                Some(callflow_compiler::numbers::normalize(t).unwrap_or_else(|| t.to_string()))
            }
            _ => None,
        })
        .collect()
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
        .filter(|c| matches!(c, '0'..='9' | '*' | '#'))
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
        let targets = literal_targets(machine.program());
        let local = config.local;
        let ports = ports::Ports::new(config.rtp_ports, config.media_threads);
        Uas {
            machine,
            engine,
            tx: Transactions::new(config.timing),
            config,
            calls: IdMap::default(),
            dialogs: PeerMap::default(),
            invites: IdMap::default(),
            timers: BTreeMap::new(),
            byes: PeerMap::default(),
            bye_timers: BTreeMap::new(),
            out: VecDeque::new(),
            next: 0,
            switches: HashMap::new(),
            rates: PeerMap::default(),
            rates_second: i64::MIN,
            literal_targets: targets,
            answer_headers: answer_headers(local),
            ports,
            beep: Arc::new(Prompt::tone(1_000.0, 400)),
            ringback: Arc::new(ringback()),
            legs: IdMap::default(),
            leg_branches: PeerMap::default(),
            leg_acks: PeerMap::default(),
            ack_keys: HashMap::new(),
            registrations: HashMap::new(),
            registrations_changed: false,
            registration_timers: HashMap::new(),
            leg_dialogs: PeerMap::default(),
            ringing: HashMap::new(),
            metrics: metrics::Metrics::default(),
            shedding: false,
            events: false,
            pending_reload: None,
            clock: i64::MIN,
        }
    }

    /// Counts a new call from `source`; false when the source is over its rate.
    fn within_rate(&mut self, now: i64, source: SocketAddr) -> bool {
        let calls = &mut self.this_second(now, source).calls;
        *calls = calls.saturating_add(1);
        *calls <= self.config.calls_per_source
    }

    /// Counts a request outside a dialog (or an unreadable one) from `source`; false when the
    /// source sent more than its share this second: a flood from one address then costs a
    /// parse, not an answer, a transaction and a `sendto`, and the loop stays free for
    /// everybody else's calls. The share is generous — a peer's new calls take a request or
    /// two each, with retransmissions, and its OPTIONS and REGISTERs a few more — and what
    /// a peer loses beyond it over UDP comes again by retransmission.
    fn request_within_share(&mut self, now: i64, source: SocketAddr) -> bool {
        let share = self
            .config
            .calls_per_source
            .saturating_mul(REQUESTS_PER_CALL)
            .max(MIN_REQUESTS);
        let requests = &mut self.this_second(now, source).requests;
        *requests = requests.saturating_add(1);
        *requests <= share
    }

    /// `source`'s counts this second. Counts of an earlier second are over: one clear per
    /// second, never a scan per message (a flood from many addresses must not make each
    /// message slower).
    fn this_second(&mut self, now: i64, source: SocketAddr) -> &mut Counts {
        let second = now.div_euclid(1000);
        if self.rates_second != second {
            self.rates_second = second;
            self.rates.clear();
        }
        self.rates.entry(source.ip()).or_default()
    }

    pub fn poll_out(&mut self) -> Option<Out> {
        self.out.pop_front()
    }

    /// The media threads the core shares its ports out among (the driver starts as many).
    pub fn media_threads(&self) -> usize {
        self.ports.threads()
    }

    /// Calls in progress.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Server transactions kept (for tests and metrics).
    pub fn transactions(&self) -> usize {
        self.tx.len()
    }

    /// Timers pending in the transaction layer and for calls (for tests and metrics).
    pub fn timers(&self) -> usize {
        self.tx.timers() + self.timers.len() + self.bye_timers.len()
    }

    pub fn set_switch(&mut self, name: &str, on: bool) {
        self.switches.insert(name.to_string(), on);
    }

    pub fn poll_timeout(&self) -> Option<i64> {
        [
            self.timers.keys().next().map(|k| k.0),
            self.bye_timers.keys().next().map(|k| k.0),
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

    /// Moves the core's clock to `now`, as each call from outside begins. The clock is the
    /// wall clock (the flows' hours and the call records read it). When it is stepped back
    /// (NTP, a resumed VM) by more than [`STEP_BACK_MS`], whatever the core keeps for later
    /// moves back as much: the calls', legs' and registrations' timers and the registrations'
    /// ends, our BYEs', everything the engine keeps (`Engine::clock_stepped`), and the times
    /// the calls in progress hold (a prompt playing until, routed at, their records). Each
    /// timer then still comes due after the time it had left, not as much later as the step,
    /// and a call's record stays on one clock. What cannot be told from the step is the time
    /// since the core last heard the time: timers are that much late, at most half a second,
    /// as the server's loop calls `handle_timeout` at least that often. A smaller step back
    /// is absorbed: timers are at most that late. (The transaction layer moves its own timers
    /// the same way.)
    fn tick(&mut self, now: i64) {
        if now >= self.clock.saturating_sub(STEP_BACK_MS) {
            self.clock = self.clock.max(now);
            return;
        }
        let by = now.saturating_sub(self.clock);
        self.clock = now;
        let shift = |t: &mut i64| *t = t.saturating_add(by);
        shift_deadlines(&mut self.timers, by, |_| {});
        shift_deadlines(&mut self.bye_timers, by, |_| {});
        self.byes.values_mut().for_each(|b| shift(&mut b.deadline));
        self.shift_legs(by);
        for s in self.calls.values_mut() {
            shift(&mut s.playing_until);
            if let Some(started) = s.message.as_mut().and_then(|m| m.started.as_mut()) {
                shift(started);
            }
            if let Some(r) = s.routed.as_mut() {
                shift(&mut r.at);
                r.talking_since.iter_mut().for_each(shift);
            }
            s.record.shift(by);
        }
        self.engine.clock_stepped(by);
        for r in self.registrations.values_mut() {
            shift(&mut r.until);
        }
        for (_, until) in self.registration_timers.values_mut() {
            shift(until);
        }
        self.registrations_changed = true;
        self.log(
            "",
            format!(
                "the clock went back {} ms: the timers of {} calls moved with it",
                -by,
                self.calls.len()
            ),
        );
    }

    fn log(&mut self, call_id: &str, text: String) {
        if !self.config.log {
            return;
        }
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
                        let id = self.calls.get(&call).map(|s| s.record.call_id.clone());
                        self.log(
                            &id.unwrap_or_default(),
                            "no ACK for our final response".into(),
                        );
                        self.hang_up(now, call, "no ACK");
                    }
                }
            }
        }
    }

    /// Answers the request of transaction `tx` (from `req`, which came from `source`); a
    /// request answered here never opens a dialog, so the response carries no tag of ours.
    fn reply(
        &mut self,
        now: i64,
        (tx, req, source): (TxId, &Message, SocketAddr),
        code: u16,
        extra: &[String],
        body: Option<(&str, &[u8])>,
    ) {
        let bytes = build::response(req, source, code, None, extra, body);
        // A response of nothing but the request's echo is built again for a retransmission:
        // the transaction keeps only its status while it waits out Timer J.
        let actions = if extra.is_empty() && body.is_none() {
            self.tx.respond_plain(now, tx, code, bytes)
        } else {
            self.tx.respond(now, tx, code, bytes)
        };
        self.tx_actions(actions, now);
    }

    /// A datagram arrived from `source`.
    pub fn receive(&mut self, now: i64, source: SocketAddr, bytes: &[u8]) {
        self.tick(now);
        let m = match message::parse(bytes) {
            Ok(m) => {
                self.metrics
                    .message(Some(matches!(m.start, Start::Request { .. })));
                m
            }
            Err(refusal) => {
                self.metrics.message(None);
                // A request we can still answer gets the status (within its source's share:
                // garbage from one address is not answered at any rate); anything else is
                // dropped.
                if let Some(code) = refusal.status {
                    if !self.request_within_share(now, source) {
                        self.metrics.flooded();
                        return;
                    }
                    if let Some(bytes) = self.stateless_refusal(bytes, source, code) {
                        self.send(source, bytes);
                    }
                }
                return;
            }
        };
        match m.start {
            Start::Response { .. } => self.response(now, &m),
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
            let name = l
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
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

    fn response(&mut self, now: i64, m: &Message) {
        let Start::Response { code, .. } = m.start else {
            return;
        };
        if code < 200 {
            self.leg_response(now, m, code);
            return;
        }
        if self.leg_response(now, m, code) {
            return;
        }
        // Final responses to our requests: stop resending; a refused REFER fails the transfer.
        let Some(b) = m.branch() else { return };
        let Some(sent) = self.byes.remove(b) else {
            return;
        };
        if let (Some(call), false) = (sent.refer, (200..300).contains(&code)) {
            self.refer_outcome(now, call, false, &format!("REFER answered {code}"));
        }
    }

    /// The transfer of `call` by REFER succeeded or failed: the flow hears it.
    fn refer_outcome(&mut self, now: i64, call: u64, ok: bool, why: &str) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        if s.wait != Wait::Refer {
            return;
        }
        let id = s.record.call_id.clone();
        if !ok {
            s.record.outcome = format!("transfer failed ({why})");
        }
        self.log(
            &id,
            format!("transfer {}: {why}", if ok { "done" } else { "failed" }),
        );
        self.step(now, call, if ok { Event::Done } else { Event::Failed });
    }

    fn request(&mut self, now: i64, source: SocketAddr, m: &Message) {
        let method = m.method().unwrap_or("");
        // Outside dialogs a source gets its share of requests a second; beyond, they go
        // unanswered. ACK and CANCEL belong to transactions already taken, and requests in
        // dialogs and responses are never held back: calls in progress go on whatever their
        // peer sends besides.
        if method != "ACK"
            && method != "CANCEL"
            && m.to_tag().is_none()
            && !self.request_within_share(now, source)
        {
            self.metrics.flooded();
            return;
        }
        let tx = match self.tx.receive(now, source, m) {
            Incoming::New(tx) => tx,
            Incoming::Again(Some(bytes)) => return self.send(source, bytes),
            Incoming::AgainPlain(code) => {
                let bytes = build::response(m, source, code, None, &[], None);
                return self.send(source, bytes);
            }
            Incoming::Again(None) | Incoming::Absorbed | Incoming::Invalid => return,
            Incoming::AckFor2xx => {
                if let Some(call) = self.dialog_of(m) {
                    let s = &self.calls[&call];
                    let cseq = m.cseq().map(|c| c.0);
                    match s.reinvite_tx.as_deref() {
                        Some(&(again, n)) if Some(n) == cseq => {
                            self.tx.acknowledged(again);
                            self.invites.remove(&again);
                        }
                        _ => self.tx.acknowledged(s.invite_tx),
                    }
                    self.ack_answer(now, call, m);
                } else if let Some(leg) = self.leg_of(m) {
                    self.leg_acked(leg);
                }
                return;
            }
        };
        // Options we do not support.
        let unsupported: Vec<String> = m
            .all("Require")
            .flat_map(|v| v.split(','))
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .collect();
        if !unsupported.is_empty() && method != "ACK" && method != "CANCEL" {
            let extra = [format!("Unsupported: {}", unsupported.join(", "))];
            return self.reply(now, (tx, m, source), 420, &extra, None);
        }
        match method {
            "OPTIONS" => {
                let extra = [
                    "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REGISTER".to_string(),
                    "Accept: application/sdp, application/dtmf-relay, application/dtmf".into(),
                ];
                self.reply(now, (tx, m, source), 200, &extra, None)
            }
            "INVITE" => self.invite(now, tx, source, m),
            "CANCEL" => self.cancel(now, tx, source, m),
            "BYE" if self.leg_of(m).is_some() => {
                self.reply(now, (tx, m, source), 200, &[], None);
                if let Some(leg) = self.leg_of(m) {
                    self.agent_bye(now, leg);
                }
            }
            // The agent's phone inside its dialog: a session refresh, hold, keys.
            "UPDATE" | "INFO" if self.leg_of(m).is_some() => {
                if let Some(leg) = self.leg_of(m) {
                    self.leg_in_dialog(now, (tx, m, source), leg);
                }
            }
            "BYE" | "INFO" | "NOTIFY" => match self.dialog_of(m) {
                Some(call) => {
                    if method == "NOTIFY" {
                        // The progress of our REFER (RFC 3515): a sipfrag status line.
                        self.reply(now, (tx, m, source), 200, &[], None);
                        let line = std::str::from_utf8(m.body)
                            .unwrap_or("")
                            .lines()
                            .next()
                            .unwrap_or("");
                        let code: u16 = line
                            .split(' ')
                            .nth(1)
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(0);
                        if code >= 200 {
                            let ok = (200..300).contains(&code);
                            self.refer_outcome(
                                now,
                                call,
                                ok,
                                &format!("the target answered {code}"),
                            );
                        }
                    } else if method == "BYE" {
                        self.reply(now, (tx, m, source), 200, &[], None);
                        self.caller_gone(now, call, "the caller hung up");
                    } else {
                        let kind = m.get("Content-Type").unwrap_or("");
                        match info_digits(kind, m.body) {
                            Some(d) => {
                                self.reply(now, (tx, m, source), 200, &[], None);
                                self.digits(now, call, &d);
                            }
                            None => {
                                let extra =
                                    ["Accept: application/dtmf-relay, application/dtmf".into()];
                                self.reply(now, (tx, m, source), 415, &extra, None)
                            }
                        }
                    }
                }
                None => self.reply(now, (tx, m, source), 481, &[], None),
            },
            "REGISTER" => self.register(now, (tx, m, source)),
            "PRACK" | "UPDATE" | "SUBSCRIBE" | "REFER" | "MESSAGE" | "PUBLISH" => {
                let extra =
                    ["Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REGISTER".to_string()];
                self.reply(now, (tx, m, source), 405, &extra, None)
            }
            _ => self.reply(now, (tx, m, source), 501, &[], None),
        }
    }

    fn dialog_of(&self, m: &Message) -> Option<u64> {
        let tag = m.to_tag()?;
        self.dialogs.get(&dialog_key(m.call_id(), tag)).copied()
    }

    fn invite(&mut self, now: i64, tx: TxId, source: SocketAddr, m: &Message) {
        if m.to_tag().is_some() {
            return match (self.dialog_of(m), self.leg_of(m)) {
                (Some(call), _) => self.reinvite(now, (tx, m, source), call),
                (None, Some(leg)) => self.leg_in_dialog(now, (tx, m, source), leg),
                (None, None) => self.reply(now, (tx, m, source), 481, &[], None),
            };
        }
        if m.max_forwards() == 0 {
            return self.reply(now, (tx, m, source), 483, &[], None);
        }
        if !m.body.is_empty() {
            let kind = m.get("Content-Type").unwrap_or("");
            if !kind.to_ascii_lowercase().starts_with("application/sdp") {
                let extra = ["Accept: application/sdp".to_string()];
                return self.reply(now, (tx, m, source), 415, &extra, None);
            }
        }
        if let Some(accept) = m.get("Accept") {
            if !accept.to_ascii_lowercase().contains("application/sdp") {
                let extra = ["Accept: application/sdp".to_string()];
                return self.reply(now, (tx, m, source), 406, &extra, None);
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
        // Feature codes (`*50`: ready ...) are the server's own numbers, before the flows'.
        let (machine, found) = match self.feature(now, (tx, m, source), &dialled) {
            // Agents' feature codes (going ready helps the overload pass) are not shed.
            features::Feature::NotOne if self.shedding => {
                // Before any work on the call (its flow, its offer, a session): the calls
                // already accepted keep the loop's time. Stateless, as a 404: the caller's ACK
                // finds nothing to match and a retransmission is judged afresh.
                self.metrics.refused("load");
                let extra = ["Retry-After: 1".to_string()];
                self.reply(now, (tx, m, source), 503, &extra, None);
                return self.tx.discard(tx);
            }
            features::Feature::NotOne => {
                let machine = self.machine.clone();
                let found = machine.program().flow_for_dialled(&dialled);
                (machine, found)
            }
            features::Feature::Refused => return,
            features::Feature::Run(f) => (f, Some((0, dialled.clone()))),
        };
        let p = machine.program();
        let Some((flow, number)) = found else {
            self.log(m.call_id(), format!("no flow answers {dialled:?}: 404"));
            self.reply(now, (tx, m, source), 404, &[], None);
            // Stateless: nothing to keep for a number nobody answers.
            return self.tx.discard(tx);
        };
        // The caller's offer: no codec in common is 488, before the flow runs.
        let media = if m.body.is_empty() {
            None
        } else {
            match sdp::negotiate(m.body) {
                Ok(media) => Some(media),
                Err(refusal) => {
                    self.log(m.call_id(), format!("488: {refusal}"));
                    let extra = [format!("Warning: 305 callflow \"{refusal}\"")];
                    self.reply(now, (tx, m, source), 488, &extra, None);
                    return self.tx.discard(tx);
                }
            }
        };
        // A call's media thread follows from its number: numbers whose thread has no port left
        // are skipped while another thread has one (the numbers are ours; gaps mean nothing).
        while !self.ports.free_for(self.next + 1) && self.ports.any_free() {
            self.next += 1;
        }
        let refused = if self.calls.len() >= self.config.max_calls {
            Some("calls")
        } else if !self.ports.free_for(self.next + 1) {
            Some("ports")
        } else if !self.within_rate(now, source) {
            Some("rate")
        } else {
            None
        };
        if let Some(why) = refused {
            self.metrics.refused(why);
            let extra = ["Retry-After: 5".to_string()];
            return self.reply(now, (tx, m, source), 503, &extra, None);
        }
        self.next += 1;
        let call = self.next;
        let port = self.ports.take(call).unwrap_or_default();
        // The tag depends on the Call-ID only: a retransmitted INVITE that a stateless answer
        // (302, 480) did not keep gets the very same response again.
        let our_tag = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            m.call_id().hash(&mut h);
            let mut tag = String::with_capacity(18);
            tag.push_str("cf");
            crate::sip::text::push_hex(&mut tag, h.finish());
            tag
        };
        let their = m.get("From").unwrap_or("").to_string();
        let to = m.get("To").unwrap_or("");
        let mut ours = String::with_capacity(to.len() + 5 + our_tag.len());
        for part in [to, ";tag=", &our_tag] {
            ours.push_str(part);
        }
        let caller = Uri::parse(uri_of(&their))
            .ok()
            .and_then(|u| u.user_decoded().map(|s| s.into_owned()))
            .unwrap_or_else(|| "anonymous".into());
        // A caller in national form (as trunks send it) in the flow's country's plan, so
        // `caller` compares with the numbers the flow writes.
        let caller = callflow_compiler::numbers::caller_in(&caller, p.country(flow));
        let remote_target = m
            .get("Contact")
            .map(|c| uri_of(c).to_string())
            .unwrap_or_else(|| uri_of(&their).to_string());
        let vm = machine.start(flow, &caller, &number);
        let record = Record::new(
            m.call_id(),
            &caller,
            &number,
            p.str(p.flows[flow].name),
            machine.checksum(),
            now,
        );
        self.calls.insert(
            call,
            Box::new(Session {
                machine: machine.clone(),
                vm,
                flow,
                peer: source,
                their,
                ours,
                remote_target,
                invite_tx: tx,
                echo: Some(build::Echo::of(m, source)),
                responded: false,
                rang: false,
                early: false,
                port,
                media,
                media_open: false,
                port_taken: false,
                sdp_version: 1,
                reinvite_tx: None,
                offer_pending: false,
                pending_play: Vec::new(),
                message: None,
                prompt_dir: None,
                recent: String::new(),
                playing_until: i64::MIN,
                effect: 0,
                wait: Wait::Nothing,
                keys: String::new(),
                interruptible: false,
                generation: 0,
                cseq: 0,
                record,
                trace: PathTrace {
                    lines: Vec::new(),
                    machine: machine.clone(),
                },
                bridged: None,
                record_route: None,
                ringback: false,
                music: None,
                routed: None,
                pending_bridge: None,
            }),
        );
        self.dialogs.insert(dialog_key(m.call_id(), &our_tag), call);
        self.invites.insert(tx, call);
        self.metrics.call();
        self.call_event(call, "started", serde_json::Value::Null);
        if self.config.log {
            let name = p.str(p.flows[flow].name);
            let sum = machine.checksum();
            self.log(
                m.call_id(),
                format!("call from {caller} to {number}: flow `{name}` (program {sum:016x})"),
            );
        }
        self.step(now, call, Event::Start);
        // 100 Trying only when the flow did not answer at once (RFC 3261 §17.2.1: not needed
        // when a response follows within 200 ms) — one datagram less for most calls.
        if self.calls.get(&call).is_some_and(|s| !s.responded) {
            self.respond_invite(now, call, 100, &[], None);
        }
        // The stateless fast path: a flow that redirected or refused the call before any
        // media left nothing to remember — the transaction goes too (a retransmission is
        // decided again, the same way; its ACK finds nothing and is dropped).
        if !self.calls.contains_key(&call) {
            self.tx.discard(tx);
            self.invites.remove(&tx);
        }
    }

    /// A re-INVITE in the call's dialog: new media terms (hold, resume, another address or
    /// codec). An offer we cannot take is 488 and the call goes on as it was; without an
    /// offer, our answer is offered again and the ACK brings theirs.
    fn reinvite(&mut self, now: i64, (tx, m, source): (TxId, &Message, SocketAddr), call: u64) {
        let terms = if m.body.is_empty() {
            None
        } else {
            match sdp::negotiate(m.body) {
                Ok(media) => Some(media),
                Err(refusal) => {
                    let extra = [format!("Warning: 305 callflow \"{refusal}\"")];
                    return self.reply(now, (tx, m, source), 488, &extra, None);
                }
            }
        };
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        s.sdp_version += 1;
        match terms {
            Some(terms) => {
                s.offer_pending = false;
                s.media = Some(terms.clone());
                if s.media_open {
                    self.out
                        .push_back(Out::Media(MediaCommand::Update { call, media: terms }));
                } else {
                    self.open_media(call);
                }
            }
            // No offer: ours (sending and receiving) goes in the 200; the ACK answers it.
            None => s.offer_pending = true,
        }
        let sdp = self.sdp(call);
        if let Some(s) = self.calls.get_mut(&call) {
            s.reinvite_tx = Some(Box::new((tx, m.cseq().map_or(0, |c| c.0))));
        }
        // No ACK for this 200 either ends the call (Timer H), as for the first one.
        self.invites.insert(tx, call);
        let extra = self.answer_headers.clone();
        let body = Some(("application/sdp", sdp.as_bytes()));
        let bytes = build::response(m, source, 200, None, &extra, body);
        let actions = self.tx.respond(now, tx, 200, bytes);
        self.tx_actions(actions, now);
    }

    /// An ACK to our 200: when the INVITE came without an offer, it carries the answer.
    fn ack_answer(&mut self, now: i64, call: u64, m: &Message) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        if m.body.is_empty() || (s.media.is_some() && !s.offer_pending) {
            return;
        }
        match sdp::negotiate(m.body) {
            Ok(media) => {
                s.offer_pending = false;
                s.media = Some(media.clone());
                if s.media_open {
                    self.out
                        .push_back(Out::Media(MediaCommand::Update { call, media }));
                } else {
                    self.open_media(call);
                }
            }
            Err(refusal) => {
                let id = s.record.call_id.clone();
                self.log(&id, format!("the ACK's answer: {refusal}"));
                self.hang_up(now, call, "no media in common");
            }
        }
    }

    /// What the media thread reports for a call: keys from the RTP stream, a stream gone
    /// quiet (the caller's side is dead: BYE), ports another program holds, failures.
    pub fn media_report(&mut self, now: i64, report: MediaReport) {
        self.tick(now);
        match report {
            MediaReport::Key { call, key, .. } => {
                let mut k = [0u8; 4];
                self.digits(now, call, key.encode_utf8(&mut k));
            }
            MediaReport::Quiet { call } => {
                if let Some(s) = self.calls.get_mut(&call) {
                    if s.record.outcome.is_empty() {
                        s.record.outcome = "no RTP from the caller".into();
                    }
                }
                self.hang_up(now, call, "no RTP from the caller");
            }
            MediaReport::NoStream { call, port, why } => {
                // Someone else holds the port: it leaves the pool, and the call (whose answer
                // named it, or whose agent's leg did) ends rather than stay silent.
                self.ports.retire(port);
                self.leg_port_taken(call, port);
                if let Some(s) = self.calls.get_mut(&call) {
                    s.port_taken |= s.port == port;
                    if s.record.outcome.is_empty() {
                        s.record.outcome = format!("no media: {why}");
                    }
                    let id = s.record.call_id.clone();
                    self.log(&id, format!("media: {why}"));
                }
                self.hang_up(now, call, "its RTP port is taken");
            }
            MediaReport::Failed { call, why } => {
                let id = self.calls.get(&call).map(|s| s.record.call_id.clone());
                if let Some(id) = id {
                    self.log(&id, format!("media: {why}"));
                }
            }
        }
    }

    fn cancel(&mut self, now: i64, tx: TxId, source: SocketAddr, m: &Message) {
        let Some(invite) = self.tx.cancelled(m) else {
            return self.reply(now, (tx, m, source), 481, &[], None);
        };
        self.reply(now, (tx, m, source), 200, &[], None);
        if let Some(call) = self.invites.get(&invite).copied() {
            self.final_to_invite(now, call, 487, &[]);
            self.caller_gone(now, call, "the caller cancelled");
        }
    }

    // ---- calls ---------------------------------------------------------------------------

    fn wait(&mut self, now: i64, call: u64, wait: Wait, after: i64) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        s.wait = wait;
        s.generation += 1;
        let g = s.generation;
        self.next += 1;
        self.timers
            .insert((now + after.max(0), self.next), (call, g, Timer::Wait));
    }

    /// Notes the folder of a prompt file the call plays (for `say`).
    fn note_prompt(&mut self, call: u64, file: Option<&str>) {
        let dir = file.and_then(|f| Some(std::path::Path::new(f).parent()?.to_str()?.to_string()));
        if let (Some(s), Some(dir)) = (self.calls.get_mut(&call), dir) {
            s.prompt_dir = Some(dir);
        }
    }

    /// A prompt file's audio and how long it plays (ms); silence for a file without audio.
    fn prompt(&self, file: Option<&str>) -> (Play, i64) {
        match file.and_then(|f| self.config.prompts.files.get(f)) {
            Some(p) => (Play::Prompt(p.clone()), p.ms() as i64),
            None => {
                let ms = self.config.default_prompt_ms;
                (Play::Silence(ms.min(u64::from(u32::MAX)) as u32), ms as i64)
            }
        }
    }

    /// Plays `items` (lasting `ms`) on the call's stream, instead of anything still playing.
    fn play(&mut self, now: i64, call: u64, items: Vec<Play>, ms: i64) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        if !s.media_open {
            // An INVITE without an offer: the stream opens when the ACK answers ours.
            if s.media.is_none() {
                s.playing_until = now + ms;
                s.pending_play = items;
            }
            return;
        }
        if s.playing_until > now {
            self.out.push_back(Out::Media(MediaCommand::Stop { call }));
        }
        s.playing_until = now + ms;
        self.out
            .push_back(Out::Media(MediaCommand::Play { call, items }));
    }

    /// Stops what the call's stream plays (a key cut the prompt short).
    fn stop_playing(&mut self, now: i64, call: u64) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        if s.media_open && s.playing_until > now {
            s.playing_until = i64::MIN;
            self.out.push_back(Out::Media(MediaCommand::Stop { call }));
        }
    }

    /// Resumes the call's VM with `event` and carries out what it asks next.
    fn step(&mut self, now: i64, call: u64, event: Event) {
        let Some(machine) = self.calls.get(&call).map(|s| s.machine.clone()) else {
            return;
        };
        let world = ServerWorld {
            now: ts(now),
            engine: &self.engine,
            switches: &self.switches,
        };
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        let answers = s.effect;
        s.wait = Wait::Nothing;
        s.generation += 1;
        let before = s.vm.consent_bits();
        let step = machine.resume(&mut s.vm, answers, event, &world, &mut s.trace);
        consent_events(now, &machine, s, before);
        match step {
            Err(refused) => {
                let id = s.record.call_id.clone();
                self.log(&id, format!("event refused by the flow: {refused}"));
            }
            Ok(Step::End(end)) => self.flow_ended(now, call, end),
            Ok(Step::Effect(id, effect)) => {
                s.effect = id;
                self.effect(now, call, effect);
            }
        }
    }

    fn effect(&mut self, now: i64, call: u64, effect: Effect<'_>) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        // For log lines (none from a quiet server: no copy then).
        let call_id = if self.config.log {
            s.record.call_id.clone()
        } else {
            String::new()
        };
        match effect {
            Effect::Play {
                prompt,
                file,
                interruptible,
                early,
            } => {
                s.record.prompts.push(prompt.to_string());
                s.interruptible = interruptible;
                s.keys.clear();
                if early && !s.answered() {
                    // Early media: 183 Session Progress with the SDP, the call unanswered
                    // (a closed-office announcement costs the caller nothing).
                    self.early_media(now, call);
                } else {
                    self.answer(now, call);
                }
                let (item, d) = self.prompt(file);
                self.note_prompt(call, file);
                self.play(now, call, vec![item], d);
                self.wait(now, call, Wait::Prompt, d);
            }
            Effect::Say { value, digits } => {
                let how = if digits { "digits" } else { "number" };
                s.record.prompts.push(format!("say {how} {value}"));
                s.interruptible = false;
                s.keys.clear();
                self.answer(now, call);
                let (items, ms) = self.say_items(call, &value, digits);
                self.play(now, call, items, ms);
                self.wait(now, call, Wait::Prompt, ms);
            }
            Effect::Keys {
                typed,
                before,
                prompt,
                file,
                first_timeout_ms,
                ..
            } => {
                s.keys.clear();
                self.answer(now, call);
                // Keys typed ahead start the input: the prompts are not played then.
                let prompt_ms = if typed.is_empty() {
                    let mut ms = 0;
                    let mut items = Vec::new();
                    for (name, file) in before.iter().copied().chain([(prompt, file)]) {
                        if let Some(s) = self.calls.get_mut(&call) {
                            s.record.prompts.push(name.to_string());
                        }
                        let (item, d) = self.prompt(file);
                        self.note_prompt(call, file);
                        items.push(item);
                        ms += d;
                    }
                    self.play(now, call, items, ms);
                    ms
                } else {
                    0
                };
                self.wait(now, call, Wait::Keys, prompt_ms + first_timeout_ms as i64);
            }
            Effect::Route {
                route,
                group,
                record,
                priority,
            } => {
                let caller = s.record.caller.clone();
                let zone = s.machine.zone(s.flow).clone();
                s.wait = Wait::Route;
                s.record_route = record;
                let r = s.routed.get_or_insert_with(Box::default);
                r.at = now;
                r.group = group.to_string();
                self.metrics.offered(group);
                // The caller hears ringing while agents ring: 180 before answering, ringback
                // after (the queue's music replaces it).
                if !s.answered() {
                    if !s.rang {
                        s.rang = true;
                        self.ring(now, call);
                    }
                } else if s.media_open {
                    s.ringback = true;
                    let tone = Play::Loop(self.ringback.clone());
                    self.out.push_back(Out::Media(MediaCommand::Play {
                        call,
                        items: vec![tone],
                    }));
                }
                self.log(&call_id, format!("route to group `{group}`"));
                self.call_event(call, "routed", serde_json::json!({ "group": group }));
                let req = RouteRequest {
                    route,
                    caller: &caller,
                    zone,
                    entropy: call,
                    priority,
                };
                if self.engine.route(ts(now), call, req).is_err() {
                    self.step(now, call, Event::Busy);
                } else {
                    self.engine_actions(now);
                }
            }
            Effect::Transfer { target } => {
                // Toll fraud: a number computed at run time (from keys, a look-up) must be one
                // the deployment allows.
                let country = s.machine.program().country(s.flow);
                let Some(contact) = self.transfer_contact(&target, country) else {
                    if let Some(s) = self.calls.get_mut(&call) {
                        s.record.outcome = format!("transfer to {target} refused (not allowed)");
                    }
                    self.log(
                        &call_id,
                        format!("transfer to {target} refused: not among the flows' own targets and numbers, no short internal number, and not allowed by --allow"),
                    );
                    return self.step(now, call, Event::Failed);
                };
                let s = self.calls.get_mut(&call).expect("the call is there");
                if s.answered() {
                    // After answering: ask the caller's side to call the target (REFER, RFC
                    // 3515); its NOTIFY tells the outcome, which the flow hears.
                    s.record.outcome = format!("transferred to {target}");
                    self.log(&call_id, format!("REFER to {contact}"));
                    let local = self.config.local;
                    let extra =
                        format!("Refer-To: <{contact}>\r\nReferred-By: <sip:callflow@{local}>\r\n");
                    self.send_in_dialog(now, call, "REFER", &extra, Some(call));
                    self.wait(now, call, Wait::Refer, 32_000);
                } else {
                    s.record.outcome = format!("redirected to {target}");
                    self.final_to_invite(now, call, 302, &[format!("Contact: <{contact}>")]);
                    self.finish(now, call);
                }
            }
            Effect::Voicemail {
                vbox,
                greeting,
                file,
                reason,
            } => {
                s.record.outcome = format!("voicemail box `{vbox}`");
                if let Some(g) = greeting {
                    s.record.prompts.push(g.to_string());
                }
                let p = s.machine.program();
                let info = p.boxes.iter().find(|b| p.str(b.name) == vbox);
                let max_ms = info
                    .and_then(|b| b.max_length_ms)
                    .unwrap_or(self.config.message_ms);
                let email = info.and_then(|b| b.email).map(|e| p.str(e).to_string());
                let Some(dir) = self.config.voicemail.clone() else {
                    self.log(&call_id, "voicemail: the server keeps no messages".into());
                    return self.step(now, call, Event::Failed);
                };
                // The box's name is the flow's identifier: safe in a path.
                let audio = dir
                    .join(vbox)
                    .join(format!("{now}-{}.wav", safe_name(&s.record.call_id)));
                s.message = Some(Box::new(Message_ {
                    vbox: vbox.to_string(),
                    reason: reason.name(),
                    email,
                    audio,
                    started: None,
                    max_ms,
                }));
                self.answer(now, call);
                // The greeting, then the beep: the message starts after it.
                let mut items = Vec::new();
                let mut d = 0;
                if greeting.is_some() {
                    let (item, ms) = self.prompt(file);
                    items.push(item);
                    d += ms;
                }
                items.push(Play::Prompt(self.beep.clone()));
                d += self.beep.ms() as i64;
                self.play(now, call, items, d);
                self.wait(now, call, Wait::Greeting, d);
            }
            Effect::Lookup {
                lookup,
                url,
                timeout_ms,
                retries,
                retry_ms,
            } => {
                let effect = s.effect;
                self.log(&call_id, format!("lookup `{lookup}`: GET {url}"));
                self.out.push_back(Out::Lookup {
                    call,
                    effect,
                    url,
                    timeout_ms,
                    retries,
                    retry_ms,
                });
                // If no answer comes, the error branch a little after every try has timed out.
                let tries = i64::from(retries) + 1;
                let all = tries * timeout_ms as i64 + (tries - 1) * retry_ms as i64;
                self.wait(now, call, Wait::Lookup, all + 500);
            }
            Effect::StartRecording { sides } => {
                self.start_recording(now, call, sides);
                self.step(now, call, Event::Done);
            }
            Effect::StopRecording => {
                self.stop_recording(now, call, "the flow");
                self.step(now, call, Event::Done);
            }
            Effect::Answer => {
                self.answer(now, call);
                self.step(now, call, Event::Done);
            }
            // Time passes (the caller hears ringing until the call is answered); keys pressed
            // meanwhile are typed ahead.
            Effect::Wait { ms } => {
                s.interruptible = false;
                s.keys.clear();
                // Before answering, the caller should hear ringing: 180 Ringing (then every
                // minute while it lasts).
                if !s.answered() && !s.rang {
                    s.rang = true;
                    self.ring(now, call);
                }
                self.wait(now, call, Wait::Prompt, ms as i64);
            }
        }
    }

    /// Starts recording the call's `sides` (the VM only asks with consent): a WAV file named
    /// for the call in the recordings folder, and its entry in the call record.
    fn start_recording(&mut self, now: i64, call: u64, sides: Sides) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dir) = self.config.recordings.clone() else {
            let id = s.record.call_id.clone();
            return self.log(&id, "not recording: the server keeps no recordings".into());
        };
        if !s.media_open {
            let id = s.record.call_id.clone();
            return self.log(&id, "not recording: the call has no media stream".into());
        }
        let safe = safe_name(&s.record.call_id);
        let n = s.record.recordings.len() + 1;
        let path = dir.join(format!("{}-{safe}-{n}.wav", s.record.started));
        s.record.recordings.push(super::cdr::Recording {
            file: path.display().to_string(),
            started: now,
            stopped: None,
            stopped_by: String::new(),
            sides: sides.name(),
        });
        self.out
            .push_back(Out::Media(MediaCommand::Record { call, path, sides }));
    }

    /// The greeting and beep have played: the caller's message is recorded.
    fn start_message(&mut self, now: i64, call: u64) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(m) = s.message.as_mut() else {
            return self.step(now, call, Event::Done);
        };
        if !s.media_open {
            s.message = None;
            let id = s.record.call_id.clone();
            self.log(&id, "voicemail: the call has no media stream".into());
            return self.step(now, call, Event::Failed);
        }
        m.started = Some(now);
        let (path, max) = (m.audio.clone(), m.max_ms as i64);
        // One recording at a time per call: a consented recording of the call ends where the
        // message begins (a withdrawal during the message then cuts nothing).
        self.stop_recording(now, call, "voicemail began");
        self.out.push_back(Out::Media(MediaCommand::Record {
            call,
            path,
            sides: Sides::Caller,
        }));
        self.wait(now, call, Wait::Message, max);
    }

    /// The message ends (`#`, the box's length): its recording stops and its metadata is
    /// written beside it.
    fn end_message(&mut self, now: i64, call: u64, why: &str) {
        let Some(m) = self.calls.get_mut(&call).and_then(|s| s.message.take()) else {
            return;
        };
        self.out
            .push_back(Out::Media(MediaCommand::StopRecording { call }));
        let out = message_metadata(now, &self.calls[&call], *m, why);
        self.out.extend(out);
    }

    /// Stops the call's recording in progress, if there is one.
    fn stop_recording(&mut self, now: i64, call: u64, by: &str) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(r) = s
            .record
            .recordings
            .last_mut()
            .filter(|r| r.stopped.is_none())
        else {
            return;
        };
        r.stopped = Some(now);
        r.stopped_by = by.into();
        self.out
            .push_back(Out::Media(MediaCommand::StopRecording { call }));
    }

    /// Where a transfer to `target` goes (the URI for Contact or Refer-To), or `None` when
    /// the target is not allowed: SIP URIs and numbers the flows name literally, the flows' own
    /// numbers (on this server), short internal numbers (2-6 digits), and what `--allow`
    /// patterns admit. Numbers outside the server go to the trunk (else to this server's
    /// address, for a proxy in front of it to route).
    fn transfer_contact(
        &self,
        target: &str,
        country: Option<&'static callflow_compiler::numbers::Country>,
    ) -> Option<String> {
        if target.starts_with("sip:") || target.starts_with("sips:") {
            return self
                .literal_targets
                .contains(target)
                .then(|| target.to_string());
        }
        let number = callflow_compiler::numbers::normalize_in(target, country)?;
        let p = self.machine.program();
        let ours = p.flow_for(&number).is_some();
        let short = !number.starts_with('+') && (2..=6).contains(&number.len());
        let allowed = ours
            || short
            || self.literal_targets.contains(&number)
            || self.config.allow.iter().any(|pat| pat.matches(&number));
        if !allowed {
            return None;
        }
        let host = match (&self.config.trunk, ours) {
            (Some(trunk), false) => trunk.clone(),
            _ => self.config.local.to_string(),
        };
        Some(format!("sip:{number}@{host}"))
    }

    /// The words of a value from the `say` pack beside the call's prompts (their language,
    /// else any pack), and how long they last.
    fn say_items(&mut self, call: u64, value: &str, digits: bool) -> (Vec<Play>, i64) {
        let Some(s) = self.calls.get(&call) else {
            return (Vec::new(), 0);
        };
        let say = &self.config.prompts.say;
        let pack = s
            .prompt_dir
            .as_deref()
            .and_then(|d| say.get(d))
            .or_else(|| say.values().min())
            .cloned();
        let (mut items, mut ms) = (Vec::new(), 0);
        match pack {
            Some((dir, language)) => {
                for w in crate::media::say::words(value, digits, &language) {
                    let (item, d) = self.prompt(Some(&format!("{dir}/{w}.wav")));
                    items.push(item);
                    ms += d;
                }
            }
            None => {
                let id = s.record.call_id.clone();
                self.log(&id, "say: no `say` pack beside the prompts".into());
            }
        }
        (items, ms)
    }

    /// What a caller waiting in a queue hears (the engine's schedule): announcements stop
    /// the music and it follows them again.
    fn hear(&mut self, now: i64, call: u64, what: engine::Hear) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        let machine = s.machine.clone();
        // The engine's prompt by name, in the call's own program (a reload may have
        // renumbered the prompts).
        let ep = self.engine.program();
        let file = |p: u32| {
            let name = ep.prompts.get(p as usize).map(|x| ep.str(x.name))?;
            let mp = machine.program();
            let own = mp.prompts.iter().position(|x| mp.str(x.name) == name)?;
            machine.prompt_file(&s.vm, own as u32).map(str::to_string)
        };
        let (said, items) = match what {
            engine::Hear::Music(m) => {
                let f = file(m);
                s.record
                    .prompts
                    .push(format!("music {}", f.as_deref().unwrap_or("?")));
                let (item, _) = self.prompt(f.as_deref());
                let Play::Prompt(music) = item else {
                    return;
                };
                if let Some(s) = self.calls.get_mut(&call) {
                    s.music = Some(music.clone());
                    s.ringback = true;
                }
                // After whatever plays now (the greeting).
                self.out.push_back(Out::Media(MediaCommand::Play {
                    call,
                    items: vec![Play::Loop(music)],
                }));
                return;
            }
            engine::Hear::Greeting(p) | engine::Hear::Prompt(p) => {
                let f = file(p);
                let (item, _) = self.prompt(f.as_deref());
                (f.unwrap_or_else(|| "?".into()), vec![item])
            }
            engine::Hear::Position(n) => {
                let (items, _) = self.say_items(call, &n.to_string(), false);
                (format!("say number {n}"), items)
            }
            engine::Hear::ExpectedWait(w) => {
                let minutes = w.div_ceil(60_000);
                let (items, _) = self.say_items(call, &minutes.to_string(), false);
                (format!("say number {minutes}"), items)
            }
        };
        self.note_prompt_text(call, said);
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        s.ringback = true;
        let mut items = items;
        items.extend(s.music.clone().map(Play::Loop));
        self.out.push_back(Out::Media(MediaCommand::Stop { call }));
        self.out
            .push_back(Out::Media(MediaCommand::Play { call, items }));
        let _ = now;
    }

    fn note_prompt_text(&mut self, call: u64, said: String) {
        if let Some(s) = self.calls.get_mut(&call) {
            s.record.prompts.push(said);
        }
    }

    /// Sends the 200 OK with an SDP answer, once.
    fn answer(&mut self, now: i64, call: u64) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        if s.answered() {
            return;
        }
        s.record.answered = Some(now);
        self.respond_with_sdp(now, call, 200);
    }

    /// 183 Session Progress with our SDP, once: prompts play before the call is answered.
    fn early_media(&mut self, now: i64, call: u64) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        if s.early {
            return;
        }
        s.early = true;
        if s.media.is_none() {
            // No offer to answer, and an offer in an unreliable 183 is not allowed (RFC 3262):
            // the caller hears ringing instead.
            if !s.rang {
                s.rang = true;
                self.ring(now, call);
            }
            return;
        }
        self.respond_with_sdp(now, call, 183);
    }

    /// A response to the INVITE carrying our SDP, Contact and Allow (200, or 183); the
    /// stream opens first.
    fn respond_with_sdp(&mut self, now: i64, call: u64, code: u16) {
        self.open_media(call);
        let sdp = self.sdp(call);
        let extra = std::mem::take(&mut self.answer_headers);
        self.respond_invite(
            now,
            call,
            code,
            &extra,
            Some(("application/sdp", sdp.as_bytes())),
        );
        self.answer_headers = extra;
    }

    /// Our SDP for a call: the answer to the caller's offer, or our offer when the INVITE
    /// came without one (its answer comes in the ACK).
    fn sdp(&self, call: u64) -> String {
        let ip = self.config.local.ip();
        let Some(s) = self.calls.get(&call) else {
            return String::new();
        };
        match &s.media {
            Some(m) if !s.offer_pending => sdp::answer(m, ip, s.port, call, s.sdp_version),
            _ => sdp::offer(ip, s.port, call, s.sdp_version),
        }
    }

    /// Asks the media thread to open the call's stream, once terms are agreed.
    fn open_media(&mut self, call: u64) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(media) = s.media.clone().filter(|_| !s.media_open) else {
            return;
        };
        s.media_open = true;
        let port = s.port;
        let waiting = std::mem::take(&mut s.pending_play);
        let bridge = s.pending_bridge.take();
        self.out
            .push_back(Out::Media(MediaCommand::Open { call, port, media }));
        if let Some((port, media)) = bridge.map(|b| *b) {
            self.out
                .push_back(Out::Media(MediaCommand::Bridge { call, port, media }));
        }
        if !waiting.is_empty() {
            self.out.push_back(Out::Media(MediaCommand::Play {
                call,
                items: waiting,
            }));
        }
    }

    fn respond_invite(
        &mut self,
        now: i64,
        call: u64,
        code: u16,
        extra: &[String],
        body: Option<(&str, &[u8])>,
    ) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        // The record names the final status; provisional ones only count as a response.
        s.responded = true;
        if code >= 200 {
            s.record.status = code;
        }
        let Some(echo) = &s.echo else {
            return;
        };
        let resp = echo.response(code, Some(s.our_tag()), extra, body);
        // After the final response the INVITE's parts are not needed: a held call keeps less.
        if code >= 200 {
            s.echo = None;
        }
        let tx = s.invite_tx;
        let actions = self.tx.respond(now, tx, code, resp);
        self.tx_actions(actions, now);
    }

    /// Sends 180 Ringing for an unanswered call, and again a minute later.
    fn ring(&mut self, now: i64, call: u64) {
        self.respond_invite(now, call, 180, &[], None);
        self.next += 1;
        self.timers
            .insert((now + RING_AGAIN_MS, self.next), (call, 0, Timer::Ringing));
    }

    /// A final non-2xx response to a call that was not answered.
    fn final_to_invite(&mut self, now: i64, call: u64, code: u16, extra: &[String]) {
        if self.calls.get(&call).is_some_and(|s| !s.answered()) {
            self.respond_invite(now, call, code, extra, None);
        }
    }

    /// Digits from an INFO.
    fn digits(&mut self, now: i64, call: u64, digits: &str) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        s.record.keys.push(digits.to_string());
        // A withdraw key works at any time.
        let machine = s.machine.clone();
        let withdraw = machine.withdraw_keys(s.flow);
        s.keys.push_str(digits);
        // Matched against the last keys pressed, whatever input took the first of them (a `*`
        // that ended a prompt must not hide the `*9` that withdraws).
        s.recent.push_str(digits);
        if s.recent.len() > 16 {
            s.recent.drain(..s.recent.len() - 16);
        }
        if let Some((c, w)) = withdraw.iter().find(|(_, w)| s.recent.ends_with(*w)) {
            // The part of it still waiting as input is no input.
            let overlap = (1..=w.len())
                .rev()
                .find(|&n| s.keys.ends_with(&w[w.len() - n..]))
                .unwrap_or(0);
            let cut = s.keys.len() - overlap;
            s.keys.truncate(cut);
            s.recent.clear();
            let before = s.vm.consent_bits();
            let stopped = machine.withdraw(&mut s.vm, *c);
            consent_events(now, &machine, s, before);
            let id = s.record.call_id.clone();
            if stopped {
                self.stop_recording(now, call, "consent withdrawn");
            }
            self.log(
                &id,
                format!(
                    "consent withdrawn{}",
                    if stopped { ": recording stopped" } else { "" }
                ),
            );
            return;
        }
        match s.wait {
            Wait::Route => {
                // A queue's exit key (the engine says whether it is one).
                let keys = std::mem::take(&mut s.keys);
                for k in keys.chars() {
                    if let Ok(true) = self.engine.key(ts(now), call, &k.to_string()) {
                        self.engine_actions(now);
                        break;
                    }
                }
            }
            Wait::Message if digits.contains('#') => {
                self.end_message(now, call, "#");
                self.step(now, call, Event::Done);
            }
            Wait::Prompt if s.interruptible => {
                let keys = std::mem::take(&mut s.keys);
                self.stop_playing(now, call);
                self.step(now, call, Event::Keys(keys));
            }
            Wait::Keys => {
                // Keys cut the menu's prompts short.
                self.stop_playing(now, call);
                let Some(s) = self.calls.get_mut(&call) else {
                    return;
                };
                if machine.keys_complete(&s.vm, &s.keys) {
                    let keys = std::mem::take(&mut s.keys);
                    self.step(now, call, Event::Keys(keys));
                } else {
                    // The next digit within the digit timeout.
                    let t = self.digit_timeout(call);
                    self.wait(now, call, Wait::Keys, t);
                }
            }
            _ => {}
        }
    }

    fn digit_timeout(&self, call: u64) -> i64 {
        let Some(s) = self.calls.get(&call) else {
            return 3_000;
        };
        let p = s.machine.program();
        match p.code.get(s.vm.pc as usize) {
            Some(callflow_compiler::bytecode::Instr::MenuWait(m)) => {
                p.menus[*m as usize].digit_timeout_ms as i64
            }
            Some(callflow_compiler::bytecode::Instr::CollectWait(c)) => {
                p.collects[*c as usize].digit_timeout_ms as i64
            }
            _ => 3_000,
        }
    }

    /// The session's wait is over: a prompt ended, or the keys timed out.
    fn wait_over(&mut self, now: i64, call: u64) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        match s.wait {
            Wait::Prompt => {
                let keys = std::mem::take(&mut s.keys);
                let event = if keys.is_empty() {
                    Event::Done
                } else {
                    Event::Keys(keys)
                };
                self.step(now, call, event);
            }
            Wait::Keys => {
                let keys = std::mem::take(&mut s.keys);
                self.step(now, call, Event::Keys(keys));
            }
            Wait::Lookup => {
                let id = s.record.call_id.clone();
                self.log(&id, "lookup: no answer in time".into());
                self.step(now, call, Event::LookupFailed);
            }
            Wait::Refer => self.refer_outcome(now, call, false, "no outcome in time"),
            Wait::Greeting => self.start_message(now, call),
            Wait::Message => {
                self.end_message(now, call, "the box's length");
                self.step(now, call, Event::Done);
            }
            Wait::Route | Wait::Talking | Wait::Nothing => {}
        }
    }

    /// The answer of the web look-up `effect` of `call` (a late one is ignored).
    pub fn lookup_result(&mut self, now: i64, call: u64, effect: EffectId, result: LookupResult) {
        self.tick(now);
        let Some(s) = self.calls.get(&call) else {
            return;
        };
        if s.effect != effect || s.wait != Wait::Lookup {
            return;
        }
        let id = s.record.call_id.clone();
        let event = match result {
            LookupResult::Fields(f) => {
                self.log(&id, format!("lookup: {} field(s)", f.len()));
                Event::LookupOk(f)
            }
            LookupResult::NotFound => {
                self.log(&id, "lookup: not found".into());
                Event::LookupNotFound
            }
            LookupResult::Failed(why) => {
                self.log(&id, format!("lookup failed: {why}"));
                Event::LookupFailed
            }
        };
        self.step(now, call, event);
    }

    fn engine_actions(&mut self, now: i64) {
        while let Some(a) = self.engine.poll_action() {
            match a {
                EngineAction::Ring { call, agent, .. } => self.ring_agent(now, call, agent),
                EngineAction::StopRinging { call, agent, why } => {
                    let why = match why {
                        engine::StopWhy::NoAnswer => "no answer",
                        engine::StopWhy::AnsweredElsewhere => "answered elsewhere",
                        engine::StopWhy::CallerGone => "caller gone",
                        engine::StopWhy::AgentChanged => "agent changed state",
                    };
                    self.stop_ringing(now, call, agent, why);
                }
                // (the plan in words only for a server that logs: it is made per round)
                EngineAction::Dialling { call, ref plan } if self.config.log => {
                    if let Some(id) = self.calls.get(&call).map(|s| s.record.call_id.clone()) {
                        let p = self.engine.program();
                        let order: Vec<String> = plan
                            .rounds()
                            .iter()
                            .map(|step| {
                                let names: Vec<&str> = step
                                    .iter()
                                    .map(|&a| p.str(p.agents[a as usize].name))
                                    .collect();
                                names.join(" + ")
                            })
                            .collect();
                        let text = format!("dialling: {}", order.join(", then "));
                        self.log(&id, text);
                    }
                }
                EngineAction::Queued { call, position, .. } => {
                    // A waiting caller hears the queue: the call is answered for it, and
                    // ringback stops.
                    self.answer(now, call);
                    if let Some(s) = self.calls.get_mut(&call) {
                        let id = s.record.call_id.clone();
                        if std::mem::take(&mut s.ringback) {
                            self.out.push_back(Out::Media(MediaCommand::Stop { call }));
                        }
                        self.log(&id, format!("queued at position {position}"));
                    }
                    self.call_event(call, "queued", serde_json::json!({ "position": position }));
                }
                EngineAction::Hear { call, ref what } => self.hear(now, call, what.clone()),
                EngineAction::AgentState { agent, .. } if self.events => {
                    let mut e = self.agent_json(agent as usize);
                    if let Some(o) = e.as_object_mut() {
                        o.insert("event".into(), "agent".into());
                    }
                    self.out.push_back(Out::Event(e.to_string()));
                }
                _ => {}
            }
            if let EngineAction::Outcome { call, outcome } = a {
                if let Some(s) = self.calls.get_mut(&call) {
                    if std::mem::take(&mut s.ringback) {
                        self.out.push_back(Out::Media(MediaCommand::Stop { call }));
                    }
                    s.music = None;
                    if matches!(outcome, engine::Outcome::Answered { .. }) {
                        let (group, waited) = routed_wait(s, now);
                        self.metrics.answered(group, waited);
                    }
                }
                let event = match outcome {
                    engine::Outcome::Answered { agent } => {
                        let p = self.engine.program();
                        Event::Answered {
                            agent: p.str(p.agents[agent as usize].name).to_string(),
                        }
                    }
                    engine::Outcome::NoAnswer => Event::NoAnswer,
                    engine::Outcome::Busy => Event::Busy,
                    engine::Outcome::NoAgents => Event::NoAgents,
                    engine::Outcome::Closed => Event::Closed,
                    engine::Outcome::Failed => Event::Failed,
                    engine::Outcome::QueueFull => Event::QueueFull,
                    engine::Outcome::QueueTimeout => Event::QueueTimeout,
                    engine::Outcome::QueueKey(k) => Event::QueueKey(k),
                };
                self.step(now, call, event);
            }
        }
    }

    /// The flow ended: hang up, and write the record.
    fn flow_ended(&mut self, now: i64, call: u64, end: End) {
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        if s.record.outcome.is_empty() {
            s.record.outcome = match &end {
                End::Hangup => "the flow hung up".into(),
                End::Transferred(t) => format!("transferred to {t}"),
                End::Voicemail => "voicemail".into(),
                End::Answered { agent } => format!("answered by {agent}"),
                End::CallerHungUp => "the caller hung up".into(),
                End::TransferFailed(t) => format!("the transfer to {t} failed"),
                End::VoicemailFailed => "voicemail failed".into(),
                End::Failed(e) => format!("the call failed: {e}"),
            };
        }
        if let End::Failed(e) = &end {
            let id = s.record.call_id.clone();
            self.log(&id, format!("the flow failed: {e}"));
        }
        if let End::Answered { agent } = &end {
            let p = self.engine.program();
            let id = p
                .agents
                .iter()
                .position(|a| p.str(a.name) == agent.as_str())
                .map(|i| i as crate::acd::AgentId);
            if id.is_some_and(|a| self.connect(now, call, a)) {
                return;
            }
        }
        match end {
            End::CallerHungUp => self.finish(now, call),
            _ if !self.calls.get(&call).is_some_and(|s| s.answered()) => {
                // A flow that ends before answering (a hang-up as its first statement).
                self.final_to_invite(now, call, 480, &[]);
                self.finish(now, call);
            }
            _ => self.hang_up(now, call, "the flow ended"),
        }
    }

    /// We end an answered call: BYE (retransmitted until answered), then the record.
    fn hang_up(&mut self, now: i64, call: u64, why: &str) {
        let Some(s) = self.calls.get(&call) else {
            return;
        };
        if !s.answered() {
            self.final_to_invite(now, call, 480, &[]);
            return self.finish(now, call);
        }
        let id = s.record.call_id.clone();
        self.log(&id, format!("BYE: {why}"));
        self.send_in_dialog(now, call, "BYE", "", None);
        self.finish(now, call);
    }

    /// Sends a request inside the call's dialog to the peer's address, resent until a final
    /// answer comes (or 64*T1).
    fn send_in_dialog(
        &mut self,
        now: i64,
        call: u64,
        method: &str,
        extra: &str,
        refer: Option<u64>,
    ) {
        let local = self.config.local;
        let Some(s) = self.calls.get_mut(&call) else {
            return;
        };
        s.cseq += 1;
        let branch = format!("z9hG4bKcf{:x}{:x}{}", now, call, s.cseq);
        let bytes = build::request(&InDialog {
            method,
            target: &s.remote_target,
            local,
            branch: &branch,
            from: &s.ours,
            to: &s.their,
            call_id: &s.record.call_id,
            cseq: s.cseq,
            extra,
        });
        let to = s.peer;
        self.send(to, bytes.clone());
        self.resend_until_answered(now, to, branch, bytes, refer);
    }

    /// Keeps a request we sent (under `key`: its branch) and resends it with T1 doubling up
    /// to T2 until a final answer comes, or for 64*T1.
    fn resend_until_answered(
        &mut self,
        now: i64,
        to: SocketAddr,
        key: String,
        bytes: Vec<u8>,
        refer: Option<u64>,
    ) {
        let t1 = self.tx.timing.t1;
        self.byes_timer(now + t1, &key);
        self.byes.insert(
            key,
            Bye {
                to,
                bytes,
                interval: t1,
                deadline: now + 64 * t1,
                refer,
            },
        );
    }

    fn byes_timer(&mut self, when: i64, branch: &str) {
        self.next += 1;
        let key = self.next;
        self.bye_timers.insert((when, key), branch.to_string());
    }

    /// The caller ended the call (BYE or CANCEL).
    fn caller_gone(&mut self, now: i64, call: u64, why: &str) {
        if let Some(s) = self.calls.get_mut(&call) {
            if s.record.outcome.is_empty() {
                s.record.outcome = why.into();
            }
            if s.wait == Wait::Route {
                let (group, waited) = routed_wait(s, now);
                self.metrics.abandoned(group, waited);
            }
        }
        // Let the flow know (it ends as CallerHungUp); `finish` lets the engine and an
        // agent's leg go.
        self.step(now, call, Event::HungUp);
        self.finish(now, call);
    }

    /// Forgets the call and writes its record.
    fn finish(&mut self, now: i64, call: u64) {
        if let Some(s) = self.calls.get_mut(&call) {
            // Built only for somebody listening to the event stream.
            let more = self.events.then(
                || serde_json::json!({ "outcome": s.record.outcome, "status": s.record.status }),
            );
            if let Some(r) = s.routed.as_mut() {
                if let Some(since) = r.talking_since.take() {
                    self.metrics.handled(&r.group, now - since);
                }
            }
            if let Some(more) = more {
                self.call_event(call, "ended", more);
            }
            // However the call ends (the caller's BYE, RTP gone quiet, an ACK that never
            // came, shutdown): the engine lets go of it (agents ringing for it stop, a
            // talking agent goes into wrap-up) and an agent's leg is hung up. (A call the
            // engine does not know is refused, and changes nothing.)
            let _ = self.engine.left(ts(now), call);
            self.end_bridge(now, call);
            self.engine_actions(now);
        }
        let Some(mut s) = self.calls.remove(&call) else {
            return;
        };
        if let Some(r) = s
            .record
            .recordings
            .last_mut()
            .filter(|r| r.stopped.is_none())
        {
            r.stopped = Some(now);
            r.stopped_by = "the call ended".into();
        }
        if let Some(m) = s.message.take() {
            // Hanging up is how most messages end.
            self.out
                .extend(message_metadata(now, &s, *m, "the caller hung up"));
        }
        if s.media_open {
            self.out.push_back(Out::Media(MediaCommand::Close { call }));
        }
        // Reused last: stray RTP of this call has long stopped when a new call gets it.
        if !s.port_taken {
            self.ports.give(s.port);
        }
        self.dialogs
            .remove(&dialog_key(&s.record.call_id, s.our_tag()));
        // The INVITE transaction stays (it absorbs retransmissions); forget our index of it.
        self.invites.remove(&s.invite_tx);
        if let Some(&(again, _)) = s.reinvite_tx.as_deref() {
            self.invites.remove(&again);
        }
        s.record.ended = Some(now);
        let p = s.machine.program();
        s.record.path = s
            .trace
            .lines
            .iter()
            .map(|(f, l)| {
                let name = p.files.get(*f as usize).map_or("?", |x| x.name.as_str());
                let mut at = String::with_capacity(name.len() + 6);
                at.push_str(name);
                at.push(':');
                crate::sip::text::push_decimal(&mut at, (*l).into());
                at
            })
            .collect();
        self.out.push_back(Out::Record(s.record.line()));
        if self.pending_reload.is_some() {
            self.reload_when_idle();
        }
    }

    /// New calls run on `machine` from now on; calls in progress finish on theirs. When the
    /// routing is the same (agents, groups, routes: `acd::engine::routing_view`), the engine
    /// takes the new program as it is — calls ringing, waiting and talking go on. When it
    /// changed, the engine starts again from its durable state (agents, counters, sticky
    /// memory, by name) — at once when no call is routed, else once the routed calls are over
    /// (meanwhile new calls still run on the program before: [`Reload::Waiting`]).
    pub fn reload(&mut self, machine: Arc<Machine>, prompts: Prompts) -> Reload {
        let program = machine.shared_program().clone();
        if let Err(program) = self.engine.swap_program(program) {
            let routed = self.engine.calls();
            if routed > 0 {
                self.pending_reload = Some((machine, prompts));
                return Reload::Waiting(routed);
            }
            let durable = self.engine.durable();
            self.engine = Engine::new(
                program,
                EngineConfig {
                    default_presence: Presence::LoggedOut,
                    ..EngineConfig::default()
                },
                &durable,
            );
        }
        self.pending_reload = None;
        self.config.prompts = prompts;
        self.literal_targets = literal_targets(machine.program());
        self.machine = machine;
        Reload::Done
    }

    /// A reload that waited for routed calls, once none is left.
    fn reload_when_idle(&mut self) {
        if self.engine.calls() > 0 {
            return;
        }
        if let Some((machine, prompts)) = self.pending_reload.take() {
            let sum = machine.checksum();
            self.reload(machine, prompts);
            self.log(
                "",
                format!("the routing changed: program {sum:016x} taken now that no call is routed"),
            );
        }
    }

    /// Starts the engine again from a saved state (at start-up: what the store kept), and
    /// takes back the phones' registrations (those that ended meanwhile end at `now`): a phone
    /// need not register again after a restart to be rung.
    pub fn restore(&mut self, now: i64, durable: &Durable) {
        self.engine = Engine::new(
            self.machine.shared_program().clone(),
            EngineConfig {
                default_presence: Presence::LoggedOut,
                ..EngineConfig::default()
            },
            durable,
        );
        for (agent, r) in &durable.registrations {
            self.bind(agent, r.contact.clone(), r.source, r.until);
        }
        self.registrations_changed = false;
        // What ended while the server was down ends now, by its own timer, as it would have
        // then: the agent is logged out, and the next save forgets it.
        self.handle_timeout(now);
    }

    /// The durable state, when it changed since the last call (to be saved).
    pub fn durable_if_changed(&mut self) -> Option<Durable> {
        let engine = self.engine.take_dirty();
        let registrations = std::mem::take(&mut self.registrations_changed);
        (engine || registrations).then(|| self.durable())
    }

    /// The durable state now: the engine's, and the phones' registrations.
    pub fn durable(&self) -> Durable {
        let mut d = self.engine.durable();
        d.registrations = self.registered();
        d
    }

    /// Whether to make events (somebody listens to the event stream).
    pub fn set_events(&mut self, on: bool) {
        self.events = on;
    }

    /// An event about a call, when somebody listens: its Call-ID, caller and what happened.
    fn call_event(&mut self, call: u64, what: &str, more: serde_json::Value) {
        if !self.events {
            return;
        }
        let Some(s) = self.calls.get(&call) else {
            return;
        };
        let mut e = serde_json::json!({
            "event": "call",
            "call_id": s.record.call_id,
            "caller": s.record.caller,
            "dialled": s.record.dialled,
            "flow": s.record.flow,
            "what": what,
        });
        if let (Some(e), serde_json::Value::Object(more)) = (e.as_object_mut(), more) {
            e.extend(more);
        }
        self.out.push_back(Out::Event(e.to_string()));
    }

    /// The passwords of agents whose phones register (by agent name).
    pub fn set_credentials(&mut self, credentials: HashMap<String, String>) {
        self.config.credentials = credentials;
    }

    /// Where agents' phones are from now on (by agent name).
    pub fn set_phones(&mut self, phones: HashMap<String, SocketAddr>) {
        self.config.agents = phones;
    }

    /// The program new calls run on.
    pub fn program_checksum(&self) -> u64 {
        self.machine.checksum()
    }

    /// Whether to refuse new calls because the loop cannot keep up (the driver measures it:
    /// `server::load`). Calls in progress go on as before.
    pub fn set_shedding(&mut self, on: bool) {
        if on != self.shedding && self.events {
            let what = if on { "shedding" } else { "keeping up" };
            let e = serde_json::json!({ "event": "server", "what": what });
            self.out.push_back(Out::Event(e.to_string()));
        }
        self.shedding = on;
    }

    /// Ends every call in progress (BYE, or 480 before answering) and refuses new ones.
    pub fn shutdown(&mut self, now: i64) {
        self.tick(now);
        self.config.max_calls = 0;
        let calls: Vec<u64> = self.calls.keys().copied().collect();
        for call in calls {
            if let Some(s) = self.calls.get_mut(&call) {
                s.record.outcome = "the server shut down".into();
            }
            self.hang_up(now, call, "the server shuts down");
        }
    }

    /// Our BYEs still waiting for their answer.
    pub fn pending_byes(&self) -> usize {
        self.byes.len()
    }

    /// Runs what is due at `now`: call timers, transactions, our BYEs, the engine.
    pub fn handle_timeout(&mut self, now: i64) {
        self.tick(now);
        while let Some((&(when, n), _)) = self.timers.iter().next() {
            if when > now {
                break;
            }
            let Some((call, g, t)) = self.timers.remove(&(when, n)) else {
                break;
            };
            match t {
                Timer::Wait if self.calls.get(&call).is_some_and(|s| s.generation == g) => {
                    self.wait_over(now, call);
                }
                Timer::Ringing if self.calls.get(&call).is_some_and(|s| !s.answered()) => {
                    self.ring(now, call);
                }
                Timer::Leg => self.leg_timeout(now, call),
                Timer::LegAck => self.forget_ack(call),
                Timer::Registration => self.registration_timeout(now, call),
                _ => {}
            }
        }
        while let Some((&(when, n), _)) = self.bye_timers.iter().next() {
            if when > now {
                break;
            }
            let Some(branch) = self.bye_timers.remove(&(when, n)) else {
                break;
            };
            let t2 = self.tx.timing.t2;
            let again = match self.byes.get_mut(&branch) {
                Some(b) if now < b.deadline => {
                    b.interval = (b.interval * 2).min(t2);
                    Some((b.to, b.bytes.clone(), now + b.interval))
                }
                Some(_) => {
                    self.byes.remove(&branch);
                    None
                }
                None => None,
            };
            if let Some((to, bytes, next)) = again {
                self.send(to, bytes);
                self.byes_timer(next, &branch);
            }
        }
        let actions = self.tx.handle_timeout(now);
        self.tx_actions(actions, now);
        self.engine.handle_timeout(ts(now));
        self.engine_actions(now);
        self.reload_when_idle();
    }
}

/// Notes in the call record what changed in the caller's consents since `before`.
fn consent_events(now: i64, machine: &Machine, s: &mut Session, before: (u32, u32)) {
    let (given, refused) = s.vm.consent_bits();
    if (given, refused) == before {
        return;
    }
    let p = machine.program();
    let Some(flow) = p.flows.get(s.vm.flow as usize) else {
        return;
    };
    for (i, &c) in flow.consents.iter().enumerate().take(32) {
        let bit = 1u32 << i;
        let event = if given & bit != 0 && before.0 & bit == 0 {
            "given"
        } else if refused & bit != 0 && before.1 & bit == 0 {
            if before.0 & bit != 0 {
                "withdrawn"
            } else {
                "refused"
            }
        } else {
            continue;
        };
        let consent = p
            .consents
            .get(c as usize)
            .map_or("?", |ci| p.str(ci.name))
            .to_string();
        s.record.consent.push(super::cdr::ConsentEvent {
            consent,
            event,
            at: now,
        });
    }
}

/// A Call-ID (the caller's text) as part of a file name: only letters, digits, `-` and `.`.
/// Ringback as Europe hears it (ETSI TR 101 041: 425 Hz, 1 s on, 4 s off), one period.
fn ringback() -> Prompt {
    Prompt::cadence(425.0, 1_000, 5_000)
}

fn safe_name(call_id: &str) -> String {
    call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect()
}

/// A voicemail message's metadata, written beside its audio as JSON (the box's e-mail address
/// stays metadata: sending mail is for another program).
fn message_metadata(now: i64, s: &Session, m: Message_, why: &str) -> Option<Out> {
    let started = m.started?;
    let json = serde_json::json!({
        "box": m.vbox,
        "reason": m.reason,
        "caller": s.record.caller,
        "dialled": s.record.dialled,
        "call_id": s.record.call_id,
        "started": started,
        "duration_ms": now - started,
        "ended_by": why,
        "audio": m.audio.file_name().map(|f| f.to_string_lossy().into_owned()),
        "email": m.email,
    });
    Some(Out::File {
        path: m.audio.with_extension("json"),
        contents: format!("{json:#}\n"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn our_tag_is_what_follows_the_last_tag_parameter() {
        for h in [
            "<sip:200@127.0.0.1>;tag=cf1",
            "<sip:200@127.0.0.1;tag=inside>;x=1;tag=last",
            "<sip:200@127.0.0.1>",
            "<sip:200@127.0.0.1>;tag=",
            ";tag=;tag=two",
            ";;tag;tag=x;",
            "",
        ] {
            let reference = h.rsplit_once(";tag=").map_or("", |x| x.1);
            assert_eq!(super::tag_of(h), reference, "{h:?}");
        }
    }
}
