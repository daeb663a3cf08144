//! What each session remembers, keyed by session id and kept across streams
//! (a client that reconnects reopens the same session id and sends no
//! configuration again, so scene, characters and configuration must outlive
//! the stream), and its expiry after a period without traffic.

use super::limits::{truncated, MAX_HISTORY_LINES, MAX_HISTORY_LINE_BYTES};
use super::recognizer::Listening;
use super::scene::{ScriptedCharacter, TurnTaking};
use super::speech::LoudnessMeter;
use crate::audio::voice_activity::VoiceActivity;
use crate::protocol::ai::inworld::engine::configuration::CapabilitiesConfiguration;
use crate::protocol::ai::inworld::packets::entities::EntityItem;
use crate::protocol::packets::Ids;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A character loaded in a session, with the agent id the client addresses it by.
#[derive(Debug, Clone)]
pub(crate) struct LoadedAgent {
    pub agent_id: String,
    /// Full resource name, `workspaces/<ws>/characters/<id>`.
    pub brain_name: String,
    pub character: Arc<ScriptedCharacter>,
}

#[derive(Debug, Clone)]
pub(crate) struct LoadedScene {
    /// Full resource name, as the client asked for it.
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub turn_taking: TurnTaking,
}

/// A conversation the client opened with CONVERSATION_UPDATE.
#[derive(Debug, Clone)]
pub(crate) struct ConversationRecord {
    pub id: String,
    /// Agent ids, in the client's order.
    pub agents: Vec<String>,
    pub player: bool,
    /// Index into `agents` of the character whose turn is next.
    pub next: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Speaker {
    Player,
    /// A character, by character id.
    Character(String),
}

#[derive(Debug, Clone)]
pub(crate) struct HistoryLine {
    pub speaker: Speaker,
    pub text: String,
}

/// An open audio session: measured and listened to as it arrives, never
/// kept.
#[derive(Debug, Default)]
pub(crate) struct AudioCapture {
    /// The stream it started on (`StreamCtx::id`): another stream's audio
    /// is not its.
    pub stream: u64,
    /// When its last audio (or its start) arrived: it expires after the
    /// engine's audio session idle timeout.
    pub last_audio: Option<Instant>,
    pub meter: LoudnessMeter,
    pub conversation_id: String,
    /// A chunk was dropped for the size limit (the client was told once).
    pub over_limit: bool,
    /// EXPECT_AUDIO_END: answered at the session's end, not when speech stops.
    pub push_to_talk: bool,
    pub voice: Option<Box<VoiceActivity>>,
    /// The speech being recognised (or, in push to talk, heard).
    pub heard: Option<Heard>,
    /// Some speech of this session was answered already.
    pub answered: bool,
    /// The last audio before the speech being heard (a real recogniser
    /// gets the speech's start, which the voice detector finds late).
    pub preroll: std::collections::VecDeque<i16>,
}

/// Speech the engine is recognising.
#[derive(Debug)]
pub(crate) struct Heard {
    /// What its partial texts and its answer carry.
    pub ids: Ids,
    /// Where it started, in samples of the audio session.
    pub started_at: u64,
    /// Words of the transcript shown so far.
    pub words_shown: usize,
    /// The speaker stopped (push to talk waits for the session's end).
    pub ended: bool,
    /// The real recogniser's ear on it (none for the scripted transcript).
    pub listening: Option<Listening>,
}

/// Everything a session remembers.
#[derive(Debug, Default)]
pub(crate) struct SessionMemory {
    pub scene: Option<LoadedScene>,
    pub agents: Vec<LoadedAgent>,
    pub capabilities: CapabilitiesConfiguration,
    pub user_name: String,
    pub muted: bool,
    /// Most recently used last.
    pub conversations: VecDeque<ConversationRecord>,
    pub history: VecDeque<HistoryLine>,
    pub items: BTreeMap<String, EntityItem>,
    pub entities: BTreeMap<String, BTreeSet<String>>,
    pub audio: Option<AudioCapture>,
    /// Characters (by id) the player has talked to, for greetings.
    pub greeted: HashSet<String>,
    /// The session continues an earlier dialog (a continuation with
    /// history): the player is no stranger, so no character greets.
    pub continued: bool,
    /// Per character id: how many fallback answers were given.
    pub fallback_turns: HashMap<String, usize>,
    pub last_interaction_id: String,
}

impl SessionMemory {
    pub fn agent(&self, agent_id: &str) -> Option<&LoadedAgent> {
        self.agents.iter().find(|a| a.agent_id == agent_id)
    }

    pub fn conversation(&mut self, id: &str) -> Option<&mut ConversationRecord> {
        self.conversations.iter_mut().find(|c| c.id == id)
    }

    /// Adds a dialog line (cut to `MAX_HISTORY_LINE_BYTES`), forgetting the
    /// oldest beyond `MAX_HISTORY_LINES`.
    pub fn remember(&mut self, speaker: Speaker, text: &str) {
        if self.history.len() >= MAX_HISTORY_LINES {
            self.history.pop_front();
        }
        self.history.push_back(HistoryLine {
            speaker,
            text: truncated(text, MAX_HISTORY_LINE_BYTES).to_string(),
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

/// A session as the engine stores it.
pub(crate) struct StoredSession {
    pub id: String,
    pub workspace: String,
    pub memory: Mutex<SessionMemory>,
    last_active: Mutex<Instant>,
    /// Flips to true when the session expires; open streams end.
    expired: watch::Sender<bool>,
    /// Bounds the session's language-model calls at once (its streams share it).
    pub model_calls: Arc<tokio::sync::Semaphore>,
}

impl StoredSession {
    pub fn touch(&self) {
        *self.last_active.lock() = Instant::now();
    }

    pub fn expired(&self) -> watch::Receiver<bool> {
        self.expired.subscribe()
    }
}

/// Why a stream cannot open a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenRefused {
    Expired,
    OtherWorkspace,
    /// The engine holds as many live sessions as it may.
    Full(usize),
}

pub(crate) struct Sessions {
    idle_timeout: Duration,
    max_live: usize,
    model_calls_per_session: usize,
    live: Mutex<HashMap<String, Arc<StoredSession>>>,
    /// Ids of expired sessions (bounded), so reuse reports SESSION_EXPIRED.
    expired: Mutex<(HashSet<String>, VecDeque<String>)>,
}

const MAX_EXPIRED_REMEMBERED: usize = 100_000;

/// A new session id of `workspace`: `<workspace>:<uuid>`.
pub(crate) fn new_session_id(workspace: &str) -> String {
    format!("{workspace}:{}", uuid::Uuid::new_v4())
}

/// The workspace a session id of ours names (`<workspace>:<uuid>`); None for
/// ids of another form, which the client chose.
fn workspace_of_session_id(id: &str) -> Option<&str> {
    id.split_once(':').map(|(ws, _)| ws)
}

impl Sessions {
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            idle_timeout,
            max_live: usize::MAX,
            model_calls_per_session: 1,
            live: Mutex::new(HashMap::new()),
            expired: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    /// At most `max_live` sessions live at once, each making at most
    /// `model_calls` language-model calls at once.
    pub fn with_limits(mut self, max_live: usize, model_calls: usize) -> Self {
        self.max_live = max_live;
        self.model_calls_per_session = model_calls.max(1);
        self
    }

    pub fn get(&self, id: &str) -> Option<Arc<StoredSession>> {
        self.live.lock().get(id).cloned()
    }

    /// The session `id` of `workspace`, created when new.
    pub fn open(&self, id: &str, workspace: &str) -> Result<Arc<StoredSession>, OpenRefused> {
        if workspace_of_session_id(id).is_some_and(|ws| ws != workspace) {
            return Err(OpenRefused::OtherWorkspace);
        }
        let mut live = self.live.lock();
        if let Some(s) = live.get(id) {
            if s.workspace != workspace {
                return Err(OpenRefused::OtherWorkspace);
            }
            s.touch();
            return Ok(s.clone());
        }
        if self.expired.lock().0.contains(id) {
            return Err(OpenRefused::Expired);
        }
        if live.len() >= self.max_live {
            return Err(OpenRefused::Full(self.max_live));
        }
        let (expired, _) = watch::channel(false);
        let session = Arc::new(StoredSession {
            id: id.to_string(),
            workspace: workspace.to_string(),
            memory: Mutex::new(SessionMemory::default()),
            last_active: Mutex::new(Instant::now()),
            expired,
            model_calls: Arc::new(tokio::sync::Semaphore::new(self.model_calls_per_session)),
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

    /// Expires sessions idle for longer than the timeout; their streams end.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.expire_where(|s| now.duration_since(*s.last_active.lock()) >= self.idle_timeout);
    }

    /// Expires every session now (an injected fault): their streams end with
    /// SESSION_EXPIRED and their ids cannot be opened again.
    pub fn expire_all(&self) {
        self.expire_where(|_| true);
    }

    /// Forgets every session, as an engine that restarted but kept its
    /// tokens would (an injected fault): a session id opened again starts
    /// empty, with no scene.
    pub fn forget_all(&self) {
        self.live.lock().clear();
    }

    fn expire_where(&self, due: impl Fn(&StoredSession) -> bool) {
        let gone: Vec<Arc<StoredSession>> = {
            let mut live = self.live.lock();
            let ids: Vec<String> = live
                .iter()
                .filter(|(_, s)| due(s))
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| live.remove(id)).collect()
        };
        let mut expired = self.expired.lock();
        for s in &gone {
            log::info!("session {} expired", s.id);
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded_in_lines_and_bytes() {
        let mut m = SessionMemory::default();
        let long = "é".repeat(MAX_HISTORY_LINE_BYTES);
        for _ in 0..MAX_HISTORY_LINES + 10 {
            m.remember(Speaker::Player, &long);
        }
        assert_eq!(m.history.len(), MAX_HISTORY_LINES);
        assert!(m
            .history
            .iter()
            .all(|l| l.text.len() <= MAX_HISTORY_LINE_BYTES));
    }

    #[test]
    fn session_ids_name_their_workspace() {
        let id = new_session_id("w");
        assert_eq!(workspace_of_session_id(&id), Some("w"));
        let sessions = Sessions::new(Duration::from_secs(60));
        assert!(sessions.open(&id, "w").is_ok());
        assert_eq!(
            sessions.open(&id, "x").err(),
            Some(OpenRefused::OtherWorkspace)
        );
        assert!(sessions.open("chosen-by-client", "x").is_ok());
    }
}
