//! What each client packet does on an OpenSession stream, one function per
//! kind of packet: configuration, scene and character changes,
//! conversations, audio capture, cancels, PONGs and entity items answer at
//! once; player input becomes a reply job.

pub(super) mod audio;
mod configure;
mod control;
mod conversation;
mod incoming;
mod items;
mod latency;
mod player;
mod scene;

use crate::engine::limits::MAX_ID_BYTES;
use crate::engine::outbound::{self, Ids};
use crate::engine::stream::ctx::StreamCtx;
use crate::engine::stream::job::ReplyJob;
use crate::protocol::ai::inworld::packets::{actor, inworld_packet::Packet, InworldPacket};
use incoming::Incoming;
use std::sync::Arc;
use tokio::sync::mpsc;
use tonic::Status;

/// The agent a packet is routed to, if any.
fn target_agent(packet: &InworldPacket) -> Option<String> {
    let r = packet.routing.as_ref()?;
    r.target
        .iter()
        .chain(r.targets.iter())
        .find(|a| a.r#type == actor::Type::Agent as i32 && !a.name.is_empty())
        .map(|a| a.name.clone())
}

/// Whether every id the packet carries is short enough to be kept.
fn ids_fit(ids: &Ids, target: Option<&str>) -> bool {
    [
        ids.interaction_id.as_str(),
        &ids.correlation_id,
        &ids.conversation_id,
        target.unwrap_or(""),
    ]
    .iter()
    .all(|id| id.len() <= MAX_ID_BYTES)
}

/// Handles one client packet. `Err` ends the stream with that status.
pub(super) async fn handle(
    ctx: &Arc<StreamCtx>,
    packet: InworldPacket,
    jobs: &mpsc::Sender<ReplyJob>,
    seq: u64,
) -> Result<(), Status> {
    let mut ids = Ids::of(&packet);
    // Replies name their own utterances.
    ids.utterance_id.clear();
    let target_agent = target_agent(&packet);
    if !ids_fit(&ids, target_agent.as_deref()) {
        let warning = format!(
            "packet ignored: its ids and target may have at most {MAX_ID_BYTES} bytes each"
        );
        ctx.send(outbound::warning(&Ids::default(), &warning)).await;
        return Ok(());
    }
    let incoming = Incoming {
        ctx,
        ids,
        target_agent,
        seq,
        jobs,
    };
    let Some(body) = packet.packet else {
        incoming.warn("packet without content").await;
        return Ok(());
    };
    match body {
        Packet::Text(text) => player::text(&incoming, text).await,
        Packet::Custom(custom) => player::custom(&incoming, custom).await,
        Packet::Action(action) => player::action(&incoming, action).await,
        Packet::Control(control) => control::control(&incoming, control).await?,
        Packet::DataChunk(chunk) => audio::data_chunk(&incoming, chunk).await,
        Packet::Mutation(mutation) => scene::mutation(&incoming, mutation).await?,
        Packet::Cancelresponses(c) => ctx.cancel(&c.interaction_id, &c.utterance_id),
        Packet::LatencyReport(report) => latency::report(&incoming, report).await,
        Packet::EntitiesItemsOperation(op) => items::operation(&incoming, op).await,
        Packet::SessionControl(control) => configure::session_control(&incoming, control).await,
        _ => {
            incoming
                .warn("this packet type is not accepted from clients")
                .await
        }
    }
    Ok(())
}
