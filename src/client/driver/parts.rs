//! What the task carries from one step to the next, beside the stream
//! (`link.rs`): the session's settings and scene, its conversations, the
//! audio parts, and what waits for a linked stream. Plain values: the
//! commands (`commands.rs`) and the driver step them and hand what they
//! return to `Driver::apply`.

use super::effects::{Effect, Effects};
use super::hands_free::{self, HandsFree};
use super::inbound::Event;
use super::mic::Mic;
use super::reconnect::Failure;
use super::speakers::Speakers;
use crate::client::calls::{self, SceneChange};
use crate::client::config::{SessionConfig, Talker, Timeouts};
use crate::client::conversations::Signal;
use crate::client::conversations::{Actions, Cast, Conversations};
use crate::client::in_flight::InFlight;
use crate::client::outbound;
use crate::client::scene::Scene;
use crate::client::state::{CountedCall, Outgoing, Send, SessionShared, Snapshot, WorldPacket};
use crate::client::SentIds;
use crate::packet::{ConversationEventKind, Packet, PacketBody, PacketIds, SceneStatus};
use crate::protocol::ai::inworld::packets::InworldPacket;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// What an event of the service leads to beyond the parts.
pub(super) enum Followup {
    None,
    /// A conversation's news.
    Signal(String, Signal),
    /// The service refused to start a conversation (it may have lost the session).
    HandshakeRefused(String),
    /// The service refused a send, and why.
    Refused(SentIds, String),
}

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
    /// Sends that went out and whose reply has not ended.
    pub in_flight: InFlight,
}

/// Sends of a step of the conversations, accounted for.
pub(super) struct Accounted {
    /// To write, in order (characters to add first).
    pub packets: Vec<InworldPacket>,
    /// To report, and why.
    pub failed: Vec<(Send, String)>,
    /// What the microphone asks for after them.
    pub deferred: Effects,
}

impl Parts {
    /// A session's parts before its first stream.
    pub(super) fn new(
        shared: Arc<SessionShared>,
        session: SessionConfig,
        t: &Timeouts,
        now: Instant,
    ) -> Self {
        let one_to_one = shared.snapshot.lock().conversation_id.clone();
        Parts {
            scene: Scene::new(session.scene.clone(), t.scene_load),
            conversations: Conversations::new(one_to_one, t.handshake),
            mic: Mic::new(shared.mic.clone(), now),
            hands_free: None,
            speakers: Speakers::default(),
            world: VecDeque::new(),
            pending_change: None,
            waiting_calls: Vec::new(),
            in_flight: InFlight::default(),
            shared,
            session,
        }
    }

    /// An event of a received packet (delivered already).
    pub(super) fn on_event(&mut self, event: Event) -> Followup {
        match event {
            // Scene statuses are taken before the packet is delivered.
            Event::None | Event::Scene(_) => Followup::None,
            Event::Conversation { id, kind } => match kind {
                ConversationEventKind::Started | ConversationEventKind::Updated => {
                    Followup::Signal(id, Signal::Confirmed)
                }
                ConversationEventKind::Evicted => Followup::Signal(id, Signal::Ended),
                ConversationEventKind::Unknown => Followup::None,
            },
            Event::InteractionEnd { interaction_id } => {
                self.speakers.interaction_end(&interaction_id);
                self.in_flight.take(&interaction_id);
                Followup::None
            }
            Event::Warning {
                interaction_id,
                conversation_id,
                description,
            } => {
                if self.conversations.refused(&conversation_id) {
                    return Followup::HandshakeRefused(description);
                }
                match self.in_flight.take(&interaction_id) {
                    Some(ids) => Followup::Refused(ids, description),
                    None => Followup::None,
                }
            }
            Event::CharacterLine(text) => {
                self.shared.transcript.lock().add(Talker::Character, &text);
                Followup::None
            }
        }
    }

    /// Whether something is awaited from the service.
    pub(super) fn awaiting(&self) -> bool {
        !self.in_flight.is_empty()
            || self.conversations.is_pending()
            || self.scene.deadline().is_some()
    }

    /// When a part must look at the clock next.
    pub(super) fn wake(&self) -> Option<Instant> {
        [
            self.scene.deadline(),
            self.conversations.deadline(),
            self.mic.wake(self.hands_free.is_some()),
            self.speakers.wake(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The failure of a deadline passed at `now`, if one did.
    pub(super) fn deadline_passed(&self, now: Instant) -> Option<Failure> {
        if self.scene.deadline().is_some_and(|d| d <= now) {
            return Some(Failure::SceneTimeout);
        }
        if self.conversations.deadline().is_some_and(|d| d <= now) {
            return Some(Failure::HandshakeTimeout);
        }
        None
    }

    /// The audio parts' turn on the clock: the microphone drained (through
    /// voice detection when on), the speakers fed.
    pub(super) fn on_timer(&mut self, now: Instant, linked: bool) -> Effects {
        let listening = self.hands_free.is_some();
        let mut effects = Effects::default();
        if self.mic.wake(listening).is_some_and(|at| at <= now) {
            if listening {
                effects.append(self.hands_free_step(linked, |h, mic, link| h.tick(mic, link, now)));
                effects.append(self.mic.listened(now));
            } else {
                effects.append(self.mic.tick(now, linked));
            }
        }
        if self.speakers.wake().is_some_and(|at| at <= now) {
            self.speakers.tick(now);
        }
        effects
    }

    /// The ids dropped microphone audio is reported with: its audio
    /// session's conversation, or the one the game just opened (its start
    /// may not have reached the task yet).
    pub(super) fn audio_ids(&self, conversation_id: Option<String>) -> PacketIds {
        let conversation_id = conversation_id.unwrap_or_else(|| {
            let snapshot = self.shared.snapshot.lock();
            snapshot.audio_conversation.clone().unwrap_or_default()
        });
        PacketIds {
            conversation_id: conversation_id.as_str().into(),
            ..PacketIds::default()
        }
    }
    /// The configuration that opens the session on the service: the
    /// session's own, with the dialog so far as continuation when there is one.
    pub(super) fn configuration(&self, client_id: Option<&str>) -> InworldPacket {
        let continuation = self
            .shared
            .transcript
            .lock()
            .continuation(self.session.continuation.as_ref());
        outbound::session_configuration(client_id, &self.session, continuation.as_ref())
    }

    /// Whether `failure` says the scene a change asked for does not exist;
    /// then the change is undone (the game got the error).
    pub(super) fn scene_change_refused(&mut self, failure: &Failure) -> bool {
        let not_found = matches!(failure, Failure::Status(s) if s.code() == tonic::Code::NotFound);
        if not_found && self.scene.revert() {
            self.session.scene = self.scene.name().to_string();
            return true;
        }
        false
    }

    /// A scene status: the character list is replaced; the current
    /// character stays if it is still there, else it is the first. Returns
    /// whether the current character changed.
    pub(super) fn adopt_scene(&mut self, status: SceneStatus) -> bool {
        let mut snapshot = self.shared.snapshot.lock();
        let kept = snapshot
            .current
            .as_ref()
            .and_then(|c| {
                status
                    .characters
                    .iter()
                    .find(|s| s.resource_name == c.resource_name)
            })
            .cloned();
        let current = kept.or_else(|| status.characters.first().cloned());
        let changed = current != snapshot.current;
        snapshot.current = current;
        snapshot.scene = Some(status);
        changed
    }

    /// Accounts for the sends of `actions`: their slots are free, what the
    /// player said goes to the dialog, replies are awaited, the audio parts
    /// learn what went out or failed.
    pub(super) fn account(&mut self, actions: Actions, linked: bool) -> Accounted {
        let mut packets = Vec::new();
        if !actions.load.is_empty() {
            packets.push(outbound::load_characters(&actions.load));
        }
        for mut send in actions.sent {
            send.permit.use_up();
            let said = match &send.payload {
                Outgoing::Text(t) => Some(t.clone()),
                Outgoing::NarratedAction(a) => Some(format!("*{a}*")),
                Outgoing::Trigger { .. }
                | Outgoing::AudioSessionStart(..)
                | Outgoing::AudioSessionEnd(_)
                | Outgoing::PlaybackMute(_) => None,
            };
            if let Some(said) = said {
                self.shared.transcript.lock().add(Talker::Player, &said);
            }
            self.mic.on_sent(&send);
            if let Some(h) = &mut self.hands_free {
                h.on_sent(&send);
            }
            if send.payload.awaits_reply() {
                self.in_flight.add(send.ids);
            }
        }
        let mut deferred = Effects::default();
        for (send, _) in &actions.failed {
            if let Some(h) = &mut self.hands_free {
                h.on_failed(send);
            }
            deferred.append(self.mic.on_failed(send, linked));
        }
        packets.extend(actions.write);
        Accounted {
            packets,
            failed: actions.failed,
            deferred,
        }
    }

    /// A packet from the service, before the game gets it: the speakers
    /// play its speech (or flush what it cancels). Returns a report for the
    /// game when speech is not played.
    pub(super) fn play(&mut self, packet: &Packet, now: Instant) -> Option<Packet> {
        if self.speakers.is_empty() {
            return None;
        }
        let character = match &packet.body {
            PacketBody::Audio(_) => self.resource_name_of(packet.routing.source.name.as_str()),
            _ => None,
        };
        self.speakers.on_packet(packet, character.as_deref(), now)
    }

    /// Barge-in: with interruptions on, the speakers go silent and the rest
    /// of the reply is cancelled (when a stream is `linked`).
    pub(super) fn barge_in(&mut self, linked: bool) -> Effects {
        if !self.session.capabilities.interruptions {
            return Effects::default();
        }
        let cancels = self.speakers.barge_in();
        if linked {
            cancels
        } else {
            Effects::default()
        }
    }

    /// The session closes: what it still holds never goes out (each
    /// reported, its slot freed first), calls still waiting for a token fail.
    pub(super) fn close(&mut self, why: &str) -> Effects {
        let mut effects = Effects::default();
        let held = self.mic.take_held().into_iter();
        for send in held.chain(self.conversations.take_waiting()) {
            effects.push(Effect::Fail(send, why.to_string()));
        }
        for WorldPacket { packet, permit } in self.world.drain(..) {
            drop(permit);
            let ids = SentIds {
                packet_id: packet.packet_id.map(|id| id.packet_id).unwrap_or_default(),
                ..SentIds::default()
            };
            effects.push(Effect::Unsent(ids, why.to_string()));
        }
        // The session never had a token.
        for CountedCall {
            request_id,
            call,
            permit,
        } in self.waiting_calls.drain(..)
        {
            drop(permit);
            let status = tonic::Status::unavailable(format!(
                "the session closed before it had a token: {why}"
            ));
            let result = calls::failed(request_id, call.kind(), &status);
            effects.push(Effect::Deliver(Packet::local(PacketBody::CallResult(
                result,
            ))));
        }
        effects
    }

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
