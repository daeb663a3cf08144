//! One stream's life: its writer, whether the service on it is alive, the
//! scene reload it allows, and the session's token (renewed between
//! streams).
//!
//! Silence is suspicious only while the service owes the session something
//! (a reply, a scene, a handshake), and counts from when it began to owe it:
//! the quiet before the player speaks is not the service's. After `stall` of
//! such silence the task checks the connection (`Lease::probe`); a
//! connection that answers is alive however slow its replies are, and the
//! silence counts afresh. One that does not answer is `Stalled` and checked
//! once more; a second check unanswered means it is dead.
//!
//! Plain values: the driver tells them what happened, runs the checks they
//! ask for and carries out the writes (`Driver::apply`).

use super::reconnect::Failure;
use crate::client::calls::CallContext;
use crate::client::config::{Auth, ClientConfig, SessionToken, TokenRequest};
use crate::client::connection::{generate_token, CallError, Lease};
use crate::protocol::ai::inworld::packets::InworldPacket;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// A token is renewed when this little of its life remains (as the SDK does).
const TOKEN_RENEWAL_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The open stream's writer.
pub(super) type Writer = mpsc::UnboundedSender<Box<InworldPacket>>;

/// A check of the connection, while one runs.
type Check = Pin<Box<dyn Future<Output = bool> + std::marker::Send>>;

/// One stream at a time, and what outlives it (the token).
pub(super) struct Link {
    out: Option<Writer>,
    liveness: Liveness,
    check: Option<Check>,
    stall: Duration,
    /// The scene was reloaded on this stream (the service had lost it).
    reloaded: bool,
    token: Option<SessionToken>,
    /// Get a new token before the next stream (the service refused this one).
    renew_token: bool,
    /// The game's token provider is being asked (a timeout is its).
    asking_provider: bool,
}

impl Link {
    /// No stream yet; `stall`: the silence that starts a check.
    pub(super) fn new(stall: Duration, now: Instant) -> Self {
        Link {
            out: None,
            liveness: Liveness::new(stall, now),
            check: None,
            stall,
            reloaded: false,
            token: None,
            renew_token: false,
            asking_provider: false,
        }
    }

    /// A stream opened at `now`, with its writer.
    pub(super) fn opened(&mut self, out: Writer, now: Instant) {
        self.out = Some(out);
        self.liveness = Liveness::new(self.stall, now);
        self.reloaded = false;
        self.check = None;
    }

    /// The stream is gone.
    pub(super) fn closed(&mut self) {
        self.out = None;
    }

    pub(super) fn is_open(&self) -> bool {
        self.out.is_some()
    }

    /// Writes `packet` on the open stream; whether it went (a closed stream
    /// shows up on the inbound side).
    pub(super) fn write(&self, packet: Box<InworldPacket>) -> bool {
        self.out
            .as_ref()
            .is_some_and(|out| out.send(packet).is_ok())
    }

    /// Whether the service owes the session something now.
    pub(super) fn owes(&mut self, owes: bool, now: Instant) {
        self.liveness.owes(owes, now);
    }

    /// A packet came: a running check is moot. Returns whether the session
    /// was Stalled (it is not any more).
    pub(super) fn heard(&mut self, now: Instant) -> bool {
        self.check = None;
        self.liveness.heard(now)
    }

    /// When the connection must be checked (no check runs).
    pub(super) fn check_due(&self) -> Option<Instant> {
        self.liveness.check_due()
    }

    /// How long the service was silent while owing something.
    pub(super) fn silence(&self, now: Instant) -> Duration {
        self.liveness.silence(now)
    }

    /// A check of the connection starts (`Lease::probe`, limited to `stall`).
    pub(super) fn start_check(
        &mut self,
        check: impl Future<Output = bool> + std::marker::Send + 'static,
    ) {
        self.liveness.check_started();
        self.check = Some(Box::pin(check));
    }

    /// The stall a check is limited to.
    pub(super) fn stall(&self) -> Duration {
        self.stall
    }

    /// The answer of the running check; never, when none runs.
    pub(super) async fn check_answer(&mut self) -> bool {
        match &mut self.check {
            Some(check) => check.as_mut().await,
            None => std::future::pending().await,
        }
    }

    /// What the check that just ended found.
    pub(super) fn checked(&mut self, answered: bool, now: Instant) -> Verdict {
        self.check = None;
        self.liveness.checked(answered, now)
    }

    /// The service refused a conversation on this stream (it lost the
    /// session): whether the scene may be loaded again on it (once).
    pub(super) fn may_reload(&mut self) -> bool {
        !std::mem::replace(&mut self.reloaded, true)
    }

    /// The session's token, once it has one.
    pub(super) fn token(&self) -> Option<&SessionToken> {
        self.token.as_ref()
    }

    /// What a call of the game's needs (once the session has a token).
    pub(super) fn call_context(
        &self,
        lease: &Lease,
        client: &ClientConfig,
        workspace: &str,
    ) -> Option<CallContext> {
        Some(CallContext {
            channel: lease.channel(),
            max_receive_message_bytes: client.max_receive_message_bytes,
            token: self.token.clone()?,
            workspace: workspace.to_string(),
        })
    }

    /// Whether the game's token provider is being asked.
    pub(super) fn asking_provider(&self) -> bool {
        self.asking_provider
    }

    /// The attempt was cut short: the provider's answer is no longer awaited.
    pub(super) fn attempt_over(&mut self) {
        self.asking_provider = false;
    }

    /// The service refused the token: a new one before the next stream.
    pub(super) fn renew_token(&mut self) {
        self.renew_token = true;
    }

    /// The session is lost: the next token names a new one.
    pub(super) fn forget_token(&mut self) {
        self.token = None;
    }

    /// Whether a token must be got before the next stream (none, refused,
    /// or nearly expired at `now`).
    fn needs_token(&self, now: SystemTime) -> bool {
        let fresh = self.token.as_ref().is_some_and(|t| {
            t.expires_at
                .duration_since(now)
                .is_ok_and(|left| left > TOKEN_RENEWAL_MARGIN)
        });
        !fresh || self.renew_token
    }

    /// Gets a token, or a new one when this one is refused or nearly
    /// expired (keeping the session id: it names the session). Returns the
    /// session id when it is new to the session.
    pub(super) async fn ensure_token(
        &mut self,
        lease: &Lease,
        client: &ClientConfig,
        workspace: &str,
    ) -> Result<Option<String>, Failure> {
        let keep = self.token.as_ref().map(|t| t.session_id.clone());
        let mut token = match &client.auth {
            // A token from the game's backend is used as it is.
            Auth::Token(_) if self.token.is_some() => return Ok(None),
            Auth::Token(given) => {
                self.token = Some(given.clone());
                return Ok(Some(given.session_id.clone()));
            }
            _ if !self.needs_token(SystemTime::now()) => return Ok(None),
            Auth::ApiKey(credentials) => {
                generate_token(lease, credentials, &client.host, workspace)
                    .await
                    .map_err(|e| match e {
                        CallError::Status(s) => Failure::Status(s),
                        CallError::Fatal(m) => Failure::Fatal(m),
                    })?
            }
            Auth::Provider(provider) => {
                self.asking_provider = true;
                let answer = provider
                    .token(TokenRequest {
                        workspace: workspace.to_string(),
                        session_id: keep.clone(),
                    })
                    .await;
                self.asking_provider = false;
                answer.map_err(|why| {
                    // The game's backend may be down for a moment: retried.
                    Failure::Status(tonic::Status::unavailable(format!(
                        "the game's token provider failed: {why}"
                    )))
                })?
            }
        };
        if let (Some(old), Auth::ApiKey(_)) = (keep, &client.auth) {
            token.session_id = old;
        }
        log::debug!("got a session token for session {}", token.session_id);
        let session_id = token.session_id.clone();
        self.token = Some(token);
        self.renew_token = false;
        Ok(Some(session_id))
    }
}

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
struct Liveness {
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

    fn token(expires_in: Duration) -> SessionToken {
        SessionToken {
            token: "t".into(),
            token_type: "Bearer".into(),
            session_id: "s".into(),
            expires_at: SystemTime::now() + expires_in,
        }
    }

    #[test]
    fn writes_go_to_the_open_stream_only() {
        let t0 = Instant::now();
        let mut link = Link::new(STALL, t0);
        assert!(!link.write(Box::default()), "no stream yet");
        let (out, mut written) = mpsc::unbounded_channel();
        link.opened(out, t0);
        assert!(link.is_open());
        assert!(link.write(Box::default()));
        assert!(written.try_recv().is_ok());
        // The stream broke: the writer's other end is gone.
        drop(written);
        assert!(!link.write(Box::default()));
        link.closed();
        assert!(!link.is_open());
    }

    #[test]
    fn the_scene_is_reloaded_once_per_stream() {
        let t0 = Instant::now();
        let mut link = Link::new(STALL, t0);
        let (out, _written) = mpsc::unbounded_channel();
        link.opened(out.clone(), t0);
        assert!(link.may_reload());
        assert!(
            !link.may_reload(),
            "a second refusal on the same stream is final"
        );
        link.opened(out, t0);
        assert!(link.may_reload(), "a new stream may reload again");
    }

    #[test]
    fn a_packet_or_a_new_stream_makes_a_running_check_moot() {
        let t0 = Instant::now();
        let mut link = Link::new(STALL, t0);
        let (out, _written) = mpsc::unbounded_channel();
        link.opened(out.clone(), t0);
        link.owes(true, t0);
        link.start_check(std::future::pending());
        assert_eq!(link.check_due(), None, "one check at a time");
        link.heard(t0 + STALL);
        assert!(link.check.is_none());
        assert_eq!(link.check_due(), Some(t0 + 2 * STALL));
        link.start_check(std::future::pending());
        link.opened(out, t0 + STALL);
        assert!(link.check.is_none());
    }

    #[test]
    fn a_token_is_got_when_missing_refused_or_nearly_expired() {
        let now = SystemTime::now();
        let mut link = Link::new(STALL, Instant::now());
        assert!(link.needs_token(now), "none yet");
        link.token = Some(token(Duration::from_secs(3600)));
        assert!(!link.needs_token(now), "fresh");
        link.renew_token();
        assert!(link.needs_token(now), "refused by the service");
        link.renew_token = false;
        link.token = Some(token(TOKEN_RENEWAL_MARGIN / 2));
        assert!(link.needs_token(now), "nearly expired");
        link.token = Some(token(Duration::from_secs(3600)));
        link.forget_token();
        assert!(link.needs_token(now), "the session was lost");
    }

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
