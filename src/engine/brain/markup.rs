//! What a model writes, turned into what the player gets: sentences of
//! speech, and the markup the prompt asks for taken out of them. A tag in
//! square brackets (`[emotion=JOY strength=STRONG]`, `[trigger=serve_drink
//! item=cider]`, `[action=wipes the bar]`) or a stage direction between
//! asterisks (`*smiles*`) is never said: tags become emotions, triggers and
//! narrated actions, `[speaker=NAME]` who answers in a group conversation,
//! anything else bracketed a narrated action. Fed the
//! stream's deltas, it hands out each sentence as soon as it is complete,
//! and stops at a bound on the reply's length.

use crate::engine::scene::{emotion_from_name, strength_from_name};

/// A bracket or asterisk left open this long was no markup: it is said.
const MAX_MARKUP_BYTES: usize = 200;
/// A sentence without an end this long is said as it is.
const MAX_SENTENCE_BYTES: usize = 400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Sentence(String),
    /// Behavior and strength codes.
    Emotion(i32, i32),
    Action(String),
    Trigger(String, Vec<(String, String)>),
    /// Who answers, as the model named them (a group conversation's choice).
    Speaker(String),
}

pub(crate) struct Markup {
    sentence: String,
    /// Open markup: its closing character and what it holds so far.
    open: Option<(char, String)>,
    said_bytes: usize,
    max_bytes: usize,
    full: bool,
}

impl Markup {
    /// Says at most `max_bytes` of text.
    pub fn new(max_bytes: usize) -> Self {
        Markup {
            sentence: String::new(),
            open: None,
            said_bytes: 0,
            max_bytes,
            full: false,
        }
    }

    /// The reply reached its bound: the rest is not said.
    pub fn full(&self) -> bool {
        self.full
    }

    pub fn push(&mut self, delta: &str, out: &mut Vec<Piece>) {
        for c in delta.chars() {
            if self.full {
                return;
            }
            if let Some((close, held)) = &mut self.open {
                if c == *close {
                    let held = std::mem::take(held);
                    let bracket = *close == ']';
                    self.open = None;
                    out.extend(markup(&held, bracket));
                } else if held.len() >= MAX_MARKUP_BYTES {
                    let (close, held) = self.open.take().expect("open");
                    self.sentence.push(if close == ']' { '[' } else { '*' });
                    self.sentence.push_str(&held);
                    self.text(c, out);
                } else {
                    held.push(c);
                }
                continue;
            }
            match c {
                '[' => self.open = Some((']', String::new())),
                '*' => self.open = Some(('*', String::new())),
                _ => self.text(c, out),
            }
        }
    }

    fn text(&mut self, c: char, out: &mut Vec<Piece>) {
        let ends = c.is_whitespace()
            && self.sentence.trim_end().ends_with(['.', '!', '?', '…'])
            && !self.sentence.trim().is_empty();
        if c == '\n' || ends || self.sentence.len() >= MAX_SENTENCE_BYTES {
            self.flush(out);
        }
        self.sentence.push(c);
    }

    fn flush(&mut self, out: &mut Vec<Piece>) {
        let sentence = std::mem::take(&mut self.sentence);
        // Markup between words leaves two spaces.
        let mut line = sentence.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            return;
        }
        let room = self.max_bytes.saturating_sub(self.said_bytes);
        if line.len() > room {
            let mut cut = room;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            self.full = true;
        }
        self.said_bytes += line.len();
        if !line.trim().is_empty() {
            out.push(Piece::Sentence(line));
        }
    }

    /// The stream ended: what is left is said (open markup too, as text).
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        if let Some((close, held)) = self.open.take() {
            self.sentence.push(if close == ']' { '[' } else { '*' });
            self.sentence.push_str(&held);
        }
        if !self.full {
            self.flush(out);
        }
    }
}

/// A tool call the model made instead of markup: `trigger` (`{"name",
/// "parameters": {..}}`), `emotion` (`{"emotion", "strength"}`), `action`
/// (`{"content"}`) or `speaker` (`{"name"}`); others are ignored.
pub(crate) fn tool_call(name: &str, arguments: &str) -> Option<Piece> {
    let args: serde_json::Value = serde_json::from_str(arguments).ok()?;
    let text = |key: &str| args.get(key).and_then(|v| v.as_str()).map(str::to_string);
    match name {
        "trigger" | "emit_trigger" => {
            let params = args
                .get("parameters")
                .and_then(|p| p.as_object())
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| {
                            let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                            (k.clone(), v)
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Piece::Trigger(text("name")?, params))
        }
        "emotion" | "set_emotion" => {
            let tag = format!(
                "emotion={} {}",
                text("emotion")?,
                text("strength").unwrap_or_default()
            );
            markup(&tag, true)
        }
        "action" | "narrate" => Some(Piece::Action(text("content")?)),
        "speaker" | "next_speaker" => Some(Piece::Speaker(text("name")?)),
        _ => None,
    }
}

/// What a tag or stage direction means.
fn markup(held: &str, bracket: bool) -> Option<Piece> {
    let held = held.trim();
    if held.is_empty() {
        return None;
    }
    if !bracket {
        return Some(Piece::Action(held.to_string()));
    }
    let (key, rest) = match held.find(['=', ':']) {
        Some(at) => (held[..at].trim().to_lowercase(), held[at + 1..].trim()),
        None => return Some(Piece::Action(held.to_string())),
    };
    match key.as_str() {
        "emotion" => {
            let mut words = rest
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|w| !w.is_empty());
            let behavior = emotion_from_name(&words.next()?.to_uppercase().replace('-', "_"))?;
            let strength = words
                .next()
                .map(|w| w.rsplit('=').next().unwrap_or(w).to_uppercase())
                .and_then(|w| strength_from_name(&w))
                .or_else(|| strength_from_name("NORMAL"))?;
            Some(Piece::Emotion(behavior, strength))
        }
        "trigger" | "event" => {
            let mut words = rest.split_whitespace();
            let name = words.next()?.to_string();
            let params = words
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                .collect();
            Some(Piece::Trigger(name, params))
        }
        "action" | "narrate" | "narration" => Some(Piece::Action(rest.to_string())),
        "speaker" | "next_speaker" => Some(Piece::Speaker(rest.trim_matches('"').to_string())),
        _ => Some(Piece::Action(held.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ai::inworld::packets::emotion_event::{SpaffCode, Strength};

    fn pieces(deltas: &[&str], max: usize) -> Vec<Piece> {
        let mut m = Markup::new(max);
        let mut out = Vec::new();
        for d in deltas {
            m.push(d, &mut out);
        }
        m.finish(&mut out);
        out
    }

    #[test]
    fn tags_become_events_and_are_never_said() {
        let reply = "[emotion=JOY strength=STRONG] [action=wipes the bar]Hello there! \
                     One cider? *winks* Coming up. [trigger=serve_drink item=cider size=large]";
        let expected = vec![
            Piece::Emotion(SpaffCode::Joy as i32, Strength::Strong as i32),
            Piece::Action("wipes the bar".into()),
            Piece::Sentence("Hello there!".into()),
            Piece::Sentence("One cider?".into()),
            Piece::Action("winks".into()),
            Piece::Sentence("Coming up.".into()),
            Piece::Trigger(
                "serve_drink".into(),
                vec![
                    ("item".into(), "cider".into()),
                    ("size".into(), "large".into()),
                ],
            ),
        ];
        assert_eq!(pieces(&[reply], 1000), expected);
        // The same, a few bytes at a time as a stream brings it.
        let chars: Vec<String> = reply.chars().map(String::from).collect();
        let deltas: Vec<&str> = chars.iter().map(|s| s.as_str()).collect();
        assert_eq!(pieces(&deltas, 1000), expected);
    }

    #[test]
    fn a_sentence_is_handed_out_as_soon_as_it_ends() {
        let mut m = Markup::new(1000);
        let mut out = Vec::new();
        m.push("[emotion: sadness, weak] It is late", &mut out);
        assert_eq!(
            out,
            [Piece::Emotion(
                SpaffCode::Sadness as i32,
                Strength::Weak as i32
            )]
        );
        m.push(".", &mut out);
        assert_eq!(out.len(), 1, "the end is known at the next space");
        m.push(" The road", &mut out);
        assert_eq!(out[1], Piece::Sentence("It is late.".into()));
    }

    #[test]
    fn tool_calls_are_events_too() {
        assert_eq!(
            tool_call(
                "trigger",
                r#"{"name":"open_gate","parameters":{"who":"guard","times":2}}"#
            ),
            Some(Piece::Trigger(
                "open_gate".into(),
                vec![("times".into(), "2".into()), ("who".into(), "guard".into())]
            ))
        );
        assert_eq!(
            tool_call("emotion", r#"{"emotion":"anger","strength":"strong"}"#),
            Some(Piece::Emotion(
                SpaffCode::Anger as i32,
                Strength::Strong as i32
            ))
        );
        assert_eq!(
            tool_call("speaker", r#"{"name":"Finn"}"#),
            Some(Piece::Speaker("Finn".into()))
        );
        assert_eq!(tool_call("weather", "{}"), None);
        assert_eq!(tool_call("trigger", "not json"), None);
    }

    #[test]
    fn replies_are_bounded_and_unclosed_brackets_are_text() {
        let out = pieces(&["One two three. Four five six."], 18);
        assert_eq!(
            out,
            [
                Piece::Sentence("One two three.".into()),
                Piece::Sentence("Four".into())
            ]
        );
        let out = pieces(&["It costs [5 silver"], 100);
        assert_eq!(out, [Piece::Sentence("It costs [5 silver".into())]);
        assert_eq!(
            pieces(&["[laughs] Ha."], 100)[0],
            Piece::Action("laughs".into())
        );
        assert_eq!(
            pieces(&["[speaker=Finn Ashwood][emotion=JOY] A song!"], 100)[..2],
            [
                Piece::Speaker("Finn Ashwood".into()),
                Piece::Emotion(SpaffCode::Joy as i32, Strength::Normal as i32)
            ]
        );
        assert_eq!(
            pieces(&["[emotion=GLEE] Hi."], 100),
            [Piece::Sentence("Hi.".into())]
        );
    }
}
