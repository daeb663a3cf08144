//! The WorldEngine service: GenerateToken, OpenSession (its streams are
//! served by [`super::stream`]) and the legacy RPCs it refuses.

use super::connections::ConnectionInfo;
use super::limits::MAX_ID_BYTES;
use super::outbound::{quoted, session_expired, status};
use super::sessions::{new_session_id, OpenRefused};
use super::shared::EngineShared;
use super::stream;
use crate::protocol::ai::inworld::engine::world_engine_server::WorldEngine;
use crate::protocol::ai::inworld::engine::{
    AccessToken, GenerateTokenRequest, ListBaseVoicesRequest, ListBaseVoicesResponce,
    LoadSceneRequest, LoadSceneResponse, LogErrorRequest, VoicePreviewRequest,
    VoicePreviewResponse,
};
use crate::protocol::ai::inworld::packets::InworldPacket;
use crate::protocol::names::parse_workspace_name;
use crate::protocol::status::{status_with_details, ErrorDetails, ErrorType, ReconnectionType};
use std::sync::Arc;
use tokio::sync::watch;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};

/// The engine holds as many of `what` as it may: the client may try again
/// later (a session or token frees up when it expires).
fn exhausted(max: usize, what: &str) -> Status {
    let mut details = ErrorDetails::new(
        ErrorType::SessionResourcesExhausted,
        ReconnectionType::Timeout,
    );
    details.reconnect_time = Some(std::time::SystemTime::now() + std::time::Duration::from_secs(5));
    status_with_details(
        Code::ResourceExhausted,
        format!("the engine holds {max} {what}, as many as it is configured for: try again later"),
        &details,
    )
}

/// The request's `:authority`, put in the request extensions by the server.
#[derive(Debug, Clone)]
pub(crate) struct Authority(pub String);

pub(crate) struct WorldEngineService {
    pub shared: Arc<EngineShared>,
    /// Flips to true when the engine stops serving: open streams end.
    pub stopping: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl WorldEngine for WorldEngineService {
    type SessionStream = ReceiverStream<Result<InworldPacket, Status>>;
    type OpenSessionStream = ReceiverStream<Result<InworldPacket, Status>>;

    async fn session(
        &self,
        _request: Request<Streaming<InworldPacket>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        Err(Status::unimplemented(
            "the legacy Session RPC is not served: use OpenSession",
        ))
    }

    async fn open_session(
        &self,
        request: Request<Streaming<InworldPacket>>,
    ) -> Result<Response<Self::OpenSessionStream>, Status> {
        let token = self.shared.authorize(request.metadata())?;
        let session_id = request
            .metadata()
            .get("session-id")
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Status::invalid_argument("missing session-id metadata"))?
            .to_string();
        if session_id.len() > MAX_ID_BYTES {
            return Err(Status::invalid_argument(format!(
                "session-id may have at most {MAX_ID_BYTES} bytes"
            )));
        }
        // A client that refreshes its token keeps its session id: any valid
        // token of the same workspace may open it.
        let session = match self.shared.sessions.open(&session_id, &token.workspace) {
            Ok(s) => s,
            Err(OpenRefused::Expired) => return Err(session_expired(&session_id)),
            Err(OpenRefused::OtherWorkspace) => {
                return Err(status(
                    Code::PermissionDenied,
                    format!("session {session_id} belongs to another workspace than the token"),
                    ErrorType::SessionInvalid,
                ))
            }
            Err(OpenRefused::Full(max)) => return Err(exhausted(max, "live sessions")),
        };
        log::debug!("session {session_id}: stream opened");
        let open = request
            .extensions()
            .get::<ConnectionInfo>()
            .map(ConnectionInfo::stream_started);
        let mut inbound = request.into_inner();
        let mut first = None;
        if self.shared.faults.open_session_headers_after_first_packet {
            // Fault injection: the response headers wait for the client's first packet.
            let mut stopping = self.stopping.clone();
            tokio::select! {
                _ = stopping.wait_for(|s| *s) => return Err(Status::unavailable("the engine is stopping")),
                message = inbound.message() => match message {
                    Ok(Some(packet)) => first = Some(packet),
                    Ok(None) => return Err(Status::cancelled("the client ended the stream before its first packet")),
                    Err(status) => return Err(status),
                },
            }
        }
        Ok(Response::new(stream::serve(
            self.shared.clone(),
            session,
            self.stopping.clone(),
            open,
            inbound,
            first,
        )))
    }

    async fn load_scene(
        &self,
        _request: Request<LoadSceneRequest>,
    ) -> Result<Response<LoadSceneResponse>, Status> {
        Err(Status::unimplemented(
            "the legacy LoadScene RPC is not served: send a LoadScene mutation on OpenSession",
        ))
    }

    async fn log_error(&self, request: Request<LogErrorRequest>) -> Result<Response<()>, Status> {
        let message = request.into_inner().message;
        if self.shared.client_log.allow() {
            log::warn!("client reported: {}", quoted(&message));
        }
        Ok(Response::new(()))
    }

    async fn voice_preview(
        &self,
        _request: Request<VoicePreviewRequest>,
    ) -> Result<Response<VoicePreviewResponse>, Status> {
        Err(Status::unimplemented("VoicePreview is not served"))
    }

    async fn list_base_voices(
        &self,
        _request: Request<ListBaseVoicesRequest>,
    ) -> Result<Response<ListBaseVoicesResponce>, Status> {
        Err(Status::unimplemented("ListBaseVoices is not served"))
    }

    async fn generate_token(
        &self,
        request: Request<GenerateTokenRequest>,
    ) -> Result<Response<AccessToken>, Status> {
        let host = request
            .extensions()
            .get::<Authority>()
            .map(|a| a.0.clone())
            .or_else(|| {
                request
                    .metadata()
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Status::unauthenticated("missing IW1-HMAC-SHA256 authorization metadata")
            })?
            .to_string();
        let key = self
            .shared
            .tokens
            .verify_signed(&header, &host)
            .map_err(|e| {
                if self.shared.client_log.allow() {
                    log::info!("GenerateToken refused: {e}");
                }
                Status::unauthenticated(e.to_string())
            })?;
        let req = request.into_inner();
        if req.key != key {
            return Err(Status::unauthenticated(
                "the request's key differs from the signed ApiKey",
            ));
        }
        let [resource] = req.resources.as_slice() else {
            return Err(Status::invalid_argument(
                "resources must hold exactly one `workspaces/<workspace>`",
            ));
        };
        let workspace = parse_workspace_name(resource).ok_or_else(|| {
            Status::invalid_argument(format!(
                "resource {resource:?} must be `workspaces/<workspace>`"
            ))
        })?;
        if workspace != self.shared.workspace.workspace {
            let mut details =
                ErrorDetails::new(ErrorType::ResourceNotFound, ReconnectionType::NoRetry);
            details.resource_id = Some(resource.clone());
            return Err(status_with_details(
                Code::NotFound,
                format!("workspace {workspace:?} is not served here"),
                &details,
            ));
        }
        let session_id = new_session_id(workspace);
        let (token, expires) = self
            .shared
            .tokens
            .issue(workspace)
            .map_err(|max| exhausted(max, "unexpired session tokens"))?;
        self.shared
            .sessions
            .open(&session_id, workspace)
            .map_err(|refused| match refused {
                OpenRefused::Full(max) => exhausted(max, "live sessions"),
                _ => Status::internal("could not create the session"),
            })?;
        log::debug!("issued a token for session {session_id}");
        Ok(Response::new(AccessToken {
            token,
            r#type: "Bearer".to_string(),
            expiration_time: Some(crate::protocol::status::timestamp_from(expires)),
            session_id,
        }))
    }
}
