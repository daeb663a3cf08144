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
    let redis = RedisServer::start();
    let workspace = Workspace::default_scenes();
    let scene = workspace.scene_names().into_iter().next().unwrap();
    let engine = RunningEngine::start_dedicated(EngineConfig::new(workspace)).unwrap();
    let addr = engine.addr().to_string();
    let url = redis.url(0);
    let mut instances = Vec::new();
    for _ in 0..count {
        instances.push(
            start(&[
                ("INWORLD_KEY", "test-api-key"),
                ("INWORLD_SECRET", "test-api-secret"),
                ("INWORLD_HOST", addr.as_str()),
                ("INWORLD_SCENE", scene.as_str()),
                ("REDIS_URL", url.as_str()),
            ])
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
