//! The published Node SDK (@inworld/nodejs-sdk 1.17.0, from npm) runs against
//! our engine, unchanged, driven by the repository's own scripts in
//! `tests/node/`: `sdk_session.js` (a whole session) and `sdk_reconnect.js`
//! (what the SDK writes when it reopens a stream after a server error).
//!
//! Needs `node` and `npm`. The SDK's licence is proprietary: it is installed
//! from npm at test time into `target/nodejs-sdk` (git-ignored), from
//! `tests/node/package.json` and its lock file, and never committed.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

use inworld::engine::{Brain, EngineConfig, LlmConfig, RunningEngine, Workspace};
mod llm_support;
use llm_support::{Answer, LlmServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Only catches a hang: the drivers wait on conditions, never on the clock,
/// and give up on a single wait after 120 s themselves.
const DRIVER_LIMIT: Duration = Duration::from_secs(600);

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

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The drivers and the SDK's pinned manifest: `tests/node/`.
fn node_dir() -> PathBuf {
    repo().join("tests/node")
}

/// Installs the SDK from npm into target/nodejs-sdk (git-ignored) when it is
/// missing or was installed from another manifest or lock than the repo's.
/// One install at a time: the tests of this file run in parallel.
fn sdk_modules() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = repo().join("target/nodejs-sdk");
    let modules = dir.join("node_modules");
    let pinned = ["package.json", "package-lock.json"];
    let same = |name: &str| {
        let ours = std::fs::read(node_dir().join(name)).ok();
        ours.is_none() || ours == std::fs::read(dir.join(name)).ok()
    };
    let installed = modules.join("@inworld/nodejs-sdk/package.json").exists();
    if installed && pinned.iter().all(|n| same(n)) {
        return modules;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(dir.join("package-lock.json"));
    for name in pinned {
        let from = node_dir().join(name);
        if from.exists() {
            std::fs::copy(&from, dir.join(name))
                .unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
        }
    }
    // With a lock, `npm ci` installs exactly the pinned versions.
    let verb = if dir.join("package-lock.json").exists() {
        "ci"
    } else {
        "install"
    };
    let status = Command::new("npm")
        .args([verb, "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .expect("npm is needed to install the Node SDK (apt-get install nodejs npm)");
    assert!(status.success(), "npm {verb} failed in {}", dir.display());
    modules
}

/// Runs `tests/node/<script>` against the engine; returns its JSON lines.
fn run_driver(script: &str, engine: &RunningEngine) -> Vec<Value> {
    let creds = engine.credentials().clone();
    let mut child = Command::new("node")
        .arg(node_dir().join(script))
        .env("NODE_PATH", sdk_modules())
        .env("NODE_SDK_INWORLD_ENGINE_HOST", engine.addr().to_string())
        .env("NODE_SDK_INWORLD_ENGINE_SSL", "false")
        .env("INWORLD_KEY", &creds.key)
        .env("INWORLD_SECRET", &creds.secret)
        .env_remove("INWORLD_SCENE")
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
    let deadline = Instant::now() + DRIVER_LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            if !status.success() {
                panic!(
                    "{script} exited with {status}; output:\n{}",
                    reader.join().unwrap()
                );
            }
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{script} did not finish in {DRIVER_LIMIT:?} (a hang); output so far:\n{}",
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

fn start_recording_engine(runtime: &tokio::runtime::Runtime) -> RunningEngine {
    start_recording_engine_with(runtime, Brain::Scripted)
}

fn start_recording_engine_with(runtime: &tokio::runtime::Runtime, brain: Brain) -> RunningEngine {
    let mut config = EngineConfig::new(Workspace::test_scenes());
    config.record = true;
    config.brain = brain;
    RunningEngine::start(config, runtime.handle()).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
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
    let runtime = runtime();
    let engine = start_recording_engine(&runtime);
    whole_session(engine);
}

/// The same session with the language-model brain behind the test model
/// server: rules still answer where they match (the trigger, the forced
/// error), the model everywhere else, and the SDK sees no difference.
#[test]
fn node_sdk_runs_a_whole_session_with_the_llm_brain() {
    let runtime = runtime();
    let server = runtime.block_on(LlmServer::start());
    server.answer_always(Answer::text(&[
        "[emotion=INTEREST strength=NORMAL] [action=sets down her pen]",
        "Interesting. ",
        "Tell me more.",
    ]));
    let engine = start_recording_engine_with(
        &runtime,
        Brain::Llm(LlmConfig::new(server.url(), "test-model")),
    );
    let events = whole_session(engine);
    assert!(!server.requests().is_empty(), "the model was asked");
    assert!(messages(&events).any(|m| m["type"] == "TEXT" && m["text"]["text"] == "Tell me more."));
    assert!(
        !messages(&events)
            .any(|m| m["type"] == "TEXT"
                && m["text"]["text"].as_str().is_some_and(|t| t.contains('['))),
        "markup reached the SDK"
    );
}

/// Runs `sdk_session.js` against `engine` and checks the whole session;
/// returns the SDK's events.
fn whole_session(engine: RunningEngine) -> Vec<Value> {
    let events = run_driver("sdk_session.js", &engine);

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

    // Feedback names: <parent>/feedbacks/<id>, the parent naming the session and interaction.
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
    events
}

/// One client packet as a line: its kind, and what matters of it here.
/// Agent ids are shown as the character's resource name (`names` maps them).
fn describe(
    p: &inworld::protocol::ai::inworld::packets::InworldPacket,
    names: &std::collections::HashMap<String, String>,
) -> String {
    use inworld::protocol::ai::inworld::packets::{
        actor, control_event, inworld_packet::Packet, mutation_event,
    };
    let actor = |a: &inworld::protocol::ai::inworld::packets::Actor| {
        let kind = actor::Type::try_from(a.r#type)
            .map(|t| t.as_str_name())
            .unwrap_or("?");
        match names.get(&a.name) {
            Some(name) => format!("{kind} {name}"),
            None if a.name.is_empty() => kind.to_string(),
            None => format!("{kind} {}", a.name),
        }
    };
    match &p.packet {
        Some(Packet::Text(t)) => format!("TEXT {:?}", t.text),
        Some(Packet::Control(c)) => {
            let action = control_event::Action::try_from(c.action)
                .map(|a| a.as_str_name().to_string())
                .unwrap_or_else(|_| c.action.to_string());
            match &c.payload_structured {
                Some(control_event::PayloadStructured::ConversationUpdate(u)) => {
                    let who: Vec<String> = u.participants.iter().map(actor).collect();
                    format!("CONTROL {action} [{}]", who.join(", "))
                }
                _ => format!("CONTROL {action}"),
            }
        }
        Some(Packet::Mutation(m)) => match &m.mutation {
            Some(mutation_event::Mutation::LoadScene(ls)) => {
                format!("MUTATION LoadScene {}", ls.name)
            }
            other => format!("MUTATION {other:?}"),
        },
        Some(Packet::SessionControl(_)) => "SESSION_CONTROL".to_string(),
        Some(Packet::LatencyReport(_)) => "LATENCY_REPORT".to_string(),
        other => format!("{other:?}"),
    }
}

/// After a server error the SDK reopens the same session on a new stream, by
/// itself, on the next send. This records exactly what it writes on that
/// second stream when no character was removed before: the conversation is
/// re-announced (CONVERSATION_UPDATE, without routing, same conversation id)
/// and no configuration or scene is sent again.
#[test]
fn node_sdk_reopens_after_an_error_without_resending_the_scene() {
    use inworld::protocol::ai::inworld::packets::{control_event, inworld_packet::Packet};
    let runtime = runtime();
    let engine = start_recording_engine(&runtime);
    let events = run_driver("sdk_reconnect.js", &engine);
    for e in &events {
        assert!(
            what(e) != "step-error" && what(e) != "fatal",
            "SDK reported {e}"
        );
    }
    for name in [
        "getCharacters",
        "sendText(hello)",
        "sendText(please fail)",
        "sendText(after error)",
    ] {
        step(&events, name);
    }
    let error = events
        .iter()
        .find(|e| what(e) == "onError")
        .expect("onError for `please fail`");
    assert_eq!(error["data"]["code"], 9);
    assert_eq!(error["data"]["details"][0]["errorType"], "SESSION_PAUSED");
    assert!(events.iter().any(|e| what(e) == "onDisconnect"));
    let reply = assert_full_reply(&events, "sendText(after error)");

    // Agent ids to resource names, for readable packet lines.
    let characters = &step(&events, "getCharacters")["data"]["result"];
    let names: std::collections::HashMap<String, String> = characters
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let resource = c["resourceName"].as_str().unwrap();
            (
                c["id"].as_str().unwrap().to_string(),
                resource.rsplit('/').next().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(names.get(&reply).map(String::as_str), Some("alice"));

    let packets = engine.received_packets();
    let sessions: std::collections::HashSet<_> = packets.iter().map(|(s, _)| s).collect();
    assert_eq!(sessions.len(), 1, "the SDK keeps its session id");
    // The error ends the first stream right after `please fail`, and the
    // driver waits for the SDK to see the stream close before it sends again
    // (with no PING/PONG, nothing else is written): what follows `please fail`
    // is the second stream.
    let fail = packets
        .iter()
        .position(|(_, p)| matches!(&p.packet, Some(Packet::Text(t)) if t.text == "please fail"))
        .expect("`please fail` reached the engine");
    let lines = |range: &[(
        String,
        inworld::protocol::ai::inworld::packets::InworldPacket,
    )]| {
        range
            .iter()
            .map(|(_, p)| describe(p, &names))
            .collect::<Vec<_>>()
    };
    let (first, second) = packets.split_at(fail + 1);
    let (first_lines, second_lines) = (lines(first), lines(second));
    eprintln!("first stream:\n  {}", first_lines.join("\n  "));
    eprintln!("second stream:\n  {}", second_lines.join("\n  "));

    // The first stream configured the session and loaded the scene...
    assert_eq!(
        first_lines,
        [
            "CONTROL SESSION_CONFIGURATION",
            "MUTATION LoadScene workspaces/test-ws/scenes/test-scene",
            "CONTROL CONVERSATION_UPDATE [AGENT alice, PLAYER]",
            "TEXT \"hello\"",
            "TEXT \"please fail\"",
        ]
    );
    // ...the second only re-announces the conversation, then sends the text.
    assert_eq!(
        second_lines,
        [
            "CONTROL CONVERSATION_UPDATE [AGENT alice, PLAYER]",
            "TEXT \"after error\"",
        ]
    );
    let conversation = |p: &inworld::protocol::ai::inworld::packets::InworldPacket| {
        p.packet_id.as_ref().unwrap().conversation_id.clone()
    };
    let update = &second[0].1;
    let Some(Packet::Control(control)) = &update.packet else {
        unreachable!()
    };
    assert_eq!(
        control.action,
        control_event::Action::ConversationUpdate as i32
    );
    assert_eq!(control.action, 12);
    assert!(
        update.routing.is_none(),
        "the SDK's CONVERSATION_UPDATE has no routing: {:?}",
        update.routing
    );
    assert!(!conversation(update).is_empty());
    assert_eq!(
        conversation(update),
        conversation(&first[2].1),
        "the same conversation is reopened"
    );
    assert_eq!(conversation(&second[1].1), conversation(update));
    engine.stop();
}
