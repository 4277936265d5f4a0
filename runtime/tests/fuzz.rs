//! Property tests of the VM and the bytecode loader (bounded; `CALLFLOW_FUZZ_ITERS` raises it):
//! - random event sequences fed to every example flow never panic, and every call ends within
//!   the step budget;
//! - arbitrary and mutated bytes as a bytecode file give an error or a program that verifies —
//!   and a program that verifies runs random calls without panicking.

mod common;

use common::{Rng, examples, iters};

use callflow_compiler::bytecode::{Program, Stat, format, verify};
use callflow_runtime::vm::{Event, Machine, NoTrace, Step, World};

struct RandomWorld {
    now: jiff::Timestamp,
    bits: u64,
}

impl World for RandomWorld {
    fn now(&self) -> jiff::Timestamp {
        self.now
    }
    fn switch(&self, name: &str, _: bool) -> bool {
        (self.bits >> (name.len() % 64)) & 1 == 1
    }
    fn stat(&self, group: &str, stat: Stat) -> i64 {
        ((self.bits >> ((group.len() + stat as usize) % 60)) & 0xF) as i64
    }
}

fn random_event(rng: &mut Rng, keys: &[&str]) -> Event {
    match rng.below(14) {
        0..=2 => Event::Done,
        3..=7 => Event::Keys(keys[rng.below(keys.len())].to_string()),
        8 => Event::Answered { agent: "x".into() },
        9 => Event::NoAnswer,
        10 => [
            Event::Busy,
            Event::QueueTimeout,
            Event::QueueFull,
            Event::QueueKey("0".into()),
        ][rng.below(4)]
        .clone(),
        11 => [
            Event::LookupOk(vec![("tier".into(), "vip".into())]),
            Event::LookupNotFound,
            Event::LookupFailed,
        ][rng.below(3)]
        .clone(),
        12 => Event::Start,
        _ => {
            if rng.below(8) == 0 {
                Event::HungUp
            } else {
                Event::Done
            }
        }
    }
}

/// Runs random calls on every flow of `p`; returns how many ended.
fn random_calls(p: &Program, rng: &mut Rng, calls: usize) -> usize {
    let Ok(m) = Machine::new(p.clone()) else {
        return 0;
    };
    let keys = [
        "",
        "1",
        "2",
        "3",
        "0",
        "9",
        "*",
        "#",
        "*9",
        "215",
        "12345678#",
        "x",
    ];
    let callers = [
        "+4930123456",
        "anonymous",
        "+44 20 7946 0000",
        "",
        "+1 212 555 0100",
    ];
    let mut ended = 0;
    for i in 0..calls {
        if p.flows.is_empty() {
            return ended;
        }
        let flow = i % p.flows.len();
        let world = RandomWorld {
            now: jiff::Timestamp::from_second(1_700_000_000 + (rng.next() % 200_000_000) as i64)
                .unwrap(),
            bits: rng.next(),
        };
        let mut call = m.start(flow, callers[rng.below(callers.len())], "200");
        let mut event = Event::Start;
        let mut done = false;
        // Each resume runs at most STEPS_BETWEEN_EFFECTS instructions; 2000 effects is far
        // more than any example flow needs when every prompt is answered at random.
        for _ in 0..2000 {
            match m.resume(&mut call, event, &world, &mut NoTrace) {
                Step::End(_) => {
                    done = true;
                    break;
                }
                Step::Effect(_) => {
                    if rng.below(50) == 0 {
                        m.withdraw(&mut call, 0);
                    }
                    event = random_event(rng, &keys);
                }
            }
        }
        // A call that never ends would keep answering effects; end it the way a caller would.
        if !done {
            assert!(matches!(
                m.resume(&mut call, Event::HungUp, &world, &mut NoTrace),
                Step::End(_)
            ));
        }
        assert!(call.steps <= callflow_runtime::vm::STEPS_PER_CALL + 1);
        ended += 1;
    }
    ended
}

#[test]
fn random_events_on_every_example_flow() {
    let p = examples();
    let mut rng = Rng(0xC0FFEE);
    assert_eq!(random_calls(&p, &mut rng, iters(3000)), iters(3000));
}

#[test]
fn arbitrary_bytes_are_refused_without_panic() {
    let mut rng = Rng(0xBAD_B17E);
    for _ in 0..iters(3000) {
        let len = rng.below(300);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if rng.below(2) == 0 && bytes.len() >= 8 {
            bytes[..8].copy_from_slice(format::MAGIC);
        }
        if let Ok(p) = format::decode(&bytes) {
            if verify::verify(&p).is_ok() {
                random_calls(&p, &mut rng, 3);
            }
        }
    }
}

#[test]
fn mutated_programs_either_fail_verification_or_run_safely() {
    let good = format::encode(&examples());
    let mut rng = Rng(0x5EED);
    let (mut decoded, mut verified) = (0, 0);
    for _ in 0..iters(1500) {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.below(4) {
            let at = 28 + rng.below(bytes.len() - 28);
            match rng.below(3) {
                0 => bytes[at] ^= 1 << rng.below(8),
                1 => bytes[at] = rng.next() as u8,
                _ => bytes[at] = bytes[at].wrapping_add(1),
            }
        }
        // Fix the checksum so the mutation reaches the decoder and verifier.
        let sum = format::checksum(&bytes[28..]);
        bytes[20..28].copy_from_slice(&sum.to_le_bytes());
        if let Ok(p) = format::decode(&bytes) {
            decoded += 1;
            if verify::verify(&p).is_ok() {
                verified += 1;
                random_calls(&p, &mut rng, 4);
            }
        }
    }
    assert!(
        decoded > 0 && verified > 0,
        "the mutations should exercise both paths ({decoded} decoded, {verified} verified)"
    );
}

#[test]
fn a_runaway_loop_is_stopped_by_the_step_budget() {
    // A loop with no effect cannot be written in a checked flow (CF0303); build one directly.
    let mut p = common::compile(r#"flow f { numbers "200" start { hangup } }"#);
    p.code[0] = callflow_compiler::bytecode::Instr::Jump(0);
    let m = Machine::new(p.clone()).expect("verifies: a jump to itself is well-formed");
    let world = RandomWorld {
        now: jiff::Timestamp::UNIX_EPOCH,
        bits: 0,
    };
    let mut call = m.start(0, "1", "200");
    match m.resume(&mut call, Event::Start, &world, &mut NoTrace) {
        Step::End(callflow_runtime::vm::End::Failed(
            callflow_runtime::vm::VmError::StepBudget { .. },
        )) => {}
        other => panic!("expected the step budget to end the call, got {other:?}"),
    }
}
