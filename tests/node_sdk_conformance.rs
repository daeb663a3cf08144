//! The published Node SDK (@inworld/nodejs-sdk 1.17.0, from npm) runs a whole
//! session against our engine, unchanged: `../shared/peer/nodejs-sdk/sdk-session.js`.
//! Needs `node` and `npm` (the SDK is installed into target/nodejs-sdk once).
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STEPS: &[&str] = &[
    "getCharacters",
    "sendText",
    "sendTrigger",
    "sendAudioSessionStart",
    "sendAudio",
    "sendAudioSessionEnd",
    "sendNarratedAction",
    "sendTTSPlaybackMute(true)",
    "sendTTSPlaybackMute(false)",
    "sendCancelResponse",
    "addCharacters",
    "multi.sendText",
    "multi.sendTrigger(next_turn)",
    "multi.updateParticipants",
    "removeCharacters",
    "getSessionState",
    "feedback.like",
    "feedback.dislike",
    "feedback.undo",
    "entity.createOrUpdateItems",
    "entity.itemsInEntities",
    "entity.removeItems",
    "sendText(please fail)",
    "sendText(after error)",
    "changeScene",
    "sendText(new scene)",
];

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// Installs the SDK from npm into target/nodejs-sdk (git-ignored) if needed.
fn sdk_modules() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/nodejs-sdk");
    let modules = dir.join("node_modules");
    if !modules.join("@inworld/nodejs-sdk").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = std::fs::read(shared_dir().join("peer/nodejs-sdk/package.json"))
            .expect("../shared/peer/nodejs-sdk/package.json");
        std::fs::write(dir.join("package.json"), manifest).unwrap();
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is needed to install the Node SDK");
        assert!(status.success(), "npm install failed");
    }
    modules
}

fn run_sdk_session(addr: std::net::SocketAddr, key: &str, secret: &str) -> Vec<Value> {
    let mut child = Command::new("node")
        .arg(shared_dir().join("peer/nodejs-sdk/sdk-session.js"))
        .env("NODE_PATH", sdk_modules())
        .env("NODE_SDK_INWORLD_ENGINE_HOST", addr.to_string())
        .env("NODE_SDK_INWORLD_ENGINE_SSL", "false")
        .env("INWORLD_KEY", key)
        .env("INWORLD_SECRET", secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node is needed for the conformance test");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "sdk-session.js exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sdk-session.js did not finish in 90 s; output so far:\n{}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = reader.join().unwrap();
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn what(e: &Value) -> &str {
    e["what"].as_str().unwrap_or("")
}

fn step<'a>(events: &'a [Value], name: &str) -> &'a Value {
    events
        .iter()
        .find(|e| what(e) == "step" && e["data"]["name"] == name)
        .unwrap_or_else(|| panic!("no step {name:?}"))
}

fn messages(events: &[Value]) -> impl Iterator<Item = &Value> {
    events
        .iter()
        .filter(|e| what(e) == "onMessage")
        .map(|e| &e["data"])
}

/// The character packets answering `interaction`.
fn reply_to<'a>(events: &'a [Value], interaction: &str) -> Vec<&'a Value> {
    messages(events)
        .filter(|m| m["packetId"]["interactionId"] == interaction)
        .filter(|m| m["routing"]["source"]["isCharacter"] == true)
        .collect()
}

fn assert_full_reply(events: &[Value], step_name: &str) -> String {
    let interaction = step(events, step_name)["data"]["result"]["packetId"]["interactionId"]
        .as_str()
        .unwrap_or_else(|| panic!("{step_name} returned no interaction id"))
        .to_string();
    let reply = reply_to(events, &interaction);
    let has = |t: &str| reply.iter().any(|m| m["type"] == t);
    assert!(has("TEXT"), "{step_name}: no TEXT reply in {reply:#?}");
    assert!(has("EMOTION"), "{step_name}: no EMOTION reply");
    assert!(
        reply
            .iter()
            .any(|m| m["type"] == "CONTROL" && m["control"]["action"] == "INTERACTION_END"),
        "{step_name}: no INTERACTION_END"
    );
    let text = reply.iter().find(|m| m["type"] == "TEXT").unwrap();
    assert_eq!(text["text"]["type"], "GENERATED");
    text["routing"]["source"]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn node_sdk_runs_a_whole_session() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut config = EngineConfig::new(Workspace::test_scenes());
    config.record = true;
    let engine = RunningEngine::start(config, runtime.handle()).unwrap();
    let creds = engine.credentials().clone();
    let events = run_sdk_session(engine.addr(), &creds.key, &creds.secret);

    // Every step succeeded.
    for e in &events {
        assert!(
            what(e) != "step-error" && what(e) != "fatal",
            "SDK reported {e}"
        );
    }
    for name in STEPS {
        step(&events, name);
    }

    // The scene as the SDK sees it.
    let chars = &step(&events, "getCharacters")["data"]["result"];
    let names: Vec<&str> = chars
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["resourceName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "workspaces/test-ws/characters/alice",
            "workspaces/test-ws/characters/bob"
        ]
    );

    // Replies to text and trigger, with audio and phonemes (audio is on).
    let alice = assert_full_reply(&events, "sendText");
    assert_eq!(alice, chars[0]["id"].as_str().unwrap());
    assert_full_reply(&events, "sendTrigger");
    let trigger_interaction = step(&events, "sendTrigger")["data"]["result"]["packetId"]
        ["interactionId"]
        .as_str()
        .unwrap();
    let trigger_reply = reply_to(&events, trigger_interaction);
    assert!(trigger_reply
        .iter()
        .any(|m| m["type"] == "TRIGGER" && m["trigger"]["name"] == "greeted"));
    assert!(trigger_reply
        .iter()
        .any(|m| m["type"] == "TEXT" && m["text"]["text"] == "You look happy today."));
    let text_interaction = step(&events, "sendText")["data"]["result"]["packetId"]["interactionId"]
        .as_str()
        .unwrap();
    let audio: Vec<_> = reply_to(&events, text_interaction)
        .into_iter()
        .filter(|m| m["type"] == "AUDIO")
        .collect();
    assert!(!audio.is_empty(), "no audio in the reply");
    for a in audio {
        let phonemes = a["audio"]["additionalPhonemeInfo"].as_array().unwrap();
        assert!(!phonemes.is_empty());
    }

    // Speech: the recognised text comes back from the player.
    assert!(messages(&events).any(|m| m["type"] == "TEXT"
        && m["text"]["type"] == "SPEECH_TO_TEXT"
        && m["routing"]["source"]["isPlayer"] == true));

    // Multi-character conversation: the next-turn trigger lets another character speak.
    let first = assert_full_reply(&events, "multi.sendText");
    let second = assert_full_reply(&events, "multi.sendTrigger(next_turn)");
    assert_ne!(
        first, second,
        "next_turn must hand over to another character"
    );

    // The forced error reaches onError with its details; the SDK reconnects by itself.
    let error = events
        .iter()
        .find(|e| what(e) == "onError" && e["data"]["code"] == 9)
        .expect("onError for `please fail`");
    assert_eq!(error["data"]["details"][0]["errorType"], "SESSION_PAUSED");
    assert_eq!(error["data"]["details"][0]["reconnectType"], "IMMEDIATE");
    assert_eq!(error["data"]["details"][0]["maxRetries"], 3);
    assert_full_reply(&events, "sendText(after error)");

    // Scene change.
    assert!(
        messages(&events).any(|m| m["type"] == "SCENE_MUTATION_RESPONSE"
            && m["sceneMutation"]["name"] == "workspaces/test-ws/scenes/other-scene")
    );
    assert_full_reply(&events, "sendText(new scene)");

    // Feedback names follow PROTOCOL 4.14.
    let like = step(&events, "feedback.like")["data"]["result"]["name"]
        .as_str()
        .unwrap();
    assert!(like.starts_with("workspaces/test-ws/sessions/test-ws:"));
    assert!(like.contains("/feedbacks/"));

    // The state bytes are the engine's own: they hold the SDK's dialog
    // continuation and the conversation so far.
    let state_u8 = step(&events, "getSessionState")["data"]["result"]["stateU8"]
        .as_object()
        .expect("stateU8");
    let mut bytes = vec![0u8; state_u8.len()];
    for (i, b) in state_u8 {
        bytes[i.parse::<usize>().unwrap()] = b.as_u64().unwrap() as u8;
    }
    let saved = <inworld::engine::state::SavedState as prost::Message>::decode(bytes.as_slice())
        .expect("engine state");
    let lines: Vec<&str> = saved.history.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(lines[0], "Hi there", "dialog continuation first: {lines:?}");
    assert!(lines.contains(&"hello"));
    assert!(lines.contains(&"hi all"));

    // The SDK answered the engine's PINGs.
    let packets = engine.received_packets();
    use inworld::protocol::ai::inworld::packets::{
        inworld_packet, latency_report_event, ping_pong_report,
    };
    assert!(packets.iter().any(|(_, p)| matches!(&p.packet,
        Some(inworld_packet::Packet::LatencyReport(r)) if matches!(&r.report,
            Some(latency_report_event::Report::PingPong(pp))
                if pp.r#type == ping_pong_report::Type::Pong as i32 && pp.ping_packet_id.is_some()))));

    // The SDK kept its session id across the reconnect and the scene change.
    let sessions: std::collections::HashSet<_> = packets.iter().map(|(s, _)| s).collect();
    assert_eq!(sessions.len(), 1, "the SDK keeps its session id");
    engine.stop();
}
