//! What a game asks of a session besides talking: a scene change, entity
//! items, feedback on a reply, the saved state. The types a game fills in,
//! and the calls the session's task makes to the service for them.

use super::config::{Capabilities, Continuation, SessionToken};
use crate::packet::{CallKind, CallResult};
use crate::protocol::ai::inworld::engine::v1 as engine_api;
use crate::protocol::names::{session_name, FeedbackParent};
use std::time::Duration;
use tonic::transport::Channel;

/// A scene change (see `Session::change_scene`): what goes with it, as the
/// Node SDK sends it. Unset parts are not sent, except the capabilities,
/// which are always sent (the session's present ones when not given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SceneChange {
    pub capabilities: Option<Capabilities>,
    pub game_session_id: Option<String>,
    pub continuation: Option<Continuation>,
}

/// An entity item of the world (the SDK's items operations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityItem {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub properties: Vec<(String, String)>,
}

/// How `Session::items_in_entities` changes the entities' items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemsInEntities {
    Add,
    Remove,
    Replace,
}

/// Why a player disliked a reply (the service's dislike types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum DislikeType {
    Irrelevant = 1,
    Unsafe = 2,
    Untrue = 3,
    IncorrectUseOfKnowledge = 4,
    UnexpectedAction = 5,
    UnexpectedGoalBehavior = 6,
    Repetition = 7,
    OutOfCharacter = 8,
    TooLong = 9,
}

impl DislikeType {
    fn wire(self) -> engine_api::InteractionDislikeType {
        use engine_api::InteractionDislikeType as W;
        match self {
            DislikeType::Irrelevant => W::Irrelevant,
            DislikeType::Unsafe => W::Unsafe,
            DislikeType::Untrue => W::Untrue,
            DislikeType::IncorrectUseOfKnowledge => W::IncorrectUseKnowledge,
            DislikeType::UnexpectedAction => W::UnexpectedAction,
            DislikeType::UnexpectedGoalBehavior => W::UnexpectedGoalBehavior,
            DislikeType::Repetition => W::Repetition,
            DislikeType::OutOfCharacter => W::OutOfCharacter,
            DislikeType::TooLong => W::TooLong,
        }
    }

    /// The type of a wire value (for the C API's numbers).
    pub fn from_u32(value: u32) -> Option<DislikeType> {
        use DislikeType::*;
        [
            Irrelevant,
            Unsafe,
            Untrue,
            IncorrectUseOfKnowledge,
            UnexpectedAction,
            UnexpectedGoalBehavior,
            Repetition,
            OutOfCharacter,
            TooLong,
        ]
        .into_iter()
        .find(|t| *t as u32 == value)
    }
}

/// A call the session's task makes to the service for the game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    Feedback {
        like: bool,
        interaction_id: String,
        correlation_id: Option<String>,
        types: Vec<DislikeType>,
        comment: String,
    },
    UndoFeedback {
        name: String,
    },
    SessionState,
}

impl Call {
    pub(crate) fn kind(&self) -> CallKind {
        match self {
            Call::Feedback { like: true, .. } => CallKind::Like,
            Call::Feedback { like: false, .. } => CallKind::Dislike,
            Call::UndoFeedback { .. } => CallKind::UndoFeedback,
            Call::SessionState => CallKind::SessionState,
        }
    }
}

/// A call unanswered this long is reported as failed (DEADLINE_EXCEEDED).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What a call needs of the session: its connection, token and names.
#[derive(Clone)]
pub(crate) struct CallContext {
    pub channel: Channel,
    pub max_receive_message_bytes: usize,
    pub token: SessionToken,
    pub workspace: String,
}

/// A failed call's result.
pub(crate) fn failed(request_id: u64, kind: CallKind, status: &tonic::Status) -> CallResult {
    CallResult {
        request_id,
        call: kind,
        grpc_code: status.code() as i32,
        message: status.message().into(),
        name: Default::default(),
        data: Vec::new(),
        version: Default::default(),
    }
}

fn authorized<T>(message: T, cx: &CallContext, with_session: bool) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let md = request.metadata_mut();
    if let Ok(v) = format!("{} {}", cx.token.token_type, cx.token.token).parse() {
        md.insert("authorization", v);
    }
    // Feedback calls name the session in their metadata; GetSessionState
    // does not (as the SDK sends them).
    if with_session {
        if let Ok(v) = cx.token.session_id.parse() {
            md.insert("session-id", v);
        }
    }
    request
}

/// Makes `call` on `runtime` and hands its result (an answer, an error,
/// or a timeout: never nothing) to `deliver`.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    request_id: u64,
    call: Call,
    cx: CallContext,
    deliver: impl FnOnce(CallResult) + Send + 'static,
) {
    let kind = call.kind();
    runtime.spawn(async move {
        let result = match tokio::time::timeout(CALL_TIMEOUT, run(request_id, call, cx)).await {
            Ok(result) => result,
            Err(_) => failed(
                request_id,
                kind,
                &tonic::Status::deadline_exceeded(format!(
                    "the service did not answer within {CALL_TIMEOUT:?}"
                )),
            ),
        };
        deliver(result);
    });
}

/// What calls made after the session closed use: its last token and
/// connection (the service keeps a session's state after its streams).
#[derive(Clone)]
pub(crate) struct AfterClose {
    pub runtime: tokio::runtime::Handle,
    pub context: CallContext,
}

/// Makes `call` and turns the answer into a result packet's body.
async fn run(request_id: u64, call: Call, cx: CallContext) -> CallResult {
    let kind = call.kind();
    let mut ok = CallResult {
        request_id,
        call: kind,
        grpc_code: 0,
        message: Default::default(),
        name: Default::default(),
        data: Vec::new(),
        version: Default::default(),
    };
    let outcome: Result<(), tonic::Status> = async {
        match call {
            Call::Feedback {
                like,
                interaction_id,
                correlation_id,
                types,
                comment,
            } => {
                let parent = FeedbackParent {
                    workspace: &cx.workspace,
                    session_id: &cx.token.session_id,
                    interaction_id: &interaction_id,
                    group: correlation_id.as_deref().unwrap_or("default"),
                }
                .to_name();
                let request = engine_api::CreateInteractionFeedbackRequest {
                    parent,
                    interaction_feedback: Some(engine_api::InteractionFeedback {
                        is_like: like,
                        r#type: types.iter().map(|t| t.wire() as i32).collect(),
                        comment,
                        name: String::new(),
                    }),
                };
                let answer = engine_api::feedback_client::FeedbackClient::new(cx.channel.clone())
                    .max_decoding_message_size(cx.max_receive_message_bytes)
                    .create_interaction_feedback(authorized(request, &cx, true))
                    .await?
                    .into_inner();
                ok.name = answer.name.into();
            }
            Call::UndoFeedback { name } => {
                engine_api::feedback_client::FeedbackClient::new(cx.channel.clone())
                    .delete_interaction_feedback(authorized(
                        engine_api::DeleteInteractionFeedbackRequest { name },
                        &cx,
                        true,
                    ))
                    .await?;
            }
            Call::SessionState => {
                let request = engine_api::GetSessionStateRequest {
                    name: session_name(&cx.workspace, &cx.token.session_id),
                };
                let state = engine_api::state_serialization_client::StateSerializationClient::new(
                    cx.channel.clone(),
                )
                .max_decoding_message_size(cx.max_receive_message_bytes)
                .get_session_state(authorized(request, &cx, false))
                .await?
                .into_inner();
                ok.data = state.state;
                ok.version = state
                    .version
                    .map(|v| v.interaction_id)
                    .unwrap_or_default()
                    .into();
            }
        }
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => ok,
        Err(status) => failed(request_id, kind, &status),
    }
}
