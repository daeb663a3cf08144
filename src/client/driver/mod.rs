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

mod effects;
mod hands_free;
mod inbound;
mod link;
mod mic;
mod reconnect;
mod report;
mod speakers;
mod stream;

use self::effects::{Effect, Effects};
use self::inbound::{Event, Inbound};
use self::link::{Liveness, Verdict};
use self::reconnect::{Decision, Failure, Retry, Situation};
use super::calls::{self, AfterClose, CallContext, SceneChange};
use super::config::{Auth, ClientConfig, SessionConfig, SessionToken, Talker, TokenRequest};
use super::connection::{generate_token, CallError, Lease};
use super::conversations::{Actions, Cast, Conversations, Signal};
use super::in_flight::InFlight;
use super::mic::VoiceDetection;
use super::outbound;
use super::scene::Scene;
use super::state::{Command, CountedCall, Outgoing, Send, SessionShared, WorldPacket};
use crate::packet::{
    ConnectionState, ConversationEventKind, Packet, PacketBody, PacketIds, Resumed, SendFailure,
    SessionError,
};
use crate::protocol::ai::inworld::packets::InworldPacket;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// A token is renewed when this little of its life remains (as the SDK does).
const TOKEN_RENEWAL_MARGIN: Duration = Duration::from_secs(5 * 60);

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
    session: SessionConfig,
    token: Option<SessionToken>,
    /// Get a new token before the next stream (the service refused this one).
    renew_token: bool,
    /// The game's token provider is being asked (a timeout is its).
    asking_provider: bool,
    scene: Scene,
    conversations: Conversations,
    in_flight: InFlight,
    /// Failed attempts in a row.
    attempts: u32,
    /// What the next Ready says about the session before it.
    resumed: Resumed,
    /// The scene was reloaded on the current stream (the service had lost it).
    reloaded: bool,
    /// The open stream's writer.
    out: Option<mpsc::UnboundedSender<Box<InworldPacket>>>,
    /// Whether the service on this stream is alive.
    liveness: Liveness,
    /// Packets to the world waiting for a linked stream.
    world: VecDeque<WorldPacket>,
    /// A scene change waiting for a linked stream.
    pending_change: Option<(String, SceneChange)>,
    /// Calls waiting for a token (running ones deliver their own results).
    waiting_calls: Vec<CountedCall>,
    /// A check of the connection, while one runs (see `Lease::probe`).
    probe: Option<Probe>,
    /// The game's audio sessions and audio input.
    mic: mic::Mic,
    /// Voice detection, while on.
    hands_free: Option<hands_free::HandsFree>,
    /// What the parts asked for while the conversations' results were
    /// being accounted for: carried out right after.
    deferred: Effects,
    /// The game's playback streams.
    speakers: speakers::Speakers,
}

type Probe = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + std::marker::Send>>;

impl Driver {
    fn new(setup: Setup) -> Self {
        let Setup {
            shared,
            lease,
            client,
            session,
        } = setup;
        let one_to_one = shared.snapshot.lock().conversation_id.clone();
        let mic_shared = shared.mic.clone();
        let t = client.timeouts;
        Driver {
            scene: Scene::new(session.scene.clone(), t.scene_load),
            conversations: Conversations::new(one_to_one, t.handshake),
            shared,
            lease,
            client,
            session,
            token: None,
            renew_token: false,
            asking_provider: false,
            in_flight: InFlight::default(),
            attempts: 0,
            resumed: Resumed::No,
            reloaded: false,
            out: None,
            liveness: Liveness::new(t.stall, Instant::now()),
            world: VecDeque::new(),
            pending_change: None,
            waiting_calls: Vec::new(),
            probe: None,
            mic: mic::Mic::new(mic_shared, Instant::now()),
            hands_free: None,
            deferred: Effects::default(),
            speakers: speakers::Speakers::default(),
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
            let decision = if self.scene_change_refused(&failure) {
                // The service still holds the scene before the change.
                Decision::retry_now()
            } else {
                reconnect::decide(
                    &failure,
                    &mut self.attempts,
                    Situation {
                        policy: &self.client.reconnect,
                        first_open: !self.scene.ever_loaded(),
                        can_renew_token: !matches!(self.client.auth, Auth::Token(_)),
                    },
                )
            };
            let error = self.report(&failure, decision.will_retry());
            if report::audio_session_expired(&failure) {
                let effects = self.mic.expired(Instant::now());
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

    /// Whether `failure` says the scene a change asked for does not exist;
    /// then the change is undone (the game got the error).
    fn scene_change_refused(&mut self, failure: &Failure) -> bool {
        let not_found = matches!(failure, Failure::Status(s) if s.code() == tonic::Code::NotFound);
        if not_found && self.scene.revert() {
            self.session.scene = self.scene.name().to_string();
            return true;
        }
        false
    }

    fn prepare_retry(&mut self, decision: Decision) {
        if decision.session_lost {
            // A new token names a new session; it needs its scene again.
            self.token = None;
            self.scene.forget();
            self.resumed = Resumed::NewSession;
        } else if decision.renew_token {
            self.renew_token = true;
        }
        if self.resumed == Resumed::No && self.scene.ever_loaded() {
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
            (!self.scene.ever_loaded()).then(|| started + self.client.timeouts.scene_load);
        let (deadline, timeout) = match load_by {
            Some(load_by) if load_by <= connect_by => (load_by, Failure::SceneTimeout),
            _ => (connect_by, Failure::ConnectTimeout),
        };
        let opened = tokio::select! {
            opened = self.open_stream(started) => opened,
            _ = tokio::time::sleep_until(deadline.into()) => Err(if self.asking_provider {
                Failure::TokenProviderTimeout
            } else {
                timeout
            }),
            _ = shared.close_signal.notified() => return Exit::Closed,
        };
        // Cut short, the provider's answer is no longer awaited.
        self.asking_provider = false;
        let mut inbound = match opened {
            Ok(s) => {
                self.out = Some(s.out);
                s.inbound
            }
            Err(f) => return Exit::Failed(f),
        };
        self.liveness = Liveness::new(self.client.timeouts.stall, Instant::now());
        self.reloaded = false;
        self.probe = None;
        let deferred = std::mem::take(&mut self.deferred);
        self.apply(deferred);
        loop {
            let owes = self.awaiting()
                && matches!(
                    self.shared.state(),
                    ConnectionState::Ready | ConnectionState::Stalled
                );
            self.liveness.owes(owes, Instant::now());
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
                answered = probe_answer(&mut self.probe) => {
                    self.probe = None;
                    match self.liveness.checked(answered, Instant::now()) {
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
                            self.start_probe();
                        }
                        Verdict::Dead => {
                            // Later attempts must not reuse the dead connection.
                            self.lease.redial();
                            return Exit::Failed(Failure::Unresponsive);
                        }
                    }
                }
            }
        }
    }

    /// Gets a token if needed and opens a stream with its first packets:
    /// the configuration and LoadScene when the service does not hold the
    /// scene, else the conversation handshakes.
    async fn open_stream(&mut self, now: Instant) -> Result<stream::Stream, Failure> {
        self.ensure_token().await?;
        self.start_waiting_calls();
        let configuration = self.configuration();
        let mut first = self.scene.open_packets(now, || configuration);
        if self.scene.is_loaded() {
            first.extend(self.on_linked(now));
        }
        let token = self.token.as_ref().expect("ensure_token sets it");
        stream::open(&self.lease, token, first).await
    }

    /// The configuration that opens the session on the service: the
    /// session's own, with the dialog so far as continuation when there is one.
    fn configuration(&self) -> InworldPacket {
        let continuation = self
            .shared
            .transcript
            .lock()
            .continuation(self.session.continuation.as_ref());
        outbound::session_configuration(
            self.client.client_id.as_deref(),
            &self.session,
            continuation.as_ref(),
        )
    }

    /// A stream is open on a loaded scene: what was waiting for that goes
    /// out (conversation handshakes, packets to the world, a scene change).
    /// Returns the packets to write.
    fn on_linked(&mut self, now: Instant) -> Vec<InworldPacket> {
        let (restart, effects) = self.mic.relink(|| self.shared.reserve_send());
        self.deferred.append(effects);
        let restart = restart.map(|send| self.conversations.send(send, None, now));
        let actions = {
            let snapshot = self.shared.snapshot.lock();
            let cast = cast_of(&snapshot);
            let mut actions = restart.unwrap_or_default();
            actions.append(self.conversations.on_link(&cast, now));
            actions
        };
        let mut packets = self.account(actions);
        // Each goes out: its slot is free.
        packets.extend(self.world.drain(..).map(|w| w.packet));
        if let Some((name, change)) = self.pending_change.take() {
            packets.extend(self.change_scene(name, change, now));
        }
        packets
    }

    /// Starts a scene change; returns its packets.
    fn change_scene(
        &mut self,
        name: String,
        change: SceneChange,
        now: Instant,
    ) -> Vec<InworldPacket> {
        if let Some(capabilities) = change.capabilities {
            self.session.capabilities = capabilities;
        }
        if let Some(id) = &change.game_session_id {
            self.session.game_session_id = Some(id.clone());
        }
        let configuration =
            outbound::scene_change_configuration(&self.session.capabilities, &change);
        let packets = self.scene.change(name, now, configuration);
        if !self.scene.is_loaded() {
            // A new scene: its characters start new conversations.
            self.session.scene = self.scene.name().to_string();
            self.conversations.on_stream_lost();
        }
        packets
    }

    /// Gets a token, or a new one when this one is refused or nearly
    /// expired (keeping the session id: it names the session).
    async fn ensure_token(&mut self) -> Result<(), Failure> {
        if let Auth::Token(given) = &self.client.auth {
            // A token from the game's backend is used as it is.
            if self.token.is_none() {
                self.token = Some(given.clone());
                self.shared.snapshot.lock().session_id = Some(given.session_id.clone());
            }
            return Ok(());
        }
        let fresh = self.token.as_ref().is_some_and(|t| {
            t.expires_at
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > TOKEN_RENEWAL_MARGIN)
        });
        if fresh && !self.renew_token {
            return Ok(());
        }
        let workspace = self.shared.workspace.clone();
        let keep = self.token.as_ref().map(|t| t.session_id.clone());
        let mut token = match &self.client.auth {
            Auth::ApiKey(credentials) => {
                generate_token(&self.lease, credentials, &self.client.host, &workspace)
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
                        workspace,
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
            Auth::Token(_) => unreachable!("handled above"),
        };
        if let (Some(old), Auth::ApiKey(_)) = (keep, &self.client.auth) {
            token.session_id = old;
        }
        log::debug!("got a session token for session {}", token.session_id);
        self.shared.snapshot.lock().session_id = Some(token.session_id.clone());
        self.token = Some(token);
        self.renew_token = false;
        Ok(())
    }

    fn on_packet(&mut self, packet: InworldPacket) -> Result<(), Failure> {
        // A packet answers for the connection: a running check is moot.
        self.probe = None;
        if self.liveness.heard(Instant::now()) {
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
                let current_changed = self.adopt_scene(status);
                self.shared.delivery.deliver(packet);
                self.on_scene_adopted(current_changed);
                Ok(())
            }
            Inbound::Deliver { packet, event } => {
                self.play(&packet);
                // The game sees the packet before what it leads to (a
                // warning before a reload).
                self.shared.delivery.deliver(packet);
                self.on_event(event)
            }
        }
    }

    fn on_event(&mut self, event: Event) -> Result<(), Failure> {
        match event {
            // Scene statuses are taken before the packet is delivered
            // (`on_packet`).
            Event::None | Event::Scene(_) => {}
            Event::Conversation { id, kind } => {
                let signal = match kind {
                    ConversationEventKind::Started | ConversationEventKind::Updated => {
                        Signal::Confirmed
                    }
                    ConversationEventKind::Evicted => Signal::Ended,
                    ConversationEventKind::Unknown => return Ok(()),
                };
                self.signal(&id, signal);
            }
            Event::InteractionEnd { interaction_id } => {
                self.speakers.interaction_end(&interaction_id);
                self.in_flight.take(&interaction_id);
            }
            Event::Warning {
                interaction_id,
                conversation_id,
                description,
            } => {
                if self.conversations.refused(&conversation_id) {
                    return self.on_handshake_refused(description);
                }
                if let Some(ids) = self.in_flight.take(&interaction_id) {
                    self.shared
                        .report_failed(&ids, SendFailure::Refused, &description);
                }
            }
            Event::CharacterLine(text) => {
                self.shared.transcript.lock().add(Talker::Character, &text)
            }
        }
        Ok(())
    }

    /// The service refused to start a conversation. On a stream reopened
    /// for a session it held, that means it lost the session: load the
    /// scene again, once, with the dialog so far as continuation.
    fn on_handshake_refused(&mut self, why: String) -> Result<(), Failure> {
        if self.reloaded {
            return Err(Failure::Status(tonic::Status::failed_precondition(
                format!("the service refused the conversation: {why}"),
            )));
        }
        log::info!("the service no longer holds the session ({why}); loading the scene again");
        self.reloaded = true;
        self.resumed = Resumed::NewSession;
        self.conversations.on_stream_lost();
        let configuration = self.configuration();
        let packets = self.scene.reload(Instant::now(), || configuration);
        if self.shared.state() == ConnectionState::Ready {
            self.shared
                .set_state(ConnectionState::Connecting, Duration::ZERO, Resumed::No);
        }
        for p in packets {
            self.write(p);
        }
        Ok(())
    }

    /// A scene status: the character list is replaced; the current
    /// character stays if it is still there, else it is the first. Returns
    /// whether the current character changed.
    fn adopt_scene(&mut self, status: crate::packet::SceneStatus) -> bool {
        let mut snapshot = self.shared.snapshot.lock();
        let kept = snapshot
            .current
            .as_ref()
            .and_then(|c| {
                status
                    .characters
                    .iter()
                    .find(|s| s.resource_name == c.resource_name)
            })
            .cloned();
        let current = kept.or_else(|| status.characters.first().cloned());
        let changed = current != snapshot.current;
        snapshot.current = current;
        snapshot.scene = Some(status);
        changed
    }

    /// After a scene status: a load completes (what waited for it goes
    /// out), or conversations follow the new cast.
    fn on_scene_adopted(&mut self, current_changed: bool) {
        let completes = self.scene.on_status();
        let now = Instant::now();
        if completes {
            for packet in self.on_linked(now) {
                self.write(packet);
            }
        } else {
            let actions = {
                let snapshot = self.shared.snapshot.lock();
                let cast = cast_of(&snapshot);
                let mut actions = self.conversations.on_cast_changed(&cast, now);
                if current_changed {
                    actions.append(self.conversations.on_current_changed(&cast, now));
                }
                actions
            };
            self.apply_actions(actions);
        }
        self.maybe_ready();
    }

    fn signal(&mut self, conversation_id: &str, signal: Signal) {
        let actions = {
            let snapshot = self.shared.snapshot.lock();
            let cast = cast_of(&snapshot);
            let link = self.linked().then_some(&cast);
            self.conversations
                .on_signal(conversation_id, signal, link, Instant::now())
        };
        self.apply_actions(actions);
        self.maybe_ready();
    }

    /// A command of the game's: one step each.
    fn on_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Send(send) => self.on_send(*send, now),
            Command::World(world) => self.send_to_world(*world),
            Command::CancelResponses {
                packet,
                interaction_id,
                utterance_ids,
            } => {
                let utterances: Vec<&str> = utterance_ids.iter().map(String::as_str).collect();
                self.speakers.flush_speech(&interaction_id, &utterances);
                self.send_to_world(*packet);
            }
            Command::ChangeScene(change) => {
                let (name, change) = *change;
                if self.linked() {
                    for packet in self.change_scene(name, change, now) {
                        self.write(packet);
                    }
                } else {
                    // The last change asked for wins.
                    self.pending_change = Some((name, change));
                }
            }
            Command::Call(call) => {
                self.waiting_calls.push(*call);
                if self.token.is_some() {
                    self.start_waiting_calls();
                }
            }
            Command::StartConversation { id, members } => self.conversations.start(id, members),
            Command::UpdateConversation { id, members } => {
                self.in_conversations(|c, link, now| c.update_members(&id, members, link, now))
            }
            Command::EndConversation { id } => {
                for send in self.conversations.end(&id) {
                    self.fail(send, SendFailure::NotSent, "the conversation ended first");
                }
            }
            Command::CharacterChanged => self.in_conversations(|c, link, now| match link {
                Some(cast) => c.on_current_changed(cast, now),
                None => Actions::default(),
            }),
            Command::CharactersRemoved(names) => self.in_conversations(|c, link, now| {
                c.remove_members(&names);
                match link {
                    Some(cast) => c.on_current_changed(cast, now),
                    None => Actions::default(),
                }
            }),
            Command::AudioInput(pipeline) => self.mic.set_input(*pipeline),
            Command::EchoReference(pipeline) => self.mic.set_echo_reference(*pipeline),
            Command::VoiceDetection { config, from } => self.set_voice_detection(config, from),
            Command::OpenPlayback(feed) => self.speakers.open(*feed),
        }
    }

    /// A send of the game's: audio controls go through the microphone's
    /// audio sessions, the rest to their conversation.
    fn on_send(&mut self, send: Send, now: Instant) {
        match send.payload {
            Outgoing::AudioSessionStart(..) | Outgoing::AudioSessionEnd(_) => {
                let effects = self.mic.on_send(send, self.linked(), now);
                self.apply(effects);
            }
            Outgoing::Text(_) => {
                // The player talks over a character: barge-in.
                self.barge_in();
                self.send_in_conversation(send);
            }
            _ => self.send_in_conversation(send),
        }
    }

    /// A packet to the world: out now, or once a stream is linked.
    fn send_to_world(&mut self, world: WorldPacket) {
        if self.linked() {
            // It goes out: its slot is free.
            self.write(world.packet);
        } else {
            self.world.push_back(world);
        }
    }

    /// A step of the conversations, with who can take part (`None` while
    /// no stream is linked); its actions are carried out.
    fn in_conversations(
        &mut self,
        step: impl FnOnce(&mut Conversations, Option<&Cast>, Instant) -> Actions,
    ) {
        let now = Instant::now();
        let linked = self.linked();
        let actions = {
            let snapshot = self.shared.snapshot.lock();
            let cast = cast_of(&snapshot);
            step(&mut self.conversations, linked.then_some(&cast), now)
        };
        self.apply_actions(actions);
    }

    /// Hands a send to its conversation.
    fn send_in_conversation(&mut self, send: Send) {
        self.in_conversations(|c, link, now| c.send(send, link, now));
    }

    /// Starts the calls waiting for a token (there is one).
    fn start_waiting_calls(&mut self) {
        let Some(cx) = self.call_context() else {
            return;
        };
        let runtime = tokio::runtime::Handle::current();
        for waiting in self.waiting_calls.drain(..) {
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
        Some(CallContext {
            channel: self.lease.channel(),
            max_receive_message_bytes: self.client.max_receive_message_bytes,
            token: self.token.clone()?,
            workspace: self.shared.workspace.clone(),
        })
    }

    /// Whether conversations can start: a stream is open on a loaded scene.
    fn linked(&self) -> bool {
        self.out.is_some() && self.scene.is_loaded()
    }

    /// Turns voice detection on (or changes its settings) or off; a turn
    /// under way ends (cut short). The microphone's audio from before the
    /// call (mark `from`) is stale; what the game pushed since was accepted
    /// for the new setting and stays.
    fn set_voice_detection(&mut self, config: Option<VoiceDetection>, from: u64) {
        self.cut_turn(false);
        self.hands_free = config.and_then(hands_free::HandsFree::new);
        self.mic.discard(Some(from));
        if let (_, Some(far)) = self.mic.inputs() {
            far.discard(None);
        }
    }

    /// A turn of voice detection under way ends, cut short.
    fn cut_turn(&mut self, stream_lost: bool) {
        let now = Instant::now();
        let effects = self.hands_free_step(|h, mic, link| h.cut_turn(stream_lost, mic, link, now));
        self.apply(effects);
    }

    /// Runs a step of voice detection (when on) with what it needs from
    /// the session; returns what it asks for.
    fn hands_free_step(
        &mut self,
        step: impl FnOnce(&mut hands_free::HandsFree, &mut mic::Mic, &hands_free::Link) -> Effects,
    ) -> Effects {
        let linked = self.linked();
        let Some(h) = self.hands_free.as_mut() else {
            return Effects::default();
        };
        let shared = &self.shared;
        let link = hands_free::Link {
            linked,
            ready: linked && self.conversations.is_ready(),
            conversation_id: &|| shared.snapshot.lock().conversation_id.clone(),
            reserve: &|| shared.reserve_send(),
        };
        step(h, &mut self.mic, &link)
    }

    /// A packet from the service, before the game gets it: the speakers
    /// play its speech (or flush what it cancels).
    fn play(&mut self, packet: &Packet) {
        if self.speakers.is_empty() {
            return;
        }
        let character = match &packet.body {
            PacketBody::Audio(_) => self.resource_name_of(packet.routing.source.name.as_str()),
            _ => None,
        };
        self.speakers
            .on_packet(packet, character.as_deref(), Instant::now());
    }

    /// The resource name of the character whose agent id this is.
    fn resource_name_of(&self, agent_id: &str) -> Option<String> {
        let snapshot = self.shared.snapshot.lock();
        let scene = snapshot.scene.as_ref()?;
        scene
            .characters
            .iter()
            .find(|c| c.id == agent_id)
            .map(|c| c.resource_name.to_string())
    }

    /// Barge-in: the player speaks or types while a character talks. With
    /// interruptions on, the speakers go silent and the rest of the reply
    /// is cancelled. Returns whether it did.
    fn barge_in(&mut self) -> bool {
        if !self.session.capabilities.interruptions {
            return false;
        }
        let cancels = self.speakers.barge_in();
        let interrupted = !cancels.is_empty();
        if self.linked() {
            self.apply(cancels);
        }
        interrupted
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
                } => self.report_dropped_audio(frames, rate, conversation_id),
                Effect::BargeIn => {
                    self.barge_in();
                }
            }
        }
        if !self.deferred.is_empty() {
            let deferred = std::mem::take(&mut self.deferred);
            self.apply(deferred);
        }
    }

    /// Tells the game that microphone audio was dropped.
    fn report_dropped_audio(&self, frames: u64, rate: u32, conversation_id: Option<String>) {
        // The audio session's, or the one the game just opened (its start
        // may not have reached the task yet).
        let conversation_id = conversation_id.unwrap_or_else(|| {
            let snapshot = self.shared.snapshot.lock();
            snapshot.audio_conversation.clone().unwrap_or_default()
        });
        let ids = PacketIds {
            conversation_id: conversation_id.as_str().into(),
            ..PacketIds::default()
        };
        self.shared.report_failed_packet(
            ids,
            SendFailure::NotSent,
            &format!(
                "{frames} frames ({} ms) of microphone audio were dropped: the audio input was \
                 full, or the session could not send them (connecting, reconnecting, or the \
                 audio session's start not yet sent)",
                frames * 1000 / u64::from(rate.max(1))
            ),
        );
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

    /// Accounts for the sends of `actions` and returns the packets to write
    /// (characters to add first).
    fn account(&mut self, actions: Actions) -> Vec<InworldPacket> {
        let mut packets = Vec::new();
        if !actions.load.is_empty() {
            packets.push(outbound::load_characters(&actions.load));
        }
        for mut send in actions.sent {
            send.permit.use_up();
            let said = match &send.payload {
                Outgoing::Text(t) => Some(t.clone()),
                Outgoing::NarratedAction(a) => Some(format!("*{a}*")),
                Outgoing::Trigger { .. }
                | Outgoing::AudioSessionStart(..)
                | Outgoing::AudioSessionEnd(_)
                | Outgoing::PlaybackMute(_) => None,
            };
            if let Some(said) = said {
                self.shared.transcript.lock().add(Talker::Player, &said);
            }
            self.mic.on_sent(&send);
            if let Some(h) = &mut self.hands_free {
                h.on_sent(&send);
            }
            if send.payload.awaits_reply() {
                self.in_flight.add(send.ids);
            }
        }
        let linked = self.linked();
        for (send, why) in actions.failed {
            if let Some(h) = &mut self.hands_free {
                h.on_failed(&send);
            }
            let effects = self.mic.on_failed(&send, linked);
            self.deferred.append(effects);
            self.fail(send, SendFailure::NotSent, &why);
        }
        packets.extend(actions.write);
        packets
    }

    fn fail(&self, mut send: Send, reason: SendFailure, why: &str) {
        // Its slot is free before the game hears of it.
        send.permit.use_up();
        self.shared.report_failed(&send.ids, reason, why);
    }

    fn write(&self, packet: InworldPacket) {
        self.write_boxed(Box::new(packet));
    }

    fn write_boxed(&self, packet: Box<InworldPacket>) {
        if let Some(out) = &self.out {
            // The game sees each change of the scene as it goes out.
            let mutation = is_scene_mutation(&packet).then(|| (*packet).clone());
            // A closed stream shows up on the inbound side; nothing to do here.
            if out.send(packet).is_ok() {
                if let Some(mutation) = mutation {
                    self.shared
                        .delivery
                        .deliver(crate::packet::convert::from_wire(mutation));
                }
            }
        }
    }

    /// Ready once the scene is loaded and the service confirmed the
    /// one-to-one conversation (or there is no character to talk to).
    fn maybe_ready(&mut self) {
        if !self.scene.is_loaded() {
            return;
        }
        let no_character = self.shared.snapshot.lock().current.is_none();
        if !(self.conversations.is_ready() || no_character) {
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

    /// Whether something is awaited from the service.
    fn awaiting(&self) -> bool {
        !self.in_flight.is_empty()
            || self.conversations.is_pending()
            || self.scene.deadline().is_some()
    }

    /// When the task must look at the clock next: a deadline, or the moment
    /// a silent service counts as stalled.
    fn next_wake(&self) -> Option<Instant> {
        [
            self.scene.deadline(),
            self.conversations.deadline(),
            self.liveness.check_due(),
            self.mic.wake(self.hands_free.is_some()),
            self.speakers.wake(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_timer(&mut self) -> Option<Failure> {
        let now = Instant::now();
        if self.scene.deadline().is_some_and(|d| d <= now) {
            return Some(Failure::SceneTimeout);
        }
        if self.conversations.deadline().is_some_and(|d| d <= now) {
            return Some(Failure::HandshakeTimeout);
        }
        if self.liveness.check_due().is_some_and(|at| at <= now) {
            log::debug!(
                "nothing from {} for {:?} while something is owed: checking the connection",
                self.client.host,
                self.liveness.silence(now)
            );
            self.start_probe();
        }
        if self
            .mic
            .wake(self.hands_free.is_some())
            .is_some_and(|at| at <= now)
        {
            let effects = if self.hands_free.is_some() {
                let mut effects = self.hands_free_step(|h, mic, link| h.tick(mic, link, now));
                effects.append(self.mic.listened(now));
                effects
            } else {
                self.mic.tick(now, self.linked())
            };
            self.apply(effects);
        }
        if self.speakers.wake().is_some_and(|at| at <= now) {
            self.speakers.tick(now);
        }
        None
    }

    fn start_probe(&mut self) {
        self.liveness.check_started();
        self.probe = Some(Box::pin(self.lease.probe(self.client.timeouts.stall)));
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
        self.out = None;
        for ids in self.in_flight.take_all() {
            self.shared.report_failed(
                &ids,
                SendFailure::MaybeSent,
                "the connection broke before the reply ended; the service may or may not \
                 have received it",
            );
        }
        self.conversations.on_stream_lost();
        self.scene.on_stream_lost();
        self.mic.on_stream_lost();
        self.cut_turn(true);
    }

    /// The session ends: what never went out is reported, then Closed.
    fn end(&mut self, error: Option<SessionError>, commands: &mut mpsc::Receiver<Command>) {
        self.out = None;
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
                Command::Call(call) => self.waiting_calls.push(*call),
                _ => {}
            }
        }
        self.start_waiting_calls();
        for send in self.mic.take_held() {
            self.fail(send, SendFailure::NotSent, &why);
        }
        for send in self.conversations.take_waiting() {
            self.fail(send, SendFailure::NotSent, &why);
        }
        for WorldPacket { packet, permit } in self.world.drain(..) {
            // Its slot is free before the game hears of it.
            drop(permit);
            let ids = PacketIds {
                packet_id: packet
                    .packet_id
                    .map(|id| id.packet_id)
                    .unwrap_or_default()
                    .into(),
                ..PacketIds::default()
            };
            self.shared
                .report_failed_packet(ids, SendFailure::NotSent, &why);
        }
        // Calls still waiting: the session never had a token.
        for CountedCall {
            request_id,
            call,
            permit,
        } in self.waiting_calls.drain(..)
        {
            drop(permit);
            let status = tonic::Status::unavailable(format!(
                "the session closed before it had a token: {why}"
            ));
            self.shared
                .delivery
                .deliver(Packet::local(PacketBody::CallResult(calls::failed(
                    request_id,
                    call.kind(),
                    &status,
                ))));
        }
        if error.is_none() && !self.shared.delivery.is_closed() {
            // Every handle was dropped: no callback may run any more.
            self.shared.delivery.close();
        }
        self.shared.finish();
    }

    /// Tells the game what failed (once, readably) and returns it.
    fn report(&self, failure: &Failure, will_retry: bool) -> SessionError {
        let error = report::error_of(
            failure,
            &self.client.host,
            &self.client.timeouts,
            self.scene.name(),
            will_retry,
        );
        log::warn!(
            "session stream failed: {} ({})",
            error.message,
            if will_retry {
                "reconnecting"
            } else {
                "giving up"
            }
        );
        self.shared
            .delivery
            .deliver(Packet::local(PacketBody::Error(error.clone())));
        error
    }
}

/// Who can take part in conversations, as the snapshot has it.
fn cast_of(snapshot: &super::state::Snapshot) -> Cast<'_> {
    Cast {
        characters: snapshot
            .scene
            .as_ref()
            .map_or(&[][..], |s| s.characters.as_slice()),
        current: snapshot.current.as_ref(),
    }
}

/// The answer of the running probe; never, when none runs.
async fn probe_answer(probe: &mut Option<Probe>) -> bool {
    match probe {
        Some(p) => p.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// A packet that loads a scene, or adds or removes characters.
fn is_scene_mutation(packet: &InworldPacket) -> bool {
    use crate::protocol::ai::inworld::packets::inworld_packet::Packet as Payload;
    use crate::protocol::ai::inworld::packets::mutation_event::Mutation;
    matches!(
        &packet.packet,
        Some(Payload::Mutation(m)) if matches!(
            m.mutation,
            Some(Mutation::LoadScene(_) | Mutation::LoadCharacters(_) | Mutation::UnloadCharacters(_))
        )
    )
}
