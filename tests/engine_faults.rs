//! Faults a client test can ask the engine for: OpenSession's response
//! headers held back until the client's first packet, and the engine going
//! away and coming back on the same port.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod engine_support;

use engine_support::*;
use inworld::engine::Workspace;
use inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

#[tokio::test(flavor = "multi_thread")]
async fn open_session_headers_can_wait_for_the_clients_first_packet() {
    let mut config = test_config(Workspace::test_scenes());
    config.faults.open_session_headers_after_first_packet = true;
    let engine = start(config);
    let t = token(&engine).await;
    let mut client = WorldEngineClient::new(channel(&engine).await);
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let request = bearer(ReceiverStream::new(rx), &t.token, Some(&t.session_id));
    let call = tokio::spawn(async move { client.open_session(request).await });

    // The client writes nothing: no response headers, so the call is not done.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !call.is_finished(),
        "the headers came before the first packet"
    );

    tx.send(configuration(caps_text(), None)).await.unwrap();
    tx.send(load_scene(SCENE)).await.unwrap();
    let mut rx = tokio::time::timeout(WAIT, call)
        .await
        .expect("headers after the first packet")
        .unwrap()
        .expect("the stream opens")
        .into_inner();
    // Both packets were handled: the scene is loaded.
    let status = tokio::time::timeout(WAIT, rx.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(scene_status(&status).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspended_engine_comes_back_on_the_same_port_with_its_sessions() {
    let engine = test_engine();
    let addr = engine.addr();
    let mut r = ready(&engine, caps_text()).await;
    r.stream.send(text(&r.conversation, "my name is Zed")).await;
    r.stream.reply().await;

    engine.suspend();
    let s = r.stream.error().await;
    assert!(
        matches!(
            s.code(),
            Code::Unavailable | Code::Cancelled | Code::Unknown
        ),
        "{s:?}"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "nothing listens while suspended"
    );
    assert_eq!(engine.open_connections(), 0);

    engine.resume().unwrap();
    assert_eq!(engine.addr(), addr);
    // The same token and session id carry on where they were.
    let mut s = try_open(&engine, &r.token, &r.session_id).await.unwrap();
    s.send(conversation_update(&r.conversation, &[&r.agents[0]], true))
        .await;
    s.packet().await;
    s.send(text(&r.conversation, "do you remember?")).await;
    assert_eq!(
        texts(&s.reply().await),
        ["I remember.", "You said: my name is Zed"]
    );
}
