//! The order in which each strategy tries agents: exact orders, sticky agent first, agents
//! who are not ready skipped, ties broken by the listed order, round robin continuing where the
//! last call left off.

mod common;

use callflow_compiler::bytecode::Program;
use callflow_runtime::acd::strategy::{
    AgentSnapshot, AgentState, Input, Skip, plan, round_robin_after,
};

const AGENTS: &str = r#"
agent ann  { contact "sip:ann@pbx"  skills en:5, de:1 }
agent ben  { contact "sip:ben@pbx"  skills en:3, de:5 }
agent cara { contact "sip:cara@pbx" skills en:4 }
agent dan  { contact "sip:dan@pbx"  skills de:4 }
"#;

fn program(group: &str) -> Program {
    common::compile(&format!(
        "{AGENTS}\n{group}\nflow f {{ numbers \"200\" start {{ route g {{ no_answer => hangup }} }} }}"
    ))
}

fn agent(p: &Program, name: &str) -> u16 {
    p.agents.iter().position(|a| p.str(a.name) == name).unwrap() as u16
}

fn names(p: &Program, rounds: &[Vec<u16>]) -> Vec<Vec<String>> {
    rounds
        .iter()
        .map(|r| {
            r.iter()
                .map(|&a| p.str(p.agents[a as usize].name).to_string())
                .collect()
        })
        .collect()
}

struct World<'a> {
    states: &'a [(&'a str, AgentState)],
    calls: &'a [(&'a str, u32)],
    last: &'a [(&'a str, i64)],
    /// How long the caller has waited (tiers that open later).
    waited_ms: u64,
}

fn order(
    p: &Program,
    sticky: Option<&str>,
    rr: usize,
    seed: u64,
    w: &World,
) -> (Vec<Vec<String>>, Vec<(String, Skip)>) {
    let input = Input {
        program: p,
        group: 0,
        require: &[],
        sticky: sticky.map(|s| agent(p, s)),
        round_robin_next: rr,
        seed,
        explain: true,
        waited_ms: w.waited_ms,
    };
    let snap = |a: u16| {
        let n = p.str(p.agents[a as usize].name);
        AgentSnapshot {
            state: w
                .states
                .iter()
                .find(|x| x.0 == n)
                .map_or(AgentState::Ready, |x| x.1),
            calls_today: w.calls.iter().find(|x| x.0 == n).map_or(0, |x| x.1),
            last_call_end: w.last.iter().find(|x| x.0 == n).map(|x| x.1),
        }
    };
    let plan = plan(&input, snap);
    let skipped = plan
        .skipped
        .iter()
        .map(|(a, s)| (p.str(p.agents[*a as usize].name).to_string(), s.clone()))
        .collect();
    (names(p, &plan.rounds()), skipped)
}

const NOBODY: World = World {
    states: &[],
    calls: &[],
    last: &[],
    waited_ms: 0,
};

fn v(rounds: &[&[&str]]) -> Vec<Vec<String>> {
    rounds
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[test]
fn ring_all_rings_everyone_at_once_except_the_unavailable() {
    let p = program("group g { members ann, ben, cara, dan strategy ring_all }");
    let w = World {
        states: &[("ben", AgentState::Busy), ("dan", AgentState::LoggedOut)],
        ..NOBODY
    };
    let (rounds, skipped) = order(&p, None, 0, 1, &w);
    assert_eq!(rounds, v(&[&["ann", "cara"]]));
    assert_eq!(
        skipped,
        vec![
            ("ben".into(), Skip::NotAvailable(AgentState::Busy)),
            ("dan".into(), Skip::NotAvailable(AgentState::LoggedOut))
        ]
    );
}

#[test]
fn sequential_follows_the_listed_order_and_skips_not_ready_agents() {
    let p = program("group g { members cara, ann, dan, ben strategy sequential }");
    assert_eq!(
        order(&p, None, 0, 1, &NOBODY).0,
        v(&[&["cara"], &["ann"], &["dan"], &["ben"]])
    );
    let w = World {
        states: &[
            ("ann", AgentState::WrapUp),
            ("dan", AgentState::DoNotDisturb),
        ],
        ..NOBODY
    };
    assert_eq!(order(&p, None, 0, 1, &w).0, v(&[&["cara"], &["ben"]]));
}

#[test]
fn sticky_agent_goes_first_then_the_strategy() {
    let p = program("group g { members ann, ben, cara, dan strategy sequential }");
    assert_eq!(
        order(&p, Some("cara"), 0, 1, &NOBODY).0,
        v(&[&["cara"], &["ann"], &["ben"], &["dan"]])
    );
    // A sticky agent who is not ready is not rung at all.
    let w = World {
        states: &[("cara", AgentState::Busy)],
        ..NOBODY
    };
    assert_eq!(
        order(&p, Some("cara"), 0, 1, &w).0,
        v(&[&["ann"], &["ben"], &["dan"]])
    );
    // Sticky first even when everyone else rings at once.
    let p = program("group g { members ann, ben, cara strategy ring_all }");
    assert_eq!(
        order(&p, Some("ben"), 0, 1, &NOBODY).0,
        v(&[&["ben"], &["ann", "cara"]])
    );
}

#[test]
fn random_is_a_permutation_fixed_by_the_seed() {
    let p = program("group g { members ann, ben, cara, dan strategy random }");
    let a = order(&p, None, 0, 7, &NOBODY).0;
    assert_eq!(a, order(&p, None, 0, 7, &NOBODY).0, "same seed, same order");
    let mut flat: Vec<String> = a.iter().flatten().cloned().collect();
    flat.sort();
    assert_eq!(flat, vec!["ann", "ben", "cara", "dan"]);
    let differs = (1..20).any(|s| order(&p, None, 0, s, &NOBODY).0 != a);
    assert!(differs, "other seeds give other orders");
}

#[test]
fn priority_rings_tier_by_tier() {
    let p = program("group g { tier 2 dan\n tier 1 ann, ben\n tier 3 cara\n strategy priority }");
    assert_eq!(
        order(&p, None, 0, 1, &NOBODY).0,
        v(&[&["ann", "ben"], &["dan"], &["cara"]])
    );
    let w = World {
        states: &[("dan", AgentState::NotReady)],
        ..NOBODY
    };
    assert_eq!(
        order(&p, None, 0, 1, &w).0,
        v(&[&["ann", "ben"], &["cara"]])
    );
}

#[test]
fn priority_rings_members_without_a_tier_after_every_tier() {
    let p = program(
        "group g { members dan\n tier 2 cara\n tier 1 ann\n members ben\n strategy priority }",
    );
    assert_eq!(
        order(&p, None, 0, 1, &NOBODY).0,
        v(&[&["ann"], &["cara"], &["dan", "ben"]])
    );
}

#[test]
fn least_busy_takes_fewest_calls_first_ties_in_listed_order() {
    let p = program("group g { members ann, ben, cara, dan strategy least_busy }");
    let w = World {
        calls: &[("ann", 5), ("ben", 2), ("cara", 2), ("dan", 0)],
        ..NOBODY
    };
    assert_eq!(
        order(&p, None, 0, 1, &w).0,
        v(&[&["dan"], &["ben"], &["cara"], &["ann"]])
    );
}

#[test]
fn longest_idle_takes_the_longest_without_a_call_first() {
    let p = program("group g { members ann, ben, cara, dan strategy longest_idle }");
    // dan has not had a call today: longest idle. ben and cara tie: listed order.
    let w = World {
        last: &[("ann", 900), ("ben", 100), ("cara", 100)],
        ..NOBODY
    };
    assert_eq!(
        order(&p, None, 0, 1, &w).0,
        v(&[&["dan"], &["ben"], &["cara"], &["ann"]])
    );
}

#[test]
fn round_robin_continues_across_calls() {
    let p = program("group g { members ann, ben, cara, dan strategy round_robin }");
    let mut next = 0;
    let mut first = Vec::new();
    for _ in 0..5 {
        let (rounds, _) = order(&p, None, next, 1, &NOBODY);
        let who = rounds[0][0].clone();
        next = round_robin_after(&p, 0, agent(&p, &who));
        first.push(who);
    }
    assert_eq!(first, vec!["ann", "ben", "cara", "dan", "ann"]);
    // Starting at cara, a busy cara is skipped but the order wraps around from her place.
    let w = World {
        states: &[("cara", AgentState::Busy)],
        ..NOBODY
    };
    assert_eq!(
        order(&p, None, 2, 1, &w).0,
        v(&[&["dan"], &["ann"], &["ben"]])
    );
}

#[test]
fn skills_picks_the_best_qualified_and_skips_the_unqualified() {
    let p = program("group g { members ann, ben, cara, dan strategy skills require en:3 }");
    let (rounds, skipped) = order(&p, None, 0, 1, &NOBODY);
    assert_eq!(rounds, v(&[&["ann"], &["cara"], &["ben"]]));
    assert_eq!(
        skipped,
        vec![(
            "dan".into(),
            Skip::Skill {
                skill: "en".into(),
                need: 3,
                has: 0
            }
        )]
    );
}

#[test]
fn every_strategy_rings_tier_by_tier_in_its_own_order_inside_each_tier() {
    let tiers = "tier 2 cara, dan\n tier 1 ann, ben";
    let w = World {
        last: &[("ann", 500), ("ben", 100), ("cara", 900), ("dan", 300)],
        calls: &[("ann", 1), ("ben", 4), ("cara", 2), ("dan", 0)],
        ..NOBODY
    };
    let p = program(&format!("group g {{ {tiers}\n strategy longest_idle }}"));
    assert_eq!(
        order(&p, None, 0, 1, &w).0,
        v(&[&["ben"], &["ann"], &["dan"], &["cara"]])
    );
    let p = program(&format!("group g {{ {tiers}\n strategy least_busy }}"));
    assert_eq!(
        order(&p, None, 0, 1, &w).0,
        v(&[&["ann"], &["ben"], &["dan"], &["cara"]])
    );
    // Round robin continuing at the fourth member (ben): ben before ann, cara before dan.
    let p = program(&format!("group g {{ {tiers}\n strategy round_robin }}"));
    assert_eq!(
        order(&p, None, 3, 1, &w).0,
        v(&[&["ben"], &["ann"], &["cara"], &["dan"]])
    );
    let p = program(&format!("group g {{ {tiers}\n strategy ring_all }}"));
    assert_eq!(
        order(&p, None, 0, 1, &w).0,
        v(&[&["ann", "ben"], &["cara", "dan"]])
    );
    // Random: any order inside a tier, never a tier 2 agent before a tier 1 agent.
    let p = program(&format!("group g {{ {tiers}\n strategy random }}"));
    for seed in 0..50 {
        let rounds = order(&p, None, 0, seed, &w).0;
        let first: Vec<&str> = rounds[..2].iter().map(|r| r[0].as_str()).collect();
        assert!(
            first.contains(&"ann") && first.contains(&"ben"),
            "{rounds:?}"
        );
    }
}

#[test]
fn a_tier_that_opens_later_is_left_out_until_the_caller_has_waited() {
    let p = program(
        "group g { tier 1 ann, ben\n tier 2 after 2m cara\n tier 3 dan\n strategy sequential }",
    );
    let (rounds, skipped) = order(&p, None, 0, 1, &NOBODY);
    assert_eq!(rounds, v(&[&["ann"], &["ben"]]));
    // Tier 3 opens with tier 2 (never before the tier above it).
    assert_eq!(
        skipped,
        vec![
            (
                "cara".into(),
                Skip::TierClosed {
                    tier: 2,
                    opens_ms: 120_000
                }
            ),
            (
                "dan".into(),
                Skip::TierClosed {
                    tier: 3,
                    opens_ms: 120_000
                }
            ),
        ]
    );
    let w = World {
        waited_ms: 120_000,
        ..NOBODY
    };
    assert_eq!(
        order(&p, None, 0, 1, &w).0,
        v(&[&["ann"], &["ben"], &["cara"], &["dan"]])
    );
    // The caller's sticky agent rings first even before its tier opens.
    assert_eq!(
        order(&p, Some("cara"), 0, 1, &NOBODY).0,
        v(&[&["cara"], &["ann"], &["ben"]])
    );
}
