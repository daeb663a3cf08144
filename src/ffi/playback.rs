//! Speech out: `iw_playback`, a stream of the characters' speech in the
//! game's format that its audio callback reads, and what it is playing now
//! (for lip-sync).
//!
//! Reads take no lock the library's threads hold: streams have a handle
//! table of their own, written only by `iw_session_open_playback` and
//! `iw_playback_free` (the game's calls) and `iw_shutdown`; the stream is
//! taken with a try-lock (a second thread reading at the same time gets
//! `IW_E_BUSY` instead of waiting), and read from a wait-free ring.
//! `iw_playback_now_playing` and `iw_playback_pending` take no lock at all.

use parking_lot::Mutex;

use super::session::{iw_session, SESSIONS};
use crate::client::{Playback, PlaybackFormat, PlaybackMonitor};
use crate::ffi::args::{optional_string_arg, out_arg, slice_arg};
use crate::ffi::error::*;
use crate::ffi::handles::HandleTable;
use crate::ffi::library::Held;
use std::ffi::c_char;

/// Bytes of each id in `iw_now_playing` (36 characters and the NUL; longer
/// ids are cut).
pub const IW_NOW_PLAYING_ID_SIZE: usize = 64;

/// A stream of the characters' speech for the game's audio thread (opaque).
pub struct iw_playback {
    _private: [u8; 0],
}

/// What `iw_playback_now_playing` writes: the utterance the player hears
/// now, as of the audio callback's last read.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct iw_now_playing {
    /// 1 while an utterance plays; 0 between utterances (the rest is then
    /// empty and `viseme` is `IW_VISEME_SIL`).
    pub playing: u32,
    /// `IW_VISEME_*`: the mouth shape at the position heard.
    pub viseme: u32,
    /// Frames of the utterance played, at the stream's rate.
    pub position_frames: u64,
    /// The same, in microseconds.
    pub position_us: u64,
    /// The speaking character's agent id (NUL-terminated).
    pub character: [c_char; IW_NOW_PLAYING_ID_SIZE],
    pub interaction_id: [c_char; IW_NOW_PLAYING_ID_SIZE],
    pub utterance_id: [c_char; IW_NOW_PLAYING_ID_SIZE],
}

/// The stream (read by one audio thread at a time) and its monitor (any
/// thread, no lock).
pub(super) struct Stream {
    playback: Mutex<Playback>,
    pub(super) monitor: PlaybackMonitor,
}

pub(super) static PLAYBACKS: HandleTable<Stream, iw_playback> =
    HandleTable::new(Held::Playbacks, "iw_playback", |_| {});

/// Opens a stream of the characters' speech in the format the game plays:
/// `rate` 8000 to 192000 frames a second, `channels` 1 or 2. `character`:
/// NULL for every character's speech, or one character's (agent id,
/// resource name or display name), e.g. one stream per character's audio
/// source. Speech arriving from now on is decoded, resampled and queued;
/// read it with `iw_playback_read_f32` or `iw_playback_read_i16`. Cancelled
/// responses (`iw_session_cancel_responses`, or the service's) and barge-in
/// (with `IW_CAP_INTERRUPTIONS`, the player sends text while a character
/// talks) silence it at the next read. Allocates its buffer (two seconds)
/// here. Release with `iw_playback_free` (before or after the session's).
/// Errors: `IW_E_INVALID_ARGUMENT` (rate, channels), `IW_E_NOT_FOUND` (no
/// such character), `IW_E_NOT_READY` (a character before the scene
/// loaded), `IW_E_NULL_POINTER`, `IW_E_INVALID_UTF8`, `IW_E_INVALID_HANDLE`,
/// `IW_E_CLOSED`, `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_open_playback(
    session: *mut iw_session,
    rate: u32,
    channels: u32,
    character: *const c_char,
    out: *mut *mut iw_playback,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let out = out_arg(out, "out")?;
        let character = optional_string_arg(character, "character")?;
        let channels = u16::try_from(channels).unwrap_or(u16::MAX);
        let playback = entry
            .session
            .open_playback(PlaybackFormat { rate, channels }, character.as_deref())?;
        let monitor = playback.monitor();
        out.write(PLAYBACKS.insert(Stream {
            playback: Mutex::new(playback),
            monitor,
        })?);
        Ok(())
    }
}

/// Fills `frames` with `frame_count` interleaved float frames (full scale
/// ±1.0): the speech queued, then silence. Writes the frames of speech to
/// `*speech_frames` (0: silence only).
///
/// Real-time safe, for the audio callback: no lock the library's threads
/// hold, no allocation, never blocks (errors record a message, which may
/// allocate; on any error `frames` is left as it was, so fill it with
/// silence first if the callback must always output something). One
/// thread at a time per stream: a read racing another on the same stream
/// fails with `IW_E_BUSY`. Errors: `IW_E_NULL_POINTER` (`frames` NULL with
/// `frame_count` > 0, or `speech_frames` NULL), `IW_E_INVALID_HANDLE`,
/// `IW_E_BUSY`, `IW_E_SHUTDOWN`. Reading after the session closed plays
/// what was queued, then silence.
#[no_mangle]
pub unsafe extern "C" fn iw_playback_read_f32(
    playback: *mut iw_playback,
    frames: *mut f32,
    frame_count: usize,
    speech_frames: *mut usize,
) -> iw_result {
    ffi_boundary! {
        read(playback, frames, frame_count, speech_frames, Playback::read_f32)
    }
}

/// `iw_playback_read_f32` in 16-bit samples.
#[no_mangle]
pub unsafe extern "C" fn iw_playback_read_i16(
    playback: *mut iw_playback,
    frames: *mut i16,
    frame_count: usize,
    speech_frames: *mut usize,
) -> iw_result {
    ffi_boundary! {
        read(playback, frames, frame_count, speech_frames, Playback::read_i16)
    }
}

/// Writes what the player hears now to `*now` (see `iw_now_playing`), as of
/// the audio callback's last read: for lip-sync on the game's thread. Takes
/// no lock: any thread, also while the audio thread reads. Errors:
/// `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`.
#[no_mangle]
pub unsafe extern "C" fn iw_playback_now_playing(
    playback: *const iw_playback,
    now: *mut iw_now_playing,
) -> iw_result {
    ffi_boundary! {
        let stream = PLAYBACKS.get(playback)?;
        let now = out_arg(now, "now")?;
        let mut out = iw_now_playing {
            playing: 0,
            viseme: 0,
            position_frames: 0,
            position_us: 0,
            character: [0; IW_NOW_PLAYING_ID_SIZE],
            interaction_id: [0; IW_NOW_PLAYING_ID_SIZE],
            utterance_id: [0; IW_NOW_PLAYING_ID_SIZE],
        };
        if let Some(playing) = stream.monitor.now_playing() {
            let rate = stream.monitor.format().rate;
            out.playing = 1;
            out.viseme = playing.viseme(rate) as u32;
            out.position_frames = playing.position_frames;
            out.position_us = playing.position_frames * 1_000_000 / u64::from(rate);
            copy_id(&mut out.character, &playing.utterance.character);
            copy_id(&mut out.interaction_id, &playing.utterance.interaction_id);
            copy_id(&mut out.utterance_id, &playing.utterance.utterance_id);
        }
        now.write(out);
        Ok(())
    }
}

/// Writes the frames of speech still to play to `*frames`: queued in the
/// stream and held by the session for it (0 once everything that arrived
/// has played). Takes no lock. Errors: `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`.
#[no_mangle]
pub unsafe extern "C" fn iw_playback_pending(
    playback: *const iw_playback,
    frames: *mut u64,
) -> iw_result {
    ffi_boundary! {
        let stream = PLAYBACKS.get(playback)?;
        let frames = out_arg(frames, "frames")?;
        frames.write(stream.monitor.pending_frames());
        Ok(())
    }
}

/// Releases the stream; its session goes on. NULL is a no-op. Not while a
/// read on it runs. Errors: `IW_E_INVALID_HANDLE` (freed already),
/// `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_playback_free(playback: *mut iw_playback) -> iw_result {
    ffi_boundary! {
        PLAYBACKS.free(playback)
    }
}

/// Copies `id` into a NUL-terminated fixed-size field (cut to fit).
fn copy_id(field: &mut [c_char; IW_NOW_PLAYING_ID_SIZE], id: &str) {
    let bytes = &id.as_bytes()[..id.len().min(IW_NOW_PLAYING_ID_SIZE - 1)];
    for (f, b) in field.iter_mut().zip(bytes) {
        *f = *b as c_char;
    }
    field[bytes.len()] = 0;
}

/// The read of both sample types.
///
/// # Safety
/// `frames` is NULL or points to `frame_count` × channels samples.
unsafe fn read<S>(
    playback: *mut iw_playback,
    frames: *mut S,
    frame_count: usize,
    speech_frames: *mut usize,
    read: impl FnOnce(&mut Playback, &mut [S]) -> usize,
) -> FfiResult {
    let stream = PLAYBACKS.get(playback)?;
    let speech_frames = out_arg(speech_frames, "speech_frames")?;
    let Some(mut playback) = stream.playback.try_lock() else {
        return Err(FfiError::new(
            IW_E_BUSY,
            "another thread is reading this playback stream",
        ));
    };
    let channels = usize::from(playback.format().channels);
    let len = frame_count.saturating_mul(channels);
    // Checked as the read-only slice the arguments module knows, then
    // written through the same pointer.
    slice_arg(frames.cast_const(), len, "frames", "frame_count")?;
    let out: &mut [S] = if len == 0 {
        &mut []
    } else {
        std::slice::from_raw_parts_mut(frames, len)
    };
    speech_frames.write(read(&mut playback, out));
    Ok(())
}
