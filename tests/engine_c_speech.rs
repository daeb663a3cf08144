//! The engine's speech parts chosen through the C API (`iw_engine_config`'s
//! `synthesizer`, `recognizer`, `whisper_model`), called from Rust: what a
//! build lacks is refused with `IW_E_UNSUPPORTED` (never replaced), bad
//! values with `IW_E_INVALID_ARGUMENT`, the defaults and the parts every
//! build has work, and an ABI 2.3 caller's smaller struct takes the defaults.
#![cfg(feature = "engine")]

mod client_util;

use inworld::auth::Credentials;
use inworld::client::ClientConfig;
use inworld::ffi::*;
use inworld::packet::PacketBody;
use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};

fn defaults() -> iw_engine_config {
    let mut config = std::mem::MaybeUninit::<iw_engine_config>::uninit();
    assert_eq!(unsafe { iw_engine_config_init(config.as_mut_ptr()) }, IW_OK);
    let mut config = unsafe { config.assume_init() };
    config.scene = c"test".as_ptr();
    config
}

fn last_error() -> String {
    let mut buf = [0 as c_char; 1024];
    let mut len = 0;
    assert_eq!(
        unsafe { iw_last_error(buf.as_mut_ptr(), buf.len(), &mut len) },
        IW_OK
    );
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string()
}

/// Starts an engine from `config` (a struct of this or an older ABI): its
/// handle, or the error and its message.
fn start(config: *const iw_engine_config) -> Result<*mut iw_engine, (iw_result, String)> {
    let mut engine = null_mut();
    match unsafe { iw_engine_start(config, &mut engine) } {
        IW_OK => Ok(engine),
        code => {
            assert!(engine.is_null(), "written on failure");
            Err((code, last_error()))
        }
    }
}

fn refused(config: *const iw_engine_config, code: iw_result, needle: &str) {
    match start(config) {
        Ok(engine) => {
            iw_engine_free(engine);
            panic!("started; expected {code} ({needle:?})");
        }
        Err((got, message)) => {
            assert_eq!(got, code, "{message}");
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
    }
}

#[test]
fn the_defaults_are_the_best_parts_built_in() {
    let config = defaults();
    assert_eq!(config.synthesizer, IW_SYNTHESIZER_DEFAULT);
    assert_eq!(config.recognizer, IW_RECOGNIZER_DEFAULT);
    assert!(config.whisper_model.is_null());
    assert_eq!(
        config.struct_size as usize,
        std::mem::size_of::<iw_engine_config>()
    );
    let engine = start(&config).expect("the defaults start");
    assert_eq!(iw_engine_free(engine), IW_OK);
}

#[cfg(not(feature = "espeak"))]
#[test]
fn espeak_is_refused_by_a_build_without_it() {
    let mut config = defaults();
    config.synthesizer = IW_SYNTHESIZER_ESPEAK;
    refused(&config, IW_E_UNSUPPORTED, "IW_SYNTHESIZER_ESPEAK");
    refused(&config, IW_E_UNSUPPORTED, "`espeak` cargo feature");
    assert_eq!(
        unsafe { CStr::from_ptr(iw_result_name(IW_E_UNSUPPORTED)) },
        c"IW_E_UNSUPPORTED"
    );
}

#[cfg(not(feature = "pocketsphinx"))]
#[test]
fn pocketsphinx_is_refused_by_a_build_without_it() {
    let mut config = defaults();
    config.recognizer = IW_RECOGNIZER_POCKETSPHINX;
    refused(&config, IW_E_UNSUPPORTED, "`pocketsphinx` cargo feature");
}

#[cfg(not(feature = "whisper"))]
#[test]
fn whisper_is_refused_by_a_build_without_it() {
    let mut config = defaults();
    config.whisper_model = c"/models/ggml-tiny.en.bin".as_ptr();
    for recognizer in [IW_RECOGNIZER_WHISPER, IW_RECOGNIZER_DEFAULT] {
        config.recognizer = recognizer;
        refused(&config, IW_E_UNSUPPORTED, "`whisper` cargo feature");
    }
}

#[test]
fn bad_choices_are_invalid_arguments() {
    let mut config = defaults();
    config.synthesizer = 3;
    refused(
        &config,
        IW_E_INVALID_ARGUMENT,
        "config->synthesizer is 3; expected",
    );
    config.synthesizer = IW_SYNTHESIZER_TONES;
    config.recognizer = 4;
    refused(&config, IW_E_INVALID_ARGUMENT, "config->recognizer is 4");
    config.recognizer = IW_RECOGNIZER_WHISPER;
    refused(&config, IW_E_INVALID_ARGUMENT, "whisper_model is NULL");
    config.recognizer = IW_RECOGNIZER_POCKETSPHINX;
    config.whisper_model = c"/models/ggml-tiny.en.bin".as_ptr();
    refused(
        &config,
        IW_E_INVALID_ARGUMENT,
        "whisper_model is for IW_RECOGNIZER_WHISPER",
    );
}

/// The tones and the scene's scripted transcript, which every build has:
/// a session hears the transcript in any speech and gets the tones'
/// speech (their ARPAbet phonemes).
#[test]
fn the_parts_every_build_has_serve_a_session() {
    use inworld::client::{AudioFormat, AudioSessionConfig, MicrophoneMode, UnderstandingMode};
    use inworld::packet::TextSource;

    let mut config = defaults();
    config.synthesizer = IW_SYNTHESIZER_TONES;
    config.recognizer = IW_RECOGNIZER_SCRIPTED;
    let engine = start(&config).map_err(|e| e.1).expect("it starts");
    let mut buf = [0 as c_char; 64];
    let mut len = 0;
    assert_eq!(
        unsafe { iw_engine_address(engine, buf.as_mut_ptr(), buf.len(), &mut len) },
        IW_OK
    );
    let address = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
    let mut client = ClientConfig::new(
        address,
        client_util::SCENE,
        Credentials::new("test-api-key", "test-api-secret"),
    );
    client.session.capabilities.phonemes = true;
    let (session, _) = client_util::open_ready(client);
    let mut input = session
        .audio_input(AudioFormat {
            rate: 16_000,
            channels: 1,
        })
        .unwrap();
    session
        .start_audio_session(AudioSessionConfig {
            mode: MicrophoneMode::PushToTalk,
            understanding: UnderstandingMode::Full,
        })
        .unwrap();
    // Half a second of a loud 300 Hz tone (it fits the input's second).
    let tone: Vec<i16> = (0..8_000)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            (16_000.0 * (2.0 * std::f32::consts::PI * 300.0 * t).sin()) as i16
        })
        .collect();
    assert_eq!(input.push_i16(&tone), Ok(tone.len()));
    session.end_audio_session().unwrap();
    let (_, heard) = client_util::wait_for(
        &session,
        "the final transcript",
        |p| matches!(&p.body, PacketBody::Text(t) if t.source == TextSource::SpeechToText && t.is_final),
    );
    let PacketBody::Text(t) = &heard.body else {
        unreachable!()
    };
    assert_eq!(t.text.as_str(), "hello from the microphone");
    let (_, audio) = client_util::wait_for(&session, "the reply's speech", |p| {
        matches!(&p.body, PacketBody::Audio(_)) && p.ids.interaction_id == heard.ids.interaction_id
    });
    let PacketBody::Audio(chunk) = &audio.body else {
        unreachable!()
    };
    // The tones name their phonemes in lower-case ARPAbet.
    assert!(
        !chunk.phonemes.is_empty()
            && chunk.phonemes.iter().all(|p| p
                .phoneme
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')),
        "{:?}",
        chunk.phonemes
    );
    session.close();
    assert_eq!(iw_engine_free(engine), IW_OK);
}

/// A caller built against ABI 2.3's header: its struct ends at
/// `llm_api_key` (and says so in `struct_size`); the fields added since
/// take their defaults. Smaller than that is refused.
#[test]
fn an_abi_2_3_struct_takes_the_defaults_for_what_it_lacks() {
    #[repr(C)]
    struct EngineConfig23 {
        struct_size: u32,
        pacing: u32,
        listen: *const c_char,
        scene: *const c_char,
        api_key: *const c_char,
        api_secret: *const c_char,
        brain: u32,
        llm_url: *const c_char,
        llm_model: *const c_char,
        llm_api_key: *const c_char,
    }
    let old = EngineConfig23 {
        struct_size: std::mem::size_of::<EngineConfig23>() as u32,
        pacing: IW_PACING_INSTANT,
        listen: null(),
        scene: c"test".as_ptr(),
        api_key: null(),
        api_secret: null(),
        brain: IW_BRAIN_SCRIPTED,
        llm_url: null(),
        llm_model: null(),
        llm_api_key: null(),
    };
    assert_eq!(
        std::mem::size_of::<EngineConfig23>(),
        std::mem::offset_of!(iw_engine_config, synthesizer)
    );
    let as_new = &old as *const EngineConfig23 as *const iw_engine_config;
    let engine = start(as_new).map_err(|e| e.1).expect("it starts");
    assert_eq!(iw_engine_free(engine), IW_OK);

    let smaller = EngineConfig23 {
        struct_size: old.struct_size - 8,
        ..old
    };
    let as_new = &smaller as *const EngineConfig23 as *const iw_engine_config;
    refused(as_new, IW_E_INVALID_ARGUMENT, "struct_size");
}
