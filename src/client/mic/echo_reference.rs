//! What the game actually played (the far end), pushed from its audio
//! thread, so that echo cancellation can remove it from the microphone. The
//! same guarantees as [`super::AudioInput`]: a wait-free ring, no lock, no
//! allocation, never blocks; what does not fit is dropped and counted.
//!
//! The session's task drains it on the same tick as the microphone and
//! resamples it the same way, so the two streams reach the canceller in
//! step; the game should push each buffer as it hands it to the device (the
//! delay from there to the microphone is found by the canceller).

use super::input::write_mono;
use super::{AudioFormat, PushError};
use rtrb::Producer;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What an echo reference shares with its session.
#[derive(Debug)]
pub(crate) struct EchoShared {
    /// Frames dropped: the ring was full.
    pub(crate) dropped: AtomicU64,
    /// Its number in the session (see `MicShared::new_echo_reference`).
    pub(crate) id: u64,
    pub(crate) mic: Arc<super::MicShared>,
}

/// The game's output, as its audio thread holds it (from
/// `Session::echo_reference`). `Send`, used from one thread at a time.
pub struct EchoReference {
    producer: Producer<f32>,
    format: AudioFormat,
    shared: Arc<EchoShared>,
}

impl EchoReference {
    pub(crate) fn new(
        producer: Producer<f32>,
        format: AudioFormat,
        shared: Arc<EchoShared>,
    ) -> Self {
        EchoReference {
            producer,
            format,
            shared,
        }
    }

    /// A reference bound to no session, and the drain of its ring (for
    /// benchmarks of the push).
    #[cfg(feature = "test-hooks")]
    pub fn offline(format: AudioFormat) -> (EchoReference, super::OfflineDrain) {
        let (producer, consumer) = rtrb::RingBuffer::new(super::ring_capacity(format));
        let mic = Arc::new(super::MicShared::default());
        let shared = EchoShared {
            dropped: AtomicU64::new(0),
            id: mic.new_echo_reference(),
            mic,
        };
        (
            EchoReference::new(producer, format, Arc::new(shared)),
            super::OfflineDrain(consumer),
        )
    }

    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Frames dropped so far: pushed when the buffer (one second) was full.
    pub fn dropped_frames(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Pushes interleaved 16-bit frames the game played; returns how many
    /// were taken (fewer: the buffer was full, the rest is dropped and
    /// counted). Real-time safe: no lock, no allocation, never blocks.
    pub fn push_i16(&mut self, samples: &[i16]) -> Result<usize, PushError> {
        self.push(samples, |s| f32::from(s) / 32768.0)
    }

    /// Pushes interleaved float frames (full scale ±1.0); as
    /// [`EchoReference::push_i16`].
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
        if self.producer.is_abandoned()
            || self.shared.mic.state() == super::SESSION_CLOSED
            || !self.shared.mic.is_current_echo_reference(self.shared.id)
        {
            return Err(PushError::Closed);
        }
        let (taken, dropped) = write_mono(&mut self.producer, samples, channels, to_f32);
        if dropped > 0 {
            self.shared.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        Ok(taken)
    }
}

impl std::fmt::Debug for EchoReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoReference")
            .field("format", &self.format)
            .finish()
    }
}
