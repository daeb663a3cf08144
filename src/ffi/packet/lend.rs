//! Lending packets to C: an `iw_packet` points into a [`Packet`] the session
//! keeps, and into a [`Scratch`] holding the arrays (phonemes, parameters, ...)
//! the C structs need. Scratch vectors are reused across polls, so after warm-up
//! the poll path allocates nothing per packet.

use std::ffi::c_char;
use std::time::UNIX_EPOCH;

use super::types::*;
use crate::packet::{
    Actor, Character, Packet, PacketBody, Parameter, Phoneme, SceneMutation, Text, TimedViseme,
};

fn str_of(t: &Text) -> iw_str {
    iw_str {
        ptr: t.as_ptr() as *const c_char,
        len: t.len(),
    }
}

fn actor_of(a: &Actor) -> iw_actor {
    iw_actor {
        kind: a.kind as u32,
        name: str_of(&a.name),
    }
}

pub(crate) fn character_of(c: &Character) -> iw_character {
    iw_character {
        struct_size: std::mem::size_of::<iw_character>() as u32,
        id: str_of(&c.id),
        resource_name: str_of(&c.resource_name),
        display_name: str_of(&c.display_name),
        avatar_img: str_of(&c.assets.avatar_img),
        avatar_img_original: str_of(&c.assets.avatar_img_original),
        rpm_model_uri: str_of(&c.assets.rpm_model_uri),
        rpm_image_uri_portrait: str_of(&c.assets.rpm_image_uri_portrait),
        rpm_image_uri_posture: str_of(&c.assets.rpm_image_uri_posture),
    }
}

/// Arrays the lent packets point into.
#[derive(Default)]
pub(crate) struct Scratch {
    phonemes: Vec<iw_phoneme>,
    visemes: Vec<iw_viseme>,
    params: Vec<iw_parameter>,
    actors: Vec<iw_actor>,
    characters: Vec<iw_character>,
    strs: Vec<iw_str>,
    bytes: Vec<u8>,
}

// The raw pointers point into packets owned next to the scratch (same session
// entry, or the callback's stack frame); they are only used under its guard.
unsafe impl Send for Scratch {}

#[derive(Default)]
struct Needs {
    phonemes: usize,
    visemes: usize,
    params: usize,
    actors: usize,
    characters: usize,
    strs: usize,
    bytes: usize,
}

fn add_needs(n: &mut Needs, p: &Packet) {
    match &p.body {
        PacketBody::Audio(a) => {
            n.phonemes += a.phonemes.len();
            n.visemes += a.visemes.len();
        }
        PacketBody::Trigger(c) | PacketBody::Task(c) => n.params += c.parameters.len(),
        PacketBody::Log(l) => n.params += l.metadata.len(),
        PacketBody::ConversationEvent(c) => n.actors += c.participants.len(),
        PacketBody::SceneStatus(s) => n.characters += s.characters.len(),
        PacketBody::CancelResponses { utterance_ids, .. } => n.strs += utterance_ids.len(),
        PacketBody::SceneMutation(m) => n.strs += mutation_names(m).len(),
        PacketBody::Error(e) => {
            if let Some(id) = e.details.as_ref().and_then(|d| d.resource_id.as_ref()) {
                n.bytes += id.len() + 1;
            }
        }
        _ => {}
    }
}

/// The characters a scene mutation adds or removes.
fn mutation_names(m: &SceneMutation) -> &[Text] {
    match m {
        SceneMutation::LoadScene { .. } => &[],
        SceneMutation::AddCharacters { names } => names,
        SceneMutation::RemoveCharacters { agent_ids } => agent_ids,
    }
}

/// Appends to `v` without reallocating (the capacity was reserved beforehand,
/// and earlier lent pointers point into `v`); returns the start of the new items.
fn extend<T, S>(v: &mut Vec<T>, items: &[S], f: impl Fn(&S) -> T) -> *const T {
    assert!(
        v.capacity() - v.len() >= items.len(),
        "lend scratch was not reserved"
    );
    let start = v.len();
    v.extend(items.iter().map(f));
    if items.is_empty() {
        std::ptr::NonNull::dangling().as_ptr()
    } else {
        // SAFETY: start < len.
        unsafe { v.as_ptr().add(start) }
    }
}

fn param_of(p: &Parameter) -> iw_parameter {
    iw_parameter {
        name: str_of(&p.name),
        value: str_of(&p.value),
    }
}

fn phoneme_of(p: &Phoneme) -> iw_phoneme {
    iw_phoneme {
        phoneme: str_of(&p.phoneme),
        start_offset_us: p.start_offset.as_micros() as i64,
    }
}

fn viseme_of(v: &TimedViseme) -> iw_viseme {
    iw_viseme {
        viseme: v.viseme as u32,
        start_offset_us: v.start_offset.as_micros() as i64,
    }
}

/// A lent array: never NULL, even when empty.
fn slice_ptr<T>(items: &[T]) -> *const T {
    if items.is_empty() {
        std::ptr::NonNull::dangling().as_ptr()
    } else {
        items.as_ptr()
    }
}

impl Scratch {
    /// Forgets what was lent before and makes room for lending `packets`.
    pub fn reset_for(&mut self, packets: &[Packet]) {
        let mut n = Needs::default();
        for p in packets {
            add_needs(&mut n, p);
        }
        self.phonemes.clear();
        self.visemes.clear();
        self.params.clear();
        self.actors.clear();
        self.characters.clear();
        self.strs.clear();
        self.bytes.clear();
        self.phonemes.reserve(n.phonemes);
        self.visemes.reserve(n.visemes);
        self.params.reserve(n.params);
        self.actors.reserve(n.actors);
        self.characters.reserve(n.characters);
        self.strs.reserve(n.strs);
        self.bytes.reserve(n.bytes);
    }

    /// The C view of `p`. Valid while `p` lives and until the next `reset_for`.
    /// `p` must be one of the packets given to the last `reset_for`.
    pub fn lend(&mut self, p: &Packet) -> iw_packet {
        iw_packet {
            struct_size: std::mem::size_of::<iw_packet>() as u32,
            kind: p.body.kind() as u32,
            ids: iw_packet_ids {
                packet_id: str_of(&p.ids.packet_id),
                utterance_id: str_of(&p.ids.utterance_id),
                interaction_id: str_of(&p.ids.interaction_id),
                correlation_id: str_of(&p.ids.correlation_id),
                conversation_id: str_of(&p.ids.conversation_id),
            },
            source: actor_of(&p.routing.source),
            target: actor_of(&p.routing.target),
            timestamp_ms: p.timestamp_ms,
            data: self.data_of(&p.body),
        }
    }

    fn data_of(&mut self, body: &PacketBody) -> iw_packet_data {
        let mut data = iw_packet_data { reserved: [0; 16] };
        match body {
            PacketBody::Text(t) => {
                data.text = iw_text {
                    text: str_of(&t.text),
                    is_final: t.is_final as u32,
                    source: t.source as u32,
                }
            }
            PacketBody::Audio(a) => {
                let (raw, decode_error) = match &a.undecoded {
                    Some(u) => (&u.data[..], str_of(&u.error)),
                    None => (&[][..], iw_str::EMPTY),
                };
                data.audio = iw_audio {
                    data: slice_ptr(raw),
                    len: raw.len(),
                    phonemes: extend(&mut self.phonemes, &a.phonemes, phoneme_of),
                    phoneme_count: a.phonemes.len(),
                    samples: slice_ptr(&a.samples),
                    sample_count: a.samples.len(),
                    sample_rate: a.sample_rate,
                    channels: u32::from(a.channels),
                    duration_us: a.duration.as_micros() as i64,
                    visemes: extend(&mut self.visemes, &a.visemes, viseme_of),
                    viseme_count: a.visemes.len(),
                    decode_error,
                }
            }
            PacketBody::Silence { duration_ms } => {
                data.silence = iw_silence {
                    duration_ms: *duration_ms,
                }
            }
            PacketBody::Emotion(e) => {
                data.emotion = iw_emotion {
                    behavior: e.behavior,
                    strength: e.strength,
                }
            }
            PacketBody::Trigger(c) | PacketBody::Task(c) => {
                data.custom = iw_custom {
                    name: str_of(&c.name),
                    parameters: extend(&mut self.params, &c.parameters, param_of),
                    parameter_count: c.parameters.len(),
                }
            }
            PacketBody::Control(c) => {
                data.control = iw_control {
                    action: c.action as u32,
                    description: str_of(&c.description),
                }
            }
            PacketBody::ConversationEvent(c) => {
                data.conversation = iw_conversation {
                    kind: c.kind as u32,
                    participants: extend(&mut self.actors, &c.participants, actor_of),
                    participant_count: c.participants.len(),
                }
            }
            PacketBody::SceneStatus(s) => {
                data.scene = iw_scene {
                    name: str_of(&s.name),
                    description: str_of(&s.description),
                    display_name: str_of(&s.display_name),
                    characters: extend(&mut self.characters, &s.characters, character_of),
                    character_count: s.characters.len(),
                }
            }
            PacketBody::NarratedAction { content } => {
                data.narrated_action = iw_narrated_action {
                    content: str_of(content),
                }
            }
            PacketBody::CancelResponses {
                interaction_id,
                utterance_ids,
            } => {
                data.cancel_responses = iw_cancel_responses {
                    interaction_id: str_of(interaction_id),
                    utterance_ids: extend(&mut self.strs, utterance_ids, str_of),
                    utterance_id_count: utterance_ids.len(),
                }
            }
            PacketBody::Log(l) => {
                data.log = iw_log {
                    text: str_of(&l.text),
                    level: l.level,
                    metadata: extend(&mut self.params, &l.metadata, param_of),
                    metadata_count: l.metadata.len(),
                }
            }
            PacketBody::OperationStatus { code, message } => {
                data.operation_status = iw_operation_status {
                    code: *code,
                    message: str_of(message),
                }
            }
            PacketBody::Error(e) => {
                let d = e.details.as_ref();
                let resource_id = match d.and_then(|d| d.resource_id.as_ref()) {
                    Some(id) => self.push_c_string(id),
                    None => iw_str::EMPTY,
                };
                data.error = iw_error {
                    grpc_code: e.grpc_code,
                    message: str_of(&e.message),
                    has_details: d.is_some() as u32,
                    error_type: d.map_or(0, |d| d.error_type),
                    reconnect_type: d.map_or(IW_RECONNECT_UNDEFINED, |d| d.reconnect_type as u32),
                    reconnect_time_ms: d
                        .and_then(|d| d.reconnect_time)
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(0, |t| t.as_millis() as i64),
                    max_retries: d.map_or(0, |d| d.max_retries),
                    will_retry: e.will_retry as u32,
                    resource_id,
                }
            }
            PacketBody::Connection(c) => {
                data.connection = iw_connection {
                    state: c.state as u32,
                    retry_in_ms: c.retry_in.as_millis() as i64,
                    resumed: c.resumed as u32,
                }
            }
            PacketBody::Overflow { dropped } => data.overflow = iw_overflow { dropped: *dropped },
            PacketBody::CallResult(r) => {
                data.call_result = iw_call_result {
                    request_id: r.request_id,
                    call: r.call as u32,
                    grpc_code: r.grpc_code,
                    message: str_of(&r.message),
                    name: str_of(&r.name),
                    data: slice_ptr(&r.data),
                    data_len: r.data.len(),
                    version: str_of(&r.version),
                }
            }
            PacketBody::SceneMutation(m) => {
                let names = mutation_names(m);
                data.scene_mutation = iw_scene_mutation {
                    what: match m {
                        SceneMutation::LoadScene { .. } => IW_MUTATION_LOAD_SCENE,
                        SceneMutation::AddCharacters { .. } => IW_MUTATION_ADD_CHARACTERS,
                        SceneMutation::RemoveCharacters { .. } => IW_MUTATION_REMOVE_CHARACTERS,
                    },
                    scene: match m {
                        SceneMutation::LoadScene { scene } => str_of(scene),
                        _ => iw_str::EMPTY,
                    },
                    names: extend(&mut self.strs, names, str_of),
                    name_count: names.len(),
                }
            }
            PacketBody::SendFailed(f) => {
                data.send_failed = iw_send_failed {
                    reason: f.reason as u32,
                    message: str_of(&f.message),
                }
            }
            PacketBody::VoiceActivity(v) => {
                data.voice_activity = iw_voice_activity {
                    speaking: v.speaking as u32,
                    cut_short: v.cut_short as u32,
                    audio_session_id: str_of(&v.audio_session_id),
                }
            }
            PacketBody::Unknown => {}
        }
        data
    }

    fn push_c_string(&mut self, s: &str) -> iw_str {
        assert!(
            self.bytes.capacity() - self.bytes.len() > s.len(),
            "lend scratch was not reserved"
        );
        let start = self.bytes.len();
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        iw_str {
            // SAFETY: start <= len.
            ptr: unsafe { self.bytes.as_ptr().add(start) } as *const c_char,
            len: s.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::*;
    use std::ffi::CStr;
    use std::time::Duration;

    fn s(v: iw_str) -> &'static str {
        // SAFETY: lent strings are NUL-terminated; the tests keep the packets alive.
        let c = unsafe { CStr::from_ptr(v.ptr) };
        assert_eq!(c.to_bytes().len(), v.len);
        c.to_str().unwrap()
    }

    fn packet(body: PacketBody) -> Packet {
        Packet {
            ids: PacketIds {
                interaction_id: "i-1".into(),
                ..Default::default()
            },
            routing: Routing {
                source: Actor {
                    kind: ActorKind::Character,
                    name: "alice-id".into(),
                },
                target: Actor::default(),
            },
            timestamp_ms: 42,
            body,
        }
    }

    #[test]
    fn every_kind_is_lent_with_its_arrays() {
        let packets = vec![
            packet(PacketBody::Audio(AudioChunk {
                samples: vec![1, -2, 3, -4],
                sample_rate: 22_050,
                channels: 2,
                duration: Duration::from_nanos(90_702),
                phonemes: vec![
                    Phoneme {
                        phoneme: "h".into(),
                        start_offset: Duration::from_millis(5),
                    },
                    Phoneme {
                        phoneme: "i".into(),
                        start_offset: Duration::from_millis(80),
                    },
                ],
                visemes: vec![
                    TimedViseme {
                        viseme: Viseme::Kk,
                        start_offset: Duration::from_millis(5),
                    },
                    TimedViseme {
                        viseme: Viseme::Ih,
                        start_offset: Duration::from_millis(80),
                    },
                ],
                undecoded: None,
            })),
            packet(PacketBody::Trigger(CustomEvent {
                name: "greeted".into(),
                parameters: vec![Parameter {
                    name: "mood".into(),
                    value: "sunny".into(),
                }],
            })),
            packet(PacketBody::SceneStatus(SceneStatus {
                name: "workspaces/w/scenes/s".into(),
                characters: vec![Character {
                    id: "alice-id".into(),
                    display_name: "Alice".into(),
                    ..Default::default()
                }],
                ..Default::default()
            })),
            packet(PacketBody::CancelResponses {
                interaction_id: "i-0".into(),
                utterance_ids: vec!["u-1".into(), "u-2".into()],
            }),
            packet(PacketBody::Error(SessionError {
                grpc_code: 5,
                message: "missing".into(),
                details: Some(ErrorDetails {
                    resource_id: Some("scene-x".into()),
                    ..ErrorDetails::new(ErrorType::ResourceNotFound, ReconnectionType::NoRetry)
                }),
                will_retry: false,
            })),
            packet(PacketBody::Overflow { dropped: 7 }),
            packet(PacketBody::SceneMutation(SceneMutation::RemoveCharacters {
                agent_ids: vec!["a-1".into(), "a-2".into()],
            })),
            packet(PacketBody::SceneMutation(SceneMutation::LoadScene {
                scene: "workspaces/w/scenes/t".into(),
            })),
            packet(PacketBody::Audio(AudioChunk {
                samples: vec![],
                sample_rate: 0,
                channels: 0,
                duration: Duration::ZERO,
                phonemes: vec![],
                visemes: vec![TimedViseme {
                    viseme: Viseme::Sil,
                    start_offset: Duration::ZERO,
                }],
                undecoded: Some(UndecodedAudio {
                    data: b"RIFFfake".to_vec(),
                    error: "not a WAV file".into(),
                }),
            })),
        ];
        let mut scratch = Scratch::default();
        scratch.reset_for(&packets);
        let lent: Vec<iw_packet> = packets.iter().map(|p| scratch.lend(p)).collect();
        unsafe {
            let a = lent[0].data.audio;
            assert_eq!(lent[0].kind, IW_PACKET_AUDIO);
            assert_eq!(
                std::slice::from_raw_parts(a.samples, a.sample_count),
                &[1, -2, 3, -4]
            );
            assert_eq!((a.sample_rate, a.channels, a.duration_us), (22_050, 2, 90));
            assert_eq!((a.len, s(a.decode_error)), (0, ""));
            assert!(!a.data.is_null());
            let ph = std::slice::from_raw_parts(a.phonemes, a.phoneme_count);
            assert_eq!((s(ph[1].phoneme), ph[1].start_offset_us), ("i", 80_000));
            let vis = std::slice::from_raw_parts(a.visemes, a.viseme_count);
            assert_eq!(
                vis.iter()
                    .map(|v| (v.viseme, v.start_offset_us))
                    .collect::<Vec<_>>(),
                [(IW_VISEME_KK, 5_000), (IW_VISEME_IH, 80_000)]
            );
            assert_eq!(s(lent[0].ids.interaction_id), "i-1");
            assert_eq!(s(lent[0].source.name), "alice-id");
            assert_eq!(lent[0].timestamp_ms, 42);

            let t = lent[1].data.custom;
            assert_eq!(lent[1].kind, IW_PACKET_TRIGGER);
            let params = std::slice::from_raw_parts(t.parameters, t.parameter_count);
            assert_eq!(
                (s(t.name), s(params[0].name), s(params[0].value)),
                ("greeted", "mood", "sunny")
            );

            let sc = lent[2].data.scene;
            let chars = std::slice::from_raw_parts(sc.characters, sc.character_count);
            assert_eq!(s(chars[0].display_name), "Alice");
            assert_eq!(s(chars[0].avatar_img), "");

            let c = lent[3].data.cancel_responses;
            let ids = std::slice::from_raw_parts(c.utterance_ids, c.utterance_id_count);
            assert_eq!((s(ids[0]), s(ids[1])), ("u-1", "u-2"));

            let e = lent[4].data.error;
            assert_eq!(
                (e.grpc_code, e.has_details, s(e.resource_id)),
                (5, 1, "scene-x")
            );
            assert_eq!(e.reconnect_type, IW_RECONNECT_NO_RETRY);

            assert_eq!(lent[5].data.overflow.dropped, 7);

            let m = lent[6].data.scene_mutation;
            assert_eq!(lent[6].kind, IW_PACKET_SCENE_MUTATION);
            assert_eq!((m.what, s(m.scene)), (IW_MUTATION_REMOVE_CHARACTERS, ""));
            let names = std::slice::from_raw_parts(m.names, m.name_count);
            assert_eq!((s(names[0]), s(names[1])), ("a-1", "a-2"));
            let m = lent[7].data.scene_mutation;
            assert_eq!(
                (m.what, s(m.scene), m.name_count),
                (IW_MUTATION_LOAD_SCENE, "workspaces/w/scenes/t", 0)
            );

            let a = lent[8].data.audio;
            assert_eq!(
                std::slice::from_raw_parts(a.data, a.len),
                b"RIFFfake".as_slice()
            );
            assert_eq!(s(a.decode_error), "not a WAV file");
            assert_eq!((a.sample_rate, a.channels, a.sample_count), (0, 0, 0));
            assert!(!a.samples.is_null() && !a.phonemes.is_null());
            let vis = std::slice::from_raw_parts(a.visemes, a.viseme_count);
            assert_eq!((vis[0].viseme, vis[0].start_offset_us), (IW_VISEME_SIL, 0));
        }
    }
}
