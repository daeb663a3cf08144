//! Building server packets. Every packet leaves with a timestamp and a fresh
//! packet id (the SDK crashes on a packet without them).

use super::sessions::SessionState;
use crate::proto::ai::inworld::packets::{
    actor, agent, control_event, conversation_event_payload, inworld_packet, Actor, Agent,
    ControlEvent, ConversationEventPayload, CurrentSceneStatus, InworldPacket, PacketId, Routing,
};

pub fn now() -> prost_types::Timestamp {
    crate::packet::status::timestamp_from(std::time::SystemTime::now())
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn actor(kind: actor::Type, name: &str) -> Actor {
    Actor {
        r#type: kind as i32,
        name: name.to_string(),
    }
}

pub fn world_to_player() -> Routing {
    Routing {
        source: Some(actor(actor::Type::World, "")),
        target: Some(actor(actor::Type::Player, "")),
        targets: Vec::new(),
    }
}

pub fn agent_to_player(agent_id: &str) -> Routing {
    Routing {
        source: Some(actor(actor::Type::Agent, agent_id)),
        target: Some(actor(actor::Type::Player, "")),
        targets: Vec::new(),
    }
}

pub fn from_player() -> Routing {
    Routing {
        source: Some(actor(actor::Type::Player, "")),
        target: None,
        targets: Vec::new(),
    }
}

/// The ids a packet carries besides its own packet id.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    pub utterance_id: String,
    pub interaction_id: String,
    pub correlation_id: String,
    pub conversation_id: String,
}

impl Ids {
    pub fn conversation(conversation_id: &str) -> Self {
        Self {
            conversation_id: conversation_id.to_string(),
            ..Self::default()
        }
    }
}

pub fn packet(routing: Routing, ids: &Ids, body: inworld_packet::Packet) -> InworldPacket {
    InworldPacket {
        timestamp: Some(now()),
        routing: Some(routing),
        packet_id: Some(PacketId {
            packet_id: new_id(),
            utterance_id: ids.utterance_id.clone(),
            interaction_id: ids.interaction_id.clone(),
            correlation_id: ids.correlation_id.clone(),
            conversation_id: ids.conversation_id.clone(),
        }),
        packet: Some(body),
    }
}

pub fn control(
    routing: Routing,
    ids: &Ids,
    action: control_event::Action,
    description: &str,
    payload: Option<control_event::PayloadStructured>,
) -> InworldPacket {
    packet(
        routing,
        ids,
        inworld_packet::Packet::Control(ControlEvent {
            action: action as i32,
            description: description.to_string(),
            payload: None,
            payload_structured: payload,
        }),
    )
}

/// A control WARNING: how the engine reports a bad packet without ending the stream.
pub fn warning(ids: &Ids, description: &str) -> InworldPacket {
    log::debug!("warning to client: {description}");
    control(
        world_to_player(),
        ids,
        control_event::Action::Warning,
        description,
        None,
    )
}

/// CURRENT_SCENE_STATUS with every loaded agent.
pub fn scene_status(state: &SessionState) -> InworldPacket {
    let scene = state.scene.as_ref();
    let status = CurrentSceneStatus {
        agents: state
            .agents
            .iter()
            .map(|a| {
                let c = &a.character;
                Agent {
                    agent_id: a.agent_id.clone(),
                    brain_name: a.brain_name.clone(),
                    given_name: c.display_name.clone(),
                    character_assets: Some(agent::CharacterAssets {
                        rpm_model_uri: c.assets.rpm_model_uri.clone(),
                        rpm_image_uri_portrait: c.assets.rpm_image_uri_portrait.clone(),
                        rpm_image_uri_posture: c.assets.rpm_image_uri_posture.clone(),
                        avatar_img: c.assets.avatar_img.clone(),
                        avatar_img_original: c.assets.avatar_img_original.clone(),
                    }),
                }
            })
            .collect(),
        scene_name: scene.map(|s| s.name.clone()).unwrap_or_default(),
        scene_description: scene.map(|s| s.description.clone()).unwrap_or_default(),
        scene_display_name: scene.map(|s| s.display_name.clone()).unwrap_or_default(),
    };
    control(
        world_to_player(),
        &Ids::default(),
        control_event::Action::CurrentSceneStatus,
        "",
        Some(control_event::PayloadStructured::CurrentSceneStatus(status)),
    )
}

pub fn conversation_event(
    conversation_id: &str,
    agents: &[String],
    player: bool,
    kind: conversation_event_payload::ConversationEventType,
) -> InworldPacket {
    let mut participants: Vec<Actor> = agents
        .iter()
        .map(|a| actor(actor::Type::Agent, a))
        .collect();
    if player {
        participants.push(actor(actor::Type::Player, ""));
    }
    control(
        world_to_player(),
        &Ids::conversation(conversation_id),
        control_event::Action::ConversationEvent,
        "",
        Some(control_event::PayloadStructured::ConversationEvent(
            ConversationEventPayload {
                participants,
                event_type: kind as i32,
            },
        )),
    )
}
