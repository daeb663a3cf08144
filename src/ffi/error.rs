//! Result codes and their names (declared together), the error an export's
//! body returns, this thread's last error message, and the panic boundary
//! every export runs its body in.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::client;

/// Result of every fallible call: `IW_OK` (0) or a negative `IW_E_*` code.
/// Codes are never reused for another meaning.
pub type iw_result = i32;

/// Declares the result codes and the table `iw_result_name` reads from one
/// list, so that no code lacks its name. The body is plain Rust items: cbindgen
/// does not expand macros, so build.rs hands it this body as a source file of
/// its own. The codes are typed `i32` (which `iw_result` is) because cbindgen
/// writes constants of a typedef'd type after every struct, and these belong at
/// the top of the header.
macro_rules! result_codes {
    ($( $(#[$meta:meta])* pub const $name:ident: i32 = $value:expr; )*) => {
        $( $(#[$meta])* pub const $name: i32 = $value; )*

        /// Every result code with its name.
        const NAMES: &[(iw_result, &CStr)] = &[$(
            ($name, match CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
                Ok(name) => name,
                Err(_) => panic!("a name has no interior NUL"),
            }),
        )*];
    };
}

result_codes! {
/// Success.
pub const IW_OK: i32 = 0;
/// An argument has a value the call does not accept (see `iw_last_error`).
pub const IW_E_INVALID_ARGUMENT: i32 = -1;
/// A pointer argument that must not be NULL was NULL.
pub const IW_E_NULL_POINTER: i32 = -2;
/// A string argument is not valid UTF-8 (the message names the field).
pub const IW_E_INVALID_UTF8: i32 = -3;
/// The handle is stale (already freed), of another type, or was never issued.
pub const IW_E_INVALID_HANDLE: i32 = -4;
/// The caller's `IW_ABI_VERSION` has a different major version than the library.
pub const IW_E_ABI_VERSION: i32 = -5;
/// The session is being polled or dispatched by another call right now
/// (another thread, or a callback of the running dispatch).
pub const IW_E_BUSY: i32 = -6;
/// `iw_shutdown()` was called; the library accepts no more calls.
pub const IW_E_SHUTDOWN: i32 = -7;
/// The session has not loaded its scene yet (characters unknown).
pub const IW_E_NOT_READY: i32 = -8;
/// The session is closed; it accepts no more sends.
pub const IW_E_CLOSED: i32 = -9;
/// The library panicked inside the call (a bug); the call had no effect that can be relied on.
pub const IW_E_PANIC: i32 = -10;
/// The caller's buffer is too small; `*len` holds the length needed.
pub const IW_E_BUFFER_TOO_SMALL: i32 = -11;
/// The library's runtime could not be started or used.
pub const IW_E_RUNTIME: i32 = -12;
/// The named thing (e.g. a character) does not exist.
pub const IW_E_NOT_FOUND: i32 = -13;
/// Too late for this setting: the runtime (or the logger) is already running.
pub const IW_E_ALREADY_STARTED: i32 = -14;
/// The session's outbound queue is full; the send was not queued.
pub const IW_E_QUEUE_FULL: i32 = -15;
/// An operating system I/O error (e.g. the local engine could not bind its address).
pub const IW_E_IO: i32 = -16;
/// A scene file could not be read or parsed.
pub const IW_E_SCENE: i32 = -17;
/// The service refused or failed a call, or did not answer in time.
pub const IW_E_SERVICE: i32 = -18;
/// This build of the library lacks what was asked for (e.g. a local engine's
/// speech part whose cargo feature was off); the message names it.
pub const IW_E_UNSUPPORTED: i32 = -19;
}

/// The name of a result code (e.g. `"IW_E_BUSY"`), or `"IW_E_UNKNOWN"` for a value
/// this library does not define. The returned string is static: never free it.
/// Thread-safe; works after `iw_shutdown()`.
#[no_mangle]
pub extern "C" fn iw_result_name(result: iw_result) -> *const c_char {
    ffi_boundary! { on_panic: c"IW_E_UNKNOWN".as_ptr();
        NAMES
            .iter()
            .find(|(code, _)| *code == result)
            .map_or(c"IW_E_UNKNOWN".as_ptr(), |(_, name)| name.as_ptr())
    }
}

/// A failed call: its code and the message `iw_last_error` will return.
#[derive(Debug)]
pub(crate) struct FfiError {
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

pub(crate) type FfiResult<T = ()> = Result<T, FfiError>;

impl From<client::Error> for FfiError {
    fn from(e: client::Error) -> Self {
        use client::Error::*;
        let code = match &e {
            InvalidArgument(_) | InvalidConfig(_) => IW_E_INVALID_ARGUMENT,
            NotFound(_) => IW_E_NOT_FOUND,
            NotReady => IW_E_NOT_READY,
            Closed => IW_E_CLOSED,
            Shutdown => IW_E_SHUTDOWN,
            AlreadyStarted => IW_E_ALREADY_STARTED,
            QueueFull => IW_E_QUEUE_FULL,
            Runtime(_) => IW_E_RUNTIME,
            Service(_) => IW_E_SERVICE,
        };
        FfiError::new(code, e.to_string())
    }
}

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

/// Runs `read` on this thread's last error message.
pub(crate) fn with_last_error<R>(read: impl FnOnce(&str) -> R) -> R {
    LAST_ERROR.with(|m| read(&m.borrow()))
}

/// The body of every export: catches a panic (recording its message for
/// `iw_last_error`) so that it never unwinds into C.
///
/// - `ffi_boundary! { body }`: the export returns `iw_result`; the body
///   returns an [`FfiResult`] (so `?` works). An error becomes its code, with
///   its message recorded; a panic becomes `IW_E_PANIC`.
/// - `ffi_boundary! { on_panic: VALUE; body }`: the export returns something
///   else (a pointer, a number); the body returns it, and a panic returns VALUE.
///
/// The signature stays written out (`#[no_mangle] pub extern "C" fn ...`)
/// because cbindgen reads it and does not expand macros; `tests/header.rs`
/// checks that every export's body is this macro.
macro_rules! ffi_boundary {
    (on_panic: $on_panic:expr; $($body:tt)*) => {
        $crate::ffi::error::catch_value($on_panic, move || { $($body)* })
    };
    ($($body:tt)*) => {
        $crate::ffi::error::catch_result(move || -> $crate::ffi::error::FfiResult { $($body)* })
    };
}
pub(crate) use ffi_boundary;

// Inlined into each export (measured: otherwise `iw_session_poll`, the
// per-frame call, pays for a call frame of its own).
#[inline(always)]
pub(crate) fn catch_result(body: impl FnOnce() -> FfiResult) -> iw_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => IW_OK,
        Ok(Err(e)) => failed(e),
        Err(panic) => {
            record_panic(panic);
            IW_E_PANIC
        }
    }
}

pub(crate) fn catch_value<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        record_panic(panic);
        on_panic
    })
}

// Out of line: the per-frame path (`iw_session_poll`) carries only the success.
#[cold]
#[inline(never)]
fn failed(e: FfiError) -> iw_result {
    set_last_error(&e.message);
    e.code
}

#[cold]
#[inline(never)]
fn record_panic(panic: Box<dyn Any + Send>) {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    set_last_error(&format!("internal error (panic): {what}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_never_positive_and_named_after_themselves() {
        let mut codes: Vec<_> = NAMES.iter().map(|(c, _)| *c).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), NAMES.len(), "a code is used twice");
        assert!(codes.iter().all(|c| *c <= 0), "a code is positive");
        for (code, name) in NAMES {
            let by_name = unsafe { CStr::from_ptr(iw_result_name(*code)) };
            assert_eq!(by_name, *name);
            assert!(name.to_str().unwrap().starts_with("IW_"));
        }
        assert_eq!(NAMES[0], (IW_OK, c"IW_OK"));
    }

    #[test]
    fn the_boundary_catches_panics_and_records_the_message() {
        let code = ffi_boundary! { panic!("boom") };
        assert_eq!(code, IW_E_PANIC);
        assert!(with_last_error(|m| m.contains("boom")));
        let value = ffi_boundary! { on_panic: 7; panic!("bang") };
        assert_eq!(value, 7);
        assert!(with_last_error(|m| m.contains("bang")));
    }

    #[test]
    fn errors_keep_their_message() {
        let code =
            ffi_boundary! { Err(client::Error::NotFound("no character \"x\"".into()).into()) };
        assert_eq!(code, IW_E_NOT_FOUND);
        assert!(with_last_error(|m| m == "no character \"x\""));
    }
}
