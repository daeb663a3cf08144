//! What a part of the task asks for, in order. The parts (`mic.rs`,
//! `hands_free.rs`, `speakers.rs`, the commands of `commands.rs`) are plain values: they take what happened
//! and return `Effects`; only `Driver::apply` carries them out, so only it
//! writes to the wire or to the game's queue.

use crate::client::conversations::Actions;
use crate::client::state::Send;
use crate::client::SentIds;
use crate::packet::Packet;
use crate::protocol::ai::inworld::packets::InworldPacket;

#[derive(Debug)]
pub(super) enum Effect {
    /// A packet straight to the wire (audio, a cancel of responses).
    Write(Box<InworldPacket>),
    /// A send to its conversation (it goes out after the handshake).
    Send(Send),
    /// A packet to the game.
    Deliver(Packet),
    /// A send that will not go out (its slot is released), and why.
    Fail(Send, String),
    /// A packet the library made for the game (it holds no slot) that did
    /// not go out, and why.
    Unsent(SentIds, String),
    /// Microphone audio thrown away: input frames at `rate`, in the audio
    /// session of `conversation_id` (`None`: the one the game opened last).
    Dropped {
        frames: u64,
        rate: u32,
        conversation_id: Option<String>,
    },
    /// The player speaks over a character (barge-in).
    BargeIn,
    /// A step of the conversations: its packets go out, its sends are
    /// accounted for (replies tracked, failures reported).
    Conversations(Actions),
    /// Calls wait: they start if the session has a token.
    StartCalls,
}

/// Effects in the order they must happen.
#[derive(Debug, Default)]
pub(super) struct Effects(Vec<Effect>);

impl Effects {
    pub(super) fn push(&mut self, effect: Effect) {
        self.0.push(effect);
    }

    pub(super) fn append(&mut self, mut other: Effects) {
        self.0.append(&mut other.0);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    pub(super) fn iter(&self) -> std::slice::Iter<'_, Effect> {
        self.0.iter()
    }
}

impl IntoIterator for Effects {
    type Item = Effect;
    type IntoIter = std::vec::IntoIter<Effect>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
