//! The call-centre engine: agents, group dialling, queues and their timers as one sans-IO state
//! machine. Events come in as method calls with the current instant (`now`); what must happen
//! comes out as [`Action`]s (`poll_action`), and the next deadline as `poll_timeout` — the
//! quinn-proto shape. No I/O, no clock, no randomness of its own (entropy comes with each
//! route). The simulator and the SIP server drive this same code.
//!
//! Invariants (checked by the tests and the property test):
//! - an agent rings for, or talks to, at most one call at a time, whatever its groups;
//! - a caller waiting in a queue leaves it exactly once: answered, timed out, full, by a key,
//!   because nobody is logged in, or by hanging up;
//! - after every event, no waiting caller who could be offered has an available agent who
//!   could take it (so the longest-waiting caller gets the next free agent).

use super::agent::{Activity, Agent, Presence};
use super::queue::{self, Place, Queue};
use super::store::{AgentRecord, Durable, StickyEntry};
use super::strategy::{self, AgentSnapshot, AgentState, Input, Plan};
use super::timer::{Timer, Timers};
use super::{AgentId, CallId, GroupId};
use callflow_compiler::bytecode::{AnnounceKind, Program, QueueInfo, RouteInfo, Stat, Sticky};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::sync::Arc;

/// What the engine reads of a program — agents, groups, routes (queue settings, prompts by
/// name) — with every name resolved, in index order: two programs with the same view route
/// alike, whatever else changed (menus, prompts of the flows, code addresses).
pub fn routing_view(p: &Program) -> String {
    use std::fmt::Write;
    let s = |i: u32| p.str(i);
    let prompt = |i: u32| p.prompts.get(i as usize).map_or("?", |x| p.str(x.name));
    let mut v = String::new();
    for a in &p.agents {
        let skills: Vec<String> = a
            .skills
            .iter()
            .map(|&(k, l)| format!("{}:{l}", s(k)))
            .collect();
        let _ = writeln!(v, "agent {} {}", s(a.name), skills.join(","));
    }
    for g in &p.groups {
        let members: Vec<String> = g
            .members
            .iter()
            .map(|&(m, t)| {
                format!(
                    "{}/{t}",
                    p.agents.get(m as usize).map_or("?", |a| s(a.name))
                )
            })
            .collect();
        let require: Vec<String> = g
            .require
            .iter()
            .map(|&(k, l)| format!("{}:{l}", s(k)))
            .collect();
        let _ = writeln!(
            v,
            "group {} {:?} {} {} [{}] [{}] opens {:?}",
            s(g.name),
            g.strategy,
            g.ring_ms,
            g.wrap_up_ms,
            members.join(","),
            require.join(","),
            g.tier_opens_ms
        );
    }
    for r in &p.routes {
        let group = p.groups.get(r.group as usize).map_or("?", |g| s(g.name));
        let require: Vec<String> = r
            .require
            .iter()
            .map(|&(k, l)| format!("{}:{l}", s(k)))
            .collect();
        let _ = write!(v, "route {group} {:?} [{}]", r.sticky, require.join(","));
        if let Some(q) = &r.queue {
            let announce: Vec<String> = q
                .announcements
                .iter()
                .map(|(k, every)| match *k {
                    AnnounceKind::Prompt(x) => format!("{}/{every:?}", prompt(x)),
                    AnnounceKind::Position { up_to, over } => {
                        format!("position<={up_to} {:?}/{every:?}", over.map(prompt))
                    }
                    AnnounceKind::ExpectedWait { step_ms } => {
                        format!("wait~{step_ms}/{every:?}")
                    }
                })
                .collect();
            let keys: Vec<&str> = q.exit_keys.iter().map(|&(k, _)| s(k)).collect();
            let _ = write!(
                v,
                " queue {:?} {:?} [{}] {:?} {:?} [{}] {:?}",
                q.music.map(prompt),
                q.greeting.map(prompt),
                announce.join(","),
                q.max_wait_ms,
                q.max_length,
                keys.join(","),
                q.retry_ms
            );
            // Policies whose timers a waiting caller already has.
            let hours = q
                .hours
                .and_then(|h| p.hours.get(h as usize))
                .map(|h| s(h.name));
            let _ = write!(
                v,
                " hours {hours:?} no_agents {} keep {:?} gap {}",
                q.no_agents_ms, q.keep_place_ms, q.announce_gap_ms
            );
        }
        v.push('\n');
    }
    v
}

/// How the engine behaves where the flows say nothing.
#[derive(Clone, Debug)]
pub struct Config {
    /// The presence of agents the durable state does not know: a new server starts with
    /// everyone logged out; a simulation with everyone ready.
    pub default_presence: Presence,
    /// Pause before a waiting caller is offered again after nobody answered a whole round.
    pub retry_ms: u64,
    /// The longest a caller waits in a queue that has no `max_wait` (then the route goes on
    /// as after `max_wait`).
    pub max_wait_ceiling_ms: u64,
    /// How many recent handle times per group estimate the expected wait.
    pub handle_times: usize,
    /// Whether dialling plans list the agents skipped and why (for traces and logs).
    pub explain: bool,
    /// The shortest period between two announcements of one kind.
    pub min_announce_ms: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            default_presence: Presence::LoggedOut,
            retry_ms: 5_000,
            max_wait_ceiling_ms: 60 * 60_000,
            handle_times: 20,
            explain: true,
            min_announce_ms: 5_000,
        }
    }
}

/// A call asks to reach a group (the VM's `Route` effect).
#[derive(Clone, Debug)]
pub struct RouteRequest<'a> {
    /// Index into the program's routes (group, sticky, skills, queue).
    pub route: u16,
    /// The caller's number as signalled (the sticky memory's key).
    pub caller: &'a str,
    /// The flow's time zone: "today" for sticky agents and daily counters.
    pub zone: TimeZone,
    /// Randomness for the `random` strategy.
    pub entropy: u64,
    /// The caller's priority in the queue: higher waits ahead of lower, equal first come
    /// first served (0 for everyone by default).
    pub priority: i64,
}

/// How a route ended, for the caller's flow (the VM's answer to `Route`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Answered {
        agent: AgentId,
    },
    /// Agents were rung and nobody answered (no queue).
    NoAnswer,
    /// Nobody could be rung (no queue).
    Busy,
    /// Nobody of the group is logged in: the queue does not keep the caller.
    NoAgents,
    /// The queue's hours are over (`hours H`): it keeps callers no longer.
    Closed,
    /// Every phone rung in a round failed (unreachable, an error): `error =>`.
    Failed,
    QueueFull,
    QueueTimeout,
    /// The caller pressed this exit key.
    QueueKey(String),
}

impl Outcome {
    pub fn describe(&self) -> &'static str {
        match self {
            Outcome::Answered { .. } => "answered",
            Outcome::NoAnswer => "no answer",
            Outcome::Busy => "busy",
            Outcome::NoAgents => "nobody logged in",
            Outcome::Closed => "closed",
            Outcome::Failed => "no phone reached",
            Outcome::QueueFull => "queue full",
            Outcome::QueueTimeout => "waited too long",
            Outcome::QueueKey(_) => "left the queue",
        }
    }
}

/// Something a waiting caller hears (the driver plays it, then goes back to the music).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hear {
    Greeting(u32),
    Music(u32),
    /// "You are number N in line."
    Position(usize),
    /// "The expected waiting time is about N minutes" (milliseconds).
    ExpectedWait(u64),
    Prompt(u32),
}

/// Why an agent's phone stops ringing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopWhy {
    /// The ring time ran out.
    NoAnswer,
    /// Another agent answered.
    AnsweredElsewhere,
    /// The caller hung up or left the queue.
    CallerGone,
    /// The agent changed state (logged out, not ready, ...).
    AgentChanged,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A dialling round starts: the order and who was skipped, with the reasons.
    Dialling {
        call: CallId,
        plan: Plan,
    },
    /// Ring this agent's phone for the call until `until`.
    Ring {
        call: CallId,
        agent: AgentId,
        until: Timestamp,
    },
    StopRinging {
        call: CallId,
        agent: AgentId,
        why: StopWhy,
    },
    /// The caller starts waiting in the group's queue at this position.
    Queued {
        call: CallId,
        group: GroupId,
        position: usize,
    },
    Hear {
        call: CallId,
        what: Hear,
    },
    /// The route is over: resume the caller's flow with this.
    Outcome {
        call: CallId,
        outcome: Outcome,
    },
    /// An agent's state changed (monitoring, persistence).
    AgentState {
        agent: AgentId,
        state: AgentState,
    },
}

/// An error in what the driver asked (the engine's state is unchanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    UnknownCall(CallId),
    DuplicateCall(CallId),
    UnknownRoute(u16),
    UnknownAgent(AgentId),
    /// The agent is not ringing for this call (a late or wrong answer).
    NotRinging {
        call: CallId,
        agent: AgentId,
    },
    /// The call is not talking to an agent.
    NotConnected(CallId),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::UnknownCall(c) => write!(f, "call {c} is not routed"),
            EngineError::DuplicateCall(c) => write!(f, "call {c} is routed already"),
            EngineError::UnknownRoute(r) => write!(f, "no route {r} in the program"),
            EngineError::UnknownAgent(a) => write!(f, "no agent {a} in the program"),
            EngineError::NotRinging { call, agent } => {
                write!(f, "agent {agent} is not ringing for call {call}")
            }
            EngineError::NotConnected(c) => write!(f, "call {c} is not connected to an agent"),
        }
    }
}

impl std::error::Error for EngineError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Agents of a step are ringing (or about to).
    Dialling,
    /// In the queue, to be offered to the next free agent.
    Waiting,
    /// In the queue, pausing after a round nobody answered.
    Paused,
    Talking(AgentId),
}

/// A call the engine is working on, from `route` until it is answered and ended, or leaves.
#[derive(Clone, Debug)]
struct Job {
    /// `None` for a caller parked in a queue without a flow (simulation).
    route: Option<u16>,
    group: GroupId,
    caller: Box<str>,
    zone: TimeZone,
    entropy: u64,
    /// Unique per job: timers of an earlier job with the same call id are ignored.
    serial: u64,
    /// When the call was routed (its place in a queue goes by it: first come, first served).
    arrived: i64,
    /// Its place in a queue before that: higher waits ahead.
    priority: i64,
    /// Since when nobody of the group is logged in while the caller waits (`no_agents 30s`).
    alone_since: Option<i64>,
    /// When the caller last heard an announcement (`announce_gap`).
    announced_at: Option<i64>,
    /// Bumped when ringing stops; a ring or retry timer of another generation is stale.
    round: u32,
    phase: Phase,
    place: Option<Place>,
    /// Whether any agent was rung in the current round.
    rang: bool,
    /// Phones rung in the current round, and how many of them failed (not a refusal or no
    /// answer: unreachable, an error).
    rung: u32,
    failed: u32,
    /// Agents whose phones failed for this call, in any round.
    failed_agents: Vec<AgentId>,
    attempts: u32,
    /// The round's plan and the next step to ring.
    plan: Plan,
    step: usize,
    ringing: Vec<AgentId>,
    answered_at: i64,
}

#[derive(Clone, Debug, Default)]
struct GroupRt {
    queue: Queue,
    round_robin: usize,
    /// Recent handle times (answer to end), milliseconds.
    handle_times: VecDeque<u64>,
}

/// A local day: the zone's name, its start and end (ms since the epoch), its number.
type LocalDay = (Box<str>, i64, i64, i32);

/// The start of the next minute (hours change at whole minutes).
fn next_minute(now: i64) -> i64 {
    (now.div_euclid(60_000) + 1) * 60_000
}

/// The most callers remembered at once for `keep_place`.
const MAX_RETURNING: usize = 100_000;

/// The engine over a program it shares (`Arc<Program>` in the server, `&Program` in a
/// simulation).
pub struct Engine<P: Deref<Target = Program> = Arc<Program>> {
    program: P,
    config: Config,
    agents: Vec<Agent>,
    groups: Vec<GroupRt>,
    /// The groups each agent belongs to.
    groups_of: Vec<Vec<GroupId>>,
    jobs: HashMap<CallId, Job>,
    /// Sticky memory: by caller, the agent spoken to last in each group, and when.
    sticky: HashMap<Box<str>, Vec<(GroupId, AgentId, i64)>>,
    /// The local day last computed.
    day: RefCell<Option<LocalDay>>,
    timers: Timers,
    actions: VecDeque<Action>,
    serial: u64,
    /// Whether the durable state changed since `take_dirty`.
    dirty: bool,
    /// The longest any sticky memory lasts (entries older than this are forgotten).
    sticky_keep_ms: i64,
    /// The sticky memory's size after the last clean-up.
    sticky_kept: usize,
    /// Callers who hung up while waiting in a queue with `keep_place`: by caller and group,
    /// when their wait began and until when they may have that place back.
    returning: HashMap<(Box<str>, GroupId), (i64, i64)>,
    /// Its size after the last clean-up.
    returning_kept: usize,
}

/// The sticky memory's key for a caller: the number normalised (`+49 170 1` and `+491701`
/// are one caller), nothing for a withheld number (anonymous callers share no memory).
fn sticky_key(caller: &str) -> String {
    if callflow_compiler::numbers::is_anonymous(caller) {
        return String::new();
    }
    callflow_compiler::numbers::normalize(caller).unwrap_or_else(|| caller.trim().to_string())
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MAX)
}

impl<P: Deref<Target = Program>> Engine<P> {
    pub fn new(program: P, config: Config, durable: &Durable) -> Engine<P> {
        let p = &*program;
        let mut groups_of = vec![Vec::new(); p.agents.len()];
        for (g, info) in p.groups.iter().enumerate() {
            for &(a, _) in &info.members {
                if let Some(list) = groups_of.get_mut(a as usize) {
                    if !list.contains(&(g as GroupId)) {
                        list.push(g as GroupId);
                    }
                }
            }
        }
        // "Today" lasts at most a day and a bit across time zones; durations as written.
        let sticky_keep_ms = p
            .routes
            .iter()
            .map(|r| match r.sticky {
                Sticky::None => 0,
                Sticky::Today => 2 * 86_400_000,
                Sticky::For(ms) => ms as i64,
            })
            .max()
            .unwrap_or(0);
        let mut e = Engine {
            agents: vec![
                Agent {
                    presence: config.default_presence.clone(),
                    ..Agent::default()
                };
                p.agents.len()
            ],
            groups: vec![GroupRt::default(); p.groups.len()],
            groups_of,
            jobs: HashMap::new(),
            sticky: HashMap::new(),
            day: RefCell::new(None),
            timers: Timers::default(),
            actions: VecDeque::new(),
            serial: 0,
            dirty: false,
            sticky_keep_ms,
            sticky_kept: 0,
            returning: HashMap::new(),
            returning_kept: 0,
            config,
            program,
        };
        e.restore(durable);
        e
    }

    /// Takes a recompiled program whose routing is the same ([`routing_view`] equal): every
    /// agent, group and route keeps its index, so calls in progress, queues and agents' states
    /// go on as they are. Returns the program back when the routing differs.
    pub fn swap_program(&mut self, program: P) -> Result<(), P> {
        if routing_view(&program) != routing_view(&self.program) {
            return Err(program);
        }
        self.program = program;
        Ok(())
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    fn agent_id(&self, name: &str) -> Option<AgentId> {
        let p = &self.program;
        p.agents
            .iter()
            .position(|a| p.str(a.name) == name)
            .map(|i| i as AgentId)
    }

    fn group_id(&self, name: &str) -> Option<GroupId> {
        let p = &self.program;
        p.groups
            .iter()
            .position(|g| p.str(g.name) == name)
            .map(|i| i as GroupId)
    }

    fn agent_name(&self, a: AgentId) -> &str {
        let p = &self.program;
        p.str(p.agents[a as usize].name)
    }

    fn restore(&mut self, d: &Durable) {
        for (name, rec) in &d.agents {
            if let Some(a) = self.agent_id(name) {
                let agent = &mut self.agents[a as usize];
                agent.presence = rec.presence.clone();
                agent.daily = rec.daily;
            }
        }
        for (name, &pos) in &d.round_robin {
            if let Some(g) = self.group_id(name) {
                self.groups[g as usize].round_robin = pos as usize;
            }
        }
        for s in &d.sticky {
            if let (Some(g), Some(a)) = (self.group_id(&s.group), self.agent_id(&s.agent)) {
                self.sticky_set(&s.caller, g, a, s.at);
            }
        }
    }

    /// The durable state now (what a store keeps).
    pub fn durable(&self) -> Durable {
        let p = &self.program;
        let mut d = Durable::default();
        for (i, a) in self.agents.iter().enumerate() {
            d.agents.insert(
                self.agent_name(i as AgentId).to_string(),
                AgentRecord {
                    presence: a.presence.clone(),
                    daily: a.daily,
                },
            );
        }
        for (g, rt) in self.groups.iter().enumerate() {
            d.round_robin
                .insert(p.str(p.groups[g].name).to_string(), rt.round_robin as u32);
        }
        for (caller, entries) in &self.sticky {
            for (g, a, at) in entries {
                d.sticky.push(StickyEntry {
                    group: p.str(p.groups[*g as usize].name).to_string(),
                    caller: caller.to_string(),
                    agent: self.agent_name(*a).to_string(),
                    at: *at,
                });
            }
        }
        d.sticky
            .sort_by(|a, b| (&a.group, &a.caller).cmp(&(&b.group, &b.caller)));
        d
    }

    /// Whether the durable state changed since the last call (then it should be saved).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Whether the durable state changed since `take_dirty` was last called.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The wall clock was stepped by `by` ms (back: negative). Every time the engine keeps
    /// moves with it, so waits, tiers, wrap-ups and announcements go on for the time they had
    /// left: the timers and the times they carry, waiting callers' arrivals and places (each
    /// queue keeps its order), their last announcement and answer, agents' wrap-up ends (not
    /// "until told otherwise"), idle and last-call times, the sticky memory and the places
    /// kept for returning callers. Days (and the counters of the day) follow the wall clock.
    pub fn clock_stepped(&mut self, by: i64) {
        let at = |t: &mut i64| *t = t.saturating_add(by);
        self.timers.shift(by);
        for a in &mut self.agents {
            match &mut a.activity {
                Activity::WrapUp { until } | Activity::Elsewhere { until }
                    if *until != i64::MAX =>
                {
                    at(until);
                }
                _ => {}
            }
            at(&mut a.idle_since);
            a.daily.last_call_end.iter_mut().for_each(at);
        }
        for job in self.jobs.values_mut() {
            at(&mut job.arrived);
            at(&mut job.answered_at);
            job.alone_since.iter_mut().for_each(at);
            job.announced_at.iter_mut().for_each(at);
            if let Some(p) = job.place.as_mut() {
                at(&mut p.since);
            }
        }
        for g in &mut self.groups {
            g.queue.shift(by);
        }
        for memory in self.sticky.values_mut() {
            memory.iter_mut().for_each(|(_, _, t)| at(t));
        }
        for (since, until) in self.returning.values_mut() {
            at(since);
            at(until);
        }
        self.dirty = true;
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.first().map(ts)
    }

    pub fn agent(&self, a: AgentId) -> Option<&Agent> {
        self.agents.get(a as usize)
    }

    pub fn agent_state(&self, a: AgentId) -> AgentState {
        self.agents
            .get(a as usize)
            .map_or(AgentState::LoggedOut, Agent::state)
    }

    /// Calls the engine is working on (routing, waiting or talking).
    pub fn calls(&self) -> usize {
        self.jobs.len()
    }

    /// Callers waiting in the group's queue, in order.
    pub fn waiting(&self, group: GroupId) -> Vec<CallId> {
        self.groups
            .get(group as usize)
            .map_or_else(Vec::new, |g| g.queue.calls().map(|(_, c)| c).collect())
    }

    /// Pending timers (for tests of memory use).
    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    /// A group statistic for the VM (`agents_available(g)`, `queue_length(g)`, ...).
    pub fn stat(&self, now: Timestamp, group: GroupId, stat: Stat) -> i64 {
        let Some(info) = self.program.groups.get(group as usize) else {
            return 0;
        };
        let members = || info.members.iter().map(|(a, _)| &self.agents[*a as usize]);
        let q = &self.groups[group as usize].queue;
        match stat {
            Stat::AgentsAvailable => members().filter(|a| a.available()).count() as i64,
            Stat::LoggedIn => members().filter(|a| a.presence.logged_in()).count() as i64,
            Stat::QueueLength => q.len() as i64,
            Stat::WaitingTime => q.oldest().map_or(0, |s| (ms(now) - s).max(0)),
            Stat::ExpectedWait => self.expected_wait(now, group, q.len() + 1) as i64,
        }
    }

    /// The expected wait of the caller at `position`: from recent handle times when there are
    /// any (a turn of every logged-in agent per handle time), else as long as the longest
    /// waiting caller has waited so far.
    fn expected_wait(&self, now: Timestamp, group: GroupId, position: usize) -> u64 {
        let rt = &self.groups[group as usize];
        if rt.handle_times.is_empty() {
            return rt.queue.oldest().map_or(0, |s| (ms(now) - s).max(0) as u64);
        }
        let average = rt.handle_times.iter().sum::<u64>() / rt.handle_times.len() as u64;
        let agents = self.stat(now, group, Stat::LoggedIn).max(1) as u64;
        average * (position as u64).div_ceil(agents)
    }

    /// Checks the engine's invariants (for tests): agents and calls agree about who rings
    /// for and talks to whom, queues hold exactly the waiting calls, and no waiting caller who
    /// could be offered has an available agent who could take the call.
    pub fn audit(&self) -> Result<(), String> {
        for (i, a) in self.agents.iter().enumerate() {
            let agent = i as AgentId;
            match a.activity {
                Activity::Ringing(call) => {
                    let job = self
                        .jobs
                        .get(&call)
                        .ok_or(format!("agent {i} rings for gone call {call}"))?;
                    if job.phase != Phase::Dialling || !job.ringing.contains(&agent) {
                        return Err(format!(
                            "agent {i} rings for call {call}, which does not ring it"
                        ));
                    }
                }
                Activity::Busy(call) => {
                    let job = self
                        .jobs
                        .get(&call)
                        .ok_or(format!("agent {i} talks to gone call {call}"))?;
                    if job.phase != Phase::Talking(agent) {
                        return Err(format!(
                            "agent {i} talks to call {call}, which is {:?}",
                            job.phase
                        ));
                    }
                }
                _ => {}
            }
        }
        let mut queued = 0;
        for (call, job) in &self.jobs {
            for &a in &job.ringing {
                if self.agents[a as usize].activity != Activity::Ringing(*call) {
                    return Err(format!(
                        "call {call} rings agent {a}, who is {:?}",
                        self.agents[a as usize].activity
                    ));
                }
            }
            if job.phase != Phase::Dialling && !job.ringing.is_empty() {
                return Err(format!(
                    "call {call} is {:?} but rings {:?}",
                    job.phase, job.ringing
                ));
            }
            if let Phase::Talking(a) = job.phase {
                if self.agents[a as usize].activity != Activity::Busy(*call) {
                    return Err(format!(
                        "call {call} talks to agent {a}, who is {:?}",
                        self.agents[a as usize].activity
                    ));
                }
            }
            let Some(place) = job.place else { continue };
            queued += 1;
            let q = &self.groups[job.group as usize].queue;
            if !q.calls().any(|(p, c)| p == place && c == *call) {
                return Err(format!("call {call} is not in its queue"));
            }
            if q.is_ready(place) != (job.phase == Phase::Waiting) {
                return Err(format!(
                    "call {call} is {:?} but ready = {}",
                    job.phase,
                    q.is_ready(place)
                ));
            }
            if job.phase == Phase::Waiting {
                // (Agents of tiers that open later may be free while the caller waits.)
                let g = &self.program.groups[job.group as usize];
                if let Some((a, _)) = g.members.iter().find(|(a, tier)| {
                    strategy::tier_opens(g, *tier) == 0
                        && self.agents[*a as usize].available()
                        && self.qualified(*a, job, i64::MAX)
                }) {
                    return Err(format!("call {call} waits while agent {a} is free for it"));
                }
            }
        }
        let in_queues: usize = self.groups.iter().map(|g| g.queue.len()).sum();
        if in_queues != queued {
            return Err(format!(
                "{in_queues} calls in queues, {queued} jobs waiting"
            ));
        }
        Ok(())
    }

    // ---- events ----------------------------------------------------------------------------

    /// A call's flow routes it (the VM's `Route` effect): ring agents, queue, or answer at once
    /// with an outcome.
    pub fn route(
        &mut self,
        now: Timestamp,
        call: CallId,
        req: RouteRequest,
    ) -> Result<(), EngineError> {
        let info = self
            .program
            .routes
            .get(req.route as usize)
            .ok_or(EngineError::UnknownRoute(req.route))?;
        if self.jobs.contains_key(&call) {
            return Err(EngineError::DuplicateCall(call));
        }
        let group = info.group;
        let queued_route = info.queue.is_some();
        let keep_place = info.queue.as_ref().and_then(|q| q.keep_place_ms);
        let caller: Box<str> = sticky_key(req.caller).into();
        let now_ms = ms(now);
        // A caller back within `keep_place` of hanging up waits from when they first did.
        let mut arrived = now_ms;
        if keep_place.is_some() && !caller.is_empty() {
            if let Some((since, until)) = self.returning.remove(&(caller.clone(), group)) {
                if until >= now_ms {
                    arrived = since;
                }
            }
        }
        self.serial += 1;
        self.jobs.insert(
            call,
            Job {
                route: Some(req.route),
                group,
                caller,
                zone: req.zone,
                entropy: req.entropy,
                serial: self.serial,
                arrived,
                priority: req.priority,
                alone_since: None,
                announced_at: None,
                round: 0,
                phase: Phase::Dialling,
                place: None,
                rang: false,
                rung: 0,
                failed: 0,
                failed_agents: Vec::new(),
                attempts: 0,
                plan: Plan::default(),
                step: 0,
                ringing: Vec::new(),
                answered_at: 0,
            },
        );
        let now = ms(now);
        self.forget_old(now);
        self.tier_timers(call, arrived);
        // A queue outside its hours takes nobody, not even to ring a free agent.
        let closed = queued_route && {
            let job = &self.jobs[&call];
            let q = self.program.routes[req.route as usize].queue.as_ref();
            q.is_some_and(|q| !self.queue_open(q, job, now))
        };
        if closed {
            self.finish(now, call, Outcome::Closed);
            return Ok(());
        }
        // First come, first served: with callers already waiting, a new caller joins the line.
        if queued_route && !self.groups[group as usize].queue.is_empty() {
            self.enqueue(now, call, false);
        } else {
            self.attempt(now, call);
        }
        Ok(())
    }

    /// A caller already waiting in a group's queue without a flow of its own (a simulation's
    /// "callers ahead"), waiting since `since`. They are offered like everyone else.
    pub fn park(
        &mut self,
        now: Timestamp,
        call: CallId,
        group: GroupId,
        since: Timestamp,
    ) -> Result<(), EngineError> {
        if self.jobs.contains_key(&call) {
            return Err(EngineError::DuplicateCall(call));
        }
        if group as usize >= self.groups.len() {
            return Err(EngineError::UnknownRoute(u16::MAX));
        }
        self.serial += 1;
        self.jobs.insert(
            call,
            Job {
                route: None,
                group,
                caller: "".into(),
                zone: TimeZone::UTC,
                entropy: call,
                serial: self.serial,
                arrived: ms(since),
                priority: 0,
                alone_since: None,
                announced_at: None,
                round: 0,
                phase: Phase::Waiting,
                place: None,
                rang: false,
                rung: 0,
                failed: 0,
                failed_agents: Vec::new(),
                attempts: 0,
                plan: Plan::default(),
                step: 0,
                ringing: Vec::new(),
                answered_at: 0,
            },
        );
        let place = Place {
            rank: queue::rank(0),
            since: ms(since),
            seq: self.serial,
        };
        self.tier_timers(call, ms(since));
        let job = self.jobs.get_mut(&call).expect("inserted above");
        job.place = Some(place);
        self.groups[group as usize].queue.insert(place, call, true);
        self.offer_waiting(ms(now), call);
        Ok(())
    }

    /// The agent's phone answered the call.
    pub fn answered(
        &mut self,
        now: Timestamp,
        call: CallId,
        agent: AgentId,
    ) -> Result<(), EngineError> {
        let job = self.jobs.get(&call).ok_or(EngineError::UnknownCall(call))?;
        if job.phase != Phase::Dialling || !job.ringing.contains(&agent) {
            return Err(EngineError::NotRinging { call, agent });
        }
        let now = ms(now);
        let others: Vec<AgentId> = job
            .ringing
            .iter()
            .copied()
            .filter(|&a| a != agent)
            .collect();
        for &a in &others {
            self.stop_ringing(call, a, StopWhy::AnsweredElsewhere);
        }
        let job = self.jobs.get_mut(&call).expect("checked above");
        job.ringing.clear();
        job.plan = Plan::default();
        job.step = 0;
        job.round += 1;
        job.phase = Phase::Talking(agent);
        job.answered_at = now;
        job.alone_since = None;
        let (group, zone, caller, place) = (
            job.group,
            job.zone.clone(),
            job.caller.clone(),
            job.place.take(),
        );
        if let Some(place) = place {
            self.groups[group as usize].queue.remove(place);
        }
        let day = self.day_of(&zone, now);
        let a = &mut self.agents[agent as usize];
        a.activity = Activity::Busy(call);
        a.answered(day);
        self.dirty = true;
        if !caller.is_empty() {
            self.sticky_set(&caller, group, agent, now);
        }
        self.changed(agent);
        self.actions.push_back(Action::Outcome {
            call,
            outcome: Outcome::Answered { agent },
        });
        for a in others {
            self.agent_free(now, a);
        }
        Ok(())
    }

    /// The agent's phone could not be reached (no address, an error, no response): like a
    /// refusal, but a round in which every phone failed ends the route with `Failed`.
    pub fn failed(
        &mut self,
        now: Timestamp,
        call: CallId,
        agent: AgentId,
    ) -> Result<(), EngineError> {
        let job = self
            .jobs
            .get_mut(&call)
            .ok_or(EngineError::UnknownCall(call))?;
        if job.phase != Phase::Dialling || !job.ringing.contains(&agent) {
            return Err(EngineError::NotRinging { call, agent });
        }
        job.failed += 1;
        if !job.failed_agents.contains(&agent) {
            job.failed_agents.push(agent);
        }
        self.declined(now, call, agent)
    }

    /// The agent's phone refused the call (busy, declined) or the leg could not be placed: the
    /// next step rings.
    pub fn declined(
        &mut self,
        now: Timestamp,
        call: CallId,
        agent: AgentId,
    ) -> Result<(), EngineError> {
        let job = self.jobs.get(&call).ok_or(EngineError::UnknownCall(call))?;
        if job.phase != Phase::Dialling || !job.ringing.contains(&agent) {
            return Err(EngineError::NotRinging { call, agent });
        }
        let now = ms(now);
        self.release(agent);
        let job = self.jobs.get_mut(&call).expect("checked above");
        job.ringing.retain(|&a| a != agent);
        if job.ringing.is_empty() {
            job.round += 1;
            self.next_step(now, call);
        }
        self.agent_free(now, agent);
        Ok(())
    }

    /// The caller hung up (ringing, waiting or talking): everything for the call stops.
    pub fn left(&mut self, now: Timestamp, call: CallId) -> Result<(), EngineError> {
        let job = self.jobs.get(&call).ok_or(EngineError::UnknownCall(call))?;
        if let Phase::Talking(_) = job.phase {
            return self.ended(now, call);
        }
        let now = ms(now);
        let keep = job.route.and_then(|r| {
            self.program
                .routes
                .get(r as usize)?
                .queue
                .as_ref()?
                .keep_place_ms
        });
        if let (Some(keep), Some(_)) = (keep, job.place) {
            if self.returning.len() >= 2 * self.returning_kept + 1024 {
                self.returning.retain(|_, e| e.1 >= now);
                self.returning_kept = self.returning.len();
            }
            // Bounded: past this many (a flood of numbers hanging up), places are not kept.
            if !job.caller.is_empty() && self.returning.len() < MAX_RETURNING {
                let entry = (job.arrived, now.saturating_add(keep as i64));
                self.returning
                    .insert((job.caller.clone(), job.group), entry);
            }
        }
        let freed = self.drop_job(call, StopWhy::CallerGone);
        for a in freed {
            self.agent_free(now, a);
        }
        Ok(())
    }

    /// The caller pressed a key while routed: a queue's exit key ends the route. Returns
    /// whether the key was taken.
    pub fn key(&mut self, now: Timestamp, call: CallId, key: &str) -> Result<bool, EngineError> {
        let job = self.jobs.get(&call).ok_or(EngineError::UnknownCall(call))?;
        let Some(route) = job.route else {
            return Ok(false);
        };
        if job.place.is_none() {
            return Ok(false);
        }
        let p = &self.program;
        let exit = p.routes[route as usize]
            .queue
            .as_ref()
            .and_then(|q| q.exit_keys.iter().find(|(k, _)| p.str(*k) == key))
            .map(|(k, _)| p.str(*k).to_string());
        let Some(key) = exit else {
            return Ok(false);
        };
        self.finish(ms(now), call, Outcome::QueueKey(key));
        Ok(true)
    }

    /// The conversation of an answered call is over (either side hung up): the agent goes into
    /// wrap-up (the group's time), then is free again.
    pub fn ended(&mut self, now: Timestamp, call: CallId) -> Result<(), EngineError> {
        let job = self.jobs.get(&call).ok_or(EngineError::UnknownCall(call))?;
        let Phase::Talking(agent) = job.phase else {
            return Err(EngineError::NotConnected(call));
        };
        let now = ms(now);
        let job = self.jobs.remove(&call).expect("checked above");
        let group = job.group as usize;
        let wrap = self.program.groups[group].wrap_up_ms as i64;
        let rt = &mut self.groups[group];
        rt.handle_times
            .push_back((now - job.answered_at).max(0) as u64);
        while rt.handle_times.len() > self.config.handle_times.max(1) {
            rt.handle_times.pop_front();
        }
        let day = self.day_of(&job.zone, now);
        let a = &mut self.agents[agent as usize];
        a.call_ended(day, now);
        self.dirty = true;
        if wrap > 0 {
            let until = now + wrap;
            a.activity = Activity::WrapUp { until };
            self.timers.at(until, Timer::Free { agent, until });
            self.changed(agent);
        } else {
            a.activity = Activity::Idle;
            a.idle_since = now;
            self.changed(agent);
            self.agent_free(now, agent);
        }
        Ok(())
    }

    /// An agent (or a supervisor) sets the agent's presence.
    pub fn set_presence(
        &mut self,
        now: Timestamp,
        agent: AgentId,
        presence: Presence,
    ) -> Result<(), EngineError> {
        let a = self
            .agents
            .get_mut(agent as usize)
            .ok_or(EngineError::UnknownAgent(agent))?;
        let now = ms(now);
        if a.presence == presence {
            return Ok(());
        }
        a.presence = presence;
        self.dirty = true;
        let ringing = match a.activity {
            Activity::Ringing(call) if a.presence != Presence::Ready => Some(call),
            _ => None,
        };
        if let Some(call) = ringing {
            self.stop_ringing(call, agent, StopWhy::AgentChanged);
            if let Some(job) = self.jobs.get_mut(&call) {
                job.ringing.retain(|&x| x != agent);
                if job.ringing.is_empty() {
                    job.round += 1;
                    self.next_step(now, call);
                }
            }
        }
        self.changed(agent);
        if !self.agents[agent as usize].presence.logged_in() {
            self.nobody_left(now, agent);
        } else {
            // Someone is logged in again: a later "nobody" starts its `no_agents` wait anew.
            for &g in &self.groups_of[agent as usize] {
                for (_, c) in self.groups[g as usize].queue.calls() {
                    if let Some(job) = self.jobs.get_mut(&c) {
                        job.alone_since = None;
                    }
                }
            }
        }
        self.agent_free(now, agent);
        Ok(())
    }

    /// Lengthens the agent's running wrap-up.
    pub fn extend_wrap_up(&mut self, agent: AgentId, by_ms: u64) -> Result<bool, EngineError> {
        let a = self
            .agents
            .get_mut(agent as usize)
            .ok_or(EngineError::UnknownAgent(agent))?;
        let Activity::WrapUp { until } = a.activity else {
            return Ok(false);
        };
        let until = until.saturating_add(i64::try_from(by_ms).unwrap_or(i64::MAX));
        a.activity = Activity::WrapUp { until };
        self.timers.at(until, Timer::Free { agent, until });
        Ok(true)
    }

    /// The agent is on a call the engine does not manage until `until` (`None`: until told
    /// otherwise with `free`). Only an idle agent can be; returns whether it was.
    pub fn busy_elsewhere(
        &mut self,
        agent: AgentId,
        until: Option<Timestamp>,
    ) -> Result<bool, EngineError> {
        self.occupy(agent, until, |until| Activity::Elsewhere { until })
    }

    /// Puts an idle agent into wrap-up until `until` (`None`: until told otherwise), as after
    /// a call. Returns whether the agent was idle.
    pub fn wrap_up(
        &mut self,
        agent: AgentId,
        until: Option<Timestamp>,
    ) -> Result<bool, EngineError> {
        self.occupy(agent, until, |until| Activity::WrapUp { until })
    }

    /// Moves an idle agent into the activity `what` makes of the end time (`i64::MAX`: until
    /// told otherwise), with the timer that frees it. Returns whether the agent was idle.
    fn occupy(
        &mut self,
        agent: AgentId,
        until: Option<Timestamp>,
        what: fn(i64) -> Activity,
    ) -> Result<bool, EngineError> {
        let a = self
            .agents
            .get_mut(agent as usize)
            .ok_or(EngineError::UnknownAgent(agent))?;
        if a.activity != Activity::Idle {
            return Ok(false);
        }
        let until = until.map_or(i64::MAX, ms);
        a.activity = what(until);
        if until != i64::MAX {
            self.timers.at(until, Timer::Free { agent, until });
        }
        self.changed(agent);
        Ok(true)
    }

    /// Remembers that `caller` spoke to `agent` at `at`, in every group of the agent (as an
    /// answered call does): the sticky memory of calls taken elsewhere.
    pub fn remember(
        &mut self,
        caller: &str,
        agent: AgentId,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        let groups = self
            .groups_of
            .get(agent as usize)
            .ok_or(EngineError::UnknownAgent(agent))?
            .clone();
        let at = ms(at);
        let caller = sticky_key(caller);
        if caller.is_empty() {
            return Ok(());
        }
        for g in groups {
            let newer = self
                .sticky
                .get(caller.as_str())
                .and_then(|v| v.iter().find(|e| e.0 == g))
                .is_none_or(|e| e.2 <= at);
            if newer {
                self.sticky_set(&caller, g, agent, at);
            }
        }
        self.dirty = true;
        Ok(())
    }

    /// The agent's call outside the engine, or its wrap-up, is over.
    pub fn back(&mut self, now: Timestamp, agent: AgentId) -> Result<(), EngineError> {
        let a = self
            .agents
            .get_mut(agent as usize)
            .ok_or(EngineError::UnknownAgent(agent))?;
        if let Activity::Elsewhere { .. } | Activity::WrapUp { .. } = a.activity {
            a.activity = Activity::Idle;
            a.idle_since = ms(now);
            self.changed(agent);
            self.agent_free(ms(now), agent);
        }
        Ok(())
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let now = ms(now);
        while let Some((_, timer)) = self.timers.pop_due(now) {
            self.fire(now, timer);
        }
    }

    // ---- inside ----------------------------------------------------------------------------

    /// The local day of `at` in `zone` (days since 1970-01-01), remembering the last day's
    /// bounds: most events of a day fall into it, and converting time zones is not free.
    fn day_of(&self, zone: &TimeZone, at: i64) -> i32 {
        let name = zone.iana_name().unwrap_or("");
        if let Some((n, start, end, day)) = &*self.day.borrow() {
            if **n == *name && *start <= at && at < *end {
                return *day;
            }
        }
        let date = zone.to_datetime(ts(at)).date();
        let day = callflow_compiler::bytecode::day_number(date);
        let bound = |d: jiff::civil::Date| {
            d.to_zoned_datetime(zone.clone())
                .ok()
                .map(|z| z.timestamp().as_millisecond())
        };
        let start = bound(date);
        let end = date.tomorrow().ok().and_then(bound);
        if let (Some(start), Some(end), false) = (start, end, name.is_empty()) {
            *self.day.borrow_mut() = Some((name.into(), start, end, day));
        }
        day
    }

    fn sticky_set(&mut self, caller: &str, group: GroupId, agent: AgentId, at: i64) {
        let entries = match self.sticky.get_mut(caller) {
            Some(e) => e,
            None => self.sticky.entry(caller.into()).or_default(),
        };
        match entries.iter_mut().find(|e| e.0 == group) {
            Some(e) => *e = (group, agent, at),
            None => entries.push((group, agent, at)),
        }
    }

    /// Forgets sticky memories no route can use any more, each time the memory has doubled
    /// (amortised constant time per route).
    fn forget_old(&mut self, now: i64) {
        if self.sticky.len() < 2 * self.sticky_kept + 1024 {
            return;
        }
        let keep = self.sticky_keep_ms;
        self.sticky.retain(|_, entries| {
            entries.retain(|(_, _, at)| now.saturating_sub(*at) <= keep);
            !entries.is_empty()
        });
        self.sticky_kept = self.sticky.len();
        self.dirty = true;
    }

    fn changed(&mut self, agent: AgentId) {
        let state = self.agents[agent as usize].state();
        self.actions.push_back(Action::AgentState { agent, state });
    }

    fn fire(&mut self, now: i64, timer: Timer) {
        match timer {
            Timer::Ring {
                call,
                serial,
                round,
            } => {
                let Some(job) = self.jobs.get(&call) else {
                    return;
                };
                if job.serial != serial || job.round != round || job.phase != Phase::Dialling {
                    return;
                }
                let ringing = job.ringing.clone();
                for &a in &ringing {
                    self.stop_ringing(call, a, StopWhy::NoAnswer);
                }
                let job = self.jobs.get_mut(&call).expect("checked above");
                job.ringing.clear();
                job.round += 1;
                self.next_step(now, call);
                for a in ringing {
                    self.agent_free(now, a);
                }
            }
            Timer::Retry {
                call,
                serial,
                round,
            } => {
                let Some(job) = self.jobs.get_mut(&call) else {
                    return;
                };
                if job.serial != serial || job.round != round || job.phase != Phase::Paused {
                    return;
                }
                job.phase = Phase::Waiting;
                if let Some(place) = job.place {
                    let g = job.group as usize;
                    self.groups[g].queue.set_ready(place, true);
                }
                self.offer_waiting(now, call);
            }
            Timer::TierOpens { call, serial } => {
                let Some(job) = self.jobs.get(&call) else {
                    return;
                };
                if job.serial != serial {
                    return;
                }
                match job.phase {
                    // Waiting: offered now, the tier included.
                    Phase::Waiting => self.attempt(now, call),
                    // Pausing after a round: the next round (at the `retry`) includes it.
                    Phase::Paused => {}
                    // Being rung: the tier's agents ring after the round's other agents.
                    Phase::Dialling => {
                        let later = self.plan(now, job);
                        let g = &self.program.groups[job.group as usize];
                        let waited = now.saturating_sub(job.arrived);
                        let opened = |a: u16| {
                            let tier = g.members.iter().find(|m| m.0 == a).map_or(0, |m| m.1);
                            let opens = strategy::tier_opens(g, tier) as i64;
                            opens > 0 && opens <= waited
                        };
                        let mut plan = std::mem::take(
                            &mut self.jobs.get_mut(&call).expect("checked above").plan,
                        );
                        plan.extend_with(&later, opened);
                        self.jobs.get_mut(&call).expect("checked above").plan = plan;
                    }
                    Phase::Talking(_) => {}
                }
            }
            Timer::NoAgents {
                call,
                serial,
                since,
            } => {
                let Some(job) = self.jobs.get(&call) else {
                    return;
                };
                // Only while the caller waits (not once connected), and for the latest time
                // nobody was logged in.
                if job.serial != serial || job.place.is_none() || job.alone_since != Some(since) {
                    return;
                }
                if self.stat(ts(now), job.group, Stat::LoggedIn) == 0 {
                    self.finish(now, call, Outcome::NoAgents);
                } else {
                    self.jobs.get_mut(&call).expect("checked above").alone_since = None;
                }
            }
            Timer::Hours { call, serial } => {
                let Some(job) = self.jobs.get(&call) else {
                    return;
                };
                if job.serial != serial || job.place.is_none() {
                    return;
                }
                let p = &*self.program;
                let Some(q) = job.route.and_then(|r| p.routes[r as usize].queue.as_ref()) else {
                    return;
                };
                if self.queue_open(q, job, now) {
                    self.timers
                        .at(next_minute(now), Timer::Hours { call, serial });
                } else {
                    self.finish(now, call, Outcome::Closed);
                }
            }
            Timer::MaxWait { call, serial } => {
                let Some(job) = self.jobs.get(&call) else {
                    return;
                };
                if job.serial != serial || job.place.is_none() {
                    return;
                }
                self.finish(now, call, Outcome::QueueTimeout);
            }
            Timer::Announce {
                call,
                serial,
                index,
            } => {
                let Some(job) = self.jobs.get(&call) else {
                    return;
                };
                if job.serial != serial {
                    return;
                }
                let (Some(route), Some(place)) = (job.route, job.place) else {
                    return;
                };
                let group = job.group;
                let p = &*self.program;
                let Some(q) = &p.routes[route as usize].queue else {
                    return;
                };
                let Some(&(kind, every)) = q.announcements.get(index) else {
                    return;
                };
                // Not sooner than `announce_gap` after the last one: a little later instead.
                let gap = q.announce_gap_ms as i64;
                if let Some(last) = job.announced_at {
                    if now < last + gap {
                        self.timers.at(
                            last + gap,
                            Timer::Announce {
                                call,
                                serial,
                                index,
                            },
                        );
                        return;
                    }
                }
                self.announce(now, call, group, place, kind);
                if let Some(every) = every {
                    self.timers.at(
                        now + every.max(self.config.min_announce_ms) as i64,
                        Timer::Announce {
                            call,
                            serial,
                            index,
                        },
                    );
                }
            }
            Timer::Free { agent, until } => {
                let a = &mut self.agents[agent as usize];
                let current = match a.activity {
                    Activity::WrapUp { until: u } | Activity::Elsewhere { until: u } => u,
                    _ => return,
                };
                if current != until {
                    return;
                }
                a.activity = Activity::Idle;
                a.idle_since = now;
                self.changed(agent);
                self.agent_free(now, agent);
            }
        }
    }

    fn announce(
        &mut self,
        now: i64,
        call: CallId,
        group: GroupId,
        place: Place,
        kind: AnnounceKind,
    ) {
        let what = match kind {
            AnnounceKind::Position { up_to, over } => {
                let position = self.groups[group as usize].queue.position(place);
                if up_to == 0 || position <= up_to as usize {
                    Hear::Position(position)
                } else if let Some(p) = over {
                    // "More than ten callers are ahead of you."
                    Hear::Prompt(p)
                } else {
                    return;
                }
            }
            AnnounceKind::ExpectedWait { step_ms } => {
                let position = self.groups[group as usize].queue.position(place);
                let wait = self.expected_wait(ts(now), group, position);
                Hear::ExpectedWait(if step_ms > 0 {
                    wait.div_ceil(step_ms).max(1) * step_ms
                } else {
                    wait
                })
            }
            AnnounceKind::Prompt(p) => Hear::Prompt(p),
        };
        if let Some(job) = self.jobs.get_mut(&call) {
            job.announced_at = Some(now);
        }
        self.actions.push_back(Action::Hear { call, what });
    }

    /// Tells the agent's phone to stop ringing and makes the agent idle (the caller of this
    /// updates the job and offers the agent again).
    fn stop_ringing(&mut self, call: CallId, agent: AgentId, why: StopWhy) {
        self.release(agent);
        self.actions
            .push_back(Action::StopRinging { call, agent, why });
    }

    fn release(&mut self, agent: AgentId) {
        let a = &mut self.agents[agent as usize];
        if let Activity::Ringing(_) = a.activity {
            a.activity = Activity::Idle;
        }
        self.changed(agent);
    }

    fn snapshot(&self, a: AgentId, day: i32) -> AgentSnapshot {
        let agent = &self.agents[a as usize];
        let daily = agent.daily.on(day);
        AgentSnapshot {
            state: if agent.available() {
                AgentState::Ready
            } else {
                agent.state()
            },
            calls_today: daily.answered,
            last_call_end: daily.last_call_end.map(|t| t / 1000),
        }
    }

    /// The sticky agent for this job, if the memory is recent enough.
    fn sticky_agent(&self, job: &Job, info: &RouteInfo, now: i64) -> Option<AgentId> {
        let &(_, agent, at) = self
            .sticky
            .get(&*job.caller)?
            .iter()
            .find(|e| e.0 == job.group)?;
        let fresh = match info.sticky {
            Sticky::None => false,
            Sticky::Today => self.day_of(&job.zone, at) == self.day_of(&job.zone, now),
            Sticky::For(keep) => now.saturating_sub(at) <= keep as i64,
        };
        fresh.then_some(agent)
    }

    fn plan(&self, now: i64, job: &Job) -> Plan {
        let p = &*self.program;
        let (require, sticky): (&[(u32, u32)], Option<AgentId>) = match job.route {
            Some(r) => {
                let info = &p.routes[r as usize];
                (&info.require, self.sticky_agent(job, info, now))
            }
            None => (&[], None),
        };
        let day = self.day_of(&job.zone, now);
        let input = Input {
            program: p,
            group: job.group,
            require,
            sticky,
            round_robin_next: self.groups[job.group as usize].round_robin,
            seed: job.entropy.wrapping_add(u64::from(job.attempts)),
            explain: self.config.explain,
            waited_ms: now.saturating_sub(job.arrived).max(0) as u64,
        };
        strategy::plan(&input, |a| self.snapshot(a, day))
    }

    /// Whether the queue keeps callers now: its `hours` are open in the caller's zone (always,
    /// without `hours`).
    fn queue_open(&self, q: &QueueInfo, job: &Job, now: i64) -> bool {
        let p = &*self.program;
        let Some(h) = q.hours.and_then(|h| p.hours.get(h as usize)) else {
            return true;
        };
        let local = crate::vm::time::Local::of(&job.zone, ts(now));
        crate::vm::time::open(h, p, &local).0
    }

    /// A timer for each tier of the job's group that opens after a wait.
    fn tier_timers(&mut self, call: CallId, arrived: i64) {
        let Some(job) = self.jobs.get(&call) else {
            return;
        };
        let serial = job.serial;
        for &(_, after) in &self.program.groups[job.group as usize].tier_opens_ms {
            self.timers
                .at(arrived + after as i64, Timer::TierOpens { call, serial });
        }
    }

    /// A dialling round for the job: the plan, then its first step.
    fn attempt(&mut self, now: i64, call: CallId) {
        let Some(job) = self.jobs.get(&call) else {
            return;
        };
        let plan = self.plan(now, job);
        let queued = job.place.is_some();
        if plan.is_empty() && queued {
            // Waiting already: nothing to say until an agent becomes free.
            return;
        }
        let job = self.jobs.get_mut(&call).expect("checked above");
        job.attempts += 1;
        job.rang = false;
        job.rung = 0;
        job.failed = 0;
        job.phase = Phase::Dialling;
        job.plan = plan.steps_only();
        job.step = 0;
        if let Some(place) = job.place {
            let g = job.group as usize;
            self.groups[g].queue.set_ready(place, false);
        }
        self.actions.push_back(Action::Dialling { call, plan });
        self.next_step(now, call);
    }

    /// Rings the next step's agents that are still available; at the end of the plan, the
    /// round is over.
    fn next_step(&mut self, now: i64, call: CallId) {
        let Some(day) = self.jobs.get(&call).map(|j| self.day_of(&j.zone, now)) else {
            return;
        };
        loop {
            let Some(job) = self.jobs.get_mut(&call) else {
                return;
            };
            let Some(step) = job.plan.step(job.step) else {
                return self.round_over(now, call);
            };
            job.step += 1;
            let agents: Vec<AgentId> = step
                .iter()
                .copied()
                .filter(|&a| self.agents[a as usize].available())
                .collect();
            if agents.is_empty() {
                continue;
            }
            let group = job.group;
            let ring = self.program.groups[group as usize].ring_ms.max(1) as i64;
            job.ringing = agents.clone();
            job.rang = true;
            job.rung += agents.len() as u32;
            job.round += 1;
            let timer = Timer::Ring {
                call,
                serial: job.serial,
                round: job.round,
            };
            let until = now + ring;
            self.timers.at(until, timer);
            for a in agents {
                let agent = &mut self.agents[a as usize];
                agent.activity = Activity::Ringing(call);
                agent.offered(day);
                // Round robin moves on with every offer, answered or not.
                self.groups[group as usize].round_robin =
                    strategy::round_robin_after(&self.program, group, a);
                self.dirty = true;
                self.changed(a);
                self.actions.push_back(Action::Ring {
                    call,
                    agent: a,
                    until: ts(until),
                });
            }
            return;
        }
    }

    /// The pause between ring rounds for a route: its queue's `retry`, or the default.
    fn retry_ms(&self, route: Option<u16>) -> i64 {
        let p = &*self.program;
        route
            .and_then(|r| p.routes.get(r as usize)?.queue.as_ref()?.retry_ms)
            .unwrap_or(self.config.retry_ms)
            .max(1_000) as i64
    }

    /// A whole round without an answer: wait (again) in the queue, or end the route.
    fn round_over(&mut self, now: i64, call: CallId) {
        let pause = self.retry_ms(self.jobs.get(&call).and_then(|j| j.route));
        let Some(job) = self.jobs.get_mut(&call) else {
            return;
        };
        // Every phone rung failed: without a queue, the route is over; with one, only when
        // every logged-in member's phone failed for this caller (waiting would not help).
        if job.rung > 0 && job.failed == job.rung {
            if let Some(route) = job.route {
                let queued = self.program.routes[route as usize].queue.is_some();
                let all_broken = self.program.groups[job.group as usize]
                    .members
                    .iter()
                    .filter(|m| self.agents[m.0 as usize].presence.logged_in())
                    .all(|m| job.failed_agents.contains(&m.0));
                if !queued || all_broken {
                    return self.finish(now, call, Outcome::Failed);
                }
            }
        }
        let Some(job) = self.jobs.get_mut(&call) else {
            return;
        };
        job.plan = Plan::default();
        if let Some(place) = job.place {
            let g = job.group as usize;
            if job.rang {
                job.phase = Phase::Paused;
                let timer = Timer::Retry {
                    call,
                    serial: job.serial,
                    round: job.round,
                };
                self.timers.at(now + pause, timer);
                self.groups[g].queue.set_ready(place, false);
            } else {
                job.phase = Phase::Waiting;
                self.groups[g].queue.set_ready(place, true);
            }
            return;
        }
        let has_queue = job
            .route
            .is_some_and(|r| self.program.routes[r as usize].queue.is_some());
        if has_queue {
            let rang = job.rang;
            self.enqueue(now, call, rang);
        } else {
            let outcome = if job.rang {
                Outcome::NoAnswer
            } else {
                Outcome::Busy
            };
            self.finish(now, call, outcome);
        }
    }

    /// Puts the caller in the group's queue (greeting, music, announcements, maximum wait), or
    /// ends the route when the queue cannot keep them.
    fn enqueue(&mut self, now: i64, call: CallId, pause: bool) {
        let Some(job) = self.jobs.get(&call) else {
            return;
        };
        let (group, serial, arrived, priority) = (job.group, job.serial, job.arrived, job.priority);
        let p = &*self.program;
        let Some(q) = job.route.and_then(|r| p.routes[r as usize].queue.clone()) else {
            return;
        };
        if !self.queue_open(&q, job, now) {
            return self.finish(now, call, Outcome::Closed);
        }
        let alone = self.stat(ts(now), group, Stat::LoggedIn) == 0;
        if alone && q.no_agents_ms == 0 {
            return self.finish(now, call, Outcome::NoAgents);
        }
        let queue = &mut self.groups[group as usize].queue;
        if q.max_length.is_some_and(|max| queue.len() >= max as usize) {
            return self.finish(now, call, Outcome::QueueFull);
        }
        let place = Place {
            rank: queue::rank(priority),
            since: arrived,
            seq: serial,
        };
        queue.insert(place, call, !pause);
        let position = queue.position(place);
        let wait = self.retry_ms(self.jobs.get(&call).and_then(|j| j.route));
        let job = self.jobs.get_mut(&call).expect("checked above");
        job.place = Some(place);
        job.phase = if pause { Phase::Paused } else { Phase::Waiting };
        if q.hours.is_some() {
            // Callers wait while the queue's hours are open: looked at every minute.
            self.timers
                .at(next_minute(now), Timer::Hours { call, serial });
        }
        if alone {
            // Nobody logged in: wait this long for someone to, then the `no_agents` handler.
            job.alone_since = Some(now);
            self.timers.at(
                now + q.no_agents_ms as i64,
                Timer::NoAgents {
                    call,
                    serial,
                    since: now,
                },
            );
        }
        if pause {
            let timer = Timer::Retry {
                call,
                serial,
                round: job.round,
            };
            self.timers.at(now + wait, timer);
        }
        self.actions.push_back(Action::Queued {
            call,
            group,
            position,
        });
        if let Some(g) = q.greeting {
            self.actions.push_back(Action::Hear {
                call,
                what: Hear::Greeting(g),
            });
        }
        for (index, &(kind, every)) in q.announcements.iter().enumerate() {
            match every {
                // Once, on entering the queue (a second one `announce_gap` after the first).
                None => match self.jobs.get(&call).and_then(|j| j.announced_at) {
                    Some(last) if q.announce_gap_ms > 0 => self.timers.at(
                        last + q.announce_gap_ms as i64,
                        Timer::Announce {
                            call,
                            serial,
                            index,
                        },
                    ),
                    _ => self.announce(now, call, group, place, kind),
                },
                // Every period, the first one period after entering.
                Some(every) => self.timers.at(
                    now + every.max(self.config.min_announce_ms) as i64,
                    Timer::Announce {
                        call,
                        serial,
                        index,
                    },
                ),
            }
        }
        if let Some(m) = q.music {
            self.actions.push_back(Action::Hear {
                call,
                what: Hear::Music(m),
            });
        }
        let max_wait = q
            .max_wait_ms
            .unwrap_or(self.config.max_wait_ceiling_ms)
            .min(self.config.max_wait_ceiling_ms);
        self.timers
            .at(now + max_wait as i64, Timer::MaxWait { call, serial });
        if !pause {
            self.offer_waiting(now, call);
        }
    }

    /// A waiting caller became ready: offer them if an agent is free for them. (No caller
    /// ahead can use that agent: it would have been offered already.)
    fn offer_waiting(&mut self, now: i64, call: CallId) {
        self.attempt(now, call);
    }

    /// Ends the route with an outcome for the flow (leaving the queue, stopping any ringing).
    fn finish(&mut self, now: i64, call: CallId, outcome: Outcome) {
        let freed = self.drop_job(call, StopWhy::CallerGone);
        self.actions.push_back(Action::Outcome { call, outcome });
        for a in freed {
            self.agent_free(now, a);
        }
    }

    /// Forgets the job: out of the queue, its agents' phones stopped. Returns the agents freed.
    fn drop_job(&mut self, call: CallId, why: StopWhy) -> Vec<AgentId> {
        let Some(job) = self.jobs.remove(&call) else {
            return Vec::new();
        };
        if let Some(place) = job.place {
            self.groups[job.group as usize].queue.remove(place);
        }
        for &a in &job.ringing {
            self.stop_ringing(call, a, why);
        }
        job.ringing
    }

    /// The agent's groups where nobody is logged in any more: their waiting callers leave.
    fn nobody_left(&mut self, now: i64, agent: AgentId) {
        let groups = self.groups_of[agent as usize].clone();
        for g in groups {
            if self.stat(ts(now), g, Stat::LoggedIn) > 0 {
                continue;
            }
            let waiting: Vec<CallId> = self.groups[g as usize]
                .queue
                .calls()
                .map(|(_, c)| c)
                .collect();
            for call in waiting {
                let Some(job) = self.jobs.get_mut(&call) else {
                    continue;
                };
                let Some(route) = job.route else { continue };
                let grace = self.program.routes[route as usize]
                    .queue
                    .as_ref()
                    .map_or(0, |q| q.no_agents_ms);
                if grace == 0 {
                    self.finish(now, call, Outcome::NoAgents);
                } else if job.alone_since.is_none() {
                    // Wait this long for an agent to log in again.
                    job.alone_since = Some(now);
                    let serial = job.serial;
                    self.timers.at(
                        now + grace as i64,
                        Timer::NoAgents {
                            call,
                            serial,
                            since: now,
                        },
                    );
                }
            }
        }
    }

    /// Whether the agent may take the job at `now`: its tier of the group is open, and it has
    /// the skills the job's route and group require.
    fn qualified(&self, agent: AgentId, job: &Job, now: i64) -> bool {
        let p = &*self.program;
        let g = &p.groups[job.group as usize];
        // (Most groups have no tier that opens later: no member lookup for them.)
        let tier = || g.members.iter().find(|m| m.0 == agent).map_or(0, |m| m.1);
        if !g.tier_opens_ms.is_empty()
            && strategy::tier_opens(g, tier()) as i64 > now.saturating_sub(job.arrived)
        {
            // The caller's sticky agent rings first even before its tier opens.
            let sticky = job
                .route
                .and_then(|r| self.sticky_agent(job, &p.routes[r as usize], now));
            if sticky != Some(agent) {
                return false;
            }
        }
        let route_req: &[(u32, u32)] = job
            .route
            .map_or(&[], |r| p.routes[r as usize].require.as_slice());
        let info = &p.agents[agent as usize];
        p.groups[job.group as usize]
            .require
            .iter()
            .chain(route_req)
            .all(|&(skill, need)| {
                let name = p.str(skill);
                info.skills
                    .iter()
                    .find(|(s, _)| p.str(*s) == name)
                    .map_or(0, |s| s.1)
                    >= need
            })
    }

    /// The agent may take a call: offer the longest-waiting caller of the agent's groups that
    /// the agent may take, and go on while the agent stays free (the strategy may have chosen
    /// someone else for that caller).
    fn agent_free(&mut self, now: i64, agent: AgentId) {
        let mut tried = 0;
        while self.agents[agent as usize].available() {
            let mut best: Option<(Place, CallId)> = None;
            for &g in &self.groups_of[agent as usize] {
                let found = self.groups[g as usize].queue.ready().find(|(_, c)| {
                    self.jobs
                        .get(c)
                        .is_some_and(|j| self.qualified(agent, j, now))
                });
                if let Some((place, c)) = found {
                    if best.is_none_or(|(b, _)| {
                        (place.rank, place.since, place.seq) < (b.rank, b.since, b.seq)
                    }) {
                        best = Some((place, c));
                    }
                }
            }
            let Some((_, call)) = best else { return };
            self.attempt(now, call);
            tried += 1;
            // Every attempt takes a caller out of the ready set or rings someone; bounded
            // anyway, so no state can make this spin.
            if tried > self.jobs.len() {
                return;
            }
            if self
                .jobs
                .get(&call)
                .is_some_and(|j| j.phase == Phase::Waiting)
            {
                // The strategy found nobody for this caller (sticky or skills): stop here
                // rather than loop on the same caller.
                return;
            }
        }
    }
}
