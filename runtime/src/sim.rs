//! Simulated calls: the VM driven by a scripted world instead of a phone. Key presses, agent
//! states, switches, lookup answers and the caller's earlier calls come from a [`Scenario`];
//! routes use the real agent selection (`acd::strategy`). The result is the outcome and a
//! trace of every step, decision and effect — what `callflow simulate` prints and what
//! `callflow test` compares. Pure: no I/O, no clock.

use crate::acd::strategy::{self, AgentSnapshot, AgentState, Input, Skip};
use crate::vm::{Call, Effect, End, Event, KeysFor, Machine, Step, Trace, World, time::Local};
use callflow_compiler::bytecode::{AnnounceKind, Pc, Program, Stat, Sticky};
use jiff::Timestamp;
use std::collections::{HashMap, VecDeque};

/// How a scripted agent behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentSetting {
    State(AgentState),
    /// Ready, but does not pick up.
    NoAnswer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupScript {
    Fields(Vec<(String, String)>),
    NotFound,
    Fails,
}

/// Everything a simulated call meets.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub caller: String,
    pub dialled: String,
    pub at: Timestamp,
    /// Answers to key prompts, in order (`""` = no key before the timeout). A withdraw key of
    /// the flow is taken as withdrawing consent, then the next answer is used.
    pub keys: Vec<String>,
    pub agents: HashMap<String, AgentSetting>,
    pub switches: HashMap<String, bool>,
    pub lookups: HashMap<String, LookupScript>,
    /// This caller's earlier calls: which agent, when.
    pub earlier: Vec<(String, Timestamp)>,
    /// Per group: callers waiting and the longest wait in ms.
    pub queues: HashMap<String, (i64, i64)>,
    pub round_robin: HashMap<String, usize>,
    pub seed: u64,
}

impl Scenario {
    pub fn new(dialled: &str, caller: &str, at: Timestamp) -> Scenario {
        Scenario {
            caller: caller.into(),
            dialled: dialled.into(),
            at,
            keys: Vec::new(),
            agents: HashMap::new(),
            switches: HashMap::new(),
            lookups: HashMap::new(),
            earlier: Vec::new(),
            queues: HashMap::new(),
            round_robin: HashMap::new(),
            seed: 1,
        }
    }
}

/// One line of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceLine {
    /// Execution reached a new source line (file, line number).
    Source {
        pc: Pc,
        file: u16,
        line: u32,
    },
    Decision {
        pc: Pc,
        taken: bool,
    },
    Note {
        pc: Pc,
        text: String,
    },
    Effect {
        pc: Pc,
        text: String,
    },
    /// What the simulated world answered.
    Answer {
        text: String,
    },
}

/// One attempt to reach a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTry {
    pub group: String,
    /// Agents in the order they were (or would be) rung.
    pub order: Vec<String>,
    pub answered: Option<String>,
    pub outcome: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimEnd {
    Vm(End),
    /// Waiting in a queue with no agent ever free and no maximum wait.
    Queued {
        group: String,
    },
    /// The scenario ran out of steps (a loop waiting for input that never ends).
    TooLong,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub flow: String,
    pub end: SimEnd,
    pub trace: Vec<TraceLine>,
    /// Prompts heard, in order (menu and collect prompts and greetings included).
    pub played: Vec<String>,
    pub routes: Vec<RouteTry>,
    /// The voicemail box reached, with the greeting's reason.
    pub voicemail: Option<(String, String)>,
    pub transfer: Option<String>,
    /// Whether any recording happened during the call.
    pub recorded: bool,
    /// The prompt language at the end of the call.
    pub language: String,
    /// Instructions executed (for coverage).
    pub covered: Vec<Pc>,
}

/// Effects a simulated call may hand out before it is stopped.
pub const MAX_EFFECTS: usize = 500;

struct SimWorld<'s> {
    s: &'s Scenario,
    p: &'s Program,
}

impl World for SimWorld<'_> {
    fn now(&self) -> Timestamp {
        self.s.at
    }
    fn switch(&self, name: &str, default: bool) -> bool {
        self.s.switches.get(name).copied().unwrap_or(default)
    }
    fn stat(&self, group: &str, stat: Stat) -> i64 {
        let q = self.s.queues.get(group).copied().unwrap_or((0, 0));
        let Some(g) = self.p.groups.iter().find(|g| self.p.str(g.name) == group) else {
            return 0;
        };
        let states = g
            .members
            .iter()
            .map(|(a, _)| agent_state(self.s, self.p.str(self.p.agents[*a as usize].name)));
        match stat {
            Stat::AgentsAvailable => states.filter(|s| *s == AgentState::Ready).count() as i64,
            Stat::LoggedIn => states.filter(|s| *s != AgentState::LoggedOut).count() as i64,
            Stat::QueueLength => q.0,
            Stat::WaitingTime => q.1,
            Stat::ExpectedWait => q.1,
        }
    }
}

fn agent_state(s: &Scenario, name: &str) -> AgentState {
    match s.agents.get(name) {
        Some(AgentSetting::State(st)) => *st,
        _ => AgentState::Ready,
    }
}

struct Recorder {
    lines: Vec<TraceLine>,
    covered: Vec<bool>,
    last: Option<(u16, u32)>,
    /// File and line per instruction; `None` for implicit ones (no line of the admin's).
    debug: Vec<Option<(u16, u32)>>,
}

impl Trace for Recorder {
    fn enabled(&self) -> bool {
        true
    }
    fn step(&mut self, pc: Pc) {
        if let Some(c) = self.covered.get_mut(pc as usize) {
            *c = true;
        }
        let loc = self.debug.get(pc as usize).copied().flatten();
        if loc.is_some() && loc != self.last {
            self.last = loc;
            let (file, line) = loc.unwrap_or_default();
            self.lines.push(TraceLine::Source { pc, file, line });
        }
    }
    fn decision(&mut self, pc: Pc, taken: bool) {
        self.lines.push(TraceLine::Decision { pc, taken });
    }
    fn note(&mut self, pc: Pc, text: String) {
        self.lines.push(TraceLine::Note { pc, text });
    }
}

/// Runs one simulated call through the flow that answers `scenario.dialled`.
pub fn run(m: &Machine, scenario: &Scenario) -> Result<Outcome, String> {
    let p = m.program;
    let number = callflow_compiler::check::numbers::normalize(&scenario.dialled)
        .ok_or_else(|| format!("\"{}\" is not a phone number", scenario.dialled))?;
    let flow = p
        .flow_for(&number)
        .ok_or_else(|| format!("no flow answers {number}"))?;
    let mut call = m.start(flow, &scenario.caller, &number);
    let world = SimWorld { s: scenario, p };
    let mut rec = Recorder {
        lines: Vec::new(),
        covered: vec![false; p.code.len()],
        last: None,
        debug: p
            .debug
            .iter()
            .map(|d| (!d.implicit).then_some((d.file, d.line)))
            .collect(),
    };
    let mut out = Outcome {
        flow: p.str(p.flows[flow].name).to_string(),
        end: SimEnd::TooLong,
        trace: Vec::new(),
        played: Vec::new(),
        routes: Vec::new(),
        voicemail: None,
        transfer: None,
        recorded: false,
        language: String::new(),
        covered: Vec::new(),
    };
    let mut keys: VecDeque<String> = scenario.keys.iter().cloned().collect();
    let withdraw = m.withdraw_keys(flow);
    let mut rr = scenario.round_robin.clone();
    let mut event = Event::Start;
    for _ in 0..MAX_EFFECTS {
        let step = m.resume(&mut call, event, &world, &mut rec);
        let pc = call.pc;
        let effect = match step {
            Step::End(end) => {
                out.end = SimEnd::Vm(end);
                break;
            }
            Step::Effect(e) => e,
        };
        event = match effect {
            Effect::Play {
                prompt,
                file,
                interruptible,
            } => {
                out.played.push(prompt.to_string());
                let how = if interruptible {
                    ""
                } else {
                    " (uninterruptible)"
                };
                rec.lines.push(TraceLine::Effect {
                    pc,
                    text: format!("play \"{prompt}\"{how}{}", file_note(file)),
                });
                Event::Done
            }
            Effect::Say { value, digits } => {
                let how = if digits { "digits" } else { "number" };
                out.played.push(format!("say {how} {value}"));
                rec.lines.push(TraceLine::Effect {
                    pc,
                    text: format!("say {how} {value}"),
                });
                Event::Done
            }
            Effect::Keys {
                what,
                prompt,
                file,
                max_digits,
                ..
            } => {
                out.played.push(prompt.to_string());
                let asking = match what {
                    KeysFor::Menu(n) => format!("menu `{n}`"),
                    KeysFor::Collect(v) => format!("collect `{v}`"),
                    KeysFor::Consent(c) => format!("consent `{c}`"),
                };
                rec.lines.push(TraceLine::Effect {
                    pc,
                    text: format!(
                        "{asking}: play \"{prompt}\"{} and wait for up to {max_digits} key(s)",
                        file_note(file)
                    ),
                });
                // Withdraw keys are heard by the runtime before any prompt gets them.
                let mut answer = keys.pop_front();
                while let Some(k) = answer.as_deref() {
                    let Some(&(consent, _)) = withdraw.iter().find(|(_, w)| *w == k) else {
                        break;
                    };
                    rec.lines.push(TraceLine::Answer {
                        text: format!(
                            "caller presses \"{k}\": consent `{}` withdrawn",
                            p.str(p.consents[consent as usize].name)
                        ),
                    });
                    if m.withdraw(&mut call, consent) {
                        rec.lines.push(TraceLine::Effect {
                            pc,
                            text: "stop recording (consent withdrawn)".into(),
                        });
                    }
                    answer = keys.pop_front();
                }
                let mut k = answer.unwrap_or_default();
                // A phone stops listening after `max_digits` keys; the rest is typed ahead for
                // the next prompt.
                if let Some((cut, _)) = k.char_indices().nth(max_digits as usize) {
                    keys.push_front(k[cut..].to_string());
                    k.truncate(cut);
                }
                rec.lines.push(TraceLine::Answer {
                    text: if k.is_empty() {
                        "caller presses nothing (timeout)".into()
                    } else {
                        format!("caller presses \"{k}\"")
                    },
                });
                Event::Keys(k)
            }
            Effect::Route {
                route,
                group,
                record,
            } => {
                let rec_note = if record {
                    ", recording the conversation"
                } else {
                    ""
                };
                rec.lines.push(TraceLine::Effect {
                    pc,
                    text: format!("route to group `{group}`{rec_note}"),
                });
                let (ev, tried) = route_call(
                    m,
                    &call,
                    scenario,
                    route,
                    &mut keys,
                    &mut rr,
                    &mut rec.lines,
                    &mut out.played,
                    pc,
                );
                if record && matches!(ev, Event::Answered { .. }) {
                    out.recorded = true;
                }
                out.routes.push(tried);
                if let Event::QueueTimeout = ev {
                    if p.routes[route as usize]
                        .queue
                        .as_ref()
                        .is_some_and(|q| q.max_wait_ms.is_none())
                    {
                        out.end = SimEnd::Queued {
                            group: group.to_string(),
                        };
                        break;
                    }
                }
                ev
            }
            Effect::Transfer { target } => {
                rec.lines.push(TraceLine::Effect {
                    pc,
                    text: format!("transfer to {target}"),
                });
                out.transfer = Some(target);
                Event::Done
            }
            Effect::Voicemail {
                vbox,
                greeting,
                file,
                reason,
            } => {
                if let Some(g) = greeting {
                    out.played.push(g.to_string());
                }
                rec.lines.push(TraceLine::Effect {
                    pc,
                    text: format!(
                        "voicemail box `{vbox}` ({}): greeting {}{}",
                        reason.name(),
                        greeting.map_or("none".to_string(), |g| format!("\"{g}\"")),
                        file_note(file)
                    ),
                });
                out.voicemail = Some((vbox.to_string(), reason.name().to_string()));
                Event::Done
            }
            Effect::Lookup { lookup, url, .. } => {
                rec.lines.push(TraceLine::Effect {
                    pc,
                    text: format!("lookup `{lookup}`: GET {url}"),
                });
                match scenario.lookups.get(lookup) {
                    Some(LookupScript::Fields(f)) => {
                        let shown: Vec<String> =
                            f.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                        rec.lines.push(TraceLine::Answer {
                            text: format!("answer: {}", shown.join(", ")),
                        });
                        Event::LookupOk(f.clone())
                    }
                    Some(LookupScript::NotFound) => {
                        rec.lines.push(TraceLine::Answer {
                            text: "answer: not found".into(),
                        });
                        Event::LookupNotFound
                    }
                    Some(LookupScript::Fails) => {
                        rec.lines.push(TraceLine::Answer {
                            text: "the lookup fails (error or timeout)".into(),
                        });
                        Event::LookupFailed
                    }
                    None => {
                        rec.lines.push(TraceLine::Answer {
                            text: "no answer scripted for this lookup: it fails".into(),
                        });
                        Event::LookupFailed
                    }
                }
            }
            Effect::StartRecording => {
                out.recorded = true;
                rec.lines.push(TraceLine::Effect {
                    pc,
                    text: "start recording".into(),
                });
                Event::Done
            }
            Effect::StopRecording => {
                rec.lines.push(TraceLine::Effect {
                    pc,
                    text: "stop recording".into(),
                });
                Event::Done
            }
        };
    }
    out.language = m.language(&call).to_string();
    out.trace = rec.lines;
    out.covered = rec
        .covered
        .iter()
        .enumerate()
        .filter(|(_, c)| **c)
        .map(|(i, _)| i as Pc)
        .collect();
    Ok(out)
}

fn file_note(file: Option<&str>) -> String {
    file.map_or(String::new(), |f| format!(" [{f}]"))
}

/// The sticky agent for this call: the last agent this caller spoke to, if recent enough.
fn sticky_agent(m: &Machine, call: &Call, s: &Scenario, sticky: Sticky) -> Option<u16> {
    let p = m.program;
    let zone = m.zone(call.flow as usize);
    let today = Local::of(zone, s.at).day;
    let (agent, _) = s
        .earlier
        .iter()
        .filter(|(_, t)| *t <= s.at)
        .filter(|(_, t)| match sticky {
            Sticky::None => false,
            Sticky::Today => Local::of(zone, *t).day == today,
            Sticky::For(ms) => s.at.as_millisecond() - t.as_millisecond() <= ms as i64,
        })
        .max_by_key(|(_, t)| *t)?;
    p.agents
        .iter()
        .position(|a| p.str(a.name) == agent)
        .map(|i| i as u16)
}

#[allow(clippy::too_many_arguments)]
fn route_call(
    m: &Machine,
    call: &Call,
    s: &Scenario,
    route: u16,
    keys: &mut VecDeque<String>,
    rr: &mut HashMap<String, usize>,
    lines: &mut Vec<TraceLine>,
    played: &mut Vec<String>,
    pc: Pc,
) -> (Event, RouteTry) {
    let p = m.program;
    let info = &p.routes[route as usize];
    let g = &p.groups[info.group as usize];
    let gname = p.str(g.name).to_string();
    let name = |a: u16| p.str(p.agents[a as usize].name).to_string();
    let sticky = sticky_agent(m, call, s, info.sticky);
    let input = Input {
        program: p,
        group: info.group,
        require: &info.require,
        sticky,
        round_robin_next: rr.get(&gname).copied().unwrap_or(0),
        seed: s.seed,
    };
    let plan = strategy::plan(&input, |a| AgentSnapshot {
        state: agent_state(s, &name(a)),
        ..AgentSnapshot::default()
    });
    for (a, why) in &plan.skipped {
        let text = match why {
            Skip::NotAvailable(st) => format!("skip `{}`: {}", name(*a), st.name()),
            Skip::Skill { skill, need, has } => {
                format!("skip `{}`: skill {skill} {has}, {need} needed", name(*a))
            }
        };
        lines.push(TraceLine::Note { pc, text });
    }
    let order: Vec<String> = plan.order().into_iter().map(name).collect();
    lines.push(TraceLine::Note {
        pc,
        text: if order.is_empty() {
            "nobody to ring".to_string()
        } else {
            format!("ring order ({}): {}", plan.why, order.join(", "))
        },
    });
    let mut tried = RouteTry {
        group: gname.clone(),
        order,
        answered: None,
        outcome: String::new(),
    };
    let ring = g.ring_ms / 1000;
    for round in &plan.rounds {
        let names: Vec<String> = round.iter().map(|&a| name(a)).collect();
        lines.push(TraceLine::Answer {
            text: format!("ringing {} for {ring}s", names.join(" and ")),
        });
        if let Some(&a) = round
            .iter()
            .find(|&&a| s.agents.get(&name(a)) != Some(&AgentSetting::NoAnswer))
        {
            lines.push(TraceLine::Answer {
                text: format!("`{}` answers", name(a)),
            });
            rr.insert(gname, strategy::round_robin_after(p, info.group, a));
            tried.answered = Some(name(a));
            tried.outcome = "answered".into();
            return (Event::Answered { agent: name(a) }, tried);
        }
        lines.push(TraceLine::Answer {
            text: "no answer".into(),
        });
    }
    let event = match &info.queue {
        None if plan.rounds.is_empty() => Event::Busy,
        None => Event::NoAnswer,
        Some(q) => {
            let waiting = s.queues.get(&tried.group).map_or(0, |x| x.0);
            if q.max_length.is_some_and(|max| waiting >= i64::from(max)) {
                lines.push(TraceLine::Answer {
                    text: format!("the queue is full ({waiting} waiting)"),
                });
                Event::QueueFull
            } else {
                lines.push(TraceLine::Answer {
                    text: format!("the caller waits in the queue (position {})", waiting + 1),
                });
                let prompt = |i: u32| p.str(p.prompts[i as usize].name).to_string();
                if let Some(g) = q.greeting {
                    lines.push(TraceLine::Effect {
                        pc,
                        text: format!("queue greeting \"{}\"", prompt(g)),
                    });
                    played.push(prompt(g));
                }
                for (what, every) in &q.announcements {
                    let (text, heard) = match what {
                        AnnounceKind::Position => (
                            format!("say position {}", waiting + 1),
                            format!("say number {}", waiting + 1),
                        ),
                        AnnounceKind::ExpectedWait => {
                            let wait = s.queues.get(&tried.group).map_or(0, |x| x.1) / 60_000;
                            (
                                format!("say expected wait of {wait} minute(s)"),
                                format!("say number {wait}"),
                            )
                        }
                        AnnounceKind::Prompt(x) => (format!("play \"{}\"", prompt(*x)), prompt(*x)),
                    };
                    let when = every.map_or(String::new(), |e| format!(", every {}s", e / 1000));
                    lines.push(TraceLine::Effect {
                        pc,
                        text: format!("announce: {text}{when}"),
                    });
                    played.push(heard);
                }
                if let Some(music) = q.music {
                    lines.push(TraceLine::Effect {
                        pc,
                        text: format!("hold music \"{}\"", prompt(music)),
                    });
                    played.push(prompt(music));
                }
                let exit = keys
                    .front()
                    .and_then(|k| q.exit_keys.iter().find(|(e, _)| p.str(*e) == k))
                    .map(|(e, _)| p.str(*e).to_string());
                match (exit, q.max_wait_ms) {
                    (Some(k), _) => {
                        keys.pop_front();
                        lines.push(TraceLine::Answer {
                            text: format!("caller presses \"{k}\" to leave the queue"),
                        });
                        Event::QueueKey(k)
                    }
                    (None, Some(ms)) => {
                        lines.push(TraceLine::Answer {
                            text: format!("no agent becomes free within {}s", ms / 1000),
                        });
                        Event::QueueTimeout
                    }
                    (None, None) => {
                        lines.push(TraceLine::Answer { text: "no agent becomes free and the queue has no max_wait: the caller keeps waiting".into() });
                        Event::QueueTimeout
                    }
                }
            }
        }
    };
    tried.outcome = match &event {
        Event::Busy => "busy",
        Event::NoAnswer => "no answer",
        Event::QueueFull => "queue full",
        Event::QueueKey(_) => "left the queue",
        _ => "waited too long",
    }
    .into();
    (event, tried)
}
