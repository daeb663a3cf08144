//! Streams a planned reply: emotion, narrated action, per utterance text +
//! audio chunks (+ silence between utterances), triggers and tasks, then
//! INTERACTION_END and a PING. Cancels and interruptions are honoured
//! between packets, so a reply stops mid-utterance.

use super::plan::Plan;
use crate::engine::config::Pacing;
use crate::engine::outbound::{self, Ids};
use crate::engine::speech::{SpeechChunk, Utterance};
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
                inworld_packet::Packet::Emotion(EmotionEvent {
                    behavior,
                    strength,
                    ..Default::default()
                })
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
        if plan.audio && !ctx.session.memory.lock().muted {
            for chunk in Utterance::new(line).chunks() {
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
