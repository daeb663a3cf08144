//! Mutations: loading a scene (or one character as a scene), adding and
//! removing characters, cancelling replies.

use super::incoming::Incoming;
use crate::engine::outbound::{self, not_found, status};
use crate::engine::scene::{ScriptedCharacter, Workspace};
use crate::engine::sessions::{LoadedAgent, LoadedScene};
use crate::protocol::ai::inworld::packets::{mutation_event::Mutation, MutationEvent};
use crate::protocol::names::{SceneKind, SceneName};
use crate::protocol::status::ErrorType;
use std::sync::Arc;
use tonic::{Code, Status};

/// `Err` ends the stream (an unknown or foreign scene).
pub(super) async fn mutation(
    incoming: &Incoming<'_>,
    mutation: MutationEvent,
) -> Result<(), Status> {
    match mutation.mutation {
        Some(Mutation::LoadScene(load)) => load_scene(incoming, &load.name).await?,
        Some(Mutation::LoadCharacters(load)) => {
            let names: Vec<String> = load.name.into_iter().map(|n| n.name).collect();
            load_characters(incoming, &names).await;
        }
        Some(Mutation::UnloadCharacters(unload)) => {
            let agent_ids: Vec<String> = unload.agents.into_iter().map(|a| a.agent_id).collect();
            unload_characters(incoming, &agent_ids).await;
        }
        Some(Mutation::CancelResponses(c)) => {
            incoming.ctx.cancel(&c.interaction_id, &c.utterance_id)
        }
        Some(_) => {
            incoming
                .warn("this mutation is not supported by the local engine")
                .await
        }
        None => incoming.warn("empty mutation").await,
    }
    Ok(())
}

async fn load_scene(incoming: &Incoming<'_>, name: &str) -> Result<(), Status> {
    let ctx = incoming.ctx;
    let ws = &ctx.shared.workspace;
    let parsed = SceneName::parse(name).ok_or_else(|| {
        Status::invalid_argument(format!(
            "scene name {} must be workspaces/<ws>/scenes/<id> or workspaces/<ws>/characters/<id>",
            outbound::quoted(name)
        ))
    })?;
    if parsed.workspace != ctx.session.workspace {
        return Err(status(
            Code::PermissionDenied,
            format!("scene {name:?} is outside the session's workspace"),
            ErrorType::SessionInvalid,
        ));
    }
    let (scene, characters) = match parsed.kind {
        SceneKind::Scene => {
            let scene = ws
                .scene(parsed.id)
                .ok_or_else(|| not_found("scene", name))?;
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
        }
        SceneKind::Character => {
            let c = ws
                .character(parsed.id)
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
        }
    };
    let packet = {
        let mut memory = ctx.session.memory.lock();
        let agents = characters
            .into_iter()
            .map(|c| agent_for(ws, &memory.agents, c))
            .collect();
        memory.agents = agents;
        memory.scene = Some(scene);
        memory.conversations.clear();
        // An audio session belongs to a conversation of the scene before.
        memory.audio = None;
        outbound::scene_status(&memory)
    };
    ctx.send(packet).await;
    Ok(())
}

/// The agent for a character: the one already loaded, or a new agent id.
fn agent_for(ws: &Workspace, loaded: &[LoadedAgent], c: Arc<ScriptedCharacter>) -> LoadedAgent {
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

async fn load_characters(incoming: &Incoming<'_>, names: &[String]) {
    let ctx = incoming.ctx;
    let ws = &ctx.shared.workspace;
    let mut warnings = Vec::new();
    let packet = {
        let mut memory = ctx.session.memory.lock();
        if memory.scene.is_none() {
            None
        } else {
            for name in names {
                match ws.character_by_name(name) {
                    None => {
                        warnings.push(format!("character {} not found", outbound::quoted(name)))
                    }
                    Some(c) => {
                        if !memory.agents.iter().any(|a| a.character.id == c.id) {
                            let agent = agent_for(ws, &memory.agents, c.clone());
                            memory.agents.push(agent);
                        }
                    }
                }
            }
            Some(outbound::scene_status(&memory))
        }
    };
    let Some(packet) = packet else {
        incoming
            .warn("no scene is loaded: send a LoadScene mutation first")
            .await;
        return;
    };
    for w in warnings {
        incoming.warn(w).await;
    }
    ctx.send(packet).await;
}

async fn unload_characters(incoming: &Incoming<'_>, agent_ids: &[String]) {
    let ctx = incoming.ctx;
    let mut warnings = Vec::new();
    let packet = {
        let mut memory = ctx.session.memory.lock();
        for id in agent_ids {
            let before = memory.agents.len();
            memory.agents.retain(|a| &a.agent_id != id);
            if memory.agents.len() == before {
                warnings.push(format!("character {} is not loaded", outbound::quoted(id)));
            }
            for conv in memory.conversations.iter_mut() {
                conv.agents.retain(|a| a != id);
            }
        }
        outbound::scene_status(&memory)
    };
    for w in warnings {
        incoming.warn(w).await;
    }
    ctx.send(packet).await;
}
