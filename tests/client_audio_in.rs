//! Microphone in against the local engine on loopback: audio sessions in
//! open-mic and push-to-talk mode, in the one-to-one conversation and in a
//! group, 44.1 kHz stereo float in; the engine receives 16 kHz mono 16-bit
//! chunks and answers with its transcript; dropped audio is reported.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod client_util;

use client_util::*;
use inworld::client::mic::CHUNK_BYTES;
use inworld::client::{
    AudioFormat, AudioInput, AudioSessionConfig, Error, MicrophoneMode, PushError, SentIds,
    Session, UnderstandingMode,
};
use inworld::engine::RunningEngine;
use inworld::packet::{ActorKind, ControlAction, Packet, PacketBody, SendFailure, TextSource};
use inworld::protocol::ai::inworld::packets::{
    actor, control_event, data_chunk, inworld_packet::Packet as Wire, InworldPacket,
};

const PUSH_TO_TALK: AudioSessionConfig = AudioSessionConfig {
    mode: MicrophoneMode::PushToTalk,
    understanding: UnderstandingMode::Full,
};

fn open_input(session: &Session, rate: u32, channels: u16) -> AudioInput {
    session
        .audio_input(AudioFormat { rate, channels })
        .expect("an audio input")
}

/// What the test scene's characters "hear" in any loud enough audio.
const TRANSCRIPT: &str = "hello from the microphone";

/// `seconds` of a loud 300 Hz tone, 44.1 kHz stereo floats, pushed 10 ms
/// at a time (all of it fits the input's one second).
fn speak(input: &mut AudioInput, seconds: f32) {
    let frames = (44_100.0 * seconds) as usize;
    for start in (0..frames).step_by(441) {
        let block: Vec<f32> = (start..(start + 441).min(frames))
            .flat_map(|i| {
                let v = 0.5 * (2.0 * std::f32::consts::PI * 300.0 * i as f32 / 44_100.0).sin();
                [v, v]
            })
            .collect();
        assert_eq!(input.push_f32(&block), Ok(block.len() / 2));
    }
}

/// The recognised speech (player text, speech to text, final: partial
/// texts may come first while the engine hears it), then the characters'
/// reply to it up to its INTERACTION_END; panics on an error.
fn heard_and_answered(session: &Session) -> (Packet, Vec<Packet>) {
    let (_, heard) = wait_for(session, "the recognised speech", |p| {
        if let PacketBody::Error(e) = &p.body {
            panic!("error while waiting for speech: {e:?}");
        }
        matches!(&p.body, PacketBody::Text(t) if t.source == TextSource::SpeechToText && t.is_final)
    });
    let (seen, end) = wait_for(session, "the reply's INTERACTION_END", |p| {
        matches!(&p.body, PacketBody::Control(c) if c.action == ControlAction::InteractionEnd)
            && p.ids.interaction_id == heard.ids.interaction_id
    });
    let mut reply: Vec<Packet> = seen
        .into_iter()
        .filter(|p| p.ids.interaction_id == heard.ids.interaction_id)
        .collect();
    reply.push(end);
    (heard, reply)
}

/// The audio packets the engine received in conversation `conversation_id`:
/// (control action or 0 for a chunk, chunk bytes).
fn audio_received(engine: &RunningEngine, conversation_id: &str) -> Vec<(i32, Vec<u8>)> {
    engine
        .received_packets()
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| p.packet_id.as_ref().unwrap().conversation_id == conversation_id)
        .filter_map(|p: InworldPacket| match p.packet {
            Some(Wire::DataChunk(c)) => {
                assert_eq!(c.r#type, data_chunk::DataType::Audio as i32);
                let routing = p.routing.unwrap();
                assert_eq!(routing.source.unwrap().r#type, actor::Type::Player as i32);
                assert!(routing.target.is_none(), "no target on audio");
                match c.data {
                    Some(data_chunk::Data::Chunk(bytes)) => Some((0, bytes)),
                    other => panic!("audio without bytes: {other:?}"),
                }
            }
            Some(Wire::Control(c))
                if c.action == control_event::Action::AudioSessionStart as i32
                    || c.action == control_event::Action::AudioSessionEnd as i32 =>
            {
                Some((c.action, Vec::new()))
            }
            _ => None,
        })
        .collect()
}

/// Checks one audio session as the engine received it: START, chunks of
/// `CHUNK_BYTES` then a shorter last one, END; returns the samples.
fn one_audio_session(received: &[(i32, Vec<u8>)]) -> Vec<i16> {
    let start = control_event::Action::AudioSessionStart as i32;
    let end = control_event::Action::AudioSessionEnd as i32;
    assert_eq!(received.first().map(|r| r.0), Some(start), "{received:?}");
    assert_eq!(received.last().map(|r| r.0), Some(end));
    let chunks = &received[1..received.len() - 1];
    assert!(chunks.iter().all(|c| c.0 == 0), "only chunks between");
    let (last, full) = chunks.split_last().expect("some audio");
    assert!(full.iter().all(|c| c.1.len() == CHUNK_BYTES));
    assert!(!last.1.is_empty() && last.1.len() <= CHUNK_BYTES);
    chunks
        .iter()
        .flat_map(|c| {
            c.1.chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
        })
        .collect()
}

fn started_in(ids: &SentIds, conversation_id: &str) {
    assert_eq!(ids.conversation_id, conversation_id);
    assert!(!ids.packet_id.is_empty());
    assert!(
        ids.interaction_id.is_empty(),
        "audio packets carry no interaction"
    );
}

#[test]
fn open_mic_and_push_to_talk_send_16_khz_chunks_and_the_characters_answer() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    let mut input = open_input(&session, 44_100, 2);
    let mut sessions_seen = 0;
    for mode in [MicrophoneMode::OpenMic, MicrophoneMode::PushToTalk] {
        let ids = session
            .start_audio_session(AudioSessionConfig {
                mode,
                understanding: UnderstandingMode::Full,
            })
            .unwrap();
        let one_to_one = ids.conversation_id.clone();
        speak(&mut input, 0.5);
        let end = session.end_audio_session().unwrap();
        started_in(&end, &one_to_one);
        let (heard, reply) = heard_and_answered(&session);
        match &heard.body {
            PacketBody::Text(t) => assert_eq!(t.text, TRANSCRIPT),
            _ => unreachable!(),
        }
        assert_eq!(heard.routing.source.kind, ActorKind::Player);
        assert_eq!(heard.ids.conversation_id, one_to_one.as_str());
        assert!(
            reply.iter().any(|p| matches!(&p.body, PacketBody::Text(t)
                if t.source == TextSource::Generated)),
            "the character answers: {reply:#?}"
        );

        let received = audio_received(&engine, &one_to_one);
        let start_action = control_event::Action::AudioSessionStart as i32;
        let starts: Vec<usize> = received
            .iter()
            .enumerate()
            .filter(|(_, r)| r.0 == start_action)
            .map(|(i, _)| i)
            .collect();
        sessions_seen += 1;
        assert_eq!(starts.len(), sessions_seen);
        let samples = one_audio_session(&received[*starts.last().unwrap()..]);
        // Half a second at 16 kHz.
        assert_eq!(samples.len(), 8_000);
        let peak = samples[1_000..7_000].iter().map(|s| s.unsigned_abs()).max();
        assert!(peak.unwrap() > 15_000, "the tone's loudness: {peak:?}");
    }
    // The mode the engine got, as the SDK writes it.
    let modes: Vec<(i32, i32)> = engine
        .received_packets()
        .into_iter()
        .filter_map(|(_, p)| match p.packet {
            Some(Wire::Control(c)) => match c.payload_structured {
                Some(control_event::PayloadStructured::AudioSessionStart(a)) => {
                    Some((a.mode, a.understanding_mode))
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(modes, vec![(1, 1), (2, 1)]);
    assert_eq!(input.dropped_frames(), 0);
    session.close();
}

#[test]
fn audio_in_a_conversation_carries_its_id_and_its_characters_answer() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    // Carol is added to the scene first: the audio session's start waits
    // for that and the handshake, and its end is made before they are done.
    let group = session
        .start_conversation(&["alice", "workspaces/test-ws/characters/carol"], true)
        .unwrap();
    let mut input = open_input(&session, 44_100, 2);
    // The group's handshake comes first; the audio waits for it.
    let ids = group.start_audio_session(PUSH_TO_TALK).unwrap();
    started_in(&ids, group.id());
    speak(&mut input, 0.5);
    assert_eq!(
        session.end_audio_session().map(|_| ()).err(),
        None,
        "the session ends the audio session wherever it is"
    );
    let (heard, reply) = heard_and_answered(&session);
    assert_eq!(heard.ids.conversation_id, group.id());
    assert!(reply.iter().all(|p| p.ids.conversation_id == group.id()));
    let samples = one_audio_session(&audio_received(&engine, group.id()));
    assert_eq!(samples.len(), 8_000);
    // Ending it from the conversation works the same way.
    group
        .start_audio_session(AudioSessionConfig::default())
        .unwrap();
    speak(&mut input, 0.2);
    group.end_audio_session().unwrap();
    heard_and_answered(&session);
    session.close();
}

#[test]
fn audio_beyond_the_input_buffer_is_counted_and_reported() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    let mut input = open_input(&session, 8_000, 1);
    let ids = session
        .start_audio_session(AudioSessionConfig::default())
        .unwrap();
    // Two seconds at once: the buffer takes one.
    let taken = input.push_i16(&vec![5_000; 16_000]).unwrap();
    assert!(taken <= 8_000, "{taken}");
    assert!(input.dropped_frames() >= 8_000);
    let (_, report) = wait_for(&session, "the report of dropped audio", |p| {
        matches!(&p.body, PacketBody::SendFailed(f)
            if f.reason == SendFailure::NotSent && f.message.contains("microphone audio"))
    });
    assert_eq!(report.ids.conversation_id, ids.conversation_id.as_str());
    match &report.body {
        PacketBody::SendFailed(f) => assert!(f.message.contains("frames"), "{}", f.message),
        _ => unreachable!(),
    }
    session.end_audio_session().unwrap();
    session.close();
}

#[test]
fn misuse_is_refused_at_the_call() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    for (rate, channels) in [(7_999, 1), (48_001, 1), (16_000, 0), (16_000, 3)] {
        assert!(matches!(
            session.audio_input(AudioFormat { rate, channels }),
            Err(Error::InvalidArgument(_))
        ));
    }
    let mut input = open_input(&session, 16_000, 2);
    assert_eq!(input.push_i16(&[0; 4]), Err(PushError::NoAudioSession));
    assert!(matches!(
        session.end_audio_session(),
        Err(Error::InvalidArgument(_))
    ));
    session
        .start_audio_session(AudioSessionConfig::default())
        .unwrap();
    assert!(matches!(
        session.start_audio_session(AudioSessionConfig::default()),
        Err(Error::InvalidArgument(_))
    ));
    // One audio session per session, whichever conversation it is in; a
    // conversation ends only its own.
    let group = session.start_conversation(&["bob"], true).unwrap();
    assert!(matches!(
        group.start_audio_session(AudioSessionConfig::default()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        group.end_audio_session(),
        Err(Error::InvalidArgument(m)) if m.contains("another conversation")
    ));
    assert_eq!(input.push_i16(&[0; 3]), Err(PushError::PartialFrame));
    assert_eq!(input.push_i16(&[0; 4]), Ok(2));
    // A second input replaces the first.
    let mut second = open_input(&session, 16_000, 1);
    wait_for_replaced(&mut input);
    assert_eq!(second.push_i16(&[0; 4]), Ok(4));
    session.close();
    assert_eq!(second.push_i16(&[0; 4]), Err(PushError::Closed));
    assert_eq!(
        session
            .start_audio_session(AudioSessionConfig::default())
            .err(),
        Some(Error::Closed)
    );
}

/// The task drops a replaced input's ring when it takes the new one.
fn wait_for_replaced(input: &mut AudioInput) {
    let deadline = std::time::Instant::now() + WAIT;
    while input.push_i16(&[0; 2]) != Err(PushError::Closed) {
        assert!(
            std::time::Instant::now() < deadline,
            "the old input stays open"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `seconds` of a constant level, 16 kHz mono.
fn level(input: &mut AudioInput, value: i16, seconds: f32) {
    let frames = (16_000.0 * seconds) as usize;
    for _ in (0..frames).step_by(160) {
        assert_eq!(input.push_i16(&[value; 160]), Ok(160));
    }
}

#[test]
fn audio_during_an_outage_is_dropped_and_reported_and_the_audio_session_starts_again() {
    use inworld::packet::ConnectionState;
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    let mut input = open_input(&session, 16_000, 1);
    let ids = session.start_audio_session(PUSH_TO_TALK).unwrap();
    level(&mut input, 300, 0.2);
    // The start and a chunk went out on the first stream.
    let deadline = std::time::Instant::now() + WAIT;
    while !audio_received(&engine, &ids.conversation_id)
        .iter()
        .any(|r| r.0 == 0)
    {
        assert!(std::time::Instant::now() < deadline, "no audio went out");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    engine.suspend();
    wait_for(&session, "Reconnecting", |p| {
        is_connection(p, ConnectionState::Reconnecting)
    });
    // Loud audio while the engine is away: it must never arrive.
    level(&mut input, 20_000, 0.5);
    engine.resume().unwrap();
    let mut seen = wait_ready(&session);
    level(&mut input, 300, 0.2);
    session.end_audio_session().unwrap();
    let (before, heard) = wait_for(
        &session,
        "the recognised speech",
        |p| matches!(&p.body, PacketBody::Text(t) if t.source == TextSource::SpeechToText),
    );
    assert_eq!(heard.ids.conversation_id, ids.conversation_id.as_str());
    // What was dropped was said (before the speech came back, or after).
    seen.extend(before);
    let reported = |p: &Packet| matches!(&p.body, PacketBody::SendFailed(f) if f.message.contains("microphone audio"));
    if !seen.iter().any(reported) {
        wait_for(&session, "the report of dropped audio", reported);
    }
    assert!(
        input.dropped_frames() >= 8_000,
        "{}",
        input.dropped_frames()
    );

    let received = audio_received(&engine, &ids.conversation_id);
    let start = control_event::Action::AudioSessionStart as i32;
    assert_eq!(
        received.iter().filter(|r| r.0 == start).count(),
        2,
        "the audio session started again after the reconnect"
    );
    let loudest = received
        .iter()
        .flat_map(|r| {
            r.1.chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
        })
        .map(i16::unsigned_abs)
        .max()
        .unwrap();
    assert!(loudest < 1_000, "audio from the outage was sent: {loudest}");
    session.close();
}

#[test]
fn a_new_audio_session_right_after_an_end_gets_its_own_audio() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    // Adding carol delays the group's handshake: the first audio session
    // may still wait for its start when it ends and the next one starts.
    let group = session
        .start_conversation(&["bob", "workspaces/test-ws/characters/carol"], true)
        .unwrap();
    let mut input = open_input(&session, 44_100, 2);
    group.start_audio_session(PUSH_TO_TALK).unwrap();
    speak(&mut input, 0.3);
    group.end_audio_session().unwrap();
    group.start_audio_session(PUSH_TO_TALK).unwrap();
    speak(&mut input, 0.5);
    group.end_audio_session().unwrap();
    let (heard, _) = heard_and_answered(&session);
    assert_eq!(heard.ids.conversation_id, group.id());
    // The engine got both audio sessions in order; the second with all its audio.
    let deadline = std::time::Instant::now() + WAIT;
    let start = control_event::Action::AudioSessionStart as i32;
    let end = control_event::Action::AudioSessionEnd as i32;
    let received = loop {
        let received = audio_received(&engine, group.id());
        if received.iter().filter(|r| r.0 == end).count() == 2 {
            break received;
        }
        assert!(std::time::Instant::now() < deadline, "{received:?}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let actions: Vec<i32> = received.iter().map(|r| r.0).filter(|a| *a != 0).collect();
    assert_eq!(actions, [start, end, start, end]);
    let second = received.iter().rposition(|r| r.0 == start).unwrap();
    assert_eq!(one_audio_session(&received[second..]).len(), 8_000);
    session.close();
}

/// An audio session the game leaves without audio expires at the service:
/// the game gets the error, the session reconnects, and the audio session
/// is over (not started again): pushes are refused until the game starts
/// another, which works.
#[test]
fn an_audio_session_the_service_expired_is_over() {
    use inworld::protocol::status::ErrorType;
    let engine = engine_with(|c| {
        c.record = true;
        c.audio_session_idle_timeout = std::time::Duration::from_millis(300);
    });
    let (session, _) = open_ready(config_for(&engine));
    let mut input = open_input(&session, 44_100, 2);
    let ids = session.start_audio_session(PUSH_TO_TALK).unwrap();
    let (_, error) = wait_for(&session, "the expiry", |p| {
        matches!(&p.body, PacketBody::Error(_))
    });
    let PacketBody::Error(e) = &error.body else {
        unreachable!()
    };
    assert_eq!(
        e.details.as_ref().map(|d| d.error_type),
        Some(ErrorType::AudioSessionExpired as i32),
        "{e:?}"
    );
    wait_for(&session, "the reconnect", |p| {
        is_connection(p, inworld::client::ConnectionState::Ready)
    });
    assert_eq!(
        input.push_f32(&[0.0; 882]),
        Err(PushError::NoAudioSession),
        "the expired audio session is over"
    );
    assert!(matches!(
        session.end_audio_session(),
        Err(Error::InvalidArgument(_))
    ));
    // One start only: it was not started again on the new stream.
    let starts = audio_received(&engine, &ids.conversation_id)
        .iter()
        .filter(|(action, _)| *action == control_event::Action::AudioSessionStart as i32)
        .count();
    assert_eq!(starts, 1);
    // A new one works.
    session.start_audio_session(PUSH_TO_TALK).unwrap();
    speak(&mut input, 0.5);
    session.end_audio_session().unwrap();
    heard_and_answered(&session);
}

/// The audio sessions as the engine received them, each as (its chunks'
/// samples), checking that each START is followed by chunks then its END.
fn audio_sessions(received: &[(i32, Vec<u8>)]) -> Vec<Vec<i16>> {
    let start = control_event::Action::AudioSessionStart as i32;
    let end = control_event::Action::AudioSessionEnd as i32;
    let mut sessions = Vec::new();
    let mut open: Option<Vec<i16>> = None;
    for (action, bytes) in received {
        match *action {
            a if a == start => {
                assert!(open.is_none(), "a START inside an audio session");
                open = Some(Vec::new());
            }
            a if a == end => sessions.push(open.take().expect("an END without its START")),
            _ => open
                .as_mut()
                .expect("audio outside an audio session")
                .extend(
                    bytes
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]])),
                ),
        }
    }
    assert!(open.is_none(), "an audio session left open");
    sessions
}

/// Pairs of push-to-talk audio sessions, each one's audio pushed at once
/// (as a game pushing a recorded line does), the next started right after
/// the last ended: each audio session's audio goes between its own START
/// and END, in a one-to-one and in a new group conversation.
fn back_to_back(group: bool, pairs: usize) {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    let mut input = open_input(&session, 16_000, 1);
    let mut conversations = Vec::new();
    for pair in 0..pairs {
        let conversation = group.then(|| {
            session
                .start_conversation(&["bob", "workspaces/test-ws/characters/carol"], true)
                .unwrap()
        });
        let mut id = String::new();
        for value in [1_000 + pair as i16, 2_000 + pair as i16] {
            id = match &conversation {
                Some(c) => c.start_audio_session(PUSH_TO_TALK).unwrap(),
                None => session.start_audio_session(PUSH_TO_TALK).unwrap(),
            }
            .conversation_id;
            level(&mut input, value, 0.2);
            match &conversation {
                Some(c) => c.end_audio_session().unwrap(),
                None => session.end_audio_session().unwrap(),
            };
        }
        // The next pair once this one is out (the ring holds one second).
        let deadline = std::time::Instant::now() + WAIT;
        let end = control_event::Action::AudioSessionEnd as i32;
        let want = if group { 2 } else { 2 * (pair + 1) };
        while audio_received(&engine, &id)
            .iter()
            .filter(|r| r.0 == end)
            .count()
            < want
        {
            assert!(
                std::time::Instant::now() < deadline,
                "pair {pair}: ends missing"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        conversations.push((id, conversation));
    }
    let mut checked = 0;
    for (pair, (id, _)) in conversations.iter().enumerate() {
        let sessions = audio_sessions(&audio_received(&engine, id));
        let mine: &[Vec<i16>] = if group {
            &sessions
        } else {
            &sessions[2 * pair..2 * pair + 2]
        };
        for (i, samples) in mine.iter().enumerate() {
            let value = [1_000, 2_000][i] + pair as i16;
            assert_eq!(
                samples.len(),
                3_200,
                "pair {pair}, audio session {i}: {:?}",
                audio_received(&engine, id)
                    .iter()
                    .map(|r| (r.0, r.1.len()))
                    .collect::<Vec<_>>()
            );
            assert!(
                samples.iter().all(|s| *s == value),
                "pair {pair}, audio session {i}: another audio session's audio"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * pairs);
    session.close();
}

#[test]
fn back_to_back_audio_sessions_pushed_at_once_keep_their_own_audio() {
    back_to_back(false, 20);
}

#[test]
fn audio_sessions_ended_before_a_new_groups_handshake_keep_their_audio() {
    back_to_back(true, 10);
}
