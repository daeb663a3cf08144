//! The audio thread's side: [`AudioInput`] downmixes what the game pushes
//! and writes it into the ring. Real-time safe: atomics only (no lock), no
//! allocation (the ring is allocated when the input opens), never blocks.

use super::AudioFormat;
use super::{MicShared, AUDIO_SESSION_OPEN, SESSION_CLOSED};
use rtrb::Producer;
use std::sync::Arc;

/// Why a push was refused (nothing of it was taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The samples are not a whole number of frames (stereo takes pairs).
    PartialFrame,
    /// No audio session is open: start one first (audio outside an audio
    /// session has nowhere to go, so it is refused at the call rather than
    /// dropped later).
    NoAudioSession,
    /// The session closed, or another input of the session replaced this one.
    Closed,
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PushError::PartialFrame => {
                "the samples are not a whole number of frames (one sample per channel)"
            }
            PushError::NoAudioSession => "no audio session is open: start one first",
            PushError::Closed => {
                "the session closed, or another audio input of the session replaced this one"
            }
        })
    }
}

impl std::error::Error for PushError {}

/// The game's microphone, as the session's audio thread holds it (from
/// `Session::audio_input`). `Send`, used from one thread at a time (`&mut`).
/// One input per session: opening another replaces it.
pub struct AudioInput {
    producer: Producer<f32>,
    /// Its number in the session (see `MicShared::new_input`).
    id: u64,
    format: AudioFormat,
    pub(super) shared: Arc<MicShared>,
}

impl AudioInput {
    pub(crate) fn new(
        producer: Producer<f32>,
        id: u64,
        format: AudioFormat,
        shared: Arc<MicShared>,
    ) -> Self {
        AudioInput {
            producer,
            id,
            format,
            shared,
        }
    }

    /// An input bound to no session, with an audio session open, and the
    /// drain of its ring (for benchmarks of the push).
    #[cfg(feature = "test-hooks")]
    pub fn offline(format: AudioFormat) -> (AudioInput, OfflineDrain) {
        let (producer, consumer) = rtrb::RingBuffer::new(super::ring_capacity(format));
        let shared = Arc::new(MicShared::default());
        shared.open().expect("a fresh state");
        let (id, _) = shared.new_input();
        (
            AudioInput::new(producer, id, format, shared),
            OfflineDrain(consumer),
        )
    }

    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Frames dropped since the session opened: pushed when the buffer was
    /// full (the session's task did not keep up, e.g. while reconnecting),
    /// or taken while the session could not send them. Each growth is also
    /// reported to the game as a `SendFailed` packet (at most one a second).
    pub fn dropped_frames(&self) -> u64 {
        self.shared.dropped()
    }

    /// Pushes interleaved 16-bit frames; returns how many frames were
    /// taken. Fewer than given means the buffer (one second) was full: the
    /// rest is dropped, counted and reported. Real-time safe: no lock, no
    /// allocation, never blocks.
    pub fn push_i16(&mut self, samples: &[i16]) -> Result<usize, PushError> {
        self.push(samples, |s| f32::from(s) / 32768.0)
    }

    /// Pushes interleaved float frames (full scale ±1.0); as
    /// [`AudioInput::push_i16`].
    pub fn push_f32(&mut self, samples: &[f32]) -> Result<usize, PushError> {
        self.push(samples, |s| s)
    }

    fn push<S: Copy>(
        &mut self,
        samples: &[S],
        to_f32: impl Fn(S) -> f32,
    ) -> Result<usize, PushError> {
        let channels = usize::from(self.format.channels);
        if !samples.len().is_multiple_of(channels) {
            return Err(PushError::PartialFrame);
        }
        match self.shared.state() {
            AUDIO_SESSION_OPEN => {}
            SESSION_CLOSED => return Err(PushError::Closed),
            // Voice detection listens all the time.
            _ if self.shared.is_hands_free() => {}
            _ => return Err(PushError::NoAudioSession),
        }
        if self.producer.is_abandoned() || !self.shared.is_current(self.id) {
            return Err(PushError::Closed);
        }
        let (taken, dropped) = write_mono(&mut self.producer, samples, channels, to_f32);
        self.shared.pushed(taken);
        self.shared.add_dropped(dropped);
        Ok(taken)
    }
}

/// Writes whole interleaved frames into the ring, each averaged to mono, as
/// far as it has room: no lock, no allocation. Returns the frames taken and
/// those that did not fit.
pub(super) fn write_mono<S: Copy>(
    producer: &mut rtrb::Producer<f32>,
    samples: &[S],
    channels: usize,
    to_f32: impl Fn(S) -> f32,
) -> (usize, u64) {
    let frames = samples.len() / channels;
    let taken = frames.min(producer.slots());
    if taken > 0 {
        let chunk = producer
            .write_chunk_uninit(taken)
            .expect("no more than the free slots");
        chunk.fill_from_iter(
            samples
                .chunks_exact(channels)
                .map(|frame| downmix(frame, &to_f32)),
        );
    }
    (taken, (frames - taken) as u64)
}

/// Empties an offline input's ring (see `AudioInput::offline`).
#[cfg(feature = "test-hooks")]
pub struct OfflineDrain(pub(super) rtrb::Consumer<f32>);

#[cfg(feature = "test-hooks")]
impl OfflineDrain {
    /// Throws away what the ring holds; returns how many frames.
    pub fn drain(&mut self) -> usize {
        let n = self.0.slots();
        self.0.read_chunk(n).expect("available").commit_all();
        n
    }
}

impl std::fmt::Debug for AudioInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioInput")
            .field("format", &self.format)
            .finish()
    }
}

/// The mean of a frame's channels.
pub(super) fn downmix<S: Copy>(frame: &[S], to_f32: impl Fn(S) -> f32) -> f32 {
    match frame {
        [mono] => to_f32(*mono),
        [left, right] => (to_f32(*left) + to_f32(*right)) * 0.5,
        _ => frame.iter().map(|s| to_f32(*s)).sum::<f32>() / frame.len() as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::mic::AudioFormat;

    fn input(rate: u32, channels: u16, capacity: usize) -> (AudioInput, rtrb::Consumer<f32>) {
        let (producer, consumer) = rtrb::RingBuffer::new(capacity);
        let shared = Arc::new(MicShared::default());
        shared.open().unwrap();
        let (id, _) = shared.new_input();
        (
            AudioInput::new(producer, id, AudioFormat { rate, channels }, shared),
            consumer,
        )
    }

    fn drain(consumer: &mut rtrb::Consumer<f32>) -> Vec<f32> {
        let chunk = consumer.read_chunk(consumer.slots()).unwrap();
        let (a, b) = chunk.as_slices();
        let v = [a, b].concat();
        chunk.commit_all();
        v
    }

    #[test]
    fn stereo_is_averaged_to_mono_and_i16_scaled_to_unit() {
        let (mut input, mut ring) = input(48_000, 2, 16);
        assert_eq!(input.push_i16(&[16384, 0, -32768, -32768]), Ok(2));
        assert_eq!(drain(&mut ring), vec![0.25, -1.0]);
        assert_eq!(input.push_f32(&[0.5, -0.5, 1.0, 0.0]), Ok(2));
        assert_eq!(drain(&mut ring), vec![0.0, 0.5]);
        let (mut mono, mut ring) = super::tests::input(16_000, 1, 16);
        assert_eq!(mono.push_f32(&[0.1, 0.2, 0.3]), Ok(3));
        assert_eq!(drain(&mut ring), vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn a_full_ring_takes_what_fits_and_counts_the_rest() {
        let (mut input, mut ring) = input(8_000, 2, 4);
        assert_eq!(input.push_i16(&[1; 6]), Ok(3));
        assert_eq!(input.dropped_frames(), 0);
        assert_eq!(input.push_i16(&[1; 8]), Ok(1), "one slot left");
        assert_eq!(input.dropped_frames(), 3);
        assert_eq!(input.push_f32(&[0.0; 2]), Ok(0));
        assert_eq!(input.dropped_frames(), 4);
        assert_eq!(drain(&mut ring).len(), 4);
        assert_eq!(input.push_f32(&[0.0; 2]), Ok(1), "room again once drained");
        assert_eq!(input.dropped_frames(), 4);
    }

    #[test]
    fn refused_pushes_take_nothing() {
        let (mut input, ring) = input(8_000, 2, 4);
        assert_eq!(input.push_i16(&[1, 2, 3]), Err(PushError::PartialFrame));
        input.shared.end().unwrap();
        assert_eq!(input.push_i16(&[1, 2]), Err(PushError::NoAudioSession));
        input.shared.open().unwrap();
        drop(ring);
        assert_eq!(input.push_i16(&[1, 2]), Err(PushError::Closed), "abandoned");
        let (mut again, _ring) = super::tests::input(8_000, 1, 4);
        again.shared.new_input();
        assert_eq!(again.push_i16(&[1]), Err(PushError::Closed), "replaced");
        input.shared.close();
        assert_eq!(input.push_f32(&[]), Err(PushError::Closed));
        assert_eq!(input.dropped_frames(), 0);
    }
}
