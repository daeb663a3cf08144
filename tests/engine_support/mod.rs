//! Raw tonic clients for the engine tests: tokens, streams and packet builders.
#![allow(dead_code)]

use inworld::auth::{self, Credentials};
use inworld::engine::{EngineConfig, RecognizerKind, RunningEngine, SynthesizerKind, Workspace};
use inworld::protocol::ai::inworld::engine::configuration::{
    CapabilitiesConfiguration, UserConfiguration,
};
use inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
use inworld::protocol::ai::inworld::engine::{AccessToken, GenerateTokenRequest};
use inworld::protocol::ai::inworld::packets::*;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Streaming};

pub const SCENE: &str = "workspaces/test-ws/scenes/test-scene";
pub const WAIT: Duration = Duration::from_secs(10);

pub fn start(config: EngineConfig) -> RunningEngine {
    RunningEngine::start(config, &tokio::runtime::Handle::current()).expect("engine starts")
}

/// `EngineConfig::new(workspace)` with the tone synthesizer and the
/// scripted recogniser: what the protocol tests expect, whatever speech
/// parts are built in (`tests/real_speech.rs` tests those).
pub fn test_config(workspace: Workspace) -> EngineConfig {
    let mut config = EngineConfig::new(workspace);
    config.synthesizer = SynthesizerKind::Tones;
    config.recognizer = RecognizerKind::Scripted;
    config
}

pub fn test_engine() -> RunningEngine {
    start(test_config(Workspace::test_scenes()))
}

pub async fn channel(engine: &RunningEngine) -> Channel {
    Channel::from_shared(format!("http://{}", engine.addr()))
        .unwrap()
        .connect()
        .await
        .expect("connects")
}

pub fn signed<T>(message: T, creds: &Credentials, host: &str) -> Request<T> {
    let mut req = Request::new(message);
    req.metadata_mut().insert(
        "authorization",
        auth::authorization_header(creds, host).parse().unwrap(),
    );
    req
}

pub fn token_request(workspace: &str, creds: &Credentials) -> GenerateTokenRequest {
    GenerateTokenRequest {
        key: creds.key.clone(),
        resources: vec![format!("workspaces/{workspace}")],
    }
}

pub async fn token(engine: &RunningEngine) -> AccessToken {
    let mut client = WorldEngineClient::new(channel(engine).await);
    let host = engine.addr().to_string();
    client
        .generate_token(signed(
            token_request("test-ws", engine.credentials()),
            engine.credentials(),
            &host,
        ))
        .await
        .expect("token")
        .into_inner()
}

pub fn bearer<T>(message: T, token: &str, session_id: Option<&str>) -> Request<T> {
    let mut req = Request::new(message);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(s) = session_id {
        req.metadata_mut().insert("session-id", s.parse().unwrap());
    }
    req
}

/// An open OpenSession stream.
pub struct Stream {
    pub tx: mpsc::Sender<InworldPacket>,
    pub rx: Streaming<InworldPacket>,
}

pub async fn try_open(
    engine: &RunningEngine,
    token: &str,
    session_id: &str,
) -> Result<Stream, tonic::Status> {
    let mut client = WorldEngineClient::new(channel(engine).await);
    let (tx, rx) = mpsc::channel(64);
    let rx = client
        .open_session(bearer(ReceiverStream::new(rx), token, Some(session_id)))
        .await?
        .into_inner();
    Ok(Stream { tx, rx })
}

impl Stream {
    pub async fn send(&self, p: InworldPacket) {
        self.tx.send(p).await.expect("stream open");
    }

    /// Next packet, or the stream's end status. Panics after WAIT.
    pub async fn next(&mut self) -> Result<Option<InworldPacket>, tonic::Status> {
        tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("a packet in time")
    }

    pub async fn packet(&mut self) -> InworldPacket {
        let p = self.next().await.expect("no error").expect("not ended");
        assert!(p.timestamp.is_some(), "every server packet has a timestamp");
        assert!(
            !p.packet_id.as_ref().unwrap().packet_id.is_empty(),
            "every server packet has a packet id"
        );
        p
    }

    /// Packets until (and including) the first that matches.
    pub async fn until(&mut self, pred: impl Fn(&InworldPacket) -> bool) -> Vec<InworldPacket> {
        let mut seen = Vec::new();
        loop {
            let p = self.packet().await;
            let done = pred(&p);
            seen.push(p);
            if done {
                return seen;
            }
        }
    }

    /// The reply up to INTERACTION_END.
    pub async fn reply(&mut self) -> Vec<InworldPacket> {
        self.until(is_interaction_end).await
    }

    /// The error status that ends the stream (skipping packets before it).
    pub async fn error(&mut self) -> tonic::Status {
        loop {
            match self.next().await {
                Err(s) => return s,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("stream ended without an error"),
            }
        }
    }
}

pub fn ids(conversation: &str) -> PacketId {
    PacketId {
        packet_id: uuid::Uuid::new_v4().to_string(),
        conversation_id: conversation.to_string(),
        ..Default::default()
    }
}

pub fn ts() -> prost_types::Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

pub fn player_to_world() -> Routing {
    Routing {
        source: Some(Actor {
            r#type: actor::Type::Player as i32,
            name: String::new(),
        }),
        target: Some(Actor {
            r#type: actor::Type::World as i32,
            name: String::new(),
        }),
        targets: vec![],
    }
}

pub fn from_player() -> Routing {
    Routing {
        source: Some(Actor {
            r#type: actor::Type::Player as i32,
            name: String::new(),
        }),
        target: None,
        targets: vec![],
    }
}

pub fn build(
    routing: Option<Routing>,
    ids: PacketId,
    body: inworld_packet::Packet,
) -> InworldPacket {
    InworldPacket {
        timestamp: Some(ts()),
        routing,
        packet_id: Some(ids),
        packet: Some(body),
    }
}

pub fn caps_all() -> CapabilitiesConfiguration {
    CapabilitiesConfiguration {
        audio: true,
        emotions: true,
        phoneme_info: true,
        narrated_actions: true,
        silence_events: true,
        multi_agent: true,
        ping_pong_report: true,
        ..Default::default()
    }
}

pub fn caps_text() -> CapabilitiesConfiguration {
    CapabilitiesConfiguration {
        multi_agent: true,
        ..Default::default()
    }
}

pub fn configuration(
    caps: CapabilitiesConfiguration,
    continuation: Option<Continuation>,
) -> InworldPacket {
    build(
        Some(player_to_world()),
        ids(""),
        inworld_packet::Packet::Control(ControlEvent {
            action: control_event::Action::SessionConfiguration as i32,
            payload_structured: Some(control_event::PayloadStructured::SessionConfiguration(
                SessionConfigurationPayload {
                    capabilities_configuration: Some(caps),
                    user_configuration: Some(UserConfiguration {
                        name: "Tester".into(),
                        ..Default::default()
                    }),
                    continuation,
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
    )
}

pub fn load_scene(name: &str) -> InworldPacket {
    build(
        Some(player_to_world()),
        ids(""),
        inworld_packet::Packet::Mutation(MutationEvent {
            mutation: Some(mutation_event::Mutation::LoadScene(LoadScene {
                name: name.to_string(),
                is_reset_scene: false,
            })),
        }),
    )
}

pub fn conversation_update(conversation: &str, agents: &[&str], player: bool) -> InworldPacket {
    let mut participants: Vec<Actor> = agents
        .iter()
        .map(|a| Actor {
            r#type: actor::Type::Agent as i32,
            name: a.to_string(),
        })
        .collect();
    if player {
        participants.push(Actor {
            r#type: actor::Type::Player as i32,
            name: String::new(),
        });
    }
    build(
        None,
        ids(conversation),
        inworld_packet::Packet::Control(ControlEvent {
            action: control_event::Action::ConversationUpdate as i32,
            payload_structured: Some(control_event::PayloadStructured::ConversationUpdate(
                ConversationUpdatePayload { participants },
            )),
            ..Default::default()
        }),
    )
}

pub fn interaction_ids(conversation: &str) -> PacketId {
    PacketId {
        packet_id: uuid::Uuid::new_v4().to_string(),
        utterance_id: uuid::Uuid::new_v4().to_string(),
        interaction_id: uuid::Uuid::new_v4().to_string(),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        conversation_id: conversation.to_string(),
    }
}

pub fn text(conversation: &str, text: &str) -> InworldPacket {
    build(
        Some(from_player()),
        interaction_ids(conversation),
        inworld_packet::Packet::Text(TextEvent {
            text: text.to_string(),
            source_type: text_event::SourceType::TypedIn as i32,
            r#final: true,
            model_info: None,
        }),
    )
}

pub fn trigger(conversation: &str, name: &str, params: &[(&str, &str)]) -> InworldPacket {
    build(
        Some(from_player()),
        interaction_ids(conversation),
        inworld_packet::Packet::Custom(CustomEvent {
            name: name.to_string(),
            r#type: custom_event::Type::Trigger as i32,
            parameters: params
                .iter()
                .map(|(n, v)| custom_event::Parameter {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            playback: 0,
        }),
    )
}

pub fn control(conversation: &str, action: control_event::Action) -> InworldPacket {
    build(
        Some(from_player()),
        ids(conversation),
        inworld_packet::Packet::Control(ControlEvent {
            action: action as i32,
            ..Default::default()
        }),
    )
}

pub fn load_characters(resource_name: &str) -> InworldPacket {
    build(
        Some(player_to_world()),
        ids(""),
        inworld_packet::Packet::Mutation(MutationEvent {
            mutation: Some(mutation_event::Mutation::LoadCharacters(LoadCharacters {
                name: vec![load_characters::CharacterName {
                    name: resource_name.to_string(),
                    language_code: 0,
                }],
            })),
        }),
    )
}

pub fn audio_chunk(conversation: &str, bytes: Vec<u8>) -> InworldPacket {
    build(
        Some(from_player()),
        ids(conversation),
        inworld_packet::Packet::DataChunk(DataChunk {
            data: Some(data_chunk::Data::Chunk(bytes)),
            r#type: data_chunk::DataType::Audio as i32,
            ..Default::default()
        }),
    )
}

pub fn is_control(p: &InworldPacket, action: control_event::Action) -> bool {
    matches!(&p.packet, Some(inworld_packet::Packet::Control(c)) if c.action == action as i32)
}

pub fn is_interaction_end(p: &InworldPacket) -> bool {
    is_control(p, control_event::Action::InteractionEnd)
}

pub fn scene_status(p: &InworldPacket) -> Option<&CurrentSceneStatus> {
    match &p.packet {
        Some(inworld_packet::Packet::Control(ControlEvent {
            payload_structured: Some(control_event::PayloadStructured::CurrentSceneStatus(s)),
            ..
        })) => Some(s),
        _ => None,
    }
}

pub fn conversation_event(p: &InworldPacket) -> Option<&ConversationEventPayload> {
    match &p.packet {
        Some(inworld_packet::Packet::Control(ControlEvent {
            payload_structured: Some(control_event::PayloadStructured::ConversationEvent(e)),
            ..
        })) => Some(e),
        _ => None,
    }
}

pub fn texts(packets: &[InworldPacket]) -> Vec<String> {
    packets
        .iter()
        .filter_map(|p| match &p.packet {
            Some(inworld_packet::Packet::Text(t)) => Some(t.text.clone()),
            _ => None,
        })
        .collect()
}

pub fn count(packets: &[InworldPacket], f: impl Fn(&inworld_packet::Packet) -> bool) -> usize {
    packets
        .iter()
        .filter(|p| p.packet.as_ref().is_some_and(&f))
        .count()
}

pub fn source_name(p: &InworldPacket) -> String {
    p.routing
        .as_ref()
        .and_then(|r| r.source.as_ref())
        .map(|a| a.name.clone())
        .unwrap_or_default()
}

/// A session with the test scene loaded and a one-to-one conversation with
/// its first character. Returns the stream, the session id, the agent ids
/// (alice, bob) and the conversation id.
pub struct Ready {
    pub stream: Stream,
    pub session_id: String,
    pub token: String,
    pub agents: Vec<String>,
    pub conversation: String,
}

pub async fn ready(engine: &RunningEngine, caps: CapabilitiesConfiguration) -> Ready {
    let token = token(engine).await;
    let mut stream = try_open(engine, &token.token, &token.session_id)
        .await
        .expect("open");
    stream.send(configuration(caps, None)).await;
    stream.send(load_scene(SCENE)).await;
    let status = stream.packet().await;
    let agents: Vec<String> = scene_status(&status)
        .expect("scene status first")
        .agents
        .iter()
        .map(|a| a.agent_id.clone())
        .collect();
    let conversation = uuid::Uuid::new_v4().to_string();
    stream
        .send(conversation_update(&conversation, &[&agents[0]], true))
        .await;
    let event = stream.packet().await;
    assert_eq!(
        conversation_event(&event)
            .expect("conversation event")
            .event_type,
        conversation_event_payload::ConversationEventType::Started as i32
    );
    Ready {
        stream,
        session_id: token.session_id,
        token: token.token,
        agents,
        conversation,
    }
}
