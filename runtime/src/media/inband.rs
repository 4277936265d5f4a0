//! In-band DTMF detection: finds the key tones that some trunks send as sound inside a call's
//! audio (instead of as RFC 4733 events), in 8 kHz, 16-bit linear samples such as decoded G.711.
//!
//! Feed one caller's audio to a [`Detector`]. It reports each key press exactly once, when the
//! key's tone has lasted long enough, and it is built not to report speech, music or noise that
//! merely has energy near the DTMF frequencies.
//!
//! # Method
//!
//! The audio is cut into blocks of 102 samples (12.75 ms). Samples are kept across
//! [`Detector::feed`] calls until a block is full, so the result does not depend on how the audio
//! is chunked. For each block, Goertzel filters measure the power at the four row (low group)
//! frequencies, 697, 770, 852 and 941 Hz, and at the four column (high group) frequencies, 1209,
//! 1336, 1477 and 1633 Hz, and the block's total power is summed alongside. The block length is
//! spandsp's: a tone at one row frequency reads 19 to 27 dB down in the neighbouring row filters,
//! and a tone at one column frequency 15 to 45 dB down in the neighbouring column filters. The
//! strongest row and the strongest column name a key, and the block shows that key only if all
//! of these hold (cheapest first):
//!
//! 1. Level: the two tones together reach -30 dBm0. Receivers are commonly required to accept
//!    tones of -25 dBm0 each (-22 dBm0 together; ITU-T Q.24 lists each network's figures),
//!    which leaves 8 dB of margin.
//! 2. Twist: the row tone is at most 8 dB stronger than the column tone, and the column tone is
//!    at most 4 dB stronger than the row tone (the limits of spandsp and Asterisk). In blocks this
//!    short each tone leaks into the other group's filters, so a block's reading of the twist
//!    varies by about ±2 dB with the tones' phases.
//! 3. Peaks: each tone is at least 8 dB stronger than each of the other three frequencies of its
//!    group, so neither two keys at once nor a broad peak between two frequencies counts.
//! 4. Purity: the two tones carry at least 75 % (-1.25 dB) of the block's power. This is the main
//!    guard against speech and music. A key is two sine waves and little else: at exact
//!    frequencies its tones carry over 90 % of a block even at a 20 dB signal-to-noise ratio, and
//!    about 75 % to 85 % when both are 1.5 % off frequency (the filters read such tones up to
//!    1.4 dB low). Voiced speech is a series of harmonics, and a chord has three notes or more:
//!    two notes on DTMF frequencies beside a third as strong carry about 67 %.
//! 5. Harmonic: the column tone's second harmonic (2418 to 3266 Hz) is at least 12 dB weaker than
//!    the column tone. ITU-T Q.23 keeps a generator's distortion 20 dB down, which leaves 8 dB for
//!    noise, while a voice or an instrument whose harmonic lands on a column frequency usually has
//!    another at twice that frequency. The row tone's second harmonic cannot be judged in a block
//!    this short: three of them (1394, 1540 and 1704 Hz) lie within one filter width of a column
//!    frequency (1336, 1477 and 1633 Hz), whose leakage would pass for a harmonic. This test runs
//!    only for the blocks that passed the others.
//!
//! # Timing
//!
//! A key is reported when three consecutive blocks (38.25 ms) show it. A block that is only
//! partly tone can still show the key, so every tone of 46 ms or more is reported, none shorter
//! than 30 ms is, and tones in between are reported depending on how they fall on the blocks
//! (about 60 % of 40 ms tones; Bellcore's figures in ITU-T Q.24 are to accept 40 ms and reject
//! 23 ms).
//!
//! Once reported, a key is held: it is reported again only after three consecutive blocks that do
//! not show it. So a key held for seconds is one digit, a drop-out of up to 15 ms does not split
//! it, and two presses of the same key with a pause of 35 ms or more between them are two digits.
//! A different key is reported as soon as three consecutive blocks show it, pause or not.
//!
//! Like every detector of this kind, it can be fooled by a sustained vowel whose first two
//! formants sit on a row and a column frequency ("talk-off"). The thresholds were tuned on
//! synthetic speech and music (see the tests), not on recorded talk-off material.
//!
//! # Levels
//!
//! dBm0 is measured against G.711's digital milliwatt: a 0 dBm0 sine has a peak of about 22 700
//! in 16-bit linear samples (µ-law's full-scale sine is +3.17 dBm0, A-law's +3.14 dBm0).
//!
//! # Cost
//!
//! Per sample: one multiply-add for the block's power and one update (a multiply and two adds)
//! of each of the eight filters, over fixed arrays that the compiler can vectorise. Per block:
//! eight power readings and a few comparisons, plus the harmonic filter's 102 updates for the
//! rare block that gets that far. [`Detector::feed`] allocates nothing beyond its pushes to
//! `digits`.

use std::f32::consts::TAU;

/// Samples per 8 kHz block (12.75 ms).
const BLOCK: usize = 102;

/// [`BLOCK`] as a float.
const BLOCK_LEN: f32 = BLOCK as f32;

/// The audio's sampling rate (Hz).
const RATE: f32 = 8000.0;

/// The row (low group) frequencies, Hz.
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];

/// The column (high group) frequencies, Hz.
const COLUMNS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// The keys, by row and then column.
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The power (mean square, in squared 16-bit units) of a 0 dBm0 sine, whose peak is 22 700.
const DBM0: f32 = 22_700.0 * 22_700.0 / 2.0;

/// The least power the two tones must have together: -30 dBm0.
const MIN_POWER: f32 = DBM0 * 1e-3;

/// How much stronger the row tone may be than the column tone: 8 dB.
const MAX_ROW_OVER_COLUMN: f32 = 6.31;

/// How much stronger the column tone may be than the row tone: 4 dB.
const MAX_COLUMN_OVER_ROW: f32 = 2.51;

/// How much stronger each tone must be than the other frequencies of its group: 8 dB.
const MIN_PEAK_RATIO: f32 = 6.31;

/// The least share of the block's power that the two tones must carry: 75 % (-1.25 dB).
const MIN_TONE_SHARE: f32 = 0.75;

/// The most power the column tone's second harmonic may have, relative to the tone: -12 dB.
const MAX_HARMONIC: f32 = 0.063;

/// Consecutive blocks that must show a key before it is reported (38.25 ms).
const ONSET_BLOCKS: u32 = 3;

/// Consecutive blocks without the held key after which it counts as released (38.25 ms).
const RELEASE_BLOCKS: u32 = 3;

/// The Goertzel coefficient, 2 cos(2π f / 8000), of a frequency `hz`.
fn coefficient(hz: f32) -> f32 {
    2.0 * (TAU * hz / RATE).cos()
}

/// The power of a Goertzel filter with coefficient `c` whose last two states are `s1` and `s2`,
/// scaled to a mean square: a sine of peak `a` at the filter's frequency reads `a² / 2`.
fn power(s1: f32, s2: f32, c: f32) -> f32 {
    const SCALE: f32 = 2.0 / (BLOCK_LEN * BLOCK_LEN);
    (s1 * s1 + s2 * s2 - c * s1 * s2) * SCALE
}

/// The index and power of the strongest of a group's `powers`, and whether it beats each of the
/// others by [`MIN_PEAK_RATIO`].
fn peak(powers: [f32; 4]) -> (usize, f32, bool) {
    let mut best = 0;
    for (i, &p) in powers.iter().enumerate() {
        if p > powers[best] {
            best = i;
        }
    }
    let top = powers[best];
    let clear = powers
        .iter()
        .enumerate()
        .all(|(i, &p)| i == best || p * MIN_PEAK_RATIO <= top);
    (best, top, clear)
}

/// An in-band DTMF detector for one stream of 8 kHz, 16-bit linear audio.
///
/// It keeps the samples of an unfinished block and the verdicts of recent blocks, so each
/// detector must hear one caller's audio, in order, and nothing else.
#[derive(Clone, Debug)]
pub struct Detector {
    /// The current block's samples, of which the first `filled` are valid.
    block: [i16; BLOCK],
    filled: usize,
    /// Goertzel coefficients: the four rows, then the four columns.
    coefficients: [f32; 8],
    /// Goertzel coefficients of the columns' second harmonics.
    harmonics: [f32; 4],
    /// The key the latest blocks showed (`None`: no key), and how many blocks in a row did.
    run: Option<char>,
    run_length: u32,
    /// The key reported and not yet released, and how many consecutive blocks since have not
    /// shown it.
    held: Option<char>,
    misses: u32,
}

impl Default for Detector {
    fn default() -> Detector {
        Detector::new()
    }
}

impl Detector {
    /// A detector that has heard nothing yet.
    pub fn new() -> Detector {
        let mut coefficients = [0.0; 8];
        for (c, &hz) in coefficients.iter_mut().zip(ROWS.iter().chain(&COLUMNS)) {
            *c = coefficient(hz);
        }
        Detector {
            block: [0; BLOCK],
            filled: 0,
            coefficients,
            harmonics: COLUMNS.map(|hz| coefficient(2.0 * hz)),
            run: None,
            run_length: 0,
            held: None,
            misses: 0,
        }
    }

    /// Feeds audio (any length; the server feeds 20 ms frames of 160 samples). Each digit
    /// detected is pushed to `digits` once, when its tone has lasted the minimum duration.
    ///
    /// Samples that do not complete a block wait for the next call, so the same audio fed in
    /// different chunks yields the same digits, each after the same sample.
    pub fn feed(&mut self, samples: &[i16], digits: &mut Vec<char>) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (BLOCK - self.filled).min(rest.len());
            let (now, later) = rest.split_at(take);
            self.block[self.filled..self.filled + take].copy_from_slice(now);
            self.filled += take;
            rest = later;
            if self.filled == BLOCK {
                self.filled = 0;
                let shown = self.classify();
                self.track(shown, digits);
            }
        }
    }

    /// The key that the full block shows, if it passes the tests of the module's description.
    fn classify(&self) -> Option<char> {
        let mut s1 = [0.0f32; 8];
        let mut s2 = [0.0f32; 8];
        let mut energy = 0.0f32;
        for &sample in &self.block {
            let x = f32::from(sample);
            energy += x * x;
            for ((a, b), &c) in s1.iter_mut().zip(&mut s2).zip(&self.coefficients) {
                let s0 = x + c * *a - *b;
                *b = *a;
                *a = s0;
            }
        }
        let mut powers = [0.0f32; 8];
        for (((p, &a), &b), &c) in powers.iter_mut().zip(&s1).zip(&s2).zip(&self.coefficients) {
            *p = power(a, b, c);
        }
        let [r0, r1, r2, r3, c0, c1, c2, c3] = powers;
        let (row, row_power, row_clear) = peak([r0, r1, r2, r3]);
        let (column, column_power, column_clear) = peak([c0, c1, c2, c3]);
        let tones = row_power + column_power;
        // 1. Level.
        if tones < MIN_POWER {
            return None;
        }
        // 2. Twist.
        if row_power > column_power * MAX_ROW_OVER_COLUMN
            || column_power > row_power * MAX_COLUMN_OVER_ROW
        {
            return None;
        }
        // 3. Peaks.
        if !(row_clear && column_clear) {
            return None;
        }
        // 4. Purity: the block's mean square is `energy / BLOCK_LEN`.
        if tones * BLOCK_LEN < MIN_TONE_SHARE * energy {
            return None;
        }
        // 5. The column tone's second harmonic.
        let c = self.harmonics[column];
        let (mut a, mut b) = (0.0f32, 0.0f32);
        for &sample in &self.block {
            let s0 = f32::from(sample) + c * a - b;
            b = a;
            a = s0;
        }
        if power(a, b, c) > column_power * MAX_HARMONIC {
            return None;
        }
        Some(KEYS[row][column])
    }

    /// Takes one block's verdict: extends or restarts the run, releases the held key after
    /// [`RELEASE_BLOCKS`] blocks without it, and reports a key whose run reaches
    /// [`ONSET_BLOCKS`] unless it is the held key.
    fn track(&mut self, shown: Option<char>, digits: &mut Vec<char>) {
        if shown == self.run {
            self.run_length = self.run_length.saturating_add(1);
        } else {
            self.run = shown;
            self.run_length = 1;
        }
        if self.held.is_some() {
            if shown == self.held {
                self.misses = 0;
            } else {
                self.misses += 1;
                if self.misses >= RELEASE_BLOCKS {
                    self.held = None;
                }
            }
        }
        if let Some(key) = shown
            && self.run_length == ONSET_BLOCKS
            && self.held != Some(key)
        {
            digits.push(key);
            self.held = Some(key);
            self.misses = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU as TAU64;

    /// Every key, row by row.
    const ALL_KEYS: &str = "123A456B789C*0#D";

    /// xorshift64: a small, deterministic PRNG for the test audio.
    struct Rng(u64);

    impl Rng {
        fn bits(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// Uniform in [0, 1).
        fn unit(&mut self) -> f64 {
            (self.bits() >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Uniform in 0..n.
        fn below(&mut self, n: usize) -> usize {
            ((self.unit() * n as f64) as usize).min(n - 1)
        }

        /// Roughly Gaussian, mean 0 and variance 1: the sum of 12 uniforms, less 6.
        fn gauss(&mut self) -> f64 {
            (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
        }
    }

    /// The peak of a sine at `dbm0`.
    fn peak_of(dbm0: f64) -> f64 {
        22_700.0 * 10f64.powf(dbm0 / 20.0)
    }

    /// A key's row and column frequencies (Hz).
    fn frequencies(key: char) -> (f64, f64) {
        for (r, row) in KEYS.iter().enumerate() {
            for (c, &k) in row.iter().enumerate() {
                if k == key {
                    return (f64::from(ROWS[r]), f64::from(COLUMNS[c]));
                }
            }
        }
        panic!("{key} is not a key")
    }

    /// Test audio, built up at 8 kHz in floating point.
    #[derive(Default)]
    struct Audio(Vec<f64>);

    impl Audio {
        /// Appends `samples` samples of the sum of `sines`, each (frequency in Hz, peak).
        fn sines_for(&mut self, samples: usize, sines: &[(f64, f64)]) -> &mut Audio {
            for n in 0..samples {
                let t = n as f64 / 8000.0;
                let x = sines.iter().map(|&(hz, a)| a * (TAU64 * hz * t).sin());
                self.0.push(x.sum());
            }
            self
        }

        /// Appends `ms` of the sum of `sines`, each (frequency in Hz, peak).
        fn sines(&mut self, ms: usize, sines: &[(f64, f64)]) -> &mut Audio {
            self.sines_for(ms * 8, sines)
        }

        /// Appends `ms` of a key's tones, the row tone at `low` dBm0 and the column's at `high`.
        fn key_at(&mut self, key: char, ms: usize, low: f64, high: f64) -> &mut Audio {
            let (row, column) = frequencies(key);
            self.sines(ms, &[(row, peak_of(low)), (column, peak_of(high))])
        }

        /// Appends `ms` of a key's tones, each at -10 dBm0.
        fn key(&mut self, key: char, ms: usize) -> &mut Audio {
            self.key_at(key, ms, -10.0, -10.0)
        }

        /// Appends `samples` samples of silence.
        fn silence(&mut self, samples: usize) -> &mut Audio {
            self.0.resize(self.0.len() + samples, 0.0);
            self
        }

        /// Appends `ms` of silence.
        fn pause(&mut self, ms: usize) -> &mut Audio {
            self.silence(ms * 8)
        }

        /// Adds white noise of RMS `rms` to everything so far.
        fn noise(&mut self, rng: &mut Rng, rms: f64) -> &mut Audio {
            for x in &mut self.0 {
                *x += rms * rng.gauss();
            }
            self
        }

        /// The audio as 16-bit samples.
        fn pcm(&self) -> Vec<i16> {
            self.0
                .iter()
                .map(|&x| x.round().clamp(-32768.0, 32767.0) as i16)
                .collect()
        }
    }

    /// The RMS of white noise 20 dB below a key's two tones at -10 dBm0 each (whose mean square
    /// is the square of one tone's peak).
    fn noise_20db() -> f64 {
        peak_of(-10.0) / 10.0
    }

    /// Speech-like audio averaging about `dbm0`. Voiced stretches are the harmonics (up to
    /// 3.6 kHz, falling 6 dB per octave) of a fundamental that wanders between 100 and 250 Hz
    /// with some jitter, through three formant resonators in cascade (an all-pole vocal tract)
    /// whose frequencies glide every 100 ms towards new targets: F1 250-850 Hz, F2 700-2500 Hz,
    /// F3 2200-3100 Hz, bandwidths 60-150 Hz. A fifth of the stretches are unvoiced (noise). A
    /// 3-6 Hz syllable envelope and a -55 dBm0 noise floor complete it.
    fn speech(rng: &mut Rng, ms: usize, dbm0: f64) -> Vec<f64> {
        const HARMONICS: usize = 36;
        let samples = ms * 8;
        let mut out = Vec::with_capacity(samples);
        let mut f0 = 160.0;
        let mut f0_target = 160.0;
        let mut formants = [500.0, 1500.0, 2500.0];
        let mut targets = formants;
        let mut bandwidths = [80.0, 100.0, 150.0];
        let mut phases = [0.0f64; HARMONICS];
        for phase in &mut phases {
            *phase = TAU64 * rng.unit();
        }
        let mut gains = [0.0f64; HARMONICS];
        let mut voiced = true;
        let mut syllable = 0.0f64;
        let mut syllable_rate = 4.0;
        for n in 0..samples {
            if n % 800 == 0 {
                f0_target = 100.0 + 150.0 * rng.unit();
                targets = [
                    250.0 + 600.0 * rng.unit(),
                    700.0 + 1800.0 * rng.unit(),
                    2200.0 + 900.0 * rng.unit(),
                ];
                for b in &mut bandwidths {
                    *b = 60.0 + 90.0 * rng.unit();
                }
                voiced = rng.unit() < 0.8;
                syllable_rate = 3.0 + 3.0 * rng.unit();
            }
            if n % 40 == 0 {
                f0 = (f0 + 0.1 * (f0_target - f0) + rng.gauss()).clamp(100.0, 250.0);
                for (f, &t) in formants.iter_mut().zip(&targets) {
                    *f += 0.1 * (t - *f);
                }
                for (k, g) in gains.iter_mut().enumerate() {
                    let harmonic = (k + 1) as f64;
                    let hz = harmonic * f0;
                    let tract: f64 = formants
                        .iter()
                        .zip(&bandwidths)
                        .map(|(&f, &b)| f * f / (f * f - hz * hz).hypot(hz * b))
                        .product();
                    *g = if hz < 3600.0 { tract / harmonic } else { 0.0 };
                }
            }
            let mut x = 0.0;
            if voiced {
                for (k, (phase, &g)) in phases.iter_mut().zip(&gains).enumerate() {
                    *phase = (*phase + TAU64 * (k + 1) as f64 * f0 / 8000.0) % TAU64;
                    x += g * phase.sin();
                }
            } else {
                x = 0.3 * rng.gauss();
            }
            syllable = (syllable + TAU64 * syllable_rate / 8000.0) % TAU64;
            out.push(x * (0.55 - 0.45 * syllable.cos()));
        }
        let rms = (out.iter().map(|x| x * x).sum::<f64>() / samples as f64).sqrt();
        let scale = peak_of(dbm0) / 2f64.sqrt() / rms;
        let floor = peak_of(-55.0);
        for x in &mut out {
            *x = *x * scale + floor * rng.gauss();
        }
        out
    }

    /// Music-like audio: chords of three or four sine notes at least two semitones apart
    /// (equal-tempered, 220 to 1661 Hz, which includes F5 = 698 Hz and F#6 = 1480 Hz, next to
    /// DTMF's 697 and 1477 Hz), each note at -13 to -12 dBm0, a new chord every 250 ms. Every
    /// fourth chord is a key's two tones (exact, or the nearest notes) with a third note as
    /// strong.
    fn music(rng: &mut Rng, ms: usize) -> Vec<f64> {
        let hz = |midi: f64| 440.0 * 2f64.powf((midi - 69.0) / 12.0);
        let mut audio = Audio::default();
        let mut chord = 0;
        while audio.0.len() < ms * 8 {
            // MIDI note numbers (fractional for a key's exact tones).
            let mut notes: Vec<f64> = Vec::new();
            let keyed = chord % 4 == 3;
            if keyed {
                let (row, column) = frequencies(KEYS[rng.below(4)][rng.below(4)]);
                let exact = rng.unit() < 0.5;
                for tone in [row, column] {
                    let midi = 69.0 + 12.0 * (tone / 440.0).log2();
                    notes.push(if exact { midi } else { midi.round() });
                }
            }
            let count = if keyed || rng.unit() < 0.5 { 3 } else { 4 };
            while notes.len() < count {
                let midi = 57.0 + rng.below(36) as f64;
                if notes.iter().all(|&other| (midi - other).abs() >= 2.0) {
                    notes.push(midi);
                }
            }
            let sines: Vec<(f64, f64)> = notes
                .iter()
                .map(|&midi| {
                    let level = if keyed { -12.0 } else { -13.0 + rng.unit() };
                    (hz(midi), peak_of(level))
                })
                .collect();
            audio.sines(250, &sines);
            chord += 1;
        }
        audio.noise(rng, peak_of(-55.0));
        audio.0
    }

    /// The digits a new detector finds in `samples`, fed in chunks of `chunk`.
    fn detect(samples: &[i16], chunk: usize) -> String {
        let mut detector = Detector::new();
        let mut digits = Vec::new();
        for piece in samples.chunks(chunk) {
            detector.feed(piece, &mut digits);
        }
        digits.into_iter().collect()
    }

    #[test]
    fn every_key_in_any_chunking() {
        let mut audio = Audio::default();
        audio.pause(100);
        for key in ALL_KEYS.chars() {
            audio.key(key, 60).pause(60);
        }
        let pcm = audio.pcm();
        for chunk in [160, 7, 333, 1, 102, pcm.len()] {
            assert_eq!(detect(&pcm, chunk), ALL_KEYS, "chunks of {chunk}");
        }
    }

    #[test]
    fn keys_in_noise() {
        let keys = "1234567890*#";
        for seed in 1..=10 {
            let mut rng = Rng(seed);
            let mut audio = Audio::default();
            audio.pause(200);
            for key in keys.chars() {
                audio.key(key, 60).pause(60);
            }
            audio.pause(200).noise(&mut rng, noise_20db());
            assert_eq!(detect(&audio.pcm(), 160), keys, "seed {seed}");
        }
    }

    #[test]
    fn keys_between_speech() {
        let keys = "159#3570*D";
        let mut rng = Rng(7);
        let mut audio = Audio::default();
        for key in keys.chars() {
            audio.0.extend(speech(&mut rng, 1500, -15.0));
            audio.key(key, 70);
        }
        audio.0.extend(speech(&mut rng, 1500, -15.0));
        assert_eq!(detect(&audio.pcm(), 160), keys);
    }

    #[test]
    fn a_held_key_is_one_digit() {
        let mut rng = Rng(3);
        let mut audio = Audio::default();
        audio.pause(100).key('5', 2000).pause(100);
        audio.noise(&mut rng, noise_20db());
        assert_eq!(detect(&audio.pcm(), 160), "5");
    }

    #[test]
    fn a_short_drop_out_does_not_split_a_key() {
        for key in ALL_KEYS.chars() {
            for offset in (0..BLOCK).step_by(5) {
                let mut audio = Audio::default();
                audio.silence(offset).key(key, 300).pause(15).key(key, 300);
                let found = detect(&audio.pcm(), 160);
                assert_eq!(found, key.to_string(), "{key}, offset {offset}");
            }
        }
    }

    #[test]
    fn a_key_pressed_twice_is_two_digits() {
        for key in ALL_KEYS.chars() {
            for gap in [35, 50] {
                for offset in (0..BLOCK).step_by(5) {
                    let mut audio = Audio::default();
                    audio
                        .silence(offset)
                        .key(key, 60)
                        .pause(gap)
                        .key(key, 60)
                        .pause(60);
                    let found = detect(&audio.pcm(), 160);
                    assert_eq!(
                        found,
                        format!("{key}{key}"),
                        "{key}, {gap} ms, offset {offset}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_different_key_needs_no_pause() {
        let mut audio = Audio::default();
        audio.key('1', 100).key('2', 100).key('1', 100);
        assert_eq!(detect(&audio.pcm(), 160), "121");
    }

    #[test]
    fn tone_duration_limits() {
        for key in ALL_KEYS.chars() {
            for offset in (0..BLOCK).step_by(5) {
                for (ms, reported) in [(20, false), (30, false), (46, true), (60, true)] {
                    let mut audio = Audio::default();
                    audio.silence(offset).key(key, ms).pause(100);
                    let expected = if reported {
                        key.to_string()
                    } else {
                        String::new()
                    };
                    let found = detect(&audio.pcm(), 160);
                    assert_eq!(found, expected, "{key}, {ms} ms, offset {offset}");
                }
            }
        }
    }

    #[test]
    fn twist_limits() {
        for key in ALL_KEYS.chars() {
            for (low, high, reported) in [
                (-10.0, -22.0, false),
                (-22.0, -10.0, false),
                (-10.0, -16.0, true),
                (-12.5, -10.0, true),
            ] {
                let mut audio = Audio::default();
                audio.key_at(key, 100, low, high).pause(100);
                let expected = if reported {
                    key.to_string()
                } else {
                    String::new()
                };
                let found = detect(&audio.pcm(), 160);
                assert_eq!(found, expected, "{key}: {low} / {high} dBm0");
            }
        }
    }

    #[test]
    fn level_limits() {
        for key in ALL_KEYS.chars() {
            for (level, reported) in [(-45.0, false), (-38.0, false), (-28.0, true), (-3.5, true)] {
                let mut audio = Audio::default();
                audio.key_at(key, 100, level, level).pause(100);
                let expected = if reported {
                    key.to_string()
                } else {
                    String::new()
                };
                assert_eq!(detect(&audio.pcm(), 160), expected, "{key}: {level} dBm0");
            }
        }
    }

    #[test]
    fn tones_off_frequency_by_1_5_percent() {
        let a = peak_of(-10.0);
        for key in ALL_KEYS.chars() {
            let (row, column) = frequencies(key);
            for (r, c) in [
                (1.015, 1.015),
                (0.985, 0.985),
                (1.015, 0.985),
                (0.985, 1.015),
            ] {
                let mut audio = Audio::default();
                audio
                    .sines(100, &[(row * r, a), (column * c, a)])
                    .pause(100);
                let found = detect(&audio.pcm(), 160);
                assert_eq!(found, key.to_string(), "{key}: row ×{r}, column ×{c}");
            }
        }
    }

    #[test]
    fn ambiguous_tones_are_no_key() {
        let a = peak_of(-10.0);
        // Two keys at once.
        for (first, second) in [('1', '5'), ('6', '#'), ('7', 'D')] {
            let (r1, c1) = frequencies(first);
            let (r2, c2) = frequencies(second);
            let mut audio = Audio::default();
            audio.sines(200, &[(r1, a), (c1, a), (r2, a), (c2, a)]);
            assert_eq!(detect(&audio.pcm(), 160), "", "{first} with {second}");
        }
        // A low tone between two rows, 3.3 % above 697 Hz: the 697 Hz filter reads it 1.3 dB
        // low and the 770 Hz filter 6.9 dB low, too close for a clear peak.
        for column in COLUMNS {
            let mut audio = Audio::default();
            audio.sines(200, &[(720.0, a), (f64::from(column), a)]);
            assert_eq!(detect(&audio.pcm(), 160), "", "720 Hz with {column} Hz");
        }
    }

    #[test]
    fn harmonics_tell_notes_from_keys() {
        let a = peak_of(-10.0);
        for key in ALL_KEYS.chars() {
            let (row, column) = frequencies(key);
            // Two notes with the second and third harmonics of a mellow instrument (-8 and
            // -14 dB, those below 3.6 kHz) are not a key, though their fundamentals are one and
            // carry over 80 % of the power.
            let mut sines = Vec::new();
            for fundamental in [row, column] {
                for (n, level) in [(1.0, a), (2.0, a * 0.4), (3.0, a * 0.2)] {
                    if n * fundamental < 3600.0 {
                        sines.push((n * fundamental, level));
                    }
                }
            }
            let mut notes = Audio::default();
            notes.sines(200, &sines);
            assert_eq!(detect(&notes.pcm(), 160), "", "{key} as notes");
            // A generator whose second harmonics are 20 dB down (ITU-T Q.23's limit) is a key.
            let h2 = a * 0.1;
            let mut tones = Audio::default();
            tones.sines(
                100,
                &[(row, a), (2.0 * row, h2), (column, a), (2.0 * column, h2)],
            );
            assert_eq!(
                detect(&tones.pcm(), 160),
                key.to_string(),
                "{key} distorted"
            );
        }
    }

    #[test]
    fn speech_alone_is_no_key() {
        let mut rng = Rng(11);
        for level in [-25.0, -10.0] {
            let audio = Audio(speech(&mut rng, 30_000, level));
            assert_eq!(detect(&audio.pcm(), 160), "", "{level} dBm0");
        }
    }

    #[test]
    fn music_alone_is_no_key() {
        let mut rng = Rng(13);
        let audio = Audio(music(&mut rng, 60_000));
        assert_eq!(detect(&audio.pcm(), 160), "");
    }
}
