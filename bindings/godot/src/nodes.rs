//! The Godot nodes. Signals are emitted only from `_process`, on the main
//! thread: the library's threads never touch Godot.

use std::collections::HashMap;
use std::sync::Arc;

use godot::classes::{
    AudioEffectCapture, AudioServer, AudioStreamGenerator, AudioStreamGeneratorPlayback,
    AudioStreamMicrophone, AudioStreamPlayer, INode, MeshInstance3D, Node,
};
use godot::prelude::*;
use inworld::auth::Credentials;
use inworld::client::playback::{Playback, PlaybackFormat};
use inworld::client::{
    AudioFormat, AudioInput, AudioSessionConfig, Client, ClientConfig, Conversation, EchoReference,
    MicrophoneMode, PushError, Session, SessionConfig, VoiceDetection,
};
use inworld::engine::{EngineConfig, RunningEngine, Workspace};

use crate::events::{event_of, GameEvent, Speaker};
use crate::face::{expression_named, FaceMap, FaceUpdater};
use crate::voice::{
    frames_to_pull, input_rate, interleaved, stereo_frames, VisemeChanges, MIX_RATE,
};
use inworld::audio::face::{Blendshape, FaceWeights, NEUTRAL_FACE};

/// Where sessions connect: Inworld (host, key and secret, or a token from the
/// game's backend) or, by default, the local engine inside the game (offline,
/// the demo tavern). Put InworldSession nodes under it.
#[derive(GodotClass)]
#[class(base = Node)]
pub struct InworldClient {
    /// Run the local engine in the game (offline; ignores host and keys).
    #[export]
    use_local_engine: bool,
    /// host:port of the service.
    #[export]
    host: GString,
    #[export]
    api_key: GString,
    #[export]
    api_secret: GString,
    /// A session token from the game's backend, instead of the key and
    /// secret (with its type, session id and expiry, as the backend gave them).
    #[export]
    session_token: GString,
    #[export]
    session_token_type: GString,
    #[export]
    session_id: GString,
    /// When the token expires, in ms since the Unix epoch.
    #[export]
    session_token_expires_ms: i64,
    /// The player's name the characters use.
    #[export]
    player_name: GString,
    /// Capabilities: the characters' speech (InworldCharacter plays it).
    #[export]
    audio: bool,
    /// Emotions (emotion_changed).
    #[export]
    emotions: bool,
    /// Phonemes with the speech (viseme_changed, lip-sync).
    #[export]
    phonemes: bool,
    /// Narrated actions of the characters (narrated_action).
    #[export]
    narrated_actions: bool,
    /// The player may interrupt a character mid-reply.
    #[export]
    interruptions: bool,
    engine: Option<RunningEngine>,
    client: Option<Arc<Client>>,
    default_scene: String,
    base: Base<Node>,
}

#[godot_api]
impl INode for InworldClient {
    fn init(base: Base<Node>) -> Self {
        InworldClient {
            use_local_engine: true,
            host: GString::new(),
            api_key: GString::new(),
            api_secret: GString::new(),
            session_token: GString::new(),
            session_token_type: "Bearer".into(),
            session_id: GString::new(),
            session_token_expires_ms: 0,
            player_name: "Player".into(),
            audio: true,
            emotions: true,
            phonemes: true,
            narrated_actions: true,
            interruptions: false,
            engine: None,
            client: None,
            default_scene: String::new(),
            base,
        }
    }

    fn exit_tree(&mut self) {
        self.client = None;
        if let Some(engine) = self.engine.take() {
            engine.stop();
        }
    }
}

#[godot_api]
impl InworldClient {
    /// The client (made on first use), and the scene to use when a session
    /// names none (the local engine's demo scene).
    fn connect(&mut self) -> Result<(Arc<Client>, String), String> {
        if let Some(client) = &self.client {
            return Ok((client.clone(), self.default_scene.clone()));
        }
        let (host, credentials) = if self.use_local_engine {
            let workspace = Workspace::default_scenes();
            self.default_scene = workspace
                .scene_names()
                .into_iter()
                .next()
                .unwrap_or_default();
            let engine = RunningEngine::start_dedicated(EngineConfig::new(workspace))
                .map_err(|e| format!("the local engine did not start: {e}"))?;
            let address = engine.addr().to_string();
            let credentials = engine.credentials().clone();
            self.engine = Some(engine);
            (address, credentials)
        } else {
            (
                self.host.to_string(),
                Credentials::new(self.api_key.to_string(), self.api_secret.to_string()),
            )
        };
        let mut config = ClientConfig::new(host, self.default_scene.clone(), credentials);
        if !self.session_token.is_empty() && !self.use_local_engine {
            let expires = std::time::UNIX_EPOCH
                + std::time::Duration::from_millis(self.session_token_expires_ms.max(0) as u64);
            config.auth = inworld::client::Auth::Token(inworld::client::SessionToken {
                token: self.session_token.to_string(),
                token_type: self.session_token_type.to_string(),
                session_id: self.session_id.to_string(),
                expires_at: expires,
            });
        }
        if self.use_local_engine {
            config.tls = inworld::client::TlsMode::Off;
        }
        config.session.user.name = Some(self.player_name.to_string());
        let capabilities = &mut config.session.capabilities;
        capabilities.audio = self.audio;
        capabilities.emotions = self.emotions;
        capabilities.phonemes = self.phonemes;
        capabilities.narrated_actions = self.narrated_actions;
        capabilities.interruptions = self.interruptions;
        let client = Arc::new(Client::new(config).map_err(|e| e.to_string())?);
        self.client = Some(client.clone());
        Ok((client, self.default_scene.clone()))
    }
}

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

    /// Opens the session (never waits on the network: watch
    /// connection_state_changed for "ready"). False, with a Godot error, if
    /// it could not.
    #[func]
    fn open(&mut self) -> bool {
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
                let mut config = SessionConfig::new(scene);
                config.user = client.config().session.user.clone();
                config.capabilities = client.config().session.capabilities;
                client.open_session_with(config).map_err(|e| e.to_string())
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
    fn send_text(&mut self, text: GString) -> bool {
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
    fn set_current_character(&mut self, who: GString) -> bool {
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

/// A call's result as Godot sees it: true, or false with a Godot error.
fn report(result: Result<(), inworld::client::Error>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            godot_error!("Inworld: {e}");
            false
        }
    }
}

fn strings(array: &PackedStringArray) -> Vec<String> {
    array.as_slice().iter().map(|s| s.to_string()).collect()
}

fn as_refs(strings: &[String]) -> Vec<&str> {
    strings.iter().map(String::as_str).collect()
}

/// A Dictionary's keys and values as text (trigger parameters).
fn string_pairs(dictionary: &VarDictionary) -> Vec<(String, String)> {
    dictionary
        .iter_shared()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn as_strs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// One character of its parent InworldSession: talks to it and plays its voice
/// through an AudioStreamPlayer with an AudioStreamGenerator it owns, fed each
/// frame from the library's playback stream; emits viseme_changed on the
/// played clock for lip-sync.
#[derive(GodotClass)]
#[class(base = Node)]
pub struct InworldCharacter {
    /// Display name, agent id or resource name.
    #[export]
    character: GString,
    /// The audio bus the voice plays on.
    #[export]
    bus: StringName,
    /// A face mesh with ARKit blend shapes: set each frame from the voice
    /// heard (see face.rs for how names match).
    #[export]
    face_target: Option<Gd<MeshInstance3D>>,
    /// "arkitName=meshName" for blend shapes named otherwise.
    #[export]
    face_renames: PackedStringArray,
    face_updater: Option<FaceUpdater>,
    face_weights: FaceWeights,
    player: Option<Gd<AudioStreamPlayer>>,
    playback: Option<Playback>,
    scratch: Vec<f32>,
    frames: Vec<(f32, f32)>,
    visemes: VisemeChanges,
    base: Base<Node>,
}

#[godot_api]
impl INode for InworldCharacter {
    fn init(base: Base<Node>) -> Self {
        InworldCharacter {
            character: GString::new(),
            bus: "Master".into(),
            face_target: None,
            face_renames: PackedStringArray::new(),
            face_updater: None,
            face_weights: NEUTRAL_FACE,
            player: None,
            playback: None,
            scratch: vec![0.0; 2 * 4096],
            frames: Vec::with_capacity(4096),
            visemes: VisemeChanges::default(),
            base,
        }
    }

    fn ready(&mut self) {
        let mut generator = AudioStreamGenerator::new_gd();
        generator.set_mix_rate(MIX_RATE as f32);
        generator.set_buffer_length(0.25);
        let mut player = AudioStreamPlayer::new_alloc();
        player.set_stream(&generator);
        player.set_bus(&self.bus);
        self.base_mut().add_child(&player);
        player.play();
        self.player = Some(player);
    }

    fn process(&mut self, _delta: f64) {
        if self.playback.is_none() {
            self.open_stream();
        }
        let (Some(playback), Some(player)) = (self.playback.as_mut(), self.player.as_mut()) else {
            return;
        };
        let Some(mut generator) = player
            .get_stream_playback()
            .and_then(|p| p.try_cast::<AudioStreamGeneratorPlayback>().ok())
        else {
            return;
        };
        let pull = frames_to_pull(generator.get_frames_available(), self.scratch.len() / 2);
        if pull > 0 {
            playback.read_f32(&mut self.scratch[..pull * 2]);
            self.frames.clear();
            stereo_frames(&self.scratch[..pull * 2], &mut self.frames);
            let packed: PackedVector2Array = self
                .frames
                .iter()
                .map(|&(l, r)| Vector2::new(l, r))
                .collect();
            generator.push_buffer(&packed);
        }
        let viseme = playback.viseme();
        self.face_weights = playback.face();
        self.show_face();
        if let Some(changed) = self.visemes.update(viseme) {
            self.base_mut().emit_signal(
                "viseme_changed",
                &[
                    (changed as u32 as i64).to_variant(),
                    changed.name().to_variant(),
                ],
            );
        }
    }
}

#[godot_api]
impl InworldCharacter {
    /// The mouth shape changed: IW viseme index (0 = silence) and its name
    /// ("sil", "PP", "aa", ...), on the clock of what is heard.
    #[signal]
    fn viseme_changed(viseme: i64, name: GString);

    /// The face shown this frame: 52 ARKit weights (0..1), for games that
    /// animate otherwise than through face_target.
    #[func]
    fn face_weights(&self) -> PackedFloat32Array {
        self.face_weights.iter().copied().collect()
    }

    /// The ARKit name of face weight `index` ("jawOpen"), empty past the last.
    #[func]
    fn blendshape_name(index: i64) -> GString {
        usize::try_from(index)
            .ok()
            .and_then(Blendshape::from_index)
            .map_or(GString::new(), |b| b.name().into())
    }

    /// Shows an emotion on the face, as the session's emotion_changed
    /// names it ("JOY", "STRONG"): connect that signal here.
    #[func]
    fn show_emotion(&mut self, behavior: GString, strength: GString) {
        let (expression, amount) = expression_named(&behavior.to_string(), &strength.to_string());
        if let Some(playback) = &self.playback {
            playback.monitor().set_expression(expression, amount);
        }
    }

    /// Puts this frame's weights on face_target's blend shapes.
    fn show_face(&mut self) {
        let Some(mut mesh) = self.face_target.clone() else {
            return;
        };
        if self.face_updater.is_none() {
            let names: Vec<String> = mesh
                .get_mesh()
                .and_then(|m| m.try_cast::<godot::classes::ArrayMesh>().ok())
                .map(|m| {
                    (0..m.get_blend_shape_count())
                        .map(|i| m.get_blend_shape_name(i).to_string())
                        .collect()
                })
                .unwrap_or_default();
            let renames: Vec<String> = self
                .face_renames
                .as_slice()
                .iter()
                .map(|r| r.to_string())
                .collect();
            let renames: Vec<&str> = renames.iter().map(String::as_str).collect();
            self.face_updater = Some(FaceUpdater::new(FaceMap::new(
                names.iter().map(String::as_str),
                &renames,
            )));
        }
        if let Some(updater) = self.face_updater.as_mut() {
            updater.update(&self.face_weights, |i, value| {
                mesh.set_blend_shape_value(i as i32, value)
            });
        }
    }

    /// Says something to this character (it becomes the session's current one).
    #[func]
    fn say(&mut self, text: GString) -> bool {
        let Some(mut session) = session_above(&self.base(), "InworldCharacter") else {
            return false;
        };
        let mut node = session.bind_mut();
        node.set_current_character(self.character.clone()) && node.send_text(text)
    }

    fn open_stream(&mut self) {
        let who = self.character.to_string();
        let format = PlaybackFormat {
            rate: MIX_RATE,
            channels: 2,
        };
        let opened = with_ready_session(&self.base(), |session| {
            session.open_playback(format, (!who.is_empty()).then_some(who.as_str()))
        });
        match opened {
            None => {}
            Some(Ok(playback)) => self.playback = Some(playback),
            Some(Err(e)) => godot_error!("Inworld: no voice for {who:?}: {e}"),
        }
    }
}

/// The InworldSession `node` is a child of; a Godot error naming `what`
/// when it is not.
fn session_above(node: &Gd<Node>, what: &str) -> Option<Gd<InworldSession>> {
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
fn with_ready_session<T>(node: &Gd<Node>, open: impl FnOnce(&Session) -> T) -> Option<T> {
    let parent = node
        .get_parent()
        .and_then(|p| p.try_cast::<InworldSession>().ok())?;
    let bound = parent.bind();
    let session = bound.session()?;
    (session.state() == inworld::packet::ConnectionState::Ready).then(|| open(session))
}

/// The player's microphone into its parent InworldSession. It makes its own
/// muted audio bus with an AudioEffectCapture and plays the microphone into
/// it; each frame, what was captured goes to the library. Hands-free (the
/// default), the library finds the player's turns itself (voice detection);
/// otherwise call start_talking / stop_talking (push-to-talk). With echo
/// cancellation, it also captures the Master bus (everything the game plays,
/// the characters' voices too) as the echo reference, so hands-free does not
/// hear the game through loudspeakers. The project needs Audio > Driver >
/// Enable Input on.
#[derive(GodotClass)]
#[class(base = Node)]
pub struct InworldMicrophone {
    /// The library finds the player's turns; off: push-to-talk.
    #[export]
    hands_free: bool,
    /// Remove what the game plays from the microphone (hands-free).
    #[export]
    echo_cancellation: bool,
    /// The name of the capture bus it makes.
    #[export]
    bus: GString,
    capture: Option<Gd<AudioEffectCapture>>,
    /// On the Master bus: what the game plays.
    output_capture: Option<Gd<AudioEffectCapture>>,
    input: Option<AudioInput>,
    echo: Option<EchoReference>,
    /// Opening failed for good (said once as a Godot error, not every frame).
    failed: bool,
    samples: Vec<f32>,
    base: Base<Node>,
}

#[godot_api]
impl INode for InworldMicrophone {
    fn init(base: Base<Node>) -> Self {
        InworldMicrophone {
            hands_free: true,
            echo_cancellation: true,
            bus: "InworldMicrophone".into(),
            capture: None,
            output_capture: None,
            input: None,
            echo: None,
            failed: false,
            samples: Vec::with_capacity(2 * 4096),
            base,
        }
    }

    // Each time it enters the tree: its captures on the buses (exit_tree
    // takes them off again).
    fn enter_tree(&mut self) {
        self.failed = false;
        let mut server = AudioServer::singleton();
        let mut index = server.get_bus_index(&StringName::from(&self.bus));
        if index < 0 {
            index = server.get_bus_count();
            server.add_bus();
            server.set_bus_name(index, &self.bus);
        }
        // Muted: the player does not hear themself.
        server.set_bus_mute(index, true);
        let capture = new_capture();
        server.add_bus_effect(index, &capture);
        self.capture = Some(capture);
        if self.echo_cancellation {
            let output = new_capture();
            server.add_bus_effect(0, &output);
            self.output_capture = Some(output);
        }
    }

    // Once: the player of the microphone stream, a child of this node.
    fn ready(&mut self) {
        let mut player = AudioStreamPlayer::new_alloc();
        player.set_stream(&AudioStreamMicrophone::new_gd());
        player.set_bus(&StringName::from(&self.bus));
        self.base_mut().add_child(&player);
        player.play();
    }

    fn process(&mut self, _delta: f64) {
        if self.input.is_none() && !self.failed {
            self.open_input();
        }
        // Both captures are drained every frame, so neither holds stale
        // audio; what the game played goes first, as it came first.
        if take_captured(self.output_capture.as_mut(), &mut self.samples) {
            if let Some(echo) = self.echo.as_mut() {
                // A full ring drops and counts; a closed session reopens below.
                let _ = echo.push_f32(&self.samples);
            }
        }
        if !take_captured(self.capture.as_mut(), &mut self.samples) {
            return;
        }
        let Some(input) = self.input.as_mut() else {
            return;
        };
        match input.push_f32(&self.samples) {
            // Push-to-talk and not talking: the microphone is not listened to.
            Ok(_) | Err(PushError::NoAudioSession) => {}
            Err(PushError::Closed) => {
                self.input = None;
                self.echo = None;
            }
            Err(e) => godot_error!("Inworld: microphone: {e}"),
        }
    }

    fn exit_tree(&mut self) {
        self.input = None;
        self.echo = None;
        let mut server = AudioServer::singleton();
        let mine = [self.capture.take(), self.output_capture.take()];
        for bus in 0..server.get_bus_count() {
            for effect in (0..server.get_bus_effect_count(bus)).rev() {
                let Some(e) = server.get_bus_effect(bus, effect) else {
                    continue;
                };
                if mine
                    .iter()
                    .flatten()
                    .any(|m| m.instance_id() == e.instance_id())
                {
                    server.remove_bus_effect(bus, effect);
                }
            }
        }
    }
}

/// A capture that holds half a second (the default tenth would overflow
/// when a frame takes longer, as when the game loads something).
fn new_capture() -> Gd<AudioEffectCapture> {
    let mut capture = AudioEffectCapture::new_gd();
    capture.set_buffer_length(0.5);
    capture
}

/// What a capture holds now, as interleaved stereo in `samples`; false when
/// there is none.
fn take_captured(capture: Option<&mut Gd<AudioEffectCapture>>, samples: &mut Vec<f32>) -> bool {
    let Some(capture) = capture else {
        return false;
    };
    let available = capture.get_frames_available();
    if available <= 0 {
        return false;
    }
    let frames = capture.get_buffer(available);
    interleaved(frames.as_slice().iter().map(|v| (v.x, v.y)), samples);
    true
}

#[godot_api]
impl InworldMicrophone {
    /// Push-to-talk: the player starts speaking.
    #[func]
    fn start_talking(&mut self) -> bool {
        let config = AudioSessionConfig {
            mode: MicrophoneMode::PushToTalk,
            ..AudioSessionConfig::default()
        };
        self.with_session(|s| s.start_audio_session(config).map(drop))
    }

    /// Push-to-talk: the player stopped; the character answers.
    #[func]
    fn stop_talking(&mut self) -> bool {
        self.with_session(|s| s.end_audio_session().map(drop))
    }

    fn with_session(
        &self,
        call: impl FnOnce(&Session) -> Result<(), inworld::client::Error>,
    ) -> bool {
        let Some(session_node) = session_above(&self.base(), "InworldMicrophone") else {
            return false;
        };
        let node = session_node.bind();
        match node.session() {
            Some(session) => report(call(session)),
            None => {
                godot_error!("Inworld: the session is not open");
                false
            }
        }
    }

    /// Opens the library's input once the session is ready, at Godot's mix
    /// rate in stereo (the library makes it what the service takes).
    fn open_input(&mut self) {
        let mix_rate = AudioServer::singleton().get_mix_rate();
        let Some(rate) = input_rate(mix_rate) else {
            godot_error!(
                "Inworld: the mix rate {mix_rate} Hz is not one the microphone takes (8 to 48 kHz)"
            );
            self.failed = true;
            return;
        };
        let format = AudioFormat { rate, channels: 2 };
        let echo_cancellation = self.echo_cancellation && self.output_capture.is_some();
        let hands_free = self.hands_free;
        let opened = with_ready_session(&self.base(), |session| {
            let input = session.audio_input(format)?;
            let echo = if echo_cancellation {
                Some(session.echo_reference(format)?)
            } else {
                None
            };
            if hands_free {
                session.set_voice_detection(Some(VoiceDetection {
                    echo_cancellation,
                    ..VoiceDetection::default()
                }))?;
            }
            Ok::<_, inworld::client::Error>((input, echo))
        });
        let Some(opened) = opened else {
            return;
        };
        match opened {
            Ok((input, echo)) => {
                self.input = Some(input);
                self.echo = echo;
            }
            Err(e) => {
                godot_error!("Inworld: no microphone: {e}");
                self.failed = true;
            }
        }
    }
}
