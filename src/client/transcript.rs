//! The dialog so far, as the client saw it: what the player sent (text and
//! narrated actions) and what characters said. When the service loses a
//! session (it restarted, or the session expired), the library opens a new
//! one and hands this over as its continuation, so characters remember.

use super::config::{Continuation, Talker};
use std::collections::VecDeque;

/// The last lines kept, and their total size at most.
const MAX_LINES: usize = 64;
const MAX_BYTES: usize = 16 * 1024;

#[derive(Debug, Default)]
pub(crate) struct Transcript {
    lines: VecDeque<(Talker, String)>,
    bytes: usize,
}

impl Transcript {
    pub(crate) fn add(&mut self, talker: Talker, text: &str) {
        if text.is_empty() || text.len() > MAX_BYTES {
            return;
        }
        self.bytes += text.len();
        self.lines.push_back((talker, text.to_string()));
        while self.lines.len() > MAX_LINES || self.bytes > MAX_BYTES {
            if let Some((_, old)) = self.lines.pop_front() {
                self.bytes -= old.len();
            }
        }
    }

    /// The lines, oldest first.
    pub(crate) fn lines(&self) -> Vec<(Talker, String)> {
        self.lines.iter().cloned().collect()
    }

    /// The continuation for a new session that replaces a lost one: the
    /// session's own continuation followed by the dialog since. Saved state
    /// is kept only when nothing was said since (it cannot be merged).
    pub(crate) fn continuation(&self, original: Option<&Continuation>) -> Option<Continuation> {
        match original {
            Some(Continuation::SavedState(_)) if self.lines.is_empty() => original.cloned(),
            Some(Continuation::DialogHistory(before)) => Some(Continuation::DialogHistory(
                before
                    .iter()
                    .cloned()
                    .chain(self.lines.iter().cloned())
                    .collect(),
            )),
            _ if self.lines.is_empty() => None,
            _ => Some(Continuation::DialogHistory(
                self.lines.iter().cloned().collect(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dialog_continues_what_came_before() {
        let mut t = Transcript::default();
        assert_eq!(t.continuation(None), None);
        let saved = Continuation::SavedState(vec![1]);
        assert_eq!(t.continuation(Some(&saved)), Some(saved.clone()));
        t.add(Talker::Player, "hello");
        t.add(Talker::Character, "hi there");
        let before = Continuation::DialogHistory(vec![(Talker::Player, "earlier".into())]);
        let Some(Continuation::DialogHistory(lines)) = t.continuation(Some(&before)) else {
            panic!()
        };
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].1, "earlier");
        assert_eq!(lines[2], (Talker::Character, "hi there".to_string()));
        // Saved state cannot take the new lines: the dialog replaces it.
        assert!(matches!(
            t.continuation(Some(&saved)),
            Some(Continuation::DialogHistory(l)) if l.len() == 2
        ));
    }

    #[test]
    fn it_keeps_only_the_last_lines() {
        let mut t = Transcript::default();
        for i in 0..1000 {
            t.add(Talker::Player, &format!("line {i}"));
        }
        let Some(Continuation::DialogHistory(lines)) = t.continuation(None) else {
            panic!()
        };
        assert_eq!(lines.len(), MAX_LINES);
        assert_eq!(lines.last().unwrap().1, "line 999");
        t.add(Talker::Player, &"x".repeat(MAX_BYTES + 1));
        assert_eq!(t.lines.len(), MAX_LINES, "an oversized line is not kept");
    }
}
