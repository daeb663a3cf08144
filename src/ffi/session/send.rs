//! Sending from the player: text, triggers, narrated actions, and the
//! controls of the characters' speech (mute, cancel). Each send enqueues and
//! returns, and can tell the game the ids of what it sent.

use std::ffi::c_char;

use super::entry::{iw_session, SESSIONS};
use crate::client::SentIds;
use crate::ffi::args::{
    flag_arg, iw_key_value, key_values_arg, out_arg, sized_struct_arg, str_arg, str_array_arg,
};
use crate::ffi::error::*;

/// Ids of a packet the game sent, as NUL-terminated strings (UUIDs are 36
/// characters), so the game can match the reply's `IW_CONTROL_INTERACTION_END`
/// by `interaction_id`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_sent_ids {
    /// Set by `iw_sent_ids_init`.
    pub struct_size: u32,
    pub packet_id: [c_char; 37],
    pub utterance_id: [c_char; 37],
    pub interaction_id: [c_char; 37],
    pub correlation_id: [c_char; 37],
    pub conversation_id: [c_char; 37],
}

/// Fills `ids` with its defaults (`struct_size` and empty strings).
/// Errors: `IW_E_NULL_POINTER`.
#[no_mangle]
pub unsafe extern "C" fn iw_sent_ids_init(ids: *mut iw_sent_ids) -> iw_result {
    ffi_boundary! {
        out_arg(ids, "ids")?.write(iw_sent_ids {
            struct_size: std::mem::size_of::<iw_sent_ids>() as u32,
            packet_id: [0; 37],
            utterance_id: [0; 37],
            interaction_id: [0; 37],
            correlation_id: [0; 37],
            conversation_id: [0; 37],
        });
        Ok(())
    }
}

/// Sends typed text from the player to the current character. Enqueues and
/// returns (never waits on the network); sends made while the session is not
/// ready (connecting, reconnecting) go out once it is, up to
/// `iw_client_config.max_pending_sends` of them (beyond, `IW_E_QUEUE_FULL`). A
/// send that never goes out, or goes out on a stream that breaks before its
/// reply ends, is reported by an `IW_PACKET_SEND_FAILED` with these ids. If `ids` is not NULL (initialise it with
/// `iw_sent_ids_init`), the sent packet's ids are written there: the reply
/// carries the same `interaction_id` and ends with `IW_CONTROL_INTERACTION_END`.
/// Errors: `IW_E_INVALID_ARGUMENT` (e.g. empty text), `IW_E_INVALID_UTF8`,
/// `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`, `IW_E_QUEUE_FULL`,
/// `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_send_text(
    session: *mut iw_session,
    text: *const c_char,
    ids: *mut iw_sent_ids,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let text = str_arg(text, "text")?;
        let ids = sent_ids_arg(ids)?;
        write_ids(ids, entry.session.send_text(text)?);
        Ok(())
    }
}

/// Sends trigger `name` with `parameter_count` parameters (`key` = parameter
/// name) to the current character; like `iw_session_send_text` otherwise.
/// `parameters` may be NULL when `parameter_count` is 0.
#[no_mangle]
pub unsafe extern "C" fn iw_session_send_trigger(
    session: *mut iw_session,
    name: *const c_char,
    parameters: *const iw_key_value,
    parameter_count: usize,
    ids: *mut iw_sent_ids,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let name = str_arg(name, "name")?;
        let parameters = key_values_arg(parameters, parameter_count, "parameters", "parameter_count")?;
        let ids = sent_ids_arg(ids)?;
        write_ids(ids, entry.session.send_trigger(name, &parameters)?);
        Ok(())
    }
}

/// Sends a narrated action (e.g. "waves at Marta") from the player; like
/// `iw_session_send_text` otherwise.
#[no_mangle]
pub unsafe extern "C" fn iw_session_send_narrated_action(
    session: *mut iw_session,
    text: *const c_char,
    ids: *mut iw_sent_ids,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let text = str_arg(text, "text")?;
        let ids = sent_ids_arg(ids)?;
        write_ids(ids, entry.session.send_narrated_action(text)?);
        Ok(())
    }
}

/// Mutes (`muted` 1) or unmutes (0) the characters' speech in the
/// one-to-one conversation: while muted, the service leaves audio out of
/// replies (text, emotions and the rest still come). `ids` (may be NULL)
/// gets the control packet's ids. Errors: `IW_E_INVALID_ARGUMENT` (`muted`
/// not 0 or 1), `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`,
/// `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_mute_speech(
    session: *mut iw_session,
    muted: u32,
    ids: *mut iw_sent_ids,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let muted = flag_arg(muted, "muted")?;
        let ids = sent_ids_arg(ids)?;
        write_ids(ids, entry.session.mute_speech(muted)?);
        Ok(())
    }
}

/// Asks the current character to stop its reply to `interaction_id` (only
/// the `count` utterances of `utterance_ids` when `count` > 0; NULL when 0):
/// the rest of it does not come, and its `IW_CONTROL_INTERACTION_END` still
/// ends it. Its speech queued in `iw_playback` streams is dropped: they go
/// silent at their next read. Errors: `IW_E_NOT_READY` (no character yet),
/// `IW_E_INVALID_ARGUMENT` (an empty interaction id), `IW_E_INVALID_UTF8`,
/// `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`,
/// `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_cancel_responses(
    session: *mut iw_session,
    interaction_id: *const c_char,
    utterance_ids: *const *const c_char,
    count: usize,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let interaction_id = str_arg(interaction_id, "interaction_id")?;
        let utterance_ids = if count == 0 {
            Vec::new()
        } else {
            str_array_arg(utterance_ids, count, "utterance_ids", "count")?
        };
        Ok(entry.session.cancel_responses(interaction_id, &utterance_ids)?)
    }
}

/// Checks the optional `iw_sent_ids` out-parameter before sending.
pub(crate) unsafe fn sent_ids_arg<'a>(
    ids: *mut iw_sent_ids,
) -> FfiResult<Option<&'a mut iw_sent_ids>> {
    if ids.is_null() {
        return Ok(None);
    }
    sized_struct_arg(ids as *const iw_sent_ids, "ids", "iw_sent_ids_init")?;
    Ok(Some(&mut *ids))
}

pub(crate) fn write_ids(out: Option<&mut iw_sent_ids>, ids: SentIds) {
    let Some(out) = out else { return };
    copy_id(&mut out.packet_id, &ids.packet_id);
    copy_id(&mut out.utterance_id, &ids.utterance_id);
    copy_id(&mut out.interaction_id, &ids.interaction_id);
    copy_id(&mut out.correlation_id, &ids.correlation_id);
    copy_id(&mut out.conversation_id, &ids.conversation_id);
}

fn copy_id(dst: &mut [c_char; 37], id: &str) {
    let n = id.len().min(36);
    for (d, s) in dst.iter_mut().zip(id.as_bytes()[..n].iter()) {
        *d = *s as c_char;
    }
    dst[n] = 0;
}
