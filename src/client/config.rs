//! `ClientConfig` (how to reach the service, as whom, and how to keep the
//! connection honest) and `SessionConfig` (what one session is about), with
//! the Node SDK's defaults unless said otherwise, and their validation.

use super::Error;
use crate::auth::Credentials;
use crate::protocol::names::SceneName;
use std::fmt;
use std::time::{Duration, SystemTime};

/// The production engine, as the SDK defaults to.
pub const DEFAULT_HOST: &str = "api-engine.inworld.ai:443";

/// How to reach the engine and prove who we are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Sign a GenerateToken call with an API key and secret (IW1-HMAC-SHA256).
    ///
    /// Shipping an API secret inside a game build is discouraged: anyone can
    /// extract it. Prefer [`Auth::Token`] minted by your own backend; key and
    /// secret are for tools, servers and development.
    ApiKey(Credentials),
    /// A session token minted by the game's backend (its `GenerateToken`
    /// answer). The library never refreshes it: when it expires, open a new
    /// session with a new token. A token names one session: open one session
    /// per token.
    Token(SessionToken),
    /// Tokens from the game's backend, asked for whenever the session needs
    /// one (to open, when one nears its expiry, when the service refused
    /// one): sessions outlive a token, and the game never holds a secret.
    Provider(TokenProvider),
}

/// What a [`TokenProvider`] is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The workspace the token is for (GenerateToken's `workspaces/<ws>`).
    pub workspace: String,
    /// The session to keep (a renewal), or `None` for a new session. A
    /// backend that can name the session in its token request keeps the
    /// dialog going; the token's own session id is used either way.
    pub session_id: Option<String>,
}

/// The future a [`TokenProvider`] returns.
pub type TokenFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<SessionToken, String>> + Send>>;

/// Gets session tokens from the game (usually from its backend, which
/// signs GenerateToken with the key and secret). Called on a library
/// thread; the answer may take its time (within `Timeouts::connect`).
#[derive(Clone)]
pub struct TokenProvider(std::sync::Arc<dyn Fn(TokenRequest) -> TokenFuture + Send + Sync>);

impl TokenProvider {
    pub fn new(provider: impl Fn(TokenRequest) -> TokenFuture + Send + Sync + 'static) -> Self {
        TokenProvider(std::sync::Arc::new(provider))
    }

    pub(crate) fn token(&self, request: TokenRequest) -> TokenFuture {
        (self.0)(request)
    }
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenProvider(..)")
    }
}

impl PartialEq for TokenProvider {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TokenProvider {}

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

/// The player as the characters know them: a name and profile fields (the
/// service has no player id; the Node SDK never sends one either).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserConfig {
    pub name: Option<String>,
    /// Player profile fields `(field_id, value)`.
    pub profile: Vec<(String, String)>,
}

/// Capabilities requested in the session configuration. As in the Node SDK,
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

/// Where a new session picks up: the state bytes a `GetSessionState` call
/// returned, or the dialog so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continuation {
    /// State bytes from `GetSessionState`.
    SavedState(Vec<u8>),
    /// A previous dialog, oldest line first.
    DialogHistory(Vec<(Talker, String)>),
}

/// How the library reconnects after a failure the service gave no
/// instructions for (transport errors, timeouts, a dead connection). Inworld
/// error details take precedence: NO_RETRY, IMMEDIATE, TIMEOUT and their
/// `max_retries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Failed attempts in a row before giving up (0 disables reconnecting).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        // About a minute of trying (eight attempts of up to 5 s each, with
        // backoff in between) before a session is given up.
        ReconnectPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
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

/// How long the library waits for each step, and how it tells a dead
/// connection from a slow one. The Node SDK waits forever for the scene and
/// for conversations and has no keepalive; a game needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Getting a token and opening a stream, per attempt.
    pub connect: Duration,
    /// From asking for the scene until its status arrives. On a session's
    /// first open it also bounds each attempt (with `connect`, whichever is
    /// shorter): a stream that opens but whose scene does not load in time
    /// fails the session instead of retrying. An attempt that cannot open
    /// its stream within `connect` is retried under the reconnect policy, so
    /// a service that stalls longer than this and then resumes still brings
    /// the session to Ready.
    pub scene_load: Duration,
    /// From a conversation update until the service confirms the conversation.
    pub handshake: Duration,
    /// Nothing received for this long while a reply, a scene or a handshake
    /// is awaited (counted from when it began to be awaited: an idle
    /// session's quiet does not count): the session checks its connection,
    /// which must answer within this time. A connection that answers is
    /// alive however slow the service is, and keeps the stream; one that
    /// does not makes the session `Stalled` (and `Ready` again when it
    /// answers or packets flow) and is checked once more; unanswered again,
    /// it is dead and the session reconnects.
    pub stall: Duration,
    /// An HTTP/2 PING goes out after this long without hearing from the
    /// service (zero disables keepalive).
    pub keepalive_interval: Duration,
    /// A PING unanswered for this long means the connection is dead: every
    /// session on it reconnects.
    pub keepalive_timeout: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        // A session waiting for a reply checks its connection after 3 s of
        // silence, says it is stalled if that goes 3 s unanswered, and
        // reconnects if a second check does too; an idle dead connection is closed (and its sessions
        // reconnect) at most 20 s after the service was last heard. Each keepalive PING
        // costs the process about 0.1 ms of CPU: with these, a thousand idle
        // sessions (eleven connections) use about 3 ms every 30 s.
        Timeouts {
            connect: Duration::from_secs(5),
            scene_load: Duration::from_secs(15),
            handshake: Duration::from_secs(10),
            stall: Duration::from_secs(3),
            keepalive_interval: Duration::from_secs(15),
            keepalive_timeout: Duration::from_secs(5),
        }
    }
}

/// What one session is about: its scene, its player, what it asks the
/// service for, and its queues. [`ClientConfig::session`] holds the defaults
/// of `Client::open_session`; `Client::open_session_with` takes another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Scene or character resource name: `workspaces/<ws>/(scenes|characters)/<name>`.
    pub scene: String,
    pub user: UserConfig,
    pub game_session_id: Option<String>,
    pub capabilities: Capabilities,
    pub continuation: Option<Continuation>,
    /// Packets held for the game before dropping (counted, reported as
    /// Overflow). The library's own status packets have room of their own.
    pub queue_capacity: usize,
    /// Sends accepted before they go out (connecting, reconnecting, waiting
    /// for a conversation, or not yet taken by the session's task); beyond it
    /// a send fails with `QueueFull`. The default (256) lets a game send a
    /// burst of a few hundred lines or triggers in one frame while Ready.
    pub max_pending_sends: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            scene: String::new(),
            user: UserConfig::default(),
            game_session_id: None,
            capabilities: Capabilities::default(),
            continuation: None,
            queue_capacity: 1024,
            max_pending_sends: 256,
        }
    }
}

impl SessionConfig {
    /// A session of `scene` with the defaults.
    pub fn new(scene: impl Into<String>) -> Self {
        SessionConfig {
            scene: scene.into(),
            ..SessionConfig::default()
        }
    }

    /// Checks every option; the error names the first problem.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if SceneName::parse(&self.scene).is_none() {
            return bad(format!(
                "scene {:?} must match workspaces/<ws>/scenes/<name> or \
                 workspaces/<ws>/characters/<name> (lowercase letters, digits, - and _)",
                self.scene
            ));
        }
        if self.queue_capacity == 0 {
            return bad("queue capacity must be at least 1".into());
        }
        if self.max_pending_sends == 0 {
            return bad("max pending sends must be at least 1".into());
        }
        if self.user.profile.iter().any(|(id, _)| id.is_empty()) {
            return bad("player profile field ids must not be empty".into());
        }
        Ok(())
    }

    /// The workspace of the scene (valid configs only).
    pub fn workspace(&self) -> Option<&str> {
        SceneName::parse(&self.scene).map(|s| s.workspace)
    }
}

/// Largest message accepted from the service by default: far above any real
/// reply (speech comes in chunks of a fraction of a second).
pub const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// How to reach the service, as whom, and how to keep the connection honest,
/// plus the defaults of the sessions opened from a `Client`. `Default` gives
/// the SDK's defaults; set at least `auth` and `session.scene`.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of the engine; also the host signed in the IW1 header.
    pub host: String,
    pub tls: TlsMode,
    /// Extra trusted root certificates (PEM), besides the webpki roots.
    pub extra_root_certs_pem: Vec<u8>,
    pub auth: Auth,
    /// Appended to the client description sent to the engine.
    pub client_id: Option<String>,
    pub timeouts: Timeouts,
    pub reconnect: ReconnectPolicy,
    /// Largest message accepted from the service.
    pub max_receive_message_bytes: usize,
    /// What sessions opened with `open_session()` are about.
    pub session: SessionConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            host: DEFAULT_HOST.to_string(),
            tls: TlsMode::Auto,
            extra_root_certs_pem: Vec::new(),
            auth: Auth::ApiKey(Credentials::new("", "")),
            client_id: None,
            timeouts: Timeouts::default(),
            reconnect: ReconnectPolicy::default(),
            max_receive_message_bytes: DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
            session: SessionConfig::default(),
        }
    }
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
            auth: Auth::ApiKey(credentials),
            session: SessionConfig::new(scene),
            ..Default::default()
        }
    }

    /// Checks the client's own options (not the default session's); the
    /// error names the first problem.
    pub fn validate_client(&self) -> Result<(), Error> {
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
            Auth::Provider(_) => {}
        }
        let t = &self.timeouts;
        for (value, name) in [
            (t.connect, "connect"),
            (t.scene_load, "scene load"),
            (t.handshake, "handshake"),
            (t.stall, "stall"),
        ] {
            if value.is_zero() {
                return bad(format!("the {name} timeout must be positive"));
            }
        }
        if !t.keepalive_interval.is_zero() && t.keepalive_timeout.is_zero() {
            return bad("the keepalive timeout must be positive when keepalive is on".into());
        }
        if self.max_receive_message_bytes < 64 * 1024 {
            return bad("max receive message size must be at least 64 KiB".into());
        }
        if !self.extra_root_certs_pem.is_empty()
            && !String::from_utf8_lossy(&self.extra_root_certs_pem)
                .contains("-----BEGIN CERTIFICATE-----")
        {
            return bad("extra root certificates must be PEM (-----BEGIN CERTIFICATE-----)".into());
        }
        Ok(())
    }

    /// Checks every option, the default session's included.
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_client()?;
        self.session.validate()
    }

    /// Whether the connection uses TLS.
    pub fn use_tls(&self) -> bool {
        match self.tls {
            TlsMode::On => true,
            TlsMode::Off => false,
            TlsMode::Auto => !is_loopback_host(&self.host),
        }
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
        let caps = c.session.capabilities;
        assert!(caps.audio && caps.ping_pong_report);
        assert!(!caps.emotions && !caps.phonemes && !caps.silence);
        assert!(caps.logs());
        assert_eq!(c.timeouts.scene_load, Duration::from_secs(15));
        assert_eq!(c.session.queue_capacity, 1024);
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

    type Mutation = Box<dyn Fn(&mut ClientConfig)>;

    #[test]
    fn validation_names_the_problem() {
        assert!(good().validate().is_ok());
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|c| c.host = "".into()), "host"),
            (Box::new(|c| c.host = "http://x:1".into()), "host"),
            (Box::new(|c| c.host = "nohost".into()), "port"),
            (Box::new(|c| c.session.scene = "bad".into()), "scene"),
            (
                Box::new(|c| c.auth = Auth::ApiKey(Credentials::new("k", ""))),
                "secret",
            ),
            (Box::new(|c| c.session.queue_capacity = 0), "queue"),
            (Box::new(|c| c.session.max_pending_sends = 0), "pending"),
            (
                Box::new(|c| c.timeouts.scene_load = Duration::ZERO),
                "scene load timeout",
            ),
            (
                Box::new(|c| c.timeouts.stall = Duration::ZERO),
                "stall timeout",
            ),
            (
                Box::new(|c| c.timeouts.keepalive_timeout = Duration::ZERO),
                "keepalive",
            ),
            (Box::new(|c| c.max_receive_message_bytes = 10), "receive"),
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
        // Keepalive off needs no timeout.
        let mut c = good();
        c.timeouts.keepalive_interval = Duration::ZERO;
        c.timeouts.keepalive_timeout = Duration::ZERO;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let p = ReconnectPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(250));
        assert_eq!(p.backoff(2), Duration::from_millis(500));
        assert_eq!(p.backoff(30), Duration::from_secs(8));
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
