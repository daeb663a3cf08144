//! The game's audio sessions as the task carries them. An audio session's
//! AUDIO_SESSION_START goes through its conversation like any send; once it
//! went out on this stream, a tick drains the game's audio input and each
//! full chunk goes out. Its audio is what was pushed between its start's
//! mark and its end's (see `MicShared`), so a start made right after an end
//! never takes the last one's audio, nor gives it its own.
//!
//! Audio sessions go out one after another: while one waits for its start
//! (its conversation's handshake), its audio and any audio session the game
//! made after it wait too (in the ring, up to its one second), and its end
//! goes out after its audio. Audio that cannot go out (no stream, no scene,
//! a start that failed) is thrown away, counted and reported, never sent
//! late. After a reconnect (or a scene reload) the audio session starts
//! again.
//!
//! A plain value: it takes what happened and returns `Effects`.

use super::effects::{Effect, Effects};
use crate::client::mic::{AudioSessionConfig, MicShared, Pipeline, WIRE_RATE};
use crate::client::outbound;
use crate::client::send_slots::SendPermit;
use crate::client::state::{Outgoing, Send};
use crate::client::SentIds;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the audio input is drained while an audio session is open:
/// well inside the ring's one second, and few wake-ups.
const TICK: Duration = Duration::from_millis(20);
/// Dropped audio is reported at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// Its start waits here for the audio session before it to end.
    Queued,
    /// Its start waits in the conversation.
    Waiting,
    /// The start went out on this stream: audio follows it.
    Live,
    /// The start went out on a stream that is gone.
    Lost,
}

struct AudioSession {
    /// Its start, while `Queued`.
    queued: Option<Send>,
    /// The packet id of its (latest) AUDIO_SESSION_START.
    start_id: String,
    conversation_id: String,
    config: AudioSessionConfig,
    /// Where its audio starts (the start's mark).
    from: u64,
    wire: Wire,
    /// The game's end, held until its audio went out.
    end: Option<Send>,
}

pub(super) struct Mic {
    shared: Arc<MicShared>,
    pipeline: Option<Pipeline>,
    /// The game's echo reference (voice detection reads it).
    echo_far: Option<Pipeline>,
    /// Oldest first; only the front one's start has left this queue.
    sessions: VecDeque<AudioSession>,
    last_tick: Instant,
    /// Dropped frames already reported (of `MicShared::dropped`).
    reported: u64,
    last_report: Option<Instant>,
}

/// The mark of an end.
fn end_mark(end: &Send) -> Option<u64> {
    match end.payload {
        Outgoing::AudioSessionEnd(mark) => Some(mark),
        _ => None,
    }
}

impl Mic {
    pub(super) fn new(shared: Arc<MicShared>, now: Instant) -> Self {
        Mic {
            shared,
            pipeline: None,
            echo_far: None,
            sessions: VecDeque::new(),
            last_tick: now,
            reported: 0,
            last_report: None,
        }
    }

    pub(super) fn set_input(&mut self, pipeline: Pipeline) {
        self.pipeline = Some(pipeline);
    }

    pub(super) fn set_echo_reference(&mut self, pipeline: Pipeline) {
        self.echo_far = Some(pipeline);
    }

    /// The input and the echo reference (voice detection drains them).
    pub(super) fn inputs(&mut self) -> (Option<&mut Pipeline>, Option<&mut Pipeline>) {
        (self.pipeline.as_mut(), self.echo_far.as_mut())
    }

    /// The input's rate (dropped audio is counted in its frames).
    pub(super) fn input_rate(&self) -> u32 {
        self.pipeline.as_ref().map_or(WIRE_RATE, |p| p.rate())
    }

    /// Whether the game has an audio session under way here.
    pub(super) fn is_open(&self) -> bool {
        !self.sessions.is_empty()
    }

    /// An AUDIO_SESSION_START or _END of the game's.
    pub(super) fn on_send(&mut self, send: Send, linked: bool, now: Instant) -> Effects {
        let mut effects = Effects::default();
        match send.payload {
            Outgoing::AudioSessionStart(config, from) => {
                self.sessions.push_back(AudioSession {
                    start_id: send.ids.packet_id.clone(),
                    conversation_id: send.ids.conversation_id.clone(),
                    queued: Some(send),
                    config,
                    from,
                    wire: Wire::Queued,
                    end: None,
                });
            }
            Outgoing::AudioSessionEnd(_) => {
                self.shared.end_taken();
                match self.sessions.back_mut() {
                    Some(s) if s.end.is_none() => s.end = Some(send),
                    _ => effects.push(Effect::Fail(
                        send,
                        "the audio session was over before its end (the service expired it, or \
                         its start failed); its end was not sent"
                            .into(),
                    )),
                }
            }
            _ => effects.push(Effect::Send(send)),
        }
        self.advance(linked, &mut effects);
        self.report_dropped(now, true, &mut effects);
        effects
    }

    /// Moves the audio sessions along as far as they can go now: the
    /// front one's start to its conversation, its audio and end out once
    /// its start went out.
    fn advance(&mut self, linked: bool, effects: &mut Effects) {
        while let Some(front) = self.sessions.front_mut() {
            match front.wire {
                Wire::Queued => {
                    let start = front.queued.take().expect("a queued start");
                    front.wire = Wire::Waiting;
                    let from = Some(front.from);
                    // Audio from before the start (pushed as the last ended).
                    self.discard(from);
                    effects.push(Effect::Send(start));
                    return;
                }
                Wire::Waiting => return,
                Wire::Live if linked => {
                    let id = front.conversation_id.clone();
                    let Some(end) = front.end.take() else {
                        // Not past an end on its way: what follows is the
                        // next audio session's.
                        let until = self.shared.sendable_until();
                        if let Some(pipeline) = self.pipeline.as_mut() {
                            pipeline.pump(Some(until), &mut |bytes| {
                                effects.push(Effect::Write(Box::new(outbound::audio_chunk(
                                    &id, bytes,
                                ))))
                            });
                        }
                        return;
                    };
                    // Its audio, then its end.
                    if let Some(pipeline) = self.pipeline.as_mut() {
                        pipeline.finish(end_mark(&end), &mut |bytes| {
                            effects.push(Effect::Write(Box::new(outbound::audio_chunk(&id, bytes))))
                        });
                    }
                    effects.push(Effect::Send(end));
                    self.sessions.pop_front();
                }
                Wire::Live | Wire::Lost => {
                    // It starts again on the next stream, unless it ended.
                    let Some(end) = front.end.take() else {
                        return;
                    };
                    self.sessions.pop_front();
                    self.discard(end_mark(&end));
                    effects.push(Effect::Fail(
                        end,
                        "the audio session was cut short by a reconnect; its end was not sent"
                            .into(),
                    ));
                }
            }
        }
    }

    /// A send went out: an audio session's start makes it live.
    pub(super) fn on_sent(&mut self, send: &Send) {
        if let Some(s) = self.sessions.front_mut() {
            if s.wire == Wire::Waiting && s.start_id == send.ids.packet_id {
                s.wire = Wire::Live;
            }
        }
    }

    /// A send failed: an audio session whose start cannot go out is over,
    /// its end (if the game made it) fails too, and the next one goes on.
    pub(super) fn on_failed(&mut self, send: &Send, linked: bool) -> Effects {
        let mut effects = Effects::default();
        let failed = self
            .sessions
            .front()
            .is_some_and(|s| s.wire == Wire::Waiting && s.start_id == send.ids.packet_id);
        if failed {
            let session = self.sessions.pop_front().expect("the front");
            match session.end {
                Some(end) => {
                    self.discard(end_mark(&end));
                    effects.push(Effect::Fail(end, "its audio session did not start".into()));
                }
                None => self.discard(None),
            }
            self.advance(linked, &mut effects);
        }
        effects
    }

    /// The sends this holds (the session closes): each fails.
    pub(super) fn take_held(&mut self) -> Vec<Send> {
        let mut held = Vec::new();
        for s in self.sessions.drain(..) {
            held.extend(s.queued);
            held.extend(s.end);
        }
        held
    }

    /// The stream is gone: audio sessions must start again on the next.
    pub(super) fn on_stream_lost(&mut self) {
        if let Some(s) = self.sessions.front_mut() {
            if s.wire == Wire::Live {
                s.wire = Wire::Lost;
            }
        }
    }

    /// A stream opened on a loaded scene: audio from before is stale, and
    /// an audio session whose start went out earlier starts again: its new
    /// start, for its conversation (`reserve` takes it a pending-send slot).
    pub(super) fn relink(
        &mut self,
        reserve: impl FnOnce() -> Option<SendPermit>,
    ) -> (Option<Send>, Effects) {
        let mut effects = Effects::default();
        self.discard(None);
        let Some(session) = self.sessions.front_mut() else {
            return (None, effects);
        };
        if matches!(session.wire, Wire::Waiting | Wire::Queued) {
            return (None, effects);
        }
        let ids = SentIds {
            packet_id: uuid::Uuid::new_v4().to_string(),
            conversation_id: session.conversation_id.clone(),
            ..SentIds::default()
        };
        let Some(permit) = reserve() else {
            let session = self.sessions.pop_front().expect("the front");
            effects.push(Effect::Unsent(
                ids,
                format!(
                    "the audio session of conversation {} could not start again after a \
                     reconnect (too many sends waiting): its audio is dropped",
                    session.conversation_id
                ),
            ));
            if let Some(end) = session.end {
                effects.push(Effect::Fail(end, "its audio session did not start".into()));
            }
            return (None, effects);
        };
        session.wire = Wire::Waiting;
        session.start_id = ids.packet_id.clone();
        let start = Send {
            ids,
            payload: Outgoing::AudioSessionStart(session.config, self.shared.mark()),
            permit,
        };
        (Some(start), effects)
    }

    /// The service expired the game's audio session (no audio for too
    /// long): it is over, not started again on the next stream; pushes are
    /// refused until the game starts another (the game got the error). An
    /// end the task held fails.
    pub(super) fn expired(&mut self, now: Instant) -> Effects {
        let mut effects = Effects::default();
        let live = self
            .sessions
            .front()
            .is_some_and(|s| matches!(s.wire, Wire::Live | Wire::Lost));
        if !live {
            return effects;
        }
        let session = self.sessions.pop_front().expect("the front");
        // Refused only when the game ended it meanwhile: over either way.
        let _ = self.shared.end();
        match session.end {
            Some(end) => {
                self.discard(end_mark(&end));
                effects.push(Effect::Fail(
                    end,
                    "the service expired the audio session before its end went out".into(),
                ));
            }
            None => self.discard(None),
        }
        self.report_dropped(now, true, &mut effects);
        effects
    }

    /// When the audio input must be looked at next (`listening`: voice
    /// detection takes it all the time).
    pub(super) fn wake(&self, listening: bool) -> Option<Instant> {
        let unreported = self.shared.dropped() > self.reported;
        let held_end = self.sessions.iter().any(|s| s.end.is_some());
        let taken = self.is_open() || unreported || listening;
        ((self.pipeline.is_some() && taken) || held_end).then(|| self.last_tick + TICK)
    }

    /// Voice detection drained the input at `now`: what it dropped is
    /// reported.
    pub(super) fn listened(&mut self, now: Instant) -> Effects {
        self.last_tick = now;
        let mut effects = Effects::default();
        self.report_dropped(now, false, &mut effects);
        effects
    }

    /// Drains the audio input: chunks go out while the audio session is
    /// live, audio waits while its start does, and is dropped otherwise.
    pub(super) fn tick(&mut self, now: Instant, linked: bool) -> Effects {
        self.last_tick = now;
        let mut effects = Effects::default();
        self.advance(linked, &mut effects);
        let waits = linked
            && self
                .sessions
                .front()
                .is_some_and(|s| matches!(s.wire, Wire::Waiting | Wire::Live));
        if self.is_open() && !waits {
            self.discard(None);
        }
        // Without voice detection nothing listens to the far end.
        if let Some(p) = self.echo_far.as_mut() {
            p.discard(None);
        }
        self.report_dropped(now, false, &mut effects);
        effects
    }

    /// Counts 16 kHz frames of the input's audio as dropped (in the
    /// input's frames).
    pub(super) fn add_dropped_wire_frames(&mut self, frames: u64) {
        let rate = u64::from(self.input_rate());
        self.shared
            .add_dropped(frames * rate / u64::from(WIRE_RATE));
    }

    /// Drops the audio pushed before `until` (all of it for `None`), counted.
    pub(super) fn discard(&mut self, until: Option<u64>) {
        if let Some(pipeline) = self.pipeline.as_mut() {
            self.shared.add_dropped(pipeline.discard(until));
        }
    }

    /// Tells the game how much audio was dropped since the last report (at
    /// most once a `REPORT_EVERY`, unless `now_anyway`).
    pub(super) fn report_dropped(&mut self, now: Instant, now_anyway: bool, effects: &mut Effects) {
        let total = self.shared.dropped();
        if total <= self.reported {
            return;
        }
        if !now_anyway && self.last_report.is_some_and(|t| now < t + REPORT_EVERY) {
            return;
        }
        let frames = total - self.reported;
        self.reported = total;
        self.last_report = Some(now);
        effects.push(Effect::Dropped {
            frames,
            rate: self.input_rate(),
            conversation_id: self.sessions.front().map(|s| s.conversation_id.clone()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::mic::{ring_capacity, AudioFormat, AudioInput, CHUNK_BYTES};
    use crate::protocol::ai::inworld::packets::{
        data_chunk, inworld_packet::Packet as Wire, InworldPacket,
    };

    /// A session's audio input, and the task's side of it.
    struct Rig {
        shared: Arc<MicShared>,
        input: AudioInput,
        mic: Mic,
        now: Instant,
        /// What went out, in order: "start <id>", "end <id>", or a chunk's
        /// samples; and what failed.
        wire: Vec<Out>,
        failed: Vec<String>,
        dropped: u64,
    }

    #[derive(Debug, PartialEq)]
    enum Out {
        Start(String),
        End(String),
        Audio(Vec<i16>),
    }

    fn payload_of(p: &InworldPacket) -> Vec<i16> {
        match &p.packet {
            Some(Wire::DataChunk(c)) => match &c.data {
                Some(data_chunk::Data::Chunk(b)) => b
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect(),
                _ => panic!("a chunk without bytes"),
            },
            other => panic!("not audio: {other:?}"),
        }
    }

    const FORMAT: AudioFormat = AudioFormat {
        rate: 16_000,
        channels: 1,
    };

    impl Rig {
        fn new() -> Self {
            let shared = Arc::new(MicShared::default());
            let (producer, consumer) = rtrb::RingBuffer::new(ring_capacity(FORMAT));
            let (id, at) = shared.new_input();
            let now = Instant::now();
            let mut mic = Mic::new(shared.clone(), now);
            mic.set_input(Pipeline::new(consumer, FORMAT, at));
            Rig {
                input: AudioInput::new(producer, id, FORMAT, shared.clone()),
                shared,
                mic,
                now,
                wire: Vec::new(),
                failed: Vec::new(),
                dropped: 0,
            }
        }

        /// The game starts an audio session (as `Session` does): its send.
        fn start(&mut self, id: &str) -> Send {
            self.shared.open().unwrap();
            Send {
                ids: SentIds {
                    packet_id: id.into(),
                    conversation_id: "c".into(),
                    ..SentIds::default()
                },
                payload: Outgoing::AudioSessionStart(
                    AudioSessionConfig::default(),
                    self.shared.mark(),
                ),
                permit: SendPermit::unbounded(),
            }
        }

        fn end(&mut self, id: &str) -> Send {
            self.shared.end().unwrap();
            let mark = self.shared.mark();
            self.shared.end_made(mark);
            Send {
                ids: SentIds {
                    packet_id: id.into(),
                    conversation_id: "c".into(),
                    ..SentIds::default()
                },
                payload: Outgoing::AudioSessionEnd(mark),
                permit: SendPermit::unbounded(),
            }
        }

        fn push(&mut self, value: i16, frames: usize) {
            assert_eq!(self.input.push_i16(&vec![value; frames]), Ok(frames));
        }

        /// Carries out effects as the driver does; sends go out at once
        /// when `handshake_done`, else they are returned (waiting in the
        /// conversation).
        fn apply(&mut self, effects: Effects, handshake_done: bool) -> Vec<Send> {
            let mut waiting = Vec::new();
            for e in effects {
                match e {
                    Effect::Write(p) => self.wire.push(Out::Audio(payload_of(&p))),
                    Effect::Send(s) if handshake_done => self.sent(s),
                    Effect::Send(s) => waiting.push(s),
                    Effect::Fail(s, _) => self.failed.push(s.ids.packet_id),
                    Effect::Unsent(ids, _) => self.failed.push(ids.packet_id),
                    Effect::Dropped { frames, .. } => self.dropped += frames,
                    other => panic!("unexpected {other:?}"),
                }
            }
            waiting
        }

        fn sent(&mut self, s: Send) {
            self.mic.on_sent(&s);
            self.wire.push(match s.payload {
                Outgoing::AudioSessionStart(..) => Out::Start(s.ids.packet_id),
                Outgoing::AudioSessionEnd(_) => Out::End(s.ids.packet_id),
                _ => panic!("not audio"),
            });
        }

        fn send(&mut self, s: Send) -> Vec<Send> {
            let e = self.mic.on_send(s, true, self.now);
            self.apply(e, true)
        }

        fn tick(&mut self) {
            self.now += TICK;
            let e = self.mic.tick(self.now, true);
            assert!(self.apply(e, true).is_empty());
        }

        /// The audio sessions on the wire: (start, samples, end).
        fn sessions(&self) -> Vec<(String, Vec<i16>, String)> {
            let mut out = Vec::new();
            let mut open: Option<(String, Vec<i16>)> = None;
            for o in &self.wire {
                match o {
                    Out::Start(id) => {
                        assert!(open.is_none(), "a start inside an audio session");
                        open = Some((id.clone(), Vec::new()));
                    }
                    Out::Audio(s) => open.as_mut().expect("audio outside").1.extend(s),
                    Out::End(id) => {
                        let (start, samples) = open.take().expect("an end without start");
                        out.push((start, samples, id.clone()));
                    }
                }
            }
            assert!(open.is_none(), "left open: {:?}", self.wire);
            out
        }
    }

    fn all(samples: &[i16], value: i16) -> bool {
        samples.iter().all(|s| *s == value)
    }

    #[test]
    fn start_then_end_with_and_without_audio() {
        let mut r = Rig::new();
        let s = r.start("s1");
        r.send(s);
        r.push(100, 3_000);
        r.tick();
        let e = r.end("e1");
        r.send(e);
        let s = r.start("s2");
        r.send(s);
        let e = r.end("e2");
        r.send(e);
        let sessions = r.sessions();
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions[0].1.len(), 3_000);
        assert!(all(&sessions[0].1, 100));
        assert!(sessions[1].1.is_empty());
        // Full chunks, then the shorter last one.
        assert_eq!(r.wire[1], Out::Audio(vec![100; CHUNK_BYTES / 2]));
        assert_eq!(r.dropped, 0);
    }

    #[test]
    fn back_to_back_audio_sessions_each_keep_their_own_audio() {
        let mut r = Rig::new();
        let s = r.start("s1");
        r.send(s);
        // The game pushes all of the first, ends it, starts the next and
        // pushes it, before the task looks (a late tick).
        r.push(100, 3_200);
        let e1 = r.end("e1");
        let s2 = r.start("s2");
        r.push(200, 3_200);
        // The tick comes before the task took the end and the start.
        r.tick();
        r.send(e1);
        r.send(s2);
        r.tick();
        let e2 = r.end("e2");
        r.send(e2);
        let sessions = r.sessions();
        assert_eq!(sessions.len(), 2, "{:?}", r.wire);
        assert_eq!((sessions[0].1.len(), sessions[1].1.len()), (3_200, 3_200));
        assert!(all(&sessions[0].1, 100) && all(&sessions[1].1, 200));
    }

    #[test]
    fn an_end_made_while_a_tick_reads_stops_the_audio_at_its_mark() {
        // The tick read no end yet, but the ring already holds the next
        // audio session's audio: it reads no further than the count it saw.
        let mut r = Rig::new();
        let s = r.start("s1");
        r.send(s);
        r.push(100, 1_000);
        let until = r.shared.sendable_until();
        assert_eq!(until, 1_000);
        let e1 = r.end("e1");
        let s2 = r.start("s2");
        r.push(200, 1_000);
        assert_eq!(r.shared.sendable_until(), 1_000, "the end's mark holds");
        r.send(e1);
        r.send(s2);
        let e2 = r.end("e2");
        r.send(e2);
        let sessions = r.sessions();
        assert!(all(&sessions[0].1, 100) && sessions[0].1.len() == 1_000);
        assert!(all(&sessions[1].1, 200) && sessions[1].1.len() == 1_000);
    }

    #[test]
    fn an_end_before_the_start_is_acknowledged_keeps_the_audio_and_the_next_waits() {
        let mut r = Rig::new();
        let s1 = r.start("s1");
        let e = r.mic.on_send(s1, true, r.now);
        let mut conversation = r.apply(e, false);
        r.push(100, 3_200);
        let e1 = r.end("e1");
        let e = r.mic.on_send(e1, true, r.now);
        assert!(r.apply(e, false).is_empty(), "the end is held");
        let s2 = r.start("s2");
        r.push(200, 1_600);
        let e = r.mic.on_send(s2, true, r.now);
        assert!(
            r.apply(e, false).is_empty(),
            "the next start waits its turn"
        );
        r.tick();
        assert!(r.wire.is_empty(), "nothing before the handshake");
        // The handshake completes: the first start goes out.
        for s in conversation.drain(..) {
            r.sent(s);
        }
        r.tick();
        r.tick();
        let e2 = r.end("e2");
        r.send(e2);
        r.tick();
        let sessions = r.sessions();
        assert_eq!(sessions.len(), 2, "{:?}", r.wire);
        assert_eq!(sessions[0].0, "s1");
        assert_eq!(sessions[0].2, "e1");
        assert_eq!((sessions[0].1.len(), sessions[1].1.len()), (3_200, 1_600));
        assert!(all(&sessions[0].1, 100) && all(&sessions[1].1, 200));
        assert_eq!(r.dropped, 0, "nothing lost");
    }

    #[test]
    fn a_reconnect_in_the_middle_starts_the_audio_session_again() {
        let mut r = Rig::new();
        let s = r.start("s1");
        r.send(s);
        r.push(100, 3_000);
        r.tick();
        r.mic.on_stream_lost();
        // Audio during the outage is dropped and reported.
        r.push(9_000, 1_000);
        r.now += TICK;
        let e = r.mic.tick(r.now, false);
        r.apply(e, true);
        // The outage's, and the part of a chunk the lost stream did not take.
        assert_eq!(r.dropped, 1_000 + (3_000 - CHUNK_BYTES as u64 / 2));
        let (start, e) = r.mic.relink(|| Some(SendPermit::unbounded()));
        r.apply(e, true);
        let start = start.expect("a new start");
        assert_ne!(start.ids.packet_id, "s1");
        r.sent(start);
        r.push(100, 500);
        let e = r.end("e1");
        r.send(e);
        let on_wire: Vec<i16> = r
            .wire
            .iter()
            .filter_map(|o| match o {
                Out::Audio(s) => Some(s.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert!(all(&on_wire, 100), "no audio of the outage");
        assert_eq!(on_wire.len(), CHUNK_BYTES / 2 + 500);
        assert!(matches!(r.wire.last(), Some(Out::End(_))));
    }

    #[test]
    fn an_end_while_the_stream_is_down_fails_and_the_next_goes_on() {
        let mut r = Rig::new();
        let s = r.start("s1");
        r.send(s);
        r.tick();
        r.mic.on_stream_lost();
        let e1 = r.end("e1");
        let e = r.mic.on_send(e1, false, r.now);
        r.apply(e, true);
        assert_eq!(r.failed, ["e1"]);
        let s2 = r.start("s2");
        let e = r.mic.on_send(s2, false, r.now);
        let waiting = r.apply(e, false);
        assert_eq!(waiting.len(), 1, "the next start goes to its conversation");
        assert!(
            r.mic.relink(|| Some(SendPermit::unbounded())).0.is_none(),
            "it is new, not restarted"
        );
    }

    #[test]
    fn an_expired_audio_session_is_over_and_its_held_end_fails() {
        let mut r = Rig::new();
        let s = r.start("s1");
        r.send(s);
        r.push(100, 500);
        let e = r.mic.expired(r.now);
        r.apply(e, true);
        assert!(!r.mic.is_open());
        assert_eq!(r.dropped, 500, "its audio was counted");
        assert!(r.shared.end().is_err(), "the game's audio session is over");
        // A start that failed: its held end fails with it.
        let s2 = r.start("s2");
        let e = r.mic.on_send(s2, true, r.now);
        let waiting = r.apply(e, false);
        assert_eq!(waiting.len(), 1);
        let e2 = r.end("e2");
        let e = r.mic.on_send(e2, true, r.now);
        r.apply(e, false);
        let e = r.mic.on_failed(&waiting[0], true);
        r.apply(e, true);
        assert_eq!(r.failed, ["e2"]);
        assert!(!r.mic.is_open());
    }

    #[test]
    fn what_the_task_holds_fails_when_the_session_closes() {
        let mut r = Rig::new();
        let s1 = r.start("s1");
        let e = r.mic.on_send(s1, true, r.now);
        r.apply(e, false);
        let e1 = r.end("e1");
        let s2 = r.start("s2");
        for s in [e1, s2] {
            let e = r.mic.on_send(s, true, r.now);
            r.apply(e, false);
        }
        let held: Vec<String> = r
            .mic
            .take_held()
            .into_iter()
            .map(|s| s.ids.packet_id)
            .collect();
        assert_eq!(held, ["e1", "s2"]);
    }

    #[test]
    fn a_control_is_only_an_audio_session_start_or_end() {
        let mut r = Rig::new();
        let mute = Send {
            ids: SentIds::default(),
            payload: Outgoing::PlaybackMute(true),
            permit: SendPermit::unbounded(),
        };
        let e = r.mic.on_send(mute, true, r.now);
        assert!(matches!(e.iter().next(), Some(Effect::Send(_))));
    }
}
