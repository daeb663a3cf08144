//! The audio session as the task carries it: the AUDIO_SESSION_START goes
//! through its conversation like any send; once it went out on this stream,
//! a tick drains the game's audio input, and each full chunk goes out. Audio
//! that cannot go out now (no stream, no scene, a start not sent) is thrown
//! away, counted and reported, never sent late; a start waiting for its
//! conversation's handshake keeps the audio in the ring meanwhile (and an
//! end made meanwhile waits for that audio to go out). After a reconnect
//! (or a scene change) the audio session starts again.

use super::Driver;
use crate::client::mic::{AudioSessionConfig, Pipeline};
use crate::client::outbound;
use crate::client::state::{Outgoing, Send};
use crate::client::SentIds;
use crate::packet::{PacketIds, SendFailure};
use std::time::{Duration, Instant};

/// How often the audio input is drained while an audio session is open:
/// well inside the ring's one second, and few wake-ups.
const TICK: Duration = Duration::from_millis(20);
/// Dropped audio is reported at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// Its AUDIO_SESSION_START waits in the conversation.
    Waiting,
    /// The start went out on this stream: audio follows it.
    Live,
    /// The start went out on a stream that is gone.
    Lost,
}

struct AudioSession {
    /// The packet id of its (latest) AUDIO_SESSION_START.
    start: String,
    conversation_id: String,
    config: AudioSessionConfig,
    wire: Wire,
}

pub(super) struct Mic {
    pub(super) pipeline: Option<Pipeline>,
    /// Voice detection, while on.
    pub(super) hands_free: Option<super::hands_free::HandsFree>,
    /// The game's echo reference, drained with the input.
    pub(super) echo_far: Option<Pipeline>,
    session: Option<AudioSession>,
    last_tick: Instant,
    /// Dropped frames already reported (of `MicShared::dropped`).
    reported: u64,
    last_report: Option<Instant>,
    /// The game ended the audio session before its start went out: the end
    /// follows the audio, once the start has.
    ending: Option<Send>,
}

/// What becomes of an audio control of the game's.
pub(super) enum AudioSend {
    /// It goes to its conversation now.
    Forward(Send),
    /// The task holds it (an end waiting for its start and audio).
    Held,
    /// It must not go out (why).
    Refuse(Send, String),
}

impl Mic {
    pub(super) fn new() -> Self {
        Mic {
            pipeline: None,
            hands_free: None,
            echo_far: None,
            ending: None,
            session: None,
            last_tick: Instant::now(),
            reported: 0,
            last_report: None,
        }
    }

    /// A send went out: an audio session's start makes it live.
    pub(super) fn on_sent(&mut self, send: &Send) {
        if let Some(h) = &mut self.hands_free {
            h.on_sent(send);
        }
        if let Some(s) = &mut self.session {
            if s.start == send.ids.packet_id {
                s.wire = Wire::Live;
            }
        }
    }

    /// A send failed: an audio session whose start cannot go out is over.
    /// Returns its end, if the task held one (it fails too).
    pub(super) fn on_failed(&mut self, send: &Send) -> Option<Send> {
        if let Some(h) = &mut self.hands_free {
            h.on_failed(send);
        }
        if self
            .session
            .as_ref()
            .is_some_and(|s| s.start == send.ids.packet_id)
        {
            self.session = None;
            return self.ending.take();
        }
        None
    }

    /// The end the task holds, if any (the session closes).
    pub(super) fn take_ending(&mut self) -> Option<Send> {
        self.ending.take()
    }

    /// The stream is gone: audio sessions must start again on the next.
    pub(super) fn on_stream_lost(&mut self) {
        if let Some(s) = &mut self.session {
            if s.wire == Wire::Live {
                s.wire = Wire::Lost;
            }
        }
    }
}

/// The mark of a held end.
fn end_mark(end: &Send) -> Option<u64> {
    match end.payload {
        Outgoing::AudioSessionEnd(mark) => Some(mark),
        _ => None,
    }
}

impl Driver {
    pub(super) fn on_audio_input(&mut self, pipeline: Pipeline) {
        self.mic.pipeline = Some(pipeline);
    }

    /// An audio control of the game's, before it goes to its conversation.
    pub(super) fn on_audio_send(&mut self, send: Send) -> AudioSend {
        match &send.payload {
            Outgoing::AudioSessionStart(config, mark) => {
                if let Some(end) = self.mic.ending.take() {
                    // A new start before the last one went out: the last
                    // one's end goes after it, without its audio.
                    self.discard_audio(end_mark(&end));
                    self.send_in_conversation(end);
                }
                // Audio from before the start (pushed as the last ended).
                self.discard_audio(Some(*mark));
                self.mic.session = Some(AudioSession {
                    start: send.ids.packet_id.clone(),
                    conversation_id: send.ids.conversation_id.clone(),
                    config: *config,
                    wire: Wire::Waiting,
                });
                AudioSend::Forward(send)
            }
            Outgoing::AudioSessionEnd(mark) => {
                self.shared.mic.end_taken();
                let mark = Some(*mark);
                let wire = self.mic.session.as_ref().map(|s| s.wire);
                let result = match wire {
                    Some(Wire::Live) if self.linked() => {
                        self.mic.session = None;
                        self.finish_audio(&send.ids.conversation_id, mark);
                        AudioSend::Forward(send)
                    }
                    Some(Wire::Waiting) => {
                        log::debug!("audio session ended before its start went out: held");
                        self.mic.ending = Some(send);
                        return AudioSend::Held;
                    }
                    _ => {
                        self.mic.session = None;
                        self.discard_audio(mark);
                        AudioSend::Refuse(
                            send,
                            "the audio session was cut short (by a reconnect, or its start failed); its \
                             end was not sent"
                                .into(),
                        )
                    }
                };
                self.report_dropped(Instant::now(), true);
                result
            }
            _ => AudioSend::Forward(send),
        }
    }

    /// What was pushed before the end (its mark) goes out, before it.
    fn finish_audio(&mut self, conversation_id: &str, until: Option<u64>) {
        if let (Some(pipeline), Some(out)) = (self.mic.pipeline.as_mut(), &self.out) {
            pipeline.finish(until, &mut |bytes| {
                let _ = out.send(Box::new(outbound::audio_chunk(conversation_id, bytes)));
            });
        }
    }

    /// When the audio input must be looked at next.
    pub(super) fn mic_wake(&self) -> Option<Instant> {
        let unreported = self.shared.mic.dropped() > self.mic.reported;
        let session = self.mic.session.is_some() || self.mic.hands_free.is_some();
        ((self.mic.pipeline.is_some() && (session || unreported)) || self.mic.ending.is_some())
            .then(|| self.mic.last_tick + TICK)
    }

    /// Drains the audio input: chunks go out while the audio session is
    /// live, audio waits while its start does, and is dropped otherwise.
    pub(super) fn mic_tick(&mut self, now: Instant) {
        self.mic.last_tick = now;
        if self.mic.hands_free.is_some() {
            self.hands_free_tick();
            self.report_dropped(now, false);
            return;
        }
        let linked = self.linked();
        let wire = self.mic.session.as_ref().map(|s| s.wire);
        match wire {
            Some(Wire::Live) if linked => {
                if let Some(end) = self.mic.ending.take() {
                    // The start went out: its audio, then the end the game made.
                    self.mic.session = None;
                    self.finish_audio(&end.ids.conversation_id, end_mark(&end));
                    self.report_dropped(now, true);
                    self.send_in_conversation(end);
                    return;
                }
                let session = self.mic.session.as_ref().expect("live");
                if let (Some(pipeline), Some(out)) = (self.mic.pipeline.as_mut(), &self.out) {
                    let id = &session.conversation_id;
                    // Not past an end on its way: what follows is the next
                    // audio session's.
                    let until = self.shared.mic.sendable_until();
                    pipeline.pump(until, &mut |bytes| {
                        let _ = out.send(Box::new(outbound::audio_chunk(id, bytes)));
                    });
                }
            }
            // Waits for its start; or, with no audio session, is the next
            // one's (pushes are refused between audio sessions).
            Some(Wire::Waiting) if linked => {}
            None => {}
            Some(_) => self.discard_audio(None),
        }
        // Without voice detection nothing listens to the far end yet.
        if let Some(p) = self.mic.echo_far.as_mut() {
            p.discard(None);
        }
        self.report_dropped(now, false);
    }

    /// The service expired the game's audio session (no audio for too
    /// long): it is over, not started again on the next stream; pushes are
    /// refused until the game starts another (the game got the error). An
    /// end the task held fails.
    pub(super) fn audio_session_expired(&mut self) {
        if self.mic.session.take().is_none() {
            return;
        }
        // Refused only when the game ended it meanwhile: over either way.
        let _ = self.shared.mic.end();
        if let Some(end) = self.mic.ending.take() {
            self.fail(
                &end,
                SendFailure::NotSent,
                "the service expired the audio session before its end went out",
            );
        }
        self.discard_audio(None);
        self.report_dropped(Instant::now(), true);
    }

    /// A stream opened on a loaded scene: audio from before is stale, and an
    /// audio session whose start went out earlier starts again. Returns
    /// that start, for its conversation.
    pub(super) fn mic_relink(&mut self) -> Option<Send> {
        self.discard_audio(None);
        let session = self.mic.session.as_mut()?;
        if session.wire == Wire::Waiting {
            return None;
        }
        let ids = SentIds {
            packet_id: uuid::Uuid::new_v4().to_string(),
            conversation_id: session.conversation_id.clone(),
            ..SentIds::default()
        };
        if !self.shared.reserve_send() {
            let session = self.mic.session.take().expect("open");
            self.shared.report_failed(
                &ids,
                SendFailure::NotSent,
                &format!(
                    "the audio session of conversation {} could not start again after a \
                     reconnect (too many sends waiting): its audio is dropped",
                    session.conversation_id
                ),
            );
            return None;
        }
        session.wire = Wire::Waiting;
        session.start = ids.packet_id.clone();
        Some(Send {
            ids,
            payload: Outgoing::AudioSessionStart(session.config, self.shared.mic.mark()),
        })
    }

    /// Drops the audio pushed before `until` (all of it for `None`), counted.
    fn discard_audio(&mut self, until: Option<u64>) {
        if let Some(pipeline) = self.mic.pipeline.as_mut() {
            self.shared.mic.add_dropped(pipeline.discard(until));
        }
    }

    /// Tells the game how much audio was dropped since the last report (at
    /// most once a `REPORT_EVERY`, unless `now_anyway`).
    pub(super) fn report_dropped(&mut self, now: Instant, now_anyway: bool) {
        let total = self.shared.mic.dropped();
        if total <= self.mic.reported {
            return;
        }
        if !now_anyway && self.mic.last_report.is_some_and(|t| now < t + REPORT_EVERY) {
            return;
        }
        let frames = total - self.mic.reported;
        self.mic.reported = total;
        self.mic.last_report = Some(now);
        let rate = self.mic.pipeline.as_ref().map_or(16_000, |p| p.rate());
        // The audio session's, or the one the game just opened (its start
        // may not have reached the task yet).
        let conversation_id = match &self.mic.session {
            Some(s) => s.conversation_id.clone(),
            None => self
                .shared
                .snapshot
                .lock()
                .audio_conversation
                .clone()
                .unwrap_or_default(),
        };
        let ids = PacketIds {
            conversation_id: conversation_id.as_str().into(),
            ..PacketIds::default()
        };
        self.shared.report_failed_packet(
            ids,
            SendFailure::NotSent,
            &format!(
                "{frames} frames ({} ms) of microphone audio were dropped: the audio input was \
                 full, or the session could not send them (connecting, reconnecting, or the \
                 audio session's start not yet sent)",
                frames * 1000 / u64::from(rate)
            ),
        );
    }
}
