//! Sends that went out and whose reply has not ended yet. If the stream
//! breaks first, the service may or may not have acted on them: they are
//! reported to the game (never sent again, which could answer them twice).
//! A reply ends with INTERACTION_END carrying the send's interaction id; a
//! WARNING carrying it means the service refused the send.

use super::SentIds;
use std::collections::VecDeque;

/// Room kept in the game's queue for the reports of sends in flight when a
/// stream breaks (every one is tracked and reported; beyond this many, while
/// the game does not read its queue, the reports are counted as Overflow).
const REPORT_RESERVE: usize = 256;

#[derive(Debug, Default)]
pub(crate) struct InFlight {
    sends: VecDeque<SentIds>,
}

impl InFlight {
    pub(crate) fn add(&mut self, ids: SentIds) {
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

    /// Room for their reports in the game's queue (see `REPORT_RESERVE`).
    pub(crate) const fn report_reserve() -> usize {
        REPORT_RESERVE
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
    fn every_send_is_tracked_however_many_wait() {
        let mut f = InFlight::default();
        for i in 0..REPORT_RESERVE + 50 {
            f.add(ids(&i.to_string()));
        }
        assert_eq!(f.take("0").unwrap().interaction_id, "0", "the oldest too");
        assert_eq!(f.take_all().len(), REPORT_RESERVE + 49);
    }
}
