//! Receiving: the three ways packets reach C on top of the session's one
//! bounded queue (poll, dispatch on the calling thread, callback on a library
//! thread), plus the wake-up callback.

use std::ffi::c_void;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::entry::{iw_session, PacketRegistration, WakeupRegistration, SESSIONS};
use crate::client::{PacketHandler, WakeupHandler};
use crate::ffi::args::out_arg;
use crate::ffi::error::*;
use crate::ffi::handles::Handle;
use crate::ffi::packet::iw_packet;
use crate::ffi::userdata::{iw_userdata_free_fn, register, Userdata};
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
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let out = out_arg(out, "out")?;
        let count = out_arg(count, "count")?;
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
            out.as_ptr().add(i).write(lent.scratch.lend(p));
        }
        count.write(lent.packets.len());
        Ok(())
    }
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
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
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
    ffi_boundary! {
        let userdata = Userdata::new(userdata, userdata_free);
        let entry = SESSIONS.get(session)?;
        let registration = callback.map(|callback| PacketRegistration {
            callback,
            session: Handle::of(session),
            userdata,
        });
        register(&entry.handler, registration, |cell| {
            entry.session.set_handler(cell.map(|cell| {
                Arc::new(move |p: Packet| match cell.current() {
                    Some(registration) => registration.deliver(p),
                    // Unreachable: the core never calls a handler once its
                    // replacement (which clears this cell) has returned.
                    None => log::warn!("a packet reached a removed session callback; dropped"),
                }) as PacketHandler
            }))
        });
        Ok(())
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
    ffi_boundary! {
        let userdata = Userdata::new(userdata, userdata_free);
        let entry = SESSIONS.get(session)?;
        let registration = callback.map(|callback| WakeupRegistration {
            callback,
            session: Handle::of(session),
            userdata,
        });
        register(&entry.wakeup, registration, |cell| {
            entry.session.set_wakeup(cell.map(|cell| {
                Arc::new(move || {
                    if let Some(registration) = cell.current() {
                        registration.wake();
                    }
                }) as WakeupHandler
            }))
        });
        Ok(())
    }
}
