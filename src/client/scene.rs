//! The session's scene as the service holds it: not loaded (a new session,
//! or one the service lost), loading (LoadScene went out; waiting for the
//! status, with a deadline), or loaded. Sans-IO: it says which packets open
//! a stream and keeps deadlines; the driver writes and waits.
//!
//! The service keeps a session's scene across streams, so a stream reopened
//! for a session it knows sends no configuration and no LoadScene, as the
//! Node SDK does; one it lost (or never saw) gets both again.

use crate::protocol::ai::inworld::packets::InworldPacket;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The service has no scene for this session.
    Unloaded,
    /// LoadScene went out; the status is due by `deadline`.
    Loading {
        deadline: Instant,
    },
    Loaded,
}

#[derive(Debug)]
pub(crate) struct Scene {
    /// The resource name to load.
    name: String,
    phase: Phase,
    load_timeout: Duration,
    /// Whether a status ever arrived in this session (lost or not since).
    ever_loaded: bool,
    /// While a scene change loads: the scene before it, which the service
    /// still holds if the change fails.
    previous: Option<String>,
}

impl Scene {
    pub(crate) fn new(name: String, load_timeout: Duration) -> Self {
        Scene {
            name,
            phase: Phase::Unloaded,
            load_timeout,
            ever_loaded: false,
            previous: None,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The packets a new stream starts with: the configuration and LoadScene
    /// when the service does not hold the scene, nothing otherwise.
    /// `configuration` builds the session configuration (with whatever
    /// continuation is due).
    pub(crate) fn open_packets(
        &mut self,
        now: Instant,
        configuration: impl FnOnce() -> InworldPacket,
    ) -> Vec<InworldPacket> {
        match self.phase {
            Phase::Loaded => Vec::new(),
            Phase::Unloaded | Phase::Loading { .. } => self.load(now, configuration),
        }
    }

    fn load(
        &mut self,
        now: Instant,
        configuration: impl FnOnce() -> InworldPacket,
    ) -> Vec<InworldPacket> {
        self.phase = Phase::Loading {
            deadline: now + self.load_timeout,
        };
        vec![configuration(), super::outbound::load_scene(&self.name)]
    }

    /// The service no longer holds the session (it says so, or a resumed
    /// stream cannot start a conversation): load it again on this stream.
    pub(crate) fn reload(
        &mut self,
        now: Instant,
        configuration: impl FnOnce() -> InworldPacket,
    ) -> Vec<InworldPacket> {
        self.load(now, configuration)
    }

    /// A scene change on the open stream: `configuration` (what the change
    /// carries) always goes out; LoadScene follows when the name differs,
    /// and then the new status is awaited.
    pub(crate) fn change(
        &mut self,
        name: String,
        now: Instant,
        configuration: InworldPacket,
    ) -> Vec<InworldPacket> {
        if name == self.name {
            return vec![configuration];
        }
        let previous = std::mem::replace(&mut self.name, name);
        self.previous = Some(previous);
        self.phase = Phase::Loading {
            deadline: now + self.load_timeout,
        };
        vec![configuration, super::outbound::load_scene(&self.name)]
    }

    /// A scene change the service refused (no such scene): back to the
    /// scene it still holds. Returns whether a change was under way.
    pub(crate) fn revert(&mut self) -> bool {
        match self.previous.take() {
            Some(previous) => {
                self.name = previous;
                self.phase = Phase::Loaded;
                true
            }
            None => false,
        }
    }

    /// The next stream must load the scene again (the service lost the session).
    pub(crate) fn forget(&mut self) {
        self.phase = Phase::Unloaded;
    }

    /// A scene status arrived. Returns whether it completes a load (as
    /// opposed to refreshing a loaded scene, e.g. after characters changed).
    pub(crate) fn on_status(&mut self) -> bool {
        let completes = !matches!(self.phase, Phase::Loaded);
        self.phase = Phase::Loaded;
        self.previous = None;
        self.ever_loaded = true;
        completes
    }

    /// The stream broke. A load in flight is lost with it (the next stream
    /// loads the scene again); a loaded scene stays loaded on the service.
    /// A change cut short is not reverted: the new scene is what the game
    /// asked for.
    pub(crate) fn on_stream_lost(&mut self) {
        if let Phase::Loading { .. } = self.phase {
            self.phase = Phase::Unloaded;
            self.previous = None;
        }
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.phase == Phase::Loaded
    }

    pub(crate) fn ever_loaded(&self) -> bool {
        self.ever_loaded
    }

    /// When the status is due, while loading.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Loading { deadline } => Some(deadline),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ai::inworld::packets::inworld_packet::Packet as Payload;

    fn configuration() -> InworldPacket {
        InworldPacket::default()
    }

    fn loads(packets: &[InworldPacket]) -> bool {
        packets.len() == 2 && matches!(packets[1].packet, Some(Payload::Mutation(_)))
    }

    #[test]
    fn a_new_session_loads_then_reopens_without_loading() {
        let t0 = Instant::now();
        let mut scene = Scene::new("workspaces/w/scenes/s".into(), Duration::from_secs(15));
        assert!(!scene.is_loaded() && scene.deadline().is_none());
        let first = scene.open_packets(t0, configuration);
        assert!(loads(&first));
        assert_eq!(scene.deadline(), Some(t0 + Duration::from_secs(15)));
        assert!(scene.on_status(), "the first status completes the load");
        assert!(scene.is_loaded() && scene.ever_loaded() && scene.deadline().is_none());
        assert!(!scene.on_status(), "a later status is a refresh");
        // The stream breaks: the service keeps the scene, nothing is resent.
        scene.on_stream_lost();
        assert!(scene.is_loaded());
        assert!(scene.open_packets(t0, configuration).is_empty());
    }

    #[test]
    fn a_load_cut_short_is_redone_on_the_next_stream() {
        let t0 = Instant::now();
        let mut scene = Scene::new("workspaces/w/scenes/s".into(), Duration::from_secs(1));
        scene.open_packets(t0, configuration);
        scene.on_stream_lost();
        assert!(!scene.is_loaded() && scene.deadline().is_none());
        let t1 = t0 + Duration::from_secs(5);
        assert!(loads(&scene.open_packets(t1, configuration)));
        assert_eq!(scene.deadline(), Some(t1 + Duration::from_secs(1)));
    }

    #[test]
    fn a_lost_session_is_loaded_again() {
        let t0 = Instant::now();
        let mut scene = Scene::new("workspaces/w/scenes/s".into(), Duration::from_secs(15));
        scene.open_packets(t0, configuration);
        scene.on_status();
        // On this stream: the service said it no longer has the session.
        assert!(loads(&scene.reload(t0, configuration)));
        assert!(!scene.is_loaded() && scene.ever_loaded());
        assert!(scene.on_status());
        // Before the next stream: the service lost it (a new token was needed).
        scene.forget();
        assert!(loads(&scene.open_packets(t0, configuration)));
    }

    #[test]
    fn a_change_loads_the_new_scene_and_a_refused_one_goes_back() {
        let t0 = Instant::now();
        let mut scene = Scene::new("workspaces/w/scenes/a".into(), Duration::from_secs(15));
        scene.open_packets(t0, configuration);
        scene.on_status();
        // The same scene: only the configuration, nothing awaited.
        let same = scene.change("workspaces/w/scenes/a".into(), t0, configuration());
        assert_eq!(same.len(), 1);
        assert!(scene.is_loaded());
        // Another: configuration and LoadScene, the status awaited.
        assert!(loads(&scene.change(
            "workspaces/w/scenes/b".into(),
            t0,
            configuration()
        )));
        assert_eq!(scene.name(), "workspaces/w/scenes/b");
        assert!(!scene.is_loaded() && scene.deadline().is_some());
        // The service has no such scene: back to the one it holds.
        assert!(scene.revert());
        assert_eq!(scene.name(), "workspaces/w/scenes/a");
        assert!(scene.is_loaded());
        assert!(!scene.revert(), "nothing to revert any more");
        // A change that loads is final.
        scene.change("workspaces/w/scenes/c".into(), t0, configuration());
        assert!(scene.on_status());
        assert!(!scene.revert());
    }
}
