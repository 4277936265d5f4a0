//! Differential tests of the cranelift tier: every example flow, under many random scenarios
//! (callers, times across the year, keys, agent states, switches, lookups, queues), runs
//! through the interpreter and through the JIT, and the outcomes — including the full traces,
//! notes and coverage — must be identical.
#![cfg(feature = "jit")]

mod common;

use common::{Rng, examples, iters};

use callflow_compiler::bytecode::Program;
use callflow_runtime::acd::strategy::AgentState;
use callflow_runtime::sim::{self, AgentSetting, LookupScript, Scenario};
use callflow_runtime::vm::Machine;
use std::path::Path;

fn scenario(p: &Program, rng: &mut Rng) -> Scenario {
    let numbers: Vec<&str> = p
        .flows
        .iter()
        .flat_map(|f| f.numbers.iter().map(|&n| p.str(n)))
        .collect();
    let callers = [
        "+4930123456",
        "anonymous",
        "+44 20 7946 0000",
        "+49 89 1234567",
        "+1 212 555 0100",
        "+353 1 555 0100",
    ];
    let at =
        jiff::Timestamp::from_second(1_767_225_600 + (rng.next() % (366 * 86_400)) as i64).unwrap();
    let mut s = Scenario::new(
        numbers[rng.below(numbers.len())],
        callers[rng.below(callers.len())],
        at,
    );
    let keys = [
        "",
        "1",
        "2",
        "3",
        "4",
        "5",
        "9",
        "0",
        "*",
        "#",
        "*9",
        "215",
        "12345678#",
        "7",
    ];
    s.call().keys = (0..rng.below(10))
        .map(|_| keys[rng.below(keys.len())].to_string())
        .collect();
    for a in &p.agents {
        let setting = match rng.below(8) {
            0 => AgentSetting::State(AgentState::Busy),
            1 => AgentSetting::NoAnswer,
            2 => AgentSetting::State(AgentState::LoggedOut),
            _ => AgentSetting::State(AgentState::Ready),
        };
        s.agents.insert(p.str(a.name).to_string(), setting);
    }
    for sw in &p.switches {
        s.switches
            .insert(p.str(sw.name).to_string(), rng.below(3) == 0);
    }
    for l in &p.lookups {
        let script = match rng.below(4) {
            0 => LookupScript::Fails,
            1 => LookupScript::NotFound,
            _ => LookupScript::Fields(
                l.fields
                    .iter()
                    .map(|&f| {
                        (
                            p.str(f).to_string(),
                            ["vip", "gold", "standard", "42"][rng.below(4)].to_string(),
                        )
                    })
                    .collect(),
            ),
        };
        s.lookups.insert(p.str(l.name).to_string(), vec![script]);
    }
    for g in &p.groups {
        if rng.below(3) == 0 {
            s.queues.insert(
                p.str(g.name).to_string(),
                (rng.below(30) as i64, (rng.below(40) as i64) * 60_000),
            );
        }
    }
    if rng.below(2) == 0 && !p.agents.is_empty() {
        let a = p.str(p.agents[rng.below(p.agents.len())].name).to_string();
        s.earlier.push((
            a,
            at.checked_sub(jiff::SignedDuration::from_mins(rng.below(600) as i64))
                .unwrap(),
        ));
    }
    s.seed = rng.next();
    s
}

#[test]
fn interpreter_and_jit_agree_on_every_example_flow() {
    let p = examples();
    let interp = Machine::new(p.clone()).unwrap();
    let mut jit = Machine::new(p.clone()).unwrap();
    let code = jit.enable_jit().expect("the JIT compiles the examples");
    assert!(
        code.compiled_regions > 20,
        "only {} regions compiled",
        code.compiled_regions
    );
    // Every flow starts with decision code here, so each entry has native code.
    for f in &p.flows {
        assert!(
            code.has_region(f.entry),
            "no native code at the entry of flow {}",
            p.str(f.name)
        );
    }
    let iters = iters(2000);
    let mut rng = Rng(0xD1FF);
    for i in 0..iters {
        let s = scenario(&p, &mut rng);
        let a = sim::run(&interp, &s).unwrap();
        let b = sim::run(&jit, &s).unwrap();
        assert_eq!(
            a, b,
            "scenario {i} differs between interpreter and JIT: {s:?}"
        );
    }
}

#[test]
fn the_jit_compiles_every_construct() {
    // The bytecode golden flows cover every instruction the JIT handles.
    for name in ["conditions", "calendars", "menus", "routes"] {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/bytecode/{name}.flow")),
        )
        .unwrap();
        let p = common::compile(&text);
        let mut m = Machine::new(p.clone()).unwrap();
        m.enable_jit().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
