//! The proxy's sessions and their events. Each session has a bounded queue
//! (the oldest events go first when it is full, and the next event drained
//! says how many); every event has a global sequence number, so the drain
//! routes return events of many sessions in the order they arrived. Events
//! of a closed session (its `disconnected` above all) wait to be drained for
//! a while, then expire.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inworld::client::{Client, Continuation, Session, SessionConfig, Talker};
use inworld::packet::{ConnectionState, PacketBody};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use crate::events::{event, event_of, Owner};
use crate::ownership::{dialog_line, Ownership, Saved};
use crate::redis_events::{Fenced, RedisEvents};
use redis::RedisError;
use std::sync::OnceLock;

/// How long opening may take before the open is refused.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// What a route needs to know about a session.
pub struct Opened {
    pub session_id: String,
    pub character: Value,
    pub characters: Value,
}

/// What the registry holds at most.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Events kept per session (the oldest go first, and are counted).
    pub queue_capacity: usize,
    /// Sessions open at once.
    pub max_sessions: usize,
    /// Sessions one uid holds open at once.
    pub max_sessions_per_uid: usize,
    /// How long the events of a closed session wait to be drained.
    pub closed_events_ttl: Duration,
}

/// Why an open was refused.
#[derive(Debug)]
pub enum OpenRefused {
    /// The same uid, scene, character and server are open already, or the
    /// uid or the proxy holds as many sessions as it may.
    Conflict(String),
    /// The service did not open it.
    Failed(String),
    /// Redis did not record it (the session was closed).
    Unavailable(RedisError),
    /// The sessions of the previous process at this address are not
    /// claimed again yet (Redis is away): none opens before them.
    Starting,
}

impl std::fmt::Display for OpenRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenRefused::Conflict(why) | OpenRefused::Failed(why) => f.write_str(why),
            OpenRefused::Unavailable(e) => write!(f, "redis: {e}"),
            OpenRefused::Starting => {
                f.write_str("the previous process's sessions are not claimed again yet")
            }
        }
    }
}

#[derive(Clone)]
struct Queued {
    seq: u64,
    server_id: Option<String>,
    event: Value,
}

struct Entry {
    session: Session,
    owner: Owner,
    /// What the open asked for: a second open of the same is refused.
    key: (String, String, Option<String>, Option<String>),
    /// The player's name, as opened (for a takeover).
    player: Option<String>,
    events: VecDeque<Queued>,
    dropped: u64,
    last_used: Instant,
    /// Synchronous turns waiting for their interaction's events (which go to
    /// them instead of the queue).
    turns: HashMap<String, tokio::sync::mpsc::UnboundedSender<Value>>,
    /// With REDIS_URL: the session's fencing number when this instance
    /// took it; its writes count only while it is the session's.
    fence: u64,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Entry>,
    /// With REDIS_URL: sessions claimed here (taken over, or a previous
    /// process's) and being reopened; they count against MAX_SESSIONS.
    resuming: HashSet<String>,
    /// Events of closed sessions, with when they closed.
    closed: Vec<(Instant, Queued)>,
    /// Per uid: send tokens left and when they were counted.
    buckets: HashMap<String, (f64, Instant)>,
    /// Per uid: open tokens left and when they were counted.
    open_buckets: HashMap<String, (f64, Instant)>,
}

pub struct Registry {
    client: Client,
    workspace: Option<String>,
    emotions: bool,
    bounds: Bounds,
    state: Mutex<State>,
    seq: AtomicU64,
    arrived: Arc<Notify>,
    /// With REDIS_URL: the event queues, shared by every instance.
    shared: Option<Arc<RedisEvents>>,
    /// With REDIS_URL, once serving: who owns what.
    ownership: OnceLock<Arc<Ownership>>,
    /// Sessions this instance reopened after their owner stopped.
    pub takeovers: AtomicU64,
    /// Sessions this instance dropped because another took them over.
    pub lost: AtomicU64,
    /// Sessions of stopped instances left unclaimed at the last takeover
    /// (no instance with room yet, or their shares still held).
    pub awaiting_takeover: AtomicU64,
    /// Notified when a session being reopened here is (or failed).
    reopened: Notify,
}

impl Registry {
    pub fn new(
        client: Client,
        default_scene: Option<&str>,
        emotions: bool,
        bounds: Bounds,
        redis_url: Option<&str>,
    ) -> Result<Arc<Registry>, String> {
        let workspace = default_scene
            .and_then(|s| s.strip_prefix("workspaces/"))
            .and_then(|s| s.split('/').next())
            .map(str::to_string);
        let arrived = Arc::new(Notify::new());
        let (fenced, refusals) = tokio::sync::mpsc::unbounded_channel();
        let shared = match redis_url {
            None => None,
            Some(url) => Some(RedisEvents::start(
                url,
                bounds.queue_capacity,
                arrived.clone(),
                fenced,
            )?),
        };
        let registry = Arc::new(Registry {
            client,
            workspace,
            emotions,
            bounds: Bounds {
                queue_capacity: bounds.queue_capacity.max(1),
                ..bounds
            },
            state: Mutex::new(State::default()),
            seq: AtomicU64::new(0),
            arrived,
            shared,
            ownership: OnceLock::new(),
            takeovers: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            awaiting_takeover: AtomicU64::new(0),
            reopened: Notify::new(),
        });
        if registry.shared.is_some() {
            tokio::spawn(drop_when_fenced(Arc::downgrade(&registry), refusals));
        }
        Ok(registry)
    }

    /// The event queues in Redis, with REDIS_URL.
    pub fn shared(&self) -> Option<&Arc<RedisEvents>> {
        self.shared.as_ref()
    }

    /// With REDIS_URL: records sessions opened from now on as this
    /// instance's (once, when it starts serving).
    pub fn join(&self, ownership: Arc<Ownership>) {
        let _ = self.ownership.set(ownership);
    }

    /// Opens a library session and waits until it is ready.
    async fn open_ready(
        &self,
        config: SessionConfig,
        character: Option<&str>,
    ) -> Result<Session, OpenRefused> {
        let session = self
            .client
            .open_session_with(config)
            .map_err(|e| OpenRefused::Failed(e.to_string()))?;
        let start = Instant::now();
        loop {
            match session.state() {
                ConnectionState::Ready => break,
                ConnectionState::Closed => {
                    // Why: the error the session reported, if any.
                    let mut reason = "the session closed".to_string();
                    while let Some(p) = session.try_recv() {
                        if let PacketBody::Error(e) = p.body {
                            reason = e.message.as_str().to_string();
                        }
                    }
                    return Err(OpenRefused::Failed(reason));
                }
                _ if start.elapsed() > OPEN_TIMEOUT => {
                    session.close();
                    return Err(OpenRefused::Failed(
                        "the session did not become ready".into(),
                    ));
                }
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        if let Some(who) = character {
            if let Err(e) = session.set_current_character(who) {
                session.close();
                return Err(OpenRefused::Failed(e.to_string()));
            }
        }
        Ok(session)
    }

    fn session_config(&self, scene: &str, uid: &str, player_name: Option<&str>) -> SessionConfig {
        let mut config = SessionConfig::new(self.scene_name(scene));
        config.user = self.client.config().session.user.clone();
        config.user.name = Some(player_name.unwrap_or(uid).to_string());
        config.capabilities = self.client.config().session.capabilities;
        config
    }

    /// A scene id of the default workspace, or a full resource name.
    fn scene_name(&self, scene: &str) -> String {
        match (&self.workspace, scene.contains('/')) {
            (Some(ws), false) => format!("workspaces/{ws}/scenes/{scene}"),
            _ => scene.to_string(),
        }
    }

    /// Opens a session for a player; waits until it is ready. Err: why not
    /// (the route answers 409 whatever it is).
    pub async fn open(
        self: &Arc<Self>,
        uid: &str,
        scene: &str,
        character: Option<&str>,
        player_name: Option<&str>,
        server_id: Option<&str>,
    ) -> Result<Opened, OpenRefused> {
        let key = (
            uid.to_string(),
            scene.to_string(),
            character.map(str::to_string),
            server_id.map(str::to_string),
        );
        self.room_for(&self.state.lock(), &key)?;
        if self.shared.is_some() && self.ownership.get().is_some_and(|o| !o.adopted()) {
            return Err(OpenRefused::Starting);
        }
        let config = self.session_config(scene, uid, player_name);
        let session = self.open_ready(config, character).await?;
        let Some(session_id) = session.session_id() else {
            session.close();
            return Err(OpenRefused::Failed("the session has no id".into()));
        };
        let mut fence = 0;
        if self.shared.is_some() {
            let Some(ownership) = self.ownership.get() else {
                session.close();
                return Err(OpenRefused::Failed("the proxy is not serving yet".into()));
            };
            let saved = Saved {
                uid: uid.to_string(),
                scene: scene.to_string(),
                character: character.map(str::to_string),
                player: player_name.map(str::to_string),
                server: server_id.map(str::to_string),
                ..Saved::default()
            };
            match ownership.claim(&session_id, &saved).await {
                Ok(claimed) => fence = claimed,
                Err(e) => {
                    session.close();
                    return Err(OpenRefused::Unavailable(e));
                }
            }
        }
        let opened = Opened {
            session_id: session_id.clone(),
            character: current_character(&session),
            characters: characters(&session),
        };
        let owner = Owner {
            session_id: session_id.clone(),
            uid: uid.to_string(),
            server_id: server_id.map(str::to_string),
        };
        {
            let mut state = self.state.lock();
            if let Err(refused) = self.room_for(&state, &key) {
                session.close();
                return Err(refused);
            }
            state.sessions.insert(
                session_id.clone(),
                Entry {
                    session: session.clone(),
                    owner,
                    key,
                    player: player_name.map(str::to_string),
                    events: VecDeque::new(),
                    dropped: 0,
                    last_used: Instant::now(),
                    turns: HashMap::new(),
                    fence,
                },
            );
        }
        tokio::spawn(pump(self.clone(), session_id, session));
        Ok(opened)
    }

    /// Reopens a session another instance owned (it stopped, or handed it
    /// over), under the fencing number this instance claimed it with, with
    /// the dialog kept in Redis as its continuation, so the character
    /// remembers. Its events say `resumed`, and each interaction accepted
    /// whose reply had not ended gets a `sendFailed`. The bounds on
    /// sessions were applied when it was claimed (see [`Registry::resuming`]).
    pub async fn resume(self: &Arc<Self>, id: &str, fence: u64, saved: Saved) {
        let Some(shared) = self.shared.clone() else {
            self.resumed(id);
            return;
        };
        let owner = Owner {
            session_id: id.to_string(),
            uid: saved.uid.clone(),
            server_id: saved.server.clone(),
        };
        let mut config = self.session_config(&saved.scene, &saved.uid, saved.player.as_deref());
        if !saved.dialog.is_empty() {
            config.continuation = Some(Continuation::DialogHistory(saved.dialog.clone()));
        }
        let server = saved.server.as_deref();
        for interaction in &saved.pending {
            let mut fields = Map::new();
            fields.insert("interactionId".into(), interaction.as_str().into());
            fields.insert("reason".into(), "maybeSent".into());
            fields.insert(
                "message".into(),
                "the proxy instance holding the session stopped before the reply ended".into(),
            );
            shared.push(
                id,
                fence,
                server,
                event(&owner, "sendFailed", fields),
                None,
                Some(interaction.clone()),
            );
        }
        let session = match self.open_ready(config, saved.character.as_deref()).await {
            Ok(session) => session,
            Err(why) => {
                log::warn!("session {id} could not be reopened: {why}");
                let mut fields = Map::new();
                fields.insert("reason".into(), why.to_string().into());
                shared.push(
                    id,
                    fence,
                    server,
                    event(&owner, "disconnected", fields),
                    None,
                    None,
                );
                shared.close(id, fence, self.bounds.closed_events_ttl);
                self.resumed(id);
                return;
            }
        };
        let key = (
            saved.uid.clone(),
            saved.scene.clone(),
            saved.character.clone(),
            saved.server.clone(),
        );
        {
            let mut state = self.state.lock();
            if let Some(stale) = state.sessions.remove(id) {
                stale.session.close();
            }
            state.resuming.remove(id);
            state.sessions.insert(
                id.to_string(),
                Entry {
                    session: session.clone(),
                    owner: owner.clone(),
                    key,
                    player: saved.player.clone(),
                    events: VecDeque::new(),
                    dropped: 0,
                    last_used: Instant::now(),
                    turns: HashMap::new(),
                    fence,
                },
            );
        }
        self.reopened.notify_waiters();
        self.takeovers.fetch_add(1, Ordering::Relaxed);
        log::info!("session {id} resumed here (fence {fence})");
        shared.push(
            id,
            fence,
            server,
            event(&owner, "resumed", Map::new()),
            None,
            None,
        );
        tokio::spawn(pump(self.clone(), id.to_string(), session));
    }

    /// Marks sessions claimed here as being reopened: they count against
    /// MAX_SESSIONS, and requests for them wait for them.
    pub fn resuming(&self, ids: impl IntoIterator<Item = String>) {
        self.state.lock().resuming.extend(ids);
    }

    /// A session is no longer being reopened here (it could not be).
    fn resumed(&self, id: &str) {
        self.state.lock().resuming.remove(id);
        self.reopened.notify_waiters();
    }

    /// How many sessions of stopped instances this one may take over:
    /// what MAX_SESSIONS leaves.
    pub fn room_for_takeovers(&self) -> usize {
        let state = self.state.lock();
        self.bounds
            .max_sessions
            .saturating_sub(state.sessions.len() + state.resuming.len())
    }

    /// Waits, at most `limit`, while the session is being reopened here:
    /// whether this instance holds it then.
    pub async fn wait_reopened(&self, id: &str, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let reopened = self.reopened.notified();
            tokio::pin!(reopened);
            reopened.as_mut().enable();
            {
                let state = self.state.lock();
                if state.sessions.contains_key(id) {
                    return true;
                }
                if !state.resuming.contains(id) {
                    return false;
                }
            }
            if tokio::time::timeout_at(deadline, reopened).await.is_err() {
                return self.holds(id);
            }
        }
    }

    /// Drops this instance's copy of a session another instance owns now
    /// (its writes were refused): its stream closes, and no event is queued
    /// (the new owner queues them).
    /// Only the copy taken with `fence` (a later copy, reopened here, stays).
    pub fn drop_session(&self, id: &str, fence: u64) -> bool {
        let entry = {
            let mut state = self.state.lock();
            if state.sessions.get(id).is_none_or(|e| e.fence != fence) {
                return false;
            }
            state.sessions.remove(id)
        };
        let Some(entry) = entry else { return false };
        entry.session.close();
        self.lost.fetch_add(1, Ordering::Relaxed);
        log::warn!("session {id} is owned by another instance now: dropped here");
        true
    }

    /// The sessions held here, the fencing numbers they were taken with,
    /// and what they would be reopened with.
    pub fn held(&self) -> Vec<(String, u64, Saved)> {
        self.state
            .lock()
            .sessions
            .iter()
            .map(|(id, e)| {
                let saved = Saved {
                    uid: e.key.0.clone(),
                    scene: e.key.1.clone(),
                    character: e.key.2.clone(),
                    player: e.player.clone(),
                    server: e.owner.server_id.clone(),
                    ..Saved::default()
                };
                (id.clone(), e.fence, saved)
            })
            .collect()
    }

    /// A graceful stop with other instances to take over: every session's
    /// stream closes here without a `disconnected` event, and what was
    /// queued is written to Redis.
    pub async fn hand_over(&self) {
        let entries: Vec<Entry> = self.state.lock().sessions.drain().map(|(_, e)| e).collect();
        for entry in &entries {
            entry.session.close();
        }
        self.flush().await;
    }

    /// Sends the player's text (None: no session); with REDIS_URL the line
    /// and its interaction (awaited until its reply ends, for a takeover)
    /// are queued for Redis before any event of its reply can be. With the
    /// ids, the fencing number of the copy that sent it.
    pub fn say(
        &self,
        id: &str,
        text: &str,
    ) -> Option<Result<(inworld::client::SentIds, u64), inworld::client::Error>> {
        self.send(id, |session| session.send_text(text), Some(text))
    }

    /// Sends a custom trigger, recorded as a message is but with no line
    /// (see [`Registry::say`]), so that a takeover before its reply ends
    /// reports it (`sendFailed`) and a copy that lost the session learns it
    /// (see [`Registry::refused`]).
    pub fn trigger(
        &self,
        id: &str,
        name: &str,
    ) -> Option<Result<(inworld::client::SentIds, u64), inworld::client::Error>> {
        self.send(id, |session| session.send_trigger(name, &[]), None)
    }

    fn send(
        &self,
        id: &str,
        send: impl FnOnce(&Session) -> Result<inworld::client::SentIds, inworld::client::Error>,
        line: Option<&str>,
    ) -> Option<Result<(inworld::client::SentIds, u64), inworld::client::Error>> {
        // Under the lock, so that what is recorded is queued before the reply.
        let mut state = self.state.lock();
        let entry = state.sessions.get_mut(id)?;
        entry.last_used = Instant::now();
        let sent = send(&entry.session);
        if let Ok(ids) = &sent {
            self.record_sent(id, entry.fence, line, &ids.interaction_id);
        }
        Some(sent.map(|ids| (ids, entry.fence)))
    }

    /// Records the player's line (if any) and the interaction, awaited
    /// until its reply ends, for a takeover (with REDIS_URL).
    fn record_sent(&self, id: &str, fence: u64, line: Option<&str>, interaction: &str) {
        if let Some(shared) = &self.shared {
            shared.dialog(
                id,
                fence,
                line.map(|text| dialog_line(Talker::Player, text)),
                Some(interaction.to_string()),
                None,
            );
        }
    }

    /// Whether a write of the copy of the session taken with `fence` was
    /// refused: another instance owns it (after a flush, a refusal of what
    /// was queued before it is known here).
    pub fn refused(&self, id: &str, fence: u64) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| s.was_refused(id, fence))
    }

    /// Changes what a session is recorded with, for a takeover.
    pub fn record(&self, id: &str, field: &'static str, value: &str) {
        let fence = match self.state.lock().sessions.get(id) {
            Some(e) => e.fence,
            None => return,
        };
        if let Some(shared) = &self.shared {
            shared.record(id, fence, field, value);
        }
    }

    /// Writes queued for Redis and not yet written (0 without REDIS_URL).
    pub fn write_backlog(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.backlog())
    }

    /// Writes refused because another instance owns their session.
    pub fn fenced_writes(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |s| s.fenced_writes.load(Ordering::Relaxed))
    }

    /// Whether a session of `key` may open: not open already, and the uid
    /// and the proxy under their bounds.
    fn room_for(
        &self,
        state: &State,
        key: &(String, String, Option<String>, Option<String>),
    ) -> Result<(), OpenRefused> {
        let held = state.sessions.len() + state.resuming.len();
        if held >= self.bounds.max_sessions {
            return Err(OpenRefused::Conflict(format!(
                "{held} sessions are open or being reopened, as many as the proxy holds"
            )));
        }
        let mut of_uid = 0;
        for entry in state.sessions.values() {
            if entry.key == *key {
                return Err(OpenRefused::Conflict(
                    "this uid already has this session open".into(),
                ));
            }
            of_uid += usize::from(entry.key.0 == key.0);
        }
        if of_uid >= self.bounds.max_sessions_per_uid {
            return Err(OpenRefused::Conflict(format!(
                "this uid holds {of_uid} sessions, as many as one uid may"
            )));
        }
        Ok(())
    }

    /// Whether this instance holds the session.
    pub fn holds(&self, id: &str) -> bool {
        self.state.lock().sessions.contains_key(id)
    }

    /// The session (its use counts as activity for the idle sweeper).
    pub fn session(&self, id: &str) -> Option<Session> {
        let mut state = self.state.lock();
        let entry = state.sessions.get_mut(id)?;
        entry.last_used = Instant::now();
        Some(entry.session.clone())
    }

    /// Moves a session (and its future events) to another game server.
    pub fn move_to_server(&self, id: &str, server_id: &str) -> bool {
        let mut state = self.state.lock();
        let Some(entry) = state.sessions.get_mut(id) else {
            return false;
        };
        entry.owner.server_id = Some(server_id.to_string());
        entry.key.3 = Some(server_id.to_string());
        entry.last_used = Instant::now();
        if let Some(shared) = &self.shared {
            shared.record(id, entry.fence, "server", server_id);
        }
        true
    }

    /// Closes a session, queueing its `disconnected` event with `reason`.
    pub fn close(&self, id: &str, reason: &str) -> bool {
        let entry = self.state.lock().sessions.remove(id);
        let Some(entry) = entry else { return false };
        entry.session.close();
        self.retire(entry, reason);
        true
    }

    /// Closes every session of a player (of one server, if given).
    pub fn close_all(&self, uid: &str, server_id: Option<&str>) -> usize {
        let ids: Vec<String> = self
            .state
            .lock()
            .sessions
            .iter()
            .filter(|(_, e)| {
                e.owner.uid == uid
                    && server_id.is_none_or(|s| e.owner.server_id.as_deref() == Some(s))
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.iter().filter(|id| self.close(id, "closed")).count()
    }

    /// Closes the sessions nobody used for `idle` (if given), and expires
    /// the events of closed sessions nobody drained in time.
    pub fn sweep(&self, idle: Option<Duration>) -> usize {
        let ids: Vec<String> = {
            let mut state = self.state.lock();
            self.expire_closed(&mut state);
            match idle {
                None => Vec::new(),
                Some(idle) => state
                    .sessions
                    .iter()
                    .filter(|(_, e)| e.last_used.elapsed() >= idle)
                    .map(|(id, _)| id.clone())
                    .collect(),
            }
        };
        ids.iter().filter(|id| self.close(id, "idle")).count()
    }

    fn expire_closed(&self, state: &mut State) {
        let ttl = self.bounds.closed_events_ttl;
        state.closed.retain(|(at, _)| at.elapsed() < ttl);
    }

    pub fn open_sessions(&self) -> usize {
        self.state.lock().sessions.len()
    }

    /// Events waiting to be drained, of open and closed sessions.
    pub fn queued_events(&self) -> usize {
        let state = self.state.lock();
        state
            .sessions
            .values()
            .map(|e| e.events.len())
            .sum::<usize>()
            + state.closed.len()
    }

    /// Sends text and returns a receiver of that interaction's events (its
    /// `interactionEnd` last); they do not go to the queue. None: no session.
    pub fn start_turn(
        &self,
        id: &str,
        text: &str,
    ) -> Option<Result<(String, tokio::sync::mpsc::UnboundedReceiver<Value>), inworld::client::Error>>
    {
        // Under the lock, so that no event of the interaction can be queued
        // before the turn is registered (sending never waits on the network).
        let mut state = self.state.lock();
        let entry = state.sessions.get_mut(id)?;
        entry.last_used = Instant::now();
        let fence = entry.fence;
        Some(entry.session.send_text(text).map(|ids| {
            self.record_sent(id, fence, Some(text), &ids.interaction_id);
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            entry.turns.insert(ids.interaction_id.clone(), tx);
            (ids.interaction_id, rx)
        }))
    }

    /// Forgets a turn that timed out (its later events are queued as usual).
    pub fn end_turn(&self, id: &str, interaction: &str) {
        if let Some(entry) = self.state.lock().sessions.get_mut(id) {
            entry.turns.remove(interaction);
        }
    }

    /// Whether the uid of a session may send now (see [`Registry::allow_uid`]).
    pub fn allow(&self, uid_of_session: &str, per_minute: u32) -> bool {
        let uid = {
            let state = self.state.lock();
            match state.sessions.get(uid_of_session) {
                Some(e) => e.owner.uid.clone(),
                None => return true,
            }
        };
        self.allow_uid(&uid, per_minute)
    }

    /// Whether `uid` may send now: at most `per_minute` sends a minute, as
    /// a token bucket (bursts of up to `per_minute`).
    pub fn allow_uid(&self, uid: &str, per_minute: u32) -> bool {
        take_token(&mut self.state.lock().buckets, uid, per_minute)
    }

    /// Whether `uid` may open a session now: as many opens a minute as
    /// sends, counted apart.
    pub fn allow_open(&self, uid: &str, per_minute: u32) -> bool {
        take_token(&mut self.state.lock().open_buckets, uid, per_minute)
    }

    /// Closes everything (shutdown).
    pub fn close_everything(&self, reason: &str) {
        let ids: Vec<String> = self.state.lock().sessions.keys().cloned().collect();
        for id in ids {
            self.close(&id, reason);
        }
    }

    /// Takes the queued events (of every session, or of one server's), in
    /// the order they arrived.
    /// With REDIS_URL it waits for Redis, blocking the thread (routes use
    /// [`Registry::take`]); an error gives nothing.
    pub fn drain(&self, server_id: Option<&str>) -> Vec<Value> {
        if let Some(shared) = &self.shared {
            let taken = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(shared.drain(server_id, None))
            });
            return taken.unwrap_or_default();
        }
        self.drain_here(server_id, None)
    }

    /// The in-memory drain; with a cursor, the events up to it go
    /// (acknowledged) and the later ones are given, with their `seq`, and
    /// kept.
    fn drain_here(&self, server_id: Option<&str>, after: Option<u64>) -> Vec<Value> {
        let mut state = self.state.lock();
        let wanted = |q: &Queued| server_id.is_none_or(|s| q.server_id.as_deref() == Some(s));
        let mut out: Vec<Queued> = Vec::new();
        for entry in state.sessions.values_mut() {
            let queue: Vec<Queued> = entry.events.drain(..).collect();
            for q in queue {
                if !wanted(&q) {
                    entry.events.push_back(q);
                } else if let Some(kept) = pick(q, after, &mut out) {
                    entry.events.push_back(kept);
                }
            }
        }
        self.expire_closed(&mut state);
        let closed = std::mem::take(&mut state.closed);
        for (at, q) in closed {
            if !wanted(&q) {
                state.closed.push((at, q));
            } else if let Some(kept) = pick(q, after, &mut out) {
                state.closed.push((at, kept));
            }
        }
        out.sort_by_key(|q| q.seq);
        out.into_iter().map(|q| q.event).collect()
    }

    /// Takes one session's queued events (None: no such session).
    pub fn drain_session(&self, id: &str) -> Option<Vec<Value>> {
        self.drain_session_here(id, None)
    }

    fn drain_session_here(&self, id: &str, after: Option<u64>) -> Option<Vec<Value>> {
        let mut state = self.state.lock();
        let entry = state.sessions.get_mut(id)?;
        entry.last_used = Instant::now();
        let mut out = Vec::new();
        let queue: Vec<Queued> = entry.events.drain(..).collect();
        for q in queue {
            if let Some(kept) = pick(q, after, &mut out) {
                entry.events.push_back(kept);
            }
        }
        Some(out.into_iter().map(|q| q.event).collect())
    }

    /// Takes the queued events (of every session, or of one server's), in
    /// the order they arrived: from Redis with REDIS_URL (Err: it failed).
    /// With a cursor, acknowledges the events up to it and gives the later
    /// ones, each with its `seq`, without taking them.
    pub async fn take(
        &self,
        server_id: Option<&str>,
        after: Option<u64>,
    ) -> Result<Vec<Value>, RedisError> {
        match &self.shared {
            None => Ok(self.drain_here(server_id, after)),
            Some(shared) => shared.drain(server_id, after).await,
        }
    }

    /// Takes one session's queued events (Ok(None): no such session).
    pub async fn take_session(
        &self,
        id: &str,
        after: Option<u64>,
    ) -> Result<Option<Vec<Value>>, RedisError> {
        let Some(shared) = &self.shared else {
            return Ok(self.drain_session_here(id, after));
        };
        if self.session(id).is_none() {
            return Ok(None);
        }
        shared.drain_session(id, after).await.map(Some)
    }

    /// Events waiting to be drained (every instance's, with REDIS_URL).
    pub async fn count_queued(&self) -> Result<usize, RedisError> {
        match &self.shared {
            None => Ok(self.queued_events()),
            Some(shared) => shared.queued().await,
        }
    }

    /// Waits until every event queued so far is where drains find it.
    pub async fn flush(&self) {
        if let Some(shared) = &self.shared {
            shared.flush().await;
        }
    }

    /// Notified when events arrive (at any instance, with REDIS_URL).
    pub fn arrivals(&self) -> Arc<Notify> {
        self.arrived.clone()
    }

    /// Queues the event `make` gives for the session's owner, if any.
    fn push(&self, id: &str, make: impl FnOnce(&Owner) -> Option<Value>) {
        let mut state = self.state.lock();
        let Some(entry) = state.sessions.get_mut(id) else {
            return;
        };
        let Some(mut value) = make(&entry.owner) else {
            return;
        };
        let ends = value["type"] == "interactionEnd" || value["type"] == "sendFailed";
        let interaction = value["interactionId"].as_str().map(str::to_string);
        // What a takeover needs: the character's lines, and which
        // interactions ended.
        let line = (value["type"] == "text" && value["final"] == true)
            .then(|| {
                value["text"]
                    .as_str()
                    .map(|t| dialog_line(Talker::Character, t))
            })
            .flatten();
        let settles = interaction.clone().filter(|_| ends);
        if let Some(interaction) = &interaction {
            if let Some(turn) = entry.turns.get(interaction) {
                let _ = turn.send(value);
                if ends {
                    entry.turns.remove(interaction);
                }
                if let Some(shared) = &self.shared {
                    if line.is_some() || settles.is_some() {
                        shared.dialog(id, entry.fence, line, None, settles);
                    }
                }
                return;
            }
        }
        if let Some(shared) = &self.shared {
            // Capped, counted and woken in Redis.
            shared.push(
                id,
                entry.fence,
                entry.owner.server_id.as_deref(),
                value,
                line,
                settles,
            );
            return;
        }
        if entry.events.len() >= self.bounds.queue_capacity {
            entry.events.pop_front();
            entry.dropped += 1;
        }
        if entry.dropped > 0 {
            // Nothing is lost silently: the next event says how many went.
            value["dropped"] = json!(std::mem::take(&mut entry.dropped));
        }
        let queued = Queued {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            server_id: entry.owner.server_id.clone(),
            event: value,
        };
        entry.events.push_back(queued);
        drop(state);
        self.arrived.notify_waiters();
    }

    /// Moves a removed session's events to the closed list, with its
    /// `disconnected` event last.
    fn retire(&self, entry: Entry, reason: &str) {
        let mut fields = Map::new();
        fields.insert("reason".into(), reason.into());
        let disconnected = event(&entry.owner, "disconnected", fields);
        if let Some(shared) = &self.shared {
            let id = &entry.owner.session_id;
            shared.push(
                id,
                entry.fence,
                entry.owner.server_id.as_deref(),
                disconnected,
                None,
                None,
            );
            shared.close(id, entry.fence, self.bounds.closed_events_ttl);
            return;
        }
        let now = Instant::now();
        let mut state = self.state.lock();
        for q in entry.events {
            state.closed.push((now, q));
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        state.closed.push((
            now,
            Queued {
                seq,
                server_id: entry.owner.server_id.clone(),
                event: disconnected,
            },
        ));
        drop(state);
        self.arrived.notify_waiters();
    }
}

/// Takes a token from `uid`'s bucket of `per_minute` a minute, if one is left.
fn take_token(buckets: &mut HashMap<String, (f64, Instant)>, uid: &str, per_minute: u32) -> bool {
    let now = Instant::now();
    if !buckets.contains_key(uid) {
        // A bucket untouched for a minute is full again, as a new one:
        // forgotten, so the map holds only uids seen lately, whatever uids
        // clients invent.
        let refill = Duration::from_secs(60);
        buckets.retain(|_, (_, at)| now.duration_since(*at) < refill);
    }
    let rate = f64::from(per_minute) / 60.0;
    let bucket = buckets
        .entry(uid.to_string())
        .or_insert((f64::from(per_minute), now));
    bucket.0 =
        (bucket.0 + now.duration_since(bucket.1).as_secs_f64() * rate).min(f64::from(per_minute));
    bucket.1 = now;
    if bucket.0 >= 1.0 {
        bucket.0 -= 1.0;
        true
    } else {
        false
    }
}

/// A session's packets into its queue, until it ends. A session that ends
/// without the game closing it (an error the library gave up on) is
/// retired with the reason.
async fn pump(registry: Arc<Registry>, id: String, session: Session) {
    let mut reason = "the session ended".to_string();
    while let Some(packet) = session.recv().await {
        if let PacketBody::Error(e) = &packet.body {
            if !e.will_retry {
                reason = e.message.as_str().to_string();
            }
        }
        let characters = session.characters();
        let resource = |agent: &str| {
            characters
                .iter()
                .find(|c| c.id.as_str() == agent)
                .map(|c| c.resource_name.as_str().to_string())
        };
        let emotions = registry.emotions;
        registry.push(&id, |owner| event_of(&packet, owner, emotions, resource));
    }
    let entry = registry.state.lock().sessions.remove(&id);
    if let Some(entry) = entry {
        registry.retire(entry, &reason);
    }
}

/// A character as the original gives it.
pub fn character_json(c: &inworld::packet::Character) -> Value {
    json!({
        "id": c.id.as_str(),
        "resourceName": c.resource_name.as_str(),
        "displayName": c.display_name.as_str(),
    })
}

pub fn characters(session: &Session) -> Value {
    Value::Array(session.characters().iter().map(character_json).collect())
}

pub fn current_character(session: &Session) -> Value {
    session
        .current_character()
        .as_ref()
        .map_or(Value::Null, character_json)
}

/// A wanted event for a drain: taken without a cursor; with one, dropped
/// when at or before it (acknowledged), else given with its `seq` and
/// kept (returned).
fn pick(q: Queued, after: Option<u64>, out: &mut Vec<Queued>) -> Option<Queued> {
    match after {
        None => {
            out.push(q);
            None
        }
        Some(after) if q.seq <= after => None,
        Some(_) => {
            let mut given = q.clone();
            given.event["seq"] = json!(q.seq);
            out.push(given);
            Some(q)
        }
    }
}

/// Drops the sessions whose writes Redis refused: another instance took
/// them over while this one was paused or cut off.
async fn drop_when_fenced(
    registry: std::sync::Weak<Registry>,
    mut refusals: tokio::sync::mpsc::UnboundedReceiver<Fenced>,
) {
    while let Some(refused) = refusals.recv().await {
        let Some(registry) = registry.upgrade() else {
            return;
        };
        if registry.drop_session(&refused.session, refused.fence) {
            log::warn!(
                "session {}: {} was refused, the session is another instance's",
                refused.session,
                refused.what
            );
        }
    }
}
