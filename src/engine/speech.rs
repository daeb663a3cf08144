//! Synthesized speech: text → phonemes of fixed length → a tone per phoneme,
//! as 16 kHz mono 16-bit PCM in WAV containers, with the phoneme timings that
//! match the samples exactly. Not pretty, but real audio whose lip-sync data
//! agrees with it.
//!
//! A reply streams an utterance as [`SpeechChunk`]s of about 100 to 230 ms,
//! cut where a phoneme starts, each a WAV file of its own with the phonemes
//! that start inside it (offsets from the chunk's start): every chunk has at
//! least one phoneme. Chunks are made one at a time, so a long line costs
//! one chunk of memory, not the whole utterance.

use std::borrow::Cow;
use std::time::Duration;

/// Samples per second of all synthesized audio (mono, 16-bit).
pub const SAMPLE_RATE: u32 = 16_000;
const VOWEL_MS: u64 = 110;
const CONSONANT_MS: u64 = 70;
const WORD_GAP_MS: u64 = 50;
/// A chunk grows phoneme by phoneme while shorter than this...
const CHUNK_MIN_MS: u64 = 100;
/// ...or while the next phoneme still fits within this.
const CHUNK_MAX_MS: u64 = 200;

/// One phoneme and where it starts in the audio.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedPhoneme {
    /// As the synthesizer names it: lower-case ARPAbet for the tones, IPA
    /// for espeak-ng.
    pub symbol: Cow<'static, str>,
    pub start: Duration,
}

/// A whole synthesized utterance in one WAV file (see [`synthesize`]).
#[derive(Debug, Clone)]
pub struct Speech {
    /// A complete WAV file (RIFF header + PCM).
    pub wav: Vec<u8>,
    pub phonemes: Vec<TimedPhoneme>,
    pub duration: Duration,
}

/// One piece of a streamed utterance.
#[derive(Debug, Clone)]
pub struct SpeechChunk {
    /// A complete WAV file (RIFF header + PCM) of this piece alone.
    pub wav: Vec<u8>,
    /// The phonemes that start in this piece, from its start.
    pub phonemes: Vec<TimedPhoneme>,
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

fn duration_of(samples: usize) -> Duration {
    Duration::from_micros(samples as u64 * 1_000_000 / SAMPLE_RATE as u64)
}

/// A phoneme placed in the utterance.
struct Placed {
    unit: Unit,
    /// First sample.
    start: usize,
}

/// An utterance ready to be rendered chunk by chunk.
pub(crate) struct Utterance {
    placed: Vec<Placed>,
    /// Samples of the whole utterance.
    total: usize,
}

impl Utterance {
    /// Places the phonemes of `text` (no audio is made yet). Empty or
    /// symbol-only text is a short silence without phonemes.
    pub(crate) fn new(text: &str) -> Utterance {
        let mut placed = Vec::new();
        let mut at = 0;
        for word in text.split_whitespace() {
            let units = phonemes_of_word(word);
            if units.is_empty() {
                continue;
            }
            if at > 0 {
                at += samples_for(WORD_GAP_MS);
            }
            for unit in units {
                let n = samples_for(unit.ms);
                placed.push(Placed { unit, start: at });
                at += n;
            }
        }
        if placed.is_empty() {
            at = samples_for(100);
        }
        Utterance { placed, total: at }
    }

    /// The audio, piece by piece.
    pub(crate) fn chunks(self) -> Chunks {
        Chunks {
            utterance: self,
            next_phoneme: 0,
            next_sample: 0,
            noise: NOISE_SEED,
        }
    }
}

const NOISE_SEED: u32 = 0x1234_5678;

/// The chunks of an [`Utterance`], made one at a time.
pub(crate) struct Chunks {
    utterance: Utterance,
    /// Index of the first phoneme of the next chunk.
    next_phoneme: usize,
    /// First sample of the next chunk.
    next_sample: usize,
    /// The noise generator runs on across chunks, so the chunks put together
    /// are the whole utterance.
    noise: u32,
}

impl Iterator for Chunks {
    type Item = SpeechChunk;

    fn next(&mut self) -> Option<SpeechChunk> {
        let placed = &self.utterance.placed;
        let total = self.utterance.total;
        if self.next_sample >= total {
            return None;
        }
        let start = self.next_sample;
        // Where phoneme `i` starts (the end of the audio after the last).
        let start_of = |i: usize| placed.get(i).map_or(total, |p| p.start);
        let first = self.next_phoneme;
        let mut end_phoneme = first;
        if placed.is_empty() {
            end_phoneme = 0;
        } else {
            let (min, max) = (samples_for(CHUNK_MIN_MS), samples_for(CHUNK_MAX_MS));
            while end_phoneme < placed.len() {
                let len = start_of(end_phoneme) - start;
                let with_next = start_of(end_phoneme + 1) - start;
                if end_phoneme > first && len >= min && with_next > max {
                    break;
                }
                end_phoneme += 1;
            }
        }
        let end = if placed.is_empty() {
            total
        } else {
            start_of(end_phoneme)
        };
        let mut pcm = vec![0i16; end - start];
        for p in &placed[first..end_phoneme] {
            let offset = p.start - start;
            let n = samples_for(p.unit.ms);
            render(&p.unit, &mut pcm[offset..offset + n], &mut self.noise);
        }
        let phonemes = placed[first..end_phoneme]
            .iter()
            .map(|p| TimedPhoneme {
                symbol: Cow::Borrowed(p.unit.symbol),
                start: duration_of(p.start - start),
            })
            .collect();
        self.next_phoneme = end_phoneme;
        self.next_sample = end;
        Some(SpeechChunk {
            duration: duration_of(pcm.len()),
            wav: wav_file(&pcm),
            phonemes,
        })
    }
}

/// Writes the sound of `unit` into `out` (its length is the unit's).
fn render(unit: &Unit, out: &mut [i16], noise: &mut u32) {
    let n = out.len();
    let ramp = samples_for(10).max(1);
    let (f1, f2, noise_share) = unit.sound;
    for (k, sample) in out.iter_mut().enumerate() {
        let t = k as f32 / SAMPLE_RATE as f32;
        let envelope = (k.min(n - 1 - k).min(ramp) as f32) / ramp as f32;
        let tone = 0.6 * (std::f32::consts::TAU * f1 * t).sin()
            + 0.4 * (std::f32::consts::TAU * f2 * t).sin();
        *noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let white = (*noise >> 16) as f32 / 32768.0 - 1.0;
        let v = (1.0 - noise_share) * tone + noise_share * 0.5 * white;
        *sample = (v * envelope * 9000.0) as i16;
    }
}

/// Synthesizes `text` as one WAV file (for tools and tests; replies stream
/// [`SpeechChunk`]s instead). Empty or symbol-only text gives a short silence.
pub fn synthesize(text: &str) -> Speech {
    let utterance = Utterance::new(text);
    let mut pcm: Vec<i16> = Vec::with_capacity(utterance.total);
    let mut phonemes = Vec::new();
    for chunk in utterance.chunks() {
        let offset = duration_of(pcm.len());
        phonemes.extend(chunk.phonemes.into_iter().map(|p| TimedPhoneme {
            start: offset + p.start,
            ..p
        }));
        pcm.extend(
            chunk.wav[44..]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
    }
    Speech {
        duration: duration_of(pcm.len()),
        wav: wav_file(&pcm),
        phonemes,
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

/// Measures how loud an audio session is as its chunks arrive, keeping none
/// of the audio: 16-bit little-endian PCM, with or without a WAV header in
/// front of the first chunk.
#[derive(Debug, Default)]
pub(crate) struct LoudnessMeter {
    /// The first bytes, until it is known whether they start a WAV header.
    head: Vec<u8>,
    /// Bytes of the header still to skip, once known.
    skip: usize,
    header_done: bool,
    /// The low byte of a sample split across chunks.
    odd: Option<u8>,
    sum: u64,
    samples: u64,
    /// Every byte received, header included.
    pub bytes: usize,
    /// When set, the samples decoded are appended here too (for the voice
    /// detector; whoever set it drains it).
    pub decoded: Option<Vec<i16>>,
}

/// Bytes enough to find the `data` chunk of any usual WAV header.
const HEADER_SEARCH: usize = 512;

impl LoudnessMeter {
    pub(crate) fn add(&mut self, mut chunk: &[u8]) {
        self.bytes += chunk.len();
        if !self.header_done {
            let take = chunk.len().min(HEADER_SEARCH - self.head.len());
            self.head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            match header_len(&self.head) {
                Header::NeedMore if self.head.len() < HEADER_SEARCH => return,
                Header::NeedMore => self.skip = 44,
                Header::None => self.skip = 0,
                Header::Len(n) => self.skip = n,
            }
            self.header_done = true;
            let head = std::mem::take(&mut self.head);
            self.pcm(&head);
        }
        self.pcm(chunk);
    }

    fn pcm(&mut self, mut bytes: &[u8]) {
        let skip = self.skip.min(bytes.len());
        self.skip -= skip;
        bytes = &bytes[skip..];
        if let (Some(low), Some(&high)) = (self.odd, bytes.first()) {
            self.count(i16::from_le_bytes([low, high]));
            self.odd = None;
            bytes = &bytes[1..];
        }
        let mut pairs = bytes.chunks_exact(2);
        for b in pairs.by_ref() {
            self.count(i16::from_le_bytes([b[0], b[1]]));
        }
        if let [low] = pairs.remainder() {
            self.odd = Some(*low);
        }
    }

    fn count(&mut self, sample: i16) {
        self.sum += u64::from(sample.unsigned_abs());
        self.samples += 1;
        if let Some(decoded) = &mut self.decoded {
            decoded.push(sample);
        }
    }

    /// Mean absolute amplitude so far.
    pub(crate) fn loudness(&mut self) -> f64 {
        if !self.header_done {
            // Less than a header's worth came: it is all there is.
            self.header_done = true;
            self.skip = match header_len(&self.head) {
                Header::Len(n) => n,
                // The start of a WAV header, cut short: no samples.
                Header::NeedMore => self.head.len(),
                Header::None => 0,
            };
            let head = std::mem::take(&mut self.head);
            self.pcm(&head);
        }
        if self.samples == 0 {
            0.0
        } else {
            self.sum as f64 / self.samples as f64
        }
    }
}

enum Header {
    /// Not a WAV file: all of it is PCM.
    None,
    /// A WAV header of this many bytes, up to the samples.
    Len(usize),
    /// Too few bytes to tell.
    NeedMore,
}

/// The length of the WAV header at the start of `audio`, if there is one.
fn header_len(audio: &[u8]) -> Header {
    if audio.len() < 12 {
        return if b"RIFF".starts_with(&audio[..audio.len().min(4)]) {
            Header::NeedMore
        } else {
            Header::None
        };
    }
    if &audio[0..4] != b"RIFF" || &audio[8..12] != b"WAVE" {
        return Header::None;
    }
    // Walk the chunks to `data`.
    let mut at = 12;
    while at + 8 <= audio.len() {
        let id = &audio[at..at + 4];
        let len = u32::from_le_bytes([audio[at + 4], audio[at + 5], audio[at + 6], audio[at + 7]]);
        if id == b"data" {
            return Header::Len(at + 8);
        }
        at = at.saturating_add(8).saturating_add(len as usize);
    }
    Header::NeedMore
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phonemes_agree_with_the_audio() {
        let s = synthesize("Hello there, traveller");
        assert_eq!(&s.wav[0..4], b"RIFF");
        let samples = (s.wav.len() - 44) / 2;
        assert_eq!(s.duration, duration_of(samples));
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

    fn loudness(audio: &[u8]) -> f64 {
        let mut m = LoudnessMeter::default();
        m.add(audio);
        m.loudness()
    }

    /// Chunks of 100-230 ms (the last may be shorter), each a WAV file with
    /// at least one phoneme, and together exactly the whole utterance.
    #[test]
    fn utterances_stream_as_short_chunks_cut_at_phonemes() {
        let text = "It began on a cold morning, when the mist still lay thick over the river.";
        let whole = synthesize(text);
        let chunks: Vec<SpeechChunk> = Utterance::new(text).chunks().collect();
        assert!(chunks.len() > 10, "{} chunks", chunks.len());
        let mut pcm = Vec::new();
        let mut phonemes = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(&c.wav[0..4], b"RIFF");
            assert_eq!(
                u32::from_le_bytes(c.wav[24..28].try_into().unwrap()),
                16_000
            );
            assert_eq!(
                u32::from_le_bytes(c.wav[40..44].try_into().unwrap()) as usize,
                c.wav.len() - 44
            );
            let ms = c.duration.as_millis();
            assert!(ms <= 230, "chunk {i}: {ms} ms");
            if i + 1 < chunks.len() {
                assert!(ms >= 100, "chunk {i}: {ms} ms");
            }
            assert!(!c.phonemes.is_empty(), "chunk {i} has no phoneme");
            assert_eq!(
                c.phonemes[0].start,
                Duration::ZERO,
                "cut where a phoneme starts"
            );
            assert!(c.phonemes.iter().all(|p| p.start < c.duration));
            let offset = duration_of(pcm.len() / 2);
            phonemes.extend(c.phonemes.iter().map(|p| p.start + offset));
            pcm.extend_from_slice(&c.wav[44..]);
        }
        assert_eq!(pcm, whole.wav[44..]);
        assert_eq!(
            phonemes,
            whole.phonemes.iter().map(|p| p.start).collect::<Vec<_>>()
        );
    }

    #[test]
    fn symbol_only_text_is_a_short_silence() {
        let chunks: Vec<SpeechChunk> = Utterance::new("?!").chunks().collect();
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].phonemes.is_empty());
        assert_eq!(chunks[0].duration, Duration::from_millis(100));
    }

    /// A 4 KiB line is about 6 minutes of speech: it still comes in chunks
    /// of at most 230 ms, made one at a time.
    #[test]
    fn a_long_line_streams_in_small_chunks() {
        let line = "abcdefg ".repeat(512);
        let mut n = 0;
        let mut longest = 0;
        for c in Utterance::new(&line).chunks() {
            n += 1;
            longest = longest.max(c.wav.len());
        }
        assert!(n > 1000);
        assert!(longest <= 44 + 2 * samples_for(230), "{longest} bytes");
    }

    #[test]
    fn loudness_is_measured_across_chunks_with_or_without_a_header() {
        let speech = synthesize("hello there");
        let expected = loudness(&speech.wav);
        for size in [1, 3, 7, 44, 45, 5 * 1024] {
            let mut m = LoudnessMeter::default();
            for c in speech.wav.chunks(size) {
                m.add(c);
            }
            assert!((m.loudness() - expected).abs() < 1e-9, "chunks of {size}");
            assert_eq!(m.bytes, speech.wav.len());
        }
        // Raw PCM, no header.
        let raw = &speech.wav[44..];
        let mut m = LoudnessMeter::default();
        for c in raw.chunks(333) {
            m.add(c);
        }
        assert!((m.loudness() - expected).abs() < 1e-9);
        // Silence, and almost nothing.
        assert_eq!(loudness(&wav_file(&[0; 1600])), 0.0);
        assert_eq!(loudness(b"RI"), 0.0);
        assert_eq!(loudness(&[]), 0.0);
    }
}
