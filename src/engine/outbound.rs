//! The packets the engine sends (warnings, scene status, conversation
//! events, replies), built on the shared pieces of [`crate::protocol::packets`],
//! and the statuses it ends streams with.

use super::sessions::SessionMemory;
use crate::protocol::ai::inworld::packets::{
    agent as wire_agent, control_event, conversation_event_payload, inworld_packet, Actor, Agent,
    ConversationEventPayload, CurrentSceneStatus, InworldPacket, Routing,
};
use crate::protocol::status::{status_with_details, ErrorDetails, ErrorType, ReconnectionType};
use tonic::{Code, Status};

use crate::protocol::packets::{self as build, agent, player, world};
pub(crate) use crate::protocol::packets::{new_id, now, Ids};

pub(crate) fn world_to_player() -> Routing {
    build::routing(world(), Some(player()))
}

pub(crate) fn agent_to_player(agent_id: &str) -> Routing {
    build::routing(agent(agent_id), Some(player()))
}

pub(crate) fn from_player() -> Routing {
    build::routing(player(), None)
}

/// A packet stamped now, with `ids` under a fresh packet id.
pub(crate) fn packet(routing: Routing, ids: &Ids, body: inworld_packet::Packet) -> InworldPacket {
    build::packet(Some(routing), ids, body)
}

pub(crate) fn control(
    routing: Routing,
    ids: &Ids,
    action: control_event::Action,
    description: &str,
    payload: Option<control_event::PayloadStructured>,
) -> InworldPacket {
    packet(routing, ids, build::control(action, description, payload))
}

/// A control WARNING: how the engine reports a bad packet without ending the stream.
pub(crate) fn warning(ids: &Ids, description: &str) -> InworldPacket {
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
pub(crate) fn scene_status(state: &SessionMemory) -> InworldPacket {
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
                    character_assets: Some(wire_agent::CharacterAssets {
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

pub(crate) fn conversation_event(
    conversation_id: &str,
    agents: &[String],
    with_player: bool,
    kind: conversation_event_payload::ConversationEventType,
) -> InworldPacket {
    let mut participants: Vec<Actor> = agents.iter().map(|a| agent(a)).collect();
    if with_player {
        participants.push(player());
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

/// A status carrying Inworld error details of `error_type`, not to be retried.
pub(crate) fn status(code: Code, message: impl Into<String>, error_type: ErrorType) -> Status {
    status_with_details(
        code,
        message,
        &ErrorDetails::new(error_type, ReconnectionType::NoRetry),
    )
}

/// NOT_FOUND with the resource's name in the details.
pub(crate) fn not_found(kind: &str, name: &str) -> Status {
    let mut details = ErrorDetails::new(ErrorType::ResourceNotFound, ReconnectionType::NoRetry);
    details.resource_id = Some(name.to_string());
    status_with_details(
        Code::NotFound,
        format!("{kind} {name:?} not found"),
        &details,
    )
}

pub(crate) fn session_expired(id: &str) -> Status {
    status(
        Code::FailedPrecondition,
        format!("session {id} expired after inactivity"),
        ErrorType::SessionExpired,
    )
}

/// Client text quoted in a warning: cut to `MAX_ID_BYTES`, so a warning
/// never grows with what the client sent.
pub(crate) fn quoted(text: &str) -> String {
    let shown = super::limits::truncated(text, super::limits::MAX_ID_BYTES);
    if shown.len() < text.len() {
        format!("{shown:?}...")
    } else {
        format!("{shown:?}")
    }
}
