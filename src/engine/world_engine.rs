//! The WorldEngine service: GenerateToken and the OpenSession stream.
//!
//! Each OpenSession runs two tasks: a reader that handles client packets in
//! order (configuration, scene and conversation changes answer at once), and
//! a reply worker that streams character replies one after another. Both write
//! to one bounded channel of outbound packets, so a reply in flight never
//! blocks reading, and a cancel or an interruption takes effect mid-reply.

use super::replies::{self, Input, ReplyJob, Streamed};
use super::sessions::{
    AudioCapture, Conversation, LoadedAgent, LoadedScene, Session, SessionError, MAX_AUDIO_BYTES,
    MAX_CONVERSATIONS,
};
use super::shared::Shared;
use super::state::apply_continuation;
use super::wire::{self, Ids};
use super::{sessions::Sessions, speech};
use crate::packet::status::{status_with_details, ErrorDetails, ErrorType, ReconnectType};
use crate::proto::ai::inworld::engine::world_engine_server::WorldEngine;
use crate::proto::ai::inworld::engine::{
    AccessToken, GenerateTokenRequest, ListBaseVoicesRequest, ListBaseVoicesResponce,
    LoadSceneRequest, LoadSceneResponse, LogErrorRequest, VoicePreviewRequest,
    VoicePreviewResponse,
};
use crate::proto::ai::inworld::packets::entities::{
    items_in_entities_operation, items_operation_event, ItemsOperationEvent,
};
use crate::proto::ai::inworld::packets::{
    actor, control_event, conversation_event_payload, custom_event, data_chunk, inworld_packet,
    latency_report_event, mutation_event, ping_pong_report, session_control_event, InworldPacket,
    SessionConfigurationPayload,
};
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

    fn cancel(&self, interaction: &str, utterances: &[String]) {
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

    fn interrupt_before(&self, seq: u64) {
        self.cancels.lock().below = seq;
    }

    pub fn ping_sent(&self, packet_id: &str) {
        let mut pings = self.pings.lock();
        if pings.len() > MAX_TRACKED {
            pings.clear();
        }
        pings.insert(packet_id.to_string(), Instant::now());
    }
}

fn status(code: Code, message: impl Into<String>, error_type: ErrorType) -> Status {
    status_with_details(
        code,
        message,
        &ErrorDetails::new(error_type, ReconnectType::NoRetry),
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
                ErrorDetails::new(ErrorType::ResourceNotFound, ReconnectType::NoRetry);
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
            expiration_time: Some(crate::packet::status::timestamp_from(expires)),
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
    let (jobs, jobs_rx) = mpsc::unbounded_channel();
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
                    if let Err(status) = handle(&ctx, packet, &jobs, seq).await {
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

async fn reply_worker(ctx: Arc<StreamCtx>, mut jobs: mpsc::UnboundedReceiver<ReplyJob>) {
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

fn ids_of(packet: &InworldPacket) -> Ids {
    let p = packet.packet_id.clone().unwrap_or_default();
    Ids {
        utterance_id: String::new(),
        interaction_id: p.interaction_id,
        correlation_id: p.correlation_id,
        conversation_id: p.conversation_id,
    }
}

fn target_agent(packet: &InworldPacket) -> Option<String> {
    let r = packet.routing.as_ref()?;
    r.target
        .iter()
        .chain(r.targets.iter())
        .find(|a| a.r#type == actor::Type::Agent as i32 && !a.name.is_empty())
        .map(|a| a.name.clone())
}

/// Handles one client packet. `Err` ends the stream with that status.
async fn handle(
    ctx: &Arc<StreamCtx>,
    packet: InworldPacket,
    jobs: &mpsc::UnboundedSender<ReplyJob>,
    seq: u64,
) -> Result<(), Status> {
    let mut ids = ids_of(&packet);
    let target = target_agent(&packet);
    let mut reply = |input: Input, ids: Ids| {
        if ctx.session.state.lock().capabilities.interruptions {
            // Barge-in: a new player input cuts off older replies.
            ctx.interrupt_before(seq);
        }
        let _ = jobs.send(ReplyJob {
            seq,
            input,
            ids,
            target_agent: target.clone(),
        });
    };
    let warn = |ids: &Ids, message: String| {
        let ctx = ctx.clone();
        let ids = ids.clone();
        async move {
            ctx.send(wire::warning(&ids, &message)).await;
        }
    };
    use inworld_packet::Packet;
    let Some(body) = packet.packet else {
        warn(&ids, "packet without content".into()).await;
        return Ok(());
    };
    match body {
        Packet::Text(text) => {
            if text.text.trim().is_empty() {
                warn(&ids, "empty text".into()).await;
            } else {
                reply(Input::Text(text.text), ids);
            }
        }
        Packet::Custom(custom) => {
            if custom.r#type == custom_event::Type::Task as i32 {
                warn(
                    &ids,
                    format!("a player cannot send the task {:?}", custom.name),
                )
                .await;
            } else if custom.name.is_empty() {
                warn(&ids, "trigger without a name".into()).await;
            } else {
                let params = custom
                    .parameters
                    .into_iter()
                    .map(|p| (p.name, p.value))
                    .collect();
                reply(
                    Input::Trigger {
                        name: custom.name,
                        params,
                    },
                    ids,
                );
            }
        }
        Packet::Action(action) => {
            match action.action {
                Some(crate::proto::ai::inworld::packets::action_event::Action::NarratedAction(
                    n,
                )) if !n.content.trim().is_empty() => reply(Input::Action(n.content), ids),
                _ => warn(&ids, "empty action".into()).await,
            }
        }
        Packet::Control(control) => {
            handle_control(ctx, control, &mut ids, &mut reply).await?;
        }
        Packet::DataChunk(chunk) => {
            if chunk.r#type != data_chunk::DataType::Audio as i32 {
                warn(
                    &ids,
                    format!("unsupported data chunk type {}", chunk.r#type),
                )
                .await;
                return Ok(());
            }
            let bytes = match chunk.data {
                Some(data_chunk::Data::Chunk(b)) => b,
                _ => Vec::new(),
            };
            let problem = {
                let mut state = ctx.session.state.lock();
                match state.audio.as_mut() {
                    None => Some(
                        "audio chunk outside an audio session: send AUDIO_SESSION_START first"
                            .to_string(),
                    ),
                    Some(a) if a.bytes.len() + bytes.len() > MAX_AUDIO_BYTES => Some(format!(
                        "audio session exceeds {MAX_AUDIO_BYTES} bytes; chunk dropped"
                    )),
                    Some(a) => {
                        a.bytes.extend_from_slice(&bytes);
                        None
                    }
                }
            };
            if let Some(p) = problem {
                warn(&ids, p).await;
            }
        }
        Packet::Mutation(mutation) => match mutation.mutation {
            Some(mutation_event::Mutation::LoadScene(load)) => {
                load_scene(ctx, &load.name).await?;
            }
            Some(mutation_event::Mutation::LoadCharacters(load)) => {
                let names: Vec<String> = load.name.into_iter().map(|n| n.name).collect();
                load_characters(ctx, &ids, &names).await;
            }
            Some(mutation_event::Mutation::UnloadCharacters(unload)) => {
                let agent_ids: Vec<String> =
                    unload.agents.into_iter().map(|a| a.agent_id).collect();
                unload_characters(ctx, &ids, &agent_ids).await;
            }
            Some(mutation_event::Mutation::CancelResponses(c)) => {
                ctx.cancel(&c.interaction_id, &c.utterance_id);
            }
            Some(_) => {
                warn(
                    &ids,
                    "this mutation is not supported by the local engine".into(),
                )
                .await
            }
            None => warn(&ids, "empty mutation".into()).await,
        },
        Packet::Cancelresponses(c) => ctx.cancel(&c.interaction_id, &c.utterance_id),
        Packet::LatencyReport(report) => match report.report {
            Some(latency_report_event::Report::PingPong(p))
                if p.r#type == ping_pong_report::Type::Pong as i32 =>
            {
                let id = p.ping_packet_id.map(|i| i.packet_id).unwrap_or_default();
                if let Some(sent) = ctx.pings.lock().remove(&id) {
                    ctx.session.state.lock().last_ping_rtt = Some(sent.elapsed());
                }
            }
            Some(latency_report_event::Report::PerceivedLatency(p)) => {
                log::debug!(
                    "session {}: perceived latency {:?}",
                    ctx.session.id,
                    p.latency
                );
            }
            _ => warn(&ids, "unexpected latency report".into()).await,
        },
        Packet::EntitiesItemsOperation(op) => {
            items_operation(&mut ctx.session.state.lock(), op);
        }
        Packet::SessionControl(control) => match control.session_control {
            Some(sc) => {
                let payload = match sc {
                    session_control_event::SessionControl::SessionConfiguration(c) => {
                        SessionConfigurationPayload {
                            session_configuration: Some(c),
                            ..Default::default()
                        }
                    }
                    session_control_event::SessionControl::UserConfiguration(c) => {
                        SessionConfigurationPayload {
                            user_configuration: Some(c),
                            ..Default::default()
                        }
                    }
                    session_control_event::SessionControl::ClientConfiguration(c) => {
                        SessionConfigurationPayload {
                            client_configuration: Some(c),
                            ..Default::default()
                        }
                    }
                    session_control_event::SessionControl::CapabilitiesConfiguration(c) => {
                        SessionConfigurationPayload {
                            capabilities_configuration: Some(c),
                            ..Default::default()
                        }
                    }
                    session_control_event::SessionControl::Continuation(c) => {
                        SessionConfigurationPayload {
                            continuation: Some(c),
                            ..Default::default()
                        }
                    }
                    session_control_event::SessionControl::SessionConfigurationPayload(p) => p,
                    session_control_event::SessionControl::SessionHistoryRequest(_) => {
                        warn(&ids, "session history requests are not supported".into()).await;
                        return Ok(());
                    }
                };
                configure(ctx, &ids, payload).await;
            }
            None => warn(&ids, "empty session control".into()).await,
        },
        _ => warn(&ids, "this packet type is not accepted from clients".into()).await,
    }
    Ok(())
}

async fn handle_control(
    ctx: &Arc<StreamCtx>,
    control: crate::proto::ai::inworld::packets::ControlEvent,
    ids: &mut Ids,
    reply: &mut impl FnMut(Input, Ids),
) -> Result<(), Status> {
    use control_event::{Action, PayloadStructured};
    let action = Action::try_from(control.action).unwrap_or(Action::Unknown);
    match (action, control.payload_structured) {
        (Action::SessionConfiguration, Some(PayloadStructured::SessionConfiguration(p))) => {
            configure(ctx, ids, p).await;
        }
        (Action::SessionConfiguration, _) => {
            // changeScene may send an empty configuration.
        }
        (Action::ConversationUpdate, payload) => {
            let participants = match payload {
                Some(PayloadStructured::ConversationUpdate(u)) => u.participants,
                _ => Vec::new(),
            };
            update_conversation(ctx, ids, participants).await;
        }
        (Action::AudioSessionStart, _) => {
            let already = {
                let mut state = ctx.session.state.lock();
                state
                    .audio
                    .replace(AudioCapture {
                        bytes: Vec::new(),
                        conversation_id: ids.conversation_id.clone(),
                    })
                    .is_some()
            };
            if already {
                ctx.send(wire::warning(
                    ids,
                    "an audio session was already open; it was restarted",
                ))
                .await;
            }
        }
        (Action::AudioSessionEnd, _) => {
            let (capture, transcript) = {
                let mut state = ctx.session.state.lock();
                (
                    state.audio.take(),
                    ctx.shared.workspace.speech.transcript.clone(),
                )
            };
            match capture {
                None => {
                    ctx.send(wire::warning(
                        ids,
                        "AUDIO_SESSION_END without AUDIO_SESSION_START",
                    ))
                    .await;
                }
                Some(capture) => {
                    if speech::loudness(&capture.bytes) < 50.0 {
                        log::debug!("session {}: silent audio session", ctx.session.id);
                        ctx.send(wire::warning(
                            ids,
                            "no speech recognised in the audio session",
                        ))
                        .await;
                    } else {
                        let mut ids = ids.clone();
                        if ids.conversation_id.is_empty() {
                            ids.conversation_id = capture.conversation_id;
                        }
                        ids.interaction_id = wire::new_id();
                        reply(Input::Speech(transcript), ids);
                    }
                }
            }
        }
        (Action::TtsPlaybackMute, _) => ctx.session.state.lock().muted = true,
        (Action::TtsPlaybackUnmute, _) => ctx.session.state.lock().muted = false,
        (Action::TtsPlaybackStart | Action::TtsPlaybackEnd, _) => {}
        (other, _) => {
            ctx.send(wire::warning(
                ids,
                &format!(
                    "control action {} is not accepted from clients",
                    other.as_str_name()
                ),
            ))
            .await;
        }
    }
    Ok(())
}

async fn configure(ctx: &Arc<StreamCtx>, ids: &Ids, payload: SessionConfigurationPayload) {
    let problem = {
        let mut state = ctx.session.state.lock();
        if let Some(c) = payload.capabilities_configuration {
            state.capabilities = c;
        }
        if let Some(s) = payload.session_configuration {
            state.game_session_id = s.game_session_id;
        }
        if let Some(u) = payload.user_configuration {
            if !u.name.is_empty() {
                state.user_name = u.name;
            }
        }
        if let Some(c) = payload.client_configuration {
            state.client_id = c.id;
        }
        payload
            .continuation
            .and_then(|c| apply_continuation(&ctx.session.workspace, &mut state, &c).err())
    };
    if let Some(p) = problem {
        ctx.send(wire::warning(ids, &format!("continuation ignored: {p}")))
            .await;
    }
}

fn not_found(kind: &str, name: &str) -> Status {
    let mut details = ErrorDetails::new(ErrorType::ResourceNotFound, ReconnectType::NoRetry);
    details.resource_id = Some(name.to_string());
    status_with_details(
        Code::NotFound,
        format!("{kind} {name:?} not found"),
        &details,
    )
}

async fn load_scene(ctx: &Arc<StreamCtx>, name: &str) -> Result<(), Status> {
    let ws = &ctx.shared.workspace;
    let parts: Vec<&str> = name.split('/').collect();
    let (workspace, kind, id) = match parts.as_slice() {
        ["workspaces", w, k @ ("scenes" | "characters"), id] => (*w, *k, *id),
        _ => {
            return Err(Status::invalid_argument(format!(
                "scene name {name:?} must be workspaces/<ws>/scenes/<id> or workspaces/<ws>/characters/<id>"
            )))
        }
    };
    if workspace != ctx.session.workspace {
        return Err(status(
            Code::PermissionDenied,
            format!("scene {name:?} is outside the session's workspace"),
            ErrorType::SessionInvalid,
        ));
    }
    let (scene, characters) = if kind == "scenes" {
        let scene = ws.scene(id).ok_or_else(|| not_found("scene", name))?;
        let characters: Vec<_> = scene
            .characters
            .iter()
            .filter_map(|c| ws.character(c).cloned())
            .collect();
        (
            LoadedScene {
                name: name.to_string(),
                display_name: scene.display_name.clone(),
                description: scene.description.clone(),
                turn_taking: scene.turn_taking,
            },
            characters,
        )
    } else {
        let c = ws
            .character(id)
            .ok_or_else(|| not_found("character", name))?;
        (
            LoadedScene {
                name: name.to_string(),
                display_name: c.display_name.clone(),
                description: c.description.clone(),
                turn_taking: Default::default(),
            },
            vec![c.clone()],
        )
    };
    let packet = {
        let mut state = ctx.session.state.lock();
        let agents = characters
            .into_iter()
            .map(|c| agent_for(ws, &state.agents, c))
            .collect();
        state.agents = agents;
        state.scene = Some(scene);
        state.conversations.clear();
        wire::scene_status(&state)
    };
    ctx.send(packet).await;
    Ok(())
}

/// The agent for a character: the one already loaded, or a new agent id.
fn agent_for(
    ws: &super::Workspace,
    loaded: &[LoadedAgent],
    c: Arc<super::scene::Character>,
) -> LoadedAgent {
    if let Some(a) = loaded.iter().find(|a| a.character.id == c.id) {
        return a.clone();
    }
    LoadedAgent {
        agent_id: c
            .agent_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        brain_name: ws.character_name(&c.id),
        character: c,
    }
}

async fn load_characters(ctx: &Arc<StreamCtx>, ids: &Ids, names: &[String]) {
    let ws = &ctx.shared.workspace;
    let mut warnings = Vec::new();
    let packet = {
        let mut state = ctx.session.state.lock();
        if state.scene.is_none() {
            None
        } else {
            for name in names {
                match ws.character_by_name(name) {
                    None => warnings.push(format!("character {name:?} not found")),
                    Some(c) => {
                        if !state.agents.iter().any(|a| a.character.id == c.id) {
                            let agent = agent_for(ws, &state.agents, c.clone());
                            state.agents.push(agent);
                        }
                    }
                }
            }
            Some(wire::scene_status(&state))
        }
    };
    match packet {
        None => {
            ctx.send(wire::warning(
                ids,
                "no scene is loaded: send a LoadScene mutation first",
            ))
            .await;
        }
        Some(p) => {
            for w in warnings {
                ctx.send(wire::warning(ids, &w)).await;
            }
            ctx.send(p).await;
        }
    }
}

async fn unload_characters(ctx: &Arc<StreamCtx>, ids: &Ids, agent_ids: &[String]) {
    let mut warnings = Vec::new();
    let packet = {
        let mut state = ctx.session.state.lock();
        for id in agent_ids {
            let before = state.agents.len();
            state.agents.retain(|a| &a.agent_id != id);
            if state.agents.len() == before {
                warnings.push(format!("character {id:?} is not loaded"));
            }
            for conv in state.conversations.iter_mut() {
                conv.agents.retain(|a| a != id);
            }
        }
        wire::scene_status(&state)
    };
    for w in warnings {
        ctx.send(wire::warning(ids, &w)).await;
    }
    ctx.send(packet).await;
}

async fn update_conversation(
    ctx: &Arc<StreamCtx>,
    ids: &Ids,
    participants: Vec<crate::proto::ai::inworld::packets::Actor>,
) {
    use conversation_event_payload::ConversationEventType as Event;
    if ids.conversation_id.is_empty() {
        ctx.send(wire::warning(
            ids,
            "CONVERSATION_UPDATE without a conversation id",
        ))
        .await;
        return;
    }
    let player = participants
        .iter()
        .any(|a| a.r#type == actor::Type::Player as i32);
    let requested: Vec<String> = participants
        .into_iter()
        .filter(|a| a.r#type == actor::Type::Agent as i32)
        .map(|a| a.name)
        .collect();
    let mut out = Vec::new();
    {
        let mut state = ctx.session.state.lock();
        if state.scene.is_none() {
            out.push(wire::warning(
                ids,
                "no scene is loaded: send a LoadScene mutation first",
            ));
        } else {
            let (known, unknown): (Vec<String>, Vec<String>) = requested
                .into_iter()
                .partition(|a| state.agent(a).is_some());
            if !unknown.is_empty() {
                out.push(wire::warning(
                    ids,
                    &format!(
                        "conversation {}: unknown characters {unknown:?}",
                        ids.conversation_id
                    ),
                ));
            }
            if known.is_empty() {
                out.push(wire::warning(
                    ids,
                    &format!(
                        "conversation {} has no known characters",
                        ids.conversation_id
                    ),
                ));
            } else {
                let id = ids.conversation_id.clone();
                let existing = state.conversations.iter().position(|c| c.id == id);
                let (mut conv, kind) = match existing {
                    Some(i) => (
                        state.conversations.remove(i).expect("index is valid"),
                        Event::Updated,
                    ),
                    None => (
                        Conversation {
                            id: id.clone(),
                            agents: Vec::new(),
                            player,
                            next: 0,
                            last_speaker: None,
                        },
                        Event::Started,
                    ),
                };
                conv.agents = known;
                conv.player = player;
                if conv.next >= conv.agents.len() {
                    conv.next = 0;
                }
                if state.conversations.len() >= MAX_CONVERSATIONS {
                    if let Some(old) = state.conversations.pop_front() {
                        out.push(wire::conversation_event(
                            &old.id,
                            &old.agents,
                            old.player,
                            Event::Evicted,
                        ));
                    }
                }
                out.push(wire::conversation_event(
                    &conv.id,
                    &conv.agents,
                    conv.player,
                    kind,
                ));
                state.conversations.push_back(conv);
            }
        }
    }
    for p in out {
        if !ctx.send(p).await {
            return;
        }
    }
}

fn items_operation(state: &mut super::sessions::SessionState, op: ItemsOperationEvent) {
    use items_in_entities_operation::Type;
    match op.operation {
        Some(items_operation_event::Operation::CreateOrUpdateItems(c)) => {
            for item in c.items {
                for entity in &c.add_to_entities {
                    state
                        .entities
                        .entry(entity.clone())
                        .or_default()
                        .insert(item.id.clone());
                }
                state.items.insert(item.id.clone(), item);
            }
        }
        Some(items_operation_event::Operation::RemoveItems(r)) => {
            for id in &r.item_ids {
                state.items.remove(id);
                for members in state.entities.values_mut() {
                    members.remove(id);
                }
            }
        }
        Some(items_operation_event::Operation::ItemsInEntities(o)) => {
            let kind = Type::try_from(o.r#type).unwrap_or(Type::Unspecified);
            for entity in &o.entity_names {
                let members = state.entities.entry(entity.clone()).or_default();
                match kind {
                    Type::Add => members.extend(o.item_ids.iter().cloned()),
                    Type::Remove => o.item_ids.iter().for_each(|i| {
                        members.remove(i);
                    }),
                    Type::Replace => *members = o.item_ids.iter().cloned().collect(),
                    Type::Unspecified => {}
                }
            }
        }
        None => {}
    }
}
