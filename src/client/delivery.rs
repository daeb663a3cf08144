//! Where a session's packets wait for the game: one lock-free queue bounded
//! by count (memory is taken as packets arrive, not up front), an overflow
//! counter reported as a packet, room of their own for the library's status
//! packets, and the ways to wait: poll, block with a timeout, `.await`, or a
//! handler / wake-up callback, with the guarantee that none runs after close.
//!
//! Concurrency: producers (the session's task, the API's close) serialise on
//! `produce`; the game's poll takes no lock at all (one pop, one atomic).

use super::{PacketHandler, WakeupHandler};
use crate::packet::{Packet, PacketBody};
use crossbeam_queue::SegQueue;
use parking_lot::{Condvar, Mutex, ReentrantMutex};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

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
    queue: SegQueue<Packet>,
    /// Packets from the service that may wait.
    capacity: usize,
    /// Extra room for the library's status packets (connection changes,
    /// errors, failed sends): a game that stops polling during an outage
    /// still learns what happened when it polls again.
    status_reserve: usize,
    /// Packets dropped since the last Overflow report.
    dropped: AtomicU64,
    /// Serialises producers (library side only; the game's poll never takes it).
    produce: Mutex<()>,
    callbacks: Mutex<Callbacks>,
    /// Held while a callback runs; close() takes it to wait for a running one.
    running: ReentrantMutex<()>,
    closed: AtomicBool,
    /// Set once the session's Connection Closed packet is queued.
    finished: AtomicBool,
    /// Packets on their way (results of calls made): until they are
    /// delivered, a finished session is not drained for good.
    promised: AtomicUsize,
    /// Blocking receivers (recv_timeout) waiting for a packet.
    waiters: AtomicUsize,
    wait_lock: Mutex<()>,
    wait_cv: Condvar,
    /// Async receivers (recv) waiting for a packet.
    async_waiters: AtomicUsize,
    notify: Notify,
}

impl Delivery {
    pub(crate) fn new(capacity: usize, status_reserve: usize) -> Self {
        Delivery {
            queue: SegQueue::new(),
            capacity: capacity.max(1),
            status_reserve,
            dropped: AtomicU64::new(0),
            produce: Mutex::new(()),
            callbacks: Mutex::new(Callbacks::default()),
            running: ReentrantMutex::new(()),
            closed: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            promised: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            wait_lock: Mutex::new(()),
            wait_cv: Condvar::new(),
            async_waiters: AtomicUsize::new(0),
            notify: Notify::new(),
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

    /// A packet is on its way: receivers wait for it even after Closed,
    /// until `settle` (once it was delivered, or will never be).
    pub(crate) fn promise(&self) {
        self.promised.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn settle(&self) {
        self.promised.fetch_sub(1, Ordering::SeqCst);
        self.wake_receivers();
    }

    /// Queues the session's Connection Closed packet; receivers see the end
    /// after it (and after the packets promised).
    pub(crate) fn deliver_last(&self, packet: Packet) {
        self.deliver(packet);
        self.finished.store(true, Ordering::Release);
        self.wake_receivers();
    }

    /// Puts a packet in the queue (reporting earlier drops first); drops and
    /// counts it when there is no room for its kind.
    fn enqueue(&self, packet: Packet) {
        let was_empty;
        {
            let _producer = self.produce.lock();
            // Producers are serialised here: no push races this count (the
            // game's pops only make it smaller).
            let len = self.queue.len();
            was_empty = len == 0;
            let limit = if packet.is_status() {
                self.capacity + self.status_reserve
            } else {
                self.capacity
            };
            if len >= limit {
                self.dropped.fetch_add(1, Ordering::AcqRel);
                return;
            }
            // The report goes just before the packet that found room (it may
            // take one slot past the capacity: reports never pile up, each
            // one resets the count).
            let dropped = self.dropped.swap(0, Ordering::AcqRel);
            if dropped > 0 {
                self.push(overflow_packet(dropped));
            }
            self.push(packet);
        }
        self.wake_receivers();
        if was_empty {
            self.run_callback(|c| c.wakeup.clone(), |wakeup| wakeup());
        }
    }

    fn push(&self, packet: Packet) {
        self.queue.push(packet);
    }

    fn wake_receivers(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _g = self.wait_lock.lock();
            self.wait_cv.notify_all();
        }
        if self.async_waiters.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// The Overflow report owed, if packets were dropped. Taken under the
    /// producers' lock so that `enqueue` never reports a count taken here.
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

    /// Whether the session's last packet has been taken: nothing will come
    /// (Closed, and no call's result is on its way).
    fn drained_for_good(&self) -> bool {
        self.finished.load(Ordering::Acquire)
            && self.promised.load(Ordering::SeqCst) == 0
            && self.queue.is_empty()
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
            if self.drained_for_good() {
                break None;
            }
            if self.wait_cv.wait_until(&mut guard, deadline).timed_out() {
                break self.try_recv();
            }
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// The next packet, waiting for it without blocking a thread; `None`
    /// once the session has ended and every packet has been taken.
    pub(crate) async fn recv(&self) -> Option<Packet> {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        loop {
            if let Some(p) = self.try_recv() {
                return Some(p);
            }
            if self.drained_for_good() {
                return None;
            }
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the re-check below: a packet pushed after it
            // wakes this waiter.
            notified.as_mut().enable();
            self.async_waiters.fetch_add(1, Ordering::SeqCst);
            let _waiting = Waiting(&self.async_waiters);
            if let Some(p) = self.try_recv() {
                return Some(p);
            }
            if self.drained_for_good() {
                return None;
            }
            notified.await;
        }
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
    Packet::local(PacketBody::Overflow { dropped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{ConnectionEvent, ConnectionState, Resumed};
    use std::sync::Arc;

    fn silence(ms: i64) -> Packet {
        Packet::local(PacketBody::Silence { duration_ms: ms })
    }

    fn connection(state: ConnectionState) -> Packet {
        Packet::local(PacketBody::Connection(ConnectionEvent {
            state,
            retry_in: Duration::ZERO,
            resumed: Resumed::No,
        }))
    }

    #[test]
    fn overflow_is_counted_and_reported_once_the_queue_drains() {
        let d = Delivery::new(2, 4);
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
        let d = Delivery::new(2, 4);
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
    fn status_packets_have_room_of_their_own() {
        let d = Delivery::new(2, 3);
        for i in 0..4 {
            d.deliver(silence(i));
        }
        // The queue is full of the service's packets; the library's own
        // still get in, after the report of what was dropped.
        d.deliver(connection(ConnectionState::Reconnecting));
        d.deliver(connection(ConnectionState::Closed));
        let got: Vec<_> = std::iter::from_fn(|| d.try_recv())
            .map(|p| p.body)
            .collect();
        assert_eq!(
            got,
            vec![
                PacketBody::Silence { duration_ms: 0 },
                PacketBody::Silence { duration_ms: 1 },
                PacketBody::Overflow { dropped: 2 },
                connection(ConnectionState::Reconnecting).body,
                connection(ConnectionState::Closed).body,
            ]
        );
        // The reserve is bounded too: memory stays bounded whatever happens.
        for _ in 0..10 {
            d.deliver(connection(ConnectionState::Reconnecting));
        }
        assert_eq!(std::iter::from_fn(|| d.try_recv()).count(), 2 + 3 + 1);
    }

    #[test]
    fn wakeup_fires_on_empty_to_non_empty_only() {
        let d = Delivery::new(8, 0);
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
        let d = Arc::new(Delivery::new(8, 0));
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
        let d = Arc::new(Delivery::new(PACKETS as usize, 0));
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
        let d = Arc::new(Delivery::new(8, 0));
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

    #[test]
    fn recv_awaits_packets_and_ends_after_the_last() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let d = Arc::new(Delivery::new(8, 4));
        let producer = {
            let d = d.clone();
            std::thread::spawn(move || {
                for i in 0..3 {
                    std::thread::sleep(Duration::from_millis(5));
                    d.deliver(silence(i));
                }
                d.deliver_last(connection(ConnectionState::Closed));
            })
        };
        let got = runtime.block_on(async {
            let mut got = Vec::new();
            while let Some(p) = d.recv().await {
                got.push(p.body);
            }
            got
        });
        producer.join().unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[3], connection(ConnectionState::Closed).body);
        // Ended: no waiting any more.
        assert!(runtime.block_on(d.recv()).is_none());
        assert!(d.recv_timeout(Duration::from_secs(20)).is_none());
    }
}
