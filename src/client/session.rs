//! `Session`: the game's handle on one session. Calls never wait on the
//! network: they read the shared snapshot or hand a command to the
//! session's task (`driver/`).

use super::state::{Command, Outgoing, Send, SessionShared};
use super::{Error, PacketHandler, SentIds, WakeupHandler};
use crate::packet::{Character, ConnectionState, Packet, SceneStatus};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A session with one scene. Cheap to clone (the clones share the session);
/// `Send + Sync`.
///
/// Dropping every handle ends the session like [`Session::close`]; a handler
/// or wake-up closure that holds a handle keeps the session alive until
/// `close()` (which drops the callbacks).
#[derive(Clone)]
pub struct Session {
    shared: Arc<SessionShared>,
    /// Held only by the handles: when the game drops every one of them, the
    /// task sees the channel close and ends the session.
    commands: Option<mpsc::Sender<Command>>,
}

impl Session {
    pub(crate) fn new(shared: Arc<SessionShared>, commands: mpsc::Sender<Command>) -> Self {
        Session {
            shared,
            commands: Some(commands),
        }
    }

    /// A session bound to nothing (state Closed for sends), for tests and
    /// benchmarks of the poll path.
    #[doc(hidden)]
    pub fn offline(capacity: usize) -> Session {
        Session {
            shared: Arc::new(SessionShared::new(capacity, 0, 1, ConnectionState::Closed)),
            commands: None,
        }
    }

    /// Delivers `packet` as if it had been received (same overflow rules).
    #[doc(hidden)]
    pub fn inject(&self, packet: Packet) {
        self.shared.delivery.deliver(packet);
    }

    pub fn state(&self) -> ConnectionState {
        self.shared.state()
    }

    /// The session id from the token (once known). It changes when the
    /// service lost the session and the library opened a new one.
    pub fn session_id(&self) -> Option<String> {
        self.shared.snapshot.lock().session_id.clone()
    }

    /// The last scene status received.
    pub fn scene(&self) -> Option<SceneStatus> {
        self.shared.snapshot.lock().scene.clone()
    }

    /// The characters of the loaded scene (empty before the scene loads).
    pub fn characters(&self) -> Vec<Character> {
        self.shared
            .snapshot
            .lock()
            .scene
            .as_ref()
            .map(|s| s.characters.clone())
            .unwrap_or_default()
    }

    /// The character that one-to-one sends talk to.
    pub fn current_character(&self) -> Option<Character> {
        self.shared.snapshot.lock().current.clone()
    }

    /// Picks the character to talk to by agent id, resource name or display
    /// name (case-insensitive). If the conversation has started, the service
    /// is told at once.
    pub fn set_current_character(&self, who: &str) -> Result<(), Error> {
        if who.is_empty() {
            return Err(Error::InvalidArgument("character name is empty".into()));
        }
        {
            let mut snapshot = self.shared.snapshot.lock();
            if snapshot.state == ConnectionState::Closed {
                return Err(Error::Closed);
            }
            let Some(scene) = snapshot.scene.as_ref() else {
                return Err(Error::NotReady);
            };
            let found = scene
                .characters
                .iter()
                .find(|c| c.id == who)
                .or_else(|| scene.characters.iter().find(|c| c.resource_name == who))
                .or_else(|| {
                    scene
                        .characters
                        .iter()
                        .find(|c| c.display_name.eq_ignore_ascii_case(who))
                })
                .cloned()
                .ok_or_else(|| Error::NotFound(format!("no character {who:?} in the scene")))?;
            if snapshot.current.as_ref() == Some(&found) {
                return Ok(());
            }
            snapshot.current = Some(found);
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

    /// Queues a send. It goes out at once when the session is Ready, else
    /// when it is (up to `max_pending_sends` wait; beyond, `QueueFull`).
    fn send(&self, payload: Outgoing) -> Result<SentIds, Error> {
        let conversation_id = {
            let snapshot = self.shared.snapshot.lock();
            if snapshot.state == ConnectionState::Closed {
                return Err(Error::Closed);
            }
            snapshot.conversation_id.clone()
        };
        if !self.shared.reserve_send() {
            return Err(Error::QueueFull);
        }
        let ids = SentIds::fresh(conversation_id);
        let send = Send {
            ids: ids.clone(),
            payload,
        };
        if let Err(e) = self.command(Command::Send(Box::new(send))) {
            self.shared.release_send();
            return Err(e);
        }
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
        self.shared.delivery.try_recv()
    }

    /// Waits up to `timeout` for the next packet (for tools and tests).
    /// Returns `None` at once after the session's last packet was taken.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Packet> {
        self.shared.delivery.recv_timeout(timeout)
    }

    /// The next packet, awaited without blocking a thread (for async hosts:
    /// a game server, a service); `None` once the session has ended and its
    /// last packet (Connection Closed) was taken. Works on any runtime.
    pub async fn recv(&self) -> Option<Packet> {
        self.shared.delivery.recv().await
    }

    /// Sends packets to `handler` on a library thread instead of the queue
    /// (`None` goes back to the queue). Packets already queued stay there.
    /// The handler runs on a runtime worker: keep it short and non-blocking
    /// (hand the packet over to your own thread if needed). Replacing it
    /// waits until a running call of the old one returns (except from inside
    /// the handler itself).
    pub fn set_handler(&self, handler: Option<PacketHandler>) {
        self.shared.delivery.set_handler(handler);
    }

    /// Calls `wakeup` on a library thread whenever the queue goes from empty
    /// to non-empty (e.g. to schedule a poll on the game's main thread).
    pub fn set_wakeup(&self, wakeup: Option<WakeupHandler>) {
        self.shared.delivery.set_wakeup(wakeup);
    }

    /// Closes the session: the stream ends and sends not gone out are
    /// reported (`SendFailed`, not sent). Idempotent. Once it returns, the
    /// state is Closed and no handler or wake-up call of this session runs
    /// or is running (called from inside this session's own handler, it
    /// returns at once and nothing fires after that handler returns).
    /// Packets already queued stay pollable, followed by the reports and a
    /// final Connection Closed packet.
    pub fn close(&self) {
        if self.shared.delivery.close() {
            self.shared.mark_closed();
            self.shared.close_signal.notify_one();
            if self.commands.is_none() {
                self.shared.finish();
            }
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
