//! Synthesized speech: text → phonemes of fixed length → a tone per phoneme,
//! as 16 kHz mono 16-bit PCM in a WAV container, with the phoneme timings that
//! match the samples exactly. Not pretty, but real audio whose lip-sync data
//! agrees with it.

use std::time::Duration;

pub const SAMPLE_RATE: u32 = 16_000;
const VOWEL_MS: u64 = 110;
const CONSONANT_MS: u64 = 70;
const WORD_GAP_MS: u64 = 50;

/// One phoneme and where it starts in the audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Phoneme {
    pub symbol: &'static str,
    pub start: Duration,
}

/// A synthesized utterance.
#[derive(Debug, Clone)]
pub struct Speech {
    /// A complete WAV file (RIFF header + PCM).
    pub wav: Vec<u8>,
    pub phonemes: Vec<Phoneme>,
    pub duration: Duration,
}

struct Unit {
    symbol: &'static str,
    ms: u64,
    /// (first frequency, second frequency, noise share)
    sound: (f32, f32, f32),
}

fn vowel(symbol: &'static str, f1: f32, f2: f32) -> Unit {
    Unit {
        symbol,
        ms: VOWEL_MS,
        sound: (f1, f2, 0.0),
    }
}

fn consonant(symbol: &'static str, voiced: bool) -> Unit {
    Unit {
        symbol,
        ms: CONSONANT_MS,
        sound: if voiced {
            (150.0, 300.0, 0.3)
        } else {
            (0.0, 0.0, 1.0)
        },
    }
}

/// A crude letter-to-sound pass: enough to give each word plausible phonemes.
fn phonemes_of_word(word: &str) -> Vec<Unit> {
    let chars: Vec<char> = word.chars().flat_map(|c| c.to_lowercase()).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let pair = chars.get(i + 1).map(|n| (chars[i], *n));
        let digraph = match pair {
            Some(('t', 'h')) => Some(consonant("th", false)),
            Some(('s', 'h')) => Some(consonant("sh", false)),
            Some(('c', 'h')) => Some(consonant("ch", false)),
            Some(('e', 'e')) => Some(vowel("iy", 270.0, 2290.0)),
            Some(('o', 'o')) => Some(vowel("uw", 300.0, 870.0)),
            Some(('a', 'i')) | Some(('a', 'y')) => Some(vowel("ey", 530.0, 1840.0)),
            Some(('o', 'u')) | Some(('o', 'w')) => Some(vowel("aw", 700.0, 1200.0)),
            _ => None,
        };
        if let Some(u) = digraph {
            out.push(u);
            i += 2;
            continue;
        }
        let unit = match chars[i] {
            'a' => vowel("ae", 660.0, 1720.0),
            'e' => vowel("eh", 530.0, 1840.0),
            'i' => vowel("ih", 390.0, 1990.0),
            'o' => vowel("ao", 570.0, 840.0),
            'u' => vowel("ah", 640.0, 1190.0),
            'y' => vowel("iy", 270.0, 2290.0),
            'b' => consonant("b", true),
            'c' | 'k' | 'q' => consonant("k", false),
            'd' => consonant("d", true),
            'f' => consonant("f", false),
            'g' => consonant("g", true),
            'h' => consonant("hh", false),
            'j' => consonant("jh", true),
            'l' => consonant("l", true),
            'm' => consonant("m", true),
            'n' => consonant("n", true),
            'p' => consonant("p", false),
            'r' => consonant("r", true),
            's' => consonant("s", false),
            't' => consonant("t", false),
            'v' => consonant("v", true),
            'w' => consonant("w", true),
            'x' => consonant("k", false),
            'z' => consonant("z", true),
            c if c.is_ascii_digit() => vowel("ah", 640.0, 1190.0),
            _ => {
                i += 1;
                continue;
            }
        };
        out.push(unit);
        i += 1;
    }
    out
}

fn samples_for(ms: u64) -> usize {
    (SAMPLE_RATE as u64 * ms / 1000) as usize
}

/// Synthesizes `text`. Empty or symbol-only text gives a short silence.
pub fn synthesize(text: &str) -> Speech {
    let mut pcm: Vec<i16> = Vec::with_capacity(samples_for(text.len() as u64 * 90));
    let mut phonemes = Vec::new();
    let mut noise: u32 = 0x1234_5678;
    for word in text.split_whitespace() {
        let units = phonemes_of_word(word);
        if units.is_empty() {
            continue;
        }
        if !pcm.is_empty() {
            pcm.resize(pcm.len() + samples_for(WORD_GAP_MS), 0);
        }
        for unit in units {
            phonemes.push(Phoneme {
                symbol: unit.symbol,
                start: Duration::from_micros(pcm.len() as u64 * 1_000_000 / SAMPLE_RATE as u64),
            });
            let n = samples_for(unit.ms);
            let ramp = samples_for(10).max(1);
            let (f1, f2, noise_share) = unit.sound;
            for k in 0..n {
                let t = k as f32 / SAMPLE_RATE as f32;
                let envelope = (k.min(n - 1 - k).min(ramp) as f32) / ramp as f32;
                let tone = 0.6 * (std::f32::consts::TAU * f1 * t).sin()
                    + 0.4 * (std::f32::consts::TAU * f2 * t).sin();
                noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let white = (noise >> 16) as f32 / 32768.0 - 1.0;
                let v = (1.0 - noise_share) * tone + noise_share * 0.5 * white;
                pcm.push((v * envelope * 9000.0) as i16);
            }
        }
    }
    if pcm.is_empty() {
        pcm.resize(samples_for(100), 0);
    }
    let duration = Duration::from_micros(pcm.len() as u64 * 1_000_000 / SAMPLE_RATE as u64);
    Speech {
        wav: wav_file(&pcm),
        phonemes,
        duration,
    }
}

/// A canonical 44-byte-header WAV file: PCM, mono, 16 kHz, 16-bit.
pub fn wav_file(pcm: &[i16]) -> Vec<u8> {
    let data_len = (pcm.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in pcm {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// Mean absolute amplitude of 16-bit PCM input (a leading RIFF header is skipped).
pub fn loudness(audio: &[u8]) -> f64 {
    let pcm = pcm_payload(audio);
    let n = pcm.len() / 2;
    if n == 0 {
        return 0.0;
    }
    let sum: u64 = pcm
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs() as u64)
        .sum();
    sum as f64 / n as f64
}

/// Input audio without a leading WAV header, if there is one.
pub fn pcm_payload(audio: &[u8]) -> &[u8] {
    if audio.len() >= 44 && &audio[0..4] == b"RIFF" && &audio[8..12] == b"WAVE" {
        // Walk the chunks to `data`; fall back to the canonical offset.
        let mut at = 12;
        while at + 8 <= audio.len() {
            let id = &audio[at..at + 4];
            let len =
                u32::from_le_bytes([audio[at + 4], audio[at + 5], audio[at + 6], audio[at + 7]])
                    as usize;
            if id == b"data" {
                return &audio[at + 8..(at + 8 + len).min(audio.len())];
            }
            at += 8 + len;
        }
        &audio[44..]
    } else {
        audio
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phonemes_agree_with_the_audio() {
        let s = synthesize("Hello there, traveller");
        assert_eq!(&s.wav[0..4], b"RIFF");
        let samples = (s.wav.len() - 44) / 2;
        assert_eq!(
            s.duration,
            Duration::from_micros(samples as u64 * 1_000_000 / 16_000)
        );
        assert!(s.phonemes.len() > 10);
        assert_eq!(s.phonemes[0].start, Duration::ZERO);
        for pair in s.phonemes.windows(2) {
            assert!(pair[0].start < pair[1].start);
        }
        assert!(s.phonemes.last().unwrap().start < s.duration);
        // Sound where the phonemes are.
        assert!(loudness(&s.wav) > 500.0);
        assert_eq!(loudness(&wav_file(&[0; 100])), 0.0);
    }
}
