//! `ClientConfig`: every option of a session, with the Node SDK's defaults
//! (PROTOCOL.md 4.4, 4.15) unless said otherwise, and its validation.

use super::Error;
use crate::auth::Credentials;
use std::fmt;
use std::time::{Duration, SystemTime};

/// The production engine, as the SDK defaults to.
pub const DEFAULT_HOST: &str = "api-engine.inworld.ai:443";

/// How to reach the engine and prove who we are.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// Sign a GenerateToken call with an API key and secret (IW1-HMAC-SHA256).
    ///
    /// Shipping an API secret inside a game build is discouraged: anyone can
    /// extract it. Prefer [`Auth::Token`] minted by your own backend; key and
    /// secret are for tools, servers and development.
    ApiKey(Credentials),
    /// A session token minted by the game's backend (its `GenerateToken`
    /// answer). The library never refreshes it: when it expires, open a new
    /// session with a new token.
    Token(SessionToken),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::ApiKey(c) => f.debug_tuple("ApiKey").field(c).finish(),
            Auth::Token(t) => f.debug_tuple("Token").field(t).finish(),
        }
    }
}

/// A ready session token (wire `AccessToken`).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken {
    pub token: String,
    /// Usually `Bearer`; the stream's `authorization` is `<type> <token>`.
    pub token_type: String,
    pub session_id: String,
    pub expires_at: SystemTime,
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionToken")
            .field("token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// TLS unless the host is loopback (`localhost`, `127.x`, `::1`).
    #[default]
    Auto,
    On,
    Off,
}

/// The player as the characters know them: only the name and profile fields
/// are sent (the Node SDK sends no user id, so there is none here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserConfig {
    pub name: Option<String>,
    /// Player profile fields `(field_id, value)`.
    pub profile: Vec<(String, String)>,
}

/// Capabilities requested in the session configuration (PROTOCOL.md 4.15).
/// `multi_agent` is always sent as true and `logs` as the OR of the log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub audio: bool,
    pub interruptions: bool,
    pub emotions: bool,
    pub phonemes: bool,
    pub silence: bool,
    pub narrated_actions: bool,
    pub debug_info: bool,
    pub ping_pong_report: bool,
    pub perceived_latency_report: bool,
    pub multi_modal_action_planning: bool,
    pub logs_warning: bool,
    pub logs_info: bool,
    pub logs_debug: bool,
    pub logs_internal: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            audio: true,
            interruptions: false,
            emotions: false,
            phonemes: false,
            silence: false,
            narrated_actions: false,
            debug_info: false,
            ping_pong_report: true,
            perceived_latency_report: false,
            multi_modal_action_planning: false,
            logs_warning: true,
            logs_info: true,
            logs_debug: false,
            logs_internal: false,
        }
    }
}

impl Capabilities {
    /// `logs` as the SDK computes it.
    pub fn logs(&self) -> bool {
        self.logs_warning || self.logs_info || self.logs_debug || self.logs_internal
    }
}

/// Who said a line of a previous dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Talker {
    Player,
    Character,
}

/// Where a new session picks up (PROTOCOL.md 4.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continuation {
    /// State bytes from `GetSessionState`.
    SavedState(Vec<u8>),
    /// A previous dialog, oldest line first.
    DialogHistory(Vec<(Talker, String)>),
}

/// How the library reconnects after a stream error without Inworld details
/// (transport errors). Details from the service take precedence (4.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Attempts in a row before giving up (0 disables reconnecting).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl ReconnectPolicy {
    /// Delay before attempt `attempt` (1-based): doubling from the initial backoff.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Every option of a session. `Default` gives the SDK's defaults; set at
/// least `auth` and `scene`.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of the engine; also the host signed in the IW1 header.
    pub host: String,
    pub tls: TlsMode,
    /// Extra trusted root certificates (PEM), besides the webpki roots.
    pub extra_root_certs_pem: Vec<u8>,
    pub auth: Auth,
    /// Scene or character resource name: `workspaces/<ws>/(scenes|characters)/<name>`.
    pub scene: String,
    pub user: UserConfig,
    /// Appended to the client description sent to the engine.
    pub client_id: Option<String>,
    pub game_session_id: Option<String>,
    pub capabilities: Capabilities,
    pub continuation: Option<Continuation>,
    /// How long to wait for the scene to load (the SDK waits forever).
    pub scene_load_timeout: Duration,
    /// Packets held for the game before dropping (counted, reported as Overflow).
    pub queue_capacity: usize,
    pub reconnect: ReconnectPolicy,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            host: DEFAULT_HOST.to_string(),
            tls: TlsMode::Auto,
            extra_root_certs_pem: Vec::new(),
            auth: Auth::ApiKey(Credentials::new("", "")),
            scene: String::new(),
            user: UserConfig::default(),
            client_id: None,
            game_session_id: None,
            capabilities: Capabilities::default(),
            continuation: None,
            scene_load_timeout: Duration::from_secs(15),
            queue_capacity: 1024,
            reconnect: ReconnectPolicy::default(),
        }
    }
}

/// The parts of a valid scene name (PROTOCOL.md 2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SceneName {
    pub workspace: String,
    /// `scenes` or `characters`.
    pub kind: String,
    pub name: String,
}

/// Parses `^workspaces/([a-z0-9-_]{1,61})/(characters|scenes)/([a-z0-9-_]{0,61})$`.
pub fn parse_scene_name(scene: &str) -> Option<SceneName> {
    fn id_ok(s: &str, min: usize) -> bool {
        (min..=61).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    }
    let rest = scene.strip_prefix("workspaces/")?;
    let mut parts = rest.splitn(3, '/');
    let (ws, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
    if !id_ok(ws, 1) || !(kind == "scenes" || kind == "characters") || !id_ok(name, 0) {
        return None;
    }
    Some(SceneName {
        workspace: ws.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
    })
}

impl ClientConfig {
    /// A config for `host` and `scene` authenticated with an API key pair.
    pub fn new(
        host: impl Into<String>,
        scene: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        ClientConfig {
            host: host.into(),
            scene: scene.into(),
            auth: Auth::ApiKey(credentials),
            ..Default::default()
        }
    }

    /// Checks every option; the error names the first problem.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if self.host.trim().is_empty() {
            return bad("host is empty (expected host:port)".into());
        }
        if self.host.contains("://") || self.host.contains('/') || self.host.contains(' ') {
            return bad(format!(
                "host {:?} must be host:port, without scheme or path",
                self.host
            ));
        }
        if split_host_port(&self.host).is_none() {
            return bad(format!(
                "host {:?} must be host:port with a port number",
                self.host
            ));
        }
        if parse_scene_name(&self.scene).is_none() {
            return bad(format!(
                "scene {:?} must match workspaces/<ws>/scenes/<name> or workspaces/<ws>/characters/<name> \
                 (lowercase letters, digits, - and _)",
                self.scene
            ));
        }
        match &self.auth {
            Auth::ApiKey(c) => {
                if c.key.is_empty() || c.secret.is_empty() {
                    return bad("API key and secret are required (or give a session token)".into());
                }
            }
            Auth::Token(t) => {
                if t.token.is_empty() || t.token_type.is_empty() || t.session_id.is_empty() {
                    return bad("session token needs token, type and session id".into());
                }
            }
        }
        if self.queue_capacity == 0 {
            return bad("queue capacity must be at least 1".into());
        }
        if self.scene_load_timeout.is_zero() {
            return bad("scene load timeout must be positive".into());
        }
        if self.user.profile.iter().any(|(id, _)| id.is_empty()) {
            return bad("player profile field ids must not be empty".into());
        }
        if !self.extra_root_certs_pem.is_empty()
            && !String::from_utf8_lossy(&self.extra_root_certs_pem)
                .contains("-----BEGIN CERTIFICATE-----")
        {
            return bad("extra root certificates must be PEM (-----BEGIN CERTIFICATE-----)".into());
        }
        Ok(())
    }

    /// Whether the connection uses TLS.
    pub fn use_tls(&self) -> bool {
        match self.tls {
            TlsMode::On => true,
            TlsMode::Off => false,
            TlsMode::Auto => !is_loopback_host(&self.host),
        }
    }

    /// The workspace of the scene (valid configs only).
    pub fn workspace(&self) -> Option<String> {
        parse_scene_name(&self.scene).map(|s| s.workspace)
    }
}

/// `host:port` → (host, port); IPv6 literals in brackets.
pub(crate) fn split_host_port(host: &str) -> Option<(&str, u16)> {
    let (h, p) = host.rsplit_once(':')?;
    let port: u16 = p.parse().ok()?;
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    if h.is_empty() {
        return None;
    }
    Some((h, port))
}

fn is_loopback_host(host: &str) -> bool {
    let Some((h, _)) = split_host_port(host) else {
        return false;
    };
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> ClientConfig {
        ClientConfig::new(
            "127.0.0.1:5000",
            "workspaces/test-ws/scenes/test-scene",
            Credentials::new("k", "s"),
        )
    }

    #[test]
    fn defaults_are_the_sdks() {
        let c = ClientConfig::default();
        assert_eq!(c.host, "api-engine.inworld.ai:443");
        assert!(c.capabilities.audio && c.capabilities.ping_pong_report);
        assert!(!c.capabilities.emotions && !c.capabilities.phonemes && !c.capabilities.silence);
        assert!(c.capabilities.logs());
        assert_eq!(c.scene_load_timeout, Duration::from_secs(15));
        assert_eq!(c.queue_capacity, 1024);
        assert!(c.use_tls());
    }

    #[test]
    fn tls_auto_is_off_for_loopback_only() {
        let mut c = good();
        assert!(!c.use_tls());
        c.host = "localhost:1".into();
        assert!(!c.use_tls());
        c.host = "[::1]:1".into();
        assert!(!c.use_tls());
        c.host = "example.com:443".into();
        assert!(c.use_tls());
        c.tls = TlsMode::Off;
        assert!(!c.use_tls());
        c.host = "127.0.0.1:1".into();
        c.tls = TlsMode::On;
        assert!(c.use_tls());
    }

    #[test]
    fn scene_pattern() {
        assert_eq!(
            parse_scene_name("workspaces/test-ws/scenes/test-scene")
                .unwrap()
                .workspace,
            "test-ws"
        );
        assert!(parse_scene_name("workspaces/w/characters/c_1").is_some());
        assert!(parse_scene_name("workspaces/w/scenes/").is_some());
        for bad in [
            "",
            "workspaces//scenes/x",
            "workspaces/W/scenes/x",
            "workspaces/w/other/x",
            "workspaces/w/scenes/x/y",
            "scenes/x",
        ] {
            assert!(parse_scene_name(bad).is_none(), "{bad}");
        }
    }

    type Mutation = Box<dyn Fn(&mut ClientConfig)>;

    #[test]
    fn validation_names_the_problem() {
        assert!(good().validate().is_ok());
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|c| c.host = "".into()), "host"),
            (Box::new(|c| c.host = "http://x:1".into()), "host"),
            (Box::new(|c| c.host = "nohost".into()), "port"),
            (Box::new(|c| c.scene = "bad".into()), "scene"),
            (
                Box::new(|c| c.auth = Auth::ApiKey(Credentials::new("k", ""))),
                "secret",
            ),
            (Box::new(|c| c.queue_capacity = 0), "queue"),
            (
                Box::new(|c| c.scene_load_timeout = Duration::ZERO),
                "timeout",
            ),
            (Box::new(|c| c.extra_root_certs_pem = b"xx".to_vec()), "PEM"),
        ];
        for (mutate, word) in cases {
            let mut c = good();
            mutate(&mut c);
            match c.validate() {
                Err(Error::InvalidConfig(m)) => assert!(m.contains(word), "{m} lacks {word}"),
                other => panic!("expected InvalidConfig for {word}, got {other:?}"),
            }
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let p = ReconnectPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(250));
        assert_eq!(p.backoff(2), Duration::from_millis(500));
        assert_eq!(p.backoff(30), Duration::from_secs(10));
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = SessionToken {
            token: "sekrit".into(),
            token_type: "Bearer".into(),
            session_id: "s".into(),
            expires_at: SystemTime::now(),
        };
        assert!(!format!("{:?}", Auth::Token(t)).contains("sekrit"));
    }
}
