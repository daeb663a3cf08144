//! The speakers' audio work, off the session's task: each chunk of speech
//! is converted to its stream's format (resampled, its channels mapped) and
//! queued here, and what does not fit in the stream waits here and is fed in
//! as the audio thread makes room (a tick). Resampling a reply to 48 kHz
//! stereo costs far more than the task's other work (most of a second of
//! CPU for a few seconds of speech in a debug build), and the task must
//! stay free to drain the microphone and write the wire.
//!
//! [`Voices`] is a plain value that runs [`Job`]s; [`Worker`] runs them on
//! a thread of its own, fed in order through a channel, and ticks them. The
//! channel needs no bound of its own: the task sends a stream only so much
//! speech ahead of the player (`speakers.rs`), whether the worker keeps up
//! or not.

use crate::audio::playback::{Utterance, VisemeTimeline};
use crate::audio::resample::Resampler;
use crate::audio::visemes::TimedViseme;
use crate::client::playback::PlaybackFeed;
use crate::packet::AudioChunk;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often held speech is fed in: well inside what a stream holds.
pub(super) const TICK: Duration = Duration::from_millis(20);

/// What the task and the worker share about one stream. Chunks sent to a
/// stream are numbered from 1, in order.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// The last chunk the worker took (queued, or skipped as cancelled).
    taken: AtomicU64,
    /// `taken` as of the last time the stream was found played out:
    /// nothing held, nothing left in the stream.
    played_out: AtomicU64,
    /// Chunks numbered up to this were cancelled: not played.
    cancelled_through: AtomicU64,
}

impl Progress {
    /// Whether every chunk up to `sent` has played.
    pub(super) fn played_out(&self, sent: u64) -> bool {
        self.played_out.load(Ordering::Acquire) >= sent
    }

    /// Chunks up to `sent` are cancelled: the worker skips those it has
    /// not taken yet (a flush job follows for what it has).
    pub(super) fn cancel_through(&self, sent: u64) {
        self.cancelled_through.fetch_max(sent, Ordering::AcqRel);
    }
}

/// Who says a chunk.
pub(super) struct Said {
    pub interaction_id: String,
    pub utterance_id: String,
    /// The speaking character's agent id.
    pub agent_id: String,
}

/// What the task asks of the speakers, in order.
pub(super) enum Job {
    Open {
        stream: u64,
        feed: PlaybackFeed,
        progress: Arc<Progress>,
    },
    /// A chunk for each stream named, with its number there; `frames`: its
    /// length at each stream's rate, counted as arriving until taken.
    Speech {
        streams: Vec<(u64, u64, u64)>,
        said: Said,
        chunk: AudioChunk,
    },
    /// A reply ended: its last utterance is complete (its tail, still in
    /// the resampler, goes out). Each stream named counts one frame as
    /// arriving until then: the game may see the end before the worker does.
    InteractionEnd {
        interaction_id: String,
        streams: Vec<u64>,
    },
    /// Throw away everything the stream holds.
    Flush { stream: u64 },
}

/// Speech waiting for room in a stream.
enum Held {
    Begin(Utterance, VisemeTimeline),
    Samples(Vec<f32>),
}

/// The utterance being queued into a stream.
struct Queuing {
    utterance_id: String,
    interaction_id: String,
    visemes: VisemeTimeline,
    /// Its speech so far, in the chunks' own frames and rate: where the next
    /// chunk's phonemes start.
    frames_in: u64,
    rate_in: u32,
}

struct Speaker {
    stream: u64,
    feed: PlaybackFeed,
    progress: Arc<Progress>,
    /// From the voice's rate and channels; made again when they change.
    resampler: Option<Resampler>,
    held: VecDeque<Held>,
    /// Samples of the front `Held::Samples` already in the stream.
    front_written: usize,
    held_frames: u64,
    queuing: Option<Queuing>,
    /// Some of its speech is still to play.
    talking: bool,
}

impl Speaker {
    fn new(stream: u64, feed: PlaybackFeed, progress: Arc<Progress>) -> Self {
        Speaker {
            stream,
            feed,
            progress,
            resampler: None,
            held: VecDeque::new(),
            front_written: 0,
            held_frames: 0,
            queuing: None,
            talking: false,
        }
    }

    fn channels(&self) -> usize {
        usize::from(self.feed.format.channels)
    }

    fn dropped(&self) -> bool {
        self.feed.link.dropped.load(Ordering::Acquire)
    }

    /// Queues a chunk of `said`'s speech.
    fn queue(&mut self, said: &Said, chunk: &AudioChunk) {
        if chunk.sample_rate == 0 || chunk.channels == 0 {
            return;
        }
        let (interaction_id, utterance_id) = (&said.interaction_id, &said.utterance_id);
        let new_utterance = self
            .queuing
            .as_ref()
            .is_none_or(|q| &q.utterance_id != utterance_id || &q.interaction_id != interaction_id);
        if new_utterance {
            self.end_utterance();
            let visemes = VisemeTimeline::default();
            self.held.push_back(Held::Begin(
                Utterance {
                    character: said.agent_id.clone(),
                    interaction_id: interaction_id.clone(),
                    utterance_id: utterance_id.clone(),
                },
                visemes.clone(),
            ));
            self.queuing = Some(Queuing {
                utterance_id: utterance_id.clone(),
                interaction_id: interaction_id.clone(),
                visemes,
                frames_in: 0,
                rate_in: chunk.sample_rate,
            });
        }
        let queuing = self.queuing.as_mut().expect("begun");
        // The chunk's visemes, moved to the utterance's clock.
        if !chunk.visemes.is_empty() {
            let start = Duration::from_nanos(
                queuing.frames_in * 1_000_000_000 / u64::from(queuing.rate_in.max(1)),
            );
            let mut timeline = Vec::clone(&queuing.visemes.load());
            timeline.extend(chunk.visemes.iter().map(|v| TimedViseme {
                viseme: v.viseme,
                start_offset: start + v.start_offset,
            }));
            queuing.visemes.store(Arc::new(timeline));
        }
        let voice_channels = usize::from(chunk.channels);
        queuing.frames_in += (chunk.samples.len() / voice_channels) as u64;
        self.talking = true;

        let format = self.feed.format;
        let stream_channels = self.channels();
        let input = chunk.samples.iter().map(|&s| f32::from(s) / 32768.0);
        if chunk.sample_rate == format.rate {
            // Already at the stream's rate: only the channels change.
            self.resampler = None;
            let mut out =
                Vec::with_capacity(chunk.samples.len() / voice_channels * stream_channels);
            let mut frame = [0f32; 2];
            for (i, s) in input.enumerate() {
                frame[i % voice_channels.min(2)] = s;
                if i % voice_channels == voice_channels - 1 {
                    map_frame(&frame[..voice_channels.min(2)], stream_channels, &mut out);
                }
            }
            self.hold(out);
            return;
        }
        let resampler = match &mut self.resampler {
            Some(r) if r.from_rate() == chunk.sample_rate && r.channels() == voice_channels => r,
            slot => slot.insert(Resampler::new(
                chunk.sample_rate,
                format.rate,
                chunk.channels,
            )),
        };
        let input: Vec<f32> = input.collect();
        let mut out = Vec::with_capacity(
            resampler.output_frames_for(input.len() / voice_channels) * stream_channels,
        );
        resampler.push(&input, &mut |frame| {
            map_frame(frame, stream_channels, &mut out)
        });
        self.hold(out);
    }

    /// The utterance being queued is complete: the resampler's tail is its.
    fn end_utterance(&mut self) {
        if self.queuing.take().is_none() {
            return;
        }
        let channels = self.channels();
        if let Some(r) = self.resampler.as_mut() {
            let mut out = Vec::new();
            r.finish(&mut |frame| map_frame(frame, channels, &mut out));
            self.hold(out);
        }
    }

    fn hold(&mut self, samples: Vec<f32>) {
        if samples.is_empty() {
            return;
        }
        self.held_frames += (samples.len() / self.channels()) as u64;
        self.held.push_back(Held::Samples(samples));
    }

    /// Moves held speech into the stream, as far as it has room.
    fn feed(&mut self) {
        let channels = self.channels();
        while let Some(front) = self.held.front() {
            match front {
                Held::Begin(..) => {
                    let Some(Held::Begin(utterance, visemes)) = self.held.pop_front() else {
                        unreachable!("the front is a begin");
                    };
                    if !self
                        .feed
                        .writer
                        .begin_with_visemes(utterance.clone(), visemes.clone())
                    {
                        // Too many utterances queued: wait for the reader.
                        self.held.push_front(Held::Begin(utterance, visemes));
                        break;
                    }
                }
                Held::Samples(samples) => {
                    let room = self.feed.writer.room_frames() * channels;
                    let rest = &samples[self.front_written..];
                    let n = room.min(rest.len());
                    if n > 0 {
                        let written = self.feed.writer.write(&rest[..n]);
                        self.front_written += written * channels;
                        self.held_frames -= written as u64;
                    }
                    if self.front_written < samples.len() {
                        break;
                    }
                    self.held.pop_front();
                    self.front_written = 0;
                }
            }
        }
        self.feed
            .link
            .backlog_frames
            .store(self.held_frames, Ordering::Release);
        if self.held.is_empty() && self.feed.writer.queued_frames() == 0 {
            self.talking = false;
            let taken = self.progress.taken.load(Ordering::Acquire);
            self.progress.played_out.store(taken, Ordering::Release);
        }
    }

    /// Throws away everything queued.
    fn flush(&mut self) {
        self.feed.writer.flush();
        self.held.clear();
        self.front_written = 0;
        self.held_frames = 0;
        self.queuing = None;
        self.talking = false;
        if let Some(r) = self.resampler.as_mut() {
            r.reset();
        }
        self.feed.link.backlog_frames.store(0, Ordering::Release);
        self.feed.link.flushes.fetch_add(1, Ordering::AcqRel);
    }
}

/// One frame of the voice, as the stream's channels, onto `out`.
fn map_frame(frame: &[f32], channels: usize, out: &mut Vec<f32>) {
    match (frame.len(), channels) {
        (1, 2) => out.extend_from_slice(&[frame[0], frame[0]]),
        (2, 1) => out.push((frame[0] + frame[1]) * 0.5),
        _ => out.extend_from_slice(&frame[..channels.min(frame.len())]),
    }
}

/// The streams' side of the work: runs jobs, feeds held speech on ticks.
#[derive(Default)]
pub(super) struct Voices {
    speakers: Vec<Speaker>,
    last_tick: Option<Instant>,
}

impl Voices {
    pub(super) fn run(&mut self, job: Job, now: Instant) {
        match job {
            Job::Open {
                stream,
                feed,
                progress,
            } => {
                // Streams the game dropped go now too, spoken to or not.
                self.speakers.retain(|s| !s.dropped());
                self.speakers.push(Speaker::new(stream, feed, progress));
            }
            Job::Speech {
                streams,
                said,
                chunk,
            } => {
                let mut fed = false;
                for (stream, number, frames) in streams {
                    let Some(speaker) = self.speakers.iter_mut().find(|s| s.stream == stream)
                    else {
                        continue;
                    };
                    let cancelled =
                        number <= speaker.progress.cancelled_through.load(Ordering::Acquire);
                    if !cancelled && !speaker.dropped() {
                        speaker.queue(&said, &chunk);
                        fed = true;
                    }
                    speaker.progress.taken.store(number, Ordering::Release);
                    // Counted as held or queued before it stops counting as arriving.
                    speaker.feed();
                    speaker
                        .feed
                        .link
                        .arriving_frames
                        .fetch_sub(frames, Ordering::AcqRel);
                }
                if fed {
                    self.last_tick.get_or_insert(now);
                }
            }
            Job::InteractionEnd {
                interaction_id,
                streams,
            } => {
                for speaker in &mut self.speakers {
                    if !streams.contains(&speaker.stream) {
                        continue;
                    }
                    if speaker
                        .queuing
                        .as_ref()
                        .is_some_and(|q| q.interaction_id == interaction_id)
                    {
                        speaker.end_utterance();
                    }
                    speaker.feed();
                    speaker
                        .feed
                        .link
                        .arriving_frames
                        .fetch_sub(1, Ordering::AcqRel);
                }
            }
            Job::Flush { stream } => {
                if let Some(speaker) = self.speakers.iter_mut().find(|s| s.stream == stream) {
                    speaker.flush();
                    speaker.feed();
                }
            }
        }
    }

    /// When held speech must be fed in next.
    pub(super) fn wake(&self) -> Option<Instant> {
        let holding = self
            .speakers
            .iter()
            .any(|s| !s.held.is_empty() || s.talking);
        holding.then(|| self.last_tick.unwrap_or_else(Instant::now) + TICK)
    }

    pub(super) fn tick(&mut self, now: Instant) {
        self.last_tick = Some(now);
        self.speakers.retain(|s| !s.dropped());
        for speaker in &mut self.speakers {
            speaker.feed();
        }
    }
}

/// A thread that runs the jobs sent to it, in order, and ticks between
/// them. Dropping it stops the thread after the job it is running.
pub(super) struct Worker {
    jobs: Option<Sender<Job>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    pub(super) fn start() -> std::io::Result<Worker> {
        let (jobs, receiver) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("inworld-playback".into())
            .spawn({
                let stop = stop.clone();
                move || serve(receiver, &stop)
            })?;
        Ok(Worker {
            jobs: Some(jobs),
            stop,
            thread: Some(thread),
        })
    }

    /// Hands `job` to the thread; never waits.
    pub(super) fn send(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            // The thread ends only when this is dropped (or it panicked:
            // then the streams stay silent, which their game hears).
            let _ = jobs.send(job);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            // At most the job under way: none of the session runs once it ends.
            let _ = thread.join();
        }
    }
}

fn serve(jobs: Receiver<Job>, stop: &AtomicBool) {
    let mut voices = Voices::default();
    loop {
        let next = match voices.wake() {
            Some(at) => jobs.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => jobs.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        if stop.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        match next {
            Ok(job) => voices.run(job, now),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // A steady flow of jobs must not hold up the ticks.
        if voices.wake().is_some_and(|at| at <= now) {
            voices.tick(now);
        }
    }
}
