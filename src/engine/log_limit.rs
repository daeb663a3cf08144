//! A bound on what clients can make the engine log: a host serves many
//! players, and one client sending bad messages, refused requests or LogError
//! calls in a loop must not flood the operator's log (or its disk). Lines
//! beyond the bound in a second are counted, and the count is logged once the
//! second is over.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct ClientLogLimit {
    per_second: u32,
    window: Mutex<Window>,
}

struct Window {
    started: Instant,
    logged: u32,
    suppressed: u64,
}

impl ClientLogLimit {
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            window: Mutex::new(Window {
                started: Instant::now(),
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// Whether a client-caused line may be logged now.
    pub fn allow(&self) -> bool {
        let mut w = self.window.lock();
        if w.started.elapsed() >= Duration::from_secs(1) {
            if w.suppressed > 0 {
                log::warn!(
                    "{} client-caused log lines suppressed (at most {} a second are logged)",
                    w.suppressed,
                    self.per_second
                );
            }
            *w = Window {
                started: Instant::now(),
                logged: 0,
                suppressed: 0,
            };
        }
        if w.logged < self.per_second {
            w.logged += 1;
            true
        } else {
            w.suppressed += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_beyond_the_bound_are_counted_not_logged() {
        let limit = ClientLogLimit::new(3);
        let allowed = (0..100).filter(|_| limit.allow()).count();
        // However slow the machine, no more than one window per second went by.
        assert!(allowed >= 3);
        assert!(allowed <= 3 * 100);
        let limit = ClientLogLimit::new(0);
        assert!(!limit.allow());
    }
}
