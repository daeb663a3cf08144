//! What each client packet does on an OpenSession stream: configuration,
//! scene and character changes, conversations, audio capture, cancels, PONGs
//! and entity items answer at once; player input becomes a reply job.

use super::replies::{Input, ReplyJob};
use super::sessions::{
    AudioCapture, Conversation, LoadedAgent, LoadedScene, MAX_AUDIO_BYTES, MAX_CONVERSATIONS,
};
use super::speech;
use super::state::apply_continuation;
use super::wire::{self, Ids};
use super::world_engine::{status, StreamCtx, MAX_PENDING_REPLIES};
use crate::protocol::ai::inworld::packets::entities::{
    items_in_entities_operation, items_operation_event, ItemsOperationEvent,
};
use crate::protocol::ai::inworld::packets::{
    actor, control_event, conversation_event_payload, custom_event, data_chunk, inworld_packet,
    latency_report_event, mutation_event, ping_pong_report, session_control_event, InworldPacket,
    SessionConfigurationPayload,
};
use crate::protocol::status::{status_with_details, ErrorDetails, ErrorType, ReconnectionType};
use std::sync::Arc;
use tokio::sync::mpsc;
use tonic::{Code, Status};

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
pub(crate) async fn handle(
    ctx: &Arc<StreamCtx>,
    packet: InworldPacket,
    jobs: &mpsc::Sender<ReplyJob>,
    seq: u64,
) -> Result<(), Status> {
    let mut ids = ids_of(&packet);
    let target = target_agent(&packet);
    let mut overflow = None;
    let mut reply = |input: Input, ids: Ids| {
        if ctx.session.state.lock().capabilities.interruptions {
            // Barge-in: a new player input cuts off older replies.
            ctx.interrupt_before(seq);
        }
        let job = ReplyJob {
            seq,
            input,
            ids,
            target_agent: target.clone(),
        };
        if let Err(mpsc::error::TrySendError::Full(job)) = jobs.try_send(job) {
            overflow = Some(job.ids);
        }
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
        Packet::Action(action) => match action.action {
            Some(crate::protocol::ai::inworld::packets::action_event::Action::NarratedAction(
                n,
            )) if !n.content.trim().is_empty() => reply(Input::Action(n.content), ids),
            _ => warn(&ids, "empty action".into()).await,
        },
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
                if let Some(rtt) = ctx.pong(&id) {
                    ctx.session.state.lock().last_ping_rtt = Some(rtt);
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
    if let Some(ids) = overflow {
        let message = format!(
            "more than {MAX_PENDING_REPLIES} inputs are waiting for a reply: this one was dropped"
        );
        warn(&ids, message).await;
    }
    Ok(())
}

async fn handle_control(
    ctx: &Arc<StreamCtx>,
    control: crate::protocol::ai::inworld::packets::ControlEvent,
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
    let mut details = ErrorDetails::new(ErrorType::ResourceNotFound, ReconnectionType::NoRetry);
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
    participants: Vec<crate::protocol::ai::inworld::packets::Actor>,
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
