//! Property test of the call-centre engine: random interleavings of arrivals, hang-ups, exit
//! keys, agent state changes, answers, declines and conversations ending, over a simulated
//! hour, on groups that share agents and use every strategy. After every event the engine's
//! own audit holds; an agent is never offered two calls at once; every caller leaves in exactly
//! one way; each queue stays in arrival order.

mod common;

use callflow_runtime::acd::agent::Presence;
use callflow_runtime::acd::engine::{Action, Config, Engine, Outcome, RouteRequest};
use callflow_runtime::acd::store::Durable;
use callflow_runtime::acd::{AgentId, CallId, GroupId};
use common::{Rng, iters};
use jiff::{SignedDuration, Timestamp};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const FLOWS: &str = r#"
agent a1 { contact "sip:a1@pbx" skills en:5 }
agent a2 { contact "sip:a2@pbx" skills en:2 }
agent a3 { contact "sip:a3@pbx" skills en:4, de:3 }
agent a4 { contact "sip:a4@pbx" skills de:5 }
agent a5 { contact "sip:a5@pbx" }
agent a6 { contact "sip:a6@pbx" skills en:3 }

group g_all { members a1, a2, a3; strategy ring_all; ring 10s; wrap_up 5s }
group g_seq { members a3, a4, a5; strategy sequential; ring 8s; wrap_up 0s }
group g_rr { members a1, a4, a6; strategy round_robin; ring 6s; wrap_up 10s }
group g_pri { tier 1 a2, a5; tier 2 a6, a1; strategy priority; ring 7s }
group g_idle { members a5, a6, a2; strategy longest_idle; ring 9s }
group g_busy { members a4, a1; strategy least_busy; ring 5s }
group g_skill { members a1, a2, a3, a6; strategy skills; require en:3; ring 5s }
group g_rand { members a2, a3, a4, a5; strategy random; ring 5s }

flow f {
    numbers "200"
    timezone "Europe/Berlin"
    start {
        if caller == "0" { route g_all { sticky today; queue { announce position every 30s; max_wait 5m => hangup; max_length 4 => hangup; key "0" => hangup }; busy => hangup } }
        if caller == "1" { route g_seq { queue { music "m"; max_wait 2m => hangup }; busy => hangup } }
        if caller == "2" { route g_rr { no_answer => hangup; busy => hangup } }
        if caller == "3" { route g_pri { queue { announce expected_wait every 45s }; busy => hangup } }
        if caller == "4" { route g_idle { sticky 2h; queue { max_wait 90s => hangup; key "9" => hangup }; busy => hangup } }
        if caller == "5" { route g_busy { no_answer => hangup; busy => hangup } }
        if caller == "6" { route g_skill { require de:3; queue { max_wait 3m => hangup }; busy => hangup } }
        route g_rand { queue { max_length 2 => hangup; max_wait 4m => hangup }; busy => hangup }
    }
}
"#;

#[derive(Clone, Debug, PartialEq)]
enum Status {
    Routing,
    Talking(AgentId),
    /// Left: an outcome other than answered, or hung up.
    Gone,
    /// Talked and the conversation is over.
    Done,
}

struct Model {
    status: HashMap<CallId, Status>,
    /// Outcomes per call.
    outcomes: HashMap<CallId, usize>,
    /// Which call each agent rings for.
    ringing: HashMap<AgentId, CallId>,
    /// Which calls ring which agents now.
    rings: HashMap<CallId, HashSet<AgentId>>,
    /// When each call was routed (queues keep arrival order).
    /// (minus the priority, when routed, arrival): the order of a queue.
    queued_at: HashMap<CallId, (i64, Timestamp, u64)>,
    seq: u64,
}

fn apply(e: &mut Engine, m: &mut Model, _now: Timestamp) {
    while let Some(a) = e.poll_action() {
        match a {
            Action::Ring { call, agent, .. } => {
                if let Some(other) = m.ringing.insert(agent, call) {
                    panic!("agent {agent} rings for call {call} while ringing for {other}");
                }
                assert!(
                    !m.status.values().any(|s| *s == Status::Talking(agent)),
                    "agent {agent} rings while talking"
                );
                m.rings.entry(call).or_default().insert(agent);
            }
            Action::StopRinging { call, agent, .. } => {
                assert_eq!(
                    m.ringing.remove(&agent),
                    Some(call),
                    "stop of a ring not started"
                );
                m.rings.entry(call).or_default().remove(&agent);
            }
            Action::Queued { .. } => {}
            Action::Outcome { call, outcome } => {
                *m.outcomes.entry(call).or_default() += 1;
                assert_eq!(
                    m.status.get(&call),
                    Some(&Status::Routing),
                    "outcome for a call not routing: {call} {outcome:?}"
                );
                match outcome {
                    Outcome::Answered { agent } => {
                        assert_eq!(
                            m.ringing.remove(&agent),
                            Some(call),
                            "answered by an agent not ringing"
                        );
                        m.rings.entry(call).or_default().remove(&agent);
                        m.status.insert(call, Status::Talking(agent));
                    }
                    _ => {
                        m.status.insert(call, Status::Gone);
                    }
                }
                m.queued_at.remove(&call);
                assert!(
                    m.rings.get(&call).is_none_or(|r| r.is_empty()),
                    "call {call} left with phones ringing"
                );
            }
            Action::Dialling { .. } | Action::Hear { .. } | Action::AgentState { .. } => {}
        }
    }
    e.audit().unwrap_or_else(|err| panic!("audit: {err}"));
    // Each queue by priority, then in the order callers entered it.
    for g in 0..8u16 {
        let waiting = e.waiting(g as GroupId);
        let keys: Vec<(i64, Timestamp, u64)> = waiting
            .iter()
            .filter_map(|c| m.queued_at.get(c).copied())
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "queue {g} out of order: {waiting:?}"
        );
    }
}

fn one_hour(rng: &mut Rng) -> usize {
    let p = common::compile(FLOWS);
    let agents = p.agents.len() as AgentId;
    let zone = jiff::tz::db().get("Europe/Berlin").unwrap();
    let mut e = Engine::new(
        Arc::new(p),
        Config {
            default_presence: Presence::Ready,
            ..Config::default()
        },
        &Durable::default(),
    );
    let mut m = Model {
        status: HashMap::new(),
        outcomes: HashMap::new(),
        ringing: HashMap::new(),
        rings: HashMap::new(),
        queued_at: HashMap::new(),
        seq: 0,
    };
    let start = common::at("Europe/Berlin", "2026-01-07T09:00");
    let end = start + SignedDuration::from_hours(1);
    let mut now = start;
    let mut next_call: CallId = 1;
    let mut callers: HashMap<CallId, String> = HashMap::new();
    while now < end {
        // Time moves on by up to 20 s, firing the engine's timers on the way.
        let target = now + SignedDuration::from_millis(rng.below(20_000) as i64);
        while let Some(t) = e.poll_timeout() {
            if t > target {
                break;
            }
            now = t;
            e.handle_timeout(t);
            apply(&mut e, &mut m, now);
        }
        now = target;
        let routing: Vec<CallId> = {
            let mut v: Vec<CallId> = m
                .status
                .iter()
                .filter(|(_, s)| **s == Status::Routing)
                .map(|(c, _)| *c)
                .collect();
            v.sort();
            v
        };
        let talking: Vec<CallId> = {
            let mut v: Vec<CallId> = m
                .status
                .iter()
                .filter(|(_, s)| matches!(s, Status::Talking(_)))
                .map(|(c, _)| *c)
                .collect();
            v.sort();
            v
        };
        match rng.below(10) {
            0..=2 => {
                let caller = rng.below(9).to_string();
                let route = rng.below(1000) as u64;
                // One caller in four has a priority and waits ahead of the others.
                let priority = if rng.below(4) == 0 { 5 } else { 0 };
                let req = RouteRequest {
                    route: caller.parse::<u16>().unwrap().min(7),
                    caller: &caller,
                    zone: zone.clone(),
                    entropy: route,
                    priority,
                };
                e.route(now, next_call, req).unwrap();
                m.seq += 1;
                m.queued_at.insert(next_call, (-priority, now, m.seq));
                m.status.insert(next_call, Status::Routing);
                callers.insert(next_call, caller);
                next_call += 1;
            }
            3 if !routing.is_empty() => {
                let c = routing[rng.below(routing.len())];
                e.left(now, c).unwrap();
                m.status.insert(c, Status::Gone);
                for a in m.rings.remove(&c).unwrap_or_default() {
                    // Stops arrive as actions; the model drops them there.
                    let _ = a;
                }
            }
            4 if !routing.is_empty() => {
                let c = routing[rng.below(routing.len())];
                let key = ["0", "9", "5"][rng.below(3)];
                let _ = e.key(now, c, key).unwrap();
            }
            5 => {
                let a = rng.below(agents as usize) as AgentId;
                let p = match rng.below(5) {
                    0 => Presence::LoggedOut,
                    1 => Presence::NotReady {
                        reason: "break".into(),
                    },
                    2 => Presence::DoNotDisturb,
                    _ => Presence::Ready,
                };
                e.set_presence(now, a, p).unwrap();
            }
            6 | 7 => {
                // A ringing phone picks up, or refuses.
                let mut ringing: Vec<(AgentId, CallId)> =
                    m.ringing.iter().map(|(a, c)| (*a, *c)).collect();
                ringing.sort();
                if !ringing.is_empty() {
                    let (a, c) = ringing[rng.below(ringing.len())];
                    if rng.below(3) == 0 {
                        e.declined(now, c, a).unwrap();
                        // The phone refused: that leg is over (no stop to send).
                        m.ringing.remove(&a);
                        m.rings.entry(c).or_default().remove(&a);
                    } else {
                        e.answered(now, c, a).unwrap();
                    }
                }
            }
            8 if !talking.is_empty() => {
                let c = talking[rng.below(talking.len())];
                e.ended(now, c).unwrap();
                m.status.insert(c, Status::Done);
            }
            _ => {
                let a = rng.below(agents as usize) as AgentId;
                let _ = e.extend_wrap_up(a, 5_000).unwrap();
            }
        }
        apply(&mut e, &mut m, now);
        // Late or wrong answers are refused and change nothing.
        if rng.below(4) == 0 {
            let a = rng.below(agents as usize) as AgentId;
            let c = rng.below(next_call as usize + 2) as CallId;
            if m.ringing.get(&a) != Some(&c) {
                assert!(e.answered(now, c, a).is_err());
                apply(&mut e, &mut m, now);
            }
        }
    }
    // The end of the day: everyone logs in, conversations end, the clock runs out the queues.
    for a in 0..agents {
        e.set_presence(now, a, Presence::Ready).unwrap();
    }
    apply(&mut e, &mut m, now);
    for _ in 0..10_000 {
        let mut talking: Vec<CallId> = m
            .status
            .iter()
            .filter(|(_, s)| matches!(s, Status::Talking(_)))
            .map(|(c, _)| *c)
            .collect();
        talking.sort();
        for c in talking {
            e.ended(now, c).unwrap();
            m.status.insert(c, Status::Done);
        }
        apply(&mut e, &mut m, now);
        let mut ringing: Vec<(AgentId, CallId)> = m.ringing.iter().map(|(a, c)| (*a, *c)).collect();
        ringing.sort();
        for (a, c) in ringing {
            e.answered(now, c, a).unwrap_or(());
            apply(&mut e, &mut m, now);
        }
        match e.poll_timeout() {
            Some(t) => {
                now = t;
                e.handle_timeout(t);
                apply(&mut e, &mut m, now);
            }
            None if m
                .status
                .values()
                .all(|s| matches!(s, Status::Gone | Status::Done)) =>
            {
                break;
            }
            None => {}
        }
    }
    assert_eq!(e.calls(), 0, "calls left in the engine");
    for (c, s) in &m.status {
        assert!(
            matches!(s, Status::Gone | Status::Done),
            "call {c} never ended: {s:?}"
        );
        assert!(
            m.outcomes.get(c).copied().unwrap_or(0) <= 1,
            "call {c} had several outcomes"
        );
    }
    next_call as usize - 1
}

#[test]
fn random_hours_keep_every_invariant() {
    let mut rng = Rng(0xACD);
    let mut calls = 0;
    for _ in 0..iters(40) {
        calls += one_hour(&mut rng);
    }
    assert!(calls > 1000, "only {calls} calls were simulated");
}
