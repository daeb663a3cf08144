//! `Session`: the game's handle on one session. Calls never wait on the
//! network: they read the shared snapshot or hand a command to the
//! session's task (`driver/`).

use super::calls::{Call, DislikeType, EntityItem, ItemsInEntities, SceneChange};
use super::config::Talker;
use super::mic::{
    self, AudioFormat, AudioInput, AudioSessionConfig, EchoReference, Pipeline, VoiceDetection,
};
use super::outbound;
use super::playback::{stream_capacity, Playback, PlaybackFeed, PlaybackFormat, PlaybackLink};
use super::send_slots::SendPermit;
use super::state::{Command, CountedCall, Members, Outgoing, Send, SessionShared, WorldPacket};
use super::{Error, PacketHandler, SentIds, WakeupHandler};
use crate::packet::{Character, ConnectionState, Packet, SceneStatus};
use crate::protocol::ai::inworld::packets::entities as items;
use crate::protocol::names::{character_id, SceneName};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

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

    /// Starts a conversation between these characters (agent id, resource
    /// name or display name of a character in the scene, or the resource
    /// name of one to add) and, if `with_player`, the player. Returns at
    /// once: nothing is sent before its first packet (then characters not in
    /// the scene are added, and the service is asked to start it). Its
    /// replies carry its id as `conversation_id`, and the answering
    /// character as their source.
    pub fn start_conversation(
        &self,
        characters: &[&str],
        with_player: bool,
    ) -> Result<Conversation, Error> {
        let names = self.member_names(characters)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.check_open()?;
        self.command(Command::StartConversation {
            id: id.clone(),
            members: Members::Group {
                names: names.clone(),
                player: with_player,
            },
        })?;
        Ok(Conversation {
            session: self.clone(),
            id,
            characters: names.len(),
        })
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

    /// Starts an audio session in the one-to-one conversation (with the
    /// current character): the service listens to what an [`AudioInput`]
    /// pushes from now until [`Session::end_audio_session`] (in push-to-talk
    /// mode, the end is when the player stopped speaking; in open-mic mode
    /// the service finds the ends itself). One audio session at a time per
    /// session. It goes out after the conversation's handshake; the audio
    /// pushed meanwhile waits (up to the input's one second). Audio pushed
    /// while the session cannot send (connecting, reconnecting) is dropped
    /// and reported, never sent late; after a reconnect the audio session
    /// starts again by itself. Returns the ids of the AUDIO_SESSION_START
    /// packet (a `SendFailed` with them says it did not go out).
    pub fn start_audio_session(&self, config: AudioSessionConfig) -> Result<SentIds, Error> {
        let conversation_id = self.shared.snapshot.lock().conversation_id.clone();
        self.start_audio_in(conversation_id, config)
    }

    fn start_audio_in(
        &self,
        conversation_id: String,
        config: AudioSessionConfig,
    ) -> Result<SentIds, Error> {
        self.check_open()?;
        let mark = {
            let mut snapshot = self.shared.snapshot.lock();
            self.shared.mic.open()?;
            snapshot.audio_conversation = Some(conversation_id.clone());
            self.shared.mic.mark()
        };
        let ids = audio_ids(conversation_id);
        self.send_with(ids, Outgoing::AudioSessionStart(config, mark))
            .inspect_err(|_| {
                let mut snapshot = self.shared.snapshot.lock();
                snapshot.audio_conversation = None;
                let _ = self.shared.mic.end();
            })
    }

    /// Ends the open audio session (in whichever conversation it is): the
    /// audio pushed before this call goes out, then AUDIO_SESSION_END.
    /// `InvalidArgument` when no audio session is open.
    pub fn end_audio_session(&self) -> Result<SentIds, Error> {
        self.end_audio_in(None)
    }

    fn end_audio_in(&self, conversation_id: Option<&str>) -> Result<SentIds, Error> {
        self.check_open()?;
        let (conversation_id, mark) = {
            let mut snapshot = self.shared.snapshot.lock();
            match (&snapshot.audio_conversation, conversation_id) {
                (Some(open), Some(asked)) if open != asked => {
                    return Err(Error::InvalidArgument(
                        "the open audio session is in another conversation".into(),
                    ))
                }
                (None, _) => return Err(Error::InvalidArgument("no audio session is open".into())),
                _ => {}
            }
            self.shared.mic.end()?;
            let id = snapshot.audio_conversation.take().expect("checked");
            let mark = self.shared.mic.mark();
            self.shared.mic.end_made(mark);
            (id, mark)
        };
        self.send_with(audio_ids(conversation_id), Outgoing::AudioSessionEnd(mark))
            .inspect_err(|_| self.shared.mic.end_unmade(mark))
    }

    /// Mutes (true) or unmutes the characters' speech in the one-to-one
    /// conversation: while muted, the service leaves audio out of replies
    /// (text and the rest still come). Returns the ids of the control packet.
    pub fn mute_speech(&self, muted: bool) -> Result<SentIds, Error> {
        let conversation_id = self.shared.snapshot.lock().conversation_id.clone();
        self.send_with(audio_ids(conversation_id), Outgoing::PlaybackMute(muted))
    }

    /// Asks the current character to stop its reply to `interaction_id`
    /// (only the utterances of `utterance_ids`, when not empty): the rest of
    /// it does not come, and its INTERACTION_END ends it. Its speech queued
    /// in [`Playback`] streams is dropped: they go silent at their next
    /// read. As in the SDK, it goes to the one-to-one conversation's
    /// character. `NotReady` before
    /// there is one; `InvalidArgument` for an empty interaction id.
    pub fn cancel_responses(
        &self,
        interaction_id: &str,
        utterance_ids: &[&str],
    ) -> Result<(), Error> {
        if interaction_id.is_empty() {
            return Err(Error::InvalidArgument("no interaction id".into()));
        }
        let agent_id = self
            .current_character()
            .ok_or(Error::NotReady)?
            .id
            .to_string();
        let utterance_ids: Vec<String> = utterance_ids.iter().map(|u| u.to_string()).collect();
        let packet = outbound::cancel_responses(&agent_id, interaction_id, &utterance_ids);
        self.command_counted(|permit| Command::CancelResponses {
            packet: Box::new(WorldPacket { packet, permit }),
            interaction_id: interaction_id.to_string(),
            utterance_ids,
        })
    }

    /// Opens a stream of the characters' speech in `format`, for the game's
    /// audio thread to pull (see [`Playback`]): every character's speech, or
    /// only `character`'s (its agent id, resource name or display name), so
    /// that each character can play through its own audio source. Speech
    /// that arrives from now on is queued; cancelled responses and barge-in
    /// flush it. `InvalidArgument` for a rate outside 8–192 kHz or other
    /// than 1 or 2 channels; `NotFound` for a character not in the scene;
    /// `NotReady` for a character before the scene is loaded.
    pub fn open_playback(
        &self,
        format: PlaybackFormat,
        character: Option<&str>,
    ) -> Result<Playback, Error> {
        format.validate()?;
        self.check_open()?;
        let character = match character {
            None => None,
            Some(who) => {
                let snapshot = self.shared.snapshot.lock();
                let scene = snapshot.scene.as_ref().ok_or(Error::NotReady)?;
                let found = find_character(&scene.characters, who)
                    .ok_or_else(|| Error::NotFound(format!("no character {who:?} in the scene")))?;
                Some(found.resource_name.to_string())
            }
        };
        let (writer, reader, clock) =
            crate::audio::playback::playback(format.channels, stream_capacity(format));
        let link = Arc::new(PlaybackLink::default());
        self.command(Command::OpenPlayback(Box::new(PlaybackFeed {
            writer,
            format,
            character,
            link: link.clone(),
        })))?;
        Ok(Playback::new(reader, clock, format, link))
    }

    /// Opens the session's audio input for audio in `format`: hand it to
    /// your audio thread and push what the microphone records (see
    /// [`AudioInput`]). One per session: opening another replaces it (the
    /// old one's pushes then fail with `Closed`). `InvalidArgument` for a
    /// rate outside 8–48 kHz or other than 1 or 2 channels.
    pub fn audio_input(&self, format: AudioFormat) -> Result<AudioInput, Error> {
        format.validate()?;
        self.check_open()?;
        let (producer, consumer) = rtrb::RingBuffer::new(mic::ring_capacity(format));
        let (id, start) = self.shared.mic.new_input();
        self.command(Command::AudioInput(Box::new(Pipeline::new(
            consumer, format, start,
        ))))?;
        Ok(AudioInput::new(
            producer,
            id,
            format,
            self.shared.mic.clone(),
        ))
    }

    /// Turns voice detection on (hands-free, see [`VoiceDetection`]) or
    /// off (`None`). While on, the audio input is listened to all the time
    /// and the library starts and ends the audio sessions itself (in the
    /// one-to-one conversation); the game sees each turn as
    /// `PacketBody::VoiceActivity` packets, and its own
    /// `start_audio_session` is refused. Turning it on while the game's
    /// audio session is open is refused (`InvalidArgument`); turning it off
    /// during a turn ends the turn (cut short).
    pub fn set_voice_detection(&self, config: Option<VoiceDetection>) -> Result<(), Error> {
        self.check_open()?;
        // Audio pushed from here on is the new setting's: only what came
        // before is stale (a push accepted now must be sent).
        let from = self.shared.mic.mark();
        self.shared.mic.set_hands_free(config.is_some())?;
        self.command(Command::VoiceDetection { config, from })
    }

    /// Opens the session's echo reference for audio in `format`: push what
    /// the game actually plays from its audio thread (see
    /// [`EchoReference`]), so that voice detection with echo cancellation
    /// does not hear it. One per session: opening another replaces it.
    pub fn echo_reference(&self, format: AudioFormat) -> Result<EchoReference, Error> {
        format.validate()?;
        self.check_open()?;
        let (producer, consumer) = rtrb::RingBuffer::new(mic::ring_capacity(format));
        self.command(Command::EchoReference(Box::new(Pipeline::new(
            consumer, format, 0,
        ))))?;
        let shared = mic::EchoShared {
            dropped: Default::default(),
            id: self.shared.mic.new_echo_reference(),
            mic: self.shared.mic.clone(),
        };
        Ok(EchoReference::new(
            producer,
            format,
            std::sync::Arc::new(shared),
        ))
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

/// The trigger that lets the next character of a conversation speak
/// (characters talking among themselves).
pub const NEXT_TURN_TRIGGER: &str = "inworld.conversation.next_turn";

/// A conversation of several characters (see `Session::start_conversation`).
/// Cheap to clone; sends from it carry its id.
#[derive(Clone, Debug)]
pub struct Conversation {
    session: Session,
    id: String,
    characters: usize,
}

impl Conversation {
    /// Its id: the `conversation_id` of its replies and events.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Sends typed text to the conversation.
    pub fn send_text(&self, text: &str) -> Result<SentIds, Error> {
        if text.is_empty() {
            return Err(Error::InvalidArgument("text is empty".into()));
        }
        self.session
            .send_in(self.id.clone(), Outgoing::Text(text.to_string()))
    }

    /// Sends a trigger: to `character` (agent id or resource name) when
    /// given, else the service picks who answers.
    pub fn send_trigger(
        &self,
        name: &str,
        params: &[(&str, &str)],
        character: Option<&str>,
    ) -> Result<SentIds, Error> {
        if name.is_empty() {
            return Err(Error::InvalidArgument("trigger name is empty".into()));
        }
        if params.iter().any(|(n, _)| n.is_empty()) {
            return Err(Error::InvalidArgument(
                "trigger parameter names must not be empty".into(),
            ));
        }
        let target = match character {
            Some(who) => Some(self.session.member_names(&[who])?.remove(0)),
            None => None,
        };
        self.session.send_in(
            self.id.clone(),
            Outgoing::Trigger {
                name: name.to_string(),
                params: params
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                target,
            },
        )
    }

    /// Lets the next character speak (characters talk among themselves).
    pub fn next_turn(&self) -> Result<SentIds, Error> {
        self.send_trigger(NEXT_TURN_TRIGGER, &[], None)
    }

    /// Sends a narrated action; only in a conversation of one character (as
    /// the Node SDK rules: nobody would know who reacts).
    pub fn send_narrated_action(&self, text: &str) -> Result<SentIds, Error> {
        if self.characters != 1 {
            return Err(Error::InvalidArgument(
                "narrated actions go to a conversation of one character".into(),
            ));
        }
        if text.is_empty() {
            return Err(Error::InvalidArgument("narrated action is empty".into()));
        }
        self.session
            .send_in(self.id.clone(), Outgoing::NarratedAction(text.to_string()))
    }

    /// Starts an audio session in this conversation (see
    /// [`Session::start_audio_session`]); its audio carries the
    /// conversation's id.
    pub fn start_audio_session(&self, config: AudioSessionConfig) -> Result<SentIds, Error> {
        self.session.start_audio_in(self.id.clone(), config)
    }

    /// Ends the audio session open in this conversation
    /// (`InvalidArgument` when there is none).
    pub fn end_audio_session(&self) -> Result<SentIds, Error> {
        self.session.end_audio_in(Some(&self.id))
    }

    /// Mutes or unmutes the characters' speech in this conversation (see
    /// [`Session::mute_speech`]).
    pub fn mute_speech(&self, muted: bool) -> Result<SentIds, Error> {
        self.session
            .send_with(audio_ids(self.id.clone()), Outgoing::PlaybackMute(muted))
    }

    /// New participants (as for `start_conversation`); the service is told
    /// at once when the conversation has started (same id).
    pub fn update_participants(
        &mut self,
        characters: &[&str],
        with_player: bool,
    ) -> Result<(), Error> {
        let names = self.session.member_names(characters)?;
        self.session.check_open()?;
        self.characters = names.len();
        self.session.command(Command::UpdateConversation {
            id: self.id.clone(),
            members: Members::Group {
                names,
                player: with_player,
            },
        })
    }

    /// Ends the conversation here: nothing more is sent in it, and its sends
    /// still waiting are reported as not sent. (The service has no message
    /// for it; it evicts old conversations itself.)
    pub fn end(self) -> Result<(), Error> {
        self.session.check_open()?;
        self.session
            .command(Command::EndConversation { id: self.id })
    }
}
