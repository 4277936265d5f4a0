//! Agent selection as pure code: given a group, a snapshot of agent states, the sticky agent and
//! the remembered round-robin position, the order in which agents are rung — as rounds of
//! agents that ring together. No I/O, no clock, no global state: the simulator, `callflow test`
//! and the SIP runtime all ask this one function.

use callflow_compiler::bytecode::{GroupInfo, Program, Strategy};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgentState {
    Ready,
    /// Offered a call: the phone rings.
    Ringing,
    /// On a call.
    Busy,
    NotReady,
    DoNotDisturb,
    /// After-call work.
    WrapUp,
    LoggedOut,
}

impl AgentState {
    pub fn name(self) -> &'static str {
        match self {
            AgentState::Ready => "ready",
            AgentState::Ringing => "ringing",
            AgentState::Busy => "busy",
            AgentState::NotReady => "not ready",
            AgentState::DoNotDisturb => "do not disturb",
            AgentState::WrapUp => "in wrap-up",
            AgentState::LoggedOut => "logged out",
        }
    }

    pub fn parse(s: &str) -> Option<AgentState> {
        Some(match s {
            "ready" => AgentState::Ready,
            "busy" => AgentState::Busy,
            "not_ready" => AgentState::NotReady,
            "dnd" | "do_not_disturb" => AgentState::DoNotDisturb,
            "wrap_up" => AgentState::WrapUp,
            "logged_out" => AgentState::LoggedOut,
            _ => return None,
        })
    }
}

/// What selection needs to know about one agent right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentSnapshot {
    pub state: AgentState,
    pub calls_today: u32,
    /// When the agent's last call ended (seconds since the epoch); `None`: no call yet today.
    pub last_call_end: Option<i64>,
}

impl Default for AgentSnapshot {
    fn default() -> Self {
        AgentSnapshot {
            state: AgentState::Ready,
            calls_today: 0,
            last_call_end: None,
        }
    }
}

/// Why an agent of the group is not rung.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    NotAvailable(AgentState),
    /// Lacks a required skill (`skill`, level needed, level held).
    Skill {
        skill: String,
        need: u32,
        has: u32,
    },
}

/// The order of ringing: each round rings its agents together for the group's ring time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub rounds: Vec<Vec<u16>>,
    pub skipped: Vec<(u16, Skip)>,
    /// The sticky agent, when it was put first.
    pub sticky_first: Option<u16>,
    /// Why the order is what it is, in words (for traces).
    pub why: String,
}

impl Plan {
    /// Every agent in ringing order.
    pub fn order(&self) -> Vec<u16> {
        self.rounds.iter().flatten().copied().collect()
    }
}

pub struct Input<'a> {
    pub program: &'a Program,
    pub group: u16,
    /// Skills the route requires on top of the group's.
    pub require: &'a [(u32, u32)],
    pub sticky: Option<u16>,
    /// Index into the group's members where round robin continues.
    pub round_robin_next: usize,
    /// Seed for `random` (injectable so tests and simulations are repeatable).
    pub seed: u64,
}

/// A small, fast, seedable generator (xorshift64*), enough for shuffling a ring order.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    // Mix the seed (splitmix64 finaliser) so that neighbouring seeds give unrelated orders.
    let mut x = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x = (x ^ (x >> 31)) | 1;
    for i in (1..items.len()).rev() {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        items.swap(i, (r % (i as u64 + 1)) as usize);
    }
}

fn level(p: &Program, agent: u16, skill: u32) -> u32 {
    let name = p.str(skill);
    p.agents[agent as usize]
        .skills
        .iter()
        .find(|(s, _)| p.str(*s) == name)
        .map_or(0, |s| s.1)
}

/// The ringing plan for one attempt to reach the group.
pub fn plan(input: &Input, snapshot: impl Fn(u16) -> AgentSnapshot) -> Plan {
    let p = input.program;
    let g: &GroupInfo = &p.groups[input.group as usize];
    let require: Vec<(u32, u32)> = g.require.iter().chain(input.require).copied().collect();
    let mut skipped = Vec::new();
    // Members that can take a call, in the written order, with their position.
    let mut eligible: Vec<(usize, u16, u32)> = Vec::new();
    for (i, &(agent, tier)) in g.members.iter().enumerate() {
        let snap = snapshot(agent);
        if snap.state != AgentState::Ready {
            skipped.push((agent, Skip::NotAvailable(snap.state)));
            continue;
        }
        if let Some(&(skill, need)) = require.iter().find(|(s, need)| level(p, agent, *s) < *need) {
            skipped.push((
                agent,
                Skip::Skill {
                    skill: p.str(skill).to_string(),
                    need,
                    has: level(p, agent, skill),
                },
            ));
            continue;
        }
        eligible.push((i, agent, tier));
    }
    let mut why = match g.strategy {
        Strategy::RingAll => "all available agents ring at once".to_string(),
        Strategy::Sequential => "one after another in the listed order".to_string(),
        Strategy::Random => "one after another in random order".to_string(),
        Strategy::Priority => "tier by tier, each tier ringing together".to_string(),
        Strategy::LeastBusy => "fewest calls today first".to_string(),
        Strategy::LongestIdle => "longest without a call first".to_string(),
        Strategy::RoundRobin => format!(
            "round robin, continuing at member {}",
            input.round_robin_next % g.members.len().max(1) + 1
        ),
        Strategy::Skills => "best qualified for the required skills first".to_string(),
    };
    let sticky_first = input
        .sticky
        .and_then(|s| eligible.iter().position(|e| e.1 == s))
        .map(|i| eligible.remove(i).1);
    if let Some(s) = sticky_first {
        why = format!(
            "`{}` first (spoke to this caller before), then {why}",
            p.str(p.agents[s as usize].name)
        );
    }
    let mut rounds: Vec<Vec<u16>> = Vec::new();
    match g.strategy {
        Strategy::RingAll => {
            if !eligible.is_empty() {
                rounds.push(eligible.iter().map(|e| e.1).collect());
            }
        }
        Strategy::Priority => {
            let mut tiers: Vec<u32> = eligible.iter().map(|e| e.2).collect();
            tiers.sort_unstable();
            tiers.dedup();
            for t in tiers {
                rounds.push(eligible.iter().filter(|e| e.2 == t).map(|e| e.1).collect());
            }
        }
        other => {
            let mut order = eligible.clone();
            match other {
                Strategy::Random => shuffle(&mut order, input.seed),
                Strategy::LeastBusy => order.sort_by_key(|e| (snapshot(e.1).calls_today, e.0)),
                Strategy::LongestIdle => {
                    order.sort_by_key(|e| (snapshot(e.1).last_call_end.unwrap_or(i64::MIN), e.0))
                }
                Strategy::RoundRobin => {
                    let n = g.members.len().max(1);
                    let start = input.round_robin_next % n;
                    order.sort_by_key(|e| (e.0 + n - start) % n);
                }
                Strategy::Skills => order.sort_by_key(|e| {
                    let score: u64 = require
                        .iter()
                        .map(|(s, _)| u64::from(level(p, e.1, *s)))
                        .sum();
                    (std::cmp::Reverse(score), e.0)
                }),
                _ => {}
            }
            rounds.extend(order.iter().map(|e| vec![e.1]));
        }
    }
    if let Some(s) = sticky_first {
        rounds.insert(0, vec![s]);
    }
    Plan {
        rounds,
        skipped,
        sticky_first,
        why,
    }
}

/// Where round robin continues after `agent` answered a call of `group`.
pub fn round_robin_after(p: &Program, group: u16, agent: u16) -> usize {
    let g = &p.groups[group as usize];
    g.members
        .iter()
        .position(|m| m.0 == agent)
        .map_or(0, |i| (i + 1) % g.members.len().max(1))
}
