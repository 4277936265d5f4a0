//! The caller's side of the media for `callflow call`: one RTP stream sent every 20 ms
//! (silence, the key tones when keys go in-band, or RFC 4733 events), and what the server sends
//! heard, counted and kept — packets, sequence gaps, timestamp jumps, SSRCs, arrival intervals —
//! so a run can say whether the server paced its stream (50 packets a second, continuous
//! timestamps) and save what was heard as a WAV file.

use callflow_runtime::media::g711::Law;
use callflow_runtime::media::rtp;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How keys are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Dtmf {
    /// SIP INFO (application/dtmf-relay).
    Info,
    /// RFC 4733 telephone-events in the RTP stream.
    Rfc4733,
    /// Tones in the audio (for servers that listen for them).
    Inband,
}

/// What was heard from the server.
#[derive(Debug, Default)]
pub struct Heard {
    pub samples: Vec<i16>,
    pub packets: u64,
    /// Packets whose sequence number was not the last one plus one.
    pub sequence_gaps: u64,
    /// Packets (of one SSRC, in sequence) whose timestamp did not advance by their length.
    pub timestamp_jumps: u64,
    pub ssrcs: Vec<u32>,
    /// Milliseconds between consecutive packets' arrival.
    pub intervals: Vec<f64>,
    /// From the first packet's arrival to the last one's.
    pub span: Duration,
}

impl Heard {
    /// One line for people: the rate, the continuity and the pacing.
    pub fn summary(&self) -> String {
        let rate = if self.span.as_secs_f64() > 0.0 {
            (self.packets.saturating_sub(1)) as f64 / self.span.as_secs_f64()
        } else {
            0.0
        };
        let mut iv = self.intervals.clone();
        iv.sort_by(f64::total_cmp);
        let at = |q: f64| {
            iv.get(((iv.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        format!(
            "RTP heard: {} packets in {:.2}s ({rate:.1}/s), {} sequence gaps, {} timestamp jumps, {} SSRC(s); interval p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.packets,
            self.span.as_secs_f64(),
            self.sequence_gaps,
            self.timestamp_jumps,
            self.ssrcs.len(),
            at(0.5),
            at(0.99),
            iv.last().copied().unwrap_or(0.0),
        )
    }
}

/// The running stream: press keys into it; [`Media::finish`] stops it.
pub struct Media {
    keys: mpsc::Sender<Option<char>>,
    thread: std::thread::JoinHandle<Heard>,
}

/// The negotiated terms of the call, from the server's SDP answer.
pub struct Terms {
    pub remote: SocketAddr,
    pub law: Law,
    pub events: Option<u8>,
}

impl Media {
    pub fn start(socket: UdpSocket, terms: Terms, dtmf: Dtmf) -> Media {
        let (keys, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || run(socket, terms, dtmf, rx));
        Media { keys, thread }
    }

    pub fn press(&self, key: char) {
        let _ = self.keys.send(Some(key));
    }

    pub fn finish(self) -> Heard {
        let _ = self.keys.send(None);
        self.thread.join().unwrap_or_default()
    }
}

/// The two frequencies of a key (ITU-T Q.23).
fn tones(key: char) -> Option<(f32, f32)> {
    const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    let (r, c) = match key {
        '1' => (0, 0),
        '2' => (0, 1),
        '3' => (0, 2),
        'A' => (0, 3),
        '4' => (1, 0),
        '5' => (1, 1),
        '6' => (1, 2),
        'B' => (1, 3),
        '7' => (2, 0),
        '8' => (2, 1),
        '9' => (2, 2),
        'C' => (2, 3),
        '*' => (3, 0),
        '0' => (3, 1),
        '#' => (3, 2),
        'D' => (3, 3),
        _ => return None,
    };
    Some((ROWS[r], COLS[c]))
}

fn event_code(key: char) -> Option<u8> {
    match key {
        '0'..='9' => Some(key as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(key as u8 - b'A' + 12),
        _ => None,
    }
}

/// A key being sent: how many packets of it went out.
struct Pressing {
    key: char,
    sent: u32,
    timestamp: u32,
}

/// Packets per key: 100 ms of tone or event, then 100 ms of silence before the next.
const KEY_PACKETS: u32 = 5;
const GAP_PACKETS: u32 = 5;

fn run(socket: UdpSocket, terms: Terms, dtmf: Dtmf, keys: mpsc::Receiver<Option<char>>) -> Heard {
    arrival::enable(&socket);
    let mut heard = Heard::default();
    let ssrc = std::process::id().wrapping_mul(2_654_435_761);
    let (mut sequence, mut timestamp) = (1000u16, 160_000u32);
    let mut waiting: std::collections::VecDeque<char> = Default::default();
    let mut pressing: Option<Pressing> = None;
    let mut gap = 0u32;
    let start = Instant::now();
    let mut tick = 0u32;
    let mut last: Option<(Instant, u32, u16, u32)> = None;
    let mut first: Option<Instant> = None;
    let mut out = Vec::with_capacity(200);
    let mut buf = [0u8; 2048];
    let mut stopping = false;
    loop {
        // Send this tick's packet.
        while let Ok(k) = keys.try_recv() {
            match k {
                Some(k) => waiting.push_back(k),
                None => stopping = true,
            }
        }
        if stopping && waiting.is_empty() && pressing.is_none() {
            break;
        }
        if pressing.is_none() && gap == 0 {
            if let Some(key) = waiting.pop_front() {
                pressing = Some(Pressing {
                    key,
                    sent: 0,
                    timestamp,
                });
            }
        }
        let mut payload = [terms.law.silence(); 160];
        let mut event = None;
        if let Some(p) = pressing.as_mut() {
            match (dtmf, terms.events, event_code(p.key)) {
                (Dtmf::Rfc4733, Some(pt), Some(code)) => {
                    // Events: one timestamp (the press's start), a growing duration, the
                    // last packet sent three times with the end bit.
                    let end = p.sent + 1 >= KEY_PACKETS;
                    let duration = ((p.sent + 1) * 160) as u16;
                    event = Some((pt, p.sent == 0, p.timestamp, code, end, duration));
                }
                _ => {
                    if let Some((low, high)) = tones(p.key) {
                        for (i, b) in payload.iter_mut().enumerate() {
                            let t = (p.sent as usize * 160 + i) as f32 / 8000.0;
                            let v = 6000.0 * (std::f32::consts::TAU * low * t).sin()
                                + 6000.0 * (std::f32::consts::TAU * high * t).sin();
                            *b = terms.law.encode(v as i16);
                        }
                    }
                }
            }
            p.sent += 1;
            if p.sent >= KEY_PACKETS {
                pressing = None;
                gap = GAP_PACKETS;
            }
        } else {
            gap = gap.saturating_sub(1);
        }
        match event {
            Some((pt, first, ts, code, end, duration)) => {
                let copies = if end { 3 } else { 1 };
                for _ in 0..copies {
                    rtp::write_header(&mut out, first, pt, sequence, ts, ssrc);
                    let d = duration.to_be_bytes();
                    out.extend_from_slice(&[code, if end { 0x8a } else { 0x0a }, d[0], d[1]]);
                    let _ = socket.send_to(&out, terms.remote);
                    sequence = sequence.wrapping_add(1);
                }
            }
            None => {
                rtp::write_header(
                    &mut out,
                    tick == 0,
                    terms.law.payload_type(),
                    sequence,
                    timestamp,
                    ssrc,
                );
                out.extend_from_slice(&payload);
                let _ = socket.send_to(&out, terms.remote);
                sequence = sequence.wrapping_add(1);
            }
        }
        timestamp = timestamp.wrapping_add(160);
        tick += 1;
        // Listen until the next tick.
        let next = start + Duration::from_millis(20 * u64::from(tick));
        loop {
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = socket.set_read_timeout(Some(left));
            let Some((n, stamp)) = arrival::recv(&socket, &mut buf) else {
                continue;
            };
            // When the kernel took the packet in (not when this thread got to it).
            let at = stamp.unwrap_or_else(Instant::now);
            let Some(p) = rtp::parse(&buf[..n]) else {
                continue;
            };
            let Some(law) = Law::from_payload_type(p.payload_type) else {
                continue;
            };
            heard.packets += 1;
            if !heard.ssrcs.contains(&p.ssrc) {
                heard.ssrcs.push(p.ssrc);
            }
            if let Some((when, ssrc, seq, ts)) = last {
                heard.intervals.push((at - when).as_secs_f64() * 1000.0);
                if p.sequence != seq.wrapping_add(1) {
                    heard.sequence_gaps += 1;
                } else if ssrc == p.ssrc && p.timestamp != ts.wrapping_add(p.payload.len() as u32) {
                    heard.timestamp_jumps += 1;
                }
            }
            let first = *first.get_or_insert(at);
            heard.span = at - first;
            last = Some((at, p.ssrc, p.sequence, p.timestamp));
            law.decode_into(p.payload, &mut heard.samples);
        }
    }
    heard
}

/// Arrival times as the kernel saw them (SO_TIMESTAMPNS): the intervals between packets then
/// measure the sender's pacing and the network, not how soon this thread was scheduled.
mod arrival {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant, SystemTime};

    pub fn enable(socket: &UdpSocket) {
        let on: libc::c_int = 1;
        // SAFETY: a valid socket, an int option of the right size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    /// One datagram into `buf`: its length, and when it arrived (as an `Instant`, when the
    /// kernel said).
    pub fn recv(socket: &UdpSocket, buf: &mut [u8]) -> Option<(usize, Option<Instant>)> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = [0u64; 16];
        // SAFETY: msghdr is plain data; zeroed is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: the header points at `buf` and `control`, which outlive the call.
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return None;
        }
        let mut stamp = None;
        // SAFETY: walking the control messages the kernel wrote into `control`.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    stamp = Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        // The kernel's wall-clock time, turned into an Instant by its age now.
        let at = stamp.and_then(|t| {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .ok()?;
            Instant::now().checked_sub(now.saturating_sub(t))
        });
        Some((n as usize, at))
    }
}
