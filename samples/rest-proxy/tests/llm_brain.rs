//! The proxy's routes with the engine's language-model brain behind it: an
//! engine (the demo tavern, `Brain::Llm`) answering from the test model
//! server of the root crate's tests, and the proxy in front of it as a
//! game server's would be (INWORLD_HOST). Events and the synchronous turn
//! reach the proxy's clients as they do with the scripted brain.

#[path = "../../../tests/llm_support/mod.rs"]
mod llm_support;

mod support;

use inworld::engine::{Brain, EngineConfig, LlmConfig, RunningEngine, Workspace};
use llm_support::{Answer, LlmServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

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

    let host = engine.addr().to_string();
    let credentials = engine.credentials();
    let proxy = support::start(&[
        ("INWORLD_HOST", host.as_str()),
        ("INWORLD_KEY", credentials.key.as_str()),
        ("INWORLD_SECRET", credentials.secret.as_str()),
        ("INWORLD_SCENE", "workspaces/demo/scenes/tavern"),
        ("EMOTIONS", "true"),
    ])
    .await;

    let (status, text) = proxy
        .post_json(
            "/session/open",
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
    let (status, _) = proxy
        .post_json(
            &format!("/session/{id}/message"),
            json!({"message": "Good evening, Marta"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let events = proxy.events_until("/events", |e| ended(e, &id)).await;
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
    let (status, text) = proxy
        .post_json(
            &format!("/session/{id}/turn"),
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
    let (status, text) = proxy
        .post_json(
            &format!("/session/{id}/turn"),
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

    proxy.stop().await.stop();
    engine.stop();
}
