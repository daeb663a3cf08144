//! The task's side of the game's playback streams: each decoded audio chunk
//! of a stream's character is resampled to its rate, mapped to its channels
//! and queued. Speech arrives faster than it plays, so what does not fit in
//! the stream waits here, fed in as the audio thread makes room (a tick);
//! the first chunk goes in at once. Cancelled responses, the service's or
//! the game's, and barge-in (the player speaks or types while a character
//! talks, with interruptions on) throw the queued speech away at once.
//!
//! A plain value: the driver hands it packets and ticks; a barge-in returns
//! the cancels to write.

use super::effects::{Effect, Effects};
use crate::audio::playback::{Utterance, VisemeTimeline};
use crate::audio::resample::Resampler;
use crate::audio::visemes::TimedViseme;
use crate::client::outbound;
use crate::client::playback::PlaybackFeed;
use crate::packet::{AudioChunk, Packet, PacketBody};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often held speech is fed in: well inside what a stream holds.
const TICK: Duration = Duration::from_millis(20);
/// Interactions (and utterances) cancelled, remembered so that their late
/// chunks are not played.
const CANCELLED_REMEMBERED: usize = 32;

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
    feed: PlaybackFeed,
    /// From the voice's rate and channels; made again when they change.
    resampler: Option<Resampler>,
    held: VecDeque<Held>,
    /// Samples of the front `Held::Samples` already in the stream.
    front_written: usize,
    held_frames: u64,
    queuing: Option<Queuing>,
    /// Its latest speech: (interaction id, agent id), while some of it is
    /// still to play.
    talking: Option<(String, String)>,
}

/// The game's open streams, and what was cancelled.
#[derive(Default)]
pub(super) struct Speakers {
    speakers: Vec<Speaker>,
    cancelled: VecDeque<String>,
    last_tick: Option<Instant>,
}

impl Speakers {
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
}

impl Speaker {
    fn new(feed: PlaybackFeed) -> Self {
        Speaker {
            feed,
            resampler: None,
            held: VecDeque::new(),
            front_written: 0,
            held_frames: 0,
            queuing: None,
            talking: None,
        }
    }

    fn channels(&self) -> usize {
        usize::from(self.feed.format.channels)
    }

    /// Queues a chunk of `character`'s speech.
    fn queue(&mut self, ids: (&str, &str), character: &str, chunk: &AudioChunk) {
        let (interaction_id, utterance_id) = ids;
        if chunk.sample_rate == 0 || chunk.channels == 0 {
            return;
        }
        let new_utterance = self
            .queuing
            .as_ref()
            .is_none_or(|q| q.utterance_id != utterance_id || q.interaction_id != interaction_id);
        if new_utterance {
            self.end_utterance();
            let visemes = VisemeTimeline::default();
            self.held.push_back(Held::Begin(
                Utterance {
                    character: character.to_string(),
                    interaction_id: interaction_id.to_string(),
                    utterance_id: utterance_id.to_string(),
                },
                visemes.clone(),
            ));
            self.queuing = Some(Queuing {
                utterance_id: utterance_id.to_string(),
                interaction_id: interaction_id.to_string(),
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
        self.talking = Some((interaction_id.to_string(), character.to_string()));

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
            self.talking = None;
        }
    }

    /// Throws away everything queued.
    fn flush(&mut self) {
        self.feed.writer.flush();
        self.held.clear();
        self.front_written = 0;
        self.held_frames = 0;
        self.queuing = None;
        self.talking = None;
        if let Some(r) = self.resampler.as_mut() {
            r.reset();
        }
        self.feed.link.backlog_frames.store(0, Ordering::Release);
        self.feed.link.flushes.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether it holds speech of `interaction_id`.
    fn holds(&self, interaction_id: &str) -> bool {
        self.talking
            .as_ref()
            .is_some_and(|(i, _)| i == interaction_id)
            || self
                .queuing
                .as_ref()
                .is_some_and(|q| q.interaction_id == interaction_id)
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

impl Speakers {
    /// A playback stream the game opened.
    pub(super) fn open(&mut self, feed: PlaybackFeed) {
        // Streams the game dropped go now too, spoken to or not.
        self.speakers
            .retain(|s| !s.feed.link.dropped.load(Ordering::Acquire));
        self.speakers.push(Speaker::new(feed));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.speakers.is_empty()
    }

    /// A packet from the service, before the game gets it: speech is
    /// queued (`character`: the resource name of the agent speaking),
    /// cancelled responses flushed.
    pub(super) fn on_packet(&mut self, packet: &Packet, character: Option<&str>, now: Instant) {
        match &packet.body {
            PacketBody::Audio(chunk) => {
                let ids = (
                    packet.ids.interaction_id.as_str(),
                    packet.ids.utterance_id.as_str(),
                );
                if self.is_cancelled(ids.0, ids.1) {
                    return;
                }
                let agent_id = packet.routing.source.name.as_str();
                let mut fed = false;
                for speaker in &mut self.speakers {
                    let wanted = speaker
                        .feed
                        .character
                        .as_deref()
                        .is_none_or(|c| Some(c) == character);
                    if wanted && !speaker.feed.link.dropped.load(Ordering::Acquire) {
                        speaker.queue(ids, agent_id, chunk);
                        speaker.feed();
                        fed = true;
                    }
                }
                if fed {
                    self.last_tick.get_or_insert(now);
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
    }

    /// A reply ended: its last utterance is complete.
    pub(super) fn interaction_end(&mut self, interaction_id: &str) {
        for speaker in &mut self.speakers {
            if speaker
                .queuing
                .as_ref()
                .is_some_and(|q| q.interaction_id == interaction_id)
            {
                speaker.end_utterance();
                speaker.feed();
            }
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
        for speaker in &mut self.speakers {
            if speaker.holds(interaction_id) {
                speaker.flush();
            }
        }
    }

    /// Barge-in: the player speaks or types while a character talks (with
    /// interruptions on). Every stream still playing a reply goes silent at
    /// once, and the rest of that reply is cancelled: returns the cancels
    /// (the SDK's cancel responses, to the character speaking) to write.
    pub(super) fn barge_in(&mut self) -> Effects {
        let mut interrupted: Vec<(String, String)> = Vec::new();
        for speaker in &mut self.speakers {
            if let Some(talking) = speaker.talking.clone() {
                speaker.flush();
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

    /// When held speech must be fed in next.
    pub(super) fn wake(&self) -> Option<Instant> {
        let holding = self
            .speakers
            .iter()
            .any(|s| !s.held.is_empty() || s.talking.is_some());
        holding.then(|| self.last_tick.unwrap_or_else(Instant::now) + TICK)
    }

    pub(super) fn tick(&mut self, now: Instant) {
        self.last_tick = Some(now);
        self.speakers
            .retain(|s| !s.feed.link.dropped.load(Ordering::Acquire));
        for speaker in &mut self.speakers {
            speaker.feed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::playback::{Playback, PlaybackFormat, PlaybackLink};
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
        let mut s = Speakers::default();
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
        let mut s = Speakers::default();
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
        let mut s = Speakers::default();
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
        let mut s = Speakers::default();
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
}
