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
}

/// What hears the player's speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecognizerKind {
    /// "Recognises" the scene's `[speech] transcript` in any speech the
    /// voice detector hears (tests of the protocol, no library needed).
    Scripted,
    /// PocketSphinx with its US English model (the `pocketsphinx` feature).
    PocketSphinx,
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
    /// What speaks the characters' lines.
    pub synthesizer: SynthesizerKind,
    /// What hears the player's speech.
    pub recognizer: RecognizerKind,
}

impl EngineConfig {
    /// 127.0.0.1:0, key `test-api-key` / secret `test-api-secret`, 1 h tokens,
    /// sessions expire after 30 min idle, audio sessions after 60 s without
    /// audio, idle connections close after 60 s,
    /// instant pacing, plaintext, no recording, no faults; the best speech
    /// synthesizer and recogniser built in (espeak-ng and PocketSphinx with
    /// their features, else tones and the scene's scripted transcript).
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
            .field("synthesizer", &self.synthesizer)
            .field("recognizer", &self.recognizer)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let mut c = EngineConfig::new(Workspace::test_scenes());
        c.tls = Some((b"CERT".to_vec(), b"PRIVATE KEY BYTES".to_vec()));
        let shown = format!("{c:?}");
        assert!(!shown.contains("test-api-secret"));
        assert!(!shown.contains("PRIVATE"));
        assert!(shown.contains("test-api-key"));
    }
}
