//! The library's one private tokio runtime: created on first use, sized before
//! that (2 workers by default), stopped and joined by [`shutdown`].

use super::Error;
use parking_lot::Mutex;
use std::time::Duration;
use tokio::runtime::{Builder, Handle, Runtime};

/// Worker threads when nobody asked for another number.
pub const DEFAULT_WORKER_THREADS: usize = 2;

enum State {
    NotStarted { workers: usize },
    Running(Runtime),
    Shutdown,
}

static STATE: Mutex<State> = Mutex::new(State::NotStarted {
    workers: DEFAULT_WORKER_THREADS,
});

/// Sets the number of worker threads; only before the runtime starts.
pub fn set_worker_threads(n: usize) -> Result<(), Error> {
    if n == 0 {
        return Err(Error::InvalidArgument(
            "worker threads must be at least 1".into(),
        ));
    }
    let mut state = STATE.lock();
    match &mut *state {
        State::NotStarted { workers } => {
            *workers = n;
            Ok(())
        }
        State::Running(_) => Err(Error::AlreadyStarted),
        State::Shutdown => Err(Error::Shutdown),
    }
}

/// A handle to the runtime, starting it on first use.
pub fn handle() -> Result<Handle, Error> {
    let mut state = STATE.lock();
    match &*state {
        State::Running(rt) => Ok(rt.handle().clone()),
        State::Shutdown => Err(Error::Shutdown),
        State::NotStarted { workers } => {
            let rt = Builder::new_multi_thread()
                .worker_threads(*workers)
                .thread_name("inworld-rt")
                .enable_all()
                .build()
                .map_err(|e| Error::Runtime(format!("cannot start the runtime: {e}")))?;
            let handle = rt.handle().clone();
            *state = State::Running(rt);
            Ok(handle)
        }
    }
}

/// Whether the runtime is running now.
pub fn is_running() -> bool {
    matches!(&*STATE.lock(), State::Running(_))
}

/// Stops the runtime and joins its threads (waiting up to 5 s for tasks to
/// finish their current step). Idempotent; afterwards [`handle`] fails with
/// [`Error::Shutdown`]. Sessions still open end as Closed.
pub fn shutdown() {
    let previous = std::mem::replace(&mut *STATE.lock(), State::Shutdown);
    if let State::Running(rt) = previous {
        if Handle::try_current().is_ok() {
            // Joining from inside a runtime would deadlock (tokio panics instead).
            rt.shutdown_background();
        } else {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}
