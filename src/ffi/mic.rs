//! Microphone in: audio sessions (`iw_session_start_audio_session`, `_in` a
//! conversation, `iw_session_end_audio_session`) and `iw_audio_input`, the
//! handle the game's audio thread pushes the microphone's frames through.
//!
//! The push path takes no lock the library's threads hold: audio inputs
//! have a handle table of their own, written only by `iw_audio_input_open`
//! and `iw_audio_input_free` (the game's calls) and `iw_shutdown`, so the
//! push's shared read of it never waits on the network side; the input
//! itself is taken with a try-lock (a second thread pushing at the same
//! time gets `IW_E_BUSY` instead of waiting), and the push writes into a
//! wait-free ring the session's task drains.

use parking_lot::Mutex;

use super::session::{conversation_arg, iw_sent_ids};
use super::session::{iw_session, sent_ids_arg, write_ids, SESSIONS};
use crate::client::UnderstandingMode;
use crate::client::{AudioFormat, AudioInput, AudioSessionConfig, MicrophoneMode, PushError};
use crate::ffi::args::{out_arg, slice_arg};
use crate::ffi::error::*;
use crate::ffi::handles::HandleTable;
use crate::ffi::library::Held;
use std::ffi::c_char;

/// Audio session mode: the service finds where the player stops speaking.
pub const IW_MIC_OPEN_MIC: i32 = 1;
/// Audio session mode: push-to-talk; the player's speech ends with
/// `iw_session_end_audio_session` (e.g. when the key is released).
pub const IW_MIC_PUSH_TO_TALK: i32 = 2;
/// Understanding: recognise the speech and let the characters answer.
pub const IW_UNDERSTANDING_FULL: i32 = 1;
/// Understanding: only recognise the speech (its text comes back).
pub const IW_UNDERSTANDING_SPEECH_RECOGNITION_ONLY: i32 = 2;

const _: () = {
    assert!(IW_MIC_OPEN_MIC == MicrophoneMode::OpenMic as i32);
    assert!(IW_MIC_PUSH_TO_TALK == MicrophoneMode::PushToTalk as i32);
    assert!(IW_UNDERSTANDING_FULL == UnderstandingMode::Full as i32);
    assert!(
        IW_UNDERSTANDING_SPEECH_RECOGNITION_ONLY == UnderstandingMode::SpeechRecognitionOnly as i32
    );
};

fn audio_session_config(mode: i32, understanding: i32) -> FfiResult<AudioSessionConfig> {
    let mode = match mode {
        IW_MIC_OPEN_MIC => MicrophoneMode::OpenMic,
        IW_MIC_PUSH_TO_TALK => MicrophoneMode::PushToTalk,
        other => {
            return Err(FfiError::new(
                IW_E_INVALID_ARGUMENT,
                format!("mode is {other}; expected IW_MIC_OPEN_MIC or IW_MIC_PUSH_TO_TALK"),
            ))
        }
    };
    let understanding = match understanding {
        IW_UNDERSTANDING_FULL => UnderstandingMode::Full,
        IW_UNDERSTANDING_SPEECH_RECOGNITION_ONLY => UnderstandingMode::SpeechRecognitionOnly,
        other => {
            return Err(FfiError::new(
                IW_E_INVALID_ARGUMENT,
                format!("understanding is {other}; expected an IW_UNDERSTANDING_* value"),
            ))
        }
    };
    Ok(AudioSessionConfig {
        mode,
        understanding,
    })
}

/// Starts an audio session with the current character (the session's
/// one-to-one conversation): the service listens to what the session's
/// `iw_audio_input` pushes until `iw_session_end_audio_session`. `mode`:
/// `IW_MIC_OPEN_MIC` or `IW_MIC_PUSH_TO_TALK`; `understanding`:
/// `IW_UNDERSTANDING_*`. One audio session at a time per session.
///
/// Enqueues and returns. The start goes out after the conversation's
/// handshake; audio pushed meanwhile waits (up to one second). Audio pushed
/// while the session cannot send (connecting, reconnecting) is dropped and
/// reported (`IW_PACKET_SEND_FAILED`, `IW_SEND_NOT_SENT`, with the
/// conversation id), never sent late; after a reconnect the audio session
/// starts again by itself. What the player said comes back as player text
/// (speech to text), then the characters' reply. `ids` (NULL, or initialised
/// with `iw_sent_ids_init`) receives the start packet's packet and
/// conversation ids. Errors: `IW_E_INVALID_ARGUMENT` (a bad mode or
/// understanding, an audio session already open), `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`, `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_start_audio_session(
    session: *mut iw_session,
    mode: i32,
    understanding: i32,
    ids: *mut iw_sent_ids,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let config = audio_session_config(mode, understanding)?;
        let ids = sent_ids_arg(ids)?;
        write_ids(ids, entry.session.start_audio_session(config)?);
        Ok(())
    }
}

/// Starts an audio session in conversation `conversation_id` (from
/// `iw_session_start_conversation`): its audio carries that id, and the
/// conversation's characters answer. Like `iw_session_start_audio_session`
/// otherwise; also `IW_E_NOT_FOUND` (no such conversation), `IW_E_INVALID_UTF8`.
#[no_mangle]
pub unsafe extern "C" fn iw_session_start_audio_session_in(
    session: *mut iw_session,
    conversation_id: *const c_char,
    mode: i32,
    understanding: i32,
    ids: *mut iw_sent_ids,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let conversation = conversation_arg(&entry, conversation_id)?;
        let config = audio_session_config(mode, understanding)?;
        let ids = sent_ids_arg(ids)?;
        write_ids(ids, conversation.start_audio_session(config)?);
        Ok(())
    }
}

/// Ends the open audio session (in whichever conversation): the audio pushed
/// before this call goes out, then the end. In push-to-talk mode this is
/// where the player stopped speaking. `ids` as for the start. Errors:
/// `IW_E_INVALID_ARGUMENT` (no audio session open), `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`, `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_end_audio_session(
    session: *mut iw_session,
    ids: *mut iw_sent_ids,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let ids = sent_ids_arg(ids)?;
        write_ids(ids, entry.session.end_audio_session()?);
        Ok(())
    }
}

/// A session's microphone input, for the game's audio thread (opaque).
pub struct iw_audio_input {
    _private: [u8; 0],
}

static AUDIO_INPUTS: HandleTable<Mutex<AudioInput>, iw_audio_input> =
    HandleTable::new(Held::AudioInputs, "iw_audio_input", |_| {});

/// Opens the session's audio input for the microphone's format: `rate`
/// 8000 to 48000 frames a second, `channels` 1 or 2 (stereo is averaged to
/// mono); samples are interleaved, 16-bit (`iw_audio_input_push_i16`) or
/// float (`iw_audio_input_push_f32`). The library resamples to 16 kHz mono
/// and sends it in chunks while an audio session is open. One input per
/// session: opening another replaces it (the old one's pushes then give
/// `IW_E_CLOSED`). Allocates its buffer (one second) here, not when pushing.
/// Release with `iw_audio_input_free` (before or after the session's).
/// Errors: `IW_E_INVALID_ARGUMENT` (rate, channels), `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`, `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_audio_input_open(
    session: *mut iw_session,
    rate: u32,
    channels: u32,
    out: *mut *mut iw_audio_input,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let out = out_arg(out, "out")?;
        let channels = u16::try_from(channels).unwrap_or(u16::MAX);
        let input = entry.session.audio_input(AudioFormat { rate, channels })?;
        out.write(AUDIO_INPUTS.insert(Mutex::new(input))?);
        Ok(())
    }
}

/// Pushes `frame_count` interleaved 16-bit frames (`frame_count` ×
/// channels samples) and writes how many frames were taken to `*accepted`.
/// Fewer than `frame_count` means the input's buffer (one second) was full:
/// the rest is dropped, counted (`iw_audio_input_dropped`) and reported
/// (`IW_PACKET_SEND_FAILED`, at most one a second).
///
/// Real-time safe, for the audio thread: no lock the library's threads hold,
/// no allocation, never blocks, never waits on the network (errors record a
/// message, which may allocate). One thread at a time per input: a push
/// racing another on the same input fails with `IW_E_BUSY`. Errors:
/// `IW_E_NOT_READY` (no audio session open: audio outside one is refused
/// here, not sent), `IW_E_CLOSED` (the session closed, or another input
/// replaced this one), `IW_E_BUSY`, `IW_E_NULL_POINTER` (`frames` NULL with
/// `frame_count` > 0, or `accepted` NULL), `IW_E_INVALID_HANDLE`,
/// `IW_E_SHUTDOWN`.
#[no_mangle]
pub unsafe extern "C" fn iw_audio_input_push_i16(
    input: *mut iw_audio_input,
    frames: *const i16,
    frame_count: usize,
    accepted: *mut usize,
) -> iw_result {
    ffi_boundary! {
        push(input, frames, frame_count, accepted, |input, samples| input.push_i16(samples))
    }
}

/// Pushes `frame_count` interleaved float frames (full scale ±1.0); like
/// `iw_audio_input_push_i16`.
#[no_mangle]
pub unsafe extern "C" fn iw_audio_input_push_f32(
    input: *mut iw_audio_input,
    frames: *const f32,
    frame_count: usize,
    accepted: *mut usize,
) -> iw_result {
    ffi_boundary! {
        push(input, frames, frame_count, accepted, |input, samples| input.push_f32(samples))
    }
}

/// Writes the frames dropped so far to `*frames`: pushed when the buffer was
/// full, or taken while the session could not send them. Errors:
/// `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_audio_input_dropped(
    input: *const iw_audio_input,
    frames: *mut u64,
) -> iw_result {
    ffi_boundary! {
        let input = AUDIO_INPUTS.get(input)?;
        let frames = out_arg(frames, "frames")?;
        frames.write(input.lock().dropped_frames());
        Ok(())
    }
}

/// Releases the input; its session goes on (audio stops coming). NULL is a
/// no-op. Not while a push on it runs. Errors: `IW_E_INVALID_HANDLE` (freed
/// already), `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_audio_input_free(input: *mut iw_audio_input) -> iw_result {
    ffi_boundary! {
        AUDIO_INPUTS.free(input)
    }
}

/// The push of both sample types.
///
/// # Safety
/// `frames` is NULL or points to `frame_count` × channels samples.
unsafe fn push<S>(
    input: *mut iw_audio_input,
    frames: *const S,
    frame_count: usize,
    accepted: *mut usize,
    push: impl FnOnce(&mut AudioInput, &[S]) -> Result<usize, PushError>,
) -> FfiResult {
    let input = AUDIO_INPUTS.get(input)?;
    let channels = |i: &AudioInput| i.format().channels;
    push_frames(
        &input,
        "audio input",
        channels,
        frames,
        frame_count,
        accepted,
        push,
    )
}

/// A push from the audio thread into `target` (an audio input or an echo
/// reference, `what`): one thread at a time (a try-lock: another gets
/// `IW_E_BUSY`), whole frames of `channels(target)` samples.
///
/// # Safety
/// `frames` is NULL or points to `frame_count` × channels samples.
pub(super) unsafe fn push_frames<T, S>(
    target: &Mutex<T>,
    what: &str,
    channels: impl Fn(&T) -> u16,
    frames: *const S,
    frame_count: usize,
    accepted: *mut usize,
    push: impl FnOnce(&mut T, &[S]) -> Result<usize, PushError>,
) -> FfiResult {
    let accepted = out_arg(accepted, "accepted")?;
    let Some(mut target) = target.try_lock() else {
        return Err(FfiError::new(
            IW_E_BUSY,
            format!("another thread is pushing to this {what}"),
        ));
    };
    let channels = usize::from(channels(&target));
    let samples = slice_arg(
        frames,
        frame_count.saturating_mul(channels),
        "frames",
        "frame_count",
    )?;
    let taken = push(&mut target, samples).map_err(|e| {
        let code = match e {
            PushError::NoAudioSession => IW_E_NOT_READY,
            PushError::Closed => IW_E_CLOSED,
            PushError::PartialFrame => IW_E_INVALID_ARGUMENT,
        };
        FfiError::new(code, e.to_string())
    })?;
    accepted.write(taken);
    Ok(())
}
