//! The session's task: one stream at a time, in a `select!` over what the
//! service sends, the game's commands and the next deadline (it sleeps when
//! there is nothing to do). It carries out what the state machines of
//! `scene.rs` and `conversations.rs` decide, tells the game where the
//! session stands, and after a failure asks `reconnect.rs` what to do.
//!
//! A session is Ready only once its scene is loaded and the service has
//! confirmed its conversation. Nothing is lost silently: a send that could
//! not go out, or went out on a stream that broke before its reply ended,
//! is reported to the game with its ids.

mod commands;
mod effects;
mod hands_free;
mod inbound;
mod link;
mod mic;
mod parts;
mod reconnect;
mod report;
mod speakers;
mod stream;

use self::effects::{Effect, Effects};
use self::inbound::{Event, Inbound};
use self::link::{Link, Verdict};
use self::parts::{Followup, Parts};
use self::reconnect::{Decision, Failure, Retry, Situation};
use super::calls::{AfterClose, CallContext};
use super::config::{Auth, ClientConfig, SessionConfig};
use super::connection::Lease;
use super::conversations::{Actions, Signal};
use super::outbound;
use super::state::{Command, Send, SessionShared};
use crate::packet::{ConnectionState, Packet, PacketBody, Resumed, SendFailure, SessionError};
use crate::protocol::ai::inworld::packets::InworldPacket;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What a session's task is given.
pub(crate) struct Setup {
    pub shared: Arc<SessionShared>,
    pub lease: Lease,
    pub client: Arc<ClientConfig>,
    pub session: SessionConfig,
}

/// How a stream's life ended.
enum Exit {
    /// The game closed the session (or dropped every handle).
    Closed,
    Failed(Failure),
}

/// Reports the session Closed however the task ends (even when the runtime
/// shuts down and drops it).
struct FinishGuard(Arc<SessionShared>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.0.finish();
    }
}

pub(crate) async fn run(setup: Setup, mut commands: mpsc::Receiver<Command>) {
    let _finish = FinishGuard(setup.shared.clone());
    let mut driver = Driver::new(setup);
    let ending = driver.serve(&mut commands).await;
    driver.end(ending, &mut commands);
}

struct Driver {
    shared: Arc<SessionShared>,
    lease: Lease,
    client: Arc<ClientConfig>,
    /// The stream, whether it is alive, and the token.
    link: Link,
    /// The scene, conversations, audio, and what waits for a link.
    parts: Parts,
    /// Failed attempts in a row.
    attempts: u32,
    /// What the next Ready says about the session before it.
    resumed: Resumed,
    /// What the parts asked for while the conversations' results were
    /// being accounted for: carried out right after.
    deferred: Effects,
}

impl Driver {
    fn new(setup: Setup) -> Self {
        let Setup {
            shared,
            lease,
            client,
            session,
        } = setup;
        let now = Instant::now();
        Driver {
            parts: Parts::new(shared.clone(), session, &client.timeouts, now),
            link: Link::new(client.timeouts.stall, now),
            shared,
            lease,
            client,
            attempts: 0,
            resumed: Resumed::No,
            deferred: Effects::default(),
        }
    }

    /// Streams one after another until the game closes the session or a
    /// failure is final; returns that failure's error, if any.
    async fn serve(&mut self, commands: &mut mpsc::Receiver<Command>) -> Option<SessionError> {
        loop {
            let failure = match self.stream_life(commands).await {
                Exit::Closed => return None,
                Exit::Failed(f) => f,
            };
            let decision = if self.parts.scene_change_refused(&failure) {
                // The service still holds the scene before the change.
                Decision::retry_now()
            } else {
                reconnect::decide(
                    &failure,
                    &mut self.attempts,
                    Situation {
                        policy: &self.client.reconnect,
                        first_open: !self.parts.scene.ever_loaded(),
                        can_renew_token: !matches!(self.client.auth, Auth::Token(_)),
                    },
                )
            };
            let error = self.report(&failure, decision.will_retry());
            if report::audio_session_expired(&failure) {
                let effects = self.parts.mic.expired(Instant::now());
                self.apply(effects);
            }
            self.stream_lost();
            let Retry::After(delay) = decision.retry else {
                return Some(error);
            };
            self.prepare_retry(decision);
            self.shared
                .set_state(ConnectionState::Reconnecting, delay, Resumed::No);
            if !self.wait(delay, commands).await {
                return None;
            }
        }
    }

    fn prepare_retry(&mut self, decision: Decision) {
        if decision.session_lost {
            // A new token names a new session; it needs its scene again.
            self.link.forget_token();
            self.parts.scene.forget();
            self.resumed = Resumed::NewSession;
        } else if decision.renew_token {
            self.link.renew_token();
        }
        if self.resumed == Resumed::No && self.parts.scene.ever_loaded() {
            self.resumed = Resumed::SameSession;
        }
    }

    /// Waits `delay` before the next attempt, queueing sends meanwhile.
    /// Returns false when the game closed the session.
    async fn wait(&mut self, delay: Duration, commands: &mut mpsc::Receiver<Command>) -> bool {
        let until = tokio::time::Instant::now() + delay;
        let shared = self.shared.clone();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                _ = shared.close_signal.notified() => return false,
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => return false,
                },
            }
        }
    }

    /// One stream's life: open it, then pump packets both ways until it ends.
    async fn stream_life(&mut self, commands: &mut mpsc::Receiver<Command>) -> Exit {
        if self.shared.delivery.is_closed() || self.shared.state() == ConnectionState::Closed {
            return Exit::Closed;
        }
        let shared = self.shared.clone();
        let started = Instant::now();
        let connect_by = started + self.client.timeouts.connect;
        // A session's first open must also load its scene within that time.
        let load_by =
            (!self.parts.scene.ever_loaded()).then(|| started + self.client.timeouts.scene_load);
        let (deadline, timeout) = match load_by {
            Some(load_by) if load_by <= connect_by => (load_by, Failure::SceneTimeout),
            _ => (connect_by, Failure::ConnectTimeout),
        };
        let opened = tokio::select! {
            opened = self.open_stream(started) => opened,
            _ = tokio::time::sleep_until(deadline.into()) => Err(if self.link.asking_provider() {
                Failure::TokenProviderTimeout
            } else {
                timeout
            }),
            _ = shared.close_signal.notified() => return Exit::Closed,
        };
        self.link.attempt_over();
        let mut inbound = match opened {
            Ok(s) => {
                self.link.opened(s.out, Instant::now());
                s.inbound
            }
            Err(f) => return Exit::Failed(f),
        };
        let deferred = std::mem::take(&mut self.deferred);
        self.apply(deferred);
        loop {
            let owes = self.parts.awaiting()
                && matches!(
                    self.shared.state(),
                    ConnectionState::Ready | ConnectionState::Stalled
                );
            self.link.owes(owes, Instant::now());
            let wake = self.next_wake();
            tokio::select! {
                _ = shared.close_signal.notified() => return Exit::Closed,
                message = inbound.message() => match message {
                    Ok(Some(packet)) => {
                        if let Err(f) = self.on_packet(packet) {
                            return Exit::Failed(f);
                        }
                    }
                    Ok(None) => return Exit::Failed(Failure::Ended),
                    Err(status) => return Exit::Failed(Failure::Status(status)),
                },
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => return Exit::Closed,
                },
                _ = sleep_until(wake) => {
                    if let Some(f) = self.on_timer() {
                        return Exit::Failed(f);
                    }
                }
                answered = self.link.check_answer() => {
                    if let Some(f) = self.on_check(answered) {
                        return Exit::Failed(f);
                    }
                }
            }
        }
    }

    /// A check of the connection ended.
    fn on_check(&mut self, answered: bool) -> Option<Failure> {
        match self.link.checked(answered, Instant::now()) {
            Verdict::Alive { was_stalled } => {
                if was_stalled {
                    self.set_ready_again();
                }
            }
            Verdict::Stalled => {
                log::info!(
                    "{} did not answer a check of the connection: stalled",
                    self.client.host
                );
                self.shared
                    .set_state(ConnectionState::Stalled, Duration::ZERO, Resumed::No);
                self.start_check();
            }
            Verdict::Dead => {
                // Later attempts must not reuse the dead connection.
                self.lease.redial();
                return Some(Failure::Unresponsive);
            }
        }
        None
    }

    /// Gets a token if needed and opens a stream with its first packets:
    /// the configuration and LoadScene when the service does not hold the
    /// scene, else the conversation handshakes.
    async fn open_stream(&mut self, now: Instant) -> Result<stream::Stream, Failure> {
        let session_id = self
            .link
            .ensure_token(&self.lease, &self.client, &self.shared.workspace)
            .await?;
        if let Some(id) = session_id {
            self.shared.snapshot.lock().session_id = Some(id);
        }
        self.start_waiting_calls();
        let configuration = self.parts.configuration(self.client.client_id.as_deref());
        let mut first = self.parts.scene.open_packets(now, || configuration);
        if self.parts.scene.is_loaded() {
            first.extend(self.on_linked(now));
        }
        let token = self.link.token().expect("ensure_token sets it");
        stream::open(&self.lease, token, first).await
    }

    /// A stream is open on a loaded scene: what was waiting for that goes
    /// out (conversation handshakes, packets to the world, a scene change).
    /// Returns the packets to write.
    fn on_linked(&mut self, now: Instant) -> Vec<InworldPacket> {
        let shared = &self.shared;
        let (restart, effects) = self.parts.mic.relink(|| shared.reserve_send());
        self.deferred.append(effects);
        let parts = &mut self.parts;
        let restart = restart.map(|send| parts.conversations.send(send, None, now));
        let mut actions = restart.unwrap_or_default();
        actions.append(parts.in_conversations(true, now, |c, cast, now| {
            cast.map(|cast| c.on_link(cast, now)).unwrap_or_default()
        }));
        let mut packets = self.account(actions);
        // Each goes out: its slot is free.
        packets.extend(self.parts.world.drain(..).map(|w| w.packet));
        if let Some((name, change)) = self.parts.pending_change.take() {
            packets.extend(self.parts.change_scene(name, change, now));
        }
        packets
    }

    fn on_packet(&mut self, packet: InworldPacket) -> Result<(), Failure> {
        // A packet answers for the connection: a running check is moot.
        if self.link.heard(Instant::now()) {
            self.set_ready_again();
        }
        match inbound::classify(packet) {
            Inbound::Answer(pong) => {
                self.write(pong);
                Ok(())
            }
            Inbound::Ignore => Ok(()),
            Inbound::UpdateEcho { conversation_id } => {
                self.signal(&conversation_id, Signal::Ended);
                Ok(())
            }
            Inbound::Deliver {
                packet,
                event: Event::Scene(status),
            } => {
                // A game reading the character list on a scene status sees
                // the new one; what the status leads to (Ready, handshakes)
                // comes after the packet.
                let current_changed = self.parts.adopt_scene(status);
                self.shared.delivery.deliver(packet);
                self.on_scene_adopted(current_changed);
                Ok(())
            }
            Inbound::Deliver { packet, event } => {
                let report = self.parts.play(&packet, Instant::now());
                // The game sees the packet before what it leads to (a
                // warning before a reload).
                self.shared.delivery.deliver(packet);
                if let Some(report) = report {
                    self.shared.delivery.deliver(report);
                }
                self.on_event(event)
            }
        }
    }

    fn on_event(&mut self, event: Event) -> Result<(), Failure> {
        match self.parts.on_event(event) {
            Followup::None => {}
            Followup::Signal(id, signal) => self.signal(&id, signal),
            Followup::HandshakeRefused(why) => return self.on_handshake_refused(why),
            Followup::Refused(ids, why) => {
                self.shared.report_failed(&ids, SendFailure::Refused, &why)
            }
        }
        Ok(())
    }

    /// The service refused to start a conversation. On a stream reopened
    /// for a session it held, that means it lost the session: load the
    /// scene again, once, with the dialog so far as continuation.
    fn on_handshake_refused(&mut self, why: String) -> Result<(), Failure> {
        if !self.link.may_reload() {
            return Err(Failure::Status(tonic::Status::failed_precondition(
                format!("the service refused the conversation: {why}"),
            )));
        }
        log::info!("the service no longer holds the session ({why}); loading the scene again");
        self.resumed = Resumed::NewSession;
        self.parts.conversations.on_stream_lost();
        let configuration = self.parts.configuration(self.client.client_id.as_deref());
        let packets = self.parts.scene.reload(Instant::now(), || configuration);
        if self.shared.state() == ConnectionState::Ready {
            self.shared
                .set_state(ConnectionState::Connecting, Duration::ZERO, Resumed::No);
        }
        for p in packets {
            self.write(p);
        }
        Ok(())
    }

    /// After a scene status: a load completes (what waited for it goes
    /// out), or conversations follow the new cast.
    fn on_scene_adopted(&mut self, current_changed: bool) {
        let completes = self.parts.scene.on_status();
        let now = Instant::now();
        if completes {
            for packet in self.on_linked(now) {
                self.write(packet);
            }
        } else {
            let actions = self.parts.in_conversations(true, now, |c, cast, now| {
                let Some(cast) = cast else {
                    return Actions::default();
                };
                let mut actions = c.on_cast_changed(cast, now);
                if current_changed {
                    actions.append(c.on_current_changed(cast, now));
                }
                actions
            });
            self.apply_actions(actions);
        }
        self.maybe_ready();
    }

    fn signal(&mut self, conversation_id: &str, signal: Signal) {
        let linked = self.linked();
        let actions = self
            .parts
            .in_conversations(linked, Instant::now(), |c, link, now| {
                c.on_signal(conversation_id, signal, link, now)
            });
        self.apply_actions(actions);
        self.maybe_ready();
    }

    /// A command of the game's (see `commands.rs`).
    fn on_command(&mut self, command: Command) {
        let linked = self.linked();
        let effects = commands::on_command(command, &mut self.parts, linked, Instant::now());
        self.apply(effects);
    }

    /// Starts the calls waiting for a token (if there is one).
    fn start_waiting_calls(&mut self) {
        let Some(cx) = self.call_context() else {
            return;
        };
        let runtime = tokio::runtime::Handle::current();
        for waiting in self.parts.waiting_calls.drain(..) {
            self.shared.spawn_call(
                &runtime,
                waiting.request_id,
                waiting.call,
                cx.clone(),
                Some(waiting.permit),
            );
        }
    }

    fn call_context(&self) -> Option<CallContext> {
        let workspace = &self.shared.workspace;
        self.link.call_context(&self.lease, &self.client, workspace)
    }

    /// Whether conversations can start: a stream is open on a loaded scene.
    fn linked(&self) -> bool {
        self.link.is_open() && self.parts.scene.is_loaded()
    }

    /// Barge-in: the player speaks or types while a character talks.
    fn barge_in(&mut self) {
        let linked = self.linked();
        let cancels = self.parts.barge_in(linked);
        self.apply(cancels);
    }

    /// Carries out what a part asked for, in order.
    fn apply(&mut self, effects: Effects) {
        for effect in effects {
            match effect {
                Effect::Write(packet) => self.write_boxed(packet),
                Effect::Send(send) => self.send_in_conversation(send),
                Effect::Deliver(packet) => self.shared.delivery.deliver(packet),
                Effect::Fail(send, why) => self.fail(send, SendFailure::NotSent, &why),
                Effect::Unsent(ids, why) => {
                    self.shared.report_failed(&ids, SendFailure::NotSent, &why)
                }
                Effect::Dropped {
                    frames,
                    rate,
                    conversation_id,
                } => {
                    let ids = self.parts.audio_ids(conversation_id);
                    let why = report::dropped_audio(frames, rate);
                    self.shared
                        .report_failed_packet(ids, SendFailure::NotSent, &why);
                }
                Effect::BargeIn => self.barge_in(),
                Effect::Conversations(actions) => self.apply_actions(actions),
                Effect::StartCalls => {
                    if self.link.token().is_some() {
                        self.start_waiting_calls();
                    }
                }
            }
        }
        if !self.deferred.is_empty() {
            let deferred = std::mem::take(&mut self.deferred);
            self.apply(deferred);
        }
    }

    /// Hands a send to its conversation.
    fn send_in_conversation(&mut self, send: Send) {
        let linked = self.linked();
        let actions = self
            .parts
            .in_conversations(linked, Instant::now(), |c, link, now| {
                c.send(send, link, now)
            });
        self.apply_actions(actions);
    }

    /// Carries out a step of the conversations: writes, and accounts for
    /// the sends that went out or failed.
    fn apply_actions(&mut self, actions: Actions) {
        for packet in self.account(actions) {
            self.write(packet);
        }
        if !self.deferred.is_empty() {
            let deferred = std::mem::take(&mut self.deferred);
            self.apply(deferred);
        }
    }

    /// Accounts for the sends of `actions` (failures reported, what the
    /// microphone asks for after them deferred); returns the packets to write.
    fn account(&mut self, actions: Actions) -> Vec<InworldPacket> {
        let linked = self.linked();
        let accounted = self.parts.account(actions, linked);
        for (send, why) in accounted.failed {
            self.fail(send, SendFailure::NotSent, &why);
        }
        self.deferred.append(accounted.deferred);
        accounted.packets
    }

    fn fail(&self, mut send: Send, reason: SendFailure, why: &str) {
        // Its slot is free before the game hears of it.
        send.permit.use_up();
        self.shared.report_failed(&send.ids, reason, why);
    }

    fn write(&self, packet: InworldPacket) {
        self.write_boxed(Box::new(packet));
    }

    /// The one place that writes to the wire.
    fn write_boxed(&self, packet: Box<InworldPacket>) {
        // The game sees each change of the scene as it goes out.
        let mutation = outbound::is_scene_mutation(&packet).then(|| (*packet).clone());
        if self.link.write(packet) {
            if let Some(mutation) = mutation {
                self.shared
                    .delivery
                    .deliver(crate::packet::convert::from_wire(mutation));
            }
        }
    }

    /// Ready once the scene is loaded and the service confirmed the
    /// one-to-one conversation (or there is no character to talk to).
    fn maybe_ready(&mut self) {
        if !self.parts.scene.is_loaded() {
            return;
        }
        let no_character = self.shared.snapshot.lock().current.is_none();
        if !(self.parts.conversations.is_ready() || no_character) {
            return;
        }
        self.attempts = 0;
        let state = self.shared.state();
        if state != ConnectionState::Ready && state != ConnectionState::Closed {
            let resumed = std::mem::take(&mut self.resumed);
            self.shared
                .set_state(ConnectionState::Ready, Duration::ZERO, resumed);
        }
    }

    /// When the task must look at the clock next: a deadline, or the moment
    /// a silent service is checked.
    fn next_wake(&self) -> Option<Instant> {
        [self.parts.wake(), self.link.check_due()]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_timer(&mut self) -> Option<Failure> {
        let now = Instant::now();
        if let Some(failure) = self.parts.deadline_passed(now) {
            return Some(failure);
        }
        if self.link.check_due().is_some_and(|at| at <= now) {
            log::debug!(
                "nothing from {} for {:?} while something is owed: checking the connection",
                self.client.host,
                self.link.silence(now)
            );
            self.start_check();
        }
        let linked = self.linked();
        let effects = self.parts.on_timer(now, linked);
        self.apply(effects);
        None
    }

    /// Checks the connection (`Lease::probe`).
    fn start_check(&mut self) {
        let check = self.lease.probe(self.link.stall());
        self.link.start_check(check);
    }

    /// The service answered while the session said Stalled.
    fn set_ready_again(&self) {
        if self.shared.state() == ConnectionState::Stalled {
            self.shared
                .set_state(ConnectionState::Ready, Duration::ZERO, Resumed::No);
        }
    }

    /// The stream is gone: what went out without an answer is reported,
    /// every conversation needs a new handshake.
    fn stream_lost(&mut self) {
        self.link.closed();
        for ids in self.parts.in_flight.take_all() {
            self.shared.report_failed(
                &ids,
                SendFailure::MaybeSent,
                "the connection broke before the reply ended; the service may or may not \
                 have received it",
            );
        }
        self.parts.conversations.on_stream_lost();
        self.parts.scene.on_stream_lost();
        self.parts.mic.on_stream_lost();
        let effects = self.parts.cut_turn(true, false, Instant::now());
        self.apply(effects);
    }

    /// The session ends: what never went out is reported, then Closed.
    fn end(&mut self, error: Option<SessionError>, commands: &mut mpsc::Receiver<Command>) {
        self.link.closed();
        let why = match &error {
            Some(e) => format!("the session closed after an error: {}", e.message),
            None => "the session was closed before it could go out".to_string(),
        };
        // Calls made from now on use the last token (see `Session::call`).
        let after_close = self.call_context().map(|context| AfterClose {
            runtime: tokio::runtime::Handle::current(),
            context,
        });
        *self.shared.after_close.lock() = after_close;
        commands.close();
        while let Ok(command) = commands.try_recv() {
            match command {
                Command::Send(send) => self.fail(*send, SendFailure::NotSent, &why),
                Command::Call(call) => self.parts.waiting_calls.push(*call),
                _ => {}
            }
        }
        self.start_waiting_calls();
        let unsent = self.parts.close(&why);
        self.apply(unsent);
        if error.is_none() && !self.shared.delivery.is_closed() {
            // Every handle was dropped: no callback may run any more.
            self.shared.delivery.close();
        }
        self.shared.finish();
    }

    /// Tells the game what failed (once, readably) and returns it.
    fn report(&self, failure: &Failure, will_retry: bool) -> SessionError {
        let t = &self.client.timeouts;
        let scene = self.parts.scene.name();
        let error = report::error_of(failure, &self.client.host, t, scene, will_retry);
        let next = if will_retry {
            "reconnecting"
        } else {
            "giving up"
        };
        log::warn!("session stream failed: {} ({next})", error.message);
        let packet = Packet::local(PacketBody::Error(error.clone()));
        self.shared.delivery.deliver(packet);
        error
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
