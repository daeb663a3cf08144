//! `iw_session`: a [`Session`] behind a generation-checked handle, with what
//! the C side borrows from it (lent packets, character snapshots).

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::client::{iw_client, CLIENTS};
use super::error::*;
use super::handles::HandleTable;
use super::lend::{character_of, Scratch};
use super::receive::{PacketRegistration, RegCell, WakeupRegistration};
use super::runtime::{check_alive, from_client, start_runtime};
use super::strings::borrowed;
use super::types::*;
use crate::client::{SentIds, Session, SessionState};
use crate::packet::{Character, Packet};

/// Opaque handle to a session (see `iw_session_open`).
pub struct iw_session {
    _opaque: [u8; 0],
}

/// Packets lent to C by the last poll/dispatch, with the arrays they point into.
#[derive(Default)]
pub(crate) struct Lent {
    pub packets: Vec<Packet>,
    pub scratch: Scratch,
}

#[derive(Default)]
struct Characters {
    list: Vec<Character>,
    current: Option<Character>,
}

pub(crate) struct SessionEntry {
    pub session: Session,
    /// Set while a poll or dispatch runs: guards `lent`.
    busy: AtomicBool,
    /// Set by `iw_session_free`: a running dispatch stops.
    pub freed: AtomicBool,
    lent: UnsafeCell<Lent>,
    characters: Mutex<Characters>,
    /// The registrations behind the session's handler and wake-up.
    pub handler: Mutex<Option<Arc<RegCell<PacketRegistration>>>>,
    pub wakeup: Mutex<Option<Arc<RegCell<WakeupRegistration>>>>,
}

// `lent` is only touched by the holder of `busy`.
unsafe impl Sync for SessionEntry {}

impl SessionEntry {
    pub fn new(session: Session) -> Self {
        SessionEntry {
            session,
            busy: AtomicBool::new(false),
            freed: AtomicBool::new(false),
            lent: UnsafeCell::new(Lent::default()),
            characters: Mutex::new(Characters::default()),
            handler: Mutex::new(None),
            wakeup: Mutex::new(None),
        }
    }

    /// Exclusive access to the lent packets, or `IW_E_BUSY` if a poll or
    /// dispatch of this session is running (on another thread, or up the stack).
    pub fn lock_lent(&self) -> FfiResult<LentGuard<'_>> {
        if self
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(FfiError::new(
                IW_E_BUSY,
                "the session is already being polled or dispatched (another thread, \
                 or a call from inside its dispatch callback)",
            ));
        }
        Ok(LentGuard { entry: self })
    }
}

pub(crate) struct LentGuard<'a> {
    entry: &'a SessionEntry,
}

impl LentGuard<'_> {
    /// # Safety
    /// Do not keep the reference across a call that may lock `lent` again.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn lent(&self) -> &mut Lent {
        &mut *self.entry.lent.get()
    }
}

impl Drop for LentGuard<'_> {
    fn drop(&mut self) {
        self.entry.busy.store(false, Ordering::Release);
    }
}

pub(crate) static SESSIONS: HandleTable<SessionEntry> = HandleTable::new(2, "iw_session");

pub(crate) fn entry_of(session: *const iw_session) -> FfiResult<Arc<SessionEntry>> {
    check_alive()?;
    SESSIONS.get(session as usize)
}

pub(crate) fn ptr_of(handle: usize) -> *mut iw_session {
    std::ptr::without_provenance_mut(handle)
}

/// Registers a Rust session as an `iw_session` handle (for benchmarks and tests
/// of the C API with `Session::offline`). Free it with `iw_session_free`.
#[doc(hidden)]
pub fn register_session(session: Session) -> *mut iw_session {
    let handle = SESSIONS
        .insert(Arc::new(SessionEntry::new(session)))
        .expect("a free session slot");
    ptr_of(handle)
}

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
    guard(|| {
        check_alive()?;
        let config = CLIENTS.get(client as usize)?;
        if out.is_null() {
            return Err(FfiError::new(IW_E_NULL_POINTER, "out is NULL"));
        }
        start_runtime()?;
        let session = Session::open((*config).clone()).map_err(from_client)?;
        let handle = match SESSIONS.insert(Arc::new(SessionEntry::new(session.clone()))) {
            Ok(h) => h,
            Err(e) => {
                session.close();
                return Err(e);
            }
        };
        *out = ptr_of(handle);
        Ok(())
    })
}

/// Closes the session: the stream ends, pending sends are dropped, and once this
/// returns no callback or wake-up of the session runs (called from inside its own
/// callback: none runs after that callback returns). Packets already queued stay
/// pollable, followed by an `IW_PACKET_CONNECTION` with `IW_STATE_CLOSED`.
/// Idempotent. The handle stays valid until `iw_session_free`.
/// Errors: `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub extern "C" fn iw_session_close(session: *mut iw_session) -> iw_result {
    guard(|| {
        entry_of(session)?.session.close();
        Ok(())
    })
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
    guard(|| {
        if session.is_null() {
            return Ok(());
        }
        check_alive()?;
        let entry = SESSIONS.remove(session as usize)?;
        release(&entry);
        Ok(())
    })
}

fn release(entry: &SessionEntry) {
    entry.freed.store(true, Ordering::Release);
    entry.session.set_handler(None);
    entry.session.set_wakeup(None);
    entry.session.close();
    // No call of them runs now (unless this is one of them): release their userdata.
    let handler = entry.handler.lock().take();
    if let Some(cell) = handler {
        cell.clear();
    }
    let wakeup = entry.wakeup.lock().take();
    if let Some(cell) = wakeup {
        cell.clear();
    }
}

pub(crate) fn release_all() {
    for entry in SESSIONS.drain() {
        release(&entry);
    }
}

/// Writes the session's state (`IW_STATE_*`) to `*state`.
/// Errors: `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`. Thread-safe, never blocks.
#[no_mangle]
pub unsafe extern "C" fn iw_session_state(
    session: *const iw_session,
    state: *mut u32,
) -> iw_result {
    guard(|| {
        let entry = entry_of(session)?;
        if state.is_null() {
            return Err(FfiError::new(IW_E_NULL_POINTER, "state is NULL"));
        }
        *state = match entry.session.state() {
            SessionState::Connecting => IW_STATE_CONNECTING,
            SessionState::Ready => IW_STATE_READY,
            SessionState::Reconnecting => IW_STATE_RECONNECTING,
            SessionState::Closed => IW_STATE_CLOSED,
        };
        Ok(())
    })
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
    guard(|| {
        let entry = entry_of(session)?;
        let id = entry.session.session_id().ok_or_else(|| {
            FfiError::new(
                IW_E_NOT_READY,
                "the session has no id yet (still connecting)",
            )
        })?;
        write_c_string(&id, buf, cap, len)
    })
}

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
    guard(|| {
        let entry = entry_of(session)?;
        if count.is_null() {
            return Err(FfiError::new(IW_E_NULL_POINTER, "count is NULL"));
        }
        let list = entry.session.characters();
        if list.is_empty() && entry.session.state() != SessionState::Ready {
            return Err(FfiError::new(
                IW_E_NOT_READY,
                "the scene is not loaded yet: wait for IW_STATE_READY",
            ));
        }
        let mut chars = entry.characters.lock();
        *count = list.len();
        chars.list = list;
        Ok(())
    })
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
    guard(|| {
        let entry = entry_of(session)?;
        if out.is_null() {
            return Err(FfiError::new(IW_E_NULL_POINTER, "out is NULL"));
        }
        let chars = entry.characters.lock();
        let c = chars.list.get(index).ok_or_else(|| {
            FfiError::new(
                IW_E_INVALID_ARGUMENT,
                format!(
                    "index {index} is out of range: the snapshot has {} characters \
                     (take one with iw_session_character_count)",
                    chars.list.len()
                ),
            )
        })?;
        *out = character_of(c);
        Ok(())
    })
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
    guard(|| {
        let entry = entry_of(session)?;
        if out.is_null() {
            return Err(FfiError::new(IW_E_NULL_POINTER, "out is NULL"));
        }
        let current = entry.session.current_character().ok_or_else(|| {
            FfiError::new(
                IW_E_NOT_READY,
                "no current character: the scene is not loaded yet",
            )
        })?;
        let mut chars = entry.characters.lock();
        let c = chars.current.insert(current);
        *out = character_of(c);
        Ok(())
    })
}

/// Makes `who` (agent id, resource name or display name) the character that
/// sends go to. Errors: `IW_E_NOT_FOUND` (no such character in the scene),
/// `IW_E_NOT_READY`, `IW_E_INVALID_UTF8`, `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`, `IW_E_SHUTDOWN`. Thread-safe, never blocks.
#[no_mangle]
pub unsafe extern "C" fn iw_session_set_character(
    session: *mut iw_session,
    who: *const c_char,
) -> iw_result {
    guard(|| {
        let entry = entry_of(session)?;
        let who = borrowed(who, "who")?;
        entry
            .session
            .set_current_character(who)
            .map_err(from_client)
    })
}

/// Fills `ids` with its defaults (`struct_size` and empty strings).
/// Errors: `IW_E_NULL_POINTER`.
#[no_mangle]
pub unsafe extern "C" fn iw_sent_ids_init(ids: *mut iw_sent_ids) -> iw_result {
    guard(|| {
        if ids.is_null() {
            return Err(FfiError::new(IW_E_NULL_POINTER, "ids is NULL"));
        }
        ids.write(iw_sent_ids {
            struct_size: std::mem::size_of::<iw_sent_ids>() as u32,
            packet_id: [0; 37],
            utterance_id: [0; 37],
            interaction_id: [0; 37],
            correlation_id: [0; 37],
            conversation_id: [0; 37],
        });
        Ok(())
    })
}

/// Checks an optional `iw_sent_ids` out-parameter before sending.
unsafe fn sent_ids_out<'a>(ids: *mut iw_sent_ids) -> FfiResult<Option<&'a mut iw_sent_ids>> {
    if ids.is_null() {
        return Ok(None);
    }
    super::strings::sized_struct(ids as *const iw_sent_ids, "ids", "iw_sent_ids_init")?;
    Ok(Some(&mut *ids))
}

fn copy_id(dst: &mut [c_char; 37], id: &str) {
    let n = id.len().min(36);
    for (d, s) in dst.iter_mut().zip(id.as_bytes()[..n].iter()) {
        *d = *s as c_char;
    }
    dst[n] = 0;
}

fn write_ids(out: Option<&mut iw_sent_ids>, ids: SentIds) {
    if let Some(out) = out {
        copy_id(&mut out.packet_id, &ids.packet_id);
        copy_id(&mut out.utterance_id, &ids.utterance_id);
        copy_id(&mut out.interaction_id, &ids.interaction_id);
        copy_id(&mut out.correlation_id, &ids.correlation_id);
        copy_id(&mut out.conversation_id, &ids.conversation_id);
    }
}

/// Sends typed text from the player to the current character. Enqueues and
/// returns (never waits on the network); sends made while connecting go out once
/// the scene is loaded. If `ids` is not NULL (initialise it with
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
    guard(|| {
        let entry = entry_of(session)?;
        let text = borrowed(text, "text")?;
        let out = sent_ids_out(ids)?;
        let sent = entry.session.send_text(text).map_err(from_client)?;
        write_ids(out, sent);
        Ok(())
    })
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
    guard(|| {
        let entry = entry_of(session)?;
        let name = borrowed(name, "name")?;
        if parameter_count > 0 && parameters.is_null() {
            return Err(FfiError::new(
                IW_E_NULL_POINTER,
                "parameters is NULL but parameter_count > 0",
            ));
        }
        let mut params = Vec::with_capacity(parameter_count);
        if parameter_count > 0 {
            for (i, p) in std::slice::from_raw_parts(parameters, parameter_count)
                .iter()
                .enumerate()
            {
                params.push((
                    borrowed(p.key, &format!("parameters[{i}].key"))?,
                    borrowed(p.value, &format!("parameters[{i}].value"))?,
                ));
            }
        }
        let out = sent_ids_out(ids)?;
        let sent = entry
            .session
            .send_trigger(name, &params)
            .map_err(from_client)?;
        write_ids(out, sent);
        Ok(())
    })
}

/// Sends a narrated action (e.g. "waves at Marta") from the player; like
/// `iw_session_send_text` otherwise.
#[no_mangle]
pub unsafe extern "C" fn iw_session_send_narrated_action(
    session: *mut iw_session,
    text: *const c_char,
    ids: *mut iw_sent_ids,
) -> iw_result {
    guard(|| {
        let entry = entry_of(session)?;
        let text = borrowed(text, "text")?;
        let out = sent_ids_out(ids)?;
        let sent = entry
            .session
            .send_narrated_action(text)
            .map_err(from_client)?;
        write_ids(out, sent);
        Ok(())
    })
}

/// A userdata pointer with its release function, called exactly once when the
/// owner is dropped (replaced, freed, or refused).
pub(crate) struct Userdata {
    pub ptr: *mut c_void,
    free: iw_userdata_free_fn,
}

// The caller promises userdata may be used from library threads (documented).
unsafe impl Send for Userdata {}
unsafe impl Sync for Userdata {}

impl Userdata {
    pub fn new(ptr: *mut c_void, free: iw_userdata_free_fn) -> Self {
        Userdata { ptr, free }
    }
}

impl Drop for Userdata {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // A panic cannot come out of C; guard our side anyway.
            let ptr = self.ptr;
            let _ = std::panic::catch_unwind(|| unsafe { free(ptr) });
        }
    }
}

/// Releases a registration's userdata; called exactly once.
pub type iw_userdata_free_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;
