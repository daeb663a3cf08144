//! The bound on a session's sends not yet gone out (`max_pending_sends`).
//! Reserving a slot gives a [`SendPermit`], carried with the send (in the
//! command to the task, then in the send itself); the slot is free again
//! when the permit is used (the send went out, or failed and was about to
//! be reported) or dropped (the command never reached the task, the task
//! is gone, the runtime shut down). No one releases a slot by hand.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A session's pending-send slots.
#[derive(Debug)]
pub(crate) struct SendSlots {
    taken: AtomicUsize,
    max: usize,
}

impl SendSlots {
    pub(crate) fn new(max: usize) -> Arc<SendSlots> {
        Arc::new(SendSlots {
            taken: AtomicUsize::new(0),
            max,
        })
    }

    /// A slot, or `None` when `max` are taken already.
    pub(crate) fn reserve(self: &Arc<Self>) -> Option<SendPermit> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < self.max).then_some(taken + 1)
            })
            .ok()?;
        Some(SendPermit {
            slots: Some(self.clone()),
        })
    }

    /// How many slots are taken.
    #[cfg(test)]
    pub(crate) fn taken(&self) -> usize {
        self.taken.load(Ordering::Acquire)
    }
}

/// One pending-send slot, held until the send goes out or fails.
#[derive(Debug)]
pub(crate) struct SendPermit {
    /// `None` once used.
    slots: Option<Arc<SendSlots>>,
}

impl SendPermit {
    /// The send went out, or failed and is being reported: the slot is free
    /// (before the game hears of it, so that it may send again at once).
    pub(crate) fn use_up(&mut self) {
        if let Some(slots) = self.slots.take() {
            slots.taken.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// A permit of slots of its own, bounded by nothing (unit tests of the
    /// parts that carry sends).
    #[cfg(test)]
    pub(crate) fn unbounded() -> SendPermit {
        SendSlots::new(usize::MAX).reserve().expect("unbounded")
    }
}

impl Drop for SendPermit {
    fn drop(&mut self) {
        self.use_up();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    #[test]
    fn no_more_than_max_and_a_used_permit_frees_its_slot() {
        let slots = SendSlots::new(2);
        let mut a = slots.reserve().unwrap();
        let b = slots.reserve().unwrap();
        assert!(slots.reserve().is_none(), "the third is refused");
        assert_eq!(slots.taken(), 2);
        // Still counted while its send waits; freed when it goes out.
        a.use_up();
        assert_eq!(slots.taken(), 1);
        a.use_up();
        assert_eq!(slots.taken(), 1, "used once");
        drop(a);
        assert_eq!(slots.taken(), 1, "a used permit frees nothing more");
        let c = slots.reserve().unwrap();
        assert!(slots.reserve().is_none());
        drop((b, c));
        assert_eq!(slots.taken(), 0);
    }

    #[test]
    fn a_permit_whose_command_never_arrives_frees_its_slot() {
        let slots = SendSlots::new(4);
        // The channel is full: the refused command comes back and is dropped.
        let (tx, mut rx) = mpsc::channel::<SendPermit>(1);
        tx.try_send(slots.reserve().unwrap()).unwrap();
        assert!(tx.try_send(slots.reserve().unwrap()).is_err());
        assert_eq!(slots.taken(), 1, "only the queued one holds a slot");
        // The task is gone: what was queued goes with its channel.
        drop(rx.try_recv().unwrap());
        assert_eq!(slots.taken(), 0);
        tx.try_send(slots.reserve().unwrap()).unwrap();
        assert_eq!(slots.taken(), 1);
        drop(rx);
        assert_eq!(slots.taken(), 0, "dropped with the receiver");
        // The session closed: the send is refused at once.
        assert!(tx.try_send(slots.reserve().unwrap()).is_err());
        assert_eq!(slots.taken(), 0);
    }

    #[test]
    fn permits_taken_from_many_threads_never_pass_the_bound() {
        let slots = SendSlots::new(64);
        let held: Vec<Vec<SendPermit>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..100).filter_map(|_| slots.reserve()).collect()))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(held.iter().map(Vec::len).sum::<usize>(), 64);
        drop(held);
        assert_eq!(slots.taken(), 0);
    }
}
