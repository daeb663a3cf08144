//! `InworldClient`: where sessions connect.

use std::sync::Arc;

use godot::classes::{INode, Node};
use godot::prelude::*;
use inworld::auth::Credentials;
use inworld::client::{Client, ClientConfig};
use inworld::engine::{EngineConfig, RunningEngine, Workspace};

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
    pub(super) fn connect(&mut self) -> Result<(Arc<Client>, String), String> {
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
