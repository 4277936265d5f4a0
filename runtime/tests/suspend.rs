//! A call's state is plain data: suspended at any effect, written out and read back (as JSON
//! here), the call goes on exactly as if it had never stopped.

mod common;

use callflow_compiler::bytecode::Stat;
use callflow_runtime::vm::{Call, Effect, Event, Machine, NoTrace, Step, World};
use common::examples;

struct Morning;

impl World for Morning {
    fn now(&self) -> jiff::Timestamp {
        "2026-01-07T09:00:00Z".parse().unwrap()
    }
    fn switch(&self, _: &str, default: bool) -> bool {
        default
    }
    fn stat(&self, _: &str, _: Stat) -> i64 {
        2
    }
}

/// Runs a call answering keys in order; with `round_trip`, the call is serialized and read
/// back at every effect. Returns the effects seen and the end.
fn run(m: &Machine, number: &str, keys: &[&str], round_trip: bool) -> (Vec<String>, String) {
    let flow = m.program().flow_for(number).expect("a flow answers");
    let mut call = m.start(flow, "+4930123456", number);
    let (mut id, mut event) = (0, Event::Start);
    let mut keys = keys.iter();
    let mut seen = Vec::new();
    loop {
        let step = m
            .resume(&mut call, id, event, &Morning, &mut NoTrace)
            .expect("the event answers the effect");
        if round_trip {
            let json = serde_json::to_string(&call).unwrap();
            let back: Call = serde_json::from_str(&json).unwrap();
            assert_eq!(back, call);
            call = back;
        }
        match step {
            Step::End(end) => return (seen, format!("{end:?}")),
            Step::Effect(next, e) => {
                id = next;
                seen.push(format!("{e:?}"));
                event = match e {
                    Effect::Keys { .. } => Event::Keys(keys.next().map_or("", |k| *k).to_string()),
                    Effect::Route { .. } => Event::NoAnswer,
                    Effect::Lookup { .. } => Event::LookupNotFound,
                    _ => Event::Done,
                };
            }
        }
    }
}

#[test]
fn a_call_resumes_after_being_written_out_at_every_effect() {
    let p = examples();
    let m = Machine::new(p.clone()).unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("+493025555000", &["3", "2", "*", "5", "", "2", "0", "215"]),
        ("+493025555000", &["9", "2", "3", "2", "1", "1234567"]),
        ("+493025555200", &["1", "*9", "2", "2", "123", "1234567"]),
        ("+493025555366", &[]),
        ("+493025555400", &[]),
    ];
    for (number, keys) in cases {
        let straight = run(&m, number, keys, false);
        let stored = run(&m, number, keys, true);
        assert_eq!(straight, stored, "{number} {keys:?}");
        assert!(
            straight.0.len() >= 2,
            "the call should pass several effects: {straight:?}"
        );
    }
}
