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

/// The client is gone: nothing more can be sent.
pub(crate) struct Gone;

/// An event the character emits after its lines: a name and its parameters.
pub(crate) type Event = (String, Vec<(String, String)>);

/// One reply on its way to the client, packet by packet: whoever decides
/// what the character says (a scripted plan, a language model) hands it
/// sentences as they come, and each is spoken at once.
pub(crate) struct Reply<'a> {
    ctx: &'a StreamCtx,
    seq: u64,
    agent_id: String,
    ids: Ids,
    interaction: String,
    first_utterance: String,
    spoken: usize,
    cancelled: bool,
    audio: bool,
    phonemes: bool,
    emotions: bool,
    narrated_actions: bool,
    silence: bool,
    ping: bool,
}

impl<'a> Reply<'a> {
    /// Starts the reply of `plan.agent_id` to `job`: sends back `stt` (the
    /// recognised speech the reply answers) first, then thinks a moment.
    pub async fn start(
        ctx: &'a StreamCtx,
        job: &ReplyJob,
        plan: &Plan,
        stt: Option<&str>,
    ) -> Result<Reply<'a>, Gone> {
        let mut reply = Reply {
            ctx,
            seq: job.seq,
            agent_id: plan.agent_id.clone(),
            ids: job.ids.clone(),
            interaction: job.ids.interaction_id.clone(),
            first_utterance: outbound::new_id(),
            spoken: 0,
            cancelled: false,
            audio: plan.audio,
            phonemes: plan.phonemes,
            emotions: plan.emotions,
            narrated_actions: plan.narrated_actions,
            silence: plan.silence,
            ping: plan.ping,
        };
        if let Some(text) = stt {
            reply.ids.utterance_id = outbound::new_id();
            reply
                .send(outbound::packet(
                    outbound::from_player(),
                    &reply.ids,
                    inworld_packet::Packet::Text(TextEvent {
                        text: text.to_string(),
                        source_type: text_event::SourceType::SpeechToText as i32,
                        r#final: true,
                        model_info: None,
                    }),
                ))
                .await?;
        }
        pause(ctx.shared.pacing, Duration::from_millis(350)).await;
        Ok(reply)
    }

    async fn send(&self, packet: InworldPacket) -> Result<(), Gone> {
        if self.ctx.send(packet).await {
            Ok(())
        } else {
            Err(Gone)
        }
    }

    /// Another character gives this reply (one a model chose), from its
    /// next packet on: called before anything of it is sent.
    pub fn set_speaker(&mut self, agent_id: &str) {
        self.agent_id = agent_id.to_string();
    }

    fn routing(&self) -> crate::protocol::ai::inworld::packets::Routing {
        outbound::agent_to_player(&self.agent_id)
    }

    /// Whether the reply was cancelled (by the client, or cut off by newer
    /// player input); once it is, nothing more of it is said.
    pub fn cancelled(&mut self) -> bool {
        let utterance = if self.spoken == 0 {
            ""
        } else {
            self.ids.utterance_id.as_str()
        };
        self.cancelled = self.cancelled
            || self
                .ctx
                .is_cancelled(self.seq, &self.interaction, utterance);
        self.cancelled
    }

    /// The ids of a packet that is not an utterance: the first utterance's
    /// before any is spoken (an emotion goes with it), else fresh ones.
    fn side_ids(&mut self) {
        self.ids.utterance_id = if self.spoken == 0 {
            self.first_utterance.clone()
        } else {
            outbound::new_id()
        };
    }

    /// Shows an emotion (with the emotions capability).
    pub async fn emotion(&mut self, behavior: i32, strength: i32) -> Result<(), Gone> {
        if self.cancelled() || !self.emotions {
            return Ok(());
        }
        self.side_ids();
        self.send(outbound::packet(
            self.routing(),
            &self.ids,
            inworld_packet::Packet::Emotion(emotion_event(behavior, strength)),
        ))
        .await
    }

    /// Narrates an action (with the narrated actions capability).
    pub async fn narrated(&mut self, content: &str) -> Result<(), Gone> {
        if self.cancelled() || !self.narrated_actions {
            return Ok(());
        }
        self.ids.utterance_id = outbound::new_id();
        self.send(outbound::packet(
            self.routing(),
            &self.ids,
            inworld_packet::Packet::Action(ActionEvent {
                action: Some(action_event::Action::NarratedAction(NarratedAction {
                    content: content.to_string(),
                })),
                playback: 0,
            }),
        ))
        .await
    }

    /// Says one sentence: its text, then its audio (with the audio
    /// capability, unless muted), after a silence from the one before.
    pub async fn say(&mut self, line: &str) -> Result<(), Gone> {
        let pacing = self.ctx.shared.pacing;
        if self.cancelled() {
            return Ok(());
        }
        if self.spoken > 0 && self.silence {
            self.send(outbound::packet(
                self.routing(),
                &self.ids,
                inworld_packet::Packet::DataChunk(DataChunk {
                    data: Some(data_chunk::Data::DurationMs(300)),
                    r#type: data_chunk::DataType::Silence as i32,
                    ..Default::default()
                }),
            ))
            .await?;
            pause(pacing, Duration::from_millis(300)).await;
        }
        let utterance = if self.spoken == 0 {
            self.first_utterance.clone()
        } else {
            outbound::new_id()
        };
        if self
            .ctx
            .is_cancelled(self.seq, &self.interaction, &utterance)
        {
            self.cancelled = true;
            return Ok(());
        }
        self.spoken += 1;
        self.ids.utterance_id = utterance;
        self.send(outbound::packet(
            self.routing(),
            &self.ids,
            inworld_packet::Packet::Text(TextEvent {
                text: line.to_string(),
                source_type: text_event::SourceType::Generated as i32,
                r#final: true,
                model_info: None,
            }),
        ))
        .await?;
        let mut paused = Duration::ZERO;
        let voice = {
            let memory = self.ctx.session.memory.lock();
            (self.audio && !memory.muted).then(|| {
                memory
                    .agent(&self.agent_id)
                    .map(|a| a.character.voice.clone())
                    .unwrap_or_default()
            })
        };
        if let Some(voice) = voice {
            let mut spoken = self.ctx.shared.synthesizer.say(line, &voice);
            while let Some(chunk) = spoken.next().await {
                if self.cancelled() {
                    return Ok(());
                }
                let d = chunk
                    .duration
                    .min(MAX_UTTERANCE_PAUSE.saturating_sub(paused));
                self.send(audio_packet(
                    self.routing(),
                    &self.ids,
                    chunk,
                    self.phonemes,
                ))
                .await?;
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
        Ok(())
    }

    /// Ends the reply: its triggers and tasks (unless it was cancelled),
    /// then `error` ends the stream, or INTERACTION_END (after a
    /// CancelResponses when newer player input cut it off) and a PING.
    pub async fn end(
        mut self,
        triggers: &[Event],
        tasks: &[String],
        error: Option<tonic::Status>,
    ) -> Streamed {
        match self.finish(triggers, tasks, error).await {
            Ok(streamed) => streamed,
            Err(Gone) => Streamed::Closed,
        }
    }

    async fn finish(
        &mut self,
        triggers: &[Event],
        tasks: &[String],
        error: Option<tonic::Status>,
    ) -> Result<Streamed, Gone> {
        if !self.cancelled() {
            let tasks: Vec<Event> = tasks.iter().map(|t| (t.clone(), Vec::new())).collect();
            for (events, kind) in [
                (triggers, custom_event::Type::Trigger),
                (&tasks[..], custom_event::Type::Task),
            ] {
                for (name, params) in events {
                    self.ids.utterance_id = outbound::new_id();
                    self.send(outbound::packet(
                        self.routing(),
                        &self.ids,
                        inworld_packet::Packet::Custom(CustomEvent {
                            name: name.clone(),
                            playback: 0,
                            parameters: params
                                .iter()
                                .map(|(name, value)| custom_event::Parameter {
                                    name: name.clone(),
                                    value: value.clone(),
                                })
                                .collect(),
                            r#type: kind as i32,
                        }),
                    ))
                    .await?;
                }
            }
            if let Some(status) = error {
                self.ctx.fail(status).await;
                return Ok(Streamed::Failed);
            }
        }
        if self.cancelled && self.ctx.is_interrupted(self.seq) {
            // As the service does: the client is told the rest of the reply is
            // cancelled, so it can stop playing what it holds of it.
            self.ids.utterance_id = outbound::new_id();
            self.send(outbound::packet(
                self.routing(),
                &self.ids,
                inworld_packet::Packet::Mutation(MutationEvent {
                    mutation: Some(mutation_event::Mutation::CancelResponses(CancelResponses {
                        interaction_id: self.interaction.clone(),
                        utterance_id: Vec::new(),
                    })),
                }),
            ))
            .await?;
        }
        self.ids.utterance_id = outbound::new_id();
        self.send(outbound::control(
            self.routing(),
            &self.ids,
            control_event::Action::InteractionEnd,
            "",
            None,
        ))
        .await?;
        if self.ping {
            self.send(ping(self.ctx)).await?;
        }
        Ok(Streamed::Done)
    }
}

/// Streams a planned reply to the client. `stt` is the recognised speech
/// the reply answers, sent back first.
pub(crate) async fn speak(
    ctx: &StreamCtx,
    job: &ReplyJob,
    plan: Plan,
    stt: Option<&str>,
) -> Streamed {
    let Ok(mut reply) = Reply::start(ctx, job, &plan, stt).await else {
        return Streamed::Closed;
    };
    let said = async {
        if let Some((behavior, strength)) = plan.emotion {
            reply.emotion(behavior, strength).await?;
        }
        if let Some(content) = &plan.narrated {
            reply.narrated(content).await?;
        }
        for line in &plan.utterances {
            reply.say(line).await?;
        }
        Ok::<(), Gone>(())
    }
    .await;
    if said.is_err() {
        return Streamed::Closed;
    }
    let triggers: Vec<Event> = plan
        .triggers
        .iter()
        .map(|t| (t.clone(), Vec::new()))
        .collect();
    reply.end(&triggers, &plan.tasks, plan.error).await
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
