//! What the task carries from one step to the next, beside the stream
//! (`link.rs`): the session's settings and scene, its conversations, the
//! audio parts, and what waits for a linked stream. Plain values: the
//! commands (`commands.rs`) and the driver step them and hand what they
//! return to `Driver::apply`.

use super::effects::Effects;
use super::hands_free::{self, HandsFree};
use super::mic::Mic;
use super::speakers::Speakers;
use crate::client::calls::SceneChange;
use crate::client::config::SessionConfig;
use crate::client::conversations::{Actions, Cast, Conversations};
use crate::client::outbound;
use crate::client::scene::Scene;
use crate::client::state::{CountedCall, SessionShared, Snapshot, WorldPacket};
use crate::protocol::ai::inworld::packets::InworldPacket;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

pub(super) struct Parts {
    pub shared: Arc<SessionShared>,
    pub session: SessionConfig,
    pub scene: Scene,
    pub conversations: Conversations,
    /// The game's audio sessions and audio input.
    pub mic: Mic,
    /// Voice detection, while on.
    pub hands_free: Option<HandsFree>,
    /// The game's playback streams.
    pub speakers: Speakers,
    /// Packets to the world waiting for a linked stream.
    pub world: VecDeque<WorldPacket>,
    /// A scene change waiting for a linked stream (the last asked for).
    pub pending_change: Option<(String, SceneChange)>,
    /// Calls waiting for a token (running ones deliver their own results).
    pub waiting_calls: Vec<CountedCall>,
}

impl Parts {
    /// Starts a scene change; returns its packets.
    pub(super) fn change_scene(
        &mut self,
        name: String,
        change: SceneChange,
        now: Instant,
    ) -> Vec<InworldPacket> {
        if let Some(capabilities) = change.capabilities {
            self.session.capabilities = capabilities;
        }
        if let Some(id) = &change.game_session_id {
            self.session.game_session_id = Some(id.clone());
        }
        let configuration =
            outbound::scene_change_configuration(&self.session.capabilities, &change);
        let packets = self.scene.change(name, now, configuration);
        if !self.scene.is_loaded() {
            // A new scene: its characters start new conversations.
            self.session.scene = self.scene.name().to_string();
            self.conversations.on_stream_lost();
        }
        packets
    }

    /// A step of the conversations, with who can take part (`None` while
    /// no stream is `linked`); returns its actions.
    pub(super) fn in_conversations(
        &mut self,
        linked: bool,
        now: Instant,
        step: impl FnOnce(&mut Conversations, Option<&Cast>, Instant) -> Actions,
    ) -> Actions {
        let snapshot = self.shared.snapshot.lock();
        let cast = cast_of(&snapshot);
        step(&mut self.conversations, linked.then_some(&cast), now)
    }

    /// Runs a step of voice detection (when on) with what it needs from
    /// the session; returns what it asks for.
    pub(super) fn hands_free_step(
        &mut self,
        linked: bool,
        step: impl FnOnce(&mut HandsFree, &mut Mic, &hands_free::Link) -> Effects,
    ) -> Effects {
        let Some(h) = self.hands_free.as_mut() else {
            return Effects::default();
        };
        let shared = &self.shared;
        let link = hands_free::Link {
            linked,
            ready: linked && self.conversations.is_ready(),
            conversation_id: &|| shared.snapshot.lock().conversation_id.clone(),
            reserve: &|| shared.reserve_send(),
        };
        step(h, &mut self.mic, &link)
    }

    /// A turn of voice detection under way ends, cut short.
    pub(super) fn cut_turn(&mut self, stream_lost: bool, linked: bool, now: Instant) -> Effects {
        self.hands_free_step(linked, |h, mic, link| {
            h.cut_turn(stream_lost, mic, link, now)
        })
    }

    /// The resource name of the character whose agent id this is.
    pub(super) fn resource_name_of(&self, agent_id: &str) -> Option<String> {
        let snapshot = self.shared.snapshot.lock();
        let scene = snapshot.scene.as_ref()?;
        scene
            .characters
            .iter()
            .find(|c| c.id == agent_id)
            .map(|c| c.resource_name.to_string())
    }
}

/// Who can take part in conversations, as the snapshot has it.
pub(super) fn cast_of(snapshot: &Snapshot) -> Cast<'_> {
    Cast {
        characters: snapshot
            .scene
            .as_ref()
            .map_or(&[][..], |s| s.characters.as_slice()),
        current: snapshot.current.as_ref(),
    }
}
