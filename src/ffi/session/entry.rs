//! What an `iw_session` handle holds: the core [`Session`], the packets lent
//! to C by the last poll/dispatch (with the busy flag that guards them), the
//! character and dialog snapshots, the conversations C names by id, and the
//! session's callback registrations.

use std::cell::{RefCell, UnsafeCell};
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::client::{Conversation, Session};
use crate::ffi::error::*;
use crate::ffi::handles::{Handle, HandleTable};
use crate::ffi::library::Held;
use crate::ffi::packet::{iw_packet, Scratch};
use crate::ffi::userdata::{register, RegSlot, Userdata};
use crate::packet::{Character, Packet};

/// Opaque handle to a session (see `iw_session_open`).
pub struct iw_session {
    _opaque: [u8; 0],
}

pub(crate) static SESSIONS: HandleTable<SessionEntry, iw_session> =
    HandleTable::new(Held::Sessions, "iw_session", release);

/// Packets lent to C by the last poll/dispatch, with the arrays they point into.
#[derive(Default)]
pub(crate) struct Lent {
    pub packets: Vec<Packet>,
    pub scratch: Scratch,
}

/// What `iw_session_character_*` lend strings from.
#[derive(Default)]
pub(crate) struct Characters {
    /// The last `iw_session_character_count` snapshot.
    pub list: Vec<Character>,
    /// The last `iw_session_current_character` answer.
    pub current: Option<Character>,
}

/// A line of the last `iw_session_dialog_count` snapshot.
pub(crate) struct DialogLine {
    /// `IW_TALKER_*`
    pub talker: u32,
    pub text: CString,
}

pub(crate) struct SessionEntry {
    pub session: Session,
    /// The group conversations started from C, by id, until ended.
    pub conversations: Mutex<HashMap<String, Conversation>>,
    /// What `iw_session_dialog_line_at` lends strings from.
    pub dialog: Mutex<Vec<DialogLine>>,
    /// Set while a poll or dispatch runs: guards `lent`.
    busy: AtomicBool,
    /// Set by `iw_session_free`: a running dispatch stops.
    pub freed: AtomicBool,
    lent: UnsafeCell<Lent>,
    pub characters: Mutex<Characters>,
    pub handler: RegSlot<PacketRegistration>,
    pub wakeup: RegSlot<WakeupRegistration>,
}

// `lent` is only touched by the holder of `busy`.
unsafe impl Sync for SessionEntry {}

impl SessionEntry {
    pub fn new(session: Session) -> Self {
        SessionEntry {
            session,
            conversations: Mutex::new(HashMap::new()),
            dialog: Mutex::new(Vec::new()),
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

/// What freeing a session does (`iw_session_free`, `iw_shutdown`): stops a
/// running dispatch, closes the session, and removes its registrations.
fn release(entry: &SessionEntry) {
    entry.freed.store(true, Ordering::Release);
    entry.session.close();
    let conversations = std::mem::take(&mut *entry.conversations.lock());
    drop(conversations);
    // No call of them runs after these return (unless this is one of them):
    // their userdata is released now, or when that call returns.
    register(&entry.handler, None, |_| entry.session.set_handler(None));
    register(&entry.wakeup, None, |_| entry.session.set_wakeup(None));
}

/// A session's packet callback (`iw_session_set_callback`).
pub(crate) struct PacketRegistration {
    pub callback: unsafe extern "C" fn(*mut iw_session, *const iw_packet, *mut c_void),
    pub session: Handle<iw_session>,
    pub userdata: Userdata,
}

thread_local! {
    /// Arrays for packets lent to library-thread callbacks (reused).
    static CALLBACK_SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl PacketRegistration {
    pub fn deliver(&self, packet: Packet) {
        let packets = std::slice::from_ref(&packet);
        let call = |scratch: &mut Scratch| {
            scratch.reset_for(packets);
            let view = scratch.lend(&packet);
            // SAFETY: the caller registered a valid function; `view` lives for the call.
            unsafe { (self.callback)(self.session.ptr(), &view, self.userdata.ptr) };
        };
        CALLBACK_SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => call(&mut scratch),
            // Re-entered (a callback of another session ran inside this one): use a fresh one.
            Err(_) => call(&mut Scratch::default()),
        });
    }
}

/// A session's wake-up callback (`iw_session_set_wakeup`).
pub(crate) struct WakeupRegistration {
    pub callback: unsafe extern "C" fn(*mut iw_session, *mut c_void),
    pub session: Handle<iw_session>,
    pub userdata: Userdata,
}

impl WakeupRegistration {
    pub fn wake(&self) {
        // SAFETY: the caller registered a valid function.
        unsafe { (self.callback)(self.session.ptr(), self.userdata.ptr) }
    }
}
