//! Who answers a group reply left to the model. The prompt asks the model
//! to start with `[speaker=NAME]`, but models also name the speaker a little
//! later: after an emotion tag, inside the first sentence, or as a `speaker`
//! tool call, which the API streams after the content. So, until the model
//! names someone of the conversation, what it writes is held (emotions,
//! actions, triggers, the first sentence), and the choice is made at the
//! first of:
//!
//! - a name of someone in the conversation, as a tag or a tool call: that
//!   character says everything held and the rest;
//! - the first sentence complete (its closing punctuation and the space
//!   after it, a line's end, or the stream's end): the turn-taking's choice
//!   says it, so a reply waits on the choice at most as long as it waits on
//!   its first sentence;
//! - the end of the stream.
//!
//! A name after the choice is too late (the reply has a voice already): it
//! is dropped, like a name of no one in the conversation. Speaker markup is
//! never said.

use super::markup::Piece;

/// How the choice was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chosen {
    /// The model named `cast[i]`.
    Named(usize),
    /// The model named no one in time: the turn-taking's choice answers.
    TurnTaking,
}

/// The model's pieces on their way to the reply, held until the speaker is
/// known.
pub(crate) struct SpeakerChoice {
    /// `Some` until the choice is made: what waits for it.
    held: Option<Vec<Piece>>,
}

impl SpeakerChoice {
    /// The model chooses: its pieces wait for the choice.
    pub fn undecided() -> Self {
        SpeakerChoice {
            held: Some(Vec::new()),
        }
    }

    /// The speaker is known: pieces pass at once.
    pub fn decided() -> Self {
        SpeakerChoice { held: None }
    }

    /// Takes the model's next piece; what may be delivered now goes to `out`
    /// (speaker pieces never do). `named` says which of the cast a name
    /// means. Returns the choice when this piece made it: the reply's
    /// speaker is set before `out` is delivered.
    pub fn push(
        &mut self,
        piece: Piece,
        named: impl Fn(&str) -> Option<usize>,
        out: &mut Vec<Piece>,
    ) -> Option<Chosen> {
        let Some(held) = &mut self.held else {
            if let Piece::Speaker(name) = &piece {
                log::debug!("the model named {name:?} after its reply had begun: too late");
            } else {
                out.push(piece);
            }
            return None;
        };
        let chosen = match &piece {
            Piece::Speaker(name) => match named(name) {
                Some(i) => Chosen::Named(i),
                None => {
                    log::debug!("the model chose {name:?}, who is not in the conversation");
                    return None;
                }
            },
            Piece::Sentence(_) => {
                held.push(piece);
                Chosen::TurnTaking
            }
            _ => {
                held.push(piece);
                return None;
            }
        };
        out.append(held);
        self.held = None;
        Some(chosen)
    }

    /// The model's reply ended (or reached its bound): what is held goes
    /// to `out`, said by the turn-taking's choice unless one was made.
    pub fn finish(&mut self, out: &mut Vec<Piece>) -> Option<Chosen> {
        let mut held = self.held.take()?;
        out.append(&mut held);
        Some(Chosen::TurnTaking)
    }
}

#[cfg(test)]
mod tests {
    use super::super::markup::{tool_call, Markup};
    use super::*;

    const CAST: &[&str] = &["alice", "bob"];

    fn named(name: &str) -> Option<usize> {
        CAST.iter().position(|c| *c == name.to_lowercase())
    }

    /// What a group reply streamed as `deltas`, then `calls` (tool calls
    /// come after the content, as the API streams them), becomes: who
    /// answers, and what they say and show.
    fn reply(deltas: &[&str], calls: &[(&str, &str)]) -> (Chosen, Vec<Piece>) {
        let mut markup = Markup::new(1000);
        let mut choice = SpeakerChoice::undecided();
        let (mut pieces, mut out, mut chosen) = (Vec::new(), Vec::new(), None);
        let mut take = |pieces: &mut Vec<Piece>, out: &mut Vec<Piece>| {
            for p in pieces.drain(..) {
                if let Some(c) = choice.push(p, named, out) {
                    assert!(chosen.is_none(), "chosen twice");
                    chosen = Some(c);
                }
            }
        };
        for d in deltas {
            markup.push(d, &mut pieces);
            take(&mut pieces, &mut out);
        }
        pieces.extend(calls.iter().filter_map(|(n, a)| tool_call(n, a)));
        markup.finish(&mut pieces);
        take(&mut pieces, &mut out);
        if let Some(c) = choice.finish(&mut out) {
            assert!(chosen.is_none(), "chosen twice");
            chosen = Some(c);
        }
        (chosen.expect("a choice"), out)
    }

    fn sentences(pieces: &[Piece]) -> Vec<&str> {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Sentence(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_name_first_chooses_at_once() {
        let mut choice = SpeakerChoice::undecided();
        let mut out = Vec::new();
        assert_eq!(
            choice.push(Piece::Speaker("Bob".into()), named, &mut out),
            Some(Chosen::Named(1))
        );
        assert!(out.is_empty());
        choice.push(Piece::Sentence("Hi.".into()), named, &mut out);
        assert_eq!(out, [Piece::Sentence("Hi.".into())], "no longer held");
    }

    #[test]
    fn a_name_after_an_emotion_or_inside_the_first_sentence_still_chooses() {
        let (chosen, out) = reply(&["[emotion=JOY] [speaker=bob] Bob here. Ask."], &[]);
        assert_eq!(chosen, Chosen::Named(1));
        assert!(matches!(out[0], Piece::Emotion(..)), "{out:?}");
        assert_eq!(sentences(&out), ["Bob here.", "Ask."]);

        let (chosen, out) = reply(&["Well, ", "[speaker=", "Alice] ", "I know. More"], &[]);
        assert_eq!(chosen, Chosen::Named(0));
        assert_eq!(sentences(&out), ["Well, I know.", "More"]);
    }

    #[test]
    fn a_tool_call_after_a_one_sentence_reply_chooses() {
        let (chosen, out) = reply(
            &["Gladly, ", "friend."],
            &[("speaker", r#"{"name":"Bob"}"#)],
        );
        assert_eq!(chosen, Chosen::Named(1));
        assert_eq!(sentences(&out), ["Gladly, friend."]);
        assert!(!out.iter().any(|p| matches!(p, Piece::Speaker(_))));
    }

    #[test]
    fn once_the_first_sentence_is_complete_the_turn_taking_answers() {
        // The first sentence's end is known at the next word: the choice
        // is made then, and later names are dropped.
        let (chosen, out) = reply(
            &["First one. ", "Second [speaker=Bob] one."],
            &[("speaker", r#"{"name":"Alice"}"#)],
        );
        assert_eq!(chosen, Chosen::TurnTaking);
        assert_eq!(sentences(&out), ["First one.", "Second one."]);
        assert!(!out.iter().any(|p| matches!(p, Piece::Speaker(_))));
    }

    #[test]
    fn a_name_of_no_one_in_the_conversation_is_no_choice() {
        let (chosen, out) = reply(&["[speaker=Mallory] [speaker=Bob] Hi."], &[]);
        assert_eq!(chosen, Chosen::Named(1));
        assert_eq!(sentences(&out), ["Hi."]);
        let (chosen, _) = reply(&["[speaker=Mallory] Hi."], &[]);
        assert_eq!(chosen, Chosen::TurnTaking);
    }

    #[test]
    fn what_is_held_comes_out_in_order_at_the_end() {
        let (chosen, out) = reply(&["[emotion=JOY] [action=waves]"], &[]);
        assert_eq!(chosen, Chosen::TurnTaking);
        assert!(
            matches!(out[..], [Piece::Emotion(..), Piece::Action(_)]),
            "{out:?}"
        );
    }

    #[test]
    fn a_decided_reply_passes_everything_but_names() {
        let mut choice = SpeakerChoice::decided();
        let mut out = Vec::new();
        assert_eq!(
            choice.push(Piece::Speaker("Bob".into()), named, &mut out),
            None
        );
        assert_eq!(
            choice.push(Piece::Action("nods".into()), named, &mut out),
            None
        );
        assert_eq!(choice.finish(&mut out), None);
        assert_eq!(out, [Piece::Action("nods".into())]);
    }
}
