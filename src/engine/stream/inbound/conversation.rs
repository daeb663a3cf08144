//! CONVERSATION_UPDATE: opens or changes a conversation with some of the
//! loaded characters, answered by a CONVERSATION_EVENT (STARTED or UPDATED;
//! EVICTED for the least recently used one beyond the limit).

use super::incoming::Incoming;
use crate::engine::limits::MAX_CONVERSATIONS;
use crate::engine::outbound::{self, Ids};
use crate::engine::sessions::{ConversationRecord, SessionMemory};
use crate::protocol::ai::inworld::packets::{
    actor, conversation_event_payload::ConversationEventType as Event, Actor, InworldPacket,
};

pub(super) async fn update(incoming: &Incoming<'_>, participants: Vec<Actor>) {
    let ids = &incoming.ids;
    if ids.conversation_id.is_empty() {
        incoming
            .warn("CONVERSATION_UPDATE without a conversation id")
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
    let out = {
        let mut memory = incoming.ctx.session.memory.lock();
        apply(&mut memory, ids, requested, player)
    };
    for packet in out {
        if !incoming.ctx.send(packet).await {
            return;
        }
    }
}

fn event(conv: &ConversationRecord, kind: Event) -> InworldPacket {
    outbound::conversation_event(&conv.id, &conv.agents, conv.player, kind)
}

/// Changes the session's conversations; returns what to tell the client.
fn apply(
    memory: &mut SessionMemory,
    ids: &Ids,
    requested: Vec<String>,
    player: bool,
) -> Vec<InworldPacket> {
    let id = &ids.conversation_id;
    if memory.scene.is_none() {
        return vec![outbound::warning(
            ids,
            "no scene is loaded: send a LoadScene mutation first",
        )];
    }
    let mut out = Vec::new();
    let (mut known, unknown): (Vec<String>, Vec<String>) = requested
        .into_iter()
        .partition(|a| memory.agent(a).is_some());
    // Each character once: a conversation is never longer than the scene.
    let mut seen = std::collections::HashSet::new();
    known.retain(|a| seen.insert(a.clone()));
    if !unknown.is_empty() {
        let shown: Vec<String> = unknown
            .iter()
            .take(5)
            .map(|a| outbound::quoted(a))
            .collect();
        let more = if unknown.len() > 5 { ", ..." } else { "" };
        out.push(outbound::warning(
            ids,
            &format!(
                "conversation {id}: unknown characters [{}{more}]",
                shown.join(", ")
            ),
        ));
    }
    if known.is_empty() {
        out.push(outbound::warning(
            ids,
            &format!("conversation {id} has no known characters"),
        ));
        return out;
    }
    let existing = memory.conversations.iter().position(|c| &c.id == id);
    let (mut conv, kind) = match existing.and_then(|i| memory.conversations.remove(i)) {
        Some(conv) => (conv, Event::Updated),
        None => (
            ConversationRecord {
                id: id.clone(),
                agents: Vec::new(),
                player,
                next: 0,
            },
            Event::Started,
        ),
    };
    conv.agents = known;
    conv.player = player;
    if conv.next >= conv.agents.len() {
        conv.next = 0;
    }
    if memory.conversations.len() >= MAX_CONVERSATIONS {
        if let Some(old) = memory.conversations.pop_front() {
            out.push(event(&old, Event::Evicted));
        }
    }
    out.push(event(&conv, kind));
    memory.conversations.push_back(conv);
    out
}
