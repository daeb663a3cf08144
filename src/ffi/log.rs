//! Routes the library's `log` records to a C callback (the game's console).

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::io::Write;
use std::sync::Arc;

use parking_lot::RwLock;

use super::error::*;
use super::runtime::check_alive;
use super::session::{iw_userdata_free_fn, Userdata};

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

struct Sink {
    callback: unsafe extern "C" fn(u32, *const c_char, *const c_char, *mut c_void),
    userdata: Userdata,
}

static SINK: RwLock<Option<Arc<Sink>>> = RwLock::new(None);

struct Forwarder;

static FORWARDER: Forwarder = Forwarder;

thread_local! {
    static BUFFERS: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Appends `text` without interior NULs, then a NUL.
fn c_string_into(buf: &mut Vec<u8>, text: &[u8]) {
    buf.clear();
    buf.extend(text.iter().map(|&b| if b == 0 { b' ' } else { b }));
    buf.push(0);
}

impl log::Log for Forwarder {
    fn enabled(&self, _metadata: &log::Metadata) -> bool {
        SINK.read().is_some()
    }

    fn log(&self, record: &log::Record) {
        let Some(sink) = SINK.read().clone() else {
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

fn level_filter(level: u32) -> log::LevelFilter {
    match level {
        0 => log::LevelFilter::Off,
        IW_LOG_ERROR => log::LevelFilter::Error,
        IW_LOG_WARN => log::LevelFilter::Warn,
        IW_LOG_INFO => log::LevelFilter::Info,
        IW_LOG_DEBUG => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

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
    let userdata = Userdata::new(userdata, userdata_free);
    guard(move || {
        check_alive()?;
        if max_level > IW_LOG_TRACE {
            return Err(FfiError::new(
                IW_E_INVALID_ARGUMENT,
                format!("max_level is {max_level}; expected 0..=IW_LOG_TRACE (5)"),
            ));
        }
        let Some(callback) = callback else {
            let old = SINK.write().take();
            log::set_max_level(log::LevelFilter::Off);
            drop(old);
            drop(userdata);
            return Ok(());
        };
        install()?;
        let old = SINK.write().replace(Arc::new(Sink { callback, userdata }));
        log::set_max_level(level_filter(max_level));
        // Released outside the lock: a running log call may still hold it.
        drop(old);
        Ok(())
    })
}

fn install() -> FfiResult {
    static INSTALLED: once_cell::sync::OnceCell<bool> = once_cell::sync::OnceCell::new();
    let ours = *INSTALLED.get_or_init(|| log::set_logger(&FORWARDER).is_ok());
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

pub(crate) fn release() {
    let old = SINK.write().take();
    drop(old);
}
