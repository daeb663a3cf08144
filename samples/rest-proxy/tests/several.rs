//! Several instances on one Redis (a redis-server of the test's own), one
//! engine behind them, and a client that sends each drain to the next
//! instance in turn: events queued by one instance are drained from any,
//! exactly once, in order; long polls wake whatever instance queued the
//! event. Waits poll conditions; their limits only catch hangs.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::redis_server::RedisServer;
use support::{start, Running, LIMIT};

struct Cluster {
    instances: Vec<Running>,
    next: AtomicUsize,
    engine: RunningEngine,
    redis: Option<RedisServer>,
}

async fn cluster(count: usize) -> Cluster {
    cluster_with(count, &[]).await
}

async fn cluster_with(count: usize, extra: &[(&str, &str)]) -> Cluster {
    let redis = RedisServer::start();
    let workspace = Workspace::default_scenes();
    let scene = workspace.scene_names().into_iter().next().unwrap();
    let engine = RunningEngine::start_dedicated(EngineConfig::new(workspace)).unwrap();
    let addr = engine.addr().to_string();
    let url = redis.url(0);
    let mut instances = Vec::new();
    for _ in 0..count {
        instances.push(
            start(
                &[
                    ("INWORLD_KEY", "test-api-key"),
                    ("INWORLD_SECRET", "test-api-secret"),
                    ("INWORLD_HOST", addr.as_str()),
                    ("INWORLD_SCENE", scene.as_str()),
                    ("REDIS_URL", url.as_str()),
                ]
                .into_iter()
                .chain(extra.iter().copied())
                .collect::<Vec<_>>(),
            )
            .await,
        );
    }
    Cluster {
        instances,
        next: AtomicUsize::new(0),
        engine,
        redis: Some(redis),
    }
}

impl Cluster {
    /// The next instance, round robin.
    fn any(&self) -> &Running {
        &self.instances[self.next.fetch_add(1, Ordering::Relaxed) % self.instances.len()]
    }

    async fn stop(self) {
        for instance in self.instances {
            instance.stop().await.stop();
        }
        self.engine.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_drained_from_any_instance_once_and_in_order() {
    let cluster = Arc::new(cluster(3).await);
    // Sessions opened and spoken to at their owner (each instance owns some).
    let mut sessions = Vec::new();
    for i in 0..9 {
        let owner = &cluster.instances[i % 3];
        let opened = owner
            .open(json!({"uid": format!("p{i}"), "sceneId": "tavern", "serverId": "game"}))
            .await;
        sessions.push((i % 3, opened["sessionId"].as_str().unwrap().to_string()));
    }
    // Three drainers, each sending its long polls round robin.
    // Batches as drained: concurrent drains have no order between them,
    // the events within one have.
    let drained = Arc::new(parking_lot::Mutex::new(Vec::<Vec<Value>>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut drainers = Vec::new();
    for _ in 0..3 {
        let (cluster, drained, stop) = (cluster.clone(), drained.clone(), stop.clone());
        drainers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, text) = cluster.any().get("/events/game?wait=200").await;
                assert_eq!(status, StatusCode::OK, "{text}");
                let batch: Vec<Value> = serde_json::from_str(&text).unwrap();
                if !batch.is_empty() {
                    drained.lock().push(batch);
                }
            }
        }));
    }
    let mut interactions = HashMap::new();
    for round in 0..3 {
        for (owner, id) in &sessions {
            let r = cluster.instances[*owner]
                .http
                .post(format!(
                    "{}/session/{id}/message",
                    cluster.instances[*owner].base
                ))
                .json(&json!({"message": format!("hello {round}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED);
            let interaction = r.headers()["interaction-id"].to_str().unwrap().to_string();
            interactions.insert(interaction, id.clone());
        }
    }
    let start = Instant::now();
    loop {
        let ends = drained
            .lock()
            .iter()
            .flatten()
            .filter(|e| e["type"] == "interactionEnd")
            .count();
        if ends >= interactions.len() {
            break;
        }
        assert!(start.elapsed() < LIMIT, "only {ends} replies ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for drainer in drainers {
        drainer.await.unwrap();
    }
    let batches = drained.lock().clone();
    let all: Vec<&Value> = batches.iter().flatten().collect();
    // Exactly once: one end per interaction, each with its texts.
    for (interaction, session) in &interactions {
        let of_it: Vec<&Value> = all
            .iter()
            .copied()
            .filter(|e| e["interactionId"] == interaction.as_str())
            .collect();
        let ends = of_it
            .iter()
            .filter(|e| e["type"] == "interactionEnd")
            .count();
        assert_eq!(ends, 1, "{interaction}: {of_it:?}");
        assert!(of_it.iter().all(|e| e["sessionId"] == session.as_str()));
        assert!(of_it.iter().any(|e| e["type"] == "text"), "{of_it:?}");
    }
    // In order within a drain: no event of an interaction after its end.
    for batch in &batches {
        for (i, event) in batch.iter().enumerate() {
            if event["type"] == "interactionEnd" {
                assert!(
                    !batch[i + 1..]
                        .iter()
                        .any(|later| later["interactionId"] == event["interactionId"]),
                    "{batch:?}"
                );
            }
        }
    }
    // Nothing left anywhere.
    for instance in &cluster.instances {
        assert_eq!(instance.get("/events").await, (StatusCode::OK, "[]".into()));
    }
    Arc::into_inner(cluster).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_wakes_when_another_instance_queues_an_event() {
    let cluster = cluster(2).await;
    let (owner, other) = (&cluster.instances[0], &cluster.instances[1]);
    let opened = owner
        .open(json!({"uid": "u", "sceneId": "tavern", "serverId": "s"}))
        .await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    let http = other.http.clone();
    let url = format!("{}/events/s?wait=60000", other.base);
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let events: Vec<Value> = http.get(url).send().await.unwrap().json().await.unwrap();
        (events, started.elapsed())
    });
    owner
        .post_json(&format!("/session/{id}/message"), json!({"message": "hi"}))
        .await;
    let (events, _) = tokio::time::timeout(LIMIT, poll).await.unwrap().unwrap();
    // It returned with events rather than at the end of its wait.
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["sessionId"] == id.as_str()));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_away_gives_503_and_nothing_is_lost_when_it_returns() {
    let mut cluster = cluster(1).await;
    let proxy = &cluster.instances[0];
    let opened = proxy
        .open(json!({"uid": "u", "sceneId": "tavern", "serverId": "s"}))
        .await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    // Redis goes away; a message is accepted (the session is live).
    let port = cluster.redis.as_ref().unwrap().port;
    drop(cluster.redis.take());
    let r = proxy
        .http
        .post(format!("{}/session/{id}/message", proxy.base))
        .json(&json!({"message": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let interaction = r.headers()["interaction-id"].to_str().unwrap().to_string();
    // Drains answer 503 at once, never hang.
    let (status, text) = proxy.get("/events/s").await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "\"Service Unavailable\"")
    );
    // Redis back on its port: the reply was kept and is drained.
    cluster.redis = Some(RedisServer::start_on(port));
    let events = proxy
        .events_until("/events/s", |e| {
            e.iter().any(|e| {
                e["type"] == "interactionEnd" && e["interactionId"] == interaction.as_str()
            })
        })
        .await;
    assert!(events.iter().any(|e| e["type"] == "text"), "{events:?}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_instance_answers_any_request() {
    let cluster = cluster(3).await;
    // 30 sessions, each request to the next instance in turn.
    let mut sessions = Vec::new();
    for i in 0..30 {
        let opened = cluster
            .any()
            .open(json!({"uid": format!("p{i}"), "sceneId": "tavern", "serverId": "game", "playerName": "Ada"}))
            .await;
        sessions.push(opened["sessionId"].as_str().unwrap().to_string());
    }
    let mut replies: HashMap<String, Vec<Value>> = HashMap::new();
    for round in 0..3 {
        let mut waiting = Vec::new();
        for id in &sessions {
            let instance = cluster.any();
            let r = instance
                .http
                .post(format!("{}/session/{id}/message", instance.base))
                .json(&json!({"message": format!("hello {round}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED);
            assert_eq!(r.text().await.unwrap(), "Accepted");
            waiting.push(id.clone());
        }
        // Drained round robin, one drain at a time: every reply once, in order.
        let mut ended = 0;
        let start = Instant::now();
        while ended < waiting.len() {
            assert!(
                start.elapsed() < LIMIT,
                "{ended} of {} ended",
                waiting.len()
            );
            let (status, text) = cluster.any().get("/events/game?wait=500").await;
            assert_eq!(status, StatusCode::OK, "{text}");
            for event in serde_json::from_str::<Vec<Value>>(&text).unwrap() {
                let id = event["sessionId"].as_str().unwrap().to_string();
                if event["type"] == "interactionEnd" {
                    ended += 1;
                }
                replies.entry(id).or_default().push(event);
            }
        }
    }
    for id in &sessions {
        let events = &replies[id];
        let ends: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "interactionEnd")
            .collect();
        assert_eq!(ends.len(), 3, "{events:?}");
        // Each interaction's texts come before its end, and the
        // interactions one after another.
        let mut order: Vec<&str> = Vec::new();
        for e in events {
            let i = e["interactionId"].as_str().unwrap();
            if order.last() != Some(&i) {
                assert!(!order.contains(&i), "interleaved: {events:?}");
                order.push(i);
            }
        }
        assert_eq!(order.len(), 3);
    }
    // Every route answers the same from every instance.
    for id in sessions.iter().take(5) {
        for path in ["status", "characters", "character"] {
            let mut answers = Vec::new();
            for instance in &cluster.instances {
                answers.push(instance.get(&format!("/session/{id}/{path}")).await);
            }
            assert_eq!(answers[0].0, StatusCode::OK, "{path}: {answers:?}");
            assert!(
                answers.iter().all(|a| *a == answers[0]),
                "{path}: {answers:?}"
            );
        }
    }
    let missing = "demo:00000000-0000-0000-0000-000000000000";
    for instance in &cluster.instances {
        assert_eq!(
            instance.get(&format!("/session/{missing}/status")).await,
            (
                StatusCode::NOT_FOUND,
                format!("\"Session {missing} Not Found\"")
            )
        );
    }
    // A turn through whatever instance.
    let (status, text) = cluster
        .any()
        .post_json(
            &format!("/session/{}/turn", sessions[0]),
            json!({"message": "a drink, please"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    // Close through an instance that does not hold it (all but one do
    // not): gone everywhere, one disconnected event.
    let (status, text) = cluster
        .any()
        .get(&format!("/session/{}/close", sessions[1]))
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "OK"));
    for instance in &cluster.instances {
        assert_eq!(
            instance
                .get(&format!("/session/{}/status", sessions[1]))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
    }
    // Close-all of a uid through every instance in turn.
    assert_eq!(
        cluster.any().get("/session/closeall/p2/server/game").await,
        (StatusCode::OK, "OK".into())
    );
    assert_eq!(
        cluster.any().get("/session/closeall/p3").await,
        (StatusCode::OK, "OK".into())
    );
    for id in [&sessions[2], &sessions[3]] {
        let start = Instant::now();
        while cluster.any().get(&format!("/session/{id}/status")).await.0 != StatusCode::NOT_FOUND {
            assert!(start.elapsed() < LIMIT, "{id} was never closed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let events = cluster
        .any()
        .events_until("/events/game", |e| {
            e.iter().filter(|e| e["type"] == "disconnected").count() >= 3
        })
        .await;
    let gone: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "disconnected")
        .collect();
    assert_eq!(gone.len(), 3, "{gone:?}");
    // The metrics count the requests carried to their session's instance.
    let (_, metrics) = cluster.instances[0].get("/metrics").await;
    assert!(
        metrics.contains("inworld_proxy_forwards_total "),
        "{metrics}"
    );
    assert!(
        !metrics.contains("inworld_proxy_forwards_total 0\n"),
        "{metrics}"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sweepers_close_each_idle_session_once() {
    let cluster = cluster_with(3, &[("DISCONNECT_TIMEOUT", "300")]).await;
    let mut sessions = Vec::new();
    for i in 0..6 {
        let opened = cluster
            .any()
            .open(json!({"uid": format!("idle{i}"), "sceneId": "tavern", "serverId": "game"}))
            .await;
        sessions.push(opened["sessionId"].as_str().unwrap().to_string());
    }
    let events = cluster
        .any()
        .events_until("/events/game", |e| {
            sessions.iter().all(|id| {
                e.iter()
                    .any(|e| e["type"] == "disconnected" && e["sessionId"] == id.as_str())
            })
        })
        .await;
    // Give a second sweep every chance to double one, then look again.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (_, later) = cluster.any().get("/events/game").await;
    let later: Vec<Value> = serde_json::from_str(&later).unwrap();
    for id in &sessions {
        let gone = events
            .iter()
            .chain(later.iter())
            .filter(|e| e["type"] == "disconnected" && e["sessionId"] == id.as_str())
            .count();
        assert_eq!(gone, 1, "{id}: {events:?} {later:?}");
    }
    assert!(events
        .iter()
        .filter(|e| e["type"] == "disconnected")
        .all(|e| e["reason"] == "idle"));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_gives_events_until_a_later_cursor_acknowledges_them() {
    let cluster = cluster(2).await;
    let (owner, other) = (&cluster.instances[0], &cluster.instances[1]);
    let opened = owner
        .open(json!({"uid": "u", "sceneId": "tavern", "serverId": "s"}))
        .await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    let (_, _) = owner
        .post_json(&format!("/session/{id}/message"), json!({"message": "hi"}))
        .await;
    let ended = |e: &[Value]| e.iter().any(|e| e["type"] == "interactionEnd");
    // Polled with after=0 until the reply ended: nothing is taken, so each
    // poll gives everything so far again.
    let start = Instant::now();
    let first = loop {
        assert!(start.elapsed() < LIMIT, "the reply never ended");
        let (status, text) = other.get("/events/s?after=0&wait=500").await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let events: Vec<Value> = serde_json::from_str(&text).unwrap();
        if ended(&events) {
            break events;
        }
    };
    let seqs: Vec<u64> = first.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // Given again from any instance until acknowledged.
    let (_, again) = owner.get("/events/s?after=0").await;
    assert_eq!(serde_json::from_str::<Vec<Value>>(&again).unwrap(), first);
    // Acknowledging up to the second: the rest again, then nothing.
    let (_, rest) = owner.get(&format!("/events/s?after={}", seqs[1])).await;
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&rest).unwrap(),
        first[2..]
    );
    let last = seqs.last().unwrap();
    assert_eq!(
        other.get(&format!("/events/s?after={last}")).await,
        (StatusCode::OK, "[]".into())
    );
    assert_eq!(other.get("/events").await, (StatusCode::OK, "[]".into()));
    // The session's own route takes the cursor too.
    let (status, text) = owner
        .get(&format!("/session/{id}/events?after={last}"))
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "[]"));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_refuses_requests_with_503() {
    let mut cluster = cluster_with(1, &[("WRITE_QUEUE", "1")]).await;
    let proxy = &cluster.instances[0];
    let opened = proxy
        .open(json!({"uid": "u", "sceneId": "tavern", "serverId": "s"}))
        .await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    let port = cluster.redis.as_ref().unwrap().port;
    drop(cluster.redis.take());
    // Redis away: the first message is accepted, its line waits...
    let (status, _) = proxy
        .post_json(
            &format!("/session/{id}/message"),
            json!({"message": "hello"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // ...and the queue is full: refused rather than grown.
    let (status, text) = proxy
        .post_json(
            &format!("/session/{id}/message"),
            json!({"message": "again"}),
        )
        .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "\"Service Unavailable\"")
    );
    cluster.redis = Some(RedisServer::start_on(port));
    let events = proxy
        .events_until("/events/s", |e| {
            e.iter().any(|e| e["type"] == "interactionEnd")
        })
        .await;
    assert!(events.iter().any(|e| e["type"] == "text"), "{events:?}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_restarts_empty_the_owners_record_their_sessions_again() {
    let mut cluster = cluster_with(2, &[("LEASE_TTL", "1500")]).await;
    let opened = cluster.instances[0]
        .open(json!({"uid": "u", "sceneId": "tavern", "serverId": "s"}))
        .await;
    let id = opened["sessionId"].as_str().unwrap().to_string();
    let port = cluster.redis.as_ref().unwrap().port;
    drop(cluster.redis.take());
    cluster.redis = Some(RedisServer::start_on(port));
    // Carried to its owner again once the owner recorded it again (until
    // then the other instance knows no owner: 404, or 503 while it
    // reconnects).
    let other = &cluster.instances[1];
    let start = Instant::now();
    let interaction = loop {
        assert!(start.elapsed() < LIMIT, "the session was never found again");
        let r = other
            .http
            .post(format!("{}/session/{id}/message", other.base))
            .json(&json!({"message": "hello again"}))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::ACCEPTED {
            break r.headers()["interaction-id"].to_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let events = other
        .events_until("/events/s", |e| {
            e.iter().any(|e| {
                e["type"] == "interactionEnd" && e["interactionId"] == interaction.as_str()
            })
        })
        .await;
    assert!(events.iter().any(|e| e["type"] == "text"), "{events:?}");
    assert!(!events.iter().any(|e| e["type"] == "resumed"), "{events:?}");
    cluster.stop().await;
}
