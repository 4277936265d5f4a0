//! SDP offer/answer (RFC 3264) for telephone audio: PCMU, PCMA and telephone-events at 20 ms.
//! The caller's offer is read by `description` (one pass, no copies); the answer takes the first audio stream on
//! plain RTP/AVP with a codec we have, in the caller's order of preference, and refuses every
//! other stream with port 0 (each offered `m=` line gets one in the answer). No usable stream
//! is a [`Refusal`] (488 Not Acceptable Here). Where RTP goes comes from the offer's `c=` line
//! (RTP is latched to the first packets' source by the stream, see `stream`).

mod description;

use super::g711::Law;
use crate::sip::text::{push_decimal, push_ip};
use std::net::{IpAddr, SocketAddr};

/// What the two sides agreed for the audio stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// Where the caller wants RTP (from the offer; `None` while on hold with `c=0.0.0.0`).
    pub remote: Option<SocketAddr>,
    pub law: Law,
    /// The caller's payload type for telephone-events at 8 kHz, when offered.
    pub events: Option<u8>,
    /// Whether we send audio, and whether the caller does (their direction reversed).
    pub send: bool,
    pub receive: bool,
    /// The answer's `m=` lines: the index of the stream taken, and how many there were.
    taken: usize,
    streams: Vec<String>,
}

/// Why an offer cannot be answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not SDP at all.
    Malformed(String),
    /// No audio stream on RTP/AVP with PCMU or PCMA.
    NoCommonCodec,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Malformed(why) => write!(f, "the SDP offer cannot be read: {why}"),
            Refusal::NoCommonCodec => {
                f.write_str("no audio stream on RTP/AVP offers PCMU (0) or PCMA (8)")
            }
        }
    }
}

/// Reads the caller's offer and chooses what to answer.
pub fn negotiate(offer: &[u8]) -> Result<Media, Refusal> {
    let d = description::read(offer).map_err(Refusal::Malformed)?;
    let mut chosen = None;
    let mut streams = Vec::with_capacity(d.streams.len());
    for (i, m) in d.streams.iter().enumerate() {
        let candidate =
            chosen.is_none() && m.media == "audio" && m.proto == "RTP/AVP" && m.port != 0;
        let Some((law, events)) = candidate.then(|| codecs(m)).flatten() else {
            // Refused in the answer with port 0 (RFC 3264 §6).
            let mut line = String::with_capacity(m.media.len() + m.proto.len() + m.fmt.len() + 4);
            for part in [m.media, " 0 ", m.proto, " ", m.fmt] {
                line.push_str(part);
            }
            streams.push(line);
            continue;
        };
        // The one taken is written from what was agreed.
        streams.push(String::new());
        let address = m
            .connection
            .or(d.connection)
            .and_then(|a| a.parse::<IpAddr>().ok());
        let theirs = m.direction.or(d.direction).unwrap_or("sendrecv");
        let held = address.is_some_and(|a| a.is_unspecified());
        chosen = Some(Media {
            remote: address
                .filter(|a| !a.is_unspecified())
                .map(|a| SocketAddr::new(a, m.port)),
            law,
            events,
            send: !held && matches!(theirs, "sendrecv" | "recvonly"),
            receive: !held && matches!(theirs, "sendrecv" | "sendonly"),
            taken: i,
            streams: Vec::new(),
        });
    }
    let mut media = chosen.ok_or(Refusal::NoCommonCodec)?;
    media.streams = streams;
    Ok(media)
}

/// The first codec of ours in the stream's format list (the caller's order), and the
/// payload type of its telephone-events at 8 kHz.
fn codecs(m: &description::Stream) -> Option<(Law, Option<u8>)> {
    // The encodings by payload type, the first rtpmap of each: one pass over the stream's
    // lines, however many formats it lists.
    let mut names: [Option<&str>; 256] = [None; 256];
    for (pt, name) in m.rtpmaps() {
        names[usize::from(pt)].get_or_insert(name);
    }
    let name_of = |pt: u8| names[usize::from(pt)];
    let mut law = None;
    let mut events = None;
    for pt in m
        .fmt
        .split_ascii_whitespace()
        .filter_map(|f| f.parse::<u8>().ok())
    {
        let this = match name_of(pt) {
            Some(n) if is(n, "pcmu/8000") || is(n, "pcmu/8000/1") => Some(Law::Mu),
            Some(n) if is(n, "pcma/8000") || is(n, "pcma/8000/1") => Some(Law::A),
            Some(n) if begins(n, "telephone-event/8000") => {
                events = events.or(Some(pt));
                None
            }
            // Static payload types may come without an rtpmap.
            None => Law::from_payload_type(pt),
            Some(_) => None,
        };
        // Our answer uses the static payload type numbers; a dynamic number for G.711 is
        // mapped back to them (the packets we read carry the caller's number: see `stream`).
        if law.is_none() && this.is_some() && Law::from_payload_type(pt) == this {
            law = this;
        }
    }
    Some((law?, events))
}

/// Encoding names are compared case-insensitively (RFC 4855 §3).
fn is(name: &str, lower: &str) -> bool {
    name.eq_ignore_ascii_case(lower)
}

fn begins(name: &str, lower: &str) -> bool {
    name.as_bytes()
        .get(..lower.len())
        .is_some_and(|b| b.eq_ignore_ascii_case(lower.as_bytes()))
}

/// Our answer to a negotiated offer: our address and RTP port, the codec taken and the
/// telephone-events with the caller's payload type. `version` goes up with every answer in
/// the same dialog (RFC 3264 §8).
pub fn answer(media: &Media, ip: IpAddr, port: u16, session: u64, version: u64) -> String {
    let mut s = String::with_capacity(256);
    origin_and_connection(&mut s, ip, session, version);
    for (i, stream) in media.streams.iter().enumerate() {
        if i != media.taken {
            s.push_str("m=");
            s.push_str(stream);
            s.push_str("\r\n");
            continue;
        }
        audio_lines(
            &mut s,
            port,
            media.law,
            media.events,
            dir(media.send, media.receive),
        );
    }
    s
}

/// Our offer, for an INVITE (or re-INVITE) that came without one: PCMU, PCMA and
/// telephone-events (101), sending and receiving.
pub fn offer(ip: IpAddr, port: u16, session: u64, version: u64) -> String {
    offer_of(ip, port, (session, version), None)
}

/// Our offer with one law only (an agent's leg gets the caller's, so the bridge relays audio
/// as it comes), or both.
pub fn offer_of(ip: IpAddr, port: u16, (session, version): (u64, u64), law: Option<Law>) -> String {
    let formats = match law {
        Some(Law::Mu) => " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n",
        Some(Law::A) => " RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n",
        None => " RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n",
    };
    let mut s = String::with_capacity(256);
    origin_and_connection(&mut s, ip, session, version);
    s.push_str("m=audio ");
    push_decimal(&mut s, port.into());
    s.push_str(formats);
    s.push_str(
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
    );
    s
}

fn dir(send: bool, receive: bool) -> &'static str {
    match (send, receive) {
        (true, true) => "sendrecv",
        (true, false) => "sendonly",
        (false, true) => "recvonly",
        (false, false) => "inactive",
    }
}

/// `v=`, `o=`, `s=`, `c=` and `t=` of our descriptions (written by hand: see `sip::text`).
fn origin_and_connection(s: &mut String, ip: IpAddr, session: u64, version: u64) {
    let family = if ip.is_ipv6() { " IN IP6 " } else { " IN IP4 " };
    s.push_str("v=0\r\no=callflow ");
    push_decimal(s, session);
    s.push(' ');
    push_decimal(s, version);
    s.push_str(family);
    push_ip(s, ip);
    s.push_str("\r\ns=callflow\r\nc=");
    s.push_str(&family[1..]);
    push_ip(s, ip);
    s.push_str("\r\nt=0 0\r\n");
}

fn audio_lines(s: &mut String, port: u16, law: Law, events: Option<u8>, direction: &str) {
    let pt = law.payload_type().into();
    let name = match law {
        Law::Mu => " PCMU/8000\r\n",
        Law::A => " PCMA/8000\r\n",
    };
    s.push_str("m=audio ");
    push_decimal(s, port.into());
    s.push_str(" RTP/AVP ");
    push_decimal(s, pt);
    if let Some(ev) = events {
        s.push(' ');
        push_decimal(s, ev.into());
    }
    s.push_str("\r\na=rtpmap:");
    push_decimal(s, pt);
    s.push_str(name);
    if let Some(ev) = events {
        s.push_str("a=rtpmap:");
        push_decimal(s, ev.into());
        s.push_str(" telephone-event/8000\r\na=fmtp:");
        push_decimal(s, ev.into());
        s.push_str(" 0-15\r\n");
    }
    s.push_str("a=ptime:20\r\na=");
    s.push_str(direction);
    s.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer_of(m_lines: &str) -> Vec<u8> {
        format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n{m_lines}"
        )
        .into_bytes()
    }

    #[test]
    fn the_callers_first_common_codec_is_taken() {
        let m = negotiate(&offer_of(
            "m=audio 6000 RTP/AVP 18 8 0 96\r\na=rtpmap:18 G729/8000\r\na=rtpmap:96 telephone-event/8000\r\n",
        ))
        .unwrap();
        assert_eq!(m.law, Law::A);
        assert_eq!(m.events, Some(96));
        assert_eq!(m.remote, Some("127.0.0.1:6000".parse().unwrap()));
        assert!(m.send && m.receive);
        let a = answer(&m, "127.0.0.1".parse().unwrap(), 40_000, 7, 1);
        assert!(a.contains("m=audio 40000 RTP/AVP 8 96\r\n"), "{a}");
        assert!(a.contains("a=rtpmap:96 telephone-event/8000\r\n"), "{a}");
        // The answer reads back as SDP.
        assert!(sdp_types::Session::parse(a.as_bytes()).is_ok());
    }

    #[test]
    fn no_common_codec_is_refused() {
        let r = negotiate(&offer_of(
            "m=audio 6000 RTP/AVP 18 9\r\na=rtpmap:18 G729/8000\r\n",
        ));
        assert_eq!(r, Err(Refusal::NoCommonCodec));
        // Secure RTP and video alone are not ours either; garbage is not SDP.
        assert_eq!(
            negotiate(&offer_of("m=audio 6000 RTP/SAVP 0\r\n")),
            Err(Refusal::NoCommonCodec)
        );
        assert_eq!(
            negotiate(&offer_of("m=video 6000 RTP/AVP 31\r\n")),
            Err(Refusal::NoCommonCodec)
        );
        assert!(matches!(negotiate(b"hello"), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn other_streams_are_refused_in_place() {
        let m = negotiate(&offer_of(
            "m=video 5000 RTP/AVP 31\r\nm=audio 6000 RTP/AVP 0\r\nc=IN IP4 127.0.0.2\r\n",
        ))
        .unwrap();
        assert_eq!(m.remote, Some("127.0.0.2:6000".parse().unwrap()));
        assert_eq!(m.events, None);
        let a = answer(&m, "127.0.0.1".parse().unwrap(), 40_002, 7, 1);
        let lines: Vec<&str> = a.lines().filter(|l| l.starts_with("m=")).collect();
        assert_eq!(lines, ["m=video 0 RTP/AVP 31", "m=audio 40002 RTP/AVP 0"]);
    }

    #[test]
    fn hold_is_honoured() {
        let m = negotiate(&offer_of("m=audio 6000 RTP/AVP 0\r\na=sendonly\r\n")).unwrap();
        assert!(!m.send && m.receive);
        assert!(answer(&m, "::1".parse().unwrap(), 40_000, 1, 2).contains("a=recvonly"));
        let m = negotiate(
            b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n",
        )
        .unwrap();
        assert_eq!(m.remote, None);
        assert!(!m.send && !m.receive);
        let m = negotiate(&offer_of("m=audio 6000 RTP/AVP 0\r\na=inactive\r\n")).unwrap();
        assert!(!m.send && !m.receive);
    }

    #[test]
    fn our_offer_reads_back_and_negotiates() {
        let o = offer("127.0.0.1".parse().unwrap(), 40_000, 9, 1);
        let m = negotiate(o.as_bytes()).unwrap();
        assert_eq!((m.law, m.events), (Law::Mu, Some(101)));
    }
}
