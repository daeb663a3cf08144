//! A busy engine: slow to answer one session and to answer the check of its
//! connection (`RunningEngine::busy_with` holds both until the test ends the
//! fault, however long that is), while it keeps sending other sessions'
//! packets on the same connection. Those packets show the connection alive:
//! the session neither stalls nor loses its reply. With nothing arriving
//! meanwhile (nothing else to send, or the engine stopped), the same
//! unanswered check finds the connection dead. What
//! happens is decided by what the engine received (its count of checks),
//! never by how long something took; waits only catch hangs.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod fault_support;

use fault_support::*;
use inworld::client::{Client, ClientConfig, Session};
use inworld::packet::{ConnectionState, ControlAction, Packet, PacketBody, SendFailure};
use std::time::{Duration, Instant};

/// Long enough that a session talking all the time gets packets within it
/// on a crowded machine (the default); short enough that the test takes
/// seconds.
const STALL: Duration = Duration::from_secs(3);

/// Checks of the slow session's connection the test lets pass: the first
/// two decide (unanswered twice is dead), the third starts only once the
/// second was found alive.
const CHECKS: u64 = 3;

fn config(engine: &inworld::engine::RunningEngine) -> ClientConfig {
    patient(config_for(engine))
}

/// The stall above, and a keepalive timeout only a hang reaches: the
/// connection is judged by its checks and its packets alone.
fn patient(mut config: ClientConfig) -> ClientConfig {
    config.timeouts.stall = STALL;
    config.timeouts.keepalive_timeout = HANG / 2;
    config
}

fn open_ready(client: &Client) -> Session {
    let session = client.open_session().unwrap();
    wait_for(&session, "Ready", |p| is_state(p, ConnectionState::Ready));
    session
}

fn ends(p: &Packet, interaction: &str) -> bool {
    p.ids.interaction_id == interaction
        && matches!(&p.body, PacketBody::Control(c) if c.action == ControlAction::InteractionEnd)
}

/// What says the session is in trouble: a stall, a reconnect, an error, a
/// send reported lost.
fn trouble(p: &Packet) -> bool {
    is_state(p, ConnectionState::Stalled)
        || is_state(p, ConnectionState::Reconnecting)
        || matches!(p.body, PacketBody::Error(_) | PacketBody::SendFailed(_))
}

#[test]
fn a_busy_engine_slow_to_answer_the_check_is_alive_while_it_sends_on_the_connection() {
    let engine = engine_in_process(|_| {});
    let client = Client::new(config(&engine)).unwrap();
    let slow = open_ready(&client);
    let talker = open_ready(&client);
    assert_eq!(client.connection_count(), 1, "both on one connection");

    engine.busy_with(&slow.session_id().unwrap());
    let checks_before = engine.unserved_calls();
    let ask = slow.send_text("hello").unwrap();
    // The other session talks all the time, so the engine sends on the
    // connection while the slow session's checks go unanswered.
    let deadline = Instant::now() + HANG;
    let mut talks = 0;
    while engine.unserved_calls() < checks_before + CHECKS {
        assert!(Instant::now() < deadline, "no check after {talks} replies");
        let ids = talker.send_text("hello").unwrap();
        let (seen, _) = wait_for(&talker, "the talker's reply", |p| {
            ends(p, &ids.interaction_id)
        });
        assert!(!seen.iter().any(trouble), "the talker: {seen:#?}");
        assert!(!texts_of(&seen, &ids.interaction_id).is_empty());
        talks += 1;
        while let Some(p) = slow.try_recv() {
            assert!(
                !trouble(&p),
                "the slow session after {talks} replies: {p:#?}"
            );
        }
    }
    assert_eq!(slow.state(), ConnectionState::Ready);

    // The engine catches up: the reply comes, on the same stream.
    engine.not_busy();
    let (seen, _) = wait_for(&slow, "the slow reply", |p| ends(p, &ask.interaction_id));
    assert!(!seen.iter().any(trouble), "{seen:#?}");
    assert!(
        !texts_of(&seen, &ask.interaction_id).is_empty(),
        "{seen:#?}"
    );
    assert_eq!(slow.state(), ConnectionState::Ready);
    eprintln!("{talks} replies to the other session while the engine was busy");
    slow.close();
    talker.close();
}

#[test]
fn a_busy_engine_that_sends_nothing_meanwhile_is_found_stalled_then_dead() {
    let engine = engine_in_process(|_| {});
    let client = Client::new(config(&engine)).unwrap();
    let session = open_ready(&client);
    let id = session.session_id().unwrap();

    engine.busy_with(&id);
    let ask = session.send_text("hello").unwrap();
    let (before, _) = wait_for(&session, "Stalled", |p| {
        is_state(p, ConnectionState::Stalled)
    });
    assert!(!before.iter().any(trouble), "{before:#?}");
    let (seen, _) = wait_for(&session, "Reconnecting", |p| {
        is_state(p, ConnectionState::Reconnecting)
    });
    assert_eq!(
        failed_sends(&seen),
        [(ask.interaction_id.clone(), SendFailure::MaybeSent)]
    );
    assert!(engine.unserved_calls() >= 2, "checked twice");

    engine.not_busy();
    wait_for(&session, "Ready again", |p| {
        is_state(p, ConnectionState::Ready)
    });
    assert_eq!(session.session_id().unwrap(), id);
    let after = session.send_text("hello again").unwrap();
    let (seen, _) = wait_for(&session, "the reply", |p| ends(p, &after.interaction_id));
    assert!(!texts_of(&seen, &after.interaction_id).is_empty());
    session.close();
}

#[test]
fn a_stopped_engine_is_found_stalled_then_dead_by_every_session_on_the_connection() {
    // Other sessions' replies keep a connection alive only while they come.
    let engine = EngineProcess::start(&["--pacing", "human"]);
    let client = Client::new(patient(engine.config())).unwrap();
    let sessions = [open_ready(&client), open_ready(&client)];
    assert_eq!(client.connection_count(), 1, "both on one connection");
    let stories: Vec<_> = sessions
        .iter()
        .map(|s| s.send_text("tell me a long story").unwrap())
        .collect();
    for (session, story) in sessions.iter().zip(&stories) {
        wait_for(session, "the story's first line", |p| {
            p.ids.interaction_id == story.interaction_id.as_str()
                && matches!(p.body, PacketBody::Text(_))
        });
    }

    engine.stop();
    for (session, story) in sessions.iter().zip(&stories) {
        let (before, _) = wait_for(session, "Stalled", |p| {
            is_state(p, ConnectionState::Stalled)
        });
        assert!(!before.iter().any(trouble), "{before:#?}");
        let (seen, _) = wait_for(session, "Reconnecting", |p| {
            is_state(p, ConnectionState::Reconnecting)
        });
        assert_eq!(
            failed_sends(&seen),
            [(story.interaction_id.clone(), SendFailure::MaybeSent)]
        );
    }
    engine.resume();
    for session in &sessions {
        wait_for(session, "Ready again", |p| {
            is_state(p, ConnectionState::Ready)
        });
        session.close();
    }
}
