//! Wire check: the packets our client sends (recorded by the local engine)
//! have the same structure as the Node SDK's packets for the same calls
//! (tests/vectors/sdk-session-trace.jsonl): same fields present, routing
//! shape, which PacketId fields are set (UUID-shaped), enum values. UUID
//! values, timestamps (beyond millisecond precision) and the client's own
//! id/description strings are ignored.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod client_util;

use base64::Engine as _;
use client_util::*;
use inworld::client::{Continuation, Talker};
use inworld::protocol::ai::inworld::packets::{
    control_event::PayloadStructured, inworld_packet::Packet as Payload, latency_report_event,
    Actor, InworldPacket,
};
use prost::Message;

/// The SDK's client→server packets of the capture run, by sequence number.
fn sdk_packet(seq: u64) -> InworldPacket {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/sdk-session-trace.jsonl"
    ))
    .unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["seq"].as_u64() == Some(seq) {
            assert_eq!(v["kind"], "client->server", "seq {seq}");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v["b64"].as_str().expect("b64"))
                .unwrap();
            return InworldPacket::decode(bytes.as_slice()).unwrap();
        }
    }
    panic!("no seq {seq} in the trace");
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

fn uuid_or_empty(s: &mut String, what: &str) {
    if !s.is_empty() {
        assert!(is_uuid(s), "{what} {s:?} is not a UUID");
        *s = "<uuid>".into();
    }
}

fn normalize_actor(a: &mut Actor) {
    if a.r#type == 2 && !a.name.is_empty() {
        a.name = "<agent>".into();
    }
}

/// Replaces what may differ (uuids, times, agent ids, client strings) by
/// markers, after checking their shape.
fn normalize(mut p: InworldPacket) -> InworldPacket {
    let ts = p.timestamp.take().expect("every packet has a timestamp");
    assert_eq!(ts.nanos % 1_000_000, 0, "millisecond precision");
    let id = p.packet_id.as_mut().expect("every packet has a packet id");
    assert!(is_uuid(&id.packet_id));
    uuid_or_empty(&mut id.packet_id, "packet_id");
    uuid_or_empty(&mut id.utterance_id, "utterance_id");
    uuid_or_empty(&mut id.interaction_id, "interaction_id");
    uuid_or_empty(&mut id.correlation_id, "correlation_id");
    uuid_or_empty(&mut id.conversation_id, "conversation_id");
    if let Some(r) = p.routing.as_mut() {
        r.source.iter_mut().for_each(normalize_actor);
        r.target.iter_mut().for_each(normalize_actor);
        r.targets.iter_mut().for_each(normalize_actor);
    }
    match p.packet.as_mut() {
        Some(Payload::Control(c)) => match c.payload_structured.as_mut() {
            Some(PayloadStructured::SessionConfiguration(s)) => {
                let client = s
                    .client_configuration
                    .as_mut()
                    .expect("client configuration");
                assert!(!client.id.is_empty() && !client.version.is_empty());
                assert!(client
                    .description
                    .starts_with(&format!("{}; {}; ", client.id, client.version)));
                assert!(client.description.ends_with("; my-game"));
                *client = Default::default();
            }
            Some(PayloadStructured::ConversationUpdate(u)) => {
                u.participants.iter_mut().for_each(normalize_actor)
            }
            _ => {}
        },
        Some(Payload::LatencyReport(l)) => {
            if let Some(latency_report_event::Report::PingPong(pp)) = l.report.as_mut() {
                let id = pp.ping_packet_id.as_mut().expect("ping packet id");
                uuid_or_empty(&mut id.packet_id, "ping packet_id");
                uuid_or_empty(&mut id.interaction_id, "ping interaction_id");
                uuid_or_empty(&mut id.correlation_id, "ping correlation_id");
                uuid_or_empty(&mut id.conversation_id, "ping conversation_id");
                assert!(id.utterance_id.is_empty(), "no utterance id in a PONG");
                assert!(pp.ping_timestamp.take().is_some(), "ping timestamp copied");
            }
        }
        _ => {}
    }
    p
}

fn kind(p: &InworldPacket) -> &'static str {
    match &p.packet {
        Some(Payload::Control(c)) if c.action == 16 => "session configuration",
        Some(Payload::Control(c)) if c.action == 12 => "conversation update",
        Some(Payload::Mutation(_)) => "load scene",
        Some(Payload::Text(_)) => "text",
        Some(Payload::Custom(_)) => "trigger",
        Some(Payload::Action(_)) => "narrated action",
        Some(Payload::LatencyReport(_)) => "pong",
        _ => "other",
    }
}

#[test]
fn our_packets_match_the_sdks() {
    let engine = engine_with(|c| c.record = true);
    // The capture run's configuration (the same as tests/node/sdk_session.js).
    let mut config = config_for(&engine);
    config.session.user.name = Some("Player One".into());
    config.session.user.profile = vec![("age".into(), "30".into())];
    config.session.game_session_id = Some("game-session-1".into());
    config.client_id = Some("my-game".into());
    config.session.capabilities.interruptions = true;
    config.session.capabilities.emotions = true;
    config.session.capabilities.silence = true;
    config.session.capabilities.phonemes = true;
    config.session.capabilities.narrated_actions = true;
    config.session.continuation = Some(Continuation::DialogHistory(vec![
        (Talker::Player, "Hi there".into()),
        (Talker::Character, "Hello, traveller".into()),
    ]));
    let (session, _) = open_ready(config);
    let session_id = session.session_id().unwrap();
    reply_to(&session, &session.send_text("hello").unwrap());
    reply_to(
        &session,
        &session.send_trigger("greet", &[("mood", "happy")]).unwrap(),
    );
    reply_to(
        &session,
        &session.send_narrated_action("waves hello").unwrap(),
    );
    session.close();

    let ours: Vec<InworldPacket> = engine
        .received_packets()
        .into_iter()
        .filter(|(s, _)| *s == session_id)
        .map(|(_, p)| p)
        .collect();
    let kinds: Vec<&str> = ours.iter().map(kind).collect();
    assert_eq!(
        &kinds[..4],
        [
            "session configuration",
            "load scene",
            "conversation update",
            "text"
        ],
        "order of {kinds:?}"
    );
    let first = |k: &str| {
        ours.iter()
            .find(|p| kind(p) == k)
            .unwrap_or_else(|| panic!("we sent no {k}: {kinds:?}"))
            .clone()
    };
    // seq numbers of the SDK's packets for the same calls, in the recorded session.
    for (k, seq) in [
        ("session configuration", 2),
        ("load scene", 3),
        ("conversation update", 5),
        ("text", 7),
        ("trigger", 14),
        ("narrated action", 24),
    ] {
        assert_eq!(
            normalize(first(k)),
            normalize(sdk_packet(seq)),
            "{k} differs from the SDK's (seq {seq})"
        );
    }
    // The engine pings during replies; each PING got a PONG shaped like the SDK's.
    let pongs: Vec<_> = ours.iter().filter(|p| kind(p) == "pong").cloned().collect();
    assert!(!pongs.is_empty(), "the engine sent PINGs; we answered none");
    for pong in pongs {
        assert_eq!(normalize(pong), normalize(sdk_packet(13)));
    }
    // Same conversation id on the handshake and every send.
    let conversation: Vec<_> = ours
        .iter()
        .filter(|p| {
            matches!(
                kind(p),
                "conversation update" | "text" | "trigger" | "narrated action"
            )
        })
        .map(|p| p.packet_id.as_ref().unwrap().conversation_id.clone())
        .collect();
    assert!(conversation.windows(2).all(|w| w[0] == w[1]));
}
