//! The SIP server core without sockets: datagrams and instants in, datagrams and call records
//! out. A whole IVR call with keys by SIP INFO, OPTIONS, unknown numbers, CANCEL, the caller's
//! BYE, a lost ACK, requests outside any dialog, and garbage between calls.

mod common;

use callflow_runtime::media::g711::Law;
use callflow_runtime::media::stream::{Play, Via};
use callflow_runtime::server::media::{Command as MediaCommand, Report, thread_of, thread_of_port};
use callflow_runtime::server::uas::{AdminRequest, Config, Out, Uas};
use callflow_runtime::sip::message::{self, Start};
use callflow_runtime::sip::transaction::Timing;
use callflow_runtime::vm::Machine;
use std::net::SocketAddr;
use std::sync::Arc;

const FLOWS: &str = r#"
flow ivr {
    numbers "200"
    timezone "Europe/Berlin"
    start {
        play "welcome"
        menu main
        hangup
    }
    menu main {
        prompt "main"
        timeout 5s
        retries 1
        "1" => play "one"
        "2" => transfer "+49 30 2555 5000"
        "3" => play "three"
        "3XX" => play "extension"
        invalid => play "invalid"
        timeout => play "nothing"
    }
}
flow national {
    numbers "030 2555 5100"
    country "DE"
    start {
        transfer "089 1234 5678"
    }
}
flow recorder {
    numbers "730"
    consent rec {
        prompt "may-we"
        accept "1"
        refuse "2"
        silence means refuse
        timeout 5s
        withdraw "*9"
    }
    start {
        ask rec
        if consented(rec) {
            record
        }
        play "long"
        wait 10s
        hangup
    }
}
flow speaking {
    numbers "720"
    start {
        play "welcome"
        say number 42
        say digits "0815"
        hangup
    }
}
flow answered_wait {
    numbers "710"
    start {
        answer
        wait 2s
        menu pick
        hangup
    }
    menu pick {
        prompt "pick"
        "1" => play "one"
        "2" => play "two"
    }
}
flow redirect {
    numbers "300"
    start { transfer "+49 30 2555 5000" }
}
flow closed_office {
    numbers "702"
    start {
        play "closed" early
        hangup
    }
}
flow very_patient {
    numbers "701"
    start {
        wait 2m
        answer
        play "welcome"
        hangup
    }
}
flow patient {
    numbers "700"
    start {
        wait 2s
        answer
        wait 1s
        play "welcome"
        hangup
    }
}
"#;

fn peer() -> SocketAddr {
    "127.0.0.1:5070".parse().unwrap()
}

struct H {
    uas: Uas,
    now: i64,
    sent: Vec<String>,
    records: Vec<serde_json::Value>,
    media: Vec<MediaCommand>,
    machine: Arc<Machine>,
}

impl H {
    fn new() -> H {
        let m = Arc::new(Machine::new(common::compile(FLOWS)).unwrap());
        let mut config = Config::new("127.0.0.1:5060".parse().unwrap());
        config.timing = Timing {
            t1: 500,
            t2: 4_000,
            t4: 5_000,
        };
        config.default_prompt_ms = 2_000;
        config.rtp_ports = (40_000, 40_009);
        config.recordings = Some("/nonexistent/recordings".into());
        H {
            uas: Uas::new(m.clone(), config),
            now: 1_767_780_000_000,
            sent: Vec::new(),
            records: Vec::new(),
            media: Vec::new(),
            machine: m,
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.uas.poll_out() {
            match o {
                Out::Send { to, bytes } => {
                    assert_eq!(to, peer(), "replies go to the packet's source");
                    self.sent.push(String::from_utf8(bytes).unwrap());
                }
                Out::Record(line) => self.records.push(serde_json::from_str(&line).unwrap()),
                Out::Media(c) => self.media.push(c),
                Out::Log { .. } | Out::Lookup { .. } | Out::File { .. } | Out::Event(_) => {}
            }
        }
    }

    fn send(&mut self, text: &str) {
        self.uas.receive(self.now, peer(), text.as_bytes());
        self.drain();
    }

    /// Moves the clock on, running the timers on the way.
    fn wait(&mut self, ms: i64) {
        let target = self.now + ms;
        while let Some(t) = self.uas.poll_timeout() {
            if t > target {
                break;
            }
            self.now = self.now.max(t);
            self.uas.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    /// Status codes (or request methods) of what was sent since the last call.
    fn took(&mut self) -> Vec<String> {
        std::mem::take(&mut self.sent)
            .iter()
            .map(|t| match message::parse(t.as_bytes()) {
                Ok(m) => match m.start {
                    Start::Response { code, .. } => code.to_string(),
                    Start::Request { method, .. } => method.to_string(),
                },
                // A refusal of a request without From, To or Call-ID carries only what it had.
                Err(_) => t.split(' ').nth(1).unwrap_or("").to_string(),
            })
            .collect()
    }

    fn last(&self, prefix: &str) -> String {
        self.sent
            .iter()
            .rev()
            .find(|t| t.starts_with(prefix))
            .cloned()
            .unwrap_or_default()
    }
}

fn request(
    method: &str,
    number: &str,
    call: &str,
    cseq: u32,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
) -> String {
    let to_tag = to_tag.map_or(String::new(), |t| format!(";tag={t}"));
    format!(
        "{method} sip:{number}@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{call}-{cseq}-{method};rport\r\n\
         From: <sip:+4930123456@127.0.0.1:5070>;tag=caller\r\n\
         To: <sip:{number}@127.0.0.1:5060>{to_tag}\r\n\
         Call-ID: {call}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
         Contact: <sip:caller@127.0.0.1:5070>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";

fn invite(h: &mut H, number: &str, call: &str) -> String {
    h.send(&request(
        "INVITE",
        number,
        call,
        1,
        None,
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    let ok = h.last("SIP/2.0 200");
    let m = message::parse(ok.as_bytes()).unwrap();
    m.to_tag().unwrap_or("").to_string()
}

fn info(key: &str) -> String {
    format!("Signal={key}\r\nDuration=160\r\n")
}

#[test]
fn a_whole_ivr_call_with_keys_by_info() {
    let mut h = H::new();
    let tag = invite(&mut h, "200", "c1");
    assert_eq!(
        h.took(),
        vec!["200"],
        "answered at once: the flow plays first"
    );
    h.send(&request("ACK", "200", "c1", 1, Some(&tag), "", ""));
    // The welcome plays 2 s; the menu prompt 2 s; the caller presses 3, 1, 5 (an extension).
    h.wait(2_500);
    for (n, k) in ["3", "1", "5"].iter().enumerate() {
        h.send(&request(
            "INFO",
            "200",
            "c1",
            2 + n as u32,
            Some(&tag),
            "Content-Type: application/dtmf-relay\r\n",
            &info(k),
        ));
    }
    assert_eq!(h.took(), vec!["200", "200", "200"]);
    // "315" completes the key "3XX" at once: "extension" plays (2 s), then the flow hangs up.
    h.wait(2_100);
    assert_eq!(h.took(), vec!["BYE"]);
    let bye = h.records.len();
    assert_eq!(bye, 1);
    let r = &h.records[0];
    assert_eq!(r["dialled"], "200");
    assert_eq!(r["caller"], "+4930123456");
    assert_eq!(r["keys"], serde_json::json!(["3", "1", "5"]));
    assert_eq!(
        r["prompts"],
        serde_json::json!(["welcome", "main", "extension"])
    );
    assert_eq!(r["outcome"], "the flow hung up");
    assert!(r["path"].as_array().unwrap().len() >= 3, "{r}");
    assert_eq!(h.uas.calls(), 0);
}

#[test]
fn a_key_that_starts_a_longer_one_is_taken_after_the_digit_timeout() {
    // "3" and "3XX" in one menu (direct extension dialling): after 3 the server waits for the
    // digit timeout (3 s by default); no further key chooses "3".
    let mut h = H::new();
    let tag = invite(&mut h, "200", "c9");
    h.send(&request("ACK", "200", "c9", 1, Some(&tag), "", ""));
    h.wait(2_500);
    h.send(&request(
        "INFO",
        "200",
        "c9",
        2,
        Some(&tag),
        "Content-Type: application/dtmf-relay\r\n",
        &info("3"),
    ));
    h.wait(2_900);
    assert!(h.records.is_empty(), "still waiting for a further key");
    // The digit timeout passes; "three" plays (2 s), then the flow hangs up.
    h.wait(2_300);
    let r = h.records.last().expect("the call ended");
    assert_eq!(
        r["prompts"],
        serde_json::json!(["welcome", "main", "three"]),
        "{r}"
    );
}

#[test]
fn a_clock_stepped_back_moves_the_calls_timers_and_record_with_it() {
    // NTP or a resumed VM steps the wall clock back an hour while a caller waits out the
    // digit timeout after "3": the call goes on when its time is up, not an hour later, and
    // its record stays on one clock.
    const HOUR: i64 = 3_600_000;
    let mut h = H::new();
    let t0 = h.now;
    let tag = invite(&mut h, "200", "c30");
    h.send(&request("ACK", "200", "c30", 1, Some(&tag), "", ""));
    h.wait(2_500);
    h.send(&request(
        "INFO",
        "200",
        "c30",
        2,
        Some(&tag),
        "Content-Type: application/dtmf-relay\r\n",
        &info("3"),
    ));
    // The server's loop tells the core the time at least every half second (its watch).
    for _ in 0..2 {
        h.wait(500);
        h.uas.handle_timeout(h.now);
        h.drain();
    }
    // The clock is stepped back an hour; the next watch finds it. Without the move, the
    // digit timeout (due at 5.5 s) would come an hour late.
    h.now += 500 - HOUR;
    h.uas.handle_timeout(h.now);
    h.drain();
    // The digit timeout, at most the half second late that cannot be told from the step;
    // then "three" plays (2 s) and the flow hangs up.
    h.wait(t0 - HOUR + 8_100 - h.now);
    let took = h.took();
    assert_eq!(took.last().map(String::as_str), Some("BYE"), "{took:?}");
    let r = h.records.last().expect("the call ended in time");
    assert_eq!(
        r["prompts"],
        serde_json::json!(["welcome", "main", "three"]),
        "{r}"
    );
    // The record's times moved with the clock: answered (at the INVITE) on the new clock,
    // and the call's length what the caller lived, less at most that half second.
    let at = |k: &str| r[k].as_i64().unwrap();
    assert_eq!(at("answered"), at("started"), "{r}");
    assert!(
        (t0 - HOUR..=t0 - HOUR + 500).contains(&at("answered")),
        "{r}"
    );
    assert!(
        (7_500..=8_000).contains(&(at("ended") - at("answered"))),
        "{r}"
    );
    // A step back of less than 100 ms moves nothing: timers are at most that late.
    let tag = invite(&mut h, "200", "c31");
    h.send(&request("ACK", "200", "c31", 1, Some(&tag), "", ""));
    let due = h.uas.poll_timeout();
    h.now -= 50;
    h.uas.handle_timeout(h.now);
    assert_eq!(h.uas.poll_timeout(), due);
}

#[test]
fn early_media_plays_without_answering_and_the_call_is_never_charged() {
    let mut h = H::new();
    h.send(&request(
        "INVITE",
        "702",
        "e1",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    // 183 Session Progress with our SDP: the caller hears the announcement, unanswered.
    let progress = h.last("SIP/2.0 183");
    assert!(progress.contains("application/sdp"), "{progress}");
    assert_eq!(h.took(), vec!["183"]);
    // The prompt (2 s) ends, the flow hangs up: a final non-2xx, never a 200.
    h.wait(2_100);
    assert_eq!(h.took(), vec!["480"]);
    let r = h.records.last().expect("a record");
    assert_eq!(r["answered"], serde_json::Value::Null, "{r}");
    assert_eq!(r["prompts"], serde_json::json!(["closed"]));
}

#[test]
fn a_long_wait_before_answer_rings_again_every_minute() {
    let mut h = H::new();
    h.send(&request(
        "INVITE",
        "701",
        "w2",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    assert_eq!(h.took(), vec!["180"]);
    h.wait(59_000);
    assert_eq!(h.took(), Vec::<String>::new());
    // RFC 3261 §13.3.1.1: a provisional response every minute keeps proxies from giving up.
    h.wait(2_000);
    assert_eq!(h.took(), vec!["180"]);
    // Answered at 2:00; the next 180 would have been due at 2:01.
    h.wait(65_000);
    let sent = h.took();
    assert_eq!(sent.first().map(String::as_str), Some("200"), "{sent:?}");
    assert!(!sent.contains(&"180".to_string()), "answered: no third 180");
}

#[test]
fn wait_rings_before_answer_then_answer_connects() {
    let mut h = H::new();
    h.send(&request(
        "INVITE",
        "700",
        "w1",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    // `wait 2s` first: not answered yet, so the caller hears ringing (180, instead of 100).
    assert_eq!(h.took(), vec!["180"]);
    h.wait(1_900);
    assert_eq!(h.took(), Vec::<String>::new());
    // Then `answer`: the 200 with SDP.
    h.wait(200);
    assert_eq!(h.took(), vec!["200"]);
    assert!(h.records.is_empty(), "the call goes on");
}

#[test]
fn options_unknown_numbers_redirects_and_requests_outside_dialogs() {
    let mut h = H::new();
    h.send(&request("OPTIONS", "200", "o1", 1, None, "", ""));
    assert_eq!(h.took(), vec!["200"]);
    h.send(&request("INVITE", "999", "n1", 1, None, "", ""));
    assert_eq!(h.took(), vec!["404"]);
    h.send(&request("INVITE", "300", "r1", 1, None, "", ""));
    let sent = h.sent.clone();
    assert_eq!(h.took(), vec!["302"]);
    assert!(
        sent[0].contains("Contact: <sip:+493025555000@127.0.0.1:5060>"),
        "{}",
        sent[0]
    );
    h.send(&request("BYE", "200", "nobody", 2, Some("x"), "", ""));
    assert_eq!(h.took(), vec!["481"]);
    // A REGISTER for somebody who is no agent.
    h.send(&request("REGISTER", "200", "reg", 1, None, "", ""));
    assert_eq!(h.took(), vec!["404"]);
    h.send(&request("SUBSCRIBE", "200", "sub", 1, None, "", ""));
    assert_eq!(h.took(), vec!["405"]);
    let mut zero = request("INVITE", "200", "mf", 1, None, "", "");
    zero = zero.replace("Max-Forwards: 70", "Max-Forwards: 0");
    h.send(&zero);
    assert_eq!(h.took(), vec!["483"]);
    h.send(&request(
        "OPTIONS",
        "200",
        "req",
        1,
        None,
        "Require: 100rel, foo\r\n",
        "",
    ));
    let sent = h.sent.clone();
    assert_eq!(h.took(), vec!["420"]);
    assert!(sent[0].contains("Unsupported: 100rel, foo"));
}

#[test]
fn cancel_before_answer_and_bye_mid_menu() {
    let mut h = H::new();
    // A flow that answers at once cannot be cancelled after the 200: CANCEL gets 481 then.
    let tag = invite(&mut h, "200", "c2");
    h.took();
    h.send(&request("CANCEL", "200", "c2", 1, None, "", ""));
    assert_eq!(h.took(), vec!["481"]);
    h.send(&request("ACK", "200", "c2", 1, Some(&tag), "", ""));
    h.wait(3_000);
    // The caller hangs up in the menu.
    let bye = request("BYE", "200", "c2", 2, Some(&tag), "", "");
    h.send(&bye);
    let first = h.sent.last().cloned();
    assert_eq!(h.took(), vec!["200"]);
    assert_eq!(h.records.last().unwrap()["outcome"], "the caller hung up");
    assert_eq!(h.uas.calls(), 0);
    // A retransmitted BYE (our 200 was lost) gets the very same 200 again, built anew from
    // the request (the transaction kept only the status), not a 481.
    h.wait(1_000);
    h.send(&bye);
    assert_eq!(h.sent.last().cloned(), first);
    assert_eq!(h.took(), vec!["200"]);
    // Nothing more happens for that call.
    h.wait(60_000);
    assert_eq!(h.took(), Vec::<String>::new());
}

#[test]
fn a_lost_ack_gets_the_200_again_and_the_call_goes_on() {
    let mut h = H::new();
    let tag = invite(&mut h, "200", "c3");
    h.took();
    // No ACK: the 200 is sent again after T1, 2*T1 ...
    h.wait(1_600);
    assert_eq!(h.took(), vec!["200", "200"]);
    h.send(&request("ACK", "200", "c3", 1, Some(&tag), "", ""));
    h.wait(10_000);
    assert!(
        !h.took().contains(&"200".to_string()),
        "no more retransmissions"
    );
    // An INVITE retransmitted after the ACK is absorbed (RFC 6026 Accepted state): the 2xx is
    // not kept once acknowledged, so a held call costs less.
    h.send(&request(
        "INVITE",
        "200",
        "c3",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    assert_eq!(h.took(), Vec::<String>::new());
}

#[test]
fn garbage_between_calls_disturbs_nothing() {
    let mut h = H::new();
    let tag = invite(&mut h, "200", "c4");
    h.took();
    for junk in [
        &b"\x00\x01\x02"[..],
        b"INVITE sip:200@127.0.0.1 SIP/2.0\r\n\r\n",
        b"INVITE  sip:200@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKj\r\n\r\n",
        b"SIP/2.0 200 OK\r\n\r\n",
        &[b'x'; 70_000][..],
    ] {
        h.uas.receive(h.now, peer(), junk);
        h.drain();
    }
    // Only the request with a Via gets an answer (400); the rest is dropped.
    assert_eq!(h.took(), vec!["400"]);
    h.send(&request("ACK", "200", "c4", 1, Some(&tag), "", ""));
    h.wait(2_500);
    h.send(&request(
        "INFO",
        "200",
        "c4",
        2,
        Some(&tag),
        "Content-Type: application/dtmf\r\n",
        "1",
    ));
    h.wait(2_100);
    assert_eq!(
        h.records.last().unwrap()["prompts"],
        serde_json::json!(["welcome", "main", "one"])
    );
}

fn limited(max_calls: usize, per_source: u32) -> H {
    let m = Machine::new(common::compile(FLOWS)).unwrap();
    let mut config = Config::new("127.0.0.1:5060".parse().unwrap());
    config.max_calls = max_calls;
    config.calls_per_source = per_source;
    let mut h = H::new();
    h.uas = Uas::new(Arc::new(m), config);
    h
}

#[test]
fn beyond_the_call_cap_new_calls_get_503_and_accepted_calls_go_on() {
    let mut h = limited(3, 100);
    for i in 0..4 {
        h.send(&request(
            "INVITE",
            "200",
            &format!("cap{i}"),
            1,
            None,
            "",
            "",
        ));
    }
    assert!(h.last("SIP/2.0 503").contains("Retry-After: 5"));
    let codes = h.took();
    assert_eq!(codes.iter().filter(|c| *c == "200").count(), 3, "{codes:?}");
    assert_eq!(codes.last().map(String::as_str), Some("503"));
    assert_eq!(h.uas.calls(), 3, "the accepted calls go on");
}

#[test]
fn a_saturated_loop_refuses_new_calls_statelessly_and_the_accepted_ones_go_on() {
    let mut h = H::new();
    let tag = invite(&mut h, "200", "s1");
    h.send(&request("ACK", "200", "s1", 1, Some(&tag), "", ""));
    h.took();
    h.uas.set_shedding(true);
    let kept = h.uas.transactions();
    h.send(&request(
        "INVITE",
        "200",
        "s2",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    assert!(h.last("SIP/2.0 503").contains("Retry-After: 1"));
    assert_eq!(h.took(), ["503"]);
    assert_eq!(h.uas.transactions(), kept, "nothing kept for a shed call");
    assert_eq!(h.uas.calls(), 1);
    assert!(h.media.iter().all(|c| c.call() != 2), "no stream for it");
    // The call accepted before goes on: a key, then the caller hangs up.
    h.send(&request(
        "INFO",
        "200",
        "s1",
        2,
        Some(&tag),
        "Content-Type: application/dtmf-relay\r\n",
        &info("1"),
    ));
    h.send(&request("BYE", "200", "s1", 3, Some(&tag), "", ""));
    assert_eq!(h.took(), ["200", "200"]);
    assert_eq!(h.records.last().unwrap()["outcome"], "the caller hung up");
    assert_eq!(h.records.last().unwrap()["keys"], serde_json::json!(["1"]));
    // Keeping up again: the next call is taken.
    h.uas.set_shedding(false);
    invite(&mut h, "200", "s3");
    assert_eq!(h.uas.calls(), 1);
    let metrics = h.uas.admin(h.now, AdminRequest::Metrics).body;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("callflow_calls_refused_total{reason=\"load\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("callflow_calls_refused_total{reason=\"calls\"} 0\n"));
    assert!(metrics.contains("callflow_shedding 0\n"));
    // Listeners of the event stream hear when shedding starts and ends.
    h.uas.set_events(true);
    h.uas.set_shedding(true);
    let metrics = h.uas.admin(h.now, AdminRequest::Metrics).body;
    assert!(metrics.as_str().unwrap().contains("callflow_shedding 1\n"));
    h.uas.set_shedding(true);
    h.uas.set_shedding(false);
    let events: Vec<String> = std::iter::from_fn(|| h.uas.poll_out())
        .filter_map(|o| match o {
            Out::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        [
            r#"{"event":"server","what":"shedding"}"#,
            r#"{"event":"server","what":"keeping up"}"#
        ]
    );
}

#[test]
fn a_source_over_its_rate_gets_503_until_the_next_second() {
    let mut h = limited(100, 2);
    h.send(&request("INVITE", "300", "r1", 1, None, "", ""));
    h.send(&request("INVITE", "300", "r2", 1, None, "", ""));
    h.send(&request("INVITE", "300", "r3", 1, None, "", ""));
    assert_eq!(h.took(), vec!["302", "302", "503"]);
    h.wait(1_000);
    h.took();
    h.send(&request("INVITE", "300", "r4", 1, None, "", ""));
    assert_eq!(h.took(), vec!["302"]);
}

#[test]
fn a_flood_from_one_source_goes_unanswered_and_its_calls_and_other_callers_go_on() {
    // 10 new calls a second per source: a source's share of requests outside dialogs is then
    // the minimum, 1,000 a second.
    let mut h = limited(100, 10);
    let flood: SocketAddr = "127.0.0.9:5070".parse().unwrap();
    let options = |n: u32| request("OPTIONS", "200", &format!("o{n}"), 1, None, "", "");
    let answered = |h: &mut H| {
        let mut n = 0;
        while let Some(o) = h.uas.poll_out() {
            if let Out::Send { to, .. } = o {
                assert_eq!(to, flood);
                n += 1;
            }
        }
        n
    };
    // A call from the flooding address, accepted first.
    h.uas.receive(
        h.now,
        flood,
        request(
            "INVITE",
            "200",
            "f0",
            1,
            None,
            "Content-Type: application/sdp\r\n",
            SDP,
        )
        .as_bytes(),
    );
    let mut ok = String::new();
    while let Some(o) = h.uas.poll_out() {
        if let Out::Send { bytes, .. } = o {
            ok = String::from_utf8(bytes).unwrap();
        }
    }
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let tag = message::parse(ok.as_bytes())
        .unwrap()
        .to_tag()
        .unwrap()
        .to_string();
    // 1,500 OPTIONS and 100 lines of garbage in the same second: the INVITE took one of the
    // 1,000, so 999 are answered.
    for n in 0..1_500 {
        h.uas.receive(h.now, flood, options(n).as_bytes());
    }
    for _ in 0..100 {
        h.uas
            .receive(h.now, flood, b"GARBAGE sip:x SIP/2.0\r\n\r\n");
    }
    assert_eq!(answered(&mut h), 999, "the rest unanswered");
    // Its call goes on: the ACK and a BYE in the dialog are taken, the call ends.
    for (method, cseq) in [("ACK", 1), ("BYE", 2)] {
        h.uas.receive(
            h.now,
            flood,
            request(method, "200", "f0", cseq, Some(&tag), "", "").as_bytes(),
        );
    }
    assert_eq!(answered(&mut h), 1, "the BYE's 200");
    assert_eq!(h.uas.calls(), 0);
    // A caller from another address, in the same second: answered.
    invite(&mut h, "200", "f1");
    assert_eq!(h.took(), vec!["200"]);
    let metrics = h.uas.admin(h.now, AdminRequest::Metrics).body;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("callflow_sip_messages_total{kind=\"flooded\"} 601\n"),
        "{metrics}"
    );
    // The next second, the flooding source is answered again.
    h.now += 1_000;
    h.uas.receive(h.now, flood, options(2_000).as_bytes());
    assert_eq!(answered(&mut h), 1);
}

const LOOKUP: &str = r#"
lookup crm {
    url "http://crm.invalid/callers?n={caller}"
    timeout 1s
    fields tier
}
flow lk {
    numbers "400"
    start {
        lookup crm {
            error => play "crm-down"
            not_found => play "new-caller"
        }
        if crm.tier == "gold" { play "gold" }
        hangup
    }
}
"#;

#[test]
fn lookups_go_out_and_their_answers_choose_the_branch() {
    for (answer, want) in [
        (
            Some(callflow_runtime::server::uas::LookupResult::Fields(vec![(
                "tier".into(),
                "gold".into(),
            )])),
            "gold",
        ),
        (
            Some(callflow_runtime::server::uas::LookupResult::NotFound),
            "new-caller",
        ),
        (
            Some(callflow_runtime::server::uas::LookupResult::Failed(
                "500".into(),
            )),
            "crm-down",
        ),
        (None, "crm-down"),
    ] {
        let mut h = H::new();
        h.uas = Uas::new(
            Arc::new(Machine::new(common::compile(LOOKUP)).unwrap()),
            Config::new("127.0.0.1:5060".parse().unwrap()),
        );
        h.uas.receive(
            h.now,
            peer(),
            request("INVITE", "400", "lk", 1, None, "", "").as_bytes(),
        );
        let mut asked = None;
        let mut sent = Vec::new();
        while let Some(o) = h.uas.poll_out() {
            match o {
                Out::Lookup {
                    call,
                    effect,
                    url,
                    timeout_ms,
                    ..
                } => {
                    assert_eq!(url, "http://crm.invalid/callers?n=%2B4930123456");
                    assert_eq!(timeout_ms, 1_000);
                    asked = Some((call, effect));
                }
                Out::Send { bytes, .. } => {
                    sent.push(String::from_utf8(bytes).unwrap()[8..11].to_string())
                }
                _ => {}
            }
        }
        let (call, effect) = asked.expect("the flow asks the CRM first");
        assert_eq!(
            sent,
            vec!["100"],
            "no answer before the CRM's: 100 Trying goes out at once"
        );
        match answer {
            Some(a) => {
                // A late answer to another effect is ignored; the right one is taken.
                h.uas.lookup_result(h.now, call, effect + 1, a.clone());
                h.uas.lookup_result(h.now, call, effect, a);
            }
            None => h.wait(1_600), // no answer: the error branch after the timeout
        }
        h.drain();
        h.wait(5_000);
        let r = h.records.last().expect("a record").clone();
        assert_eq!(r["prompts"], serde_json::json!([want]), "{r}");
    }
}

const TRANSFERS: &str = r#"
flow t {
    numbers "600"
    start {
        menu m
    }
    menu m {
        prompt "p"
        timeout 5s
        "1" => transfer "+49 30 2555 5000"
        "2XX" => transfer key
        "0XXXXXXXXXX" => transfer key
        invalid => hangup
    }
}
"#;

fn transfer_call(h: &mut H, key: &str) -> Vec<String> {
    let tag = invite(h, "600", &format!("t{key}"));
    h.took();
    h.send(&request(
        "ACK",
        "600",
        &format!("t{key}"),
        1,
        Some(&tag),
        "",
        "",
    ));
    h.send(&request(
        "INFO",
        "600",
        &format!("t{key}"),
        2,
        Some(&tag),
        "Content-Type: application/dtmf\r\n",
        key,
    ));
    h.took()
}

#[test]
fn computed_transfers_reach_only_allowed_numbers() {
    let mut config = Config::new("127.0.0.1:5060".parse().unwrap());
    config.trunk = Some("gw.example.net:5080".into());
    let mut h = H::new();
    h.uas = Uas::new(
        Arc::new(Machine::new(common::compile(TRANSFERS)).unwrap()),
        config.clone(),
    );
    // After the answer an allowed transfer is asked for with REFER; a refused one ends the
    // call with a record that says so.
    for (key, allowed) in [("1", true), ("215", true), ("01701234567", false)] {
        let sent = transfer_call(&mut h, key);
        assert_eq!(
            sent.contains(&"REFER".to_string()),
            allowed,
            "{key}: {sent:?}"
        );
        if !allowed {
            let r = h.records.last().unwrap().clone();
            assert!(r["outcome"].as_str().unwrap().contains("refused"), "{r}");
        }
    }
    // With the deployment's allow-list, the mobile number may be reached (by the trunk).
    config.allow = vec![callflow_compiler::pattern::parse_number("0170*").unwrap()];
    h.uas = Uas::new(
        Arc::new(Machine::new(common::compile(TRANSFERS)).unwrap()),
        config,
    );
    let sent = transfer_call(&mut h, "01701234567");
    assert!(sent.contains(&"REFER".to_string()), "{sent:?}");
}

#[test]
fn a_transfer_after_answering_is_a_refer_whose_notify_ends_the_flow() {
    let mut h = H::new();
    h.uas = Uas::new(
        Arc::new(Machine::new(common::compile(TRANSFERS)).unwrap()),
        Config::new("127.0.0.1:5060".parse().unwrap()),
    );
    let tag = invite(&mut h, "600", "t1");
    h.took();
    h.send(&request("ACK", "600", "t1", 1, Some(&tag), "", ""));
    h.send(&request(
        "INFO",
        "600",
        "t1",
        2,
        Some(&tag),
        "Content-Type: application/dtmf\r\n",
        "1",
    ));
    let refer = h.last("REFER");
    assert_eq!(h.took(), vec!["200", "REFER"]);
    let m = message::parse(refer.as_bytes()).unwrap();
    assert!(
        refer.contains("Refer-To: <sip:+493025555000@127.0.0.1:5060>"),
        "{refer}"
    );
    let (cseq, _) = m.cseq().unwrap();
    // 202 Accepted, then NOTIFY: the target answered 200.
    let answer = format!(
        "SIP/2.0 202 Accepted\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: t1\r\nCSeq: {cseq} REFER\r\nContent-Length: 0\r\n\r\n",
        m.get("Via").unwrap(),
        m.get("From").unwrap(),
        m.get("To").unwrap()
    );
    h.send(&answer);
    h.send(&request(
        "NOTIFY",
        "600",
        "t1",
        3,
        Some(&tag),
        "Event: refer\r\nContent-Type: message/sipfrag\r\n",
        "SIP/2.0 200 OK\r\n",
    ));
    assert_eq!(
        h.took(),
        vec!["200", "BYE"],
        "NOTIFY answered, then the call is handed over"
    );
    assert_eq!(
        h.records.last().unwrap()["outcome"],
        "transferred to +493025555000"
    );
}

#[test]
fn a_refused_refer_fails_the_transfer_and_the_call_ends() {
    let mut h = H::new();
    h.uas = Uas::new(
        Arc::new(Machine::new(common::compile(TRANSFERS)).unwrap()),
        Config::new("127.0.0.1:5060".parse().unwrap()),
    );
    let tag = invite(&mut h, "600", "t2");
    h.took();
    h.send(&request("ACK", "600", "t2", 1, Some(&tag), "", ""));
    h.send(&request(
        "INFO",
        "600",
        "t2",
        2,
        Some(&tag),
        "Content-Type: application/dtmf\r\n",
        "1",
    ));
    let refer = h.last("REFER");
    h.took();
    let m = message::parse(refer.as_bytes()).unwrap();
    let (cseq, _) = m.cseq().unwrap();
    let answer = format!(
        "SIP/2.0 405 Method Not Allowed\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: t2\r\nCSeq: {cseq} REFER\r\nContent-Length: 0\r\n\r\n",
        m.get("Via").unwrap(),
        m.get("From").unwrap(),
        m.get("To").unwrap()
    );
    h.send(&answer);
    assert_eq!(h.took(), vec!["BYE"]);
    let r = h.records.last().unwrap();
    assert_eq!(r["outcome"], "transfer failed (REFER answered 405)");
}

#[test]
fn redirects_and_unknown_numbers_keep_no_state_and_answer_retransmissions_alike() {
    let mut h = H::new();
    let invite = request("INVITE", "300", "fast", 1, None, "", "");
    h.send(&invite);
    let first = h.last("SIP/2.0 302");
    h.send(&invite);
    let again = h.last("SIP/2.0 302");
    assert_eq!(h.took(), vec!["302", "302"]);
    let tag = |t: &str| {
        message::parse(t.as_bytes())
            .unwrap()
            .to_tag()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        tag(&first),
        tag(&again),
        "the same answer to the retransmission"
    );
    h.send(&request("INVITE", "999", "gone", 1, None, "", ""));
    assert_eq!(h.took(), vec!["404"]);
    assert_eq!(h.uas.transactions(), 0, "nothing kept per call");
    assert_eq!(h.uas.timers(), 0, "not even a timer");
    assert_eq!(h.uas.calls(), 0);
    // Their ACKs find nothing and are dropped.
    h.send(&request(
        "ACK",
        "300",
        "fast",
        1,
        Some(&tag(&first)),
        "",
        "",
    ));
    assert_eq!(h.took(), Vec::<String>::new());
}

fn sdp_offer(m_line: &str, extra: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n{m_line}\r\n{extra}"
    )
}

fn body_of(response: &str) -> &str {
    response.split("\r\n\r\n").nth(1).unwrap_or("")
}

/// What the media thread was asked, in short: "open 40000 A", "play 1", "stop", "close".
fn media_took(h: &mut H) -> Vec<String> {
    std::mem::take(&mut h.media)
        .into_iter()
        .map(|c| match c {
            MediaCommand::Open { port, media, .. } => format!(
                "open {port} {}",
                if media.law == Law::A { "A" } else { "u" }
            ),
            MediaCommand::Update { media, .. } => format!("update send={}", media.send),
            MediaCommand::Play { items, .. } => format!("play {}", items.len()),
            MediaCommand::Stop { .. } => "stop".into(),
            MediaCommand::Record { .. } => "record".into(),
            MediaCommand::StopRecording { .. } => "stop recording".into(),
            MediaCommand::Close { .. } => "close".into(),
            MediaCommand::Bridge { port, .. } => format!("bridge {port}"),
            MediaCommand::Unbridge { .. } => "unbridge".into(),
        })
        .collect()
}

#[test]
fn the_media_stream_follows_the_flow_and_keys_from_rtp_cut_the_menu_short() {
    let mut h = H::new();
    // The caller prefers PCMA and offers telephone-events as 96.
    let offer = sdp_offer(
        "m=audio 6000 RTP/AVP 8 0 96",
        "a=rtpmap:96 telephone-event/8000\r\n",
    );
    h.send(&request(
        "INVITE",
        "200",
        "m1",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        &offer,
    ));
    let ok = h.last("SIP/2.0 200");
    let answer = body_of(&ok);
    assert!(
        answer.contains("m=audio 40000 RTP/AVP 8 96\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("a=rtpmap:96 telephone-event/8000"),
        "{answer}"
    );
    let tag = message::parse(ok.as_bytes())
        .unwrap()
        .to_tag()
        .unwrap()
        .to_string();
    // The stream opens before the 200 goes out; the welcome plays on it.
    assert_eq!(media_took(&mut h), ["open 40000 A", "play 1"]);
    assert_eq!(h.took(), ["200"]);
    h.send(&request("ACK", "200", "m1", 1, Some(&tag), "", ""));
    h.wait(2_100);
    assert_eq!(media_took(&mut h), ["play 1"], "the menu's prompt");
    // The caller presses 1 by RFC 4733 in the middle of the menu's prompt: it stops.
    let call = 1;
    h.uas.media_report(
        h.now,
        Report::Key {
            call,
            key: '1',
            via: Via::Event,
        },
    );
    h.drain();
    assert_eq!(media_took(&mut h), ["stop", "play 1"], "then \"one\" plays");
    h.wait(2_100);
    assert_eq!(h.took(), ["BYE"]);
    assert_eq!(media_took(&mut h), ["close"]);
    let r = h.records.last().unwrap();
    assert_eq!(r["keys"], serde_json::json!(["1"]));
    assert_eq!(r["prompts"], serde_json::json!(["welcome", "main", "one"]));
}

#[test]
fn an_offer_without_a_common_codec_is_refused_with_488_and_no_call() {
    let mut h = H::new();
    let offer = sdp_offer("m=audio 6000 RTP/AVP 18", "a=rtpmap:18 G729/8000\r\n");
    h.send(&request(
        "INVITE",
        "200",
        "m2",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        &offer,
    ));
    let refusal = h.last("SIP/2.0 488");
    assert!(refusal.contains("Warning: 305 callflow"), "{refusal}");
    assert_eq!(h.took(), ["488"]);
    assert_eq!(h.uas.calls(), 0);
    assert!(h.media.is_empty());
    // Not SDP at all: 488 too.
    h.send(&request(
        "INVITE",
        "200",
        "m3",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        "hello",
    ));
    assert_eq!(h.took(), ["488"]);
}

#[test]
fn a_reinvite_puts_the_call_on_hold_and_its_ack_ends_the_retransmissions() {
    let mut h = H::new();
    let tag = invite(&mut h, "200", "m4");
    h.send(&request("ACK", "200", "m4", 1, Some(&tag), "", ""));
    h.took();
    media_took(&mut h);
    let hold = sdp_offer("m=audio 6000 RTP/AVP 0", "a=sendonly\r\n");
    h.send(&request(
        "INVITE",
        "200",
        "m4",
        2,
        Some(&tag),
        "Content-Type: application/sdp\r\n",
        &hold,
    ));
    let ok = h.last("SIP/2.0 200");
    let answer = body_of(&ok);
    assert!(answer.contains("a=recvonly"), "{answer}");
    assert!(
        answer.contains(" 2 IN IP4"),
        "the version went up: {answer}"
    );
    assert_eq!(h.took(), ["200"]);
    assert_eq!(media_took(&mut h), ["update send=false"]);
    // A late copy of the first ACK (CSeq 1) does not acknowledge the re-INVITE's 200: it is
    // sent again until its own ACK comes.
    h.send(&request("ACK", "200", "m4", 1, Some(&tag), "", ""));
    h.wait(600);
    assert_eq!(h.took(), ["200"], "the re-INVITE's 200 again");
    h.send(&request("ACK", "200", "m4", 2, Some(&tag), "", ""));
    h.wait(1_200);
    assert!(
        h.took().is_empty(),
        "the ACK stopped the 200's retransmissions"
    );
    assert_eq!(h.uas.calls(), 1);
    // An offer we cannot take: 488, and the call goes on as it was.
    h.send(&request(
        "INVITE",
        "200",
        "m4",
        3,
        Some(&tag),
        "Content-Type: application/sdp\r\n",
        &sdp_offer("m=audio 6000 RTP/AVP 18", ""),
    ));
    assert_eq!(h.took(), ["488"]);
    assert_eq!(h.uas.calls(), 1);
}

#[test]
fn an_invite_without_an_offer_gets_ours_and_its_ack_brings_the_answer() {
    let mut h = H::new();
    h.send(&request("INVITE", "200", "m5", 1, None, "", ""));
    let ok = h.last("SIP/2.0 200");
    let offer = body_of(&ok);
    assert!(
        offer.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"),
        "{offer}"
    );
    assert!(media_took(&mut h).is_empty(), "no terms yet");
    let tag = message::parse(ok.as_bytes())
        .unwrap()
        .to_tag()
        .unwrap()
        .to_string();
    let answer = sdp_offer(
        "m=audio 6002 RTP/AVP 8 101",
        "a=rtpmap:101 telephone-event/8000\r\n",
    );
    h.send(&request(
        "ACK",
        "200",
        "m5",
        1,
        Some(&tag),
        "Content-Type: application/sdp\r\n",
        &answer,
    ));
    // The stream opens, and the welcome the flow began meanwhile plays on it.
    assert_eq!(media_took(&mut h), ["open 40000 A", "play 1"]);
    h.wait(2_100);
    assert_eq!(media_took(&mut h), ["play 1"], "then the menu");
    // A re-INVITE without an offer: ours (version 2, both ways) in the 200, theirs in the ACK.
    h.took();
    h.send(&request("INVITE", "200", "m5", 2, Some(&tag), "", ""));
    let ok = h.last("SIP/2.0 200");
    let offer = body_of(&ok);
    assert!(
        offer.contains(" 2 IN IP4") && offer.contains("RTP/AVP 0 8 101"),
        "{offer}"
    );
    assert!(media_took(&mut h).is_empty());
    let answer = sdp_offer("m=audio 6004 RTP/AVP 0", "a=sendonly\r\n");
    h.send(&request(
        "ACK",
        "200",
        "m5",
        2,
        Some(&tag),
        "Content-Type: application/sdp\r\n",
        &answer,
    ));
    assert_eq!(media_took(&mut h), ["update send=false"]);
}

#[test]
fn a_caller_whose_rtp_stops_is_hung_up_and_its_port_goes_back_last() {
    let mut h = H::new();
    let tag = invite(&mut h, "200", "m6");
    h.send(&request("ACK", "200", "m6", 1, Some(&tag), "", ""));
    h.took();
    media_took(&mut h);
    h.uas.media_report(h.now, Report::Quiet { call: 1 });
    h.drain();
    assert_eq!(h.took(), ["BYE"]);
    assert_eq!(media_took(&mut h), ["close"]);
    assert_eq!(
        h.records.last().unwrap()["outcome"],
        "no RTP from the caller"
    );
    // The next call gets the next port, not the one just freed.
    invite(&mut h, "200", "m7");
    assert!(matches!(
        h.media[0],
        MediaCommand::Open { port: 40_002, .. }
    ));
    // Reports for calls that are gone change nothing.
    h.took();
    media_took(&mut h);
    h.uas.media_report(h.now, Report::Quiet { call: 1 });
    h.uas.media_report(
        h.now,
        Report::Key {
            call: 99,
            key: '1',
            via: Via::Tone,
        },
    );
    h.drain();
    assert!(h.took().is_empty());
    assert!(media_took(&mut h).is_empty());
    assert_eq!(h.uas.calls(), 1);
    let _ = Play::Silence(0);
}

#[test]
fn with_two_media_threads_every_port_serves_a_call_before_a_503() {
    let mut h = H::new();
    let mut config = Config::new("127.0.0.1:5060".parse().unwrap());
    config.rtp_ports = (40_000, 40_015);
    config.media_threads = 2;
    h.uas = Uas::new(h.machine.clone(), config);
    assert_eq!(h.uas.media_threads(), 2);
    // Eight ports, four per thread; eight calls take them all (each on the thread of its
    // number, which owns its port).
    let mut calls = Vec::new();
    for n in 0..8 {
        let id = format!("t{n}");
        let tag = invite(&mut h, "200", &id);
        h.send(&request("ACK", "200", &id, 1, Some(&tag), "", ""));
        let Some(&MediaCommand::Open { call, port, .. }) = h.media.first() else {
            panic!("no stream for {id}: {:?}", h.media);
        };
        assert_eq!(thread_of(call, 2), thread_of_port(port, 2));
        h.media.clear();
        calls.push((port, id, tag));
    }
    assert_eq!(h.uas.calls(), 8);
    // The calls on thread 0 end: its four ports are free, thread 1 has none.
    for (port, id, tag) in &calls {
        if thread_of_port(*port, 2) == 0 {
            h.send(&request("BYE", "200", id, 2, Some(tag), "", ""));
        }
    }
    assert_eq!(h.uas.calls(), 4);
    h.took();
    h.media.clear();
    // Four new calls get those four ports, whatever threads their numbers would fall on.
    let mut ports = Vec::new();
    for n in 0..4 {
        invite(&mut h, "200", &format!("u{n}"));
        for c in std::mem::take(&mut h.media) {
            if let MediaCommand::Open { port, .. } = c {
                ports.push(port);
            }
        }
    }
    assert_eq!(h.took().iter().filter(|c| *c == "503").count(), 0);
    assert_eq!(ports.len(), 4, "{ports:?}");
    assert!(
        ports.iter().all(|p| thread_of_port(*p, 2) == 0),
        "{ports:?}"
    );
    // Now every port is taken: the next call gets 503.
    h.send(&request(
        "INVITE",
        "200",
        "u-full",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    assert_eq!(h.took(), ["503"]);
}

#[test]
fn a_port_another_program_holds_ends_the_call_and_leaves_the_pool() {
    let mut h = H::new();
    let tag = invite(&mut h, "200", "m8");
    h.send(&request("ACK", "200", "m8", 1, Some(&tag), "", ""));
    h.took();
    media_took(&mut h);
    h.uas.media_report(
        h.now,
        Report::NoStream {
            call: 1,
            port: 40_000,
            why: "cannot open RTP port 40000: address in use".into(),
        },
    );
    h.drain();
    assert_eq!(h.took(), ["BYE"]);
    // Five ports in the range: the four left serve four calls, the next gets 503.
    for n in 0..4 {
        invite(&mut h, "200", &format!("m9-{n}"));
        assert!(!matches!(
            h.media[0],
            MediaCommand::Open { port: 40_000, .. }
        ));
        media_took(&mut h);
    }
    h.took();
    h.send(&request(
        "INVITE",
        "200",
        "m9-full",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    assert_eq!(h.took(), ["503"]);
}

#[test]
fn keys_pressed_during_a_wait_are_typed_ahead_not_refused() {
    let mut h = H::new();
    let tag = invite(&mut h, "710", "w9");
    h.send(&request("ACK", "710", "w9", 1, Some(&tag), "", ""));
    h.wait(500);
    h.send(&request(
        "INFO",
        "710",
        "w9",
        2,
        Some(&tag),
        "Content-Type: application/dtmf-relay\r\n",
        &info("1"),
    ));
    // The wait ends; the menu takes the key typed ahead: "one" plays, the flow hangs up.
    h.wait(1_600 + 2_100);
    let r = h.records.last().expect("the call ended");
    assert_eq!(r["prompts"], serde_json::json!(["one"]), "{r}");
    assert_eq!(r["outcome"], "the flow hung up");
}

#[test]
fn say_speaks_numbers_with_the_words_of_the_pack_beside_the_prompts() {
    use callflow_runtime::media::stream::Prompt;
    use callflow_runtime::server::uas::Library;
    let mut h = H::new();
    // A prompt folder with `welcome` and an English pack: each word 100 ms, "4" 300 ms.
    let mut lib = Library::default();
    let file = |ms: usize| Arc::new(Prompt::new(&vec![0i16; ms * 8]));
    let p = h.machine.program();
    let welcome = p
        .prompts
        .iter()
        .find(|x| p.str(x.name) == "welcome")
        .unwrap();
    let program = p.str(welcome.files[0].1).to_string();
    lib.files.insert(program.clone(), file(500));
    let dir = std::path::Path::new(&program)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for w in ["0", "1", "2", "5", "8", "40"] {
        lib.files.insert(format!("{dir}/say/{w}.wav"), file(100));
    }
    lib.say
        .insert(dir.clone(), (format!("{dir}/say"), "en".into()));
    h.uas.reload(h.machine.clone(), Arc::new(lib));
    let tag = invite(&mut h, "720", "s1");
    h.send(&request("ACK", "720", "s1", 1, Some(&tag), "", ""));
    h.took();
    let plays = |h: &mut H| -> Vec<usize> {
        std::mem::take(&mut h.media)
            .into_iter()
            .filter_map(|c| match c {
                MediaCommand::Play { items, .. } => Some(items.len()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(plays(&mut h), [1], "the welcome");
    h.wait(510);
    assert_eq!(plays(&mut h), [2], "forty, two");
    h.wait(210);
    assert_eq!(plays(&mut h), [4], "zero, eight, one, five");
    h.wait(410);
    assert_eq!(
        h.took(),
        ["BYE"],
        "the words took their length, then the flow ended"
    );
}

#[test]
fn a_withdraw_key_whose_star_ended_a_prompt_still_stops_the_recording() {
    let mut h = H::new();
    let tag = invite(&mut h, "730", "r1");
    h.send(&request("ACK", "730", "r1", 1, Some(&tag), "", ""));
    let key = |h: &mut H, cseq: u32, k: &str| {
        h.send(&request(
            "INFO",
            "730",
            "r1",
            cseq,
            Some(&tag),
            "Content-Type: application/dtmf-relay\r\n",
            &info(k),
        ));
    };
    h.wait(100);
    key(&mut h, 2, "1");
    h.wait(100);
    assert!(
        media_took(&mut h).contains(&"record".to_string()),
        "consent given: recording"
    );
    // During the (interruptible) prompt: `*` cuts it short and is typed ahead; `9` follows.
    key(&mut h, 3, "*");
    h.wait(50);
    key(&mut h, 4, "9");
    assert!(
        media_took(&mut h).contains(&"stop recording".to_string()),
        "*9 withdrew consent although the * was taken as input"
    );
    h.wait(12_000);
    let r = h.records.last().expect("the call ended");
    assert_eq!(r["recordings"][0]["stopped_by"], "consent withdrawn", "{r}");
    let events: Vec<&str> = r["consent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["given", "withdrawn"]);
}

#[test]
fn early_media_without_an_offer_rings_instead_of_offering_in_a_183() {
    let mut h = H::new();
    h.send(&request("INVITE", "702", "e9", 1, None, "", ""));
    // RFC 3262: no offer in an unreliable provisional response; the caller hears ringing.
    assert_eq!(h.took(), ["180"]);
    assert!(media_took(&mut h).is_empty());
    h.wait(2_100);
    assert_eq!(h.took(), ["480"]);
}

#[test]
fn numbers_in_national_form_reach_a_flow_of_that_country() {
    let mut h = H::new();
    // A trunk delivers the dialled number the national way: it reaches the flow answering
    // +49 30 2555 5100 (`country "DE"`), whose transfer written "089 1234 5678" goes to
    // +49 89 1234 5678.
    let invite = request(
        "INVITE",
        "03025555100",
        "n1",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        SDP,
    )
    .replace("sip:+4930123456@", "sip:0301234567@");
    h.send(&invite);
    let moved = h.last("SIP/2.0 302");
    assert!(moved.contains("Contact: <sip:+498912345678@"), "{moved}");
    let r = h.records.last().expect("a record");
    assert_eq!(r["dialled"], "+493025555100");
    assert_eq!(
        r["caller"], "+49301234567",
        "the caller in the flow's country's plan"
    );
    assert_eq!(r["flow"], "national");
}
