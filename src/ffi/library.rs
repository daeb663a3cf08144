//! The library as a whole: its versions and ABI, the private runtime (its
//! size, its start with SIGPIPE blocked), this thread's last error message,
//! and `iw_shutdown` with the check every other call makes first.

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::args::write_c_string;
use super::error::*;
use crate::client::runtime;

/// ABI version of this header: `major << 16 | minor`. Pass it to `iw_client_new`;
/// a library with another major version refuses with `IW_E_ABI_VERSION`.
/// 2.0: `iw_client_config.user_id` was removed (it was accepted but never sent).
/// 2.1: the whole session (scene changes, characters, conversations by id,
/// feedback, saved state, dialog, items, the token provider), scene
/// mutation packets, decoded speech in `iw_audio` (`data`/`len` now only for
/// a chunk that could not be decoded), the microphone.
/// 2.2: voice: playback streams (`iw_playback`), voice detection and the
/// echo reference, `IW_PACKET_VOICE_ACTIVITY`, `iw_viseme_name`.
/// 2.3: faces: `iw_playback_face`, `iw_blendshape_name`,
/// `iw_playback_show_emotion`, `iw_playback_set_blinks`.
/// 2.4: the local engine's speech parts: `iw_engine_config.synthesizer`,
/// `recognizer`, `whisper_model` (`IW_SYNTHESIZER_*`, `IW_RECOGNIZER_*`;
/// a 2.3 caller's smaller struct still works), `IW_E_UNSUPPORTED`.
pub const IW_ABI_VERSION: u32 = 0x0002_0004;
/// Major part of `IW_ABI_VERSION`.
pub const IW_ABI_VERSION_MAJOR: u32 = IW_ABI_VERSION >> 16;

/// Copies the message of the last failed call on this thread into `buf`
/// (NUL-terminated) and its length (without the NUL) into `*len`.
///
/// Successful calls do not change the message; calling `iw_last_error` does not either.
/// Returns `IW_E_NULL_POINTER` if `len` is NULL (or `buf` is NULL with `cap > 0`),
/// `IW_E_BUFFER_TOO_SMALL` if `cap < *len + 1`: then only `*len` is written (the
/// one exception to "out-parameters are written only on success"), so call once
/// with `cap` 0 to learn the size. Thread-safe; works after `iw_shutdown()`.
#[no_mangle]
pub unsafe extern "C" fn iw_last_error(buf: *mut c_char, cap: usize, len: *mut usize) -> iw_result {
    ffi_boundary! { on_panic: IW_E_PANIC;
        // Not `?`: a failure here must not replace the message being read.
        match with_last_error(|message| write_c_string(message, buf, cap, len)) {
            Ok(()) => IW_OK,
            Err(e) => e.code,
        }
    }
}

/// Library version as `major << 16 | minor << 8 | patch`. Never fails.
#[no_mangle]
pub extern "C" fn iw_version() -> u32 {
    ffi_boundary! { on_panic: 0;
        let v = |s: &str| s.parse::<u32>().unwrap_or(0);
        (v(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
            | (v(env!("CARGO_PKG_VERSION_MINOR")) << 8)
            | v(env!("CARGO_PKG_VERSION_PATCH"))
    }
}

/// The ABI version the library implements (`IW_ABI_VERSION` of its header). Never fails.
#[no_mangle]
pub extern "C" fn iw_abi_version() -> u32 {
    ffi_boundary! { on_panic: IW_ABI_VERSION;
        IW_ABI_VERSION
    }
}

/// Sets the number of worker threads of the library's private runtime (default 2).
///
/// Call it before the first `iw_session_open`, which starts the runtime (a
/// local engine runs on threads of its own). Errors: `IW_E_INVALID_ARGUMENT` for 0, `IW_E_ALREADY_STARTED`
/// once the runtime runs, `IW_E_SHUTDOWN` after `iw_shutdown()`. Thread-safe.
#[no_mangle]
pub extern "C" fn iw_runtime_set_worker_threads(threads: u32) -> iw_result {
    ffi_boundary! {
        check_alive()?;
        if threads == 0 {
            return Err(FfiError::new(
                IW_E_INVALID_ARGUMENT,
                "threads must be at least 1",
            ));
        }
        Ok(runtime::set_worker_threads(threads as usize)?)
    }
}

/// Shuts the library down: closes every session (their callbacks stop and their
/// `userdata_free` run), stops every local engine, frees every handle, removes the
/// log callback, then stops and joins the runtime's threads.
///
/// Afterwards every call fails with `IW_E_SHUTDOWN`, except those that touch no
/// library state (`iw_last_error`, `iw_result_name`, `iw_version`,
/// `iw_abi_version`, the `*_init` functions, `iw_emotion_*_name`), and the library cannot be
/// restarted in this process. Calling it again returns `IW_OK`.
/// Must not be called from a library thread (a session or log callback): that
/// returns `IW_E_BUSY`. Call it from the thread that owns the game loop, after
/// your last use of the library.
#[no_mangle]
pub extern "C" fn iw_shutdown() -> iw_result {
    ffi_boundary! {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(FfiError::new(
                IW_E_BUSY,
                "iw_shutdown() called from a library thread (inside a callback); \
                 call it from your own thread",
            ));
        }
        if SHUT_DOWN.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut held = HELD.lock().clone();
        held.sort_by_key(|(what, _)| *what as usize);
        for (_, by) in held {
            by.release_all();
        }
        runtime::shutdown();
        Ok(())
    }
}

static SHUT_DOWN: AtomicBool = AtomicBool::new(false);

/// Fails with `IW_E_SHUTDOWN` once `iw_shutdown()` ran.
pub(crate) fn check_alive() -> FfiResult {
    if SHUT_DOWN.load(Ordering::Acquire) {
        Err(FfiError::new(
            IW_E_SHUTDOWN,
            "the library was shut down by iw_shutdown(); no more calls are accepted",
        ))
    } else {
        Ok(())
    }
}

/// What the library holds for the game, in the order `iw_shutdown` releases
/// it: audio inputs, sessions (their callbacks stop), then what they were opened from,
/// then the log callback (so that the teardown is still logged).
#[derive(Clone, Copy)]
pub(crate) enum Held {
    AudioInputs,
    EchoReferences,
    Playbacks,
    Sessions,
    #[cfg(feature = "engine")]
    Engines,
    Clients,
    LogCallback,
}

/// Something `iw_shutdown` releases.
pub(crate) trait Release: Sync {
    fn release_all(&self);
}

/// Filled in by the files that hold things, when they first hold one. They
/// all call `check_alive`, so this file cannot name them without the two
/// importing each other.
static HELD: Mutex<Vec<(Held, &'static dyn Release)>> = Mutex::new(Vec::new());

/// Makes `iw_shutdown` release `what` with `by`. Call it once per holder.
pub(crate) fn release_at_shutdown(what: Held, by: &'static dyn Release) {
    HELD.lock().push((what, by));
}

/// Checks the caller's ABI version against the library's.
pub(crate) fn check_abi(abi_version: u32) -> FfiResult {
    if abi_version >> 16 != IW_ABI_VERSION_MAJOR {
        return Err(FfiError::new(
            IW_E_ABI_VERSION,
            format!(
                "the caller was built for ABI {}.{} but this library implements ABI {}.{}; \
                 rebuild against this library's inworld.h",
                abi_version >> 16,
                abi_version & 0xffff,
                IW_ABI_VERSION_MAJOR,
                IW_ABI_VERSION & 0xffff
            ),
        ));
    }
    Ok(())
}

/// The library runtime, started if needed with SIGPIPE blocked in its threads.
///
/// A C host keeps SIGPIPE's default action (terminate), unlike Rust programs,
/// and vectored writes to a socket the peer closed (`writev`, used by the
/// transport) raise it. Threads inherit the creating thread's signal mask, so
/// the runtime's threads are created with SIGPIPE blocked: such a write then
/// just fails with EPIPE. The host's own threads and handlers are untouched.
pub(crate) fn start_runtime() -> FfiResult<tokio::runtime::Handle> {
    Ok(without_sigpipe(runtime::handle)?)
}

/// Runs `start` (which may create threads) with SIGPIPE blocked in the
/// calling thread, so the threads it creates inherit the block; the
/// caller's mask is restored afterwards. See [`start_runtime`].
pub(crate) fn without_sigpipe<T>(start: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        let started = start();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        started
    }
    #[cfg(not(unix))]
    start()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_error_is_read_without_being_replaced() {
        let code = ffi_boundary! { Err(FfiError::new(IW_E_CLOSED, "the session is closed")) };
        assert_eq!(code, IW_E_CLOSED);
        let mut buf = [0 as c_char; 64];
        let mut len = 0usize;
        // Too small: only the length is written, and the message stays.
        assert_eq!(
            unsafe { iw_last_error(buf.as_mut_ptr(), 4, &mut len) },
            IW_E_BUFFER_TOO_SMALL
        );
        assert_eq!(len, "the session is closed".len());
        assert_eq!(
            unsafe { iw_last_error(buf.as_mut_ptr(), 64, &mut len) },
            IW_OK
        );
        let message = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(message.to_str().unwrap(), "the session is closed");
    }
}
