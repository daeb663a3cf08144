//! Everything an engine can be told at start.

use super::scene::Workspace;
use crate::auth::Credentials;
use std::net::SocketAddr;
use std::time::Duration;

/// How fast characters talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// No delay at all (tests, benchmarks).
    Instant,
    /// A short "thinking" pause, then each utterance paced by its length (demos).
    Human,
}

/// What speaks the characters' lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthesizerKind {
    /// Tones shaped like phonemes: no library needed, one voice.
    Tones,
    /// espeak-ng with each character's voice (the `espeak` feature).
    Espeak,
}

impl SynthesizerKind {
    /// espeak-ng when it is built in, else the tones.
    pub fn best_built_in() -> Self {
        if cfg!(feature = "espeak") {
            SynthesizerKind::Espeak
        } else {
            SynthesizerKind::Tones
        }
    }

    /// Whether this build has it (espeak-ng needs the `espeak` feature):
    /// the engine refuses to start with one it lacks.
    pub fn built_in(&self) -> bool {
        match self {
            SynthesizerKind::Tones => true,
            SynthesizerKind::Espeak => cfg!(feature = "espeak"),
        }
    }
}

/// What hears the player's speech.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecognizerKind {
    /// "Recognises" the scene's `[speech] transcript` in any speech the
    /// voice detector hears (tests of the protocol, no library needed).
    Scripted,
    /// PocketSphinx with its US English model (the `pocketsphinx` feature).
    PocketSphinx,
    /// whisper.cpp with the ggml model file at this path (the `whisper`
    /// feature), e.g. `ggml-tiny.en.bin`. A missing or bad file is an error
    /// at start naming the path.
    Whisper(std::path::PathBuf),
}

impl RecognizerKind {
    /// PocketSphinx when it is built in, else the scripted transcript.
    pub fn best_built_in() -> Self {
        if cfg!(feature = "pocketsphinx") {
            RecognizerKind::PocketSphinx
        } else {
            RecognizerKind::Scripted
        }
    }

    /// Whether this build has it (PocketSphinx needs the `pocketsphinx`
    /// feature, whisper.cpp the `whisper` one): the engine refuses to start
    /// with one it lacks.
    pub fn built_in(&self) -> bool {
        match self {
            RecognizerKind::Scripted => true,
            RecognizerKind::PocketSphinx => cfg!(feature = "pocketsphinx"),
            RecognizerKind::Whisper(_) => cfg!(feature = "whisper"),
        }
    }
}

/// Default largest client message (gRPC's usual 4 MiB).
const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Faults the engine can be told to show, for client tests. All off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// OpenSession sends its response headers only once the client's first
    /// packet on the stream has arrived (a gRPC server may do so). A client
    /// that waits for the server to speak before writing deadlocks against it.
    pub open_session_headers_after_first_packet: bool,
}

/// What decides what characters say.
#[derive(Clone, Default)]
pub enum Brain {
    /// The scene file's rules, greetings and fallback lines (offline, the tests' default).
    #[default]
    Scripted,
    /// A language model behind an OpenAI-compatible chat-completions
    /// endpoint plays each character from its card; scene rules and goals
    /// still win where they match.
    Llm(LlmConfig),
}

/// A language model to ask, and the bounds on asking it.
/// `Debug` leaves out the API key.
#[derive(Clone)]
pub struct LlmConfig {
    /// The API's base (`http://127.0.0.1:11434/v1`) or the full
    /// `.../chat/completions` address.
    pub url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer`; never logged.
    pub api_key: Option<String>,
    /// The model's `max_tokens` per reply.
    pub max_tokens: u32,
    /// At most this much text of a reply is said; the rest is not asked for.
    pub max_reply_bytes: usize,
    /// A request without its first byte, or a stream silent, for this long fails.
    pub timeout: std::time::Duration,
    /// Retries of a request that failed before any of its reply was said
    /// (429, 5xx, timeouts, refused connections).
    pub max_retries: u32,
    /// A 429's retry-after longer than this is not waited for.
    pub max_retry_wait: std::time::Duration,
    /// Model calls at once, per session and for the whole engine.
    pub max_calls_per_session: usize,
    pub max_calls: usize,
    /// Dialog lines of the session the prompt carries (the latest).
    pub history_lines: usize,
}

impl LlmConfig {
    /// 300 tokens and 2,000 bytes a reply, 30 s timeouts, 2 retries (waiting
    /// at most 10 s for a retry-after), 1 call per session, 32 in all, the
    /// last 40 lines of dialog.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            model: model.into(),
            api_key: None,
            max_tokens: 300,
            max_reply_bytes: 2000,
            timeout: std::time::Duration::from_secs(30),
            max_retries: 2,
            max_retry_wait: std::time::Duration::from_secs(10),
            max_calls_per_session: 1,
            max_calls: 32,
            history_lines: 40,
        }
    }

    /// Where requests go: `<base>/chat/completions` unless the URL names it.
    pub fn endpoint(&self) -> String {
        let url = self.url.trim_end_matches('/');
        if url.ends_with("/chat/completions") {
            url.to_string()
        } else {
            format!("{url}/chat/completions")
        }
    }
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .field("max_tokens", &self.max_tokens)
            .field("max_reply_bytes", &self.max_reply_bytes)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_retry_wait", &self.max_retry_wait)
            .field("max_calls_per_session", &self.max_calls_per_session)
            .field("max_calls", &self.max_calls)
            .field("history_lines", &self.history_lines)
            .finish()
    }
}

impl std::fmt::Debug for Brain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Brain::Scripted => f.write_str("Scripted"),
            Brain::Llm(c) => f.debug_tuple("Llm").field(c).finish(),
        }
    }
}

/// Engine options. [`EngineConfig::new`] gives working defaults.
/// `Debug` leaves out secrets (API secrets and the TLS key).
#[derive(Clone)]
pub struct EngineConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Scenes and characters served.
    pub workspace: Workspace,
    /// Accepted API key/secret pairs (the first one is reported by `RunningEngine::credentials`).
    pub credentials: Vec<Credentials>,
    /// Lifetime of issued session tokens.
    pub token_ttl: Duration,
    /// A session with no traffic for this long expires.
    pub session_idle_timeout: Duration,
    /// An audio session that carries no audio for this long expires: the
    /// stream ends with AUDIO_SESSION_EXPIRED, as the service ends it.
    pub audio_session_idle_timeout: Duration,
    /// Reply pacing.
    pub pacing: Pacing,
    /// Serve TLS with this (certificate PEM, private key PEM).
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
    /// Record every client packet for `RunningEngine::received_packets` (off by default: it costs).
    pub record: bool,
    /// Largest client message accepted; larger ones end the stream with RESOURCE_EXHAUSTED.
    pub max_message_bytes: usize,
    /// A TCP connection with no open stream (or that never completes the
    /// HTTP/2 handshake) for this long is closed.
    pub connection_idle_timeout: Duration,
    /// Injected faults (client tests).
    pub faults: Faults,
    /// What decides what characters say.
    pub brain: Brain,
    /// Live sessions at most; a new one beyond is refused with RESOURCE_EXHAUSTED.
    pub max_sessions: usize,
    /// Unexpired session tokens at most; GenerateToken beyond is refused
    /// with RESOURCE_EXHAUSTED.
    pub max_tokens: usize,
    /// Log lines clients can cause (bad messages, refused requests), per second.
    pub client_log_lines_per_sec: u32,
    /// What speaks the characters' lines.
    pub synthesizer: SynthesizerKind,
    /// What hears the player's speech.
    pub recognizer: RecognizerKind,
}

impl EngineConfig {
    /// 127.0.0.1:0, key `test-api-key` / secret `test-api-secret`, 1 h tokens,
    /// sessions expire after 30 min idle, audio sessions after 60 s without
    /// audio, idle connections close after 60 s,
    /// instant pacing, plaintext, no recording, no faults, the scripted
    /// brain, 10,000 live sessions and 100,000 live tokens, 20 client-caused
    /// log lines a second; the best speech synthesizer and recogniser built in
    /// (espeak-ng and PocketSphinx with their features, else tones and the
    /// scene's scripted transcript).
    pub fn new(workspace: Workspace) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            workspace,
            credentials: vec![Credentials::new("test-api-key", "test-api-secret")],
            token_ttl: Duration::from_secs(3600),
            session_idle_timeout: Duration::from_secs(30 * 60),
            audio_session_idle_timeout: Duration::from_secs(60),
            pacing: Pacing::Instant,
            tls: None,
            record: false,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            connection_idle_timeout: Duration::from_secs(60),
            faults: Faults::default(),
            brain: Brain::Scripted,
            max_sessions: 10_000,
            max_tokens: 100_000,
            client_log_lines_per_sec: 20,
            synthesizer: SynthesizerKind::best_built_in(),
            recognizer: RecognizerKind::best_built_in(),
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("listen", &self.listen)
            .field("workspace", &self.workspace.workspace)
            .field("credentials", &self.credentials)
            .field("token_ttl", &self.token_ttl)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field(
                "audio_session_idle_timeout",
                &self.audio_session_idle_timeout,
            )
            .field("pacing", &self.pacing)
            .field("tls", &self.tls.is_some())
            .field("record", &self.record)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("connection_idle_timeout", &self.connection_idle_timeout)
            .field("faults", &self.faults)
            .field("brain", &self.brain)
            .field("max_sessions", &self.max_sessions)
            .field("max_tokens", &self.max_tokens)
            .field("client_log_lines_per_sec", &self.client_log_lines_per_sec)
            .field("synthesizer", &self.synthesizer)
            .field("recognizer", &self.recognizer)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_base_plus_chat_completions() {
        for url in [
            "http://h:1/v1",
            "http://h:1/v1/",
            "http://h:1/v1/chat/completions",
        ] {
            assert_eq!(
                LlmConfig::new(url, "m").endpoint(),
                "http://h:1/v1/chat/completions"
            );
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let mut c = EngineConfig::new(Workspace::test_scenes());
        c.tls = Some((b"CERT".to_vec(), b"PRIVATE KEY BYTES".to_vec()));
        let mut llm = LlmConfig::new("http://127.0.0.1:1/v1", "m");
        llm.api_key = Some("sk-MODEL-KEY".into());
        c.brain = Brain::Llm(llm);
        let shown = format!("{c:?}");
        assert!(!shown.contains("test-api-secret"));
        assert!(!shown.contains("PRIVATE"));
        assert!(!shown.contains("sk-MODEL-KEY"));
        assert!(shown.contains("test-api-key"));
    }
}
