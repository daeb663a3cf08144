//! `InworldSession`: a conversation with a scene's characters, and how the
//! other nodes find the session they sit under.

use std::collections::HashMap;

use godot::classes::{INode, Node};
use godot::prelude::*;
use inworld::client::{Continuation, Conversation, Session};

use super::args::{as_refs, as_strs, report, string_pairs, strings};
use super::client::InworldClient;
use crate::calls;
use crate::events::{event_of, GameEvent, Speaker};

/// A conversation with a scene's characters. Signals come from `_process`
/// (the main thread). Put it under an InworldClient.
#[derive(GodotClass)]
#[class(base = Node)]
pub struct InworldSession {
    /// workspaces/<ws>/scenes/<id>; empty: the client's default (the demo
    /// tavern on the local engine).
    #[export]
    scene: GString,
    /// Open when the node enters the tree.
    #[export]
    auto_open: bool,
    session: Option<Session>,
    characters: Vec<inworld::packet::Character>,
    /// Group conversations by id (see start_conversation).
    conversations: HashMap<String, Conversation>,
    base: Base<Node>,
}

#[godot_api]
impl INode for InworldSession {
    fn init(base: Base<Node>) -> Self {
        InworldSession {
            scene: GString::new(),
            auto_open: true,
            session: None,
            characters: Vec::new(),
            conversations: HashMap::new(),
            base,
        }
    }

    fn ready(&mut self) {
        if self.auto_open {
            self.open();
        }
    }

    fn process(&mut self, _delta: f64) {
        // Drain what arrived since the last frame: a bounded amount, so a
        // flood cannot stall the frame (the rest waits for the next one).
        for _ in 0..256 {
            let Some(packet) = self.session.as_ref().and_then(|s| s.try_recv()) else {
                break;
            };
            if let Some(event) = event_of(&packet) {
                self.emit(event);
            }
        }
    }

    fn exit_tree(&mut self) {
        self.close();
    }
}

#[godot_api]
impl InworldSession {
    /// Text from a character (speaker: agent id) or the player (speaker ""),
    /// in the one-to-one conversation or a group's (its id from
    /// start_conversation).
    #[signal]
    fn text_received(
        speaker: GString,
        speaker_name: GString,
        text: GString,
        is_final: bool,
        conversation_id: GString,
    );
    #[signal]
    fn emotion_changed(speaker: GString, behavior: GString, strength: GString);
    #[signal]
    fn trigger_received(speaker: GString, name: GString, parameters: VarDictionary);
    #[signal]
    fn task_received(speaker: GString, name: GString, parameters: VarDictionary);
    #[signal]
    fn narrated_action(speaker: GString, content: GString);
    /// A character finished a reply (in a group conversation, each one
    /// that answered).
    #[signal]
    fn interaction_ended(interaction_id: GString, conversation_id: GString);
    /// "connecting", "ready", "reconnecting", "stalled", "closed".
    #[signal]
    fn connection_state_changed(state: GString);
    /// details: grpc_code, will_retry, and Inworld's error_type, max_retries, resource_id when given.
    #[signal]
    fn error_received(message: GString, details: VarDictionary);
    #[signal]
    fn characters_changed();
    /// The service refused or cut something the game sent (an item beyond
    /// its limits, a text too long); also a Godot warning.
    #[signal]
    fn warning_received(message: GString);
    /// A like or dislike was recorded (request_id as like/dislike returned);
    /// feedback_name undoes it (undo_feedback).
    #[signal]
    fn feedback_recorded(request_id: i64, feedback_name: GString);
    #[signal]
    fn feedback_undone(request_id: i64);
    /// The saved state request_state asked for: keep the bytes (a file, a
    /// save game) and open a later session with open_continuing(state).
    /// version: the last interaction it includes.
    #[signal]
    fn state_received(request_id: i64, state: PackedByteArray, version: GString);
    /// A like, dislike, undo_feedback or request_state (call) failed at the service.
    #[signal]
    fn call_failed(request_id: i64, call: GString, grpc_code: i64, message: GString);

    /// Opens the session (never waits on the network: watch
    /// connection_state_changed for "ready"). False, with a Godot error, if
    /// it could not.
    #[func]
    fn open(&mut self) -> bool {
        self.open_with(None)
    }

    /// Opens the session continuing from a saved state (the bytes of a
    /// state_received signal): the characters remember what was said. False,
    /// with a Godot error, if it could not or the session is already open.
    #[func]
    fn open_continuing(&mut self, saved_state: PackedByteArray) -> bool {
        if self.session.is_some() {
            godot_error!("Inworld: the session is already open (close it first)");
            return false;
        }
        self.open_with(Some(Continuation::SavedState(saved_state.to_vec())))
    }

    /// Opens the session continuing from a dialog (lines as dialog() gives
    /// them: [{talker: "player" or "character", text}], oldest first). False,
    /// with a Godot error, as open_continuing.
    #[func]
    fn open_continuing_dialog(&mut self, lines: Array<VarDictionary>) -> bool {
        if self.session.is_some() {
            godot_error!("Inworld: the session is already open (close it first)");
            return false;
        }
        let mut dialog = Vec::new();
        for line in lines.iter_shared() {
            let field = |key: &str| line.get(key).map(|v| v.to_string()).unwrap_or_default();
            match calls::talker_of(&field("talker")) {
                Ok(talker) => dialog.push((talker, field("text"))),
                Err(message) => {
                    godot_error!("Inworld: {message}");
                    return false;
                }
            }
        }
        self.open_with(Some(Continuation::DialogHistory(dialog)))
    }

    /// The dialog so far as the library saw it (the last 64 lines):
    /// [{talker: "player" or "character", text}], oldest first; empty when
    /// the session is not open. Keep it to continue with
    /// open_continuing_dialog.
    #[func]
    fn dialog(&self) -> Array<VarDictionary> {
        let mut out = Array::new();
        for (talker, text) in self
            .session
            .as_ref()
            .map(|s| s.dialog())
            .unwrap_or_default()
        {
            let mut d = VarDictionary::new();
            d.set("talker", calls::talker_name(talker));
            d.set("text", text.as_str());
            out.push(&d);
        }
        out
    }

    fn open_with(&mut self, continuation: Option<Continuation>) -> bool {
        if self.session.is_some() {
            return true;
        }
        let Some(mut client_node) = self
            .base()
            .get_parent()
            .and_then(|p| p.try_cast::<InworldClient>().ok())
        else {
            godot_error!("InworldSession must be a child of an InworldClient");
            return false;
        };
        let opened = client_node
            .bind_mut()
            .connect()
            .and_then(|(client, default_scene)| {
                let scene = if self.scene.is_empty() {
                    default_scene
                } else {
                    self.scene.to_string()
                };
                client
                    .open_session_with(calls::session_config(&client, scene, continuation))
                    .map_err(|e| e.to_string())
            });
        match opened {
            Ok(session) => {
                self.session = Some(session);
                true
            }
            Err(message) => {
                godot_error!("Inworld: {message}");
                false
            }
        }
    }

    #[func]
    fn close(&mut self) {
        self.conversations.clear();
        if let Some(session) = self.session.take() {
            session.close();
        }
    }

    #[func]
    fn is_ready(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.state() == inworld::packet::ConnectionState::Ready)
    }

    /// Says something to the current character. False (with a Godot error) if not sent.
    #[func]
    pub(super) fn send_text(&mut self, text: GString) -> bool {
        self.sending(|s| s.send_text(&text.to_string()).map(drop))
    }

    /// A trigger with parameters ({"key": "value"}).
    #[func]
    fn send_trigger(&mut self, name: GString, parameters: VarDictionary) -> bool {
        let pairs = string_pairs(&parameters);
        self.sending(|s| {
            s.send_trigger(&name.to_string(), &as_strs(&pairs))
                .map(drop)
        })
    }

    /// Narrates what the player does ("waves").
    #[func]
    fn send_narrated_action(&mut self, text: GString) -> bool {
        self.sending(|s| s.send_narrated_action(&text.to_string()).map(drop))
    }

    /// Talks to another character: display name, agent id or resource name.
    #[func]
    pub(super) fn set_current_character(&mut self, who: GString) -> bool {
        self.sending(|s| s.set_current_character(&who.to_string()))
    }

    /// The current character's display name ("" before the scene loaded).
    #[func]
    fn current_character(&self) -> GString {
        self.session
            .as_ref()
            .and_then(|s| s.current_character())
            .map(|c| GString::from(c.display_name.as_str()))
            .unwrap_or_default()
    }

    /// The scene's characters: [{id, resource_name, display_name}].
    #[func]
    fn characters(&self) -> Array<VarDictionary> {
        let mut out = Array::new();
        for c in self
            .session
            .as_ref()
            .map(|s| s.characters())
            .unwrap_or_default()
        {
            let mut d = VarDictionary::new();
            d.set("id", c.id.as_str());
            d.set("resource_name", c.resource_name.as_str());
            d.set("display_name", c.display_name.as_str());
            out.push(&d);
        }
        out
    }

    /// Loads another scene in the same session.
    #[func]
    fn change_scene(&mut self, scene: GString) -> bool {
        self.sending(|s| s.change_scene(&scene.to_string(), Default::default()))
    }

    /// Adds characters (resource names of the workspace) to the scene;
    /// characters_changed follows when they arrived.
    #[func]
    fn add_characters(&mut self, names: PackedStringArray) -> bool {
        let names = strings(&names);
        self.sending(|s| s.add_characters(&as_refs(&names)))
    }

    /// Removes characters (display name, agent id or resource name) from the
    /// scene and from every conversation.
    #[func]
    fn remove_characters(&mut self, names: PackedStringArray) -> bool {
        let names = strings(&names);
        let removed = self.sending(|s| s.remove_characters(&as_refs(&names)));
        if removed {
            // The list changed here at once; the service's own word follows.
            self.characters_changed();
        }
        removed
    }

    /// Starts a conversation of several characters (display names, agent ids
    /// or resource names) and, if with_player, the player. Returns its id (its
    /// replies' conversation_id), or "" with a Godot error. It starts on its
    /// first send.
    #[func]
    fn start_conversation(&mut self, characters: PackedStringArray, with_player: bool) -> GString {
        let names = strings(&characters);
        let mut started = None;
        self.sending(|s| {
            started = Some(s.start_conversation(&as_refs(&names), with_player)?);
            Ok(())
        });
        let Some(conversation) = started else {
            return GString::new();
        };
        let id = conversation.id().to_string();
        self.conversations.insert(id.clone(), conversation);
        id.as_str().into()
    }

    /// Says something in a group conversation; who answers is the service's choice.
    #[func]
    fn send_text_to_conversation(&mut self, conversation_id: GString, text: GString) -> bool {
        self.in_conversation(&conversation_id, |c| {
            c.send_text(&text.to_string()).map(drop)
        })
    }

    /// A trigger in a group conversation, to `character` (display name,
    /// agent id or resource name), or to whoever the service picks when "".
    #[func]
    fn send_trigger_to_conversation(
        &mut self,
        conversation_id: GString,
        name: GString,
        parameters: VarDictionary,
        character: GString,
    ) -> bool {
        let pairs = string_pairs(&parameters);
        let character = character.to_string();
        let target = (!character.is_empty()).then_some(character.as_str());
        self.in_conversation(&conversation_id, |c| {
            c.send_trigger(&name.to_string(), &as_strs(&pairs), target)
                .map(drop)
        })
    }

    /// Narrates what the player does, in a conversation of one character.
    #[func]
    fn send_narrated_action_to_conversation(
        &mut self,
        conversation_id: GString,
        text: GString,
    ) -> bool {
        self.in_conversation(&conversation_id, |c| {
            c.send_narrated_action(&text.to_string()).map(drop)
        })
    }

    /// Lets the next character of a group conversation speak (characters
    /// talking among themselves).
    #[func]
    fn next_turn(&mut self, conversation_id: GString) -> bool {
        self.in_conversation(&conversation_id, |c| c.next_turn().map(drop))
    }

    /// New participants for a group conversation (same id).
    #[func]
    fn update_conversation(
        &mut self,
        conversation_id: GString,
        characters: PackedStringArray,
        with_player: bool,
    ) -> bool {
        let names = strings(&characters);
        let Some(conversation) = self.conversation(&conversation_id) else {
            return false;
        };
        report(conversation.update_participants(&as_refs(&names), with_player))
    }

    /// Ends a group conversation: nothing more is sent in it (sends still
    /// waiting are reported through error_received).
    #[func]
    fn end_conversation(&mut self, conversation_id: GString) -> bool {
        match self.conversations.remove(&conversation_id.to_string()) {
            Some(conversation) => report(conversation.end()),
            None => {
                godot_error!("Inworld: no conversation {conversation_id}");
                false
            }
        }
    }

    /// Likes a reply: interaction_id as interaction_ended gave it. Returns
    /// the request id feedback_recorded (or call_failed) will carry, or -1
    /// with a Godot error.
    #[func]
    fn like(&mut self, interaction_id: GString) -> i64 {
        self.requesting(|s| s.like(&interaction_id.to_string(), None))
    }

    /// Dislikes a reply, with reasons ("irrelevant", "unsafe", "untrue",
    /// "incorrect_use_of_knowledge", "unexpected_action",
    /// "unexpected_goal_behavior", "repetition", "out_of_character",
    /// "too_long") and a comment (may be ""). Returns as like does.
    #[func]
    fn dislike(
        &mut self,
        interaction_id: GString,
        reasons: PackedStringArray,
        comment: GString,
    ) -> i64 {
        let reasons = match calls::dislike_reasons(&strings(&reasons)) {
            Ok(reasons) => reasons,
            Err(message) => {
                godot_error!("Inworld: {message}");
                return -1;
            }
        };
        self.requesting(|s| {
            s.dislike(
                &interaction_id.to_string(),
                None,
                &reasons,
                &comment.to_string(),
            )
        })
    }

    /// Undoes a like or dislike (feedback_name from feedback_recorded);
    /// feedback_undone follows. Returns as like does.
    #[func]
    fn undo_feedback(&mut self, feedback_name: GString) -> i64 {
        self.requesting(|s| s.undo_feedback(&feedback_name.to_string()))
    }

    /// Asks for the session's saved state; state_received follows. Close
    /// only after it arrived: a closed node drains nothing more. Returns as
    /// like does.
    #[func]
    fn request_state(&mut self) -> i64 {
        self.requesting(|s| s.request_state())
    }

    /// Creates or updates an item of the world (properties: {"key": "value"})
    /// and puts it in the entities named (may be empty).
    #[func]
    fn create_or_update_item(
        &mut self,
        id: GString,
        display_name: GString,
        description: GString,
        properties: VarDictionary,
        entities: PackedStringArray,
    ) -> bool {
        let item = calls::entity_item(
            id.to_string(),
            display_name.to_string(),
            description.to_string(),
            string_pairs(&properties),
        );
        let entities = strings(&entities);
        self.sending(|s| s.create_or_update_items(&[item], &as_refs(&entities)))
    }

    /// Removes items of the world.
    #[func]
    fn remove_items(&mut self, item_ids: PackedStringArray) -> bool {
        let ids = strings(&item_ids);
        self.sending(|s| s.remove_items(&as_refs(&ids)))
    }

    /// Puts items in entities ("add"), takes them out ("remove"), or makes
    /// them the entities' only items ("replace"; no items empties them).
    #[func]
    fn items_in_entities(
        &mut self,
        how: GString,
        item_ids: PackedStringArray,
        entity_names: PackedStringArray,
    ) -> bool {
        let how = match calls::items_in_entities_how(&how.to_string()) {
            Ok(how) => how,
            Err(message) => {
                godot_error!("Inworld: {message}");
                return false;
            }
        };
        let ids = strings(&item_ids);
        let entities = strings(&entity_names);
        self.sending(|s| s.items_in_entities(how, &as_refs(&ids), &as_refs(&entities)))
    }

    fn conversation(&mut self, id: &GString) -> Option<&mut Conversation> {
        let found = self.conversations.get_mut(&id.to_string());
        if found.is_none() {
            godot_error!("Inworld: no conversation {id}");
        }
        found
    }

    fn in_conversation(
        &mut self,
        id: &GString,
        send: impl FnOnce(&Conversation) -> Result<(), inworld::client::Error>,
    ) -> bool {
        match self.conversation(id) {
            Some(conversation) => report(send(conversation)),
            None => false,
        }
    }

    fn sending(
        &mut self,
        send: impl FnOnce(&Session) -> Result<(), inworld::client::Error>,
    ) -> bool {
        let Some(session) = &self.session else {
            godot_error!("Inworld: the session is not open");
            return false;
        };
        report(send(session))
    }

    /// A call answered later by a signal: its request id, or -1 with a
    /// Godot error.
    fn requesting(
        &mut self,
        call: impl FnOnce(&Session) -> Result<u64, inworld::client::Error>,
    ) -> i64 {
        let Some(session) = &self.session else {
            godot_error!("Inworld: the session is not open");
            return -1;
        };
        match call(session) {
            // Request ids count up from 1: far below i64::MAX.
            Ok(id) => id as i64,
            Err(e) => {
                godot_error!("Inworld: {e}");
                -1
            }
        }
    }

    /// The library's session, for InworldCharacter.
    pub(crate) fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    fn display_name(&self, speaker: &Speaker) -> String {
        match speaker {
            Speaker::Player => "Player".to_string(),
            Speaker::Other => String::new(),
            Speaker::Character(id) => self
                .characters
                .iter()
                .find(|c| c.id.as_str() == id)
                .map_or_else(|| id.clone(), |c| c.display_name.as_str().to_string()),
        }
    }

    /// Keeps the scene's characters for speaker names.
    fn read_characters(&mut self) {
        self.characters = self
            .session
            .as_ref()
            .map(|s| s.characters())
            .unwrap_or_default();
    }

    fn characters_changed(&mut self) {
        self.read_characters();
        self.base_mut().emit_signal("characters_changed", &[]);
    }

    /// A trigger or task signal: speaker, name and parameters.
    fn emit_named(
        &mut self,
        signal: &str,
        speaker: &Speaker,
        name: &str,
        parameters: &[(String, String)],
    ) {
        let mut params = VarDictionary::new();
        for (k, v) in parameters {
            params.set(k.as_str(), v.as_str());
        }
        self.base_mut().emit_signal(
            signal,
            &[
                speaker.id().to_variant(),
                name.to_variant(),
                params.to_variant(),
            ],
        );
    }

    fn emit(&mut self, event: GameEvent) {
        match event {
            GameEvent::Text {
                speaker,
                text,
                is_final,
                conversation_id,
                ..
            } => {
                let name = self.display_name(&speaker);
                self.base_mut().emit_signal(
                    "text_received",
                    &[
                        speaker.id().to_variant(),
                        name.to_variant(),
                        text.to_variant(),
                        is_final.to_variant(),
                        conversation_id.to_variant(),
                    ],
                );
            }
            GameEvent::Emotion {
                speaker,
                behavior,
                strength,
            } => {
                self.base_mut().emit_signal(
                    "emotion_changed",
                    &[
                        speaker.id().to_variant(),
                        behavior.to_variant(),
                        strength.to_variant(),
                    ],
                );
            }
            GameEvent::Trigger {
                speaker,
                name,
                parameters,
            } => self.emit_named("trigger_received", &speaker, &name, &parameters),
            GameEvent::Task {
                speaker,
                name,
                parameters,
            } => self.emit_named("task_received", &speaker, &name, &parameters),
            GameEvent::NarratedAction { speaker, content } => {
                self.base_mut().emit_signal(
                    "narrated_action",
                    &[speaker.id().to_variant(), content.to_variant()],
                );
            }
            GameEvent::InteractionEnd {
                interaction_id,
                conversation_id,
            } => {
                self.base_mut().emit_signal(
                    "interaction_ended",
                    &[interaction_id.to_variant(), conversation_id.to_variant()],
                );
            }
            GameEvent::ConnectionState { state } => {
                if state == "ready" {
                    self.read_characters();
                }
                self.base_mut()
                    .emit_signal("connection_state_changed", &[state.to_variant()]);
            }
            GameEvent::Error(info) => {
                godot_error!("Inworld: {}", info.message);
                let mut details = VarDictionary::new();
                details.set("grpc_code", info.grpc_code);
                details.set("will_retry", info.will_retry);
                if let Some(t) = info.error_type {
                    details.set("error_type", t);
                }
                if let Some(m) = info.max_retries {
                    details.set("max_retries", m);
                }
                if let Some(r) = &info.resource_id {
                    details.set("resource_id", r.as_str());
                }
                self.base_mut().emit_signal(
                    "error_received",
                    &[info.message.to_variant(), details.to_variant()],
                );
            }
            GameEvent::CharactersChanged => self.characters_changed(),
            GameEvent::Dropped { count } => {
                godot_warn!("Inworld: {count} packets dropped (drain the session every frame)");
            }
            GameEvent::Warning { message } => {
                godot_warn!("Inworld: {message}");
                self.base_mut()
                    .emit_signal("warning_received", &[message.to_variant()]);
            }
            GameEvent::FeedbackRecorded {
                request_id,
                feedback_name,
            } => {
                self.base_mut().emit_signal(
                    "feedback_recorded",
                    &[request_id.to_variant(), feedback_name.to_variant()],
                );
            }
            GameEvent::FeedbackUndone { request_id } => {
                self.base_mut()
                    .emit_signal("feedback_undone", &[request_id.to_variant()]);
            }
            GameEvent::StateReceived {
                request_id,
                state,
                version,
            } => {
                let state = PackedByteArray::from(state.as_slice());
                self.base_mut().emit_signal(
                    "state_received",
                    &[
                        request_id.to_variant(),
                        state.to_variant(),
                        version.to_variant(),
                    ],
                );
            }
            GameEvent::CallFailed {
                request_id,
                call,
                grpc_code,
                message,
            } => {
                godot_error!("Inworld: {call} failed: {message}");
                self.base_mut().emit_signal(
                    "call_failed",
                    &[
                        request_id.to_variant(),
                        call.to_variant(),
                        grpc_code.to_variant(),
                        message.to_variant(),
                    ],
                );
            }
            GameEvent::NotSent {
                interaction_id,
                message,
            } => {
                let mut details = VarDictionary::new();
                details.set("interaction_id", interaction_id.as_str());
                self.base_mut().emit_signal(
                    "error_received",
                    &[message.to_variant(), details.to_variant()],
                );
            }
        }
    }
}

/// The InworldSession `node` is a child of; a Godot error naming `what`
/// when it is not.
pub(super) fn session_above(node: &Gd<Node>, what: &str) -> Option<Gd<InworldSession>> {
    let found = node
        .get_parent()
        .and_then(|p| p.try_cast::<InworldSession>().ok());
    if found.is_none() {
        godot_error!("{what} must be a child of an InworldSession");
    }
    found
}

/// `open` with the library's session above `node`, once it is ready (None
/// before: the nodes try again next frame).
pub(super) fn with_ready_session<T>(
    node: &Gd<Node>,
    open: impl FnOnce(&Session) -> T,
) -> Option<T> {
    let parent = node
        .get_parent()
        .and_then(|p| p.try_cast::<InworldSession>().ok())?;
    let bound = parent.bind();
    let session = bound.session()?;
    (session.state() == inworld::packet::ConnectionState::Ready).then(|| open(session))
}
