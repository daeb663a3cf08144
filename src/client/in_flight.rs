//! Sends that went out and whose reply has not ended yet. If the stream
//! breaks first, the service may or may not have acted on them: they are
//! reported to the game (never sent again, which could answer them twice).
//! A reply ends with INTERACTION_END carrying the send's interaction id; a
//! WARNING carrying it means the service refused the send.

use super::SentIds;
use std::collections::VecDeque;

/// Sends tracked at most; beyond it the oldest is forgotten (its reply is
/// long overdue and the stall detector has said so).
const TRACKED: usize = 256;

#[derive(Debug, Default)]
pub(crate) struct InFlight {
    sends: VecDeque<SentIds>,
}

impl InFlight {
    pub(crate) fn add(&mut self, ids: SentIds) {
        if self.sends.len() == TRACKED {
            if let Some(old) = self.sends.pop_front() {
                log::debug!(
                    "no longer tracking interaction {} (more than {TRACKED} replies pending)",
                    old.interaction_id
                );
            }
        }
        self.sends.push_back(ids);
    }

    /// Removes and returns the send of `interaction_id`, if tracked.
    pub(crate) fn take(&mut self, interaction_id: &str) -> Option<SentIds> {
        if interaction_id.is_empty() {
            return None;
        }
        let at = self
            .sends
            .iter()
            .position(|s| s.interaction_id == interaction_id)?;
        self.sends.remove(at)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sends.is_empty()
    }

    pub(crate) fn take_all(&mut self) -> Vec<SentIds> {
        self.sends.drain(..).collect()
    }

    /// How many sends can be tracked at once (for sizing the status reserve).
    pub(crate) const fn capacity() -> usize {
        TRACKED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(interaction: &str) -> SentIds {
        SentIds {
            interaction_id: interaction.into(),
            ..SentIds::default()
        }
    }

    #[test]
    fn replies_end_sends_and_the_rest_is_handed_back() {
        let mut f = InFlight::default();
        f.add(ids("a"));
        f.add(ids("b"));
        f.add(ids("c"));
        assert_eq!(f.take("b").unwrap().interaction_id, "b");
        assert!(f.take("b").is_none());
        assert!(f.take("").is_none());
        let rest: Vec<_> = f.take_all().into_iter().map(|s| s.interaction_id).collect();
        assert_eq!(rest, ["a", "c"]);
        assert!(f.is_empty());
    }

    #[test]
    fn tracking_is_bounded() {
        let mut f = InFlight::default();
        for i in 0..TRACKED + 10 {
            f.add(ids(&i.to_string()));
        }
        assert!(f.take("0").is_none(), "the oldest were forgotten");
        assert_eq!(f.take_all().len(), TRACKED);
    }
}
