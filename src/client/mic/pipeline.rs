//! The session task's side: drains the ring, resamples to 16 kHz mono
//! (`rubato`'s sinc resampler, which takes any ratio: games run at 44.1 or
//! 48 kHz, voice chat at 8–24 kHz, and odd rates exist) and frames 16-bit
//! little-endian samples into chunks of [`CHUNK_BYTES`]. Its buffers are
//! allocated once, when the input opens; each full chunk is handed over
//! as the bytes of one packet.

use super::{AudioFormat, CHUNK_BYTES, WIRE_RATE};
use crate::audio::resample::Resampler;
use rtrb::Consumer;

/// Room in the ring: one second of input.
pub(crate) fn ring_capacity(format: AudioFormat) -> usize {
    format.rate as usize
}

/// Audio on its way from the ring to chunks.
pub(crate) struct Pipeline {
    consumer: Consumer<f32>,
    /// Where the ring stands in the session's count of frames pushed (see
    /// `MicShared::mark`): the frames read so far, from where it started.
    position: u64,
    rate: u32,
    /// `None` when the input is already at 16 kHz.
    resampling: Option<Resampler>,
    chunk: Vec<u8>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("rate", &self.rate)
            .finish()
    }
}

impl Pipeline {
    /// `start`: the session's count of frames pushed when the input opened.
    pub(crate) fn new(consumer: Consumer<f32>, format: AudioFormat, start: u64) -> Self {
        Pipeline {
            consumer,
            position: start,
            rate: format.rate,
            resampling: (format.rate != WIRE_RATE)
                .then(|| Resampler::new(format.rate, WIRE_RATE, 1)),
            chunk: Vec::with_capacity(CHUNK_BYTES),
        }
    }

    pub(crate) fn rate(&self) -> u32 {
        self.rate
    }

    /// Frames the ring holds that were pushed before `until` (all of them
    /// for `None`).
    fn available(&self, until: Option<u64>) -> usize {
        let slots = self.consumer.slots();
        match until {
            Some(until) => slots.min(until.saturating_sub(self.position) as usize),
            None => slots,
        }
    }

    /// Takes what the ring holds (up to the mark `until`); hands each full
    /// chunk to `emit`.
    pub(crate) fn pump(&mut self, until: Option<u64>, emit: &mut impl FnMut(Vec<u8>)) {
        let mut chunk = std::mem::take(&mut self.chunk);
        self.pump_samples(until, &mut |sample| frame(&mut chunk, sample, emit));
        self.chunk = chunk;
    }

    /// Takes what the ring holds (up to the mark `until`), each 16 kHz
    /// sample to `out` (for voice detection and echo cancellation).
    pub(crate) fn pump_samples(&mut self, until: Option<u64>, out: &mut impl FnMut(f32)) {
        loop {
            let available = self.available(until);
            if available == 0 {
                return;
            }
            self.position += available as u64;
            let Pipeline {
                consumer,
                resampling,
                ..
            } = self;
            let read = consumer.read_chunk(available).expect("available");
            let (a, b) = read.as_slices();
            match resampling.as_mut() {
                None => a.iter().chain(b).for_each(|&s| out(s)),
                Some(r) => {
                    r.push(a, &mut |f| out(f[0]));
                    r.push(b, &mut |f| out(f[0]));
                }
            }
            read.commit_all();
        }
    }

    /// The audio session ends: everything pushed before `until` goes out,
    /// the resampler's tail included, the last chunk shorter; what came
    /// after stays for the next. Ready for the next session.
    pub(crate) fn finish(&mut self, until: Option<u64>, emit: &mut impl FnMut(Vec<u8>)) {
        self.pump(until, emit);
        let Pipeline {
            resampling, chunk, ..
        } = self;
        if let Some(r) = resampling.as_mut() {
            r.finish(&mut |f| frame(chunk, f[0], emit));
        }
        if !chunk.is_empty() {
            emit(std::mem::replace(chunk, Vec::with_capacity(CHUNK_BYTES)));
        }
    }

    /// Throws away everything not sent yet that was pushed before `until`
    /// (the ring, a partial block or chunk); returns how many input frames
    /// that was (at least).
    pub(crate) fn discard(&mut self, until: Option<u64>) -> u64 {
        let available = self.available(until);
        self.position += available as u64;
        let mut dropped = available as u64;
        if available > 0 {
            self.consumer
                .read_chunk(available)
                .expect("available")
                .commit_all();
        }
        if let Some(r) = self.resampling.as_mut() {
            dropped += r.held_frames() as u64;
            r.reset();
        }
        // A partial chunk: its frames at the input rate.
        let held = (self.chunk.len() / 2) as u64;
        dropped += held * u64::from(self.rate) / u64::from(WIRE_RATE);
        self.chunk.clear();
        dropped
    }
}

/// Adds a sample (16-bit little-endian) to the chunk; a full chunk goes to `emit`.
fn frame(chunk: &mut Vec<u8>, sample: f32, emit: &mut impl FnMut(Vec<u8>)) {
    let s = (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16;
    chunk.extend_from_slice(&s.to_le_bytes());
    if chunk.len() == CHUNK_BYTES {
        emit(std::mem::replace(chunk, Vec::with_capacity(CHUNK_BYTES)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::mic::{AudioInput, MicShared};
    use std::sync::Arc;

    fn open(rate: u32, channels: u16) -> (AudioInput, Pipeline) {
        let format = AudioFormat { rate, channels };
        let (producer, consumer) = rtrb::RingBuffer::new(ring_capacity(format));
        let shared = Arc::new(MicShared::default());
        shared.open().unwrap();
        let (id, start) = shared.new_input();
        (
            AudioInput::new(producer, id, format, shared),
            Pipeline::new(consumer, format, start),
        )
    }

    /// `seconds` of a `hz` sine at `rate`, pushed 10 ms at a time as
    /// stereo floats, pumped after each push; the chunks sent.
    fn run(rate: u32, hz: f32, seconds: f32) -> Vec<Vec<u8>> {
        let (mut input, mut pipeline) = open(rate, 2);
        let frames = (rate as f32 * seconds) as usize;
        let step = (rate / 100) as usize;
        let mut chunks = Vec::new();
        let mut emit = |c: Vec<u8>| chunks.push(c);
        let mut start = 0;
        while start < frames {
            let n = step.min(frames - start);
            let samples: Vec<f32> = (start..start + n)
                .flat_map(|i| {
                    let v = 0.5 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin();
                    [v, v]
                })
                .collect();
            assert_eq!(input.push_f32(&samples), Ok(n));
            pipeline.pump(None, &mut emit);
            start += n;
        }
        pipeline.finish(None, &mut emit);
        chunks
    }

    fn samples(chunks: &[Vec<u8>]) -> Vec<i16> {
        chunks
            .concat()
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    #[test]
    fn every_rate_comes_out_at_16_khz_in_full_chunks_then_the_rest() {
        for rate in [8_000, 11_025, 16_000, 22_050, 44_100, 48_000, 44_101] {
            let chunks = run(rate, 440.0, 1.0);
            let frames = (rate as f32 * 1.0) as u64;
            let expected = (frames * 16_000).div_ceil(u64::from(rate));
            let out = samples(&chunks);
            assert_eq!(out.len() as u64, expected, "{rate} Hz");
            let (last, full) = chunks.split_last().unwrap();
            assert!(full.iter().all(|c| c.len() == CHUNK_BYTES), "{rate} Hz");
            assert!(!last.is_empty() && last.len() <= CHUNK_BYTES, "{rate} Hz");
        }
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_loudness() {
        for rate in [8_000, 22_050, 44_100, 48_000] {
            let out = samples(&run(rate, 440.0, 1.0));
            // Rising zero crossings over the steady middle: 440 a second.
            let middle = &out[2_000..14_000];
            let rises = middle.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
            assert!((325..=335).contains(&rises), "{rate} Hz: {rises} in 0.75 s");
            let peak = middle.iter().map(|s| s.unsigned_abs()).max().unwrap();
            assert!((15_500..=17_500).contains(&peak), "{rate} Hz: peak {peak}");
        }
    }

    #[test]
    fn a_short_session_ends_with_its_only_chunk() {
        let (mut input, mut pipeline) = open(44_100, 1);
        assert_eq!(input.push_i16(&[1000; 441]), Ok(441));
        let mut chunks = Vec::new();
        pipeline.finish(None, &mut |c| chunks.push(c));
        assert_eq!(samples(&chunks).len(), 160, "10 ms at 16 kHz");
        // The next session starts clean.
        assert_eq!(input.push_i16(&[0; 4410]), Ok(4410));
        let mut next = Vec::new();
        pipeline.finish(None, &mut |c| next.push(c));
        assert_eq!(samples(&next).len(), 1600);
    }

    #[test]
    fn an_end_takes_only_what_was_pushed_before_its_mark() {
        for rate in [16_000, 48_000] {
            let (mut input, mut pipeline) = open(rate, 1);
            let frames = rate as usize / 10;
            assert_eq!(input.push_i16(&vec![100; frames / 2]), Ok(frames / 2));
            let mark = input.shared.mark();
            assert_eq!(mark, frames as u64 / 2);
            // The next audio session's, pushed before the task saw the end.
            assert_eq!(input.push_i16(&vec![200; frames / 2]), Ok(frames / 2));
            let mut first = Vec::new();
            pipeline.finish(Some(mark), &mut |c| first.push(c));
            assert_eq!(samples(&first).len(), 800, "{rate} Hz: 50 ms");
            assert!(samples(&first)[100..700]
                .iter()
                .all(|s| (90..110).contains(s)));
            let mut second = Vec::new();
            pipeline.finish(None, &mut |c| second.push(c));
            assert_eq!(samples(&second).len(), 800, "{rate} Hz");
            assert!(samples(&second)[100..700]
                .iter()
                .all(|s| (190..210).contains(s)));
        }
    }

    #[test]
    fn discarding_counts_what_was_not_sent() {
        let (mut input, mut pipeline) = open(48_000, 2);
        assert_eq!(input.push_f32(&vec![0.1; 2 * 1_000]), Ok(1_000));
        let mut chunks = Vec::new();
        pipeline.pump(None, &mut |c| chunks.push(c));
        assert!(chunks.is_empty(), "333 samples: less than a chunk");
        assert_eq!(input.push_f32(&vec![0.1; 2 * 500]), Ok(500));
        // 500 in the ring, about 960 in the partial chunk (less the
        // resampler's delay, which is not counted), 40 in a block.
        let dropped = pipeline.discard(None);
        assert!((1_400..=1_500).contains(&dropped), "{dropped}");
        assert_eq!(pipeline.discard(None), 0);
        pipeline.finish(None, &mut |c| chunks.push(c));
        assert!(chunks.is_empty(), "nothing left to send");
    }
}
