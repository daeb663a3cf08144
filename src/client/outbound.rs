//! The packets the client writes, field for field as the Node SDK builds
//! them: the session configuration and LoadScene that open a session, the
//! conversation update that starts or changes a conversation (no routing;
//! participants are agent ids, then the player), the player's text, triggers
//! and narrated actions (fresh packet, utterance, interaction and correlation
//! ids; the conversation id), audio sessions and audio chunks (the packet
//! and conversation ids only), and the PONG that answers a PING.

use super::config::{Capabilities, SessionConfig, Talker};
use super::state::{Outgoing, Send};
use super::{Continuation, SentIds};
use crate::protocol::ai::inworld::engine::configuration as cfg;
use crate::protocol::ai::inworld::packets;
use crate::protocol::packets::{self as build, agent, new_id, player, routing, world};
use packets::control_event::{Action, PayloadStructured};
use packets::inworld_packet::Packet as Payload;

/// What the client calls itself in the session configuration.
pub const CLIENT_ID: &str = "inworld-native";
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

fn only_packet_id() -> packets::PacketId {
    packets::PacketId {
        packet_id: new_id(),
        ..Default::default()
    }
}

fn player_to_world() -> Option<packets::Routing> {
    Some(routing(player(), Some(world())))
}

/// PLAYER, with an AGENT target when given.
fn player_to(agent_id: Option<&str>) -> Option<packets::Routing> {
    Some(routing(player(), agent_id.map(agent)))
}

pub fn os_description() -> String {
    format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)
}

fn capabilities(c: &Capabilities) -> cfg::CapabilitiesConfiguration {
    cfg::CapabilitiesConfiguration {
        audio: c.audio,
        interruptions: c.interruptions,
        emotions: c.emotions,
        silence_events: c.silence,
        phoneme_info: c.phonemes,
        narrated_actions: c.narrated_actions,
        debug_info: c.debug_info,
        multi_agent: true,
        ping_pong_report: c.ping_pong_report,
        perceived_latency_report: c.perceived_latency_report,
        multi_modal_action_planning: c.multi_modal_action_planning,
        logs: c.logs(),
        logs_warning: c.logs_warning,
        logs_info: c.logs_info,
        logs_debug: c.logs_debug,
        logs_internal: c.logs_internal,
        ..Default::default()
    }
}

fn continuation(c: &Continuation) -> packets::Continuation {
    use packets::continuation::ContinuationType;
    match c {
        Continuation::SavedState(bytes) => packets::Continuation {
            continuation_type: ContinuationType::ExternallySavedState as i32,
            externally_saved_state: bytes.clone(),
            ..Default::default()
        },
        Continuation::DialogHistory(lines) => packets::Continuation {
            continuation_type: ContinuationType::DialogHistory as i32,
            dialog_history: Some(packets::DialogHistory {
                history: lines
                    .iter()
                    .map(|(who, text)| packets::dialog_history::HistoryItem {
                        actor: Some(build::actor(
                            match who {
                                Talker::Player => packets::actor::Type::Player,
                                Talker::Character => packets::actor::Type::Agent,
                            },
                            "",
                        )),
                        text: text.clone(),
                    })
                    .collect(),
            }),
            ..Default::default()
        },
    }
}

/// The session configuration that opens a session (or reopens one the
/// service lost): user and session settings only when set, the client's
/// description, every capability, and the continuation when there is one.
pub fn session_configuration(
    client_id: Option<&str>,
    session: &SessionConfig,
    continuation: Option<&Continuation>,
) -> packets::InworldPacket {
    use cfg::user_configuration::{user_settings, UserSettings};
    let user = &session.user;
    let user_configuration =
        (user.name.is_some() || !user.profile.is_empty()).then(|| cfg::UserConfiguration {
            name: user.name.clone().unwrap_or_default(),
            id: String::new(),
            user_settings: (!user.profile.is_empty()).then(|| UserSettings {
                view_transcript_consent: false,
                player_profile: Some(user_settings::PlayerProfile {
                    fields: user
                        .profile
                        .iter()
                        .map(|(id, value)| user_settings::player_profile::PlayerField {
                            field_id: id.clone(),
                            field_value: value.clone(),
                        })
                        .collect(),
                }),
            }),
        });
    let mut description = format!("{CLIENT_ID}; {CLIENT_VERSION}; {}", os_description());
    if let Some(id) = client_id {
        description.push_str("; ");
        description.push_str(id);
    }
    let payload = packets::SessionConfigurationPayload {
        session_configuration: session.game_session_id.as_ref().map(|id| {
            cfg::SessionConfiguration {
                game_session_id: id.clone(),
            }
        }),
        user_configuration,
        client_configuration: Some(cfg::ClientConfiguration {
            id: CLIENT_ID.to_string(),
            version: CLIENT_VERSION.to_string(),
            description,
        }),
        capabilities_configuration: Some(capabilities(&session.capabilities)),
        continuation: continuation.map(self::continuation),
    };
    build::packet_with_id(
        player_to_world(),
        only_packet_id(),
        build::control(
            Action::SessionConfiguration,
            "",
            Some(PayloadStructured::SessionConfiguration(payload)),
        ),
    )
}

/// LoadScene: written right after the session configuration, without
/// waiting for an answer.
pub fn load_scene(scene: &str) -> packets::InworldPacket {
    build::packet_with_id(
        player_to_world(),
        only_packet_id(),
        Payload::Mutation(packets::MutationEvent {
            mutation: Some(packets::mutation_event::Mutation::LoadScene(
                packets::LoadScene {
                    name: scene.to_string(),
                    is_reset_scene: false,
                },
            )),
        }),
    )
}

/// The configuration a scene change sends: only what the change carries,
/// and the capabilities (never the client's description or the player).
pub fn scene_change_configuration(
    capabilities: &Capabilities,
    change: &super::calls::SceneChange,
) -> packets::InworldPacket {
    let payload = packets::SessionConfigurationPayload {
        session_configuration: change.game_session_id.as_ref().map(|id| {
            cfg::SessionConfiguration {
                game_session_id: id.clone(),
            }
        }),
        user_configuration: None,
        client_configuration: None,
        capabilities_configuration: Some(self::capabilities(capabilities)),
        continuation: change.continuation.as_ref().map(continuation),
    };
    world_packet(build::control(
        Action::SessionConfiguration,
        "",
        Some(PayloadStructured::SessionConfiguration(payload)),
    ))
}

/// A packet to the world (mutations, items): PLAYER→WORLD, its own id only.
fn world_packet(body: Payload) -> packets::InworldPacket {
    build::packet_with_id(player_to_world(), only_packet_id(), body)
}

fn mutation(mutation: packets::mutation_event::Mutation) -> packets::InworldPacket {
    world_packet(Payload::Mutation(packets::MutationEvent {
        mutation: Some(mutation),
    }))
}

/// Adds characters (resource names) to the scene.
pub fn load_characters(names: &[String]) -> packets::InworldPacket {
    mutation(packets::mutation_event::Mutation::LoadCharacters(
        packets::LoadCharacters {
            name: names
                .iter()
                .map(|n| packets::load_characters::CharacterName {
                    name: n.clone(),
                    ..Default::default()
                })
                .collect(),
        },
    ))
}

/// Removes characters (agent ids) from the scene.
pub fn unload_characters(agent_ids: &[String]) -> packets::InworldPacket {
    mutation(packets::mutation_event::Mutation::UnloadCharacters(
        packets::UnloadCharacters {
            agents: agent_ids
                .iter()
                .map(|a| packets::Agent {
                    agent_id: a.clone(),
                    ..Default::default()
                })
                .collect(),
        },
    ))
}

/// Asks the character `agent_id` to stop the reply to `interaction_id` (only
/// `utterance_ids`, when given): PLAYER to AGENT, a fresh correlation id and
/// no conversation, as the SDK sends it.
pub fn cancel_responses(
    agent_id: &str,
    interaction_id: &str,
    utterance_ids: &[String],
) -> packets::InworldPacket {
    build::packet_with_id(
        player_to(Some(agent_id)),
        packets::PacketId {
            packet_id: new_id(),
            correlation_id: new_id(),
            ..Default::default()
        },
        Payload::Mutation(packets::MutationEvent {
            mutation: Some(packets::mutation_event::Mutation::CancelResponses(
                packets::CancelResponses {
                    interaction_id: interaction_id.to_string(),
                    utterance_id: utterance_ids.to_vec(),
                },
            )),
        }),
    )
}

/// An entity items operation.
pub fn items_operation(
    operation: packets::entities::items_operation_event::Operation,
) -> packets::InworldPacket {
    world_packet(Payload::EntitiesItemsOperation(
        packets::entities::ItemsOperationEvent {
            operation: Some(operation),
        },
    ))
}

/// The conversation handshake: no routing, the characters (agent ids) then
/// the player if the player takes part.
pub fn conversation_update(
    conversation_id: &str,
    agent_ids: &[&str],
    with_player: bool,
) -> packets::InworldPacket {
    let mut participants: Vec<packets::Actor> = agent_ids.iter().map(|a| agent(a)).collect();
    if with_player {
        participants.push(player());
    }
    build::packet_with_id(
        None,
        packets::PacketId {
            packet_id: new_id(),
            conversation_id: conversation_id.to_string(),
            ..Default::default()
        },
        build::control(
            Action::ConversationUpdate,
            "",
            Some(PayloadStructured::ConversationUpdate(
                packets::ConversationUpdatePayload { participants },
            )),
        ),
    )
}

fn interaction_ids(ids: &SentIds) -> packets::PacketId {
    packets::PacketId {
        packet_id: ids.packet_id.clone(),
        utterance_id: ids.utterance_id.clone(),
        interaction_id: ids.interaction_id.clone(),
        correlation_id: ids.correlation_id.clone(),
        conversation_id: ids.conversation_id.clone(),
    }
}

/// The packet of a send. `target` is the agent a trigger is addressed to
/// (text and narrated actions have none: the conversation says who hears).
pub fn send_packet(send: &Send, target: Option<&str>) -> packets::InworldPacket {
    let payload = match &send.payload {
        Outgoing::Text(text) => Payload::Text(packets::TextEvent {
            text: text.clone(),
            source_type: packets::text_event::SourceType::TypedIn as i32,
            r#final: true,
            ..Default::default()
        }),
        Outgoing::Trigger { name, params, .. } => Payload::Custom(packets::CustomEvent {
            name: name.clone(),
            playback: 0,
            parameters: params
                .iter()
                .map(|(n, v)| packets::custom_event::Parameter {
                    name: n.clone(),
                    value: v.clone(),
                })
                .collect(),
            r#type: packets::custom_event::Type::Trigger as i32,
        }),
        Outgoing::NarratedAction(content) => Payload::Action(packets::ActionEvent {
            playback: 0,
            action: Some(packets::action_event::Action::NarratedAction(
                packets::NarratedAction {
                    content: content.clone(),
                },
            )),
        }),
        Outgoing::AudioSessionStart(config, _) => build::control(
            Action::AudioSessionStart,
            "",
            Some(PayloadStructured::AudioSessionStart(
                packets::AudioSessionStartPayload {
                    mode: config.mode as i32,
                    understanding_mode: config.understanding as i32,
                },
            )),
        ),
        Outgoing::AudioSessionEnd(_) => build::control(Action::AudioSessionEnd, "", None),
        Outgoing::PlaybackMute(true) => build::control(Action::TtsPlaybackMute, "", None),
        Outgoing::PlaybackMute(false) => build::control(Action::TtsPlaybackUnmute, "", None),
    };
    let target = match send.payload {
        Outgoing::Trigger { .. } => target,
        _ => None,
    };
    build::packet_with_id(player_to(target), interaction_ids(&send.ids), payload)
}

/// A chunk of the player's audio (16 kHz 16-bit mono PCM) in a
/// conversation: PLAYER without target, the packet and conversation ids only.
pub fn audio_chunk(conversation_id: &str, bytes: Vec<u8>) -> packets::InworldPacket {
    build::packet_with_id(
        player_to(None),
        packets::PacketId {
            packet_id: new_id(),
            conversation_id: conversation_id.to_string(),
            ..Default::default()
        },
        Payload::DataChunk(packets::DataChunk {
            r#type: packets::data_chunk::DataType::Audio as i32,
            data: Some(packets::data_chunk::Data::Chunk(bytes)),
            ..Default::default()
        }),
    )
}

/// The automatic PONG: echoes the PING's ids (not its utterance id) and its
/// timestamp, ahead of anything else.
pub fn pong(
    ping: &packets::InworldPacket,
    report: &packets::PingPongReport,
) -> packets::InworldPacket {
    let ids = ping.packet_id.clone().unwrap_or_default();
    build::packet_with_id(
        player_to(None),
        only_packet_id(),
        Payload::LatencyReport(packets::LatencyReportEvent {
            report: Some(packets::latency_report_event::Report::PingPong(
                packets::PingPongReport {
                    r#type: packets::ping_pong_report::Type::Pong as i32,
                    ping_packet_id: Some(packets::PacketId {
                        packet_id: ids.packet_id,
                        utterance_id: String::new(),
                        interaction_id: ids.interaction_id,
                        correlation_id: ids.correlation_id,
                        conversation_id: ids.conversation_id,
                    }),
                    ping_timestamp: report.ping_timestamp,
                },
            )),
        }),
    )
}

/// A packet that loads a scene, or adds or removes characters (the game
/// sees each as it goes out).
pub(crate) fn is_scene_mutation(packet: &packets::InworldPacket) -> bool {
    use packets::inworld_packet::Packet as Payload;
    use packets::mutation_event::Mutation;
    matches!(
        &packet.packet,
        Some(Payload::Mutation(m)) if matches!(
            m.mutation,
            Some(Mutation::LoadScene(_) | Mutation::LoadCharacters(_) | Mutation::UnloadCharacters(_))
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> SentIds {
        SentIds {
            packet_id: "p".into(),
            utterance_id: "u".into(),
            interaction_id: "i".into(),
            correlation_id: "c".into(),
            conversation_id: "conv".into(),
        }
    }

    fn send(payload: Outgoing) -> Send {
        Send {
            ids: ids(),
            payload,
            permit: crate::client::send_slots::SendPermit::unbounded(),
        }
    }

    #[test]
    fn text_is_player_routed_without_target() {
        let p = send_packet(&send(Outgoing::Text("hi".into())), Some("agent-1"));
        let r = p.routing.unwrap();
        assert_eq!(
            r.source.unwrap().r#type,
            packets::actor::Type::Player as i32
        );
        assert!(r.target.is_none() && r.targets.is_empty());
        let id = p.packet_id.unwrap();
        assert_eq!(
            (
                id.packet_id.as_str(),
                id.interaction_id.as_str(),
                id.conversation_id.as_str()
            ),
            ("p", "i", "conv")
        );
        let Some(Payload::Text(t)) = p.packet else {
            panic!()
        };
        assert!(t.r#final);
        assert_eq!(
            t.source_type,
            packets::text_event::SourceType::TypedIn as i32
        );
    }

    #[test]
    fn trigger_targets_the_agent() {
        let trigger = Outgoing::Trigger {
            name: "greet".into(),
            params: vec![("a".into(), "b".into())],
            target: None,
        };
        let p = send_packet(&send(trigger.clone()), Some("agent-1"));
        let target = p.routing.unwrap().target.unwrap();
        assert_eq!(target.r#type, packets::actor::Type::Agent as i32);
        assert_eq!(target.name, "agent-1");
        // In a conversation of several characters: no target, the service picks.
        assert!(send_packet(&send(trigger), None)
            .routing
            .unwrap()
            .target
            .is_none());
    }

    #[test]
    fn conversation_update_has_no_routing() {
        let p = conversation_update("conv", &["agent-1", "agent-2"], true);
        assert!(p.routing.is_none());
        let id = p.packet_id.unwrap();
        assert_eq!(id.conversation_id, "conv");
        assert!(id.interaction_id.is_empty() && id.utterance_id.is_empty());
        let Some(Payload::Control(c)) = p.packet else {
            panic!()
        };
        let Some(PayloadStructured::ConversationUpdate(u)) = c.payload_structured else {
            panic!()
        };
        let kinds: Vec<i32> = u.participants.iter().map(|a| a.r#type).collect();
        assert_eq!(kinds, [2, 2, 1]);
    }

    #[test]
    fn configuration_sends_only_what_is_set() {
        let mut session = SessionConfig::new("workspaces/w/scenes/s");
        let Some(Payload::Control(c)) = session_configuration(None, &session, None).packet else {
            panic!()
        };
        let Some(PayloadStructured::SessionConfiguration(s)) = c.payload_structured else {
            panic!()
        };
        assert!(s.user_configuration.is_none());
        assert!(s.session_configuration.is_none());
        assert!(s.continuation.is_none());
        let client = s.client_configuration.unwrap();
        assert_eq!(client.id, CLIENT_ID);
        assert_eq!(client.version, CLIENT_VERSION);
        let caps = s.capabilities_configuration.unwrap();
        assert!(caps.audio && caps.multi_agent && caps.ping_pong_report && caps.logs);
        assert!(!caps.emotions && !caps.logs_debug);

        session.user.name = Some("Ann".into());
        session.capabilities.logs_warning = false;
        session.capabilities.logs_info = false;
        let saved = Continuation::SavedState(vec![1, 2]);
        let Some(Payload::Control(c)) =
            session_configuration(Some("my-game"), &session, Some(&saved)).packet
        else {
            panic!()
        };
        let Some(PayloadStructured::SessionConfiguration(s)) = c.payload_structured else {
            panic!()
        };
        let user = s.user_configuration.unwrap();
        assert_eq!(user.name, "Ann");
        assert!(user.id.is_empty() && user.user_settings.is_none());
        let cont = s.continuation.unwrap();
        assert_eq!(cont.continuation_type, 1);
        assert_eq!(cont.externally_saved_state, vec![1, 2]);
        assert!(!s.capabilities_configuration.unwrap().logs);
        assert!(s
            .client_configuration
            .unwrap()
            .description
            .ends_with("; my-game"));
    }

    #[test]
    fn pong_echoes_the_ping() {
        let ping = packets::InworldPacket {
            timestamp: Some(build::now()),
            routing: None,
            packet_id: Some(packets::PacketId {
                packet_id: "ping".into(),
                utterance_id: "u".into(),
                interaction_id: "i".into(),
                ..Default::default()
            }),
            packet: Some(Payload::LatencyReport(packets::LatencyReportEvent {
                report: Some(packets::latency_report_event::Report::PingPong(
                    packets::PingPongReport {
                        r#type: 1,
                        ping_packet_id: None,
                        ping_timestamp: Some(prost_types::Timestamp {
                            seconds: 5,
                            nanos: 0,
                        }),
                    },
                )),
            })),
        };
        let Some(Payload::LatencyReport(packets::LatencyReportEvent {
            report: Some(packets::latency_report_event::Report::PingPong(report)),
        })) = &ping.packet
        else {
            panic!()
        };
        let pong = pong(&ping, report);
        let Some(Payload::LatencyReport(l)) = pong.packet else {
            panic!()
        };
        let Some(packets::latency_report_event::Report::PingPong(pp)) = l.report else {
            panic!()
        };
        assert_eq!(pp.r#type, 2);
        let id = pp.ping_packet_id.unwrap();
        assert_eq!(id.packet_id, "ping");
        assert_eq!(id.interaction_id, "i");
        assert!(id.utterance_id.is_empty());
        assert_eq!(pp.ping_timestamp.unwrap().seconds, 5);
    }
}
