//! whisper.cpp as the engine's recogniser (the `whisper` feature).
//!
//! Without a model file only the start-up is tested here (a missing or bad
//! model, or a build without the feature, is an error naming the path; the
//! program's flags); the recogniser's queue and threading are tested in the
//! library with a stand-in for the model. Nothing is downloaded: the tests
//! that run the real model need `INWORLD_WHISPER_MODEL` to name a ggml
//! model file (e.g. `ggml-tiny.en.bin`) and say plainly that they did not
//! run when it does not:
//!
//! ```sh
//! INWORLD_WHISPER_MODEL=/path/to/ggml-tiny.en.bin \
//!     cargo test --release --features whisper --test whisper_speech -- --nocapture
//! ```
#![cfg(feature = "engine")]

mod client_util;
mod speech_support;

use inworld::engine::{EngineConfig, RecognizerKind, RunningEngine, Workspace};
use std::path::PathBuf;
use std::process::Command;

/// The start-up error of an engine that hears with whisper and `model`.
fn start_error(model: PathBuf) -> String {
    let mut config = EngineConfig::new(Workspace::test_scenes());
    config.recognizer = RecognizerKind::Whisper(model);
    match RunningEngine::start_dedicated(config) {
        Ok(_) => panic!("the engine started"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_missing_model_file_is_a_start_up_error_naming_it() {
    let e = start_error("/nonexistent/models/ggml-tiny.en.bin".into());
    assert!(e.contains("/nonexistent/models/ggml-tiny.en.bin"), "{e}");
    if cfg!(feature = "whisper") {
        assert!(e.contains("no such file"), "{e}");
    } else {
        assert!(e.contains("--features whisper"), "{e}");
    }
}

#[cfg(feature = "whisper")]
#[test]
fn a_file_that_is_no_model_is_a_start_up_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ggml-tiny.en.bin");
    std::fs::write(&path, b"<html>not found</html>\n").unwrap();
    let e = start_error(path.clone());
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("not a ggml whisper model"), "{e}");
}

/// `inworld-engine` with `args`: its exit status and stderr.
fn engine_program(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_program_names_a_bad_model_and_exits_with_1() {
    let (code, stderr) = engine_program(&["--whisper-model", "/nonexistent/ggml-base.en.bin"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/ggml-base.en.bin"), "{stderr}");
    // The same with the recogniser named.
    let (code, stderr) = engine_program(&[
        "--recognizer",
        "whisper",
        "--whisper-model=/nonexistent/ggml-base.en.bin",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/ggml-base.en.bin"), "{stderr}");
}

#[test]
fn whisper_flags_that_do_not_fit_are_usage_errors() {
    let (code, stderr) = engine_program(&["--recognizer", "whisper"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--recognizer whisper needs --whisper-model"),
        "{stderr}"
    );
    let (code, stderr) = engine_program(&["--recognizer", "scripted", "--whisper-model", "m.bin"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--whisper-model is for the whisper recognizer"),
        "{stderr}"
    );
    let help = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--whisper-model GGML_FILE"), "{help}");
}

/// The model file `INWORLD_WHISPER_MODEL` names, or `None` (said on stdout).
#[cfg(feature = "whisper")]
fn model(test: &str) -> Option<PathBuf> {
    match std::env::var_os("INWORLD_WHISPER_MODEL").filter(|m| !m.is_empty()) {
        Some(m) => Some(PathBuf::from(m)),
        None => {
            println!(
                "NOT RUN: {test} needs a whisper model: set INWORLD_WHISPER_MODEL to a ggml model file (e.g. ggml-tiny.en.bin)"
            );
            None
        }
    }
}

/// One model serves the process: the tests that use it take turns, so one's
/// finals do not keep preempting the other's partial texts.
#[cfg(feature = "whisper")]
static MODEL_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What the players of the test scene are expected to say.
#[cfg(feature = "whisper")]
const PHRASES: &[&str] = &[
    "Do you have a quest for me?",
    "I would like a room for the night.",
    "Tell me a long story.",
    "Please sing a song about the river.",
    "Hello there.",
    "What do you recommend?",
    "Good evening.",
    "Any rumours today?",
    "I want to buy a drink.",
    "Where is the gate?",
    "Thank you, goodbye.",
    "Please remember what I said.",
];

/// Pushes interleaved frames into the microphone input 20 ms at a time, as
/// a game's audio thread would; what does not fit (the library's side is
/// behind) is pushed again a little later.
#[cfg(feature = "whisper")]
fn push_all(input: &mut inworld::client::AudioInput, samples: &[i16], channels: usize) {
    for block in samples.chunks(882 * channels) {
        let mut rest = block;
        while !rest.is_empty() {
            let taken = input.push_i16(rest).expect("the audio session is open");
            rest = &rest[taken * channels..];
            std::thread::sleep(std::time::Duration::from_millis(if rest.is_empty() {
                2
            } else {
                20
            }));
        }
    }
}

/// Receives until `pred` matches; returns everything before it and the
/// match. whisper on a crowded machine takes its time: the limit (5 min)
/// only catches a hang.
#[cfg(feature = "whisper")]
fn wait_long(
    session: &inworld::client::Session,
    what: &str,
    mut pred: impl FnMut(&inworld::packet::Packet) -> bool,
) -> (Vec<inworld::packet::Packet>, inworld::packet::Packet) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match session.recv_timeout(left) {
            Some(p) if pred(&p) => return (seen, p),
            Some(p) => seen.push(p),
            None => panic!("waited 5 minutes for {what}; got {seen:#?}"),
        }
    }
}

#[cfg(feature = "whisper")]
fn is_final_speech(p: &inworld::packet::Packet) -> bool {
    use inworld::packet::{PacketBody, TextSource};
    matches!(&p.body, PacketBody::Text(t) if t.source == TextSource::SpeechToText && t.is_final)
}

/// A spoken sentence (espeak-ng, 44.1 kHz stereo, through the library's
/// microphone) comes back as the player's text, partial then final, with
/// its key words, and the character answers it.
#[cfg(feature = "whisper")]
#[test]
fn spoken_words_are_recognised_by_whisper_and_answered() {
    use inworld::client::{AudioFormat, AudioSessionConfig, MicrophoneMode, UnderstandingMode};
    use inworld::packet::{ControlAction, PacketBody, TextSource};

    let Some(model) = model("spoken_words_are_recognised_by_whisper_and_answered") else {
        return;
    };
    let _turn = MODEL_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let engine = client_util::engine_with(|c| {
        c.recognizer = RecognizerKind::Whisper(model);
        c.workspace.speech.phrases = PHRASES.iter().map(|p| p.to_string()).collect();
        // The player pauses mid-sentence below for as long as whisper takes.
        c.audio_session_idle_timeout = std::time::Duration::from_secs(600);
    });
    let (session, _) = client_util::open_ready(client_util::config_for(&engine));
    let mut input = session
        .audio_input(AudioFormat {
            rate: 44_100,
            channels: 2,
        })
        .expect("an audio input");
    // Push to talk: the player's pause below does not end the utterance.
    session
        .start_audio_session(AudioSessionConfig {
            mode: MicrophoneMode::PushToTalk,
            understanding: UnderstandingMode::Full,
        })
        .unwrap();
    let speech = speech_support::speak_in(
        &["-v", "en-us"],
        "Do you have a quest for me? I am looking for work, and I have a sword.",
        44_100,
        2,
    );
    // The first 2.5 s of speech, then a pause until a partial text comes
    // (a final transcript preempts partial ones, so on a slow machine a
    // sentence may end before any partial is done). The engine hands out
    // partials as audio comes: the pause is quiet audio.
    let (first, rest) = speech.split_at(2 * 44_100 * 5 / 2);
    let mut mic = vec![0i16; 2 * 44_100];
    mic.extend_from_slice(first);
    push_all(&mut input, &mic, 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let partial = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "waited 5 minutes for a partial text"
        );
        push_all(&mut input, &[0i16; 2 * 4_410], 2);
        if let Some(p) = session.recv_timeout(std::time::Duration::from_millis(100)) {
            if matches!(&p.body, PacketBody::Text(t) if t.source == TextSource::SpeechToText) {
                break p;
            }
        }
    };
    let PacketBody::Text(partial_text) = &partial.body else {
        unreachable!()
    };
    println!("partial: {:?}", partial_text.text);
    assert!(!partial_text.is_final, "{partial_text:?}");
    push_all(&mut input, rest, 2);
    session.end_audio_session().unwrap();

    let (_, heard) = wait_long(&session, "the final recognised text", is_final_speech);
    let PacketBody::Text(final_text) = &heard.body else {
        unreachable!()
    };
    println!("heard: {:?}", final_text.text);
    assert!(
        final_text.text.to_lowercase().contains("quest"),
        "{:?}",
        final_text.text
    );
    assert_eq!(heard.ids.interaction_id, partial.ids.interaction_id);
    let (reply, _) = wait_long(&session, "the reply's end", |p| {
        matches!(&p.body, PacketBody::Control(c) if c.action == ControlAction::InteractionEnd)
            && p.ids.interaction_id == heard.ids.interaction_id
    });
    let answer = client_util::texts(
        &reply
            .into_iter()
            .filter(|p| p.ids.interaction_id == heard.ids.interaction_id)
            .collect::<Vec<_>>(),
    );
    assert!(
        answer.iter().any(|t| t == "Take this map."),
        "the quest rule answers: {answer:?}"
    );
    session.close();
}

/// Word edits (substitutions, insertions, deletions) of `heard` against
/// `said`, and the words said; case and punctuation aside.
#[cfg(feature = "whisper")]
fn word_errors(said: &str, heard: &str) -> (usize, usize) {
    let words = |t: &str| -> Vec<String> {
        t.split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (a, b) = (words(said), words(heard));
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, wa) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, wb) in b.iter().enumerate() {
            let cost = if wa == wb { prev } else { prev + 1 };
            prev = row[j + 1];
            row[j + 1] = cost.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    (row[b.len()], a.len())
}

/// `speech` with white noise 10 dB below it (deterministic).
#[cfg(feature = "whisper")]
fn with_noise_10_db(speech: &[i16]) -> Vec<i16> {
    let loud: Vec<f64> = speech
        .iter()
        .map(|s| f64::from(*s))
        .filter(|s| s.abs() > 300.0)
        .collect();
    let speech_rms = (loud.iter().map(|s| s * s).sum::<f64>() / loud.len().max(1) as f64).sqrt();
    // Uniform noise in [-a, a] has an RMS of a / sqrt(3).
    let amplitude = speech_rms / 10f64.powf(10.0 / 20.0) * 3f64.sqrt();
    let mut state = 0x2545_f491_u32;
    speech
        .iter()
        .map(|s| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let white = f64::from(state >> 8) / f64::from(1u32 << 23) - 1.0;
            (f64::from(*s) + white * amplitude).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// What the engine recognises in `samples` (16 kHz mono), said in one
/// push-to-talk audio session through the library's microphone, for
/// recognition only.
#[cfg(feature = "whisper")]
fn recognised(session: &inworld::client::Session, samples: &[i16]) -> String {
    use inworld::client::{AudioFormat, AudioSessionConfig, MicrophoneMode, UnderstandingMode};
    use inworld::packet::{ControlAction, PacketBody};
    let mut input = session
        .audio_input(AudioFormat {
            rate: 16_000,
            channels: 1,
        })
        .expect("an audio input");
    session
        .start_audio_session(AudioSessionConfig {
            mode: MicrophoneMode::PushToTalk,
            understanding: UnderstandingMode::SpeechRecognitionOnly,
        })
        .unwrap();
    push_all(&mut input, samples, 1);
    session.end_audio_session().unwrap();
    let (_, p) = wait_long(session, "the recognised text or a warning", |p| {
        is_final_speech(p)
            || matches!(&p.body, PacketBody::Control(c) if c.action == ControlAction::Warning)
    });
    match p.body {
        PacketBody::Text(t) => t.text.to_string(),
        // Nothing recognised: the engine says so.
        _ => String::new(),
    }
}

/// The word error rate of whisper on espeak-ng speech made now (US English
/// voice), clean and in white noise 10 dB below the speech, with and
/// without the scene's phrases as its prompt. Printed (`--nocapture`);
/// clean speech with the phrases must get most words right.
#[cfg(feature = "whisper")]
#[test]
fn word_error_rate_on_espeak_speech() {
    let Some(model) = model("word_error_rate_on_espeak_speech") else {
        return;
    };
    let _turn = MODEL_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let clean: Vec<Vec<i16>> = PHRASES
        .iter()
        .map(|p| {
            let mut s = vec![0i16; 4_000];
            s.extend(speech_support::speak_in(&["-v", "en-us"], p, 16_000, 1));
            s.extend(vec![0i16; 4_000]);
            s
        })
        .collect();
    let noisy: Vec<Vec<i16>> = clean.iter().map(|s| with_noise_10_db(s)).collect();
    let mut rates = Vec::new();
    for (prompt, phrases) in [("no prompt", false), ("scene phrases", true)] {
        let engine = client_util::engine_with(|c| {
            c.recognizer = RecognizerKind::Whisper(model.clone());
            if phrases {
                c.workspace.speech.phrases = PHRASES.iter().map(|p| p.to_string()).collect();
            }
        });
        let (session, _) = client_util::open_ready(client_util::config_for(&engine));
        for (condition, audio) in [("clean", &clean), ("10 dB noise", &noisy)] {
            let (mut errors, mut words) = (0, 0);
            let began = std::time::Instant::now();
            for (said, samples) in PHRASES.iter().zip(audio.iter()) {
                let heard = recognised(&session, samples);
                let (e, n) = word_errors(said, &heard);
                println!("  [{prompt}, {condition}] {said:?} -> {heard:?}");
                errors += e;
                words += n;
            }
            let wer = errors as f64 / words as f64;
            println!(
                "WER {prompt}, {condition}: {:.1}% ({errors} errors / {words} words; {} utterances in {:.1} s)",
                100.0 * wer,
                PHRASES.len(),
                began.elapsed().as_secs_f64()
            );
            rates.push((prompt, condition, wer));
        }
        session.close();
    }
    let phrases_clean = rates[2].2;
    assert!(phrases_clean < 0.5, "{rates:?}");
}
