//! The structs and constants packets are lent to C as. Plain data, `#[repr(C)]`;
//! what they point to is owned by the session (see `lend.rs`). Every `IW_*`
//! number here is the packet model's (or the wire's) number for the same
//! thing, which `lend.rs` passes through with `as`: the `const` blocks after
//! each group make the compiler hold the two lists together.

use std::ffi::c_char;

use crate::packet::{
    ActorKind, CallKind, ConnectionState, ControlAction, ConversationEventKind, PacketKind,
    ReconnectionType, Resumed, SendFailure, TextSource, Viseme,
};

/// Borrowed UTF-8 text: `len` bytes at `ptr`, followed by a NUL byte (so `ptr`
/// is also a C string). `ptr` is never NULL (the empty text is `""`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct iw_str {
    pub ptr: *const c_char,
    pub len: usize,
}

impl iw_str {
    pub const EMPTY: iw_str = iw_str {
        ptr: c"".as_ptr(),
        len: 0,
    };
}

/// `iw_actor.kind`: unknown.
pub const IW_ACTOR_UNKNOWN: u32 = 0;
/// `iw_actor.kind`: the player.
pub const IW_ACTOR_PLAYER: u32 = 1;
/// `iw_actor.kind`: a character (`name` is its agent id).
pub const IW_ACTOR_CHARACTER: u32 = 2;
/// `iw_actor.kind`: the world.
pub const IW_ACTOR_WORLD: u32 = 3;

const _: () = {
    assert!(IW_ACTOR_UNKNOWN == ActorKind::Unknown as u32);
    assert!(IW_ACTOR_PLAYER == ActorKind::Player as u32);
    assert!(IW_ACTOR_CHARACTER == ActorKind::Character as u32);
    assert!(IW_ACTOR_WORLD == ActorKind::World as u32);
};

/// Source or target of a packet: `kind` is `IW_ACTOR_*`; `name` is the agent id
/// for characters, empty otherwise.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct iw_actor {
    pub kind: u32,
    pub name: iw_str,
}

/// The ids a packet carries (empty when absent).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct iw_packet_ids {
    pub packet_id: iw_str,
    pub utterance_id: iw_str,
    pub interaction_id: iw_str,
    pub correlation_id: iw_str,
    pub conversation_id: iw_str,
}

/// A received name/value pair (trigger and task parameters, log metadata).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct iw_parameter {
    pub name: iw_str,
    pub value: iw_str,
}

/// One phoneme of an audio chunk, `start_offset_us` microseconds from its start.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct iw_phoneme {
    pub phoneme: iw_str,
    pub start_offset_us: i64,
}

/// `iw_viseme.viseme`: silence, the mouth at rest (pauses, and phonemes the
/// library does not know). The `IW_VISEME_*` numbers are OVRLipSync's.
pub const IW_VISEME_SIL: u32 = 0;
/// `iw_viseme.viseme`: p, b, m (lips pressed together).
pub const IW_VISEME_PP: u32 = 1;
/// `iw_viseme.viseme`: f, v (lower lip to the upper teeth).
pub const IW_VISEME_FF: u32 = 2;
/// `iw_viseme.viseme`: th (tongue between the teeth).
pub const IW_VISEME_TH: u32 = 3;
/// `iw_viseme.viseme`: t, d (tongue behind the upper teeth).
pub const IW_VISEME_DD: u32 = 4;
/// `iw_viseme.viseme`: k, g, h (back of the mouth, jaw slightly open).
pub const IW_VISEME_KK: u32 = 5;
/// `iw_viseme.viseme`: ch, j, sh, zh (lips pushed forward).
pub const IW_VISEME_CH: u32 = 6;
/// `iw_viseme.viseme`: s, z (teeth almost closed).
pub const IW_VISEME_SS: u32 = 7;
/// `iw_viseme.viseme`: n, l, ng.
pub const IW_VISEME_NN: u32 = 8;
/// `iw_viseme.viseme`: r and r-coloured vowels (as in red, bird).
pub const IW_VISEME_RR: u32 = 9;
/// `iw_viseme.viseme`: open vowels (as in father, cat, cut, about, eye, cow).
pub const IW_VISEME_AA: u32 = 10;
/// `iw_viseme.viseme`: e vowels (as in bed, day).
pub const IW_VISEME_E: u32 = 11;
/// `iw_viseme.viseme`: i vowels and y (as in see, sit, yes).
pub const IW_VISEME_IH: u32 = 12;
/// `iw_viseme.viseme`: o vowels (as in law, boy).
pub const IW_VISEME_OH: u32 = 13;
/// `iw_viseme.viseme`: u vowels and w (as in blue, book, go, we).
pub const IW_VISEME_OU: u32 = 14;

const _: () = {
    assert!(IW_VISEME_SIL == Viseme::Sil as u32);
    assert!(IW_VISEME_PP == Viseme::Pp as u32);
    assert!(IW_VISEME_FF == Viseme::Ff as u32);
    assert!(IW_VISEME_TH == Viseme::Th as u32);
    assert!(IW_VISEME_DD == Viseme::Dd as u32);
    assert!(IW_VISEME_KK == Viseme::Kk as u32);
    assert!(IW_VISEME_CH == Viseme::Ch as u32);
    assert!(IW_VISEME_SS == Viseme::Ss as u32);
    assert!(IW_VISEME_NN == Viseme::Nn as u32);
    assert!(IW_VISEME_RR == Viseme::Rr as u32);
    assert!(IW_VISEME_AA == Viseme::Aa as u32);
    assert!(IW_VISEME_E == Viseme::E as u32);
    assert!(IW_VISEME_IH == Viseme::Ih as u32);
    assert!(IW_VISEME_OH == Viseme::Oh as u32);
    assert!(IW_VISEME_OU == Viseme::Ou as u32);
    assert!(Viseme::ALL.len() == 15);
};

/// A change of mouth shape in an audio chunk: `viseme` (`IW_VISEME_*`) shows
/// from `start_offset_us` microseconds after the chunk's start (the phonemes'
/// clock) until the next one starts, or the chunk ends.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct iw_viseme {
    pub viseme: u32,
    pub start_offset_us: i64,
}

/// A character of the loaded scene.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct iw_character {
    /// `sizeof(iw_character)` of the library that wrote it.
    pub struct_size: u32,
    /// Agent id: what routing and `iw_session_set_character` use. It lasts
    /// one scene load: every load (a scene change, or the reload after the
    /// service lost the session, `IW_RESUMED_NEW_SESSION`) and a character
    /// removed then added again give new ids, and a kept old id gives
    /// `IW_E_NOT_FOUND`. Keep the resource or
    /// display name, and look the id up after each `IW_PACKET_SCENE_STATUS`.
    pub id: iw_str,
    /// Full resource name `workspaces/<ws>/characters/<id>`.
    pub resource_name: iw_str,
    pub display_name: iw_str,
    pub avatar_img: iw_str,
    pub avatar_img_original: iw_str,
    pub rpm_model_uri: iw_str,
    pub rpm_image_uri_portrait: iw_str,
    pub rpm_image_uri_posture: iw_str,
}

/// `iw_packet.kind`: a packet kind this version does not model (ignore it).
pub const IW_PACKET_UNKNOWN: u32 = 0;
/// `iw_packet.kind`: text (`data.text`).
pub const IW_PACKET_TEXT: u32 = 1;
/// `iw_packet.kind`: a chunk of speech (`data.audio`).
pub const IW_PACKET_AUDIO: u32 = 2;
/// `iw_packet.kind`: silence (`data.silence`).
pub const IW_PACKET_SILENCE: u32 = 3;
/// `iw_packet.kind`: an emotion (`data.emotion`).
pub const IW_PACKET_EMOTION: u32 = 4;
/// `iw_packet.kind`: a trigger from a character (`data.custom`).
pub const IW_PACKET_TRIGGER: u32 = 5;
/// `iw_packet.kind`: a task (`data.custom`).
pub const IW_PACKET_TASK: u32 = 6;
/// `iw_packet.kind`: a control event, e.g. INTERACTION_END (`data.control`).
pub const IW_PACKET_CONTROL: u32 = 7;
/// `iw_packet.kind`: conversation started/updated/evicted (`data.conversation`).
pub const IW_PACKET_CONVERSATION: u32 = 8;
/// `iw_packet.kind`: the scene (and its characters) loaded (`data.scene`).
pub const IW_PACKET_SCENE_STATUS: u32 = 9;
/// `iw_packet.kind`: a narrated action (`data.narrated_action`).
pub const IW_PACKET_NARRATED_ACTION: u32 = 10;
/// `iw_packet.kind`: responses were cancelled (`data.cancel_responses`).
pub const IW_PACKET_CANCEL_RESPONSES: u32 = 11;
/// `iw_packet.kind`: a log line from the service (`data.log`).
pub const IW_PACKET_LOG: u32 = 12;
/// `iw_packet.kind`: an operation status (`data.operation_status`).
pub const IW_PACKET_OPERATION_STATUS: u32 = 13;
/// `iw_packet.kind`: an error from the service or the connection (`data.error`).
pub const IW_PACKET_ERROR: u32 = 14;
/// `iw_packet.kind`: the connection state changed (`data.connection`).
pub const IW_PACKET_CONNECTION: u32 = 15;
/// `iw_packet.kind`: the queue was full; `data.overflow.dropped` packets were lost before this one.
pub const IW_PACKET_OVERFLOW: u32 = 16;
/// `iw_packet.kind`: a send did not make it, or may not have (`data.send_failed`);
/// the packet's `ids` are the ones the send returned.
pub const IW_PACKET_SEND_FAILED: u32 = 17;
/// `iw_packet.kind`: the answer to a call made on the session (feedback,
/// saved state), with the request id the call returned (`data.call_result`).
pub const IW_PACKET_CALL_RESULT: u32 = 18;
/// `iw_packet.kind`: a change of the scene went out to the service
/// (`data.scene_mutation`): a scene change, or characters added or removed
/// (by the game, or for a conversation); the packet's `ids` are those of the
/// packet that carried it. The new `IW_PACKET_SCENE_STATUS` follows once the
/// service made it.
pub const IW_PACKET_SCENE_MUTATION: u32 = 19;
/// `iw_packet.kind`: with voice detection on, the player started or stopped
/// speaking (`data.voice_activity`); the packet's `ids.conversation_id` is
/// the conversation of the turn's audio session.
pub const IW_PACKET_VOICE_ACTIVITY: u32 = 20;

const _: () = {
    assert!(IW_PACKET_UNKNOWN == PacketKind::Unknown as u32);
    assert!(IW_PACKET_TEXT == PacketKind::Text as u32);
    assert!(IW_PACKET_AUDIO == PacketKind::Audio as u32);
    assert!(IW_PACKET_SILENCE == PacketKind::Silence as u32);
    assert!(IW_PACKET_EMOTION == PacketKind::Emotion as u32);
    assert!(IW_PACKET_TRIGGER == PacketKind::Trigger as u32);
    assert!(IW_PACKET_TASK == PacketKind::Task as u32);
    assert!(IW_PACKET_CONTROL == PacketKind::Control as u32);
    assert!(IW_PACKET_CONVERSATION == PacketKind::ConversationEvent as u32);
    assert!(IW_PACKET_SCENE_STATUS == PacketKind::SceneStatus as u32);
    assert!(IW_PACKET_NARRATED_ACTION == PacketKind::NarratedAction as u32);
    assert!(IW_PACKET_CANCEL_RESPONSES == PacketKind::CancelResponses as u32);
    assert!(IW_PACKET_LOG == PacketKind::Log as u32);
    assert!(IW_PACKET_OPERATION_STATUS == PacketKind::OperationStatus as u32);
    assert!(IW_PACKET_ERROR == PacketKind::Error as u32);
    assert!(IW_PACKET_CONNECTION == PacketKind::Connection as u32);
    assert!(IW_PACKET_OVERFLOW == PacketKind::Overflow as u32);
    assert!(IW_PACKET_SEND_FAILED == PacketKind::SendFailed as u32);
    assert!(IW_PACKET_CALL_RESULT == PacketKind::CallResult as u32);
    assert!(IW_PACKET_SCENE_MUTATION == PacketKind::SceneMutation as u32);
    assert!(IW_PACKET_VOICE_ACTIVITY == PacketKind::VoiceActivity as u32);
};

/// `iw_text.source`: not given.
pub const IW_TEXT_SOURCE_UNKNOWN: u32 = 0;
/// `iw_text.source`: recognised speech (the player's). Its `interaction_id`
/// is the one the reply to that spoken turn carries: match a transcript to
/// its reply by it.
pub const IW_TEXT_SOURCE_SPEECH_TO_TEXT: u32 = 1;
/// `iw_text.source`: typed by the player.
pub const IW_TEXT_SOURCE_TYPED_IN: u32 = 2;
/// `iw_text.source`: generated (a character's reply).
pub const IW_TEXT_SOURCE_GENERATED: u32 = 3;
/// `iw_text.source`: a filler while the reply is being generated.
pub const IW_TEXT_SOURCE_FILLER: u32 = 4;

const _: () = {
    assert!(IW_TEXT_SOURCE_UNKNOWN == TextSource::Unknown as u32);
    assert!(IW_TEXT_SOURCE_SPEECH_TO_TEXT == TextSource::SpeechToText as u32);
    assert!(IW_TEXT_SOURCE_TYPED_IN == TextSource::TypedIn as u32);
    assert!(IW_TEXT_SOURCE_GENERATED == TextSource::Generated as u32);
    assert!(IW_TEXT_SOURCE_FILLER == TextSource::Filler as u32);
};

/// `iw_control.action`: an action this version does not model.
pub const IW_CONTROL_UNKNOWN: u32 = 0;
/// `iw_control.action`: an audio session (microphone input) started.
pub const IW_CONTROL_AUDIO_SESSION_START: u32 = 1;
/// `iw_control.action`: the audio session ended.
pub const IW_CONTROL_AUDIO_SESSION_END: u32 = 2;
/// `iw_control.action`: the reply to one input is complete (match
/// `interaction_id` with `iw_sent_ids`).
pub const IW_CONTROL_INTERACTION_END: u32 = 3;
/// `iw_control.action`: speech playback started.
pub const IW_CONTROL_TTS_PLAYBACK_START: u32 = 4;
/// `iw_control.action`: speech playback ended.
pub const IW_CONTROL_TTS_PLAYBACK_END: u32 = 5;
/// `iw_control.action`: speech playback muted.
pub const IW_CONTROL_TTS_PLAYBACK_MUTE: u32 = 6;
/// `iw_control.action`: speech playback unmuted.
pub const IW_CONTROL_TTS_PLAYBACK_UNMUTE: u32 = 7;
/// `iw_control.action`: a warning from the service (`description` says what).
pub const IW_CONTROL_WARNING: u32 = 8;
/// `iw_control.action`: the service ended the session.
pub const IW_CONTROL_SESSION_END: u32 = 9;

const _: () = {
    assert!(IW_CONTROL_UNKNOWN == ControlAction::Unknown as u32);
    assert!(IW_CONTROL_AUDIO_SESSION_START == ControlAction::AudioSessionStart as u32);
    assert!(IW_CONTROL_AUDIO_SESSION_END == ControlAction::AudioSessionEnd as u32);
    assert!(IW_CONTROL_INTERACTION_END == ControlAction::InteractionEnd as u32);
    assert!(IW_CONTROL_TTS_PLAYBACK_START == ControlAction::TtsPlaybackStart as u32);
    assert!(IW_CONTROL_TTS_PLAYBACK_END == ControlAction::TtsPlaybackEnd as u32);
    assert!(IW_CONTROL_TTS_PLAYBACK_MUTE == ControlAction::TtsPlaybackMute as u32);
    assert!(IW_CONTROL_TTS_PLAYBACK_UNMUTE == ControlAction::TtsPlaybackUnmute as u32);
    assert!(IW_CONTROL_WARNING == ControlAction::Warning as u32);
    assert!(IW_CONTROL_SESSION_END == ControlAction::SessionEnd as u32);
};

/// `iw_conversation.kind`: an event this version does not model.
pub const IW_CONVERSATION_UNKNOWN: u32 = 0;
/// `iw_conversation.kind`: the conversation started (its participants).
pub const IW_CONVERSATION_STARTED: u32 = 1;
/// `iw_conversation.kind`: its participants changed.
pub const IW_CONVERSATION_UPDATED: u32 = 2;
/// `iw_conversation.kind`: the service dropped the conversation.
pub const IW_CONVERSATION_EVICTED: u32 = 3;

const _: () = {
    assert!(IW_CONVERSATION_UNKNOWN == ConversationEventKind::Unknown as u32);
    assert!(IW_CONVERSATION_STARTED == ConversationEventKind::Started as u32);
    assert!(IW_CONVERSATION_UPDATED == ConversationEventKind::Updated as u32);
    assert!(IW_CONVERSATION_EVICTED == ConversationEventKind::Evicted as u32);
};

/// Connection state (`iw_connection.state`, `iw_session_state`): getting a
/// token, opening the stream, loading the scene.
pub const IW_STATE_CONNECTING: u32 = 1;
/// Connection state: the scene is loaded and the service confirmed the
/// conversation; characters are known and sends go out at once.
pub const IW_STATE_READY: u32 = 2;
/// Connection state: the stream broke; the library is opening a new one
/// (sends are queued meanwhile).
pub const IW_STATE_RECONNECTING: u32 = 3;
/// Connection state: closed for good (by the game, or after an error that is
/// not retried).
pub const IW_STATE_CLOSED: u32 = 4;
/// Connection state: ready, but nothing has arrived for a while although a
/// reply is awaited; `IW_STATE_READY` follows when packets flow again,
/// `IW_STATE_RECONNECTING` when the connection turns out dead.
pub const IW_STATE_STALLED: u32 = 5;

/// `iw_connection.resumed`: not a return to Ready after a reconnect.
pub const IW_RESUMED_NO: u32 = 0;
/// `iw_connection.resumed`: the service still had the session.
pub const IW_RESUMED_SAME_SESSION: u32 = 1;
/// `iw_connection.resumed`: the service had lost the session; a new one
/// continues the dialog so far.
pub const IW_RESUMED_NEW_SESSION: u32 = 2;

/// `iw_send_failed.reason`: it never left the library (the session closed first).
pub const IW_SEND_NOT_SENT: u32 = 1;
/// `iw_send_failed.reason`: it went out on a stream that broke before the
/// reply ended; the service may or may not have acted on it.
pub const IW_SEND_MAYBE_SENT: u32 = 2;
/// `iw_send_failed.reason`: the service refused it (`message` says why).
pub const IW_SEND_REFUSED: u32 = 3;

const _: () = {
    assert!(IW_STATE_CONNECTING == ConnectionState::Connecting as u32);
    assert!(IW_STATE_READY == ConnectionState::Ready as u32);
    assert!(IW_STATE_RECONNECTING == ConnectionState::Reconnecting as u32);
    assert!(IW_STATE_CLOSED == ConnectionState::Closed as u32);
    assert!(IW_STATE_STALLED == ConnectionState::Stalled as u32);
    assert!(IW_RESUMED_NO == Resumed::No as u32);
    assert!(IW_RESUMED_SAME_SESSION == Resumed::SameSession as u32);
    assert!(IW_RESUMED_NEW_SESSION == Resumed::NewSession as u32);
    assert!(IW_SEND_NOT_SENT == SendFailure::NotSent as u32);
    assert!(IW_SEND_MAYBE_SENT == SendFailure::MaybeSent as u32);
    assert!(IW_SEND_REFUSED == SendFailure::Refused as u32);
};

/// `iw_error.reconnect_type`: the service said nothing.
pub const IW_RECONNECT_UNDEFINED: u32 = 0;
/// `iw_error.reconnect_type`: do not reconnect.
pub const IW_RECONNECT_NO_RETRY: u32 = 1;
/// `iw_error.reconnect_type`: reconnect at once.
pub const IW_RECONNECT_IMMEDIATE: u32 = 2;
/// `iw_error.reconnect_type`: reconnect at `reconnect_time_ms`.
pub const IW_RECONNECT_TIMEOUT: u32 = 3;

// The wire's numbers (prost-generated enum).
const _: () = {
    assert!(IW_RECONNECT_UNDEFINED == ReconnectionType::Undefined as u32);
    assert!(IW_RECONNECT_NO_RETRY == ReconnectionType::NoRetry as u32);
    assert!(IW_RECONNECT_IMMEDIATE == ReconnectionType::Immediate as u32);
    assert!(IW_RECONNECT_TIMEOUT == ReconnectionType::Timeout as u32);
};

/// `data` of `IW_PACKET_TEXT`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_text {
    pub text: iw_str,
    /// 1 when this is the final text of its utterance, else 0.
    pub is_final: u32,
    /// `IW_TEXT_SOURCE_*`
    pub source: u32,
}

/// `data` of `IW_PACKET_AUDIO`: a chunk of a character's speech, decoded by
/// the library as it arrived (once, on a library thread): 16-bit PCM with
/// its rate, channels and duration, the phonemes the service sent with it and
/// the visemes they make. The packet's `ids` carry the utterance and
/// interaction it belongs to. Times are microseconds from the chunk's start.
/// Visemes come from the phonemes, so they need the `IW_CAP_PHONEMES`
/// capability: without it the visemes (and a playback stream's viseme) stay
/// `IW_VISEME_SIL`, and no error says so.
/// All arrays are lent like the packet's strings: valid until the next
/// poll/dispatch of the session or its free (in a callback: until it returns).
/// A chunk that could not be decoded has `sample_rate` 0, no samples, its
/// bytes as sent in `data`/`len`, and the reason in `decode_error`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_audio {
    /// The chunk's bytes as the service sent them, only when it could not be
    /// decoded; otherwise `len` is 0 (the samples are the same audio).
    pub data: *const u8,
    pub len: usize,
    pub phonemes: *const iw_phoneme,
    pub phoneme_count: usize,
    /// Signed 16-bit PCM, interleaved: `sample_count` / `channels` frames of
    /// `channels` samples each.
    pub samples: *const i16,
    pub sample_count: usize,
    /// Frames per second (0 when the chunk could not be decoded).
    pub sample_rate: u32,
    /// Samples per frame (0 when the chunk could not be decoded).
    pub channels: u32,
    /// How long the samples play: frames * 1,000,000 / `sample_rate`, rounded down.
    pub duration_us: i64,
    /// The mouth shapes of the phonemes, in order; one entry per change of
    /// shape (repeats are merged), the first at the first phoneme.
    pub visemes: *const iw_viseme,
    pub viseme_count: usize,
    /// Why the chunk could not be decoded; empty when it was.
    pub decode_error: iw_str,
}

/// `data` of `IW_PACKET_SILENCE`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_silence {
    pub duration_ms: i64,
}

/// `data` of `IW_PACKET_EMOTION`: wire `SpaffCode` and `Strength` values
/// (`iw_emotion_behavior_name` names the behavior).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_emotion {
    pub behavior: i32,
    pub strength: i32,
}

/// `data` of `IW_PACKET_TRIGGER` and `IW_PACKET_TASK`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_custom {
    pub name: iw_str,
    pub parameters: *const iw_parameter,
    pub parameter_count: usize,
}

/// `data` of `IW_PACKET_CONTROL`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_control {
    /// `IW_CONTROL_*`
    pub action: u32,
    pub description: iw_str,
}

/// `data` of `IW_PACKET_CONVERSATION`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_conversation {
    /// `IW_CONVERSATION_*`
    pub kind: u32,
    pub participants: *const iw_actor,
    pub participant_count: usize,
}

/// `data` of `IW_PACKET_SCENE_STATUS`: the whole character list (it replaces the previous one).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_scene {
    pub name: iw_str,
    pub description: iw_str,
    pub display_name: iw_str,
    pub characters: *const iw_character,
    pub character_count: usize,
}

/// `data` of `IW_PACKET_NARRATED_ACTION`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_narrated_action {
    pub content: iw_str,
}

/// `data` of `IW_PACKET_CANCEL_RESPONSES`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_cancel_responses {
    pub interaction_id: iw_str,
    pub utterance_ids: *const iw_str,
    pub utterance_id_count: usize,
}

/// `iw_scene_mutation.what`: load the scene `scene`.
pub const IW_MUTATION_LOAD_SCENE: u32 = 1;
/// `iw_scene_mutation.what`: add the characters of `names` (resource names).
pub const IW_MUTATION_ADD_CHARACTERS: u32 = 2;
/// `iw_scene_mutation.what`: remove the characters of `names` (agent ids).
pub const IW_MUTATION_REMOVE_CHARACTERS: u32 = 3;

/// `data` of `IW_PACKET_SCENE_MUTATION`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_scene_mutation {
    /// `IW_MUTATION_*`
    pub what: u32,
    /// For `IW_MUTATION_LOAD_SCENE`: the scene's (or single character's)
    /// resource name; empty otherwise.
    pub scene: iw_str,
    /// The characters added (resource names) or removed (agent ids).
    pub names: *const iw_str,
    pub name_count: usize,
}

/// `data` of `IW_PACKET_LOG`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_log {
    pub text: iw_str,
    /// Wire `LogsEvent.LogLevel`.
    pub level: i32,
    pub metadata: *const iw_parameter,
    pub metadata_count: usize,
}

/// `data` of `IW_PACKET_OPERATION_STATUS`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_operation_status {
    pub code: i32,
    pub message: iw_str,
}

/// `data` of `IW_PACKET_ERROR`: a gRPC status with Inworld's details, or a local
/// failure (timeout, connection lost).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_error {
    /// gRPC status code (0 for none).
    pub grpc_code: i32,
    pub message: iw_str,
    /// 1 when the fields below come from the service's error details, else 0.
    pub has_details: u32,
    /// Wire `ErrorType` value (unknown values are passed through).
    pub error_type: i32,
    /// `IW_RECONNECT_*`
    pub reconnect_type: u32,
    /// When to reconnect, in ms since the Unix epoch (0 if not given).
    pub reconnect_time_ms: i64,
    pub max_retries: i32,
    /// 1 when the library will reconnect by itself, else 0.
    pub will_retry: u32,
    /// For a missing resource: its id (else empty).
    pub resource_id: iw_str,
}

/// `data` of `IW_PACKET_CONNECTION`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_connection {
    /// `IW_STATE_*`
    pub state: u32,
    /// For `IW_STATE_RECONNECTING`: ms until the next attempt.
    pub retry_in_ms: i64,
    /// For `IW_STATE_READY` after a reconnect: `IW_RESUMED_*`.
    pub resumed: u32,
}

/// `data` of `IW_PACKET_OVERFLOW`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_overflow {
    /// Packets dropped (queue full) before this one.
    pub dropped: u64,
}

/// `data` of `IW_PACKET_VOICE_ACTIVITY`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_voice_activity {
    /// 1: the player started speaking; 0: they stopped.
    pub speaking: u32,
    /// 1: the turn was cut (the stream was lost, or voice detection turned
    /// off), not ended by silence; its unsent audio is reported dropped.
    pub cut_short: u32,
    /// The packet id of the turn's AUDIO_SESSION_START (empty when none was made).
    pub audio_session_id: iw_str,
}

/// `data` of `IW_PACKET_SEND_FAILED`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_send_failed {
    /// `IW_SEND_*`
    pub reason: u32,
    pub message: iw_str,
}

/// `iw_call_result.call`: a like (`name` is the feedback's name, for undo).
pub const IW_CALL_LIKE: u32 = 1;
/// `iw_call_result.call`: a dislike (`name` as for a like).
pub const IW_CALL_DISLIKE: u32 = 2;
/// `iw_call_result.call`: an undone like or dislike.
pub const IW_CALL_UNDO_FEEDBACK: u32 = 3;
/// `iw_call_result.call`: the session's saved state (`data`, `data_len`, `version`).
pub const IW_CALL_SESSION_STATE: u32 = 4;

const _: () = {
    assert!(IW_CALL_LIKE == CallKind::Like as u32);
    assert!(IW_CALL_DISLIKE == CallKind::Dislike as u32);
    assert!(IW_CALL_UNDO_FEEDBACK == CallKind::UndoFeedback as u32);
    assert!(IW_CALL_SESSION_STATE == CallKind::SessionState as u32);
};

/// `data` of `IW_PACKET_CALL_RESULT`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_call_result {
    /// What the call returned (`iw_session_like` and the like).
    pub request_id: u64,
    /// `IW_CALL_*`
    pub call: u32,
    /// 0 when the call succeeded, else its gRPC status code.
    pub grpc_code: i32,
    /// Why it failed (empty on success).
    pub message: iw_str,
    /// For a like or dislike: the feedback's name (undo takes it).
    pub name: iw_str,
    /// For the saved state: its bytes (lent like the packet's strings).
    pub data: *const u8,
    pub data_len: usize,
    /// For the saved state: the last interaction it includes.
    pub version: iw_str,
}

/// Per-kind data of a packet: read the member named by `iw_packet.kind`.
/// `reserved` fixes the size so that new kinds do not change it.
#[repr(C)]
#[derive(Clone, Copy)]
pub union iw_packet_data {
    pub text: iw_text,
    pub audio: iw_audio,
    pub silence: iw_silence,
    pub emotion: iw_emotion,
    pub custom: iw_custom,
    pub control: iw_control,
    pub conversation: iw_conversation,
    pub scene: iw_scene,
    pub narrated_action: iw_narrated_action,
    pub cancel_responses: iw_cancel_responses,
    pub log: iw_log,
    pub operation_status: iw_operation_status,
    pub error: iw_error,
    pub connection: iw_connection,
    pub overflow: iw_overflow,
    pub send_failed: iw_send_failed,
    pub call_result: iw_call_result,
    pub scene_mutation: iw_scene_mutation,
    pub voice_activity: iw_voice_activity,
    pub reserved: [u64; 16],
}

// Fixed by `reserved`: a member larger than it would change `iw_packet`'s size.
const _: () = assert!(std::mem::size_of::<iw_packet_data>() == std::mem::size_of::<[u64; 16]>());

/// A received packet, lent by `iw_session_poll`/`iw_session_dispatch`/the
/// session callback. Everything it points to stays valid until the next
/// poll/dispatch on the same session or its free (for the callbacks: until the
/// callback returns). Wrappers must ignore kinds they do not know.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_packet {
    /// `sizeof(iw_packet)` of the library that wrote it.
    pub struct_size: u32,
    /// `IW_PACKET_*`: says which member of `data` is valid.
    pub kind: u32,
    pub ids: iw_packet_ids,
    pub source: iw_actor,
    pub target: iw_actor,
    /// Milliseconds since the Unix epoch (0 for packets the library makes itself).
    pub timestamp_ms: i64,
    pub data: iw_packet_data,
}
