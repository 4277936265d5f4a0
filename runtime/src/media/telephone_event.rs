//! Keys from RFC 4733 telephone-events: one digit per key press, however many packets carry it.
//! A press is one event: every packet of it has the same RTP timestamp (the press's start), a
//! duration that grows, and three redundant end packets. The digit is reported once, when the
//! press has lasted [`MIN_DURATION`] (or has ended); retransmitted starts of a press already
//! heard, its redundant ends and the segments of a very long press (RFC 4733 §2.5.1.3: new
//! timestamps, no end bit between) never count again. Sequence numbers are not relied on, and
//! a new SSRC is simply a new sender.

/// How long a press must last to count: 40 ms at 8 kHz (ITU-T Q.24's shortest key).
pub const MIN_DURATION: u32 = 320;

/// The key of an event code (0-9, `*`, `#`, A-D); other events (flash, tones) are not keys.
pub fn key(event: u8) -> Option<char> {
    Some(match event {
        0..=9 => char::from(b'0' + event),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + event - 12),
        _ => return None,
    })
}

#[derive(Clone, Copy, Debug)]
struct Press {
    ssrc: u32,
    timestamp: u32,
    event: u8,
    /// Its latest duration (timestamp units).
    duration: u32,
    reported: bool,
    ended: bool,
}

/// Reads one sender's telephone-event packets into key presses.
#[derive(Debug, Default)]
pub struct Receiver {
    press: Option<Press>,
    /// Presses heard before the current one (ssrc, timestamp): their late packets are ignored.
    past: [(u32, u32); 4],
    next_past: usize,
}

impl Receiver {
    /// Takes one telephone-event packet (its SSRC, timestamp and payload); returns the key
    /// when this packet completes a press that was not reported yet.
    pub fn packet(&mut self, ssrc: u32, timestamp: u32, payload: &[u8]) -> Option<char> {
        let [event, flags, d0, d1, ..] = *payload else {
            return None;
        };
        let ended = flags & 0x80 != 0;
        let duration = u32::from(u16::from_be_bytes([d0, d1]));
        let same = |p: &Press| p.ssrc == ssrc && p.timestamp == timestamp;
        match &mut self.press {
            Some(p) if same(p) => {
                p.duration = p.duration.max(duration);
                p.ended |= ended;
            }
            _ if self.past.contains(&(ssrc, timestamp)) && timestamp != 0 => return None,
            Some(p)
                if p.ssrc == ssrc
                    && p.event == event
                    && !p.ended
                    && timestamp.wrapping_sub(p.timestamp) > 0
                    && timestamp.wrapping_sub(p.timestamp) <= p.duration + 8_000 =>
            {
                // The next segment of a long press (or a press whose end packets were lost,
                // followed closely by the same key: counted once, as a PBX would hear it).
                let old = (p.ssrc, p.timestamp);
                p.timestamp = timestamp;
                p.duration = duration;
                p.ended = ended;
                self.remember(old);
            }
            _ => {
                if let Some(p) = self.press {
                    self.remember((p.ssrc, p.timestamp));
                }
                self.press = Some(Press {
                    ssrc,
                    timestamp,
                    event,
                    duration,
                    reported: false,
                    ended,
                });
            }
        }
        let p = self.press.as_mut()?;
        if p.reported || (p.duration < MIN_DURATION && !(p.ended && p.duration > 0)) {
            return None;
        }
        p.reported = true;
        key(p.event)
    }

    fn remember(&mut self, press: (u32, u32)) {
        self.past[self.next_past] = press;
        self.next_past = (self.next_past + 1) % self.past.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [event, if end { 0x8a } else { 0x0a }, d[0], d[1]]
    }

    /// A press as phones send it: progress packets every 20 ms, then three end packets.
    fn press(r: &mut Receiver, ssrc: u32, ts: u32, event: u8, ms: u16) -> String {
        let mut keys = String::new();
        let mut d = 0;
        while d < ms * 8 {
            keys.extend(r.packet(ssrc, ts, &payload(event, false, d)));
            d += 160;
        }
        for _ in 0..3 {
            keys.extend(r.packet(ssrc, ts, &payload(event, true, ms * 8)));
        }
        keys
    }

    #[test]
    fn one_digit_per_press_despite_redundant_ends() {
        let mut r = Receiver::default();
        assert_eq!(press(&mut r, 1, 1000, 5, 100), "5");
        assert_eq!(press(&mut r, 1, 3000, 5, 100), "5");
        assert_eq!(press(&mut r, 1, 5000, 11, 100), "#");
        assert_eq!(press(&mut r, 1, 7000, 10, 100), "*");
    }

    #[test]
    fn retransmitted_starts_and_late_ends_do_not_count_again() {
        let mut r = Receiver::default();
        assert_eq!(press(&mut r, 1, 1000, 1, 100), "1");
        assert_eq!(press(&mut r, 1, 3000, 2, 100), "2");
        // A late copy of the first press's start and end.
        assert_eq!(r.packet(1, 1000, &payload(1, false, 400)), None);
        assert_eq!(r.packet(1, 1000, &payload(1, true, 800)), None);
    }

    #[test]
    fn a_new_ssrc_or_sequence_is_a_new_sender_not_a_lost_key() {
        let mut r = Receiver::default();
        assert_eq!(press(&mut r, 1, 1000, 3, 100), "3");
        // Same timestamp, other SSRC (a re-INVITE changed the sender): a new press.
        assert_eq!(press(&mut r, 2, 1000, 3, 100), "3");
    }

    #[test]
    fn too_short_presses_and_non_keys_are_not_keys() {
        let mut r = Receiver::default();
        // 20 ms in progress, never ended: not yet a key.
        assert_eq!(r.packet(1, 100, &payload(4, false, 160)), None);
        // An event code that is no key (16: flash) is never reported.
        assert_eq!(press(&mut r, 1, 9000, 16, 200), "");
        // A cut-short payload.
        assert_eq!(r.packet(1, 9000, &[4, 0x8a]), None);
        // Only the end packets of a press arrived: still one key.
        assert_eq!(r.packet(1, 20_000, &payload(7, true, 800)), Some('7'));
        assert_eq!(r.packet(1, 20_000, &payload(7, true, 800)), None);
    }

    #[test]
    fn a_long_press_in_segments_is_one_key() {
        let mut r = Receiver::default();
        // RFC 4733 §2.5.1.3: a press longer than the 16-bit duration goes on with new
        // timestamps; only the last segment ends.
        let mut keys = String::new();
        for seg in 0..3u32 {
            let ts = 1000 + seg * 65_535;
            let mut d = 0u32;
            while d < 65_535 {
                keys.extend(r.packet(1, ts, &payload(9, false, d as u16)));
                d += 160;
            }
        }
        keys.extend(r.packet(1, 1000 + 3 * 65_535, &payload(9, true, 800)));
        assert_eq!(keys, "9");
    }
}
