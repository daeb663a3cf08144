//! `Client`: a validated configuration, the connections its sessions share,
//! and the tokio runtime their tasks run on (the library's private one, or
//! the host's own).

use super::config::{ClientConfig, SessionConfig};
use super::connection::Connections;
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
        let runtime = match &self.runtime {
            Some(host) => host.clone(),
            None => runtime::handle()?,
        };
        let status_reserve = session.max_pending_sends + InFlight::capacity() + STATUS_HEADROOM;
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
