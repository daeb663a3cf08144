//! What every service of one running engine shares.

use super::brain::model::Model;
use super::busy::Busy;
use super::config::{Brain, EngineConfig, Faults, Pacing};
use super::log_limit::ClientLogLimit;
use super::recognizer::Recognizer;
use super::scene::Workspace;
use super::sessions::Sessions;
use super::synthesizer::Synthesizer;
use super::tokens::{IssuedToken, TokenError, Tokens};
use crate::protocol::ai::inworld::engine::v1::InteractionFeedback;
use crate::protocol::ai::inworld::packets::InworldPacket;
use crate::protocol::status::{status_with_details, ErrorDetails, ErrorType, ReconnectionType};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) struct EngineShared {
    pub workspace: Arc<Workspace>,
    pub pacing: Pacing,
    pub faults: Faults,
    /// The busy-engine fault (`RunningEngine::busy_with`).
    pub busy: Busy,
    pub audio_session_idle_timeout: std::time::Duration,
    pub tokens: Tokens,
    pub sessions: Sessions,
    pub feedback: FeedbackStore,
    /// Client packets per session id, when recording is on.
    pub recorded: Option<Mutex<Vec<(String, InworldPacket)>>>,
    /// The language model that answers where no rule does (`Brain::Llm`).
    pub model: Option<Model>,
    /// Bounds the log lines clients can cause.
    pub client_log: ClientLogLimit,
    /// What speaks the characters' lines.
    pub synthesizer: Synthesizer,
    /// What hears the player's speech.
    pub recognizer: Recognizer,
}

impl EngineShared {
    /// The error when a speech part the configuration names cannot start.
    pub fn new(config: &EngineConfig) -> Result<Self, String> {
        Ok(Self {
            workspace: Arc::new(config.workspace.clone()),
            pacing: config.pacing,
            faults: config.faults.clone(),
            busy: Busy::default(),
            audio_session_idle_timeout: config.audio_session_idle_timeout,
            tokens: Tokens::new(config.credentials.clone(), config.token_ttl)
                .with_limit(config.max_tokens),
            sessions: Sessions::new(config.session_idle_timeout).with_limits(
                config.max_sessions,
                match &config.brain {
                    Brain::Llm(llm) => llm.max_calls_per_session,
                    Brain::Scripted => 1,
                },
            ),
            feedback: FeedbackStore::default(),
            recorded: config.record.then(|| Mutex::new(Vec::new())),
            client_log: ClientLogLimit::new(config.client_log_lines_per_sec),
            model: match &config.brain {
                Brain::Scripted => None,
                Brain::Llm(llm) => Some(Model::new(llm.clone())),
            },
            synthesizer: Synthesizer::start(config.synthesizer)?,
            recognizer: Recognizer::start(&config.recognizer, &config.workspace.speech)?,
        })
    }

    pub fn record(&self, session_id: &str, packet: &InworldPacket) {
        if let Some(r) = &self.recorded {
            r.lock().push((session_id.to_string(), packet.clone()));
        }
    }

    /// Checks the `authorization: Bearer <token>` metadata of a request.
    pub fn authorize(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<IssuedToken, tonic::Status> {
        let header = match metadata.get("authorization").map(|v| v.to_str()) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(_)) => {
                return Err(tonic::Status::unauthenticated(
                    TokenError::Malformed.message(),
                ))
            }
        };
        self.tokens.check_bearer(header).map_err(|e| {
            let kind = if e == TokenError::Expired {
                ErrorType::SessionTokenExpired
            } else {
                ErrorType::SessionTokenInvalid
            };
            status_with_details(
                tonic::Code::Unauthenticated,
                e.message(),
                &ErrorDetails::new(kind, ReconnectionType::NoRetry),
            )
        })
    }
}

/// Feedbacks created through the Feedback service, by name.
#[derive(Default)]
pub(crate) struct FeedbackStore {
    by_name: Mutex<HashMap<String, InteractionFeedback>>,
}

impl FeedbackStore {
    /// Stores a feedback; false when the store is full.
    pub fn insert(&self, feedback: InteractionFeedback, capacity: usize) -> bool {
        let mut by_name = self.by_name.lock();
        if by_name.len() >= capacity {
            return false;
        }
        by_name.insert(feedback.name.clone(), feedback);
        true
    }

    /// Removes a feedback; false when there was none of that name.
    pub fn remove(&self, name: &str) -> bool {
        self.by_name.lock().remove(name).is_some()
    }
}
