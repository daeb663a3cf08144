//! Streaming sample-rate conversion of interleaved f32 audio, for any pair
//! of rates: the microphone's rate to the 16 kHz the service listens at, and
//! the service's speech to the rate the game plays at. `rubato`'s sinc
//! resampler takes any ratio (44.1 kHz to 16 kHz is not a whole one). Its
//! buffers are allocated once, when the resampler is made; pushing and
//! finishing allocate nothing.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Indexing, Resampler as _, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};

/// Lowest and highest rate converted.
pub const MIN_RATE: u32 = 8_000;
pub const MAX_RATE: u32 = 192_000;

/// Converts a stream of interleaved frames from one rate to another. The
/// output is the input delayed by nothing: the filter's delay is skipped,
/// and [`Resampler::finish`] flushes its tail, so `n` frames in give
/// `ceil(n * to / from)` frames out.
pub struct Resampler {
    inner: Async<f32>,
    from: u32,
    to: u32,
    channels: usize,
    /// One block of input (10 ms), filled to `filled` frames.
    input: Vec<f32>,
    filled: usize,
    output: Vec<f32>,
    /// Output frames still to skip: the filter's delay.
    skip: usize,
    /// Frames in and out since the last finish (to trim the tail).
    frames_in: u64,
    frames_out: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("channels", &self.channels)
            .finish()
    }
}

impl Resampler {
    /// From `from` Hz to `to` Hz (each within [`MIN_RATE`]..=[`MAX_RATE`]),
    /// `channels` interleaved samples per frame.
    pub fn new(from: u32, to: u32, channels: u16) -> Self {
        let from = from.clamp(MIN_RATE, MAX_RATE);
        let to = to.clamp(MIN_RATE, MAX_RATE);
        let channels = usize::from(channels.max(1));
        let block = (from as usize / 100).max(1);
        // 128 taps: ample for speech, and cheap on the runtime.
        let mut params = SincInterpolationParameters::new(128, WindowFunction::BlackmanHarris2);
        params.interpolation = SincInterpolationType::Linear;
        let inner = Async::<f32>::new_sinc(
            f64::from(to) / f64::from(from),
            1.0,
            &params,
            block,
            channels,
            FixedAsync::Input,
        )
        .expect("valid resampler parameters for 8-192 kHz");
        let output = vec![0.0; inner.output_frames_max() * channels];
        let skip = inner.output_delay();
        Resampler {
            inner,
            from,
            to,
            channels,
            input: vec![0.0; block * channels],
            filled: 0,
            output,
            skip,
            frames_in: 0,
            frames_out: 0,
        }
    }

    pub fn from_rate(&self) -> u32 {
        self.from
    }

    pub fn to_rate(&self) -> u32 {
        self.to
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    fn block_frames(&self) -> usize {
        self.input.len() / self.channels
    }

    /// Input frames held, waiting for a whole block.
    pub fn held_frames(&self) -> usize {
        self.filled
    }

    /// Frames out for `frames` in, at most (for sizing a caller's buffer).
    pub fn output_frames_for(&self, frames: usize) -> usize {
        (frames as u64 * u64::from(self.to)).div_ceil(u64::from(self.from)) as usize
            + self.inner.output_frames_max()
    }

    /// Converts interleaved `samples` (whole frames); hands each output
    /// frame to `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut impl FnMut(&[f32])) {
        let mut rest = samples;
        while !rest.is_empty() {
            let room = (self.block_frames() - self.filled) * self.channels;
            let n = room.min(rest.len());
            let at = self.filled * self.channels;
            self.input[at..at + n].copy_from_slice(&rest[..n]);
            let frames = n / self.channels;
            self.filled += frames;
            self.frames_in += frames as u64;
            rest = &rest[n..];
            if self.filled == self.block_frames() {
                self.block(None, u64::MAX, out);
            }
        }
    }

    /// The input ends (for now): what is held goes out, the filter's tail
    /// included, so that the frames out match the frames in. Ready for a
    /// new stream after.
    pub fn finish(&mut self, out: &mut impl FnMut(&[f32])) {
        let expected = (self.frames_in * u64::from(self.to)).div_ceil(u64::from(self.from));
        let mut partial = self.filled;
        while self.frames_out < expected {
            self.block(Some(partial), expected, out);
            partial = 0;
        }
        self.reset();
    }

    /// Forgets everything held: a new stream starts.
    pub fn reset(&mut self) {
        self.inner.reset();
        self.filled = 0;
        self.skip = self.inner.output_delay();
        self.frames_in = 0;
        self.frames_out = 0;
    }

    /// Resamples the block (its first `partial` frames, the rest silence,
    /// when given); passes on at most `limit` frames in all.
    fn block(&mut self, partial: Option<usize>, limit: u64, out: &mut impl FnMut(&[f32])) {
        let frames = self.block_frames();
        let channels = self.channels;
        if let Some(n) = partial {
            // What is past the partial frames is stale: silence instead.
            self.input[n * channels..].fill(0.0);
        }
        let input =
            InterleavedSlice::new(&self.input[..], channels, frames).expect("sized by channels");
        let capacity = self.output.len() / channels;
        let mut output = InterleavedSlice::new_mut(&mut self.output[..], channels, capacity)
            .expect("sized by channels");
        let indexing = partial.map(|n| Indexing::new().partial_len(n));
        let (_, produced) = self
            .inner
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .expect("buffers sized by the resampler");
        for frame in self.output[..produced * channels].chunks_exact(channels) {
            if self.skip > 0 {
                self.skip -= 1;
            } else if self.frames_out < limit {
                self.frames_out += 1;
                out(frame);
            }
        }
        self.filled = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, frames: usize, channels: usize) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let v = 0.5 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin();
                std::iter::repeat_n(v, channels)
            })
            .collect()
    }

    /// `seconds` of a tone through a resampler, pushed 7 ms at a time (not
    /// a block's multiple), then finished; the first channel out.
    fn run(from: u32, to: u32, channels: u16) -> (usize, Vec<f32>) {
        let mut r = Resampler::new(from, to, channels);
        let input = tone(from, 440.0, from as usize, usize::from(channels));
        let step = (from as usize * 7 / 1000) * usize::from(channels);
        let mut out = Vec::new();
        let mut take = |frame: &[f32]| {
            assert_eq!(frame.len(), usize::from(channels));
            out.push(frame[0]);
        };
        for piece in input.chunks(step) {
            r.push(piece, &mut take);
        }
        r.finish(&mut take);
        (from as usize, out)
    }

    #[test]
    fn frames_out_match_frames_in_at_every_rate_pair() {
        for (from, to) in [
            (44_100, 16_000),
            (16_000, 48_000),
            (22_050, 48_000),
            (48_000, 44_100),
            (24_000, 22_050),
            (8_000, 192_000),
        ] {
            for channels in [1, 2] {
                let (frames, out) = run(from, to, channels);
                let expected = (frames as u64 * u64::from(to)).div_ceil(u64::from(from));
                assert_eq!(out.len() as u64, expected, "{from} -> {to}, {channels} ch");
            }
        }
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_level() {
        for (from, to) in [(22_050, 48_000), (44_100, 16_000), (16_000, 44_100)] {
            let (_, out) = run(from, to, 2);
            let middle = &out[to as usize / 8..to as usize * 7 / 8];
            let rises = middle
                .windows(2)
                .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
                .count();
            assert!(
                (325..=335).contains(&rises),
                "{from} -> {to}: {rises} in 0.75 s"
            );
            let peak = middle.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            assert!((0.47..=0.53).contains(&peak), "{from} -> {to}: peak {peak}");
        }
    }

    #[test]
    fn the_first_sample_out_is_the_first_in() {
        // A click at frame 0 stays at frame 0 (the filter's delay is skipped).
        let mut r = Resampler::new(16_000, 48_000, 1);
        let mut input = vec![0.0; 1600];
        input[0] = 1.0;
        let mut out = Vec::new();
        r.push(&input, &mut |f| out.push(f[0]));
        r.finish(&mut |f| out.push(f[0]));
        let loudest = (0..out.len())
            .max_by(|&a, &b| out[a].abs().total_cmp(&out[b].abs()))
            .unwrap();
        assert!(loudest <= 2, "the click is at {loudest}");
    }
}
