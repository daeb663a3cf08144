//! Voice detection (hands-free) against the local engine on loopback:
//! espeak-ng speech at 44.1 kHz stereo pushed in 10 ms pieces in real time
//! from a thread; the library starts and ends one audio session per
//! utterance, sends no silence, and the engine answers each; with echo
//! cancellation on, the echo of what the game played starts nothing.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod client_util;
mod speech_support;

use client_util::*;
use inworld::client::{
    AudioFormat, AudioSessionConfig, Error, PushError, Session, UnderstandingMode, VoiceDetection,
};
use inworld::engine::RunningEngine;
use inworld::packet::{ControlAction, PacketBody, TextSource};
use inworld::protocol::ai::inworld::packets::{
    control_event, data_chunk, inworld_packet::Packet as Wire,
};
use speech_support::speak_as;
use std::time::{Duration, Instant};

const RATE: u32 = 44_100;
const FORMAT: AudioFormat = AudioFormat {
    rate: RATE,
    channels: 2,
};

fn silence(ms: u32) -> Vec<i16> {
    vec![0; (RATE * ms / 1000) as usize * 2]
}

/// Pushes all of `samples` through `push`, as a game's audio thread would:
/// what the ring refuses (full: the session task drains it late on a busy
/// machine) is pushed again 10 ms later. Returns the frames refused.
fn push_whole(
    mut push: impl FnMut(&[i16]) -> Result<usize, PushError>,
    mut samples: &[i16],
) -> u64 {
    let deadline = Instant::now() + WAIT;
    let mut refused = 0;
    loop {
        let taken = push(samples).expect("the push is taken") * 2;
        samples = &samples[taken..];
        if samples.is_empty() {
            return refused;
        }
        refused += samples.len() as u64 / 2;
        assert!(Instant::now() < deadline, "the ring stayed full");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Pushes `mic` (and `far`, the same length or shorter, to the echo
/// reference) 10 ms at a time in real time from a thread, what a ring
/// refuses again later; returns the microphone frames refused (and so
/// counted as dropped) on the way.
fn push_in_real_time(session: &Session, mic: Vec<i16>, far: Option<Vec<i16>>) -> u64 {
    let mut input = session.audio_input(FORMAT).expect("an audio input");
    let mut reference = far
        .as_ref()
        .map(|_| session.echo_reference(FORMAT).expect("an echo reference"));
    std::thread::spawn(move || {
        let piece = (RATE / 100) as usize * 2;
        let mut refused = 0;
        for (i, block) in mic.chunks(piece).enumerate() {
            if let (Some(r), Some(far)) = (reference.as_mut(), far.as_ref()) {
                let from = (i * piece).min(far.len());
                let to = (from + block.len()).min(far.len());
                push_whole(|s| r.push_i16(s), &far[from..to]);
            }
            refused += push_whole(|s| input.push_i16(s), block);
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(input.dropped_frames() >= refused);
        if refused > 0 {
            println!("the microphone's ring refused {refused} frames (pushed again)");
        }
        refused
    })
    .join()
    .unwrap()
}

fn audio_sessions(engine: &RunningEngine) -> Vec<usize> {
    let start = control_event::Action::AudioSessionStart as i32;
    let end = control_event::Action::AudioSessionEnd as i32;
    let mut sessions = Vec::new();
    let mut open: Option<usize> = None;
    for (_, p) in engine.received_packets() {
        match p.packet {
            Some(Wire::Control(c)) if c.action == start => {
                assert!(open.is_none(), "a start inside an audio session");
                open = Some(0);
            }
            Some(Wire::Control(c)) if c.action == end => {
                sessions.push(open.take().expect("an end without a start"))
            }
            Some(Wire::DataChunk(c)) if c.r#type == data_chunk::DataType::Audio as i32 => {
                let Some(data_chunk::Data::Chunk(bytes)) = c.data else {
                    panic!("audio without bytes")
                };
                *open.as_mut().expect("audio outside an audio session") += bytes.len();
            }
            _ => {}
        }
    }
    assert!(open.is_none(), "an audio session left open");
    sessions
}

fn voiced_ms(samples: &[i16]) -> usize {
    let first = samples.iter().position(|s| s.unsigned_abs() > 300).unwrap();
    let last = samples
        .iter()
        .rposition(|s| s.unsigned_abs() > 300)
        .unwrap();
    (last - first) / 2 * 1000 / RATE as usize
}

#[test]
fn two_utterances_make_two_audio_sessions_without_silence_and_both_are_answered() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    session
        .set_voice_detection(Some(VoiceDetection::default()))
        .unwrap();
    // The game's own audio sessions are refused meanwhile.
    assert!(matches!(
        session.start_audio_session(AudioSessionConfig::default()),
        Err(Error::InvalidArgument(_))
    ));
    let first = speak_as("Hello there, how are you today?", RATE, 2);
    let second = speak_as("Tell me about the castle.", RATE, 2);
    let mic = [
        silence(1000),
        first.clone(),
        silence(1500),
        second.clone(),
        silence(1500),
    ]
    .concat();
    let pushed_ms = mic.len() / 2 * 1000 / RATE as usize;
    push_in_real_time(&session, mic, None);

    // Everything until both turns ended and both were heard and answered
    // (the engine may answer the first before the second is spoken).
    let mut voice = Vec::new();
    let mut heard = Vec::new();
    let mut answered = 0;
    wait_for(&session, "two turns heard and answered", |p| {
        match &p.body {
            PacketBody::Error(e) => panic!("error: {e:?}"),
            PacketBody::VoiceActivity(v) => voice.push(v.clone()),
            PacketBody::Text(t) if t.source == TextSource::SpeechToText && t.is_final => {
                heard.push(p.ids.interaction_id.clone())
            }
            PacketBody::Control(c)
                if c.action == ControlAction::InteractionEnd
                    && heard.contains(&p.ids.interaction_id) =>
            {
                answered += 1
            }
            _ => {}
        }
        voice.len() == 4 && answered == 2
    });
    let speaking: Vec<bool> = voice.iter().map(|v| v.speaking).collect();
    assert_eq!(speaking, [true, false, true, false]);
    assert!(voice.iter().all(|v| !v.cut_short));
    assert_eq!(voice[0].audio_session_id, voice[1].audio_session_id);
    assert_eq!(voice[2].audio_session_id, voice[3].audio_session_id);
    assert_ne!(voice[0].audio_session_id, voice[2].audio_session_id);
    let sessions = audio_sessions(&engine);
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    for (bytes, said) in sessions.iter().zip([&first, &second]) {
        let sent_ms = bytes / 2 * 1000 / 16_000;
        let spoken_ms = voiced_ms(said);
        println!("sent {sent_ms} ms for an utterance of {spoken_ms} ms");
        // The speech, with a pre-roll and a short tail: never the silences.
        assert!(sent_ms >= spoken_ms, "{sent_ms} < {spoken_ms}");
        assert!(sent_ms <= spoken_ms + 700, "{sent_ms} for {spoken_ms}");
    }
    let sent_ms: usize = sessions.iter().map(|b| b / 32).sum();
    println!("sent {sent_ms} ms of the {pushed_ms} ms pushed");
    session.set_voice_detection(None).unwrap();
    session.close();
}

#[test]
fn with_echo_cancellation_the_echo_of_a_reply_starts_nothing() {
    the_echo_of_a_reply_starts_nothing();
}

/// A game loads the CPU: threads that spin on every core (and more) while
/// the reply's echo is pushed make the session task drain the microphone and
/// the echo reference late, in big ticks. Each microphone frame must still
/// meet the far end played with it, so the echo starts nothing.
#[test]
fn with_echo_cancellation_the_echo_of_a_reply_starts_nothing_on_a_loaded_machine() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spinners: Vec<_> = (0..cores * 2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                // Bounded, in case the test panics before it stops them.
                let end = Instant::now() + Duration::from_secs(300);
                let mut x = 1u64;
                while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                    for _ in 0..10_000 {
                        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    }
                    std::hint::black_box(x);
                }
            })
        })
        .collect();
    let result = std::panic::catch_unwind(the_echo_of_a_reply_starts_nothing);
    stop.store(true, Ordering::Relaxed);
    for s in spinners {
        s.join().unwrap();
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn the_echo_of_a_reply_starts_nothing() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    session
        .set_voice_detection(Some(VoiceDetection {
            echo_cancellation: true,
            understanding: UnderstandingMode::SpeechRecognitionOnly,
            ..VoiceDetection::default()
        }))
        .unwrap();
    // What the game played: a character's lines.
    let far = [
        silence(500),
        speak_as(
            "Welcome, traveller. The castle lies beyond the northern hills.",
            RATE,
            2,
        ),
        silence(400),
        speak_as(
            "Many have tried to reach it, and few came back to tell the tale.",
            RATE,
            2,
        ),
        silence(1500),
    ]
    .concat();
    // In the microphone 60 ms later and 6 dB down (frames of two samples).
    let delay = (RATE as usize * 60 / 1000) * 2;
    let mic: Vec<i16> = (0..far.len())
        .map(|i| if i >= delay { far[i - delay] / 2 } else { 0 })
        .collect();
    push_in_real_time(&session, mic, Some(far));
    // A text round trip after it: the task has long processed the audio.
    let ids = session.send_text("Are you there?").unwrap();
    let (before, _) = wait_for(&session, "the reply", |p| is_interaction_end(p, &ids));
    assert!(
        !before
            .iter()
            .any(|p| matches!(p.body, PacketBody::VoiceActivity(_))),
        "echo taken for speech"
    );
    assert!(
        audio_sessions(&engine).is_empty(),
        "the engine heard audio sessions"
    );
    session.close();
}

/// Pushes `samples` 10 ms at a time in real time from this thread.
fn push_now(input: &mut inworld::client::AudioInput, samples: &[i16]) {
    for block in samples.chunks((RATE / 100) as usize * 2) {
        push_whole(|s| input.push_i16(s), block);
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_turn_cut_by_a_lost_stream_ends_cut_short_and_the_next_turn_is_answered() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    session
        .set_voice_detection(Some(VoiceDetection::default()))
        .unwrap();
    let mut input = session.audio_input(FORMAT).unwrap();
    let speech = speak_as(
        "Hello there, how are you today? I have a question.",
        RATE,
        2,
    );
    // Speaking, and still speaking when the stream breaks.
    push_now(
        &mut input,
        &[silence(1000), speech[..speech.len() / 2].to_vec()].concat(),
    );
    let (_, started) = wait_for(
        &session,
        "speech started",
        |p| matches!(&p.body, PacketBody::VoiceActivity(v) if v.speaking),
    );
    let PacketBody::VoiceActivity(started) = started.body else {
        unreachable!()
    };
    assert_eq!(started.audio_session_id.len(), 36);
    session.send_text("please fail").unwrap();
    let (seen, ended) = wait_for(
        &session,
        "the turn cut short",
        |p| matches!(&p.body, PacketBody::VoiceActivity(v) if !v.speaking),
    );
    let (after, _) = wait_for(&session, "the stream back", |p| {
        is_connection(p, inworld::packet::ConnectionState::Ready)
    });
    // Its audio not sent is reported as dropped microphone audio.
    assert!(
        seen.iter().chain(after.iter()).any(|p| matches!(
            &p.body,
            PacketBody::SendFailed(f) if f.message.contains("microphone audio")
        )),
        "{seen:#?} {after:#?}"
    );
    let PacketBody::VoiceActivity(ended) = ended.body else {
        unreachable!()
    };
    assert!(ended.cut_short);
    assert_eq!(ended.audio_session_id, started.audio_session_id);

    // The next turn: a new audio session on the new stream, answered.
    push_now(
        &mut input,
        &[silence(1000), speech.clone(), silence(1500)].concat(),
    );
    let mut voice = Vec::new();
    let mut heard = false;
    wait_for(&session, "the next turn heard", |p| {
        match &p.body {
            PacketBody::VoiceActivity(v) => voice.push(v.clone()),
            PacketBody::Text(t) if t.source == TextSource::SpeechToText && t.is_final => {
                heard = true
            }
            _ => {}
        }
        heard && voice.len() == 2
    });
    assert!(voice[0].speaking && !voice[1].speaking && !voice[1].cut_short);
    assert_ne!(voice[0].audio_session_id, started.audio_session_id);
    session.close();
}

/// Barge-in by voice: with interruptions on, the player starting to speak
/// while a character's reply plays silences the playback stream at its next
/// read and cancels the rest of the reply; the new turn is answered.
#[test]
fn the_player_speaking_over_a_character_silences_it() {
    use inworld::client::PlaybackFormat;
    let engine = engine_with(|c| c.record = true);
    let mut config = config_for(&engine);
    config.session.capabilities.interruptions = true;
    let (session, _) = open_ready(config);
    reply_to(&session, &session.send_text("hi").unwrap());
    session
        .set_voice_detection(Some(VoiceDetection::default()))
        .unwrap();
    let mut playback = session
        .open_playback(
            PlaybackFormat {
                rate: 48_000,
                channels: 2,
            },
            None,
        )
        .unwrap();
    let story = session.send_text("tell me a long story").unwrap();
    reply_to(&session, &story);
    let mut buffer = vec![0f32; 2 * 512];
    first_speech(&mut playback, &mut buffer);
    let monitor = playback.monitor();
    // The player speaks up; the audio thread goes on reading meanwhile.
    let reader = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + WAIT;
        while monitor.flushes() == 0 {
            assert!(std::time::Instant::now() < deadline, "never silenced");
            playback.read_f32(&mut buffer);
            std::thread::sleep(Duration::from_millis(10));
        }
        // Silent from the next read on, nothing left of the story.
        assert_eq!(playback.read_f32(&mut buffer), 0);
        assert!(playback.now_playing().is_none());
        playback
    });
    let mic = [
        silence(500),
        speak_as("Wait, stop there.", RATE, 2),
        silence(1500),
    ]
    .concat();
    push_in_real_time(&session, mic, None);
    reader.join().unwrap();
    // The rest of the story was cancelled at the engine, as the SDK does.
    let cancelled = || {
        engine.received_packets().iter().any(|(_, p)| {
            matches!(&p.packet, Some(Wire::Mutation(m))
                if matches!(&m.mutation,
                    Some(inworld::protocol::ai::inworld::packets::mutation_event::Mutation::CancelResponses(c))
                        if c.interaction_id == story.interaction_id))
        })
    };
    let deadline = std::time::Instant::now() + WAIT;
    while !cancelled() {
        assert!(
            std::time::Instant::now() < deadline,
            "no CancelResponses for the story"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn audio_pushed_right_after_voice_detection_is_turned_on_is_kept() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    let mut input = session.audio_input(FORMAT).unwrap();
    session
        .set_voice_detection(Some(VoiceDetection::default()))
        .unwrap();
    // Before the session's task has taken the setting: accepted, so it
    // must not be thrown away as stale when the task does.
    let accepted = input.push_i16(&silence(200)).expect("accepted");
    assert_eq!(accepted, (RATE / 5) as usize, "the ring had room");
    // The task takes commands in order: once this reply is in, it has
    // taken the setting too.
    let ids = session.send_text("Hello").unwrap();
    reply_to(&session, &ids);
    assert_eq!(input.dropped_frames(), 0, "accepted audio was dropped");
}
