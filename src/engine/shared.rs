//! What every service of one running engine shares.

use super::config::{EngineConfig, Pacing};
use super::feedback::FeedbackStore;
use super::scene::Workspace;
use super::sessions::Sessions;
use super::tokens::Tokens;
use crate::protocol::ai::inworld::packets::InworldPacket;
use parking_lot::Mutex;
use std::sync::Arc;
use tokio::sync::watch;

pub(crate) struct Shared {
    pub workspace: Arc<Workspace>,
    pub pacing: Pacing,
    pub tokens: Tokens,
    pub sessions: Sessions,
    pub feedback: FeedbackStore,
    /// Client packets per session id, when recording is on.
    pub recorded: Option<Mutex<Vec<(String, InworldPacket)>>>,
    /// Flips to true when the engine stops; every stream ends.
    pub stopping: watch::Receiver<bool>,
}

impl Shared {
    pub fn new(config: &EngineConfig, stopping: watch::Receiver<bool>) -> Self {
        Self {
            workspace: Arc::new(config.workspace.clone()),
            pacing: config.pacing,
            tokens: Tokens::new(config.credentials.clone(), config.token_ttl),
            sessions: Sessions::new(config.session_idle_timeout),
            feedback: FeedbackStore::default(),
            recorded: config.record.then(|| Mutex::new(Vec::new())),
            stopping,
        }
    }

    pub fn record(&self, session_id: &str, packet: &InworldPacket) {
        if let Some(r) = &self.recorded {
            r.lock().push((session_id.to_string(), packet.clone()));
        }
    }
}

impl Shared {
    /// Checks the `authorization: Bearer <token>` metadata of a request.
    pub fn authorize(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<super::tokens::TokenInfo, tonic::Status> {
        use super::tokens::TokenError;
        use crate::protocol::status::{
            status_with_details, ErrorDetails, ErrorType, ReconnectionType,
        };
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
