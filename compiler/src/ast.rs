//! The typed syntax tree of one `.flow` file, as written: names are still text, values are
//! still unchecked. Produced by `syntax`, consumed by `check`. Every node carries its span.

use crate::source::{FileId, Span};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// Text in quotes (unescaped) and its span including the quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub value: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duration {
    pub millis: u64,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    pub value: u32,
    pub span: Span,
}

#[derive(Debug, Default)]
pub struct Module {
    pub file: FileId,
    pub items: Vec<Item>,
    /// `country "DE"` at the top of the file: the country of its flows that name none, and of
    /// the flows of files that use it.
    pub country: Option<Text>,
}

#[derive(Debug)]
pub enum Item {
    Use(Text),
    Flow(Flow),
    Hours(Hours),
    Holidays(Holidays),
    Group(Group),
    Agent(Agent),
    Voicemail(Voicemail),
    Prompt(PromptDef),
    Switch(Switch),
    Lookup(Lookup),
    Test(TestDef),
}

/// What kind of thing a top-level or flow-level name defines (for messages and lookups).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DefKind {
    Flow,
    Hours,
    Holidays,
    Group,
    Agent,
    Voicemail,
    Prompt,
    Switch,
    Lookup,
    Menu,
    Consent,
    Block,
    Subflow,
    Test,
}

impl DefKind {
    /// The keyword that defines it, as admins write it.
    pub fn keyword(self) -> &'static str {
        match self {
            DefKind::Flow => "flow",
            DefKind::Hours => "hours",
            DefKind::Holidays => "holidays",
            DefKind::Group => "group",
            DefKind::Agent => "agent",
            DefKind::Voicemail => "voicemail",
            DefKind::Prompt => "prompt",
            DefKind::Switch => "switch",
            DefKind::Lookup => "lookup",
            DefKind::Menu => "menu",
            DefKind::Consent => "consent",
            DefKind::Block => "block",
            DefKind::Subflow => "subflow",
            DefKind::Test => "test",
        }
    }

    /// "a group", "an agent", ...
    pub fn article(self) -> String {
        let k = match self {
            DefKind::Hours => "set of hours",
            DefKind::Holidays => "holiday calendar",
            DefKind::Voicemail => "voicemail box",
            DefKind::Switch => "switch",
            other => other.keyword(),
        };
        let an = matches!(k.as_bytes()[0], b'a' | b'e' | b'i' | b'o' | b'u');
        format!("{} {k}", if an { "an" } else { "a" })
    }
}

#[derive(Debug)]
pub struct Flow {
    pub name: Ident,
    pub keyword: Span,
    pub numbers: Vec<Text>,
    pub timezone: Option<Text>,
    /// `country "DE"`: numbers written the national way are read in this country's plan.
    pub country: Option<Text>,
    /// Without a country of its own or its file's: the country of the files the flow's file
    /// uses, settled once by the checks (`check::countries`).
    pub used_country: std::cell::OnceCell<Option<&'static crate::numbers::Country>>,
    pub languages: Vec<Ident>,
    pub prompts_dir: Option<Text>,
    pub start: Option<Body>,
    pub start_keyword: Option<Span>,
    pub procs: Vec<Proc>,
    pub menus: Vec<Menu>,
    pub consents: Vec<Consent>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcKind {
    /// `block NAME { }`: entered by `goto`, ends the call at its end.
    Block,
    /// `subflow NAME { }`: entered by `call`, returns at its end or at `return`.
    Subflow,
}

#[derive(Debug)]
pub struct Proc {
    pub kind: ProcKind,
    pub name: Ident,
    pub body: Body,
}

/// A sequence of statements; `end` is the closing brace (or the end of the arm).
#[derive(Clone, Debug)]
pub struct Body {
    pub stmts: Vec<Stmt>,
    pub span: Span,
    pub end: Span,
}

#[derive(Clone, Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
    /// The keyword (or first token) of the statement.
    pub keyword: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SayKind {
    Number,
    Digits,
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    Play {
        prompt: Text,
        interruptible: bool,
        /// `play "closed" early`: played before answering (early media, SIP 183), so an
        /// announcement can be heard without the call being answered (and charged).
        early: bool,
    },
    Say {
        kind: SayKind,
        value: Expr,
    },
    Menu(Ident),
    Collect(Box<Collect>),
    Language(Ident),
    If(Box<If>),
    Set {
        var: Ident,
        value: Expr,
    },
    Goto(Ident),
    Call(Ident),
    Return,
    Route(Box<Route>),
    Transfer(Expr),
    Voicemail {
        target: Ident,
        reason: Option<Ident>,
    },
    Lookup {
        name: Ident,
        handlers: Vec<Handler>,
    },
    Ask(Ident),
    Record(RecordSpec),
    StopRecording,
    /// `answer`: connect the call now (it is answered by the first statement that needs it
    /// anyway).
    Answer,
    /// `wait 2s`: nothing for a while (ringing, if the call is not answered yet).
    Wait(Duration),
    Hangup,
    Back,
    Top,
    Repeat,
}

/// `record`, `record if consented`, `record if consented(NAME)` (statement or route setting).
#[derive(Clone, Debug)]
pub struct RecordSpec {
    /// `record caller` / `record agent` / `record both` (the default).
    pub sides: Option<Ident>,
    /// `if consented`: records only when the consent is given (never an error).
    pub guarded: bool,
    /// The consent it needs; `None`: the flow's only consent.
    pub consent: Option<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct If {
    pub branches: Vec<(Cond, Body)>,
    pub otherwise: Option<Body>,
}

/// `event => statement` or `event => { ... }`.
#[derive(Clone, Debug)]
pub struct Handler {
    pub event: Ident,
    pub body: Body,
}

#[derive(Debug)]
pub struct Menu {
    pub name: Ident,
    pub prompt: Option<Text>,
    /// `prompt "a", "b", "c"`: the prompts after the first, played in order (keys are taken
    /// from the first one on; the timeout starts after the last).
    pub more_prompts: Vec<Text>,
    pub repeat_prompt: Option<Text>,
    pub timeout: Option<Duration>,
    pub digit_timeout: Option<Duration>,
    /// `retries N`: the tries after a wrong key and after silence alike.
    pub retries: Option<Count>,
    /// `retries invalid N|unlimited` (and plain `retries unlimited`): after wrong keys.
    pub retries_invalid: Option<Retries>,
    /// `retries timeout N|unlimited` (and plain `retries unlimited`): after silence.
    pub retries_timeout: Option<Retries>,
    pub arms: Vec<KeyArm>,
    pub handlers: Vec<Handler>,
    pub span: Span,
}

/// How often a menu is offered again after one kind of failed try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retries {
    Times(Count),
    Unlimited(Span),
}

#[derive(Clone, Debug)]
pub struct KeyArm {
    pub key: Text,
    pub body: Body,
}

#[derive(Clone, Debug)]
pub struct Collect {
    pub var: Ident,
    pub prompt: Option<Text>,
    pub min_len: Option<Count>,
    pub max_len: Option<Count>,
    pub terminator: Option<Text>,
    pub timeout: Option<Duration>,
    pub digit_timeout: Option<Duration>,
    pub retries: Option<Count>,
    pub handlers: Vec<Handler>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentAnswer {
    Accept,
    Refuse,
}

#[derive(Debug)]
pub struct Consent {
    pub name: Ident,
    pub prompt: Option<Text>,
    /// `notice "prompt"`: consent by hearing the announcement in full (no keys).
    pub notice: Option<Text>,
    pub accept: Option<Text>,
    pub refuse: Option<Text>,
    pub silence: Option<(ConsentAnswer, Span)>,
    pub withdraw: Option<Text>,
    pub timeout: Option<Duration>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Sticky {
    Today(Span),
    For(Duration),
}

#[derive(Clone, Debug)]
pub struct Skill {
    pub name: Ident,
    pub level: Count,
}

#[derive(Clone, Debug)]
pub struct Route {
    /// The group (with `by`: the first candidate).
    pub group: Ident,
    /// `route by VALUE among g1, g2 { ... }`: the group named by a value at run time.
    pub choice: Option<RouteChoice>,
    pub sticky: Option<Sticky>,
    /// `record` (false) or `record if consented` (true), with its span.
    pub record: Option<RecordSpec>,
    pub require: Vec<Skill>,
    /// `priority VALUE`: a caller with a higher number waits ahead of others in the queue.
    pub priority: Option<Expr>,
    pub queue: Option<Queue>,
    pub handlers: Vec<Handler>,
    pub span: Span,
}

/// A group chosen at run time: the value, and the groups it may name.
#[derive(Clone, Debug)]
pub struct RouteChoice {
    pub value: Expr,
    pub among: Vec<Ident>,
}

#[derive(Clone, Debug)]
pub enum AnnounceWhat {
    Position,
    ExpectedWait,
    Prompt(Text),
}

#[derive(Clone, Debug)]
pub struct Announce {
    pub what: AnnounceWhat,
    pub every: Option<Duration>,
    /// `announce position ... up to 10 [else "prompt"]`: positions above this are not said;
    /// the prompt (if any) is played instead ("more than ten callers are ahead of you").
    pub up_to: Option<(Count, Option<Text>)>,
    /// `announce expected_wait ... rounded 5m`: said rounded up to this step.
    pub rounded: Option<Duration>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct NoAgents {
    pub wait: Option<Duration>,
    pub body: Option<Body>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Queue {
    pub music: Option<Text>,
    pub greeting: Option<Text>,
    pub announcements: Vec<Announce>,
    pub max_wait: Option<(Duration, Option<Body>)>,
    pub max_length: Option<(Count, Option<Body>)>,
    pub exit_keys: Vec<KeyArm>,
    /// `retry 10s`: the pause in the queue between ring rounds nobody answered.
    pub retry: Option<Duration>,
    /// `keep_place 5m`: a caller who hangs up while waiting and calls again within this time
    /// gets their place back.
    pub keep_place: Option<Duration>,
    /// `announce_gap 30s`: at least this long between two announcements to a caller.
    pub announce_gap: Option<Duration>,
    /// `hours sales_hours [=> statement]`: callers wait only while these hours are open; when
    /// they close (or are closed when the caller comes), the handler runs.
    pub hours: Option<(Ident, Option<Body>)>,
    /// `no_agents [30s] [=> statement]`: nobody of the group is logged in (when the caller
    /// comes, or the last agent logs out while they wait): how long to keep waiting for one,
    /// and what follows.
    pub no_agents: Option<NoAgents>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Member {
    pub agent: Ident,
    pub tier: Option<Count>,
}

/// `tier 2 after 5m ...`: when a tier opens, counted from the caller's arrival at the group.
#[derive(Clone, Copy, Debug)]
pub struct TierOpens {
    pub tier: Count,
    pub after: Duration,
}

#[derive(Debug)]
pub struct Group {
    pub name: Ident,
    pub members: Vec<Member>,
    /// `tier 2 after 5m`: the tier is rung only once the caller has waited this long.
    pub opens: Vec<TierOpens>,
    pub strategy: Option<Ident>,
    pub ring: Option<Duration>,
    pub wrap_up: Option<Duration>,
    pub require: Vec<Skill>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Agent {
    pub name: Ident,
    pub display: Option<Text>,
    pub contact: Option<Text>,
    pub skills: Vec<Skill>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Voicemail {
    pub name: Ident,
    /// `greeting [busy|no_answer|closed] "prompt"`.
    pub greetings: Vec<(Option<Ident>, Text)>,
    pub max_length: Option<Duration>,
    pub email: Option<Text>,
    pub span: Span,
}

#[derive(Debug)]
pub struct PromptDef {
    pub name: Ident,
    /// `(language, file)`; language `None` for one file for every language.
    pub files: Vec<(Option<Ident>, Text)>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Switch {
    pub name: Ident,
    pub default_on: Option<(bool, Span)>,
    pub description: Option<Text>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Lookup {
    pub name: Ident,
    pub url: Option<Text>,
    pub timeout: Option<Duration>,
    /// `retries 2 after 1s`: ask again after a failure (not after "not found"), this long
    /// after the failed try.
    pub retries: Option<(Count, Option<Duration>)>,
    pub fields: Vec<Ident>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateLit {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetLit {
    /// Minutes east of UTC.
    pub minutes: i32,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeLit {
    /// Minutes since midnight as written (may be out of range; checked later).
    pub hour: u32,
    pub minute: u32,
    pub span: Span,
}

impl TimeLit {
    pub fn minutes(self) -> u32 {
        self.hour * 60 + self.minute
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: TimeLit,
    pub end: TimeLit,
    pub span: Span,
}

pub use crate::week::Weekday;

#[derive(Debug)]
pub enum HoursRule {
    /// `mon-fri 08:00-12:00, 13:00-17:00 [overnight]`.
    Weekly {
        days: Vec<Weekday>,
        days_span: Span,
        windows: Vec<Window>,
        overnight: Option<Span>,
        span: Span,
    },
    /// `2026-12-31 09:00-12:00` or `2026-12-24..2026-12-26 closed`.
    Special {
        from: DateLit,
        to: Option<DateLit>,
        windows: Vec<Window>,
        span: Span,
    },
}

#[derive(Debug)]
pub struct Hours {
    pub name: Ident,
    pub rules: Vec<HoursRule>,
    /// `closed holidays_name`: closed on the days of these calendars.
    pub closed_on: Vec<Ident>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nth {
    Nth(u8),
    Last,
}

#[derive(Debug)]
pub enum HolidayKind {
    Date(DateLit),
    Range(DateLit, DateLit),
    /// `every 12-25`; `every 07-04 observed`: on Friday when the day is a Saturday, on Monday
    /// when it is a Sunday.
    Yearly {
        month: u8,
        day: u8,
        observed: bool,
    },
    /// `fourth thursday of november`, `last monday of may`.
    NthWeekday {
        nth: Nth,
        weekday: Weekday,
        month: u8,
    },
    /// `easter`, `easter + 1`, `easter - 2`.
    Easter {
        offset: i32,
    },
}

#[derive(Debug)]
pub struct Holiday {
    pub kind: HolidayKind,
    pub label: Option<Text>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Holidays {
    pub name: Ident,
    pub entries: Vec<Holiday>,
    pub span: Span,
}

/// Values in conditions and statements.
#[derive(Clone, Debug)]
pub enum Expr {
    Text(Text),
    Number(Count),
    Duration(Duration),
    /// A plain name: a variable or a built-in value (`caller`, `dialled`, `key`, ...).
    Name(Ident),
    /// `lookup.field`.
    Field {
        lookup: Ident,
        field: Ident,
    },
    /// `function(args)`: `open(office_hours)`, `queue_length(sales)`, ...
    Call {
        func: Ident,
        args: Vec<Ident>,
        span: Span,
    },
    /// `tries + 1`, `"0" + digits` (joining texts), `expected_wait(sales) - 1m`.
    Binary {
        op: ArithOp,
        op_span: Span,
        left: Box<Expr>,
        right: Box<Expr>,
    },
}

/// `+` adds numbers or durations and joins texts; `-` subtracts numbers or durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
}

impl ArithOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
        }
    }
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Text(t) => t.span,
            Expr::Number(c) => c.span,
            Expr::Duration(d) => d.span,
            Expr::Name(i) => i.span,
            Expr::Field { lookup, field } => lookup.span.to(field.span),
            Expr::Call { span, .. } => *span,
            Expr::Binary { left, right, .. } => left.span().to(right.span()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    StartsWith,
    Matches,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::StartsWith => "starts_with",
            CmpOp::Matches => "matches",
        }
    }
}

#[derive(Clone, Debug)]
pub enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>, Span),
    Compare {
        left: Expr,
        op: CmpOp,
        op_span: Span,
        right: Expr,
    },
    In {
        left: Expr,
        list: Vec<Expr>,
        span: Span,
    },
    /// `caller is anonymous` / `caller is not anonymous` (negation wrapped in `Not`).
    Anonymous(Span),
    /// A value used as a condition: `open(office_hours)`, `consented`, `agents_available(g)`.
    Test(Expr),
}

impl Cond {
    pub fn span(&self) -> Span {
        match self {
            Cond::And(a, b) | Cond::Or(a, b) => a.span().to(b.span()),
            Cond::Not(c, s) => s.to(c.span()),
            Cond::Compare { left, right, .. } => left.span().to(right.span()),
            Cond::In { span, .. } => *span,
            Cond::Anonymous(s) => *s,
            Cond::Test(e) => e.span(),
        }
    }
}

/// An admin's test of a flow: simulated calls, the world they meet, and what must happen.
#[derive(Debug)]
pub struct TestDef {
    pub name: Text,
    pub keyword: Span,
    /// Written `scenario "..." { }`: calls to simulate (`callflow simulate --scenario`), with
    /// expectations optional; `callflow test` leaves it alone.
    pub scenario: bool,
    /// The calls in the written order; the lines after a `call` line belong to that call.
    pub calls: Vec<TestCall>,
    /// Call lines (`keys`, `expect`, ...) written before the first `call`: they belong to the
    /// first call (the parser moves them there when there is one).
    pub before: CallLines,
    /// `agents jan busy for 30m, lena no_answer`.
    pub agents: Vec<TestAgent>,
    /// `switch NAME on|off`.
    pub switches: Vec<(Ident, bool)>,
    pub lookups: Vec<TestLookup>,
    /// `earlier AGENT [DATE TIME]`: the first caller spoke to this agent before.
    pub earlier: Vec<(Ident, Option<(DateLit, TimeLit)>)>,
    /// `queue GROUP N [wait DURATION]`: callers already waiting, and the longest wait so far.
    pub queues: Vec<(Ident, Count, Option<Duration>)>,
    pub seed: Option<Count>,
    pub span: Span,
}

impl TestDef {
    /// Every expectation of the test.
    pub fn expects(&self) -> impl Iterator<Item = &Expect> {
        self.before
            .expects
            .iter()
            .chain(self.calls.iter().flat_map(|c| c.lines.expects.iter()))
    }
}

/// `agents NAME STATE [for DURATION]`.
#[derive(Debug)]
pub struct TestAgent {
    pub agent: Ident,
    pub state: Ident,
    /// How long the state lasts from the first call (then the agent is ready).
    pub lasts: Option<Duration>,
}

/// What one call of a test does and expects.
#[derive(Debug, Default)]
pub struct CallLines {
    pub keys: Vec<Text>,
    pub expects: Vec<Expect>,
    /// `hangs_up after 2m`: the caller hangs up this long after calling.
    pub hangs_up: Option<Duration>,
    /// `talks 5m`: the conversation lasts this long once an agent answers.
    pub talks: Option<Duration>,
}

#[derive(Debug)]
pub struct TestCall {
    pub number: Text,
    pub from: Option<Text>,
    pub at: Option<(DateLit, TimeLit)>,
    /// `at DATE TIME Z` / `+01:00`: the time is an instant with this offset from UTC instead
    /// of a local time in the flow's zone.
    pub offset: Option<OffsetLit>,
    pub span: Span,
    pub lines: CallLines,
}

#[derive(Debug)]
pub enum LookupOutcome {
    Fields(Vec<(Ident, Text)>),
    NotFound,
    Fails,
}

#[derive(Debug)]
pub struct TestLookup {
    pub name: Ident,
    /// The answers in order (`fails then tier "gold"`): the n-th time the lookup is asked it
    /// gets the n-th; the last one repeats.
    pub outcomes: Vec<LookupOutcome>,
}

#[derive(Debug)]
pub enum ExpectKind {
    Voicemail {
        vbox: Ident,
        reason: Option<Ident>,
    },
    /// `expect route GROUP [order A, B, ... | order nobody]`.
    Route {
        group: Ident,
        order: Option<Vec<Ident>>,
    },
    /// `expect agent NAME`: who answered.
    Agent(Ident),
    Transfer(Text),
    /// `expect played "a", "b"`: these prompts, in this order (others may come between).
    Played(Vec<Text>),
    /// `expect played "a" 3 times`: heard exactly this often.
    PlayedTimes(Text, Count),
    /// `expect waited 10m`: the time spent waiting in queues.
    Waited(Duration),
    /// `expect recording` / `expect no recording`.
    Recording(bool),
    Hangup,
    /// `expect queued GROUP`: still waiting in the group's queue.
    Queued(Ident),
    /// `expect language en`: the prompt language at the end of the call.
    Language(Ident),
}

#[derive(Debug)]
pub struct Expect {
    pub kind: ExpectKind,
    pub span: Span,
}
