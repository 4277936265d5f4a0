//! The simulation loop: one agenda of things that happen at simulated instants (calls
//! arriving, prompts ending, keys pressed, agents answering, conversations ending, callers
//! hanging up) merged with the engine's own timers, earliest first. Each call's VM is resumed
//! with what happened; routes go to the call-centre engine, whose actions are turned into
//! agents' behaviour, trace lines and the VM's answers.

use super::{
    AgentSetting, CallScript, DEFAULT_PROMPT_MS, DEFAULT_TALK_MS, HORIZON_MS, LookupScript,
    MAX_EFFECTS, Outcome, RouteTry, Scenario, SimEnd, TraceLine,
};
use crate::acd::agent::Presence;
use crate::acd::engine::{self, Action, Config, Engine, Hear, RouteRequest, StopWhy};
use crate::acd::store::Durable;
use crate::acd::strategy::{AgentState, Skip};
use crate::acd::{AgentId, CallId};
use crate::vm::{Call, Effect, End, Event, KeysFor, Machine, Step, Trace, World};
use callflow_compiler::bytecode::{Pc, Program, Stat};
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Callers parked in queues at the start get call ids from here on.
const PARKED: CallId = 1 << 40;
/// Things that may happen in one simulation before it is stopped.
const MAX_WAKES: usize = 200_000;
/// A caller takes this long to type an answer after the prompt.
const TYPING_MS: u64 = 1_000;
/// "Say" plays this long per digit or word.
const SAY_MS: u64 = 600;
/// A caller leaving a voicemail talks this long.
const MESSAGE_MS: u64 = 30_000;

#[derive(Clone, Debug)]
enum Wake {
    Arrive(usize),
    /// Resume the call's VM (stale when the call's generation moved on), first writing what
    /// the caller did into the trace.
    Resume(usize, u64, Event, Option<String>),
    HangUp(usize),
    /// The caller presses a queue exit key.
    QueueKey(usize, u64, String),
    /// The agent picks up.
    Answer(CallId, AgentId),
    /// The agent's phone cannot be reached.
    Fail(CallId, AgentId),
    /// The conversation is over.
    TalkOver(CallId),
    /// The agent's scripted state is over: ready.
    Ready(AgentId),
}

/// Receives the VM's steps for one call.
struct Recorder {
    lines: Vec<TraceLine>,
    covered: Vec<bool>,
    last: Option<(u16, u32)>,
}

struct Debug<'a>(&'a Program);

impl Trace for (&mut Recorder, Debug<'_>) {
    fn enabled(&self) -> bool {
        true
    }
    fn step(&mut self, pc: Pc) {
        let rec = &mut *self.0;
        if let Some(c) = rec.covered.get_mut(pc as usize) {
            *c = true;
        }
        let loc = self
            .1
            .0
            .debug
            .get(pc as usize)
            .filter(|d| !d.implicit)
            .map(|d| (d.file, d.line));
        if loc.is_some() && loc != rec.last {
            rec.last = loc;
            let (file, line) = loc.unwrap_or_default();
            rec.lines.push(TraceLine::Source { pc, file, line });
        }
    }
    fn decision(&mut self, pc: Pc, taken: bool) {
        self.0.lines.push(TraceLine::Decision { pc, taken });
    }
    fn note(&mut self, pc: Pc, text: String) {
        self.0.lines.push(TraceLine::Note { pc, text });
    }
}

/// One simulated call.
struct Run {
    script: CallScript,
    flow: usize,
    number: String,
    vm: Option<Call>,
    rec: Recorder,
    out: Outcome,
    keys: VecDeque<String>,
    /// Bumped whenever the call waits for something new; older wakes are stale.
    generation: u64,
    ended: bool,
    effects: usize,
    /// The route being worked on.
    routing: Option<Routing>,
    queued_at: Option<i64>,
    /// Talking to an agent (the flow has ended with the answer; the conversation goes on).
    talking: bool,
    /// When the trace last showed the time.
    stamped: Option<i64>,
    pc: Pc,
}

/// A route a call is in.
#[derive(Clone, Copy, Debug)]
struct Routing {
    route: u16,
    /// Index into the outcome's `routes`.
    tried: usize,
    /// Whether a dialling round was traced already.
    dialled: bool,
}

struct SimWorld<'a> {
    now: Timestamp,
    s: &'a Scenario,
    engine: &'a Engine<&'a Program>,
    p: &'a Program,
}

impl World for SimWorld<'_> {
    fn now(&self) -> Timestamp {
        self.now
    }
    fn switch(&self, name: &str, default: bool) -> bool {
        self.s.switches.get(name).copied().unwrap_or(default)
    }
    fn stat(&self, group: &str, stat: Stat) -> i64 {
        match self
            .p
            .groups
            .iter()
            .position(|g| self.p.str(g.name) == group)
        {
            Some(g) => self.engine.stat(self.now, g as u16, stat),
            None => 0,
        }
    }
}

pub struct Sim<'a, 'p> {
    m: &'p Machine,
    p: &'p Program,
    s: &'a Scenario,
    engine: Engine<&'p Program>,
    now: i64,
    agenda: BTreeMap<(i64, u64), Wake>,
    next: u64,
    runs: Vec<Run>,
    start: i64,
    until: i64,
    /// How often each lookup was asked so far (which scripted answer comes next).
    asked: HashMap<String, usize>,
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MAX)
}

/// `1500` → "1.5 s", `500` → "500 ms".
fn show_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn file_note(file: Option<&str>) -> String {
    file.map_or(String::new(), |f| format!(" [{f}]"))
}

impl<'a, 'p> Sim<'a, 'p> {
    pub fn new(m: &'p Machine, s: &'a Scenario) -> Result<Sim<'a, 'p>, String> {
        let p = m.program();
        let mut runs = Vec::new();
        for script in &s.calls {
            callflow_compiler::numbers::normalize(&script.dialled)
                .ok_or_else(|| format!("\"{}\" is not a phone number", script.dialled))?;
            let (flow, number) = p
                .flow_for_dialled(&script.dialled)
                .ok_or_else(|| format!("no flow answers {}", script.dialled))?;
            runs.push(Run {
                script: script.clone(),
                flow,
                number,
                vm: None,
                rec: Recorder {
                    lines: Vec::new(),
                    covered: vec![false; p.code.len()],
                    last: None,
                },
                out: Outcome {
                    flow: p.str(p.flows[flow].name).to_string(),
                    caller: script.caller.clone(),
                    at: script.at,
                    ended_at: script.at,
                    end: SimEnd::TooLong,
                    trace: Vec::new(),
                    played: Vec::new(),
                    routes: Vec::new(),
                    voicemail: None,
                    transfer: None,
                    recorded: false,
                    language: String::new(),
                    covered: Vec::new(),
                },
                keys: script.keys.iter().cloned().collect(),
                generation: 0,
                ended: false,
                effects: 0,
                routing: None,
                queued_at: None,
                talking: false,
                stamped: None,
                pc: 0,
            });
        }
        let start = s.calls.iter().map(|c| ms(c.at)).min().unwrap_or(0);
        let last = s.calls.iter().map(|c| ms(c.at)).max().unwrap_or(0);
        let until = s.until.map_or(last + HORIZON_MS as i64, ms);
        let mut durable = Durable::default();
        for (g, pos) in &s.round_robin {
            durable.round_robin.insert(g.clone(), *pos as u32);
        }
        let config = Config {
            default_presence: Presence::Ready,
            ..Config::default()
        };
        let mut sim = Sim {
            m,
            p,
            s,
            engine: Engine::new(p, config, &durable),
            now: start,
            agenda: BTreeMap::new(),
            next: 0,
            runs,
            start,
            until,
            asked: HashMap::new(),
        };
        sim.set_up()?;
        Ok(sim)
    }

    fn agent_id(&self, name: &str) -> Option<AgentId> {
        let p = self.p;
        p.agents
            .iter()
            .position(|a| p.str(a.name) == name)
            .map(|i| i as AgentId)
    }

    fn agent_name(&self, a: AgentId) -> &'p str {
        let p = self.p;
        p.agents.get(a as usize).map_or("?", |x| p.str(x.name))
    }

    fn at(&mut self, when: i64, wake: Wake) {
        self.next += 1;
        self.agenda.insert((when, self.next), wake);
    }

    /// Agents' scripted states, the first caller's sticky memory, callers already waiting.
    fn set_up(&mut self) -> Result<(), String> {
        let now = ts(self.start);
        let mut agents: Vec<(&String, &AgentSetting)> = self.s.agents.iter().collect();
        agents.sort_by_key(|a| a.0);
        for (name, setting) in agents {
            let Some(a) = self.agent_id(name) else {
                return Err(format!("no agent `{name}` in these flows"));
            };
            let until = self.s.agent_for.get(name).map(|d| self.start + *d as i64);
            let e = &mut self.engine;
            let r = match setting {
                AgentSetting::NoAnswer
                | AgentSetting::Unreachable
                | AgentSetting::State(AgentState::Ready) => Ok(()),
                AgentSetting::State(AgentState::Busy | AgentState::Ringing) => {
                    e.busy_elsewhere(a, until.map(ts)).map(|_| ())
                }
                AgentSetting::State(AgentState::WrapUp) => e.wrap_up(a, until.map(ts)).map(|_| ()),
                AgentSetting::State(AgentState::NotReady) => {
                    let p = Presence::NotReady {
                        reason: String::new(),
                    };
                    e.set_presence(now, a, p)
                }
                AgentSetting::State(AgentState::DoNotDisturb) => {
                    e.set_presence(now, a, Presence::DoNotDisturb)
                }
                AgentSetting::State(AgentState::LoggedOut) => {
                    e.set_presence(now, a, Presence::LoggedOut)
                }
            };
            r.map_err(|e| e.to_string())?;
            let presence_change = matches!(
                setting,
                AgentSetting::State(
                    AgentState::NotReady | AgentState::DoNotDisturb | AgentState::LoggedOut
                )
            );
            if let (Some(until), true) = (until, presence_change) {
                self.at(until, Wake::Ready(a));
            }
        }
        if let Some(first) = self.s.calls.first() {
            let mut earlier = self.s.earlier.clone();
            earlier.sort_by_key(|e| e.1);
            for (agent, when) in earlier {
                if when > first.at {
                    continue;
                }
                let Some(a) = self.agent_id(&agent) else {
                    return Err(format!("no agent `{agent}` in these flows"));
                };
                self.engine
                    .remember(&first.caller, a, when)
                    .map_err(|e| e.to_string())?;
            }
        }
        let mut queues: Vec<(&String, &(i64, i64))> = self.s.queues.iter().collect();
        queues.sort();
        let mut parked = PARKED;
        for (group, &(n, wait)) in queues {
            let Some(g) = self
                .p
                .groups
                .iter()
                .position(|x| self.p.str(x.name) == group)
            else {
                return Err(format!("no group `{group}` in these flows"));
            };
            let since = ts(self.start - wait.max(0));
            for _ in 0..n.clamp(0, 100_000) {
                parked += 1;
                self.engine
                    .park(now, parked, g as u16, since)
                    .map_err(|e| e.to_string())?;
            }
        }
        self.actions();
        for i in 0..self.runs.len() {
            let at = ms(self.runs[i].script.at);
            self.at(at, Wake::Arrive(i));
            if let Some(after) = self.runs[i].script.hang_up_after_ms {
                self.at(at + after as i64, Wake::HangUp(i));
            }
        }
        Ok(())
    }

    pub fn run(mut self) -> Result<Vec<Outcome>, String> {
        let mut wakes = 0;
        loop {
            let agenda = self.agenda.keys().next().map(|k| k.0);
            let timer = self.engine.poll_timeout().map(ms);
            let next = match (agenda, timer) {
                (Some(a), Some(t)) => a.min(t),
                (Some(a), None) => a,
                (None, Some(t)) => t,
                (None, None) => break,
            };
            if next > self.until || wakes >= MAX_WAKES {
                break;
            }
            wakes += 1;
            self.now = next.max(self.now);
            if timer == Some(next) && agenda.is_none_or(|a| a >= next) {
                self.engine.handle_timeout(ts(self.now));
            } else if let Some((_, wake)) = self.agenda.pop_first() {
                self.wake(wake);
            }
            self.actions();
        }
        let mut outs = Vec::new();
        for mut r in self.runs {
            if !r.ended {
                r.out.ended_at = ts(self.now.max(ms(r.script.at)));
                if let (Some(routing), Some(_)) = (r.routing, r.queued_at) {
                    let g = self.p.routes[routing.route as usize].group;
                    r.out.end = SimEnd::Queued {
                        group: self.p.str(self.p.groups[g as usize].name).to_string(),
                    };
                }
            }
            if let Some(vm) = &r.vm {
                r.out.language = self.m.language(vm).to_string();
            }
            r.out.trace = r.rec.lines;
            r.out.covered = r
                .rec
                .covered
                .iter()
                .enumerate()
                .filter(|(_, c)| **c)
                .map(|(i, _)| i as Pc)
                .collect();
            outs.push(r.out);
        }
        Ok(outs)
    }

    fn id(i: usize) -> CallId {
        i as CallId + 1
    }

    fn run_of(&self, call: CallId) -> Option<usize> {
        let i = call.checked_sub(1)? as usize;
        (i < self.runs.len()).then_some(i)
    }

    /// Puts the time into the call's trace when it moved on since the last line.
    fn stamp(&mut self, i: usize) {
        let r = &mut self.runs[i];
        if r.stamped != Some(self.now) {
            r.stamped = Some(self.now);
            let ms = (self.now - ms(r.script.at)).max(0) as u64;
            r.rec.lines.push(TraceLine::Time { ms });
        }
    }

    fn line(&mut self, i: usize, line: TraceLine) {
        self.stamp(i);
        self.runs[i].rec.lines.push(line);
    }

    fn effect_line(&mut self, i: usize, text: String) {
        let pc = self.runs[i].pc;
        self.line(i, TraceLine::Effect { pc, text });
    }

    fn answer_line(&mut self, i: usize, text: String) {
        self.line(i, TraceLine::Answer { text });
    }

    /// Resume the call after `delay` with `event`.
    fn later(&mut self, i: usize, delay: u64, event: Event) {
        self.later_saying(i, delay, event, None);
    }

    fn later_saying(&mut self, i: usize, delay: u64, event: Event, said: Option<String>) {
        let r = &mut self.runs[i];
        r.generation += 1;
        let g = r.generation;
        self.at(self.now + delay as i64, Wake::Resume(i, g, event, said));
    }

    fn wake(&mut self, wake: Wake) {
        match wake {
            Wake::Arrive(i) => {
                let r = &mut self.runs[i];
                // The caller in the flow's country's plan, as the server reads it.
                let caller = callflow_compiler::numbers::caller_in(
                    &r.script.caller,
                    self.m.program().country(r.flow),
                );
                r.vm = Some(self.m.start(r.flow, &caller, &r.number));
                self.stamp(i);
                self.step(i, Event::Start);
            }
            Wake::Resume(i, g, event, said) => {
                if !self.runs[i].ended && self.runs[i].generation == g {
                    if let Some(text) = said {
                        self.answer_line(i, text);
                    }
                    self.step(i, event);
                }
            }
            Wake::HangUp(i) => {
                if self.runs[i].ended {
                    // Hanging up during the conversation ends it (and starts the wrap-up).
                    if std::mem::take(&mut self.runs[i].talking) {
                        self.answer_line(i, "the caller hangs up".into());
                        let _ = self.engine.left(ts(self.now), Self::id(i));
                    }
                    return;
                }
                self.answer_line(i, "the caller hangs up".into());
                if let Some(routing) = self.runs[i].routing {
                    let _ = self.engine.left(ts(self.now), Self::id(i));
                    let waited = self.runs[i]
                        .queued_at
                        .map_or(0, |q| (self.now - q).max(0) as u64);
                    let tried = &mut self.runs[i].out.routes[routing.tried];
                    tried.waited_ms = waited;
                    tried.outcome = "caller hung up".into();
                }
                self.runs[i].routing = None;
                self.runs[i].queued_at = None;
                self.step(i, Event::HungUp);
            }
            Wake::QueueKey(i, g, key) => {
                if self.runs[i].ended || self.runs[i].generation != g {
                    return;
                }
                self.answer_line(i, format!("caller presses \"{key}\" to leave the queue"));
                let _ = self.engine.key(ts(self.now), Self::id(i), &key);
            }
            Wake::Answer(call, agent) => {
                // Stale when the ringing stopped meanwhile: the engine refuses it.
                let _ = self.engine.answered(ts(self.now), call, agent);
            }
            Wake::Fail(call, agent) => {
                // Said only while it still rings for the call (the engine refuses it otherwise).
                if self.engine.agent_state(agent) == AgentState::Ringing {
                    if let Some(i) = self.run_of(call) {
                        let name = self.agent_name(agent).to_string();
                        self.answer_line(i, format!("`{name}`'s phone cannot be reached"));
                    }
                }
                let _ = self.engine.failed(ts(self.now), call, agent);
            }
            Wake::TalkOver(call) => {
                if let Some(i) = self.run_of(call) {
                    if !std::mem::take(&mut self.runs[i].talking) {
                        return; // the caller hung up before
                    }
                }
                let _ = self.engine.ended(ts(self.now), call);
            }
            Wake::Ready(a) => {
                let _ = self.engine.set_presence(ts(self.now), a, Presence::Ready);
            }
        }
    }

    /// Resumes the call's VM with `event` and performs what it asks next.
    fn step(&mut self, i: usize, event: Event) {
        let now = ts(self.now);
        let r = &mut self.runs[i];
        let Some(vm) = r.vm.as_mut() else { return };
        let world = SimWorld {
            now,
            s: self.s,
            engine: &self.engine,
            p: self.p,
        };
        let lines_before = r.rec.lines.len();
        // The simulator answers the effect the call waits on, always the latest.
        let answers = vm.waiting_on().unwrap_or_default();
        let step = self
            .m
            .resume(vm, answers, event, &world, &mut (&mut r.rec, Debug(self.p)));
        r.pc = vm.pc;
        // The VM decides whether the call is recorded (an answered route records only with
        // the consent the caller has at that moment).
        if vm.recording {
            r.out.recorded = true;
        }
        // Time stamps go before the lines of this step.
        if r.rec.lines.len() > lines_before && r.stamped != Some(self.now) {
            r.stamped = Some(self.now);
            let at = (self.now - ms(r.script.at)).max(0) as u64;
            r.rec.lines.insert(lines_before, TraceLine::Time { ms: at });
        }
        match step {
            Err(refused) => self.end(
                i,
                SimEnd::Vm(End::Failed(crate::vm::VmError::UnexpectedEvent(
                    refused.to_string(),
                ))),
            ),
            Ok(Step::End(end)) => self.end(i, SimEnd::Vm(end)),
            Ok(Step::Effect(_, effect)) => {
                r.effects += 1;
                if r.effects > MAX_EFFECTS {
                    return self.end(i, SimEnd::TooLong);
                }
                self.effect(i, effect);
            }
        }
    }

    fn end(&mut self, i: usize, end: SimEnd) {
        let r = &mut self.runs[i];
        r.ended = true;
        r.generation += 1;
        r.out.end = end;
        r.out.ended_at = ts(self.now);
        if r.routing.take().is_some() {
            // A flow that ends while routed (it cannot, but be safe) leaves the engine.
            let _ = self.engine.left(ts(self.now), Self::id(i));
        }
    }

    fn prompt_ms(&self, file: Option<&str>) -> u64 {
        file.and_then(|f| self.s.prompt_ms.get(f).copied())
            .unwrap_or(DEFAULT_PROMPT_MS)
    }

    fn effect(&mut self, i: usize, effect: Effect<'p>) {
        match effect {
            Effect::Play {
                prompt,
                file,
                interruptible,
                early,
            } => {
                self.runs[i].out.played.push(prompt.to_string());
                let how = match (interruptible, early) {
                    (true, false) => "",
                    (false, false) => " (uninterruptible)",
                    (true, true) => " (early media, before answering)",
                    (false, true) => " (uninterruptible, early media, before answering)",
                };
                self.effect_line(i, format!("play \"{prompt}\"{how}{}", file_note(file)));
                let d = self.prompt_ms(file);
                self.later(i, d, Event::Done);
            }
            Effect::Say { value, digits } => {
                let how = if digits { "digits" } else { "number" };
                self.runs[i].out.played.push(format!("say {how} {value}"));
                self.effect_line(i, format!("say {how} {value}"));
                let words = if digits { value.len().max(1) } else { 2 };
                self.later(i, SAY_MS * words as u64, Event::Done);
            }
            Effect::Keys {
                what,
                before,
                prompt,
                file,
                max_digits,
                first_timeout_ms,
                ..
            } => {
                // A menu's first prompts of a list: heard before the one that asks.
                let mut heard = 0;
                for (name, file) in before {
                    self.runs[i].out.played.push(name.to_string());
                    self.effect_line(i, format!("play \"{name}\"{}", file_note(file)));
                    heard += self.prompt_ms(file);
                }
                self.keys(
                    i,
                    what,
                    prompt,
                    file,
                    max_digits,
                    first_timeout_ms + heard,
                    heard,
                )
            }
            Effect::Route {
                route,
                group,
                record,
                priority,
            } => {
                let rec_note = match record {
                    None => "",
                    Some(callflow_compiler::bytecode::Sides::Both) => {
                        ", recording the conversation"
                    }
                    Some(callflow_compiler::bytecode::Sides::Caller) => {
                        ", recording the caller's side of the conversation"
                    }
                    Some(callflow_compiler::bytecode::Sides::Agent) => {
                        ", recording the agent's side of the conversation"
                    }
                };
                self.effect_line(i, format!("route to group `{group}`{rec_note}"));
                let r = &mut self.runs[i];
                r.out.routes.push(RouteTry {
                    group: group.to_string(),
                    order: Vec::new(),
                    answered: None,
                    outcome: String::new(),
                    waited_ms: 0,
                });
                r.routing = Some(Routing {
                    route,
                    tried: r.out.routes.len() - 1,
                    dialled: false,
                });
                r.queued_at = None;
                r.generation += 1;
                let req = RouteRequest {
                    route,
                    caller: &r.script.caller,
                    zone: self.m.zone(r.flow).clone(),
                    entropy: self.s.seed.wrapping_add(i as u64),
                    priority,
                };
                if let Err(e) = self.engine.route(ts(self.now), Self::id(i), req) {
                    self.end(
                        i,
                        SimEnd::Vm(End::Failed(crate::vm::VmError::BadState(
                            if matches!(e, engine::EngineError::DuplicateCall(_)) {
                                "routed twice"
                            } else {
                                "route refused"
                            },
                        ))),
                    );
                }
            }
            Effect::Transfer { target } => {
                self.effect_line(i, format!("transfer to {target}"));
                self.runs[i].out.transfer = Some(target);
                self.later(i, 0, Event::Done);
            }
            Effect::Voicemail {
                vbox,
                greeting,
                file,
                reason,
            } => {
                if let Some(g) = greeting {
                    self.runs[i].out.played.push(g.to_string());
                }
                self.effect_line(
                    i,
                    format!(
                        "voicemail box `{vbox}` ({}): greeting {}{}",
                        reason.name(),
                        greeting.map_or("none".to_string(), |g| format!("\"{g}\"")),
                        file_note(file)
                    ),
                );
                self.runs[i].out.voicemail = Some((vbox.to_string(), reason.name().to_string()));
                let d = greeting.map_or(0, |_| self.prompt_ms(file)) + MESSAGE_MS;
                self.later(i, d, Event::Done);
            }
            Effect::Lookup {
                lookup,
                url,
                retries,
                retry_ms,
                ..
            } => {
                self.effect_line(i, format!("lookup `{lookup}`: GET {url}"));
                // Each try takes the next scripted answer; a failure is asked again while
                // retries remain (the pause passes on the clock).
                let mut waited = 0;
                let mut tries_left = retries;
                let script = loop {
                    let n = self.asked.entry(lookup.to_string()).or_insert(0);
                    let script = self
                        .s
                        .lookups
                        .get(lookup)
                        .and_then(|list| list.get((*n).min(list.len().saturating_sub(1))));
                    *n += 1;
                    let failed = matches!(script, Some(LookupScript::Fails) | None);
                    if !failed || tries_left == 0 {
                        break script;
                    }
                    tries_left -= 1;
                    waited += retry_ms;
                    self.answer_line(
                        i,
                        format!("the lookup fails; asking again in {}", show_ms(retry_ms)),
                    );
                };
                let (text, event) = match script {
                    Some(LookupScript::Fields(f)) => {
                        let shown: Vec<String> =
                            f.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                        (
                            format!("answer: {}", shown.join(", ")),
                            Event::LookupOk(f.clone()),
                        )
                    }
                    Some(LookupScript::NotFound) => {
                        ("answer: not found".into(), Event::LookupNotFound)
                    }
                    Some(LookupScript::Fails) => (
                        "the lookup fails (error or timeout)".into(),
                        Event::LookupFailed,
                    ),
                    None => (
                        "no answer scripted for this lookup: it fails".into(),
                        Event::LookupFailed,
                    ),
                };
                self.answer_line(i, text);
                self.later(i, waited, event);
            }
            Effect::StartRecording { sides } => {
                self.runs[i].out.recorded = true;
                let what = match sides {
                    callflow_compiler::bytecode::Sides::Both => String::new(),
                    s => format!(" ({} only)", s.name()),
                };
                self.effect_line(i, format!("start recording{what}"));
                self.later(i, 0, Event::Done);
            }
            Effect::StopRecording => {
                self.effect_line(i, "stop recording".into());
                self.later(i, 0, Event::Done);
            }
            Effect::Answer => {
                self.effect_line(i, "answer".into());
                self.later(i, 0, Event::Done);
            }
            Effect::Wait { ms } => {
                self.effect_line(i, format!("wait {}", show_ms(ms)));
                self.later(i, ms, Event::Done);
            }
        }
    }

    /// `before_ms`: how long the prompts before this one play (keys pressed are heard from
    /// their start; the timeout, `first_timeout_ms`, already includes them).
    #[allow(clippy::too_many_arguments)]
    fn keys(
        &mut self,
        i: usize,
        what: KeysFor<'p>,
        prompt: &str,
        file: Option<&str>,
        max_digits: u32,
        first_timeout_ms: u64,
        before_ms: u64,
    ) {
        let p = self.p;
        self.runs[i].out.played.push(prompt.to_string());
        let asking = match what {
            KeysFor::Menu(n) => format!("menu `{n}`"),
            KeysFor::Collect(v) => format!("collect `{v}`"),
            KeysFor::Consent(c) => format!("consent `{c}`"),
        };
        self.effect_line(
            i,
            format!(
                "{asking}: play \"{prompt}\"{} and wait for up to {max_digits} key(s)",
                file_note(file)
            ),
        );
        // Withdraw keys are heard by the runtime before any prompt gets them.
        let withdraw = self.m.withdraw_keys(self.runs[i].flow);
        let mut answer = self.runs[i].keys.pop_front();
        while let Some(k) = answer.clone() {
            let Some(&(consent, _)) = withdraw.iter().find(|(_, w)| *w == k) else {
                break;
            };
            self.answer_line(
                i,
                format!(
                    "caller presses \"{k}\": consent `{}` withdrawn",
                    p.str(p.consents[consent as usize].name)
                ),
            );
            let r = &mut self.runs[i];
            if let Some(vm) = r.vm.as_mut() {
                if self.m.withdraw(vm, consent) {
                    self.effect_line(i, "stop recording (consent withdrawn)".into());
                }
            }
            answer = self.runs[i].keys.pop_front();
        }
        let mut k = answer.unwrap_or_default();
        // A phone stops listening after `max_digits` keys; the rest is typed ahead for the
        // next prompt.
        if let Some((cut, _)) = k.char_indices().nth(max_digits as usize) {
            self.runs[i].keys.push_front(k[cut..].to_string());
            k.truncate(cut);
        }
        let heard = self.prompt_ms(file);
        let delay = if k.is_empty() {
            heard + first_timeout_ms
        } else {
            before_ms + heard + TYPING_MS
        };
        let text = if k.is_empty() {
            "caller presses nothing (timeout)".to_string()
        } else {
            format!("caller presses \"{k}\"")
        };
        self.later_saying(i, delay, Event::Keys(k), Some(text));
    }

    /// Turns the engine's actions into agents' behaviour, trace lines and VM answers, in
    /// order; the agents a step rings together show as one line.
    fn actions(&mut self) {
        let mut batch = Vec::new();
        while let Some(a) = self.engine.poll_action() {
            batch.push(a);
        }
        let mut rung: Vec<(CallId, Vec<AgentId>, u64)> = Vec::new();
        let mut unanswered: Vec<CallId> = Vec::new();
        for action in batch {
            if let Action::Ring { call, agent, until } = action {
                let ring = (ms(until) - self.now).max(0) as u64;
                match rung.iter_mut().find(|r| r.0 == call) {
                    Some(r) => r.1.push(agent),
                    None => rung.push((call, vec![agent], ring)),
                }
                continue;
            }
            let call = match &action {
                Action::Dialling { call, .. }
                | Action::StopRinging { call, .. }
                | Action::Queued { call, .. }
                | Action::Hear { call, .. }
                | Action::Outcome { call, .. } => Some(*call),
                _ => None,
            };
            if let Some(pos) = call.and_then(|c| rung.iter().position(|r| r.0 == c)) {
                let (c, agents, ring) = rung.remove(pos);
                self.ringing(c, agents, ring);
            }
            match action {
                Action::Dialling { call, plan } => self.dialling(call, plan),
                Action::StopRinging { call, why, agent } => {
                    let Some(i) = self.run_of(call) else { continue };
                    match why {
                        StopWhy::NoAnswer if !unanswered.contains(&call) => {
                            unanswered.push(call);
                            self.answer_line(i, "no answer".into());
                        }
                        StopWhy::AgentChanged => {
                            let name = self.agent_name(agent);
                            self.answer_line(i, format!("`{name}` stops ringing (state changed)"));
                        }
                        _ => {}
                    }
                }
                Action::Queued { call, position, .. } => {
                    let Some(i) = self.run_of(call) else { continue };
                    self.runs[i].queued_at = Some(self.now);
                    self.answer_line(
                        i,
                        format!("the caller waits in the queue (position {position})"),
                    );
                    self.queue_key(i);
                }
                Action::Hear { call, what } => self.hear(call, what),
                Action::Outcome { call, outcome } => self.outcome(call, outcome),
                Action::Ring { .. } | Action::AgentState { .. } => {}
            }
        }
        for (call, agents, ring) in rung {
            self.ringing(call, agents, ring);
        }
    }

    fn dialling(&mut self, call: CallId, plan: crate::acd::strategy::Plan) {
        let Some(i) = self.run_of(call) else { return };
        let Some(routing) = self.runs[i].routing else {
            return;
        };
        let names: Vec<String> = plan
            .order()
            .iter()
            .map(|&a| self.agent_name(a).to_string())
            .collect();
        let pc = self.runs[i].pc;
        let first = !routing.dialled;
        if first {
            for (a, why) in &plan.skipped {
                let name = self.agent_name(*a);
                let text = match why {
                    Skip::NotAvailable(st) => format!("skip `{name}`: {}", st.name()),
                    Skip::Skill { skill, need, has } => {
                        format!("skip `{name}`: skill {skill} {has}, {need} needed")
                    }
                    Skip::TierClosed { tier, opens_ms } => format!(
                        "skip `{name}`: tier {tier} opens after {}",
                        callflow_compiler::duration::human(*opens_ms)
                    ),
                };
                self.line(i, TraceLine::Note { pc, text });
            }
            self.runs[i].out.routes[routing.tried].order = names.clone();
            if let Some(r) = self.runs[i].routing.as_mut() {
                r.dialled = true;
            }
        }
        let text = if names.is_empty() {
            "nobody to ring".to_string()
        } else if first {
            format!("ring order ({}): {}", plan.why(self.p), names.join(", "))
        } else {
            format!("offered again: {}", names.join(", "))
        };
        self.line(i, TraceLine::Note { pc, text });
    }

    /// Agents ring for a call: the trace says so, and the first who picks up answers at once.
    fn ringing(&mut self, call: CallId, agents: Vec<AgentId>, ring: u64) {
        if let Some(i) = self.run_of(call) {
            let names: Vec<&str> = agents.iter().map(|&a| self.agent_name(a)).collect();
            self.answer_line(
                i,
                format!(
                    "ringing {} for {}",
                    names.join(" and "),
                    super::duration(ring)
                ),
            );
        }
        // Unreachable phones fail at once; of the others, the first who picks up answers.
        let setting = |a: AgentId| self.s.agents.get(self.agent_name(a)).cloned();
        let failing: Vec<AgentId> = agents
            .iter()
            .copied()
            .filter(|&a| setting(a) == Some(AgentSetting::Unreachable))
            .collect();
        let picks = agents.iter().copied().find(|&a| {
            !matches!(
                setting(a),
                Some(AgentSetting::NoAnswer | AgentSetting::Unreachable)
            )
        });
        for a in failing {
            self.at(self.now, Wake::Fail(call, a));
        }
        if let Some(a) = picks {
            self.at(self.now, Wake::Answer(call, a));
        }
    }

    fn hear(&mut self, call: CallId, what: Hear) {
        let Some(i) = self.run_of(call) else { return };
        let p = self.p;
        let name = |x: u32| p.str(p.prompts[x as usize].name).to_string();
        let (text, heard) = match what {
            Hear::Greeting(g) => (format!("queue greeting \"{}\"", name(g)), name(g)),
            Hear::Music(m) => (format!("hold music \"{}\"", name(m)), name(m)),
            Hear::Position(n) => (
                format!("announce: say position {n}"),
                format!("say number {n}"),
            ),
            Hear::ExpectedWait(w) => {
                let minutes = w.div_ceil(60_000);
                (
                    format!("announce: say expected wait of {minutes} minute(s)"),
                    format!("say number {minutes}"),
                )
            }
            Hear::Prompt(x) => (format!("announce: play \"{}\"", name(x)), name(x)),
        };
        self.runs[i].out.played.push(heard);
        self.effect_line(i, text);
    }

    /// In a queue, a scripted exit key next in line is pressed a moment after entering (after
    /// any withdraw keys before it, which withdraw consent at once).
    fn queue_key(&mut self, i: usize) {
        let withdraw = self.m.withdraw_keys(self.runs[i].flow);
        while let Some(front) = self.runs[i].keys.front() {
            let Some(&(consent, _)) = withdraw.iter().find(|(_, w)| *w == front) else {
                break;
            };
            let key = self.runs[i].keys.pop_front().unwrap_or_default();
            let p = self.p;
            self.answer_line(
                i,
                format!(
                    "caller presses \"{key}\": consent `{}` withdrawn",
                    p.str(p.consents[consent as usize].name)
                ),
            );
            if let Some(vm) = self.runs[i].vm.as_mut() {
                if self.m.withdraw(vm, consent) {
                    self.effect_line(i, "stop recording (consent withdrawn)".into());
                }
            }
        }
        let Some(routing) = self.runs[i].routing else {
            return;
        };
        let p = self.p;
        let Some(q) = &p.routes[routing.route as usize].queue else {
            return;
        };
        let Some(front) = self.runs[i].keys.front() else {
            return;
        };
        if !q.exit_keys.iter().any(|(k, _)| p.str(*k) == front) {
            return;
        }
        let key = self.runs[i].keys.pop_front().unwrap_or_default();
        let g = self.runs[i].generation;
        self.at(self.now + TYPING_MS as i64, Wake::QueueKey(i, g, key));
    }

    fn outcome(&mut self, call: CallId, outcome: engine::Outcome) {
        let Some(i) = self.run_of(call) else {
            // A caller parked at the start: the agent talks to them for a while.
            if let engine::Outcome::Answered { .. } = outcome {
                self.at(self.now + DEFAULT_TALK_MS as i64, Wake::TalkOver(call));
            }
            return;
        };
        let Some(Routing {
            route, tried: t, ..
        }) = self.runs[i].routing.take()
        else {
            return;
        };
        let waited = self.runs[i]
            .queued_at
            .take()
            .map_or(0, |q| (self.now - q).max(0) as u64);
        let event = match &outcome {
            engine::Outcome::Answered { agent } => {
                let name = self.agent_name(*agent).to_string();
                self.answer_line(i, format!("`{name}` answers"));
                let talk = self.runs[i].script.talk_ms;
                self.runs[i].talking = true;
                self.at(self.now + talk as i64, Wake::TalkOver(call));
                self.runs[i].out.routes[t].answered = Some(name.clone());
                Event::Answered { agent: name }
            }
            engine::Outcome::NoAnswer => Event::NoAnswer,
            engine::Outcome::Busy => Event::Busy,
            engine::Outcome::NoAgents => {
                self.answer_line(i, "nobody of the group is logged in".into());
                Event::NoAgents
            }
            engine::Outcome::Closed => {
                self.answer_line(i, "the queue's hours are over".into());
                Event::Closed
            }
            engine::Outcome::Failed => {
                self.answer_line(i, "no agent's phone could be reached".into());
                Event::Failed
            }
            engine::Outcome::QueueFull => {
                let n = self
                    .engine
                    .waiting(self.p.routes[route as usize].group)
                    .len();
                self.answer_line(i, format!("the queue is full ({n} waiting)"));
                Event::QueueFull
            }
            engine::Outcome::QueueTimeout => {
                self.answer_line(
                    i,
                    format!("no agent took the call within {}", super::duration(waited)),
                );
                Event::QueueTimeout
            }
            engine::Outcome::QueueKey(k) => Event::QueueKey(k.clone()),
        };
        let tried = &mut self.runs[i].out.routes[t];
        tried.outcome = outcome.describe().to_string();
        tried.waited_ms = waited;
        self.later(i, 0, event);
    }
}
