//! Agents' phones over real SIP and RTP on loopback: sipp instances (Debian's `sip-tester`) are
//! the agents' phones — answering, busy, not answering, hanging up, answering after the
//! server's CANCEL — and `callflow call` is the caller. Agents are logged in over the admin
//! API. Each test starts its own server and phones on free ports and waits for events with
//! timeouts.

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const WEDNESDAY: &str = "2026-01-07T10:00";

/// An agent's phone: one sipp UAS call with a scenario from tests/sipp, echoing RTP.
struct Phone {
    child: Child,
    port: u16,
}

impl Phone {
    fn start(scenario: &str) -> Phone {
        Phone::start_for(scenario, 1)
    }

    /// A phone for `calls` calls, one after the other.
    fn start_for(scenario: &str, calls: u32) -> Phone {
        Phone::start_with(scenario, calls, true, &[])
    }

    /// A phone that echoes the RTP it gets (or not), with `@NAME@` placeholders of its
    /// scenario replaced.
    fn start_with(scenario: &str, calls: u32, echo: bool, replace: &[(&str, &str)]) -> Phone {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Phone::on_port(port, scenario, calls, echo, replace)
    }

    /// The same on a given port.
    fn on_port(
        port: u16,
        scenario: &str,
        calls: u32,
        echo: bool,
        replace: &[(&str, &str)],
    ) -> Phone {
        let media = free_ports(16_384, 32_767);
        let mut scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(scenario);
        if !replace.is_empty() {
            let mut text = std::fs::read_to_string(&scenario).unwrap();
            for (from, to) in replace {
                text = text.replace(from, to);
            }
            scenario = std::env::temp_dir()
                .join(format!("callflow-phone-{}-{port}.xml", std::process::id()));
            std::fs::write(&scenario, text).unwrap();
        }
        let child = Command::new(sipp())
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &media.to_string()])
            .args(if echo { &["-rtp_echo"][..] } else { &[] })
            .args([
                "-m",
                &calls.to_string(),
                "-timeout",
                "30s",
                "-timeout_error",
            ])
            .arg("-nostdin")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp runs");
        Phone { child, port }
    }

    /// Whether the phone's call went as its scenario says (waiting up to 30 s for sipp).
    fn succeeded(mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Flows with agents at the phones' ports, a group with `strategy`, and the number 500 that
/// routes to it.
fn flows(phones: &[(&str, &Phone)], strategy: &str) -> String {
    flows_routing(phones, strategy, "no_answer => hangup")
}

/// The same with the route's settings.
fn flows_routing(phones: &[(&str, &Phone)], strategy: &str, route: &str) -> String {
    let mut f = String::new();
    for (name, p) in phones {
        f.push_str(&format!(
            "agent {name} {{ contact \"sip:{name}@127.0.0.1:{}\" }}\n",
            p.port
        ));
    }
    let names: Vec<&str> = phones.iter().map(|(n, _)| *n).collect();
    f.push_str(&format!(
        "group line {{\n    members {}\n    strategy {strategy}\n    ring 2s\n}}\n",
        names.join(", ")
    ));
    f.push_str(
        &format!("flow hotline {{\n    numbers \"500\"\n    start {{\n        route line {{ {route} }}\n    }}\n}}\n"),
    );
    f
}

/// The agents of a call record in the order they rang, with how each ended.
fn rang(record: &serde_json::Value) -> Vec<(String, String)> {
    record["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["agent"].as_str().unwrap().to_string(),
                o["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_phone_failing_takes_the_routes_error_handler() {
    let a1 = Phone::start("agent_error.xml");
    let a2 = Phone::start("agent_error.xml");
    let more = flows_routing(
        &[("a1", &a1), ("a2", &a2)],
        "sequential",
        "no_answer => hangup; error => transfer \"+49 30 2555 5000\"",
    );
    let s = Server::start_with("agents-error", WEDNESDAY, Some(&more));
    for a in ["a1", "a2"] {
        s.agent_state(a, "ready");
    }
    client(&s, &["500", "--hang-up-after", "5s"]);
    let r = &s.records(1)[0];
    assert_eq!(
        rang(r),
        [
            ("a1".to_string(), "failed (500)".to_string()),
            ("a2".into(), "failed (500)".into()),
        ],
        "{r}"
    );
    // Not answered yet: the transfer is a redirect (302).
    assert_eq!(r["outcome"], "redirected to +493025555000", "{r}");
    assert!(
        a1.succeeded() && a2.succeeded(),
        "both phones got their ACK"
    );
}

#[test]
fn a_queue_sends_callers_on_when_nobody_is_logged_in_and_outside_its_hours() {
    // No phone listens: it is never rung (a1 is logged out, then the queue is closed at 10:00
    // on this Wednesday).
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let more = format!(
        "agent a1 {{ contact \"sip:a1@127.0.0.1:{port}\" }}\n\
         group line {{\n    members a1\n}}\n\
         hours evenings {{\n    daily 18:00-22:00\n}}\n\
         flow hotline {{\n    numbers \"500\", \"501\"\n    timezone \"Europe/Berlin\"\n    start {{\n        \
         if dialled == \"501\" {{\n            route line {{ queue {{ max_wait 1m => hangup; no_agents => hangup; hours evenings => transfer \"+49 30 2555 5001\" }} }}\n        }}\n        \
         route line {{ queue {{ max_wait 1m => hangup; no_agents => transfer \"+49 30 2555 5000\" }} }}\n    }}\n}}\n"
    );
    let s = Server::start_with("agents-queue-policies", WEDNESDAY, Some(&more));
    client(&s, &["500", "--hang-up-after", "5s"]);
    let r = &s.records(1)[0];
    assert_eq!(r["outcome"], "redirected to +493025555000", "{r}");
    // a1 logs in, but the queue of 501 keeps callers only in the evening.
    s.agent_state("a1", "ready");
    client(&s, &["501", "--hang-up-after", "5s"]);
    let r = &s.records(2)[1];
    assert_eq!(r["outcome"], "redirected to +493025555001", "{r}");
    assert!(rang(r).is_empty(), "nobody rang: {r}");
}

#[test]
fn a_phone_that_never_responds_fails_in_seconds_not_at_the_ring_time() {
    // Nothing listens on this port: the INVITE gets no answer at all, not even 100 Trying.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let more = format!(
        "agent a1 {{ contact \"sip:a1@127.0.0.1:{port}\" }}\n\
         group line {{\n    members a1\n    ring 20s\n}}\n\
         flow hotline {{\n    numbers \"500\"\n    start {{\n        \
         route line {{ no_answer => hangup; error => transfer \"+49 30 2555 5000\" }}\n    }}\n}}\n"
    );
    let s = Server::start_with("agents-silent", WEDNESDAY, Some(&more));
    s.agent_state("a1", "ready");
    // Well before the ring time (20 s) is over, the route's error handler redirects.
    client(&s, &["500", "--hang-up-after", "10s"]);
    let r = &s.records(1)[0];
    assert_eq!(
        rang(r),
        [("a1".to_string(), "no response".to_string())],
        "{r}"
    );
    assert_eq!(r["outcome"], "redirected to +493025555000", "{r}");
}

#[test]
fn sequential_rings_in_order_past_busy_and_silent_phones_and_bridges_rtp() {
    let busy = Phone::start("agent_busy.xml");
    let silent = Phone::start("agent_no_answer.xml");
    let answers = Phone::start("agent_answers.xml");
    let more = flows(
        &[("a1", &busy), ("a2", &silent), ("a3", &answers)],
        "sequential",
    );
    let s = Server::start_with("agents-sequential", WEDNESDAY, Some(&more));
    for a in ["a1", "a2", "a3"] {
        s.agent_state(a, "ready");
    }
    let out = client(&s, &["500", "--hang-up-after", "5s"]);
    assert!(out.contains("hung up after"), "{out}");
    // The caller's RTP went to the agent's phone and came back (sipp echoes it): both ways
    // through the bridge, about 50 packets a second for the 2.8 s after the answer.
    let heard: u64 = out
        .split("RTP heard: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(heard >= 60, "too little RTP came back: {out}");
    let records = s.records(1);
    let r = &records[0];
    assert_eq!(
        rang(r),
        [
            ("a1".to_string(), "busy (486)".to_string()),
            ("a2".into(), "no answer".into()),
            ("a3".into(), "answered".into()),
        ],
        "{r}"
    );
    assert_eq!(r["outcome"], "answered by a3", "{r}");
    assert!(busy.succeeded(), "the busy phone got its ACK");
    assert!(
        silent.succeeded(),
        "the silent phone was cancelled (200, 487, ACK)"
    );
    assert!(
        answers.succeeded(),
        "the answering phone got the caller's BYE"
    );
    // The agent talked and is in wrap-up or ready again; nobody else changed.
    let (code, agents) = s.api("GET", "/v1/agents", None);
    assert_eq!(code, 200);
    assert_eq!(agents.as_array().unwrap().len(), 3, "{agents}");
}

#[test]
fn ring_all_cancels_the_others_and_a_200_crossing_the_cancel_is_hung_up() {
    let first = Phone::start("agent_answers.xml");
    let late = Phone::start("agent_answers_after_cancel.xml");
    let silent = Phone::start("agent_no_answer.xml");
    let more = flows(
        &[("b1", &first), ("b2", &late), ("b3", &silent)],
        "ring_all",
    );
    let s = Server::start_with("agents-ring-all", WEDNESDAY, Some(&more));
    for a in ["b1", "b2", "b3"] {
        s.agent_state(a, "ready");
    }
    let out = client(&s, &["500", "--hang-up-after", "1s"]);
    assert!(out.contains("hung up after"), "{out}");
    let records = s.records(1);
    let r = &records[0];
    let mut results = rang(r);
    results.sort();
    assert_eq!(
        results,
        [
            ("b1".to_string(), "answered".to_string()),
            ("b2".into(), "answered elsewhere".into()),
            ("b3".into(), "answered elsewhere".into()),
        ],
        "{r}"
    );
    assert!(
        first.succeeded(),
        "the answering phone got the caller's BYE"
    );
    assert!(late.succeeded(), "the late 200 got an ACK and a BYE");
    assert!(silent.succeeded(), "the ringing phone was cancelled");
}

#[test]
fn the_agent_hanging_up_ends_the_callers_call_and_agents_not_ready_are_skipped() {
    let away = Phone::start("agent_answers.xml");
    let agent = Phone::start("agent_hangs_up.xml");
    let more = flows(&[("c1", &away), ("c2", &agent)], "sequential");
    let s = Server::start_with("agents-hang-up", WEDNESDAY, Some(&more));
    s.agent_state("c1", "not_ready");
    s.agent_state("c2", "ready");
    let out = client(&s, &["500", "--hang-up-after", "20s"]);
    assert!(out.contains("the server hung up"), "{out}");
    let records = s.records(1);
    let r = &records[0];
    assert_eq!(rang(r), [("c2".to_string(), "answered".to_string())], "{r}");
    assert!(agent.succeeded(), "the agent's BYE was answered");
    // c1 was never rung: its phone still waits for a call.
    drop(away);
}

#[test]
fn the_admin_api_refuses_what_it_cannot_do_and_changes_nothing() {
    let phone = Phone::start("agent_answers.xml");
    let more = flows(&[("d1", &phone)], "sequential");
    let s = Server::start_with("agents-api", WEDNESDAY, Some(&more));
    let (at, _) = s.admin.clone().unwrap();
    // No token, a wrong one.
    let (code, v) = http(at, "GET", "/v1/agents", None, None);
    assert_eq!(code, 401, "{v}");
    assert!(v["error"].as_str().unwrap().contains("token"), "{v}");
    let (code, _) = http(at, "GET", "/v1/agents", Some("wrong"), None);
    assert_eq!(code, 401);
    // An unknown agent (with did-you-mean), a bad state, bad JSON, a wrong method, no route.
    let (code, v) = s.api("PUT", "/v1/agents/d2/state", Some(r#"{"state":"ready"}"#));
    assert_eq!(code, 404, "{v}");
    assert_eq!(v["error"], "no agent `d2`; did you mean `d1`?");
    let (code, v) = s.api("PUT", "/v1/agents/d1/state", Some(r#"{"state":"raedy"}"#));
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["error"], "no state `raedy`; did you mean `ready`?");
    let (code, v) = s.api("PUT", "/v1/agents/d1/state", Some("{state: ready"));
    assert_eq!(code, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("the body is not JSON"),
        "{v}"
    );
    let (code, v) = s.api("POST", "/v1/agents", Some("{}"));
    assert_eq!(code, 405, "{v}");
    let (code, v) = s.api("GET", "/v1/nothing", None);
    assert_eq!(code, 404, "{v}");
    // Nothing changed: the agent is still logged out.
    let (code, v) = s.api("GET", "/v1/agents/d1", None);
    assert_eq!(code, 200);
    assert_eq!(v["state"], "logged_out", "{v}");
    assert_eq!(v["groups"], serde_json::json!(["line"]));
    // A reason comes back; groups count who is logged in.
    let (code, v) = s.api(
        "PUT",
        "/v1/agents/d1/state",
        Some(r#"{"state":"not_ready","reason":"lunch"}"#),
    );
    assert_eq!(
        (code, &v["reason"]),
        (200, &serde_json::json!("lunch")),
        "{v}"
    );
    let (_, groups) = s.api("GET", "/v1/groups", None);
    assert_eq!(groups[0]["logged_in"], 1, "{groups}");
    assert_eq!(groups[0]["available"], 0, "{groups}");
    // Every endpoint the OpenAPI document lists is served (the stream is tested on its own).
    for e in callflow_runtime::server::admin::ENDPOINTS {
        if e.path == "/v1/events" {
            continue;
        }
        let path = e.path.replace("{id}", "d1").replace("{name}", "nothing");
        let (at, token) = s.admin.clone().unwrap();
        let (code, text) = http_text(at, &e.method.to_uppercase(), &path, Some(&token), e.body);
        assert!(
            !text.contains("no such resource") && code != 405,
            "{} {path}: {code} {text}",
            e.method
        );
    }
}

#[test]
fn states_sticky_memory_and_round_robin_survive_kill_9() {
    // r1 takes calls 1 and 3 (the second as the caller's sticky agent), r2 call 2 (round
    // robin goes on after r1 across the restart); r3 never rings (not ready).
    let r1 = Phone::start_for("agent_answers.xml", 2);
    let r2 = Phone::start("agent_answers.xml");
    let r3 = Phone::start("agent_answers.xml");
    let more = flows_routing(
        &[("r1", &r1), ("r2", &r2), ("r3", &r3)],
        "round_robin",
        "sticky today; no_answer => hangup",
    );
    let mut s = Server::start_with("agents-restart", WEDNESDAY, Some(&more));
    s.agent_state("r1", "ready");
    s.agent_state("r2", "ready");
    let (code, _) = s.api(
        "PUT",
        "/v1/agents/r3/state",
        Some(r#"{"state":"not_ready","reason":"training"}"#),
    );
    assert_eq!(code, 200);
    let out = client(&s, &["500", "--from", "+4930111", "--hang-up-after", "1s"]);
    assert!(out.contains("outcome: answered by r1"), "{out}");
    // Saved within half a second of the change: wait until nothing is unsaved.
    assert_eq!(s.metric_until("callflow_state_unsaved", |v| v == 0.0), 0.0);
    assert_eq!(s.metric_until("callflow_state_pending", |v| v == 0.0), 0.0);
    s.kill_and_restart();
    let (_, agents) = s.api("GET", "/v1/agents", None);
    let states: Vec<(&str, &str, &serde_json::Value)> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["agent"].as_str().unwrap(),
                a["state"].as_str().unwrap(),
                &a["reason"],
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("r1", "ready", &serde_json::Value::Null),
            ("r2", "ready", &serde_json::Value::Null),
            ("r3", "not_ready", &serde_json::json!("training")),
        ]
    );
    // Round robin goes on after r1; the first caller's sticky agent is still r1.
    let out = client(&s, &["500", "--from", "+4930222", "--hang-up-after", "1s"]);
    assert!(out.contains("outcome: answered by r2"), "{out}");
    let out = client(&s, &["500", "--from", "+4930111", "--hang-up-after", "1s"]);
    assert!(out.contains("outcome: answered by r1"), "{out}");
    assert!(r1.succeeded() && r2.succeeded());
}

/// Starts `callflow call` to 500 from `from` in the background; its output.
fn caller(s: &Server, from: &str, hang_up_after: &str) -> std::thread::JoinHandle<String> {
    let (dir, port) = (s.dir.clone(), s.port);
    let (from, after) = (from.to_string(), hang_up_after.to_string());
    std::thread::spawn(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_callflow"))
            .current_dir(&dir)
            .args(["call", "500", "--server", &format!("127.0.0.1:{port}")])
            .args(["--data", "data", "--from", &from, "--hang-up-after", &after])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    })
}

#[test]
fn a_queue_serves_callers_in_arrival_order_announces_positions_and_lets_go_at_max_wait() {
    // One agent; A talks 3 s; B and C wait (hearing music and their position); B gets the
    // agent when A hangs up; C waits longer than max_wait and leaves for voicemail; D hangs up
    // while waiting and is gone from the queue at once.
    let q1 = Phone::start_for("agent_answers.xml", 2);
    let more = format!(
        r#"agent q1 {{ contact "sip:q1@127.0.0.1:{}" }}
group line {{
    members q1
    ring 3s
}}
voicemail line_box {{
    greeting "closed"
    max_length 2s
}}
flow hotline {{
    numbers "500"
    start {{
        route line {{
            queue {{
                music "main"
                announce position
                max_wait 6s => voicemail line_box no_answer
            }}
        }}
    }}
}}
"#,
        q1.port
    );
    let s = Server::start_with("agents-queue", WEDNESDAY, Some(&more));
    s.agent_state("q1", "ready");
    let a = caller(&s, "+4930001", "3s");
    s.wait_log("connected to agent q1");
    let b = caller(&s, "+4930002", "10s");
    s.wait_log("queued at position 1");
    let c = caller(&s, "+4930003", "15s");
    s.wait_log("queued at position 2");
    let d = caller(&s, "+4930004", "1s");
    s.wait_log("queued at position 3");
    // D hangs up while waiting: the queue lets go of it at once.
    let out_d = d.join().unwrap();
    assert!(out_d.contains("outcome: the caller hung up"), "{out_d}");
    assert_eq!(
        s.metric_until("callflow_group_abandoned_total{group=\"line\"}", |v| v
            >= 1.0),
        1.0
    );
    let (_, queues) = s.api("GET", "/v1/queues", None);
    let waiting: Vec<&str> = queues[0]["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["caller"].as_str().unwrap())
        .collect();
    assert_eq!(waiting, ["+4930002", "+4930003"], "{queues}");
    let (out_a, out_b, out_c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
    assert!(out_a.contains("outcome: answered by q1"), "{out_a}");
    assert!(out_b.contains("outcome: answered by q1"), "{out_b}");
    assert!(out_c.contains("outcome: voicemail"), "{out_c}");
    let records = s.records(4);
    let prompts = |from: &str| -> Vec<String> {
        let r = records.iter().find(|r| r["caller"] == from).unwrap();
        r["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect()
    };
    let (b, c) = (prompts("+4930002"), prompts("+4930003"));
    assert_eq!(
        b,
        ["say number 1", "music flows/prompts/main.wav"],
        "B heard its place and the music"
    );
    assert_eq!(
        c[..2],
        ["say number 2", "music flows/prompts/main.wav"],
        "{c:?}"
    );
    assert_eq!(
        c.last().unwrap(),
        "closed",
        "C heard the voicemail greeting: {c:?}"
    );
    assert!(q1.succeeded());
}

/// The power of `hz` in `samples` (8 kHz), per sample: the Goertzel filter.
fn tone_power(samples: &[i16], hz: f64) -> f64 {
    let k = 2.0 * (std::f64::consts::TAU * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s = f64::from(x) + k * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - k * s1 * s2) / samples.len().max(1) as f64
}

/// A sipp agent that speaks (A-law speech from Debian's pcap, no echo) for `calls` calls.
fn talking_agent(calls: u32) -> Phone {
    let pcap = "/usr/share/sip-tester/g711a.pcap";
    assert!(
        Path::new(pcap).is_file(),
        "{pcap} is missing: install Debian's sip-tester (scripts/test does)"
    );
    Phone::start_with("agent_talks.xml", calls, false, &[("@PCAP@", pcap)])
}

/// A hotline on `numbers` that asks for consent (`1`, withdrawn with `*9`) and then runs
/// `routes`, with the agent t1 on `port`.
fn consent_hotline(port: u16, numbers: &str, routes: &str) -> String {
    format!(
        r#"agent t1 {{ contact "sip:t1@127.0.0.1:{port}" }}
group line {{
    members t1
}}
flow hotline {{
    numbers {numbers}
    consent rec {{
        prompt "welcome"
        accept "1"
        refuse "2"
        silence means refuse
        timeout 5s
        withdraw "*9"
    }}
    start {{
        ask rec
        {routes}
    }}
}}
"#
    )
}

/// Calls `number`; the caller is silent but for its keys, sent as tones: `1` gives consent,
/// `*9` during the conversation withdraws it. Returns the call's record (the `n`-th) and the
/// samples of its one recording.
fn call_with_consent_tones(s: &Server, number: &str, n: usize) -> (serde_json::Value, Vec<i16>) {
    let out = client(
        s,
        &[
            number,
            "--keys",
            "1,*9",
            "--key-gap",
            "1500ms",
            "--dtmf",
            "inband",
            "--hang-up-after",
            "6s",
        ],
    );
    assert!(out.contains("outcome: answered by t1"), "{out}");
    let r = s.records(n)[n - 1].clone();
    let rec = r["recordings"].as_array().unwrap();
    assert_eq!(rec.len(), 1, "{r}");
    let b = std::fs::read(s.dir.join(rec[0]["file"].as_str().unwrap())).unwrap();
    let samples = callflow_runtime::media::wav::samples(&b).unwrap();
    assert!(samples.len() > 8 * 500, "{} samples", samples.len());
    (r, samples)
}

/// The last 150 ms of a recording (where the `*` tone is) and all but the last 400 ms.
fn tail_and_body(samples: &[i16]) -> (&[i16], &[i16]) {
    (
        &samples[samples.len() - 8 * 150..],
        &samples[..samples.len() - 8 * 400],
    )
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn a_bridged_call_is_recorded_with_both_sides_until_the_caller_withdraws() {
    let agent = talking_agent(1);
    let more = consent_hotline(
        agent.port,
        "\"500\"",
        "route line { record if consented; no_answer => hangup }",
    );
    let s = Server::start_with("agents-recording", WEDNESDAY, Some(&more));
    s.agent_state("t1", "ready");
    let (r, samples) = call_with_consent_tones(&s, "500", 1);
    let rec = &r["recordings"][0];
    assert_eq!(rec["stopped_by"], "consent withdrawn", "{r}");
    assert_eq!(rec["sides"], "both", "{r}");
    assert_eq!(r["consent"][1]["event"], "withdrawn", "{r}");
    // The caller's side: the `*` tone (941 + 1209 Hz) at the end, where the withdrawal cut it.
    let (tail, body) = tail_and_body(&samples);
    assert!(
        tone_power(tail, 1209.0) > 20.0 * tone_power(body, 1209.0).max(1.0),
        "the caller's tone is not in the recording"
    );
    // The agent's side: its speech while the caller was silent.
    assert!(
        rms(body) > 100.0,
        "the agent's speech is not in the recording (rms {:.0})",
        rms(body)
    );
    assert!(agent.succeeded());
}

#[test]
fn a_recording_of_one_side_holds_that_side_only() {
    let agent = talking_agent(2);
    let more = consent_hotline(
        agent.port,
        "\"501\", \"502\"",
        "if dialled == \"501\" {\n            route line { record caller if consented; no_answer => hangup }\n        }\n        route line { record agent if consented; no_answer => hangup }",
    );
    let s = Server::start_with("agents-recording-sides", WEDNESDAY, Some(&more));
    s.agent_state("t1", "ready");
    // The caller's side only: the `*` tone at the end, no speech of the agent before it.
    let (r, samples) = call_with_consent_tones(&s, "501", 1);
    assert_eq!(r["recordings"][0]["sides"], "caller", "{r}");
    let (tail, body) = tail_and_body(&samples);
    assert!(
        tone_power(tail, 1209.0) > 20.0 * tone_power(body, 1209.0).max(1.0),
        "the caller's tone is not in the caller's recording"
    );
    assert!(
        rms(body) < 30.0,
        "the agent is in the caller's recording (rms {:.0})",
        rms(body)
    );
    // The agent's side only: its speech, not the caller's tone.
    let (r, samples) = call_with_consent_tones(&s, "502", 2);
    assert_eq!(r["recordings"][0]["sides"], "agent", "{r}");
    let (tail, body) = tail_and_body(&samples);
    assert!(
        rms(body) > 100.0,
        "the agent's speech is missing (rms {:.0})",
        rms(body)
    );
    assert!(
        tone_power(tail, 1209.0) < 20.0 * tone_power(body, 1209.0).max(1.0),
        "the caller's tone is in the agent's recording"
    );
    assert!(agent.succeeded());
}

/// The agents rung for a call, in order.
fn order(r: &serde_json::Value) -> Vec<String> {
    rang(r).into_iter().map(|(a, _)| a).collect()
}

#[test]
fn each_strategy_rings_the_agents_phones_in_its_order() {
    // Busy phones a1..a3 (each call rings through them all), and x who answers: x takes a
    // first call, so it is the busiest and the least idle afterwards.
    let a1 = Phone::start_for("agent_busy.xml", 6);
    let a2 = Phone::start_for("agent_busy.xml", 6);
    let a3 = Phone::start_for("agent_busy.xml", 4);
    let x = Phone::start_for("agent_answers.xml", 3);
    let mut more = String::new();
    for (name, p, skill) in [("a1", &a1, 2), ("a2", &a2, 5), ("a3", &a3, 3), ("x", &x, 1)] {
        more.push_str(&format!(
            "agent {name} {{ contact \"sip:{name}@127.0.0.1:{}\"; skills de:{skill} }}\n",
            p.port
        ));
    }
    let groups = [
        ("first", "members x", "sequential", "700"),
        ("seq", "members a1, a2, a3", "sequential", "701"),
        ("pri", "tier 1 a3\n    tier 2 a1, a2", "priority", "702"),
        ("skl", "members a1, a2, a3", "skills", "703"),
        ("lb", "members x, a1, a2", "least_busy", "704"),
        ("li", "members x, a1, a2", "longest_idle", "705"),
        ("rnd", "members a1, a2, a3", "random", "706"),
    ];
    for (g, members, strategy, number) in groups {
        let require = if strategy == "skills" {
            " require de:1;"
        } else {
            ""
        };
        more.push_str(&format!(
            "group {g} {{\n    {members}\n    strategy {strategy}\n    ring 2s\n}}\n\
             flow f_{g} {{\n    numbers \"{number}\"\n    start {{\n        route {g} {{{require} no_answer => hangup }}\n    }}\n}}\n"
        ));
    }
    let s = Server::start_with("agents-strategies", WEDNESDAY, Some(&more));
    for a in ["a1", "a2", "a3", "x"] {
        s.agent_state(a, "ready");
    }
    let mut orders = Vec::new();
    for (i, (_, _, _, number)) in groups.iter().enumerate() {
        client(&s, &[number, "--hang-up-after", "1s"]);
        orders.push(order(&s.records(i + 1)[i]));
    }
    assert_eq!(orders[0], ["x"]);
    assert_eq!(
        orders[1],
        ["a1", "a2", "a3"],
        "sequential: the members' order"
    );
    assert_eq!(
        orders[2],
        ["a3", "a1", "a2"],
        "priority: tier 1, then tier 2 together"
    );
    assert_eq!(
        orders[3],
        ["a2", "a3", "a1"],
        "skills: the best qualified first"
    );
    assert_eq!(
        orders[4],
        ["a1", "a2", "x"],
        "least busy: x took a call today"
    );
    assert_eq!(
        orders[5],
        ["a1", "a2", "x"],
        "longest idle: x's call ended last"
    );
    let mut random = orders[6].clone();
    random.sort();
    assert_eq!(random, ["a1", "a2", "a3"], "random: each once");
    for p in [a1, a2, a3, x] {
        assert!(p.succeeded());
    }
}

#[test]
fn an_agent_in_two_groups_rings_for_one_call_at_a_time_and_wrap_up_is_respected() {
    let w = Phone::start_for("agent_answers.xml", 1);
    let more = format!(
        r#"agent w {{ contact "sip:w@127.0.0.1:{}" }}
group g1 {{
    members w
    wrap_up 30s
}}
group g2 {{
    members w
}}
flow one {{
    numbers "801"
    start {{
        route g1 {{ no_answer => hangup }}
    }}
}}
flow two {{
    numbers "802"
    start {{
        route g2 {{ no_answer => hangup }}
    }}
}}
"#,
        w.port
    );
    let s = Server::start_with("agents-two-groups", WEDNESDAY, Some(&more));
    s.agent_state("w", "ready");
    let first = {
        let (dir, port) = (s.dir.clone(), s.port);
        std::thread::spawn(move || {
            Command::new(env!("CARGO_BIN_EXE_callflow"))
                .current_dir(&dir)
                .args(["call", "801", "--server", &format!("127.0.0.1:{port}")])
                .args(["--data", "data", "--hang-up-after", "3s"])
                .output()
                .unwrap()
        })
    };
    s.wait_log("connected to agent w");
    // While w talks (g1), a call to g2 rings nobody.
    client(&s, &["802", "--hang-up-after", "1s"]);
    let (_, v) = s.api("GET", "/v1/agents/w", None);
    assert_eq!(v["activity"], "busy", "{v}");
    assert!(first.join().unwrap().status.success());
    // After the call, w is in g1's wrap-up: nobody rings for g2 either. (More wrap-up can be
    // asked for; an agent not in wrap-up cannot.)
    let (_, v) = s.api("GET", "/v1/agents/w", None);
    assert_eq!(v["activity"], "in wrap-up", "{v}");
    let (code, v) = s.api("POST", "/v1/agents/w/wrap_up", Some(r#"{"seconds": 30}"#));
    assert_eq!(
        (code, &v["activity"]),
        (200, &serde_json::json!("in wrap-up")),
        "{v}"
    );
    let (code, v) = s.api("POST", "/v1/agents/w/wrap_up", Some(r#"{"seconds": 0}"#));
    assert_eq!(code, 422, "{v}");
    client(&s, &["802", "--hang-up-after", "1s"]);
    let records = s.records(3);
    let by_number = |n: &str| -> Vec<Vec<String>> {
        records
            .iter()
            .filter(|r| r["dialled"] == n)
            .map(order)
            .collect()
    };
    assert_eq!(by_number("801"), [["w"]]);
    assert_eq!(by_number("802"), [Vec::<String>::new(), Vec::new()]);
    assert!(w.succeeded());
}

#[test]
fn a_phone_registers_with_digest_and_only_then_rings() {
    // sipp registers the agent's phone (MD5: sipp 3.6 knows no SHA-256, so the server offers
    // MD5 alone, as a deployment with such phones would); then a sipp UAS on the same port
    // answers the agent's calls.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let more = r#"agent reg { contact "sip:reg@192.0.2.1" }
group line {
    members reg
    ring 2s
}
flow hotline {
    numbers "500"
    start {
        route line { no_answer => hangup }
    }
}
"#;
    let mut s = Server::start_full(
        "agents-register",
        WEDNESDAY,
        Some(more),
        "127.0.0.1:0",
        &["--digest", "md5"],
        &[("data/credentials.json", r#"{"reg": "s3cret"}"#)],
    );
    s.agent_state("reg", "ready");
    let register = |s: &Server, scenario: &str, password: &str| {
        let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(scenario);
        Command::new(sipp())
            .arg("-sf")
            .arg(&scenario)
            .args(["-s", "reg", &format!("127.0.0.1:{}", s.port)])
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-au", "reg", "-ap", password, "-m", "1"])
            .args(["-timeout", "20s", "-timeout_error", "-nostdin"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    // A wrong password is challenged again and registers nothing: the agent is not rung.
    assert!(register(&s, "agent_register_wrong.xml", "wrong"));
    client(&s, &["500", "--hang-up-after", "1s"]);
    assert!(order(&s.records(1)[0]).is_empty());
    s.wait_log("its phone is not registered");
    // The right one registers; the agent's call goes to where the REGISTER came from.
    assert!(register(&s, "agent_register.xml", "s3cret"));
    s.wait_log("agent reg registered at 127.0.0.1:");
    let phone = Phone::on_port(port, "agent_answers.xml", 1, true, &[]);
    let out = client(&s, &["500", "--hang-up-after", "1s"]);
    assert!(out.contains("outcome: answered by reg"), "{out}");
    assert!(phone.succeeded());
    // The registration survives a restart, even by kill -9: the phone is rung at once, without
    // registering again (phones renew only when their registration runs out).
    assert_eq!(s.metric_until("callflow_state_unsaved", |v| v == 0.0), 0.0);
    assert_eq!(s.metric_until("callflow_state_pending", |v| v == 0.0), 0.0);
    s.kill_and_restart();
    let phone = Phone::on_port(port, "agent_answers.xml", 1, true, &[]);
    let out = client(&s, &["500", "--hang-up-after", "1s"]);
    assert!(out.contains("outcome: answered by reg"), "{out}");
    assert!(phone.succeeded());
    // A new password in the file is taken while the server runs: the old one no longer works.
    std::fs::write(
        s.dir.join("data/credentials.json"),
        r#"{"reg": "n3w-s3cret"}"#,
    )
    .unwrap();
    s.wait_log("agents' passwords read again: 1 agent(s)");
    assert!(register(&s, "agent_register_wrong.xml", "s3cret"));
    assert!(register(&s, "agent_register.xml", "n3w-s3cret"));
}

#[test]
fn the_event_stream_tells_wallboards_about_calls_and_agents() {
    use std::io::{BufRead, BufReader, Write};
    let phone = Phone::start("agent_answers.xml");
    let more = flows(&[("e1", &phone)], "sequential");
    let s = Server::start_with("agents-events", WEDNESDAY, Some(&more));
    let (at, token) = s.admin.clone().unwrap();
    // Without the token: refused.
    let (code, _) = http(at, "GET", "/v1/events", None, None);
    assert_eq!(code, 401);
    let mut stream = std::net::TcpStream::connect(at).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET /v1/events HTTP/1.1\r\nHost: {at}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data: ") {
                let _ = tx.send(serde_json::from_str::<serde_json::Value>(data).unwrap());
            }
        }
    });
    let describe = |e: serde_json::Value| match e["event"].as_str().unwrap() {
        "agent" => format!(
            "agent {} {}",
            e["agent"].as_str().unwrap(),
            e["activity"].as_str().unwrap()
        ),
        _ => format!("call {}", e["what"].as_str().unwrap()),
    };
    // The listener is counted at the server's next turn: change the agent's state until the
    // stream carries it.
    let deadline = Instant::now() + Duration::from_secs(20);
    for state in ["not_ready", "dnd"].iter().cycle() {
        assert!(Instant::now() < deadline, "no events came");
        s.agent_state("e1", state);
        if let Ok(e) = rx.recv_timeout(Duration::from_millis(100)) {
            assert!(describe(e).starts_with("agent e1"));
            break;
        }
    }
    while rx.recv_timeout(Duration::from_millis(100)).is_ok() {}
    s.agent_state("e1", "ready");
    let (dir, port) = (s.dir.clone(), s.port);
    std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_callflow"))
            .current_dir(&dir)
            .args(["call", "500", "--server", &format!("127.0.0.1:{port}")])
            .args(["--data", "data", "--hang-up-after", "1s"])
            .output()
            .unwrap()
    });
    let mut seen = Vec::new();
    while !seen.contains(&"call ended".to_string()) {
        let e = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("events so far: {seen:?}"));
        seen.push(describe(e));
    }
    let calls: Vec<&String> = seen.iter().filter(|s| s.starts_with("call")).collect();
    assert_eq!(
        calls,
        [
            "call started",
            "call routed",
            "call connected",
            "call ended"
        ],
        "{seen:?}"
    );
    assert!(seen.contains(&"agent e1 ringing".to_string()), "{seen:?}");
    assert!(seen.contains(&"agent e1 busy".to_string()), "{seen:?}");
    assert!(phone.succeeded());
}

#[test]
fn the_sticky_agent_rings_first_and_when_busy_the_group_takes_over() {
    let s1 = Phone::start_for("agent_answers.xml", 2);
    let s2 = Phone::start_for("agent_answers.xml", 1);
    let more = flows_routing(
        &[("s1", &s1), ("s2", &s2)],
        "sequential",
        "sticky today; no_answer => hangup",
    );
    let s = Server::start_with("agents-sticky", WEDNESDAY, Some(&more));
    s.agent_state("s1", "ready");
    s.agent_state("s2", "ready");
    // X talks to s1 (the first in the group's order).
    let out = client(&s, &["500", "--from", "+4930777", "--hang-up-after", "1s"]);
    assert!(out.contains("outcome: answered by s1"), "{out}");
    // (the log line of that connection, read here so the next wait sees Y's)
    s.wait_log("connected to agent s1");
    // Y takes s1 and keeps talking...
    let y = caller(&s, "+4930888", "6s");
    s.wait_log("connected to agent s1");
    // ...so X's sticky agent is busy: the group's order goes on with s2.
    let out = client(&s, &["500", "--from", "+4930777", "--hang-up-after", "1s"]);
    assert!(out.contains("outcome: answered by s2"), "{out}");
    assert!(y.join().unwrap().contains("outcome: answered by s1"));
    let records = s.records(3);
    let x = records.iter().rfind(|r| r["caller"] == "+4930777").unwrap();
    assert_eq!(order(x), ["s2"], "{x}");
    assert!(s1.succeeded() && s2.succeeded());
}

#[test]
fn feature_codes_from_the_agents_phone_change_its_state_and_nobody_elses() {
    // f1's phone is at 127.0.0.1 (its contact), as `callflow call` is.
    let phone = Phone::start("agent_answers.xml");
    let more = flows(&[("f1", &phone)], "sequential");
    let s = Server::start_with("agents-feature-codes", WEDNESDAY, Some(&more));
    let state = || s.api("GET", "/v1/agents/f1", None).1["state"].clone();
    assert_eq!(state(), "logged_out");
    let out = client(&s, &["*50", "--from", "f1", "--hang-up-after", "5s"]);
    assert!(out.contains("the server hung up"), "{out}");
    assert_eq!(state(), "ready");
    client(&s, &["*51", "--from", "f1", "--hang-up-after", "5s"]);
    assert_eq!(state(), "not_ready");
    assert_eq!(s.api("GET", "/v1/agents/f1", None).1["reason"], "phone");
    // Somebody who is no agent is refused.
    let out = client(&s, &["*50", "--from", "mallory", "--hang-up-after", "5s"]);
    assert!(out.contains("the server answered 403"), "{out}");
    assert_eq!(state(), "not_ready");
    client(&s, &["*52", "--from", "f1", "--hang-up-after", "5s"]);
    assert_eq!(state(), "logged_out");
    drop(phone);
}
