//! The media building blocks on real audio: no false keys on the example flows' prompts and
//! hold music (as they reach us through G.711), and keys sent as tones between them heard once.

use callflow_runtime::media::g711::Law;
use callflow_runtime::media::{inband, wav};
use std::path::{Path, PathBuf};

fn example_audio() -> Vec<(PathBuf, Vec<i16>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/prompts");
    let mut out = Vec::new();
    for sub in ["", "de", "en", "music"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "wav") {
                let s = wav::samples(&std::fs::read(&p).unwrap()).unwrap();
                out.push((p, s));
            }
        }
    }
    out.sort();
    assert!(out.len() > 20);
    out
}

/// Audio as it arrives from a phone: through one of the laws, 20 ms at a time.
fn heard(samples: &[i16], law: Law, d: &mut inband::Detector) -> String {
    let mut keys = Vec::new();
    let mut bytes = Vec::new();
    law.encode_into(samples, &mut bytes);
    let mut pcm = Vec::new();
    for frame in bytes.chunks(160) {
        pcm.clear();
        law.decode_into(frame, &mut pcm);
        d.feed(&pcm, &mut keys);
    }
    keys.into_iter().collect()
}

#[test]
fn no_false_keys_on_the_example_prompts_and_hold_music() {
    for (path, samples) in example_audio() {
        for law in [Law::Mu, Law::A] {
            let mut d = inband::Detector::new();
            let keys = heard(&samples, law, &mut d);
            assert_eq!(keys, "", "{} ({law:?})", path.display());
        }
    }
}

fn tone(key: char, ms: usize) -> Vec<i16> {
    let (low, high) = match key {
        '1' => (697.0, 1209.0),
        '5' => (770.0, 1336.0),
        '9' => (852.0, 1477.0),
        '#' => (941.0, 1477.0),
        _ => unreachable!(),
    };
    (0..ms * 8)
        .map(|i| {
            let t = i as f32 / 8000.0;
            (5000.0 * (std::f32::consts::TAU * low * t).sin()
                + 5000.0 * (std::f32::consts::TAU * high * t).sin()) as i16
        })
        .collect()
}

#[test]
fn keys_between_prompts_are_heard_once_each() {
    // A caller presses keys over the prompts' silences and between spoken prompts.
    let audio = example_audio();
    let mut stream = Vec::new();
    let keys = ['1', '5', '9', '#', '5', '5'];
    for (i, k) in keys.iter().enumerate() {
        let (_, speech) = &audio[i % audio.len()];
        stream.extend_from_slice(&speech[..speech.len().min(16_000)]);
        stream.extend(tone(*k, 80));
        stream.extend(std::iter::repeat_n(0, 480));
    }
    let mut d = inband::Detector::new();
    assert_eq!(heard(&stream, Law::A, &mut d), "159#55");
}
