//! `Client`: a validated configuration, the connections its sessions share,
//! and the tokio runtime their tasks run on (the library's private one, or
//! the host's own).

use super::config::{Auth, ClientConfig, SessionConfig, SessionToken};
use super::connection::{generate_token, CallError, Connections};
use super::in_flight::InFlight;
use super::session::Session;
use super::state::SessionShared;
use super::{driver, runtime, Error};
use crate::packet::{ConnectionEvent, ConnectionState, Packet, PacketBody, Resumed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Commands a session may have in flight before sends fail with `QueueFull`
/// (sends are bounded by `max_pending_sends` before they get here).
const COMMAND_CAPACITY: usize = 4096;

/// Status packets beyond the session's pending sends and tracked replies:
/// connection changes and errors of a long outage.
const STATUS_HEADROOM: usize = 64;

/// Opens sessions; they share its connections (up to a hundred sessions
/// per HTTP/2 connection). Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    connections: Arc<Connections>,
    /// The host's runtime, or `None` for the library's private one (started
    /// by the first session, so that it can still be sized before that).
    runtime: Option<tokio::runtime::Handle>,
}

impl Client {
    /// A client whose sessions run on the library's private runtime.
    /// Checks the configuration (the default session's scene is checked
    /// when a session opens with it). Does no I/O and starts nothing.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        Client::build(config, None)
    }

    /// A client whose sessions run on `runtime` (a Rust host's own tokio
    /// runtime, which must have the time and I/O drivers enabled).
    pub fn with_runtime(
        config: ClientConfig,
        runtime: tokio::runtime::Handle,
    ) -> Result<Client, Error> {
        Client::build(config, Some(runtime))
    }

    fn build(
        config: ClientConfig,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Result<Client, Error> {
        config.validate_client()?;
        let connections = Connections::new(&config).map_err(Error::InvalidConfig)?;
        Ok(Client {
            config: Arc::new(config),
            connections: Arc::new(connections),
            runtime,
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Opens a session with the configuration's default session options.
    pub fn open_session(&self) -> Result<Session, Error> {
        self.open_session_with(self.config.session.clone())
    }

    /// Opens a session of `session` (another scene, player, capabilities...).
    /// Returns at once: the token, stream, scene and conversation happen on
    /// the runtime and are reported as Connection packets (Connecting, then
    /// Ready, or an Error and Closed).
    pub fn open_session_with(&self, session: SessionConfig) -> Result<Session, Error> {
        session.validate()?;
        let runtime = self.runtime()?;
        let status_reserve =
            session.max_pending_sends + InFlight::report_reserve() + STATUS_HEADROOM;
        let shared = Arc::new(SessionShared::new(
            session.queue_capacity,
            status_reserve,
            session.max_pending_sends,
            ConnectionState::Connecting,
            session.workspace().unwrap_or_default().to_string(),
        ));
        shared
            .delivery
            .deliver(Packet::local(PacketBody::Connection(ConnectionEvent {
                state: ConnectionState::Connecting,
                retry_in: Duration::ZERO,
                resumed: Resumed::No,
            })));
        let (commands, receiver) = mpsc::channel(COMMAND_CAPACITY);
        let setup = driver::Setup {
            shared: shared.clone(),
            lease: self.connections.lease(&runtime),
            client: self.config.clone(),
            session,
        };
        runtime.spawn(driver::run(setup, receiver));
        Ok(Session::new(shared, commands))
    }

    /// Mints a session token for `workspace` with the configuration's API
    /// key and secret (`Auth::ApiKey`): the `GenerateToken` call, signed
    /// IW1-HMAC-SHA256. This is a game backend's side of `Auth::Token` and
    /// `Auth::Provider`: the backend keeps the secret and hands its players'
    /// games tokens. Gives up after `Timeouts::connect`. Runs on the
    /// client's runtime, so it can be awaited from any executor.
    pub async fn generate_token(&self, workspace: &str) -> Result<SessionToken, Error> {
        let call = self.token_call(workspace)?;
        self.runtime()?
            .spawn(call)
            .await
            .map_err(|e| Error::Runtime(format!("the token call stopped: {e}")))?
    }

    /// [`Client::generate_token`] for a thread that may block (a backend's
    /// request handler, a tool). Not for async code: it blocks the thread.
    pub fn generate_token_blocking(&self, workspace: &str) -> Result<SessionToken, Error> {
        let call = self.token_call(workspace)?;
        let (answer, wait) = std::sync::mpsc::sync_channel(1);
        self.runtime()?.spawn(async move {
            let _ = answer.send(call.await);
        });
        // The sender is dropped unanswered only when the runtime shuts down.
        wait.recv().unwrap_or(Err(Error::Shutdown))
    }

    fn token_call(
        &self,
        workspace: &str,
    ) -> Result<
        impl std::future::Future<Output = Result<SessionToken, Error>> + Send + 'static,
        Error,
    > {
        let Auth::ApiKey(credentials) = &self.config.auth else {
            return Err(Error::InvalidConfig(
                "auth: minting a token takes an API key and secret (Auth::ApiKey)".into(),
            ));
        };
        if workspace.is_empty() || workspace.contains('/') {
            return Err(Error::InvalidArgument(format!(
                "workspace {workspace:?} must be a workspace id (the <ws> of workspaces/<ws>)"
            )));
        }
        let lease = self.connections.lease(&self.runtime()?);
        let credentials = credentials.clone();
        let host = self.config.host.clone();
        let workspace = workspace.to_string();
        let limit = self.config.timeouts.connect;
        Ok(async move {
            let call = generate_token(&lease, &credentials, &host, &workspace);
            match tokio::time::timeout(limit, call).await {
                Ok(Ok(token)) => Ok(token),
                Ok(Err(CallError::Status(s))) => Err(Error::Service(format!(
                    "GenerateToken: {:?}: {}",
                    s.code(),
                    s.message()
                ))),
                Ok(Err(CallError::Fatal(m))) => Err(Error::InvalidConfig(m)),
                Err(_) => Err(Error::Service(format!(
                    "GenerateToken: no answer within {limit:?}"
                ))),
            }
        })
    }

    fn runtime(&self) -> Result<tokio::runtime::Handle, Error> {
        match &self.runtime {
            Some(host) => Ok(host.clone()),
            None => runtime::handle(),
        }
    }

    /// HTTP/2 channels made so far: one per hundred sessions open at once.
    pub fn connection_count(&self) -> usize {
        self.connections.channel_count()
    }
}

impl Session {
    /// Opens a session on a client of its own (on the library's private
    /// runtime). To open many sessions, open them from one [`Client`]: they
    /// share its connections.
    pub fn open(config: ClientConfig) -> Result<Session, Error> {
        config.session.validate()?;
        Client::new(config)?.open_session()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.config.host)
            .field("connections", &self.connection_count())
            .finish()
    }
}
