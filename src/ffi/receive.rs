//! Receiving: the three ways packets reach C on top of the session's one
//! bounded queue (poll, dispatch on the calling thread, callback on a library
//! thread), plus the wake-up callback.

use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use super::error::*;
use super::lend::Scratch;
use super::session::{entry_of, iw_session, iw_userdata_free_fn, ptr_of, Userdata};
use super::types::iw_packet;
use crate::packet::Packet;

/// A packet callback: `packet` and what it points to live until the callback returns.
pub type iw_packet_fn = Option<
    unsafe extern "C" fn(session: *mut iw_session, packet: *const iw_packet, userdata: *mut c_void),
>;

/// A wake-up callback: the session's queue went from empty to non-empty.
pub type iw_wakeup_fn =
    Option<unsafe extern "C" fn(session: *mut iw_session, userdata: *mut c_void)>;

/// Moves up to `cap` queued packets into `out[0..*count]` and returns at once
/// (`*count` is 0 when nothing is waiting). Never blocks, takes no contended
/// lock, and allocates nothing per packet once warmed up.
///
/// The packets (strings, audio, arrays) are lent: valid until the next poll or
/// dispatch of this session, or its free. Each call releases what the previous
/// one lent. Packets whose `kind` you do not know must be ignored. When the
/// queue was full, what was dropped is reported by an `IW_PACKET_OVERFLOW`
/// packet (with the count) before the next packet that fits, or as soon as
/// the queue has been drained.
/// Errors: `IW_E_BUSY` (another poll/dispatch of this session is running: two
/// threads, or a call from a dispatch callback), `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`. Poll a session from one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn iw_session_poll(
    session: *mut iw_session,
    out: *mut iw_packet,
    cap: usize,
    count: *mut usize,
) -> iw_result {
    guard(|| {
        let entry = entry_of(session)?;
        if out.is_null() {
            return Err(FfiError::new(IW_E_NULL_POINTER, "out is NULL"));
        }
        if count.is_null() {
            return Err(FfiError::new(IW_E_NULL_POINTER, "count is NULL"));
        }
        let guard = entry.lock_lent()?;
        let lent = guard.lent();
        lent.packets.clear();
        while lent.packets.len() < cap {
            match entry.session.try_recv() {
                Some(p) => lent.packets.push(p),
                None => break,
            }
        }
        lent.scratch.reset_for(&lent.packets);
        for (i, p) in lent.packets.iter().enumerate() {
            out.add(i).write(lent.scratch.lend(p));
        }
        *count = lent.packets.len();
        Ok(())
    })
}

/// Calls `callback(session, packet, userdata)` on the calling thread for each
/// queued packet, at most `max` of them (`SIZE_MAX` for all), and writes how many
/// to `*count` (if `count` is not NULL). Each packet lives until the callback
/// returns (the last one until the next poll/dispatch).
///
/// The callback may send, close, or free the session (then the dispatch stops
/// and returns `IW_OK`); polling or dispatching the same session from it gives
/// `IW_E_BUSY`. Errors: as `iw_session_poll`.
#[no_mangle]
pub unsafe extern "C" fn iw_session_dispatch(
    session: *mut iw_session,
    callback: iw_packet_fn,
    userdata: *mut c_void,
    max: usize,
    count: *mut usize,
) -> iw_result {
    guard(|| {
        let entry = entry_of(session)?;
        let callback =
            callback.ok_or_else(|| FfiError::new(IW_E_NULL_POINTER, "callback is NULL"))?;
        let guard = entry.lock_lent()?;
        let mut n = 0;
        while n < max && !entry.freed.load(Ordering::Acquire) {
            let lent = guard.lent();
            let Some(p) = entry.session.try_recv() else {
                break;
            };
            lent.packets.clear();
            lent.packets.push(p);
            lent.scratch.reset_for(&lent.packets);
            let view = lent.scratch.lend(&lent.packets[0]);
            n += 1;
            callback(session, &view, userdata);
        }
        drop(guard);
        if !count.is_null() {
            *count = n;
        }
        Ok(())
    })
}

/// Holds a registration (callback + userdata) for the closure given to the
/// core. Calls take a clone of the `Arc` for their duration, so clearing the
/// cell releases the userdata at once when no call runs, or when the running
/// call (e.g. the one that replaced or freed its own registration) returns.
pub(crate) struct RegCell<R>(Mutex<Option<Arc<R>>>);

impl<R> RegCell<R> {
    fn new(registration: R) -> Arc<Self> {
        Arc::new(RegCell(Mutex::new(Some(Arc::new(registration)))))
    }

    fn current(&self) -> Option<Arc<R>> {
        self.0.lock().clone()
    }

    pub(crate) fn clear(&self) {
        let old = self.0.lock().take();
        drop(old);
    }
}

pub(crate) struct PacketRegistration {
    callback: unsafe extern "C" fn(*mut iw_session, *const iw_packet, *mut c_void),
    handle: usize,
    userdata: Userdata,
}

thread_local! {
    /// Arrays for packets lent to library-thread callbacks (reused).
    static CALLBACK_SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl PacketRegistration {
    fn deliver(&self, packet: Packet) {
        let packets = std::slice::from_ref(&packet);
        let call = |scratch: &mut Scratch| {
            scratch.reset_for(packets);
            let view = scratch.lend(&packet);
            // SAFETY: the caller registered a valid function; `view` lives for the call.
            unsafe { (self.callback)(ptr_of(self.handle), &view, self.userdata.ptr) };
        };
        CALLBACK_SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => call(&mut scratch),
            // Re-entered (a callback of another session ran inside this one): use a fresh one.
            Err(_) => call(&mut Scratch::default()),
        });
    }
}

/// Delivers the session's packets to `callback(session, packet, userdata)` on a
/// library thread instead of the queue (for engines that marshal to their main
/// thread themselves). Packets already queued stay pollable.
///
/// `packet` lives until the callback returns. `userdata` must be usable from
/// library threads. `userdata_free(userdata)` (if not NULL) is called exactly
/// once: when the registration is replaced or removed (`callback` NULL goes
/// back to queueing), the session freed, or at once if this call fails. It runs
/// before that call returns, except when made from inside this very callback:
/// then right after the callback returns. It never runs while a callback with
/// that userdata runs. After
/// `iw_session_close`/`iw_session_free` returns, the callback never runs again.
/// The callback may call any function on the session, including free.
/// Errors: `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`.
#[no_mangle]
pub extern "C" fn iw_session_set_callback(
    session: *mut iw_session,
    callback: iw_packet_fn,
    userdata: *mut c_void,
    userdata_free: iw_userdata_free_fn,
) -> iw_result {
    let userdata = Userdata::new(userdata, userdata_free);
    guard(move || {
        let entry = entry_of(session)?;
        let cell = callback.map(|callback| {
            RegCell::new(PacketRegistration {
                callback,
                handle: session as usize,
                userdata,
            })
        });
        let old = std::mem::replace(&mut *entry.handler.lock(), cell.clone());
        // Returns once no call of the previous handler runs (unless this is one).
        entry.session.set_handler(cell.map(|cell| {
            Arc::new(move |p: Packet| match cell.current() {
                Some(registration) => registration.deliver(p),
                // Unreachable: the core never calls a handler once its
                // replacement (which clears this cell) has returned.
                None => log::warn!("a packet reached a removed session callback; dropped"),
            }) as crate::client::PacketHandler
        }));
        if let Some(old) = old {
            old.clear();
        }
        Ok(())
    })
}

pub(crate) struct WakeupRegistration {
    callback: unsafe extern "C" fn(*mut iw_session, *mut c_void),
    handle: usize,
    userdata: Userdata,
}

impl WakeupRegistration {
    fn wake(&self) {
        // SAFETY: the caller registered a valid function.
        unsafe { (self.callback)(ptr_of(self.handle), self.userdata.ptr) }
    }
}

/// Calls `callback(session, userdata)` on a library thread whenever the
/// session's queue goes from empty to non-empty, e.g. to schedule a poll on the
/// game's thread. Keep it short; do not poll from it unless you own the session
/// on that thread. `userdata_free` follows the rules of `iw_session_set_callback`;
/// a NULL `callback` removes the wake-up.
/// Errors: `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`.
#[no_mangle]
pub extern "C" fn iw_session_set_wakeup(
    session: *mut iw_session,
    callback: iw_wakeup_fn,
    userdata: *mut c_void,
    userdata_free: iw_userdata_free_fn,
) -> iw_result {
    let userdata = Userdata::new(userdata, userdata_free);
    guard(move || {
        let entry = entry_of(session)?;
        let cell = callback.map(|callback| {
            RegCell::new(WakeupRegistration {
                callback,
                handle: session as usize,
                userdata,
            })
        });
        let old = std::mem::replace(&mut *entry.wakeup.lock(), cell.clone());
        entry.session.set_wakeup(cell.map(|cell| {
            Arc::new(move || {
                if let Some(registration) = cell.current() {
                    registration.wake();
                }
            }) as crate::client::WakeupHandler
        }));
        if let Some(old) = old {
            old.clear();
        }
        Ok(())
    })
}
