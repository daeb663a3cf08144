//! The WorldEngine service: GenerateToken and the OpenSession stream.
//!
//! Each OpenSession runs two tasks: a reader that handles client packets in
//! order (configuration, scene and conversation changes answer at once), and
//! a reply worker that streams character replies one after another. Both write
//! to one bounded channel of outbound packets, so a reply in flight never
//! blocks reading, and a cancel or an interruption takes effect mid-reply.

use super::inbound;
use super::replies::{self, Input, ReplyJob, Streamed};
use super::sessions::{Session, SessionError, Sessions};
use super::shared::Shared;
use super::wire;
use crate::protocol::ai::inworld::engine::world_engine_server::WorldEngine;
use crate::protocol::ai::inworld::engine::{
    AccessToken, GenerateTokenRequest, ListBaseVoicesRequest, ListBaseVoicesResponce,
    LoadSceneRequest, LoadSceneResponse, LogErrorRequest, VoicePreviewRequest,
    VoicePreviewResponse,
};
use crate::protocol::ai::inworld::packets::InworldPacket;
use crate::protocol::status::{status_with_details, ErrorDetails, ErrorType, ReconnectionType};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};

/// The request's `:authority`, put in the request extensions by the server.
#[derive(Debug, Clone)]
pub struct Authority(pub String);

/// Outbound packets buffered per stream.
const OUTBOUND_CAPACITY: usize = 64;
/// Player inputs waiting for their reply, per stream; beyond it inputs are refused.
pub(crate) const MAX_PENDING_REPLIES: usize = 256;
/// Bounds of the per-stream cancel and ping books.
const MAX_TRACKED: usize = 1024;

pub struct WorldEngineService {
    pub(crate) shared: Arc<Shared>,
}

type Outbound = mpsc::Sender<Result<InworldPacket, Status>>;

#[derive(Default)]
struct Cancels {
    interactions: HashSet<String>,
    utterances: HashSet<String>,
    /// Jobs with a smaller sequence number were interrupted.
    below: u64,
}

/// One open stream, shared by its reader and its reply worker.
pub struct StreamCtx {
    pub(crate) shared: Arc<Shared>,
    pub session: Arc<Session>,
    out: Outbound,
    cancels: Mutex<Cancels>,
    pings: Mutex<HashMap<String, Instant>>,
    ended: watch::Sender<bool>,
}

impl StreamCtx {
    /// Sends a packet; false when the client is gone.
    pub async fn send(&self, packet: InworldPacket) -> bool {
        self.out.send(Ok(packet)).await.is_ok()
    }

    /// Ends the stream with `status`.
    pub async fn fail(&self, status: Status) {
        log::info!(
            "session {}: ending stream with {:?}: {}",
            self.session.id,
            status.code(),
            status.message()
        );
        let _ = self.out.send(Err(status)).await;
        self.ended.send_replace(true);
    }

    pub fn is_cancelled(&self, seq: u64, interaction: &str, utterance: &str) -> bool {
        let c = self.cancels.lock();
        seq < c.below
            || (!interaction.is_empty() && c.interactions.contains(interaction))
            || (!utterance.is_empty() && c.utterances.contains(utterance))
    }

    pub(crate) fn cancel(&self, interaction: &str, utterances: &[String]) {
        let mut c = self.cancels.lock();
        if c.interactions.len() > MAX_TRACKED {
            c.interactions.clear();
        }
        if c.utterances.len() > MAX_TRACKED {
            c.utterances.clear();
        }
        if !interaction.is_empty() {
            c.interactions.insert(interaction.to_string());
        }
        c.utterances.extend(utterances.iter().cloned());
    }

    pub(crate) fn interrupt_before(&self, seq: u64) {
        self.cancels.lock().below = seq;
    }

    /// The round trip of an answered PING, if it was ours.
    pub(crate) fn pong(&self, ping_packet_id: &str) -> Option<std::time::Duration> {
        self.pings
            .lock()
            .remove(ping_packet_id)
            .map(|t| t.elapsed())
    }

    pub fn ping_sent(&self, packet_id: &str) {
        let mut pings = self.pings.lock();
        if pings.len() > MAX_TRACKED {
            pings.clear();
        }
        pings.insert(packet_id.to_string(), Instant::now());
    }
}

pub(crate) fn status(code: Code, message: impl Into<String>, error_type: ErrorType) -> Status {
    status_with_details(
        code,
        message,
        &ErrorDetails::new(error_type, ReconnectionType::NoRetry),
    )
}

fn session_expired(id: &str) -> Status {
    status(
        Code::FailedPrecondition,
        format!("session {id} expired after inactivity"),
        ErrorType::SessionExpired,
    )
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
        // A refreshed token keeps the old session id (PROTOCOL 2.5): any valid
        // token of the same workspace may open it.
        let session = match self.shared.sessions.open(&session_id, &token.workspace) {
            Ok(s) => s,
            Err(SessionError::Expired) => return Err(session_expired(&session_id)),
            Err(SessionError::OtherWorkspace) => {
                return Err(status(
                    Code::PermissionDenied,
                    format!("session {session_id} belongs to another workspace than the token"),
                    ErrorType::SessionInvalid,
                ))
            }
        };
        log::debug!("session {session_id}: stream opened");
        let (out, rx) = mpsc::channel(OUTBOUND_CAPACITY);
        let (ended, _) = watch::channel(false);
        let ctx = Arc::new(StreamCtx {
            shared: self.shared.clone(),
            session,
            out,
            cancels: Mutex::new(Cancels::default()),
            pings: Mutex::new(HashMap::new()),
            ended,
        });
        tokio::spawn(run_stream(ctx, request.into_inner()));
        Ok(Response::new(ReceiverStream::new(rx)))
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
        log::warn!("client reported: {}", request.into_inner().message);
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
                log::info!("GenerateToken refused: {e}");
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
        let workspace = resource
            .strip_prefix("workspaces/")
            .filter(|w| !w.is_empty() && !w.contains('/'))
            .ok_or_else(|| {
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
        let session_id = Sessions::new_session_id(workspace);
        self.shared
            .sessions
            .open(&session_id, workspace)
            .map_err(|_| Status::internal("could not create the session"))?;
        let (token, expires) = self.shared.tokens.issue(workspace, &session_id);
        log::debug!("issued a token for session {session_id}");
        Ok(Response::new(AccessToken {
            token,
            r#type: "Bearer".to_string(),
            expiration_time: Some(crate::protocol::status::timestamp_from(expires)),
            session_id,
        }))
    }
}

/// Resolves once the flag is true (or its sender is gone).
async fn raised(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|v| *v).await;
}

/// Reads the client's packets until the stream ends.
async fn run_stream(ctx: Arc<StreamCtx>, mut inbound: Streaming<InworldPacket>) {
    let (jobs, jobs_rx) = mpsc::channel(MAX_PENDING_REPLIES);
    let worker = tokio::spawn(reply_worker(ctx.clone(), jobs_rx));
    let mut stopping = ctx.shared.stopping.clone();
    let mut expired = ctx.session.expired();
    let mut ended = ctx.ended.subscribe();
    let mut seq = 0u64;
    let mut half_closed = false;
    loop {
        tokio::select! {
            biased;
            _ = raised(&mut stopping) => {
                let _ = ctx.out.send(Err(Status::unavailable("the engine is stopping"))).await;
                break;
            }
            _ = raised(&mut expired) => {
                ctx.fail(session_expired(&ctx.session.id)).await;
                break;
            }
            _ = raised(&mut ended) => break,
            _ = ctx.out.closed() => break,
            message = inbound.message() => match message {
                Ok(Some(packet)) => {
                    ctx.session.touch();
                    ctx.shared.record(&ctx.session.id, &packet);
                    seq += 1;
                    if let Err(status) = inbound::handle(&ctx, packet, &jobs, seq).await {
                        ctx.fail(status).await;
                        break;
                    }
                }
                Ok(None) => {
                    half_closed = true;
                    break;
                }
                Err(status) => {
                    log::info!("session {}: bad client message: {}", ctx.session.id, status.message());
                    let code = if status.message().contains("message length too large")
                        || status.message().contains("too large")
                    {
                        Code::ResourceExhausted
                    } else {
                        status.code()
                    };
                    let _ = ctx.out.send(Err(Status::new(code, status.message().to_string()))).await;
                    break;
                }
            }
        }
    }
    drop(jobs);
    if half_closed {
        // The client finished sending: let pending replies finish, then end.
        let _ = worker.await;
    } else {
        worker.abort();
    }
    log::debug!("session {}: stream closed", ctx.session.id);
}

async fn reply_worker(ctx: Arc<StreamCtx>, mut jobs: mpsc::Receiver<ReplyJob>) {
    while let Some(job) = jobs.recv().await {
        let planned = {
            let mut state = ctx.session.state.lock();
            replies::plan(&ctx.shared.workspace, &mut state, &job)
        };
        match planned {
            Err(warning) => {
                if !ctx.send(wire::warning(&job.ids, &warning)).await {
                    return;
                }
            }
            Ok(plan) => {
                let stt = match &job.input {
                    Input::Speech(t) => Some(t.as_str()),
                    _ => None,
                };
                match replies::stream(&ctx, &job, plan, stt).await {
                    Streamed::Done => {}
                    Streamed::Failed | Streamed::Closed => return,
                }
            }
        }
    }
}
