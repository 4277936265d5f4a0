//! The VM protocol a live runtime relies on, driven effect by effect: keys typed ahead during a
//! prompt count as the next prompt's input, `keys_complete` says when the digits so far
//! complete the input, a recording is decided from the consent at the moment the agent
//! answers, and failed transfers and voicemails end the call with their own outcome.

mod common;

use callflow_compiler::bytecode::Stat;
use callflow_runtime::acd::strategy::AgentState;
use callflow_runtime::sim::{AgentSetting, Scenario};
use callflow_runtime::vm::{Call, EffectId, End, Event, Machine, NoTrace, Step, World};

struct Morning;

impl World for Morning {
    fn now(&self) -> jiff::Timestamp {
        common::at("Europe/Berlin", "2026-01-07T10:00")
    }
    fn switch(&self, _: &str, default: bool) -> bool {
        default
    }
    fn stat(&self, _: &str, _: Stat) -> i64 {
        1
    }
}

const IVR: &str = r#"
agent ann { contact "sip:ann@pbx" }
group g { members ann }
flow f {
    numbers "200"
    start {
        play "welcome"
        menu main
        hangup
    }
    menu main {
        prompt "main"
        "1" => play "one"
        "3" => play "three"
        "2XX" => transfer key
        invalid => play "invalid"
    }
}
"#;

/// Answers `event` and returns the next effect as text (or the end).
fn answer(m: &Machine, call: &mut Call, id: &mut EffectId, event: Event) -> String {
    match m
        .resume(call, *id, event, &Morning, &mut NoTrace)
        .expect("answers the effect")
    {
        Step::Effect(next, e) => {
            *id = next;
            format!("{e:?}")
        }
        Step::End(end) => format!("end {end:?}"),
    }
}

#[test]
fn keys_pressed_during_a_prompt_answer_the_next_menu() {
    let m = Machine::new(common::compile(IVR)).unwrap();
    let mut call = m.start(0, "+4930123456", "200");
    let mut id = 0;
    assert!(answer(&m, &mut call, &mut id, Event::Start).contains("welcome"));
    // "1" during the welcome: the menu does not play, its "1" branch runs.
    let next = answer(&m, &mut call, &mut id, Event::Keys("1".into()));
    assert!(next.contains("\"one\""), "{next}");
    assert_eq!(call.typed_ahead(), "");
}

#[test]
fn an_incomplete_type_ahead_starts_the_input_and_keys_complete_says_when_it_is_whole() {
    let m = Machine::new(common::compile(IVR)).unwrap();
    let mut call = m.start(0, "+4930123456", "200");
    let mut id = 0;
    answer(&m, &mut call, &mut id, Event::Start);
    // "2" is the start of the extension pattern "2XX": the menu asks for the rest.
    let next = answer(&m, &mut call, &mut id, Event::Keys("2".into()));
    assert!(next.starts_with("Keys { typed: \"2\""), "{next}");
    assert!(!m.keys_complete(&call, ""));
    assert!(!m.keys_complete(&call, "1"));
    assert!(m.keys_complete(&call, "15"));
    // The answer holds the keys pressed after the effect; the typed "2" comes first.
    let end = answer(&m, &mut call, &mut id, Event::Keys("15".into()));
    assert!(end.contains("Transfer { target: \"215\" }"), "{end}");
}

#[test]
fn keys_complete_without_type_ahead() {
    let m = Machine::new(common::compile(IVR)).unwrap();
    let mut call = m.start(0, "+4930123456", "200");
    let mut id = 0;
    answer(&m, &mut call, &mut id, Event::Start);
    let menu = answer(&m, &mut call, &mut id, Event::Done);
    assert!(menu.contains("typed: \"\""), "{menu}");
    assert!(m.keys_complete(&call, "1"));
    assert!(m.keys_complete(&call, "3"));
    assert!(!m.keys_complete(&call, "2"));
    assert!(!m.keys_complete(&call, "21"));
    assert!(m.keys_complete(&call, "215"));
    // An invalid key is complete when nothing could follow: the menu's longest key is 3.
    assert!(!m.keys_complete(&call, "9"));
    assert!(m.keys_complete(&call, "999"));
}

#[test]
fn failed_transfers_and_voicemail_end_with_their_own_outcome() {
    let m = Machine::new(common::compile(IVR)).unwrap();
    let mut call = m.start(0, "+4930123456", "200");
    let mut id = 0;
    answer(&m, &mut call, &mut id, Event::Start);
    answer(&m, &mut call, &mut id, Event::Keys("215".into()));
    let end = answer(&m, &mut call, &mut id, Event::Failed);
    assert_eq!(end, "end TransferFailed(\"215\")");
}

const CONSENT: &str = r#"
agent ann { contact "sip:ann@pbx" }
group g { members ann }
flow f {
    numbers "200"
    start {
        ask rec
        route g {
            record if consented
            queue { music "hold"; max_wait 10m => hangup }
            busy => hangup
        }
    }
    consent rec {
        prompt "notice"
        accept "1"
        refuse "2"
        silence means refuse
        withdraw "*9"
    }
}
"#;

#[test]
fn the_recording_follows_the_consent_when_the_agent_answers() {
    let m = Machine::new(common::compile(CONSENT)).unwrap();
    let consent = m.withdraw_keys(0)[0].0;
    for withdraw in [false, true] {
        let mut call = m.start(0, "+4930123456", "200");
        let mut id = 0;
        answer(&m, &mut call, &mut id, Event::Start);
        let route = answer(&m, &mut call, &mut id, Event::Keys("1".into()));
        assert!(
            route.contains("record: Some(Both)"),
            "consent given when routed: {route}"
        );
        // The caller waits in the queue and presses *9.
        if withdraw {
            m.withdraw(&mut call, consent);
        }
        let end = answer(
            &m,
            &mut call,
            &mut id,
            Event::Answered {
                agent: "ann".into(),
            },
        );
        assert_eq!(end, "end Answered { agent: \"ann\" }");
        assert_eq!(
            call.recording, !withdraw,
            "withdrawn while queued: {withdraw}"
        );
    }
}

#[test]
fn the_simulator_records_only_with_consent_at_answer_time() {
    let p = common::compile(CONSENT);
    let at = common::at("Europe/Berlin", "2026-01-07T10:00");
    let mut s = Scenario::new("200", "+4930123456", at);
    // Consent given, then the caller waits (ann busy for a minute) and withdraws in the queue.
    s.call().keys = vec!["1".into(), "*9".into()];
    s.agents
        .insert("ann".into(), AgentSetting::State(AgentState::Busy));
    s.agent_for.insert("ann".into(), 60_000);
    let o = common::run(&p, &s);
    assert!(
        matches!(
            o.end,
            callflow_runtime::sim::SimEnd::Vm(End::Answered { .. })
        ),
        "{:?}",
        o.end
    );
    assert!(
        !o.recorded,
        "consent was withdrawn before the agent answered"
    );
    let mut s2 = s.clone();
    s2.call().keys = vec!["1".into()];
    assert!(common::run(&p, &s2).recorded);
}

#[test]
fn a_collect_with_a_terminator_waits_for_it_or_one_key_more() {
    let flow = r##"
flow f {
    numbers "200"
    start {
        collect invoice { prompt "p"; length 6..6; terminator "#" }
        say digits invoice
        hangup
    }
}
"##;
    let m = Machine::new(common::compile(flow)).unwrap();
    let mut call = m.start(0, "+4930123456", "200");
    let mut id = 0;
    assert!(answer(&m, &mut call, &mut id, Event::Start).contains("max_digits: 7"));
    assert!(!m.keys_complete(&call, "471108"), "the # may still come");
    assert!(m.keys_complete(&call, "471108#"));
    assert!(
        m.keys_complete(&call, "4711089"),
        "seven keys: as many as the phone takes"
    );
    // Keys pressed while a number is spoken are typed ahead (as during a `play` or a `wait`):
    // the flow goes on; the next prompt that asks for keys starts with them.
    let say = answer(&m, &mut call, &mut id, Event::Keys("471108#".into()));
    assert!(say.starts_with("Say"), "{say}");
    let after = m.resume(
        &mut call,
        id,
        Event::Keys("1".into()),
        &Morning,
        &mut NoTrace,
    );
    assert!(after.is_ok(), "{after:?}");
}
