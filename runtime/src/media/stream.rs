//! One call's media, sans-IO: what it plays (a queue of prompts and silences, sent as one RTP
//! packet of 20 ms per [`Stream::tick`], with continuous sequence numbers and timestamps and
//! one SSRC for the whole call), what it hears (RTP from the caller: keys as RFC 4733 events or
//! as tones in the audio, each key once) and what it records (the caller's audio, 20 ms per
//! tick, silence where nothing came, so a recording lasts exactly as long as it ran).
//!
//! Safety: the address the caller's SDP names is listened to from its first packet on, and
//! never left again; another address is taken only when that one has stayed silent for
//! [`FOREIGN_AFTER_MS`] after the stream began (a caller behind NAT), and then only until the
//! declared one speaks. Later packets from any other address are ignored (no media hijacking,
//! no keys pressed by strangers who guessed the port), and another
//! SSRC from that address counts only after the first one has been silent for
//! [`SSRC_SWITCH_MS`] (a phone that restarts its stream). Malformed packets are dropped;
//! nothing here panics on input.

use super::g711::Law;
use super::sdp::Media;
use super::{inband, rtp, telephone_event};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

/// Samples in one packet: 20 ms at 8 kHz.
pub const FRAME: usize = 160;

/// How long the latched SSRC must be silent before another one from the same address counts.
pub const SSRC_SWITCH_MS: i64 = 100;

/// How long only the address the SDP names is listened to, before another may be taken.
pub const FOREIGN_AFTER_MS: i64 = 1_000;

/// A key heard from another path within this long of the same key is the same press.
const SAME_PRESS_MS: i64 = 300;

/// Audio to play, encoded once in both laws and shared by every call that plays it.
#[derive(Debug, PartialEq, Eq)]
pub struct Prompt {
    mu: Box<[u8]>,
    a: Box<[u8]>,
}

impl Prompt {
    pub fn new(samples: &[i16]) -> Prompt {
        let (mut mu, mut a) = (Vec::new(), Vec::new());
        Law::Mu.encode_into(samples, &mut mu);
        Law::A.encode_into(samples, &mut a);
        Prompt {
            mu: mu.into(),
            a: a.into(),
        }
    }

    /// A tone of `hz` for `ms` (the voicemail beep).
    pub fn tone(hz: f32, ms: u32) -> Prompt {
        Prompt::cadence(hz, ms, ms)
    }

    /// A tone of `hz` for `on_ms`, then silence up to `period_ms` (one period of ringback).
    pub fn cadence(hz: f32, on_ms: u32, period_ms: u32) -> Prompt {
        let on = on_ms as usize * 8;
        let samples: Vec<i16> = (0..period_ms.max(on_ms) as usize * 8)
            .map(|i| {
                let t = i as f32 / 8000.0;
                let s = (8000.0 * (2.0 * std::f32::consts::PI * hz * t).sin()) as i16;
                if i < on { s } else { 0 }
            })
            .collect();
        Prompt::new(&samples)
    }

    pub fn ms(&self) -> u64 {
        self.mu.len() as u64 / 8
    }

    fn bytes(&self, law: Law) -> &[u8] {
        match law {
            Law::Mu => &self.mu,
            Law::A => &self.a,
        }
    }
}

/// One thing to play.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Play {
    Prompt(Arc<Prompt>),
    /// Silence, in milliseconds.
    Silence(u32),
    /// A prompt again and again until [`Stream::stop`] (music on hold: an announcement stops
    /// it, plays, and loops the music again).
    Loop(Arc<Prompt>),
}

/// What a datagram was, for a driver that relays it (a bridged call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Not from the source the stream listens to, not RTP, or not ours to hear: dropped.
    Nothing,
    /// Audio in this law.
    Audio(Law),
    /// A telephone-event.
    Event,
}

/// How a key came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// RFC 4733 telephone-event.
    Event,
    /// A tone in the audio.
    Tone,
}

#[derive(Debug)]
pub struct Stream {
    media: Media,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    sent_any: bool,
    queue: VecDeque<Play>,
    /// Position in the front item (bytes of a prompt, or samples of silence).
    position: usize,
    /// The source the stream listens to, once the first packet came: address and SSRC.
    latched: Option<(SocketAddr, u32)>,
    /// Whether that address is the one the caller's SDP names.
    latched_declared: bool,
    /// When the latched SSRC was last heard (ms).
    heard_at: i64,
    /// When the stream began (ms).
    began: i64,
    events: telephone_event::Receiver,
    /// Whether telephone-events came: in-band detection stops then (the phone sends keys as
    /// events; its audio may carry the same tones).
    events_seen: bool,
    inband: inband::Detector,
    last_key: Option<(char, Via, i64)>,
    decoded: Vec<i16>,
    found: Vec<char>,
    /// The caller's audio waiting for the recorder (only while recording).
    recording: bool,
    recorded: VecDeque<i16>,
}

impl Stream {
    pub fn new(media: Media, ssrc: u32, now: i64) -> Stream {
        Stream {
            media,
            ssrc,
            sequence: (ssrc >> 16) as u16,
            timestamp: ssrc.rotate_left(7),
            sent_any: false,
            queue: VecDeque::new(),
            position: 0,
            latched: None,
            latched_declared: false,
            heard_at: now,
            began: now,
            events: telephone_event::Receiver::default(),
            events_seen: false,
            inband: inband::Detector::new(),
            last_key: None,
            decoded: Vec::with_capacity(FRAME),
            found: Vec::new(),
            recording: false,
            recorded: VecDeque::new(),
        }
    }

    /// New terms from a re-INVITE (hold, resume, another address or codec): the stream goes
    /// on with the same SSRC, sequence and timestamps, and listens for the new source (with
    /// the same second in which only the address the SDP names is heard). The quiet clock
    /// starts again: a caller back from hold has not been silent.
    pub fn renegotiate(&mut self, media: Media, now: i64) {
        if media.remote != self.media.remote {
            self.latched = None;
            self.latched_declared = false;
            self.began = now;
        }
        self.heard_at = now;
        self.media = media;
    }

    pub fn media(&self) -> &Media {
        &self.media
    }

    /// Plays `items` after what is playing.
    pub fn play(&mut self, items: impl IntoIterator<Item = Play>) {
        self.queue.extend(items);
    }

    /// Stops playing (a key interrupted the prompt); silence follows.
    pub fn stop(&mut self) {
        self.queue.clear();
        self.position = 0;
    }

    pub fn playing(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The next 20 ms: writes the packet into `out` and says where it goes (`None`: nothing
    /// to send, on hold; time passes all the same).
    pub fn tick(&mut self, out: &mut Vec<u8>) -> Option<SocketAddr> {
        let law = self.media.law;
        let mut payload = [law.silence(); FRAME];
        let mut filled = 0;
        while filled < FRAME {
            let Some(item) = self.queue.front() else {
                break;
            };
            let (done, n) = match item {
                Play::Prompt(p) => {
                    let bytes = &p.bytes(law)[self.position.min(p.bytes(law).len())..];
                    let n = bytes.len().min(FRAME - filled);
                    payload[filled..filled + n].copy_from_slice(&bytes[..n]);
                    (n == bytes.len(), n)
                }
                Play::Silence(ms) => {
                    let left = (*ms as usize * 8).saturating_sub(self.position);
                    let n = left.min(FRAME - filled);
                    (n == left, n)
                }
                Play::Loop(p) => {
                    let all = p.bytes(law);
                    if all.is_empty() {
                        // Nothing to repeat: silence until stopped.
                        break;
                    }
                    let bytes = &all[self.position % all.len()..];
                    let n = bytes.len().min(FRAME - filled);
                    payload[filled..filled + n].copy_from_slice(&bytes[..n]);
                    (false, n)
                }
            };
            filled += n;
            self.position += n;
            if done {
                self.queue.pop_front();
                self.position = 0;
            }
        }
        // Symmetric RTP (RFC 4961): to where the caller's stream comes from, once it came (a
        // caller behind NAT names an address we cannot reach); before, to the SDP's.
        let to = self.peer();
        if to.is_some() {
            rtp::write_header(
                out,
                !self.sent_any,
                law.payload_type(),
                self.sequence,
                self.timestamp,
                self.ssrc,
            );
            out.extend_from_slice(&payload);
            self.sent_any = true;
            self.sequence = self.sequence.wrapping_add(1);
        }
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
        to
    }

    /// A datagram from `from` at `now`; keys it completes are appended to `keys`. Says what it
    /// was: only what it heard may be relayed.
    pub fn receive(
        &mut self,
        now: i64,
        from: SocketAddr,
        bytes: &[u8],
        keys: &mut Vec<(char, Via)>,
    ) -> Heard {
        let Some(p) = rtp::parse(bytes) else {
            return Heard::Nothing;
        };
        if !self.media.receive {
            return Heard::Nothing;
        }
        let declared = self.media.remote == Some(from);
        match self.latched {
            None if !declared && now - self.began < FOREIGN_AFTER_MS => return Heard::Nothing,
            None => {
                self.latched = Some((from, p.ssrc));
                self.latched_declared = declared;
            }
            Some((addr, _)) if addr != from => {
                if !declared || self.latched_declared {
                    return Heard::Nothing;
                }
                self.latched = Some((from, p.ssrc));
                self.latched_declared = true;
            }
            Some((_, ssrc)) if ssrc != p.ssrc => {
                if now - self.heard_at < SSRC_SWITCH_MS {
                    return Heard::Nothing;
                }
                self.latched = Some((from, p.ssrc));
            }
            Some(_) => {}
        }
        self.heard_at = now;
        if Some(p.payload_type) == self.media.events {
            self.events_seen = true;
            if let Some(k) = self.events.packet(p.ssrc, p.timestamp, p.payload) {
                self.key(now, k, Via::Event, keys);
            }
            return Heard::Event;
        }
        let Some(law) = Law::from_payload_type(p.payload_type) else {
            return Heard::Nothing;
        };
        // 20 ms is usual; more than 60 ms in one packet is not telephone audio.
        if p.payload.len() > 3 * FRAME {
            return Heard::Nothing;
        }
        self.decoded.clear();
        law.decode_into(p.payload, &mut self.decoded);
        if !self.events_seen {
            self.found.clear();
            self.inband.feed(&self.decoded, &mut self.found);
            for i in 0..self.found.len() {
                let k = self.found[i];
                self.key(now, k, Via::Tone, keys);
            }
        }
        if self.recording {
            self.recorded.extend(self.decoded.iter().copied());
            // A sender faster than our clock must not make the recording lag: keep 60 ms.
            while self.recorded.len() > 3 * FRAME {
                self.recorded.pop_front();
            }
        }
        Heard::Audio(law)
    }

    /// Where our packets go: where the other side's come from once they came (symmetric
    /// RTP), before that where its SDP says; `None` on hold or before an address is known.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.latched
            .map(|(a, _)| a)
            .or(self.media.remote)
            .filter(|_| self.media.send && self.media.remote.is_some())
    }

    fn key(&mut self, now: i64, k: char, via: Via, keys: &mut Vec<(char, Via)>) {
        if let Some((last, how, at)) = self.last_key {
            if last == k && how != via && now - at < SAME_PRESS_MS {
                return;
            }
        }
        self.last_key = Some((k, via, now));
        keys.push((k, via));
    }

    /// How long no RTP came from the caller (since the stream began, if none ever did).
    pub fn quiet_ms(&self, now: i64) -> i64 {
        now - self.heard_at
    }

    /// Starts or stops keeping the caller's audio for [`Stream::recorded_frame`].
    pub fn set_recording(&mut self, on: bool) {
        self.recording = on;
        self.recorded.clear();
    }

    /// The caller's next 20 ms for the recording (silence where nothing came).
    pub fn recorded_frame(&mut self, frame: &mut [i16; FRAME]) {
        for s in frame.iter_mut() {
            *s = self.recorded.pop_front().unwrap_or(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media() -> Media {
        crate::media::sdp::negotiate(
            b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
        )
        .unwrap()
    }

    fn caller() -> SocketAddr {
        "127.0.0.1:6000".parse().unwrap()
    }

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        rtp::write_header(&mut b, false, pt, seq, ts, ssrc);
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn prompts_and_silences_play_with_continuous_numbering() {
        let mut s = Stream::new(media(), 77, 0);
        let tone = Arc::new(Prompt::tone(1000.0, 50));
        s.play([
            Play::Prompt(tone.clone()),
            Play::Silence(30),
            Play::Prompt(tone),
        ]);
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for _ in 0..10 {
            assert_eq!(s.tick(&mut out), Some(caller()));
            let p = rtp::parse(&out).unwrap();
            assert_eq!((p.payload_type, p.ssrc, p.payload.len()), (0, 77, FRAME));
            seen.push((p.marker, p.sequence, p.timestamp, p.payload[101]));
        }
        // 50 + 30 + 50 ms = 130 ms: 7 packets carry sound or the silence between.
        assert!(!s.playing());
        for w in seen.windows(2) {
            assert_eq!(w[1].1, w[0].1.wrapping_add(1));
            assert_eq!(w[1].2, w[0].2.wrapping_add(160));
        }
        assert!(
            seen[0].0 && seen[1..].iter().all(|p| !p.0),
            "marker on the first only"
        );
        // The 3rd packet (40-60 ms) ends the first tone and starts the silence; the 4th
        // (60-80 ms) is silence, the 5th starts the tone again at 80 ms.
        assert_eq!(seen[3].3, Law::Mu.silence());
        assert_ne!(seen[4].3, Law::Mu.silence());
        assert_eq!(seen[9].3, Law::Mu.silence());
    }

    #[test]
    fn music_on_hold_loops_seamlessly_until_stopped() {
        let mut s = Stream::new(media(), 77, 0);
        // 30 ms of music: 240 samples, a ramp, so each position is recognisable.
        let ramp: Vec<i16> = (0..240).map(|i| (i * 100) as i16).collect();
        let music = Arc::new(Prompt::new(&ramp));
        s.play([Play::Loop(music.clone())]);
        let mut out = Vec::new();
        let mut heard = Vec::new();
        for _ in 0..10 {
            s.tick(&mut out);
            heard.extend_from_slice(rtp::parse(&out).unwrap().payload);
        }
        let expected: Vec<u8> = (0..1600).map(|i| music.bytes(Law::Mu)[i % 240]).collect();
        assert_eq!(heard, expected, "200 ms of a 30 ms loop, without a gap");
        assert!(s.playing());
        s.stop();
        s.tick(&mut out);
        assert!(
            rtp::parse(&out)
                .unwrap()
                .payload
                .iter()
                .all(|b| *b == Law::Mu.silence())
        );
        // An empty loop is silence, not a hang.
        s.play([Play::Loop(Arc::new(Prompt::new(&[])))]);
        s.tick(&mut out);
    }

    #[test]
    fn hold_sends_nothing_but_time_goes_on() {
        let mut s = Stream::new(media(), 1, 0);
        let mut out = Vec::new();
        s.tick(&mut out);
        let first = rtp::parse(&out).unwrap().timestamp;
        let mut held = media();
        held.send = false;
        s.renegotiate(held, 20);
        assert_eq!(s.tick(&mut out), None);
        s.renegotiate(media(), 40);
        assert_eq!(s.quiet_ms(40), 0, "back from hold: not quiet");
        s.tick(&mut out);
        let p = rtp::parse(&out).unwrap();
        assert_eq!(p.timestamp, first.wrapping_add(320));
    }

    #[test]
    fn keys_come_once_from_events_and_only_from_the_latched_source() {
        let mut s = Stream::new(media(), 1, 0);
        let mut keys = Vec::new();
        let ev = |d: u16, end: bool| {
            let b = d.to_be_bytes();
            [5u8, if end { 0x8a } else { 0x0a }, b[0], b[1]]
        };
        let other: SocketAddr = "127.0.0.1:6666".parse().unwrap();
        // A stranger who guessed the port is not heard while the caller may still speak.
        s.receive(0, other, &packet(101, 1, 1, 50, &ev(800, true)), &mut keys);
        assert!(keys.is_empty());
        for (i, d) in [0u16, 160, 320, 480].into_iter().enumerate() {
            s.receive(
                i as i64 * 20,
                caller(),
                &packet(101, i as u16, 800, 9, &ev(d, false)),
                &mut keys,
            );
            // A hijacker's copy from elsewhere, and a second SSRC at once, are ignored.
            s.receive(
                i as i64 * 20,
                other,
                &packet(101, 0, 900, 9, &ev(d, false)),
                &mut keys,
            );
            s.receive(
                i as i64 * 20,
                caller(),
                &packet(101, 0, 999, 10, &ev(d, false)),
                &mut keys,
            );
        }
        for _ in 0..3 {
            s.receive(
                90,
                caller(),
                &packet(101, 9, 800, 9, &ev(640, true)),
                &mut keys,
            );
        }
        assert_eq!(keys, [('5', Via::Event)]);
        // Garbage and packets of unknown types are dropped.
        s.receive(100, caller(), b"\x80", &mut keys);
        s.receive(100, caller(), &packet(18, 1, 1, 9, &[0; 20]), &mut keys);
        assert_eq!(keys.len(), 1);
        // The SSRC changes after a silence: the new one is heard.
        s.receive(
            400,
            caller(),
            &packet(101, 0, 5000, 11, &ev(640, true)),
            &mut keys,
        );
        assert_eq!(keys, [('5', Via::Event), ('5', Via::Event)]);
    }

    #[test]
    fn a_caller_behind_nat_is_heard_after_a_second_until_the_declared_address_speaks() {
        let mut s = Stream::new(media(), 1, 0);
        let mut keys = Vec::new();
        let mut out = Vec::new();
        let nat: SocketAddr = "127.0.0.1:7777".parse().unwrap();
        let ev = |event: u8| [event, 0x8a, 3, 0x20];
        s.receive(900, nat, &packet(101, 1, 100, 5, &ev(1)), &mut keys);
        assert!(keys.is_empty(), "too early for another address");
        assert_eq!(
            s.tick(&mut out),
            Some(caller()),
            "RTP goes where the SDP says"
        );
        s.receive(1_100, nat, &packet(101, 2, 200, 5, &ev(2)), &mut keys);
        assert_eq!(
            keys,
            [('2', Via::Event)],
            "no word from the declared one: taken"
        );
        assert_eq!(
            s.tick(&mut out),
            Some(nat),
            "and answered where it comes from"
        );
        s.receive(1_200, caller(), &packet(101, 3, 300, 6, &ev(3)), &mut keys);
        s.receive(1_300, nat, &packet(101, 4, 400, 5, &ev(4)), &mut keys);
        assert_eq!(
            keys,
            [('2', Via::Event), ('3', Via::Event)],
            "the declared one wins"
        );
    }

    #[test]
    fn recording_follows_the_clock_not_the_packets() {
        let mut s = Stream::new(media(), 1, 0);
        let mut keys = Vec::new();
        s.set_recording(true);
        let mut frame = [1i16; FRAME];
        // Nothing came: silence.
        s.recorded_frame(&mut frame);
        assert!(frame.iter().all(|x| *x == 0));
        // Five packets at once (a burst): only the last 60 ms are kept.
        for i in 0..5 {
            s.receive(
                0,
                caller(),
                &packet(0, i, u32::from(i) * 160, 9, &[0x80 + i as u8; FRAME]),
                &mut keys,
            );
        }
        s.recorded_frame(&mut frame);
        assert_eq!(frame[0], Law::Mu.decode(0x82));
        s.set_recording(false);
        s.receive(
            0,
            caller(),
            &packet(0, 6, 960, 9, &[0x80; FRAME]),
            &mut keys,
        );
        s.recorded_frame(&mut frame);
        assert!(frame.iter().all(|x| *x == 0));
    }
}
