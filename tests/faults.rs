//! Faults injected from outside, and what the game sees: the engine killed
//! and restarted mid-reply, stopped (SIGSTOP) for longer than the detection
//! limit and resumed, the game not polling during an outage, sends beyond
//! the bound while disconnected. The engine runs as its own process.
// Needs the local engine program (the default `engine` feature).
#![cfg(feature = "engine")]

mod fault_support;

use fault_support::*;
use inworld::client::{Error, Session};
use inworld::packet::{ConnectionState, PacketBody, Resumed, SendFailure};
use std::collections::HashSet;

fn open_ready(config: inworld::client::ClientConfig) -> Session {
    let session = Session::open(config).unwrap();
    wait_for(&session, "Ready", |p| is_state(p, ConnectionState::Ready));
    session
}

/// Waits for the reply to `interaction` to end; returns its packets.
fn reply(session: &Session, interaction: &str) -> Vec<inworld::packet::Packet> {
    let (before, end) = wait_for(session, "the end of the reply", |p| {
        p.ids.interaction_id == interaction
            && matches!(&p.body, PacketBody::Control(c)
                if c.action == inworld::packet::ControlAction::InteractionEnd)
    });
    let mut reply: Vec<_> = before
        .into_iter()
        .filter(|p| p.ids.interaction_id == interaction)
        .collect();
    reply.push(end);
    reply
}

#[test]
fn killed_and_restarted_mid_reply_the_session_comes_back_and_says_what_was_lost() {
    let mut engine = EngineProcess::start(&["--pacing", "human"]);
    let session = open_ready(engine.config());
    let first_id = session.session_id().unwrap();
    let story = session.send_text("tell me a long story").unwrap();
    wait_for(&session, "the story's first line", |p| {
        p.ids.interaction_id == story.interaction_id.as_str()
            && matches!(p.body, PacketBody::Text(_))
    });

    engine.kill();
    let (seen, _) = wait_for(&session, "Reconnecting", |p| {
        is_state(p, ConnectionState::Reconnecting)
    });
    let errors: Vec<_> = seen
        .iter()
        .filter_map(|p| match &p.body {
            PacketBody::Error(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "one error, said once: {errors:#?}");
    assert!(errors[0].will_retry);
    // The story went out but its reply never ended: the game is told, with its ids.
    assert_eq!(
        failed_sends(&seen),
        [(story.interaction_id.clone(), SendFailure::MaybeSent)]
    );

    // A new process: it knows neither the token nor the session.
    engine.restart();
    let (during, ready) = wait_for(&session, "Ready again", |p| {
        is_state(p, ConnectionState::Ready)
    });
    if std::env::var_os("SHOW").is_some() {
        for p in seen.iter().chain(during.iter()) {
            eprintln!("{:?}", p.body);
        }
    }
    assert_eq!(resumed_of(&ready), Resumed::NewSession);
    assert_ne!(session.session_id().unwrap(), first_id, "a new session");
    assert!(
        during
            .iter()
            .all(|p| p.ids.interaction_id != story.interaction_id.as_str()),
        "nothing of the lost reply comes again: {during:#?}"
    );

    // The characters remember the dialog before the restart.
    let ask = session.send_text("do you remember").unwrap();
    let said = texts_of(&reply(&session, &ask.interaction_id), &ask.interaction_id).join(" ");
    assert!(said.contains("tell me a long story"), "{said}");
    session.close();
}

#[test]
fn a_stalled_engine_is_noticed_and_the_session_resumes_when_it_wakes() {
    let engine = EngineProcess::start(&["--pacing", "human"]);
    let session = open_ready(engine.config());
    let first_id = session.session_id().unwrap();
    let story = session.send_text("tell me a long story").unwrap();
    wait_for(&session, "the story's first line", |p| {
        p.ids.interaction_id == story.interaction_id.as_str()
            && matches!(p.body, PacketBody::Text(_))
    });

    engine.stop();
    // The reply stops: first Stalled, then the dead connection is noticed.
    let (before_stall, _) = wait_for(&session, "Stalled", |p| {
        is_state(p, ConnectionState::Stalled)
    });
    assert!(!before_stall
        .iter()
        .any(|p| is_state(p, ConnectionState::Reconnecting)));
    let (seen, _) = wait_for(&session, "Reconnecting", |p| {
        is_state(p, ConnectionState::Reconnecting)
    });
    assert_eq!(
        failed_sends(&seen),
        [(story.interaction_id.clone(), SendFailure::MaybeSent)]
    );
    // Still stopped: attempts fail and are retried, the session stays open.
    wait_for(&session, "a second attempt", |p| {
        is_state(p, ConnectionState::Reconnecting)
    });
    assert_eq!(session.state(), ConnectionState::Reconnecting);

    engine.resume();
    let (during, ready) = wait_for(&session, "Ready again", |p| {
        is_state(p, ConnectionState::Ready)
    });
    assert_eq!(resumed_of(&ready), Resumed::SameSession);
    assert_eq!(session.session_id().unwrap(), first_id);
    let after = session.send_text("hello again").unwrap();
    let answer = reply(&session, &after.interaction_id);
    assert!(!texts_of(&answer, &after.interaction_id).is_empty());
    // No reply was duplicated: the story's packets never came back.
    assert!(during
        .iter()
        .chain(answer.iter())
        .all(|p| p.ids.interaction_id != story.interaction_id.as_str()));
    session.close();
}

#[test]
fn a_game_that_does_not_poll_during_an_outage_still_learns_what_happened() {
    let mut engine = EngineProcess::start(&["--pacing", "instant"]);
    let mut config = engine.config();
    config.session.queue_capacity = 4;
    config.reconnect.max_attempts = 2;
    let session = open_ready(config);
    while session.try_recv().is_some() {}

    // A long reply fills the queue while the game does not poll...
    let story = session.send_text("tell me a long story").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    // ...and then the engine dies and the session gives up.
    engine.kill();
    let deadline = std::time::Instant::now() + HANG;
    while session.state() != ConnectionState::Closed {
        assert!(std::time::Instant::now() < deadline, "never closed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Let the final packets land, then poll everything at once.
    let mut all = Vec::new();
    while let Some(p) = session.recv_timeout(std::time::Duration::from_secs(5)) {
        all.push(p);
    }
    let dropped: u64 = all
        .iter()
        .filter_map(|p| match p.body {
            PacketBody::Overflow { dropped } => Some(dropped),
            _ => None,
        })
        .sum();
    assert!(dropped > 0, "the reply overflowed the queue: {all:#?}");
    let errors = all
        .iter()
        .filter(|p| matches!(p.body, PacketBody::Error(_)))
        .count();
    assert_eq!(
        errors, 3,
        "every error (2 retried, 1 final) survived: {all:#?}"
    );
    let reconnecting = all
        .iter()
        .filter(|p| is_state(p, ConnectionState::Reconnecting))
        .count();
    assert_eq!(reconnecting, 2);
    assert!(is_state(all.last().unwrap(), ConnectionState::Closed));
    // The story's reply was cut short or complete; either way nothing is
    // reported twice and the report names the send.
    let reports = failed_sends(&all);
    assert!(reports.len() <= 1);
    assert!(reports.iter().all(|(id, _)| *id == story.interaction_id));
}

#[test]
fn sends_during_an_outage_are_bounded_and_go_out_once_after_it() {
    let mut engine = EngineProcess::start(&["--pacing", "instant"]);
    let mut config = engine.config();
    config.session.max_pending_sends = 4;
    let session = open_ready(config);
    engine.kill();
    wait_for(&session, "Reconnecting", |p| {
        is_state(p, ConnectionState::Reconnecting)
    });
    let sent: Vec<_> = (0..4)
        .map(|i| session.send_text(&format!("while away {i}")).unwrap())
        .collect();
    assert_eq!(
        session.send_text("one too many"),
        Err(Error::QueueFull),
        "the fifth send is refused at the call"
    );
    engine.restart();
    wait_for(&session, "Ready", |p| is_state(p, ConnectionState::Ready));
    // Each waiting send went out once and was answered once.
    let mut answered = HashSet::new();
    for ids in &sent {
        let r = reply(&session, &ids.interaction_id);
        assert!(!texts_of(&r, &ids.interaction_id).is_empty());
        assert!(answered.insert(ids.interaction_id.clone()));
    }
    // Room again once they went out.
    assert!(session.send_text("and now").is_ok());
    session.close();
}

#[test]
fn sends_that_never_go_out_are_reported_with_their_ids() {
    let mut engine = EngineProcess::start(&["--pacing", "instant"]);
    let mut config = engine.config();
    config.reconnect.max_attempts = 2;
    let session = open_ready(config);
    engine.kill();
    wait_for(&session, "Reconnecting", |p| {
        is_state(p, ConnectionState::Reconnecting)
    });
    let a = session.send_text("first").unwrap();
    let b = session.send_trigger("greet", &[("mood", "calm")]).unwrap();
    let (seen, _) = wait_for(&session, "Closed", |p| is_state(p, ConnectionState::Closed));
    let reports = failed_sends(&seen);
    assert_eq!(reports.len(), 2, "{reports:?}");
    for ids in [&a, &b] {
        assert!(
            reports.contains(&(ids.interaction_id.clone(), SendFailure::NotSent)),
            "{reports:?}"
        );
    }
    assert_eq!(session.send_text("late"), Err(Error::Closed));
}

/// The error packets among `packets`.
fn errors(packets: &[inworld::packet::Packet]) -> Vec<inworld::packet::SessionError> {
    packets
        .iter()
        .filter_map(|p| match &p.body {
            PacketBody::Error(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_server_that_waits_for_the_clients_first_packet_gets_the_session_back() {
    // OpenSession answers (headers included) only once the client wrote on
    // the stream: a client that waits for the server after reopening a
    // stream would wait forever.
    let engine = engine_in_process(|c| c.faults.open_session_headers_after_first_packet = true);
    let session = open_ready(config_for(&engine));
    let id = session.session_id().unwrap();
    session.send_text("please fail").unwrap();
    let (seen, ready) = wait_for(&session, "Ready after the reconnect", |p| {
        is_state(p, ConnectionState::Ready)
    });
    assert_eq!(errors(&seen).len(), 1, "{seen:#?}");
    assert!(seen
        .iter()
        .any(|p| is_state(p, ConnectionState::Reconnecting)));
    assert_eq!(resumed_of(&ready), Resumed::SameSession);
    assert_eq!(session.session_id().unwrap(), id);
    let ids = session.send_text("and after").unwrap();
    assert!(!texts_of(&reply(&session, &ids.interaction_id), &ids.interaction_id).is_empty());
    session.close();
}

#[test]
fn a_server_that_lost_the_session_but_not_the_token_gets_it_loaded_again() {
    let engine = engine_in_process(|_| {});
    let session = open_ready(config_for(&engine));
    let id = session.session_id().unwrap();
    let first = session.send_text("the password is swordfish").unwrap();
    reply(&session, &first.interaction_id);

    // The engine goes away and comes back with its tokens but no sessions:
    // the reopened stream finds no scene, and the service says so.
    engine.suspend();
    wait_for(&session, "Reconnecting", |p| {
        is_state(p, ConnectionState::Reconnecting)
    });
    engine.forget_sessions();
    engine.resume().unwrap();
    let (seen, ready) = wait_for(&session, "Ready again", |p| {
        is_state(p, ConnectionState::Ready)
    });
    assert_eq!(resumed_of(&ready), Resumed::NewSession, "{seen:#?}");
    assert!(
        seen.iter()
            .any(|p| matches!(p.body, PacketBody::SceneStatus(_))),
        "the scene was loaded again: {seen:#?}"
    );
    assert_eq!(session.session_id().unwrap(), id, "same id, state rebuilt");
    // Ready means it answers, and the characters remember.
    let ask = session.send_text("do you remember").unwrap();
    let said = texts_of(&reply(&session, &ask.interaction_id), &ask.interaction_id).join(" ");
    assert!(said.contains("swordfish"), "{said}");
    session.close();
}

#[test]
fn an_expired_session_continues_as_a_new_one_with_the_dialog() {
    let engine = engine_in_process(|_| {});
    let session = open_ready(config_for(&engine));
    let id = session.session_id().unwrap();
    let first = session.send_text("my name is Zed").unwrap();
    reply(&session, &first.interaction_id);

    engine.expire_sessions();
    let (seen, ready) = wait_for(&session, "Ready again", |p| {
        is_state(p, ConnectionState::Ready)
    });
    let errors = errors(&seen);
    assert_eq!(errors.len(), 1, "{seen:#?}");
    assert!(errors[0].will_retry);
    assert_eq!(
        errors[0].details.as_ref().and_then(|d| d.error_type()),
        Some(inworld::packet::ErrorType::SessionExpired)
    );
    assert_eq!(resumed_of(&ready), Resumed::NewSession);
    assert_ne!(session.session_id().unwrap(), id, "a new session");
    let ask = session.send_text("do you remember").unwrap();
    let said = texts_of(&reply(&session, &ask.interaction_id), &ask.interaction_id).join(" ");
    assert!(said.contains("my name is Zed"), "{said}");
    session.close();
}

#[test]
fn a_stalled_session_checks_its_connection_without_waiting_for_keepalive() {
    // Keepalive off: only the stalled session's own check of the connection
    // can find that the engine stopped answering.
    let engine = EngineProcess::start(&["--pacing", "human"]);
    let mut config = engine.config();
    config.timeouts.keepalive_interval = std::time::Duration::ZERO;
    let session = open_ready(config);
    let id = session.session_id().unwrap();
    let story = session.send_text("tell me a long story").unwrap();
    wait_for(&session, "the story's first line", |p| {
        p.ids.interaction_id == story.interaction_id.as_str()
            && matches!(p.body, PacketBody::Text(_))
    });
    engine.stop();
    wait_for(&session, "Stalled", |p| {
        is_state(p, ConnectionState::Stalled)
    });
    let (seen, _) = wait_for(&session, "Reconnecting", |p| {
        is_state(p, ConnectionState::Reconnecting)
    });
    let errors = errors(&seen);
    assert_eq!(errors.len(), 1, "{seen:#?}");
    assert!(
        errors[0].message.contains("stopped answering"),
        "{errors:?}"
    );
    assert_eq!(
        failed_sends(&seen),
        [(story.interaction_id.clone(), SendFailure::MaybeSent)]
    );
    engine.resume();
    let (_, ready) = wait_for(&session, "Ready again", |p| {
        is_state(p, ConnectionState::Ready)
    });
    assert_eq!(resumed_of(&ready), Resumed::SameSession);
    assert_eq!(session.session_id().unwrap(), id);
    let after = session.send_text("hello again").unwrap();
    assert!(!texts_of(
        &reply(&session, &after.interaction_id),
        &after.interaction_id
    )
    .is_empty());
    session.close();
}

#[test]
fn a_slow_but_live_engine_keeps_its_stream_and_loses_no_reply() {
    // Human pacing pauses between lines for longer than this stall time:
    // the session checks its connection, which answers, and the reply
    // completes on the same stream.
    let engine = engine_in_process(|c| c.pacing = inworld::engine::Pacing::Human);
    let mut config = config_for(&engine);
    config.timeouts.stall = std::time::Duration::from_millis(500);
    config.timeouts.keepalive_interval = std::time::Duration::ZERO;
    let session = open_ready(config);
    let story = session.send_text("tell me a long story").unwrap();
    let (seen, _) = wait_for(&session, "the end of the story", |p| {
        p.ids.interaction_id == story.interaction_id.as_str()
            && matches!(&p.body, PacketBody::Control(c)
                if c.action == inworld::packet::ControlAction::InteractionEnd)
    });
    assert!(errors(&seen).is_empty(), "{seen:#?}");
    assert!(!seen
        .iter()
        .any(|p| is_state(p, ConnectionState::Reconnecting)));
    assert!(failed_sends(&seen).is_empty(), "{seen:#?}");
    assert_eq!(texts_of(&seen, &story.interaction_id).len(), 5);
    assert_eq!(session.state(), ConnectionState::Ready);
    session.close();
}

#[test]
fn a_send_after_an_idle_pause_is_never_taken_for_a_stall() {
    // The quiet before the player speaks is not the engine's: sessions idle
    // for longer than the stall time, then send; the engine answers at once.
    let engine = engine_in_process(|_| {});
    let mut config = config_for(&engine);
    config.timeouts.stall = std::time::Duration::from_secs(1);
    let sessions: Vec<Session> = (0..20).map(|_| open_ready(config.clone())).collect();
    let mut stalls = 0;
    for round in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(1_500));
        let sent: Vec<_> = sessions
            .iter()
            .map(|s| s.send_text(&format!("hello {round}")).unwrap())
            .collect();
        for (session, ids) in sessions.iter().zip(&sent) {
            let (seen, _) = wait_for(session, "the reply", |p| {
                p.ids.interaction_id == ids.interaction_id.as_str()
                    && matches!(&p.body, PacketBody::Control(c)
                        if c.action == inworld::packet::ControlAction::InteractionEnd)
            });
            assert!(failed_sends(&seen).is_empty(), "{seen:#?}");
            stalls += seen
                .iter()
                .filter(|p| is_state(p, ConnectionState::Stalled))
                .count();
        }
    }
    // Packets of other interactions (connection states) come before too.
    for session in &sessions {
        while let Some(p) = session.try_recv() {
            stalls += usize::from(is_state(&p, ConnectionState::Stalled));
        }
    }
    assert_eq!(stalls, 0, "Stalled after an idle pause");
    for session in sessions {
        session.close();
    }
}

#[test]
fn every_send_awaiting_its_reply_is_reported_when_the_stream_breaks() {
    // More sends awaiting replies than any fixed tracking bound: each one
    // gets its reply's end or a SendFailed, none is forgotten (the engine
    // refuses those beyond its own queue at once).
    let mut engine = EngineProcess::start(&["--pacing", "human"]);
    let mut config = engine.config();
    config.session.max_pending_sends = 400;
    let session = open_ready(config);
    let sent: Vec<String> = (0..300)
        .map(|i| {
            session
                .send_text(&format!("line {i}"))
                .unwrap()
                .interaction_id
        })
        .collect();
    let (mut seen, _) = wait_for(&session, "the first reply's first line", |p| {
        p.ids.interaction_id == sent[0].as_str() && matches!(p.body, PacketBody::Text(_))
    });
    engine.kill();
    let (broken, _) = wait_for(&session, "Reconnecting", |p| {
        is_state(p, ConnectionState::Reconnecting)
    });
    let maybe_sent = failed_sends(&broken)
        .iter()
        .filter(|(_, why)| *why == SendFailure::MaybeSent)
        .count();
    assert!(maybe_sent > 256, "{maybe_sent} reported");
    seen.extend(broken);
    // Those the task had not written yet wait for the next stream; closed
    // first, the session reports them as never sent.
    session.close();
    let (after, _) = wait_for(
        &session,
        "Closed",
        |p| matches!(&p.body, PacketBody::Connection(c) if c.state == ConnectionState::Closed),
    );
    seen.extend(after);
    let ended: HashSet<&str> = seen
        .iter()
        .filter(|p| {
            matches!(&p.body, PacketBody::Control(c)
                if c.action == inworld::packet::ControlAction::InteractionEnd)
        })
        .map(|p| p.ids.interaction_id.as_str())
        .collect();
    let failed = failed_sends(&seen);
    let reported: HashSet<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
    let unaccounted = sent
        .iter()
        .filter(|id| !ended.contains(id.as_str()) && !reported.contains(id.as_str()))
        .count();
    assert_eq!(unaccounted, 0, "sends neither answered nor reported");
    assert_eq!(failed.len(), reported.len(), "each reported once");
}
