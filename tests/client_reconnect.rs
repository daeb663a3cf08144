//! Failures: the engine's SESSION_PAUSED error and the automatic reconnect,
//! token refresh across it, a scene that never loads, a missing scene.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod client_util;

use client_util::*;
use inworld::client::Session;
use inworld::packet::{ConnectionState, ErrorType, PacketBody, ReconnectionType};
use std::time::Duration;

#[test]
fn session_paused_reconnects_and_the_next_text_is_answered() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    let session_id = session.session_id().unwrap();
    reply_to(&session, &session.send_text("hello").unwrap());

    session.send_text("please fail").unwrap();
    let (_, error) = wait_for(&session, "the error", |p| {
        matches!(p.body, PacketBody::Error(_))
    });
    let PacketBody::Error(error) = error.body else {
        unreachable!()
    };
    assert!(error.will_retry);
    assert_eq!(error.grpc_code, tonic::Code::FailedPrecondition as i32);
    assert!(
        error.message.contains("session paused for test"),
        "{error:?}"
    );
    let details = error.details.expect("Inworld details");
    assert_eq!(details.error_type(), Some(ErrorType::SessionPaused));
    assert_eq!(details.reconnect_type, ReconnectionType::Immediate);
    assert_eq!(details.max_retries, 3);

    let (_, reconnecting) = wait_for(&session, "Reconnecting", |p| {
        is_connection(p, ConnectionState::Reconnecting)
    });
    let PacketBody::Connection(c) = reconnecting.body else {
        unreachable!()
    };
    assert_eq!(c.retry_in, Duration::ZERO, "IMMEDIATE reconnects at once");
    wait_ready(&session);
    assert_eq!(session.state(), ConnectionState::Ready);

    let ids = session.send_text("after error").unwrap();
    let reply = reply_to(&session, &ids);
    assert!(texts(&reply).iter().any(|t| t.contains("after error")));
    assert_eq!(session.session_id().unwrap(), session_id);

    // The reopened stream carried no configuration and no load-scene, and
    // redid the conversation handshake with the same conversation id.
    let sent: Vec<_> = engine
        .received_packets()
        .into_iter()
        .filter(|(s, _)| *s == session_id)
        .map(|(_, p)| p)
        .collect();
    let is_config = |p: &inworld::protocol::ai::inworld::packets::InworldPacket| matches!(&p.packet, Some(inworld::protocol::ai::inworld::packets::inworld_packet::Packet::Control(c)) if c.action == 16);
    let is_load = |p: &inworld::protocol::ai::inworld::packets::InworldPacket| {
        matches!(
            &p.packet,
            Some(inworld::protocol::ai::inworld::packets::inworld_packet::Packet::Mutation(_))
        )
    };
    let is_update = |p: &inworld::protocol::ai::inworld::packets::InworldPacket| matches!(&p.packet, Some(inworld::protocol::ai::inworld::packets::inworld_packet::Packet::Control(c)) if c.action == 12);
    assert_eq!(sent.iter().filter(|p| is_config(p)).count(), 1);
    assert_eq!(sent.iter().filter(|p| is_load(p)).count(), 1);
    let updates: Vec<_> = sent.iter().filter(|p| is_update(p)).collect();
    assert_eq!(updates.len(), 2, "one handshake per stream");
    assert_eq!(
        updates[0].packet_id.as_ref().unwrap().conversation_id,
        updates[1].packet_id.as_ref().unwrap().conversation_id
    );
    session.close();
}

#[test]
fn token_refresh_keeps_the_session_id() {
    // Tokens that live 1 s count as expired at once (≤ 5 min left), so the
    // reconnect must fetch a new one; the engine refuses the expired one.
    let engine = engine_with(|c| c.token_ttl = Duration::from_secs(1));
    let (session, _) = open_ready(config_for(&engine));
    let session_id = session.session_id().unwrap();
    // Let the first token expire (not a timing assertion: longer is fine).
    std::thread::sleep(Duration::from_millis(1500));
    session.send_text("please fail").unwrap();
    wait_for(&session, "Reconnecting", |p| {
        is_connection(p, ConnectionState::Reconnecting)
    });
    wait_ready(&session);
    let reply = reply_to(&session, &session.send_text("still me").unwrap());
    assert!(texts(&reply).iter().any(|t| t.contains("still me")));
    assert_eq!(session.session_id().unwrap(), session_id);
    session.close();
}

#[test]
fn scene_load_timeout_reports_an_error_and_closes() {
    // A TCP server that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for _ in 0..2 {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_secs(5));
        drop(held);
    });
    let mut config = inworld::client::ClientConfig::new(
        addr.to_string(),
        SCENE,
        inworld::auth::Credentials::new("k", "s"),
    );
    config.timeouts.scene_load = Duration::from_millis(500);
    let session = Session::open(config).unwrap();
    let error = error_before_closed(&session);
    assert_eq!(error.grpc_code, tonic::Code::DeadlineExceeded as i32);
    assert!(!error.will_retry);
    assert!(error.message.contains("did not load"), "{error:?}");
    assert_eq!(session.state(), ConnectionState::Closed);
    drop(holder);
}

#[test]
fn a_scene_the_engine_does_not_have_fails_cleanly() {
    let engine = engine();
    let mut config = config_for(&engine);
    config.session.scene = "workspaces/test-ws/scenes/no-such-scene".into();
    let session = Session::open(config).unwrap();
    let error = error_before_closed(&session);
    assert!(!error.will_retry, "{error:?}");
    assert!(session.characters().is_empty());
}

#[test]
fn unreachable_engine_retries_then_closes() {
    // Bind then drop: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = inworld::client::ClientConfig::new(
        format!("127.0.0.1:{port}"),
        SCENE,
        inworld::auth::Credentials::new("k", "s"),
    );
    config.reconnect.max_attempts = 2;
    config.reconnect.initial_backoff = Duration::from_millis(10);
    let session = Session::open(config).unwrap();
    let (seen, _) = wait_for(&session, "Closed", |p| {
        is_connection(p, ConnectionState::Closed)
    });
    let errors: Vec<_> = seen
        .iter()
        .filter_map(|p| match &p.body {
            PacketBody::Error(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(errors[0].will_retry && errors[1].will_retry && !errors[2].will_retry);
    assert!(errors
        .iter()
        .all(|e| e.grpc_code == tonic::Code::Unavailable as i32));
    let reconnecting = seen
        .iter()
        .filter(|p| is_connection(p, ConnectionState::Reconnecting))
        .count();
    assert_eq!(reconnecting, 2);
}
