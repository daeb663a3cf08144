//! Decodes every encoding of `tests/vectors/golden.json` (made by the published
//! SDK's own codec and kept in the repository), checks the values its `content`
//! describes, and round-trips each through our encoder.

use inworld::protocol::ai::inworld::common::InworldStatus;
use inworld::protocol::ai::inworld::engine::{AccessToken, GenerateTokenRequest};
use inworld::protocol::ai::inworld::packets::{
    actor, control_event, control_event::PayloadStructured, data_chunk, inworld_packet::Packet,
    mutation_event, text_event, Actor, InworldPacket,
};
use inworld::protocol::google::rpc::Status;
use prost::Message;
use std::collections::HashMap;

const TIMESTAMP: prost_types::Timestamp = prost_types::Timestamp {
    seconds: 1_737_540_645,
    nanos: 123_000_000,
};

fn vectors() -> HashMap<String, Vec<u8>> {
    let json: serde_json::Value =
        serde_json::from_str(include_str!("vectors/golden.json")).expect("golden.json is JSON");
    json["vectors"]
        .as_array()
        .expect("a vectors array")
        .iter()
        .map(|v| {
            let name = v["name"].as_str().unwrap().to_string();
            (name, hex::decode(v["hex"].as_str().unwrap()).unwrap())
        })
        .collect()
}

fn vector(name: &str) -> Vec<u8> {
    vectors()
        .remove(name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// Decodes, then checks that our encoding decodes to the same value (byte order
/// may differ from the SDK's encoder; values may not).
fn decode<M: Message + Default + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> M {
    let message = M::decode(bytes).expect("decodes");
    let again = M::decode(message.encode_to_vec().as_slice()).expect("our encoding decodes");
    assert_eq!(message, again, "round trip");
    assert_eq!(message.encoded_len(), bytes.len(), "no field lost or added");
    message
}

fn packet(name: &str) -> InworldPacket {
    let p: InworldPacket = decode(&vector(name));
    assert_eq!(p.timestamp, Some(TIMESTAMP), "{name}: timestamp");
    p
}

fn actor(kind: actor::Type, name: &str) -> Actor {
    Actor {
        r#type: kind as i32,
        name: name.to_string(),
    }
}

fn routing(p: &InworldPacket) -> (i32, Option<i32>) {
    let r = p.routing.as_ref().expect("routing");
    (
        r.source.as_ref().unwrap().r#type,
        r.target.as_ref().map(|t| t.r#type),
    )
}

fn control(p: &InworldPacket) -> &inworld::protocol::ai::inworld::packets::ControlEvent {
    match &p.packet {
        Some(Packet::Control(c)) => c,
        other => panic!("expected control, got {other:?}"),
    }
}

#[test]
fn every_vector_is_checked() {
    let names: Vec<String> = vectors().into_keys().collect();
    assert_eq!(names.len(), 11, "golden.json has 11 vectors: {names:?}");
}

#[test]
fn text() {
    let p = packet("text");
    assert_eq!(routing(&p), (actor::Type::Player as i32, None));
    let ids = p.packet_id.as_ref().unwrap();
    assert_eq!(
        (
            &*ids.packet_id,
            &*ids.utterance_id,
            &*ids.interaction_id,
            &*ids.correlation_id,
            &*ids.conversation_id
        ),
        ("p1", "u1", "i1", "c1", "conv1")
    );
    let Some(Packet::Text(t)) = &p.packet else {
        panic!("text")
    };
    assert_eq!(t.text, "hello");
    assert_eq!(t.source_type, text_event::SourceType::TypedIn as i32);
    assert!(t.r#final);
}

#[test]
fn session_configuration() {
    let p = packet("sessionConfiguration");
    assert_eq!(
        routing(&p),
        (actor::Type::Player as i32, Some(actor::Type::World as i32))
    );
    assert_eq!(p.packet_id.as_ref().unwrap().packet_id, "p2");
    let c = control(&p);
    assert_eq!(c.action, control_event::Action::SessionConfiguration as i32);
    let Some(PayloadStructured::SessionConfiguration(cfg)) = &c.payload_structured else {
        panic!("payload")
    };
    assert_eq!(
        cfg.session_configuration.as_ref().unwrap().game_session_id,
        "g1"
    );
    let user = cfg.user_configuration.as_ref().unwrap();
    assert_eq!(user.name, "Player");
    let fields = &user
        .user_settings
        .as_ref()
        .unwrap()
        .player_profile
        .as_ref()
        .unwrap()
        .fields;
    assert_eq!(fields.len(), 1);
    assert_eq!(
        (&*fields[0].field_id, &*fields[0].field_value),
        ("age", "30")
    );
    let client = cfg.client_configuration.as_ref().unwrap();
    assert_eq!(
        (&*client.id, &*client.version, &*client.description),
        ("node-js", "1.17.0", "d")
    );
    let caps = cfg.capabilities_configuration.as_ref().unwrap();
    assert!(
        caps.audio
            && caps.logs
            && caps.logs_warning
            && caps.logs_info
            && caps.multi_agent
            && caps.ping_pong_report
    );
    assert!(!caps.emotions && !caps.interruptions && !caps.phoneme_info && !caps.logs_debug);
}

#[test]
fn load_scene() {
    let p = packet("loadScene");
    assert_eq!(
        routing(&p),
        (actor::Type::Player as i32, Some(actor::Type::World as i32))
    );
    assert_eq!(p.packet_id.as_ref().unwrap().packet_id, "p3");
    let Some(Packet::Mutation(m)) = &p.packet else {
        panic!("mutation")
    };
    let Some(mutation_event::Mutation::LoadScene(ls)) = &m.mutation else {
        panic!("load_scene")
    };
    assert_eq!(ls.name, "workspaces/w/scenes/s");
    assert!(!ls.is_reset_scene);
}

#[test]
fn current_scene_status() {
    let p = packet("currentSceneStatus");
    assert_eq!(
        routing(&p),
        (actor::Type::World as i32, Some(actor::Type::Player as i32))
    );
    assert_eq!(p.packet_id.as_ref().unwrap().packet_id, "p4");
    let c = control(&p);
    assert_eq!(c.action, control_event::Action::CurrentSceneStatus as i32);
    let Some(PayloadStructured::CurrentSceneStatus(s)) = &c.payload_structured else {
        panic!("status")
    };
    assert_eq!(s.scene_name, "workspaces/w/scenes/s");
    assert_eq!(s.agents.len(), 1);
    let a = &s.agents[0];
    assert_eq!(
        (&*a.agent_id, &*a.brain_name, &*a.given_name),
        ("a1", "workspaces/w/characters/c", "C")
    );
}

#[test]
fn conversation_update() {
    let p = packet("conversationUpdate");
    assert!(
        p.routing.is_none(),
        "the SDK sends no routing on CONVERSATION_UPDATE"
    );
    let ids = p.packet_id.as_ref().unwrap();
    assert_eq!((&*ids.packet_id, &*ids.conversation_id), ("p5", "conv1"));
    let c = control(&p);
    assert_eq!(c.action, control_event::Action::ConversationUpdate as i32);
    let Some(PayloadStructured::ConversationUpdate(u)) = &c.payload_structured else {
        panic!("update")
    };
    assert_eq!(
        u.participants,
        vec![
            actor(actor::Type::Agent, "a1"),
            actor(actor::Type::Player, "")
        ]
    );
}

#[test]
fn conversation_event_started() {
    let p = packet("conversationEventStarted");
    assert!(p.routing.is_none());
    let ids = p.packet_id.as_ref().unwrap();
    assert_eq!((&*ids.packet_id, &*ids.conversation_id), ("p6", "conv1"));
    let c = control(&p);
    assert_eq!(c.action, control_event::Action::ConversationEvent as i32);
    let Some(PayloadStructured::ConversationEvent(e)) = &c.payload_structured else {
        panic!("event")
    };
    assert_eq!(
        e.participants,
        vec![
            actor(actor::Type::Agent, "a1"),
            actor(actor::Type::Player, "")
        ]
    );
    assert_eq!(
        e.event_type,
        inworld::protocol::ai::inworld::packets::conversation_event_payload::ConversationEventType::Started as i32
    );
}

#[test]
fn audio_with_phoneme() {
    let p = packet("audioWithPhoneme");
    let r = p.routing.as_ref().unwrap();
    assert_eq!(r.source.as_ref().unwrap(), &actor(actor::Type::Agent, "a1"));
    assert_eq!(
        r.target.as_ref().unwrap().r#type,
        actor::Type::Player as i32
    );
    let ids = p.packet_id.as_ref().unwrap();
    assert_eq!(
        (
            &*ids.packet_id,
            &*ids.utterance_id,
            &*ids.interaction_id,
            &*ids.conversation_id
        ),
        ("p7", "u7", "i1", "conv1")
    );
    let Some(Packet::DataChunk(d)) = &p.packet else {
        panic!("data chunk")
    };
    assert_eq!(d.r#type, data_chunk::DataType::Audio as i32);
    assert_eq!(d.data, Some(data_chunk::Data::Chunk(b"RIFF".to_vec())));
    assert_eq!(d.additional_phoneme_info.len(), 1);
    let ph = &d.additional_phoneme_info[0];
    assert_eq!(ph.phoneme, "a");
    assert_eq!(
        ph.start_offset,
        Some(prost_types::Duration {
            seconds: 0,
            nanos: 250_000_000
        })
    );
}

#[test]
fn silence() {
    let p = packet("silence");
    assert!(p.routing.is_none());
    assert_eq!(p.packet_id.as_ref().unwrap().packet_id, "p8");
    let Some(Packet::DataChunk(d)) = &p.packet else {
        panic!("data chunk")
    };
    assert_eq!(d.r#type, data_chunk::DataType::Silence as i32);
    assert_eq!(d.data, Some(data_chunk::Data::DurationMs(500)));
}

#[test]
fn generate_token_request() {
    let r: GenerateTokenRequest = decode(&vector("GenerateTokenRequest"));
    assert_eq!(r.key, "test-api-key");
    assert_eq!(r.resources, vec!["workspaces/w".to_string()]);
}

#[test]
fn access_token() {
    let t: AccessToken = decode(&vector("AccessToken"));
    assert_eq!(
        (&*t.token, &*t.r#type, &*t.session_id),
        ("tok", "Bearer", "sess")
    );
    assert_eq!(t.expiration_time, Some(TIMESTAMP));
}

#[test]
fn rpc_status_with_inworld_details() {
    let bytes = vector("google.rpc.Status (trailer `grpc-status-details-bin`)");
    let s: Status = decode(&bytes);
    assert_eq!((s.code, &*s.message), (9, "paused"));
    assert_eq!(s.details.len(), 1);
    assert_eq!(
        s.details[0].type_url,
        inworld::protocol::status::INWORLD_STATUS_TYPE_URL
    );
    let d: InworldStatus = decode(&s.details[0].value);
    assert_eq!(d.error_type, 10, "SESSION_PAUSED");
    assert_eq!(d.reconnect_type, 2, "IMMEDIATE");
    assert_eq!(d.reconnect_time, Some(TIMESTAMP));
    assert_eq!(d.max_retries, 3);

    // Our reader of the trailer gives the same values.
    let details = inworld::protocol::status::decode_details(&bytes).expect("details");
    assert_eq!(
        details.error_type(),
        Some(inworld::packet::ErrorType::SessionPaused)
    );
    assert_eq!(
        details.reconnect_type,
        inworld::packet::ReconnectionType::Immediate
    );
    assert_eq!(details.max_retries, 3);
    let when = details
        .reconnect_time
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert_eq!(when.as_millis(), 1_737_540_645_123);
}
