//! Hands-free: voice detection (`iw_session_set_voice_detection`) and the
//! echo reference (`iw_echo_reference`), the handle the game's audio thread
//! pushes what it played through. The echo reference's push path is the
//! audio input's: a handle table of its own (no lock the library's threads
//! hold), a try-lock on the reference, a wait-free ring.

use parking_lot::Mutex;

use super::mic::push_frames;
use super::mic::{IW_UNDERSTANDING_FULL, IW_UNDERSTANDING_SPEECH_RECOGNITION_ONLY};
use super::session::{iw_session, SESSIONS};
use crate::client::{AudioFormat, EchoReference, PushError, UnderstandingMode, VoiceDetection};
use crate::ffi::args::{out_arg, sized_struct_arg};
use crate::ffi::error::*;
use crate::ffi::handles::HandleTable;
use crate::ffi::library::Held;
use std::time::Duration;

/// Voice detection's settings (`iw_session_set_voice_detection`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_voice_detection {
    /// `sizeof(iw_voice_detection)`, set by `iw_voice_detection_init`.
    pub struct_size: u32,
    /// Silence that ends the player's turn, in ms (default 800; 100 to 5000).
    pub end_silence_ms: u32,
    /// `IW_UNDERSTANDING_*` for each turn (default `IW_UNDERSTANDING_FULL`).
    pub understanding: i32,
    /// 1: remove the echo of what the game played (pushed to the session's
    /// `iw_echo_reference`) before listening; 0 (default): do not.
    pub echo_cancellation: u32,
}

/// Fills `config` with the defaults (see the fields), `struct_size`
/// included. Errors: `IW_E_NULL_POINTER`.
#[no_mangle]
pub unsafe extern "C" fn iw_voice_detection_init(config: *mut iw_voice_detection) -> iw_result {
    ffi_boundary! {
        let defaults = VoiceDetection::default();
        out_arg(config, "config")?.write(iw_voice_detection {
            struct_size: std::mem::size_of::<iw_voice_detection>() as u32,
            end_silence_ms: defaults.end_silence.as_millis() as u32,
            understanding: IW_UNDERSTANDING_FULL,
            echo_cancellation: 0,
        });
        Ok(())
    }
}

/// Turns voice detection (hands-free) on with `config` (copied), or off
/// with NULL. While on, the library listens to the session's
/// `iw_audio_input` all the time (its pushes are taken with no audio
/// session open); when the player speaks it starts a push-to-talk audio
/// session in the one-to-one conversation, sends the speech with a short
/// pre-roll (never the silences), and ends the audio session after
/// `end_silence_ms` of silence. Each turn's start and end reach the game as
/// `IW_PACKET_VOICE_ACTIVITY`. Meanwhile `iw_session_start_audio_session`
/// fails with `IW_E_INVALID_ARGUMENT`. A turn cut by a lost stream, or by
/// turning voice detection off, ends with `cut_short` 1; its unsent audio is
/// reported as dropped microphone audio. Enqueues and returns. Errors:
/// `IW_E_INVALID_ARGUMENT` (a game's audio session is open; a bad
/// `struct_size`, `end_silence_ms` or `understanding`),
/// `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_set_voice_detection(
    session: *mut iw_session,
    config: *const iw_voice_detection,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let config = if config.is_null() {
            None
        } else {
            let c = sized_struct_arg(config, "config", "iw_voice_detection_init")?;
            if !(100..=5000).contains(&c.end_silence_ms) {
                return Err(FfiError::new(
                    IW_E_INVALID_ARGUMENT,
                    format!("end_silence_ms is {}; expected 100 to 5000", c.end_silence_ms),
                ));
            }
            let understanding = match c.understanding {
                IW_UNDERSTANDING_FULL => UnderstandingMode::Full,
                IW_UNDERSTANDING_SPEECH_RECOGNITION_ONLY => UnderstandingMode::SpeechRecognitionOnly,
                other => {
                    return Err(FfiError::new(
                        IW_E_INVALID_ARGUMENT,
                        format!("understanding is {other}; expected an IW_UNDERSTANDING_* value"),
                    ))
                }
            };
            if c.echo_cancellation > 1 {
                return Err(FfiError::new(
                    IW_E_INVALID_ARGUMENT,
                    format!("echo_cancellation is {}; expected 0 or 1", c.echo_cancellation),
                ));
            }
            Some(VoiceDetection {
                end_silence: Duration::from_millis(u64::from(c.end_silence_ms)),
                understanding,
                echo_cancellation: c.echo_cancellation == 1,
            })
        };
        entry.session.set_voice_detection(config)?;
        Ok(())
    }
}

/// What the game played, for echo cancellation, from its audio thread (opaque).
pub struct iw_echo_reference {
    _private: [u8; 0],
}

static ECHO_REFERENCES: HandleTable<Mutex<EchoReference>, iw_echo_reference> =
    HandleTable::new(Held::EchoReferences, "iw_echo_reference", |_| {});

/// Opens the session's echo reference for the format the game plays:
/// `rate` 8000 to 48000, `channels` 1 or 2; push each buffer as it goes to
/// the device (`iw_echo_reference_push_i16`/`_f32`). The session's task
/// drains it on the same tick as the audio input, so the two stay in step.
/// One per session: opening another replaces it (the old one's pushes then
/// give `IW_E_CLOSED`). Allocates its buffer (one second) here. Release with
/// `iw_echo_reference_free`. Errors: `IW_E_INVALID_ARGUMENT` (rate,
/// channels), `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`,
/// `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_echo_reference_open(
    session: *mut iw_session,
    rate: u32,
    channels: u32,
    out: *mut *mut iw_echo_reference,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let out = out_arg(out, "out")?;
        let channels = u16::try_from(channels).unwrap_or(u16::MAX);
        let reference = entry.session.echo_reference(AudioFormat { rate, channels })?;
        out.write(ECHO_REFERENCES.insert(Mutex::new(reference))?);
        Ok(())
    }
}

/// Pushes `frame_count` interleaved 16-bit frames the game played and writes
/// how many were taken to `*accepted` (fewer: the buffer was full, the rest
/// is dropped and counted, `iw_echo_reference_dropped`). Real-time safe, as
/// `iw_audio_input_push_i16`: no lock the library's threads hold, no
/// allocation, never blocks. Errors: `IW_E_CLOSED` (the session ended, or
/// another reference replaced this one), `IW_E_BUSY` (another thread is
/// pushing to it), `IW_E_INVALID_ARGUMENT` (not whole frames),
/// `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`.
#[no_mangle]
pub unsafe extern "C" fn iw_echo_reference_push_i16(
    reference: *mut iw_echo_reference,
    frames: *const i16,
    frame_count: usize,
    accepted: *mut usize,
) -> iw_result {
    ffi_boundary! {
        push(reference, frames, frame_count, accepted, |r, s| r.push_i16(s))
    }
}

/// Pushes `frame_count` interleaved float frames (full scale ±1.0); like
/// `iw_echo_reference_push_i16`.
#[no_mangle]
pub unsafe extern "C" fn iw_echo_reference_push_f32(
    reference: *mut iw_echo_reference,
    frames: *const f32,
    frame_count: usize,
    accepted: *mut usize,
) -> iw_result {
    ffi_boundary! {
        push(reference, frames, frame_count, accepted, |r, s| r.push_f32(s))
    }
}

/// Writes the frames dropped so far (pushed when the buffer was full) to
/// `*frames`. Errors: `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`,
/// `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_echo_reference_dropped(
    reference: *const iw_echo_reference,
    frames: *mut u64,
) -> iw_result {
    ffi_boundary! {
        let reference = ECHO_REFERENCES.get(reference)?;
        let frames = out_arg(frames, "frames")?;
        frames.write(reference.lock().dropped_frames());
        Ok(())
    }
}

/// Releases the reference (echo cancellation then hears no far end). NULL
/// is a no-op. Not while a push on it runs. Errors: `IW_E_INVALID_HANDLE`
/// (freed already), `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_echo_reference_free(reference: *mut iw_echo_reference) -> iw_result {
    ffi_boundary! {
        ECHO_REFERENCES.free(reference)
    }
}

/// The push of both sample types.
///
/// # Safety
/// `frames` is NULL or points to `frame_count` × channels samples.
unsafe fn push<S>(
    reference: *mut iw_echo_reference,
    frames: *const S,
    frame_count: usize,
    accepted: *mut usize,
    push: impl FnOnce(&mut EchoReference, &[S]) -> Result<usize, PushError>,
) -> FfiResult {
    let reference = ECHO_REFERENCES.get(reference)?;
    let channels = |r: &EchoReference| r.format().channels;
    push_frames(
        &reference,
        "echo reference",
        channels,
        frames,
        frame_count,
        accepted,
        push,
    )
}
