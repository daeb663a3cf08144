//! Conversations of several characters, named in C by their id (a
//! 36-character UUID): started, sent to, handed to the next character,
//! changed and ended. The session entry keeps each one by id until it ends.

use std::ffi::c_char;

use super::entry::{iw_session, SessionEntry, SESSIONS};
use super::send::{iw_sent_ids, sent_ids_arg, write_ids};
use crate::client::Conversation;
use crate::ffi::args::{
    flag_arg, iw_key_value, key_values_arg, optional_string_arg, out_arg, str_arg, str_array_arg,
    write_c_string,
};
use crate::ffi::error::*;

/// Bytes a conversation id takes with its NUL (a UUID: 36 characters).
pub const IW_CONVERSATION_ID_SIZE: usize = 37;

/// The conversation `id` names in this session.
///
/// # Safety
/// `id` is NULL or a NUL-terminated string.
pub(crate) unsafe fn conversation_arg(
    entry: &SessionEntry,
    id: *const c_char,
) -> FfiResult<Conversation> {
    let id = str_arg(id, "conversation_id")?;
    let found = entry.conversations.lock().get(id).cloned();
    found.ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> FfiError {
    FfiError::new(
        IW_E_NOT_FOUND,
        format!(
            "no conversation {id:?} in this session (not started by \
             iw_session_start_conversation, or ended)"
        ),
    )
}

/// Starts a conversation between `count` characters (agent id, resource name
/// or display name of a character in the scene, or the resource name of one
/// of the workspace to add) and, if `with_player` is 1, the player; copies
/// its id (NUL-terminated) into `id` and its length into `*len`.
///
/// Returns at once: characters not in the scene are added and the service
/// asked to start it when its first packet goes out. Its replies carry its
/// id as `ids.conversation_id` and the answering character as `source`;
/// send to it with the `*_in` functions and `iw_session_next_turn`. The
/// session keeps it until `iw_session_end_conversation` or the session's
/// free. One-to-one sends (`iw_session_send_text`) stay in the session's
/// own conversation.
/// `id` needs `IW_CONVERSATION_ID_SIZE` bytes: with a smaller `cap` the call
/// fails with `IW_E_BUFFER_TOO_SMALL`, writes only `*len`, and starts nothing.
/// Errors: `IW_E_NOT_FOUND` (a name that is not a character of the scene nor
/// a resource name), `IW_E_INVALID_ARGUMENT` (no characters, `with_player`
/// not 0 or 1, a resource name of another workspace), `IW_E_BUFFER_TOO_SMALL`,
/// `IW_E_INVALID_UTF8`, `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`,
/// `IW_E_CLOSED`, `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_start_conversation(
    session: *mut iw_session,
    characters: *const *const c_char,
    count: usize,
    with_player: u32,
    id: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let names = str_array_arg(characters, count, "characters", "count")?;
        let with_player = flag_arg(with_player, "with_player")?;
        let len_out = out_arg(len, "len")?;
        if id.is_null() {
            return Err(FfiError::new(IW_E_NULL_POINTER, "id is NULL"));
        }
        if cap < IW_CONVERSATION_ID_SIZE {
            len_out.write(IW_CONVERSATION_ID_SIZE - 1);
            return Err(FfiError::new(
                IW_E_BUFFER_TOO_SMALL,
                format!(
                    "buffer of {cap} bytes is too small: a conversation id needs \
                     IW_CONVERSATION_ID_SIZE ({IW_CONVERSATION_ID_SIZE}) bytes"
                ),
            ));
        }
        let conversation = entry.session.start_conversation(&names, with_player)?;
        write_c_string(conversation.id(), id, cap, len)?;
        entry
            .conversations
            .lock()
            .insert(conversation.id().to_string(), conversation);
        Ok(())
    }
}

/// Sends typed text from the player to conversation `conversation_id`; the
/// service picks the character who answers (the scene's turn-taking). Like
/// `iw_session_send_text` otherwise (`ids`, queueing, errors), plus
/// `IW_E_NOT_FOUND` for an id this session does not have.
#[no_mangle]
pub unsafe extern "C" fn iw_session_send_text_in(
    session: *mut iw_session,
    conversation_id: *const c_char,
    text: *const c_char,
    ids: *mut iw_sent_ids,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let conversation = conversation_arg(&entry, conversation_id)?;
        let text = str_arg(text, "text")?;
        let ids = sent_ids_arg(ids)?;
        write_ids(ids, conversation.send_text(text)?);
        Ok(())
    }
}

/// Sends trigger `name` with parameters to conversation `conversation_id`:
/// to `character` (agent id, resource name or display name; NULL lets the
/// service pick who answers). Like `iw_session_send_trigger` otherwise, plus
/// `IW_E_NOT_FOUND` (unknown conversation id, or a `character` that is not
/// in the scene).
#[no_mangle]
pub unsafe extern "C" fn iw_session_send_trigger_in(
    session: *mut iw_session,
    conversation_id: *const c_char,
    name: *const c_char,
    parameters: *const iw_key_value,
    parameter_count: usize,
    character: *const c_char,
    ids: *mut iw_sent_ids,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let conversation = conversation_arg(&entry, conversation_id)?;
        let name = str_arg(name, "name")?;
        let parameters = key_values_arg(parameters, parameter_count, "parameters", "parameter_count")?;
        let character = optional_string_arg(character, "character")?;
        let ids = sent_ids_arg(ids)?;
        write_ids(
            ids,
            conversation.send_trigger(name, &parameters, character.as_deref())?,
        );
        Ok(())
    }
}

/// Lets the next character of conversation `conversation_id` speak
/// (characters talking among themselves): the next-turn trigger
/// (`inworld.conversation.next_turn`), answered by the character whose turn
/// it is. Like `iw_session_send_text_in` otherwise.
#[no_mangle]
pub unsafe extern "C" fn iw_session_next_turn(
    session: *mut iw_session,
    conversation_id: *const c_char,
    ids: *mut iw_sent_ids,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let conversation = conversation_arg(&entry, conversation_id)?;
        let ids = sent_ids_arg(ids)?;
        write_ids(ids, conversation.next_turn()?);
        Ok(())
    }
}

/// Sends a narrated action from the player to conversation
/// `conversation_id`, which must have exactly one character (else
/// `IW_E_INVALID_ARGUMENT`: nobody would know who reacts). Like
/// `iw_session_send_text_in` otherwise.
#[no_mangle]
pub unsafe extern "C" fn iw_session_send_narrated_action_in(
    session: *mut iw_session,
    conversation_id: *const c_char,
    text: *const c_char,
    ids: *mut iw_sent_ids,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let conversation = conversation_arg(&entry, conversation_id)?;
        let text = str_arg(text, "text")?;
        let ids = sent_ids_arg(ids)?;
        write_ids(ids, conversation.send_narrated_action(text)?);
        Ok(())
    }
}

/// Changes who takes part in conversation `conversation_id` (characters as for
/// `iw_session_start_conversation`; `with_player` 0 or 1). Same id; the
/// service is told at once if the conversation has started.
/// Errors: `IW_E_NOT_FOUND` (unknown id or character), `IW_E_INVALID_ARGUMENT`,
/// `IW_E_INVALID_UTF8`, `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`,
/// `IW_E_CLOSED`, `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_update_conversation(
    session: *mut iw_session,
    conversation_id: *const c_char,
    characters: *const *const c_char,
    count: usize,
    with_player: u32,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let id = str_arg(conversation_id, "conversation_id")?;
        let names = str_array_arg(characters, count, "characters", "count")?;
        let with_player = flag_arg(with_player, "with_player")?;
        let mut conversations = entry.conversations.lock();
        let conversation = conversations.get_mut(id).ok_or_else(|| not_found(id))?;
        Ok(conversation.update_participants(&names, with_player)?)
    }
}

/// Ends conversation `conversation_id` here: nothing more is sent in it, its
/// sends still waiting are reported as `IW_PACKET_SEND_FAILED`
/// (`IW_SEND_NOT_SENT`), and the id is forgotten (`IW_E_NOT_FOUND` from then
/// on). The service has no message for it; it drops old conversations itself.
/// Errors: `IW_E_NOT_FOUND`, `IW_E_INVALID_UTF8`, `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_CLOSED` (the id is kept), `IW_E_QUEUE_FULL`,
/// `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_end_conversation(
    session: *mut iw_session,
    conversation_id: *const c_char,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let id = str_arg(conversation_id, "conversation_id")?;
        let mut conversations = entry.conversations.lock();
        let conversation = conversations.get(id).cloned().ok_or_else(|| not_found(id))?;
        conversation.end()?;
        conversations.remove(id);
        Ok(())
    }
}
