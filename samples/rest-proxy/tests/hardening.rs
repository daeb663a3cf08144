//! The proxy probed from outside as an attacker or an unlucky network
//! would: lost and refused messages, held connections, invented methods,
//! long ids, session floods, the token, closed sessions' events. Waits
//! poll conditions; their limits only catch hangs.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use inworld::engine::{EngineConfig, Pacing, RunningEngine, Workspace};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{settled, start, LIMIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_placeholder_character_and_404_for_unserved_methods() {
    let proxy = start(&[]).await;
    // "-1": the scene's default character, as the original.
    let opened = proxy
        .open(json!({"uid": "u", "sceneId": "tavern", "characterId": "-1"}))
        .await;
    assert_eq!(opened["character"]["displayName"], "Marta");
    let id = opened["sessionId"].as_str().unwrap();
    // A known path with a method it does not serve: the original's 404 JSON.
    for (method, path) in [
        ("GET", "/session/open".to_string()),
        ("DELETE", format!("/session/{id}/close")),
        ("POST", "/status".to_string()),
        ("PUT", format!("/session/{id}/message")),
        ("POST", "/events".to_string()),
    ] {
        let r = proxy
            .http
            .request(method.parse().unwrap(), format!("{}{path}", proxy.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            r.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        assert_eq!(r.text().await.unwrap(), "\"Route Not Found\"");
    }
    // The session is still there: the DELETE did not close it.
    assert_eq!(
        proxy.get(&format!("/session/{id}/status")).await,
        (StatusCode::OK, "true".into())
    );
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_ends_in_an_event_and_a_turn_answers_at_once() {
    let proxy = start(&[]).await;
    let opened = proxy.open(json!({"uid": "u", "sceneId": "tavern"})).await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    // Over the engine's text limit, under the proxy's body limit.
    let long = "a".repeat(5000);
    let r = proxy
        .http
        .post(format!("{}/session/{id}/message", proxy.base))
        .json(&json!({ "message": long }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let interaction = r.headers()["interaction-id"].to_str().unwrap().to_string();
    let events = proxy
        .events_until("/events", |e| settled(e, &interaction))
        .await;
    let failed = events
        .iter()
        .find(|e| e["type"] == "sendFailed")
        .unwrap_or_else(|| panic!("no sendFailed: {events:?}"));
    assert_eq!(failed["interactionId"], interaction.as_str());
    assert_eq!(failed["sessionId"], id.as_str());
    assert_eq!(failed["reason"], "refused");
    assert!(
        failed["message"].as_str().unwrap().contains("refused"),
        "{failed}"
    );
    // A turn with the same: 502 with why, long before its timeout.
    let (status, text) = proxy
        .post_json(
            &format!("/session/{id}/turn?timeout=120000"),
            json!({ "message": long }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{text}");
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["finished"], false);
    assert_eq!(reply["failed"]["reason"], "refused");
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_cut_by_an_engine_restart_are_reported() {
    // An engine of our own that talks at a human pace, so a reply is cut
    // when it goes away right after the message is accepted.
    let workspace = Workspace::default_scenes();
    let scene = workspace.scene_names().into_iter().next().unwrap();
    let mut config = EngineConfig::new(workspace);
    config.pacing = Pacing::Human;
    let engine = RunningEngine::start_dedicated(config).unwrap();
    let addr = engine.addr().to_string();
    let proxy = start(&[
        ("INWORLD_KEY", "test-api-key"),
        ("INWORLD_SECRET", "test-api-secret"),
        ("INWORLD_HOST", addr.as_str()),
        ("INWORLD_SCENE", scene.as_str()),
    ])
    .await;
    let opened = proxy.open(json!({"uid": "u", "sceneId": "tavern"})).await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    // Every accepted message ends in its reply or a sendFailed; on a
    // machine fast enough to finish a reply before the restart, try again.
    let mut cut = None;
    for _ in 0..5 {
        let r = proxy
            .http
            .post(format!("{}/session/{id}/message", proxy.base))
            .json(&json!({"message": "tell me a long story"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let interaction = r.headers()["interaction-id"].to_str().unwrap().to_string();
        engine.suspend();
        engine.resume().unwrap();
        let events = proxy
            .events_until(&format!("/session/{id}/events"), |e| {
                settled(e, &interaction)
            })
            .await;
        if let Some(failed) = events
            .iter()
            .find(|e| e["type"] == "sendFailed" && e["interactionId"] == interaction.as_str())
        {
            cut = Some(failed.clone());
            break;
        }
    }
    let failed = cut.expect("one of five replies was cut by the restart");
    assert_eq!(failed["reason"], "maybeSent", "{failed}");
    proxy.stop().await.stop();
    engine.stop();
}

/// Reads until the server closes the connection (true), or `limit` passes.
fn closed_by_server(stream: &mut std::net::TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_connections_are_closed_and_the_limit_holds() {
    let proxy = start(&[("HEADER_TIMEOUT", "300"), ("MAX_CONNECTIONS", "40")]).await;
    let addr = proxy.addr;
    let held = tokio::task::spawn_blocking(move || {
        let mut held = Vec::new();
        for i in 0..120 {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            if i % 2 == 0 {
                // Slowloris: a request head that never ends.
                stream
                    .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n")
                    .unwrap();
            }
            held.push(stream);
        }
        // Every one of them is closed: over the limit at once, the others
        // when their head did not come in time.
        for (i, stream) in held.iter_mut().enumerate() {
            assert!(closed_by_server(stream, LIMIT), "connection {i} was kept");
        }
        held
    })
    .await
    .unwrap();
    // A dribbler (a byte at a time) is closed too: the timeout is for the
    // whole head, not between bytes.
    let dribbled = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let start = Instant::now();
        while start.elapsed() < LIMIT {
            if stream.write_all(b"X").is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
            stream.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 64];
            let gone = matches!(stream.read(&mut buf), Ok(0) | Ok(_));
            stream.set_nonblocking(false).unwrap();
            if gone {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(dribbled, "the dribbling connection was kept");
    // With those still held by the client, the proxy answers.
    assert_eq!(proxy.get("/status").await, (StatusCode::OK, "OK".into()));
    drop(held);
    // An idle keep-alive connection is closed after its answer too.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(closed_by_server(&mut stream, LIMIT));
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_gets_a_408() {
    let proxy = start(&[("BODY_TIMEOUT", "300")]).await;
    let addr = proxy.addr;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"POST /session/open HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            .unwrap();
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        let mut answer = vec![0u8; 4096];
        let n = stream.read(&mut answer).unwrap();
        String::from_utf8_lossy(&answer[..n]).to_string()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_label_only_known_methods_and_count_refused_tokens_plainly() {
    let proxy = start(&[("PROXY_TOKEN", "s3cret")]).await;
    for i in 0..30 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        let r = proxy
            .http
            .request(method.clone(), format!("{}/status", proxy.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        // Without the token, on a protected path.
        proxy
            .http
            .request(method, format!("{}/events/{i}", proxy.base))
            .send()
            .await
            .unwrap();
    }
    let text = proxy
        .http
        .get(format!("{}/metrics", proxy.base))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("INVENTED"), "{text}");
    assert!(
        text.contains(
            "inworld_proxy_requests_total{method=\"OTHER\",route=\"/status\",status=\"404\"} 30"
        ),
        "{text}"
    );
    assert!(
        text.contains("inworld_proxy_unauthorized_total 30"),
        "{text}"
    );
    assert!(!text.contains("status=\"401\""), "{text}");
    assert!(text.lines().count() < 30, "{text}");
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_scheme_in_any_case() {
    let proxy = start(&[("PROXY_TOKEN", "s3cret")]).await;
    for (header, expected) in [
        ("Bearer s3cret", StatusCode::OK),
        ("bearer s3cret", StatusCode::OK),
        ("BEARER s3cret", StatusCode::OK),
        ("Bearer s3cre", StatusCode::UNAUTHORIZED),
        ("Bearer s3crett", StatusCode::UNAUTHORIZED),
        ("Basic s3cret", StatusCode::UNAUTHORIZED),
        ("s3cret", StatusCode::UNAUTHORIZED),
    ] {
        let r = proxy
            .http
            .get(format!("{}/events", proxy.base))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "{header}");
    }
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_sessions_and_opens_are_bounded() {
    let proxy = start(&[
        ("MAX_SESSIONS_PER_UID", "2"),
        ("MAX_SESSIONS", "3"),
        ("RATE_LIMIT", "4"),
    ])
    .await;
    // Long ids: 400, as the original's validation words it.
    let long = "u".repeat(129);
    let (status, text) = proxy
        .post_json("/session/open", json!({"uid": long, "sceneId": "tavern"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("\"uid\" length must be"), "{text}");
    let (status, _) = proxy
        .post_json(
            "/session/open",
            json!({"uid": "u", "sceneId": "tavern", "serverId": long}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Two sessions per uid: the third is refused.
    let first = proxy
        .open(json!({"uid": "a", "sceneId": "tavern", "serverId": "1"}))
        .await;
    proxy
        .open(json!({"uid": "a", "sceneId": "tavern", "serverId": "2"}))
        .await;
    let (status, text) = proxy
        .post_json(
            "/session/open",
            json!({"uid": "a", "sceneId": "tavern", "serverId": "3"}),
        )
        .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::CONFLICT, "\"Unable to create session\"")
    );
    // Moving to a long server id: 400.
    let id = first["sessionId"].as_str().unwrap();
    let (status, _) = proxy.get(&format!("/session/{id}/server/{long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Three in all: a fourth of another uid is refused.
    proxy.open(json!({"uid": "b", "sceneId": "tavern"})).await;
    let (status, _) = proxy
        .post_json("/session/open", json!({"uid": "c", "sceneId": "tavern"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Opens are rate limited per uid (4 a minute): "a" has used 3.
    proxy.get(&format!("/session/{id}/close")).await;
    let (status, _) = proxy
        .post_json(
            "/session/open",
            json!({"uid": "a", "sceneId": "tavern", "serverId": "4"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, text) = proxy
        .post_json(
            "/session/open",
            json!({"uid": "a", "sceneId": "tavern", "serverId": "5"}),
        )
        .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "\"Too Many Requests\"")
    );
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_sessions_events_expire_without_a_drain() {
    let proxy = start(&[("CLOSED_EVENTS_TTL", "200")]).await;
    let opened = proxy.open(json!({"uid": "u", "sceneId": "tavern"})).await;
    let id = opened["sessionId"].as_str().unwrap();
    assert_eq!(
        proxy.get(&format!("/session/{id}/close")).await.0,
        StatusCode::OK
    );
    // Its disconnected event waits, then goes, with nobody draining.
    let start = Instant::now();
    loop {
        let (_, text) = proxy.get("/metrics").await;
        if text.contains("inworld_proxy_events_queued 0") {
            break;
        }
        assert!(start.elapsed() < LIMIT, "never expired: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(proxy.get("/events").await.1, "[]");
    proxy.stop().await.stop();
}
