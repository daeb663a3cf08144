//! Callback registrations: the game's `userdata` with its release function,
//! and the cell and slot a registration lives in until it is replaced,
//! removed or its owner freed (session callbacks, wake-ups, the log callback).

use std::ffi::c_void;
use std::sync::Arc;

use parking_lot::Mutex;

/// Releases a registration's userdata; called exactly once.
pub type iw_userdata_free_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A userdata pointer with its release function, called exactly once when this
/// is dropped (the registration replaced, removed, its owner freed, or the
/// registering call failed).
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

/// Holds one registration (callback + userdata) for whoever calls it: the
/// closure given to the core, or the log forwarder.
///
/// Why a cell of its own rather than the closure owning the registration: the
/// C contract ties `userdata_free` to the registration (replaced, removed, or
/// its session freed), not to what the core does with the closure; the core
/// drops its handlers at `close`, long before `iw_session_free`, and may still
/// hold the closure for a call in progress. So the registration is kept on
/// the C side (in a [`RegSlot`]) and the caller reaches it through this cell.
/// Each call clones the inner `Arc` for its duration, so clearing the cell
/// releases the userdata at once when no call runs, or when the running call
/// (e.g. the one that replaced or freed its own registration) returns.
pub(crate) struct RegCell<R>(Mutex<Option<Arc<R>>>);

impl<R> RegCell<R> {
    fn new(registration: R) -> Arc<Self> {
        Arc::new(RegCell(Mutex::new(Some(Arc::new(registration)))))
    }

    /// The registration, for one call; `None` once cleared.
    pub fn current(&self) -> Option<Arc<R>> {
        self.0.lock().clone()
    }

    fn clear(&self) {
        let old = self.0.lock().take();
        drop(old);
    }
}

/// Where an owner keeps its current registration of one kind.
pub(crate) type RegSlot<R> = Mutex<Option<Arc<RegCell<R>>>>;

/// Replaces the registration in `slot` by `registration` (`None` removes it).
///
/// `install` hands the new cell to whoever calls it; it must return only once
/// no call can start with the previous cell (the core's `set_handler` waits
/// for a running call, unless made from inside it). Then the previous
/// registration is cleared: its userdata is released now, or when the call
/// still running with it returns.
pub(crate) fn register<R>(
    slot: &RegSlot<R>,
    registration: Option<R>,
    install: impl FnOnce(Option<Arc<RegCell<R>>>),
) {
    let cell = registration.map(RegCell::new);
    let old = std::mem::replace(&mut *slot.lock(), cell.clone());
    install(cell);
    if let Some(old) = old {
        old.clear();
    }
}
