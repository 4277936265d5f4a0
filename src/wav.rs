//! Reads the header of a WAV file into the facts the checker wants (rate, channels, format)
//! and its length (for the simulated clock). Handles PCM, A-law, µ-law and
//! WAVE_FORMAT_EXTENSIBLE; never reads the audio itself.

use callflow_compiler::check::MediaFact;
use std::io::Read;
use std::path::Path;

/// What is at `path`: missing, unreadable, not a WAV file, or a WAV file's format.
pub fn probe(path: &Path) -> MediaFact {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return MediaFact::Missing,
        Err(e) => return MediaFact::Unreadable(e.to_string()),
    };
    let mut head = Vec::with_capacity(4096);
    if let Err(e) = (&mut f).take(4096).read_to_end(&mut head) {
        return MediaFact::Unreadable(e.to_string());
    }
    header(&head)
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// Parses the start of a file (the first few KB are enough for the `fmt ` chunk).
pub fn header(b: &[u8]) -> MediaFact {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return MediaFact::NotWav("it does not start with a RIFF/WAVE header".into());
    }
    let mut i = 12;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let Some(size) = u32_at(b, i + 4) else { break };
        let data = i + 8;
        if id == b"fmt " {
            let (Some(mut format), Some(channels), Some(sample_rate), Some(bits)) = (
                u16_at(b, data),
                u16_at(b, data + 2),
                u32_at(b, data + 4),
                u16_at(b, data + 14),
            ) else {
                return MediaFact::NotWav("its format chunk is cut short".into());
            };
            if format == 0xFFFE {
                match u16_at(b, data + 24) {
                    Some(sub) => format = sub,
                    None => {
                        return MediaFact::NotWav(
                            "its extensible format chunk is cut short".into(),
                        );
                    }
                }
            }
            return MediaFact::Wav {
                sample_rate,
                channels,
                bits,
                format,
            };
        }
        // Chunks are padded to an even size.
        i = data.saturating_add(size as usize + (size as usize & 1));
    }
    MediaFact::NotWav("it has no format chunk in its first 4 KB".into())
}

/// How long the WAV file at `path` plays, in milliseconds (`None`: not a readable WAV file).
pub fn length_ms(path: &Path) -> Option<u64> {
    let mut f = std::fs::File::open(path).ok()?;
    let size = f.metadata().ok()?.len();
    let mut head = Vec::with_capacity(4096);
    (&mut f).take(4096).read_to_end(&mut head).ok()?;
    length_of(&head, size)
}

/// The length from a file's first bytes and its size: the `data` chunk's size (or, when it
/// says "unknown", the rest of the file) over the format's bytes per second.
fn length_of(b: &[u8], file_size: u64) -> Option<u64> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return None;
    }
    let mut byte_rate = None;
    let mut i = 12;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let size = u32_at(b, i + 4)?;
        let data = i + 8;
        if id == b"fmt " {
            byte_rate = u32_at(b, data + 8).filter(|r| *r > 0);
        } else if id == b"data" {
            let bytes = if size == u32::MAX {
                file_size.saturating_sub(data as u64)
            } else {
                u64::from(size).min(file_size.saturating_sub(data as u64))
            };
            return Some(bytes * 1000 / u64::from(byte_rate?));
        }
        i = data.saturating_add(size as usize + (size as usize & 1));
    }
    None
}

/// The length of every prompt file of `program` that can be read, by its path as written in
/// the program (for `Scenario::prompt_ms`).
pub fn prompt_lengths(
    program: &callflow_compiler::bytecode::Program,
) -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    for p in &program.prompts {
        for (_, f) in &p.files {
            let file = program.str(*f);
            if out.contains_key(file) {
                continue;
            }
            if let Some(ms) = length_ms(Path::new(file)) {
                out.insert(file.to_string(), ms);
            }
        }
    }
    out
}

/// The audio of every prompt file of `program` that can be played, decoded once and shared
/// by every call (files `check` would refuse are left out: they play as silence), and the
/// `say` pack beside each folder of prompts (`say/`, its words' language from the folder's
/// name — `de`, `en` — or from `say/LANGUAGE`, else English).
/// The feature codes' confirmation (a short beep), where the built-in feature program
/// (`serve::FEATURES`) looks for it.
pub const FEATURE_DONE: &str = "builtin/prompts/feature-code-done.wav";

pub fn prompts(
    program: &callflow_compiler::bytecode::Program,
) -> callflow_runtime::server::uas::Prompts {
    use callflow_runtime::media::{stream::Prompt, wav};
    use std::sync::Arc;
    let decode = |path: &Path| -> Option<Arc<Prompt>> {
        let b = std::fs::read(path).ok()?;
        Some(Arc::new(Prompt::new(&wav::samples(&b).ok()?)))
    };
    let mut lib = callflow_runtime::server::uas::Library::default();
    lib.files.insert(
        FEATURE_DONE.to_string(),
        Arc::new(Prompt::cadence(880.0, 150, 400)),
    );
    for p in &program.prompts {
        for (_, f) in &p.files {
            let file = program.str(*f);
            if lib.files.contains_key(file) {
                continue;
            }
            if let Some(audio) = decode(Path::new(file)) {
                lib.files.insert(file.to_string(), audio);
            }
            let Some(dir) = Path::new(file).parent() else {
                continue;
            };
            let Some(key) = dir.to_str() else { continue };
            if lib.say.contains_key(key) {
                continue;
            }
            let pack = dir.join("say");
            let Ok(entries) = std::fs::read_dir(&pack) else {
                continue;
            };
            let language = std::fs::read_to_string(pack.join("LANGUAGE"))
                .map(|l| l.trim().to_string())
                .unwrap_or_else(|_| match dir.file_name().and_then(|n| n.to_str()) {
                    Some(n @ ("de" | "en")) => n.to_string(),
                    _ => "en".to_string(),
                });
            let pack_key = format!("{key}/say");
            for e in entries.flatten() {
                let path = e.path();
                let (Some("wav"), Some(word)) = (
                    path.extension().and_then(|x| x.to_str()),
                    path.file_stem().and_then(|x| x.to_str()),
                ) else {
                    continue;
                };
                if let Some(audio) = decode(&path) {
                    lib.files.insert(format!("{pack_key}/{word}.wav"), audio);
                }
            }
            lib.say.insert(key.to_string(), (pack_key, language));
        }
    }
    Arc::new(lib)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn wav(rate: u32, channels: u16, bits: u16, format: u16) -> Vec<u8> {
        let mut v = b"RIFF\0\0\0\0WAVE".to_vec();
        v.extend(b"LIST\x04\0\0\0abcd");
        v.extend(b"fmt \x10\0\0\0");
        v.extend(format.to_le_bytes());
        v.extend(channels.to_le_bytes());
        v.extend(rate.to_le_bytes());
        v.extend((rate * u32::from(channels) * u32::from(bits) / 8).to_le_bytes());
        v.extend((channels * bits / 8).to_le_bytes());
        v.extend(bits.to_le_bytes());
        v.extend(b"data\0\0\0\0");
        v
    }

    #[test]
    fn reads_formats() {
        assert!(header(&wav(8000, 1, 16, 1)).playable());
        assert!(header(&wav(8000, 1, 8, 7)).playable());
        assert!(!header(&wav(44100, 2, 16, 1)).playable());
        assert_eq!(
            header(&wav(16000, 1, 16, 1)),
            MediaFact::Wav {
                sample_rate: 16000,
                channels: 1,
                bits: 16,
                format: 1
            }
        );
        assert!(matches!(header(b"ID3\x03 mp3 data"), MediaFact::NotWav(_)));
        assert!(matches!(
            header(&wav(8000, 1, 16, 1)[..30]),
            MediaFact::NotWav(_)
        ));
        assert!(matches!(header(b""), MediaFact::NotWav(_)));
    }

    #[test]
    fn length_from_the_data_chunk_and_the_byte_rate() {
        // 8 kHz mono 16-bit: 16,000 bytes per second; 24,000 bytes of audio: 1.5 s.
        let mut b = wav(8000, 1, 16, 1);
        b.truncate(b.len() - 8); // its empty data chunk
        b.extend_from_slice(b"data");
        b.extend_from_slice(&24_000u32.to_le_bytes());
        let size = b.len() as u64 + 24_000;
        assert_eq!(length_of(&b, size), Some(1500));
        // A data chunk longer than the file (cut short): what is there.
        assert_eq!(length_of(&b, size - 8_000), Some(1000));
        assert_eq!(length_of(b"RIFF....WAVE", 12), None);
    }
}
