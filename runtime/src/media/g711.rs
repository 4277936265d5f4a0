//! ITU-T G.711, the two telephone codecs: µ-law (PCMU, RTP payload type 0) and A-law (PCMA, RTP
//! payload type 8). Each maps one 16-bit linear sample to one byte and back, at 8000 samples a
//! second.
//!
//! Encoding follows the ITU-T G.191 reference coder (`g711.c`): a negative sample is folded onto
//! the magnitude scale by one's complement (`!x`, so -1 is magnitude 0 and -32768 is 32767), which
//! makes the coder exactly symmetric about zero; magnitudes beyond the top segment clip to it.
//! Decoding returns the middle of each code's quantisation interval, read from a 256-entry table
//! that `const fn`s build at compile time.
//!
//! Invariants, all checked by the tests:
//! - `decode` is monotonic: ordering codes by sign and magnitude orders their samples.
//! - `encode(decode(b)) == b` for all 256 A-law bytes, and for every µ-law byte but one: µ-law
//!   has two zeros, 0xFF (+0) and 0x7F (-0); both decode to 0, and 0 encodes to 0xFF, so 0x7F
//!   comes back as 0xFF. (The encoder never produces 0x7F except for the samples -1 to -4,
//!   which G.191 also maps there.) A-law has no zero code: its two smallest codes decode to
//!   +8 and -8.
//! - `decode(encode(x))` is within 1/16 of `x`, or within 16 units of it near zero; only samples
//!   beyond the top of the scale (about ±32 124 for µ-law, ±32 256 for A-law) clip further.
//! - `silence` is `encode(0)`: 0xFF for µ-law, 0xD5 for A-law.

/// The two G.711 laws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law (PCMU, RTP payload type 0): North America and Japan.
    Mu,
    /// A-law (PCMA, RTP payload type 8): Europe and most of the rest of the world.
    A,
}

/// µ-law's bias: 33 in G.191's 14-bit scale, 132 in 16-bit samples.
const MU_BIAS: i32 = 0x84;

/// The µ-law sample of every byte, by `mu_table`.
const MU_DECODE: [i16; 256] = mu_table();

/// The A-law sample of every byte, by `a_table`.
const A_DECODE: [i16; 256] = a_table();

/// G.191's µ-law expansion, for every byte: complement the byte; bits 6-4 are the segment
/// (exponent), bits 3-0 the mantissa, and bit 7 (after complementing) set means negative.
const fn mu_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        let code = !(i as u8);
        let exponent = (code >> 4) & 0x07;
        let mantissa = (code & 0x0F) as i32;
        let magnitude = (((mantissa << 3) + MU_BIAS) << exponent) - MU_BIAS;
        let sample = if code & 0x80 != 0 {
            -magnitude
        } else {
            magnitude
        };
        table[i] = sample as i16;
        i += 1;
    }
    table
}

/// G.191's A-law expansion, for every byte: undo the even-bit inversion (XOR 0x55); bits 6-4 are
/// the segment, bits 3-0 the mantissa (with an implied leading 1 above segment 0), and bit 7 set
/// means positive.
const fn a_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        let code = (i as u8) ^ 0x55;
        let exponent = (code >> 4) & 0x07;
        let mut magnitude = (((code & 0x0F) as i32) << 4) + 8;
        if exponent > 0 {
            magnitude += 0x100;
        }
        if exponent > 1 {
            magnitude <<= exponent - 1;
        }
        let sample = if code & 0x80 != 0 {
            magnitude
        } else {
            -magnitude
        };
        table[i] = sample as i16;
        i += 1;
    }
    table
}

/// The magnitude G.191 codes for `sample`: its one's complement if negative, so that -1
/// becomes 0 and -32768 becomes 32767.
fn folded(sample: i16) -> u32 {
    let folded = if sample < 0 { !sample } else { sample };
    u32::from(folded.unsigned_abs())
}

/// The bit length of `value` (0 for 0).
fn bit_length(value: u32) -> u32 {
    u32::BITS - value.leading_zeros()
}

impl Law {
    /// The law's static RTP payload type (RFC 3551): 0 for µ-law (PCMU), 8 for A-law (PCMA).
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Mu => 0,
            Law::A => 8,
        }
    }

    /// The law of a static RTP payload type: `Some` for 0 and 8, `None` for every other type.
    pub fn from_payload_type(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Mu),
            8 => Some(Law::A),
            _ => None,
        }
    }

    /// Encodes one 16-bit linear sample, exactly as the ITU-T G.191 reference encoder does
    /// (it takes the sample's top 14 bits for µ-law and top 13 bits for A-law).
    pub fn encode(self, sample: i16) -> u8 {
        let magnitude = folded(sample);
        let sign = if sample >= 0 { 0x80 } else { 0x00 };
        let code = match self {
            Law::Mu => {
                // 33..=8191 in G.191's 14-bit scale, biased so that each segment starts at a
                // power of two: segment `e` holds 64 << e ..= (128 << e) - 1.
                let biased = ((magnitude >> 2) + 33).min(0x1FFF);
                let exponent = bit_length(biased >> 6);
                let mantissa = (biased >> (exponent + 1)) & 0x0F;
                // µ-law sends the complement of segment and mantissa.
                (0x7F ^ ((exponent << 4) | mantissa)) | sign
            }
            Law::A => {
                // 0..=2047 in G.191's 12-bit magnitude scale; segment 0 (below 32) is linear.
                let scaled = magnitude >> 4;
                let exponent = bit_length(scaled).saturating_sub(4);
                let mantissa = if exponent == 0 {
                    scaled
                } else {
                    (scaled >> (exponent - 1)) & 0x0F
                };
                // A-law inverts the even bits.
                ((exponent << 4) | mantissa | sign) ^ 0x55
            }
        };
        // `code` is at most 0xFF by construction: a 3-bit exponent, a 4-bit mantissa, a sign.
        code as u8
    }

    /// Decodes one byte to a 16-bit linear sample: the middle of the byte's quantisation
    /// interval, from a table built at compile time.
    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Law::Mu => MU_DECODE[usize::from(byte)],
            Law::A => A_DECODE[usize::from(byte)],
        }
    }

    /// The byte that encodes silence (a zero sample): 0xFF for µ-law, 0xD5 for A-law.
    pub fn silence(self) -> u8 {
        match self {
            Law::Mu => 0xFF,
            Law::A => 0xD5,
        }
    }

    /// Encodes `samples`, appending one byte per sample to `out`.
    pub fn encode_into(self, samples: &[i16], out: &mut Vec<u8>) {
        out.extend(samples.iter().map(|&sample| self.encode(sample)));
    }

    /// Decodes `bytes`, appending one sample per byte to `out`.
    pub fn decode_into(self, bytes: &[u8], out: &mut Vec<i16>) {
        let table = match self {
            Law::Mu => &MU_DECODE,
            Law::A => &A_DECODE,
        };
        out.extend(bytes.iter().map(|&byte| table[usize::from(byte)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte of `law`, ordered from the most negative sample to the most positive by the
    /// code's own sign and magnitude bits (not by the samples they decode to).
    fn sign_magnitude_order(law: Law) -> Vec<u8> {
        match law {
            // µ-law: 0x00 is the most negative, 0x7F is -0, 0xFF is +0, 0x80 the most positive.
            Law::Mu => (0x00..=0x7F).chain((0x80..=0xFF).rev()).collect(),
            // A-law, after undoing the XOR with 0x55: 0x7F is the most negative, 0x00 the
            // smallest negative, 0x80 the smallest positive, 0xFF the most positive.
            Law::A => (0x00..=0x7Fu8)
                .rev()
                .chain(0x80..=0xFF)
                .map(|code| code ^ 0x55)
                .collect(),
        }
    }

    #[test]
    fn payload_types_and_silence() {
        assert_eq!(Law::Mu.payload_type(), 0);
        assert_eq!(Law::A.payload_type(), 8);
        assert_eq!(Law::from_payload_type(0), Some(Law::Mu));
        assert_eq!(Law::from_payload_type(8), Some(Law::A));
        for pt in (1..=7).chain(9..=255) {
            assert_eq!(Law::from_payload_type(pt), None, "payload type {pt}");
        }
        for law in [Law::Mu, Law::A] {
            assert_eq!(law.silence(), law.encode(0));
            assert_eq!(
                law.decode(law.silence()).abs(),
                if law == Law::Mu { 0 } else { 8 }
            );
        }
        assert_eq!(Law::Mu.silence(), 0xFF);
        assert_eq!(Law::A.silence(), 0xD5);
    }

    #[test]
    fn mu_law_reference_values() {
        assert_eq!(Law::Mu.decode(0x00), -32124);
        assert_eq!(Law::Mu.decode(0x80), 32124);
        assert_eq!(Law::Mu.decode(0xFF), 0);
        assert_eq!(Law::Mu.decode(0x7F), 0);
        assert_eq!(Law::Mu.decode(0xFE), 8);
        assert_eq!(Law::Mu.decode(0x7E), -8);
        // The digital milliwatt (G.711 table 5): a 1 kHz sine at 0 dBm0.
        let dmw = [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E].map(|b| Law::Mu.decode(b));
        assert_eq!(
            dmw,
            [-8828, -20860, -20860, -8828, 8828, 20860, 20860, 8828]
        );
        assert_eq!(Law::Mu.encode(0), 0xFF);
        assert_eq!(Law::Mu.encode(3), 0xFF);
        assert_eq!(Law::Mu.encode(-1), 0x7F);
        assert_eq!(Law::Mu.encode(-4), 0x7F);
        assert_eq!(Law::Mu.encode(-5), 0x7E);
        assert_eq!(Law::Mu.encode(i16::MAX), 0x80);
        assert_eq!(Law::Mu.encode(i16::MIN), 0x00);
        assert_eq!(Law::Mu.encode(32124), 0x80);
        assert_eq!(Law::Mu.encode(-32124), 0x00);
    }

    #[test]
    fn a_law_reference_values() {
        assert_eq!(Law::A.decode(0xD5), 8);
        assert_eq!(Law::A.decode(0x55), -8);
        assert_eq!(Law::A.decode(0x2A), -32256);
        assert_eq!(Law::A.decode(0xAA), 32256);
        // The digital milliwatt (G.711 table 6).
        let dmw = [0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4].map(|b| Law::A.decode(b));
        assert_eq!(
            dmw,
            [-8960, -20992, -20992, -8960, 8960, 20992, 20992, 8960]
        );
        assert_eq!(Law::A.encode(0), 0xD5);
        assert_eq!(Law::A.encode(15), 0xD5);
        assert_eq!(Law::A.encode(-1), 0x55);
        assert_eq!(Law::A.encode(i16::MAX), 0xAA);
        assert_eq!(Law::A.encode(i16::MIN), 0x2A);
    }

    #[test]
    fn every_byte_survives_a_round_trip() {
        for byte in 0..=255u8 {
            assert_eq!(
                Law::A.encode(Law::A.decode(byte)),
                byte,
                "A-law {byte:#04x}"
            );
            // µ-law's -0 comes back as +0: the one code with no sample of its own.
            let expected = if byte == 0x7F { 0xFF } else { byte };
            assert_eq!(
                Law::Mu.encode(Law::Mu.decode(byte)),
                expected,
                "µ-law {byte:#04x}"
            );
        }
    }

    #[test]
    fn decode_is_monotonic_in_sign_magnitude_order() {
        for law in [Law::Mu, Law::A] {
            let order = sign_magnitude_order(law);
            assert_eq!(order.len(), 256);
            for pair in order.windows(2) {
                let (low, high) = (law.decode(pair[0]), law.decode(pair[1]));
                // Strictly increasing, but for µ-law's two zeros.
                let equal_zeros = law == Law::Mu && pair == [0x7F, 0xFF];
                assert!(
                    low < high || (equal_zeros && low == high),
                    "{law:?}: {:#04x} -> {low}, {:#04x} -> {high}",
                    pair[0],
                    pair[1]
                );
            }
        }
    }

    #[test]
    fn encoding_is_monotonic_symmetric_and_close() {
        for law in [Law::Mu, Law::A] {
            let mut previous = i16::MIN;
            for x in i16::MIN..=i16::MAX {
                let y = law.decode(law.encode(x));
                assert!(y >= previous, "{law:?}: {x} -> {y} after {previous}");
                previous = y;
                // One's complement folding makes the coder odd-symmetric: x and !x = -x - 1.
                assert_eq!(law.decode(law.encode(!x)), -y, "{law:?}: {x}");
                let (x, y) = (i32::from(x), i32::from(y));
                let limit = if law == Law::Mu { 32124 } else { 32256 };
                if x.abs() <= limit {
                    assert!(
                        (x - y).abs() <= (x.abs() / 16).max(16),
                        "{law:?}: {x} -> {y}"
                    );
                } else {
                    assert_eq!(y, limit * x.signum(), "{law:?}: {x} clips");
                }
            }
        }
    }

    #[test]
    fn slices_append() {
        let samples = [0, 1000, -1000, 32767, -32768];
        for law in [Law::Mu, Law::A] {
            let mut bytes = vec![0x42];
            law.encode_into(&samples, &mut bytes);
            assert_eq!(bytes.len(), 6);
            assert_eq!(bytes[0], 0x42);
            for (&sample, &byte) in samples.iter().zip(&bytes[1..]) {
                assert_eq!(byte, law.encode(sample));
            }
            let mut decoded = vec![7];
            law.decode_into(&bytes[1..], &mut decoded);
            assert_eq!(decoded.len(), 6);
            assert_eq!(decoded[0], 7);
            for (&byte, &sample) in bytes[1..].iter().zip(&decoded[1..]) {
                assert_eq!(sample, law.decode(byte));
            }
        }
    }
}
