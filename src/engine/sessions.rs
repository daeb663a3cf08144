//! Per-session state, keyed by session id, kept across streams (PROTOCOL 4.12),
//! and its expiry after a period without traffic.

use super::scene::{Character, TurnTaking};
use crate::protocol::ai::inworld::engine::configuration::CapabilitiesConfiguration;
use crate::protocol::ai::inworld::packets::entities::EntityItem;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// At most this many conversations per session; the least recently used is evicted.
pub const MAX_CONVERSATIONS: usize = 32;
/// Dialog lines remembered per session.
pub const MAX_HISTORY: usize = 200;
/// Largest audio session kept (bytes); beyond it chunks are refused.
pub const MAX_AUDIO_BYTES: usize = 16 * 1024 * 1024;

/// A character loaded in a session, with the agent id the client addresses it by.
#[derive(Debug, Clone)]
pub struct LoadedAgent {
    pub agent_id: String,
    /// Full resource name, `workspaces/<ws>/characters/<id>`.
    pub brain_name: String,
    pub character: Arc<Character>,
}

#[derive(Debug, Clone)]
pub struct LoadedScene {
    /// Full resource name, as the client asked for it.
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub turn_taking: TurnTaking,
}

#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    /// Agent ids, in the client's order.
    pub agents: Vec<String>,
    pub player: bool,
    /// Index into `agents` of the character whose turn is next.
    pub next: usize,
    /// Who spoke last (agent id), for the next-turn trigger.
    pub last_speaker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speaker {
    Player,
    /// A character, by character id.
    Character(String),
}

#[derive(Debug, Clone)]
pub struct HistoryLine {
    pub speaker: Speaker,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct AudioCapture {
    pub bytes: Vec<u8>,
    pub conversation_id: String,
}

/// Everything a session remembers.
#[derive(Debug, Default)]
pub struct SessionState {
    pub scene: Option<LoadedScene>,
    pub agents: Vec<LoadedAgent>,
    pub capabilities: CapabilitiesConfiguration,
    pub user_name: String,
    pub game_session_id: String,
    pub client_id: String,
    pub muted: bool,
    /// Most recently used last.
    pub conversations: VecDeque<Conversation>,
    pub history: VecDeque<HistoryLine>,
    pub items: BTreeMap<String, EntityItem>,
    pub entities: BTreeMap<String, BTreeSet<String>>,
    pub audio: Option<AudioCapture>,
    /// Characters (by id) the player has talked to, for greetings.
    pub greeted: HashSet<String>,
    /// Per character id: how many fallback answers were given.
    pub fallback_turns: HashMap<String, usize>,
    pub last_interaction_id: String,
    /// Last measured ping round trip.
    pub last_ping_rtt: Option<Duration>,
}

impl SessionState {
    pub fn agent(&self, agent_id: &str) -> Option<&LoadedAgent> {
        self.agents.iter().find(|a| a.agent_id == agent_id)
    }

    pub fn conversation(&mut self, id: &str) -> Option<&mut Conversation> {
        self.conversations.iter_mut().find(|c| c.id == id)
    }

    pub fn remember(&mut self, speaker: Speaker, text: &str) {
        if self.history.len() == MAX_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(HistoryLine {
            speaker,
            text: text.to_string(),
        });
    }

    /// The player's last line before the current one.
    pub fn previous_player_line(&self) -> Option<&str> {
        self.history
            .iter()
            .rev()
            .filter(|l| l.speaker == Speaker::Player)
            .nth(1)
            .map(|l| l.text.as_str())
    }
}

pub struct Session {
    pub id: String,
    pub workspace: String,
    pub created: SystemTime,
    pub state: Mutex<SessionState>,
    last_active: Mutex<Instant>,
    /// Flips to true when the session expires; open streams end.
    expired: watch::Sender<bool>,
}

impl Session {
    pub fn touch(&self) {
        *self.last_active.lock() = Instant::now();
    }

    pub fn expired(&self) -> watch::Receiver<bool> {
        self.expired.subscribe()
    }
}

/// Why a stream cannot use a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    Expired,
    OtherWorkspace,
}

pub struct Sessions {
    idle_timeout: Duration,
    live: Mutex<HashMap<String, Arc<Session>>>,
    /// Ids of expired sessions (bounded), so reuse reports SESSION_EXPIRED.
    expired: Mutex<(HashSet<String>, VecDeque<String>)>,
}

const MAX_EXPIRED_REMEMBERED: usize = 100_000;

impl Sessions {
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            idle_timeout,
            live: Mutex::new(HashMap::new()),
            expired: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    pub fn new_session_id(workspace: &str) -> String {
        format!("{workspace}:{}", uuid::Uuid::new_v4())
    }

    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.live.lock().get(id).cloned()
    }

    /// The session `id` of `workspace`, created when new.
    pub fn open(&self, id: &str, workspace: &str) -> Result<Arc<Session>, SessionError> {
        if let Some((ws, _)) = id.split_once(':') {
            if ws != workspace {
                return Err(SessionError::OtherWorkspace);
            }
        }
        let mut live = self.live.lock();
        if let Some(s) = live.get(id) {
            if s.workspace != workspace {
                return Err(SessionError::OtherWorkspace);
            }
            s.touch();
            return Ok(s.clone());
        }
        if self.expired.lock().0.contains(id) {
            return Err(SessionError::Expired);
        }
        let (expired, _) = watch::channel(false);
        let session = Arc::new(Session {
            id: id.to_string(),
            workspace: workspace.to_string(),
            created: SystemTime::now(),
            state: Mutex::new(SessionState::default()),
            last_active: Mutex::new(Instant::now()),
            expired,
        });
        live.insert(id.to_string(), session.clone());
        Ok(session)
    }

    pub fn was_expired(&self, id: &str) -> bool {
        self.expired.lock().0.contains(id)
    }

    pub fn len(&self) -> usize {
        self.live.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Expires sessions idle for longer than the timeout; their streams end.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        let gone: Vec<Arc<Session>> = {
            let mut live = self.live.lock();
            let ids: Vec<String> = live
                .iter()
                .filter(|(_, s)| now.duration_since(*s.last_active.lock()) >= self.idle_timeout)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| live.remove(id)).collect()
        };
        let mut expired = self.expired.lock();
        for s in &gone {
            log::info!(
                "session {} expired after {:?} idle",
                s.id,
                self.idle_timeout
            );
            s.expired.send_replace(true);
            if expired.0.insert(s.id.clone()) {
                expired.1.push_back(s.id.clone());
            }
            if expired.1.len() > MAX_EXPIRED_REMEMBERED {
                if let Some(old) = expired.1.pop_front() {
                    expired.0.remove(&old);
                }
            }
        }
        gone.len()
    }
}
