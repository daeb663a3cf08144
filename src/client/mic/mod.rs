//! Microphone in: audio sessions, and the game's audio on its way to the
//! service.
//!
//! The game opens an [`AudioInput`] for the format its microphone gives
//! (16-bit or float samples, interleaved, mono or stereo, 8–48 kHz) and
//! pushes audio from its audio thread. The push downmixes to mono and hands
//! the samples to a wait-free single-producer single-consumer ring (`rtrb`):
//! no lock, no allocation, never blocks. The session's task drains the ring
//! on a tick while an audio session is open, resamples to 16 kHz (`rubato`),
//! frames the 16-bit little-endian mono samples into chunks and sends them
//! as `DataChunk` AUDIO packets, as the Node SDK sends what its microphone
//! example records (raw LINEAR16 16 kHz mono, no header).
//!
//! Where things live: `input.rs` (the audio thread's side), `pipeline.rs`
//! (the task's side: resampling and framing). The audio session itself goes
//! through the conversation like any send; the driver (`driver/mic.rs`)
//! writes the chunks once its start went out.

mod echo_reference;
mod input;
mod pipeline;

pub use echo_reference::EchoReference;
pub(crate) use echo_reference::EchoShared;
#[cfg(feature = "test-hooks")]
pub use input::OfflineDrain;
pub use input::{AudioInput, PushError};
pub(crate) use pipeline::{ring_capacity, Pipeline};

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

/// The rate the service takes (16 kHz), as the SDK's microphone example
/// records it.
pub const WIRE_RATE: u32 = 16_000;
/// Bytes of audio per chunk sent: 5 KiB (2,560 samples, 160 ms), the size
/// the SDK's audio example streams in.
pub const CHUNK_BYTES: usize = 5 * 1024;
/// Lowest and highest input rate accepted.
pub const MIN_RATE: u32 = 8_000;
pub const MAX_RATE: u32 = 48_000;

/// How the service decides that the player stopped speaking (the SDK's
/// `MicrophoneMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(i32)]
pub enum MicrophoneMode {
    /// The service detects the end of each utterance itself (OPEN_MIC).
    #[default]
    OpenMic = 1,
    /// The player speaks until the game ends the audio session, e.g. when a
    /// key is released (EXPECT_AUDIO_END).
    PushToTalk = 2,
}

/// What the service does with the speech (the SDK's `UnderstandingMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(i32)]
pub enum UnderstandingMode {
    /// Recognise it and let the characters answer (FULL).
    #[default]
    Full = 1,
    /// Only recognise it: the transcript comes back, nobody answers
    /// (SPEECH_RECOGNITION_ONLY).
    SpeechRecognitionOnly = 2,
}

/// How an audio session starts. The defaults are the SDK's: open mic, full
/// understanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AudioSessionConfig {
    pub mode: MicrophoneMode,
    pub understanding: UnderstandingMode,
}

// The wire's numbers are the model's (checked when compiling).
const _: () = {
    use crate::protocol::ai::inworld::packets::audio_session_start_payload as wire;
    assert!(MicrophoneMode::OpenMic as i32 == wire::MicrophoneMode::OpenMic as i32);
    assert!(MicrophoneMode::PushToTalk as i32 == wire::MicrophoneMode::ExpectAudioEnd as i32);
    assert!(UnderstandingMode::Full as i32 == wire::UnderstandingMode::Full as i32);
    assert!(
        UnderstandingMode::SpeechRecognitionOnly as i32
            == wire::UnderstandingMode::SpeechRecognitionOnly as i32
    );
};

/// Hands-free: the library listens to the audio input all the time, and
/// each time the player speaks it starts a push-to-talk audio session in the
/// one-to-one conversation, sends the speech (with a short pre-roll, never
/// the silences) and ends the audio session after `end_silence` of silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoiceDetection {
    /// Silence that ends the player's turn (default 800 ms).
    pub end_silence: std::time::Duration,
    /// What the service does with each turn (default: full understanding).
    pub understanding: UnderstandingMode,
    /// Remove the echo of what the game played (its `EchoReference`) before
    /// listening (default off).
    pub echo_cancellation: bool,
}

impl Default for VoiceDetection {
    fn default() -> Self {
        VoiceDetection {
            end_silence: std::time::Duration::from_millis(800),
            understanding: UnderstandingMode::Full,
            echo_cancellation: false,
        }
    }
}

/// What the game's microphone gives: frames per second and samples per
/// frame (interleaved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFormat {
    /// 8,000 to 48,000.
    pub rate: u32,
    /// 1 (mono) or 2 (stereo, averaged to mono).
    pub channels: u16,
}

impl AudioFormat {
    pub(crate) fn validate(&self) -> Result<(), super::Error> {
        if !(MIN_RATE..=MAX_RATE).contains(&self.rate) {
            return Err(super::Error::InvalidArgument(format!(
                "audio rate {} Hz is outside {MIN_RATE}..={MAX_RATE}",
                self.rate
            )));
        }
        if !(1..=2).contains(&self.channels) {
            return Err(super::Error::InvalidArgument(format!(
                "{} audio channels: only 1 (mono) or 2 (stereo) are taken",
                self.channels
            )));
        }
        Ok(())
    }
}

/// Where the session's audio session stands, as the audio thread reads it
/// (one atomic: the push takes no lock).
const NO_AUDIO_SESSION: u8 = 0;
const AUDIO_SESSION_OPEN: u8 = 1;
const SESSION_CLOSED: u8 = 2;

/// What a session's audio inputs share with it.
#[derive(Debug, Default)]
pub(crate) struct MicShared {
    state: AtomicU8,
    /// The session's current input (1, 2, ...; 0 before the first): the
    /// others are refused.
    input: AtomicU64,
    /// Frames the current input has put into its ring, counted on from the
    /// inputs before. A start or end of an audio session reads it as its
    /// mark: the task sends the frames before an end's mark in that audio
    /// session, and drops those before a start's mark (so audio of the next
    /// audio session, pushed before the task saw the end, stays for it).
    pushed: AtomicU64,
    /// The marks of the ends the task has not taken yet, oldest first (the
    /// API's threads and the task only, never the audio thread): the task
    /// sends nothing past the first before it takes that end, so audio of
    /// the next audio session never goes out in the last.
    ends: parking_lot::Mutex<std::collections::VecDeque<u64>>,
    /// Input frames dropped, in total: the ring was full, or the session
    /// could not send them (the task reports the growth).
    dropped: AtomicU64,
    /// Voice detection is on: the input is always taken, and the library
    /// starts and ends the audio sessions itself.
    hands_free: AtomicBool,
    /// The session's current echo reference (1, 2, ...): the others are refused.
    echo_reference: AtomicU64,
}

impl MicShared {
    /// Marks an audio session open (refused when one is open already).
    pub(crate) fn open(&self) -> Result<(), super::Error> {
        if self.is_hands_free() {
            return Err(super::Error::InvalidArgument(
                "voice detection is on: it starts and ends the audio sessions itself (turn it \
                 off first)"
                    .into(),
            ));
        }
        match self.state.compare_exchange(
            NO_AUDIO_SESSION,
            AUDIO_SESSION_OPEN,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(SESSION_CLOSED) => Err(super::Error::Closed),
            Err(_) => Err(super::Error::InvalidArgument(
                "an audio session is already open: end it first".into(),
            )),
        }
    }

    /// Marks the audio session ended (refused when none is open).
    pub(crate) fn end(&self) -> Result<(), super::Error> {
        match self.state.compare_exchange(
            AUDIO_SESSION_OPEN,
            NO_AUDIO_SESSION,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(SESSION_CLOSED) => Err(super::Error::Closed),
            Err(_) => Err(super::Error::InvalidArgument(
                "no audio session is open".into(),
            )),
        }
    }

    /// Where the audio stands: the count of frames pushed.
    pub(crate) fn mark(&self) -> u64 {
        self.pushed.load(Ordering::Acquire)
    }

    /// A new input replaces the current one: its id, and the mark it starts at.
    pub(crate) fn new_input(&self) -> (u64, u64) {
        let id = self.input.fetch_add(1, Ordering::AcqRel) + 1;
        (id, self.mark())
    }

    fn is_current(&self, input: u64) -> bool {
        self.input.load(Ordering::Acquire) == input
    }

    fn pushed(&self, frames: usize) {
        self.pushed.fetch_add(frames as u64, Ordering::Release);
    }

    /// An end is on its way to the task, at `mark`.
    pub(crate) fn end_made(&self, mark: u64) {
        self.ends.lock().push_back(mark);
    }

    /// An end made did not reach the task.
    pub(crate) fn end_unmade(&self, mark: u64) {
        let mut ends = self.ends.lock();
        if let Some(i) = ends.iter().rposition(|m| *m == mark) {
            ends.remove(i);
        }
    }

    /// The task takes the oldest end.
    pub(crate) fn end_taken(&self) {
        self.ends.lock().pop_front();
    }

    /// How far the task may send: the mark of the oldest end it has not
    /// taken, and never past what was pushed before it looked. The count is
    /// read first: an end made after it is made after those frames, so what
    /// the game pushes after that end (the next audio session's) is beyond
    /// the count even when the ring already holds it.
    pub(crate) fn sendable_until(&self) -> u64 {
        let pushed = self.mark();
        let end = self.ends.lock().front().copied();
        end.map_or(pushed, |end| end.min(pushed))
    }

    /// The session closed: pushes fail from now on.
    pub(crate) fn close(&self) {
        self.state.store(SESSION_CLOSED, Ordering::Release);
    }

    /// Turns voice detection on or off; refused (false) while an audio
    /// session the game started is open.
    pub(crate) fn set_hands_free(&self, on: bool) -> Result<(), super::Error> {
        match self.state() {
            SESSION_CLOSED => Err(super::Error::Closed),
            AUDIO_SESSION_OPEN if on => Err(super::Error::InvalidArgument(
                "an audio session is open: end it before turning voice detection on".into(),
            )),
            _ => {
                self.hands_free.store(on, Ordering::Release);
                Ok(())
            }
        }
    }

    /// A new echo reference replaces the current one: its id.
    pub(crate) fn new_echo_reference(&self) -> u64 {
        self.echo_reference.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn is_current_echo_reference(&self, id: u64) -> bool {
        self.echo_reference.load(Ordering::Acquire) == id
    }

    pub(crate) fn is_hands_free(&self) -> bool {
        self.hands_free.load(Ordering::Acquire)
    }

    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    pub(crate) fn add_dropped(&self, frames: u64) {
        if frames > 0 {
            self.dropped.fetch_add(frames, Ordering::Relaxed);
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
