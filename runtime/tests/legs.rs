//! Agents' legs in the SIP core without sockets, on an explicit clock: the INVITE resent with
//! Timer A and given up with Timer B (the next agent rings), CANCEL only after the phone said
//! it rings, a 200 that crosses the CANCEL acknowledged and hung up, an answer without usable
//! SDP refused, and stray responses from a phone ignored.

mod common;

use callflow_runtime::server::uas::{AdminRequest, Config, Out, Uas};
use callflow_runtime::sip::message::{self, Start};
use callflow_runtime::sip::transaction::Timing;
use callflow_runtime::vm::Machine;
use std::net::SocketAddr;
use std::sync::Arc;

const FLOWS: &str = r#"
agent p1 { contact "sip:p1@127.0.0.1:5071" }
agent p2 { contact "sip:p2@127.0.0.1:5072" }
group line {
    members p1, p2
    strategy sequential
    ring 10s
}
group short {
    members p1
    ring 1s
}
flow hotline {
    numbers "500"
    start {
        route line { no_answer => hangup }
    }
}
flow quick {
    numbers "501"
    start {
        route short { no_answer => hangup }
    }
}
"#;

fn caller() -> SocketAddr {
    "127.0.0.1:5070".parse().unwrap()
}

fn phone(n: u16) -> SocketAddr {
    format!("127.0.0.1:{}", 5070 + n).parse().unwrap()
}

struct H {
    uas: Uas,
    now: i64,
    /// (to, message) sent since the last look.
    sent: Vec<(SocketAddr, String)>,
    records: Vec<serde_json::Value>,
    /// The core's number of the last call whose stream opened.
    opened: Option<u64>,
}

impl H {
    fn new() -> H {
        H::with(|_| {})
    }

    fn with(change: impl FnOnce(&mut Config)) -> H {
        let m = Arc::new(Machine::new(common::compile(FLOWS)).unwrap());
        let mut config = Config::new("127.0.0.1:5060".parse().unwrap());
        config.timing = Timing {
            t1: 50,
            t2: 400,
            t4: 500,
        };
        config.rtp_ports = (40_000, 40_019);
        config.agents = [("p1".to_string(), phone(1)), ("p2".to_string(), phone(2))]
            .into_iter()
            .collect();
        change(&mut config);
        let mut h = H {
            uas: Uas::new(m, config),
            now: 1_767_780_000_000,
            sent: Vec::new(),
            records: Vec::new(),
            opened: None,
        };
        for a in ["p1", "p2"] {
            let r = h.uas.admin(
                h.now,
                AdminRequest::SetAgent {
                    agent: a.into(),
                    body: serde_json::json!({"state": "ready"}),
                },
            );
            assert_eq!(r.status, 200);
        }
        h.drain();
        h
    }

    fn drain(&mut self) {
        while let Some(o) = self.uas.poll_out() {
            match o {
                Out::Send { to, bytes } => self.sent.push((to, String::from_utf8(bytes).unwrap())),
                Out::Record(line) => self.records.push(serde_json::from_str(&line).unwrap()),
                Out::Media(callflow_runtime::server::media::Command::Open { call, .. }) => {
                    self.opened = Some(call)
                }
                _ => {}
            }
        }
    }

    fn receive(&mut self, from: SocketAddr, text: &str) {
        self.uas.receive(self.now, from, text.as_bytes());
        self.drain();
    }

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

    /// What went to `to` since the last look: status codes or methods.
    fn took(&mut self, to: SocketAddr) -> Vec<String> {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|(t, _)| *t == to);
        self.sent = rest;
        mine.iter()
            .map(|(_, t)| match message::parse(t.as_bytes()).unwrap().start {
                Start::Response { code, .. } => code.to_string(),
                Start::Request { method, .. } => method.to_string(),
            })
            .collect()
    }

    /// The last request sent to `to` with this method.
    fn last_to(&self, to: SocketAddr, method: &str) -> String {
        self.sent
            .iter()
            .rev()
            .find(|(t, m)| *t == to && m.starts_with(method))
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| panic!("no {method} to {to}"))
    }

    fn call(&mut self, number: &str) {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
        self.receive(
            caller(),
            &format!(
                "INVITE sip:{number}@127.0.0.1:5060 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-c1;rport\r\n\
                 From: <sip:+4930123456@127.0.0.1:5070>;tag=caller\r\n\
                 To: <sip:{number}@127.0.0.1:5060>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
                 Max-Forwards: 70\r\nContact: <sip:caller@127.0.0.1:5070>\r\n\
                 Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            ),
        );
    }
}

/// A phone's response to the request `req` (our INVITE or CANCEL), with its tag.
/// The Via branch of a message we sent.
fn branch(text: &str) -> String {
    message::parse(text.as_bytes())
        .unwrap()
        .branch()
        .unwrap()
        .to_string()
}

fn respond(req: &str, code: u16, body: &str) -> String {
    let m = message::parse(req.as_bytes()).unwrap();
    let (cseq, method) = m.cseq().unwrap();
    let kind = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".into()
    };
    format!(
        "SIP/2.0 {code} X\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=phone\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:phone@127.0.0.1:5071>\r\n{kind}Content-Length: {}\r\n\r\n{body}",
        m.get("Via").unwrap(),
        m.get("From").unwrap(),
        m.get("To").unwrap(),
        m.call_id(),
        body.len()
    )
}

const ANSWER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n";

#[test]
fn a_silent_phone_gets_its_invite_again_then_the_next_agent_rings() {
    let mut h = H::new();
    h.call("500");
    assert_eq!(h.took(phone(1)), ["INVITE"]);
    // Timer A: 50, 100, 200 ms ...; not even a provisional answer by the fourth send
    // (7 × T1 = 350 ms): the phone is not there, p2 rings (Timer B would take 3.2 s).
    h.wait(50);
    assert_eq!(h.took(phone(1)), ["INVITE"]);
    h.wait(100);
    assert_eq!(h.took(phone(1)), ["INVITE"]);
    assert!(h.took(phone(2)).is_empty());
    h.wait(250);
    assert_eq!(h.took(phone(1)), ["INVITE"], "resent at a longer interval");
    // Never a CANCEL for an INVITE nobody answered; p2 rings next.
    let invite = h.last_to(phone(2), "INVITE");
    let to_p2 = h.took(phone(2));
    assert!(
        !to_p2.is_empty() && to_p2.iter().all(|m| m == "INVITE"),
        "{to_p2:?}"
    );
    h.receive(phone(2), &respond(&invite, 180, ""));
    h.receive(phone(2), &respond(&invite, 200, ANSWER));
    assert_eq!(h.took(phone(2)), ["ACK"]);
    let ok = h
        .sent
        .iter()
        .find(|(_, m)| m.starts_with("SIP/2.0 200"))
        .map(|(_, m)| m.clone())
        .unwrap();
    let tag = message::parse(ok.as_bytes())
        .unwrap()
        .to_tag()
        .unwrap()
        .to_string();
    assert_eq!(h.took(caller()), ["180", "200"]);
    // The caller hangs up: the agent gets a BYE, and the record says who answered.
    let bye = |tag: &str| {
        format!(
            "BYE sip:500@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-bye{tag};rport\r\n\
             From: <sip:+4930123456@127.0.0.1:5070>;tag=caller\r\nTo: <sip:500@127.0.0.1:5060>;tag={tag}\r\n\
             Call-ID: c1\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    // (a BYE with a wrong To tag is not this dialog's: 481, and the call goes on)
    h.receive(caller(), &bye("x"));
    assert_eq!(h.took(caller()), ["481"]);
    assert!(h.took(phone(2)).is_empty());
    h.receive(caller(), &bye(&tag));
    assert_eq!(h.took(caller()), ["200"]);
    assert_eq!(h.took(phone(2)), ["BYE"]);
    let r = &h.records[0];
    let results: Vec<&str> = r["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["no response", "answered"], "{r}");
    assert_eq!(r["outcome"], "answered by p2");
}

#[test]
fn cancel_waits_for_the_phone_to_ring_and_a_crossing_200_is_hung_up() {
    let mut h = H::new();
    h.call("501");
    let invite = h.last_to(phone(1), "INVITE");
    h.took(phone(1));
    // Nothing from the phone by 7 × T1 (350 ms), nor by the ring time (1 s): it counts as not
    // there and the route gives it up — but no CANCEL yet (none before a provisional answer).
    h.wait(1_000);
    assert!(h.took(phone(1)).iter().all(|m| m == "INVITE"));
    // It rings now: the CANCEL goes at once, on the INVITE's branch.
    h.receive(phone(1), &respond(&invite, 180, ""));
    let cancel = h.last_to(phone(1), "CANCEL");
    assert_eq!(h.took(phone(1)), ["CANCEL"]);
    assert_eq!(branch(&cancel), branch(&invite));
    // Its 200 crosses our CANCEL: acknowledged, then hung up.
    h.receive(phone(1), &respond(&cancel, 200, ""));
    h.receive(phone(1), &respond(&invite, 200, ANSWER));
    assert_eq!(h.took(phone(1)), ["ACK", "BYE"]);
    // A copy of the 200 gets another ACK and nothing else.
    h.receive(phone(1), &respond(&invite, 200, ANSWER));
    assert_eq!(h.took(phone(1)), ["ACK"]);
    // The caller was not connected: the route failed, the flow's no_answer (which `error`
    // falls back to) hangs up (480 before answering).
    assert_eq!(h.took(caller()).last().unwrap(), "480");
    let r = &h.records[0];
    assert_eq!(r["agents"][0]["result"], "no response", "{r}");
}

#[test]
fn a_busy_phone_gets_its_ack_and_an_answer_without_media_is_refused() {
    let mut h = H::new();
    h.call("500");
    let invite = h.last_to(phone(1), "INVITE");
    h.took(phone(1));
    h.receive(phone(1), &respond(&invite, 486, ""));
    let ack = h.last_to(phone(1), "ACK");
    assert_eq!(h.took(phone(1)), ["ACK"]);
    assert_eq!(
        branch(&ack),
        branch(&invite),
        "a non-2xx ACK is on the INVITE's branch"
    );
    // A copy of the 486 after the leg ended (our ACK was lost) gets the ACK again.
    h.receive(phone(1), &respond(&invite, 486, ""));
    assert_eq!(h.took(phone(1)), ["ACK"]);
    let invite2 = h.last_to(phone(2), "INVITE");
    h.took(phone(2));
    // Stray and broken answers change nothing.
    h.receive(phone(2), "SIP/2.0 200 OK\r\nbroken");
    h.receive(
        phone(2),
        &respond(&invite2.replace("z9hG4bKcfl", "z9hG4bKxx"), 200, ANSWER),
    );
    assert!(h.took(phone(2)).is_empty());
    // An answer with no usable SDP: acknowledged and hung up; nobody else is left.
    h.receive(phone(2), &respond(&invite2, 200, ""));
    assert_eq!(h.took(phone(2)), ["ACK", "BYE"]);
    assert_eq!(h.took(caller()).last().unwrap(), "480");
    let r = &h.records[0];
    let results: Vec<&str> = r["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["busy (486)", "answered without usable media"]);
}

/// A REGISTER for p1 from `phone(9)`, with an Authorization answering `challenge` (a
/// WWW-Authenticate value) with `password` by `algorithm`, when given.
fn register(challenge: Option<(&str, &str, &str)>, expires: u32, cseq: u32) -> String {
    let uri = "sip:127.0.0.1:5060";
    let auth = challenge.map_or(String::new(), |(challenge, algorithm, password)| {
        let nonce = challenge
            .split("nonce=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        let h = |s: String| -> String {
            if algorithm == "MD5" {
                use md5::Digest;
                md5::Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
            } else {
                use sha2::Digest;
                sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
            }
        };
        let ha1 = h(format!("p1:callflow:{password}"));
        let ha2 = h(format!("REGISTER:{uri}"));
        let response = h(format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
        format!(
            "Authorization: Digest username=\"p1\", realm=\"callflow\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm={algorithm}, qop=auth, nc=00000001, cnonce=\"abc\", response=\"{response}\"\r\n"
        )
    });
    format!(
        "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5079;branch=z9hG4bK-reg{cseq};rport\r\n\
         From: <sip:p1@127.0.0.1>;tag=ph\r\nTo: <sip:p1@127.0.0.1>\r\nCall-ID: reg\r\nCSeq: {cseq} REGISTER\r\n\
         Max-Forwards: 70\r\nContact: <sip:p1@10.9.9.9:5555>;expires={expires}\r\n{auth}Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_phone_registers_with_digest_and_its_registration_expires() {
    let mut h = H::new();
    let mut credentials = std::collections::HashMap::new();
    credentials.insert("p1".to_string(), "s3cret".to_string());
    h.uas.set_credentials(credentials.clone());
    // No credentials: a challenge, SHA-256 first, then MD5.
    h.receive(phone(9), &register(None, 600, 1));
    let challenge = h.sent.last().unwrap().1.clone();
    assert_eq!(h.took(phone(9)), ["401"]);
    let offered: Vec<&str> = challenge
        .lines()
        .filter(|l| l.starts_with("WWW-Authenticate:"))
        .collect();
    assert_eq!(offered.len(), 2, "{challenge}");
    assert!(offered[0].contains("algorithm=SHA-256") && offered[1].contains("algorithm=MD5"));
    // A wrong password: challenged again, not registered (p1 is not rung: p2 is).
    h.receive(
        phone(9),
        &register(Some((offered[0], "SHA-256", "wrong")), 600, 2),
    );
    assert_eq!(h.took(phone(9)), ["401"]);
    h.call("501");
    assert!(h.took(phone(9)).is_empty() && h.took(phone(1)).is_empty());
    h.wait(5_000);
    h.sent.clear();
    // The right one, by SHA-256 (and MD5 works as well): 200 with the binding.
    h.receive(
        phone(9),
        &register(Some((offered[1], "MD5", "s3cret")), 600, 3),
    );
    assert_eq!(h.took(phone(9)), ["200"]);
    h.receive(
        phone(9),
        &register(Some((offered[0], "SHA-256", "s3cret")), 600, 4),
    );
    let ok = h.sent.last().unwrap().1.clone();
    assert_eq!(h.took(phone(9)), ["200"]);
    assert!(
        ok.contains("Contact: <sip:p1@10.9.9.9:5555>;expires=600"),
        "{ok}"
    );
    // Its calls go to where the REGISTER came from, to the Contact it registered.
    let r = h.uas.admin(
        h.now,
        AdminRequest::SetAgent {
            agent: "p1".into(),
            body: serde_json::json!({"state": "ready"}),
        },
    );
    assert_eq!(r.status, 200);
    h.call("501");
    let invite = h.last_to(phone(9), "INVITE");
    assert!(
        invite.starts_with("INVITE sip:p1@10.9.9.9:5555 SIP/2.0"),
        "{invite}"
    );
    h.wait(2_000);
    h.sent.clear();
    // The registration is kept with the durable state: a server restarted from it rings the
    // phone without a new REGISTER (phones renew only when their registration runs out) ...
    let kept = h
        .uas
        .durable_if_changed()
        .expect("registering changed the state");
    assert_eq!(kept.registrations["p1"].contact, "sip:p1@10.9.9.9:5555");
    assert_eq!(kept.registrations["p1"].source, phone(9));
    let restarted = |at: i64| {
        let mut again = H::new();
        again.now = at;
        again.uas.set_credentials(credentials.clone());
        again.uas.restore(at, &kept);
        again
    };
    let mut again = restarted(h.now);
    assert!(again.uas.durable_if_changed().is_none(), "nothing to save");
    again.call("501");
    let invite = again.last_to(phone(9), "INVITE");
    assert!(
        invite.starts_with("INVITE sip:p1@10.9.9.9:5555 SIP/2.0"),
        "{invite}"
    );
    // ... and it still ends when its time is up: p1 logged out ten minutes after registering.
    again.wait(600_000);
    let r = again.uas.admin(again.now, AdminRequest::Agent("p1".into()));
    assert_eq!(r.body["state"], "logged_out", "{:?}", r.body);
    // Restarted after it ended, it is not taken back (p1, ready when saved, is logged out as
    // if it had ended while the server ran), and the next save forgets it.
    let mut late = restarted(h.now + 600_000);
    let r = late.uas.admin(late.now, AdminRequest::Agent("p1".into()));
    assert_eq!(r.body["state"], "logged_out", "{:?}", r.body);
    let saved = late
        .uas
        .durable_if_changed()
        .expect("one registration less");
    assert!(saved.registrations.is_empty());
    assert_eq!(
        saved.agents["p1"].presence,
        callflow_runtime::acd::agent::Presence::LoggedOut
    );
    late.call("501");
    assert!(late.took(phone(9)).is_empty());
    // Ten minutes on, the registration is over and p1 logged out.
    h.wait(600_000);
    let r = h.uas.admin(h.now, AdminRequest::Agent("p1".into()));
    assert_eq!(r.body["state"], "logged_out", "{:?}", r.body);
    // The old nonce is stale by now: challenged again, saying so.
    h.sent.clear();
    h.receive(
        phone(9),
        &register(Some((offered[0], "SHA-256", "s3cret")), 600, 5),
    );
    let stale = h.sent.last().unwrap().1.clone();
    assert_eq!(h.took(phone(9)), ["401"]);
    assert!(stale.contains("stale=true"), "{stale}");
    // Too short a registration is refused with the minimum.
    let fresh: Vec<&str> = stale
        .lines()
        .filter(|l| l.starts_with("WWW-Authenticate:"))
        .collect();
    h.receive(
        phone(9),
        &register(Some((fresh[0], "SHA-256", "s3cret")), 10, 6),
    );
    let brief = h.sent.last().unwrap().1.clone();
    assert_eq!(h.took(phone(9)), ["423"]);
    assert!(brief.contains("Min-Expires: 60"), "{brief}");
}

/// The caller's BYE for the call `c1` (the To tag of our 200).
fn caller_bye(h: &H) -> String {
    let ok = h
        .sent
        .iter()
        .find(|(to, m)| *to == caller() && m.starts_with("SIP/2.0 200"))
        .map(|(_, m)| m.clone())
        .expect("the caller's call was answered");
    let tag = message::parse(ok.as_bytes())
        .unwrap()
        .to_tag()
        .unwrap()
        .to_string();
    format!(
        "BYE sip:500@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-bye;rport\r\n\
         From: <sip:+4930123456@127.0.0.1:5070>;tag=caller\r\nTo: <sip:500@127.0.0.1:5060>;tag={tag}\r\n\
         Call-ID: c1\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_reload_keeps_calls_with_agents_and_waits_for_them_when_the_routing_changed() {
    use callflow_runtime::server::uas::Reload;
    let mut h = H::new();
    h.call("500");
    let invite = h.last_to(phone(1), "INVITE");
    h.receive(phone(1), &respond(&invite, 200, ANSWER));
    let bye = caller_bye(&h);
    h.sent.clear();
    // Another flow changed, the routing did not: the engine keeps everything.
    let same = format!(
        "{FLOWS}\nflow extra {{\n    numbers \"999\"\n    start {{\n        play \"hello\"\n        hangup\n    }}\n}}\n"
    );
    let m = Arc::new(Machine::new(common::compile(&same)).unwrap());
    assert_eq!(h.uas.reload(m, Default::default()), Reload::Done);
    let r = h.uas.admin(h.now, AdminRequest::Agent("p1".into()));
    assert_eq!(r.body["activity"], "busy", "{:?}", r.body);
    // The routing changed (p2 before p1): taken once the call with p1 is over.
    let changed = FLOWS.replace("members p1, p2", "members p2, p1");
    let m = Arc::new(Machine::new(common::compile(&changed)).unwrap());
    assert_eq!(h.uas.reload(m, Default::default()), Reload::Waiting(1));
    let r = h.uas.admin(h.now, AdminRequest::Agent("p1".into()));
    assert_eq!(r.body["activity"], "busy", "still talking: {:?}", r.body);
    h.receive(caller(), &bye);
    assert_eq!(h.took(phone(1)), ["BYE"]);
    // Now the new routing: p2 rings first.
    h.sent.clear();
    h.receive(
        caller(),
        &format!(
            "INVITE sip:500@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-c2;rport\r\n\
             From: <sip:+4930123456@127.0.0.1:5070>;tag=caller2\r\nTo: <sip:500@127.0.0.1:5060>\r\nCall-ID: c2\r\n\
             CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:caller@127.0.0.1:5070>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{ANSWER}",
            ANSWER.len()
        ),
    );
    assert_eq!(h.took(phone(2)), ["INVITE"]);
    assert!(h.took(phone(1)).is_empty());
}

#[test]
fn a_feature_code_from_a_phone_with_credentials_is_challenged_first() {
    let features = Arc::new(
        Machine::new(common::compile(
            "flow feature_code {\n    numbers \"99999999\"\n    start {\n        play \"done\"\n        hangup\n    }\n}\n",
        ))
        .unwrap(),
    );
    let mut h = H::with(|c| {
        c.features = Some(features);
        c.credentials.insert("p1".into(), "s3cret".into());
    });
    let invite = |n: u32, auth: &str| {
        format!(
            "INVITE sip:*51@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5079;branch=z9hG4bK-f{};rport\r\n\
             From: <sip:p1@127.0.0.1>;tag=ph\r\nTo: <sip:*51@127.0.0.1>\r\nCall-ID: f{}\r\nCSeq: 1 INVITE\r\n\
             Max-Forwards: 70\r\nContact: <sip:p1@127.0.0.1:5079>\r\n{auth}Content-Length: 0\r\n\r\n",
            n, n
        )
    };
    let state =
        |h: &mut H| h.uas.admin(h.now, AdminRequest::Agent("p1".into())).body["state"].clone();
    // Without credentials (or with a wrong password): 401, and the state stays.
    h.receive(phone(9), &invite(1, ""));
    let challenge = h.sent.last().unwrap().1.clone();
    assert_eq!(h.took(phone(9)), ["401"]);
    let offered = challenge
        .lines()
        .find(|l| l.starts_with("WWW-Authenticate:"))
        .unwrap()
        .to_string();
    let nonce = offered
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let auth = |password: &str| {
        use sha2::Digest;
        let h = |s: String| -> String {
            sha2::Sha256::digest(s.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        let ha1 = h(format!("p1:callflow:{password}"));
        let ha2 = h("INVITE:sip:*51@127.0.0.1:5060".to_string());
        let response = h(format!("{ha1}:{nonce}:{ha2}"));
        format!(
            "Authorization: Digest username=\"p1\", realm=\"callflow\", nonce=\"{nonce}\", uri=\"sip:*51@127.0.0.1:5060\", algorithm=SHA-256, response=\"{response}\"\r\n"
        )
    };
    h.receive(phone(9), &invite(2, &auth("wrong")));
    assert_eq!(h.took(phone(9)), ["401"]);
    assert_eq!(state(&mut h), "ready");
    // With the password: not ready (reason "phone"), and the confirmation plays.
    h.receive(phone(9), &invite(3, &auth("s3cret")));
    assert_eq!(state(&mut h), "not_ready");
    let sent = h.took(phone(9));
    assert!(sent.contains(&"200".to_string()), "{sent:?}");
}

#[test]
fn a_bridged_call_ending_any_way_hangs_up_the_agent_and_frees_it() {
    let mut h = H::new();
    h.call("500");
    let invite = h.last_to(phone(1), "INVITE");
    h.receive(phone(1), &respond(&invite, 200, ANSWER));
    let call = h.opened.expect("the caller's stream opened");
    h.sent.clear();
    // The phone refreshes its session with a re-INVITE: answered with our SDP, call goes on.
    let ok = h.sent.len();
    let reinvite = format!(
        "INVITE sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-re;rport\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 7 INVITE\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{ANSWER}",
        message::parse(invite.as_bytes())
            .unwrap()
            .get("To")
            .unwrap()
            .to_string()
            + ";tag=phone",
        message::parse(invite.as_bytes())
            .unwrap()
            .get("From")
            .unwrap(),
        message::parse(invite.as_bytes()).unwrap().call_id(),
        ANSWER.len()
    );
    h.receive(phone(1), &reinvite);
    assert_eq!(h.sent.len(), ok + 1);
    let answer = h.sent.last().unwrap().1.clone();
    assert!(
        answer.starts_with("SIP/2.0 200") && answer.contains("m=audio 4000"),
        "{answer}"
    );
    h.took(phone(1));
    // The caller's RTP goes quiet: the server ends the call — and the agent's leg with it.
    h.uas.media_report(
        h.now,
        callflow_runtime::server::media::Report::Quiet { call },
    );
    h.drain();
    assert_eq!(h.took(caller()), ["BYE"]);
    assert_eq!(h.took(phone(1)), ["BYE"]);
    let r = h.uas.admin(h.now, AdminRequest::Agent("p1".into()));
    assert_ne!(r.body["activity"], "busy", "{:?}", r.body);
}

#[test]
fn a_callers_number_cannot_put_headers_into_the_agents_invite() {
    let mut h = H::new();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
    h.receive(
        caller(),
        &format!(
            "INVITE sip:500@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-x;rport\r\n\
             From: <sip:%0d%0aCall-Info:%20x@evil>;tag=caller\r\n\
             To: <sip:500@127.0.0.1:5060>\r\nCall-ID: inj\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
             Contact: <sip:caller@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    );
    let invite = h.last_to(phone(1), "INVITE");
    let m = message::parse(invite.as_bytes()).expect("a well-formed INVITE");
    assert!(m.get("Call-Info").is_none(), "{invite}");
    assert!(
        m.get("From").unwrap().contains("%0D%0ACall-Info"),
        "{invite}"
    );
}

#[test]
fn a_clock_stepped_back_moves_a_registrations_end_with_it() {
    let mut h = H::new();
    let mut credentials = std::collections::HashMap::new();
    credentials.insert("p1".to_string(), "s3cret".to_string());
    h.uas.set_credentials(credentials);
    h.receive(phone(9), &register(None, 600, 1));
    let challenge = h.sent.last().unwrap().1.clone();
    let offered = challenge
        .lines()
        .find(|l| l.starts_with("WWW-Authenticate:"))
        .unwrap()
        .to_string();
    h.receive(
        phone(9),
        &register(Some((&offered, "SHA-256", "s3cret")), 600, 2),
    );
    assert_eq!(h.took(phone(9)), ["401", "200"]);
    let until = h.uas.durable_if_changed().unwrap().registrations["p1"].until;
    assert_eq!(until, h.now + 600_000);
    // The clock is stepped back an hour: the registration's end (kept across restarts)
    // moves with it, and the registration still lasts its 600 s.
    h.wait(100_000);
    // (The server's loop tells the core the time every half second.)
    h.uas.handle_timeout(h.now);
    h.now -= 3_600_000;
    h.uas.handle_timeout(h.now);
    let kept = h.uas.durable_if_changed().expect("its end moved");
    assert_eq!(kept.registrations["p1"].until, until - 3_600_000);
    h.wait(499_000);
    assert!(h.uas.durable_if_changed().is_none(), "still registered");
    h.wait(2_000);
    let kept = h.uas.durable_if_changed().expect("it expired");
    assert!(kept.registrations.is_empty());
}
