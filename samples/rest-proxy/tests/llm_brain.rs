//! The proxy's routes with the engine's language-model brain behind it: an
//! engine (the demo tavern, `Brain::Llm`) answering from the test model
//! server of the root crate's tests, and the proxy in front of it as a
//! game server's would be (INWORLD_HOST). Events and the synchronous turn
//! reach the proxy's clients as they do with the scripted brain.

#[path = "../../../tests/llm_support/mod.rs"]
mod llm_support;

use std::time::{Duration, Instant};

use inworld::engine::{Brain, EngineConfig, LlmConfig, RunningEngine, Workspace};
use inworld_rest_proxy::config::Config;
use inworld_rest_proxy::Proxy;
use llm_support::{Answer, LlmServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(120);

async fn get(http: &reqwest::Client, url: String) -> (StatusCode, String) {
    let r = http.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> (StatusCode, String) {
    let r = http.post(url).json(&body).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Drains `/events` until `done` holds.
async fn events_until(
    http: &reqwest::Client,
    base: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut all = Vec::new();
    let start = Instant::now();
    while !done(&all) {
        assert!(start.elapsed() < LIMIT, "never happened; events: {all:?}");
        let (status, text) = get(http, format!("{base}/events")).await;
        assert_eq!(status, StatusCode::OK);
        let batch: Vec<Value> = serde_json::from_str(&text).unwrap();
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        all.extend(batch);
    }
    all
}

fn ended(events: &[Value], session: &str) -> bool {
    events
        .iter()
        .any(|e| e["type"] == "interactionEnd" && e["sessionId"] == session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_with_the_llm_brain_behind_the_proxy() {
    let model = LlmServer::start().await;
    let llm = LlmConfig::new(model.url(), "tavern-model");
    let mut engine_config = EngineConfig::new(Workspace::default_scenes());
    engine_config.brain = Brain::Llm(llm);
    let engine = RunningEngine::start_dedicated(engine_config).unwrap();

    let env = [
        ("INWORLD_HOST".to_string(), engine.addr().to_string()),
        ("INWORLD_KEY".to_string(), engine.credentials().key.clone()),
        (
            "INWORLD_SECRET".to_string(),
            engine.credentials().secret.clone(),
        ),
        (
            "INWORLD_SCENE".to_string(),
            "workspaces/demo/scenes/tavern".to_string(),
        ),
        ("EMOTIONS".to_string(), "true".to_string()),
    ];
    let config =
        Config::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        let (proxy, config) =
            tokio::task::spawn_blocking(move || Proxy::start(&config).map(|p| (p, config)))
                .await
                .unwrap()
                .unwrap();
        proxy
            .serve(listener, &config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        proxy
    });
    let http = reqwest::Client::new();
    let start = Instant::now();
    while http.get(format!("{base}/status")).send().await.is_err() {
        assert!(start.elapsed() < LIMIT, "the proxy never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, text) = post(
        &http,
        format!("{base}/session/open"),
        json!({"uid": "player-1", "sceneId": "tavern", "playerName": "Ada"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let opened: Value = serde_json::from_str(&text).unwrap();
    let id = opened["sessionId"].as_str().unwrap().to_string();

    // A message the model answers: its sentences, emotion and trigger as events.
    model.answer(Answer::text(&[
        "[emotion=JOY strength=STRONG]Ada! ",
        "Welcome back to the Lantern. ",
        "[trigger=seat_guest table=fire]",
    ]));
    let (status, _) = post(
        &http,
        format!("{base}/session/{id}/message"),
        json!({"message": "Good evening, Marta"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let events = events_until(&http, &base, |e| ended(e, &id)).await;
    let texts: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "text")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["Ada!", "Welcome back to the Lantern."],
        "{events:?}"
    );
    assert!(events
        .iter()
        .any(|e| e["type"] == "emotion" && e["joy"].as_f64().unwrap() > 0.0));
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "custom" && e["name"] == "seat_guest"),
        "{events:?}"
    );
    let prompt = model.requests()[0].transcript();
    assert!(prompt.contains("You are Marta Brenner"), "{prompt}");
    assert!(prompt.contains("talking with: Ada"), "{prompt}");

    // The synchronous turn: the whole reply at once; a rule still answers drinks.
    let (status, text) = post(
        &http,
        format!("{base}/session/{id}/turn"),
        json!({"message": "a drink, please"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert!(reply["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "serve_drink"));
    model.answer(Answer::text(&[
        "[emotion=TENSION]The mill? ",
        "Nobody goes there.",
    ]));
    let (status, text) = post(
        &http,
        format!("{base}/session/{id}/turn"),
        json!({"message": "What about the old mill by the river?"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        reply["text"],
        json!(["The mill?", "Nobody goes there."]),
        "{reply}"
    );
    assert_eq!(reply["finished"], true);
    let prompt = model.requests()[1].transcript();
    assert!(
        prompt.contains("assistant: One cider, coming up. Careful, it bites back."),
        "the dialog so far, rule answers included: {prompt}"
    );

    let _ = stop.send(());
    done.await.unwrap().stop();
    engine.stop();
}
