//! Where a session's packets wait for the game: one bounded lock-free queue,
//! an overflow counter reported as a packet, and the optional callbacks
//! (packet handler, wake-up) with the guarantee that none runs after close.

use super::{PacketHandler, WakeupHandler};
use crate::packet::{Packet, PacketBody, PacketIds, Routing};
use crossbeam_queue::ArrayQueue;
use parking_lot::{Condvar, Mutex, ReentrantMutex};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

thread_local! {
    /// The delivery whose callback this thread is running (0 for none): lets
    /// `close()` from inside a handler return instead of waiting for itself.
    static IN_CALLBACK: Cell<usize> = const { Cell::new(0) };
}

#[derive(Default)]
struct Callbacks {
    handler: Option<PacketHandler>,
    wakeup: Option<WakeupHandler>,
}

pub(crate) struct Delivery {
    queue: ArrayQueue<Packet>,
    /// Packets dropped since the last Overflow report.
    dropped: AtomicU64,
    /// Serialises producers (library side only; the game's poll never takes it).
    produce: Mutex<()>,
    callbacks: Mutex<Callbacks>,
    /// Held while a callback runs; close() takes it to wait for a running one.
    running: ReentrantMutex<()>,
    closed: AtomicBool,
    /// Blocking receivers (recv_timeout) waiting for a packet.
    waiters: AtomicUsize,
    wait_lock: Mutex<()>,
    wait_cv: Condvar,
}

impl Delivery {
    pub(crate) fn new(capacity: usize) -> Self {
        Delivery {
            queue: ArrayQueue::new(capacity.max(1)),
            dropped: AtomicU64::new(0),
            produce: Mutex::new(()),
            callbacks: Mutex::new(Callbacks::default()),
            running: ReentrantMutex::new(()),
            closed: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            wait_lock: Mutex::new(()),
            wait_cv: Condvar::new(),
        }
    }

    fn id(&self) -> usize {
        self as *const Self as usize
    }

    /// Hands a packet to the game: to the handler if one is set (and the
    /// session is open), otherwise to the queue.
    pub(crate) fn deliver(&self, packet: Packet) {
        let mut slot = Some(packet);
        if !self.closed.load(Ordering::Acquire) && self.callbacks.lock().handler.is_some() {
            if let Some(overflow) = self.take_overflow() {
                let mut report = Some(overflow);
                if !self.run_callback(
                    |c| c.handler.clone(),
                    |handler| handler(report.take().expect("once")),
                ) {
                    self.enqueue(report.take().expect("not run"));
                }
            }
            if self.run_callback(
                |c| c.handler.clone(),
                |handler| handler(slot.take().expect("once")),
            ) {
                return;
            }
        }
        // No handler, or closed or removed meanwhile: the packet stays pollable.
        self.enqueue(slot.take().expect("not delivered"));
    }

    /// Puts a packet in the queue (reporting earlier drops first); drops and
    /// counts it when the queue is full.
    pub(crate) fn enqueue(&self, packet: Packet) {
        let was_empty;
        {
            let _producer = self.produce.lock();
            was_empty = self.queue.is_empty();
            let dropped = self.dropped.load(Ordering::Acquire);
            if dropped > 0 {
                if self.queue.push(overflow_packet(dropped)).is_err() {
                    self.dropped.fetch_add(1, Ordering::AcqRel);
                    return;
                }
                self.dropped.fetch_sub(dropped, Ordering::AcqRel);
            }
            if self.queue.push(packet).is_err() {
                self.dropped.fetch_add(1, Ordering::AcqRel);
                return;
            }
        }
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _g = self.wait_lock.lock();
            self.wait_cv.notify_all();
        }
        if was_empty {
            self.run_callback(|c| c.wakeup.clone(), |wakeup| wakeup());
        }
    }

    /// The Overflow report owed, if packets were dropped. Taken under the
    /// producers' lock so that `enqueue` never subtracts a count taken here.
    fn take_overflow(&self) -> Option<Packet> {
        if self.dropped.load(Ordering::Acquire) == 0 {
            return None;
        }
        let _producer = self.produce.lock();
        let dropped = self.dropped.swap(0, Ordering::AcqRel);
        (dropped > 0).then(|| overflow_packet(dropped))
    }

    /// Runs the callback `pick` chooses, unless the session closed or there is
    /// none (then returns false). The callback is read under the `running`
    /// lock that set_handler/set_wakeup/close wait on, so once they return the
    /// callback they replaced is never called again.
    fn run_callback<C>(
        &self,
        pick: impl FnOnce(&Callbacks) -> Option<C>,
        call: impl FnOnce(C),
    ) -> bool {
        let _running = self.running.lock();
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        let Some(callback) = pick(&self.callbacks.lock()) else {
            return false;
        };
        let previous = IN_CALLBACK.with(|c| c.replace(self.id()));
        // A panicking callback must not take the library thread down with it.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(callback)));
        IN_CALLBACK.with(|c| c.set(previous));
        if result.is_err() {
            log::error!("a packet handler or wake-up callback panicked; the panic was caught");
        }
        true
    }

    /// The next packet; once the queue is drained, the report of any packets
    /// dropped meanwhile (so the game learns of them without waiting for more
    /// traffic). The empty path is one pop and one atomic load.
    pub(crate) fn try_recv(&self) -> Option<Packet> {
        self.queue.pop().or_else(|| self.take_overflow())
    }

    pub(crate) fn recv_timeout(&self, timeout: Duration) -> Option<Packet> {
        if let Some(p) = self.try_recv() {
            return Some(p);
        }
        let deadline = Instant::now() + timeout;
        let mut guard = self.wait_lock.lock();
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            if let Some(p) = self.try_recv() {
                break Some(p);
            }
            if self.wait_cv.wait_until(&mut guard, deadline).timed_out() {
                break self.try_recv();
            }
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Replaces the handler; unless called from this session's own callback,
    /// returns only once no call of the previous handler is running.
    pub(crate) fn set_handler(&self, handler: Option<PacketHandler>) {
        let old = std::mem::replace(&mut self.callbacks.lock().handler, handler);
        self.wait_for_callbacks();
        drop(old);
    }

    pub(crate) fn set_wakeup(&self, wakeup: Option<WakeupHandler>) {
        let old = std::mem::replace(&mut self.callbacks.lock().wakeup, wakeup);
        self.wait_for_callbacks();
        drop(old);
    }

    /// After this returns (or, from inside a callback, after that callback
    /// returns) no callback of this delivery runs. Packets delivered later go
    /// to the queue. Returns false when it was already closed.
    pub(crate) fn close(&self) -> bool {
        let first = !self.closed.swap(true, Ordering::AcqRel);
        self.wait_for_callbacks();
        if first {
            let old = std::mem::take(&mut *self.callbacks.lock());
            drop(old);
        }
        first
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn wait_for_callbacks(&self) {
        if IN_CALLBACK.with(|c| c.get()) != self.id() {
            drop(self.running.lock());
        }
    }

    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Acquire)
    }
}

fn overflow_packet(dropped: u64) -> Packet {
    Packet {
        ids: PacketIds::default(),
        routing: Routing::default(),
        timestamp_ms: 0,
        body: PacketBody::Overflow { dropped },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn silence(ms: i64) -> Packet {
        Packet {
            ids: PacketIds::default(),
            routing: Routing::default(),
            timestamp_ms: 0,
            body: PacketBody::Silence { duration_ms: ms },
        }
    }

    #[test]
    fn overflow_is_counted_and_reported_once_the_queue_drains() {
        let d = Delivery::new(2);
        for i in 0..5 {
            d.deliver(silence(i));
        }
        assert_eq!(d.dropped(), 3);
        assert_eq!(
            d.try_recv().unwrap().body,
            PacketBody::Silence { duration_ms: 0 }
        );
        assert_eq!(
            d.try_recv().unwrap().body,
            PacketBody::Silence { duration_ms: 1 }
        );
        // Drained: the drops are reported at once, not after the next packet.
        assert_eq!(
            d.try_recv().unwrap().body,
            PacketBody::Overflow { dropped: 3 }
        );
        assert_eq!(d.dropped(), 0);
        assert!(d.try_recv().is_none());
    }

    #[test]
    fn overflow_is_reported_before_a_packet_that_finds_room() {
        let d = Delivery::new(2);
        for i in 0..5 {
            d.deliver(silence(i));
        }
        d.try_recv();
        d.try_recv();
        d.deliver(silence(9));
        assert_eq!(
            d.try_recv().unwrap().body,
            PacketBody::Overflow { dropped: 3 }
        );
        assert_eq!(
            d.try_recv().unwrap().body,
            PacketBody::Silence { duration_ms: 9 }
        );
        assert!(d.try_recv().is_none());
    }

    #[test]
    fn wakeup_fires_on_empty_to_non_empty_only() {
        let d = Delivery::new(8);
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        d.set_wakeup(Some(Arc::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })));
        d.deliver(silence(1));
        d.deliver(silence(2));
        assert_eq!(count.load(Ordering::SeqCst), 1);
        d.try_recv();
        d.try_recv();
        d.deliver(silence(3));
        assert_eq!(count.load(Ordering::SeqCst), 2);
        d.close();
        d.try_recv();
        d.deliver(silence(4));
        assert_eq!(count.load(Ordering::SeqCst), 2);
        assert!(d.try_recv().is_some(), "packets still queue after close");
    }

    #[test]
    fn close_inside_the_handler_returns_and_stops_delivery() {
        let d = Arc::new(Delivery::new(8));
        let seen = Arc::new(AtomicUsize::new(0));
        let (d2, s2) = (d.clone(), seen.clone());
        d.set_handler(Some(Arc::new(move |_p| {
            s2.fetch_add(1, Ordering::SeqCst);
            d2.close();
        })));
        d.deliver(silence(1));
        d.deliver(silence(2));
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        assert!(d.try_recv().is_some());
    }

    #[test]
    fn a_replaced_handler_is_never_called_and_no_packet_is_lost() {
        const PACKETS: i64 = 20_000;
        let d = Arc::new(Delivery::new(PACKETS as usize));
        let seen = Arc::new(AtomicUsize::new(0));
        let late = Arc::new(AtomicUsize::new(0));
        // A handler that knows when it has been replaced.
        let handler = || {
            let retired = Arc::new(AtomicBool::new(false));
            let (seen, late, flag) = (seen.clone(), late.clone(), retired.clone());
            let h: PacketHandler = Arc::new(move |_p| {
                let counter = if flag.load(Ordering::SeqCst) {
                    &late
                } else {
                    &seen
                };
                counter.fetch_add(1, Ordering::SeqCst);
            });
            (h, retired)
        };
        let (first, mut retired) = handler();
        d.set_handler(Some(first));
        let producer = {
            let d = d.clone();
            std::thread::spawn(move || (0..PACKETS).for_each(|i| d.deliver(silence(i))))
        };
        // Swap handlers (and sometimes none) while packets flow.
        let mut swaps = 0;
        while !producer.is_finished() {
            let (next, next_retired) = handler();
            d.set_handler((swaps % 3 != 0).then_some(next));
            retired.store(true, Ordering::SeqCst);
            retired = next_retired;
            swaps += 1;
        }
        producer.join().unwrap();
        let mut queued = 0;
        while d.try_recv().is_some() {
            queued += 1;
        }
        assert_eq!(late.load(Ordering::SeqCst), 0, "a replaced handler ran");
        assert_eq!(seen.load(Ordering::SeqCst) + queued, PACKETS as usize);
    }

    #[test]
    fn recv_timeout_wakes_on_a_packet_from_another_thread() {
        let d = Arc::new(Delivery::new(8));
        let d2 = d.clone();
        let t = std::thread::spawn(move || d2.recv_timeout(Duration::from_secs(20)));
        std::thread::sleep(Duration::from_millis(20));
        d.deliver(silence(7));
        assert_eq!(
            t.join().unwrap().unwrap().body,
            PacketBody::Silence { duration_ms: 7 }
        );
        assert!(d.recv_timeout(Duration::from_millis(1)).is_none());
    }
}
