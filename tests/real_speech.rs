//! The engine's real speech parts, for real: espeak-ng speaks replies (the
//! `espeak` feature) and PocketSphinx hears the player (the `pocketsphinx`
//! feature). Built without them, this file has no tests. `.ci/run` runs it
//! with both (`cargo test --features espeak,pocketsphinx --test real_speech`).
#![cfg(feature = "engine")]
#![cfg(any(feature = "espeak", feature = "pocketsphinx"))]

mod client_util;
mod engine_support;
mod speech_support;

use engine_support::*;
use inworld::protocol::ai::inworld::packets::*;
use std::process::Command;

/// The phonemes espeak-ng's own command gives for `text` in `voice`, IPA,
/// one per phoneme (the synthesizer's phoneme events name the same ones).
#[allow(dead_code)]
fn espeak_phonemes(text: &str, voice: &str) -> Vec<String> {
    let out = Command::new("espeak-ng")
        .args(["-q", "--ipa", "--sep=_", "-v", voice, text])
        .output()
        .expect("espeak-ng is installed (.ci/run installs it)");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split(|c: char| c == '_' || c.is_whitespace())
        .map(|p| p.replace(['ˈ', 'ˌ'], ""))
        .filter(|p| !p.is_empty())
        .collect()
}

/// The audio chunks of a reply.
#[allow(dead_code)]
fn audio_chunks(reply: &[InworldPacket]) -> Vec<&DataChunk> {
    reply
        .iter()
        .filter_map(|p| match &p.packet {
            Some(inworld_packet::Packet::DataChunk(d))
                if d.r#type == data_chunk::DataType::Audio as i32 =>
            {
                Some(d)
            }
            _ => None,
        })
        .collect()
}

#[cfg(feature = "espeak")]
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_is_spoken_by_espeak_with_the_phonemes_it_spoke() {
    use inworld::engine::{EngineConfig, SynthesizerKind, Workspace};
    let mut config = EngineConfig::new(Workspace::test_scenes());
    config.synthesizer = SynthesizerKind::Espeak;
    let engine = start(config);
    let mut r = ready(&engine, caps_all()).await;
    r.stream
        .send(text(&r.conversation, "any quest for me?"))
        .await;
    let reply = r.stream.reply().await;
    let lines = texts(&reply);
    assert_eq!(lines, ["Take this map.", "The cave is to the north."]);
    let chunks = audio_chunks(&reply);
    let spoken: Vec<String> = chunks
        .iter()
        .flat_map(|c| c.additional_phoneme_info.iter().map(|p| p.phoneme.clone()))
        .collect();
    let expected: Vec<String> = lines
        .iter()
        .flat_map(|l| espeak_phonemes(l, "en-us"))
        .collect();
    // espeak-ng's pauses (between sentences, at the end) are phonemes too:
    // the mouth at rest.
    let spoken_sounds: Vec<String> = spoken.iter().filter(|p| *p != "_").cloned().collect();
    assert_eq!(spoken_sounds, expected, "spoken {spoken:?}");
    assert!(spoken.contains(&"_".to_string()), "{spoken:?}");
    // Chunks of 100-230 ms (the last may be shorter), 16 kHz WAV, with
    // the phonemes that start in each.
    let utterance_of: Vec<String> = reply
        .iter()
        .filter(|p| matches!(&p.packet, Some(inworld_packet::Packet::DataChunk(d)) if d.r#type == data_chunk::DataType::Audio as i32))
        .map(|p| p.packet_id.as_ref().unwrap().utterance_id.clone())
        .collect();
    for (i, c) in chunks.iter().enumerate() {
        let last_of_utterance = utterance_of.get(i + 1) != utterance_of.get(i).as_ref().copied();
        let Some(data_chunk::Data::Chunk(wav)) = &c.data else {
            panic!("audio bytes")
        };
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16_000);
        let ms = (wav.len() - 44) / 32;
        assert!(ms <= 230, "chunk {i}: {ms} ms");
        if !last_of_utterance {
            assert!(ms >= 100, "chunk {i}: {ms} ms");
        }
        for p in &c.additional_phoneme_info {
            let at = p.start_offset.unwrap();
            assert!(
                at.seconds == 0 && (at.nanos as usize) < (wav.len() - 44) / 2 * 62_500,
                "{p:?} in {ms} ms"
            );
        }
        assert_eq!(c.audioformat, data_chunk::AudioFormat::AudioPcm16000 as i32);
    }
    // Real speech, not silence.
    let loud = chunks
        .iter()
        .filter_map(|c| match &c.data {
            Some(data_chunk::Data::Chunk(wav)) => Some(&wav[44..]),
            _ => None,
        })
        .flat_map(|pcm| {
            pcm.chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
        })
        .filter(|s| s.unsigned_abs() > 3000)
        .count();
    assert!(loud > 1000, "{loud} loud samples");
}

/// PocketSphinx decodes one utterance at a time for the whole process: the
/// tests that use it take turns, so one's partial texts do not wait for
/// another's sentences.
#[cfg(feature = "pocketsphinx")]
static RECOGNISER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the players of the test scene are expected to say.
#[allow(dead_code)]
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
#[cfg(feature = "pocketsphinx")]
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

/// A spoken sentence (espeak-ng, 44.1 kHz stereo, through the library's
/// microphone) comes back as the player's text, partial then final, with
/// its key words, and the character answers it.
#[cfg(feature = "pocketsphinx")]
#[test]
fn spoken_words_are_recognised_by_pocketsphinx_and_answered() {
    use inworld::client::{AudioFormat, AudioSessionConfig, MicrophoneMode, UnderstandingMode};
    use inworld::engine::RecognizerKind;
    use inworld::packet::{ControlAction, PacketBody, TextSource};

    let _turn = RECOGNISER.blocking_lock();
    let engine = client_util::engine_with(|c| {
        c.recognizer = RecognizerKind::PocketSphinx;
        c.workspace.speech.phrases = PHRASES.iter().map(|p| p.to_string()).collect();
    });
    let (session, _) = client_util::open_ready(client_util::config_for(&engine));
    let mut input = session
        .audio_input(AudioFormat {
            rate: 44_100,
            channels: 2,
        })
        .expect("an audio input");
    session
        .start_audio_session(AudioSessionConfig {
            mode: MicrophoneMode::OpenMic,
            understanding: UnderstandingMode::Full,
        })
        .unwrap();
    let mut mic = vec![0i16; 44_100];
    mic.extend(speech_support::speak_in(
        &["-v", "en-us"],
        "Do you have a quest for me?",
        44_100,
        2,
    ));
    mic.extend(vec![0i16; 2 * 44_100 * 3 / 2]);
    push_all(&mut input, &mic, 2);

    let (seen, heard) = client_util::wait_for(
        &session,
        "the final recognised text",
        |p| matches!(&p.body, PacketBody::Text(t) if t.source == TextSource::SpeechToText && t.is_final),
    );
    let PacketBody::Text(final_text) = &heard.body else {
        unreachable!()
    };
    println!("heard: {:?}", final_text.text);
    assert!(
        final_text.text.to_lowercase().contains("quest"),
        "{:?}",
        final_text.text
    );
    let partials: Vec<&str> = seen
        .iter()
        .filter_map(|p| match &p.body {
            PacketBody::Text(t) if t.source == TextSource::SpeechToText => Some(t.text.as_str()),
            _ => None,
        })
        .collect();
    assert!(!partials.is_empty(), "partial texts first");
    let (reply, _) = client_util::wait_for(&session, "the reply's end", |p| {
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
    session.end_audio_session().unwrap();
    session.close();
}

/// Word error rate of `heard` against `said`: word edits (substitutions,
/// insertions, deletions) over the words said, case and punctuation aside.
#[cfg(feature = "pocketsphinx")]
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
#[cfg(feature = "pocketsphinx")]
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

/// What the engine recognises in `samples` (16 kHz mono), sent as one
/// push-to-talk audio session in 100 ms chunks.
#[cfg(feature = "pocketsphinx")]
async fn recognised(r: &mut Ready, samples: &[i16]) -> String {
    let c = r.conversation.clone();
    let mut start = control(&c, control_event::Action::AudioSessionStart);
    if let Some(inworld_packet::Packet::Control(ctl)) = &mut start.packet {
        ctl.payload_structured = Some(control_event::PayloadStructured::AudioSessionStart(
            AudioSessionStartPayload {
                mode: audio_session_start_payload::MicrophoneMode::ExpectAudioEnd as i32,
                understanding_mode: audio_session_start_payload::UnderstandingMode::Full as i32,
            },
        ));
    }
    r.stream.send(start).await;
    for chunk in samples.chunks(1_600) {
        r.stream
            .send(audio_chunk(&c, speech_support::bytes_of(chunk)))
            .await;
    }
    r.stream
        .send(control(&c, control_event::Action::AudioSessionEnd))
        .await;
    let mut heard = None;
    loop {
        let p = r.stream.packet().await;
        match &p.packet {
            Some(inworld_packet::Packet::Text(t))
                if t.source_type == text_event::SourceType::SpeechToText as i32 && t.r#final =>
            {
                heard = Some(t.text.clone())
            }
            // Nothing recognised: the engine says so.
            _ if is_control(&p, control_event::Action::Warning) => return String::new(),
            _ if is_interaction_end(&p) && heard.is_some() => return heard.unwrap(),
            _ => {}
        }
    }
}

/// The word error rate of PocketSphinx on espeak-ng speech made now (US
/// English voice, 16 kHz), clean and in white noise 10 dB below the
/// speech, with the whole US English vocabulary and with the phrases: the
/// test's own (`PHRASES`), and the demo tavern's (`[speech] phrases` of
/// `default.toml`, its own lines said). Printed (`--nocapture`); the
/// phrase vocabularies must get most words right.
#[cfg(feature = "pocketsphinx")]
#[tokio::test(flavor = "multi_thread")]
async fn word_error_rate_on_espeak_speech() {
    use inworld::engine::{EngineConfig, RecognizerKind, SynthesizerKind, Workspace};
    let _turn = RECOGNISER.lock().await;
    let test_phrases: Vec<String> = PHRASES.iter().map(|p| p.to_string()).collect();
    let demo_phrases = Workspace::default_scenes().speech.phrases.clone();
    assert!(demo_phrases.len() >= 10, "{demo_phrases:?}");
    let mut rates = Vec::new();
    for (vocabulary, sentences, phrases) in [
        ("US English", &test_phrases, false),
        ("test phrases", &test_phrases, true),
        ("US English, demo lines", &demo_phrases, false),
        ("demo phrases", &demo_phrases, true),
    ] {
        let clean: Vec<Vec<i16>> = sentences
            .iter()
            .map(|p| {
                let mut s = vec![0i16; 4_000];
                s.extend(speech_support::speak_in(&["-v", "en-us"], p, 16_000, 1));
                s.extend(vec![0i16; 4_000]);
                s
            })
            .collect();
        let noisy: Vec<Vec<i16>> = clean.iter().map(|s| with_noise_10_db(s)).collect();
        let mut config = EngineConfig::new(Workspace::test_scenes());
        config.recognizer = RecognizerKind::PocketSphinx;
        config.synthesizer = SynthesizerKind::Tones;
        if phrases {
            config.workspace.speech.phrases = sentences.clone();
        }
        let engine = start(config);
        let mut r = ready(&engine, caps_text()).await;
        for (condition, audio) in [("clean", &clean), ("10 dB noise", &noisy)] {
            let (mut errors, mut words) = (0, 0);
            for (said, samples) in sentences.iter().zip(audio.iter()) {
                let heard = recognised(&mut r, samples).await;
                let (e, n) = word_errors(said, &heard);
                println!("  [{vocabulary}, {condition}] {said:?} -> {heard:?}");
                errors += e;
                words += n;
            }
            let wer = errors as f64 / words as f64;
            println!(
                "WER {vocabulary}, {condition}: {:.1}% ({errors} errors / {words} words)",
                100.0 * wer
            );
            rates.push((vocabulary, condition, wer));
        }
    }
    let (test_clean, demo_clean) = (rates[2].2, rates[6].2);
    assert!(test_clean < 0.5 && demo_clean < 0.5, "{rates:?}");
}

/// The engine a C or Unity game embeds: started through the C API
/// (`iw_engine_start`) choosing espeak-ng and PocketSphinx, with the
/// players' phrases in its scene file. A spoken sentence is heard and
/// answered in espeak-ng's voice (its IPA phonemes, loud samples).
#[cfg(all(feature = "espeak", feature = "pocketsphinx"))]
#[test]
fn the_c_api_starts_the_engine_with_espeak_and_pocketsphinx() {
    use inworld::auth::Credentials;
    use inworld::client::{
        AudioFormat, AudioSessionConfig, ClientConfig, MicrophoneMode, UnderstandingMode,
    };
    use inworld::ffi::*;
    use inworld::packet::{ControlAction, PacketBody, TextSource};
    use std::ffi::{CStr, CString};

    let _turn = RECOGNISER.blocking_lock();
    let scene_file = tempfile::NamedTempFile::new().unwrap();
    let transcript = "transcript = \"hello from the microphone\"";
    let toml = include_str!("../src/engine/scenes/test.toml")
        .replace(transcript, &format!("{transcript}\nphrases = {PHRASES:?}"));
    assert!(toml.contains("phrases = [\"Do you have a quest for me?\""));
    std::fs::write(scene_file.path(), toml).unwrap();
    let scene = CString::new(scene_file.path().to_str().unwrap()).unwrap();

    let engine = unsafe {
        let mut config = std::mem::MaybeUninit::<iw_engine_config>::uninit();
        assert_eq!(iw_engine_config_init(config.as_mut_ptr()), IW_OK);
        let mut config = config.assume_init();
        config.scene = scene.as_ptr();
        config.synthesizer = IW_SYNTHESIZER_ESPEAK;
        config.recognizer = IW_RECOGNIZER_POCKETSPHINX;
        let mut engine = std::ptr::null_mut();
        let started = iw_engine_start(&config, &mut engine);
        let mut message = [0 as std::ffi::c_char; 512];
        let mut len = 0;
        iw_last_error(message.as_mut_ptr(), message.len(), &mut len);
        assert_eq!(started, IW_OK, "{:?}", CStr::from_ptr(message.as_ptr()));
        engine
    };
    let address = unsafe {
        let mut buf = [0 as std::ffi::c_char; 64];
        let mut len = 0;
        assert_eq!(
            iw_engine_address(engine, buf.as_mut_ptr(), buf.len(), &mut len),
            IW_OK
        );
        CStr::from_ptr(buf.as_ptr()).to_str().unwrap().to_string()
    };
    let mut config = ClientConfig::new(
        address,
        client_util::SCENE,
        Credentials::new("test-api-key", "test-api-secret"),
    );
    config.session.capabilities.phonemes = true;
    let (session, _) = client_util::open_ready(config);
    let mut input = session
        .audio_input(AudioFormat {
            rate: 16_000,
            channels: 1,
        })
        .expect("an audio input");
    session
        .start_audio_session(AudioSessionConfig {
            mode: MicrophoneMode::OpenMic,
            understanding: UnderstandingMode::Full,
        })
        .unwrap();
    let mut mic = vec![0i16; 16_000];
    mic.extend(speech_support::speak_in(
        &["-v", "en-us"],
        "Do you have a quest for me?",
        16_000,
        1,
    ));
    mic.extend(vec![0i16; 24_000]);
    push_all(&mut input, &mic, 1);

    let (_, heard) = client_util::wait_for(
        &session,
        "the final recognised text",
        |p| matches!(&p.body, PacketBody::Text(t) if t.source == TextSource::SpeechToText && t.is_final),
    );
    let PacketBody::Text(final_text) = &heard.body else {
        unreachable!()
    };
    assert!(
        final_text.text.as_str().to_lowercase().contains("quest"),
        "PocketSphinx heard {:?}",
        final_text.text
    );
    let (reply, _) = client_util::wait_for(&session, "the reply's end", |p| {
        matches!(&p.body, PacketBody::Control(c) if c.action == ControlAction::InteractionEnd)
            && p.ids.interaction_id == heard.ids.interaction_id
    });
    let reply: Vec<_> = reply
        .into_iter()
        .filter(|p| p.ids.interaction_id == heard.ids.interaction_id)
        .collect();
    assert_eq!(
        client_util::texts(&reply),
        ["Take this map.", "The cave is to the north."]
    );
    let chunks: Vec<_> = reply
        .iter()
        .filter_map(|p| match &p.body {
            PacketBody::Audio(a) => Some(a),
            _ => None,
        })
        .collect();
    // espeak-ng's phonemes (IPA, its pauses aside), not the tones' ARPAbet.
    let spoken: Vec<String> = chunks
        .iter()
        .flat_map(|c| c.phonemes.iter().map(|p| p.phoneme.as_str().to_string()))
        .filter(|p| p != "_")
        .collect();
    let expected: Vec<String> = ["Take this map.", "The cave is to the north."]
        .iter()
        .flat_map(|l| espeak_phonemes(l, "en-us"))
        .collect();
    assert_eq!(spoken, expected);
    let loud = chunks
        .iter()
        .flat_map(|c| c.samples.iter())
        .filter(|s| s.unsigned_abs() > 3000)
        .count();
    assert!(loud > 1000, "{loud} loud samples");
    session.end_audio_session().unwrap();
    session.close();
    assert_eq!(iw_engine_free(engine), IW_OK);
}
