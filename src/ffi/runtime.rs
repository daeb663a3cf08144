//! The library's lifetime as C sees it: ABI version, the private runtime's
//! size, `iw_shutdown`, and the mapping of core errors to result codes.

use std::sync::atomic::{AtomicBool, Ordering};

use super::error::*;
use crate::client::{self, runtime};

/// ABI version of this header: `major << 16 | minor`. Pass it to `iw_client_new`;
/// a library with another major version refuses with `IW_E_ABI_VERSION`.
pub const IW_ABI_VERSION: u32 = 0x0001_0000;
/// Major part of `IW_ABI_VERSION`.
pub const IW_ABI_VERSION_MAJOR: u32 = IW_ABI_VERSION >> 16;

static SHUT_DOWN: AtomicBool = AtomicBool::new(false);

/// Fails with `IW_E_SHUTDOWN` once `iw_shutdown()` ran.
pub fn check_alive() -> FfiResult {
    if SHUT_DOWN.load(Ordering::Acquire) {
        Err(FfiError::new(
            IW_E_SHUTDOWN,
            "the library was shut down by iw_shutdown(); no more calls are accepted",
        ))
    } else {
        Ok(())
    }
}

/// Checks the caller's ABI version against the library's.
pub fn check_abi(abi_version: u32) -> FfiResult {
    if abi_version >> 16 != IW_ABI_VERSION_MAJOR {
        return Err(FfiError::new(
            IW_E_ABI_VERSION,
            format!(
                "the caller was built for ABI {}.{} but this library implements ABI {}.{}; \
                 rebuild against this library's inworld.h",
                abi_version >> 16,
                abi_version & 0xffff,
                IW_ABI_VERSION_MAJOR,
                IW_ABI_VERSION & 0xffff
            ),
        ));
    }
    Ok(())
}

/// The result code and message for an error of the Rust API.
pub fn from_client(e: client::Error) -> FfiError {
    let code = match &e {
        client::Error::InvalidArgument(_) | client::Error::InvalidConfig(_) => {
            IW_E_INVALID_ARGUMENT
        }
        client::Error::NotFound(_) => IW_E_NOT_FOUND,
        client::Error::NotReady => IW_E_NOT_READY,
        client::Error::Closed => IW_E_CLOSED,
        client::Error::Shutdown => IW_E_SHUTDOWN,
        client::Error::AlreadyStarted => IW_E_ALREADY_STARTED,
        client::Error::QueueFull => IW_E_QUEUE_FULL,
        client::Error::Runtime(_) => IW_E_RUNTIME,
    };
    FfiError::new(code, e.to_string())
}

/// The library runtime, started if needed with SIGPIPE blocked in its threads.
///
/// A C host keeps SIGPIPE's default action (terminate), unlike Rust programs,
/// and vectored writes to a socket the peer closed (`writev`, used by the
/// transport) raise it. Threads inherit the creating thread's signal mask, so
/// the runtime's threads are created with SIGPIPE blocked: such a write then
/// just fails with EPIPE. The host's own threads and handlers are untouched.
pub fn start_runtime() -> FfiResult<tokio::runtime::Handle> {
    #[cfg(unix)]
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        let handle = runtime::handle();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        handle.map_err(from_client)
    }
    #[cfg(not(unix))]
    runtime::handle().map_err(from_client)
}

/// Library version as `major << 16 | minor << 8 | patch`. Never fails.
#[no_mangle]
pub extern "C" fn iw_version() -> u32 {
    let v = |s: &str| s.parse::<u32>().unwrap_or(0);
    (v(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
        | (v(env!("CARGO_PKG_VERSION_MINOR")) << 8)
        | v(env!("CARGO_PKG_VERSION_PATCH"))
}

/// The ABI version the library implements (`IW_ABI_VERSION` of its header). Never fails.
#[no_mangle]
pub extern "C" fn iw_abi_version() -> u32 {
    IW_ABI_VERSION
}

/// Sets the number of worker threads of the library's private runtime (default 2).
///
/// Call it before anything that starts the runtime (opening a session, starting
/// an engine). Errors: `IW_E_INVALID_ARGUMENT` for 0, `IW_E_ALREADY_STARTED`
/// once the runtime runs, `IW_E_SHUTDOWN` after `iw_shutdown()`. Thread-safe.
#[no_mangle]
pub extern "C" fn iw_runtime_set_worker_threads(threads: u32) -> iw_result {
    guard(|| {
        check_alive()?;
        if threads == 0 {
            return Err(FfiError::new(
                IW_E_INVALID_ARGUMENT,
                "threads must be at least 1",
            ));
        }
        runtime::set_worker_threads(threads as usize).map_err(from_client)
    })
}

/// Shuts the library down: closes every session (their callbacks stop and their
/// `userdata_free` run), stops every local engine, frees every handle, removes the
/// log callback, then stops and joins the runtime's threads.
///
/// Afterwards every call fails with `IW_E_SHUTDOWN`, except those that touch no
/// library state (`iw_last_error`, `iw_result_name`, `iw_version`,
/// `iw_abi_version`, the `*_init` functions, `iw_emotion_*_name`), and the library cannot be
/// restarted in this process. Calling it again returns `IW_OK`.
/// Must not be called from a library thread (a session or log callback): that
/// returns `IW_E_BUSY`. Call it from the thread that owns the game loop, after
/// your last use of the library.
#[no_mangle]
pub extern "C" fn iw_shutdown() -> iw_result {
    guard(|| {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(FfiError::new(
                IW_E_BUSY,
                "iw_shutdown() called from a library thread (inside a callback); \
                 call it from your own thread",
            ));
        }
        if SHUT_DOWN.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        super::session::release_all();
        #[cfg(feature = "engine")]
        super::engine::release_all();
        super::client::release_all();
        super::log::release();
        runtime::shutdown();
        Ok(())
    })
}
