//! What one client may send the engine, and how much one session and one
//! stream may make it keep. Beyond a limit the input is refused with a
//! WARNING packet naming the limit (the stream goes on), or the oldest entry
//! makes room; nothing is allocated in proportion to the input first.
//!
//! With these, one session keeps at most about 3.5 MiB (history 0.8 MiB,
//! items 2 MiB, entities 0.5 MiB, the rest small), and one stream holds at most
//! its 64 outbound packets and its queue of waiting inputs (256 inputs of at
//! most about 19 KiB each: a trigger with all its parameters).

/// Player text and narrated actions: bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 4096;
/// A trigger's name: bytes.
pub const MAX_TRIGGER_NAME_BYTES: usize = 128;
/// Parameters of one trigger.
pub const MAX_TRIGGER_PARAMETERS: usize = 16;
/// A trigger parameter's name: bytes.
pub const MAX_PARAMETER_NAME_BYTES: usize = 128;
/// A trigger parameter's value: bytes.
pub const MAX_PARAMETER_VALUE_BYTES: usize = 1024;
/// Ids a client sends (packet, interaction, utterance, correlation and
/// conversation ids, agent ids, item ids, entity names, session ids): bytes.
pub const MAX_ID_BYTES: usize = 128;
/// The player's name from the session configuration: bytes (a longer one is cut).
pub const MAX_USER_NAME_BYTES: usize = 256;

/// Audio one audio session may carry: 3 minutes of 16 kHz 16-bit mono PCM.
/// Later chunks of the session are dropped (one warning says so). The engine
/// only measures the audio as it arrives; it keeps none of it.
pub const MAX_AUDIO_SESSION_BYTES: usize = 3 * 60 * 16_000 * 2;

/// Conversations per session; a new one evicts the least recently used.
pub const MAX_CONVERSATIONS: usize = 32;
/// Dialog lines a session remembers (the oldest are forgotten).
pub const MAX_HISTORY_LINES: usize = 200;
/// One remembered dialog line: bytes (a longer line is remembered cut).
pub const MAX_HISTORY_LINE_BYTES: usize = 4096;
/// Entity items per session.
pub const MAX_ITEMS: usize = 256;
/// One entity item, as encoded on the wire: bytes.
pub const MAX_ITEM_BYTES: usize = 8 * 1024;
/// Entities per session.
pub const MAX_ENTITIES: usize = 32;
/// Items one entity may hold.
pub const MAX_ITEMS_PER_ENTITY: usize = 128;

/// Player inputs waiting for their reply, per stream; beyond it inputs are refused.
pub const MAX_PENDING_REPLIES: usize = 256;

/// `text` cut to at most `max` bytes, at a character boundary.
pub(crate) fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncated("hello", 10), "hello");
        assert_eq!(truncated("hello", 3), "hel");
        assert_eq!(truncated("héllo", 2), "h");
        assert_eq!(truncated("héllo", 3), "hé");
    }
}
