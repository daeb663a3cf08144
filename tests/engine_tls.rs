//! The engine serves TLS with a PEM identity (here an rcgen self-signed certificate).
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod engine_support;

use engine_support::*;
use inworld::engine::{RunningEngine, Workspace};
use inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

#[tokio::test(flavor = "multi_thread")]
async fn tls_sessions_work_end_to_end() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = cert.cert.pem();
    let mut config = test_config(Workspace::test_scenes());
    config.tls = Some((
        cert_pem.clone().into_bytes(),
        cert.signing_key.serialize_pem().into_bytes(),
    ));
    let engine = RunningEngine::start(config, &tokio::runtime::Handle::current()).unwrap();
    let host = format!("localhost:{}", engine.addr().port());
    let channel = Channel::from_shared(format!("https://{host}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&cert_pem))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .expect("TLS handshake");
    let mut client = WorldEngineClient::new(channel.clone());
    let creds = engine.credentials().clone();
    // The signature covers the host the client dialled.
    let token = client
        .generate_token(signed(token_request("test-ws", &creds), &creds, &host))
        .await
        .expect("token over TLS")
        .into_inner();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut rx_stream = client
        .open_session(bearer(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            &token.token,
            Some(&token.session_id),
        ))
        .await
        .unwrap()
        .into_inner();
    tx.send(load_scene(SCENE)).await.unwrap();
    let status = rx_stream.message().await.unwrap().unwrap();
    assert!(scene_status(&status).is_some());

    // Plaintext clients cannot talk to it.
    let plain = Channel::from_shared(format!("http://{}", engine.addr()))
        .unwrap()
        .connect()
        .await;
    if let Ok(plain) = plain {
        let mut c = WorldEngineClient::new(plain);
        assert!(c
            .generate_token(signed(token_request("test-ws", &creds), &creds, &host))
            .await
            .is_err());
    }
}
