//! `iw_session`: a core [`Session`](crate::client::Session) behind a generation-checked handle.
//! Opening, closing, freeing and state here; then the scene's characters,
//! scene changes and items, sending, group conversations, calls (feedback,
//! saved state) and the dialog, and receiving (poll, dispatch, callbacks),
//! in that order.

use std::ffi::c_char;

use crate::ffi::args::{out_arg, write_c_string};
use crate::ffi::client::{iw_client, open_session, CLIENTS};
use crate::ffi::error::*;
use crate::ffi::library::start_runtime;

// In the order of the header (one comment each keeps rustfmt from sorting them).
// The scene's characters, added and removed.
mod characters;
// Scene changes and entity items.
mod scene;
// Sending.
mod send;
// Conversations of several characters.
mod conversations;
// Feedback, the saved state, the dialog so far.
mod calls;
// Receiving: poll, dispatch, callbacks.
mod receive;
// What the handle holds (no C functions).
mod entry;

pub use calls::*;
pub use characters::*;
pub use conversations::*;
pub use entry::*;
pub use receive::*;
pub use scene::*;
pub use send::*;

/// Opens a session with the client's configuration and writes its handle to `*out`.
///
/// Never waits on the network: connecting (token, stream, scene) happens on the
/// library's runtime, reported by packets (`IW_PACKET_CONNECTION` with
/// `IW_STATE_READY` once the scene is loaded, `IW_PACKET_SCENE_STATUS`, or
/// `IW_PACKET_ERROR`). Starts the runtime if needed. Errors: `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_RUNTIME`, `IW_E_SHUTDOWN`. Release with
/// `iw_session_free`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_open(
    client: *const iw_client,
    out: *mut *mut iw_session,
) -> iw_result {
    ffi_boundary! {
        let client = CLIENTS.get(client)?;
        let out = out_arg(out, "out")?;
        start_runtime()?;
        let session = open_session(&client)?;
        match SESSIONS.insert(SessionEntry::new(session.clone())) {
            Ok(handle) => out.write(handle),
            Err(e) => {
                session.close();
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Closes the session: the stream ends, and once this returns its state is
/// `IW_STATE_CLOSED` and no callback or wake-up of the session runs (called from
/// inside its own callback: none runs after that callback returns). Packets
/// already queued stay pollable, followed by an `IW_PACKET_SEND_FAILED`
/// (`IW_SEND_NOT_SENT`) for each send that had not gone out yet, and last an
/// `IW_PACKET_CONNECTION` with `IW_STATE_CLOSED`.
/// Idempotent. The handle stays valid until `iw_session_free`.
/// Errors: `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub extern "C" fn iw_session_close(session: *mut iw_session) -> iw_result {
    ffi_boundary! {
        SESSIONS.get(session)?.session.close();
        Ok(())
    }
}

/// Closes (as `iw_session_close`) and frees the session; the handle becomes
/// stale. Registered callbacks' `userdata_free` run (at once, or when the
/// callback that called this returns). Packets lent by the last poll stay valid
/// only if a dispatch of this session is still running up the stack (until it
/// returns); otherwise they are released here.
/// NULL is a no-op (`IW_OK`); a stale or foreign handle (double free) gives
/// `IW_E_INVALID_HANDLE`. May be called from inside the session's own callbacks.
/// Thread-safe, but do not free a session while another thread polls it.
#[no_mangle]
pub extern "C" fn iw_session_free(session: *mut iw_session) -> iw_result {
    ffi_boundary! {
        SESSIONS.free(session)
    }
}

/// Writes the session's state (`IW_STATE_*`) to `*state`.
/// Errors: `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`. Thread-safe, never blocks.
#[no_mangle]
pub unsafe extern "C" fn iw_session_state(
    session: *const iw_session,
    state: *mut u32,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let state = out_arg(state, "state")?;
        // IW_STATE_* are the model's numbers (checked in packet/types.rs).
        state.write(entry.session.state() as u32);
        Ok(())
    }
}

/// Copies the session id given by the service (NUL-terminated) into `buf`, its
/// length into `*len`. Errors: `IW_E_NOT_READY` (no id yet), `IW_E_BUFFER_TOO_SMALL`
/// (`*len` then holds the length needed), `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`,
/// `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_id(
    session: *const iw_session,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let id = entry.session.session_id().ok_or_else(|| {
            FfiError::new(
                IW_E_NOT_READY,
                "the session has no id yet (still connecting)",
            )
        })?;
        write_c_string(&id, buf, cap, len)
    }
}

/// Registers a Rust session as an `iw_session` handle (for benchmarks and tests
/// of the C API with `Session::offline`). Free it with `iw_session_free`.
#[cfg(feature = "test-hooks")]
pub fn register_session(session: crate::client::Session) -> *mut iw_session {
    SESSIONS
        .insert(SessionEntry::new(session))
        .expect("a free session slot")
}
