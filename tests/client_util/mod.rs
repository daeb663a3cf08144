//! Shared helpers of the client tests: a local engine on loopback and
//! packet-waiting loops (generous timeouts, no timing assertions).
#![allow(dead_code)]

use inworld::client::{runtime, ClientConfig, SentIds, Session};
use inworld::engine::{EngineConfig, RecognizerKind, RunningEngine, SynthesizerKind, Workspace};
use inworld::packet::{ConnectionState, ControlAction, Packet, PacketBody, SessionError};
use std::time::{Duration, Instant};

pub const SCENE: &str = "workspaces/test-ws/scenes/test-scene";
/// Long: it only catches a hang (a crowded machine is slow, not stuck).
pub const WAIT: Duration = Duration::from_secs(120);

/// An engine with the test scenes, the tone synthesizer and the scripted
/// recogniser (what the client tests expect, whatever speech parts are
/// built in: `tests/real_speech.rs` tests those), then `adjust`ed.
pub fn engine_with(adjust: impl FnOnce(&mut EngineConfig)) -> RunningEngine {
    let _ = env_logger::builder()
        .is_test(true)
        .parse_env("INWORLD_LOG")
        .try_init();
    let mut config = EngineConfig::new(Workspace::test_scenes());
    config.synthesizer = SynthesizerKind::Tones;
    config.recognizer = RecognizerKind::Scripted;
    adjust(&mut config);
    RunningEngine::start(config, &runtime::handle().expect("runtime")).expect("engine starts")
}

pub fn engine() -> RunningEngine {
    engine_with(|_| {})
}

pub fn config_for(engine: &RunningEngine) -> ClientConfig {
    ClientConfig::new(
        engine.addr().to_string(),
        SCENE,
        engine.credentials().clone(),
    )
}

/// Receives until `pred` matches; returns everything before it and the match.
pub fn wait_for(
    session: &Session,
    what: &str,
    mut pred: impl FnMut(&Packet) -> bool,
) -> (Vec<Packet>, Packet) {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match session.recv_timeout(left) {
            Some(p) if pred(&p) => return (seen, p),
            Some(p) => seen.push(p),
            None => panic!("timed out waiting for {what}; got {seen:#?}"),
        }
    }
}

/// Waits for the session to close and returns the error reported before it.
pub fn error_before_closed(session: &Session) -> SessionError {
    let (seen, _) = wait_for(session, "Closed", |p| {
        is_connection(p, ConnectionState::Closed)
    });
    seen.iter()
        .find_map(|p| match &p.body {
            PacketBody::Error(e) => Some(e.clone()),
            _ => None,
        })
        .expect("an error packet before Closed")
}

pub fn is_connection(p: &Packet, state: ConnectionState) -> bool {
    matches!(&p.body, PacketBody::Connection(c) if c.state == state)
}

/// Waits for Ready; panics on an error or Closed first.
pub fn wait_ready(session: &Session) -> Vec<Packet> {
    let (seen, _) = wait_for(session, "Ready", |p| {
        if let PacketBody::Error(e) = &p.body {
            panic!("error before Ready: {e:?}");
        }
        if is_connection(p, ConnectionState::Closed) {
            panic!("closed before Ready");
        }
        is_connection(p, ConnectionState::Ready)
    });
    seen
}

pub fn open_ready(config: ClientConfig) -> (Session, Vec<Packet>) {
    let session = Session::open(config).expect("open");
    let seen = wait_ready(&session);
    (session, seen)
}

pub fn is_interaction_end(p: &Packet, ids: &SentIds) -> bool {
    matches!(&p.body, PacketBody::Control(c) if c.action == ControlAction::InteractionEnd)
        && p.ids.interaction_id == ids.interaction_id.as_str()
}

/// Everything the engine sent for `ids`' interaction, up to and including INTERACTION_END.
pub fn reply_to(session: &Session, ids: &SentIds) -> Vec<Packet> {
    let (seen, end) = wait_for(session, "INTERACTION_END", |p| {
        if let PacketBody::Error(e) = &p.body {
            panic!("error while waiting for a reply: {e:?}");
        }
        is_interaction_end(p, ids)
    });
    let mut reply: Vec<Packet> = seen
        .into_iter()
        .filter(|p| p.ids.interaction_id == ids.interaction_id.as_str())
        .collect();
    reply.push(end);
    reply
}

pub fn texts(packets: &[Packet]) -> Vec<String> {
    packets
        .iter()
        .filter_map(|p| match &p.body {
            PacketBody::Text(t) => Some(t.text.to_string()),
            _ => None,
        })
        .collect()
}

/// Reads the playback stream until speech comes out and returns the frames
/// of speech that read gave. A reply's packets reach the game before its
/// speech reaches the stream: the playback worker resamples it meanwhile.
pub fn first_speech(playback: &mut inworld::client::Playback, buffer: &mut [f32]) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let frames = playback.read_f32(buffer);
        if frames > 0 {
            return frames;
        }
        assert!(Instant::now() < deadline, "no speech reached the stream");
        std::thread::sleep(Duration::from_millis(1));
    }
}
