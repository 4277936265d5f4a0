//! RTP packets (RFC 3550): the fixed header read with every check a hostile packet needs
//! (version, padding, CSRCs and extension within the packet), and written for what we send.
//! Parsing never panics and never allocates.

/// The fixed header's length.
pub const HEADER: usize = 12;

/// A received RTP packet, borrowing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

/// Reads an RTP packet; `None` for anything that is not one (RTCP included: its packet types
/// 200-204 sit where RTP has the marker bit and payload types 72-76, which RFC 5761 reserves).
pub fn parse(b: &[u8]) -> Option<Packet<'_>> {
    if b.len() < HEADER || b[0] >> 6 != 2 {
        return None;
    }
    let payload_type = b[1] & 0x7f;
    if (72..=76).contains(&payload_type) {
        return None;
    }
    let csrcs = usize::from(b[0] & 0x0f);
    let mut start = HEADER + 4 * csrcs;
    if b[0] & 0x10 != 0 {
        // Header extension: 16-bit profile, 16-bit length in 32-bit words.
        let words = b.get(start + 2..start + 4)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    let mut end = b.len();
    if b[0] & 0x20 != 0 {
        // Padding: the last byte counts the padding bytes, itself included.
        let pad = usize::from(*b.last()?);
        if pad == 0 || pad > end - start.min(end) {
            return None;
        }
        end -= pad;
    }
    let payload = b.get(start..end)?;
    Some(Packet {
        marker: b[1] & 0x80 != 0,
        payload_type,
        sequence: u16::from_be_bytes([b[2], b[3]]),
        timestamp: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        payload,
    })
}

/// Writes a packet's fixed header (no CSRCs, no extension, no padding) into `out`, which is
/// cleared first; the caller appends the payload.
pub fn write_header(
    out: &mut Vec<u8>,
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
) {
    out.clear();
    out.push(0x80);
    out.push(payload_type & 0x7f | if marker { 0x80 } else { 0 });
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(first: u8, second: u8, rest: &[u8]) -> Vec<u8> {
        let mut b = vec![first, second, 0, 7, 0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef];
        b.extend_from_slice(rest);
        b
    }

    #[test]
    fn a_written_header_reads_back() {
        let mut b = Vec::new();
        write_header(&mut b, true, 101, 65535, 4_000_000_000, 42);
        b.extend_from_slice(&[1, 2, 3]);
        let p = parse(&b).unwrap();
        assert_eq!(
            p,
            Packet {
                marker: true,
                payload_type: 101,
                sequence: 65535,
                timestamp: 4_000_000_000,
                ssrc: 42,
                payload: &[1, 2, 3],
            }
        );
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        // 1 CSRC, an extension of 1 word, 2 bytes of padding.
        let rest = [9, 9, 9, 9, 0xbe, 0xde, 0, 1, 5, 5, 5, 5, 0xaa, 0xbb, 0, 2];
        let b = packet(0x80 | 0x20 | 0x10 | 1, 0, &rest);
        assert_eq!(parse(&b).unwrap().payload, &[0xaa, 0xbb]);
        // Padding longer than what is there, an extension running past the end, CSRCs past
        // the end, version 1, a short packet, RTCP, zero padding: none is a packet.
        assert_eq!(parse(&packet(0xa0, 0, &[200])), None);
        assert_eq!(parse(&packet(0x90, 0, &[0, 0, 0, 9])), None);
        assert_eq!(parse(&packet(0x8f, 0, &[])), None);
        assert_eq!(parse(&packet(0x40, 0, &[1])), None);
        assert_eq!(parse(&[0x80, 0, 1]), None);
        assert_eq!(parse(&packet(0x80, 200, &[0; 8])), None);
        assert_eq!(parse(&packet(0xa0, 0, &[0])), None);
    }

    #[test]
    fn no_input_panics() {
        // Every short prefix of every header shape, and random bytes.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..64 {
            for _ in 0..2_000 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect();
                let _ = parse(&b);
            }
        }
    }
}
