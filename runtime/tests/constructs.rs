//! Every construct of the language, run through the VM by the simulator: what is played, which
//! branch is taken, how menus, collect, consent, routes, lookups and calendars behave.

mod common;

use callflow_runtime::acd::strategy::AgentState;
use callflow_runtime::sim::{AgentSetting, LookupScript, Outcome, Scenario, SimEnd};
use callflow_runtime::vm::End;
use common::{at, compile, run};

const BERLIN: &str = "Europe/Berlin";

fn sim(text: &str, number: &str, local: &str, edit: impl FnOnce(&mut Scenario)) -> Outcome {
    let p = compile(text);
    let mut s = Scenario::new(number, "+4930123456", at(BERLIN, local));
    edit(&mut s);
    run(&p, &s)
}

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| s.to_string()).collect()
}

const AGENTS: &str = r#"
agent ann { contact "sip:ann@pbx" }
agent ben { contact "sip:ben@pbx" }
group desk { members ann, ben strategy sequential ring 10s }
voicemail box { greeting "vm" greeting busy "vm-busy" greeting no_answer "vm-noanswer" greeting closed "vm-closed" }
"#;

#[test]
fn play_say_and_hangup() {
    let o = sim(
        r#"flow f { numbers "200" start { play "a" uninterruptible
            set n = "42"
            say number n
            say digits caller
            hangup } }"#,
        "200",
        "2026-01-07T10:00",
        |_| {},
    );
    assert_eq!(
        o.played,
        vec!["a", "say number 42", "say digits +4930123456"]
    );
    assert_eq!(o.end, SimEnd::Vm(End::Hangup));
    assert!(
        o.trace
            .iter()
            .any(|l| format!("{l:?}").contains("uninterruptible"))
    );
}

const MENUS: &str = r#"
flow f {
    numbers "200"
    start { menu main
            play "after-main"
            hangup }
    menu main {
        prompt "main" repeat_prompt "main-again"
        retries 1
        "1" => menu sub
        "2XX" => transfer key
        "9" => play "nine"
        "*" => repeat
        invalid => play "invalid"
        timeout => play "timeout"
        exhausted => play "given-up"
    }
    menu sub {
        prompt "sub"
        "1" => play "sub-one"
        "*" => back
        "0" => top
        invalid => repeat
        timeout => repeat
    }
}
"#;

#[test]
fn menu_keys_patterns_and_continuing_after_the_menu() {
    let o = sim(MENUS, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["9"])
    });
    assert_eq!(o.played, vec!["main", "nine", "after-main"]);
    let o = sim(MENUS, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["215"])
    });
    assert_eq!(o.end, SimEnd::Vm(End::Transferred("215".into())));
}

#[test]
fn a_menu_plays_its_prompts_in_order_and_the_repeat_prompt_alone() {
    let flow = |repeat: &str| {
        format!(
            r#"flow f {{ numbers "200" start {{ menu m; hangup }}
            menu m {{ prompt "hello", "options", "choose"; {repeat} timeout 5s; retries 1
                "1" => play "one"
                invalid => play "bad" }} }}"#
        )
    };
    let heard = |text: &str, typed: &[&str]| {
        let o = sim(text, "200", "2026-01-07T10:00", |s| {
            s.call().keys = keys(typed)
        });
        (o.played, o.ended_at.duration_since(o.at).as_millis())
    };
    // A wrong key, then 1: the list plays again on the second offer (no repeat prompt).
    let (played, _) = heard(&flow(""), &["9", "1"]);
    assert_eq!(
        played,
        vec![
            "hello", "options", "choose", "bad", "hello", "options", "choose", "one"
        ]
    );
    // With a repeat prompt, only it plays on later offers.
    let (played, _) = heard(&flow(r#"repeat_prompt "again";"#), &["9", "1"]);
    assert_eq!(
        played,
        vec!["hello", "options", "choose", "bad", "again", "one"]
    );
    // The timeout starts after the last prompt: three prompts of 3 s, then 5 s, then the
    // caller hangs up when the menu gives up (retries 1: two offers).
    let (_, took) = heard(&flow(r#"repeat_prompt "again";"#), &["", ""]);
    assert_eq!(took, (9_000 + 5_000) + (3_000 + 5_000));
}

const RETRIES: &str = r#"
flow f {
    numbers "200"
    start {
        menu m
        hangup
    }
    menu m {
        prompt "m"
        timeout 5s
        RETRIES
        "1" => play "one"
        invalid => play "bad"
        timeout => play "silence"
        exhausted => play "gave-up"
    }
}
"#;

/// What a caller hears in the menu above with `retries` settings and keys.
fn retries_heard(settings: &str, typed: &[&str]) -> Vec<String> {
    let flow = RETRIES.replace("RETRIES", settings);
    let o = sim(&flow, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(typed)
    });
    o.played.into_iter().filter(|p| p != "m").collect()
}

#[test]
fn each_menu_keeps_its_own_count_of_silences() {
    // Menu a sends a silent caller to menu b, which gives up at once and returns: a's own count
    // of silences (1 allowed) must survive b's.
    let flow = r#"flow f { numbers "200" start { menu a; hangup }
        menu a { prompt "a"; timeout 5s; retries invalid 5; retries timeout 1
            "1" => play "one"
            timeout => menu b
            exhausted => play "a-gave-up" }
        menu b { prompt "b"; timeout 5s; retries 0
            "1" => play "b-one"
            exhausted => play "b-gave-up" } }"#;
    let o = sim(flow, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["", "", "", "", "", ""])
    });
    assert_eq!(
        o.played,
        vec!["a", "b", "b-gave-up", "a", "b", "b-gave-up", "a-gave-up"]
    );
}

#[test]
fn wrong_keys_and_silence_are_counted_apart_once_either_is_given() {
    // Three silences are allowed (4 offers), then 1 works.
    assert_eq!(
        retries_heard("retries invalid 1; retries timeout 3", &["", "", "", "1"]),
        vec!["silence", "silence", "silence", "one"]
    );
    // The second wrong key uses up `retries invalid 1`, whatever silences came between.
    assert_eq!(
        retries_heard("retries invalid 1; retries timeout 3", &["", "9", "", "9"]),
        vec!["silence", "bad", "silence", "bad", "gave-up"]
    );
    // The kind not given keeps `retries N`: here 1 silence retry.
    assert_eq!(
        retries_heard("retries 1; retries invalid 5", &["9", "", "9", ""]),
        vec!["bad", "silence", "bad", "silence", "gave-up"]
    );
    // Unlimited: ten silences, then the key.
    let mut typed = vec![""; 10];
    typed.push("1");
    let heard = retries_heard("retries unlimited", &typed);
    assert_eq!(heard.len(), 11, "{heard:?}");
    assert_eq!(heard.last().map(String::as_str), Some("one"));
    // `retries unlimited` covers only the kinds without their own limit, in either order.
    for settings in [
        "retries invalid 1; retries unlimited",
        "retries unlimited; retries invalid 1",
    ] {
        assert_eq!(
            retries_heard(settings, &["9", "", "9"]),
            vec!["bad", "silence", "bad", "gave-up"],
            "{settings}"
        );
    }
    // Plain `retries 2` counts every failed try together, as before: the third gives up.
    assert_eq!(
        retries_heard("retries 2", &["", "9", ""]),
        vec!["silence", "bad", "silence", "gave-up"]
    );
}

#[test]
fn menu_invalid_timeout_retries_and_exhausted() {
    // A wrong key, then nothing: both handlers run, the second offer uses the repeat prompt,
    // then retries (1) are used up and `exhausted` runs; the flow goes on after the menu.
    let o = sim(MENUS, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["7", ""])
    });
    assert_eq!(
        o.played,
        vec![
            "main",
            "invalid",
            "main-again",
            "timeout",
            "given-up",
            "after-main"
        ]
    );
}

#[test]
fn menu_repeat_back_and_top() {
    let o = sim(MENUS, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["*", "1", "*", "1", "0", "9"])
    });
    // repeat main (no retry counted), into sub, back to main, sub again, top to main, 9.
    assert_eq!(
        o.played,
        vec![
            "main",
            "main",
            "sub",
            "main",
            "sub",
            "main",
            "nine",
            "after-main"
        ]
    );
}

#[test]
fn collect_lengths_terminator_and_exhaustion() {
    let flow = r##"flow f { numbers "200" start {
        collect acct { prompt "enter" length 4..6 terminator "#" retries 1
                       invalid => play "bad"
                       exhausted => play "no-number" }
        if acct == "" { hangup }
        say digits acct
        hangup } }"##;
    let o = sim(flow, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["12345#"])
    });
    assert_eq!(o.played, vec!["enter", "say digits 12345"]);
    let o = sim(flow, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["12", "123"])
    });
    assert_eq!(o.played, vec!["enter", "bad", "enter", "bad", "no-number"]);
    assert_eq!(o.end, SimEnd::Vm(End::Hangup));
    // A timeout without a handler is simply asked again.
    let o = sim(flow, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["", "9876"])
    });
    assert_eq!(o.played, vec!["enter", "enter", "say digits 9876"]);
}

#[test]
fn language_selects_prompt_files() {
    let p = compile(
        r#"flow f { numbers "200" languages de, en start { play "hi"
        language en
        play "hi"
        hangup } }"#,
    );
    let o = run(
        &p,
        &Scenario::new("200", "+4930123456", at(BERLIN, "2026-01-07T10:00")),
    );
    let files: Vec<String> = o
        .trace
        .iter()
        .filter_map(|l| match l {
            callflow_runtime::sim::TraceLine::Effect { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(files[0].ends_with("[prompts/de/hi.wav]"), "{files:?}");
    assert!(files[1].ends_with("[prompts/en/hi.wav]"), "{files:?}");
}

#[test]
fn conditions_short_circuit_and_compare() {
    let flow = r#"
    group g { members a }
    agent a { contact "sip:a@pbx" }
    switch night { default off }
    flow f { numbers "+49 30 2555 5366" start {
        set tier = "gold"
        if switch(night) or (caller is anonymous and not dialled starts_with "+49") { play "closed" }
        else if caller matches "+49 30 *" and tier in ("gold", "platinum") and queue_length(g) < 3 { play "vip" }
        else { play "normal" }
        if dialled == "+49 30 2555 5366" and agents_available(g) { play "dialled-ok" }
        route g { no_answer => hangup }
    } }"#;
    let o = sim(flow, "+49 30 2555 5366", "2026-01-07T10:00", |_| {});
    assert_eq!(o.played, vec!["vip", "dialled-ok"]);
    let o = sim(flow, "+49 30 2555 5366", "2026-01-07T10:00", |s| {
        s.switches.insert("night".into(), true);
    });
    assert_eq!(o.played[0], "closed");
    let o = sim(flow, "+49 30 2555 5366", "2026-01-07T10:00", |s| {
        s.call().caller = "+44 20 7946 0000".into();
        s.queues.insert("g".into(), (5, 0));
        s.agents
            .insert("a".into(), AgentSetting::State(AgentState::Busy));
    });
    assert_eq!(o.played, vec!["normal"]);
    let o = sim(flow, "+49 30 2555 5366", "2026-01-07T10:00", |s| {
        s.call().caller = "anonymous".into()
    });
    assert_eq!(
        o.played[0], "normal",
        "anonymous, but the dialled number starts with +49"
    );
}

#[test]
fn goto_call_and_return() {
    let flow = r#"flow f { numbers "200" start { call greet
        play "back-in-start"
        goto last }
        subflow greet { play "greet"
            if caller starts_with "+49" { return }
            play "not-german" }
        block last { play "last" } }"#;
    let o = sim(flow, "200", "2026-01-07T10:00", |_| {});
    assert_eq!(o.played, vec!["greet", "back-in-start", "last"]);
    assert_eq!(o.end, SimEnd::Vm(End::Hangup), "a block's end hangs up");
}

#[test]
fn route_outcomes_pick_handlers_and_voicemail_greetings() {
    let flow = format!(
        "{AGENTS}\nflow f {{ numbers \"200\" start {{ route desk {{ no_answer => voicemail box\n busy => voicemail box }} }} }}"
    );
    let o = sim(&flow, "200", "2026-01-07T10:00", |_| {});
    assert_eq!(
        o.end,
        SimEnd::Vm(End::Answered {
            agent: "ann".into()
        })
    );
    assert_eq!(o.routes[0].order, vec!["ann", "ben"]);
    let o = sim(&flow, "200", "2026-01-07T10:00", |s| {
        s.agents.insert("ann".into(), AgentSetting::NoAnswer);
        s.agents.insert("ben".into(), AgentSetting::NoAnswer);
    });
    assert_eq!(o.voicemail, Some(("box".into(), "no_answer".into())));
    assert_eq!(o.played, vec!["vm-noanswer"]);
    let o = sim(&flow, "200", "2026-01-07T10:00", |s| {
        s.agents
            .insert("ann".into(), AgentSetting::State(AgentState::Busy));
        s.agents
            .insert("ben".into(), AgentSetting::State(AgentState::LoggedOut));
    });
    assert_eq!(o.voicemail, Some(("box".into(), "busy".into())));
}

#[test]
fn queue_timeout_full_and_exit_key() {
    let flow = format!(
        "{AGENTS}\nflow f {{ numbers \"200\" start {{ route desk {{
            queue {{ music \"hold\" announce position every 30s max_wait 1m => voicemail box
                    max_length 3 => play \"full\"
                    key \"0\" => transfer \"100\" }}
            no_answer => hangup }}
            hangup }} }}"
    );
    let busy = |s: &mut Scenario| {
        s.agents
            .insert("ann".into(), AgentSetting::State(AgentState::Busy));
        s.agents
            .insert("ben".into(), AgentSetting::State(AgentState::Busy));
    };
    let o = sim(&flow, "200", "2026-01-07T10:00", busy);
    assert_eq!(o.voicemail, Some(("box".into(), "no_answer".into())));
    let o = sim(&flow, "200", "2026-01-07T10:00", |s| {
        busy(s);
        s.queues.insert("desk".into(), (3, 0));
    });
    assert_eq!(o.played, vec!["full"]);
    let o = sim(&flow, "200", "2026-01-07T10:00", |s| {
        busy(s);
        s.call().keys = keys(&["0"]);
    });
    assert_eq!(o.end, SimEnd::Vm(End::Transferred("100".into())));
}

#[test]
fn a_queue_pauses_between_ring_rounds_as_long_as_its_retry_says() {
    // desk rings ann then ben for 10 s each; nobody answers; the caller waits 1 min at most.
    let rounds = |retry: &str| {
        let flow = format!(
            "{AGENTS}\nflow f {{ numbers \"200\" start {{ route desk {{
                queue {{ {retry} max_wait 1m => voicemail box }} }}
                hangup }} }}"
        );
        let o = sim(&flow, "200", "2026-01-07T10:00", |s| {
            s.agents.insert("ann".into(), AgentSetting::NoAnswer);
            s.agents.insert("ben".into(), AgentSetting::NoAnswer);
        });
        assert_eq!(o.voicemail, Some(("box".into(), "no_answer".into())));
        o.trace
            .iter()
            .filter(|l| format!("{l:?}").contains("ringing ann"))
            .count()
    };
    // The first round (20 s) comes before the queue, whose minute starts after it: rounds at
    // 0, 25, 50 and 75 s with the default pause of 5 s; at 0 and 50 s with a pause of 30 s.
    let default = rounds("");
    let long = rounds("retry 30s");
    assert_eq!(
        (default, long),
        (4, 2),
        "rings of ann: default pause, retry 30s"
    );
}

#[test]
fn sticky_today_in_the_flows_zone() {
    // New York is 5 hours behind UTC in January: its days and UTC's disagree every evening
    // and every early morning, so an implementation counting days in UTC (or "within 24
    // hours") fails one of these cases.
    const NY: &str = "America/New_York";
    let flow = format!(
        "{AGENTS}\nflow f {{ numbers \"200\" timezone \"{NY}\" start {{ route desk {{ sticky today; no_answer => hangup }} }} }}"
    );
    let run = |call: &str, earlier: &str| {
        let p = compile(&flow);
        let mut s = Scenario::new("200", "+4930123456", at(NY, call));
        s.earlier.push(("ben".into(), at(NY, earlier)));
        common::run(&p, &s).routes[0].order.clone()
    };
    // 09:00 and 20:00 the same New York day (UTC: Jan 7 14:00 and Jan 8 01:00): sticky.
    assert_eq!(
        run("2026-01-07T20:00", "2026-01-07T09:00"),
        vec!["ben", "ann"]
    );
    // 23:30 the evening before and 08:00 (UTC: both on Jan 7, 8.5 hours apart): not today.
    assert_eq!(
        run("2026-01-07T08:00", "2026-01-06T23:30"),
        vec!["ann", "ben"]
    );
}

#[test]
fn the_group_chosen_at_run_time_by_a_lookup_field() {
    let flow = format!(
        r#"{AGENTS}
    agent cid {{ contact "sip:cid@pbx" }}
    group care {{ members cid }}
    lookup crm {{ url "https://crm/c?n={{caller}}" fields team }}
    flow f {{ numbers "200" start {{
        lookup crm {{ error => play "crm-down" }}
        route by crm.team among desk, care {{
            no_answer => play "nobody"
            otherwise => play "no-such-team"
        }}
        hangup }} }}"#
    );
    let team = |t: &str| {
        let o = sim(&flow, "200", "2026-01-07T10:00", |s| {
            s.lookups.insert(
                "crm".into(),
                vec![LookupScript::Fields(vec![("team".into(), t.into())])],
            );
        });
        (
            o.routes.iter().map(|r| r.group.clone()).collect::<Vec<_>>(),
            o.played,
        )
    };
    assert_eq!(team("care").0, ["care"]);
    assert_eq!(team("desk").0, ["desk"]);
    let (routes, played) = team("billing");
    assert!(routes.is_empty(), "{routes:?}");
    assert_eq!(played, ["no-such-team"]);
}

#[test]
fn lookups_fields_and_failures() {
    let flow = r#"lookup crm { url "https://crm/c?n={caller}" fields tier }
    flow f { numbers "200" start {
        lookup crm { error => play "crm-down"
                     not_found => play "new-caller" }
        if crm.tier == "gold" { play "gold" }
        hangup } }"#;
    let o = sim(flow, "200", "2026-01-07T10:00", |s| {
        s.lookups.insert(
            "crm".into(),
            vec![LookupScript::Fields(vec![("tier".into(), "gold".into())])],
        );
    });
    assert_eq!(o.played, vec!["gold"]);
    assert!(
        o.trace
            .iter()
            .any(|l| format!("{l:?}").contains("https://crm/c?n=%2B4930123456"))
    );
    let o = sim(flow, "200", "2026-01-07T10:00", |s| {
        s.lookups.insert("crm".into(), vec![LookupScript::NotFound]);
    });
    assert_eq!(o.played, vec!["new-caller"]);
    let o = sim(flow, "200", "2026-01-07T10:00", |s| {
        s.lookups.insert("crm".into(), vec![LookupScript::Fails]);
    });
    assert_eq!(o.played, vec!["crm-down"]);
}

#[test]
fn a_failed_lookup_is_asked_again_after_its_pause() {
    let flow = r#"lookup crm { url "https://crm/c?n={caller}"; fields tier; retries 2 after 1s }
    flow f { numbers "200" start {
        lookup crm { error => play "crm-down"
                     not_found => play "new-caller" }
        if crm.tier == "gold" { play "gold" }
        hangup } }"#;
    let gold = || LookupScript::Fields(vec![("tier".into(), "gold".into())]);
    let run = |answers: Vec<LookupScript>| {
        let o = sim(flow, "200", "2026-01-07T10:00", |s| {
            s.lookups.insert("crm".into(), answers);
        });
        let took = o.ended_at.duration_since(o.at).as_millis();
        (o.played, took)
    };
    // Down once, then up: the second try answers, a second later (then "gold" plays 3 s).
    assert_eq!(
        run(vec![LookupScript::Fails, gold()]),
        (vec!["gold".to_string()], 1_000 + 3_000)
    );
    // Down for all three tries: the error branch, two pauses later.
    assert_eq!(
        run(vec![
            LookupScript::Fails,
            LookupScript::Fails,
            LookupScript::Fails,
            gold()
        ]),
        (vec!["crm-down".to_string()], 2_000 + 3_000)
    );
    // "Not found" is the service's answer: not asked again.
    assert_eq!(
        run(vec![LookupScript::NotFound, gold()]),
        (vec!["new-caller".to_string()], 3_000)
    );
}

const CONSENT: &str = r#"
agent ann { contact "sip:ann@pbx" }
group desk { members ann }
flow f {
    numbers "200"
    start {
        ask rec
        if consented(rec) { record }
        menu m
        route desk { record if consented  no_answer => hangup }
    }
    menu m { prompt "m"
             "1" => play "one"
             invalid => repeat
             timeout => repeat }
    consent rec { prompt "notice" accept "1" refuse "2" silence means refuse withdraw "*9" }
}
"#;

#[test]
fn consent_accept_refuse_silence_and_withdrawal() {
    let o = sim(CONSENT, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["1", "1"])
    });
    assert!(o.recorded, "accepted: recorded");
    assert!(
        o.trace
            .iter()
            .any(|l| format!("{l:?}").contains("start recording"))
    );
    let o = sim(CONSENT, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["2", "1"])
    });
    assert!(!o.recorded, "refused: never recorded");
    let o = sim(CONSENT, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["", "1"])
    });
    assert!(!o.recorded, "silence means refuse");
    // Accepted, then withdrawn during the menu: the recording stops and the agent call is not
    // recorded.
    let o = sim(CONSENT, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["1", "*9", "1"])
    });
    let t = format!("{:?}", o.trace);
    assert!(
        t.contains("withdrawn") && t.contains("stop recording (consent withdrawn)"),
        "{t}"
    );
    assert!(
        t.contains("the conversation will not be recorded: no consent"),
        "{t}"
    );
}

#[test]
fn a_notice_heard_in_full_is_consent_and_can_be_withdrawn() {
    let flow = r#"
flow f {
    numbers "200"
    start {
        ask notice
        record
        menu m
    }
    consent notice {
        notice "recorded"
        withdraw "*9"
    }
    menu m {
        prompt "m"
        "1" => play "one"
        "2" => play "two"
    }
}"#;
    // The notice plays (no keys asked), then the recording starts; key 1 in the menu.
    let o = sim(flow, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["1"])
    });
    assert!(o.recorded, "{:?}", o.trace);
    assert_eq!(o.played[..2], ["recorded", "m"]);
    let t = format!("{:?}", o.trace);
    assert!(t.contains("the notice was heard in full"), "{t}");
    // Withdrawn with *9 in the menu: the recording stops.
    let o = sim(flow, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["*9", "1"])
    });
    let t = format!("{:?}", o.trace);
    assert!(t.contains("stop recording (consent withdrawn)"), "{t}");
}

#[test]
fn wait_lets_time_pass_and_answer_is_an_effect() {
    let o = sim(
        r#"flow f { numbers "200" start { wait 2s; answer; wait 1500ms; play "a"; hangup } }"#,
        "200",
        "2026-01-07T10:00",
        |_| {},
    );
    assert_eq!(o.played, vec!["a"]);
    let took = o.ended_at.duration_since(o.at).as_millis();
    // The waits, then the prompt (3 s: no file, the default length), one after the other.
    assert_eq!(took, 2_000 + 1_500 + 3_000);
}

#[test]
fn observed_holidays_move_off_the_weekend() {
    // A US office: Independence Day 2026 is a Saturday, observed on Friday 2026-07-03; in 2027
    // it is a Sunday, observed on Monday 2027-07-05. (Times below are Berlin time: 16:00 is
    // 10:00 in New York.)
    let flow = r#"
    hours office { mon-fri 09:00-17:00
                   closed federal }
    holidays federal { every 07-04 observed
                       4th thursday of november }
    flow f { numbers "200" timezone "America/New_York" start {
        if open(office) { play "open" } else { play "closed" }
        hangup } }"#;
    let played = |local: &str| sim(flow, "200", local, |_| {}).played;
    assert_eq!(
        played("2026-07-03T16:00"),
        vec!["closed"],
        "observed Friday"
    );
    assert_eq!(played("2026-07-02T16:00"), vec!["open"]);
    assert_eq!(
        played("2027-07-05T16:00"),
        vec!["closed"],
        "observed Monday"
    );
    assert_eq!(played("2027-07-06T16:00"), vec!["open"]);
    assert_eq!(played("2026-11-26T16:00"), vec!["closed"], "Thanksgiving");
}

#[test]
fn business_hours_holidays_and_special_days() {
    let flow = r#"
    hours office { mon-fri 08:00-18:00
                   sat 22:00-02:00 overnight
                   2026-12-31 09:00-12:00
                   closed public }
    holidays public { every 12-25
                      easter + 1 }
    flow f { numbers "200" timezone "Europe/Berlin" start {
        if open(office) { play "open" } else { play "closed" }
        if holiday(public) { play "holiday" }
        hangup } }"#;
    let played = |local: &str| sim(flow, "200", local, |_| {}).played;
    assert_eq!(played("2026-01-07T10:00"), vec!["open"]);
    assert_eq!(
        played("2026-01-07T18:00"),
        vec!["closed"],
        "windows end exclusive"
    );
    assert_eq!(
        played("2026-01-10T23:30"),
        vec!["open"],
        "saturday overnight"
    );
    assert_eq!(played("2026-01-11T01:59"), vec!["open"], "into sunday");
    assert_eq!(played("2026-01-11T02:00"), vec!["closed"]);
    assert_eq!(played("2026-12-25T10:00"), vec!["closed", "holiday"]);
    assert_eq!(
        played("2026-04-06T10:00"),
        vec!["closed", "holiday"],
        "Easter Monday 2026"
    );
    assert_eq!(
        played("2026-12-31T11:00"),
        vec!["open"],
        "special day hours"
    );
    assert_eq!(played("2026-12-31T13:00"), vec!["closed"]);
}

#[test]
fn opening_hours_across_dst_switches() {
    let flow = |zone: &str| {
        format!(
            r#"hours h {{ daily 02:00-03:00 }}
            flow f {{ numbers "200" timezone "{zone}" start {{ if open(h) {{ play "open" }}
 hangup }} }}"#
        )
    };
    let p = compile(&flow("Europe/Berlin"));
    let run_at = |p: &callflow_compiler::bytecode::Program, utc: &str| {
        let s = Scenario::new("200", "+4930123456", utc.parse().unwrap());
        run(p, &s).played
    };
    // 2026-03-29 in Berlin: 02:00-03:00 does not exist; 00:59 UTC is 01:59 CET, 01:00 UTC 03:00 CEST.
    assert!(run_at(&p, "2026-03-29T00:59:00Z").is_empty());
    assert!(run_at(&p, "2026-03-29T01:00:00Z").is_empty());
    // 2026-10-25: 02:00-03:00 happens twice; both are open.
    assert_eq!(
        run_at(&p, "2026-10-25T00:30:00Z"),
        vec!["open"],
        "02:30 CEST"
    );
    assert_eq!(
        run_at(&p, "2026-10-25T01:30:00Z"),
        vec!["open"],
        "02:30 CET"
    );
    let p = compile(&flow("America/New_York"));
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    assert!(run_at(&p, "2026-03-08T06:59:00Z").is_empty(), "01:59 EST");
    assert!(run_at(&p, "2026-03-08T07:00:00Z").is_empty(), "03:00 EDT");
    assert_eq!(
        run_at(&p, "2026-11-01T07:30:00Z"),
        vec!["open"],
        "02:30 EST after fall back"
    );
}

#[test]
fn transfer_targets_are_normalized() {
    let o = sim(
        r#"flow f { numbers "200" start { transfer "+49 (30) 2555-5000" } }"#,
        "200",
        "2026-01-07T10:00",
        |_| {},
    );
    assert_eq!(o.transfer.as_deref(), Some("+493025555000"));
    let o = sim(
        r#"flow f { numbers "200" start { forward "sip:desk@pbx.example.com" } }"#,
        "200",
        "2026-01-07T10:00",
        |_| {},
    );
    assert_eq!(o.transfer.as_deref(), Some("sip:desk@pbx.example.com"));
}

const TWO_CONSENTS: &str = r#"
flow f {
    numbers "200"
    start {
        ask rec
        ask marketing
        record if consented(rec)
        menu m
        hangup
    }
    menu m { prompt "m"
             "1" => play "one"
             invalid => repeat
             timeout => repeat }
    consent rec { prompt "rec-notice" accept "1" refuse "2" withdraw "*9" }
    consent marketing { prompt "mkt-notice" accept "1" refuse "2" withdraw "*8" }
}
"#;

#[test]
fn recording_needs_its_own_consent_not_any() {
    // Refused recording, accepted marketing: nothing is recorded.
    let o = sim(TWO_CONSENTS, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["2", "1", "1"])
    });
    assert!(!o.recorded);
    // Accepted recording: recorded; withdrawing marketing does not stop it, withdrawing it does.
    let o = sim(TWO_CONSENTS, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["1", "1", "*8", "1"])
    });
    let t = format!("{:?}", o.trace);
    assert!(o.recorded && !t.contains("stop recording"), "{t}");
    let o = sim(TWO_CONSENTS, "200", "2026-01-07T10:00", |s| {
        s.call().keys = keys(&["1", "2", "*9", "1"])
    });
    let t = format!("{:?}", o.trace);
    assert!(t.contains("stop recording (consent withdrawn)"), "{t}");
}

#[test]
fn the_clock_moves_during_the_call_and_conditions_read_it_when_they_run() {
    // The office closes at 18:00; the caller arrives at 17:59:40 and spends more than 20 s in
    // the menu (a 3 s prompt and a 6 s timeout, three times), so the check after the menu
    // finds the office closed.
    let flow = r#"
hours office { mon-fri 08:00-18:00 }
flow f {
    numbers "200"
    timezone "Europe/Berlin"
    start {
        menu main
        if open(office) { play "still-open" } else { play "closed-now" }
        hangup
    }
    menu main {
        prompt "main"
        timeout 6s
        retries 2
        "1" => play "one"
        timeout => play "nothing"
    }
}
"#;
    let p = compile(flow);
    let arrive = at(BERLIN, "2026-01-07T17:59").checked_add(jiff::SignedDuration::from_secs(40));
    let s = Scenario::new("200", "+4930123456", arrive.unwrap());
    let o = run(&p, &s);
    assert_eq!(
        o.played.last().map(String::as_str),
        Some("closed-now"),
        "{:?}",
        o.played
    );
    // A caller who chooses at once is still inside opening hours.
    let mut s = s.clone();
    s.call().keys = vec!["1".into()];
    let o = run(&p, &s);
    assert_eq!(
        o.played.last().map(String::as_str),
        Some("still-open"),
        "{:?}",
        o.played
    );
}

#[test]
fn numbers_are_conditions_when_not_zero_and_joined_texts_are_bounded() {
    // `if n` is true for -2 (not only for positive numbers), false for a variable not set.
    let o = sim(
        r#"flow f { numbers "200" start {
            set tries = 1
            if tries - 3 { play "negative-is-true" }
            if unset_yet { play "never" }
            set unset_yet = 0
            hangup } }"#,
        "200",
        "2026-01-07T10:00",
        |_| {},
    );
    assert_eq!(o.played, vec!["negative-is-true"]);
    // Doubling a text in a loop stops the call with an error, not the server's memory.
    let o = sim(
        r#"flow f { numbers "200" start { set x = "0123456789"
            goto grow }
            block grow { set x = x + x
            play "tick"
            goto grow } }"#,
        "200",
        "2026-01-07T10:00",
        |_| {},
    );
    assert_eq!(
        o.end,
        SimEnd::Vm(End::Failed(callflow_runtime::vm::VmError::TextTooLong))
    );
}
