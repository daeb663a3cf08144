//! Session state across streams, expiry, GetSessionState + continuations, feedback.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod engine_support;

use engine_support::*;
use inworld::engine::Workspace;
use inworld::protocol::ai::inworld::engine::v1::feedback_client::FeedbackClient;
use inworld::protocol::ai::inworld::engine::v1::state_serialization_client::StateSerializationClient;
use inworld::protocol::ai::inworld::engine::v1::{
    CreateInteractionFeedbackRequest, DeleteInteractionFeedbackRequest, GetSessionStateRequest,
    InteractionFeedback,
};
use inworld::protocol::ai::inworld::packets::*;
use inworld::protocol::status::{details_of, ErrorType};
use std::time::Duration;
use tonic::Code;

#[tokio::test(flavor = "multi_thread")]
async fn a_reopened_stream_continues_the_session_without_configuration() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    r.stream.send(text(&r.conversation, "my name is Zed")).await;
    r.stream.reply().await;
    drop(r.stream);

    // Same session id, no configuration, no LoadScene: only the conversation handshake.
    let mut s = try_open(&engine, &r.token, &r.session_id).await.unwrap();
    s.send(conversation_update(&r.conversation, &[&r.agents[0]], true))
        .await;
    let event = s.packet().await;
    assert!(conversation_event(&event).is_some());
    s.send(text(&r.conversation, "do you remember?")).await;
    let reply = s.reply().await;
    assert_eq!(texts(&reply), ["I remember.", "You said: my name is Zed"]);
    assert_eq!(source_name(&reply[0]), r.agents[0], "same agent ids");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_expire_with_session_expired_details() {
    let mut config = test_config(Workspace::test_scenes());
    config.session_idle_timeout = Duration::from_millis(300);
    let engine = start(config);
    let mut r = ready(&engine, caps_text()).await;
    let status = r.stream.error().await;
    assert_eq!(status.code(), Code::FailedPrecondition);
    let details = details_of(&status).expect("InworldStatus details");
    assert_eq!(details.error_type(), Some(ErrorType::SessionExpired));

    // Reopening reports the same, with a fresh token too.
    let t = token(&engine).await;
    let Err(status) = try_open(&engine, &t.token, &r.session_id).await else {
        panic!("an expired session cannot be reopened")
    };
    assert_eq!(
        details_of(&status).unwrap().error_type(),
        Some(ErrorType::SessionExpired)
    );
    // An active session does not expire.
    let mut r = ready(&engine, caps_text()).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        r.stream.send(text(&r.conversation, "still here")).await;
        r.stream.reply().await;
    }
}

async fn saved_state(
    engine: &inworld::engine::RunningEngine,
    token: &str,
    session: &str,
) -> Vec<u8> {
    let mut client = StateSerializationClient::new(channel(engine).await);
    let state = client
        .get_session_state(bearer(
            GetSessionStateRequest {
                name: format!("workspaces/test-ws/sessions/{session}"),
            },
            token,
            None,
        ))
        .await
        .expect("state")
        .into_inner();
    assert!(state.creation_time.is_some());
    assert!(!state.version.expect("version").interaction_id.is_empty());
    state.state
}

/// Opens `s` with `continuation`, talks to its first character and returns
/// the lines of the answer to `question`.
async fn ask_with_continuation(
    s: &mut Stream,
    continuation: Continuation,
    question: &str,
) -> Vec<String> {
    s.send(configuration(caps_text(), Some(continuation))).await;
    s.send(load_scene(SCENE)).await;
    let status = s.packet().await;
    let alice = scene_status(&status).unwrap().agents[0].agent_id.clone();
    s.send(conversation_update("c", &[&alice], true)).await;
    s.packet().await;
    s.send(text("c", question)).await;
    texts(&s.reply().await)
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_state_continues_in_a_new_session() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    r.stream
        .send(text(&r.conversation, "my sword is called Dawn"))
        .await;
    r.stream.reply().await;
    let bytes = saved_state(&engine, &r.token, &r.session_id).await;

    // A brand-new session that passes the state back remembers.
    let t = token(&engine).await;
    let mut s = try_open(&engine, &t.token, &t.session_id).await.unwrap();
    let continuation = Continuation {
        continuation_type: continuation::ContinuationType::ExternallySavedState as i32,
        externally_saved_state: bytes,
        ..Default::default()
    };
    assert_eq!(
        ask_with_continuation(&mut s, continuation, "remember?").await,
        ["I remember.", "You said: my sword is called Dawn"]
    );

    // Foreign bytes are refused with a warning, and the session goes on.
    let mut s = try_open(&engine, &t.token, &Sessions::fresh())
        .await
        .unwrap();
    let bad = Continuation {
        continuation_type: continuation::ContinuationType::ExternallySavedState as i32,
        externally_saved_state: b"opaque".to_vec(),
        ..Default::default()
    };
    s.send(configuration(caps_text(), Some(bad))).await;
    let warning = s.packet().await;
    assert!(is_control(&warning, control_event::Action::Warning));
    s.send(load_scene(SCENE)).await;
    assert!(scene_status(&s.packet().await).is_some());
}

struct Sessions;
impl Sessions {
    fn fresh() -> String {
        format!("test-ws:{}", uuid::Uuid::new_v4())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dialog_history_continuation_is_honoured() {
    let engine = test_engine();
    let t = token(&engine).await;
    let mut s = try_open(&engine, &t.token, &t.session_id).await.unwrap();
    let history = DialogHistory {
        history: vec![
            dialog_history::HistoryItem {
                actor: Some(Actor {
                    r#type: actor::Type::Player as i32,
                    name: String::new(),
                }),
                text: "I come from the north".into(),
            },
            dialog_history::HistoryItem {
                actor: Some(Actor {
                    r#type: actor::Type::Agent as i32,
                    name: "alice".into(),
                }),
                text: "Welcome".into(),
            },
        ],
    };
    let continuation = Continuation {
        continuation_type: continuation::ContinuationType::DialogHistory as i32,
        dialog_history: Some(history),
        ..Default::default()
    };
    assert_eq!(
        ask_with_continuation(&mut s, continuation, "remember me?").await,
        ["I remember.", "You said: I come from the north"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn get_session_state_checks_its_name_and_token() {
    let engine = test_engine();
    let r = ready(&engine, caps_text()).await;
    let mut client = StateSerializationClient::new(channel(&engine).await);
    let call = |name: String, token: String| {
        let mut client = client.clone();
        async move {
            client
                .get_session_state(bearer(GetSessionStateRequest { name }, &token, None))
                .await
        }
    };
    let s = call(
        format!("workspaces/test-ws/sessions/{}", r.session_id),
        "bad".into(),
    )
    .await
    .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    let s = call("sessions/x".into(), r.token.clone())
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    let s = call("workspaces/other/sessions/x".into(), r.token.clone())
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied);
    let s = call(
        "workspaces/test-ws/sessions/test-ws:nope".into(),
        r.token.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    let s = client
        .get_session_state(GetSessionStateRequest { name: "x".into() })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread")]
async fn feedback_is_created_and_deleted_by_name() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    let sent = text(&r.conversation, "hello");
    let ids = sent.packet_id.clone().unwrap();
    r.stream.send(sent).await;
    r.stream.reply().await;
    let mut client = FeedbackClient::new(channel(&engine).await);
    let parent = format!(
        "workspaces/test-ws/sessions/{}/interactions/{}/groups/{}",
        r.session_id, ids.interaction_id, ids.correlation_id
    );
    let created = client
        .create_interaction_feedback(bearer(
            CreateInteractionFeedbackRequest {
                parent: parent.clone(),
                interaction_feedback: Some(InteractionFeedback {
                    is_like: false,
                    r#type: vec![1, 2],
                    comment: "meh".into(),
                    name: String::new(),
                }),
            },
            &r.token,
            Some(&r.session_id),
        ))
        .await
        .expect("created")
        .into_inner();
    assert!(created.name.starts_with(&format!("{parent}/feedbacks/")));
    assert_eq!(created.r#type, [1, 2]);
    assert_eq!(created.comment, "meh");

    let delete = |name: String| {
        let mut client = client.clone();
        let token = r.token.clone();
        async move {
            client
                .delete_interaction_feedback(bearer(
                    DeleteInteractionFeedbackRequest { name },
                    &token,
                    None,
                ))
                .await
        }
    };
    delete(created.name.clone()).await.expect("deleted");
    assert_eq!(
        delete(created.name.clone()).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        delete("garbage".into()).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    // Bad parents.
    for (parent, code) in [
        (
            "workspaces/test-ws/sessions/x".to_string(),
            Code::InvalidArgument,
        ),
        (
            format!(
                "workspaces/other/sessions/{}/interactions/i/groups/default",
                r.session_id
            ),
            Code::PermissionDenied,
        ),
        (
            "workspaces/test-ws/sessions/test-ws:nope/interactions/i/groups/default".to_string(),
            Code::NotFound,
        ),
    ] {
        let s = client
            .create_interaction_feedback(bearer(
                CreateInteractionFeedbackRequest {
                    parent,
                    interaction_feedback: Some(InteractionFeedback::default()),
                },
                &r.token,
                Some(&r.session_id),
            ))
            .await
            .unwrap_err();
        assert_eq!(s.code(), code, "{s:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn entity_items_are_kept_in_the_session_state() {
    use inworld::protocol::ai::inworld::packets::entities::*;
    use prost::Message;
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    let op = |operation| {
        build(
            Some(player_to_world()),
            ids(""),
            inworld_packet::Packet::EntitiesItemsOperation(ItemsOperationEvent {
                operation: Some(operation),
            }),
        )
    };
    let item = |id: &str| EntityItem {
        id: id.into(),
        display_name: id.to_uppercase(),
        description: "thing".into(),
        properties: [("k".to_string(), "v".to_string())].into(),
    };
    r.stream
        .send(op(items_operation_event::Operation::CreateOrUpdateItems(
            CreateOrUpdateItemsOperation {
                items: vec![item("sword"), item("shield"), item("bow")],
                add_to_entities: vec!["weapons".into()],
            },
        )))
        .await;
    r.stream
        .send(op(items_operation_event::Operation::ItemsInEntities(
            ItemsInEntitiesOperation {
                r#type: items_in_entities_operation::Type::Add as i32,
                item_ids: vec!["sword".into()],
                entity_names: vec!["loot".into()],
            },
        )))
        .await;
    r.stream
        .send(op(items_operation_event::Operation::RemoveItems(
            RemoveItemsOperation {
                item_ids: vec!["bow".into()],
            },
        )))
        .await;
    // A reply round trip orders the operations before the state read.
    r.stream.send(text(&r.conversation, "hello")).await;
    r.stream.reply().await;
    let bytes = saved_state(&engine, &r.token, &r.session_id).await;
    let saved = inworld::engine::state::SavedState::decode(bytes.as_slice()).unwrap();
    let items: Vec<&str> = saved.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(items, ["shield", "sword"]);
    assert_eq!(saved.items[0].properties["k"], "v");
    let entity = |name: &str| {
        saved
            .entities
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.item_ids.clone())
            .unwrap_or_default()
    };
    assert_eq!(entity("weapons"), ["shield", "sword"]);
    assert_eq!(entity("loot"), ["sword"]);
    assert_eq!(saved.scene, SCENE);
}

/// A session that continues a dialog (say, reopened after an engine restart)
/// answers the next line, where a greeting would treat the player as a
/// stranger; a session without one greets.
#[tokio::test(flavor = "multi_thread")]
async fn a_continued_dialog_is_answered_not_greeted() {
    let engine = test_engine();
    let t = token(&engine).await;
    let history = DialogHistory {
        history: vec![
            dialog_history::HistoryItem {
                actor: Some(Actor {
                    r#type: actor::Type::Player as i32,
                    name: String::new(),
                }),
                text: "Hi there".into(),
            },
            dialog_history::HistoryItem {
                actor: Some(Actor {
                    r#type: actor::Type::Agent as i32,
                    name: "alice".into(),
                }),
                text: "Hello, Tester. I am Alice.".into(),
            },
        ],
    };
    for kind in [
        continuation::ContinuationType::DialogHistory,
        continuation::ContinuationType::ExternallySavedState,
    ] {
        let mut continuation = Continuation {
            continuation_type: kind as i32,
            ..Default::default()
        };
        if kind == continuation::ContinuationType::DialogHistory {
            continuation.dialog_history = Some(history.clone());
        } else {
            let mut r = ready(&engine, caps_text()).await;
            r.stream.send(text(&r.conversation, "Hi there")).await;
            assert_eq!(
                texts(&r.stream.reply().await),
                ["Hello, Tester.", "I am Alice."]
            );
            continuation.externally_saved_state =
                saved_state(&engine, &r.token, &r.session_id).await;
        }
        let mut s = try_open(&engine, &t.token, &Sessions::fresh())
            .await
            .unwrap();
        assert_eq!(
            ask_with_continuation(&mut s, continuation, "What now?").await,
            ["Alice here.", "You said: What now?"],
            "{kind:?}"
        );
        s.send(text("c", "And then?")).await;
        assert_eq!(
            texts(&s.reply().await),
            ["Alice again.", "Noted: And then?"],
            "never greets later either ({kind:?})"
        );
    }
    // Without a continuation, the first line is greeted.
    let mut s = try_open(&engine, &t.token, &Sessions::fresh())
        .await
        .unwrap();
    s.send(configuration(caps_text(), None)).await;
    s.send(load_scene(SCENE)).await;
    let alice = scene_status(&s.packet().await).unwrap().agents[0]
        .agent_id
        .clone();
    s.send(conversation_update("c", &[&alice], true)).await;
    s.packet().await;
    s.send(text("c", "What now?")).await;
    assert_eq!(texts(&s.reply().await), ["Hello, Tester.", "I am Alice."]);
}
