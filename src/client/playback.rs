//! Speech out, pulled by the game's audio thread: a [`Playback`] stream per
//! session (or per character), in the format the game plays.
//!
//! The session's task decodes each audio chunk once and hands it, for every
//! open stream whose character it is, to the session's playback worker (a
//! thread), which resamples the speech to the stream's rate, maps it to the
//! stream's channels and queues it (`driver/speakers/worker.rs`).
//! The game's audio callback reads frames with [`Playback::read_f32`] or
//! [`Playback::read_i16`]: wait-free, no lock, no allocation, silence when
//! nothing is queued. [`Playback::now_playing`] says, from any thread, which
//! utterance the player hears now, how far into it, and its viseme there;
//! [`PlaybackMonitor::face`] (`client/face.rs`) the face to show.

use crate::audio::playback::{NowPlaying, PlaybackClock, PlaybackReader, PlaybackWriter};
use crate::audio::resample::{MAX_RATE, MIN_RATE};
use crate::audio::visemes::Viseme;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The format a [`Playback`] stream gives: frames per second, and samples
/// per frame (interleaved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaybackFormat {
    /// 8,000 to 192,000.
    pub rate: u32,
    /// 1 (mono: a stereo voice is averaged) or 2 (stereo: a mono voice on
    /// both sides).
    pub channels: u16,
}

impl PlaybackFormat {
    pub(crate) fn validate(&self) -> Result<(), super::Error> {
        if !(MIN_RATE..=MAX_RATE).contains(&self.rate) {
            return Err(super::Error::InvalidArgument(format!(
                "playback rate {} Hz is outside {MIN_RATE}..={MAX_RATE}",
                self.rate
            )));
        }
        if !(1..=2).contains(&self.channels) {
            return Err(super::Error::InvalidArgument(format!(
                "{} playback channels: only 1 (mono) or 2 (stereo)",
                self.channels
            )));
        }
        Ok(())
    }
}

/// What a stream holds, in seconds: the session holds the rest of a reply
/// and feeds it in as it plays.
const STREAM_SECONDS: usize = 2;

/// The capacity of a new stream, in frames.
pub(crate) fn stream_capacity(format: PlaybackFormat) -> usize {
    format.rate as usize * STREAM_SECONDS
}

/// What a stream's two sides share, besides the samples.
#[derive(Debug, Default)]
pub(crate) struct PlaybackLink {
    /// The game dropped its [`Playback`]: the task stops feeding it.
    pub dropped: AtomicBool,
    /// Frames the task holds for it, not yet in the stream (speech arrives
    /// faster than it plays).
    pub backlog_frames: AtomicU64,
    /// Frames of speech on their way to the task's playback worker, not
    /// yet converted to the stream's format (at its rate).
    pub arriving_frames: AtomicU64,
    /// Flushes so far (cancels, barge-ins): the game can tell one happened.
    pub flushes: AtomicU64,
    /// Frames of speech (at its rate) not played because the stream had
    /// too much ahead of the player already.
    pub dropped_frames: AtomicU64,
}

/// The task's side of a new stream.
#[derive(Debug)]
pub(crate) struct PlaybackFeed {
    pub writer: PlaybackWriter,
    pub format: PlaybackFormat,
    /// Only this character's speech (its resource name); `None`: everyone's.
    pub character: Option<String>,
    pub link: Arc<PlaybackLink>,
}

/// A stream of the characters' speech for the game's audio thread. Move it
/// to the audio thread; [`Playback::monitor`] gives a handle for the other
/// threads (lip-sync on the main thread). Dropping it stops the stream.
pub struct Playback {
    reader: PlaybackReader,
    monitor: PlaybackMonitor,
}

/// What a [`Playback`] is playing, from any thread: lock-free reads of
/// what the audio thread last published.
#[derive(Clone)]
pub struct PlaybackMonitor {
    clock: PlaybackClock,
    format: PlaybackFormat,
    link: Arc<PlaybackLink>,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.monitor.fmt(f)
    }
}

impl std::fmt::Debug for PlaybackMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback")
            .field("format", &self.format)
            .field("now_playing", &self.clock.now_playing())
            .field("pending_frames", &self.pending_frames())
            .finish()
    }
}

impl Playback {
    pub(crate) fn new(
        reader: PlaybackReader,
        clock: PlaybackClock,
        format: PlaybackFormat,
        link: Arc<PlaybackLink>,
    ) -> Self {
        Playback {
            reader,
            monitor: PlaybackMonitor {
                clock,
                format,
                link,
            },
        }
    }

    /// Fills `out` (interleaved frames of the stream's format) with the
    /// speech queued, then silence; returns the frames of speech. For the
    /// audio callback: wait-free, no lock, no allocation.
    pub fn read_f32(&mut self, out: &mut [f32]) -> usize {
        self.reader.read(out)
    }

    /// [`read_f32`](Self::read_f32) in 16-bit samples.
    pub fn read_i16(&mut self, out: &mut [i16]) -> usize {
        self.reader.read_i16(out)
    }

    /// A handle on what is playing, for other threads.
    pub fn monitor(&self) -> PlaybackMonitor {
        self.monitor.clone()
    }

    pub fn format(&self) -> PlaybackFormat {
        self.monitor.format
    }

    pub(crate) fn monitor_ref(&self) -> &PlaybackMonitor {
        &self.monitor
    }

    /// See [`PlaybackMonitor::now_playing`].
    pub fn now_playing(&self) -> Option<NowPlaying> {
        self.monitor.now_playing()
    }

    /// See [`PlaybackMonitor::viseme`].
    pub fn viseme(&self) -> Viseme {
        self.monitor.viseme()
    }

    /// See [`PlaybackMonitor::pending_frames`].
    pub fn pending_frames(&self) -> u64 {
        self.monitor.pending_frames()
    }

    /// See [`PlaybackMonitor::flushes`].
    pub fn flushes(&self) -> u64 {
        self.monitor.flushes()
    }

    /// See [`PlaybackMonitor::dropped_frames`].
    pub fn dropped_frames(&self) -> u64 {
        self.monitor.dropped_frames()
    }
}

impl PlaybackMonitor {
    pub fn format(&self) -> PlaybackFormat {
        self.format
    }

    pub(crate) fn clock(&self) -> &PlaybackClock {
        &self.clock
    }

    /// The utterance being heard, as of the audio thread's last read: who
    /// says it, its ids, the frames of it played and its visemes. `None`
    /// between utterances.
    pub fn now_playing(&self) -> Option<NowPlaying> {
        self.clock.now_playing()
    }

    /// The viseme being heard (`Sil` between utterances).
    pub fn viseme(&self) -> Viseme {
        self.now_playing()
            .map_or(Viseme::Sil, |p| p.viseme(self.format.rate))
    }

    /// Frames of speech still to play: in the stream and held by the
    /// session for it. Zero once everything that arrived has played.
    pub fn pending_frames(&self) -> u64 {
        self.clock.queued_frames()
            + self.link.backlog_frames.load(Ordering::Acquire)
            + self.link.arriving_frames.load(Ordering::Acquire)
    }

    /// How many times queued speech was thrown away (cancelled responses,
    /// the player interrupting).
    pub fn flushes(&self) -> u64 {
        self.link.flushes.load(Ordering::Acquire)
    }

    /// Frames of speech (at the stream's rate) never played because the
    /// stream had two minutes of speech ahead of the player already (its
    /// reader or the session's playback worker fell behind): the rest of
    /// that reply was dropped from it, and a warning `Log` packet with the
    /// reply's ids said so.
    pub fn dropped_frames(&self) -> u64 {
        self.link.dropped_frames.load(Ordering::Acquire)
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.monitor.link.dropped.store(true, Ordering::Release);
    }
}
