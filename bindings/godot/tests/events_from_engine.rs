//! The extension's packet → signal logic over a real session with the local
//! engine's demo tavern: what a player sees in Godot, without Godot.

use std::time::{Duration, Instant};

use inworld::client::{Client, ClientConfig, TlsMode};
use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use inworld_godot::events::{event_of, GameEvent, Speaker};

/// Only catches a hang: a busy machine is slow.
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn a_conversation_becomes_the_signals_the_demo_uses() {
    let workspace = Workspace::default_scenes();
    let scene = workspace.scene_names().into_iter().next().unwrap();
    let engine = RunningEngine::start_dedicated(EngineConfig::new(workspace)).unwrap();
    let mut config = ClientConfig::new(
        engine.addr().to_string(),
        scene,
        engine.credentials().clone(),
    );
    config.tls = TlsMode::Off;
    config.session.user.name = Some("Traveller".into());
    // As the InworldClient node asks by default.
    config.session.capabilities.emotions = true;
    config.session.capabilities.phonemes = true;
    config.session.capabilities.narrated_actions = true;
    let client = Client::new(config).unwrap();
    let session = client.open_session().unwrap();

    let mut events = Vec::new();
    let drain_until = |events: &mut Vec<GameEvent>, done: &dyn Fn(&[GameEvent]) -> bool| {
        let start = Instant::now();
        while !done(events) {
            assert!(
                start.elapsed() < LIMIT,
                "never happened; events so far: {events:?}"
            );
            match session.recv_timeout(Duration::from_millis(50)) {
                Some(packet) => events.extend(event_of(&packet)),
                None => continue,
            }
        }
    };
    drain_until(&mut events, &|e| {
        e.contains(&GameEvent::ConnectionState { state: "ready" })
    });
    assert!(events.contains(&GameEvent::CharactersChanged), "{events:?}");

    let sent = session.send_text("hello").unwrap();
    let interaction = sent.interaction_id.clone();
    drain_until(&mut events, &|e| {
        e.iter().any(|e| matches!(e, GameEvent::InteractionEnd { interaction_id, .. } if *interaction_id == interaction))
    });
    let marta = session
        .characters()
        .into_iter()
        .find(|c| c.display_name.as_str() == "Marta")
        .unwrap();
    let said: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            GameEvent::Text {
                speaker: Speaker::Character(id),
                text,
                is_final: true,
                interaction_id,
                conversation_id,
            } if *interaction_id == sent.interaction_id => {
                assert_eq!(*conversation_id, sent.conversation_id);
                Some((id.clone(), text.clone()))
            }
            _ => None,
        })
        .collect();
    assert!(!said.is_empty(), "{events:?}");
    assert!(
        said.iter().all(|(id, _)| id == marta.id.as_str()),
        "{said:?}"
    );
    assert!(
        said.iter().any(|(_, t)| t.contains("Traveller")),
        "{said:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GameEvent::Emotion { .. })),
        "{events:?}"
    );

    // A drink: Marta's trigger and narrated action; a room: her task.
    let reply = |text: &str, events: &mut Vec<GameEvent>| {
        let sent = session.send_text(text).unwrap();
        let start = events.len();
        drain_until(events, &|e| {
            e[start..].iter().any(|e| matches!(e, GameEvent::InteractionEnd { interaction_id, .. } if *interaction_id == sent.interaction_id))
        });
        events[start..].to_vec()
    };
    let drink = reply("a cider, please", &mut events);
    assert!(
        drink.iter().any(|e| matches!(e, GameEvent::Trigger { speaker: Speaker::Character(id), name, .. } if name == "serve_drink" && id == marta.id.as_str())),
        "{drink:?}"
    );
    assert!(
        drink.iter().any(|e| matches!(e, GameEvent::NarratedAction { content, .. } if content.contains("foaming mug"))),
        "{drink:?}"
    );
    let room = reply("a room for the night", &mut events);
    assert!(
        room.iter()
            .any(|e| matches!(e, GameEvent::Task { name, .. } if name == "rent_room")),
        "{room:?}"
    );

    let sent = session.send_trigger("greet", &[]).unwrap();
    let interaction = sent.interaction_id.clone();
    drain_until(&mut events, &|e| {
        e.iter().any(|e| matches!(e, GameEvent::InteractionEnd { interaction_id, .. } if *interaction_id == interaction))
    });

    // A group conversation (InworldSession.start_conversation): its replies
    // and their ends carry its id, so a game tells them from the one-to-one's.
    let group = session
        .start_conversation(&["Marta", "Finn"], true)
        .unwrap();
    let sent = group.send_text("hello everyone").unwrap();
    assert_eq!(sent.conversation_id, group.id());
    let id = group.id().to_string();
    drain_until(&mut events, &|e| {
        e.iter().any(|e| matches!(e, GameEvent::InteractionEnd { conversation_id, .. } if *conversation_id == id))
    });
    let in_group: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            GameEvent::Text {
                speaker: Speaker::Character(who),
                conversation_id,
                ..
            } if *conversation_id == id => Some(who.clone()),
            _ => None,
        })
        .collect();
    assert!(!in_group.is_empty(), "{events:?}");
    session.close();
    engine.stop();
}
