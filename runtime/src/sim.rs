//! Simulated calls: the VM and the call-centre engine driven by a scripted world instead of
//! phones, on a simulated clock. Calls arrive at given times and share agents and queues; key
//! presses, agent behaviour, switches, lookup answers and callers already waiting come from a
//! [`Scenario`]. Time passes through prompts (their length), key timeouts, ring time, queue
//! waits and wrap-up. The result is, per call, the outcome and a trace of every step,
//! decision, effect and the time it happened — what `callflow simulate` prints and what
//! `callflow test` compares. Pure: no I/O, no clock of its own.

mod run;

use crate::acd::strategy::AgentState;
use crate::vm::End;
use callflow_compiler::bytecode::Pc;
use jiff::Timestamp;
use std::collections::HashMap;

/// How a scripted agent behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentSetting {
    State(AgentState),
    /// Ready, but does not pick up.
    NoAnswer,
    /// Ready, but its phone cannot be reached (an error, no response).
    Unreachable,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupScript {
    Fields(Vec<(String, String)>),
    NotFound,
    Fails,
}

/// One simulated caller.
#[derive(Clone, Debug)]
pub struct CallScript {
    pub caller: String,
    pub dialled: String,
    pub at: Timestamp,
    /// Answers to key prompts, in order (`""` = no key before the timeout). A withdraw key of
    /// the flow is taken as withdrawing consent, then the next answer is used. In a queue, an
    /// exit key next in line is pressed after the greeting.
    pub keys: Vec<String>,
    /// The caller hangs up this long after calling (`None`: stays until the flow ends).
    pub hang_up_after_ms: Option<u64>,
    /// How long the conversation lasts once an agent answers.
    pub talk_ms: u64,
}

/// Everything the simulated calls meet.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The calls, in any order (they arrive at their `at`).
    pub calls: Vec<CallScript>,
    /// Agents' behaviour from the start (unlisted agents are ready and answer at once).
    pub agents: HashMap<String, AgentSetting>,
    /// How long an agent's scripted state lasts, in milliseconds from the first call (then the
    /// agent is ready); without an entry, all along.
    pub agent_for: HashMap<String, u64>,
    pub switches: HashMap<String, bool>,
    /// Each lookup's answers in order: the n-th time it is asked (in the whole scenario) it gets
    /// the n-th; the last one repeats.
    pub lookups: HashMap<String, Vec<LookupScript>>,
    /// The first caller's earlier calls: which agent, when (the sticky memory).
    pub earlier: Vec<(String, Timestamp)>,
    /// Per group: callers already waiting at the start, and how long the longest has waited
    /// (ms).
    pub queues: HashMap<String, (i64, i64)>,
    pub round_robin: HashMap<String, usize>,
    pub seed: u64,
    /// Prompt lengths by file, in milliseconds ([`DEFAULT_PROMPT_MS`] for others).
    pub prompt_ms: HashMap<String, u64>,
    /// The simulation stops here (default: [`HORIZON_MS`] after the last call arrives); calls
    /// still waiting in a queue then end as `Queued`.
    pub until: Option<Timestamp>,
}

/// A prompt whose length is unknown plays this long.
pub const DEFAULT_PROMPT_MS: u64 = 3_000;
/// A conversation lasts this long unless the scenario says otherwise.
pub const DEFAULT_TALK_MS: u64 = 180_000;
/// How long a simulation follows the calls after the last one arrives.
pub const HORIZON_MS: u64 = 30 * 60_000;
/// Effects a simulated call may hand out before it is stopped.
pub const MAX_EFFECTS: usize = 500;

impl CallScript {
    pub fn new(dialled: &str, caller: &str, at: Timestamp) -> CallScript {
        CallScript {
            caller: caller.into(),
            dialled: dialled.into(),
            at,
            keys: Vec::new(),
            hang_up_after_ms: None,
            talk_ms: DEFAULT_TALK_MS,
        }
    }
}

impl Scenario {
    /// A scenario of one call.
    pub fn new(dialled: &str, caller: &str, at: Timestamp) -> Scenario {
        Scenario {
            calls: vec![CallScript::new(dialled, caller, at)],
            agents: HashMap::new(),
            agent_for: HashMap::new(),
            switches: HashMap::new(),
            lookups: HashMap::new(),
            earlier: Vec::new(),
            queues: HashMap::new(),
            round_robin: HashMap::new(),
            seed: 1,
            prompt_ms: HashMap::new(),
            until: None,
        }
    }

    /// The first call (a scenario has at least one).
    pub fn call(&mut self) -> &mut CallScript {
        &mut self.calls[0]
    }
}

/// One line of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceLine {
    /// The simulated clock, milliseconds after the call arrived (before the lines it times).
    Time {
        ms: u64,
    },
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
    /// Agents in the order they were (or would be) rung first.
    pub order: Vec<String>,
    pub answered: Option<String>,
    pub outcome: String,
    /// Time spent in the group's queue, milliseconds.
    pub waited_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimEnd {
    Vm(End),
    /// Still waiting in a queue when the simulation stopped.
    Queued {
        group: String,
    },
    /// The call handed out too many effects, or was still going when the simulation stopped.
    TooLong,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub flow: String,
    pub caller: String,
    pub at: Timestamp,
    /// When the flow ended (or the simulation stopped).
    pub ended_at: Timestamp,
    pub end: SimEnd,
    pub trace: Vec<TraceLine>,
    /// Prompts heard, in order (menu and collect prompts, queue greetings, announcements and
    /// music included).
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

/// A duration as an admin writes it: `15s`, `10m`, `1m30s`, `2.5s`.
pub fn duration(ms: u64) -> String {
    if !ms.is_multiple_of(1000) {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let s = ms / 1000;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m}m"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// Runs every call of the scenario; outcomes in the order of `scenario.calls`.
pub fn run_all(m: &crate::vm::Machine, scenario: &Scenario) -> Result<Vec<Outcome>, String> {
    run::Sim::new(m, scenario)?.run()
}

/// Runs the scenario and returns the first call's outcome.
pub fn run(m: &crate::vm::Machine, scenario: &Scenario) -> Result<Outcome, String> {
    run_all(m, scenario)?
        .into_iter()
        .next()
        .ok_or_else(|| "the scenario makes no call".to_string())
}
