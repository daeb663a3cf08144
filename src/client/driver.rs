//! The session's driver task: token, stream, scene load, conversation
//! handshake, pings, reconnects (PROTOCOL.md 2.5, 4.4-4.9, 4.12). One task per
//! session on the private runtime; it sleeps in `select!` when idle (no polling).

use super::config::{Auth, ClientConfig, ReconnectPolicy};
use super::session::{local_packet, Inner};
use super::{wire, SentIds, SessionState};
use crate::packet::{convert, PacketBody, SessionError};
use crate::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
use crate::protocol::ai::inworld::engine::GenerateTokenRequest;
use crate::protocol::ai::inworld::packets::InworldPacket;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// A token is refreshed when this little of its life remains (as the SDK does).
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// What a send carries; the driver builds the wire packet when it goes out
/// (the trigger's target is the current character at that moment).
#[derive(Debug)]
pub(crate) enum Outgoing {
    Text(String),
    Trigger {
        name: String,
        params: Vec<(String, String)>,
    },
    NarratedAction(String),
}

#[derive(Debug)]
pub(crate) enum Command {
    Send { ids: SentIds, payload: Outgoing },
    CharacterChanged,
}

/// Why a stream (or an attempt to open one) ended.
enum Failure {
    /// A gRPC status from the engine or from tonic.
    Status(tonic::Status),
    /// Could not connect at all.
    Transport(String),
    /// The scene did not load in time.
    SceneTimeout,
    /// The engine ended the stream without an error.
    Ended,
    /// Not retryable whatever the policy (bad token value, ...).
    Fatal(String),
}

/// How the session ended.
enum Exit {
    /// The game closed the session (or dropped every handle).
    Closed,
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conversation {
    /// Needs a handshake before its next packet.
    Inactive,
    /// CONVERSATION_UPDATE sent; waiting for STARTED/UPDATED.
    Pending,
    Active,
}

struct Token {
    token: String,
    token_type: String,
    session_id: String,
    expires_at: SystemTime,
}

struct Driver {
    inner: Arc<Inner>,
    config: ClientConfig,
    channel: Option<Channel>,
    token: Option<Token>,
    scene_loaded: bool,
    conversation: Conversation,
    conversation_id: String,
    /// Sends waiting for the stream, the scene or the conversation.
    pending: VecDeque<(SentIds, Outgoing)>,
    /// The open stream's outbound side.
    out: Option<mpsc::UnboundedSender<InworldPacket>>,
    /// Failed attempts in a row.
    attempts: u32,
}

/// Marks the session Closed however the task ends (even when the runtime
/// shuts down and drops it).
struct ExitGuard(Arc<Inner>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.set_state(SessionState::Closed, Duration::ZERO);
    }
}

pub(crate) async fn run(
    inner: Arc<Inner>,
    config: ClientConfig,
    mut commands: mpsc::Receiver<Command>,
) {
    let _guard = ExitGuard(inner.clone());
    let conversation_id = inner.shared.lock().conversation_id.clone();
    let mut driver = Driver {
        inner,
        config,
        channel: None,
        token: None,
        scene_loaded: false,
        conversation: Conversation::Inactive,
        conversation_id,
        pending: VecDeque::new(),
        out: None,
        attempts: 0,
    };
    driver.main(&mut commands).await;
}

impl Driver {
    async fn main(&mut self, commands: &mut mpsc::Receiver<Command>) {
        loop {
            let failure = match self.connect_and_serve(commands).await {
                Exit::Closed => {
                    // Close by dropping every handle: close the delivery too.
                    self.inner.delivery.close();
                    return;
                }
                Exit::Failed(f) => f,
            };
            self.out = None;
            self.conversation = Conversation::Inactive;
            let retry = self.retry_delay(&failure);
            self.report(&failure, retry.is_some());
            let Some(delay) = retry else {
                self.inner.set_state(SessionState::Closed, Duration::ZERO);
                return;
            };
            self.inner.set_state(SessionState::Reconnecting, delay);
            let deadline = Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = self.inner.close_signal.notified() => return,
                    cmd = commands.recv() => match cmd {
                        Some(cmd) => self.on_command(cmd),
                        None => { self.inner.delivery.close(); return; }
                    },
                }
            }
        }
    }

    /// One stream's life: open it (with the initial packets the first time),
    /// then pump packets both ways until it ends.
    async fn connect_and_serve(&mut self, commands: &mut mpsc::Receiver<Command>) -> Exit {
        if self.inner.delivery.is_closed() {
            return Exit::Closed;
        }
        // The first open must load the scene in time; later opens must at
        // least connect in that time.
        let deadline = Instant::now() + self.config.scene_load_timeout;
        let inner = self.inner.clone();
        let opened = tokio::select! {
            r = self.open_stream() => r,
            _ = tokio::time::sleep_until(deadline) => Err(Failure::SceneTimeout),
            _ = inner.close_signal.notified() => return Exit::Closed,
        };
        let mut inbound = match opened {
            Ok(s) => s,
            Err(f) => return Exit::Failed(f),
        };
        if self.scene_loaded {
            self.became_ready();
        }
        loop {
            let scene_wait = async {
                if self.scene_loaded {
                    std::future::pending::<()>().await
                } else {
                    tokio::time::sleep_until(deadline).await
                }
            };
            tokio::select! {
                msg = inbound.message() => match msg {
                    Ok(Some(packet)) => self.on_packet(packet),
                    Ok(None) => return Exit::Failed(Failure::Ended),
                    Err(status) => return Exit::Failed(Failure::Status(status)),
                },
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => return Exit::Closed,
                },
                _ = self.inner.close_signal.notified() => return Exit::Closed,
                _ = scene_wait => return Exit::Failed(Failure::SceneTimeout),
            }
        }
    }

    async fn open_stream(&mut self) -> Result<tonic::Streaming<InworldPacket>, Failure> {
        let channel = match &self.channel {
            Some(c) => c.clone(),
            None => {
                let c = connect(&self.config).await?;
                self.channel = Some(c.clone());
                c
            }
        };
        let mut client = WorldEngineClient::new(channel);
        self.ensure_token(&mut client).await?;
        let token = self.token.as_ref().expect("ensure_token sets it");
        let (tx, rx) = mpsc::unbounded_channel();
        if !self.scene_loaded {
            // Written back to back before any reply (4.4); a reopened session
            // sends neither (4.12).
            let _ = tx.send(wire::session_configuration(&self.config));
            let _ = tx.send(wire::load_scene(&self.config.scene));
        }
        let mut request =
            tonic::Request::new(tokio_stream::wrappers::UnboundedReceiverStream::new(rx));
        let md = request.metadata_mut();
        md.insert(
            "session-id",
            token
                .session_id
                .parse()
                .map_err(|_| Failure::Fatal("session id is not a valid header value".into()))?,
        );
        md.insert(
            "authorization",
            format!("{} {}", token.token_type, token.token)
                .parse()
                .map_err(|_| Failure::Fatal("token is not a valid header value".into()))?,
        );
        let response = client
            .open_session(request)
            .await
            .map_err(Failure::Status)?;
        self.out = Some(tx);
        Ok(response.into_inner())
    }

    /// Gets a token, or a fresh one when ≤ 5 min remain, keeping the session id (2.5).
    async fn ensure_token(
        &mut self,
        client: &mut WorldEngineClient<Channel>,
    ) -> Result<(), Failure> {
        if let Some(t) = &self.token {
            let fresh = t
                .expires_at
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > TOKEN_REFRESH_MARGIN);
            if fresh {
                return Ok(());
            }
        }
        let credentials = match &self.config.auth {
            Auth::Token(t) => {
                if self.token.is_none() {
                    self.token = Some(Token {
                        token: t.token.clone(),
                        token_type: t.token_type.clone(),
                        session_id: t.session_id.clone(),
                        expires_at: t.expires_at,
                    });
                    self.inner.shared.lock().session_id = Some(t.session_id.clone());
                }
                // A given token is never refreshed by the library.
                return Ok(());
            }
            Auth::ApiKey(c) => c.clone(),
        };
        let workspace = self.config.workspace().unwrap_or_default();
        let mut request = tonic::Request::new(GenerateTokenRequest {
            key: credentials.key.clone(),
            resources: vec![format!("workspaces/{workspace}")],
        });
        let header = crate::auth::authorization_header(&credentials, &self.config.host);
        request.metadata_mut().insert(
            "authorization",
            header
                .parse()
                .map_err(|_| Failure::Fatal("API key is not a valid header value".into()))?,
        );
        let access = client
            .generate_token(request)
            .await
            .map_err(Failure::Status)?
            .into_inner();
        let expires_at = access
            .expiration_time
            .and_then(crate::protocol::status::system_time_from)
            .ok_or_else(|| Failure::Fatal("the engine's token has no expiration time".into()))?;
        // Keep the session id across refreshes: it names the session (2.5).
        let session_id = match &self.token {
            Some(old) => old.session_id.clone(),
            None => access.session_id,
        };
        log::debug!("got a session token for session {session_id}");
        self.inner.shared.lock().session_id = Some(session_id.clone());
        self.token = Some(Token {
            token: access.token,
            token_type: access.r#type,
            session_id,
            expires_at,
        });
        Ok(())
    }

    fn became_ready(&mut self) {
        self.attempts = 0;
        self.inner.set_state(SessionState::Ready, Duration::ZERO);
        self.flush();
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Send { ids, payload } => {
                self.pending.push_back((ids, payload));
                self.flush();
            }
            Command::CharacterChanged => {
                // 4.6: tell the engine at once if the conversation is live,
                // with the same conversation id.
                if self.conversation != Conversation::Inactive {
                    if let Some(agent) = self.current_agent() {
                        self.write(wire::conversation_update(&self.conversation_id, &agent));
                    }
                }
            }
        }
    }

    fn on_packet(&mut self, packet: InworldPacket) {
        if let Some(ping) = wire::ping_of(&packet) {
            let pong = wire::pong(&packet, ping);
            self.write(pong);
            return;
        }
        if wire::is_latency_report(&packet) {
            return;
        }
        if let Some(scene) = convert::scene_status_of(&packet) {
            self.on_scene(scene);
            let first = !self.scene_loaded;
            self.scene_loaded = true;
            self.inner.delivery.deliver(convert::from_wire(packet));
            if first {
                self.became_ready();
            }
            return;
        }
        match wire::conversation_signal(&packet, &self.conversation_id) {
            Some(true) => self.conversation = Conversation::Active,
            Some(false) => self.conversation = Conversation::Inactive,
            None => {}
        }
        self.inner.delivery.deliver(convert::from_wire(packet));
        if self.conversation == Conversation::Active {
            self.flush();
        }
    }

    /// Replaces the character list; keeps the current character if still
    /// there, else takes the first (4.5).
    fn on_scene(&mut self, scene: crate::packet::SceneStatus) {
        let mut shared = self.inner.shared.lock();
        let keep = shared
            .current
            .as_ref()
            .and_then(|c| {
                scene
                    .characters
                    .iter()
                    .find(|s| s.resource_name == c.resource_name)
            })
            .cloned();
        shared.current = keep.or_else(|| scene.characters.first().cloned());
        shared.scene = Some(scene);
    }

    fn current_agent(&self) -> Option<String> {
        self.inner
            .shared
            .lock()
            .current
            .as_ref()
            .map(|c| c.id.to_string())
    }

    /// Sends what can go now, in order; starts the handshake when needed.
    fn flush(&mut self) {
        while !self.pending.is_empty() {
            if self.out.is_none() || !self.scene_loaded {
                return;
            }
            let Some(agent) = self.current_agent() else {
                // A scene without characters: nobody to talk to.
                let dropped = self.pending.len();
                self.pending.clear();
                self.inner
                    .delivery
                    .deliver(local_packet(PacketBody::Error(SessionError {
                        grpc_code: tonic::Code::FailedPrecondition as i32,
                        message: format!("the scene has no characters; {dropped} send(s) dropped")
                            .into(),
                        details: None,
                        will_retry: false,
                    })));
                return;
            };
            match self.conversation {
                Conversation::Pending => return,
                Conversation::Inactive => {
                    self.conversation = Conversation::Pending;
                    self.write(wire::conversation_update(&self.conversation_id, &agent));
                    return;
                }
                Conversation::Active => {
                    let (ids, payload) = self.pending.pop_front().expect("not empty");
                    let packet = match &payload {
                        Outgoing::Text(t) => wire::text(&ids, t),
                        Outgoing::Trigger { name, params } => {
                            wire::trigger(&ids, &agent, name, params)
                        }
                        Outgoing::NarratedAction(t) => wire::narrated_action(&ids, t),
                    };
                    self.write(packet);
                }
            }
        }
    }

    fn write(&mut self, packet: InworldPacket) {
        if let Some(out) = &self.out {
            // A closed stream shows up on the inbound side; nothing to do here.
            let _ = out.send(packet);
        }
    }

    fn retry_delay(&mut self, failure: &Failure) -> Option<Duration> {
        retry_delay(failure, &mut self.attempts, &self.config.reconnect)
    }

    fn report(&self, failure: &Failure, will_retry: bool) {
        let error = match failure {
            Failure::Status(status) => convert::error_from_status(status, will_retry),
            Failure::Transport(m) => SessionError {
                grpc_code: tonic::Code::Unavailable as i32,
                message: format!("cannot connect to {}: {m}", self.config.host).into(),
                details: None,
                will_retry,
            },
            Failure::SceneTimeout => SessionError {
                grpc_code: tonic::Code::DeadlineExceeded as i32,
                message: if self.scene_loaded {
                    format!(
                        "could not reconnect to {} within {:?}",
                        self.config.host, self.config.scene_load_timeout
                    )
                } else {
                    format!(
                        "scene {} did not load within {:?}",
                        self.config.scene, self.config.scene_load_timeout
                    )
                }
                .into(),
                details: None,
                will_retry,
            },
            Failure::Ended => SessionError {
                grpc_code: tonic::Code::Unavailable as i32,
                message: "the engine ended the stream".into(),
                details: None,
                will_retry,
            },
            Failure::Fatal(m) => SessionError {
                grpc_code: tonic::Code::InvalidArgument as i32,
                message: m.as_str().into(),
                details: None,
                will_retry,
            },
        };
        let mut error = error;
        if !will_retry && !self.pending.is_empty() {
            // Nothing is dropped silently: say what will never be sent.
            error.message = format!(
                "{}; {} unsent packet(s) dropped",
                error.message,
                self.pending.len()
            )
            .into();
        }
        log::warn!(
            "session stream failed: {} (retry: {will_retry})",
            error.message
        );
        self.inner
            .delivery
            .deliver(local_packet(PacketBody::Error(error)));
    }
}

/// The reconnect policy (4.12): Inworld details first (NO_RETRY, IMMEDIATE,
/// TIMEOUT at `reconnect_time`), then the gRPC code (errors a retry cannot fix
/// end the session), else exponential backoff. `attempts` counts failures in
/// a row; `max_retries` from the details, when given, caps them instead of the
/// policy. None means give up.
fn retry_delay(
    failure: &Failure,
    attempts: &mut u32,
    policy: &ReconnectPolicy,
) -> Option<Duration> {
    use crate::packet::ReconnectionType;
    let mut limit = policy.max_attempts;
    let delay = match failure {
        Failure::SceneTimeout | Failure::Fatal(_) => return None,
        Failure::Transport(_) | Failure::Ended => None,
        Failure::Status(status) => {
            let details = crate::protocol::status::details_of(status);
            if let Some(d) = details.as_ref().filter(|d| d.max_retries > 0) {
                limit = d.max_retries as u32;
            }
            match details
                .as_ref()
                .map(|d| (d.reconnect_type, d.reconnect_time))
            {
                Some((ReconnectionType::NoRetry, _)) => return None,
                Some((ReconnectionType::Immediate, _)) => Some(Duration::ZERO),
                Some((ReconnectionType::Timeout, Some(at))) => {
                    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
                }
                _ => {
                    use tonic::Code::*;
                    if matches!(
                        status.code(),
                        Unauthenticated
                            | PermissionDenied
                            | InvalidArgument
                            | NotFound
                            | Unimplemented
                            | FailedPrecondition
                            | OutOfRange
                    ) {
                        return None;
                    }
                    None
                }
            }
        }
    };
    *attempts += 1;
    if *attempts > limit {
        return None;
    }
    Some(delay.unwrap_or_else(|| policy.backoff(*attempts)))
}

/// Dials the engine (TLS per the config, rustls with the webpki roots plus
/// any extra roots).
async fn connect(config: &ClientConfig) -> Result<Channel, Failure> {
    let tls = config.use_tls();
    let scheme = if tls { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", config.host))
        .map_err(|e| Failure::Fatal(format!("bad host {:?}: {e}", config.host)))?
        .connect_timeout(config.scene_load_timeout)
        .tcp_nodelay(true);
    if tls {
        let (host, _) = super::config::split_host_port(&config.host)
            .ok_or_else(|| Failure::Fatal(format!("bad host {:?}", config.host)))?;
        let mut tls_config = ClientTlsConfig::new()
            .with_webpki_roots()
            .domain_name(host.to_string());
        if !config.extra_root_certs_pem.is_empty() {
            tls_config =
                tls_config.ca_certificate(Certificate::from_pem(&config.extra_root_certs_pem));
        }
        endpoint = endpoint
            .tls_config(tls_config)
            .map_err(|e| Failure::Fatal(format!("TLS configuration: {e}")))?;
    }
    endpoint.connect().await.map_err(|e| {
        use std::error::Error as _;
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Failure::Transport(message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::status::{status_with_details, ErrorDetails, ErrorType, ReconnectionType};

    fn with(reconnect: ReconnectionType, max_retries: i32) -> Failure {
        let mut d = ErrorDetails::new(ErrorType::SessionPaused, reconnect);
        d.max_retries = max_retries;
        Failure::Status(status_with_details(
            tonic::Code::FailedPrecondition,
            "x",
            &d,
        ))
    }

    #[test]
    fn details_drive_the_policy() {
        let policy = ReconnectPolicy::default();
        let mut n = 0;
        assert_eq!(
            retry_delay(&with(ReconnectionType::Immediate, 0), &mut n, &policy),
            Some(Duration::ZERO)
        );
        let mut n = 0;
        assert_eq!(
            retry_delay(&with(ReconnectionType::NoRetry, 0), &mut n, &policy),
            None
        );
        // max_retries from the service caps the attempts.
        let mut n = 0;
        for _ in 0..2 {
            assert!(retry_delay(&with(ReconnectionType::Immediate, 2), &mut n, &policy).is_some());
        }
        assert_eq!(
            retry_delay(&with(ReconnectionType::Immediate, 2), &mut n, &policy),
            None
        );
        // TIMEOUT waits until reconnect_time.
        let mut d = ErrorDetails::new(ErrorType::SessionPaused, ReconnectionType::Timeout);
        d.reconnect_time = Some(SystemTime::now() + Duration::from_secs(30));
        let f = Failure::Status(status_with_details(tonic::Code::Unavailable, "x", &d));
        let mut n = 0;
        let wait = retry_delay(&f, &mut n, &policy).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
    }

    #[test]
    fn without_details_codes_and_backoff_decide() {
        let policy = ReconnectPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        let mut n = 0;
        assert_eq!(
            retry_delay(
                &Failure::Status(tonic::Status::unauthenticated("x")),
                &mut n,
                &policy
            ),
            None
        );
        let unavailable = Failure::Status(tonic::Status::unavailable("x"));
        let mut n = 0;
        assert_eq!(
            retry_delay(&unavailable, &mut n, &policy),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            retry_delay(&Failure::Transport("refused".into()), &mut n, &policy),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            retry_delay(&Failure::Ended, &mut n, &policy),
            Some(Duration::from_millis(400))
        );
        assert_eq!(retry_delay(&unavailable, &mut n, &policy), None);
        let mut n = 0;
        assert_eq!(retry_delay(&Failure::SceneTimeout, &mut n, &policy), None);
    }
}
