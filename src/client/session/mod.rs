//! `Session`: the game's handle on one session. Calls never wait on the
//! network: they read the shared snapshot or hand a command to the
//! session's task (`driver/`).

use super::calls::{Call, DislikeType, EntityItem, ItemsInEntities, SceneChange};
use super::config::Talker;
use super::outbound;
use super::send_slots::SendPermit;
use super::state::{Command, CountedCall, Outgoing, Send, SessionShared, WorldPacket};
use super::{Error, PacketHandler, SentIds, WakeupHandler};
use crate::packet::{Character, ConnectionState, Packet, SceneStatus};
use crate::protocol::ai::inworld::packets::entities as items;
use crate::protocol::names::{character_id, SceneName};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

mod audio;
mod conversation;
pub use conversation::{Conversation, NEXT_TURN_TRIGGER};

/// A session with one scene. Cheap to clone (the clones share the session);
/// `Send + Sync`.
///
/// Dropping every handle ends the session like [`Session::close`]; a handler
/// or wake-up closure that holds a handle keeps the session alive until
/// `close()` (which drops the callbacks).
#[derive(Clone)]
pub struct Session {
    shared: Arc<SessionShared>,
    /// Held only by the handles: when the game drops every one of them, the
    /// task sees the channel close and ends the session.
    commands: Option<mpsc::Sender<Command>>,
}

impl Session {
    pub(crate) fn new(shared: Arc<SessionShared>, commands: mpsc::Sender<Command>) -> Self {
        Session {
            shared,
            commands: Some(commands),
        }
    }

    /// A session bound to nothing (state Closed for sends), for tests and
    /// benchmarks of the poll path.
    #[cfg(feature = "test-hooks")]
    pub fn offline(capacity: usize) -> Session {
        Session {
            shared: Arc::new(SessionShared::new(
                capacity,
                0,
                1,
                ConnectionState::Closed,
                String::new(),
            )),
            commands: None,
        }
    }

    /// Delivers `packet` as if it had been received (same overflow rules).
    #[cfg(feature = "test-hooks")]
    pub fn inject(&self, packet: Packet) {
        self.shared.delivery.deliver(packet);
    }

    pub fn state(&self) -> ConnectionState {
        self.shared.state()
    }

    /// The session id from the token (once known). It changes when the
    /// service lost the session and the library opened a new one.
    pub fn session_id(&self) -> Option<String> {
        self.shared.snapshot.lock().session_id.clone()
    }

    /// The last scene status received.
    pub fn scene(&self) -> Option<SceneStatus> {
        self.shared.snapshot.lock().scene.clone()
    }

    /// The characters of the loaded scene (empty before the scene loads).
    pub fn characters(&self) -> Vec<Character> {
        self.shared
            .snapshot
            .lock()
            .scene
            .as_ref()
            .map(|s| s.characters.clone())
            .unwrap_or_default()
    }

    /// The character that one-to-one sends talk to.
    pub fn current_character(&self) -> Option<Character> {
        self.shared.snapshot.lock().current.clone()
    }

    /// Picks the character to talk to by agent id, resource name or display
    /// name (case-insensitive). If the conversation has started, the service
    /// is told at once.
    pub fn set_current_character(&self, who: &str) -> Result<(), Error> {
        if who.is_empty() {
            return Err(Error::InvalidArgument("character name is empty".into()));
        }
        {
            let mut snapshot = self.shared.snapshot.lock();
            if snapshot.state == ConnectionState::Closed {
                return Err(Error::Closed);
            }
            let Some(scene) = snapshot.scene.as_ref() else {
                return Err(Error::NotReady);
            };
            let found = find_character(&scene.characters, who)
                .cloned()
                .ok_or_else(|| Error::NotFound(format!("no character {who:?} in the scene")))?;
            if snapshot.current.as_ref() == Some(&found) {
                return Ok(());
            }
            snapshot.current = Some(found);
        }
        self.command(Command::CharacterChanged)
    }

    /// Sends typed text (TYPED_IN, final) to the current character.
    pub fn send_text(&self, text: &str) -> Result<SentIds, Error> {
        if text.is_empty() {
            return Err(Error::InvalidArgument("text is empty".into()));
        }
        self.send(Outgoing::Text(text.to_string()))
    }

    /// Sends a custom trigger with parameters to the current character.
    pub fn send_trigger(&self, name: &str, params: &[(&str, &str)]) -> Result<SentIds, Error> {
        if name.is_empty() {
            return Err(Error::InvalidArgument("trigger name is empty".into()));
        }
        if params.iter().any(|(n, _)| n.is_empty()) {
            return Err(Error::InvalidArgument(
                "trigger parameter names must not be empty".into(),
            ));
        }
        self.send(Outgoing::Trigger {
            name: name.to_string(),
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            target: None,
        })
    }

    /// Sends a narrated action ("waves hello") to the current character.
    pub fn send_narrated_action(&self, text: &str) -> Result<SentIds, Error> {
        if text.is_empty() {
            return Err(Error::InvalidArgument("narrated action is empty".into()));
        }
        self.send(Outgoing::NarratedAction(text.to_string()))
    }

    /// A character resource name of this session's workspace.
    fn character_name(&self, name: &str) -> Result<String, Error> {
        match SceneName::parse(name) {
            Some(s) if s.workspace != self.shared.workspace => {
                Err(Error::InvalidArgument(format!(
                    "{name:?} is in workspace {:?}; the session's is {:?}",
                    s.workspace, self.shared.workspace
                )))
            }
            Some(_) if character_id(name, &self.shared.workspace).is_some() => Ok(name.to_string()),
            _ => Err(Error::InvalidArgument(format!(
                "{name:?} is not a character resource name (workspaces/<ws>/characters/<id>)"
            ))),
        }
    }

    /// Changes the scene on the same session (a scene or a single
    /// character's resource name, in the session's workspace), as the Node
    /// SDK does: the configuration `change` carries, then LoadScene when the
    /// name differs (a SceneMutation packet tells the game when it went
    /// out). The character list is replaced when the new status arrives (a
    /// SceneStatus packet); the current character stays if it is
    /// in the new scene, else it is the first. Sends made meanwhile wait
    /// for it. A scene the service does not have gives an Error packet
    /// (NOT_FOUND), and the session carries on in its previous scene; one
    /// that does not load in `Timeouts::scene_load` gives an error and a
    /// reconnect. Never waits on the network.
    pub fn change_scene(&self, scene: &str, change: SceneChange) -> Result<(), Error> {
        match SceneName::parse(scene) {
            None => {
                return Err(Error::InvalidArgument(format!(
                    "scene {scene:?} must be workspaces/<ws>/scenes/<name> or \
                     workspaces/<ws>/characters/<name>"
                )))
            }
            Some(s) if s.workspace != self.shared.workspace => {
                return Err(Error::InvalidArgument(format!(
                    "scene {scene:?} is in workspace {:?}; the session's is {:?}",
                    s.workspace, self.shared.workspace
                )))
            }
            Some(_) => {}
        }
        self.check_open()?;
        self.command(Command::ChangeScene(Box::new((scene.to_string(), change))))
    }

    /// Adds characters (resource names of the session's workspace) to the
    /// scene; the new character list arrives as a SceneStatus packet. A name
    /// the service does not know is left out of it (and it says so with a
    /// warning).
    pub fn add_characters(&self, names: &[&str]) -> Result<(), Error> {
        if names.is_empty() {
            return Err(Error::InvalidArgument("no characters given".into()));
        }
        let names = names
            .iter()
            .map(|n| self.character_name(n))
            .collect::<Result<Vec<_>, _>>()?;
        self.to_world(outbound::load_characters(&names))
    }

    /// Removes characters from the scene (agent id, resource name or
    /// display name): they leave the character list at once, and every
    /// conversation; if the current character leaves, the first remaining
    /// one takes its place.
    pub fn remove_characters(&self, names: &[&str]) -> Result<(), Error> {
        if names.is_empty() {
            return Err(Error::InvalidArgument("no characters given".into()));
        }
        let (agents, resource_names) = {
            let mut snapshot = self.shared.snapshot.lock();
            if snapshot.state == ConnectionState::Closed {
                return Err(Error::Closed);
            }
            let Some(scene) = snapshot.scene.as_mut() else {
                return Err(Error::NotReady);
            };
            let mut leaving = Vec::new();
            for name in names {
                let c = find_character(&scene.characters, name).ok_or_else(|| {
                    Error::NotFound(format!("no character {name:?} in the scene"))
                })?;
                leaving.push(c.clone());
            }
            scene
                .characters
                .retain(|c| !leaving.iter().any(|l| l.id == c.id));
            let first = scene.characters.first().cloned();
            if snapshot
                .current
                .as_ref()
                .is_some_and(|c| leaving.iter().any(|l| l.id == c.id))
            {
                snapshot.current = first;
            }
            (
                leaving.iter().map(|c| c.id.to_string()).collect::<Vec<_>>(),
                leaving
                    .iter()
                    .map(|c| c.resource_name.to_string())
                    .collect::<Vec<_>>(),
            )
        };
        self.to_world(outbound::unload_characters(&agents))?;
        self.command(Command::CharactersRemoved(resource_names))
    }

    /// Resource names of the given characters.
    fn member_names(&self, characters: &[&str]) -> Result<Vec<String>, Error> {
        if characters.is_empty() {
            return Err(Error::InvalidArgument(
                "a conversation needs at least one character".into(),
            ));
        }
        let snapshot = self.shared.snapshot.lock();
        let known = snapshot
            .scene
            .as_ref()
            .map_or(&[][..], |s| s.characters.as_slice());
        characters
            .iter()
            .map(|who| match find_character(known, who) {
                Some(c) => Ok(c.resource_name.to_string()),
                None if SceneName::parse(who).is_some() => self.character_name(who),
                None => Err(Error::NotFound(format!(
                    "no character {who:?} in the scene"
                ))),
            })
            .collect()
    }

    /// Likes the reply to `interaction_id` (the ids of a reply packet; the
    /// correlation id names the group, `default` when none). Returns the
    /// request id its `CallResult` packet will carry (with the feedback's
    /// name, for undo). Like every call, it works after the session closed
    /// too (with its last token; `Closed` if it never had one).
    pub fn like(&self, interaction_id: &str, correlation_id: Option<&str>) -> Result<u64, Error> {
        self.feedback(true, interaction_id, correlation_id, &[], "")
    }

    /// Dislikes the reply to `interaction_id`, with reasons and a comment
    /// (see [`Session::like`]).
    pub fn dislike(
        &self,
        interaction_id: &str,
        correlation_id: Option<&str>,
        types: &[DislikeType],
        comment: &str,
    ) -> Result<u64, Error> {
        self.feedback(false, interaction_id, correlation_id, types, comment)
    }

    fn feedback(
        &self,
        like: bool,
        interaction_id: &str,
        correlation_id: Option<&str>,
        types: &[DislikeType],
        comment: &str,
    ) -> Result<u64, Error> {
        if interaction_id.is_empty() || interaction_id.contains('/') {
            return Err(Error::InvalidArgument(format!(
                "interaction id {interaction_id:?} is not an id"
            )));
        }
        if correlation_id.is_some_and(|c| c.is_empty() || c.contains('/')) {
            return Err(Error::InvalidArgument(format!(
                "correlation id {correlation_id:?} is not an id"
            )));
        }
        self.call(Call::Feedback {
            like,
            interaction_id: interaction_id.to_string(),
            correlation_id: correlation_id.map(str::to_string),
            types: types.to_vec(),
            comment: comment.to_string(),
        })
    }

    /// Undoes a like or dislike (`name` from its `CallResult`).
    pub fn undo_feedback(&self, name: &str) -> Result<u64, Error> {
        if !name.contains("/feedbacks/") {
            return Err(Error::InvalidArgument(format!(
                "{name:?} is not a feedback name (<parent>/feedbacks/<id>)"
            )));
        }
        self.call(Call::UndoFeedback {
            name: name.to_string(),
        })
    }

    /// Asks for the session's saved state (`GetSessionState`): its
    /// `CallResult` packet carries the bytes, which a later session takes as
    /// `Continuation::SavedState`. Works whenever the session has a token:
    /// between streams, and after it closed too (its result then arrives
    /// after the Closed packet). `Closed` if it never had one.
    pub fn request_state(&self) -> Result<u64, Error> {
        self.call(Call::SessionState)
    }

    /// Hands the task a call; once the session is closed, makes it with
    /// the session's last token (the service keeps a session after its
    /// streams), so its answer arrives after Closed.
    fn call(&self, call: Call) -> Result<u64, Error> {
        let request_id = self.shared.request_id();
        let Some(tx) = &self.commands else {
            return Err(Error::Closed);
        };
        let permit = self.shared.reserve_send().ok_or(Error::QueueFull)?;
        let command = Command::Call(Box::new(CountedCall {
            request_id,
            call,
            permit,
        }));
        // A refused command frees its slot as it is dropped.
        match tx.try_send(command) {
            Ok(()) => Ok(request_id),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Error::QueueFull),
            Err(mpsc::error::TrySendError::Closed(Command::Call(counted))) => {
                let CountedCall { call, .. } = *counted;
                self.shared.call_after_close(request_id, call)?;
                Ok(request_id)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::Closed),
        }
    }

    /// The dialog so far, as the library saw it (the player's texts and
    /// narrated actions, the characters' final lines; the last 64 lines):
    /// what `Continuation::DialogHistory` takes to reopen later.
    pub fn dialog(&self) -> Vec<(Talker, String)> {
        self.shared.transcript.lock().lines()
    }

    /// Creates or updates entity items, and adds them to entities.
    pub fn create_or_update_items(
        &self,
        items: &[EntityItem],
        add_to_entities: &[&str],
    ) -> Result<(), Error> {
        if items.iter().any(|i| i.id.is_empty()) {
            return Err(Error::InvalidArgument("an item has an empty id".into()));
        }
        let operation = items::items_operation_event::Operation::CreateOrUpdateItems(
            items::CreateOrUpdateItemsOperation {
                items: items
                    .iter()
                    .map(|i| items::EntityItem {
                        id: i.id.clone(),
                        display_name: i.display_name.clone(),
                        description: i.description.clone(),
                        properties: i.properties.iter().cloned().collect(),
                    })
                    .collect(),
                add_to_entities: add_to_entities.iter().map(|e| e.to_string()).collect(),
            },
        );
        self.to_world(outbound::items_operation(operation))
    }

    /// Removes entity items.
    pub fn remove_items(&self, item_ids: &[&str]) -> Result<(), Error> {
        if item_ids.is_empty() {
            return Err(Error::InvalidArgument("no item ids given".into()));
        }
        let operation =
            items::items_operation_event::Operation::RemoveItems(items::RemoveItemsOperation {
                item_ids: item_ids.iter().map(|i| i.to_string()).collect(),
            });
        self.to_world(outbound::items_operation(operation))
    }

    /// Adds items to entities, removes them, or replaces the entities' items.
    pub fn items_in_entities(
        &self,
        how: ItemsInEntities,
        item_ids: &[&str],
        entity_names: &[&str],
    ) -> Result<(), Error> {
        if entity_names.is_empty() {
            return Err(Error::InvalidArgument("no entity names given".into()));
        }
        use items::items_in_entities_operation::Type;
        let operation = items::items_operation_event::Operation::ItemsInEntities(
            items::ItemsInEntitiesOperation {
                r#type: match how {
                    ItemsInEntities::Add => Type::Add,
                    ItemsInEntities::Remove => Type::Remove,
                    ItemsInEntities::Replace => Type::Replace,
                } as i32,
                item_ids: item_ids.iter().map(|i| i.to_string()).collect(),
                entity_names: entity_names.iter().map(|e| e.to_string()).collect(),
            },
        );
        self.to_world(outbound::items_operation(operation))
    }

    /// Queues a send in the one-to-one conversation.
    fn send(&self, payload: Outgoing) -> Result<SentIds, Error> {
        let conversation_id = self.shared.snapshot.lock().conversation_id.clone();
        self.send_in(conversation_id, payload)
    }

    /// Queues a send in conversation `conversation_id`. It goes out at once
    /// when the conversation is started, else when it is (up to
    /// `max_pending_sends` wait; beyond, `QueueFull`).
    fn send_in(&self, conversation_id: String, payload: Outgoing) -> Result<SentIds, Error> {
        self.send_with(SentIds::fresh(conversation_id), payload)
    }

    fn send_with(&self, ids: SentIds, payload: Outgoing) -> Result<SentIds, Error> {
        self.check_open()?;
        let permit = self.shared.reserve_send().ok_or(Error::QueueFull)?;
        let send = Send {
            ids: ids.clone(),
            payload,
            permit,
        };
        // Refused, the command frees its slot as it is dropped.
        self.command(Command::Send(Box::new(send)))?;
        Ok(ids)
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.shared.state() == ConnectionState::Closed {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Hands the task a command that counts as a pending send (it waits
    /// while the session cannot send), made with its slot.
    fn command_counted(&self, command: impl FnOnce(SendPermit) -> Command) -> Result<(), Error> {
        self.check_open()?;
        let permit = self.shared.reserve_send().ok_or(Error::QueueFull)?;
        // Refused, the command frees its slot as it is dropped.
        self.command(command(permit))
    }

    /// Hands the task a packet to the world (it waits while the session
    /// cannot send).
    fn to_world(
        &self,
        packet: crate::protocol::ai::inworld::packets::InworldPacket,
    ) -> Result<(), Error> {
        self.command_counted(|permit| Command::World(Box::new(WorldPacket { packet, permit })))
    }

    fn command(&self, command: Command) -> Result<(), Error> {
        let Some(tx) = &self.commands else {
            return Err(Error::Closed);
        };
        tx.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::QueueFull,
            mpsc::error::TrySendError::Closed(_) => Error::Closed,
        })
    }

    /// The next packet, if one is waiting; once the queue is drained, an
    /// `Overflow` report of packets dropped meanwhile. Never blocks, never
    /// allocates.
    pub fn try_recv(&self) -> Option<Packet> {
        self.shared.delivery.try_recv()
    }

    /// Waits up to `timeout` for the next packet (for tools and tests).
    /// Returns `None` at once after the session's last packet was taken
    /// (Connection Closed, and the answers of calls made).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Packet> {
        self.shared.delivery.recv_timeout(timeout)
    }

    /// The next packet, awaited without blocking a thread (for async hosts:
    /// a game server, a service); `None` once the session has ended and its
    /// last packet (Connection Closed, and the answers of calls made) was
    /// taken. Works on any runtime.
    pub async fn recv(&self) -> Option<Packet> {
        self.shared.delivery.recv().await
    }

    /// Sends packets to `handler` on a library thread instead of the queue
    /// (`None` goes back to the queue). Packets already queued stay there.
    /// The handler runs on a runtime worker: keep it short and non-blocking
    /// (hand the packet over to your own thread if needed). Replacing it
    /// waits until a running call of the old one returns (except from inside
    /// the handler itself).
    pub fn set_handler(&self, handler: Option<PacketHandler>) {
        self.shared.delivery.set_handler(handler);
    }

    /// Calls `wakeup` on a library thread whenever the queue goes from empty
    /// to non-empty (e.g. to schedule a poll on the game's main thread).
    pub fn set_wakeup(&self, wakeup: Option<WakeupHandler>) {
        self.shared.delivery.set_wakeup(wakeup);
    }

    /// Closes the session: the stream ends and sends not gone out are
    /// reported (`SendFailed`, not sent). Idempotent. Once it returns, the
    /// state is Closed and no handler or wake-up call of this session runs
    /// or is running (called from inside this session's own handler, it
    /// returns at once and nothing fires after that handler returns).
    /// Packets already queued stay pollable, followed by the reports and a
    /// final Connection Closed packet; only the answers (CallResult) of
    /// calls made (feedback, saved state, before or after closing) may
    /// come after it.
    pub fn close(&self) {
        if self.shared.delivery.close() {
            self.shared.mark_closed();
            self.shared.close_signal.notify_one();
            if self.commands.is_none() {
                self.shared.finish();
            }
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state())
            .field("session_id", &self.session_id())
            .finish()
    }
}

/// A character by agent id, resource name or display name (any case).
fn find_character<'a>(characters: &'a [Character], who: &str) -> Option<&'a Character> {
    characters
        .iter()
        .find(|c| c.id == who)
        .or_else(|| characters.iter().find(|c| c.resource_name == who))
        .or_else(|| {
            characters
                .iter()
                .find(|c| c.display_name.eq_ignore_ascii_case(who))
        })
}

/// The ids of an audio packet: its own and the conversation's, as the SDK
/// sends them.
fn audio_ids(conversation_id: String) -> SentIds {
    SentIds {
        packet_id: uuid::Uuid::new_v4().to_string(),
        conversation_id,
        ..SentIds::default()
    }
}
