//! The proxy over real HTTP (reqwest) on a free loopback port, with the local
//! engine's demo tavern behind it: the original's routes, status codes,
//! bodies and events, and our additions. Waits poll conditions; their limits
//! only catch hangs.

use reqwest::StatusCode;
use serde_json::{json, Value};

/// Nothing here; `tests/routes_on_redis.rs` runs these tests with Redis.
#[allow(dead_code)]
fn extra_env() -> Vec<(String, String)> {
    Vec::new()
}

#[path = "support/mod.rs"]
pub(crate) mod support;

use support::{Running, LIMIT};

/// A proxy with `env` and what the running test binary adds to it.
async fn start(env: &[(&str, &str)]) -> Running {
    let extra = crate::extra_env();
    let mut all: Vec<(&str, &str)> = env.to_vec();
    all.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    support::start(&all).await
}

fn ended(events: &[Value], session: &str) -> bool {
    events
        .iter()
        .any(|e| e["type"] == "interactionEnd" && e["sessionId"] == session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_routes_bodies_and_events() {
    let proxy = start(&[("EMOTIONS", "true")]).await;
    assert_eq!(
        proxy.get("/").await,
        (StatusCode::OK, "Inworld.AI RESTful Server".into())
    );
    assert_eq!(proxy.get("/status").await, (StatusCode::OK, "OK".into()));
    assert_eq!(
        proxy.get("/no/such/route").await,
        (StatusCode::NOT_FOUND, "\"Route Not Found\"".into())
    );

    // Open: the engine's real session id, the current character, all of them.
    let opened = proxy.open(json!({"uid": "player-1", "sceneId": "tavern", "serverId": "server-a", "playerName": "Ada"})).await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    let (workspace, uuid) = id.split_once(':').expect("<workspace>:<uuid>");
    assert_eq!((workspace, uuid.len()), ("demo", 36), "{id}");
    assert_eq!(opened["character"]["displayName"], "Marta");
    assert_eq!(
        opened["character"]["resourceName"],
        "workspaces/demo/characters/innkeeper"
    );
    assert_eq!(opened["characters"].as_array().unwrap().len(), 3);

    // The same uid, scene, character and server again: refused.
    let (status, text) = proxy.post_json("/session/open", json!({"uid": "player-1", "sceneId": "tavern", "serverId": "server-a", "playerName": "Ada"})).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::CONFLICT, "\"Unable to create session\"")
    );
    // A scene that does not exist: refused at once.
    let (status, _) = proxy
        .post_json(
            "/session/open",
            json!({"uid": "p", "sceneId": "no-such-scene"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A message: accepted, and the reply comes as events of this server.
    let (status, text) = proxy
        .post_json(
            &format!("/session/{id}/message"),
            json!({"message": "hello"}),
        )
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::ACCEPTED, "Accepted"));
    let events = proxy
        .events_until("/events/server-a", |e| ended(e, &id))
        .await;
    let texts: Vec<&Value> = events.iter().filter(|e| e["type"] == "text").collect();
    assert!(!texts.is_empty(), "{events:?}");
    for e in &texts {
        assert_eq!(e["sessionId"], id.as_str());
        assert_eq!(e["uid"], "player-1");
        assert_eq!(e["serverId"], "server-a");
        assert_eq!(e["final"], true);
        assert_eq!(e["character"], "workspaces/demo/characters/innkeeper");
        assert!(e["interactionId"].as_str().is_some_and(|i| i.len() == 36));
    }
    assert!(
        texts
            .iter()
            .any(|e| e["text"].as_str().unwrap().contains("Ada")),
        "{texts:?}"
    );
    assert!(
        !events.iter().any(|e| e["text"] == "hello"),
        "the player's own text is no event"
    );
    let emotion = events
        .iter()
        .find(|e| e["type"] == "emotion")
        .expect("an emotion event");
    assert!(
        emotion["behavior"]
            .as_str()
            .unwrap()
            .chars()
            .next()
            .unwrap()
            .is_uppercase(),
        "{emotion}"
    );
    // The scores the engine sent with the behavior, passed through.
    let scores: Vec<f64> = ["joy", "fear", "trust", "surprise"]
        .iter()
        .map(|k| emotion[k].as_f64().expect("a number"))
        .collect();
    assert!(scores.iter().any(|s| *s > 0.0), "{emotion}");
    // Drained means gone.
    assert_eq!(
        proxy.get("/events/server-a").await,
        (StatusCode::OK, "[]".into())
    );

    // A drink: the character's trigger comes as a custom event.
    proxy
        .post_json(
            &format!("/session/{id}/message"),
            json!({"message": "a drink, please"}),
        )
        .await;
    let events = proxy.events_until("/events", |e| ended(e, &id)).await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "custom" && e["name"] == "serve_drink"),
        "{events:?}"
    );
    // A trigger of ours, by the custom route.
    let (status, _) = proxy.get(&format!("/session/{id}/custom/greet")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    proxy.events_until("/events", |e| ended(e, &id)).await;

    // Characters: the list, the current one, switching (unknown: unchanged).
    let (status, text) = proxy.get(&format!("/session/{id}/characters")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&text)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let finn = "workspaces%2Fdemo%2Fcharacters%2Fbard";
    let r = proxy
        .http
        .post(format!("{}/session/{id}/character/{finn}", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["displayName"], "Finn");
    let r = proxy
        .http
        .post(format!("{}/session/{id}/character/nobody", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["displayName"], "Finn");
    let (_, text) = proxy.get(&format!("/session/{id}/character")).await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["displayName"],
        "Finn"
    );
    assert_eq!(
        proxy.get(&format!("/session/{id}/status")).await,
        (StatusCode::OK, "true".into())
    );

    // Moving to another server: later events go there.
    let (status, _) = proxy.get(&format!("/session/{id}/server/server-b")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    proxy
        .post_json(&format!("/session/{id}/message"), json!({"message": "hi"}))
        .await;
    let events = proxy
        .events_until("/events/server-b", |e| ended(e, &id))
        .await;
    assert!(
        events.iter().all(|e| e["serverId"] == "server-b"),
        "{events:?}"
    );
    assert_eq!(proxy.get("/events/server-a").await.1, "[]");

    // Unknown sessions: 404 with the original's body, on every session route.
    let missing = "demo:00000000-0000-0000-0000-000000000000";
    let not_found = format!("\"Session {missing} Not Found\"");
    for path in [
        "status",
        "characters",
        "character",
        "close",
        "custom/greet",
        "server/x",
        "events",
    ] {
        assert_eq!(
            proxy.get(&format!("/session/{missing}/{path}")).await,
            (StatusCode::NOT_FOUND, not_found.clone()),
            "{path}"
        );
    }
    let (status, text) = proxy
        .post_json(
            &format!("/session/{missing}/message"),
            json!({"message": "x"}),
        )
        .await;
    assert_eq!((status, text), (StatusCode::NOT_FOUND, not_found));

    // Close: OK, then a disconnected event, and the session is gone.
    assert_eq!(
        proxy.get(&format!("/session/{id}/close")).await,
        (StatusCode::OK, "OK".into())
    );
    let events = proxy
        .events_until("/events", |e| e.iter().any(|e| e["type"] == "disconnected"))
        .await;
    let gone = events.iter().find(|e| e["type"] == "disconnected").unwrap();
    assert_eq!(
        (gone["sessionId"].as_str(), gone["uid"].as_str()),
        (Some(id.as_str()), Some("player-1"))
    );
    assert_eq!(
        proxy.get(&format!("/session/{id}/status")).await.0,
        StatusCode::NOT_FOUND
    );

    // Close-all, of one server and then of every server.
    let a = proxy
        .open(json!({"uid": "player-2", "sceneId": "tavern", "serverId": "a"}))
        .await;
    let b = proxy
        .open(json!({"uid": "player-2", "sceneId": "tavern", "serverId": "b"}))
        .await;
    assert_eq!(
        proxy.get("/session/closeall/player-2/server/a").await,
        (StatusCode::OK, "OK".into())
    );
    assert_eq!(proxy.status_of(&a).await, StatusCode::NOT_FOUND);
    assert_eq!(proxy.status_of(&b).await, StatusCode::OK);
    assert_eq!(
        proxy.get("/session/closeall/player-2").await,
        (StatusCode::OK, "OK".into())
    );
    assert_eq!(proxy.status_of(&b).await, StatusCode::NOT_FOUND);
    let events = proxy
        .events_until("/events", |e| {
            e.iter().filter(|e| e["type"] == "disconnected").count() >= 2
        })
        .await;
    assert!(
        events.iter().any(|e| e["serverId"] == "a") && events.iter().any(|e| e["serverId"] == "b"),
        "{events:?}"
    );
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_validated_like_the_original() {
    let proxy = start(&[]).await;
    let cases = [
        (
            json!({"sceneId": "tavern"}),
            "Error validating request body. \"uid\" is required.",
        ),
        (
            json!({"uid": 5, "sceneId": "tavern"}),
            "Error validating request body. \"uid\" must be a string.",
        ),
        (
            json!({"uid": "", "sceneId": "tavern"}),
            "Error validating request body. \"uid\" is not allowed to be empty.",
        ),
        (
            json!({"uid": "u", "sceneId": "tavern", "color": "red"}),
            "Error validating request body. \"color\" is not allowed.",
        ),
        (
            json!({}),
            "Error validating request body. \"uid\" is required. \"sceneId\" is required.",
        ),
    ];
    for (body, expected) in cases {
        let (status, text) = proxy.post_json("/session/open", body.clone()).await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::BAD_REQUEST, expected),
            "{body}"
        );
    }
    let plain = proxy
        .http
        .post(format!("{}/session/open", proxy.base))
        .header("content-type", "text/plain")
        .body(r#"{"uid":"u","sceneId":"tavern"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::BAD_REQUEST);
    let malformed = proxy
        .http
        .post(format!("{}/session/open", proxy.base))
        .header("content-type", "application/json")
        .body("{\"uid\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert!(malformed
        .text()
        .await
        .unwrap()
        .starts_with("Error validating request body. "));
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_return_when_an_event_arrives() {
    let proxy = start(&[]).await;
    let opened = proxy.open(json!({"uid": "u", "sceneId": "tavern"})).await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    // Nothing queued: a long poll waits; a message's reply ends it.
    let http = proxy.http.clone();
    let url = format!("{}/events?wait=60000", proxy.base);
    let poll = tokio::spawn(async move {
        http.get(url)
            .send()
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap()
    });
    proxy
        .post_json(
            &format!("/session/{id}/message"),
            json!({"message": "hello"}),
        )
        .await;
    let events = tokio::time::timeout(LIMIT, poll)
        .await
        .expect("the long poll returned")
        .unwrap();
    assert!(!events.is_empty());
    // The long poll may have taken the whole reply (on a slow machine it
    // arrives before the poll answers); what it left is on the session's route.
    let own = format!("/session/{id}/events");
    if !ended(&events, &id) {
        proxy.events_until(&own, |e| ended(e, &id)).await;
    }
    // A session's own events route, with nothing of the first reply left.
    proxy
        .post_json(
            &format!("/session/{id}/message"),
            json!({"message": "again"}),
        )
        .await;
    proxy.events_until(&own, |e| ended(e, &id)).await;
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_swept_with_a_disconnected_event() {
    let proxy = start(&[("DISCONNECT_TIMEOUT", "300")]).await;
    let opened = proxy
        .open(json!({"uid": "idle", "sceneId": "tavern"}))
        .await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    let events = proxy
        .events_until("/events", |e| {
            e.iter()
                .any(|e| e["type"] == "disconnected" && e["sessionId"] == id.as_str())
        })
        .await;
    let gone = events.iter().find(|e| e["type"] == "disconnected").unwrap();
    assert_eq!(gone["reason"], "idle");
    assert_eq!(
        proxy.get(&format!("/session/{id}/status")).await.0,
        StatusCode::NOT_FOUND
    );
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_session() {
    let proxy = start(&[]).await;
    proxy.open(json!({"uid": "u1", "sceneId": "tavern"})).await;
    proxy.open(json!({"uid": "u2", "sceneId": "tavern"})).await;
    let stopped = proxy.stop().await;
    assert_eq!(stopped.registry.open_sessions(), 0);
    let events = stopped.registry.drain(None);
    let gone: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "disconnected")
        .collect();
    assert_eq!(gone.len(), 2, "{events:?}");
    assert!(gone
        .iter()
        .all(|e| e["reason"] == "the proxy is shutting down"));
    stopped.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_token_protects_every_route_but_the_health_checks() {
    let proxy = start(&[("PROXY_TOKEN", "s3cret")]).await;
    assert_eq!(proxy.get("/status").await.0, StatusCode::OK);
    assert_eq!(proxy.get("/").await.0, StatusCode::OK);
    assert_eq!(proxy.get("/events").await.0, StatusCode::UNAUTHORIZED);
    let wrong = proxy
        .http
        .get(format!("{}/events", proxy.base))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = proxy
        .http
        .get(format!("{}/events", proxy.base))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_turn_answers_with_the_whole_reply() {
    let proxy = start(&[("EMOTIONS", "true")]).await;
    let opened = proxy
        .open(json!({"uid": "u", "sceneId": "tavern", "playerName": "Ada"}))
        .await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    let (status, text) = proxy
        .post_json(
            &format!("/session/{id}/turn"),
            json!({"message": "a drink, please"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["finished"], true);
    assert!(reply["interactionId"]
        .as_str()
        .is_some_and(|i| i.len() == 36));
    let lines = reply["text"].as_array().unwrap();
    assert!(!lines.is_empty(), "{reply}");
    assert!(
        reply["triggers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "serve_drink"),
        "{reply}"
    );
    assert!(!reply["emotions"].as_array().unwrap().is_empty(), "{reply}");
    // Its events went to the answer, not to the queue.
    let queued: Vec<Value> = serde_json::from_str(&proxy.get("/events").await.1).unwrap();
    assert!(
        queued
            .iter()
            .all(|e| e["interactionId"] != reply["interactionId"]),
        "{queued:?}"
    );
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_rate_limits_and_body_limits() {
    let proxy = start(&[("RATE_LIMIT", "2")]).await;
    let opened = proxy
        .open(json!({"uid": "fast", "sceneId": "tavern"}))
        .await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    // Two sends a minute: the third at once is refused.
    for _ in 0..2 {
        let (status, _) = proxy
            .post_json(&format!("/session/{id}/message"), json!({"message": "hi"}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (status, text) = proxy
        .post_json(&format!("/session/{id}/message"), json!({"message": "hi"}))
        .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "\"Too Many Requests\"")
    );
    // A huge body: 413.
    let huge = "x".repeat(200 * 1024);
    let (status, _) = proxy
        .post_json("/session/open", json!({"uid": huge, "sceneId": "tavern"}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // The metrics count sessions and requests by route.
    let (status, text) = proxy.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("inworld_proxy_open_sessions 1"), "{text}");
    assert!(text.contains("inworld_proxy_events_queued "), "{text}");
    assert!(
        text.contains("inworld_proxy_requests_total{method=\"POST\",route=\"/session/{id}/message\",status=\"202\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("inworld_proxy_requests_total{method=\"POST\",route=\"/session/{id}/message\",status=\"429\"} 1"),
        "{text}"
    );
    proxy.stop().await.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_acknowledges_what_came_before_it() {
    let proxy = start(&[]).await;
    let opened = proxy
        .open(json!({"uid": "u", "sceneId": "tavern", "serverId": "s"}))
        .await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    proxy
        .post_json(&format!("/session/{id}/message"), json!({"message": "hi"}))
        .await;
    // after=0 takes nothing: polled until the reply has ended.
    let start = std::time::Instant::now();
    let given = loop {
        assert!(start.elapsed() < LIMIT, "the reply never ended");
        let (status, text) = proxy.get("/events/s?after=0&wait=500").await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let events: Vec<Value> = serde_json::from_str(&text).unwrap();
        if ended(&events, &id) {
            break events;
        }
    };
    let seqs: Vec<u64> = given.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // The session's route gives the same until they are acknowledged.
    let (_, own) = proxy.get(&format!("/session/{id}/events?after=0")).await;
    assert_eq!(serde_json::from_str::<Vec<Value>>(&own).unwrap(), given);
    let (_, rest) = proxy.get(&format!("/events/s?after={}", seqs[0])).await;
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&rest).unwrap(),
        given[1..]
    );
    let last = seqs.last().unwrap();
    assert_eq!(
        proxy.get(&format!("/events?after={last}")).await,
        (StatusCode::OK, "[]".into())
    );
    // Without a cursor, drains take as before (nothing is left).
    assert_eq!(proxy.get("/events").await, (StatusCode::OK, "[]".into()));
    proxy.stop().await.stop();
}
