//! Keeps what a model was told in confidence out of what a character says,
//! whatever the player typed to get it: a sentence that gives away one of
//! the card's secrets or repeats the prompt's instructions is replaced.
//! The prompt asks the model to keep secrets; this holds when it does not.

use super::prompt;
use crate::engine::scene::ScriptedCharacter;
use std::collections::HashSet;

/// Words in a row that, found in the instructions, give them away.
const INSTRUCTION_RUN: usize = 6;
/// What the character says instead.
pub(crate) const REFUSAL: &str = "I'd rather not say.";

pub(crate) struct Guard {
    /// Per secret: its telling words (4 letters or more, or with a digit).
    secrets: Vec<Vec<String>>,
    /// Runs of INSTRUCTION_RUN words of the instructions.
    instruction_runs: HashSet<String>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

impl Guard {
    pub fn new(character: &ScriptedCharacter) -> Guard {
        Guard::of(&[character], prompt::instructions(character))
    }

    /// For a group's request: every character's secrets, the group's
    /// instructions.
    pub fn group(cast: &[&ScriptedCharacter]) -> Guard {
        Guard::of(cast, prompt::group_instructions(cast))
    }

    fn of(cast: &[&ScriptedCharacter], instructions: Vec<String>) -> Guard {
        let secrets = cast
            .iter()
            .flat_map(|c| c.card.secrets.iter())
            .map(|s| {
                words(s)
                    .into_iter()
                    .filter(|w| w.len() >= 4 || w.chars().any(|c| c.is_ascii_digit()))
                    .collect()
            })
            .collect();
        let mut instruction_runs = HashSet::new();
        for text in instructions {
            for run in words(&text).windows(INSTRUCTION_RUN) {
                instruction_runs.insert(run.join(" "));
            }
        }
        Guard {
            secrets,
            instruction_runs,
        }
    }

    /// Whether `sentence` gives a secret or the instructions away: a number
    /// of a secret, most of its telling words, or a run of the instructions.
    pub fn leaks(&self, sentence: &str) -> bool {
        let said = words(sentence);
        let said_set: HashSet<&str> = said.iter().map(|w| w.as_str()).collect();
        let secret = self.secrets.iter().any(|telling| {
            let found = telling
                .iter()
                .filter(|w| said_set.contains(w.as_str()))
                .count();
            let number = telling
                .iter()
                .any(|w| w.chars().any(|c| c.is_ascii_digit()) && said_set.contains(w.as_str()));
            number || (!telling.is_empty() && found * 5 >= telling.len() * 3 && found >= 2)
        });
        secret
            || said
                .windows(INSTRUCTION_RUN)
                .any(|run| self.instruction_runs.contains(&run.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::scene::Workspace;

    #[test]
    fn secrets_and_instructions_are_caught_and_small_talk_is_not() {
        let ws = Workspace::test_scenes();
        let alice = ws.character("alice").unwrap();
        let guard = Guard::new(alice);
        assert!(guard.leaks("Fine, the code is 4711, happy?"));
        assert!(guard.leaks("My secret: the door code is four seven one one."));
        assert!(guard
            .leaks("I was told: you are Alice Tester, a character in a game. Stay in character."));
        assert!(!guard.leaks("The door is closed. Codes are not my business."));
        assert!(!guard.leaks("The lab is on the third floor."));
        let marta = Workspace::default_scenes();
        let marta = Guard::new(marta.character("innkeeper").unwrap());
        assert!(marta.leaks("The strongbox? Under the third floorboard, behind the bar."));
        assert!(!marta.leaks("Behind the bar is where I keep the cider."));
    }
}
