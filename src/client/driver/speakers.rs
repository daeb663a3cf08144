//! The task's side of the game's playback streams: which streams hear
//! which character, what was cancelled, and who is still talking. Each
//! decoded audio chunk goes to the session's playback worker
//! (`speakers/worker.rs`, a thread), which converts it to each stream's
//! format and queues it: the task never waits on audio work. Cancelled
//! responses, the service's or the game's, and barge-in (the player speaks
//! or types while a character talks, with interruptions on) throw the
//! queued speech away, and their late chunks are not sent on.
//!
//! What the worker has to do is bounded by construction, so a stalled
//! worker (or a game that stops reading) cannot make memory grow without
//! limit: a stream takes speech only while what is on its way to it and held
//! for it stays within [`MAX_AHEAD_SECONDS`]; past that, the rest of the reply
//! is not played on it, counted (`Playback::dropped_frames`) and reported
//! once as a warning `Log` packet with the reply's ids. Every other job
//! follows speech sent to the stream (a flush or an end needs speech since
//! the last one) or the game opening a stream.
//!
//! A plain value: the driver hands it packets; a barge-in returns the
//! cancels to write. [`Speakers::inline`] runs the work on the caller (the
//! unit tests), the default on a worker started with the first stream.

mod worker;

use super::effects::{Effect, Effects};
use crate::client::outbound;
use crate::client::playback::{PlaybackFeed, PlaybackLink};
use crate::packet::{LogEvent, Packet, PacketBody};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
#[cfg(test)]
use worker::Voices;
use worker::{Job, Progress, Said, Worker};

/// Interactions (and utterances) cancelled, remembered so that their late
/// chunks are not played.
const CANCELLED_REMEMBERED: usize = 32;

/// Speech a stream takes ahead of the player (on its way to the worker and
/// held there), in seconds: more than a reply says.
pub(crate) const MAX_AHEAD_SECONDS: u64 = 120;

/// Wire `LogsEvent.LogLevel.WARNING`.
const LOG_WARNING: i32 = 1;

/// One stream, as the task sees it.
struct Stream {
    id: u64,
    /// Only this character's speech (its resource name); `None`: everyone's.
    character: Option<String>,
    rate: u32,
    link: Arc<PlaybackLink>,
    progress: Arc<Progress>,
    /// Chunks sent to the worker for it.
    sent: u64,
    /// Its latest speech: (interaction id, agent id), until it has played.
    talking: Option<(String, String)>,
    /// The interaction whose reply is arriving for it (until its end).
    arriving: Option<String>,
    /// The interaction whose speech it stopped taking (it had too much ahead).
    cut: Option<String>,
}

impl Stream {
    fn dropped(&self) -> bool {
        self.link.dropped.load(Ordering::Acquire)
    }

    /// What it is still playing (or has on the way).
    fn talking(&self) -> Option<&(String, String)> {
        self.talking
            .as_ref()
            .filter(|_| !self.progress.played_out(self.sent))
    }

    /// Whether it takes `frames` more (at its rate) of `interaction_id`'s
    /// speech; if not, the rest of that reply is dropped from it, counted.
    /// Returns (takes, just cut).
    fn takes(&mut self, interaction_id: &str, frames: u64) -> (bool, bool) {
        let cut = self.cut.as_deref() == Some(interaction_id);
        let ahead = self.link.arriving_frames.load(Ordering::Acquire)
            + self.link.backlog_frames.load(Ordering::Acquire);
        if !cut && ahead + frames <= MAX_AHEAD_SECONDS * u64::from(self.rate) {
            return (true, false);
        }
        self.link.dropped_frames.fetch_add(frames, Ordering::AcqRel);
        self.cut = Some(interaction_id.to_string());
        (false, !cut)
    }

    /// Whether it holds speech of `interaction_id`.
    fn holds(&self, interaction_id: &str) -> bool {
        self.talking().is_some_and(|(i, _)| i == interaction_id)
            || self.arriving.as_deref() == Some(interaction_id)
    }
}

/// Where the audio work runs.
enum Work {
    /// Not started: no stream was opened yet.
    Idle,
    Thread(Worker),
    /// On the caller, at once (unit tests).
    #[cfg(test)]
    Inline(Voices),
    /// A worker that never takes a job (unit tests): they pile up here.
    #[cfg(test)]
    Stalled(Vec<Job>),
}

/// The game's open streams, and what was cancelled.
pub(super) struct Speakers {
    streams: Vec<Stream>,
    next_id: u64,
    cancelled: VecDeque<String>,
    work: Work,
}

impl Default for Speakers {
    fn default() -> Self {
        Speakers {
            streams: Vec::new(),
            next_id: 1,
            cancelled: VecDeque::new(),
            work: Work::Idle,
        }
    }
}

impl Speakers {
    /// Speakers that do their audio work on the caller, at once.
    #[cfg(test)]
    fn inline() -> Self {
        Speakers {
            work: Work::Inline(Voices::default()),
            ..Speakers::default()
        }
    }

    fn is_cancelled(&self, interaction_id: &str, utterance_id: &str) -> bool {
        self.cancelled
            .iter()
            .any(|c| c == interaction_id || c == utterance_id)
    }

    fn cancel(&mut self, id: &str) {
        if id.is_empty() || self.cancelled.iter().any(|c| c == id) {
            return;
        }
        if self.cancelled.len() == CANCELLED_REMEMBERED {
            self.cancelled.pop_front();
        }
        self.cancelled.push_back(id.to_string());
    }

    fn run(&mut self, job: Job) {
        match &mut self.work {
            Work::Thread(worker) => worker.send(job),
            #[cfg(test)]
            Work::Inline(voices) => voices.run(job, Instant::now()),
            #[cfg(test)]
            Work::Stalled(jobs) => jobs.push(job),
            Work::Idle => {}
        }
    }

    /// Throws away what stream `index` holds; its chunks on the way are
    /// not played.
    fn flush_stream(&mut self, index: usize) {
        let stream = &mut self.streams[index];
        stream.progress.cancel_through(stream.sent);
        stream.talking = None;
        stream.arriving = None;
        let id = stream.id;
        self.run(Job::Flush { stream: id });
    }

    /// A playback stream the game opened.
    pub(super) fn open(&mut self, feed: PlaybackFeed) {
        if matches!(self.work, Work::Idle) {
            match Worker::start() {
                Ok(worker) => self.work = Work::Thread(worker),
                Err(e) => {
                    // The stream stays silent; the game hears it.
                    log::error!("no thread for playback, the stream stays silent: {e}");
                    return;
                }
            }
        }
        // Streams the game dropped go now too, spoken to or not.
        self.streams.retain(|s| !s.dropped());
        let id = self.next_id;
        self.next_id += 1;
        let progress = Arc::new(Progress::default());
        self.streams.push(Stream {
            id,
            character: feed.character.clone(),
            rate: feed.format.rate,
            link: feed.link.clone(),
            progress: progress.clone(),
            sent: 0,
            talking: None,
            arriving: None,
            cut: None,
        });
        self.run(Job::Open {
            stream: id,
            feed,
            progress,
        });
    }

    pub(super) fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// A packet from the service, before the game gets it: speech is
    /// queued (`character`: the resource name of the agent speaking),
    /// cancelled responses flushed. Returns the report to give the game
    /// when a stream stops taking the reply's speech.
    pub(super) fn on_packet(
        &mut self,
        packet: &Packet,
        character: Option<&str>,
        _now: Instant,
    ) -> Option<Packet> {
        let mut report = None;
        match &packet.body {
            PacketBody::Audio(chunk) => {
                let interaction_id = packet.ids.interaction_id.as_str();
                let utterance_id = packet.ids.utterance_id.as_str();
                if self.is_cancelled(interaction_id, utterance_id)
                    || chunk.sample_rate == 0
                    || chunk.channels == 0
                {
                    return None;
                }
                let agent_id = packet.routing.source.name.as_str();
                let frames_in = (chunk.samples.len() / usize::from(chunk.channels)) as u64;
                let mut streams = Vec::new();
                for stream in &mut self.streams {
                    let wanted = stream
                        .character
                        .as_deref()
                        .is_none_or(|c| Some(c) == character);
                    if !wanted || stream.dropped() {
                        continue;
                    }
                    let frames =
                        (frames_in * u64::from(stream.rate)).div_ceil(u64::from(chunk.sample_rate));
                    let (takes, cut) = stream.takes(interaction_id, frames);
                    if cut && report.is_none() {
                        report = Some(too_much_ahead(packet));
                    }
                    if !takes {
                        continue;
                    }
                    stream.sent += 1;
                    stream.talking = Some((interaction_id.to_string(), agent_id.to_string()));
                    stream.arriving = Some(interaction_id.to_string());
                    stream
                        .link
                        .arriving_frames
                        .fetch_add(frames, Ordering::AcqRel);
                    streams.push((stream.id, stream.sent, frames));
                }
                if !streams.is_empty() {
                    self.run(Job::Speech {
                        streams,
                        said: Said {
                            interaction_id: interaction_id.to_string(),
                            utterance_id: utterance_id.to_string(),
                            agent_id: agent_id.to_string(),
                        },
                        chunk: chunk.clone(),
                    });
                }
            }
            PacketBody::CancelResponses {
                interaction_id,
                utterance_ids,
            } => {
                let utterances: Vec<&str> = utterance_ids.iter().map(|u| u.as_str()).collect();
                self.flush_speech(interaction_id.as_str(), &utterances);
            }
            _ => {}
        }
        report
    }

    /// A reply ended: its last utterance is complete.
    pub(super) fn interaction_end(&mut self, interaction_id: &str) {
        let mut streams = Vec::new();
        for stream in &mut self.streams {
            if stream.arriving.as_deref() == Some(interaction_id) {
                stream.arriving = None;
                // Its tail is still to come: not played out yet.
                stream.link.arriving_frames.fetch_add(1, Ordering::AcqRel);
                streams.push(stream.id);
            }
        }
        if !streams.is_empty() {
            self.run(Job::InteractionEnd {
                interaction_id: interaction_id.to_string(),
                streams,
            });
        }
    }

    /// Responses cancelled (by the game or the service): the streams
    /// holding their speech are flushed, and their late chunks not played.
    pub(super) fn flush_speech(&mut self, interaction_id: &str, utterance_ids: &[&str]) {
        if utterance_ids.is_empty() {
            self.cancel(interaction_id);
        }
        for u in utterance_ids {
            self.cancel(u);
        }
        for index in 0..self.streams.len() {
            if self.streams[index].holds(interaction_id) {
                self.flush_stream(index);
            }
        }
    }

    /// Barge-in: the player speaks or types while a character talks (with
    /// interruptions on). Every stream still playing a reply goes silent,
    /// and the rest of that reply is cancelled: returns the cancels (the
    /// SDK's cancel responses, to the character speaking) to write.
    pub(super) fn barge_in(&mut self) -> Effects {
        let mut interrupted: Vec<(String, String)> = Vec::new();
        for index in 0..self.streams.len() {
            if let Some(talking) = self.streams[index].talking().cloned() {
                self.flush_stream(index);
                if !interrupted.contains(&talking) {
                    interrupted.push(talking);
                }
            }
        }
        let mut effects = Effects::default();
        for (interaction_id, agent_id) in &interrupted {
            self.cancel(interaction_id);
            effects.push(Effect::Write(Box::new(outbound::cancel_responses(
                agent_id,
                interaction_id,
                &[],
            ))));
        }
        effects
    }

    /// When held speech must be fed in next, by the task: never, as the
    /// worker ticks itself (but for inline work, in tests).
    pub(super) fn wake(&self) -> Option<Instant> {
        match &self.work {
            #[cfg(test)]
            Work::Inline(voices) => voices.wake(),
            #[cfg(test)]
            Work::Stalled(_) => None,
            Work::Thread(_) | Work::Idle => None,
        }
    }

    pub(super) fn tick(&mut self, now: Instant) {
        self.streams.retain(|s| !s.dropped());
        #[cfg(test)]
        if let Work::Inline(voices) = &mut self.work {
            voices.tick(now);
        }
        // The worker ticks itself.
        #[cfg(not(test))]
        let _ = now;
    }
}

/// The game's report that `audio`'s reply is not played to its end on a
/// stream, with the reply's ids.
fn too_much_ahead(audio: &Packet) -> Packet {
    let mut report = Packet::local(PacketBody::Log(LogEvent {
        text: format!(
            "playback: the rest of this reply's speech is dropped from a stream that \
             already has {MAX_AHEAD_SECONDS} s of speech ahead of the player (its reader or \
             the session's playback worker falls behind); see Playback::dropped_frames"
        )
        .into(),
        level: LOG_WARNING,
        metadata: Vec::new(),
    }));
    report.ids = audio.ids.clone();
    report
}

#[cfg(test)]
mod tests {
    use super::worker::TICK;
    use super::*;
    use crate::client::playback::{Playback, PlaybackFormat, PlaybackLink};
    use crate::packet::AudioChunk;
    use std::time::Duration;

    const FORMAT: PlaybackFormat = PlaybackFormat {
        rate: 16_000,
        channels: 1,
    };
    /// The stream holds 1,000 frames: longer speech waits in the task.
    const ROOM: usize = 1_000;

    fn open(speakers: &mut Speakers) -> Playback {
        let (writer, reader, clock) = crate::audio::playback::playback(1, ROOM);
        let link = Arc::new(PlaybackLink::default());
        speakers.open(PlaybackFeed {
            writer,
            format: FORMAT,
            character: None,
            link: link.clone(),
        });
        Playback::new(reader, clock, FORMAT, link)
    }

    fn chunk(interaction: &str, utterance: &str, value: i16, frames: usize) -> Packet {
        let mut p = Packet::local(PacketBody::Audio(AudioChunk {
            samples: vec![value; frames],
            sample_rate: 16_000,
            channels: 1,
            duration: Duration::from_millis(frames as u64 / 16),
            phonemes: Vec::new(),
            visemes: Vec::new(),
            undecoded: None,
        }));
        p.ids.interaction_id = interaction.into();
        p.ids.utterance_id = utterance.into();
        p.routing.source.name = "agent-1".into();
        p
    }

    /// Reads what the stream holds: (frames of speech, their values).
    fn read_all(playback: &mut Playback) -> Vec<f32> {
        let mut out = vec![0f32; 4 * ROOM];
        let n = playback.read_f32(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn speech_longer_than_the_stream_waits_and_is_fed_as_room_is_made() {
        let mut s = Speakers::inline();
        let mut playback = open(&mut s);
        let now = Instant::now();
        s.on_packet(&chunk("i1", "u1", 1_000, 2_500), None, now);
        assert_eq!(playback.pending_frames(), 2_500, "queued and held");
        assert_eq!(read_all(&mut playback).len(), ROOM);
        assert!(s.wake().is_some());
        s.tick(now + TICK);
        assert_eq!(read_all(&mut playback).len(), ROOM);
        s.tick(now + 2 * TICK);
        assert_eq!(read_all(&mut playback).len(), 500);
        s.interaction_end("i1");
        s.tick(now + 3 * TICK);
        assert_eq!(s.wake(), None, "nothing left to feed");
    }

    #[test]
    fn barge_in_while_a_chunk_is_half_queued_silences_it_and_cancels_the_rest() {
        let mut s = Speakers::inline();
        let mut playback = open(&mut s);
        let now = Instant::now();
        s.on_packet(&chunk("i1", "u1", 1_000, 2_500), None, now);
        let cancels: Vec<_> = s.barge_in().into_iter().collect();
        assert_eq!(cancels.len(), 1, "one cancel, to the character speaking");
        assert!(matches!(cancels[0], Effect::Write(_)));
        assert!(read_all(&mut playback).is_empty(), "silent at once");
        assert_eq!(playback.flushes(), 1);
        // The rest of that reply, arriving late, is not played.
        s.on_packet(&chunk("i1", "u2", 1_000, 100), None, now);
        s.tick(now + TICK);
        assert!(read_all(&mut playback).is_empty());
        assert_eq!(s.wake(), None);
        // Nothing playing: a barge-in cancels nothing.
        assert!(s.barge_in().is_empty());
        // The next reply plays.
        s.on_packet(&chunk("i2", "u1", 500, 100), None, now);
        assert_eq!(read_all(&mut playback).len(), 100);
    }

    #[test]
    fn a_cancel_of_some_utterances_drops_their_late_chunks_only() {
        let mut s = Speakers::inline();
        let mut playback = open(&mut s);
        let now = Instant::now();
        s.on_packet(&chunk("i1", "u1", 1_000, 200), None, now);
        let mut cancel = Packet::local(PacketBody::CancelResponses {
            interaction_id: "i1".into(),
            utterance_ids: vec!["u2".into()],
        });
        cancel.ids.interaction_id = "i1".into();
        s.on_packet(&cancel, None, now);
        assert!(read_all(&mut playback).is_empty(), "the reply was flushed");
        s.on_packet(&chunk("i1", "u2", 2_000, 100), None, now);
        assert!(read_all(&mut playback).is_empty(), "u2 was cancelled");
        s.on_packet(&chunk("i1", "u3", 3_000, 100), None, now);
        let played = read_all(&mut playback);
        assert_eq!(played.len(), 100, "u3 was not");
        assert!(played
            .iter()
            .all(|v| (*v - 3_000.0 / 32_768.0).abs() < 1e-4));
    }

    #[test]
    fn a_stream_nobody_reads_holds_its_backlog_and_goes_when_dropped() {
        let mut s = Speakers::inline();
        let playback = open(&mut s);
        let mut now = Instant::now();
        for i in 0..20 {
            s.on_packet(&chunk("i1", "u1", 1_000, 800), None, now);
            now += TICK;
            s.tick(now);
            assert!(s.wake().is_some(), "chunk {i}");
        }
        assert_eq!(playback.pending_frames(), 20 * 800, "nothing lost");
        drop(playback);
        now += TICK;
        s.tick(now);
        assert!(s.is_empty(), "a dropped stream is let go");
        assert_eq!(s.wake(), None);
    }

    /// One second of speech.
    const SECOND: usize = 16_000;

    fn is_warning(report: &Option<Packet>, interaction: &str) -> bool {
        report.as_ref().is_some_and(|r| {
            r.ids.interaction_id == interaction
                && matches!(&r.body, PacketBody::Log(l) if l.level == LOG_WARNING)
        })
    }

    #[test]
    fn a_stalled_worker_is_sent_two_minutes_of_speech_per_stream_and_the_rest_is_reported() {
        let mut s = Speakers {
            work: Work::Stalled(Vec::new()),
            ..Speakers::default()
        };
        let playback = open(&mut s);
        let now = Instant::now();
        let mut reports = Vec::new();
        for _ in 0..200 {
            let report = s.on_packet(&chunk("i1", "u1", 1_000, SECOND), None, now);
            reports.extend(report.map(Some));
        }
        let ahead = MAX_AHEAD_SECONDS as usize;
        let Work::Stalled(jobs) = &s.work else {
            unreachable!()
        };
        let speech = |jobs: &[Job]| {
            jobs.iter()
                .filter(|j| matches!(j, Job::Speech { .. }))
                .count()
        };
        assert_eq!(speech(jobs), ahead);
        assert_eq!(playback.pending_frames(), (ahead * SECOND) as u64);
        assert_eq!(playback.dropped_frames(), ((200 - ahead) * SECOND) as u64);
        assert_eq!(reports.len(), 1, "reported once: {reports:?}");
        assert!(is_warning(&reports[0], "i1"), "{reports:?}");
        // The next reply finds no room either: reported, not sent.
        let report = s.on_packet(&chunk("i2", "u1", 1_000, 100), None, now);
        assert!(is_warning(&report, "i2"), "{report:?}");
        // Cancels of what it never took add no job.
        for _ in 0..100 {
            s.flush_speech("i2", &[]);
        }
        let Work::Stalled(jobs) = &s.work else {
            unreachable!()
        };
        assert_eq!(speech(jobs), ahead);
        assert_eq!(jobs.len(), ahead + 1, "the open and the speech only");
    }

    #[test]
    fn a_stream_nobody_reads_stops_taking_a_reply_after_two_minutes_and_takes_the_next() {
        let mut s = Speakers::inline();
        let mut playback = open(&mut s);
        let now = Instant::now();
        let mut reports = 0;
        for _ in 0..MAX_AHEAD_SECONDS + 10 {
            let report = s.on_packet(&chunk("i1", "u1", 1_000, SECOND), None, now);
            reports += usize::from(is_warning(&report, "i1"));
        }
        assert_eq!(reports, 1);
        assert_eq!(playback.dropped_frames(), 10 * SECOND as u64);
        // The game reads it all; the late rest stays dropped.
        let mut heard = 0;
        let mut tick = now;
        while playback.pending_frames() > 0 {
            heard += read_all(&mut playback).len();
            tick += TICK;
            s.tick(tick);
        }
        assert_eq!(heard, MAX_AHEAD_SECONDS as usize * SECOND);
        let report = s.on_packet(&chunk("i1", "u2", 1_000, 100), None, now);
        assert!(report.is_none(), "reported once");
        assert_eq!(playback.pending_frames(), 0);
        // The next reply plays.
        let report = s.on_packet(&chunk("i2", "u1", 500, 100), None, now);
        assert!(report.is_none());
        assert_eq!(read_all(&mut playback).len(), 100);
        assert_eq!(playback.dropped_frames(), 10 * SECOND as u64 + 100);
    }

    /// Waits (generously: only a hang fails) until `done`.
    fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn the_worker_converts_speech_in_order_and_counts_it_as_pending_on_its_way() {
        let mut s = Speakers::default();
        let mut playback = open(&mut s);
        let stereo = PlaybackFormat {
            rate: 48_000,
            channels: 2,
        };
        let (writer, reader, clock) =
            crate::audio::playback::playback(2, crate::client::playback::stream_capacity(stereo));
        let link = Arc::new(PlaybackLink::default());
        s.open(PlaybackFeed {
            writer,
            format: stereo,
            character: None,
            link: link.clone(),
        });
        let mut stereo_playback = Playback::new(reader, clock, stereo, link);
        let now = Instant::now();
        // 20 chunks of 200 ms, each its own value.
        for i in 0..20 {
            s.on_packet(&chunk("i1", "u1", 100 * (i + 1), 3_200), None, now);
        }
        s.interaction_end("i1");
        // On its way or queued, none of it is forgotten meanwhile.
        assert!(playback.pending_frames() > 0);
        assert!(stereo_playback.pending_frames() > 0);
        let mut heard = Vec::new();
        eventually("the mono stream plays all of it", || {
            heard.extend(read_all(&mut playback));
            heard.len() == 20 * 3_200
        });
        for (i, piece) in heard.chunks(3_200).enumerate() {
            let expected = 100.0 * (i + 1) as f32 / 32_768.0;
            assert!(
                piece.iter().all(|v| (v - expected).abs() < 1e-4),
                "chunk {i}"
            );
        }
        // Resampled to 48 kHz stereo: three times the frames, two samples each.
        let mut frames = 0;
        let mut buffer = vec![0f32; 2 * 4_800];
        eventually("the stereo stream plays all of it", || {
            frames += stereo_playback.read_f32(&mut buffer);
            frames == 20 * 3_200 * 3
        });
        eventually("nothing pending", || {
            playback.pending_frames() == 0 && stereo_playback.pending_frames() == 0
        });
        eventually("nobody talking", || {
            s.streams.iter().all(|t| t.talking().is_none())
        });
        assert!(s.barge_in().is_empty(), "a barge-in then cancels nothing");
    }

    #[test]
    fn a_barge_in_drops_what_the_worker_had_not_played_and_the_next_reply_plays() {
        let mut s = Speakers::default();
        let mut playback = open(&mut s);
        let now = Instant::now();
        for _ in 0..20 {
            s.on_packet(&chunk("i1", "u1", 1_000, 800), None, now);
        }
        let cancels: Vec<_> = s.barge_in().into_iter().collect();
        assert_eq!(
            cancels.len(),
            1,
            "one cancel, though the worker may not have begun"
        );
        eventually("the stream is flushed", || playback.flushes() == 1);
        assert!(read_all(&mut playback).is_empty(), "nothing of i1 plays");
        eventually("nothing pending", || playback.pending_frames() == 0);
        // The rest of i1, late, is not played; the next reply is.
        s.on_packet(&chunk("i1", "u2", 1_000, 100), None, now);
        s.on_packet(&chunk("i2", "u1", 500, 100), None, now);
        let mut heard = Vec::new();
        eventually("i2 plays", || {
            heard.extend(read_all(&mut playback));
            heard.len() >= 100
        });
        assert_eq!(heard.len(), 100);
        assert!(heard.iter().all(|v| (v - 500.0 / 32_768.0).abs() < 1e-4));
    }

    #[test]
    fn speakers_dropped_with_work_queued_end_their_worker() {
        let mut s = Speakers::default();
        let playback = open(&mut s);
        let now = Instant::now();
        for _ in 0..200 {
            s.on_packet(&chunk("i1", "u1", 1_000, 3_200), None, now);
        }
        // Returns after at most the job under way (the test hangs otherwise).
        drop(s);
        assert!(playback.pending_frames() > 0, "the rest never went in");
    }
}
