//! A player cannot make the engine work or keep in proportion to what it
//! sends: beyond each limit (`inworld::engine::limits`) the input is refused
//! with a warning naming the limit, and the session goes on.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod engine_support;

use engine_support::*;
use inworld::engine::limits::*;
use inworld::protocol::ai::inworld::engine::v1::state_serialization_client::StateSerializationClient;
use inworld::protocol::ai::inworld::engine::v1::GetSessionStateRequest;
use inworld::protocol::ai::inworld::packets::entities::*;
use inworld::protocol::ai::inworld::packets::*;
use prost::Message;

fn warning_text(p: &InworldPacket) -> String {
    match &p.packet {
        Some(inworld_packet::Packet::Control(c))
            if c.action == control_event::Action::Warning as i32 =>
        {
            c.description.clone()
        }
        _ => panic!("expected a warning, got {p:?}"),
    }
}

fn narrated(conversation: &str, content: &str) -> InworldPacket {
    build(
        Some(from_player()),
        interaction_ids(conversation),
        inworld_packet::Packet::Action(ActionEvent {
            action: Some(action_event::Action::NarratedAction(NarratedAction {
                content: content.to_string(),
            })),
            playback: 0,
        }),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn player_input_beyond_the_limits_gets_a_warning_naming_the_limit() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_all()).await;
    let c = r.conversation.clone();
    let long_text = "a".repeat(MAX_TEXT_BYTES + 1);
    let long_value = "v".repeat(MAX_PARAMETER_VALUE_BYTES + 1);
    let many: Vec<(String, String)> = (0..=MAX_TRIGGER_PARAMETERS)
        .map(|i| (format!("p{i}"), "x".to_string()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let mut long_id = text(&c, "hello");
    long_id.packet_id.as_mut().unwrap().interaction_id = "i".repeat(MAX_ID_BYTES + 1);
    let cases = [
        (text(&c, &long_text), format!("at most {MAX_TEXT_BYTES}")),
        (
            narrated(&c, &long_text),
            format!("at most {MAX_TEXT_BYTES}"),
        ),
        (
            trigger(&c, &"t".repeat(MAX_TRIGGER_NAME_BYTES + 1), &[]),
            format!("at most {MAX_TRIGGER_NAME_BYTES}"),
        ),
        (
            trigger(&c, "greet", &many),
            format!("at most {MAX_TRIGGER_PARAMETERS}"),
        ),
        (
            trigger(&c, "greet", &[("mood", &long_value)]),
            format!("at most {MAX_PARAMETER_VALUE_BYTES}"),
        ),
        (long_id, format!("at most {MAX_ID_BYTES} bytes")),
    ];
    for (packet, limit) in cases {
        r.stream.send(packet).await;
        let w = warning_text(&r.stream.packet().await);
        assert!(w.contains(&limit), "{w:?} should name {limit:?}");
        assert!(w.len() < 512, "the warning does not echo the input");
    }
    // Exactly at the limits is fine, and the session goes on.
    r.stream.send(text(&c, &"b".repeat(MAX_TEXT_BYTES))).await;
    assert!(!texts(&r.stream.reply().await).is_empty());
}

/// A trigger parameter whose value is a placeholder is said as written.
/// Before, filling it in looped forever while holding the session's lock,
/// which froze every stream of the session and a worker of the engine.
#[tokio::test(flavor = "multi_thread")]
async fn a_parameter_that_looks_like_a_placeholder_is_said_as_written() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    for value in ["{param.mood}", "{player}{param.mood}", "{text}"] {
        r.stream
            .send(trigger(&r.conversation, "greet", &[("mood", value)]))
            .await;
        let reply = r.stream.reply().await;
        assert_eq!(
            texts(&reply),
            ["Well met, Tester!", &format!("You look {value} today.")]
        );
    }
    let mut other = ready(&engine, caps_text()).await;
    other.stream.send(text(&other.conversation, "hello")).await;
    assert!(!texts(&other.stream.reply().await).is_empty());
}

/// A loud square wave: `samples` of 16-bit mono PCM.
fn loud_pcm(samples: usize) -> Vec<u8> {
    (0..samples)
        .flat_map(|i| if (i / 20) % 2 == 0 { 8000i16 } else { -8000 }.to_le_bytes())
        .collect()
}

/// An audio session may carry 3 minutes of 16 kHz 16-bit mono; beyond, one
/// warning, and the rest is dropped (before: 16 MiB were kept in memory).
#[tokio::test(flavor = "multi_thread")]
async fn an_audio_session_beyond_three_minutes_is_cut_with_one_warning() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    let c = r.conversation.clone();
    r.stream
        .send(control(&c, control_event::Action::AudioSessionStart))
        .await;
    let two_seconds = loud_pcm(32_000);
    let chunks = MAX_AUDIO_SESSION_BYTES / two_seconds.len() + 10;
    let tx = r.stream.tx.clone();
    let sender = tokio::spawn(async move {
        for _ in 0..chunks {
            tx.send(audio_chunk(&c, two_seconds.clone())).await.unwrap();
        }
        tx.send(control(&c, control_event::Action::AudioSessionEnd))
            .await
            .unwrap();
    });
    // The loud audio is heard as speech: non-final recognised text may come
    // first, then one warning, then the answer, with no other warning.
    let reply = r.stream.reply().await;
    let warnings: Vec<String> = reply
        .iter()
        .filter(|p| is_control(p, control_event::Action::Warning))
        .map(warning_text)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("3 minutes"), "{warnings:?}");
    let final_stt = reply.iter().any(|p| {
        matches!(&p.packet, Some(inworld_packet::Packet::Text(t))
            if t.source_type == text_event::SourceType::SpeechToText as i32 && t.r#final)
    });
    assert!(final_stt, "the recognised speech is answered: {reply:?}");
    sender.await.unwrap();
}

fn items_op(operation: items_operation_event::Operation) -> InworldPacket {
    build(
        Some(player_to_world()),
        ids(""),
        inworld_packet::Packet::EntitiesItemsOperation(ItemsOperationEvent {
            operation: Some(operation),
        }),
    )
}

/// However much a player sends, what a session keeps stays within its
/// limits: here every limit is pushed past, and the session's state (all it
/// keeps besides a few small fields) stays under 4 MiB.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_pushed_past_every_limit_stays_bounded() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    let c = r.conversation.clone();
    // Items: more than MAX_ITEMS, some larger than MAX_ITEM_BYTES.
    let item = |i: usize, size: usize| EntityItem {
        id: format!("item-{i}"),
        description: "d".repeat(size),
        ..Default::default()
    };
    let mut warnings = 0;
    for batch in 0..(MAX_ITEMS + 60) / 20 {
        let items = (batch * 20..batch * 20 + 20)
            .map(|i| {
                item(
                    i,
                    if i % 7 == 0 {
                        MAX_ITEM_BYTES
                    } else {
                        MAX_ITEM_BYTES - 100
                    },
                )
            })
            .collect();
        r.stream
            .send(items_op(
                items_operation_event::Operation::CreateOrUpdateItems(
                    CreateOrUpdateItemsOperation {
                        items,
                        add_to_entities: vec![],
                    },
                ),
            ))
            .await;
    }
    // Entities: more than MAX_ENTITIES, each given more than MAX_ITEMS_PER_ENTITY items.
    r.stream
        .send(items_op(items_operation_event::Operation::ItemsInEntities(
            ItemsInEntitiesOperation {
                r#type: items_in_entities_operation::Type::Add as i32,
                item_ids: (0..MAX_ITEMS_PER_ENTITY + 50)
                    .map(|i| format!("{i:0>width$}", width = MAX_ID_BYTES))
                    .collect(),
                entity_names: (0..MAX_ENTITIES + 8).map(|e| format!("e{e}")).collect(),
            },
        )))
        .await;
    // History: more lines than MAX_HISTORY_LINES, each as long as allowed
    // (the character's answer says it back, longer).
    let line = "z".repeat(MAX_TEXT_BYTES - 10);
    for _ in 0..MAX_HISTORY_LINES / 2 + 10 {
        r.stream.send(text(&c, &line)).await;
        for p in r.stream.reply().await {
            if is_control(&p, control_event::Action::Warning) {
                warnings += 1;
            }
        }
    }
    assert!(warnings > 0, "refused items were reported");

    let mut client = StateSerializationClient::new(channel(&engine).await);
    let state = client
        .get_session_state(bearer(
            GetSessionStateRequest {
                name: format!("workspaces/test-ws/sessions/{}", r.session_id),
            },
            &r.token,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    let saved = inworld::engine::state::SavedState::decode(state.state.as_slice()).unwrap();
    assert_eq!(saved.items.len(), MAX_ITEMS);
    assert!(saved
        .items
        .iter()
        .all(|i| i.encoded_len() <= MAX_ITEM_BYTES));
    assert_eq!(saved.entities.len(), MAX_ENTITIES);
    assert!(saved
        .entities
        .iter()
        .all(|e| e.item_ids.len() == MAX_ITEMS_PER_ENTITY));
    assert_eq!(saved.history.len(), MAX_HISTORY_LINES);
    assert!(saved
        .history
        .iter()
        .all(|l| l.text.len() <= MAX_HISTORY_LINE_BYTES));
    println!("a full session's state: {} bytes", state.state.len());
    assert!(state.state.len() < 4 * 1024 * 1024);
}

/// A continuation is the client's bytes too: the history it brings is held
/// to the same limits (lines, line length, and the length of the names of
/// who said them).
#[tokio::test(flavor = "multi_thread")]
async fn a_continuation_is_held_to_the_session_limits() {
    let engine = test_engine();
    let t = token(&engine).await;
    let mut s = try_open(&engine, &t.token, &t.session_id).await.unwrap();
    let history = (0..MAX_HISTORY_LINES + 50)
        .map(|i| dialog_history::HistoryItem {
            actor: Some(Actor {
                r#type: if i % 2 == 0 {
                    actor::Type::Player
                } else {
                    actor::Type::Agent
                } as i32,
                name: "n".repeat(5_000),
            }),
            text: "t".repeat(5_000),
        })
        .collect();
    let continuation = Continuation {
        continuation_type: continuation::ContinuationType::DialogHistory as i32,
        dialog_history: Some(DialogHistory { history }),
        ..Default::default()
    };
    s.send(configuration(caps_text(), Some(continuation))).await;
    s.send(load_scene(SCENE)).await;
    assert!(scene_status(&s.packet().await).is_some());

    let mut client = StateSerializationClient::new(channel(&engine).await);
    let state = client
        .get_session_state(bearer(
            GetSessionStateRequest {
                name: format!("workspaces/test-ws/sessions/{}", t.session_id),
            },
            &t.token,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    let saved = inworld::engine::state::SavedState::decode(state.state.as_slice()).unwrap();
    assert_eq!(saved.history.len(), MAX_HISTORY_LINES);
    for line in &saved.history {
        assert!(line.text.len() <= MAX_HISTORY_LINE_BYTES);
        assert!(line.character.len() <= MAX_ID_BYTES);
    }
}

/// A host bounds its live sessions and its unexpired tokens: beyond them,
/// GenerateToken (and opening a new session id) is refused with
/// RESOURCE_EXHAUSTED and details saying to come back later; an expired
/// session frees its place.
#[tokio::test(flavor = "multi_thread")]
async fn live_sessions_and_tokens_are_bounded() {
    use inworld::engine::Workspace;
    use inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
    use inworld::protocol::status::{details_of, ErrorType, ReconnectionType};

    async fn try_token(
        engine: &inworld::engine::RunningEngine,
    ) -> Result<inworld::protocol::ai::inworld::engine::AccessToken, tonic::Status> {
        let mut client = WorldEngineClient::new(channel(engine).await);
        let host = engine.addr().to_string();
        client
            .generate_token(signed(
                token_request("test-ws", engine.credentials()),
                engine.credentials(),
                &host,
            ))
            .await
            .map(|r| r.into_inner())
    }
    fn is_exhausted(s: &tonic::Status, what: &str) {
        assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{s:?}");
        assert!(s.message().contains(what), "{s:?}");
        let d = details_of(s).expect("details");
        assert_eq!(d.error_type(), Some(ErrorType::SessionResourcesExhausted));
        assert_eq!(d.reconnect_type, ReconnectionType::Timeout);
    }

    let mut config = test_config(Workspace::test_scenes());
    config.max_sessions = 2;
    let engine = start(config);
    let first = try_token(&engine).await.unwrap();
    try_token(&engine).await.unwrap();
    is_exhausted(&try_token(&engine).await.unwrap_err(), "2 live sessions");
    // A session id of the client's own choosing is a new session too.
    let Err(s) = try_open(&engine, &first.token, "my-own-session").await else {
        panic!("a third session opened")
    };
    is_exhausted(&s, "2 live sessions");
    // Its own session still opens.
    try_open(&engine, &first.token, &first.session_id)
        .await
        .expect("a live session reopens");
    // Expired sessions free their places.
    engine.expire_sessions();
    try_token(&engine).await.expect("room again");

    let mut config = test_config(Workspace::test_scenes());
    config.max_tokens = 3;
    let engine = start(config);
    for _ in 0..3 {
        try_token(&engine).await.unwrap();
    }
    is_exhausted(
        &try_token(&engine).await.unwrap_err(),
        "3 unexpired session tokens",
    );
}
