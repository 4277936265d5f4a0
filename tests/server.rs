//! `callflow serve` over real UDP on loopback, with sipp (Debian's `sip-tester`, which
//! `scripts/test` installs) as the caller, using the scenarios in `tests/sipp/`: OPTIONS, an
//! unknown number, a redirect, a whole IVR call with keys by SIP INFO, the caller hanging up
//! mid-menu, a lost ACK, the after-hours branch with the server's clock moved, and garbage
//! datagrams between calls. Each test starts its own server on a free port and waits for
//! events (its listening line, call records) with a timeout — no fixed sleeps.

mod support;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;

const WEDNESDAY: &str = "2026-01-07T10:00";

#[test]
fn options_unknown_numbers_and_redirects() {
    let s = Server::start("basic", WEDNESDAY);
    assert!(
        s.call("options.xml", "200", &[]),
        "OPTIONS → 200 with Allow"
    );
    assert!(
        s.call("not_found.xml", "999", &[]),
        "no flow answers 999 → 404"
    );
    assert!(
        s.call("redirect.xml", "300", &[]),
        "transfer before answer → 302"
    );
    assert!(
        s.call("no_common_codec.xml", "200", &[]),
        "an offer of G.729 only → 488 with a Warning"
    );
    let r = s.records(1);
    assert_eq!(r.len(), 1, "the redirected call has a record: {r:?}");
    assert_eq!(r[0]["status"], 302);
}

/// A free even UDP port of 127.0.0.1 for sipp's RTP (it takes the next one for RTCP).
fn media_port() -> String {
    loop {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = s.local_addr().unwrap().port();
        if p.is_multiple_of(2) && p < 65_000 && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p.to_string();
        }
    }
}

/// Debian's sip-tester installs one RFC 4733 key burst per key (7 progress, 3 end packets).
fn key_pcap(key: &str) -> String {
    let p = format!("/usr/share/sip-tester/dtmf_2833_{key}.pcap");
    assert!(
        Path::new(&p).is_file(),
        "{p} is missing: install Debian's sip-tester (scripts/test does)"
    );
    p
}

#[test]
fn a_whole_ivr_call_by_rfc_4733_keys_in_the_rtp_stream() {
    let s = Server::start("ivr-rtp", WEDNESDAY);
    for (first, second, branch) in [("1", "3", "three"), ("1", "4", "four")] {
        let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/ivr_rfc4733.xml");
        let scenario = std::fs::read_to_string(template)
            .unwrap()
            .replace("@PCAP1@", &key_pcap(first))
            .replace("@PCAP2@", &key_pcap(second));
        let path = s.dir.join(format!("ivr_rfc4733_{first}{second}.xml"));
        std::fs::write(&path, scenario).unwrap();
        let mp = media_port();
        assert!(s.call_with(path.to_str().unwrap(), "200", &[], None, &["-mp", &mp]));
        let r = s.records(if branch == "three" { 1 } else { 2 });
        let r = r.last().unwrap();
        // Each burst of ten packets (three of them end packets) is one key.
        assert_eq!(r["keys"], serde_json::json!([first, second]), "{r}");
        assert_eq!(
            r["prompts"],
            serde_json::json!(["welcome", "main", "sub", branch])
        );
    }
}

#[test]
fn a_whole_ivr_call_by_sip_info_keys() {
    let s = Server::start("ivr", WEDNESDAY);
    assert!(s.call("ivr_info.xml", "200", &[("key1", "1"), ("key2", "3")]));
    let r = s.records(1);
    assert_eq!(r[0]["keys"], serde_json::json!(["1", "3"]));
    assert_eq!(
        r[0]["prompts"],
        serde_json::json!(["welcome", "main", "sub", "three"])
    );
    assert_eq!(r[0]["outcome"], "the flow hung up");
    assert_eq!(r[0]["caller"], "+4930123456");
    // Another branch on the same server, over TCP.
    assert!(s.call_tcp("ivr_info.xml", "200", &[("key1", "1"), ("key2", "4")]));
    assert!(s.call_tcp("options.xml", "200", &[]), "OPTIONS over TCP");
    assert_eq!(
        s.records(2)[1]["prompts"],
        serde_json::json!(["welcome", "main", "sub", "four"])
    );
}

#[test]
fn the_caller_hangs_up_mid_menu_and_a_lost_ack_is_survived() {
    let s = Server::start("hangup", WEDNESDAY);
    assert!(s.call("hangup_mid_menu.xml", "200", &[]));
    assert_eq!(s.records(1)[0]["outcome"], "the caller hung up");
    assert!(
        s.call("lost_ack.xml", "200", &[]),
        "the 200 comes again until the ACK"
    );
    assert_eq!(s.records(2).len(), 2);
}

#[test]
fn after_hours_the_flow_takes_the_closed_branch() {
    let s = Server::start("closed", "2026-01-10T10:00");
    assert!(s.call("server_hangs_up.xml", "200", &[]));
    let r = s.records(1);
    assert_eq!(r[0]["prompts"], serde_json::json!(["closed"]));
}

#[test]
fn garbage_datagrams_between_calls_disturb_nothing() {
    let s = Server::start("garbage", WEDNESDAY);
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = format!("127.0.0.1:{}", s.port);
    for d in [
        &b"\x00\xff\x10garbage"[..],
        b"INVITE sip:200@127.0.0.1 SIP/2.0\r\n\r\n",
        b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\n",
        &[b'A'; 60_000][..],
    ] {
        junk.send_to(d, &to).unwrap();
    }
    // TCP: garbage, a message cut short, a Content-Length that never comes, a byte at a time;
    // and a connection left open.
    for junk in [
        &b"\x00\x01garbage\r\n\r\n"[..],
        b"OPTIONS sip:200@127.0.0.1 SIP/2.0\r\nContent-Length: 50\r\n\r\nshort",
        b"INVITE sip:200@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKx\r\n",
    ] {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(&to).unwrap();
        for b in junk {
            let _ = c.write_all(&[*b]);
        }
    }
    let open = std::net::TcpStream::connect(&to).unwrap();
    assert!(s.call("ivr_info.xml", "200", &[("key1", "1"), ("key2", "4")]));
    assert!(s.call_tcp("options.xml", "200", &[]), "TCP still answers");
    drop(open);
    assert!(
        s.call("options.xml", "200", &[]),
        "the server still answers"
    );
    let r = s.records(1);
    assert_eq!(r[0]["prompts"][3], "four");
}

#[test]
fn a_flood_from_one_address_goes_unanswered_and_other_callers_get_through() {
    // 10,000 OPTIONS from 127.0.0.2 over TCP (nothing lost on the way: every one reaches the
    // server) while a caller from 127.0.0.1 makes a whole IVR call. With --calls-per-source 1
    // a source may send the minimum share, 1,000 requests outside dialogs a second; the rest
    // go unanswered.
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let s = Server::start_full(
        "flood",
        WEDNESDAY,
        None,
        "127.0.0.1:0",
        &["--calls-per-source", "1"],
        &[],
    );
    let to: std::net::SocketAddr = format!("127.0.0.1:{}", s.port).parse().unwrap();
    let from: std::net::SocketAddr = "127.0.0.2:0".parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&from.into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let mut conn: std::net::TcpStream = socket.into();
    // Its answers, counted as they come.
    let answered = std::sync::Arc::new(AtomicUsize::new(0));
    let mut reader = conn.try_clone().unwrap();
    let count = answered.clone();
    let counting = std::thread::spawn(move || {
        let (mut buf, mut all, mut scanned) = (vec![0u8; 65_536], Vec::new(), 0);
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            // Status lines wholly received since the last read.
            let status = b"SIP/2.0 200";
            let new = all[scanned..].windows(status.len()).filter(|w| w == status);
            count.fetch_add(new.count(), Ordering::SeqCst);
            scanned = all.len().saturating_sub(status.len() - 1).max(scanned);
        }
    });
    let flooding = std::thread::spawn(move || {
        for n in 0..10_000 {
            let m = format!(
                "OPTIONS sip:200@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.2:9;branch=z9hG4bK{n}\r\n\
                 From: <sip:f@127.0.0.2>;tag=f\r\nTo: <sip:200@127.0.0.1>\r\nCall-ID: flood-{n}\r\n\
                 CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            );
            conn.write_all(m.as_bytes()).unwrap();
        }
        conn
    });
    assert!(s.call("ivr_info.xml", "200", &[("key1", "1"), ("key2", "4")]));
    assert_eq!(s.records(1)[0]["prompts"][3], "four");
    let conn = flooding.join().unwrap();
    // Every request handled: answered or left unanswered.
    let dropped = s.metric_until("callflow_sip_messages_total{kind=\"flooded\"}", |v| {
        v as usize + answered.load(Ordering::SeqCst) >= 10_000
    }) as usize;
    let got = answered.load(Ordering::SeqCst);
    assert_eq!(
        dropped + got,
        10_000,
        "{got} answered, {dropped} unanswered"
    );
    // Its share each second: 1,000 a second over the few seconds the flood took (up to six
    // on a slow machine).
    assert!(
        got >= 1_000 && dropped >= 4_000,
        "{got} answered, {dropped} unanswered"
    );
    conn.shutdown(std::net::Shutdown::Both).unwrap();
    counting.join().unwrap();
}

#[test]
fn hot_reload_new_calls_get_the_new_program_calls_in_progress_finish_on_theirs() {
    let s = Server::start("reload", WEDNESDAY);
    let flow_file = s.dir.join("flows/test.flow");
    // A call in progress on the first program.
    let long = s.call_in_background("long_call.xml");
    let started = s.wait_log("call from +4930123456 to 200");
    let first = started
        .split("program ")
        .nth(1)
        .unwrap()
        .chars()
        .take(16)
        .collect::<String>();
    // The welcome changes; the server reloads (SIGHUP here, so the test need not wait for the
    // once-a-second check of the files).
    let changed = FLOWS.replace("play \"welcome\"", "play \"two\"");
    std::fs::write(&flow_file, &changed).unwrap();
    s.signal("-HUP");
    let reloaded = s.wait_log("flows reloaded");
    assert!(!reloaded.contains(&first), "{reloaded}");
    assert!(long.join().unwrap(), "the call in progress went on");
    let r = s.records(1);
    assert_eq!(
        r[0]["program"],
        first.as_str(),
        "it finished on its program"
    );
    assert_eq!(r[0]["prompts"][0], "welcome");
    // The next call runs the new program.
    assert!(s.call("ivr_info.xml", "200", &[("key1", "1"), ("key2", "3")]));
    let r = s.records(2);
    assert_ne!(r[1]["program"], first.as_str());
    assert_eq!(r[1]["prompts"][0], "two");
    let second = r[1]["program"].as_str().unwrap().to_string();
    // A broken flow is not taken: the program before keeps running.
    std::fs::write(
        &flow_file,
        format!("{changed}\nflow broken {{ numbers \"200\" }}\n"),
    )
    .unwrap();
    s.signal("-HUP");
    s.wait_log("do not compile");
    assert!(s.call("ivr_info.xml", "200", &[("key1", "1"), ("key2", "4")]));
    assert_eq!(s.records(3)[2]["program"], second.as_str());
}

#[test]
fn an_operator_switch_set_while_the_server_runs() {
    let s = Server::start("switch", WEDNESDAY);
    // `callflow switch NAME STATE` against the running server's data directory.
    let run_switch = |name: &str, state: &str| {
        Command::new(env!("CARGO_BIN_EXE_callflow"))
            .current_dir(&s.dir)
            .args(["switch", name, state, "--data", "data", "--flows", "flows"])
            .output()
            .unwrap()
    };
    let switch = |state: &str| {
        let out = run_switch("emergency", state);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    switch("on");
    s.wait_log("switch `emergency` is on");
    assert!(s.call("server_hangs_up.xml", "200", &[]));
    assert_eq!(s.records(1)[0]["prompts"], serde_json::json!(["closed"]));
    switch("off");
    s.wait_log("switch `emergency` is off");
    assert!(s.call("ivr_info.xml", "200", &[("key1", "1"), ("key2", "3")]));
    assert_eq!(s.records(2)[1]["prompts"][0], "welcome");
    // A switch the flows do not define is refused.
    let out = run_switch("emergancy", "on");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `emergency`?"));
}

/// A web service on loopback for look-ups: the path picks the answer.
fn crm() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                let n = stream.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split(' ').nth(1).unwrap_or("").to_string();
                let (status, body) = match path.as_str() {
                    "/401" => ("200 OK", r#"{"tier":"gold"}"#),
                    "/402" => ("404 Not Found", ""),
                    "/403" => ("500 Internal Server Error", "oops"),
                    "/404" => ("200 OK", "this is not json"),
                    // /405: answers after the flow's timeout (1 s).
                    _ => {
                        std::thread::sleep(Duration::from_millis(2500));
                        ("200 OK", r#"{"tier":"gold"}"#)
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

#[test]
fn lookups_ask_a_web_service_and_its_answer_chooses_the_branch() {
    let port = crm();
    let flow = format!(
        r#"
lookup crm {{
    url "http://127.0.0.1:{port}/{{dialled}}"
    timeout 1s
    fields tier
}}
flow lk {{
    numbers "401", "402", "403", "404", "405"
    start {{
        lookup crm {{
            error => play "two"
            not_found => play "four"
        }}
        if crm.tier == "gold" {{ play "three" }}
        hangup
    }}
}}
"#
    );
    let s = Server::start_with("lookup", WEDNESDAY, Some(&flow));
    let cases = [
        ("401", "three"), // 200 with {"tier": "gold"}
        ("402", "four"),  // 404: not found
        ("403", "two"),   // 500: the error branch
        ("404", "two"),   // not JSON: the error branch
        ("405", "two"),   // too slow: the error branch after the timeout
    ];
    for (i, (number, prompt)) in cases.iter().enumerate() {
        assert!(
            s.call("server_hangs_up.xml", number, &[]),
            "call to {number}"
        );
        let r = s.records(i + 1);
        assert_eq!(
            r[i]["prompts"],
            serde_json::json!([prompt]),
            "{number}: {}",
            r[i]
        );
    }
    // While the slow service is asked, nothing is answered yet: the caller cancels.
    assert!(
        s.call("cancel.xml", "405", &[]),
        "CANCEL → 200, INVITE → 487"
    );
    let r = s.records(cases.len() + 1);
    assert_eq!(r[cases.len()]["status"], 487);
    assert_eq!(r[cases.len()]["outcome"], "the caller cancelled");
}

#[test]
fn callflow_call_places_a_call_presses_keys_and_prints_the_record() {
    let s = Server::start("client", WEDNESDAY);
    let out = Command::new(env!("CARGO_BIN_EXE_callflow"))
        .current_dir(&s.dir)
        .args(["call", "200", "--server", &format!("127.0.0.1:{}", s.port)])
        .args(["--keys", "1,3", "--key-gap", "400ms", "--data", "data"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("answered (200 OK)"), "{text}");
    assert!(text.contains("the server hung up"), "{text}");
    assert!(
        text.contains("prompts: welcome, main, sub, three"),
        "{text}"
    );
    assert!(text.contains("keys: 1, 3"), "{text}");
    // The same keys as tones in the audio (a trunk that sends no events), and as SIP INFO.
    for (dtmf, second, branch) in [("inband", "4", "four"), ("info", "3", "three")] {
        let keys = format!("1,{second}");
        let text = client(
            &s,
            &["200", "--keys", &keys, "--key-gap", "600ms", "--dtmf", dtmf],
        );
        let prompts = format!("prompts: welcome, main, sub, {branch}");
        assert!(text.contains(&prompts), "{dtmf}: {text}");
        assert!(
            text.contains(&format!("keys: 1, {second}")),
            "{dtmf}: {text}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_callflow"))
        .current_dir(&s.dir)
        .args([
            "call",
            "300",
            "--server",
            &format!("127.0.0.1:{}", s.port),
            "--data",
            "data",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("302 Moved Temporarily"), "{text}");
}

#[test]
fn ipv6_loopback_works_the_same() {
    let s = Server::start_on("ipv6", WEDNESDAY, None, "[::1]:0", &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_callflow"))
        .current_dir(&s.dir)
        .args(["call", "200", "--server", &format!("[::1]:{}", s.port)])
        .args(["--keys", "1,4", "--key-gap", "400ms", "--data", "data"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let log: Vec<String> = s.log.try_iter().collect();
    assert!(
        text.contains("prompts: welcome, main, sub, four"),
        "{text}\n{log:?}"
    );
}

const RECORDED: &str = r#"
flow recorded {
    numbers "400"
    timezone "Europe/Berlin"
    consent rec {
        prompt "welcome"
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
        wait 2s
        hangup
    }
}
"#;

#[test]
fn recordings_exist_only_with_consent_and_stop_at_a_withdrawal() {
    let s = Server::start_with("record", WEDNESDAY, Some(RECORDED));
    // Consent given: the caller is recorded until the flow hangs up.
    client(&s, &["400", "--keys", "1", "--key-gap", "500ms"]);
    // Consent refused: no recording.
    client(&s, &["400", "--keys", "2", "--key-gap", "500ms"]);
    // Consent given, then withdrawn with *9 (as RFC 4733 events) a moment later.
    client(&s, &["400", "--keys", "1,*9", "--key-gap", "700ms"]);
    let r = s.records(3);
    let recordings = |i: usize| r[i]["recordings"].as_array().unwrap().clone();
    // The record says what the caller answered, and when.
    let consent = |i: usize| -> Vec<String> {
        r[i]["consent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert!(e["at"].as_i64().unwrap() >= r[i]["started"].as_i64().unwrap());
                format!(
                    "{} {}",
                    e["consent"].as_str().unwrap(),
                    e["event"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(consent(0), ["rec given"]);
    assert_eq!(consent(1), ["rec refused"]);
    assert_eq!(consent(2), ["rec given", "rec withdrawn"]);
    let withdrawn_at = r[2]["consent"][1]["at"].as_i64().unwrap();
    assert_eq!(
        r[2]["recordings"][0]["stopped"].as_i64().unwrap(),
        withdrawn_at
    );
    assert!(recordings(1).is_empty(), "refused: {}", r[1]);
    let files: Vec<_> = std::fs::read_dir(s.dir.join("data/recordings"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "one file per consented call: {files:?}");
    for (i, by) in [(0, "the call ended"), (2, "consent withdrawn")] {
        let rec = recordings(i);
        assert_eq!(rec.len(), 1, "{}", r[i]);
        assert_eq!(rec[0]["stopped_by"], by, "{}", r[i]);
        let stretch = rec[0]["stopped"].as_i64().unwrap() - rec[0]["started"].as_i64().unwrap();
        let file = s.dir.join(rec[0]["file"].as_str().unwrap());
        let ms = wav_ms(&file);
        // One frame of 20 ms per tick of the media loop, between the two commands.
        assert!(
            (ms - stretch).abs() <= 60,
            "the recording lasts {ms} ms, the consented stretch {stretch} ms"
        );
        if by == "consent withdrawn" {
            assert!(
                stretch < 1_500,
                "cut well before the flow's end: {stretch} ms"
            );
        } else {
            assert!(stretch >= 1_900, "to the end of the call: {stretch} ms");
        }
    }
}

const VOICEMAIL: &str = r#"
voicemail test_box {
    greeting "welcome"
    max_length 2s
    email "team@example.com"
}
flow vm {
    numbers "500"
    start {
        voicemail test_box no_answer
    }
}
"#;

/// The voicemail messages of `test_box`: each one's metadata, and its audio's length (ms).
fn messages(s: &Server, n: usize) -> Vec<(serde_json::Value, i64)> {
    let dir = s.dir.join("data/voicemail/test_box");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                let meta: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
                out.push((meta, wav_ms(&p.with_extension("wav"))));
            }
        }
        if out.len() >= n || Instant::now() > deadline {
            out.sort_by_key(|(m, _)| m["started"].as_i64());
            return out;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn voicemail_records_the_callers_message_after_the_beep_with_its_metadata() {
    let s = Server::start_with("voicemail", WEDNESDAY, Some(VOICEMAIL));
    // The greeting (300 ms) and the beep (400 ms) play; then the caller speaks until the
    // box's 2 s are over; the server ends the call.
    let out = client(&s, &["500", "--hang-up-after", "10s"]);
    assert!(out.contains("the server hung up"), "{out}");
    // The caller presses # after about a second: the message ends there.
    client(&s, &["500", "--keys", "#", "--key-gap", "1500ms"]);
    // The caller hangs up in the middle of the message.
    client(&s, &["500", "--hang-up-after", "1800ms"]);
    let m = messages(&s, 3);
    assert_eq!(m.len(), 3, "{m:?}");
    let ended: Vec<&str> = m
        .iter()
        .map(|(meta, _)| meta["ended_by"].as_str().unwrap())
        .collect();
    assert_eq!(ended, ["the box's length", "#", "the caller hung up"]);
    for (meta, audio_ms) in &m {
        assert_eq!(meta["box"], "test_box");
        assert_eq!(meta["reason"], "no_answer");
        assert_eq!(meta["caller"], "+4930123456");
        assert_eq!(meta["email"], "team@example.com");
        let said = meta["duration_ms"].as_i64().unwrap();
        assert!(
            (audio_ms - said).abs() <= 60,
            "audio {audio_ms} ms, metadata {said} ms"
        );
    }
    assert!(
        (m[0].1 - 2_000).abs() <= 60,
        "the box's length: {} ms",
        m[0].1
    );
    // # came 1.5 s after the answer: 0.7 s of greeting and beep, then 0.8 s of message (and
    // the 100 ms the key itself takes).
    assert!((600..=1_100).contains(&m[1].1), "ended by #: {} ms", m[1].1);
    assert!((800..=1_300).contains(&m[2].1), "hung up: {} ms", m[2].1);
    let r = s.records(3);
    assert!(
        r.iter().all(|r| r["outcome"] == "voicemail box `test_box`"),
        "{r:?}"
    );
}

#[test]
fn listening_on_all_addresses_the_sdp_names_one_callers_can_reach() {
    // Bound to 0.0.0.0, the server must not answer `c=IN IP4 0.0.0.0` (hold, no media):
    // --advertise names the address (here loopback: tests stay on it).
    let s = Server::start_on(
        "advertise",
        WEDNESDAY,
        None,
        "0.0.0.0:0",
        &["--advertise", "127.0.0.1"],
    );
    let text = client(&s, &["200", "--keys", "1,3", "--key-gap", "600ms"]);
    assert!(text.contains("keys: 1, 3"), "{text}");
    assert!(text.contains("0 sequence gaps"), "{text}");
}

#[test]
fn a_caller_whose_rtp_never_comes_is_hung_up_after_the_rtp_timeout() {
    let s = Server::start_on(
        "rtp-timeout",
        WEDNESDAY,
        None,
        "127.0.0.1:0",
        &["--rtp-timeout", "1"],
    );
    // A caller whose SDP offers a stream but who never sends RTP (a dead phone, a lost path):
    // the IVR would wait for keys for many seconds; the server ends the call a second in.
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = sip.local_addr().unwrap();
    let server = format!("127.0.0.1:{}", s.port);
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n";
    let head = |method: &str, cseq: u32, to_tag: &str| {
        format!(
            "{method} sip:200@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKq{cseq}{method}\r\n\
             From: <sip:+4930123456@{me}>;tag=q\r\nTo: <sip:200@{server}>{to_tag}\r\nCall-ID: quiet-1\r\n\
             CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContact: <sip:q@{me}>\r\n"
        )
    };
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE", 1, ""),
        sdp.len()
    );
    sip.send_to(invite.as_bytes(), &server).unwrap();
    sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let ok = loop {
        let n = sip.recv(&mut buf).expect("an answer");
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with("SIP/2.0 200") {
            break text;
        }
    };
    let tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split(";tag=").nth(1))
        .unwrap()
        .trim()
        .to_string();
    let ack = format!(
        "{}Content-Length: 0\r\n\r\n",
        head("ACK", 1, &format!(";tag={tag}"))
    );
    sip.send_to(ack.as_bytes(), &server).unwrap();
    let answered = Instant::now();
    let n = sip.recv(&mut buf).expect("the server's BYE within 5 s");
    assert!(
        buf[..n].starts_with(b"BYE "),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let after = answered.elapsed();
    assert!(after >= Duration::from_millis(900), "{after:?}");
    let r = s.records(1);
    assert_eq!(r[0]["outcome"], "no RTP from the caller", "{}", r[0]);
}

#[test]
fn hostile_rtp_never_reaches_a_recording_nor_presses_a_key() {
    let s = Server::start_with("hostile", WEDNESDAY, Some(RECORDED));
    // While a consented call is recorded (the caller sends silence), another program sends
    // loud audio, key events, garbage, RTCP and oversized datagrams to every RTP port of the
    // server, from its own address.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ports: Vec<u16> = s.rtp.clone().collect();
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut loud = vec![0x80, 0, 0, 1, 0, 0, 0, 1, 0xba, 0xad, 0xf0, 0x0d];
            loud.extend([0x80u8; 160]); // µ-law near full scale
            let mut event = vec![0x80, 101, 0, 2, 0, 0, 9, 0, 0xba, 0xad, 0xf0, 0x0d];
            event.extend([5, 0x8a, 3, 0x20]);
            let huge = vec![0x80u8; 9_000];
            let rtcp = [0x80u8, 200, 0, 6, 1, 2, 3, 4, 0, 0, 0, 0];
            let garbage = b"\x80\xff\xff";
            let mut n = 0u16;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n = n.wrapping_add(1);
                loud[2..4].copy_from_slice(&n.to_be_bytes());
                for &p in &ports {
                    let to = ("127.0.0.1", p);
                    for d in [&loud[..], &event[..], &huge[..], &rtcp[..], &garbage[..]] {
                        let _ = sock.send_to(d, to);
                    }
                }
                // As often as the caller's own packets: enough to race each one, light enough
                // for the tests running beside it.
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    client(&s, &["400", "--keys", "1", "--key-gap", "500ms"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flood.join().unwrap();
    let r = s.records(1);
    assert_eq!(
        r[0]["keys"],
        serde_json::json!(["1"]),
        "no key from the flood: {}",
        r[0]
    );
    let rec = r[0]["recordings"].as_array().unwrap();
    assert_eq!(rec.len(), 1, "{}", r[0]);
    let file = s.dir.join(rec[0]["file"].as_str().unwrap());
    let samples = callflow_runtime::media::wav::samples(&std::fs::read(file).unwrap()).unwrap();
    assert!(samples.len() > 8_000, "the recording ran");
    let loudest = samples.iter().map(|x| x.unsigned_abs()).max().unwrap();
    assert_eq!(loudest, 0, "only the caller's silence was recorded");
}

#[test]
fn the_servers_stream_arrives_at_50_packets_a_second_with_continuous_timestamps() {
    let s = Server::start("pacing", WEDNESDAY);
    // The IVR waits 5 s for a key after its prompts: the caller listens for 3 s and hangs up.
    let out = client(&s, &["200", "--hang-up-after", "3s", "--save", "heard.wav"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("RTP heard:"))
        .unwrap_or_else(|| panic!("{out}"));
    let number = |after: &str| -> f64 {
        let rest = line.split(after).nth(1).unwrap_or_else(|| panic!("{line}"));
        let n: String = rest
            .trim_start_matches([' ', '('])
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        n.parse().unwrap_or_else(|_| panic!("{line}"))
    };
    let packets = number("RTP heard:");
    assert!(
        (140.0..=170.0).contains(&packets),
        "about 3 s of packets: {line}"
    );
    let rate = number("s (");
    assert!((49.0..=51.0).contains(&rate), "50 packets a second: {line}");
    assert!(
        line.contains(" 0 sequence gaps, 0 timestamp jumps, 1 SSRC(s)"),
        "{line}"
    );
    // What was heard was saved: as long as the packets.
    let ms = wav_ms(&s.dir.join("heard.wav"));
    assert_eq!(ms as f64, packets * 20.0, "{line}");
}

#[test]
fn a_real_softphone_calls_hears_the_flow_and_presses_a_key() {
    let s = Server::start("baresip", WEDNESDAY);
    // baresip headless: no sound card (aubridge), no registration, G.711, RTP on ports of its
    // own; commands on standard input, its log on standard output.
    let cfg = s.dir.join("baresip");
    std::fs::create_dir_all(&cfg).unwrap();
    let first = free_ports(10_000, 16_383);
    let config = [
        ("module_path", "/usr/lib/baresip/modules".to_string()),
        ("poll_method", "epoll".into()),
        ("sip_listen", "127.0.0.1:0".into()),
        // Its SDP names this address (by default: the machine's first interface's).
        ("net_interface", "127.0.0.1".into()),
        ("audio_player", "aubridge,nil".into()),
        ("audio_source", "aubridge,nil".into()),
        ("audio_alert", "aubridge,nil".into()),
        ("rtp_ports", format!("{first}-{}", first + 9)),
        ("module", "stdio.so".into()),
        ("module", "g711.so".into()),
        ("module", "aubridge.so".into()),
        ("module_tmp", "account.so".into()),
        ("module_app", "menu.so".into()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}\t\t{v}\n"))
    .collect::<String>();
    std::fs::write(cfg.join("config"), config).unwrap();
    std::fs::write(
        cfg.join("accounts"),
        "<sip:tester@127.0.0.1;transport=udp>;regint=0;audio_codecs=PCMU,PCMA\n",
    )
    .unwrap();
    let mut phone = Command::new(installed("baresip", "baresip"))
        .arg("-f")
        .arg(&cfg)
        .args(["-t", "30"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip starts");
    let mut input = phone.stdin.take().unwrap();
    let out = phone.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let seen = std::cell::RefCell::new(Vec::new());
    let wait_for = |text: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    seen.borrow_mut().push(line);
                    if found {
                        return;
                    }
                }
                Err(e) => panic!(
                    "baresip never said {text:?} ({e}); it said:\n{}\nthe server's records: {:?}",
                    seen.borrow().join("\n"),
                    s.records(0)
                ),
            }
        }
    };
    use std::io::Write;
    wait_for("baresip is ready.");
    writeln!(input, "/dial sip:200@127.0.0.1:{}", s.port).unwrap();
    wait_for("Call established");
    // The key goes as an RFC 4733 event (baresip 1.0 has no other way); pressed during the
    // welcome, it is typed ahead for the menu, which takes the branch "2".
    writeln!(input, "/sndcode 2").unwrap();
    // The flow's BYE ends the call ("session closed"; a "terminated" line may follow).
    wait_for("session closed");
    writeln!(input, "/quit").unwrap();
    // stdin stays open until baresip has gone (at end of input it spins).
    let status = phone.wait().unwrap();
    drop(input);
    assert!(status.success());
    // It heard the flow: our RTP reached it.
    assert!(
        seen.borrow()
            .iter()
            .any(|l| l.contains("incoming rtp for 'audio' established")),
        "{:?}",
        seen.borrow()
    );
    let r = s.records(1);
    assert_eq!(r[0]["keys"], serde_json::json!(["2"]), "{}", r[0]);
    assert_eq!(r[0]["caller"], "tester");
    let prompts = r[0]["prompts"].as_array().unwrap();
    assert_eq!(prompts.last().unwrap(), "two", "{}", r[0]);
    assert_eq!(r[0]["outcome"], "the flow hung up");
}

#[test]
fn ringing_then_early_media_then_a_free_end() {
    let s = Server::start("early", WEDNESDAY);
    // `wait 1s`: 180 Ringing; `play "closed" early`: 183 with SDP; `hangup`: 480, never a 200.
    assert!(
        s.call("early_media.xml", "350", &[]),
        "180, 183 with SDP, 480"
    );
    let r = s.records(1);
    assert_eq!(r[0]["answered"], serde_json::Value::Null, "{}", r[0]);
    assert_eq!(r[0]["status"], 480);
}

#[test]
fn a_graceful_stop_hangs_up_the_calls_in_progress_and_records_them() {
    let s = Server::start("stop", WEDNESDAY);
    // The caller waits in the menu; the server is told to stop.
    let call = s.call_in_background("server_hangs_up.xml");
    s.wait_log("call from +4930123456 to 200");
    s.signal("-TERM");
    assert!(call.join().unwrap(), "the caller got a BYE and answered it");
    assert_eq!(s.records(1)[0]["outcome"], "the server shut down");
    s.wait_log("callflow serve: stopped");
}

#[test]
fn a_transfer_after_answering_is_a_refer_and_the_call_is_handed_over() {
    let s = Server::start("refer", WEDNESDAY);
    assert!(
        s.call("refer.xml", "200", &[]),
        "REFER, 202, NOTIFY 200, BYE"
    );
    let r = s.records(1);
    assert_eq!(r[0]["outcome"], "transferred to +493025555000");
}
