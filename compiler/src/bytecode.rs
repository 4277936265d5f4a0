//! The bytecode: one `Program` per project — the instruction stream of every flow, constant
//! pools (strings, prompts, calendars, groups, ...), per-menu key tables, calendars resolved to
//! fast lookups, and a debug table mapping every instruction to its source span. Documented in
//! `docs/bytecode.md`. `lower` builds it, `verify` proves it safe to run, `format` stores it,
//! `disasm` prints it. Plain data; the VM in `callflow-runtime` runs it.

pub mod disasm;
pub mod format;
pub mod verify;

use crate::outcome::{Handler, Outcome};
use crate::pattern::Pattern;
use serde::{Deserialize, Serialize};

/// An index into `Program::code`.
pub type Pc = u32;

/// Variable slots: the four built-ins, then each flow's own variables.
pub mod var {
    pub const CALLER: u16 = 0;
    pub const DIALLED: u16 = 1;
    pub const KEY: u16 = 2;
    pub const LANGUAGE: u16 = 3;
    /// The first slot of a flow's own variables.
    pub const FIRST_USER: u16 = 4;
    pub const BUILTIN_NAMES: [&str; 4] = ["caller", "dialled", "key", "language"];
}

/// "No consent named": `consented` without a name (any consent of the flow given).
pub const ANY_CONSENT: u16 = u16::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stat {
    AgentsAvailable,
    LoggedIn,
    QueueLength,
    /// Milliseconds the longest-waiting caller has waited.
    WaitingTime,
    /// Milliseconds a new caller is expected to wait.
    ExpectedWait,
}

impl Stat {
    pub fn name(self) -> &'static str {
        match self {
            Stat::AgentsAvailable => "agents_available",
            Stat::LoggedIn => "logged_in",
            Stat::QueueLength => "queue_length",
            Stat::WaitingTime => "waiting_time",
            Stat::ExpectedWait => "expected_wait",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Why a caller reaches a voicemail box; picks the greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    Default,
    Busy,
    NoAnswer,
    Closed,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Default => "default",
            Reason::Busy => "busy",
            Reason::NoAnswer => "no_answer",
            Reason::Closed => "closed",
        }
    }
}

/// One instruction. Values live on a small operand stack that is empty at every effect (so a
/// call's suspended state never holds it); the comment says what each pops and pushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Instr {
    // ---- values (push 1) ----
    PushBool(bool),
    PushInt(i64),
    /// A string constant.
    PushStr(u32),
    /// A variable slot (see [`var`]).
    Load(u16),
    /// A field of a lookup's last answer (empty text when absent).
    Field {
        lookup: u16,
        field: u32,
    },
    /// Is the flow's hours table open now?
    Open(u16),
    /// Is today a day of the calendar?
    Holiday(u16),
    /// Is the operator switch on?
    Switch(u16),
    /// Has the caller consented (to this consent, or any with [`ANY_CONSENT`]) and not withdrawn?
    Consented(u16),
    /// A group statistic (count, or milliseconds).
    Stat {
        group: u16,
        stat: Stat,
    },
    /// Is the caller anonymous?
    Anonymous,
    // ---- operators ----
    /// Pop 2, push the comparison (numbers compare as numbers, texts as texts).
    Cmp(Cmp),
    /// Pop text and prefix, push whether the text starts with it (numbers compared digit-wise).
    StartsWith,
    /// Pop text, push whether it matches a number pattern.
    Matches(u32),
    /// Pop a value, push whether it is in a constant set.
    In(u32),
    /// Pop a bool, push its negation.
    Not,
    /// Pop 2 numbers (or durations in ms), push their sum (saturating; a value that is not a
    /// number, such as a variable not set yet, counts as 0).
    Add,
    /// Pop 2 numbers (or durations), push the first minus the second (saturating).
    Sub,
    /// Pop 2 values, push their texts joined.
    Join,
    /// Pop a number: the queue priority of the call's next `Route` (higher waits ahead; a
    /// value that is not a number counts as 0).
    Priority,
    // ---- control ----
    Jump(Pc),
    /// Pop a bool; jump when true.
    JumpIf(Pc),
    /// Pop a bool; jump when false.
    JumpIfNot(Pc),
    /// Enter a subflow; `Return` comes back to the next instruction.
    Call(Pc),
    Return,
    /// Jump to a block, abandoning any menus and subflows in progress.
    Goto(Pc),
    /// Pop a value into a variable.
    Store(u16),
    /// Set the prompt language (a string constant).
    SetLang(u32),
    // ---- effects (the VM yields; the runtime performs them and resumes) ----
    Play {
        prompt: u32,
        interruptible: bool,
        /// Early media: played before answering, the call left unanswered.
        early: bool,
    },
    /// Pop a value and say it as a number or digit by digit.
    Say {
        digits: bool,
    },
    /// Enter a menu: remember where to continue, then offer it.
    MenuEnter(u16),
    /// Offer the current menu (prompt, collect keys) and dispatch on the answer.
    MenuWait(u16),
    /// After `invalid`/`timeout` handling: offer again, or run `exhausted`.
    MenuRetry(u16),
    /// Leave the current menu, continuing after its `menu` statement.
    MenuExit,
    Back,
    Top,
    Repeat,
    CollectEnter(u16),
    CollectWait(u16),
    CollectRetry(u16),
    /// Ring a group (with its queue); the outcome picks the continuation.
    Route(u16),
    /// Pop the target (number or SIP URI) and transfer the call; ends the flow.
    Transfer,
    Voicemail {
        vbox: u16,
        reason: Reason,
    },
    /// Ask a lookup (a [`LookupSite`]).
    Lookup(u16),
    Ask(u16),
    /// Start recording the sides given, if the consent it needs is given (the VM checks
    /// whatever the flow says; [`ANY_CONSENT`] when the flow asks for none, so it never
    /// records).
    Record(u16, Sides),
    StopRecording,
    /// Answer the call (200 OK) if it is not answered yet.
    Answer,
    /// Wait this many milliseconds.
    Wait(u32),
    Hangup,
}

impl Instr {
    /// Whether the instruction only computes and branches: no effect, no frame change, nothing
    /// that suspends the call. The VM may stop only at the others, so the operand stack must be
    /// empty there (the verifier), and native code may run runs of these (the JIT).
    pub fn is_pure(self) -> bool {
        matches!(
            self,
            Instr::PushBool(_)
                | Instr::PushInt(_)
                | Instr::PushStr(_)
                | Instr::Load(_)
                | Instr::Field { .. }
                | Instr::Open(_)
                | Instr::Holiday(_)
                | Instr::Switch(_)
                | Instr::Consented(_)
                | Instr::Stat { .. }
                | Instr::Anonymous
                | Instr::Cmp(_)
                | Instr::StartsWith
                | Instr::Matches(_)
                | Instr::In(_)
                | Instr::Not
                | Instr::Add
                | Instr::Sub
                | Instr::Join
                | Instr::Priority
                | Instr::Jump(_)
                | Instr::JumpIf(_)
                | Instr::JumpIfNot(_)
                | Instr::Store(_)
                | Instr::SetLang(_)
        )
    }
}

/// Where an instruction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Loc {
    pub file: u16,
    pub start: u32,
    pub end: u32,
    pub line: u32,
    /// Added by the compiler at the end of a body (not written by the admin).
    pub implicit: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebugFile {
    pub name: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowInfo {
    pub name: u32,
    /// Normalized numbers (`+493025555366`, `200`).
    pub numbers: Vec<u32>,
    /// IANA zone name; `None` means UTC.
    pub timezone: Option<u32>,
    /// ISO country code whose national numbers the flow reads (`country "DE"`).
    #[serde(default)]
    pub country: Option<u32>,
    pub languages: Vec<u32>,
    pub entry: Pc,
    /// The flow's variables occupy slots `FIRST_USER..FIRST_USER + vars.len()`; names here.
    pub vars: Vec<u32>,
    /// The flow's consents (indices into `Program::consents`).
    pub consents: Vec<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptInfo {
    pub name: u32,
    /// `(language, file)`; language `None` for one file in every language.
    pub files: Vec<(Option<u32>, u32)>,
}

/// Weekly opening times as a bit per minute of the week (Monday 00:00 = bit 0), special days
/// with their own windows, and the holiday calendars on which it is closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoursTable {
    pub name: u32,
    pub week: Vec<u64>,
    /// `(day, windows in minutes [start, end))`, sorted by day (days since 1970-01-01, civil).
    pub special: Vec<(i32, Vec<(u16, u16)>)>,
    pub closed_on: Vec<u16>,
}

/// Number of `u64` words of a minute-of-week bit set.
pub const WEEK_WORDS: usize = 7 * 1440 / 64 + 1;

/// Holiday rules expanded to days for these years (inclusive).
pub const CALENDAR_YEARS: (i16, i16) = (2000, 2099);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarTable {
    pub name: u32,
    /// Sorted days since 1970-01-01 (civil), with the holiday's label (string) if any.
    pub days: Vec<(i32, Option<u32>)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchInfo {
    pub name: u32,
    pub default_on: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    RingAll,
    Sequential,
    Random,
    Priority,
    LeastBusy,
    LongestIdle,
    RoundRobin,
    Skills,
}

impl Strategy {
    pub const ALL: [Strategy; 8] = [
        Strategy::RingAll,
        Strategy::Sequential,
        Strategy::Random,
        Strategy::Priority,
        Strategy::LeastBusy,
        Strategy::LongestIdle,
        Strategy::RoundRobin,
        Strategy::Skills,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Strategy::RingAll => "ring_all",
            Strategy::Sequential => "sequential",
            Strategy::Random => "random",
            Strategy::Priority => "priority",
            Strategy::LeastBusy => "least_busy",
            Strategy::LongestIdle => "longest_idle",
            Strategy::RoundRobin => "round_robin",
            Strategy::Skills => "skills",
        }
    }
    pub fn from_name(s: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|x| x.name() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub name: u32,
    pub strategy: Strategy,
    pub ring_ms: u64,
    pub wrap_up_ms: u64,
    /// `(agent, tier)` in the written order; tier 0 when none was given.
    pub members: Vec<(u16, u32)>,
    /// `(tier, ms)`: the tier rings only once the caller has waited this long (`tier 2 after
    /// 5m`); tiers not listed open at once.
    #[serde(default)]
    pub tier_opens_ms: Vec<(u32, u64)>,
    /// `(skill name, lowest level)`.
    pub require: Vec<(u32, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub name: u32,
    pub display: Option<u32>,
    pub contact: u32,
    pub skills: Vec<(u32, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxInfo {
    pub name: u32,
    /// Greeting prompt per [`Reason`] (`Default`, `Busy`, `NoAnswer`, `Closed`).
    pub greetings: [Option<u32>; 4],
    pub max_length_ms: Option<u64>,
    pub email: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupInfo {
    pub name: u32,
    pub url: u32,
    pub timeout_ms: u64,
    /// Tries after a failed one (not after "not found"), and the pause before each.
    pub retries: u32,
    pub retry_ms: u64,
    pub fields: Vec<u32>,
}

/// One `lookup` statement: which lookup, and where each outcome continues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupSite {
    pub lookup: u16,
    /// Continuations for `error =>` and `not_found =>` (none: continue after the lookup).
    pub on_error: Option<Pc>,
    pub on_not_found: Option<Pc>,
    /// The instruction after the lookup statement.
    pub after: Pc,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentInfo {
    pub name: u32,
    pub prompt: u32,
    pub accept: u32,
    pub refuse: u32,
    pub withdraw: Option<u32>,
    pub silence_accepts: bool,
    pub timeout_ms: u64,
    /// Consent by notice: `prompt` heard in full gives it (no keys asked).
    #[serde(default)]
    pub notice: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuInfo {
    pub name: u32,
    /// The prompts played before `prompt` on a fresh offer (`prompt "a", "b", "c"`: a, b).
    pub intro: Vec<u32>,
    /// The prompt keys are asked with (the last of the list).
    pub prompt: u32,
    pub repeat_prompt: Option<u32>,
    pub timeout_ms: u64,
    pub digit_timeout_ms: u64,
    /// How often the menu is offered again after a wrong key (`u32::MAX`: without limit).
    pub retries: u32,
    /// How often it is offered again after no key at all (`u32::MAX`: without limit).
    pub timeout_retries: u32,
    /// Whether wrong keys and silence are counted apart (`retries invalid`/`timeout` given);
    /// otherwise every failed try counts against `retries`.
    pub counted_apart: bool,
    /// Longest key, in digits (how many to collect at most).
    pub max_len: u32,
    /// Exact keys sorted by key text (binary search), then patterns in written order.
    pub keys: Vec<(u32, Pc)>,
    pub patterns: Vec<(Pattern, Pc)>,
    pub invalid: Option<Pc>,
    pub timeout: Option<Pc>,
    pub exhausted: Option<Pc>,
    pub wait: Pc,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectInfo {
    pub var: u16,
    pub prompt: u32,
    pub min_len: u32,
    pub max_len: u32,
    pub terminator: Option<u32>,
    pub timeout_ms: u64,
    pub digit_timeout_ms: u64,
    pub retries: u32,
    pub invalid: Option<Pc>,
    pub timeout: Option<Pc>,
    pub exhausted: Option<Pc>,
    pub wait: Pc,
    /// Where the flow goes on once digits were collected (or retries ran out).
    pub done: Pc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sticky {
    None,
    /// The agent the caller spoke to today (in the flow's time zone).
    Today,
    For(u64),
}

/// What a recording holds: the caller, the agent (once connected), or both in one track.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sides {
    Caller,
    Agent,
    #[default]
    Both,
}

impl Sides {
    pub fn name(self) -> &'static str {
        match self {
            Sides::Caller => "caller",
            Sides::Agent => "agent",
            Sides::Both => "both",
        }
    }

    pub fn caller(self) -> bool {
        self != Sides::Agent
    }

    pub fn agent(self) -> bool {
        self != Sides::Caller
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordMode {
    Off,
    Always,
    IfConsented,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnnounceKind {
    /// The caller's position, up to `up_to` (0: any); above it the prompt `over`, or nothing.
    Position {
        up_to: u32,
        over: Option<u32>,
    },
    /// The expected wait, rounded up to `step_ms` (0: to the minute).
    ExpectedWait {
        step_ms: u64,
    },
    Prompt(u32),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueInfo {
    pub music: Option<u32>,
    pub greeting: Option<u32>,
    /// What to announce and how often (`None`: once, on entering the queue).
    pub announcements: Vec<(AnnounceKind, Option<u64>)>,
    pub max_wait_ms: Option<u64>,
    pub max_length: Option<u32>,
    /// Keys that leave the queue, with their continuations.
    pub exit_keys: Vec<(u32, Pc)>,
    pub on_max_wait: Option<Pc>,
    pub on_max_length: Option<Pc>,
    /// The pause between ring rounds nobody answered (`retry`; `None`: the engine's default).
    #[serde(default)]
    pub retry_ms: Option<u64>,
    /// At least this long between two announcements to a caller (`announce_gap`; 0: none).
    #[serde(default)]
    pub announce_gap_ms: u64,
    /// How long a caller who hung up while waiting keeps their place (`keep_place`).
    #[serde(default)]
    pub keep_place_ms: Option<u64>,
    /// How long callers wait with nobody of the group logged in (`no_agents 30s`; 0: not at
    /// all), and the handler then (else `busy`, else `no_answer`).
    #[serde(default)]
    pub no_agents_ms: u64,
    #[serde(default)]
    pub on_no_agents: Option<Pc>,
    /// Callers wait only while these hours are open (`hours H`), then `on_closed` (else
    /// `no_answer`).
    #[serde(default)]
    pub hours: Option<u16>,
    #[serde(default)]
    pub on_closed: Option<Pc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    pub group: u16,
    pub sticky: Sticky,
    pub record: RecordMode,
    /// What the recording of the conversation holds.
    #[serde(default)]
    pub record_sides: Sides,
    /// The consent the recording needs ([`ANY_CONSENT`] when the flow asks for none).
    pub record_consent: u16,
    pub require: Vec<(u32, u32)>,
    pub queue: Option<QueueInfo>,
    pub no_answer: Option<Pc>,
    /// Every phone rung failed (`error =>`).
    #[serde(default)]
    pub error: Option<Pc>,
    pub busy: Option<Pc>,
    /// The instruction after the route statement (outcomes without a handler go on here).
    pub after: Pc,
}

impl RouteInfo {
    /// The handlers the route has, by outcome (the route's, then its queue's; exit keys and
    /// `after` apart): the one list the verifier, the continuation table and the disassembler
    /// read.
    pub fn handlers(&self) -> impl Iterator<Item = (&'static str, Pc)> + '_ {
        Handler::ALL
            .into_iter()
            .filter_map(|h| Some((h.name(), self.handler(h)?)))
    }

    /// The route's (or its queue's) handler `h`, if it has one.
    pub fn handler(&self, h: Handler) -> Option<Pc> {
        let q = self.queue.as_ref();
        match h {
            Handler::NoAnswer => self.no_answer,
            Handler::Busy => self.busy,
            Handler::Error => self.error,
            Handler::MaxWait => q.and_then(|q| q.on_max_wait),
            Handler::MaxLength => q.and_then(|q| q.on_max_length),
            Handler::NoAgents => q.and_then(|q| q.on_no_agents),
            Handler::Closed => q.and_then(|q| q.on_closed),
        }
    }

    /// Where the call goes on when the route ends this way: the first of the outcome's
    /// fallbacks the route has, else the statement after it.
    pub fn goes_to(&self, outcome: Outcome) -> Pc {
        outcome.resolve(|h| self.handler(h)).unwrap_or(self.after)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Const {
    Str(u32),
    Int(i64),
}

/// A compiled project.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    pub code: Vec<Instr>,
    pub debug: Vec<Loc>,
    pub files: Vec<DebugFile>,
    pub strings: Vec<String>,
    pub flows: Vec<FlowInfo>,
    pub prompts: Vec<PromptInfo>,
    pub hours: Vec<HoursTable>,
    pub calendars: Vec<CalendarTable>,
    pub switches: Vec<SwitchInfo>,
    pub groups: Vec<GroupInfo>,
    pub agents: Vec<AgentInfo>,
    pub boxes: Vec<BoxInfo>,
    pub lookups: Vec<LookupInfo>,
    pub lookup_sites: Vec<LookupSite>,
    pub consents: Vec<ConsentInfo>,
    pub menus: Vec<MenuInfo>,
    pub collects: Vec<CollectInfo>,
    pub routes: Vec<RouteInfo>,
    pub patterns: Vec<Pattern>,
    pub sets: Vec<Vec<Const>>,
}

impl Program {
    /// A string constant (empty when out of range; the verifier rules that out).
    pub fn str(&self, i: u32) -> &str {
        self.strings.get(i as usize).map_or("", String::as_str)
    }

    /// The flow answering `number` (normalized), if any.
    pub fn flow_for(&self, number: &str) -> Option<usize> {
        self.flows
            .iter()
            .position(|f| f.numbers.iter().any(|&n| self.str(n) == number))
    }

    /// The country whose national numbers a flow reads (`country "DE"`).
    pub fn country(&self, flow: usize) -> Option<&'static crate::numbers::Country> {
        let c = self.flows.get(flow)?.country?;
        crate::numbers::Country::find(self.str(c))
    }

    /// The flow a dialled number reaches, and the number as the flow reads it: as written
    /// (international or internal), or in the national form of a flow's country
    /// (`03025555100` reaches the flow with `country "DE"` that answers `+493025555100`).
    pub fn flow_for_dialled(&self, dialled: &str) -> Option<(usize, String)> {
        if let Some(n) = crate::numbers::normalize(dialled) {
            if let Some(f) = self.flow_for(&n) {
                return Some((f, n));
            }
        }
        (0..self.flows.len()).find_map(|i| {
            let n = crate::numbers::normalize_in(dialled, Some(self.country(i)?))?;
            let f = self.flow_for(&n).filter(|&f| f == i)?;
            Some((f, n))
        })
    }

    /// Where execution goes on after an effect, as listed in the tables: menu waits, keys and
    /// handlers, collect waits, results and handlers, route and lookup outcomes. (Besides these,
    /// code is entered at flow entries, jump and call targets, and after a `MenuEnter`.)
    pub fn continuations(&self) -> Vec<Pc> {
        let mut out = Vec::new();
        for m in &self.menus {
            out.push(m.wait);
            out.extend(m.keys.iter().map(|k| k.1));
            out.extend(m.patterns.iter().map(|k| k.1));
            out.extend(m.invalid.iter().chain(&m.timeout).chain(&m.exhausted));
        }
        for c in &self.collects {
            out.extend([c.wait, c.done]);
            out.extend(c.invalid.iter().chain(&c.timeout).chain(&c.exhausted));
        }
        for r in &self.routes {
            out.push(r.after);
            out.extend(r.handlers().map(|h| h.1));
            if let Some(q) = &r.queue {
                out.extend(q.exit_keys.iter().map(|k| k.1));
            }
        }
        for l in &self.lookup_sites {
            out.push(l.after);
            out.extend(l.on_error.iter().chain(&l.on_not_found));
        }
        out
    }

    pub fn flow_named(&self, name: &str) -> Option<usize> {
        self.flows.iter().position(|f| self.str(f.name) == name)
    }
}

/// Days since 1970-01-01 of a civil date.
pub fn day_number(d: jiff::civil::Date) -> i32 {
    let epoch = jiff::civil::date(1970, 1, 1);
    (d - epoch).get_days()
}

/// Whether the minute-of-week bit is set.
pub fn week_bit(week: &[u64], minute: u32) -> bool {
    week.get(minute as usize / 64)
        .is_some_and(|w| w >> (minute % 64) & 1 == 1)
}
