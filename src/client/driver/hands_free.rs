//! Voice detection in the task: while it is on, each tick drains the game's
//! audio input (and its echo reference) whether or not an audio session is
//! open, runs the 16 kHz stream through the gate (`audio::voice_gate`), and
//! makes one push-to-talk audio session per turn of the player's: its start
//! when speech starts, the speech (with its pre-roll) in 5 KiB chunks, its
//! end once the end silence has passed. Silence is never sent. The game sees
//! each turn start and end as a `VoiceActivity` packet.
//!
//! A turn whose stream is lost is ended for the game (cut short), and the
//! audio it could not send is counted as dropped microphone audio; the next
//! turn starts a new audio session on the next stream.
//!
//! A plain value: it takes what happened and returns `Effects`.

use super::effects::{Effect, Effects};
use super::mic::Mic;
use crate::audio::voice_gate::{GateEvent, VoiceGate, VoiceGateConfig};
use crate::client::mic::{
    AudioSessionConfig, MicrophoneMode, VoiceDetection, CHUNK_BYTES, WIRE_RATE,
};
use crate::client::outbound;
use crate::client::send_slots::SendPermit;
use crate::client::state::{Outgoing, Send};
use crate::client::SentIds;
use crate::packet::{Packet, PacketBody, PacketIds, VoiceActivityEvent};
use std::time::Instant;

/// Audio a turn may hold while its start waits for the conversation (5 s).
const MAX_WAITING_BYTES: usize = 5 * WIRE_RATE as usize * 2;

/// What the gate found in a tick, in order.
enum Step {
    Start,
    Audio(Vec<u8>),
    End,
}

struct Turn {
    start_id: String,
    conversation_id: String,
    /// Its start went out on this stream: audio may follow.
    live: bool,
    /// Its start failed, or its stream was lost: its audio is dropped.
    lost: bool,
    /// Audio made before its start went out.
    waiting: Vec<u8>,
}

/// What a turn needs from the session when it starts or ends.
pub(super) struct Link<'a> {
    /// A stream is open on a loaded scene.
    pub linked: bool,
    /// The one-to-one conversation is confirmed: a start handed to it goes
    /// out at once, before the effects that follow it (so a turn found
    /// whole in one late tick keeps its audio).
    pub ready: bool,
    /// The one-to-one conversation (a turn's audio session goes there).
    pub conversation_id: &'a dyn Fn() -> String,
    /// Takes a pending-send slot for a start or an end (`None`: none left).
    pub reserve: &'a dyn Fn() -> Option<SendPermit>,
}

pub(crate) struct HandsFree {
    config: VoiceDetection,
    gate: VoiceGate,
    /// One tick's 16 kHz samples (allocated once).
    near: Vec<i16>,
    far: Vec<i16>,
    chunk: Vec<u8>,
    turn: Option<Turn>,
}

impl HandsFree {
    /// Voice detection with `config`; `None` when its gate cannot start.
    pub(super) fn new(config: VoiceDetection) -> Option<Self> {
        let gate = VoiceGate::new(VoiceGateConfig {
            end_silence: config.end_silence,
            echo_cancellation: config.echo_cancellation,
            ..VoiceGateConfig::default()
        });
        match gate {
            Ok(gate) => Some(HandsFree {
                config,
                gate,
                near: Vec::with_capacity(WIRE_RATE as usize),
                far: Vec::with_capacity(WIRE_RATE as usize),
                chunk: Vec::with_capacity(CHUNK_BYTES),
                turn: None,
            }),
            Err(e) => {
                log::error!("voice detection could not start: {e}");
                None
            }
        }
    }

    pub(super) fn on_sent(&mut self, send: &Send) {
        if let Some(t) = &mut self.turn {
            if t.start_id == send.ids.packet_id {
                t.live = true;
            }
        }
    }

    pub(super) fn on_failed(&mut self, send: &Send) {
        if let Some(t) = &mut self.turn {
            if t.start_id == send.ids.packet_id {
                t.lost = true;
            }
        }
    }

    /// Drains the input and the echo reference into the gate; acts on what
    /// it found, in its order (a late tick may hold an end and a start).
    pub(super) fn tick(&mut self, mic: &mut Mic, link: &Link, now: Instant) -> Effects {
        self.near.clear();
        self.far.clear();
        // Both drained on the same tick: the gate pairs them frame by frame.
        let (input, echo_far) = mic.inputs();
        if let Some(p) = input {
            let near = &mut self.near;
            p.pump_samples(None, &mut |s| near.push(to_i16(s)));
        }
        if let Some(p) = echo_far {
            let far = &mut self.far;
            p.pump_samples(None, &mut |s| far.push(to_i16(s)));
        }
        self.gate.push_far(&self.far);
        let HandsFree {
            gate, near, chunk, ..
        } = self;
        let mut steps: Vec<Step> = Vec::new();
        gate.push_near(near, &mut |e| match e {
            GateEvent::Started => steps.push(Step::Start),
            GateEvent::Speech(samples) => {
                for s in samples {
                    chunk.extend_from_slice(&s.to_le_bytes());
                    if chunk.len() == CHUNK_BYTES {
                        let full = std::mem::replace(chunk, Vec::with_capacity(CHUNK_BYTES));
                        steps.push(Step::Audio(full));
                    }
                }
            }
            GateEvent::Ended => {
                if !chunk.is_empty() {
                    let last = std::mem::replace(chunk, Vec::with_capacity(CHUNK_BYTES));
                    steps.push(Step::Audio(last));
                }
                steps.push(Step::End);
            }
        });
        let mut effects = Effects::default();
        for step in steps {
            match step {
                Step::Start => self.start_turn(link, &mut effects),
                Step::Audio(bytes) => self.turn_audio(bytes, mic, &mut effects),
                Step::End => self.end_turn(false, mic, link, now, &mut effects),
            }
        }
        effects
    }

    /// Speech started: a new audio session.
    fn start_turn(&mut self, link: &Link, effects: &mut Effects) {
        // The player speaks over a character: barge-in.
        effects.push(Effect::BargeIn);
        let conversation_id = (link.conversation_id)();
        let ids = SentIds {
            packet_id: uuid::Uuid::new_v4().to_string(),
            conversation_id: conversation_id.clone(),
            ..SentIds::default()
        };
        let mut turn = Turn {
            start_id: ids.packet_id.clone(),
            conversation_id: conversation_id.clone(),
            live: false,
            lost: false,
            waiting: Vec::new(),
        };
        let permit = link.linked.then(link.reserve).flatten();
        if let Some(permit) = permit {
            turn.live = link.ready;
            effects.push(voice(true, &ids.packet_id, &conversation_id, false));
            effects.push(Effect::Send(Send {
                ids,
                payload: Outgoing::AudioSessionStart(
                    AudioSessionConfig {
                        mode: MicrophoneMode::PushToTalk,
                        understanding: self.config.understanding,
                    },
                    0,
                ),
                permit,
            }));
        } else {
            // No audio session: the game still sees the turn, without an id.
            turn.lost = true;
            turn.start_id.clear();
            effects.push(voice(true, "", &conversation_id, false));
        }
        self.turn = Some(turn);
    }

    /// A chunk of the turn's speech: out now, held until its start went
    /// out, or dropped (counted) when it cannot go.
    fn turn_audio(&mut self, bytes: Vec<u8>, mic: &mut Mic, effects: &mut Effects) {
        let Some(turn) = self.turn.as_mut() else {
            return;
        };
        let frames = (bytes.len() / 2) as u64;
        if turn.lost || (!turn.live && turn.waiting.len() + bytes.len() > MAX_WAITING_BYTES) {
            mic.add_dropped_wire_frames(frames);
            return;
        }
        if !turn.live {
            turn.waiting.extend_from_slice(&bytes);
            return;
        }
        let id = &turn.conversation_id;
        for piece in turn.waiting.chunks(CHUNK_BYTES) {
            effects.push(Effect::Write(Box::new(outbound::audio_chunk(
                id,
                piece.to_vec(),
            ))));
        }
        turn.waiting.clear();
        effects.push(Effect::Write(Box::new(outbound::audio_chunk(id, bytes))));
    }

    /// The turn ends: its end goes out (when its start did), and the game
    /// is told.
    fn end_turn(
        &mut self,
        cut_short: bool,
        mic: &mut Mic,
        link: &Link,
        now: Instant,
        effects: &mut Effects,
    ) {
        let Some(turn) = self.turn.take() else {
            return;
        };
        if !turn.waiting.is_empty() {
            mic.add_dropped_wire_frames((turn.waiting.len() / 2) as u64);
        }
        // A start still waiting in the conversation goes out first: the end
        // follows it there.
        let permit = (!turn.lost && link.linked).then(link.reserve).flatten();
        if let Some(permit) = permit {
            let ids = SentIds {
                packet_id: uuid::Uuid::new_v4().to_string(),
                conversation_id: turn.conversation_id.clone(),
                ..SentIds::default()
            };
            effects.push(Effect::Send(Send {
                ids,
                payload: Outgoing::AudioSessionEnd(0),
                permit,
            }));
        }
        effects.push(voice(
            false,
            &turn.start_id,
            &turn.conversation_id,
            cut_short,
        ));
        mic.report_dropped(now, true, effects);
    }

    /// A turn under way ends now, cut short: on a lost stream its audio
    /// session is gone with the stream; otherwise (voice detection turned
    /// off) its end still goes out. The gate starts listening afresh.
    pub(super) fn cut_turn(
        &mut self,
        stream_lost: bool,
        mic: &mut Mic,
        link: &Link,
        now: Instant,
    ) -> Effects {
        let mut effects = Effects::default();
        let held = self.gate.held_samples() + (self.chunk.len() / 2) as u64;
        if !self.gate.reset() && self.turn.is_none() {
            return effects;
        }
        self.chunk.clear();
        mic.add_dropped_wire_frames(held);
        if let Some(t) = self.turn.as_mut() {
            t.lost |= stream_lost;
        }
        self.end_turn(true, mic, link, now, &mut effects);
        effects
    }
}

/// A turn's start or end, for the game.
fn voice(speaking: bool, start_id: &str, conversation_id: &str, cut_short: bool) -> Effect {
    let mut packet = Packet::local(PacketBody::VoiceActivity(VoiceActivityEvent {
        speaking,
        audio_session_id: start_id.into(),
        cut_short,
    }));
    packet.ids = PacketIds {
        conversation_id: conversation_id.into(),
        ..PacketIds::default()
    };
    Effect::Deliver(packet)
}

fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::mic::MicShared;
    use std::sync::Arc;

    fn kinds(effects: Effects) -> Vec<String> {
        effects
            .into_iter()
            .map(|e| match e {
                Effect::BargeIn => "barge-in".to_string(),
                Effect::Deliver(p) => match p.body {
                    PacketBody::VoiceActivity(v) if v.speaking => "speaking".into(),
                    PacketBody::VoiceActivity(_) => "silent".into(),
                    other => panic!("{other:?}"),
                },
                Effect::Send(s) => match s.payload {
                    Outgoing::AudioSessionStart(..) => "start".into(),
                    Outgoing::AudioSessionEnd(_) => "end".into(),
                    other => panic!("{other:?}"),
                },
                Effect::Write(_) => "audio".into(),
                Effect::Dropped { frames, .. } => format!("dropped {frames}"),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// Two turns as the gate reports them in one late tick.
    fn one_late_tick(ready: bool) -> (Vec<String>, u64) {
        let shared = Arc::new(MicShared::default());
        let now = Instant::now();
        let mut mic = Mic::new(shared.clone(), now);
        let mut h = HandsFree::new(VoiceDetection::default()).unwrap();
        let link = Link {
            linked: true,
            ready,
            conversation_id: &|| "c".to_string(),
            reserve: &|| Some(SendPermit::unbounded()),
        };
        let mut effects = Effects::default();
        h.start_turn(&link, &mut effects);
        h.turn_audio(vec![1; CHUNK_BYTES], &mut mic, &mut effects);
        h.turn_audio(vec![1; 100], &mut mic, &mut effects);
        h.end_turn(false, &mut mic, &link, now, &mut effects);
        h.start_turn(&link, &mut effects);
        h.turn_audio(vec![2; CHUNK_BYTES], &mut mic, &mut effects);
        (kinds(effects), shared.dropped())
    }

    #[test]
    fn turns_found_in_one_late_tick_keep_their_audio_in_order() {
        let (effects, dropped) = one_late_tick(true);
        assert_eq!(
            effects,
            [
                "barge-in", "speaking", "start", "audio", "audio", "end", "silent", "barge-in",
                "speaking", "start", "audio"
            ]
        );
        assert_eq!(dropped, 0);
    }

    #[test]
    fn a_turn_whose_start_waits_holds_its_audio_and_drops_it_counted_if_it_ends_first() {
        let (effects, dropped) = one_late_tick(false);
        // No audio before its start went out; the end follows the start in
        // the conversation; what was held is counted as dropped.
        assert!(!effects.iter().any(|e| e == "audio"), "{effects:?}");
        assert_eq!(
            &effects[..7],
            [
                "barge-in",
                "speaking",
                "start",
                "end",
                "silent",
                "dropped 2610",
                "barge-in"
            ]
        );
        // The second turn's audio still waits for its start.
        assert_eq!(dropped, (CHUNK_BYTES as u64 + 100) / 2);
    }
}
