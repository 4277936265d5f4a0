//! Relaying RTP between the two legs of a bridged call: a packet one side sent, as the other
//! side agreed to receive it. Sequence numbers, timestamps and SSRC pass through (each sender
//! stays one source to its receiver); audio changes law where the legs agreed on different
//! ones; telephone-events take the receiver's payload type, or are dropped when it has none
//! (the keys were heard on the way in all the same).

use super::g711::Law;
use super::rtp;
use super::sdp::Media;
use super::stream::Heard;

/// Writes into `out` what goes to the side agreed as `to`, for a packet `from` sent and the
/// stream heard as `heard`; false when nothing goes.
pub fn packet(bytes: &[u8], heard: Heard, to: &Media, out: &mut Vec<u8>) -> bool {
    let Some(p) = rtp::parse(bytes) else {
        return false;
    };
    let pt = match heard {
        Heard::Nothing => return false,
        Heard::Event => match to.events {
            Some(pt) => pt,
            None => return false,
        },
        Heard::Audio(_) => to.law.payload_type(),
    };
    rtp::write_header(out, p.marker, pt, p.sequence, p.timestamp, p.ssrc);
    match heard {
        Heard::Audio(law) if law != to.law => {
            out.extend(p.payload.iter().map(|&b| convert(law, to.law, b)))
        }
        _ => out.extend_from_slice(p.payload),
    }
    true
}

/// One G.711 byte in the other law (through linear PCM: exact for every byte the encoder
/// can produce).
fn convert(from: Law, to: Law, b: u8) -> u8 {
    to.encode(from.decode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(law: Law, events: Option<u8>) -> Media {
        let pt = law.payload_type();
        let ev = events.map_or(String::new(), |e| {
            format!(" {e}\r\na=rtpmap:{e} telephone-event/8000")
        });
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP {pt}{ev}\r\n"
        );
        crate::media::sdp::negotiate(sdp.as_bytes()).unwrap()
    }

    fn rtp_packet(pt: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        rtp::write_header(&mut v, true, pt, 7, 160, 0xabcd);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn audio_passes_with_its_numbers_and_changes_law_where_needed() {
        let mu = Law::Mu.encode(1000);
        let p = rtp_packet(0, &[mu; 160]);
        let mut out = Vec::new();
        assert!(packet(
            &p,
            Heard::Audio(Law::Mu),
            &media(Law::Mu, None),
            &mut out
        ));
        assert_eq!(out, p, "same law: the packet unchanged");
        assert!(packet(
            &p,
            Heard::Audio(Law::Mu),
            &media(Law::A, None),
            &mut out
        ));
        let q = rtp::parse(&out).unwrap();
        assert_eq!(
            (q.payload_type, q.sequence, q.timestamp, q.ssrc, q.marker),
            (8, 7, 160, 0xabcd, true)
        );
        assert!((Law::A.decode(q.payload[0]) - 1000).abs() < 40);
    }

    #[test]
    fn events_take_the_receivers_payload_type_or_stay_behind() {
        let p = rtp_packet(101, &[1, 0x80, 0, 160]);
        let mut out = Vec::new();
        assert!(packet(
            &p,
            Heard::Event,
            &media(Law::Mu, Some(96)),
            &mut out
        ));
        assert_eq!(rtp::parse(&out).unwrap().payload_type, 96);
        assert!(!packet(&p, Heard::Event, &media(Law::Mu, None), &mut out));
        assert!(!packet(
            &p,
            Heard::Nothing,
            &media(Law::Mu, Some(96)),
            &mut out
        ));
    }
}
