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

use super::Driver;
use crate::audio::voice_gate::{GateEvent, VoiceGate, VoiceGateConfig};
use crate::client::mic::{
    AudioSessionConfig, MicrophoneMode, VoiceDetection, CHUNK_BYTES, WIRE_RATE,
};
use crate::client::outbound;
use crate::client::state::{Outgoing, Send};
use crate::client::SentIds;
use crate::packet::{Packet, PacketBody, PacketIds, VoiceActivityEvent};

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
}

impl Driver {
    /// Turns voice detection on (or changes its settings) or off; a turn
    /// under way ends (cut short).
    pub(super) fn set_voice_detection(&mut self, config: Option<VoiceDetection>) {
        self.cut_turn(false);
        self.hands_free = config.and_then(|config| {
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
        });
        // Audio from before is stale.
        self.mic.discard(None);
        if let (_, Some(p)) = self.mic.inputs() {
            p.discard(None);
        }
    }

    /// Drains the input and the echo reference into the gate; acts on what
    /// it found.
    pub(super) fn hands_free_tick(&mut self) {
        let Some(h) = self.hands_free.as_mut() else {
            return;
        };
        h.near.clear();
        h.far.clear();
        // Both drained on the same tick: the gate pairs them frame by frame.
        let (input, echo_far) = self.mic.inputs();
        if let Some(p) = input {
            let near = &mut h.near;
            p.pump_samples(None, &mut |s| near.push(to_i16(s)));
        }
        if let Some(p) = echo_far {
            let far = &mut h.far;
            p.pump_samples(None, &mut |s| far.push(to_i16(s)));
        }
        h.gate.push_far(&h.far);
        let HandsFree {
            gate, near, chunk, ..
        } = h;
        // What the gate said is acted on after it, in its order (the driver
        // is borrowed meanwhile; a late tick may hold an end and a start).
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
        for step in steps {
            match step {
                Step::Start => self.start_turn(),
                Step::Audio(bytes) => self.turn_audio(bytes),
                Step::End => self.end_turn(false),
            }
        }
    }

    /// Speech started: a new audio session.
    fn start_turn(&mut self) {
        // The player speaks over a character: barge-in.
        self.barge_in();
        let conversation_id = self.shared.snapshot.lock().conversation_id.clone();
        let linked = self.linked();
        let Some(h) = self.hands_free.as_mut() else {
            return;
        };
        let understanding = h.config.understanding;
        let ids = SentIds {
            packet_id: uuid::Uuid::new_v4().to_string(),
            conversation_id: conversation_id.clone(),
            ..SentIds::default()
        };
        h.turn = Some(Turn {
            start_id: ids.packet_id.clone(),
            conversation_id: conversation_id.clone(),
            live: false,
            lost: !linked,
            waiting: Vec::new(),
        });
        if linked && self.shared.reserve_send() {
            self.deliver_voice(true, &ids.packet_id, &conversation_id, false);
            self.send_in_conversation(Send {
                ids,
                payload: Outgoing::AudioSessionStart(
                    AudioSessionConfig {
                        mode: MicrophoneMode::PushToTalk,
                        understanding,
                    },
                    0,
                ),
            });
        } else if let Some(t) = self.hands_free.as_mut().and_then(|h| h.turn.as_mut()) {
            // No audio session: the game still sees the turn, without an id.
            t.lost = true;
            t.start_id.clear();
            self.deliver_voice(true, "", &conversation_id, false);
        }
    }

    /// A chunk of the turn's speech: out now, held until its start went
    /// out, or dropped (counted) when it cannot go.
    fn turn_audio(&mut self, bytes: Vec<u8>) {
        let Some(turn) = self.hands_free.as_mut().and_then(|h| h.turn.as_mut()) else {
            return;
        };
        let frames = (bytes.len() / 2) as u64;
        if turn.lost || (!turn.live && turn.waiting.len() + bytes.len() > MAX_WAITING_BYTES) {
            self.shared.mic.add_dropped(input_frames(self, frames));
            return;
        }
        if !turn.live {
            turn.waiting.extend_from_slice(&bytes);
            return;
        }
        let waiting = std::mem::take(&mut turn.waiting);
        let id = turn.conversation_id.clone();
        if let Some(out) = &self.out {
            for piece in waiting.chunks(CHUNK_BYTES) {
                let _ = out.send(Box::new(outbound::audio_chunk(&id, piece.to_vec())));
            }
            let _ = out.send(Box::new(outbound::audio_chunk(&id, bytes)));
        }
    }

    /// The turn ends: its end goes out (when its start did), and the game
    /// is told.
    fn end_turn(&mut self, cut_short: bool) {
        let Some(turn) = self.hands_free.as_mut().and_then(|h| h.turn.take()) else {
            return;
        };
        if !turn.waiting.is_empty() {
            let frames = (turn.waiting.len() / 2) as u64;
            let dropped = input_frames(self, frames);
            self.shared.mic.add_dropped(dropped);
        }
        // A start still waiting in the conversation goes out first: the end
        // follows it there.
        if !turn.lost && self.linked() && self.shared.reserve_send() {
            let ids = SentIds {
                packet_id: uuid::Uuid::new_v4().to_string(),
                conversation_id: turn.conversation_id.clone(),
                ..SentIds::default()
            };
            self.send_in_conversation(Send {
                ids,
                payload: Outgoing::AudioSessionEnd(0),
            });
        }
        self.deliver_voice(false, &turn.start_id, &turn.conversation_id, cut_short);
        self.report_mic_dropped(true);
    }

    /// A turn under way ends now, cut short: on a lost stream its audio
    /// session is gone with the stream; otherwise (voice detection turned
    /// off) its end still goes out. The gate starts listening afresh.
    pub(super) fn cut_turn(&mut self, stream_lost: bool) {
        let Some(h) = self.hands_free.as_mut() else {
            return;
        };
        let held = h.gate.held_samples() + (h.chunk.len() / 2) as u64;
        if !h.gate.reset() && h.turn.is_none() {
            return;
        }
        h.chunk.clear();
        let dropped = input_frames(self, held);
        self.shared.mic.add_dropped(dropped);
        if let Some(t) = self.hands_free.as_mut().and_then(|h| h.turn.as_mut()) {
            t.lost |= stream_lost;
        }
        self.end_turn(true);
    }

    fn deliver_voice(
        &self,
        speaking: bool,
        start_id: &str,
        conversation_id: &str,
        cut_short: bool,
    ) {
        let mut packet = Packet::local(PacketBody::VoiceActivity(VoiceActivityEvent {
            speaking,
            audio_session_id: start_id.into(),
            cut_short,
        }));
        packet.ids = PacketIds {
            conversation_id: conversation_id.into(),
            ..PacketIds::default()
        };
        self.shared.delivery.deliver(packet);
    }
}

/// 16 kHz frames as the input's frames (dropped audio is counted in them).
fn input_frames(driver: &Driver, frames: u64) -> u64 {
    frames * u64::from(driver.mic.input_rate()) / u64::from(WIRE_RATE)
}

fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16
}
