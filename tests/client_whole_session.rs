//! The whole session against the local engine on loopback: scene changes,
//! characters added and removed, group conversations, feedback, the saved
//! state and the dialog, entity items, and tokens from the game's backend,
//! with their failure cases.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod client_util;

use client_util::*;
use inworld::client::{
    Auth, Client, Continuation, DislikeType, EntityItem, Error, ItemsInEntities, ReconnectPolicy,
    SceneChange, Session, Talker, TokenProvider, TokenRequest,
};
use inworld::packet::{
    CallKind, CallResult, ConnectionState, ControlAction, ConversationEventKind, Packet,
    PacketBody, SceneMutation, SceneStatus, SendFailure,
};
use inworld::protocol::ai::inworld::packets::entities::items_operation_event::Operation;
use inworld::protocol::ai::inworld::packets::inworld_packet::Packet as WirePacket;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OTHER_SCENE: &str = "workspaces/test-ws/scenes/other-scene";
const CAROL: &str = "workspaces/test-ws/characters/carol";
const NOT_FOUND: i32 = 5;

fn scene_status(p: &Packet) -> Option<&SceneStatus> {
    match &p.body {
        PacketBody::SceneStatus(s) => Some(s),
        _ => None,
    }
}

fn display_names(status: &SceneStatus) -> Vec<String> {
    status
        .characters
        .iter()
        .map(|c| c.display_name.to_string())
        .collect()
}

fn session_names(session: &Session) -> Vec<String> {
    session
        .characters()
        .iter()
        .map(|c| c.display_name.to_string())
        .collect()
}

/// Waits for the next scene status; panics on an error first.
fn next_status(session: &Session) -> SceneStatus {
    let (_, p) = wait_for(session, "a scene status", |p| {
        if let PacketBody::Error(e) = &p.body {
            panic!("error while waiting for a scene status: {e:?}");
        }
        scene_status(p).is_some()
    });
    scene_status(&p).unwrap().clone()
}

/// Waits for the next scene status; returns the scene mutations that went
/// out before it (each with its packet id) too.
fn mutations_then_status(session: &Session) -> (Vec<SceneMutation>, SceneStatus) {
    let (seen, status) = wait_for(session, "a scene status", |p| {
        if let PacketBody::Error(e) = &p.body {
            panic!("error while waiting for a scene status: {e:?}");
        }
        scene_status(p).is_some()
    });
    let mutations = seen
        .iter()
        .filter_map(|p| match &p.body {
            PacketBody::SceneMutation(m) => {
                assert!(!p.ids.packet_id.is_empty(), "{p:?}");
                Some(m.clone())
            }
            _ => None,
        })
        .collect();
    (mutations, scene_status(&status).unwrap().clone())
}

fn call_result(session: &Session, request_id: u64) -> CallResult {
    let (_, p) = wait_for(
        session,
        "a call result",
        |p| matches!(&p.body, PacketBody::CallResult(r) if r.request_id == request_id),
    );
    match p.body {
        PacketBody::CallResult(r) => r,
        _ => unreachable!(),
    }
}

/// The agent id that answered a reply (its generated text's source).
fn speaker(reply: &[Packet]) -> String {
    reply
        .iter()
        .find(|p| matches!(p.body, PacketBody::Text(_)))
        .map(|p| p.routing.source.name.to_string())
        .expect("a text in the reply")
}

fn agent_of(session: &Session, display_name: &str) -> String {
    session
        .characters()
        .iter()
        .find(|c| c.display_name.as_str() == display_name)
        .unwrap_or_else(|| panic!("{display_name} in the scene"))
        .id
        .to_string()
}

// ---- scene changes -------------------------------------------------------

#[test]
fn a_scene_change_replaces_the_characters_and_sends_wait_for_it() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    let alice = session.current_character().unwrap();
    session
        .change_scene(OTHER_SCENE, SceneChange::default())
        .unwrap();
    // Sent while the new scene loads: it goes out once the scene is there.
    let ids = session.send_text("hello in the new room").unwrap();
    let (mutations, status) = mutations_then_status(&session);
    assert_eq!(
        mutations,
        [SceneMutation::LoadScene {
            scene: OTHER_SCENE.into()
        }]
    );
    assert_eq!(status.name, OTHER_SCENE);
    assert_eq!(display_names(&status), ["Carol", "Alice"]);
    assert_eq!(session_names(&session), ["Carol", "Alice"]);
    assert_eq!(session.scene().unwrap().name, OTHER_SCENE);
    // Alice is in the new scene too: she stays the one the player talks to.
    assert_eq!(session.current_character().unwrap().display_name, "Alice");
    let reply = reply_to(&session, &ids);
    assert!(texts(&reply).join(" ").contains("Alice"), "{reply:#?}");
    assert_eq!(
        speaker(&reply),
        session.current_character().unwrap().id.as_str()
    );
    assert_eq!(session.state(), ConnectionState::Ready);

    // A single character as the scene: the current character is replaced.
    session.change_scene(CAROL, SceneChange::default()).unwrap();
    let status = next_status(&session);
    assert_eq!(status.name, CAROL);
    assert_eq!(display_names(&status), ["Carol"]);
    let current = session.current_character().unwrap();
    assert_eq!(current.display_name, "Carol");
    assert_ne!(current.id, alice.id);
    let reply = reply_to(&session, &session.send_text("who are you").unwrap());
    assert!(texts(&reply).join(" ").contains("Carol here"), "{reply:#?}");

    // On the wire: each change is a session configuration, then LoadScene.
    let received: Vec<_> = engine
        .received_packets()
        .into_iter()
        .filter_map(|(_, p)| match p.packet {
            Some(WirePacket::SessionControl(_)) => Some("configuration".to_string()),
            Some(WirePacket::Mutation(m)) => {
                Some(format!("{:?}", m.mutation).chars().take(40).collect())
            }
            _ => None,
        })
        .collect();
    let loads = received.iter().filter(|r| r.contains("LoadScene")).count();
    assert_eq!(loads, 3, "{received:#?}");
    session.close();
}

#[test]
fn a_scene_the_service_does_not_have_is_an_error_and_the_session_stays_where_it_was() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    session
        .change_scene("workspaces/test-ws/scenes/nowhere", SceneChange::default())
        .unwrap();
    let (_, error) = wait_for(&session, "the error", |p| {
        matches!(p.body, PacketBody::Error(_))
    });
    let PacketBody::Error(error) = error.body else {
        unreachable!()
    };
    assert_eq!(error.grpc_code, NOT_FOUND, "{error:?}");
    assert!(error.message.contains("nowhere"), "{error:?}");
    // The session carries on in the scene it had.
    let (seen, _) = wait_for(&session, "Ready again", |p| {
        is_connection(p, ConnectionState::Ready)
    });
    assert!(
        !seen
            .iter()
            .any(|p| is_connection(p, ConnectionState::Closed)),
        "{seen:#?}"
    );
    assert_eq!(session.scene().unwrap().name, SCENE);
    assert_eq!(session_names(&session), ["Alice", "Bob"]);
    let reply = reply_to(&session, &session.send_text("still here?").unwrap());
    assert!(texts(&reply).join(" ").contains("Alice"), "{reply:#?}");
    session.close();
}

#[test]
fn scene_names_outside_the_workspace_are_refused_at_the_call() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    for bad in [
        "workspaces/other-ws/scenes/test-scene",
        "scenes/test-scene",
        "",
        "workspaces/test-ws/rooms/x",
    ] {
        assert!(
            matches!(
                session.change_scene(bad, SceneChange::default()),
                Err(Error::InvalidArgument(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(session.state(), ConnectionState::Ready);
    session.close();
    assert_eq!(
        session.change_scene(OTHER_SCENE, SceneChange::default()),
        Err(Error::Closed)
    );
}

#[test]
fn a_scene_change_during_a_reply_loses_nothing() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    let greeting = session.send_text("hi").unwrap();
    reply_to(&session, &greeting);
    let story = session.send_text("tell me a long story").unwrap();
    // The reply has begun when the scene changes.
    wait_for(&session, "the story's first line", |p| {
        p.ids.interaction_id == story.interaction_id.as_str()
            && matches!(p.body, PacketBody::Text(_))
    });
    session
        .change_scene(OTHER_SCENE, SceneChange::default())
        .unwrap();
    let after = session.send_text("and now?").unwrap();
    // Each send ends in its INTERACTION_END or is reported; no error, no
    // reconnect.
    let mut ended = Vec::new();
    let mut status = None;
    while ended.len() < 2 {
        let (_, p) = wait_for(&session, "the replies", |p| {
            assert!(
                !matches!(p.body, PacketBody::Error(_) | PacketBody::SendFailed(_)),
                "{p:?}"
            );
            assert!(!is_connection(p, ConnectionState::Reconnecting), "{p:?}");
            scene_status(p).is_some()
                || matches!(&p.body, PacketBody::Control(c) if c.action == ControlAction::InteractionEnd)
        });
        match &p.body {
            PacketBody::SceneStatus(s) => status = Some(s.clone()),
            _ => ended.push(p.ids.interaction_id.to_string()),
        }
    }
    assert_eq!(
        ended,
        [story.interaction_id.clone(), after.interaction_id.clone()]
    );
    assert_eq!(status.expect("the new scene's status").name, OTHER_SCENE);
    session.close();
}

// ---- characters at run time ------------------------------------------------

#[test]
fn characters_are_added_and_removed_at_run_time() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    session.add_characters(&[CAROL]).unwrap();
    let (mutations, status) = mutations_then_status(&session);
    assert_eq!(
        mutations,
        [SceneMutation::AddCharacters {
            names: vec![CAROL.into()]
        }]
    );
    assert_eq!(display_names(&status), ["Alice", "Bob", "Carol"]);
    assert_eq!(session_names(&session), ["Alice", "Bob", "Carol"]);
    session.set_current_character("carol").unwrap();
    let reply = reply_to(&session, &session.send_text("hello carol").unwrap());
    assert!(texts(&reply).join(" ").contains("Carol here"), "{reply:#?}");
    assert_eq!(speaker(&reply), agent_of(&session, "Carol"));

    // Removing the current character: the first remaining one takes over.
    let carol = agent_of(&session, "Carol");
    let bob = agent_of(&session, "Bob");
    session.remove_characters(&["Carol", "Bob"]).unwrap();
    assert_eq!(session_names(&session), ["Alice"]);
    assert_eq!(session.current_character().unwrap().display_name, "Alice");
    let (mutations, status) = mutations_then_status(&session);
    assert_eq!(
        mutations,
        [SceneMutation::RemoveCharacters {
            agent_ids: vec![carol.as_str().into(), bob.as_str().into()]
        }]
    );
    assert_eq!(display_names(&status), ["Alice"]);
    let unloaded = engine.received_packets().into_iter().any(|(_, p)| {
        matches!(p.packet, Some(WirePacket::Mutation(m)) if format!("{m:?}").contains(&carol))
    });
    assert!(unloaded, "the engine got Carol's agent id to unload");
    let reply = reply_to(&session, &session.send_text("just us").unwrap());
    assert!(texts(&reply).join(" ").contains("Alice"), "{reply:#?}");
    session.close();
}

#[test]
fn unknown_characters_and_other_workspaces_are_errors() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    assert!(matches!(
        session.remove_characters(&["Zed"]),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        session.add_characters(&["workspaces/other-ws/characters/carol"]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        session.add_characters(&[]),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(session_names(&session), ["Alice", "Bob"]);
    // A name the service does not know: left out, with its warning.
    session
        .add_characters(&["workspaces/test-ws/characters/nobody", CAROL])
        .unwrap();
    let (seen, status) = wait_for(&session, "the status", |p| scene_status(p).is_some());
    let warning = seen
        .iter()
        .find_map(|p| match &p.body {
            PacketBody::Control(c) if c.action == ControlAction::Warning => {
                Some(c.description.to_string())
            }
            _ => None,
        })
        .expect("a warning about the unknown character");
    assert!(warning.contains("nobody"), "{warning}");
    assert_eq!(
        display_names(scene_status(&status).unwrap()),
        ["Alice", "Bob", "Carol"]
    );
    session.close();
}

// ---- group conversations ---------------------------------------------------

#[test]
fn a_group_conversation_takes_turns_and_adds_characters_not_in_the_scene() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    let mut group = session.start_conversation(&["Alice", "Bob"], true).unwrap();
    assert!(!group.id().is_empty());
    // It starts with its first send: the service confirms it first.
    let hello = group.send_text("hello everyone").unwrap();
    assert_eq!(hello.conversation_id, group.id());
    let (_, started) = wait_for(&session, "the conversation's start", |p| {
        matches!(&p.body, PacketBody::ConversationEvent(e) if e.kind == ConversationEventKind::Started)
            && p.ids.conversation_id == group.id()
    });
    let PacketBody::ConversationEvent(event) = &started.body else {
        unreachable!()
    };
    assert_eq!(event.participants.len(), 3, "{event:?}");

    // The player speaks, then the characters speak among themselves.
    let mut speakers = Vec::new();
    let first = reply_to(&session, &hello);
    assert!(first.iter().all(|p| p.ids.conversation_id == group.id()));
    speakers.push(speaker(&first));
    for _ in 0..3 {
        let turn = reply_to(&session, &group.next_turn().unwrap());
        speakers.push(speaker(&turn));
    }
    let alice = agent_of(&session, "Alice");
    let bob = agent_of(&session, "Bob");
    assert!(
        speakers.contains(&alice) && speakers.contains(&bob),
        "{speakers:?}"
    );
    assert!(
        speakers.windows(2).all(|w| w[0] != w[1]),
        "turns alternate: {speakers:?}"
    );

    // A trigger to one of them; narrated actions need a one-character group.
    let greeted = reply_to(
        &session,
        &group
            .send_trigger("greet", &[("mood", "bright")], Some("Bob"))
            .unwrap(),
    );
    assert_eq!(speaker(&greeted), bob);
    assert!(matches!(
        group.send_narrated_action("waves"),
        Err(Error::InvalidArgument(_))
    ));

    // Carol is not in the scene: she is added first, then joins.
    group
        .update_participants(&["Alice", "Bob", CAROL], true)
        .unwrap();
    let (_, updated) = wait_for(
        &session,
        "the update",
        |p| matches!(&p.body, PacketBody::ConversationEvent(e) if e.kind == ConversationEventKind::Updated),
    );
    let PacketBody::ConversationEvent(event) = &updated.body else {
        unreachable!()
    };
    assert_eq!(event.participants.len(), 4, "{event:?}");
    assert_eq!(session_names(&session), ["Alice", "Bob", "Carol"]);
    let carol = agent_of(&session, "Carol");
    let mut heard = Vec::new();
    for _ in 0..3 {
        heard.push(speaker(&reply_to(&session, &group.next_turn().unwrap())));
    }
    assert!(heard.contains(&carol), "{heard:?}");

    // The one-to-one conversation carries on beside it.
    let solo = reply_to(&session, &session.send_text("just you, alice").unwrap());
    assert!(solo.iter().all(|p| p.ids.conversation_id != group.id()));
    assert_eq!(speaker(&solo), alice);
    session.close();
}

#[test]
fn a_conversation_of_one_character_takes_narrated_actions_and_ends() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    let group = session.start_conversation(&["Bob"], true).unwrap();
    let reply = reply_to(&session, &group.send_narrated_action("waves").unwrap());
    assert!(texts(&reply).join(" ").contains("Waves back"), "{reply:#?}");
    let id = group.id().to_string();
    let other = group.clone();
    group.end().unwrap();
    // Sends after the end fail at the call or are reported, never lost.
    match other.send_text("anyone?") {
        Err(_) => {}
        Ok(ids) => {
            let (_, p) = wait_for(&session, "the report", |p| {
                matches!(p.body, PacketBody::SendFailed(_))
                    && p.ids.interaction_id == ids.interaction_id.as_str()
            });
            let PacketBody::SendFailed(failed) = p.body else {
                unreachable!()
            };
            assert_eq!(failed.reason, SendFailure::NotSent, "{failed:?}");
            assert_eq!(p.ids.conversation_id, id.as_str());
        }
    }
    assert!(matches!(
        session.start_conversation(&[], true),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        session.start_conversation(&["Zed"], true),
        Err(Error::NotFound(_))
    ));
    session.close();
}

// ---- feedback --------------------------------------------------------------

#[test]
fn likes_dislikes_and_undo_come_back_as_call_results() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    let ids = session.send_text("hi").unwrap();
    let reply = reply_to(&session, &ids);
    let line = reply
        .iter()
        .find(|p| matches!(p.body, PacketBody::Text(_)))
        .unwrap();

    let like = session
        .like(&line.ids.interaction_id, Some(&line.ids.correlation_id))
        .unwrap();
    let liked = call_result(&session, like);
    assert_eq!(
        (liked.call, liked.grpc_code),
        (CallKind::Like, 0),
        "{liked:?}"
    );
    assert!(liked.name.contains("/feedbacks/"), "{liked:?}");
    assert!(
        liked.name.contains(line.ids.interaction_id.as_str()),
        "{liked:?}"
    );

    let dislike = session
        .dislike(
            &ids.interaction_id,
            None,
            &[DislikeType::TooLong, DislikeType::OutOfCharacter],
            "not like her",
        )
        .unwrap();
    assert_ne!(dislike, like);
    let disliked = call_result(&session, dislike);
    assert_eq!((disliked.call, disliked.grpc_code), (CallKind::Dislike, 0));
    assert_ne!(disliked.name, liked.name);

    let undo = session.undo_feedback(&liked.name).unwrap();
    let undone = call_result(&session, undo);
    assert_eq!(
        (undone.call, undone.grpc_code),
        (CallKind::UndoFeedback, 0),
        "{undone:?}"
    );
    // Undone already: the service no longer has it.
    let again = call_result(&session, session.undo_feedback(&liked.name).unwrap());
    assert_eq!(again.grpc_code, NOT_FOUND, "{again:?}");
    assert!(!again.message.is_empty());

    assert!(matches!(
        session.like("", None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        session.like("a/b", None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        session.undo_feedback("likes/1"),
        Err(Error::InvalidArgument(_))
    ));
    session.close();
}

// ---- saved state and the dialog ----------------------------------------------

#[test]
fn the_saved_state_reopens_the_session_where_it_was() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    reply_to(&session, &session.send_text("hi").unwrap());
    reply_to(&session, &session.send_text("my sword is blue").unwrap());
    let request = session.request_state().unwrap();
    let state = call_result(&session, request);
    assert_eq!(
        (state.call, state.grpc_code),
        (CallKind::SessionState, 0),
        "{state:?}"
    );
    assert!(!state.data.is_empty());
    assert!(
        !state.version.is_empty(),
        "the last interaction it includes"
    );

    // Asked for as the session closes, and after: the answers still come,
    // after the Closed packet.
    let as_closing = session.request_state().unwrap();
    session.close();
    let after = session.request_state().unwrap();
    let mut answered = Vec::new();
    let mut closed = false;
    while let Some(p) = session.recv_timeout(WAIT) {
        match &p.body {
            PacketBody::CallResult(r) => answered.push(r.clone()),
            PacketBody::Connection(c) if c.state == ConnectionState::Closed => closed = true,
            _ => {}
        }
    }
    assert!(closed);
    let ids: Vec<u64> = answered.iter().map(|r| r.request_id).collect();
    assert_eq!(ids.len(), 2, "{answered:?}");
    assert!(
        ids.contains(&as_closing) && ids.contains(&after),
        "{answered:?}"
    );
    for r in &answered {
        assert_eq!(r.grpc_code, 0, "{r:?}");
        assert_eq!(r.data, state.data);
    }
    // Feedback too.
    let liked = session.like(&state.version, None).unwrap();
    let liked = call_result(&session, liked);
    assert_eq!(liked.grpc_code, 0, "{liked:?}");

    let mut config = config_for(&engine);
    config.session.continuation = Some(Continuation::SavedState(state.data.clone()));
    let (reopened, _) = open_ready(config);
    let reply = reply_to(&reopened, &reopened.send_text("do you remember?").unwrap());
    let said = texts(&reply).join(" ");
    assert!(said.contains("my sword is blue"), "{said}");
    reopened.close();
}

#[test]
fn the_dialog_so_far_reopens_a_session_as_previous_dialog() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    reply_to(&session, &session.send_text("hi").unwrap());
    reply_to(
        &session,
        &session.send_text("the password is swordfish").unwrap(),
    );
    reply_to(&session, &session.send_narrated_action("waves").unwrap());
    let dialog = session.dialog();
    let players: Vec<&String> = dialog
        .iter()
        .filter(|(t, _)| *t == Talker::Player)
        .map(|(_, l)| l)
        .collect();
    assert!(
        players.iter().any(|l| l.contains("swordfish")),
        "{dialog:?}"
    );
    assert!(
        dialog
            .iter()
            .any(|(t, l)| *t == Talker::Character && l.contains("Alice")),
        "{dialog:?}"
    );
    session.close();

    let mut config = config_for(&engine);
    config.session.continuation = Some(Continuation::DialogHistory(dialog));
    let (reopened, _) = open_ready(config);
    let said = texts(&reply_to(
        &reopened,
        &reopened.send_text("remember me?").unwrap(),
    ))
    .join(" ");
    assert!(said.contains("I remember"), "{said}");
    reopened.close();
}

// ---- entity items ------------------------------------------------------------

#[test]
fn entity_items_reach_the_service_and_survive_in_the_saved_state() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    let sword = EntityItem {
        id: "sword".into(),
        display_name: "Sword".into(),
        description: "A blue blade".into(),
        properties: vec![("damage".into(), "7".into())],
    };
    let shield = EntityItem {
        id: "shield".into(),
        display_name: "Shield".into(),
        ..Default::default()
    };
    session
        .create_or_update_items(&[sword, shield], &["workspaces/test-ws/entities/weapons"])
        .unwrap();
    session
        .items_in_entities(
            ItemsInEntities::Add,
            &["sword"],
            &["workspaces/test-ws/entities/treasure"],
        )
        .unwrap();
    session.remove_items(&["shield"]).unwrap();
    assert!(matches!(
        session.create_or_update_items(&[EntityItem::default()], &[]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        session.remove_items(&[]),
        Err(Error::InvalidArgument(_))
    ));
    // The saved state is asked for after the items went out: the service
    // answers it after it applied them.
    reply_to(&session, &session.send_text("hi").unwrap());
    let state = call_result(&session, session.request_state().unwrap());
    assert_eq!(state.grpc_code, 0, "{state:?}");
    let operations: Vec<Operation> = engine
        .received_packets()
        .into_iter()
        .filter_map(|(_, p)| match p.packet {
            Some(WirePacket::EntitiesItemsOperation(op)) => op.operation,
            _ => None,
        })
        .collect();
    assert_eq!(operations.len(), 3, "{operations:#?}");
    assert!(matches!(&operations[0], Operation::CreateOrUpdateItems(c) if c.items.len() == 2));
    assert!(matches!(&operations[1], Operation::ItemsInEntities(i) if i.item_ids == ["sword"]));
    assert!(matches!(&operations[2], Operation::RemoveItems(r) if r.item_ids == ["shield"]));
    // No warning: the engine took every operation.
    assert!(!std::iter::from_fn(|| session.try_recv())
        .any(|p| matches!(&p.body, PacketBody::Control(c) if c.action == ControlAction::Warning)));
    let saved = String::from_utf8_lossy(&state.data).to_string();
    assert!(
        saved.contains("sword") && !saved.contains("shield"),
        "{saved:?}"
    );
    session.close();
}

// ---- tokens from the game's backend --------------------------------------------

/// A provider backed by a "backend": a client holding the key and secret.
fn backend_provider(
    engine: &inworld::engine::RunningEngine,
    asked: Arc<Mutex<Vec<TokenRequest>>>,
) -> TokenProvider {
    let backend = Client::new(config_for(engine)).unwrap();
    TokenProvider::new(move |request: TokenRequest| {
        let backend = backend.clone();
        let asked = asked.clone();
        Box::pin(async move {
            asked.lock().unwrap().push(request.clone());
            let mut token = backend
                .generate_token(&request.workspace)
                .await
                .map_err(|e| e.to_string())?;
            // This backend can name the session it renews a token for.
            if let Some(id) = request.session_id {
                token.session_id = id;
            }
            Ok(token)
        })
    })
}

#[test]
fn a_backend_mints_tokens_and_the_session_renews_them() {
    // Tokens live a minute here: less than the renewal margin, so every
    // new stream asks for a fresh one.
    let engine = engine_with(|c| c.token_ttl = Duration::from_secs(60));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let mut config = config_for(&engine);
    config.auth = Auth::Provider(backend_provider(&engine, asked.clone()));
    let (session, _) = open_ready(config);
    let id = session.session_id().unwrap();
    reply_to(&session, &session.send_text("hi").unwrap());
    reply_to(
        &session,
        &session.send_text("my cat is called Tom").unwrap(),
    );
    {
        let asked = asked.lock().unwrap();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert_eq!(asked[0].workspace, "test-ws");
        assert_eq!(asked[0].session_id, None);
    }
    // The engine goes away and comes back: the new stream needs a new token.
    engine.suspend();
    wait_for(&session, "Reconnecting", |p| {
        is_connection(p, ConnectionState::Reconnecting)
    });
    engine.resume().unwrap();
    wait_ready(&session);
    // Same session on the engine: it remembers the line before.
    let said = texts(&reply_to(
        &session,
        &session.send_text("do you remember?").unwrap(),
    ))
    .join(" ");
    assert!(said.contains("my cat is called Tom"), "{said}");
    let asked = asked.lock().unwrap();
    assert!(asked.len() >= 2, "{asked:?}");
    assert_eq!(
        asked.last().unwrap().session_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(session.session_id().unwrap(), id);
    session.close();
}

#[test]
fn generate_token_needs_the_key_and_a_workspace() {
    let engine = engine();
    let backend = Client::new(config_for(&engine)).unwrap();
    let token = backend.generate_token_blocking("test-ws").unwrap();
    assert!(!token.token.is_empty() && !token.session_id.is_empty());
    assert_eq!(token.token_type, "Bearer");
    assert!(
        !format!("{token:?}").contains(&token.token),
        "the token is never printed"
    );
    assert!(matches!(
        backend.generate_token_blocking("workspaces/test-ws"),
        Err(Error::InvalidArgument(_))
    ));
    // A wrong secret: the service refuses.
    let mut wrong = config_for(&engine);
    wrong.auth = Auth::ApiKey(inworld::auth::Credentials::new(
        engine.credentials().key.clone(),
        "not-the-secret",
    ));
    let refused = Client::new(wrong)
        .unwrap()
        .generate_token_blocking("test-ws");
    assert!(
        matches!(&refused, Err(Error::Service(m)) if m.contains("Unauthenticated")),
        "{refused:?}"
    );
    // A client opening sessions with a token cannot mint one.
    let mut with_token = config_for(&engine);
    with_token.auth = Auth::Token(token);
    assert!(matches!(
        Client::new(with_token)
            .unwrap()
            .generate_token_blocking("test-ws"),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn a_failing_token_provider_is_retried_then_given_up() {
    let engine = engine();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let mut config = config_for(&engine);
    config.auth = Auth::Provider(TokenProvider::new(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err("the backend is down".to_string()) })
    }));
    config.reconnect = ReconnectPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
    };
    let session = Session::open(config).unwrap();
    let (seen, _) = wait_for(&session, "Closed", |p| {
        is_connection(p, ConnectionState::Closed)
    });
    let errors: Vec<_> = seen
        .iter()
        .filter_map(|p| match &p.body {
            PacketBody::Error(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|e| e.message.contains("the backend is down")),
        "{errors:?}"
    );
    assert!(!errors.last().unwrap().will_retry);
    assert!(calls.load(Ordering::SeqCst) >= 2, "retried");
    assert!(!seen
        .iter()
        .any(|p| is_connection(p, ConnectionState::Ready)));
}

#[test]
fn a_token_provider_that_never_answers_times_out() {
    let engine = engine();
    let mut config = config_for(&engine);
    config.auth = Auth::Provider(TokenProvider::new(|_| Box::pin(std::future::pending())));
    config.timeouts.connect = Duration::from_millis(500);
    config.reconnect.max_attempts = 1;
    let session = Session::open(config).unwrap();
    let error = error_before_closed(&session);
    assert!(
        error.message.contains("token provider did not answer"),
        "{error:?}"
    );
    // A slow provider is not a wrong one: the session could retry.
    assert_eq!(session.state(), ConnectionState::Closed);
}

#[test]
fn the_backend_token_example_chats_without_the_secret() {
    // `cargo test` builds the examples next to the test binaries.
    let exe = std::env::current_exe().unwrap();
    let examples = exe.parent().unwrap().parent().unwrap().join("examples");
    let out = std::process::Command::new(examples.join("backend_token"))
        .output()
        .expect("the backend_token example is built by cargo test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ready") && stdout.lines().count() >= 2,
        "{stdout}"
    );
}
