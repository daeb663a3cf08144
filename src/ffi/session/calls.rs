//! Calls the session makes to the service for the game, answered by an
//! `IW_PACKET_CALL_RESULT` with the request id they return: likes, dislikes
//! and their undo, the saved state. And the dialog so far, read here.

use std::ffi::{c_char, CString};

use super::entry::{iw_session, DialogLine, SESSIONS};
use crate::client::{DislikeType, Talker};
use crate::ffi::args::{optional_string_arg, out_arg, slice_arg, str_arg};
use crate::ffi::client::{iw_dialog_line, IW_TALKER_CHARACTER, IW_TALKER_PLAYER};
use crate::ffi::error::*;

/// `iw_session_dislike` reason: the reply was beside the point.
pub const IW_DISLIKE_IRRELEVANT: u32 = 1;
/// `iw_session_dislike` reason: unsafe.
pub const IW_DISLIKE_UNSAFE: u32 = 2;
/// `iw_session_dislike` reason: untrue.
pub const IW_DISLIKE_UNTRUE: u32 = 3;
/// `iw_session_dislike` reason: knowledge used wrongly.
pub const IW_DISLIKE_INCORRECT_USE_OF_KNOWLEDGE: u32 = 4;
/// `iw_session_dislike` reason: an unexpected action.
pub const IW_DISLIKE_UNEXPECTED_ACTION: u32 = 5;
/// `iw_session_dislike` reason: unexpected goal behavior.
pub const IW_DISLIKE_UNEXPECTED_GOAL_BEHAVIOR: u32 = 6;
/// `iw_session_dislike` reason: it repeats itself.
pub const IW_DISLIKE_REPETITION: u32 = 7;
/// `iw_session_dislike` reason: out of character.
pub const IW_DISLIKE_OUT_OF_CHARACTER: u32 = 8;
/// `iw_session_dislike` reason: too long.
pub const IW_DISLIKE_TOO_LONG: u32 = 9;

const _: () = {
    assert!(IW_DISLIKE_IRRELEVANT == DislikeType::Irrelevant as u32);
    assert!(IW_DISLIKE_UNSAFE == DislikeType::Unsafe as u32);
    assert!(IW_DISLIKE_UNTRUE == DislikeType::Untrue as u32);
    assert!(IW_DISLIKE_INCORRECT_USE_OF_KNOWLEDGE == DislikeType::IncorrectUseOfKnowledge as u32);
    assert!(IW_DISLIKE_UNEXPECTED_ACTION == DislikeType::UnexpectedAction as u32);
    assert!(IW_DISLIKE_UNEXPECTED_GOAL_BEHAVIOR == DislikeType::UnexpectedGoalBehavior as u32);
    assert!(IW_DISLIKE_REPETITION == DislikeType::Repetition as u32);
    assert!(IW_DISLIKE_OUT_OF_CHARACTER == DislikeType::OutOfCharacter as u32);
    assert!(IW_DISLIKE_TOO_LONG == DislikeType::TooLong as u32);
};

/// Likes the reply to `interaction_id` (from the reply's packets, or the
/// `iw_sent_ids` of what it answered); `correlation_id` (NULL: "default")
/// names the group of replies. Writes the request id to `*request_id`: its
/// `IW_PACKET_CALL_RESULT` (`IW_CALL_LIKE`) carries it, with the feedback's
/// `name` for `iw_session_undo_feedback`, or the failure. Returns at once
/// (the call goes out once the session has a token). Works after
/// `iw_session_close` too, with the session's last token: the result then
/// comes after the final Closed packet, so keep polling for it. Unanswered
/// within 30 s, it fails with gRPC code 4 (deadline exceeded).
/// Errors: `IW_E_INVALID_ARGUMENT` (an empty id, or one with '/'),
/// `IW_E_INVALID_UTF8`, `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`,
/// `IW_E_CLOSED` (closed before it ever had a token), `IW_E_QUEUE_FULL`,
/// `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_like(
    session: *mut iw_session,
    interaction_id: *const c_char,
    correlation_id: *const c_char,
    request_id: *mut u64,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let interaction_id = str_arg(interaction_id, "interaction_id")?;
        let correlation_id = optional_string_arg(correlation_id, "correlation_id")?;
        let request_id = out_arg(request_id, "request_id")?;
        request_id.write(entry.session.like(interaction_id, correlation_id.as_deref())?);
        Ok(())
    }
}

/// Dislikes the reply to `interaction_id`, for `type_count` reasons
/// (`IW_DISLIKE_*`; `types` may be NULL when 0) and a `comment` (NULL: none).
/// Like `iw_session_like` otherwise (`IW_CALL_DISLIKE`); an unknown reason
/// gives `IW_E_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn iw_session_dislike(
    session: *mut iw_session,
    interaction_id: *const c_char,
    correlation_id: *const c_char,
    types: *const u32,
    type_count: usize,
    comment: *const c_char,
    request_id: *mut u64,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let interaction_id = str_arg(interaction_id, "interaction_id")?;
        let correlation_id = optional_string_arg(correlation_id, "correlation_id")?;
        let types = slice_arg(types, type_count, "types", "type_count")?
            .iter()
            .enumerate()
            .map(|(i, t)| {
                DislikeType::from_u32(*t).ok_or_else(|| {
                    FfiError::new(
                        IW_E_INVALID_ARGUMENT,
                        format!("types[{i}] is {t}; expected an IW_DISLIKE_* value"),
                    )
                })
            })
            .collect::<FfiResult<Vec<_>>>()?;
        let comment = optional_string_arg(comment, "comment")?.unwrap_or_default();
        let request_id = out_arg(request_id, "request_id")?;
        request_id.write(entry.session.dislike(
            interaction_id,
            correlation_id.as_deref(),
            &types,
            &comment,
        )?);
        Ok(())
    }
}

/// Undoes a like or dislike: `name` is the `name` of its
/// `IW_PACKET_CALL_RESULT` (`<parent>/feedbacks/<id>`). Its own result
/// (`IW_CALL_UNDO_FEEDBACK`) carries `*request_id`. Like `iw_session_like`
/// otherwise (`IW_E_INVALID_ARGUMENT` for a name that is not a feedback's).
#[no_mangle]
pub unsafe extern "C" fn iw_session_undo_feedback(
    session: *mut iw_session,
    name: *const c_char,
    request_id: *mut u64,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let name = str_arg(name, "name")?;
        let request_id = out_arg(request_id, "request_id")?;
        request_id.write(entry.session.undo_feedback(name)?);
        Ok(())
    }
}

/// Asks the service for the session's saved state. Its
/// `IW_PACKET_CALL_RESULT` (`IW_CALL_SESSION_STATE`, with `*request_id`)
/// lends the bytes (`data`, `data_len`; copy them): a later session takes
/// them as `iw_client_config.continuation_state` (or a scene change as
/// `iw_scene_change.continuation_state`) to pick up where this one is.
/// Works whenever the session has a token: between streams, and after
/// `iw_session_close` (the result then follows the final Closed packet).
/// Errors: `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_CLOSED` (closed
/// before it ever had a token), `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_request_state(
    session: *mut iw_session,
    request_id: *mut u64,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let request_id = out_arg(request_id, "request_id")?;
        request_id.write(entry.session.request_state()?);
        Ok(())
    }
}

/// Takes a snapshot of the dialog so far, as the library saw it (the
/// player's texts and narrated actions, the characters' final lines; the
/// last 64 lines, oldest first), and writes how many lines it has to
/// `*count`; read them with `iw_session_dialog_line_at`. The snapshot (and
/// the strings it lends) stays valid until the next
/// `iw_session_dialog_count` on this session or its free: an array of its
/// lines can go as `iw_client_config.dialog_history` (or
/// `iw_scene_change.dialog_history`) to continue the dialog elsewhere.
/// Errors: `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`.
/// Thread-safe; works after the session closed.
#[no_mangle]
pub unsafe extern "C" fn iw_session_dialog_count(
    session: *const iw_session,
    count: *mut usize,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let count = out_arg(count, "count")?;
        let lines: Vec<DialogLine> = entry
            .session
            .dialog()
            .into_iter()
            .map(|(talker, text)| DialogLine {
                talker: match talker {
                    Talker::Player => IW_TALKER_PLAYER,
                    Talker::Character => IW_TALKER_CHARACTER,
                },
                text: c_text(text),
            })
            .collect();
        let mut dialog = entry.dialog.lock();
        count.write(lines.len());
        *dialog = lines;
        Ok(())
    }
}

/// Text as a C string: up to its first NUL, if it has one.
fn c_text(text: String) -> CString {
    CString::new(text).unwrap_or_else(|e| {
        let at = e.nul_position();
        let mut bytes = e.into_vec();
        bytes.truncate(at);
        CString::new(bytes).unwrap_or_default()
    })
}

/// Writes line `index` of the last `iw_session_dialog_count` snapshot to
/// `*out` (its text lent from the snapshot). Errors: `IW_E_INVALID_ARGUMENT`
/// (index out of range), `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`,
/// `IW_E_SHUTDOWN`.
#[no_mangle]
pub unsafe extern "C" fn iw_session_dialog_line_at(
    session: *const iw_session,
    index: usize,
    out: *mut iw_dialog_line,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let out = out_arg(out, "out")?;
        let dialog = entry.dialog.lock();
        let line = dialog.get(index).ok_or_else(|| {
            FfiError::new(
                IW_E_INVALID_ARGUMENT,
                format!(
                    "index {index} is out of range: the snapshot has {} lines \
                     (take one with iw_session_dialog_count)",
                    dialog.len()
                ),
            )
        })?;
        out.write(iw_dialog_line {
            talker: line.talker,
            text: line.text.as_ptr(),
        });
        Ok(())
    }
}
