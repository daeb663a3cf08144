//! Whether the service on one stream is alive. Silence is suspicious only
//! while the service owes the session something (a reply, a scene, a
//! handshake), and counts from when it began to owe it: the quiet before
//! the player speaks is not the service's. After `stall` of such silence the
//! task checks the connection (`Lease::probe`); a connection that answers
//! is alive however slow its replies are, and the silence counts afresh. One
//! that does not answer is `Stalled` and checked once more; a second check
//! unanswered means it is dead.
//!
//! A plain value: the driver tells it what happened and runs the checks it
//! asks for.

use std::time::{Duration, Instant};

/// What a check of the connection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// It answered (`was_stalled`: the session said Stalled meanwhile).
    Alive { was_stalled: bool },
    /// It did not answer: the session is Stalled, and checks once more.
    Stalled,
    /// It did not answer twice: dead.
    Dead,
}

#[derive(Debug)]
pub(super) struct Liveness {
    stall: Duration,
    /// Since when the service owes the session something.
    owed_since: Option<Instant>,
    /// When the service last showed it is alive (a packet, an answer).
    alive_at: Instant,
    /// A check runs (`true`: the second, after Stalled).
    checking: Option<bool>,
    stalled: bool,
}

impl Liveness {
    /// A stream opened at `now`.
    pub(super) fn new(stall: Duration, now: Instant) -> Self {
        Liveness {
            stall,
            owed_since: None,
            alive_at: now,
            checking: None,
            stalled: false,
        }
    }

    /// Whether the service owes the session something now.
    pub(super) fn owes(&mut self, owes: bool, now: Instant) {
        match (owes, self.owed_since) {
            (true, None) => self.owed_since = Some(now),
            (false, Some(_)) => self.owed_since = None,
            _ => {}
        }
    }

    /// A packet came: the service is alive. Returns whether the session
    /// was Stalled (it is not any more); a running check is moot.
    pub(super) fn heard(&mut self, now: Instant) -> bool {
        self.alive_at = now;
        self.checking = None;
        std::mem::take(&mut self.stalled)
    }

    /// When the connection must be checked (no check runs).
    pub(super) fn check_due(&self) -> Option<Instant> {
        if self.checking.is_some() {
            return None;
        }
        self.owed_since
            .map(|owed| owed.max(self.alive_at) + self.stall)
    }

    /// A check starts (it is due).
    pub(super) fn check_started(&mut self) {
        self.checking = Some(self.stalled);
    }

    /// What the running check found.
    pub(super) fn checked(&mut self, answered: bool, now: Instant) -> Verdict {
        let second = self.checking.take().unwrap_or(false);
        if answered {
            self.alive_at = now;
            return Verdict::Alive {
                was_stalled: std::mem::take(&mut self.stalled),
            };
        }
        if second {
            return Verdict::Dead;
        }
        self.stalled = true;
        self.checking = Some(true);
        Verdict::Stalled
    }

    /// How long the service was silent while owing something.
    pub(super) fn silence(&self, now: Instant) -> Duration {
        self.owed_since
            .map_or(Duration::ZERO, |owed| now - owed.max(self.alive_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(3);

    #[test]
    fn silence_before_something_is_owed_is_not_the_services() {
        let t0 = Instant::now();
        let mut l = Liveness::new(STALL, t0);
        assert_eq!(l.check_due(), None, "nothing owed, nothing to check");
        // The player speaks 15 s later: the count starts then.
        let send = t0 + Duration::from_secs(15);
        l.owes(true, send);
        assert_eq!(l.check_due(), Some(send + STALL));
        assert_eq!(
            l.silence(send + Duration::from_millis(2)),
            Duration::from_millis(2)
        );
        // The reply starts: counted from the last packet.
        l.heard(send + Duration::from_secs(1));
        assert_eq!(l.check_due(), Some(send + Duration::from_secs(1) + STALL));
        l.owes(false, send + Duration::from_secs(2));
        assert_eq!(l.check_due(), None);
    }

    #[test]
    fn a_connection_that_answers_is_alive_however_slow() {
        let t0 = Instant::now();
        let mut l = Liveness::new(STALL, t0);
        l.owes(true, t0);
        let mut now = t0;
        for _ in 0..10 {
            now = l.check_due().unwrap();
            l.check_started();
            assert_eq!(l.check_due(), None, "one check at a time");
            let answer = now + Duration::from_millis(100);
            assert_eq!(
                l.checked(true, answer),
                Verdict::Alive { was_stalled: false }
            );
            assert_eq!(l.check_due(), Some(answer + STALL), "counted afresh");
        }
        assert!(now > t0 + 10 * STALL);
    }

    #[test]
    fn stalled_only_when_a_check_goes_unanswered_and_dead_after_two() {
        let t0 = Instant::now();
        let mut l = Liveness::new(STALL, t0);
        l.owes(true, t0);
        l.check_started();
        assert_eq!(l.checked(false, t0 + 2 * STALL), Verdict::Stalled);
        // The second check runs at once.
        assert_eq!(l.check_due(), None);
        assert_eq!(l.checked(false, t0 + 3 * STALL), Verdict::Dead);

        let mut l = Liveness::new(STALL, t0);
        l.owes(true, t0);
        l.check_started();
        assert_eq!(l.checked(false, t0 + 2 * STALL), Verdict::Stalled);
        assert_eq!(
            l.checked(true, t0 + 3 * STALL),
            Verdict::Alive { was_stalled: true }
        );
        // A packet while Stalled says so too.
        l.check_started();
        assert_eq!(l.checked(false, t0 + 5 * STALL), Verdict::Stalled);
        assert!(l.heard(t0 + 6 * STALL));
        assert!(!l.heard(t0 + 6 * STALL));
    }
}
