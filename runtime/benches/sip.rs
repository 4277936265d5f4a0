//! SIP server core benchmarks, sans-IO (docs/PERFORMANCE.md records the figures):
//! - parsing sipp's INVITE (with its SDP) and building the 200 that answers it;
//! - one whole call through the UAS core: INVITE (100 and the 200 with SDP out), ACK, BYE
//!   (its 200 out), the call record written — what `callflow serve` does per call, minus the
//!   sockets;
//! - the state a held call costs: live heap bytes per answered call, 10,000 held at once, and
//!   what a finished call leaves until Timers J and L (printed once; counted by a wrapping
//!   allocator).
//!
//! Run: `cargo bench -p callflow-runtime --bench sip`.

use callflow_compiler::Project;
use callflow_runtime::server::uas::{Config, Out, Uas};
use callflow_runtime::sip::{build, message};
use callflow_runtime::vm::Machine;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[path = "common/counting.rs"]
mod counting;
use counting::{COUNTING, Counting, LIVE};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The flow of the call benchmarks (bench/calls/calls.flow): answer, hold, the caller hangs up.
const FLOW: &str =
    "flow hold { numbers \"400\" timezone \"Europe/Berlin\" start { play \"hold\"; hangup } }";

fn peer() -> SocketAddr {
    "127.0.0.1:5061".parse().unwrap()
}

/// sipp's built-in UAC INVITE (`-sn uac`), call `n`.
fn invite(n: u64) -> Vec<u8> {
    let sdp = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
               t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:400@127.0.0.1:5080 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-1-0\r\n\
         From: sipp <sip:sipp@127.0.0.1:5061>;tag={n}SIPpTag001\r\n\
         To: 400 <sip:400@127.0.0.1:5080>\r\n\
         Call-ID: {n}-1234@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: sip:sipp@127.0.0.1:5061\r\n\
         Max-Forwards: 70\r\n\
         Subject: Performance Test\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

fn in_dialog(method: &str, n: u64, to_tag: &str, branch: u32, cseq: u32) -> Vec<u8> {
    format!(
        "{method} sip:400@127.0.0.1:5080 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-{branch}\r\n\
         From: sipp <sip:sipp@127.0.0.1:5061>;tag={n}SIPpTag001\r\n\
         To: 400 <sip:400@127.0.0.1:5080>;tag={to_tag}\r\n\
         Call-ID: {n}-1234@127.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: sip:sipp@127.0.0.1:5061\r\n\
         Max-Forwards: 70\r\n\
         Subject: Performance Test\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn uas() -> Uas {
    let mut p = Project::new();
    p.add_file(Path::new("bench.flow"), FLOW.to_string(), true);
    let checked = callflow_compiler::check(&p);
    let program = callflow_compiler::lower::lower(&checked).expect("the bench flow compiles");
    let mut config = Config::new("127.0.0.1:5080".parse().unwrap());
    config.log = false;
    config.max_calls = 1_000_000;
    config.calls_per_source = u32::MAX;
    config.default_prompt_ms = 600_000;
    // 10,000 calls held at once need as many RTP ports (nothing is bound: sans-IO).
    config.rtp_ports = (2_000, 65_000);
    Uas::new(Arc::new(Machine::new(program).unwrap()), config)
}

/// Our To-tag in the last 200 sent.
fn drain(u: &mut Uas) -> Option<String> {
    let mut tag = None;
    while let Some(o) = u.poll_out() {
        if let Out::Send { bytes, .. } = o {
            let m = message::parse(&bytes).expect("our own responses parse");
            if let Some(t) = m.to_tag() {
                tag = Some(t.to_string());
            }
        }
    }
    tag
}

fn parsing(c: &mut Criterion) {
    let inv = invite(1);
    c.bench_function("sip/parse_invite", |b| {
        b.iter(|| black_box(message::parse(black_box(&inv)).unwrap().headers.len()))
    });
    let m = message::parse(&inv).unwrap();
    c.bench_function("sip/build_200", |b| {
        b.iter(|| {
            build::response(
                black_box(&m),
                peer(),
                200,
                Some("cf1234"),
                &["Contact: <sip:callflow@127.0.0.1:5080>".to_string()],
                None,
            )
        })
    });
}

fn whole_call(c: &mut Criterion) {
    let mut u = uas();
    let mut now = 1_767_780_000_000i64;
    let mut n = 0u64;
    c.bench_function("sip/whole_call", |b| {
        b.iter(|| {
            n += 1;
            now += 1;
            u.receive(now, peer(), &invite(n));
            let tag = drain(&mut u).expect("answered");
            u.receive(now, peer(), &in_dialog("ACK", n, &tag, 1, 1));
            u.receive(now, peer(), &in_dialog("BYE", n, &tag, 2, 2));
            while u.poll_out().is_some() {}
            // Timers (Timer J, the 2xx's) run as they fall due.
            u.handle_timeout(now);
        })
    });
    // Outside the measurement: the state a held call costs, and what a finished call leaves
    // behind until RFC 3261's timers let it go (Timer L for the INVITE, Timer J for the BYE:
    // 32 s): transactions that absorb retransmissions.
    let calls = 10_000u64;
    eprintln!(
        "sip/held_call: {} bytes of heap per answered call ({calls} held)",
        heap_per_call(calls, now, false)
    );
    eprintln!(
        "sip/finished_call: {} bytes of heap per finished call kept for its transactions' timers ({calls} calls)",
        heap_per_call(calls, now, true)
    );
}

/// Live heap bytes per call after `calls` calls answered (and acknowledged), and hung up by
/// the caller when `bye`, on a fresh core at one instant (no timer runs).
fn heap_per_call(calls: u64, now: i64, bye: bool) -> isize {
    let mut u = uas();
    LIVE.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    for n in 0..calls {
        u.receive(now, peer(), &invite(n));
        let tag = drain(&mut u).expect("answered");
        u.receive(now, peer(), &in_dialog("ACK", n, &tag, 1, 1));
        if bye {
            u.receive(now, peer(), &in_dialog("BYE", n, &tag, 2, 2));
        }
        while u.poll_out().is_some() {}
    }
    COUNTING.store(false, Ordering::Relaxed);
    let per_call = LIVE.load(Ordering::Relaxed) / calls as isize;
    drop(u);
    per_call
}

criterion_group!(benches, parsing, whole_call);
criterion_main!(benches);
