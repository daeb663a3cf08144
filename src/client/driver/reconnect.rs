//! Why a stream (or an attempt to open one) ended, and what to do about it:
//! a pure decision, unit-tested without a network.
//!
//! Inworld's error details come first: NO_RETRY gives up, IMMEDIATE retries
//! at once, TIMEOUT at `reconnect_time`, and `max_retries` caps the
//! attempts. An expired or unknown session token is renewed when the
//! library holds the API key (a restarted service no longer knows the
//! token, nor the session: a new one is opened). Without details, gRPC codes
//! that a retry cannot fix give up, and everything else (transport errors,
//! timeouts, a dead connection, the stream ending) backs off exponentially,
//! up to the policy's attempts.

use crate::client::config::ReconnectPolicy;
use crate::protocol::status::{details_of, ErrorType, ReconnectionType};
use std::time::{Duration, SystemTime};

/// Why a stream or an attempt ended.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A gRPC status from the service (or from the transport, through tonic).
    Status(tonic::Status),
    /// No token and stream within the connect timeout.
    ConnectTimeout,
    /// The game's token provider did not answer within the connect timeout.
    TokenProviderTimeout,
    /// The scene's status did not come in time.
    SceneTimeout,
    /// The service did not confirm a conversation in time.
    HandshakeTimeout,
    /// The service ended the stream without an error.
    Ended,
    /// A stalled stream's connection did not answer a check: it is dead.
    Unresponsive,
    /// Something no retry can fix (a value that cannot be sent, ...).
    Fatal(String),
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    GiveUp,
    After(Duration),
}

/// The decision about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub retry: Retry,
    /// Get a new token before the next attempt.
    pub renew_token: bool,
    /// The service no longer holds the session: open a new one (new session
    /// id, configuration and scene again, the dialog so far as continuation).
    pub session_lost: bool,
}

impl Decision {
    fn give_up() -> Self {
        Decision {
            retry: Retry::GiveUp,
            renew_token: false,
            session_lost: false,
        }
    }

    /// Reconnect at once, without counting an attempt.
    pub(crate) fn retry_now() -> Self {
        Decision {
            retry: Retry::After(Duration::ZERO),
            renew_token: false,
            session_lost: false,
        }
    }

    pub(crate) fn will_retry(&self) -> bool {
        self.retry != Retry::GiveUp
    }
}

/// What the decision needs to know about the session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Situation<'a> {
    pub policy: &'a ReconnectPolicy,
    /// The session was never Ready: a first open that cannot load its scene
    /// fails at once (a clear error beats a minute of retries).
    pub first_open: bool,
    /// The library can get tokens itself (it holds the API key).
    pub can_renew_token: bool,
}

/// Decides what to do after `failure`. `attempts` counts failures in a row
/// (it is incremented here; the driver resets it once Ready).
pub(crate) fn decide(failure: &Failure, attempts: &mut u32, s: Situation) -> Decision {
    let mut limit = s.policy.max_attempts;
    let mut renew_token = false;
    let mut session_lost = false;
    let delay = match failure {
        Failure::Fatal(_) => return Decision::give_up(),
        Failure::SceneTimeout if s.first_open => return Decision::give_up(),
        Failure::ConnectTimeout
        | Failure::TokenProviderTimeout
        | Failure::SceneTimeout
        | Failure::HandshakeTimeout
        | Failure::Ended
        | Failure::Unresponsive => None,
        Failure::Status(status) => {
            let details = details_of(status);
            if let Some(d) = details.as_ref().filter(|d| d.max_retries > 0) {
                limit = d.max_retries as u32;
            }
            match details.as_ref().and_then(|d| d.error_type()) {
                Some(ErrorType::SessionTokenExpired) if s.can_renew_token => {
                    renew_token = true;
                }
                Some(ErrorType::SessionTokenInvalid | ErrorType::SessionExpired)
                    if s.can_renew_token =>
                {
                    renew_token = true;
                    session_lost = true;
                }
                _ => {}
            }
            if renew_token {
                Some(Duration::ZERO)
            } else {
                match details.map(|d| (d.reconnect_type, d.reconnect_time)) {
                    Some((ReconnectionType::NoRetry, _)) => return Decision::give_up(),
                    Some((ReconnectionType::Immediate, _)) => Some(Duration::ZERO),
                    Some((ReconnectionType::Timeout, Some(at))) => {
                        Some(at.duration_since(SystemTime::now()).unwrap_or_default())
                    }
                    _ if unfixable(status.code()) => return Decision::give_up(),
                    _ => None,
                }
            }
        }
    };
    *attempts += 1;
    if *attempts > limit {
        return Decision::give_up();
    }
    Decision {
        retry: Retry::After(delay.unwrap_or_else(|| s.policy.backoff(*attempts))),
        renew_token,
        session_lost,
    }
}

/// gRPC codes a retry cannot fix (without instructions from the service).
fn unfixable(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(
        code,
        Unauthenticated
            | PermissionDenied
            | InvalidArgument
            | NotFound
            | Unimplemented
            | FailedPrecondition
            | OutOfRange
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::status::{status_with_details, ErrorDetails};

    fn with(reconnect: ReconnectionType, max_retries: i32) -> Failure {
        let mut d = ErrorDetails::new(ErrorType::SessionPaused, reconnect);
        d.max_retries = max_retries;
        Failure::Status(status_with_details(
            tonic::Code::FailedPrecondition,
            "x",
            &d,
        ))
    }

    fn token(error_type: ErrorType) -> Failure {
        Failure::Status(status_with_details(
            tonic::Code::Unauthenticated,
            "token",
            &ErrorDetails::new(error_type, ReconnectionType::NoRetry),
        ))
    }

    fn situation(policy: &ReconnectPolicy) -> Situation<'_> {
        Situation {
            policy,
            first_open: false,
            can_renew_token: true,
        }
    }

    fn after(d: Decision) -> Option<Duration> {
        match d.retry {
            Retry::After(t) => Some(t),
            Retry::GiveUp => None,
        }
    }

    #[test]
    fn details_drive_the_policy() {
        let policy = ReconnectPolicy::default();
        let s = situation(&policy);
        let mut n = 0;
        let d = decide(&with(ReconnectionType::Immediate, 0), &mut n, s);
        assert_eq!(after(d), Some(Duration::ZERO));
        assert!(!d.renew_token && !d.session_lost);
        let mut n = 0;
        assert!(!decide(&with(ReconnectionType::NoRetry, 0), &mut n, s).will_retry());
        // max_retries from the service caps the attempts.
        let mut n = 0;
        for _ in 0..2 {
            assert!(decide(&with(ReconnectionType::Immediate, 2), &mut n, s).will_retry());
        }
        assert!(!decide(&with(ReconnectionType::Immediate, 2), &mut n, s).will_retry());
        // TIMEOUT waits until reconnect_time.
        let mut d = ErrorDetails::new(ErrorType::SessionPaused, ReconnectionType::Timeout);
        d.reconnect_time = Some(SystemTime::now() + Duration::from_secs(30));
        let f = Failure::Status(status_with_details(tonic::Code::Unavailable, "x", &d));
        let mut n = 0;
        let wait = after(decide(&f, &mut n, s)).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
    }

    #[test]
    fn without_details_codes_and_backoff_decide() {
        let policy = ReconnectPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        let s = situation(&policy);
        let mut n = 0;
        let unauthenticated = Failure::Status(tonic::Status::unauthenticated("x"));
        assert!(!decide(&unauthenticated, &mut n, s).will_retry());
        let unavailable = Failure::Status(tonic::Status::unavailable("x"));
        let mut n = 0;
        assert_eq!(
            after(decide(&unavailable, &mut n, s)),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            after(decide(&Failure::ConnectTimeout, &mut n, s)),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            after(decide(&Failure::Ended, &mut n, s)),
            Some(Duration::from_millis(400))
        );
        assert!(!decide(&unavailable, &mut n, s).will_retry());
        let mut n = 0;
        assert!(!decide(&Failure::Fatal("bad".into()), &mut n, s).will_retry());
    }

    #[test]
    fn every_kind_of_failed_attempt_follows_the_policy() {
        // A stalled reconnect attempt, a scene or handshake that never comes:
        // all retried, all counted, none final by itself.
        let policy = ReconnectPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
        };
        let s = situation(&policy);
        let mut n = 0;
        for f in [
            Failure::ConnectTimeout,
            Failure::SceneTimeout,
            Failure::HandshakeTimeout,
            Failure::Ended,
            Failure::Unresponsive,
        ] {
            assert!(decide(&f, &mut n, s).will_retry(), "{f:?}");
        }
        assert!(!decide(&Failure::ConnectTimeout, &mut n, s).will_retry());
    }

    #[test]
    fn a_first_open_whose_scene_never_loads_gives_up() {
        let policy = ReconnectPolicy::default();
        let mut s = situation(&policy);
        s.first_open = true;
        let mut n = 0;
        assert!(!decide(&Failure::SceneTimeout, &mut n, s).will_retry());
        // It can still not connect at first and retry.
        assert!(decide(&Failure::ConnectTimeout, &mut n, s).will_retry());
    }

    #[test]
    fn tokens_are_renewed_when_the_library_can() {
        let policy = ReconnectPolicy::default();
        let s = situation(&policy);
        let mut n = 0;
        let d = decide(&token(ErrorType::SessionTokenExpired), &mut n, s);
        assert_eq!(after(d), Some(Duration::ZERO));
        assert!(
            d.renew_token && !d.session_lost,
            "the service still has the session"
        );
        // An unknown token: the service restarted and lost the session too.
        let d = decide(&token(ErrorType::SessionTokenInvalid), &mut n, s);
        assert!(d.will_retry() && d.renew_token && d.session_lost);
        let expired = Failure::Status(status_with_details(
            tonic::Code::FailedPrecondition,
            "expired",
            &ErrorDetails::new(ErrorType::SessionExpired, ReconnectionType::NoRetry),
        ));
        let d = decide(&expired, &mut n, s);
        assert!(d.will_retry() && d.session_lost);
        // With a token from the game's backend the library cannot renew it.
        let backend = Situation {
            can_renew_token: false,
            ..s
        };
        let mut n = 0;
        assert!(!decide(&token(ErrorType::SessionTokenExpired), &mut n, backend).will_retry());
        // Renewals count as attempts: a service that keeps refusing is given up.
        let mut n = 0;
        let give_up = (0..20)
            .map(|_| decide(&token(ErrorType::SessionTokenInvalid), &mut n, s))
            .position(|d| !d.will_retry());
        assert_eq!(give_up, Some(policy.max_attempts as usize));
    }
}
