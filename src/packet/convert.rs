//! Wire → model: turns a server `InworldPacket` into a [`super::Packet`],
//! classified as the Node SDK does: a scene status wins whatever the control
//! action, a custom event is a task only when typed TASK, anything unknown
//! is still delivered (as `Unknown`). Audio chunks are decoded here, once.

use super::{
    Actor, ActorKind, AudioChunk, Character, CharacterAssets, Control, ControlAction,
    ConversationEvent, ConversationEventKind, CustomEvent, Emotion, LogEvent, Packet, PacketBody,
    PacketIds, Parameter, Phoneme, Routing, SceneMutation, SceneStatus, Text, TextEvent,
    TextSource, UndecodedAudio,
};
use crate::audio::visemes::visemes_of;
use crate::audio::wav;
use crate::protocol::ai::inworld::packets as wire;
use crate::protocol::packets::timestamp_ms;
use std::time::Duration;
use wire::control_event::PayloadStructured;
use wire::inworld_packet::Packet as Payload;

/// Converts a server packet for the game. PINGs are not filtered here: the
/// session answers and swallows them before this.
pub fn from_wire(packet: wire::InworldPacket) -> Packet {
    Packet {
        ids: packet.packet_id.map(ids_from).unwrap_or_default(),
        routing: packet.routing.map(routing_from).unwrap_or_default(),
        timestamp_ms: packet.timestamp.as_ref().map_or(0, timestamp_ms),
        body: packet.packet.map(body_from).unwrap_or(PacketBody::Unknown),
    }
}

fn ids_from(id: wire::PacketId) -> PacketIds {
    PacketIds {
        packet_id: id.packet_id.into(),
        utterance_id: id.utterance_id.into(),
        interaction_id: id.interaction_id.into(),
        correlation_id: id.correlation_id.into(),
        conversation_id: id.conversation_id.into(),
    }
}

pub fn actor_from(actor: wire::Actor) -> Actor {
    use wire::actor::Type;
    Actor {
        kind: match Type::try_from(actor.r#type) {
            Ok(Type::Player) => ActorKind::Player,
            Ok(Type::Agent) => ActorKind::Character,
            Ok(Type::World) => ActorKind::World,
            _ => ActorKind::Unknown,
        },
        name: actor.name.into(),
    }
}

fn routing_from(routing: wire::Routing) -> Routing {
    let target = routing
        .target
        .or_else(|| routing.targets.into_iter().next())
        .map(actor_from)
        .unwrap_or_default();
    Routing {
        source: routing.source.map(actor_from).unwrap_or_default(),
        target,
    }
}

fn body_from(payload: Payload) -> PacketBody {
    match payload {
        Payload::Control(c) => control_from(c),
        Payload::Text(t) => PacketBody::Text(TextEvent {
            text: t.text.into(),
            is_final: t.r#final,
            source: {
                use wire::text_event::SourceType;
                match SourceType::try_from(t.source_type) {
                    Ok(SourceType::SpeechToText) => TextSource::SpeechToText,
                    Ok(SourceType::TypedIn) => TextSource::TypedIn,
                    Ok(SourceType::Generated) => TextSource::Generated,
                    Ok(SourceType::Filler) => TextSource::Filler,
                    Ok(SourceType::Unknown) | Err(_) => TextSource::Unknown,
                }
            },
        }),
        Payload::DataChunk(d) => data_chunk_from(d),
        Payload::Custom(c) => {
            let event = CustomEvent {
                name: c.name.into(),
                parameters: c
                    .parameters
                    .into_iter()
                    .map(|p| Parameter {
                        name: p.name.into(),
                        value: p.value.into(),
                    })
                    .collect(),
            };
            if c.r#type == wire::custom_event::Type::Task as i32 {
                PacketBody::Task(event)
            } else {
                PacketBody::Trigger(event)
            }
        }
        Payload::Emotion(e) => PacketBody::Emotion(Emotion {
            behavior: e.behavior,
            strength: e.strength,
            joy: e.joy,
            fear: e.fear,
            trust: e.trust,
            surprise: e.surprise,
        }),
        Payload::Log(l) => {
            let mut metadata: Vec<Parameter> = l
                .metadata
                .into_iter()
                .map(|(name, value)| Parameter {
                    name: name.into(),
                    value: value.into(),
                })
                .collect();
            // A map has no order on the wire; sort so the game sees a stable one.
            metadata.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
            PacketBody::Log(LogEvent {
                text: l.text.into(),
                level: l.level,
                metadata,
            })
        }
        Payload::Mutation(m) => match m.mutation {
            Some(wire::mutation_event::Mutation::CancelResponses(c)) => {
                PacketBody::CancelResponses {
                    interaction_id: c.interaction_id.into(),
                    utterance_ids: c.utterance_id.into_iter().map(Text::from).collect(),
                }
            }
            Some(wire::mutation_event::Mutation::LoadScene(l)) => {
                PacketBody::SceneMutation(SceneMutation::LoadScene {
                    scene: l.name.into(),
                })
            }
            Some(wire::mutation_event::Mutation::LoadCharacters(l)) => {
                PacketBody::SceneMutation(SceneMutation::AddCharacters {
                    names: l.name.into_iter().map(|n| Text::from(n.name)).collect(),
                })
            }
            Some(wire::mutation_event::Mutation::UnloadCharacters(u)) => {
                PacketBody::SceneMutation(SceneMutation::RemoveCharacters {
                    agent_ids: u
                        .agents
                        .into_iter()
                        .map(|a| Text::from(a.agent_id))
                        .collect(),
                })
            }
            _ => PacketBody::Unknown,
        },
        Payload::Cancelresponses(c) => PacketBody::CancelResponses {
            interaction_id: c.interaction_id.into(),
            utterance_ids: c.utterance_id.into_iter().map(Text::from).collect(),
        },
        Payload::Action(a) => match a.action {
            Some(wire::action_event::Action::NarratedAction(n)) => PacketBody::NarratedAction {
                content: n.content.into(),
            },
            None => PacketBody::Unknown,
        },
        Payload::OperationStatus(s) => {
            let status = s.status.unwrap_or_default();
            PacketBody::OperationStatus {
                code: status.code,
                message: status.message.into(),
            }
        }
        _ => PacketBody::Unknown,
    }
}

fn data_chunk_from(d: wire::DataChunk) -> PacketBody {
    use wire::data_chunk::{Data, DataType};
    match (DataType::try_from(d.r#type), d.data) {
        (Ok(DataType::Audio), Some(Data::Chunk(data))) => {
            PacketBody::Audio(audio_from(data, d.additional_phoneme_info))
        }
        (Ok(DataType::Silence), Some(Data::DurationMs(ms))) => {
            PacketBody::Silence { duration_ms: ms }
        }
        (Ok(DataType::Silence), None) => PacketBody::Silence { duration_ms: 0 },
        _ => PacketBody::Unknown,
    }
}

/// Decodes the chunk once, here, so that every way the game receives it
/// (Rust, poll, callbacks) gets the same samples.
fn audio_from(wav_bytes: Vec<u8>, phonemes: Vec<wire::AdditionalPhonemeInfo>) -> AudioChunk {
    let phonemes: Vec<Phoneme> = phonemes
        .into_iter()
        .map(|p| Phoneme {
            phoneme: p.phoneme.into(),
            start_offset: p.start_offset.map(duration_from).unwrap_or_default(),
        })
        .collect();
    let visemes = visemes_of(
        phonemes
            .iter()
            .map(|p| (p.phoneme.as_str(), p.start_offset)),
    );
    match wav::decode(&wav_bytes) {
        Ok(pcm) => AudioChunk {
            duration: pcm.duration(),
            samples: pcm.samples,
            sample_rate: pcm.sample_rate,
            channels: pcm.channels,
            phonemes,
            visemes,
            undecoded: None,
        },
        Err(e) => {
            log::warn!(
                "an audio chunk of {} bytes could not be decoded ({e}); delivered undecoded",
                wav_bytes.len()
            );
            AudioChunk {
                samples: Vec::new(),
                sample_rate: 0,
                channels: 0,
                duration: Duration::ZERO,
                phonemes,
                visemes,
                undecoded: Some(UndecodedAudio {
                    data: wav_bytes,
                    error: e.to_string().into(),
                }),
            }
        }
    }
}

fn duration_from(d: prost_types::Duration) -> Duration {
    if d.seconds < 0 || d.nanos < 0 {
        return Duration::ZERO;
    }
    Duration::new(d.seconds as u64, d.nanos as u32)
}

fn control_from(c: wire::ControlEvent) -> PacketBody {
    match c.payload_structured {
        Some(PayloadStructured::CurrentSceneStatus(s)) => {
            return PacketBody::SceneStatus(scene_from(s))
        }
        Some(PayloadStructured::ConversationEvent(e)) => {
            return PacketBody::ConversationEvent(ConversationEvent {
                kind: {
                    use wire::conversation_event_payload::ConversationEventType as Type;
                    match Type::try_from(e.event_type) {
                        Ok(Type::Started) => ConversationEventKind::Started,
                        Ok(Type::Updated) => ConversationEventKind::Updated,
                        Ok(Type::Evicted) => ConversationEventKind::Evicted,
                        Ok(Type::Unknown) | Err(_) => ConversationEventKind::Unknown,
                    }
                },
                participants: e.participants.into_iter().map(actor_from).collect(),
            })
        }
        _ => {}
    }
    use wire::control_event::Action;
    // Actions with a structured payload (scene, conversation) are handled
    // above; the others (configuration, updates) are never sent to clients.
    let action = match Action::try_from(c.action) {
        Ok(Action::AudioSessionStart) => ControlAction::AudioSessionStart,
        Ok(Action::AudioSessionEnd) => ControlAction::AudioSessionEnd,
        Ok(Action::InteractionEnd) => ControlAction::InteractionEnd,
        Ok(Action::TtsPlaybackStart) => ControlAction::TtsPlaybackStart,
        Ok(Action::TtsPlaybackEnd) => ControlAction::TtsPlaybackEnd,
        Ok(Action::TtsPlaybackMute) => ControlAction::TtsPlaybackMute,
        Ok(Action::TtsPlaybackUnmute) => ControlAction::TtsPlaybackUnmute,
        Ok(Action::Warning) => ControlAction::Warning,
        Ok(Action::SessionEnd) => ControlAction::SessionEnd,
        _ => ControlAction::Unknown,
    };
    PacketBody::Control(Control {
        action,
        description: c.description.into(),
    })
}

/// The model of a scene status; `brain_name` is the resource name.
pub fn scene_from(s: wire::CurrentSceneStatus) -> SceneStatus {
    SceneStatus {
        name: s.scene_name.into(),
        description: s.scene_description.into(),
        display_name: s.scene_display_name.into(),
        characters: s
            .agents
            .into_iter()
            .map(|a| {
                let assets = a.character_assets.unwrap_or_default();
                Character {
                    id: a.agent_id.into(),
                    resource_name: a.brain_name.into(),
                    display_name: a.given_name.into(),
                    assets: CharacterAssets {
                        avatar_img: assets.avatar_img.into(),
                        avatar_img_original: assets.avatar_img_original.into(),
                        rpm_model_uri: assets.rpm_model_uri.into(),
                        rpm_image_uri_portrait: assets.rpm_image_uri_portrait.into(),
                        rpm_image_uri_posture: assets.rpm_image_uri_posture.into(),
                    },
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Viseme;

    fn packet(payload: Payload) -> wire::InworldPacket {
        wire::InworldPacket {
            timestamp: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_789,
            }),
            routing: Some(wire::Routing {
                source: Some(wire::Actor {
                    r#type: 2,
                    name: "agent-1".into(),
                }),
                target: Some(wire::Actor {
                    r#type: 1,
                    name: String::new(),
                }),
                targets: vec![],
            }),
            packet_id: Some(wire::PacketId {
                packet_id: "p".into(),
                interaction_id: "i".into(),
                conversation_id: "c".into(),
                ..Default::default()
            }),
            packet: Some(payload),
        }
    }

    #[test]
    fn envelope() {
        let p = from_wire(packet(Payload::Text(wire::TextEvent {
            text: "hi".into(),
            source_type: 3,
            r#final: true,
            ..Default::default()
        })));
        assert_eq!(p.timestamp_ms, 1_700_000_000_123);
        assert_eq!(p.ids.interaction_id, "i");
        assert_eq!(p.ids.conversation_id, "c");
        assert_eq!(p.routing.source.kind, ActorKind::Character);
        assert_eq!(p.routing.source.name, "agent-1");
        assert_eq!(p.routing.target.kind, ActorKind::Player);
        assert_eq!(
            p.body,
            PacketBody::Text(TextEvent {
                text: "hi".into(),
                is_final: true,
                source: TextSource::Generated
            })
        );
    }

    fn audio_packet(chunk: Vec<u8>, phonemes: &[(&str, u64)]) -> wire::InworldPacket {
        packet(Payload::DataChunk(wire::DataChunk {
            r#type: 1,
            data: Some(wire::data_chunk::Data::Chunk(chunk)),
            additional_phoneme_info: phonemes
                .iter()
                .map(|(p, ms)| wire::AdditionalPhonemeInfo {
                    phoneme: p.to_string(),
                    start_offset: Some(prost_types::Duration {
                        seconds: 0,
                        nanos: (*ms * 1_000_000) as i32,
                    }),
                })
                .collect(),
            audioformat: 0,
        }))
    }

    fn wav_16k_mono(samples: &[i16]) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for s in samples {
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn audio_is_decoded_with_phonemes_and_visemes() {
        let samples: Vec<i16> = (0..3200).map(|i| (i % 200) as i16).collect();
        let p = from_wire(audio_packet(
            wav_16k_mono(&samples),
            &[("h", 0), ("ə", 50), ("l", 120), ("oʊ", 160)],
        ));
        let PacketBody::Audio(a) = p.body else {
            panic!("{:?}", p.body)
        };
        assert_eq!(a.samples, samples);
        assert_eq!((a.sample_rate, a.channels), (16_000, 1));
        assert_eq!(a.duration, Duration::from_millis(200));
        assert_eq!(a.undecoded, None);
        assert_eq!(a.phonemes[1].phoneme, "ə");
        assert_eq!(a.phonemes[1].start_offset, Duration::from_millis(50));
        let visemes: Vec<(Viseme, u128)> = a
            .visemes
            .iter()
            .map(|v| (v.viseme, v.start_offset.as_millis()))
            .collect();
        assert_eq!(
            visemes,
            [
                (Viseme::Kk, 0),
                (Viseme::Aa, 50),
                (Viseme::Nn, 120),
                (Viseme::Ou, 160)
            ]
        );
    }

    /// The recorded SDK session's chunk is not a WAV file: it comes through
    /// whole, with the reason and its phonemes.
    #[test]
    fn an_undecodable_chunk_keeps_its_bytes_and_says_why() {
        let p = from_wire(audio_packet(b"RIFFfake".to_vec(), &[("h", 120)]));
        let PacketBody::Audio(a) = p.body else {
            panic!("{:?}", p.body)
        };
        let undecoded = a.undecoded.expect("not decoded");
        assert_eq!(undecoded.data, b"RIFFfake");
        assert!(
            undecoded.error.starts_with("not a WAV file"),
            "{}",
            undecoded.error
        );
        assert!(a.samples.is_empty());
        assert_eq!(
            (a.sample_rate, a.channels, a.duration),
            (0, 0, Duration::ZERO)
        );
        assert_eq!(a.phonemes[0].start_offset, Duration::from_millis(120));
        assert_eq!(a.visemes[0].viseme, Viseme::Kk);
    }

    #[test]
    fn silence_and_other_data() {
        let s = from_wire(packet(Payload::DataChunk(wire::DataChunk {
            r#type: 3,
            data: Some(wire::data_chunk::Data::DurationMs(250)),
            ..Default::default()
        })));
        assert_eq!(s.body, PacketBody::Silence { duration_ms: 250 });
        let other = from_wire(packet(Payload::DataChunk(wire::DataChunk {
            r#type: 4,
            ..Default::default()
        })));
        assert_eq!(other.body, PacketBody::Unknown);
    }

    #[test]
    fn custom_trigger_and_task() {
        let mk = |ty| {
            from_wire(packet(Payload::Custom(wire::CustomEvent {
                name: "n".into(),
                r#type: ty,
                parameters: vec![wire::custom_event::Parameter {
                    name: "a".into(),
                    value: "b".into(),
                }],
                ..Default::default()
            })))
            .body
        };
        let ev = CustomEvent {
            name: "n".into(),
            parameters: vec![Parameter {
                name: "a".into(),
                value: "b".into(),
            }],
        };
        assert_eq!(mk(2), PacketBody::Task(ev.clone()));
        assert_eq!(mk(1), PacketBody::Trigger(ev.clone()));
        assert_eq!(mk(0), PacketBody::Trigger(ev));
    }

    #[test]
    fn controls_scene_and_conversation() {
        let ctl = |action, payload| {
            from_wire(packet(Payload::Control(wire::ControlEvent {
                action,
                description: "d".into(),
                payload: None,
                payload_structured: payload,
            })))
            .body
        };
        assert_eq!(
            ctl(3, None),
            PacketBody::Control(Control {
                action: ControlAction::InteractionEnd,
                description: "d".into()
            })
        );
        assert!(matches!(
            ctl(16, None),
            PacketBody::Control(Control {
                action: ControlAction::Unknown,
                ..
            })
        ));
        let scene = wire::CurrentSceneStatus {
            agents: vec![wire::Agent {
                agent_id: "a1".into(),
                brain_name: "workspaces/w/characters/alice".into(),
                given_name: "Alice".into(),
                character_assets: Some(wire::agent::CharacterAssets {
                    avatar_img: "img".into(),
                    ..Default::default()
                }),
            }],
            scene_name: "workspaces/w/scenes/s".into(),
            scene_description: "desc".into(),
            scene_display_name: "S".into(),
        };
        let wire_packet = packet(Payload::Control(wire::ControlEvent {
            action: 15,
            payload_structured: Some(PayloadStructured::CurrentSceneStatus(scene)),
            ..Default::default()
        }));
        let PacketBody::SceneStatus(status) = from_wire(wire_packet).body else {
            panic!("a scene status")
        };
        assert_eq!(status.name, "workspaces/w/scenes/s");
        assert_eq!(status.characters[0].id, "a1");
        assert_eq!(
            status.characters[0].resource_name,
            "workspaces/w/characters/alice"
        );
        assert_eq!(status.characters[0].display_name, "Alice");
        assert_eq!(status.characters[0].assets.avatar_img, "img");
        let conv = ctl(
            14,
            Some(PayloadStructured::ConversationEvent(
                wire::ConversationEventPayload {
                    participants: vec![wire::Actor {
                        r#type: 2,
                        name: "a1".into(),
                    }],
                    event_type: 1,
                },
            )),
        );
        let PacketBody::ConversationEvent(e) = conv else {
            panic!()
        };
        assert_eq!(e.kind, ConversationEventKind::Started);
        assert_eq!(e.participants[0].kind, ActorKind::Character);
    }

    #[test]
    fn narrated_cancel_log_status_emotion() {
        assert_eq!(
            from_wire(packet(Payload::Action(wire::ActionEvent {
                action: Some(wire::action_event::Action::NarratedAction(
                    wire::NarratedAction {
                        content: "waves".into()
                    }
                )),
                ..Default::default()
            })))
            .body,
            PacketBody::NarratedAction {
                content: "waves".into()
            }
        );
        assert_eq!(
            from_wire(packet(Payload::Mutation(wire::MutationEvent {
                mutation: Some(wire::mutation_event::Mutation::CancelResponses(
                    wire::CancelResponses {
                        interaction_id: "i".into(),
                        utterance_id: vec!["u1".into()],
                    }
                )),
            })))
            .body,
            PacketBody::CancelResponses {
                interaction_id: "i".into(),
                utterance_ids: vec!["u1".into()]
            }
        );
        assert_eq!(
            from_wire(packet(Payload::Mutation(wire::MutationEvent {
                mutation: Some(wire::mutation_event::Mutation::LoadCharacters(
                    wire::LoadCharacters {
                        name: vec![wire::load_characters::CharacterName {
                            name: "workspaces/w/characters/c".into(),
                            ..Default::default()
                        }],
                    }
                )),
            })))
            .body,
            PacketBody::SceneMutation(SceneMutation::AddCharacters {
                names: vec!["workspaces/w/characters/c".into()]
            })
        );
        let log = from_wire(packet(Payload::Log(wire::LogsEvent {
            text: "t".into(),
            level: 2,
            metadata: [("b".to_string(), "2".to_string()), ("a".into(), "1".into())]
                .into_iter()
                .collect(),
            details: vec![],
        })));
        let PacketBody::Log(l) = log.body else {
            panic!()
        };
        assert_eq!(l.level, 2);
        assert_eq!(l.metadata[0].name, "a");
        assert_eq!(
            from_wire(packet(Payload::OperationStatus(
                wire::OperationStatusEvent {
                    status: Some(crate::protocol::google::rpc::Status {
                        code: 5,
                        message: "m".into(),
                        details: vec![],
                    }),
                }
            )))
            .body,
            PacketBody::OperationStatus {
                code: 5,
                message: "m".into()
            }
        );
        assert_eq!(
            from_wire(packet(Payload::Emotion(wire::EmotionEvent {
                behavior: 3,
                strength: 2,
                joy: 0.25,
                surprise: 0.5,
                ..Default::default()
            })))
            .body,
            PacketBody::Emotion(Emotion {
                behavior: 3,
                strength: 2,
                joy: 0.25,
                fear: 0.0,
                trust: 0.0,
                surprise: 0.5,
            })
        );
        assert_eq!(
            from_wire(packet(Payload::AudioChunk(wire::AudioChunk {
                chunk: vec![]
            })))
            .body,
            PacketBody::Unknown
        );
    }
}
