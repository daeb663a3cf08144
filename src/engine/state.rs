//! GetSessionState and continuations.
//!
//! GetSessionState names a session `workspaces/<ws>/sessions/<session id>`
//! and needs only a session token of that workspace. The state bytes are our
//! own protobuf message [`SavedState`]: the dialog history, entity items and
//! the scene. A later session passes them back in its session configuration
//! as a Continuation of type EXTERNALLY_SAVED_STATE (1), and the characters
//! remember; a DIALOG_HISTORY (2) continuation is honoured the same way.

use super::items::{self, ItemsRefused};
use super::limits::{truncated, MAX_ID_BYTES};
use super::sessions::{SessionMemory, Speaker};
use super::shared::EngineShared;
use crate::protocol::ai::inworld::engine::v1::state_serialization_server::StateSerialization;
use crate::protocol::ai::inworld::engine::v1::{
    session_state, GetSessionStateRequest, SessionState,
};
use crate::protocol::ai::inworld::packets::entities::EntityItem;
use crate::protocol::ai::inworld::packets::{actor, continuation, Continuation};
use crate::protocol::names::parse_session_name;
use prost::Message;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Marks our state bytes, so foreign bytes are refused clearly.
pub const STATE_MAGIC: &str = "inworld-native-engine-state/1";

/// One line of the dialog history.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedLine {
    /// True for the player, false for a character.
    #[prost(bool, tag = "1")]
    pub player: bool,
    /// The character id when `player` is false.
    #[prost(string, tag = "2")]
    pub character: String,
    #[prost(string, tag = "3")]
    pub text: String,
}

/// An entity and the items it holds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedEntity {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, repeated, tag = "2")]
    pub item_ids: Vec<String>,
}

/// The bytes of GetSessionState: what a later session continues from.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedState {
    #[prost(string, tag = "1")]
    pub magic: String,
    #[prost(string, tag = "2")]
    pub workspace: String,
    #[prost(string, tag = "3")]
    pub scene: String,
    #[prost(message, repeated, tag = "4")]
    pub history: Vec<SavedLine>,
    #[prost(message, repeated, tag = "5")]
    pub items: Vec<EntityItem>,
    #[prost(message, repeated, tag = "6")]
    pub entities: Vec<SavedEntity>,
}

impl SavedState {
    pub(crate) fn of(workspace: &str, state: &SessionMemory) -> Self {
        SavedState {
            magic: STATE_MAGIC.to_string(),
            workspace: workspace.to_string(),
            scene: state
                .scene
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            history: state
                .history
                .iter()
                .map(|l| match &l.speaker {
                    Speaker::Player => SavedLine {
                        player: true,
                        character: String::new(),
                        text: l.text.clone(),
                    },
                    Speaker::Character(c) => SavedLine {
                        player: false,
                        character: c.clone(),
                        text: l.text.clone(),
                    },
                })
                .collect(),
            items: state.items.values().cloned().collect(),
            entities: state
                .entities
                .iter()
                .map(|(name, ids)| SavedEntity {
                    name: name.clone(),
                    item_ids: ids.iter().cloned().collect(),
                })
                .collect(),
        }
    }
}

/// A character as a continuation names it, cut to the length of an id (the
/// bytes come from the client).
fn character_id(name: &str) -> String {
    truncated(name, MAX_ID_BYTES).to_string()
}

/// Applies a continuation to a session. Errors are for a warning packet.
pub(crate) fn apply_continuation(
    workspace: &str,
    state: &mut SessionMemory,
    c: &Continuation,
) -> Result<(), String> {
    match continuation::ContinuationType::try_from(c.continuation_type) {
        Ok(continuation::ContinuationType::ExternallySavedState) => {
            let saved = SavedState::decode(c.externally_saved_state.as_slice())
                .ok()
                .filter(|s| s.magic == STATE_MAGIC)
                .ok_or("externally_saved_state is not a state this engine produced")?;
            if saved.workspace != workspace {
                return Err("externally_saved_state belongs to another workspace".into());
            }
            state.history.clear();
            for l in saved.history {
                let speaker = if l.player {
                    Speaker::Player
                } else {
                    Speaker::Character(character_id(&l.character))
                };
                state.remember(speaker, &l.text);
            }
            state.continued = !state.history.is_empty();
            state.items.clear();
            state.entities.clear();
            // The bytes came from the client: the session's limits hold for them too.
            let mut refused = ItemsRefused::default();
            items::create_or_update(state, saved.items, &[], &mut refused);
            for e in saved.entities {
                items::add_to_entity(state, &e.name, e.item_ids, &mut refused);
            }
            match refused.warning() {
                None => Ok(()),
                Some(w) => Err(format!("part of externally_saved_state: {w}")),
            }
        }
        Ok(continuation::ContinuationType::DialogHistory) => {
            let history = c
                .dialog_history
                .as_ref()
                .ok_or("dialog_history is missing")?;
            state.history.clear();
            for item in &history.history {
                let actor = item.actor.as_ref();
                let speaker = match actor.map(|a| a.r#type) {
                    Some(t) if t == actor::Type::Player as i32 => Speaker::Player,
                    _ => Speaker::Character(character_id(actor.map_or("", |a| &a.name))),
                };
                state.remember(speaker, &item.text);
            }
            state.continued = !state.history.is_empty();
            Ok(())
        }
        _ => Err(format!(
            "unsupported continuation type {}",
            c.continuation_type
        )),
    }
}

pub(crate) struct StateService {
    pub shared: Arc<EngineShared>,
}

#[tonic::async_trait]
impl StateSerialization for StateService {
    async fn get_session_state(
        &self,
        request: Request<GetSessionStateRequest>,
    ) -> Result<Response<SessionState>, Status> {
        let token = self.shared.authorize(request.metadata())?;
        let name = request.into_inner().name;
        let (ws, sid) = parse_session_name(&name).ok_or_else(|| {
            Status::invalid_argument(format!(
                "name {name:?} must be workspaces/<ws>/sessions/<session id>"
            ))
        })?;
        if ws != token.workspace {
            return Err(Status::permission_denied(
                "the session token belongs to another workspace",
            ));
        }
        let session = self.shared.sessions.get(sid).ok_or_else(|| {
            if self.shared.sessions.was_expired(sid) {
                Status::not_found(format!("session {sid:?} expired"))
            } else {
                Status::not_found(format!("session {sid:?} not found"))
            }
        })?;
        let (bytes, interaction) = {
            let state = session.memory.lock();
            (
                SavedState::of(&session.workspace, &state).encode_to_vec(),
                state.last_interaction_id.clone(),
            )
        };
        Ok(Response::new(SessionState {
            state: bytes,
            creation_time: Some(crate::protocol::packets::now()),
            version: (!interaction.is_empty()).then_some(session_state::Version {
                interaction_id: interaction,
            }),
        }))
    }
}
