//! The scene's characters: snapshots the C side reads strings from, the
//! character that sends go to, and characters added and removed.

use std::ffi::c_char;

use super::entry::{iw_session, SESSIONS};
use crate::ffi::args::{out_arg, str_arg, str_array_arg};
use crate::ffi::error::*;
use crate::ffi::packet::{character_of, iw_character};
use crate::packet::ConnectionState;

/// Takes a snapshot of the scene's characters and writes how many there are to
/// `*count`; read them with `iw_session_character_at`. The snapshot (and the
/// strings `iw_session_character_at` lends from it) stays valid until the next
/// `iw_session_character_count` on this session or its free.
/// Errors: `IW_E_NOT_READY` (scene not loaded yet), `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_character_count(
    session: *const iw_session,
    count: *mut usize,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let count = out_arg(count, "count")?;
        let list = entry.session.characters();
        if list.is_empty() && entry.session.state() != ConnectionState::Ready {
            return Err(FfiError::new(
                IW_E_NOT_READY,
                "the scene is not loaded yet: wait for IW_STATE_READY",
            ));
        }
        let mut characters = entry.characters.lock();
        count.write(list.len());
        characters.list = list;
        Ok(())
    }
}

/// Writes character `index` of the last `iw_session_character_count` snapshot to
/// `*out` (strings lent from the snapshot). Errors: `IW_E_INVALID_ARGUMENT`
/// (index out of range), `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`.
#[no_mangle]
pub unsafe extern "C" fn iw_session_character_at(
    session: *const iw_session,
    index: usize,
    out: *mut iw_character,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let out = out_arg(out, "out")?;
        let characters = entry.characters.lock();
        let character = characters.list.get(index).ok_or_else(|| {
            FfiError::new(
                IW_E_INVALID_ARGUMENT,
                format!(
                    "index {index} is out of range: the snapshot has {} characters \
                     (take one with iw_session_character_count)",
                    characters.list.len()
                ),
            )
        })?;
        out.write(character_of(character));
        Ok(())
    }
}

/// Writes the character that sends go to to `*out`. Its strings stay valid until
/// the next call of this function on this session or its free.
/// Errors: `IW_E_NOT_READY` (no scene yet), `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`.
#[no_mangle]
pub unsafe extern "C" fn iw_session_current_character(
    session: *const iw_session,
    out: *mut iw_character,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let out = out_arg(out, "out")?;
        let current = entry.session.current_character().ok_or_else(|| {
            FfiError::new(
                IW_E_NOT_READY,
                "no current character: the scene is not loaded yet",
            )
        })?;
        let mut characters = entry.characters.lock();
        out.write(character_of(characters.current.insert(current)));
        Ok(())
    }
}

/// Makes `who` (agent id, resource name or display name) the character that
/// sends go to. Errors: `IW_E_NOT_FOUND` (no such character in the scene),
/// `IW_E_INVALID_ARGUMENT` (empty name), `IW_E_NOT_READY`, `IW_E_INVALID_UTF8`,
/// `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`, `IW_E_SHUTDOWN`.
/// Thread-safe, never blocks.
#[no_mangle]
pub unsafe extern "C" fn iw_session_set_character(
    session: *mut iw_session,
    who: *const c_char,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let who = str_arg(who, "who")?;
        Ok(entry.session.set_current_character(who)?)
    }
}

/// Adds `count` characters (resource names of the session's workspace,
/// `workspaces/<ws>/characters/<id>`) to the scene. Returns at once; the new
/// character list arrives as an `IW_PACKET_SCENE_STATUS` (then
/// `iw_session_character_count` sees it). A character the service does not
/// know is left out of it, with a warning. Queued like a send while the
/// session cannot send. Errors: `IW_E_INVALID_ARGUMENT` (no names, a name
/// that is not a character resource name of the session's workspace),
/// `IW_E_INVALID_UTF8`, `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`,
/// `IW_E_CLOSED`, `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_add_characters(
    session: *mut iw_session,
    names: *const *const c_char,
    count: usize,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let names = str_array_arg(names, count, "names", "count")?;
        Ok(entry.session.add_characters(&names)?)
    }
}

/// Removes `count` characters (agent id, resource name or display name) from
/// the scene: they leave the character list at once (the next
/// `iw_session_character_count` snapshot) and every conversation; if the
/// current character leaves, the first remaining one takes its place.
/// Errors: `IW_E_NOT_FOUND` (a name not in the scene: nothing is removed),
/// `IW_E_NOT_READY` (no scene yet), `IW_E_INVALID_ARGUMENT` (no names),
/// `IW_E_INVALID_UTF8`, `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`,
/// `IW_E_CLOSED`, `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_remove_characters(
    session: *mut iw_session,
    names: *const *const c_char,
    count: usize,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let names = str_array_arg(names, count, "names", "count")?;
        Ok(entry.session.remove_characters(&names)?)
    }
}
