//! The packets the client sends, field for field as the Node SDK builds them
//! (PROTOCOL.md 4.4, 4.6, 4.7).

use super::config::{Capabilities, ClientConfig, Continuation, Talker};
use super::SentIds;
use crate::protocol::ai::inworld::engine::configuration as cfg;
use crate::protocol::ai::inworld::packets as wire;
use wire::control_event::{Action, PayloadStructured};
use wire::inworld_packet::Packet as Payload;

/// What the client calls itself in the session configuration.
pub const CLIENT_ID: &str = "inworld-native";
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Now, at millisecond precision (as a JS `Date` gives it).
pub fn now_timestamp() -> prost_types::Timestamp {
    let ms = chrono::Utc::now().timestamp_millis();
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

fn actor(kind: wire::actor::Type, name: &str) -> wire::Actor {
    wire::Actor {
        r#type: kind as i32,
        name: name.to_string(),
    }
}

fn player_to_world() -> Option<wire::Routing> {
    Some(wire::Routing {
        source: Some(actor(wire::actor::Type::Player, "")),
        target: Some(actor(wire::actor::Type::World, "")),
        targets: vec![],
    })
}

fn player_to(agent: Option<&str>) -> Option<wire::Routing> {
    Some(wire::Routing {
        source: Some(actor(wire::actor::Type::Player, "")),
        target: agent.map(|a| actor(wire::actor::Type::Agent, a)),
        targets: vec![],
    })
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn only_packet_id() -> Option<wire::PacketId> {
    Some(wire::PacketId {
        packet_id: new_id(),
        ..Default::default()
    })
}

fn control(action: Action, payload: Option<PayloadStructured>) -> Payload {
    Payload::Control(wire::ControlEvent {
        action: action as i32,
        description: String::new(),
        payload: None,
        payload_structured: payload,
    })
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

fn continuation(c: &Continuation) -> wire::Continuation {
    use wire::continuation::ContinuationType;
    match c {
        Continuation::SavedState(bytes) => wire::Continuation {
            continuation_type: ContinuationType::ExternallySavedState as i32,
            externally_saved_state: bytes.clone(),
            ..Default::default()
        },
        Continuation::DialogHistory(lines) => wire::Continuation {
            continuation_type: ContinuationType::DialogHistory as i32,
            dialog_history: Some(wire::DialogHistory {
                history: lines
                    .iter()
                    .map(|(who, text)| wire::dialog_history::HistoryItem {
                        actor: Some(actor(
                            match who {
                                Talker::Player => wire::actor::Type::Player,
                                Talker::Character => wire::actor::Type::Agent,
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

/// Packet 1 of 4.4: the session configuration.
pub fn session_configuration(config: &ClientConfig) -> wire::InworldPacket {
    let user = &config.user;
    let user_configuration =
        (user.name.is_some() || !user.profile.is_empty()).then(|| cfg::UserConfiguration {
            name: user.name.clone().unwrap_or_default(),
            id: String::new(),
            user_settings: (!user.profile.is_empty()).then(|| {
                cfg::user_configuration::UserSettings {
                view_transcript_consent: false,
                player_profile: Some(cfg::user_configuration::user_settings::PlayerProfile {
                    fields: user
                        .profile
                        .iter()
                        .map(|(id, value)| {
                            cfg::user_configuration::user_settings::player_profile::PlayerField {
                                field_id: id.clone(),
                                field_value: value.clone(),
                            }
                        })
                        .collect(),
                }),
            }
            }),
        });
    let mut description = format!("{CLIENT_ID}; {CLIENT_VERSION}; {}", os_description());
    if let Some(id) = &config.client_id {
        description.push_str("; ");
        description.push_str(id);
    }
    let payload = wire::SessionConfigurationPayload {
        session_configuration: config.game_session_id.as_ref().map(|id| {
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
        capabilities_configuration: Some(capabilities(&config.capabilities)),
        continuation: config.continuation.as_ref().map(continuation),
    };
    wire::InworldPacket {
        timestamp: Some(now_timestamp()),
        routing: player_to_world(),
        packet_id: only_packet_id(),
        packet: Some(control(
            Action::SessionConfiguration,
            Some(PayloadStructured::SessionConfiguration(payload)),
        )),
    }
}

/// Packet 2 of 4.4: load the scene.
pub fn load_scene(scene: &str) -> wire::InworldPacket {
    wire::InworldPacket {
        timestamp: Some(now_timestamp()),
        routing: player_to_world(),
        packet_id: only_packet_id(),
        packet: Some(Payload::Mutation(wire::MutationEvent {
            mutation: Some(wire::mutation_event::Mutation::LoadScene(wire::LoadScene {
                name: scene.to_string(),
                is_reset_scene: false,
            })),
        })),
    }
}

/// The conversation handshake (4.6): no routing, participants AGENT + PLAYER.
pub fn conversation_update(conversation_id: &str, agent_id: &str) -> wire::InworldPacket {
    wire::InworldPacket {
        timestamp: Some(now_timestamp()),
        routing: None,
        packet_id: Some(wire::PacketId {
            packet_id: new_id(),
            conversation_id: conversation_id.to_string(),
            ..Default::default()
        }),
        packet: Some(control(
            Action::ConversationUpdate,
            Some(PayloadStructured::ConversationUpdate(
                wire::ConversationUpdatePayload {
                    participants: vec![
                        actor(wire::actor::Type::Agent, agent_id),
                        actor(wire::actor::Type::Player, ""),
                    ],
                },
            )),
        )),
    }
}

fn interaction_ids(ids: &SentIds) -> Option<wire::PacketId> {
    Some(wire::PacketId {
        packet_id: ids.packet_id.clone(),
        utterance_id: ids.utterance_id.clone(),
        interaction_id: ids.interaction_id.clone(),
        correlation_id: ids.correlation_id.clone(),
        conversation_id: ids.conversation_id.clone(),
    })
}

pub fn text(ids: &SentIds, text: &str) -> wire::InworldPacket {
    wire::InworldPacket {
        timestamp: Some(now_timestamp()),
        routing: player_to(None),
        packet_id: interaction_ids(ids),
        packet: Some(Payload::Text(wire::TextEvent {
            text: text.to_string(),
            source_type: wire::text_event::SourceType::TypedIn as i32,
            r#final: true,
            ..Default::default()
        })),
    }
}

pub fn trigger(
    ids: &SentIds,
    agent_id: &str,
    name: &str,
    params: &[(String, String)],
) -> wire::InworldPacket {
    wire::InworldPacket {
        timestamp: Some(now_timestamp()),
        routing: player_to(Some(agent_id)),
        packet_id: interaction_ids(ids),
        packet: Some(Payload::Custom(wire::CustomEvent {
            name: name.to_string(),
            playback: 0,
            parameters: params
                .iter()
                .map(|(n, v)| wire::custom_event::Parameter {
                    name: n.clone(),
                    value: v.clone(),
                })
                .collect(),
            r#type: wire::custom_event::Type::Trigger as i32,
        })),
    }
}

pub fn narrated_action(ids: &SentIds, content: &str) -> wire::InworldPacket {
    wire::InworldPacket {
        timestamp: Some(now_timestamp()),
        routing: player_to(None),
        packet_id: interaction_ids(ids),
        packet: Some(Payload::Action(wire::ActionEvent {
            playback: 0,
            action: Some(wire::action_event::Action::NarratedAction(
                wire::NarratedAction {
                    content: content.to_string(),
                },
            )),
        })),
    }
}

/// The PING of a received packet, if it is one.
pub fn ping_of(packet: &wire::InworldPacket) -> Option<&wire::PingPongReport> {
    match &packet.packet {
        Some(Payload::LatencyReport(wire::LatencyReportEvent {
            report: Some(wire::latency_report_event::Report::PingPong(p)),
        })) if p.r#type == wire::ping_pong_report::Type::Ping as i32 => Some(p),
        _ => None,
    }
}

/// Whether a received packet is a latency report (never delivered to the game, as in the SDK).
pub fn is_latency_report(packet: &wire::InworldPacket) -> bool {
    matches!(packet.packet, Some(Payload::LatencyReport(_)))
}

/// The automatic PONG (4.7): echoes the PING's ids (no utterance id) and timestamp.
pub fn pong(ping: &wire::InworldPacket, report: &wire::PingPongReport) -> wire::InworldPacket {
    let ids = ping.packet_id.clone().unwrap_or_default();
    wire::InworldPacket {
        timestamp: Some(now_timestamp()),
        routing: player_to(None),
        packet_id: only_packet_id(),
        packet: Some(Payload::LatencyReport(wire::LatencyReportEvent {
            report: Some(wire::latency_report_event::Report::PingPong(
                wire::PingPongReport {
                    r#type: wire::ping_pong_report::Type::Pong as i32,
                    ping_packet_id: Some(wire::PacketId {
                        packet_id: ids.packet_id,
                        utterance_id: String::new(),
                        interaction_id: ids.interaction_id,
                        correlation_id: ids.correlation_id,
                        conversation_id: ids.conversation_id,
                    }),
                    ping_timestamp: report.ping_timestamp,
                },
            )),
        })),
    }
}

/// Conversation event of a received control for `conversation_id`:
/// Some(true) when it makes the conversation active (STARTED/UPDATED),
/// Some(false) when it makes it inactive (EVICTED, or an echoed update).
pub fn conversation_signal(packet: &wire::InworldPacket, conversation_id: &str) -> Option<bool> {
    let Some(Payload::Control(c)) = &packet.packet else {
        return None;
    };
    let same = packet
        .packet_id
        .as_ref()
        .is_some_and(|id| id.conversation_id == conversation_id);
    if !same {
        return None;
    }
    match &c.payload_structured {
        Some(PayloadStructured::ConversationEvent(e)) => match e.event_type {
            1 | 2 => Some(true),
            3 => Some(false),
            _ => None,
        },
        Some(PayloadStructured::ConversationUpdate(_)) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Credentials;

    fn ids() -> SentIds {
        SentIds {
            packet_id: "p".into(),
            utterance_id: "u".into(),
            interaction_id: "i".into(),
            correlation_id: "c".into(),
            conversation_id: "conv".into(),
        }
    }

    #[test]
    fn timestamps_have_millisecond_precision() {
        let ts = now_timestamp();
        assert_eq!(ts.nanos % 1_000_000, 0);
        assert!(ts.seconds > 1_700_000_000);
    }

    #[test]
    fn text_is_player_routed_without_target() {
        let p = text(&ids(), "hi");
        let r = p.routing.unwrap();
        assert_eq!(r.source.unwrap().r#type, wire::actor::Type::Player as i32);
        assert!(r.target.is_none() && r.targets.is_empty());
        assert_eq!(p.packet_id.unwrap().conversation_id, "conv");
        let Some(Payload::Text(t)) = p.packet else {
            panic!()
        };
        assert!(t.r#final);
        assert_eq!(t.source_type, 2);
    }

    #[test]
    fn trigger_targets_the_agent() {
        let p = trigger(&ids(), "agent-1", "greet", &[("a".into(), "b".into())]);
        let target = p.routing.unwrap().target.unwrap();
        assert_eq!(target.r#type, wire::actor::Type::Agent as i32);
        assert_eq!(target.name, "agent-1");
    }

    #[test]
    fn conversation_update_has_no_routing() {
        let p = conversation_update("conv", "agent-1");
        assert!(p.routing.is_none());
        let id = p.packet_id.unwrap();
        assert_eq!(id.conversation_id, "conv");
        assert!(id.interaction_id.is_empty() && id.utterance_id.is_empty());
    }

    #[test]
    fn configuration_sends_only_what_is_set() {
        let mut config = ClientConfig::new(
            "127.0.0.1:1",
            "workspaces/w/scenes/s",
            Credentials::new("k", "s"),
        );
        let Some(Payload::Control(c)) = session_configuration(&config).packet else {
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

        config.user.name = Some("Ann".into());
        config.continuation = Some(Continuation::SavedState(vec![1, 2]));
        config.capabilities.logs_warning = false;
        config.capabilities.logs_info = false;
        let Some(Payload::Control(c)) = session_configuration(&config).packet else {
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
    }

    #[test]
    fn pong_echoes_the_ping() {
        let ping = wire::InworldPacket {
            timestamp: Some(now_timestamp()),
            routing: None,
            packet_id: Some(wire::PacketId {
                packet_id: "ping".into(),
                utterance_id: "u".into(),
                interaction_id: "i".into(),
                ..Default::default()
            }),
            packet: Some(Payload::LatencyReport(wire::LatencyReportEvent {
                report: Some(wire::latency_report_event::Report::PingPong(
                    wire::PingPongReport {
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
        let report = ping_of(&ping).expect("a ping");
        let pong = pong(&ping, report);
        let Some(Payload::LatencyReport(l)) = pong.packet else {
            panic!()
        };
        let Some(wire::latency_report_event::Report::PingPong(pp)) = l.report else {
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
