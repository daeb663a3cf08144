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
    control_event::PayloadStructured, data_chunk, entities::items_operation_event,
    inworld_packet::Packet as Payload, latency_report_event, mutation_event, Actor, InworldPacket,
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
    if let Some(Payload::Mutation(m)) = p.packet.as_mut() {
        if let Some(mutation_event::Mutation::UnloadCharacters(u)) = m.mutation.as_mut() {
            for agent in &mut u.agents {
                agent.agent_id = "<agent>".into();
            }
        }
    }
    match p.packet.as_mut() {
        Some(Payload::Control(c)) => match c.payload_structured.as_mut() {
            // A scene change's configuration has no client configuration
            // (nor has the SDK's); when there is one, its strings are ours.
            Some(PayloadStructured::SessionConfiguration(s)) => {
                if let Some(client) = s.client_configuration.as_mut() {
                    assert!(!client.id.is_empty() && !client.version.is_empty());
                    assert!(client
                        .description
                        .starts_with(&format!("{}; {}; ", client.id, client.version)));
                    assert!(client.description.ends_with("; my-game"));
                    *client = Default::default();
                }
            }
            Some(PayloadStructured::ConversationUpdate(u)) => {
                u.participants.iter_mut().for_each(normalize_actor)
            }
            _ => {}
        },
        Some(Payload::DataChunk(d)) => {
            if let Some(data_chunk::Data::Chunk(bytes)) = d.data.as_mut() {
                // 16-bit samples (ours) or the SDK's four test bytes.
                assert!(
                    !bytes.is_empty() && bytes.len() % 2 == 0,
                    "{} bytes",
                    bytes.len()
                );
                *bytes = b"<audio>".to_vec();
            }
        }
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

/// What the engine received in session `session_id`, in order.
fn sent_in(engine: &inworld::engine::RunningEngine, session_id: &str) -> Vec<InworldPacket> {
    engine
        .received_packets()
        .into_iter()
        .filter(|(s, _)| s == session_id)
        .map(|(_, p)| p)
        .collect()
}

fn kind(p: &InworldPacket) -> &'static str {
    match &p.packet {
        Some(Payload::Control(c)) if c.action == 16 => "session configuration",
        Some(Payload::Control(c)) if c.action == 12 => "conversation update",
        Some(Payload::Control(c)) if c.action == 1 => "audio session start",
        Some(Payload::Control(c)) if c.action == 2 => "audio session end",
        Some(Payload::Control(c)) if c.action == 6 => "mute",
        Some(Payload::Control(c)) if c.action == 7 => "unmute",
        Some(Payload::DataChunk(_)) => "audio",
        Some(Payload::Mutation(m)) => match m.mutation {
            Some(mutation_event::Mutation::LoadScene(_)) => "load scene",
            Some(mutation_event::Mutation::LoadCharacters(_)) => "load characters",
            Some(mutation_event::Mutation::UnloadCharacters(_)) => "unload characters",
            Some(mutation_event::Mutation::CancelResponses(_)) => "cancel responses",
            _ => "other mutation",
        },
        Some(Payload::EntitiesItemsOperation(op)) => match op.operation {
            Some(items_operation_event::Operation::CreateOrUpdateItems(_)) => "create items",
            Some(items_operation_event::Operation::ItemsInEntities(_)) => "items in entities",
            Some(items_operation_event::Operation::RemoveItems(_)) => "remove items",
            None => "other",
        },
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

    let ours = sent_in(&engine, &session_id);
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

/// The whole session's calls: characters added and removed, a group
/// conversation with the next-turn trigger and new participants, entity
/// items, a scene change: each packet as the SDK sent it for the same call.
#[test]
fn the_whole_sessions_packets_match_the_sdks() {
    use inworld::client::{Capabilities, EntityItem, ItemsInEntities, SceneChange};
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    let session_id = session.session_id().unwrap();
    let carol = "workspaces/test-ws/characters/carol";
    session.add_characters(&[carol]).unwrap();
    wait_for(
        &session,
        "carol in the scene",
        |p| matches!(&p.body, inworld::packet::PacketBody::SceneStatus(s) if s.characters.len() == 3),
    );
    let alice = "workspaces/test-ws/characters/alice";
    let bob = "workspaces/test-ws/characters/bob";
    let mut group = session.start_conversation(&[alice, bob], true).unwrap();
    reply_to(&session, &group.send_text("hi all").unwrap());
    reply_to(&session, &group.next_turn().unwrap());
    group.update_participants(&[alice], true).unwrap();
    session.remove_characters(&[carol]).unwrap();
    session
        .create_or_update_items(
            &[EntityItem {
                id: "item-1".into(),
                display_name: "Sword".into(),
                description: "sharp".into(),
                properties: vec![("k".into(), "v".into())],
            }],
            &["weapons"],
        )
        .unwrap();
    session
        .items_in_entities(ItemsInEntities::Add, &["item-1"], &["loot"])
        .unwrap();
    session.remove_items(&["item-1"]).unwrap();
    let change = SceneChange {
        capabilities: Some(Capabilities {
            audio: false,
            emotions: true,
            ..Capabilities::default()
        }),
        game_session_id: Some("game-session-2".into()),
        continuation: None,
    };
    session
        .change_scene("workspaces/test-ws/scenes/other-scene", change)
        .unwrap();
    wait_for(&session, "the other scene", |p| {
        matches!(&p.body, inworld::packet::PacketBody::SceneStatus(s)
            if s.name == "workspaces/test-ws/scenes/other-scene")
    });
    session.close();

    let ours = sent_in(&engine, &session_id);
    let kinds: Vec<&str> = ours.iter().map(kind).collect();
    let nth = |k: &str, n: usize| {
        ours.iter()
            .filter(|p| kind(p) == k)
            .nth(n)
            .unwrap_or_else(|| panic!("we sent no {k} #{n}: {kinds:?}"))
            .clone()
    };
    for (ours, seq, what) in [
        (nth("load characters", 0), 34, "add characters"),
        (
            nth("conversation update", 1),
            36,
            "start a group conversation",
        ),
        (nth("text", 0), 38, "text in the group"),
        (nth("trigger", 0), 45, "next turn"),
        (nth("conversation update", 2), 52, "update participants"),
        (nth("unload characters", 0), 54, "remove characters"),
        (nth("create items", 0), 60, "create items"),
        (nth("items in entities", 0), 61, "items in entities"),
        (nth("remove items", 0), 62, "remove items"),
        (
            nth("session configuration", 1),
            77,
            "scene change configuration",
        ),
        (nth("load scene", 1), 78, "scene change"),
    ] {
        assert_eq!(
            normalize(ours),
            normalize(sdk_packet(seq)),
            "{what} differs from the SDK's (seq {seq})"
        );
    }
}

/// An audio session (push-to-talk, full understanding, as the SDK's capture
/// run): its start, an audio chunk and its end, as the SDK sent them.
#[test]
fn audio_session_packets_match_the_sdks() {
    use inworld::client::{AudioFormat, AudioSessionConfig, MicrophoneMode, UnderstandingMode};
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    let session_id = session.session_id().unwrap();
    let mut input = session
        .audio_input(AudioFormat {
            rate: 16_000,
            channels: 1,
        })
        .unwrap();
    session
        .start_audio_session(AudioSessionConfig {
            mode: MicrophoneMode::PushToTalk,
            understanding: UnderstandingMode::Full,
        })
        .unwrap();
    assert_eq!(input.push_i16(&[1_000; 1_600]), Ok(1_600));
    session.end_audio_session().unwrap();
    wait_for(&session, "the speech's reply", |p| {
        matches!(&p.body, inworld::packet::PacketBody::Control(c)
            if c.action == inworld::packet::ControlAction::InteractionEnd)
    });
    session.close();

    let ours = sent_in(&engine, &session_id);
    let kinds: Vec<&str> = ours.iter().map(kind).collect();
    let audio: Vec<&str> = kinds
        .iter()
        .copied()
        .filter(|k| k.starts_with("audio"))
        .collect();
    assert_eq!(
        audio,
        ["audio session start", "audio", "audio session end"],
        "{kinds:?}"
    );
    let first = |k: &str| ours.iter().find(|p| kind(p) == k).unwrap().clone();
    for (k, seq) in [
        ("audio session start", 21),
        ("audio", 22),
        ("audio session end", 23),
    ] {
        assert_eq!(
            normalize(first(k)),
            normalize(sdk_packet(seq)),
            "{k} differs from the SDK's (seq {seq})"
        );
    }
}

/// Playback controls: mute and unmute in the one-to-one conversation, and
/// cancelling a reply, addressed to the current character, as the SDK sent
/// them.
#[test]
fn mute_and_cancel_packets_match_the_sdks() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    let session_id = session.session_id().unwrap();
    session.mute_speech(true).unwrap();
    session.mute_speech(false).unwrap();
    session
        .cancel_responses("interaction-to-cancel", &["utt-1", "utt-2"])
        .unwrap();
    // Something answered after them: they all went out before it.
    reply_to(&session, &session.send_text("hello").unwrap());
    session.close();
    let ours = sent_in(&engine, &session_id);
    let find = |k: &str| {
        ours.iter()
            .find(|p| kind(p) == k)
            .unwrap_or_else(|| panic!("we sent no {k}"))
            .clone()
    };
    for (ours, seq, what) in [
        (find("mute"), 31, "mute"),
        (find("unmute"), 32, "unmute"),
        (find("cancel responses"), 33, "cancel responses"),
    ] {
        assert_eq!(normalize(ours), normalize(sdk_packet(seq)), "{what}");
    }
}
