//! Bad input never brings the engine down: each case gets a clear status or
//! a warning packet, and other sessions carry on.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod engine_support;

use engine_support::*;
use inworld::engine::Workspace;
use inworld::protocol::ai::inworld::engine::configuration::CapabilitiesConfiguration;
use inworld::protocol::ai::inworld::packets::*;
use inworld::protocol::status::{details_of, ErrorType, ReconnectionType};
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

/// A message that is not a valid InworldPacket: field 2 (text) holds bytes
/// that do not decode as a TextEvent.
#[derive(Clone, PartialEq, prost::Message)]
struct Garbage {
    #[prost(bytes = "vec", tag = "2")]
    text: Vec<u8>,
}

async fn open_garbage(
    engine: &inworld::engine::RunningEngine,
    token: &str,
    session: &str,
    message: Garbage,
) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel(engine).await);
    grpc.ready().await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(message).await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/ai.inworld.engine.WorldEngine/OpenSession",
    );
    let codec = tonic_prost::ProstCodec::<Garbage, InworldPacket>::default();
    let response = grpc
        .streaming(
            bearer(ReceiverStream::new(rx), token, Some(session)),
            path,
            codec,
        )
        .await;
    let mut stream = match response {
        Ok(r) => r.into_inner(),
        Err(s) => return s,
    };
    loop {
        match tokio::time::timeout(WAIT, stream.message()).await.unwrap() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended without an error"),
            Err(s) => return s,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_oversized_messages_end_only_their_stream() {
    let mut config = test_config(Workspace::test_scenes());
    config.max_message_bytes = 64 * 1024;
    let engine = start(config);
    let mut other = ready(&engine, caps_text()).await;

    let t = token(&engine).await;
    let s = open_garbage(
        &engine,
        &t.token,
        &t.session_id,
        Garbage {
            text: vec![0xff; 8],
        },
    )
    .await;
    assert_eq!(s.code(), Code::Internal, "{s:?}");
    assert!(s.message().to_lowercase().contains("decode"), "{s:?}");

    let s = open_garbage(
        &engine,
        &t.token,
        &t.session_id,
        Garbage {
            text: vec![0x0a; 100 * 1024],
        },
    )
    .await;
    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");

    // The other session is unharmed, and the bad one can be reopened.
    other.stream.send(text(&other.conversation, "hello")).await;
    assert!(!texts(&other.stream.reply().await).is_empty());
    let mut s = try_open(&engine, &t.token, &t.session_id).await.unwrap();
    s.send(load_scene(SCENE)).await;
    assert!(scene_status(&s.packet().await).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn packets_before_the_scene_get_warnings_and_the_stream_goes_on() {
    let engine = test_engine();
    let t = token(&engine).await;
    let mut s = try_open(&engine, &t.token, &t.session_id).await.unwrap();
    for p in [
        text("", "hello?"),
        conversation_update("c", &["someone"], true),
        build(
            Some(from_player()),
            ids(""),
            inworld_packet::Packet::Mutation(MutationEvent {
                mutation: Some(mutation_event::Mutation::LoadCharacters(
                    LoadCharacters::default(),
                )),
            }),
        ),
        control("c", control_event::Action::AudioSessionEnd),
        InworldPacket::default(),
        build(
            Some(from_player()),
            ids(""),
            inworld_packet::Packet::DebugInfo(DebugInfoEvent::default()),
        ),
        control("", control_event::Action::InteractionEnd),
    ] {
        s.send(p).await;
        let warning = s.packet().await;
        assert!(
            is_control(&warning, control_event::Action::Warning),
            "expected a warning, got {warning:?}"
        );
        let Some(inworld_packet::Packet::Control(c)) = &warning.packet else {
            unreachable!()
        };
        assert!(!c.description.is_empty());
    }
    s.send(load_scene(SCENE)).await;
    assert!(scene_status(&s.packet().await).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_conversations_characters_and_scenes_are_reported() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    let warning = |p: &InworldPacket| match &p.packet {
        Some(inworld_packet::Packet::Control(c))
            if c.action == control_event::Action::Warning as i32 =>
        {
            c.description.clone()
        }
        _ => panic!("expected a warning, got {p:?}"),
    };

    r.stream.send(text("no-such-conversation", "hi")).await;
    assert!(warning(&r.stream.packet().await).contains("unknown conversation"));

    r.stream
        .send(conversation_update("c2", &["nobody"], true))
        .await;
    assert!(warning(&r.stream.packet().await).contains("nobody"));
    assert!(warning(&r.stream.packet().await).contains("no known characters"));

    let mut t = trigger(&r.conversation, "greet", &[]);
    t.routing.as_mut().unwrap().target = Some(Actor {
        r#type: actor::Type::Agent as i32,
        name: "ghost".into(),
    });
    r.stream.send(t).await;
    assert!(warning(&r.stream.packet().await).contains("ghost"));

    r.stream
        .send(load_characters("workspaces/test-ws/characters/zed"))
        .await;
    assert!(warning(&r.stream.packet().await).contains("zed"));
    assert_eq!(
        scene_status(&r.stream.packet().await).unwrap().agents.len(),
        2
    );

    // The session still works.
    r.stream.send(text(&r.conversation, "hello")).await;
    assert!(!texts(&r.stream.reply().await).is_empty());

    // An unknown scene ends the stream with NOT_FOUND and resource details.
    r.stream
        .send(load_scene("workspaces/test-ws/scenes/nowhere"))
        .await;
    let s = r.stream.error().await;
    assert_eq!(s.code(), Code::NotFound);
    let d = details_of(&s).unwrap();
    assert_eq!(d.error_type(), Some(ErrorType::ResourceNotFound));
    assert_eq!(
        d.resource_id.as_deref(),
        Some("workspaces/test-ws/scenes/nowhere")
    );

    // Another workspace's scene: PERMISSION_DENIED; a malformed name: INVALID_ARGUMENT.
    let mut s = try_open(&engine, &r.token, &r.session_id).await.unwrap();
    s.send(load_scene("workspaces/other/scenes/x")).await;
    assert_eq!(s.error().await.code(), Code::PermissionDenied);
    let mut s = try_open(&engine, &r.token, &r.session_id).await.unwrap();
    s.send(load_scene("just-a-name")).await;
    assert_eq!(s.error().await.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_injected_error_carries_inworld_details_and_the_session_survives() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    r.stream.send(text(&r.conversation, "please fail")).await;
    let s = r.stream.error().await;
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert_eq!(s.message(), "session paused for test");
    let d = details_of(&s).expect("details");
    assert_eq!(d.error_type(), Some(ErrorType::SessionPaused));
    assert_eq!(d.reconnect_type, ReconnectionType::Immediate);
    assert_eq!(d.max_retries, 3);
    assert!(d.reconnect_time.is_some());

    let mut s = try_open(&engine, &r.token, &r.session_id).await.unwrap();
    s.send(conversation_update(&r.conversation, &[&r.agents[0]], true))
        .await;
    s.packet().await;
    s.send(text(&r.conversation, "hello again")).await;
    assert!(!texts(&s.reply().await).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_legacy_session_control_configures_a_session() {
    let engine = test_engine();
    let t = token(&engine).await;
    let mut s = try_open(&engine, &t.token, &t.session_id).await.unwrap();
    s.send(build(
        Some(player_to_world()),
        ids(""),
        inworld_packet::Packet::SessionControl(SessionControlEvent {
            session_control: Some(
                session_control_event::SessionControl::CapabilitiesConfiguration(
                    CapabilitiesConfiguration {
                        emotions: true,
                        ..Default::default()
                    },
                ),
            ),
        }),
    ))
    .await;
    s.send(load_scene(SCENE)).await;
    let status = s.packet().await;
    let alice = scene_status(&status).unwrap().agents[0].agent_id.clone();
    s.send(conversation_update("c", &[&alice], true)).await;
    s.packet().await;
    s.send(text("c", "hello")).await;
    let reply = s.reply().await;
    assert_eq!(
        count(&reply, |b| matches!(b, inworld_packet::Packet::Emotion(_))),
        1
    );
    assert_eq!(
        count(&reply, |b| matches!(
            b,
            inworld_packet::Packet::DataChunk(_)
        )),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn received_packets_are_recorded_per_session_in_order() {
    let mut config = test_config(Workspace::test_scenes());
    config.record = true;
    let engine = start(config);
    let mut r = ready(&engine, caps_text()).await;
    r.stream.send(text(&r.conversation, "hello")).await;
    r.stream.reply().await;
    let packets = engine.received_packets();
    assert_eq!(packets.len(), 4);
    assert!(packets.iter().all(|(s, _)| s == &r.session_id));
    assert!(matches!(
        packets[1].1.packet,
        Some(inworld_packet::Packet::Mutation(_))
    ));
    assert!(matches!(
        packets[3].1.packet,
        Some(inworld_packet::Packet::Text(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_ends_streams_and_releases_the_port() {
    let engine = test_engine();
    let addr = engine.addr();
    let mut r = ready(&engine, caps_text()).await;
    engine.stop();
    let s = r.stream.error().await;
    assert!(
        matches!(
            s.code(),
            Code::Unavailable | Code::Cancelled | Code::Unknown
        ),
        "{s:?}"
    );
    // The port is free again.
    let mut bound = false;
    for _ in 0..50 {
        if std::net::TcpListener::bind(addr).is_ok() {
            bound = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(bound, "port {addr} still taken");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_inputs_is_bounded_and_reported() {
    let mut config = test_config(Workspace::test_scenes());
    config.pacing = inworld::engine::Pacing::Human;
    let engine = start(config);
    let mut r = ready(&engine, caps_text()).await;
    let tx = r.stream.tx.clone();
    let conversation = r.conversation.clone();
    tokio::spawn(async move {
        for _ in 0..400 {
            if tx.send(text(&conversation, "hello")).await.is_err() {
                break;
            }
        }
    });
    let dropped = r
        .stream
        .until(|p| matches!(&p.packet, Some(inworld_packet::Packet::Control(c)) if c.description.contains("was dropped")))
        .await;
    assert!(!dropped.is_empty());
    // Other sessions are served meanwhile.
    let mut other = ready(&engine, caps_text()).await;
    other.stream.send(text(&other.conversation, "hello")).await;
    assert!(!texts(&other.stream.reply().await).is_empty());
}
