//! `Session`: the game's handle on one conversation session. Calls never wait
//! on the network: they update shared state or hand a command to the session's
//! driver task (driver.rs) on the private runtime.

use super::delivery::Delivery;
use super::driver::{self, Command, Outgoing};
use super::{runtime, ClientConfig, Error, PacketHandler, SentIds, SessionState, WakeupHandler};
use crate::packet::{
    Character, ConnectionEvent, ConnectionState, Packet, PacketBody, PacketIds, Routing,
    SceneStatus,
};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// Commands a session may have in flight before sends fail with `QueueFull`.
pub(crate) const COMMAND_CAPACITY: usize = 4096;

/// A session with one scene. Cheap to clone (the clones share the session);
/// `Send + Sync`.
///
/// Dropping every handle ends the session like [`Session::close`]; a handler
/// or wake-up closure that holds a handle keeps the session alive until
/// `close()` (which drops the callbacks).
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<Inner>,
    /// Held only by the handles: when the game drops every one of them, the
    /// driver sees the channel close and ends the session.
    commands: Option<mpsc::Sender<Command>>,
}

pub(crate) struct Inner {
    pub(crate) delivery: Delivery,
    pub(crate) shared: Mutex<Shared>,
    /// Wakes the driver when the game closes the session.
    pub(crate) close_signal: Notify,
}

/// What the API reads without asking the driver.
pub(crate) struct Shared {
    pub(crate) state: SessionState,
    pub(crate) session_id: Option<String>,
    pub(crate) scene: Option<SceneStatus>,
    pub(crate) current: Option<Character>,
    /// The one-to-one conversation (fresh UUID per session).
    pub(crate) conversation_id: String,
}

impl Inner {
    /// Moves to `state` and reports it as a Connection packet (once per change).
    pub(crate) fn set_state(&self, state: SessionState, retry_in: Duration) {
        {
            let mut shared = self.shared.lock();
            if shared.state == SessionState::Closed
                || (shared.state == state && state != SessionState::Reconnecting)
            {
                return;
            }
            shared.state = state;
        }
        self.delivery
            .deliver(local_packet(PacketBody::Connection(ConnectionEvent {
                state,
                retry_in,
            })));
    }

    pub(crate) fn state(&self) -> SessionState {
        self.shared.lock().state
    }
}

/// A packet the library makes itself (no ids, no routing, timestamp 0).
pub(crate) fn local_packet(body: PacketBody) -> Packet {
    Packet {
        ids: PacketIds::default(),
        routing: Routing::default(),
        timestamp_ms: 0,
        body,
    }
}

impl Session {
    /// Starts a session: validates `config` and returns at once; the token,
    /// stream and scene load happen on the runtime and are reported as
    /// Connection packets (Connecting, then Ready, or an Error and Closed).
    pub fn open(config: ClientConfig) -> Result<Session, Error> {
        config.validate()?;
        let handle = runtime::handle()?;
        let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
        let inner = Arc::new(Inner {
            delivery: Delivery::new(config.queue_capacity),
            shared: Mutex::new(Shared {
                state: SessionState::Connecting,
                session_id: None,
                scene: None,
                current: None,
                conversation_id: uuid::Uuid::new_v4().to_string(),
            }),
            close_signal: Notify::new(),
        });
        inner
            .delivery
            .deliver(local_packet(PacketBody::Connection(ConnectionEvent {
                state: ConnectionState::Connecting,
                retry_in: Duration::ZERO,
            })));
        handle.spawn(driver::run(inner.clone(), config, rx));
        Ok(Session {
            inner,
            commands: Some(tx),
        })
    }

    /// A session bound to nothing (state Closed for sends), for tests and
    /// benchmarks of the poll path.
    #[doc(hidden)]
    pub fn offline(capacity: usize) -> Session {
        Session {
            inner: Arc::new(Inner {
                delivery: Delivery::new(capacity),
                shared: Mutex::new(Shared {
                    state: SessionState::Closed,
                    session_id: None,
                    scene: None,
                    current: None,
                    conversation_id: uuid::Uuid::new_v4().to_string(),
                }),
                close_signal: Notify::new(),
            }),
            commands: None,
        }
    }

    /// Delivers `packet` as if it had been received (same overflow rules).
    #[doc(hidden)]
    pub fn inject(&self, packet: Packet) {
        self.inner.delivery.deliver(packet);
    }

    pub fn state(&self) -> SessionState {
        self.inner.state()
    }

    /// The session id from the token (once known).
    pub fn session_id(&self) -> Option<String> {
        self.inner.shared.lock().session_id.clone()
    }

    /// The last scene status received.
    pub fn scene(&self) -> Option<SceneStatus> {
        self.inner.shared.lock().scene.clone()
    }

    /// The characters of the loaded scene (empty before Ready).
    pub fn characters(&self) -> Vec<Character> {
        self.inner
            .shared
            .lock()
            .scene
            .as_ref()
            .map(|s| s.characters.clone())
            .unwrap_or_default()
    }

    /// The character that one-to-one sends talk to.
    pub fn current_character(&self) -> Option<Character> {
        self.inner.shared.lock().current.clone()
    }

    /// Picks the character to talk to by agent id, resource name or display
    /// name. If the conversation is active, the engine is told at once.
    pub fn set_current_character(&self, who: &str) -> Result<(), Error> {
        if who.is_empty() {
            return Err(Error::InvalidArgument("character name is empty".into()));
        }
        {
            let mut shared = self.inner.shared.lock();
            if shared.state == SessionState::Closed {
                return Err(Error::Closed);
            }
            let Some(scene) = shared.scene.as_ref() else {
                return Err(Error::NotReady);
            };
            let found = scene
                .characters
                .iter()
                .find(|c| c.id == who)
                .or_else(|| scene.characters.iter().find(|c| c.resource_name == who))
                .or_else(|| scene.characters.iter().find(|c| c.display_name == who))
                .cloned()
                .ok_or_else(|| Error::NotFound(format!("no character {who:?} in the scene")))?;
            if shared.current.as_ref() == Some(&found) {
                return Ok(());
            }
            shared.current = Some(found);
        }
        self.command(Command::CharacterChanged)
    }

    /// Sends typed text (TYPED_IN, final) to the current character.
    pub fn send_text(&self, text: &str) -> Result<SentIds, Error> {
        if text.is_empty() {
            return Err(Error::InvalidArgument("text is empty".into()));
        }
        self.send(Outgoing::Text(text.to_string()))
    }

    /// Sends a custom trigger with parameters to the current character.
    pub fn send_trigger(&self, name: &str, params: &[(&str, &str)]) -> Result<SentIds, Error> {
        if name.is_empty() {
            return Err(Error::InvalidArgument("trigger name is empty".into()));
        }
        if params.iter().any(|(n, _)| n.is_empty()) {
            return Err(Error::InvalidArgument(
                "trigger parameter names must not be empty".into(),
            ));
        }
        self.send(Outgoing::Trigger {
            name: name.to_string(),
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        })
    }

    /// Sends a narrated action ("waves hello") to the current character.
    pub fn send_narrated_action(&self, text: &str) -> Result<SentIds, Error> {
        if text.is_empty() {
            return Err(Error::InvalidArgument("narrated action is empty".into()));
        }
        self.send(Outgoing::NarratedAction(text.to_string()))
    }

    fn send(&self, payload: Outgoing) -> Result<SentIds, Error> {
        let conversation_id = {
            let shared = self.inner.shared.lock();
            if shared.state == SessionState::Closed {
                return Err(Error::Closed);
            }
            shared.conversation_id.clone()
        };
        let ids = SentIds {
            packet_id: uuid::Uuid::new_v4().to_string(),
            utterance_id: uuid::Uuid::new_v4().to_string(),
            interaction_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: uuid::Uuid::new_v4().to_string(),
            conversation_id,
        };
        self.command(Command::Send {
            ids: ids.clone(),
            payload,
        })?;
        Ok(ids)
    }

    fn command(&self, command: Command) -> Result<(), Error> {
        let Some(tx) = &self.commands else {
            return Err(Error::Closed);
        };
        tx.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::QueueFull,
            mpsc::error::TrySendError::Closed(_) => Error::Closed,
        })
    }

    /// The next packet, if one is waiting; once the queue is drained, an
    /// `Overflow` report of packets dropped meanwhile. Never blocks, never
    /// allocates.
    pub fn try_recv(&self) -> Option<Packet> {
        self.inner.delivery.try_recv()
    }

    /// Waits up to `timeout` for the next packet (for tools and tests).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Packet> {
        self.inner.delivery.recv_timeout(timeout)
    }

    /// Sends packets to `handler` on a library thread instead of the queue
    /// (`None` goes back to the queue). Packets already queued stay there.
    /// The handler runs on a runtime worker: keep it short and non-blocking
    /// (hand the packet over to your own thread if needed). Replacing it
    /// waits until a running call of the old one returns (except from inside
    /// the handler itself).
    pub fn set_handler(&self, handler: Option<PacketHandler>) {
        self.inner.delivery.set_handler(handler);
    }

    /// Calls `wakeup` on a library thread whenever the queue goes from empty
    /// to non-empty (e.g. to schedule a poll on the game's main thread).
    pub fn set_wakeup(&self, wakeup: Option<WakeupHandler>) {
        self.inner.delivery.set_wakeup(wakeup);
    }

    /// Closes the session: cancels the stream and drops pending sends.
    /// Idempotent. Once it returns, no handler or wake-up call of this session
    /// runs or is running (called from inside this session's own handler, it
    /// returns at once and nothing fires after that handler returns). Packets
    /// already queued stay pollable, followed by a final Connection Closed packet.
    pub fn close(&self) {
        if self.inner.delivery.close() {
            self.inner.set_state(SessionState::Closed, Duration::ZERO);
            self.inner.close_signal.notify_one();
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state())
            .field("session_id", &self.session_id())
            .finish()
    }
}
