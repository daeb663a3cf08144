//! Streams a planned reply: emotion, narrated action, per utterance text +
//! audio chunks (+ silence between utterances), triggers and tasks, then
//! INTERACTION_END and a PING. Cancels and interruptions are honoured
//! between packets, so a reply stops mid-utterance.

use super::plan::Plan;
use crate::engine::config::Pacing;
use crate::engine::outbound::{self, Ids};
use crate::engine::speech::SpeechChunk;
use crate::engine::stream::ctx::StreamCtx;
use crate::engine::stream::job::ReplyJob;
use crate::protocol::ai::inworld::packets::{
    action_event, control_event, custom_event, data_chunk, inworld_packet, latency_report_event,
    mutation_event, ping_pong_report, text_event, ActionEvent, AdditionalPhonemeInfo,
    CancelResponses, CustomEvent, DataChunk, EmotionEvent, InworldPacket, LatencyReportEvent,
    MutationEvent, NarratedAction, PingPongReport, TextEvent,
};
use std::time::Duration;

/// How a streamed reply ended.
pub(crate) enum Streamed {
    Done,
    /// The rule injected an error: the stream has been ended with it.
    Failed,
    /// The client is gone.
    Closed,
}

/// At most this much pause per utterance with human pacing.
const MAX_UTTERANCE_PAUSE: Duration = Duration::from_secs(4);

async fn pause(pacing: Pacing, d: Duration) {
    if pacing == Pacing::Human && !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

fn audio_packet(
    routing: crate::protocol::ai::inworld::packets::Routing,
    ids: &Ids,
    chunk: SpeechChunk,
    phonemes: bool,
) -> InworldPacket {
    let additional_phoneme_info = if phonemes {
        chunk
            .phonemes
            .iter()
            .map(|p| AdditionalPhonemeInfo {
                phoneme: p.symbol.to_string(),
                start_offset: Some(prost_types::Duration {
                    seconds: p.start.as_secs() as i64,
                    nanos: p.start.subsec_nanos() as i32,
                }),
            })
            .collect()
    } else {
        Vec::new()
    };
    outbound::packet(
        routing,
        ids,
        inworld_packet::Packet::DataChunk(DataChunk {
            data: Some(data_chunk::Data::Chunk(chunk.wav)),
            r#type: data_chunk::DataType::Audio as i32,
            additional_phoneme_info,
            audioformat: data_chunk::AudioFormat::AudioPcm16000 as i32,
        }),
    )
}

/// Streams a planned reply to the client. `stt` is the recognised speech
/// the reply answers, sent back first.
pub(crate) async fn speak(
    ctx: &StreamCtx,
    job: &ReplyJob,
    plan: Plan,
    stt: Option<&str>,
) -> Streamed {
    let pacing = ctx.shared.pacing;
    let routing = || outbound::agent_to_player(&plan.agent_id);
    let mut ids = job.ids.clone();
    let interaction = job.ids.interaction_id.clone();
    macro_rules! send {
        ($p:expr) => {
            if !ctx.send($p).await {
                return Streamed::Closed;
            }
        };
    }
    if let Some(text) = stt {
        ids.utterance_id = outbound::new_id();
        send!(outbound::packet(
            outbound::from_player(),
            &ids,
            inworld_packet::Packet::Text(TextEvent {
                text: text.to_string(),
                source_type: text_event::SourceType::SpeechToText as i32,
                r#final: true,
                model_info: None,
            })
        ));
    }
    pause(pacing, Duration::from_millis(350)).await;
    let mut cancelled = ctx.is_cancelled(job.seq, &interaction, "");
    let first_utterance = outbound::new_id();
    if !cancelled && plan.emotions {
        if let Some((behavior, strength)) = plan.emotion {
            ids.utterance_id = first_utterance.clone();
            send!(outbound::packet(
                routing(),
                &ids,
                inworld_packet::Packet::Emotion(emotion_event(behavior, strength))
            ));
        }
    }
    if !cancelled && plan.narrated_actions {
        if let Some(content) = &plan.narrated {
            ids.utterance_id = outbound::new_id();
            send!(outbound::packet(
                routing(),
                &ids,
                inworld_packet::Packet::Action(ActionEvent {
                    action: Some(action_event::Action::NarratedAction(NarratedAction {
                        content: content.clone(),
                    })),
                    playback: 0,
                })
            ));
        }
    }
    'utterances: for (n, line) in plan.utterances.iter().enumerate() {
        let utterance = if n == 0 {
            first_utterance.clone()
        } else {
            outbound::new_id()
        };
        if ctx.is_cancelled(job.seq, &interaction, &utterance) {
            cancelled = true;
            break;
        }
        ids.utterance_id = utterance.clone();
        send!(outbound::packet(
            routing(),
            &ids,
            inworld_packet::Packet::Text(TextEvent {
                text: line.clone(),
                source_type: text_event::SourceType::Generated as i32,
                r#final: true,
                model_info: None,
            })
        ));
        let mut paused = Duration::ZERO;
        let voice = {
            let memory = ctx.session.memory.lock();
            (plan.audio && !memory.muted).then(|| {
                memory
                    .agent(&plan.agent_id)
                    .map(|a| a.character.voice.clone())
                    .unwrap_or_default()
            })
        };
        if let Some(voice) = voice {
            let mut spoken = ctx.shared.synthesizer.say(line, &voice);
            while let Some(chunk) = spoken.next().await {
                if ctx.is_cancelled(job.seq, &interaction, &utterance) {
                    cancelled = true;
                    break 'utterances;
                }
                let d = chunk
                    .duration
                    .min(MAX_UTTERANCE_PAUSE.saturating_sub(paused));
                send!(audio_packet(routing(), &ids, chunk, plan.phonemes));
                pause(pacing, d).await;
                paused += d;
            }
        } else {
            pause(
                pacing,
                Duration::from_millis(40 * line.len() as u64).min(MAX_UTTERANCE_PAUSE),
            )
            .await;
        }
        if plan.silence && n + 1 < plan.utterances.len() {
            send!(outbound::packet(
                routing(),
                &ids,
                inworld_packet::Packet::DataChunk(DataChunk {
                    data: Some(data_chunk::Data::DurationMs(300)),
                    r#type: data_chunk::DataType::Silence as i32,
                    ..Default::default()
                })
            ));
            pause(pacing, Duration::from_millis(300)).await;
        }
    }
    if !cancelled && !ctx.is_cancelled(job.seq, &interaction, "") {
        for (names, kind) in [
            (&plan.triggers, custom_event::Type::Trigger),
            (&plan.tasks, custom_event::Type::Task),
        ] {
            for name in names {
                ids.utterance_id = outbound::new_id();
                send!(outbound::packet(
                    routing(),
                    &ids,
                    inworld_packet::Packet::Custom(CustomEvent {
                        name: name.clone(),
                        playback: 0,
                        parameters: Vec::new(),
                        r#type: kind as i32,
                    })
                ));
            }
        }
        if let Some(status) = plan.error {
            ctx.fail(status).await;
            return Streamed::Failed;
        }
    }
    if cancelled && ctx.is_interrupted(job.seq) {
        // As the service does: the client is told the rest of the reply is
        // cancelled, so it can stop playing what it holds of it.
        ids.utterance_id = outbound::new_id();
        send!(outbound::packet(
            routing(),
            &ids,
            inworld_packet::Packet::Mutation(MutationEvent {
                mutation: Some(mutation_event::Mutation::CancelResponses(CancelResponses {
                    interaction_id: interaction.clone(),
                    utterance_id: Vec::new(),
                })),
            })
        ));
    }
    ids.utterance_id = outbound::new_id();
    send!(outbound::control(
        routing(),
        &ids,
        control_event::Action::InteractionEnd,
        "",
        None
    ));
    if plan.ping {
        send!(ping(ctx));
    }
    Streamed::Done
}

fn ping(ctx: &StreamCtx) -> InworldPacket {
    let packet = outbound::packet(
        outbound::world_to_player(),
        &Ids::default(),
        inworld_packet::Packet::LatencyReport(LatencyReportEvent {
            report: Some(latency_report_event::Report::PingPong(PingPongReport {
                r#type: ping_pong_report::Type::Ping as i32,
                ping_packet_id: None,
                ping_timestamp: Some(outbound::now()),
            })),
        }),
    );
    if let Some(id) = &packet.packet_id {
        ctx.ping_sent(&id.packet_id);
    }
    packet
}

/// An emotion with scores that agree with its behavior (the service sends
/// joy, fear, trust and surprise beside it; games and the REST proxy show
/// them), scaled by its strength.
fn emotion_event(behavior: i32, strength: i32) -> EmotionEvent {
    use crate::protocol::ai::inworld::packets::emotion_event::{SpaffCode, Strength};
    let scale = match Strength::try_from(strength) {
        Ok(Strength::Weak) => 0.5,
        Ok(Strength::Strong) => 1.0,
        _ => 0.75,
    };
    // (joy, fear, trust, surprise) at full strength.
    let (joy, fear, trust, surprise) = match SpaffCode::try_from(behavior) {
        Ok(SpaffCode::Joy) => (0.9, 0.0, 0.5, 0.1),
        Ok(SpaffCode::Humor | SpaffCode::TenseHumor) => (0.7, 0.1, 0.4, 0.2),
        Ok(SpaffCode::Affection) => (0.6, 0.0, 0.9, 0.0),
        Ok(SpaffCode::Validation) => (0.4, 0.0, 0.8, 0.0),
        Ok(SpaffCode::Interest) => (0.3, 0.0, 0.4, 0.5),
        Ok(SpaffCode::Surprise) => (0.2, 0.2, 0.2, 0.9),
        Ok(SpaffCode::Tension | SpaffCode::Defensiveness | SpaffCode::Whining) => {
            (0.0, 0.6, 0.1, 0.2)
        }
        Ok(SpaffCode::Sadness | SpaffCode::Stonewalling) => (0.0, 0.3, 0.1, 0.0),
        Ok(
            SpaffCode::Anger
            | SpaffCode::Belligerence
            | SpaffCode::Contempt
            | SpaffCode::Criticism
            | SpaffCode::Disgust
            | SpaffCode::Domineering,
        ) => (0.0, 0.2, 0.0, 0.1),
        Ok(SpaffCode::Neutral) | Err(_) => (0.1, 0.0, 0.3, 0.0),
    };
    EmotionEvent {
        joy: joy * scale,
        fear: fear * scale,
        trust: trust * scale,
        surprise: surprise * scale,
        behavior,
        strength,
    }
}

#[cfg(test)]
mod tests {
    use super::emotion_event;
    use crate::protocol::ai::inworld::packets::emotion_event::{SpaffCode, Strength};

    #[test]
    fn scores_follow_behavior_and_strength() {
        let strong_joy = emotion_event(SpaffCode::Joy as i32, Strength::Strong as i32);
        let weak_joy = emotion_event(SpaffCode::Joy as i32, Strength::Weak as i32);
        assert!(strong_joy.joy > weak_joy.joy && weak_joy.joy > 0.0);
        assert!(strong_joy.joy > strong_joy.fear);
        let fear = emotion_event(SpaffCode::Tension as i32, Strength::Normal as i32);
        assert!(fear.fear > fear.joy);
        let surprise = emotion_event(SpaffCode::Surprise as i32, Strength::Unspecified as i32);
        assert!(surprise.surprise > surprise.joy);
        assert_eq!(
            (surprise.behavior, surprise.strength),
            (SpaffCode::Surprise as i32, Strength::Unspecified as i32)
        );
        for code in 0..=18 {
            let e = emotion_event(code, Strength::Strong as i32);
            for score in [e.joy, e.fear, e.trust, e.surprise] {
                assert!((0.0..=1.0).contains(&score), "{code}: {e:?}");
            }
        }
    }
}
