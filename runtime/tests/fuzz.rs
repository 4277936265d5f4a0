//! Property tests of the VM and the bytecode loader (bounded; `CALLFLOW_FUZZ_ITERS` raises it):
//! - random event sequences fed to every example flow never panic, every call ends within the
//!   step budget and in one of the flows' ways out, and an event that does not answer the
//!   pending effect (wrong id, wrong kind) is refused without changing the call;
//! - stored calls damaged at random, or of another program, are refused or run safely;
//! - arbitrary and mutated bytes as a bytecode file give an error or a program that verifies —
//!   and a program that verifies runs random calls without panicking.

mod common;

use common::{Rng, examples, iters};

use callflow_compiler::bytecode::{Program, Stat, format, verify};
use callflow_runtime::vm::{Effect, Event, Machine, NoTrace, Refused, Step, World};

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

/// A random event of the kind `effect` waits for.
fn fitting_event(rng: &mut Rng, effect: &Effect, keys: &[&str]) -> Event {
    let any = random_event(rng, keys);
    match effect {
        Effect::Keys { .. } => Event::Keys(keys[rng.below(keys.len())].to_string()),
        Effect::Route { .. } => match rng.below(7) {
            0 | 1 => Event::Answered { agent: "x".into() },
            2 => Event::NoAnswer,
            3 => Event::Busy,
            4 => Event::QueueTimeout,
            5 => Event::QueueFull,
            _ => Event::QueueKey("0".into()),
        },
        Effect::Lookup { .. } => [
            Event::LookupOk(vec![("tier".into(), "vip".into())]),
            Event::LookupNotFound,
            Event::LookupFailed,
        ][rng.below(3)]
        .clone(),
        Effect::Transfer { .. } | Effect::Voicemail { .. } if rng.below(5) == 0 => Event::Failed,
        _ if matches!(any, Event::HungUp) => any,
        _ => Event::Done,
    }
}

/// How far random calls got.
#[derive(Debug, Default)]
struct Tally {
    calls: usize,
    /// By the way they ended (`Hangup`, `Voicemail`, `Answered`, ... or `Failed`).
    ends: std::collections::BTreeMap<String, usize>,
    effects: usize,
    /// Events refused (they answered another effect, or could not answer this one).
    refused: usize,
}

/// Runs random calls on every flow of `p`: random events, sometimes naming the wrong effect.
/// A refused event must leave the call exactly as it was; every call must end.
fn random_calls(p: &Program, rng: &mut Rng, calls: usize) -> Tally {
    let mut tally = Tally::default();
    let Ok(m) = Machine::new(p.clone()) else {
        return tally;
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
        "4711081500",
        "123#",
    ];
    let callers = [
        "+4930123456",
        "anonymous",
        "+44 20 7946 0000",
        "+1 212 555 0100",
    ];
    for i in 0..calls {
        if p.flows.is_empty() {
            return tally;
        }
        let flow = i % p.flows.len();
        let world = RandomWorld {
            now: jiff::Timestamp::from_second(1_700_000_000 + (rng.next() % 200_000_000) as i64)
                .unwrap(),
            bits: rng.next(),
        };
        let mut call = m.start(flow, callers[rng.below(callers.len())], "200");
        let (mut id, mut event): (u32, Event) = (0, Event::Start);
        let mut end = None;
        // Each resume runs at most STEPS_BETWEEN_EFFECTS instructions; 2000 effects is far
        // more than any example flow needs when every prompt is answered at random.
        for _ in 0..2000 {
            let answers = if rng.below(20) == 0 {
                id.wrapping_add(1 + rng.below(3) as u32)
            } else {
                id
            };
            let before = call.clone();
            match m.resume(&mut call, answers, event.clone(), &world, &mut NoTrace) {
                Err(_) => {
                    assert_eq!(call, before, "a refused {event:?} changed the call");
                    tally.refused += 1;
                }
                Ok(Step::End(e)) => {
                    end = Some(e);
                    break;
                }
                Ok(Step::Effect(next, effect)) => {
                    tally.effects += 1;
                    id = next;
                    if rng.below(50) == 0 {
                        m.withdraw(&mut call, 0);
                    }
                    // Mostly an answer this effect can take; sometimes anything.
                    if rng.below(4) != 0 {
                        event = fitting_event(rng, &effect, &keys);
                        continue;
                    }
                }
            }
            event = random_event(rng, &keys);
        }
        // A call that never ends would keep answering effects; end it the way a caller would.
        let end = match end {
            Some(e) => e,
            None => match m.resume(&mut call, id, Event::HungUp, &world, &mut NoTrace) {
                Ok(Step::End(e)) => e,
                other => panic!("hanging up must end the call: {other:?}"),
            },
        };
        // Nothing answers an ended call.
        assert_eq!(
            m.resume(&mut call, id, Event::Done, &world, &mut NoTrace),
            Err(Refused::Ended)
        );
        let kind = format!("{end:?}");
        let kind = kind.split(['(', ' ', '{']).next().unwrap_or("").to_string();
        *tally.ends.entry(kind).or_default() += 1;
        assert!(call.steps <= callflow_runtime::vm::STEPS_PER_CALL + 1);
        tally.calls += 1;
    }
    tally
}

#[test]
fn random_events_on_every_example_flow() {
    let p = examples();
    let mut rng = Rng(0xC0FFEE);
    let n = iters(3000);
    let t = random_calls(&p, &mut rng, n);
    assert_eq!(t.calls, n);
    // The calls got somewhere: many effects each, most events answered, and the flows' real
    // ways out reached — never a failure of the VM.
    println!("{t:?}");
    assert!(
        t.effects > 2 * n,
        "only {} effects for {n} calls",
        t.effects
    );
    assert!(t.refused > 0 && t.refused < t.effects, "{t:?}");
    assert_eq!(t.ends.get("Failed"), None, "calls failed: {t:?}");
    for way in [
        "Hangup",
        "Voicemail",
        "Answered",
        "Transferred",
        "CallerHungUp",
        "TransferFailed",
        "VoicemailFailed",
    ] {
        assert!(
            t.ends.get(way).copied().unwrap_or(0) > n / 200,
            "too few calls ended in {way}: {t:?}"
        );
    }
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
    match m.resume(&mut call, 0, Event::Start, &world, &mut NoTrace) {
        Ok(Step::End(callflow_runtime::vm::End::Failed(
            callflow_runtime::vm::VmError::StepBudget { .. },
        ))) => {}
        other => panic!("expected the step budget to end the call, got {other:?}"),
    }
}

/// Damages a stored call at random: numbers in its serialized form replaced.
fn damage(v: &mut serde_json::Value, rng: &mut Rng) {
    match v {
        serde_json::Value::Number(_) if rng.below(12) == 0 => {
            *v = serde_json::json!(match rng.below(4) {
                0 => 0u64,
                1 => rng.next() % 40,
                2 => rng.next() % 70_000,
                _ => rng.next() % (u32::MAX as u64 + 1),
            });
        }
        serde_json::Value::Array(a) => {
            if rng.below(30) == 0 && !a.is_empty() {
                a.pop();
            }
            a.iter_mut().for_each(|x| damage(x, rng));
        }
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| damage(x, rng)),
        serde_json::Value::String(t) if rng.below(10) == 0 => *t = "Menu".into(),
        _ => {}
    }
}

#[test]
fn damaged_or_foreign_stored_calls_are_refused_never_run_wild() {
    let p = examples();
    let m = Machine::new(p.clone()).unwrap();
    let mut rng = Rng(0xDA3A6E);
    let world = RandomWorld {
        now: jiff::Timestamp::from_second(1_767_780_000).unwrap(),
        bits: 0x5555,
    };
    let keys = ["", "1", "2", "3", "0", "9", "*", "215"];
    let (mut refused, mut ran) = (0, 0);
    for i in 0..iters(3000) {
        // A call suspended somewhere in its flow.
        let mut call = m.start(i % p.flows.len(), "+4930123456", "200");
        let (mut id, mut event) = (0, Event::Start);
        for _ in 0..rng.below(6) {
            match m.resume(&mut call, id, event.clone(), &world, &mut NoTrace) {
                Ok(Step::Effect(next, _)) => id = next,
                _ => break,
            }
            event = random_event(&mut rng, &keys);
        }
        let mut v = serde_json::to_value(&call).unwrap();
        damage(&mut v, &mut rng);
        let Ok(mut stored) = serde_json::from_value::<callflow_runtime::vm::Call>(v) else {
            continue;
        };
        for _ in 0..20 {
            let before = stored.clone();
            match m.resume(&mut stored, id, event.clone(), &world, &mut NoTrace) {
                Err(_) => {
                    assert_eq!(stored, before);
                    refused += 1;
                    break;
                }
                Ok(Step::End(_)) => break,
                Ok(Step::Effect(next, _)) => {
                    ran += 1;
                    id = next;
                }
            }
            event = random_event(&mut rng, &keys);
        }
    }
    assert!(refused > 0 && ran > 0, "{refused} refused, {ran} ran");

    // A call of another program is refused, whatever it waits on.
    let mut other = p.clone();
    other.strings.push("a change".into());
    let m2 = Machine::new(other).unwrap();
    let mut call = m.start(0, "+4930123456", "200");
    assert_eq!(
        m2.resume(&mut call, 0, Event::Start, &world, &mut NoTrace),
        Err(Refused::OtherProgram)
    );
    // A late answer (to an effect already answered) is refused and changes nothing.
    let Ok(Step::Effect(first, _)) = m.resume(&mut call, 0, Event::Start, &world, &mut NoTrace)
    else {
        panic!("the flow asks for something first");
    };
    let before = call.clone();
    assert_eq!(
        m.resume(&mut call, 0, Event::Start, &world, &mut NoTrace),
        Err(Refused::NotPending {
            waiting: first,
            answered: 0
        })
    );
    assert_eq!(call, before);
}
