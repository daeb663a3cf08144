//! Audio sessions: AUDIO_SESSION_START, audio chunks, AUDIO_SESSION_END. The
//! audio is decoded as it comes (16 kHz mono 16-bit, a leading WAV header
//! skipped) and none of it is kept: the voice detector the library uses finds
//! where the player speaks. A real recogniser (PocketSphinx) is given that
//! speech, and its partial texts are sent as they change; without one, the
//! scene's transcript is "recognised" word by word. When the player stops
//! (open mic) or the session ends (push to talk), the text becomes final and
//! is answered like text. With the scripted transcript, loud audio the
//! detector never took for speech (a test tone) is still answered at the
//! end, as before the detector.

use super::incoming::Incoming;
use crate::audio::voice_activity::{VoiceActivity, VoiceActivityConfig, VoiceEvent, SAMPLE_RATE};
use crate::engine::limits::MAX_AUDIO_SESSION_BYTES;
use crate::engine::outbound::status;
use crate::engine::outbound::{self, Ids};
use crate::engine::recognizer::Recognizer;
use crate::engine::sessions::{AudioCapture, Heard};
use crate::engine::stream::ctx::StreamCtx;
use crate::engine::stream::job::Input;
use crate::protocol::ai::inworld::packets::audio_session_start_payload::MicrophoneMode;
use crate::protocol::ai::inworld::packets::{
    data_chunk, inworld_packet, text_event, AudioSessionStartPayload, DataChunk, TextEvent,
};
use crate::protocol::status::{status_with_details, ErrorDetails, ErrorType, ReconnectionType};
use std::time::Instant;
use tonic::{Code, Status};

/// Mean absolute amplitude below which an audio session is silence.
const SILENCE: f64 = 50.0;

/// Speech time per word shown while recognising the scripted transcript.
const MS_PER_WORD: u64 = 300;

/// Audio kept from before the voice detector says speech started: it
/// decides some way into the first word, and a recogniser needs its start.
const PREROLL_SAMPLES: usize = SAMPLE_RATE as usize * 3 / 4;

pub(super) async fn start(
    incoming: &Incoming<'_>,
    payload: Option<AudioSessionStartPayload>,
) -> Result<(), Status> {
    let push_to_talk = payload.is_some_and(|p| p.mode == MicrophoneMode::ExpectAudioEnd as i32);
    let ctx = incoming.ctx;
    let mut capture = AudioCapture {
        stream: ctx.id,
        last_audio: Some(Instant::now()),
        conversation_id: incoming.ids.conversation_id.clone(),
        push_to_talk,
        voice: Some(Box::new(VoiceActivity::new(VoiceActivityConfig::default()))),
        ..AudioCapture::default()
    };
    capture.meter.decoded = Some(Vec::new());
    let mut memory = ctx.session.memory.lock();
    // One left by a stream that is gone is simply replaced.
    if memory.audio.as_ref().is_some_and(|a| a.stream == ctx.id) {
        return Err(status(
            Code::FailedPrecondition,
            "an audio session is already open on this stream: end it before starting another",
            ErrorType::AudioSessionAlreadyStarted,
        ));
    }
    memory.audio = Some(capture);
    Ok(())
}

/// The stream's open audio session, if it has one: when it expires.
pub(in crate::engine::stream) fn expiry(ctx: &StreamCtx) -> Option<Instant> {
    let memory = ctx.session.memory.lock();
    let audio = memory.audio.as_ref().filter(|a| a.stream == ctx.id)?;
    Some(audio.last_audio? + ctx.shared.audio_session_idle_timeout)
}

/// The stream's audio session carried no audio for too long: it is over,
/// and so is the stream (the status the service ends it with).
pub(in crate::engine::stream) fn expired(ctx: &StreamCtx) -> Status {
    let mut memory = ctx.session.memory.lock();
    if memory.audio.as_ref().is_some_and(|a| a.stream == ctx.id) {
        memory.audio = None;
    }
    let idle = ctx.shared.audio_session_idle_timeout;
    status_with_details(
        Code::FailedPrecondition,
        format!("audio session expired: no audio for {idle:?}"),
        // The session itself is fine: the client may reconnect at once.
        &ErrorDetails::new(ErrorType::AudioSessionExpired, ReconnectionType::Immediate),
    )
}

/// The stream ended: an audio session it had open ends with it.
pub(in crate::engine::stream) fn stream_ended(ctx: &StreamCtx) {
    let mut memory = ctx.session.memory.lock();
    if memory.audio.as_ref().is_some_and(|a| a.stream == ctx.id) {
        memory.audio = None;
    }
}

/// What a chunk led to, done once the session's memory is let go.
enum Step {
    Partial(Ids, String),
    Answer(Ids, Transcript),
}

/// What the player said, or will have said once the recogniser is done.
enum Transcript {
    Scripted,
    Recognising(tokio::sync::oneshot::Receiver<String>),
}

impl Transcript {
    /// The text, when something was recognised.
    async fn text(self, incoming: &Incoming<'_>) -> Option<String> {
        let text = match self {
            Transcript::Scripted => incoming.ctx.shared.workspace.speech.transcript.clone(),
            Transcript::Recognising(text) => text.await.unwrap_or_default(),
        };
        (!text.trim().is_empty()).then_some(text)
    }
}

/// Answers what the player said; when nothing was recognised, says so.
async fn answer(incoming: &Incoming<'_>, ids: Ids, transcript: Transcript) {
    match transcript.text(incoming).await {
        Some(text) => incoming.reply_with(Input::Speech(text), ids).await,
        None => {
            incoming
                .warn_with(&ids, "no speech recognised in the audio")
                .await
        }
    }
}

pub(super) async fn data_chunk(incoming: &Incoming<'_>, chunk: DataChunk) {
    if chunk.r#type != data_chunk::DataType::Audio as i32 {
        incoming
            .warn(format!("unsupported data chunk type {}", chunk.r#type))
            .await;
        return;
    }
    let bytes = match chunk.data {
        Some(data_chunk::Data::Chunk(b)) => b,
        _ => Vec::new(),
    };
    let transcript = &incoming.ctx.shared.workspace.speech.transcript;
    let recognizer = &incoming.ctx.shared.recognizer;
    let mut steps = Vec::new();
    let problem = {
        let mut memory = incoming.ctx.session.memory.lock();
        match memory
            .audio
            .as_mut()
            .filter(|a| a.stream == incoming.ctx.id)
        {
            None => Some(
                "audio chunk outside an audio session: send AUDIO_SESSION_START first".to_string(),
            ),
            Some(a) if a.meter.bytes + bytes.len() > MAX_AUDIO_SESSION_BYTES => {
                // Told once per audio session; later chunks are dropped quietly.
                (!std::mem::replace(&mut a.over_limit, true)).then(|| {
                    format!(
                        "audio session longer than 3 minutes ({MAX_AUDIO_SESSION_BYTES} bytes of 16 kHz 16-bit mono): this chunk and the rest of the session are dropped"
                    )
                })
            }
            Some(a) => {
                a.last_audio = Some(Instant::now());
                a.meter.add(&bytes);
                listen(a, &incoming.ids, transcript, recognizer, &mut steps);
                None
            }
        }
    };
    if let Some(p) = problem {
        incoming.warn(p).await;
    }
    for step in steps {
        match step {
            Step::Partial(ids, text) => {
                incoming.ctx.send(recognised(&ids, text, false)).await;
            }
            Step::Answer(ids, transcript) => answer(incoming, ids, transcript).await,
        }
    }
}

/// Runs the new samples through the voice detector, and the speech it
/// hears through the recogniser.
fn listen(
    capture: &mut AudioCapture,
    ids: &Ids,
    transcript: &str,
    recognizer: &Recognizer,
    steps: &mut Vec<Step>,
) {
    let (Some(samples), Some(voice)) = (capture.meter.decoded.as_mut(), capture.voice.as_mut())
    else {
        return;
    };
    let mut events = Vec::new();
    voice.push(samples, |e| events.push(e));
    let samples = std::mem::take(samples);
    let now = voice.samples_seen();
    for event in events {
        match event {
            VoiceEvent::Started { .. } if capture.push_to_talk && capture.heard.is_some() => {
                // Push to talk: a pause does not split what the player says.
                if let Some(heard) = capture.heard.as_mut() {
                    heard.ended = false;
                }
            }
            VoiceEvent::Started { at_sample } => {
                let mut heard_ids = ids.clone();
                if heard_ids.conversation_id.is_empty() {
                    heard_ids.conversation_id = capture.conversation_id.clone();
                }
                heard_ids.interaction_id = outbound::new_id();
                heard_ids.utterance_id = outbound::new_id();
                let mut listening = recognizer.listen();
                if let Some(l) = listening.as_mut() {
                    // The detector decides some way into the first word:
                    // what came before (up to PREROLL_SAMPLES) is heard too.
                    let (a, b) = capture.preroll.as_slices();
                    l.push(a);
                    l.push(b);
                }
                capture.heard = Some(Heard {
                    ids: heard_ids,
                    started_at: at_sample,
                    words_shown: 0,
                    ended: false,
                    listening,
                });
            }
            VoiceEvent::Ended { .. } => {
                if let Some(heard) = capture.heard.as_mut() {
                    heard.ended = true;
                }
                if !capture.push_to_talk {
                    if let Some(heard) = capture.heard.take() {
                        let transcript = match heard.listening {
                            Some(mut l) => {
                                l.push(&samples);
                                Transcript::Recognising(l.finish())
                            }
                            None => Transcript::Scripted,
                        };
                        steps.push(Step::Answer(heard.ids, transcript));
                        capture.answered = true;
                    }
                }
            }
        }
    }
    // Speech being heard goes to the recogniser (in push to talk, its
    // pauses too, until the session ends).
    if let Some(l) = capture.heard.as_mut().and_then(|h| h.listening.as_mut()) {
        l.push(&samples);
    }
    keep_preroll(&mut capture.preroll, &samples);
    // Emptied, its room kept for the next chunk.
    let mut samples = samples;
    samples.clear();
    capture.meter.decoded = Some(samples);
    let Some(heard) = capture.heard.as_mut() else {
        return;
    };
    if let Some(l) = heard.listening.as_mut() {
        if !heard.ended {
            if let Some(text) = l.partial() {
                steps.push(Step::Partial(heard.ids.clone(), text));
            }
        }
        return;
    }
    // The words recognised so far: one per MS_PER_WORD of speech, never the
    // last (that comes with the final text).
    if let Some(heard) = capture.heard.as_mut().filter(|h| !h.ended) {
        let words: Vec<&str> = transcript.split_whitespace().collect();
        let spoken_ms = (now.saturating_sub(heard.started_at)) * 1000 / u64::from(SAMPLE_RATE);
        let due = ((spoken_ms / MS_PER_WORD) as usize + 1).min(words.len().saturating_sub(1));
        if due > heard.words_shown {
            heard.words_shown = due;
            steps.push(Step::Partial(heard.ids.clone(), words[..due].join(" ")));
        }
    }
}

/// Keeps the last [`PREROLL_SAMPLES`] of the audio.
fn keep_preroll(preroll: &mut std::collections::VecDeque<i16>, samples: &[i16]) {
    let keep = samples.len().min(PREROLL_SAMPLES);
    let overflow = (preroll.len() + keep).saturating_sub(PREROLL_SAMPLES);
    preroll.drain(..overflow);
    preroll.extend(&samples[samples.len() - keep..]);
}

/// The player's speech as the service recognised it.
fn recognised(
    ids: &Ids,
    text: String,
    is_final: bool,
) -> crate::protocol::ai::inworld::packets::InworldPacket {
    outbound::packet(
        outbound::from_player(),
        ids,
        inworld_packet::Packet::Text(TextEvent {
            text,
            source_type: text_event::SourceType::SpeechToText as i32,
            r#final: is_final,
            model_info: None,
        }),
    )
}

pub(super) async fn end(incoming: &Incoming<'_>) {
    let ctx = incoming.ctx;
    let capture = {
        let mut memory = ctx.session.memory.lock();
        match memory.audio.as_ref() {
            Some(a) if a.stream == ctx.id => memory.audio.take(),
            _ => None,
        }
    };
    let Some(mut capture) = capture else {
        incoming
            .warn("AUDIO_SESSION_END without AUDIO_SESSION_START")
            .await;
        return;
    };
    // Speech still being heard, or heard in push-to-talk: answered now.
    if let Some(heard) = capture.heard.take() {
        let transcript = match heard.listening {
            Some(l) => Transcript::Recognising(l.finish()),
            None => Transcript::Scripted,
        };
        answer(incoming, heard.ids, transcript).await;
        return;
    }
    if capture.answered {
        return;
    }
    if !matches!(ctx.shared.recognizer, Recognizer::Scripted) {
        // A real recogniser hears only what the detector took for speech.
        incoming
            .warn("no speech recognised in the audio session")
            .await;
        return;
    }
    if capture.meter.loudness() < SILENCE {
        log::debug!("session {}: silent audio session", ctx.session.id);
        incoming
            .warn("no speech recognised in the audio session")
            .await;
        return;
    }
    let mut ids = incoming.ids.clone();
    if ids.conversation_id.is_empty() {
        ids.conversation_id = capture.conversation_id;
    }
    ids.interaction_id = outbound::new_id();
    let transcript = ctx.shared.workspace.speech.transcript.clone();
    incoming.reply_with(Input::Speech(transcript), ids).await;
}
