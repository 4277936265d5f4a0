//! WAV files: prompts read into samples (8 kHz mono: 16-bit PCM, A-law or µ-law, also inside
//! WAVE_FORMAT_EXTENSIBLE — what `check` accepts), and recordings written as 16-bit PCM whose
//! header is made right when the recording ends (a recording cut by a crash still has its
//! samples; its sizes say "unknown", which players read to the end of the file).

use super::g711::Law;
use std::io::{Seek, SeekFrom, Write};

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// The samples of a WAV file's bytes, or why they cannot be played on a call.
pub fn samples(b: &[u8]) -> Result<Vec<i16>, String> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err("it does not start with a RIFF/WAVE header".into());
    }
    let mut format = None;
    let mut i = 12;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let size = u32_at(b, i + 4).unwrap_or(0) as usize;
        let data = i + 8;
        if id == b"fmt " {
            let tag = u16_at(b, data).ok_or("its format chunk is cut short")?;
            let channels = u16_at(b, data + 2).ok_or("its format chunk is cut short")?;
            let rate = u32_at(b, data + 4).ok_or("its format chunk is cut short")?;
            let bits = u16_at(b, data + 14).ok_or("its format chunk is cut short")?;
            let tag = if tag == 0xFFFE {
                u16_at(b, data + 24).ok_or("its extensible format chunk is cut short")?
            } else {
                tag
            };
            if rate != 8000 || channels != 1 {
                return Err(format!(
                    "it is {rate} Hz with {channels} channels, not 8 kHz mono"
                ));
            }
            format = Some(match (tag, bits) {
                (1, 16) => None,
                (6, 8) => Some(Law::A),
                (7, 8) => Some(Law::Mu),
                _ => {
                    return Err(format!(
                        "its format {tag} with {bits} bits is not PCM16, A-law or µ-law"
                    ));
                }
            });
        } else if id == b"data" {
            let law = format.ok_or("its data comes before its format")?;
            // A size of "unknown" (a recording cut short) or past the end: read to the end.
            let end = data.saturating_add(size).min(b.len());
            let audio = &b[data..end];
            let mut out = Vec::with_capacity(audio.len());
            match law {
                None => out.extend(
                    audio
                        .chunks_exact(2)
                        .map(|c| i16::from_le_bytes([c[0], c[1]])),
                ),
                Some(law) => law.decode_into(audio, &mut out),
            }
            return Ok(out);
        }
        i = data.saturating_add(size + (size & 1));
    }
    Err("it has no audio data".into())
}

/// A recording being written: 8 kHz mono 16-bit PCM.
pub struct Writer<W: Write + Seek> {
    out: W,
    samples: u32,
}

impl<W: Write + Seek> Writer<W> {
    /// Starts a file: the header, with sizes that say "unknown" until [`Writer::finish`].
    pub fn new(mut out: W) -> std::io::Result<Writer<W>> {
        out.write_all(&header(u32::MAX / 2))?;
        Ok(Writer { out, samples: 0 })
    }

    pub fn write(&mut self, samples: &[i16]) -> std::io::Result<()> {
        let mut b = [0u8; 640];
        for chunk in samples.chunks(320) {
            for (i, s) in chunk.iter().enumerate() {
                b[2 * i..2 * i + 2].copy_from_slice(&s.to_le_bytes());
            }
            self.out.write_all(&b[..2 * chunk.len()])?;
        }
        self.samples = self.samples.saturating_add(samples.len() as u32);
        Ok(())
    }

    /// How long the recording is so far, in milliseconds.
    pub fn ms(&self) -> u64 {
        u64::from(self.samples) / 8
    }

    /// Writes the real sizes into the header and hands the file back.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header(self.samples))?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn header(samples: u32) -> [u8; 44] {
    let data = samples.saturating_mul(2);
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data.saturating_add(36).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&1u16.to_le_bytes());
    h[24..28].copy_from_slice(&8000u32.to_le_bytes());
    h[28..32].copy_from_slice(&16000u32.to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_reads_back() {
        let mut w = Writer::new(std::io::Cursor::new(Vec::new())).unwrap();
        let audio: Vec<i16> = (0..8000).map(|i| (i * 7 % 2000 - 1000) as i16).collect();
        w.write(&audio).unwrap();
        assert_eq!(w.ms(), 1000);
        let bytes = w.finish().unwrap().into_inner();
        assert_eq!(bytes.len(), 44 + 16_000);
        assert_eq!(samples(&bytes).unwrap(), audio);
    }

    #[test]
    fn a_recording_cut_short_still_reads() {
        let mut w = Writer::new(std::io::Cursor::new(Vec::new())).unwrap();
        w.write(&[1, 2, 3]).unwrap();
        // No finish: the header says "unknown".
        let bytes = w.out.into_inner();
        assert_eq!(samples(&bytes).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn g711_files_decode_and_bad_files_say_why() {
        let mut b = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x07\0\x01\0\x40\x1f\0\0\x40\x1f\0\0\x01\0\x08\0data\x02\0\0\0".to_vec();
        b.extend_from_slice(&[0xff, 0x00]);
        assert_eq!(samples(&b).unwrap(), [0, -32124]);
        b[20] = 1; // PCM with 8 bits
        assert!(samples(&b).unwrap_err().contains("format 1 with 8 bits"));
        assert!(samples(b"RIFF").is_err());
        assert!(samples(b"RIFF\0\0\0\0WAVEdata\x04\0\0\0abcd").is_err());
    }

    #[test]
    fn the_example_prompts_all_read() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/prompts");
        let mut n = 0;
        for sub in ["", "de", "en", "music"] {
            for e in std::fs::read_dir(dir.join(sub)).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "wav") {
                    let s = samples(&std::fs::read(&p).unwrap()).unwrap();
                    assert!(s.len() > 4000, "{}", p.display());
                    n += 1;
                }
            }
        }
        assert!(n > 20);
    }
}
