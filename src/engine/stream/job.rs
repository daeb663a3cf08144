//! Player input waiting for a character's reply.

use crate::engine::outbound::Ids;

/// What the player did.
#[derive(Debug, Clone)]
pub(crate) enum Input {
    Text(String),
    Trigger {
        name: String,
        params: Vec<(String, String)>,
    },
    Action(String),
    /// Recognised speech (sent back as SPEECH_TO_TEXT first).
    Speech(String),
}

/// The trigger that lets the next character of a conversation speak.
pub(crate) const NEXT_TURN_TRIGGER: &str = "inworld.conversation.next_turn";

/// One player input waiting for its answer.
#[derive(Debug, Clone)]
pub(crate) struct ReplyJob {
    /// Order of arrival on the stream (interruptions cancel older ones).
    pub seq: u64,
    pub input: Input,
    /// The player's interaction, correlation and conversation ids.
    pub ids: Ids,
    /// routing.target when it names an agent.
    pub target_agent: Option<String>,
}
