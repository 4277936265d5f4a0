//! The call-centre engine driven with explicit instants: agent state transitions, each
//! strategy's ring order with sticky agents, skipped agents and round robin across calls, an
//! agent in two groups, queues (order, leaving, maximum wait and length, nobody logged in),
//! wrap-up, announcements on the clock, daily counters and the durable state. No sleeps.

mod common;

use callflow_compiler::bytecode::Program;
use callflow_runtime::acd::agent::Presence;
use callflow_runtime::acd::engine::{
    Action, Config, Engine, EngineError, Hear, Outcome, RouteRequest, StopWhy,
};
use callflow_runtime::acd::store::{Durable, MemoryStore, Store};
use callflow_runtime::acd::strategy::AgentState;
use callflow_runtime::acd::{AgentId, CallId};
use jiff::Timestamp;
use std::sync::Arc;

const AGENTS: &str = r#"
agent ann  { contact "sip:ann@pbx"  skills en:5 }
agent ben  { contact "sip:ben@pbx"  skills en:3 }
agent cara { contact "sip:cara@pbx" skills en:4 }
agent dan  { contact "sip:dan@pbx" }
"#;

struct H {
    e: Engine,
    now: Timestamp,
    zone: &'static str,
}

fn program(groups: &str, route: &str) -> Program {
    common::compile(&format!(
        "{AGENTS}\n{groups}\nflow f {{ numbers \"200\" timezone \"Europe/Berlin\" start {{ {route} }} }}"
    ))
}

fn engine(groups: &str, route: &str) -> H {
    let p = program(groups, route);
    let config = Config {
        default_presence: Presence::Ready,
        ..Config::default()
    };
    H {
        e: Engine::new(Arc::new(p), config, &Durable::default()),
        now: common::at("Europe/Berlin", "2026-01-07T10:00"),
        zone: "Europe/Berlin",
    }
}

impl H {
    fn agent(&self, name: &str) -> AgentId {
        let p = self.e.program();
        p.agents.iter().position(|a| p.str(a.name) == name).unwrap() as AgentId
    }

    fn name(&self, a: AgentId) -> String {
        let p = self.e.program();
        p.str(p.agents[a as usize].name).to_string()
    }

    fn route_n(&mut self, call: CallId, route: u16, caller: &str) {
        let req = RouteRequest {
            route,
            caller,
            zone: jiff::tz::db().get(self.zone).unwrap(),
            entropy: 7,
            priority: 0,
        };
        self.e.route(self.now, call, req).unwrap();
    }

    fn route(&mut self, call: CallId, caller: &str) {
        self.route_n(call, 0, caller);
    }

    /// Moves the clock on, firing timers on the way.
    fn wait(&mut self, secs: i64) {
        let target = self.now + jiff::SignedDuration::from_secs(secs);
        while let Some(t) = self.e.poll_timeout() {
            if t > target {
                break;
            }
            self.now = t;
            self.e.handle_timeout(t);
        }
        self.now = target;
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.e.poll_action()).collect()
    }

    /// The agents told to ring, by call, in order (other actions dropped).
    fn rings(&mut self) -> Vec<(CallId, String)> {
        self.actions()
            .into_iter()
            .filter_map(|a| match a {
                Action::Ring { call, agent, .. } => Some((call, agent)),
                _ => None,
            })
            .map(|(c, a)| (c, self.name(a)))
            .collect()
    }

    fn outcomes(actions: &[Action]) -> Vec<(CallId, Outcome)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Outcome { call, outcome } => Some((*call, outcome.clone())),
                _ => None,
            })
            .collect()
    }

    fn answer(&mut self, call: CallId, name: &str) {
        let a = self.agent(name);
        self.e.answered(self.now, call, a).unwrap();
    }

    fn presence(&mut self, name: &str, p: Presence) {
        let a = self.agent(name);
        self.e.set_presence(self.now, a, p).unwrap();
    }

    fn state(&self, name: &str) -> AgentState {
        self.e.agent_state(self.agent(name))
    }
}

fn rings(list: &[(CallId, &str)]) -> Vec<(CallId, String)> {
    list.iter().map(|(c, n)| (*c, n.to_string())).collect()
}

const SEQ: &str = "group g { members ann, ben, cara; strategy sequential; ring 10s; wrap_up 30s }";
const NO_QUEUE: &str = "route g { no_answer => hangup; busy => hangup }";

#[test]
fn sequential_rings_one_after_another_each_for_the_ring_time() {
    let mut h = engine(SEQ, NO_QUEUE);
    h.route(1, "+491701");
    assert_eq!(h.rings(), rings(&[(1, "ann")]));
    assert_eq!(h.state("ann"), AgentState::Ringing);
    h.wait(9);
    assert_eq!(h.rings(), vec![], "ann rings for the whole 10 s");
    h.wait(1);
    assert_eq!(h.rings(), rings(&[(1, "ben")]));
    assert_eq!(h.state("ann"), AgentState::Ready);
    // ben's phone is busy: the next agent at once.
    let ben = h.agent("ben");
    h.e.declined(h.now, 1, ben).unwrap();
    assert_eq!(h.rings(), rings(&[(1, "cara")]));
    h.answer(1, "cara");
    let acts = h.actions();
    assert_eq!(
        H::outcomes(&acts),
        vec![(
            1,
            Outcome::Answered {
                agent: h.agent("cara")
            }
        )]
    );
    assert_eq!(h.state("cara"), AgentState::Busy);
}

#[test]
fn a_round_without_answer_ends_in_no_answer_and_nobody_available_in_busy() {
    let mut h = engine(SEQ, NO_QUEUE);
    h.route(1, "+491701");
    h.wait(30);
    let acts = h.actions();
    assert_eq!(H::outcomes(&acts), vec![(1, Outcome::NoAnswer)]);
    for n in ["ann", "ben", "cara"] {
        assert_eq!(h.state(n), AgentState::Ready);
    }
    h.presence("ann", Presence::DoNotDisturb);
    h.presence(
        "ben",
        Presence::NotReady {
            reason: "lunch".into(),
        },
    );
    h.presence("cara", Presence::LoggedOut);
    h.route(2, "+491702");
    let acts = h.actions();
    assert_eq!(H::outcomes(&acts), vec![(2, Outcome::Busy)]);
    assert_eq!(h.e.calls(), 0);
}

#[test]
fn ring_all_stops_the_other_phones_when_one_answers() {
    let mut h = engine(
        "group g { members ann, ben, cara; strategy ring_all; ring 20s }",
        NO_QUEUE,
    );
    h.route(1, "+491701");
    assert_eq!(h.rings(), rings(&[(1, "ann"), (1, "ben"), (1, "cara")]));
    h.wait(3);
    h.answer(1, "ben");
    let acts = h.actions();
    let stopped: Vec<(String, StopWhy)> = acts
        .iter()
        .filter_map(|a| match a {
            Action::StopRinging { agent, why, .. } => Some((h.name(*agent), *why)),
            _ => None,
        })
        .collect();
    assert_eq!(
        stopped,
        vec![
            ("ann".into(), StopWhy::AnsweredElsewhere),
            ("cara".into(), StopWhy::AnsweredElsewhere)
        ]
    );
    assert_eq!(h.state("ann"), AgentState::Ready);
    // A second answer (the race of two phones) is refused and changes nothing.
    let cara = h.agent("cara");
    assert_eq!(
        h.e.answered(h.now, 1, cara),
        Err(EngineError::NotRinging {
            call: 1,
            agent: cara
        })
    );
    assert_eq!(h.state("ben"), AgentState::Busy);
    // The old ring timer fires later and must not disturb the connected call.
    h.wait(30);
    assert_eq!(h.actions(), vec![]);
    assert_eq!(h.state("ben"), AgentState::Busy);
}

#[test]
fn priority_rings_tier_by_tier() {
    let mut h = engine(
        "group g { tier 1 ann, ben; tier 2 cara strategy priority; ring 10s }",
        NO_QUEUE,
    );
    h.route(1, "+491701");
    assert_eq!(h.rings(), rings(&[(1, "ann"), (1, "ben")]));
    h.wait(10);
    assert_eq!(h.rings(), rings(&[(1, "cara")]));
}

#[test]
fn round_robin_moves_on_after_every_offer_even_unanswered() {
    let mut h = engine(
        "group g { members ann, ben, cara; strategy round_robin; ring 10s }",
        NO_QUEUE,
    );
    // ann never answers: she must not be first on every call.
    h.route(1, "+491701");
    assert_eq!(h.rings(), rings(&[(1, "ann")]));
    h.wait(10);
    assert_eq!(h.rings(), rings(&[(1, "ben")]));
    h.answer(1, "ben");
    h.actions();
    h.route(2, "+491702");
    assert_eq!(h.rings(), rings(&[(2, "cara")]));
    h.wait(10);
    // ben is busy with call 1: ann is next.
    assert_eq!(h.rings(), rings(&[(2, "ann")]));
    h.wait(10);
    h.actions();
    h.route(3, "+491703");
    // After ann was offered call 2, round robin continues with ben (busy), then cara.
    assert_eq!(h.rings(), rings(&[(3, "cara")]));
}

#[test]
fn an_agent_in_two_groups_is_offered_one_call_at_a_time() {
    let mut h = engine(
        "group g { members ann, ben; strategy sequential; ring 10s }\n\
         group h { members ann; strategy ring_all; ring 10s }",
        "if caller == \"1\" { route g { no_answer => hangup; busy => hangup } } \n\
         route h { no_answer => hangup; busy => hangup }",
    );
    h.route_n(1, 0, "1");
    assert_eq!(h.rings(), rings(&[(1, "ann")]));
    // A call for group h while ann rings for group g: nobody else can take it.
    h.route_n(2, 1, "2");
    let acts = h.actions();
    assert_eq!(H::outcomes(&acts), vec![(2, Outcome::Busy)]);
    assert!(!acts.iter().any(|a| matches!(a, Action::Ring { .. })));
}

#[test]
fn sticky_agent_rings_first_on_the_same_local_day_only() {
    let mut h = engine(
        SEQ,
        "route g { sticky today; no_answer => hangup; busy => hangup }",
    );
    // 23:30 in Berlin: the caller speaks to cara.
    h.now = common::at("Europe/Berlin", "2026-01-07T23:30");
    h.presence("ann", Presence::DoNotDisturb);
    h.presence("ben", Presence::DoNotDisturb);
    h.route(1, "+49 170 1");
    assert_eq!(h.rings(), rings(&[(1, "cara")]));
    h.answer(1, "cara");
    h.e.ended(h.now, 1).unwrap();
    h.presence("ann", Presence::Ready);
    h.presence("ben", Presence::Ready);
    h.wait(40);
    h.actions();
    // 23:50 the same evening: cara first, with the reason.
    h.now = common::at("Europe/Berlin", "2026-01-07T23:50");
    h.route(2, "+49 170 1");
    let acts = h.actions();
    let plan = acts.iter().find_map(|a| match a {
        Action::Dialling { plan, .. } => Some(plan.clone()),
        _ => None,
    });
    let plan = plan.unwrap();
    assert_eq!(plan.sticky_first, Some(h.agent("cara")));
    let why = plan.why(h.e.program());
    assert!(why.contains("`cara` first"), "{why}");
    h.answer(2, "cara");
    h.e.ended(h.now, 2).unwrap();
    h.wait(40);
    h.actions();
    // 00:10 Berlin is the next day (still the same day in UTC): the strategy again.
    h.now = common::at("Europe/Berlin", "2026-01-08T00:10");
    h.route(3, "+49 170 1");
    assert_eq!(h.rings(), rings(&[(3, "ann")]));
}

#[test]
fn wrap_up_keeps_the_agent_from_calls_until_it_ends_and_can_be_extended() {
    let mut h = engine(SEQ, NO_QUEUE);
    h.route(1, "+491701");
    h.answer(1, "ann");
    h.wait(60);
    h.e.ended(h.now, 1).unwrap();
    assert_eq!(h.state("ann"), AgentState::WrapUp);
    h.actions();
    h.route(2, "+491702");
    assert_eq!(h.rings(), rings(&[(2, "ben")]));
    h.answer(2, "ben");
    let ann = h.agent("ann");
    h.wait(20);
    assert!(h.e.extend_wrap_up(ann, 15_000).unwrap());
    h.wait(10); // 30 s after the call: the original end
    assert_eq!(h.state("ann"), AgentState::WrapUp);
    h.wait(15);
    assert_eq!(h.state("ann"), AgentState::Ready);
}

const QUEUED: &str = "group g { members ann, ben; strategy sequential; ring 10s; wrap_up 0s }";
const QUEUE_ROUTE: &str = "route g { queue { greeting \"hello\" music \"hold\" \
    announce position every 60s; max_wait 5m => hangup; max_length 3 => hangup; key \"0\" => hangup };\
    busy => hangup }";

fn busy_all(h: &mut H) {
    for n in ["ann", "ben"] {
        let a = h.agent(n);
        assert!(h.e.busy_elsewhere(a, None).unwrap());
    }
    h.actions();
}

#[test]
fn callers_wait_in_arrival_order_and_the_first_gets_the_next_free_agent() {
    let mut h = engine(QUEUED, QUEUE_ROUTE);
    busy_all(&mut h);
    for c in 1..=3 {
        h.route(c, &format!("+49170{c}"));
        h.wait(5);
    }
    let g = 0;
    assert_eq!(h.e.waiting(g), vec![1, 2, 3]);
    let acts = h.actions();
    assert!(acts.contains(&Action::Queued {
        call: 3,
        group: 0,
        position: 3
    }));
    // A fourth caller: the queue is full.
    h.route(4, "+491704");
    assert_eq!(H::outcomes(&h.actions()), vec![(4, Outcome::QueueFull)]);
    // Caller 2 hangs up: they leave at once.
    h.e.left(h.now, 2).unwrap();
    assert_eq!(h.e.waiting(g), vec![1, 3]);
    // ben's outside call ends: the longest-waiting caller rings him.
    let ben = h.agent("ben");
    h.e.back(h.now, ben).unwrap();
    assert_eq!(h.rings(), rings(&[(1, "ben")]));
    h.answer(1, "ben");
    assert_eq!(h.e.waiting(g), vec![3]);
    assert!(h.actions().contains(&Action::Outcome {
        call: 1,
        outcome: Outcome::Answered { agent: ben }
    }));
    // His call ends (no wrap-up in this group): caller 3 is next.
    h.e.ended(h.now, 1).unwrap();
    assert_eq!(h.rings(), rings(&[(3, "ben")]));
}

#[test]
fn a_freed_agent_takes_the_longest_waiting_caller_of_all_its_groups() {
    let mut h = engine(
        "group g { members ann, ben; strategy sequential; ring 10s; wrap_up 0s }\n\
         group h { members ann; strategy sequential; ring 10s; wrap_up 0s }",
        "if caller == \"+1\" { route g { queue { max_wait 10m => hangup }; busy => hangup } } \n\
         route h { queue { max_wait 10m => hangup }; busy => hangup }",
    );
    let ann = h.agent("ann");
    let ben = h.agent("ben");
    let until = h.now + jiff::SignedDuration::from_secs(120);
    h.e.busy_elsewhere(ann, Some(until)).unwrap();
    h.e.busy_elsewhere(ben, None).unwrap();
    h.route_n(1, 1, "+2"); // group h, first
    h.wait(10);
    h.route_n(2, 0, "+1"); // group g
    h.wait(10);
    h.route_n(3, 1, "+2"); // group h
    h.actions();
    h.wait(100); // ann's outside call ends
    assert_eq!(h.rings(), rings(&[(1, "ann")]));
    h.answer(1, "ann");
    h.e.ended(h.now, 1).unwrap();
    // Next in line across g and h: caller 2 (waiting longer than caller 3).
    assert_eq!(h.rings(), rings(&[(2, "ann")]));
}

#[test]
fn queue_timeout_exit_key_and_announcements_on_the_clock() {
    let mut h = engine(QUEUED, QUEUE_ROUTE);
    busy_all(&mut h);
    h.route(1, "+491701");
    let acts = h.actions();
    let heard: Vec<Hear> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Hear { what, .. } => Some(what.clone()),
            _ => None,
        })
        .collect();
    let p = h.e.program();
    let name = |i: u32| p.str(p.prompts[i as usize].name).to_string();
    assert!(
        matches!(&heard[..], [Hear::Greeting(g), Hear::Music(m)] if name(*g) == "hello" && name(*m) == "hold")
    );
    // Every 60 s a position announcement: three by minute 3.
    h.wait(180);
    let positions = h
        .actions()
        .into_iter()
        .filter(|a| {
            matches!(
                a,
                Action::Hear {
                    what: Hear::Position(1),
                    ..
                }
            )
        })
        .count();
    assert_eq!(positions, 3);
    h.route(2, "+491702");
    h.actions();
    assert!(!h.e.key(h.now, 2, "5").unwrap(), "not an exit key");
    assert!(h.e.key(h.now, 2, "0").unwrap());
    assert_eq!(
        H::outcomes(&h.actions()),
        vec![(2, Outcome::QueueKey("0".into()))]
    );
    // Caller 1 has waited 3 minutes; the maximum is 5.
    h.wait(119);
    assert_eq!(H::outcomes(&h.actions()), vec![]);
    h.wait(1);
    assert_eq!(H::outcomes(&h.actions()), vec![(1, Outcome::QueueTimeout)]);
    assert_eq!(h.e.calls(), 0);
    assert_eq!(h.e.waiting(0), Vec::<CallId>::new());
}

#[test]
fn nobody_logged_in_sends_callers_on_instead_of_waiting_forever() {
    let mut h = engine(QUEUED, QUEUE_ROUTE);
    h.presence("ann", Presence::LoggedOut);
    busy_all(&mut h);
    h.route(1, "+491701");
    assert_eq!(H::outcomes(&h.actions()), vec![]);
    // ben, the last one logged in, logs out while caller 1 waits.
    h.presence("ben", Presence::LoggedOut);
    assert_eq!(H::outcomes(&h.actions()), vec![(1, Outcome::NoAgents)]);
    // On entry, too.
    h.route(2, "+491702");
    assert_eq!(H::outcomes(&h.actions()), vec![(2, Outcome::NoAgents)]);
}

#[test]
fn no_agents_with_a_wait_keeps_callers_for_someone_to_log_in() {
    let mut h = engine(
        QUEUED,
        "route g { queue { max_wait 5m => hangup; no_agents 30s => hangup } }",
    );
    h.presence("ann", Presence::LoggedOut);
    let ben = h.agent("ben");
    assert!(h.e.busy_elsewhere(ben, None).unwrap());
    h.route(1, "+491701");
    h.actions();
    // ben, the last one logged in, logs out while caller 1 waits: 30 s for someone to log in.
    h.presence("ben", Presence::LoggedOut);
    h.wait(29);
    assert_eq!(H::outcomes(&h.actions()), vec![]);
    h.wait(1);
    assert_eq!(H::outcomes(&h.actions()), vec![(1, Outcome::NoAgents)]);
    // On entry, too; ann logging in within the wait takes the caller.
    h.route(2, "+491702");
    h.wait(10);
    assert_eq!(H::outcomes(&h.actions()), vec![]);
    h.presence("ann", Presence::Ready);
    assert_eq!(h.rings(), rings(&[(2, "ann")]));
    h.wait(60);
    assert!(!H::outcomes(&h.actions()).contains(&(2, Outcome::NoAgents)));
}

#[test]
fn announcements_keep_their_gap_and_positions_stop_at_up_to() {
    let mut h = engine(
        QUEUED,
        "route g { queue { announce position every 60s up to 1 else \"many\"; \
         announce \"still\" every 60s; announce_gap 20s; max_wait 10m => hangup; \
         no_agents => hangup } }",
    );
    busy_all(&mut h);
    h.route(1, "+491701");
    h.route(2, "+491702");
    h.actions();
    let heard = |h: &mut H| -> Vec<(CallId, String)> {
        h.actions()
            .into_iter()
            .filter_map(|a| match a {
                Action::Hear { call, what } => Some((call, format!("{what:?}"))),
                _ => None,
            })
            .collect()
    };
    // At 60 s the position (caller 2 is second: above `up to 1`, the prompt instead)...
    h.wait(60);
    let many =
        h.e.program()
            .prompts
            .iter()
            .position(|p| h.e.program().str(p.name) == "many");
    let many = format!("Prompt({})", many.unwrap());
    assert_eq!(
        heard(&mut h),
        vec![(1, "Position(1)".to_string()), (2, many.clone())]
    );
    // ... and the prompt due at the same moment comes 20 s later.
    h.wait(19);
    assert_eq!(heard(&mut h), vec![]);
    h.wait(1);
    assert_eq!(heard(&mut h).len(), 2);
}

#[test]
fn a_queue_keeps_callers_only_while_its_hours_are_open() {
    let mut h = engine(
        &format!("{QUEUED}\nhours h {{ daily 09:00-10:01 }}"),
        "route g { queue { max_wait 10m => hangup; no_agents => hangup; hours h => hangup } }",
    );
    busy_all(&mut h);
    h.route(1, "+491701");
    h.actions();
    // 10:00: open; the hours end at 10:01 (the minute is looked at as it starts).
    h.wait(59);
    assert_eq!(H::outcomes(&h.actions()), vec![]);
    h.wait(1);
    assert_eq!(H::outcomes(&h.actions()), vec![(1, Outcome::Closed)]);
    assert_eq!(h.e.waiting(0), Vec::<CallId>::new());
    // A caller who comes when they are over is not queued.
    h.route(2, "+491702");
    assert_eq!(H::outcomes(&h.actions()), vec![(2, Outcome::Closed)]);
}

#[test]
fn the_no_agents_wait_never_ends_a_connected_call_and_starts_anew_after_a_login() {
    let route = "route g { queue { max_wait 10m => hangup; no_agents 30s => hangup } }";
    let mut h = engine(QUEUED, route);
    h.presence("ann", Presence::LoggedOut);
    h.presence("ben", Presence::LoggedOut);
    h.route(1, "+491701");
    h.actions();
    // ann logs in within the wait and answers; then logs out while talking.
    h.wait(5);
    h.presence("ann", Presence::Ready);
    assert_eq!(h.rings(), rings(&[(1, "ann")]));
    h.answer(1, "ann");
    h.actions();
    h.wait(10);
    h.presence("ann", Presence::LoggedOut);
    h.wait(60);
    assert_eq!(H::outcomes(&h.actions()), vec![]);
    h.e.audit().unwrap();
    assert_eq!(h.state("ann"), AgentState::LoggedOut);
    h.e.ended(h.now, 1).unwrap();
    // A caller alone at 0 s, someone logged in at 5 s and out at 29 s: 30 s from then.
    let mut h = engine(QUEUED, route);
    h.presence("ann", Presence::LoggedOut);
    let ben = h.agent("ben");
    assert!(h.e.busy_elsewhere(ben, None).unwrap());
    h.presence("ben", Presence::LoggedOut);
    h.route(1, "+491701");
    h.actions();
    h.wait(5);
    h.presence(
        "ben",
        Presence::NotReady {
            reason: "break".into(),
        },
    );
    h.wait(24);
    h.presence("ben", Presence::LoggedOut);
    h.wait(29);
    assert_eq!(H::outcomes(&h.actions()), vec![]);
    h.wait(1);
    assert_eq!(H::outcomes(&h.actions()), vec![(1, Outcome::NoAgents)]);
}

#[test]
fn a_queue_outside_its_hours_rings_nobody_even_when_an_agent_is_free() {
    let mut h = engine(
        &format!("{QUEUED}\nhours h {{ daily 11:00-12:00 }}"),
        "route g { queue { max_wait 10m => hangup; no_agents => hangup; hours h => hangup } }",
    );
    h.route(1, "+491701");
    let actions = h.actions();
    assert_eq!(H::outcomes(&actions), vec![(1, Outcome::Closed)]);
    assert!(!actions.iter().any(|a| matches!(a, Action::Ring { .. })));
}

#[test]
fn a_sticky_agent_in_a_later_tier_takes_their_caller_from_the_queue_at_once() {
    let mut h = engine(
        "group g { tier 1 ann; tier 2 after 5m cara; strategy sequential; ring 10s }",
        "route g { sticky today; queue { max_wait 10m => hangup; no_agents => hangup } }",
    );
    let cara = h.agent("cara");
    h.e.remember("+491701", cara, h.now).unwrap();
    let ann = h.agent("ann");
    assert!(h.e.busy_elsewhere(ann, None).unwrap());
    assert!(h.e.busy_elsewhere(cara, None).unwrap());
    h.route(1, "+491701");
    h.actions();
    // cara (tier 2, not open for 5 minutes) finishes her call: her caller of today rings.
    h.wait(30);
    h.e.back(h.now, cara).unwrap();
    assert_eq!(h.rings(), rings(&[(1, "cara")]));
}

#[test]
fn announcements_on_entering_a_queue_keep_their_gap() {
    let mut h = engine(
        QUEUED,
        "route g { queue { announce position; announce \"hello\"; announce_gap 15s; \
         max_wait 10m => hangup; no_agents => hangup } }",
    );
    busy_all(&mut h);
    h.route(1, "+491701");
    let heard = |acts: Vec<Action>| {
        acts.into_iter()
            .filter(|a| matches!(a, Action::Hear { .. }))
            .count()
    };
    assert_eq!(heard(h.actions()), 1, "the position at once");
    h.wait(14);
    assert_eq!(heard(h.actions()), 0);
    h.wait(1);
    assert_eq!(heard(h.actions()), 1, "the prompt 15 s later");
}

#[test]
fn phones_that_fail_end_the_route_only_when_no_one_else_can_answer() {
    // Without a queue: every phone of the round failed → Failed; one failing and the others
    // not answering → NoAnswer.
    let route = "route g { no_answer => hangup; error => hangup }";
    let mut h = engine(SEQ, route);
    h.route(1, "+491701");
    for name in ["ann", "ben", "cara"] {
        assert_eq!(h.rings(), rings(&[(1, name)]));
        let a = h.agent(name);
        h.e.failed(h.now, 1, a).unwrap();
    }
    assert_eq!(H::outcomes(&h.actions()), vec![(1, Outcome::Failed)]);
    let mut h = engine(SEQ, route);
    h.route(2, "+491702");
    assert_eq!(h.rings(), rings(&[(2, "ann")]));
    let ann = h.agent("ann");
    h.e.failed(h.now, 2, ann).unwrap();
    h.wait(20);
    assert_eq!(H::outcomes(&h.actions()), vec![(2, Outcome::NoAnswer)]);
    // With a queue: ann's phone fails (every time it rings) while ben talks elsewhere → the
    // caller waits for ben; once his phone fails too, nobody logged in can answer → Failed.
    let mut h = engine(
        QUEUED,
        "route g { queue { max_wait 10m => hangup; no_agents => hangup }; error => hangup }",
    );
    let ben = h.agent("ben");
    assert!(h.e.busy_elsewhere(ben, None).unwrap());
    h.route(3, "+491703");
    let mut outcomes = Vec::new();
    let fail_rings = |h: &mut H, outcomes: &mut Vec<(CallId, Outcome)>| {
        for _ in 0..30 {
            let acts = h.actions();
            outcomes.extend(H::outcomes(&acts));
            for a in acts {
                if let Action::Ring { call, agent, .. } = a {
                    h.e.failed(h.now, call, agent).unwrap();
                }
            }
            h.wait(1);
        }
    };
    fail_rings(&mut h, &mut outcomes);
    assert_eq!(outcomes, vec![], "the caller waits for ben");
    assert_eq!(h.e.waiting(0), vec![3]);
    h.e.back(h.now, ben).unwrap();
    fail_rings(&mut h, &mut outcomes);
    assert_eq!(outcomes, vec![(3, Outcome::Failed)]);
}

#[test]
fn a_queue_without_max_wait_ends_at_the_documented_ceiling() {
    let mut h = engine(
        QUEUED,
        "route g { queue { music \"hold\" }; busy => hangup }",
    );
    busy_all(&mut h);
    h.route(1, "+491701");
    h.actions();
    h.wait(Config::default().max_wait_ceiling_ms as i64 / 1000 - 1);
    assert_eq!(H::outcomes(&h.actions()), vec![]);
    h.wait(1);
    assert_eq!(H::outcomes(&h.actions()), vec![(1, Outcome::QueueTimeout)]);
}

#[test]
fn a_waiting_caller_nobody_answers_pauses_before_the_next_offer() {
    let mut h = engine(QUEUED, QUEUE_ROUTE);
    h.route(1, "+491701");
    assert_eq!(h.rings(), rings(&[(1, "ann")]));
    h.wait(20);
    assert_eq!(h.rings(), rings(&[(1, "ben")]));
    // The whole round went unanswered: the caller waits, 5 s later the next round.
    assert!(h.actions().is_empty());
    h.wait(4);
    assert_eq!(h.rings(), vec![]);
    h.wait(1);
    assert_eq!(h.rings(), rings(&[(1, "ann")]));
    // Meanwhile a second caller is not kept from the free agents (ben rings for caller 2).
    h.route(2, "+491702");
    assert_eq!(h.rings(), rings(&[(2, "ben")]));
}

#[test]
fn least_busy_counts_answered_calls_of_the_local_day() {
    let mut h = engine(
        "group g { members ann, ben; strategy least_busy; ring 10s; wrap_up 0s }",
        NO_QUEUE,
    );
    h.route(1, "+491701");
    h.answer(1, "ann");
    h.e.ended(h.now, 1).unwrap();
    h.actions();
    h.route(2, "+491702");
    assert_eq!(h.rings(), rings(&[(2, "ben")]));
    h.answer(2, "ben");
    h.e.ended(h.now, 2).unwrap();
    // One call each: the tie goes to the listed order.
    h.route(3, "+491703");
    assert_eq!(h.rings(), rings(&[(3, "ann")]));
    h.answer(3, "ann");
    h.e.ended(h.now, 3).unwrap();
    h.actions();
    h.route(4, "+491704");
    assert_eq!(h.rings(), rings(&[(4, "ben")]));
    h.wait(30);
    h.actions();
    // The next day everybody starts at zero: the listed order breaks the tie.
    h.now = common::at("Europe/Berlin", "2026-01-08T00:01");
    h.route(5, "+491705");
    assert_eq!(h.rings(), rings(&[(5, "ann")]));
}

#[test]
fn longest_idle_prefers_the_agent_whose_last_call_ended_first() {
    let mut h = engine(
        "group g { members ann, ben; strategy longest_idle; ring 10s; wrap_up 0s }",
        NO_QUEUE,
    );
    h.route(1, "+491701");
    h.answer(1, "ann");
    h.route(2, "+491702");
    h.answer(2, "ben");
    h.wait(10);
    h.e.ended(h.now, 2).unwrap();
    h.wait(10);
    h.e.ended(h.now, 1).unwrap();
    h.actions();
    h.route(3, "+491703");
    assert_eq!(h.rings(), rings(&[(3, "ben")]));
}

#[test]
fn durable_state_survives_a_new_engine() {
    let mut h = engine(
        "group g { members ann, ben, cara; strategy round_robin; ring 10s; wrap_up 0s }",
        "route g { sticky today; no_answer => hangup; busy => hangup }",
    );
    h.presence(
        "cara",
        Presence::NotReady {
            reason: "training".into(),
        },
    );
    h.route(1, "+49 170 1");
    h.wait(10);
    h.answer(1, "ben");
    h.e.ended(h.now, 1).unwrap();
    assert!(h.e.take_dirty());
    let mut store = MemoryStore::default();
    store.save(&h.e.durable()).unwrap();
    let saved = store.load().unwrap().unwrap();
    let text = serde_json::to_string(&saved).unwrap();
    let back: Durable = serde_json::from_str(&text).unwrap();
    assert_eq!(back, saved);

    let mut h2 = H {
        e: Engine::new(Arc::new(h.e.program().clone()), Config::default(), &back),
        now: h.now,
        zone: h.zone,
    };
    assert_eq!(
        h2.state("cara"),
        AgentState::NotReady,
        "presence is kept (and not reset to the default)"
    );
    assert_eq!(h2.e.durable(), saved);
    // The sticky agent first, then round robin where it stopped (after ben: cara, not ready).
    h2.route(2, "+49 170 1");
    assert_eq!(h2.rings(), rings(&[(2, "ben")]));
    h2.wait(10);
    assert_eq!(h2.rings(), rings(&[(2, "ann")]));
}

#[test]
fn wrong_events_are_refused_and_change_nothing() {
    let mut h = engine(SEQ, NO_QUEUE);
    assert_eq!(h.e.left(h.now, 5), Err(EngineError::UnknownCall(5)));
    h.route(1, "+491701");
    let req = RouteRequest {
        route: 0,
        caller: "x",
        zone: jiff::tz::TimeZone::UTC,
        entropy: 0,
        priority: 0,
    };
    assert_eq!(h.e.route(h.now, 1, req), Err(EngineError::DuplicateCall(1)));
    let ben = h.agent("ben");
    assert_eq!(
        h.e.answered(h.now, 1, ben),
        Err(EngineError::NotRinging {
            call: 1,
            agent: ben
        })
    );
    assert_eq!(h.e.ended(h.now, 1), Err(EngineError::NotConnected(1)));
    assert_eq!(h.state("ann"), AgentState::Ringing);
    assert_eq!(
        h.e.set_presence(h.now, 99, Presence::Ready),
        Err(EngineError::UnknownAgent(99))
    );
    h.answer(1, "ann");
}

#[test]
fn the_queue_keeps_arrival_order_even_when_the_first_caller_rang_an_agent_first() {
    // ann is busy; ben is ready but never picks up. Caller 1 rings ben first and only then
    // waits; caller 2, who came later, must not get ahead of caller 1.
    let mut h = engine(QUEUED, QUEUE_ROUTE);
    let ann = h.agent("ann");
    h.e.busy_elsewhere(ann, None).unwrap();
    h.route(1, "+491701");
    assert_eq!(h.rings(), rings(&[(1, "ben")]));
    h.wait(5);
    h.route(2, "+491702");
    h.wait(5);
    h.actions();
    assert_eq!(h.e.waiting(0), vec![1, 2]);
    // ann becomes free while caller 1 pauses after its unanswered round: when caller 1 is
    // offered again, ann rings for caller 1.
    h.e.back(h.now, ann).unwrap();
    h.wait(6);
    assert!(h.rings().contains(&(1, "ann".to_string())));
}

#[test]
fn sticky_memory_knows_a_caller_in_any_spelling_and_never_an_anonymous_one() {
    let mut h = engine(
        SEQ,
        "route g { sticky today; no_answer => hangup; busy => hangup }",
    );
    h.presence("ann", Presence::DoNotDisturb);
    for (call, caller) in [(1, "+49 170 1234567"), (2, "anonymous")] {
        h.route(call, caller);
        h.answer(call, "ben");
        h.e.ended(h.now, call).unwrap();
        h.wait(40);
        h.actions();
    }
    h.presence("ann", Presence::Ready);
    h.actions();
    // The same caller, written without spaces: ben first.
    h.route(3, "+491701234567");
    assert_eq!(h.rings(), rings(&[(3, "ben")]));
    h.wait(30);
    h.actions();
    // Another withheld caller: no memory, the listed order.
    h.route(4, "private");
    assert_eq!(h.rings(), rings(&[(4, "ann")]));
}

#[test]
fn a_clock_stepped_back_moves_waits_tiers_and_wrap_ups_with_it() {
    // NTP or a resumed VM steps the wall clock back an hour while callers wait and an agent
    // wraps up: the queue keeps its order, the wrap-up (extended after the step) and the tier
    // end when their time is up, not an hour later.
    let mut h = engine(
        "group g { tier 1 ann, ben; tier 2 after 1m cara; strategy sequential; ring 10s; \
         wrap_up 30s }",
        "route g { queue { max_wait 10m => hangup; no_agents => hangup } }",
    );
    let ann = h.agent("ann");
    assert!(h.e.busy_elsewhere(ann, None).unwrap());
    // ben takes a call and wraps up until 30 s after it (T+30).
    h.route(9, "+491709");
    assert_eq!(h.rings(), rings(&[(9, "ben")]));
    h.answer(9, "ben");
    h.e.ended(h.now, 9).unwrap();
    assert_eq!(h.state("ben"), AgentState::WrapUp);
    // Caller 1 waits: ann is busy, ben wraps up, cara's tier opens after a minute.
    h.route(1, "+491701");
    h.wait(10);
    h.actions();
    let hour = jiff::SignedDuration::from_hours(1);
    h.now -= hour;
    h.e.clock_stepped(-3_600_000);
    // Caller 2 comes after the step: behind caller 1.
    h.route(2, "+491702");
    assert_eq!(h.e.waiting(0), vec![1, 2]);
    // ben's wrap-up is extended by 15 s: it ends 45 s after his call, on the caller's time.
    let ben = h.agent("ben");
    assert!(h.e.extend_wrap_up(ben, 15_000).unwrap());
    h.wait(34);
    assert_eq!(h.state("ben"), AgentState::WrapUp);
    assert!(h.rings().is_empty());
    h.wait(2);
    assert_eq!(h.rings(), rings(&[(1, "ben")]));
    h.answer(1, "ben");
    // Caller 2's wait reaches a minute (arrived at T+10): cara's tier opens for them.
    h.wait(23);
    assert!(h.rings().is_empty());
    h.wait(2);
    assert_eq!(h.rings(), rings(&[(2, "cara")]));
}
