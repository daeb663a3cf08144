//! Conversations by id: who takes part, where the handshake stands, and the
//! sends waiting for it. Every interaction goes through a conversation, the
//! one-to-one chat with the current character included: before a
//! conversation's first packet (again after every reconnect, and when its
//! participants change) the client sends a CONVERSATION_UPDATE and waits for
//! the service's STARTED or UPDATED event; sends made meanwhile wait.
//! EVICTED, or an update sent back by the service, makes it inactive again.
//! A group conversation names its characters by resource name; those not in
//! the scene are added first (LoadCharacters), as the Node SDK does.
//!
//! Sans-IO: each step returns [`Actions`] (packets to write, characters to
//! add, sends that went out, sends that cannot go out) and the driver
//! carries them out.

use super::outbound;
use super::state::{Members, Outgoing, Send};
use crate::packet::Character;
use crate::protocol::ai::inworld::packets::InworldPacket;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Who can take part in conversations now: the scene's characters, and the
/// one the one-to-one conversation talks to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cast<'a> {
    pub characters: &'a [Character],
    pub current: Option<&'a Character>,
}

impl<'a> Cast<'a> {
    /// The character a resource name (or agent id) names, if in the scene.
    fn find(&self, name: &str) -> Option<&'a Character> {
        self.characters
            .iter()
            .find(|c| c.resource_name == name || c.id == name)
    }
}

/// What the service said about a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// STARTED or UPDATED: the conversation is active.
    Confirmed,
    /// EVICTED, or a CONVERSATION_UPDATE sent back: it is inactive.
    Ended,
}

#[derive(Debug, Default)]
pub(crate) struct Actions {
    /// Packets to write, in order.
    pub write: Vec<InworldPacket>,
    /// Characters (resource names) to add to the scene first.
    pub load: Vec<String>,
    /// Sends among `write` (they went out: track their replies).
    pub sent: Vec<Send>,
    /// Sends that cannot go out, and why.
    pub failed: Vec<(Send, String)>,
}

impl Actions {
    pub(crate) fn append(&mut self, mut other: Actions) {
        self.write.append(&mut other.write);
        for name in other.load {
            if !self.load.contains(&name) {
                self.load.push(name);
            }
        }
        self.sent.append(&mut other.sent);
        self.failed.append(&mut other.failed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    /// Needs a CONVERSATION_UPDATE before its next packet.
    Inactive,
    /// Some characters are being added to the scene first; due by `deadline`.
    AddingCharacters {
        deadline: Instant,
    },
    /// CONVERSATION_UPDATE sent; the event is due by `deadline`.
    Pending {
        deadline: Instant,
    },
    Active,
}

impl Handshake {
    fn deadline(self) -> Option<Instant> {
        match self {
            Handshake::AddingCharacters { deadline } | Handshake::Pending { deadline } => {
                Some(deadline)
            }
            _ => None,
        }
    }
}

/// What a handshake needs (made and used at once, so unboxed).
#[allow(clippy::large_enum_variant)]
enum Update {
    Packet(InworldPacket),
    /// These characters are not in the scene yet.
    Missing(Vec<String>),
}

#[derive(Debug)]
struct Conversation {
    id: String,
    members: Members,
    handshake: Handshake,
    waiting: VecDeque<Send>,
}

impl Conversation {
    /// The CONVERSATION_UPDATE for the members, what is missing for it, or
    /// why there can be none.
    fn update(&self, cast: &Cast) -> Result<Update, String> {
        match &self.members {
            Members::Current => {
                let current = cast
                    .current
                    .ok_or("the scene has no characters to talk to")?;
                Ok(Update::Packet(outbound::conversation_update(
                    &self.id,
                    &[current.id.as_str()],
                    true,
                )))
            }
            Members::Group { names, player } => {
                let missing: Vec<String> = names
                    .iter()
                    .filter(|n| cast.find(n).is_none())
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    return Ok(Update::Missing(missing));
                }
                let agents: Vec<&str> = names
                    .iter()
                    .filter_map(|n| cast.find(n))
                    .map(|c| c.id.as_str())
                    .collect();
                if agents.is_empty() {
                    return Err("the conversation has no characters".into());
                }
                Ok(Update::Packet(outbound::conversation_update(
                    &self.id, &agents, *player,
                )))
            }
        }
    }

    /// Who a trigger is addressed to: the one it names, or for the
    /// one-to-one conversation the current character; in a group, nobody
    /// (the service picks).
    fn trigger_target<'a>(&self, send: &Send, cast: &Cast<'a>) -> Option<&'a str> {
        if let Outgoing::Trigger {
            target: Some(name), ..
        } = &send.payload
        {
            return cast.find(name).map(|c| c.id.as_str());
        }
        match self.members {
            Members::Current => cast.current.map(|c| c.id.as_str()),
            Members::Group { .. } => None,
        }
    }

    fn start_handshake(&mut self, cast: &Cast, now: Instant, timeout: Duration) -> Actions {
        let mut actions = Actions::default();
        match self.update(cast) {
            Ok(Update::Packet(packet)) => {
                self.handshake = Handshake::Pending {
                    deadline: now + timeout,
                };
                actions.write.push(packet);
            }
            Ok(Update::Missing(names)) => {
                if matches!(self.handshake, Handshake::AddingCharacters { .. }) {
                    // Added, and still missing: the service does not have them.
                    self.handshake = Handshake::Inactive;
                    let why = format!("characters {names:?} could not be added to the scene");
                    actions
                        .failed
                        .extend(self.waiting.drain(..).map(|s| (s, why.clone())));
                } else {
                    self.handshake = Handshake::AddingCharacters {
                        deadline: now + timeout,
                    };
                    actions.load = names;
                }
            }
            Err(why) => {
                self.handshake = Handshake::Inactive;
                actions
                    .failed
                    .extend(self.waiting.drain(..).map(|s| (s, why.clone())));
            }
        }
        actions
    }

    fn flush(&mut self, cast: &Cast) -> Actions {
        let mut actions = Actions::default();
        for send in self.waiting.drain(..).collect::<Vec<_>>() {
            let target = self.trigger_target(&send, cast);
            actions.write.push(outbound::send_packet(&send, target));
            actions.sent.push(send);
        }
        actions
    }
}

#[derive(Debug)]
pub(crate) struct Conversations {
    list: Vec<Conversation>,
    handshake_timeout: Duration,
}

impl Conversations {
    /// The session's conversations: at first only the one-to-one with id
    /// `one_to_one`.
    pub(crate) fn new(one_to_one: String, handshake_timeout: Duration) -> Self {
        Conversations {
            list: vec![Conversation {
                id: one_to_one,
                members: Members::Current,
                handshake: Handshake::Inactive,
                waiting: VecDeque::new(),
            }],
            handshake_timeout,
        }
    }

    fn one_to_one(&mut self) -> &mut Conversation {
        &mut self.list[0]
    }

    fn by_id(&mut self, id: &str) -> Option<&mut Conversation> {
        self.list.iter_mut().find(|c| c.id == id)
    }

    /// A group conversation `id`: nothing is sent before its first packet.
    pub(crate) fn start(&mut self, id: String, members: Members) {
        if self.by_id(&id).is_none() {
            self.list.push(Conversation {
                id,
                members,
                handshake: Handshake::Inactive,
                waiting: VecDeque::new(),
            });
        }
    }

    /// New participants for conversation `id`: told to the service at once
    /// when it has started (same id), else with its next packet.
    pub(crate) fn update_members(
        &mut self,
        id: &str,
        members: Members,
        link: Option<&Cast>,
        now: Instant,
    ) -> Actions {
        let timeout = self.handshake_timeout;
        let Some(conversation) = self.by_id(id) else {
            return Actions::default();
        };
        conversation.members = members;
        match (conversation.handshake, link) {
            (Handshake::Inactive, _) | (_, None) => {
                conversation.handshake = Handshake::Inactive;
                Actions::default()
            }
            (_, Some(cast)) => conversation.start_handshake(cast, now, timeout),
        }
    }

    /// Forgets group conversation `id`; returns its waiting sends (they
    /// will not go out). The one-to-one conversation cannot end.
    pub(crate) fn end(&mut self, id: &str) -> Vec<Send> {
        match self.list.iter().skip(1).position(|c| c.id == id) {
            Some(i) => self.list.remove(i + 1).waiting.into(),
            None => Vec::new(),
        }
    }

    /// Characters left the scene: they leave every group too.
    pub(crate) fn remove_members(&mut self, resource_names: &[String]) {
        for c in &mut self.list {
            if let Members::Group { names, .. } = &mut c.members {
                names.retain(|n| !resource_names.contains(n));
            }
        }
    }

    /// A send of the game's. `link` is the cast when a stream is open and
    /// the scene loaded (conversations can start), `None` otherwise.
    pub(crate) fn send(&mut self, send: Send, link: Option<&Cast>, now: Instant) -> Actions {
        let timeout = self.handshake_timeout;
        let Some(conversation) = self.by_id(&send.ids.conversation_id) else {
            let why = format!("no conversation {}", send.ids.conversation_id);
            return Actions {
                failed: vec![(send, why)],
                ..Actions::default()
            };
        };
        conversation.waiting.push_back(send);
        let Some(cast) = link else {
            return Actions::default();
        };
        match conversation.handshake {
            Handshake::Active => conversation.flush(cast),
            Handshake::Pending { .. } | Handshake::AddingCharacters { .. } => Actions::default(),
            Handshake::Inactive => conversation.start_handshake(cast, now, timeout),
        }
    }

    /// A stream is open and the scene loaded: start the one-to-one
    /// conversation (a session is ready only once it is confirmed) and every
    /// conversation with sends waiting.
    pub(crate) fn on_link(&mut self, cast: &Cast, now: Instant) -> Actions {
        let timeout = self.handshake_timeout;
        let mut actions = Actions::default();
        for (i, c) in self.list.iter_mut().enumerate() {
            if c.handshake == Handshake::Inactive && (i == 0 || !c.waiting.is_empty()) {
                actions.append(c.start_handshake(cast, now, timeout));
            }
        }
        actions
    }

    /// The scene's characters changed: conversations waiting for
    /// characters to be added try again (or give up on them).
    pub(crate) fn on_cast_changed(&mut self, cast: &Cast, now: Instant) -> Actions {
        let timeout = self.handshake_timeout;
        let mut actions = Actions::default();
        for c in &mut self.list {
            if let Handshake::AddingCharacters { .. } = c.handshake {
                actions.append(c.start_handshake(cast, now, timeout));
            }
        }
        actions
    }

    /// The service confirmed or ended conversation `id` (others are ignored).
    pub(crate) fn on_signal(
        &mut self,
        id: &str,
        signal: Signal,
        link: Option<&Cast>,
        now: Instant,
    ) -> Actions {
        let timeout = self.handshake_timeout;
        let Some(conversation) = self.by_id(id) else {
            return Actions::default();
        };
        match (signal, link) {
            (Signal::Confirmed, Some(cast)) => {
                conversation.handshake = Handshake::Active;
                conversation.flush(cast)
            }
            (Signal::Confirmed, None) => {
                conversation.handshake = Handshake::Active;
                Actions::default()
            }
            (Signal::Ended, Some(cast)) if !conversation.waiting.is_empty() => {
                conversation.start_handshake(cast, now, timeout)
            }
            (Signal::Ended, _) => {
                conversation.handshake = Handshake::Inactive;
                Actions::default()
            }
        }
    }

    /// The current character changed: the one-to-one conversation, if
    /// started, is updated at once (same id) and waits for the service again.
    pub(crate) fn on_current_changed(&mut self, cast: &Cast, now: Instant) -> Actions {
        let timeout = self.handshake_timeout;
        let conversation = self.one_to_one();
        match conversation.handshake {
            Handshake::Inactive => Actions::default(),
            _ => conversation.start_handshake(cast, now, timeout),
        }
    }

    /// A pending handshake of conversation `id` was refused (the service
    /// answered it with a warning). Returns whether one was.
    pub(crate) fn refused(&mut self, id: &str) -> bool {
        match self.by_id(id) {
            Some(c) if matches!(c.handshake, Handshake::Pending { .. }) => {
                c.handshake = Handshake::Inactive;
                true
            }
            _ => false,
        }
    }

    /// The stream broke, or the scene changes: every conversation needs a
    /// new handshake; waiting sends keep waiting.
    pub(crate) fn on_stream_lost(&mut self) {
        for c in &mut self.list {
            c.handshake = Handshake::Inactive;
        }
    }

    /// Whether the one-to-one conversation is confirmed.
    pub(crate) fn is_ready(&self) -> bool {
        self.list[0].handshake == Handshake::Active
    }

    /// Whether a handshake (or characters it needs) is awaited.
    pub(crate) fn is_pending(&self) -> bool {
        self.list.iter().any(|c| c.handshake.deadline().is_some())
    }

    /// The earliest handshake deadline.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.list
            .iter()
            .filter_map(|c| c.handshake.deadline())
            .min()
    }

    /// Every send still waiting (for the final report when the session ends).
    pub(crate) fn take_waiting(&mut self) -> Vec<Send> {
        self.list
            .iter_mut()
            .flat_map(|c| c.waiting.drain(..))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::state::Outgoing;
    use crate::client::SentIds;
    use crate::protocol::ai::inworld::packets::{
        control_event::PayloadStructured, inworld_packet::Packet as Payload,
    };

    const TIMEOUT: Duration = Duration::from_secs(10);

    fn character(id: &str) -> Character {
        Character {
            id: id.into(),
            resource_name: format!("workspaces/w/characters/{id}").into(),
            display_name: id.into(),
            ..Character::default()
        }
    }

    fn text(conversation: &str, text: &str) -> Send {
        Send {
            ids: SentIds {
                conversation_id: conversation.into(),
                ..SentIds::fresh(String::new())
            },
            payload: Outgoing::Text(text.into()),
            permit: crate::client::send_slots::SendPermit::unbounded(),
        }
    }

    /// (agent ids, player) of a CONVERSATION_UPDATE.
    fn update_of(p: &InworldPacket) -> (Vec<String>, bool) {
        let Some(Payload::Control(c)) = &p.packet else {
            panic!("not a control: {p:?}")
        };
        let Some(PayloadStructured::ConversationUpdate(u)) = &c.payload_structured else {
            panic!("not an update: {c:?}")
        };
        let agents = u
            .participants
            .iter()
            .filter(|a| a.r#type == 2)
            .map(|a| a.name.clone())
            .collect();
        (agents, u.participants.iter().any(|a| a.r#type == 1))
    }

    fn is_text(p: &InworldPacket, what: &str) -> bool {
        matches!(&p.packet, Some(Payload::Text(t)) if t.text == what)
    }

    #[test]
    fn sends_wait_for_the_handshake_then_go_out_in_order() {
        let t0 = Instant::now();
        let alice = character("alice");
        let cast = Cast {
            characters: &[],
            current: Some(&alice),
        };
        let mut c = Conversations::new("c1".into(), TIMEOUT);
        // No stream yet: the send waits, nothing is written.
        let a = c.send(text("c1", "one"), None, t0);
        assert!(
            a.write.is_empty() && a.load.is_empty() && a.sent.is_empty() && a.failed.is_empty()
        );
        // The stream opens on a loaded scene: the handshake goes out.
        let a = c.on_link(&cast, t0);
        assert_eq!(a.write.len(), 1);
        assert_eq!(update_of(&a.write[0]), (vec!["alice".to_string()], true));
        assert_eq!(c.deadline(), Some(t0 + TIMEOUT));
        assert!(!c.is_ready() && c.is_pending());
        // Still pending: another send waits.
        assert!(c.send(text("c1", "two"), Some(&cast), t0).write.is_empty());
        // Confirmed: both go out, in order.
        let a = c.on_signal("c1", Signal::Confirmed, Some(&cast), t0);
        assert!(is_text(&a.write[0], "one") && is_text(&a.write[1], "two"));
        assert_eq!(a.sent.len(), 2);
        assert!(c.is_ready() && !c.is_pending() && c.deadline().is_none());
        // Active: a send goes out at once.
        let a = c.send(text("c1", "three"), Some(&cast), t0);
        assert!(is_text(&a.write[0], "three"));
    }

    #[test]
    fn a_reconnect_redoes_the_handshake_with_the_same_id() {
        let t0 = Instant::now();
        let alice = character("alice");
        let cast = Cast {
            characters: &[],
            current: Some(&alice),
        };
        let mut c = Conversations::new("c1".into(), TIMEOUT);
        c.on_link(&cast, t0);
        c.on_signal("c1", Signal::Confirmed, Some(&cast), t0);
        c.on_stream_lost();
        assert!(!c.is_ready());
        assert!(c.send(text("c1", "while away"), None, t0).write.is_empty());
        let a = c.on_link(&cast, t0);
        let p = &a.write[0];
        assert_eq!(p.packet_id.as_ref().unwrap().conversation_id, "c1");
        assert!(p.routing.is_none());
        let a = c.on_signal("c1", Signal::Confirmed, Some(&cast), t0);
        assert!(is_text(&a.write[0], "while away"));
    }

    #[test]
    fn eviction_and_echoes_make_it_inactive_and_waiting_sends_restart_it() {
        let t0 = Instant::now();
        let alice = character("alice");
        let cast = Cast {
            characters: &[],
            current: Some(&alice),
        };
        let mut c = Conversations::new("c1".into(), TIMEOUT);
        c.on_link(&cast, t0);
        c.on_signal("c1", Signal::Confirmed, Some(&cast), t0);
        assert!(c
            .on_signal("c1", Signal::Ended, Some(&cast), t0)
            .write
            .is_empty());
        assert!(!c.is_ready());
        // The next send starts it again.
        let a = c.send(text("c1", "again"), Some(&cast), t0);
        assert_eq!(a.write.len(), 1);
        assert_eq!(update_of(&a.write[0]).0, ["alice"]);
        // Signals for other conversations change nothing.
        let a = c.on_signal("other", Signal::Confirmed, Some(&cast), t0);
        assert!(
            a.write.is_empty() && a.load.is_empty() && a.sent.is_empty() && a.failed.is_empty()
        );
        assert!(!c.is_ready());
    }

    #[test]
    fn a_new_current_character_updates_the_conversation() {
        let t0 = Instant::now();
        let (alice, bob) = (character("alice"), character("bob"));
        let mut c = Conversations::new("c1".into(), TIMEOUT);
        // Not started yet: nothing to tell the service.
        let to_bob = Cast {
            characters: &[],
            current: Some(&bob),
        };
        assert!(c.on_current_changed(&to_bob, t0).write.is_empty());
        let to_alice = Cast {
            characters: &[],
            current: Some(&alice),
        };
        c.on_link(&to_alice, t0);
        c.on_signal("c1", Signal::Confirmed, Some(&to_alice), t0);
        let a = c.on_current_changed(&to_bob, t0);
        assert_eq!(update_of(&a.write[0]), (vec!["bob".to_string()], true));
        assert!(c.is_pending(), "sends wait for the service to confirm");
    }

    #[test]
    fn without_characters_waiting_sends_fail_instead_of_hanging() {
        let t0 = Instant::now();
        let none = Cast {
            characters: &[],
            current: None,
        };
        let mut c = Conversations::new("c1".into(), TIMEOUT);
        let a = c.send(text("c1", "anyone?"), Some(&none), t0);
        assert!(a.write.is_empty());
        assert_eq!(a.failed.len(), 1);
        assert!(a.failed[0].1.contains("no characters"));
        assert!(!c.is_pending());
    }

    #[test]
    fn a_refused_handshake_is_reported_once_and_waiting_sends_are_kept() {
        let t0 = Instant::now();
        let alice = character("alice");
        let cast = Cast {
            characters: &[],
            current: Some(&alice),
        };
        let mut c = Conversations::new("c1".into(), TIMEOUT);
        c.send(text("c1", "hello"), Some(&cast), t0);
        assert!(c.refused("c1"));
        assert!(!c.refused("c1"), "only a pending handshake can be refused");
        assert!(!c.is_pending());
        assert_eq!(c.take_waiting().len(), 1);
        assert!(c.take_waiting().is_empty());
    }

    #[test]
    fn a_send_for_an_unknown_conversation_fails() {
        let mut c = Conversations::new("c1".into(), TIMEOUT);
        let a = c.send(text("nope", "x"), None, Instant::now());
        assert_eq!(a.failed.len(), 1);
    }

    fn group_send(conversation: &str, payload: Outgoing) -> Send {
        Send {
            ids: SentIds {
                conversation_id: conversation.into(),
                ..SentIds::fresh(String::new())
            },
            payload,
            permit: crate::client::send_slots::SendPermit::unbounded(),
        }
    }

    fn group(names: &[&str], player: bool) -> Members {
        Members::Group {
            names: names
                .iter()
                .map(|n| format!("workspaces/w/characters/{n}"))
                .collect(),
            player,
        }
    }

    #[test]
    fn a_group_adds_missing_characters_then_starts_with_all_of_them() {
        let t0 = Instant::now();
        let (alice, bob) = (character("alice"), character("bob"));
        let only_alice = [alice.clone()];
        let mut c = Conversations::new("c1".into(), TIMEOUT);
        c.start("g1".into(), group(&["alice", "bob"], true));
        // Nothing goes out before the group's first packet.
        let cast = Cast {
            characters: &only_alice,
            current: Some(&alice),
        };
        assert!(c.on_link(&cast, t0).write.len() == 1, "only the one-to-one");
        let a = c.send(
            group_send("g1", Outgoing::Text("hi all".into())),
            Some(&cast),
            t0,
        );
        assert!(a.write.is_empty());
        assert_eq!(a.load, ["workspaces/w/characters/bob"]);
        assert!(c.is_pending(), "adding characters counts as awaited");
        // The new scene status has bob: the handshake names both, then the player.
        let both = [alice.clone(), bob.clone()];
        let cast = Cast {
            characters: &both,
            current: Some(&alice),
        };
        let a = c.on_cast_changed(&cast, t0);
        assert_eq!(
            update_of(&a.write[0]),
            (vec!["alice".to_string(), "bob".to_string()], true)
        );
        let a = c.on_signal("g1", Signal::Confirmed, Some(&cast), t0);
        assert!(is_text(&a.write[0], "hi all"));
        // The next-turn trigger has no target: the service picks who speaks.
        let next = Outgoing::Trigger {
            name: "inworld.conversation.next_turn".into(),
            params: vec![],
            target: None,
        };
        let a = c.send(group_send("g1", next), Some(&cast), t0);
        assert!(a.write[0].routing.as_ref().unwrap().target.is_none());
        // A trigger for one of them is addressed to that agent.
        let to_bob = Outgoing::Trigger {
            name: "greet".into(),
            params: vec![],
            target: Some("workspaces/w/characters/bob".into()),
        };
        let a = c.send(group_send("g1", to_bob), Some(&cast), t0);
        assert_eq!(
            a.write[0]
                .routing
                .as_ref()
                .unwrap()
                .target
                .as_ref()
                .unwrap()
                .name,
            "bob"
        );
    }

    #[test]
    fn characters_the_service_cannot_add_fail_the_waiting_sends() {
        let t0 = Instant::now();
        let alice = character("alice");
        let only_alice = [alice.clone()];
        let cast = Cast {
            characters: &only_alice,
            current: Some(&alice),
        };
        let mut c = Conversations::new("c1".into(), TIMEOUT);
        c.start("g1".into(), group(&["alice", "nobody"], true));
        c.send(
            group_send("g1", Outgoing::Text("hi".into())),
            Some(&cast),
            t0,
        );
        // The status came back without them.
        let a = c.on_cast_changed(&cast, t0);
        assert_eq!(a.failed.len(), 1);
        assert!(a.failed[0].1.contains("nobody"), "{}", a.failed[0].1);
        assert!(!c.is_pending());
    }

    #[test]
    fn new_participants_are_told_at_once_and_an_ended_group_hands_back_its_sends() {
        let t0 = Instant::now();
        let (alice, bob) = (character("alice"), character("bob"));
        let both = [alice.clone(), bob.clone()];
        let cast = Cast {
            characters: &both,
            current: Some(&alice),
        };
        let mut c = Conversations::new("c1".into(), TIMEOUT);
        c.start("g1".into(), group(&["alice", "bob"], true));
        c.send(
            group_send("g1", Outgoing::Text("one".into())),
            Some(&cast),
            t0,
        );
        c.on_signal("g1", Signal::Confirmed, Some(&cast), t0);
        let a = c.update_members("g1", group(&["bob"], false), Some(&cast), t0);
        assert_eq!(update_of(&a.write[0]), (vec!["bob".to_string()], false));
        // Characters that leave the scene leave the group.
        c.remove_members(&["workspaces/w/characters/bob".to_string()]);
        c.send(group_send("g1", Outgoing::Text("two".into())), None, t0);
        assert_eq!(c.end("g1").len(), 1);
        assert!(c.end("g1").is_empty());
        assert!(c.end("c1").is_empty(), "the one-to-one conversation stays");
        assert!(
            c.send(group_send("g1", Outgoing::Text("x".into())), None, t0)
                .failed
                .len()
                == 1
        );
    }
}
