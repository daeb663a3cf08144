//! The packet model: plain Rust types for what a game sees, independent of the
//! wire types (only Inworld's error details come from [`crate::protocol`],
//! and the visemes from [`crate::audio`]).
//! `convert` turns server wire packets into these. With the `serde` feature
//! every type here is `Serialize` (texts as strings, durations and times in
//! milliseconds).
//!
//! Strings are [`Text`]: UTF-8 that keeps a trailing NUL byte, so the C API can
//! lend them as `{ptr, len}` (and as C strings) without a copy on the poll path.

pub mod convert;
mod emotion;

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

pub use crate::audio::visemes::{TimedViseme, Viseme};
pub use crate::protocol::status::{ErrorDetails, ErrorType, ReconnectionType};
pub use emotion::{Emotion, EmotionBehavior, EmotionStrength};

/// UTF-8 text stored with a trailing NUL (not part of the text).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Text(Box<str>);

impl Text {
    /// The empty text.
    pub fn empty() -> Self {
        Text(Box::from("\0"))
    }
    pub fn as_str(&self) -> &str {
        &self.0[..self.0.len() - 1]
    }
    /// Pointer to the first byte; the byte at `len()` is NUL.
    pub fn as_ptr(&self) -> *const u8 {
        self.0.as_ptr()
    }
    pub fn len(&self) -> usize {
        self.0.len() - 1
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Text {
    fn default() -> Self {
        Text::empty()
    }
}

impl From<String> for Text {
    fn from(mut s: String) -> Self {
        s.push('\0');
        Text(s.into_boxed_str())
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::from(s.to_string())
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The ids a packet carries (empty when absent). Replies carry the
/// `interaction_id` of the input they answer; the packets of one utterance
/// share an `utterance_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PacketIds {
    pub packet_id: Text,
    pub utterance_id: Text,
    pub interaction_id: Text,
    pub correlation_id: Text,
    pub conversation_id: Text,
}

/// Who a packet is from or to. For characters, `name` is the agent id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u32)]
pub enum ActorKind {
    #[default]
    Unknown = 0,
    Player = 1,
    Character = 2,
    World = 3,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Actor {
    pub kind: ActorKind,
    /// Agent id for characters; empty for the player and the world.
    pub name: Text,
}

/// Source and target of a packet. `target` is the first target (or the
/// `target` field); most server packets have exactly one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Routing {
    pub source: Actor,
    pub target: Actor,
}

/// A packet delivered to the game.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Packet {
    pub ids: PacketIds,
    pub routing: Routing,
    /// Milliseconds since the Unix epoch, from the packet's timestamp (0 for
    /// packets the library makes itself).
    pub timestamp_ms: i64,
    pub body: PacketBody,
}

impl Packet {
    /// A packet the library makes itself: no ids, no routing, timestamp 0.
    pub fn local(body: PacketBody) -> Packet {
        Packet {
            ids: PacketIds::default(),
            routing: Routing::default(),
            timestamp_ms: 0,
            body,
        }
    }

    /// Whether the library made this packet to tell the game about the
    /// session itself (its connection, errors, losses): such packets are
    /// never dropped when the game's queue is full.
    pub fn is_status(&self) -> bool {
        // Errors are always the library's: it makes them from the stream's status.
        matches!(
            self.body,
            PacketBody::Connection(_)
                | PacketBody::Error(_)
                | PacketBody::SendFailed(_)
                | PacketBody::CallResult(_)
                | PacketBody::Overflow { .. }
                | PacketBody::VoiceActivity(_)
        )
    }
}

/// What a packet says ([`PacketBody::kind`] names the variant).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum PacketBody {
    Text(TextEvent),
    Audio(AudioChunk),
    Silence {
        duration_ms: i64,
    },
    Emotion(Emotion),
    Trigger(CustomEvent),
    Task(CustomEvent),
    Control(Control),
    ConversationEvent(ConversationEvent),
    SceneStatus(SceneStatus),
    NarratedAction {
        content: Text,
    },
    CancelResponses {
        interaction_id: Text,
        utterance_ids: Vec<Text>,
    },
    Log(LogEvent),
    OperationStatus {
        code: i32,
        message: Text,
    },
    /// An error from the service (a gRPC status with Inworld's details) or
    /// from the connection.
    Error(SessionError),
    /// The library's own view of the connection changed.
    Connection(ConnectionEvent),
    /// The queue was full and `dropped` packets were discarded before this one.
    Overflow {
        dropped: u64,
    },
    /// A send of the game's did not make it, or may not have: `Packet::ids`
    /// are the ids the send returned.
    SendFailed(SendFailed),
    /// The answer to a call made on the session (feedback, saved state),
    /// tagged with the request id the call returned.
    CallResult(CallResult),
    /// A change of the scene went out to the service (a scene change,
    /// characters added or removed, by the game or for a conversation), with
    /// the ids of the packet that carried it; the new `SceneStatus` follows
    /// when the service has made it. A service that echoes mutations gives
    /// the same packet.
    SceneMutation(SceneMutation),
    /// With voice detection on: the player started or stopped speaking
    /// (show a "listening" icon); the library starts and ends the audio
    /// session for each turn itself.
    VoiceActivity(VoiceActivityEvent),
    /// A server packet of a kind this version does not model.
    Unknown,
}

/// The kind of a [`PacketBody`], with the stable numbers the C API uses as
/// `IW_PACKET_*` (never renumbered; new kinds get new numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u32)]
pub enum PacketKind {
    Unknown = 0,
    Text = 1,
    Audio = 2,
    Silence = 3,
    Emotion = 4,
    Trigger = 5,
    Task = 6,
    Control = 7,
    ConversationEvent = 8,
    SceneStatus = 9,
    NarratedAction = 10,
    CancelResponses = 11,
    Log = 12,
    OperationStatus = 13,
    Error = 14,
    Connection = 15,
    Overflow = 16,
    SendFailed = 17,
    CallResult = 18,
    SceneMutation = 19,
    VoiceActivity = 20,
}

impl PacketBody {
    pub fn kind(&self) -> PacketKind {
        match self {
            PacketBody::Text(_) => PacketKind::Text,
            PacketBody::Audio(_) => PacketKind::Audio,
            PacketBody::Silence { .. } => PacketKind::Silence,
            PacketBody::Emotion(_) => PacketKind::Emotion,
            PacketBody::Trigger(_) => PacketKind::Trigger,
            PacketBody::Task(_) => PacketKind::Task,
            PacketBody::Control(_) => PacketKind::Control,
            PacketBody::ConversationEvent(_) => PacketKind::ConversationEvent,
            PacketBody::SceneStatus(_) => PacketKind::SceneStatus,
            PacketBody::NarratedAction { .. } => PacketKind::NarratedAction,
            PacketBody::CancelResponses { .. } => PacketKind::CancelResponses,
            PacketBody::Log(_) => PacketKind::Log,
            PacketBody::OperationStatus { .. } => PacketKind::OperationStatus,
            PacketBody::Error(_) => PacketKind::Error,
            PacketBody::Connection(_) => PacketKind::Connection,
            PacketBody::Overflow { .. } => PacketKind::Overflow,
            PacketBody::SendFailed(_) => PacketKind::SendFailed,
            PacketBody::CallResult(_) => PacketKind::CallResult,
            PacketBody::SceneMutation(_) => PacketKind::SceneMutation,
            PacketBody::VoiceActivity(_) => PacketKind::VoiceActivity,
            PacketBody::Unknown => PacketKind::Unknown,
        }
    }
}

/// Where a text came from (wire `TextEvent.SourceType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u32)]
pub enum TextSource {
    #[default]
    Unknown = 0,
    SpeechToText = 1,
    TypedIn = 2,
    Generated = 3,
    Filler = 4,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TextEvent {
    pub text: Text,
    pub is_final: bool,
    pub source: TextSource,
}

/// One phoneme of an audio chunk, offset from the chunk's start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Phoneme {
    pub phoneme: Text,
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_ms::duration"))]
    pub start_offset: Duration,
}

/// A chunk of a character's speech, decoded once as it arrived: 16-bit PCM
/// with its format and duration, the phonemes the service sent with it, and
/// the visemes they make. Phonemes and visemes are on one clock, from the
/// chunk's start. The service's WAV bytes are not kept once decoded (the
/// samples are the same audio); a chunk that cannot be decoded keeps them in
/// `undecoded`, with no samples, so it is never lost silently.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AudioChunk {
    /// Interleaved samples: frame after frame, `channels` samples in each.
    pub samples: Vec<i16>,
    /// Frames per second; 0 when the chunk could not be decoded.
    pub sample_rate: u32,
    /// Samples per frame; 0 when the chunk could not be decoded.
    pub channels: u16,
    /// How long the samples play (frames / rate, rounded down to the nanosecond).
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_ms::duration"))]
    pub duration: Duration,
    pub phonemes: Vec<Phoneme>,
    /// The mouth shapes the phonemes make, one entry per change of shape.
    pub visemes: Vec<TimedViseme>,
    /// Set when the chunk could not be decoded (else `None`).
    pub undecoded: Option<UndecodedAudio>,
}

/// An audio chunk that could not be decoded: its bytes as the service sent
/// them, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct UndecodedAudio {
    pub data: Vec<u8>,
    pub error: Text,
}

/// A name/value pair of a trigger or task.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Parameter {
    pub name: Text,
    pub value: Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CustomEvent {
    pub name: Text,
    pub parameters: Vec<Parameter>,
}

/// Wire `ControlEvent.Action` values the game sees as plain controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u32)]
pub enum ControlAction {
    Unknown = 0,
    AudioSessionStart = 1,
    AudioSessionEnd = 2,
    InteractionEnd = 3,
    TtsPlaybackStart = 4,
    TtsPlaybackEnd = 5,
    TtsPlaybackMute = 6,
    TtsPlaybackUnmute = 7,
    Warning = 8,
    SessionEnd = 9,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Control {
    pub action: ControlAction,
    pub description: Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u32)]
pub enum ConversationEventKind {
    Unknown = 0,
    Started = 1,
    Updated = 2,
    Evicted = 3,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConversationEvent {
    pub kind: ConversationEventKind,
    pub participants: Vec<Actor>,
}

/// A character of the loaded scene.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Character {
    /// Agent id: what routing and conversations use.
    pub id: Text,
    /// Full resource name `workspaces/<ws>/characters/<id>`.
    pub resource_name: Text,
    pub display_name: Text,
    pub assets: CharacterAssets,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CharacterAssets {
    pub avatar_img: Text,
    pub avatar_img_original: Text,
    pub rpm_model_uri: Text,
    pub rpm_image_uri_portrait: Text,
    pub rpm_image_uri_posture: Text,
}

/// The scene as loaded (every status replaces the whole character list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SceneStatus {
    pub name: Text,
    pub description: Text,
    pub display_name: Text,
    pub characters: Vec<Character>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LogEvent {
    pub text: Text,
    /// Wire `LogsEvent.LogLevel`.
    pub level: i32,
    pub metadata: Vec<Parameter>,
}

/// A failure reported to the game: a gRPC status with Inworld's details, or a
/// local failure (timeout, connection lost) with `grpc_code` set accordingly.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SessionError {
    /// gRPC status code (0 for none).
    pub grpc_code: i32,
    pub message: Text,
    pub details: Option<ErrorDetails>,
    /// The library will reconnect by itself (per the reconnect policy).
    pub will_retry: bool,
}

/// Connection states the library reports as packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u32)]
pub enum ConnectionState {
    /// Getting a token, opening the stream, loading the scene, starting the
    /// conversation.
    Connecting = 1,
    /// The scene is loaded and the service confirmed the conversation:
    /// characters are known and sends go out at once.
    Ready = 2,
    /// The stream broke; the library is opening a new one (sends are queued,
    /// up to a bound).
    Reconnecting = 3,
    /// Closed for good: by the game, or after an error that is not retried.
    Closed = 4,
    /// Ready, but nothing has arrived for a while although a reply (or a
    /// scene, or a conversation) is awaited. `Ready` follows when packets
    /// flow again, `Reconnecting` when the connection turns out dead.
    Stalled = 5,
}

/// How a session that is `Ready` again relates to the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u32)]
pub enum Resumed {
    /// Not a return to Ready after a reconnect (the first Ready, or another state).
    #[default]
    No = 0,
    /// The service still had the session: characters remember everything.
    SameSession = 1,
    /// The service had lost the session (restarted, expired): the library
    /// opened a new one with the dialog so far as its continuation.
    NewSession = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConnectionEvent {
    pub state: ConnectionState,
    /// For `Reconnecting`: how long until the next attempt.
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_ms::duration"))]
    pub retry_in: Duration,
    /// For `Ready` after a reconnect: whether the session is the same one.
    pub resumed: Resumed,
}

/// Why a send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u32)]
pub enum SendFailure {
    /// It never left the library: the session closed, or gave up
    /// reconnecting, before it could go out.
    NotSent = 1,
    /// It went out on a stream that broke before the reply ended: the
    /// service may or may not have acted on it. It is not sent again (that
    /// could answer it twice); send it again if the game wants to.
    MaybeSent = 2,
    /// The service refused it (its warning is the message).
    Refused = 3,
}

/// Which call a [`CallResult`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u32)]
pub enum CallKind {
    /// A like of an interaction; `name` is the feedback's name (for undo).
    Like = 1,
    /// A dislike; `name` as for a like.
    Dislike = 2,
    /// An undone like or dislike.
    UndoFeedback = 3,
    /// The session's saved state: `data` (for a later session's
    /// continuation) and `version` (the last interaction it includes).
    SessionState = 4,
}

/// The answer to a call (see [`CallKind`]). `grpc_code` is 0 when it
/// succeeded; otherwise `message` says why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CallResult {
    pub request_id: u64,
    pub call: CallKind,
    pub grpc_code: i32,
    pub message: Text,
    pub name: Text,
    pub data: Vec<u8>,
    pub version: Text,
}

/// What a scene mutation asked of the service: one of the three.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum SceneMutation {
    /// Load this scene (or single character's) resource name.
    LoadScene { scene: Text },
    /// Add these characters (resource names).
    AddCharacters { names: Vec<Text> },
    /// Remove these characters (agent ids).
    RemoveCharacters { agent_ids: Vec<Text> },
}

/// A send of the game's that did not make it (see [`SendFailure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SendFailed {
    pub reason: SendFailure,
    pub message: Text,
}

/// A change of the player's speech found by voice detection; the packet's
/// `conversation_id` is the conversation the turn's audio session is in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct VoiceActivityEvent {
    /// True when the player started speaking, false when they stopped.
    pub speaking: bool,
    /// The packet id of the turn's AUDIO_SESSION_START (empty when none
    /// was made, e.g. the session was not connected).
    pub audio_session_id: Text,
    /// The turn ended because the stream was lost (or voice detection was
    /// turned off), not because the player stopped: its audio not yet sent
    /// is dropped and reported as dropped microphone audio.
    pub cut_short: bool,
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use super::*;
    use crate::protocol::status::{ErrorDetails, ErrorType, ReconnectionType};

    #[test]
    fn packets_serialize_as_plain_json() {
        let mut packet = Packet::local(PacketBody::Text(TextEvent {
            text: "hi".into(),
            is_final: true,
            source: TextSource::Generated,
        }));
        packet.ids.interaction_id = "i1".into();
        let json = serde_json::to_value(&packet).unwrap();
        assert_eq!(json["ids"]["interaction_id"], "i1");
        assert_eq!(json["body"]["Text"]["text"], "hi");
        assert_eq!(json["body"]["Text"]["source"], "Generated");

        let mut details = ErrorDetails::new(ErrorType::SessionPaused, ReconnectionType::Timeout);
        details.reconnect_time = Some(std::time::UNIX_EPOCH + Duration::from_millis(1500));
        let error = Packet::local(PacketBody::Error(SessionError {
            grpc_code: 9,
            message: "paused".into(),
            details: Some(details),
            will_retry: true,
        }));
        let json = serde_json::to_value(&error).unwrap();
        let d = &json["body"]["Error"]["details"];
        assert_eq!(d["reconnect_type"], "TIMEOUT");
        assert_eq!(d["reconnect_time"], 1500);
        let reconnecting = Packet::local(PacketBody::Connection(ConnectionEvent {
            state: ConnectionState::Reconnecting,
            retry_in: Duration::from_millis(250),
            resumed: Resumed::No,
        }));
        let json = serde_json::to_value(&reconnecting).unwrap();
        assert_eq!(json["body"]["Connection"]["retry_in"], 250);

        let audio = Packet::local(PacketBody::Audio(AudioChunk {
            samples: vec![1, -1],
            sample_rate: 16_000,
            channels: 1,
            duration: Duration::from_micros(125),
            phonemes: vec![],
            visemes: vec![TimedViseme {
                viseme: Viseme::Pp,
                start_offset: Duration::from_millis(40),
            }],
            undecoded: None,
        }));
        let json = serde_json::to_value(&audio).unwrap();
        let a = &json["body"]["Audio"];
        assert_eq!(a["samples"], serde_json::json!([1, -1]));
        assert_eq!(a["visemes"][0]["viseme"], "PP");
        assert_eq!(a["visemes"][0]["start_offset"], 40);
        assert_eq!(a["undecoded"], serde_json::Value::Null);
    }
}
