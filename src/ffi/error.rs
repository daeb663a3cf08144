//! Result codes, the per-thread last error message, and the guard every export
//! runs its body in (catches panics, records messages).

use std::cell::RefCell;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Result of every fallible call: `IW_OK` (0) or a negative `IW_E_*` code.
/// Codes are never reused for another meaning.
pub type iw_result = i32;

/// Success.
pub const IW_OK: iw_result = 0;
/// An argument has a value the call does not accept (see `iw_last_error`).
pub const IW_E_INVALID_ARGUMENT: iw_result = -1;
/// A pointer argument that must not be NULL was NULL.
pub const IW_E_NULL_POINTER: iw_result = -2;
/// A string argument is not valid UTF-8 (the message names the field).
pub const IW_E_INVALID_UTF8: iw_result = -3;
/// The handle is stale (already freed), of another type, or was never issued.
pub const IW_E_INVALID_HANDLE: iw_result = -4;
/// The caller's `IW_ABI_VERSION` has a different major version than the library.
pub const IW_E_ABI_VERSION: iw_result = -5;
/// The session is being polled or dispatched by another call right now
/// (another thread, or a callback of the running dispatch).
pub const IW_E_BUSY: iw_result = -6;
/// `iw_shutdown()` was called; the library accepts no more calls.
pub const IW_E_SHUTDOWN: iw_result = -7;
/// The session has not loaded its scene yet (characters unknown).
pub const IW_E_NOT_READY: iw_result = -8;
/// The session is closed; it accepts no more sends.
pub const IW_E_CLOSED: iw_result = -9;
/// The library panicked inside the call (a bug); the call had no effect that can be relied on.
pub const IW_E_PANIC: iw_result = -10;
/// The caller's buffer is too small; `*len` holds the length needed.
pub const IW_E_BUFFER_TOO_SMALL: iw_result = -11;
/// The library's runtime could not be started or used.
pub const IW_E_RUNTIME: iw_result = -12;
/// The named thing (e.g. a character) does not exist.
pub const IW_E_NOT_FOUND: iw_result = -13;
/// Too late for this setting: the runtime (or the logger) is already running.
pub const IW_E_ALREADY_STARTED: iw_result = -14;
/// The session's outbound queue is full; the send was not queued.
pub const IW_E_QUEUE_FULL: iw_result = -15;
/// An operating system I/O error (e.g. the local engine could not bind its address).
pub const IW_E_IO: iw_result = -16;
/// A scene file could not be read or parsed.
pub const IW_E_SCENE: iw_result = -17;

/// Every result code with its name (for `iw_result_name`).
const NAMES: &[(iw_result, &std::ffi::CStr)] = &[
    (IW_OK, c"IW_OK"),
    (IW_E_INVALID_ARGUMENT, c"IW_E_INVALID_ARGUMENT"),
    (IW_E_NULL_POINTER, c"IW_E_NULL_POINTER"),
    (IW_E_INVALID_UTF8, c"IW_E_INVALID_UTF8"),
    (IW_E_INVALID_HANDLE, c"IW_E_INVALID_HANDLE"),
    (IW_E_ABI_VERSION, c"IW_E_ABI_VERSION"),
    (IW_E_BUSY, c"IW_E_BUSY"),
    (IW_E_SHUTDOWN, c"IW_E_SHUTDOWN"),
    (IW_E_NOT_READY, c"IW_E_NOT_READY"),
    (IW_E_CLOSED, c"IW_E_CLOSED"),
    (IW_E_PANIC, c"IW_E_PANIC"),
    (IW_E_BUFFER_TOO_SMALL, c"IW_E_BUFFER_TOO_SMALL"),
    (IW_E_RUNTIME, c"IW_E_RUNTIME"),
    (IW_E_NOT_FOUND, c"IW_E_NOT_FOUND"),
    (IW_E_ALREADY_STARTED, c"IW_E_ALREADY_STARTED"),
    (IW_E_QUEUE_FULL, c"IW_E_QUEUE_FULL"),
    (IW_E_IO, c"IW_E_IO"),
    (IW_E_SCENE, c"IW_E_SCENE"),
];

/// A failed call: its code and the message `iw_last_error` will return.
#[derive(Debug)]
pub struct FfiError {
    pub code: iw_result,
    pub message: String,
}

impl FfiError {
    pub fn new(code: iw_result, message: impl Into<String>) -> Self {
        FfiError {
            code,
            message: message.into(),
        }
    }
}

pub type FfiResult<T = ()> = Result<T, FfiError>;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: &str) {
    LAST_ERROR.with(|m| {
        let mut m = m.borrow_mut();
        m.clear();
        m.push_str(message);
    });
}

/// Runs an export's body: converts errors to codes (recording the message for
/// this thread) and panics to `IW_E_PANIC`.
pub fn guard(body: impl FnOnce() -> FfiResult) -> iw_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => IW_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.code
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(&format!("internal error (panic): {what}"));
            IW_E_PANIC
        }
    }
}

/// Copies `text` into a caller buffer as a NUL-terminated string.
///
/// # Safety
/// `buf` must be valid for `cap` bytes (when `cap > 0`); `len` valid for a write.
pub unsafe fn write_c_string(
    text: &str,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> FfiResult {
    if len.is_null() {
        return Err(FfiError::new(IW_E_NULL_POINTER, "len is NULL"));
    }
    if buf.is_null() && cap > 0 {
        return Err(FfiError::new(IW_E_NULL_POINTER, "buf is NULL but cap > 0"));
    }
    *len = text.len();
    if cap < text.len() + 1 {
        return Err(FfiError::new(
            IW_E_BUFFER_TOO_SMALL,
            format!(
                "buffer of {cap} bytes is too small: {} bytes needed (with the NUL)",
                text.len() + 1
            ),
        ));
    }
    std::ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, text.len());
    *buf.add(text.len()) = 0;
    Ok(())
}

/// Copies the message of the last failed call on this thread into `buf`
/// (NUL-terminated) and its length (without the NUL) into `*len`.
///
/// Successful calls do not change the message; calling `iw_last_error` does not either.
/// Returns `IW_E_NULL_POINTER` if `len` is NULL (or `buf` is NULL with `cap > 0`),
/// `IW_E_BUFFER_TOO_SMALL` if `cap < *len + 1`: then only `*len` is written (the
/// one exception to "out-parameters are written only on success"), so call once
/// with `cap` 0 to learn the size. Thread-safe; works after `iw_shutdown()`.
#[no_mangle]
pub unsafe extern "C" fn iw_last_error(buf: *mut c_char, cap: usize, len: *mut usize) -> iw_result {
    match catch_unwind(AssertUnwindSafe(|| {
        LAST_ERROR.with(|m| write_c_string(&m.borrow(), buf, cap, len))
    })) {
        Ok(Ok(())) => IW_OK,
        // Do not record errors of iw_last_error itself: the message stays readable.
        Ok(Err(e)) => e.code,
        Err(_) => IW_E_PANIC,
    }
}

/// The name of a result code (e.g. `"IW_E_BUSY"`), or `"IW_E_UNKNOWN"` for a value
/// this library does not define. The returned string is static: never free it.
/// Thread-safe; works after `iw_shutdown()`.
#[no_mangle]
pub extern "C" fn iw_result_name(result: iw_result) -> *const c_char {
    NAMES
        .iter()
        .find(|(code, _)| *code == result)
        .map(|(_, name)| name.as_ptr())
        .unwrap_or(c"IW_E_UNKNOWN".as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_named() {
        let mut codes: Vec<_> = NAMES.iter().map(|(c, _)| *c).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), NAMES.len());
        assert!(codes.iter().all(|c| *c <= 0));
    }

    #[test]
    fn guard_catches_panics_and_keeps_the_message() {
        let code = guard(|| panic!("boom"));
        assert_eq!(code, IW_E_PANIC);
        let mut buf = [0 as c_char; 64];
        let mut len = 0usize;
        assert_eq!(
            unsafe { iw_last_error(buf.as_mut_ptr(), 64, &mut len) },
            IW_OK
        );
        let msg = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_str()
            .unwrap();
        assert!(msg.contains("boom"), "{msg}");
        assert_eq!(msg.len(), len);
    }
}
