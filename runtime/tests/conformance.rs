//! The SIP torture messages of RFC 4475 and RFC 5118 (tests/data, with their attribution) and
//! the stream vectors, through the message parser: each gets the handling its INDEX.tsv states
//! — valid ones parse, invalid ones are refused with the status the RFC names (or dropped) —
//! and a stream parses the same whatever size the chunks it arrives in.
//! (Statuses decided after parsing — 420, 415, 406 — are the server's; its tests check them.)

use callflow_runtime::sip::message::{self, Start};
use std::path::{Path, PathBuf};

fn data(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Parses,
    Status(u16),
    /// Either is right (the RFC allows a liberal parser).
    ParsesOr(u16),
    /// One of two statuses.
    Either(u16, u16),
    Dropped,
}

fn want(name: &str) -> Option<Want> {
    use Want::*;
    Some(match name {
        "badinv01" | "clerr" | "ncl" | "scalar02" | "quotbal" | "ltgtruri" | "lwsruri"
        | "lwsstart" | "trws" | "escruri" | "mismatch01" | "insuf" | "multi01" | "mcl01"
        | "ipv6-bad" => Status(400),
        "baddate" | "regbadct" | "badaspec" | "baddn" => ParsesOr(400),
        "badvers" => Status(505),
        "mismatch02" => Either(501, 400),
        "scalarlg" | "bigcode" => Dropped,
        "unkscm" | "novelsc" => Status(416),
        "test" => return None,
        _ => Parses,
    })
}

fn outcome(bytes: &[u8]) -> Result<Start<'_>, Option<u16>> {
    message::parse(bytes).map(|m| m.start).map_err(|r| r.status)
}

#[test]
fn torture_messages_get_the_handling_their_index_states() {
    let mut checked = 0;
    for dir in ["rfc4475", "rfc5118"] {
        let index = std::fs::read_to_string(data(dir).join("INDEX.tsv")).unwrap();
        for line in index
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let name = line.split('\t').next().unwrap();
            let Some(w) = want(name) else { continue };
            let bytes = std::fs::read(data(dir).join(format!("{name}.sip"))).unwrap();
            let got = outcome(&bytes);
            let ok = match (w, &got) {
                (Want::Parses, Ok(_)) => true,
                (Want::Status(s), Err(Some(x))) => s == *x,
                (Want::ParsesOr(_), Ok(_)) => true,
                (Want::ParsesOr(s), Err(Some(x))) => s == *x,
                (Want::Either(a, b), Err(Some(x))) => *x == a || *x == b,
                (Want::Dropped, Err(None)) => true,
                _ => false,
            };
            assert!(ok, "{dir}/{name}: wanted {w:?}, got {got:?}");
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} vectors checked");
}

#[test]
fn a_udp_datagram_with_two_requests_yields_the_first() {
    let bytes = std::fs::read(data("rfc4475").join("dblreq.sip")).unwrap();
    let m = message::parse(&bytes).unwrap();
    assert_eq!(m.method(), Some("REGISTER"));
    assert!(m.body.is_empty());
}

#[test]
fn escaped_users_compare_equal_and_odd_methods_stay_themselves() {
    let bytes = std::fs::read(data("rfc4475").join("esc02.sip")).unwrap();
    let m = message::parse(&bytes).unwrap();
    assert_eq!(m.method(), Some("RE%47IST%45R"), "not REGISTER");
    let bytes = std::fs::read(data("rfc4475").join("esc01.sip")).unwrap();
    let m = message::parse(&bytes).unwrap();
    let Start::Request { uri, .. } = m.start else {
        panic!()
    };
    let u = callflow_runtime::sip::uri::Uri::parse(uri).unwrap();
    assert_eq!(u.user_decoded().as_deref(), Some("sips:user@example.com"));
}

/// Every message of a stream file, split where a message ends (by framing).
fn messages(stream: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    for piece in stream.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        while let Ok(Some(n)) = message::frame(&buf) {
            out.push(buf.drain(..n).collect());
        }
    }
    out
}

#[test]
fn streams_frame_the_same_at_every_chunk_size() {
    for file in [
        "rtckit-generic-stream.txt",
        "lioneagle-sipparser-stream.txt",
    ] {
        let stream = std::fs::read(data("sip-streams").join(file)).unwrap();
        let whole = messages(&stream, stream.len());
        assert!(whole.len() >= 2, "{file}: {} messages", whole.len());
        for chunk in [1, 2, 3, 7, 13, 64, 100, 511, 1400] {
            assert_eq!(
                messages(&stream, chunk),
                whole,
                "{file} in chunks of {chunk}"
            );
        }
        // The files are parser fixtures: some messages lack headers a request needs (they
        // are refused, the same way at every chunk size); most are whole, valid messages.
        let valid = whole
            .iter()
            .filter(|m| {
                let lead = m
                    .iter()
                    .take_while(|c| **c == b'\r' || **c == b'\n')
                    .count();
                message::parse(&m[lead..]).is_ok()
            })
            .count();
        assert!(
            valid * 2 > whole.len(),
            "{file}: only {valid} of {} parse",
            whole.len()
        );
    }
}

#[test]
fn garbage_never_panics() {
    let mut x: u64 = 0x1234_5678;
    let seeds: Vec<Vec<u8>> = ["rfc4475", "rfc5118"]
        .iter()
        .flat_map(|d| std::fs::read_dir(data(d)).unwrap())
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "sip"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    for i in 0..20_000 {
        let mut b = seeds[i % seeds.len()].clone();
        for _ in 0..1 + i % 6 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if b.is_empty() {
                break;
            }
            let at = (x as usize) % b.len();
            match x % 4 {
                0 => b[at] = (x >> 8) as u8,
                1 => {
                    b.truncate(at);
                }
                2 => b.insert(at, b"\r\n:;<>\"% @"[(x >> 16) as usize % 10]),
                _ => {
                    b.remove(at);
                }
            }
        }
        let _ = message::parse(&b);
        let _ = message::frame(&b);
    }
}
