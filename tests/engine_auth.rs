//! GenerateToken's IW1 check and the bearer tokens of OpenSession.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod engine_support;

use engine_support::*;
use inworld::auth::{self, Credentials};
use inworld::engine::Workspace;
use inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
use inworld::protocol::status::{details_of, ErrorType};
use std::time::Duration;
use tonic::{Code, Request};

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_request_gets_a_bearer_token_for_a_new_session() {
    let engine = test_engine();
    let t = token(&engine).await;
    assert_eq!(t.r#type, "Bearer");
    assert!(t.token.len() >= 32);
    assert!(t.session_id.starts_with("test-ws:"));
    let expires = t.expiration_time.expect("expiration_time is set").seconds;
    let now = ts().seconds;
    assert!(expires > now + 3000 && expires <= now + 3601);
    let again = token(&engine).await;
    assert_ne!(again.token, t.token);
    assert_ne!(again.session_id, t.session_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_signatures_are_refused_with_clear_messages() {
    let engine = test_engine();
    let host = engine.addr().to_string();
    let creds = engine.credentials().clone();
    let mut client = WorldEngineClient::new(channel(&engine).await);
    let refused = |r: Result<_, tonic::Status>, what: &str| {
        let s = r.expect_err(what);
        assert_eq!(s.code(), Code::Unauthenticated, "{what}: {s:?}");
        s.message().to_string()
    };

    let wrong_secret = Credentials::new(creds.key.clone(), "not-the-secret");
    let m = refused(
        client
            .generate_token(signed(
                token_request("test-ws", &creds),
                &wrong_secret,
                &host,
            ))
            .await,
        "wrong secret",
    );
    assert!(m.contains("signature"), "{m}");

    let m = refused(
        client
            .generate_token(signed(
                token_request("test-ws", &creds),
                &creds,
                "example.com:1",
            ))
            .await,
        "other host",
    );
    assert!(m.contains("signature"), "{m}");

    let unknown = Credentials::new("who", "x");
    let m = refused(
        client
            .generate_token(signed(token_request("test-ws", &unknown), &unknown, &host))
            .await,
        "unknown key",
    );
    assert!(m.contains("unknown API key"), "{m}");

    let mut old = Request::new(token_request("test-ws", &creds));
    old.metadata_mut().insert(
        "authorization",
        auth::header_at(&creds, &host, "20200101000000", "0123456789a")
            .parse()
            .unwrap(),
    );
    let m = refused(client.generate_token(old).await, "old DateTime");
    assert!(m.contains("15 minutes"), "{m}");

    let header = auth::authorization_header(&creds, &host);
    for attempt in 0..2 {
        let mut req = Request::new(token_request("test-ws", &creds));
        req.metadata_mut()
            .insert("authorization", header.parse().unwrap());
        let r = client.generate_token(req).await;
        if attempt == 0 {
            r.expect("first use of the nonce");
        } else {
            let m = refused(r, "reused nonce");
            assert!(m.contains("nonce"), "{m}");
        }
    }

    let m = refused(
        client
            .generate_token(Request::new(token_request("test-ws", &creds)))
            .await,
        "no header",
    );
    assert!(m.contains("missing"), "{m}");

    let mut garbage = Request::new(token_request("test-ws", &creds));
    garbage
        .metadata_mut()
        .insert("authorization", "Basic abc".parse().unwrap());
    let m = refused(client.generate_token(garbage).await, "garbage");
    assert!(m.contains("malformed"), "{m}");

    let s = client
        .generate_token(signed(token_request("other-ws", &creds), &creds, &host))
        .await
        .expect_err("unknown workspace");
    assert_eq!(s.code(), Code::NotFound);
    assert_eq!(
        details_of(&s).unwrap().error_type(),
        Some(ErrorType::ResourceNotFound)
    );

    // The engine is still fine.
    token(&engine).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn several_key_pairs_are_accepted() {
    let mut config = test_config(Workspace::test_scenes());
    let second = Credentials::new("second-key", "second-secret");
    config.credentials.push(second.clone());
    let engine = start(config);
    let host = engine.addr().to_string();
    let mut client = WorldEngineClient::new(channel(&engine).await);
    client
        .generate_token(signed(token_request("test-ws", &second), &second, &host))
        .await
        .expect("second pair works");
}

#[tokio::test(flavor = "multi_thread")]
async fn open_session_checks_token_and_session_id() {
    let mut config = test_config(Workspace::test_scenes());
    config.token_ttl = Duration::from_millis(400);
    let engine = start(config);
    let t = token(&engine).await;

    let status_of = |r: Result<Stream, tonic::Status>| match r {
        Ok(_) => panic!("stream should be refused"),
        Err(s) => s,
    };
    let s = status_of(try_open(&engine, "nonsense", &t.session_id).await);
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(
        details_of(&s).unwrap().error_type(),
        Some(ErrorType::SessionTokenInvalid)
    );

    // Missing authorization / session-id.
    let mut client = WorldEngineClient::new(channel(&engine).await);
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let s = client
        .open_session(Request::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
        .await
        .expect_err("no authorization");
    assert_eq!(s.code(), Code::Unauthenticated);
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let s = client
        .open_session(bearer(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            &t.token,
            None,
        ))
        .await
        .expect_err("no session id");
    assert_eq!(s.code(), Code::InvalidArgument);

    // A session of another workspace.
    let s = status_of(try_open(&engine, &t.token, "other-ws:1234").await);
    assert_eq!(s.code(), Code::PermissionDenied);

    // A fresh token keeps the old session id (the SDK's refresh).
    let t2 = token(&engine).await;
    let mut stream = try_open(&engine, &t2.token, &t.session_id)
        .await
        .expect("a new token may open the old session");
    stream.send(load_scene(SCENE)).await;
    assert!(scene_status(&stream.packet().await).is_some());

    // Expired token.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = status_of(try_open(&engine, &t.token, &t.session_id).await);
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(
        details_of(&s).unwrap().error_type(),
        Some(ErrorType::SessionTokenExpired)
    );
    assert!(s.message().contains("expired"));
}
