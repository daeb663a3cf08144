//! A Client's sessions share its connection, and a Rust host can run them
//! on its own tokio runtime and await their packets.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod client_util;

use client_util::*;
use inworld::client::{Client, SessionConfig};
use inworld::packet::{ConnectionState, ControlAction, PacketBody};
use std::time::Duration;

/// TCP connections established from this process to `port` (read from the
/// kernel's table: what the operating system sees, not what we count).
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/self/net/tcp").expect("/proc/self/net/tcp");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // remote address is field 2 (ADDR:PORT in hex), state field 3 (01 = ESTABLISHED)
            let remote_port = fields
                .get(2)
                .and_then(|a| a.split(':').nth(1))
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            remote_port == Some(port) && fields.get(3) == Some(&"01")
        })
        .count()
}

#[test]
fn fifty_sessions_of_one_client_share_one_connection() {
    let engine = engine();
    let port = engine.addr().port();
    let client = Client::new(config_for(&engine)).unwrap();
    let sessions: Vec<_> = (0..50).map(|_| client.open_session().unwrap()).collect();
    for s in &sessions {
        wait_ready(s);
    }
    // Every session talks, at once.
    let sent: Vec<_> = sessions
        .iter()
        .map(|s| s.send_text("hello").unwrap())
        .collect();
    for (s, ids) in sessions.iter().zip(&sent) {
        assert!(!texts(&reply_to(s, ids)).is_empty());
    }
    assert_eq!(
        connections_to(port),
        1,
        "one TCP connection for 50 sessions"
    );
    assert_eq!(client.connection_count(), 1);
    // Each has a session of its own on the service.
    let ids: std::collections::HashSet<_> = sessions.iter().map(|s| s.session_id()).collect();
    assert_eq!(ids.len(), 50);
    for s in &sessions {
        s.close();
    }
}

#[test]
fn sessions_with_their_own_options_share_the_client() {
    let engine = engine();
    let client = Client::new(config_for(&engine)).unwrap();
    let default = client.open_session().unwrap();
    let mut carol = SessionConfig::new("workspaces/test-ws/characters/carol");
    carol.user.name = Some("Zed".into());
    let other = client.open_session_with(carol).unwrap();
    wait_ready(&default);
    wait_ready(&other);
    assert_eq!(default.characters().len(), 2);
    assert_eq!(other.characters()[0].display_name, "Carol");
    assert_eq!(client.connection_count(), 1);
    assert!(matches!(
        client.open_session_with(SessionConfig::new("not a scene")),
        Err(inworld::client::Error::InvalidConfig(_))
    ));
}

#[test]
fn a_host_runtime_awaits_packets() {
    // The engine on the library's runtime; the sessions on the host's own
    // single-threaded runtime, driven only while the host awaits.
    let engine = engine();
    let host = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::with_runtime(config_for(&engine), host.handle().clone()).unwrap();
    let session = client.open_session().unwrap();
    let got = host.block_on(async {
        let mut got = Vec::new();
        let ids = session.send_text("hello from async").unwrap();
        let wait = async {
            while let Some(p) = session.recv().await {
                let end = matches!(&p.body, PacketBody::Control(c)
                    if c.action == ControlAction::InteractionEnd)
                    && p.ids.interaction_id == ids.interaction_id.as_str();
                got.push(p);
                if end {
                    break;
                }
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .expect("the reply ends");
        session.close();
        // After close, recv ends once the last packet (Closed) is taken.
        let rest = tokio::time::timeout(WAIT, async {
            let mut rest = Vec::new();
            while let Some(p) = session.recv().await {
                rest.push(p);
            }
            rest
        })
        .await
        .expect("recv ends after the session's last packet");
        assert!(is_connection(rest.last().unwrap(), ConnectionState::Closed));
        got
    });
    assert!(got.iter().any(|p| is_connection(p, ConnectionState::Ready)));
    assert!(!texts(&got).is_empty());
    // Nothing waits on a runtime that is not running: the handle still works.
    assert_eq!(session.state(), ConnectionState::Closed);
    assert!(session.recv_timeout(Duration::from_millis(1)).is_none());
}
