//! Routes the library's `log` records to a C callback (the game's console).

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::io::Write;
use std::sync::OnceLock;

use parking_lot::Mutex;

use super::error::*;
use super::library::{check_alive, release_at_shutdown, Held, Release};
use super::userdata::{iw_userdata_free_fn, register, RegSlot, Userdata};

/// Log level: errors.
pub const IW_LOG_ERROR: u32 = 1;
/// Log level: warnings.
pub const IW_LOG_WARN: u32 = 2;
/// Log level: information.
pub const IW_LOG_INFO: u32 = 3;
/// Log level: debugging.
pub const IW_LOG_DEBUG: u32 = 4;
/// Log level: tracing.
pub const IW_LOG_TRACE: u32 = 5;

// `log`'s own numbers: records pass their level through with `as`, and
// `max_level` picks a `LevelFilter` by position (0 is `Off`).
const _: () = {
    assert!(IW_LOG_ERROR == log::Level::Error as u32);
    assert!(IW_LOG_WARN == log::Level::Warn as u32);
    assert!(IW_LOG_INFO == log::Level::Info as u32);
    assert!(IW_LOG_DEBUG == log::Level::Debug as u32);
    assert!(IW_LOG_TRACE == log::Level::Trace as u32);
    assert!(log::LevelFilter::Off as u32 == 0);
};

/// A log callback: `level` is `IW_LOG_*`; `target` (the module) and `message`
/// are NUL-terminated UTF-8 that live until it returns. It runs on whatever
/// thread logged (often a library thread) and must not block for long.
pub type iw_log_fn = Option<
    unsafe extern "C" fn(
        level: u32,
        target: *const c_char,
        message: *const c_char,
        userdata: *mut c_void,
    ),
>;

/// Routes the library's log records up to `max_level` (`IW_LOG_*`; 0 turns
/// logging off) to `callback(level, target, message, userdata)`. A NULL
/// `callback` removes the current one. `userdata_free(userdata)` is called
/// exactly once: when replaced, removed, at `iw_shutdown`, or at once if this
/// call fails; if a log call with that userdata is running on another thread,
/// it is called on that thread when the log call returns (a running log call
/// may finish after the removal returns). Secrets (API secret, tokens) never appear in messages.
///
/// Errors: `IW_E_INVALID_ARGUMENT` (`max_level` > `IW_LOG_TRACE`),
/// `IW_E_ALREADY_STARTED` (the process already installed another `log` logger,
/// e.g. a Rust host), `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub extern "C" fn iw_set_log_callback(
    callback: iw_log_fn,
    userdata: *mut c_void,
    userdata_free: iw_userdata_free_fn,
    max_level: u32,
) -> iw_result {
    ffi_boundary! {
        let userdata = Userdata::new(userdata, userdata_free);
        check_alive()?;
        let Some(filter) = log::LevelFilter::iter().nth(max_level as usize) else {
            return Err(FfiError::new(
                IW_E_INVALID_ARGUMENT,
                format!("max_level is {max_level}; expected 0..=IW_LOG_TRACE (5)"),
            ));
        };
        let sink = match callback {
            Some(callback) => {
                install_forwarder()?;
                Some(Sink { callback, userdata })
            }
            None => None,
        };
        register(&SINK, sink, |sink| {
            log::set_max_level(if sink.is_some() { filter } else { log::LevelFilter::Off })
        });
        Ok(())
    }
}

struct Sink {
    callback: unsafe extern "C" fn(u32, *const c_char, *const c_char, *mut c_void),
    userdata: Userdata,
}

static SINK: RegSlot<Sink> = Mutex::new(None);

/// The `log` logger of the process, once `iw_set_log_callback` installed it.
struct Forwarder;

static FORWARDER: Forwarder = Forwarder;

/// Installs the forwarder as the process's logger (once).
fn install_forwarder() -> FfiResult {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let ours = *INSTALLED.get_or_init(|| {
        let ours = log::set_logger(&FORWARDER).is_ok();
        if ours {
            release_at_shutdown(Held::LogCallback, &FORWARDER);
        }
        ours
    });
    if ours {
        Ok(())
    } else {
        Err(FfiError::new(
            IW_E_ALREADY_STARTED,
            "another logger is installed in this process (log::set_logger); \
             the library's records go there",
        ))
    }
}

impl Release for Forwarder {
    /// Removes the callback (at `iw_shutdown`).
    fn release_all(&self) {
        register(&SINK, None, |_| log::set_max_level(log::LevelFilter::Off));
    }
}

thread_local! {
    static BUFFERS: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Appends `text` without interior NULs, then a NUL.
fn c_string_into(buf: &mut Vec<u8>, text: &[u8]) {
    buf.clear();
    buf.extend(text.iter().map(|&b| if b == 0 { b' ' } else { b }));
    buf.push(0);
}

// The level is checked here too, not only by `log`'s macros: some crates
// (tracing's `log` bridge) hand records to the logger directly.
impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level() && SINK.lock().is_some()
    }

    fn log(&self, record: &log::Record) {
        if record.level() > log::max_level() {
            return;
        }
        let Some(sink) = SINK.lock().as_ref().and_then(|cell| cell.current()) else {
            return;
        };
        let level = record.level() as u32;
        let emit = |(target, message): &mut (Vec<u8>, Vec<u8>)| {
            c_string_into(target, record.target().as_bytes());
            message.clear();
            let _ = write!(message, "{}", record.args());
            let text = std::mem::take(message);
            c_string_into(message, &text);
            unsafe {
                (sink.callback)(
                    level,
                    target.as_ptr() as *const c_char,
                    message.as_ptr() as *const c_char,
                    sink.userdata.ptr,
                )
            };
        };
        BUFFERS.with(|b| match b.try_borrow_mut() {
            Ok(mut bufs) => emit(&mut bufs),
            // The callback logged through the library again: use fresh buffers.
            Err(_) => emit(&mut (Vec::new(), Vec::new())),
        });
    }

    fn flush(&self) {}
}
