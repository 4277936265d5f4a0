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
    /// In a tier that opens once the caller has waited this long (`tier 2 after 5m`).
    TierClosed {
        tier: u32,
        opens_ms: u64,
    },
}

/// The order of ringing: agents in order, cut into steps whose agents ring together for the
/// group's ring time (one agent per step; for `ring_all` and `priority`, one step per tier).
/// Every strategy rings tier by tier: tier 1's agents in the strategy's order, then tier 2's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    agents: Vec<u16>,
    /// Where each step ends in `agents`.
    ends: Vec<u32>,
    pub skipped: Vec<(u16, Skip)>,
    /// The sticky agent, when it was put first.
    pub sticky_first: Option<u16>,
    strategy: Option<Strategy>,
    round_robin_from: usize,
    /// Whether the group has more than one tier (the order is tier by tier).
    tiered: bool,
}

impl Plan {
    /// Every agent in ringing order.
    pub fn order(&self) -> &[u16] {
        &self.agents
    }

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// The agents of step `i`.
    pub fn step(&self, i: usize) -> Option<&[u16]> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.agents.get(start..end)
    }

    pub fn steps(&self) -> usize {
        self.ends.len()
    }

    /// The steps as lists of agents.
    pub fn rounds(&self) -> Vec<Vec<u16>> {
        (0..self.steps())
            .filter_map(|i| self.step(i).map(<[u16]>::to_vec))
            .collect()
    }

    /// Why the order is what it is, in words (for traces).
    pub fn why(&self, p: &Program) -> String {
        let why = match self.strategy {
            None => String::new(),
            Some(Strategy::RingAll) => "all available agents ring at once".to_string(),
            Some(Strategy::Sequential) => "one after another in the listed order".to_string(),
            Some(Strategy::Random) => "one after another in random order".to_string(),
            Some(Strategy::Priority) => "tier by tier, each tier ringing together".to_string(),
            Some(Strategy::LeastBusy) => "fewest calls today first".to_string(),
            Some(Strategy::LongestIdle) => "longest without a call first".to_string(),
            Some(Strategy::RoundRobin) => format!(
                "round robin, continuing at member {}",
                self.round_robin_from + 1
            ),
            Some(Strategy::Skills) => "best qualified for the required skills first".to_string(),
        };
        let why = match (self.tiered, self.strategy) {
            (false, _) | (_, Some(Strategy::Priority)) => why,
            (true, Some(Strategy::RingAll)) => "tier by tier, each tier ringing together".into(),
            (true, _) => format!("tier by tier, inside each tier {why}"),
        };
        match self.sticky_first {
            Some(s) => format!(
                "`{}` first (spoke to this caller before), then {why}",
                p.str(p.agents[s as usize].name)
            ),
            None => why,
        }
    }

    /// The plan without the explanation of who was skipped (what a call keeps).
    pub fn steps_only(&self) -> Plan {
        Plan {
            agents: self.agents.clone(),
            ends: self.ends.clone(),
            skipped: Vec::new(),
            sticky_first: self.sticky_first,
            strategy: self.strategy,
            round_robin_from: self.round_robin_from,
            tiered: self.tiered,
        }
    }

    /// Adds the steps of `later` whose agents `keep` chooses, after this plan's steps (a tier
    /// that opened during the round: its agents ring after every agent already planned, as
    /// later tiers do).
    pub fn extend_with(&mut self, later: &Plan, keep: impl Fn(u16) -> bool) {
        for i in 0..later.steps() {
            let step: Vec<u16> = later
                .step(i)
                .unwrap_or_default()
                .iter()
                .copied()
                .filter(|&a| keep(a) && !self.agents.contains(&a))
                .collect();
            self.push_step(step);
        }
    }

    fn push_step(&mut self, agents: impl IntoIterator<Item = u16>) {
        let before = self.agents.len();
        self.agents.extend(agents);
        if self.agents.len() > before {
            self.ends.push(self.agents.len() as u32);
        }
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
    /// Whether to list the agents skipped, with the reasons (traces want them; they cost).
    pub explain: bool,
    /// How long the caller has waited for the group: tiers that open later are left out.
    pub waited_ms: u64,
}

/// When the group's tier opens (ms of waiting; 0: at once).
pub fn tier_opens(g: &GroupInfo, tier: u32) -> u64 {
    g.tier_opens_ms
        .iter()
        .find(|t| t.0 == tier)
        .map_or(0, |t| t.1)
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
    let require = || g.require.iter().chain(input.require);
    let n = g.members.len().max(1);
    let rr_start = input.round_robin_next % n;
    let mut plan = Plan {
        agents: Vec::with_capacity(g.members.len()),
        ends: Vec::new(),
        skipped: Vec::new(),
        sticky_first: None,
        strategy: Some(g.strategy),
        round_robin_from: rr_start,
        tiered: g.members.iter().any(|m| m.1 != g.members[0].1),
    };
    // Members that can take a call, in the written order: (sort key, position, agent, tier).
    let mut eligible: Vec<(i64, usize, u16, u32)> = Vec::with_capacity(g.members.len());
    for (i, &(agent, tier)) in g.members.iter().enumerate() {
        let snap = snapshot(agent);
        if snap.state != AgentState::Ready {
            if input.explain {
                plan.skipped.push((agent, Skip::NotAvailable(snap.state)));
            }
            continue;
        }
        if let Some(&(skill, need)) = require().find(|(s, need)| level(p, agent, *s) < *need) {
            if !input.explain {
                continue;
            }
            plan.skipped.push((
                agent,
                Skip::Skill {
                    skill: p.str(skill).to_string(),
                    need,
                    has: level(p, agent, skill),
                },
            ));
            continue;
        }
        // The sticky agent rings first even in a tier not open yet: the caller spoke to them.
        if Some(agent) == input.sticky && plan.sticky_first.is_none() {
            plan.sticky_first = Some(agent);
            continue;
        }
        let opens_ms = tier_opens(g, tier);
        if opens_ms > input.waited_ms {
            if input.explain {
                plan.skipped
                    .push((agent, Skip::TierClosed { tier, opens_ms }));
            }
            continue;
        }
        let key = match g.strategy {
            Strategy::LeastBusy => i64::from(snap.calls_today),
            Strategy::LongestIdle => snap.last_call_end.unwrap_or(i64::MIN),
            Strategy::RoundRobin => ((i + n - rr_start) % n) as i64,
            Strategy::Skills => {
                -(require()
                    .map(|(s, _)| i64::from(level(p, agent, *s)))
                    .sum::<i64>())
            }
            _ => 0,
        };
        eligible.push((key, i, agent, tier));
    }
    if let Some(s) = plan.sticky_first {
        plan.push_step([s]);
    }
    // Tier by tier (members without a tier last, after every numbered tier); inside a tier,
    // the strategy's order.
    let tier_key = |e: &(i64, usize, u16, u32)| if e.3 == 0 { u32::MAX } else { e.3 };
    match g.strategy {
        Strategy::RingAll | Strategy::Priority => {
            eligible.sort_unstable_by_key(|e| (tier_key(e), e.1));
            let mut i = 0;
            while i < eligible.len() {
                let tier = eligible[i].3;
                let j = eligible[i..]
                    .iter()
                    .position(|e| e.3 != tier)
                    .map_or(eligible.len(), |k| i + k);
                plan.push_step(eligible[i..j].iter().map(|e| e.2));
                i = j;
            }
        }
        other => {
            match other {
                Strategy::Random => {
                    shuffle(&mut eligible, input.seed);
                    eligible.sort_by_key(tier_key);
                }
                // (tier, key, position) is unique: an unstable sort gives the stable order.
                _ => eligible.sort_unstable_by_key(|e| (tier_key(e), e.0, e.1)),
            }
            for e in &eligible {
                plan.agents.push(e.2);
                plan.ends.push(plan.agents.len() as u32);
            }
        }
    }
    plan
}

/// Where round robin continues after `agent` answered a call of `group`.
pub fn round_robin_after(p: &Program, group: u16, agent: u16) -> usize {
    let g = &p.groups[group as usize];
    g.members
        .iter()
        .position(|m| m.0 == agent)
        .map_or(0, |i| (i + 1) % g.members.len().max(1))
}
