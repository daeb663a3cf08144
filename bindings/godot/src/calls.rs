//! What a game asks of a session besides talking (feedback, entity items,
//! continuing from a saved state or a dialog), from the plain values the nodes get out
//! of Godot's. No Godot types here, so it is tested with `cargo test`; the
//! answers come back as events (`events`).

use inworld::client::{
    Client, Continuation, DislikeType, EntityItem, ItemsInEntities, SessionConfig, Talker,
};

/// The dislike reasons by the names the node takes ("irrelevant",
/// "too_long", ...); an unknown name is refused, naming the known ones.
pub fn dislike_reasons(names: &[String]) -> Result<Vec<DislikeType>, String> {
    names
        .iter()
        .map(|name| {
            DISLIKE_REASONS
                .iter()
                .find(|(known, _)| known == name)
                .map(|(_, reason)| *reason)
                .ok_or_else(|| {
                    let known: Vec<_> = DISLIKE_REASONS.iter().map(|(n, _)| *n).collect();
                    format!("no dislike reason {name:?} (one of {})", known.join(", "))
                })
        })
        .collect()
}

const DISLIKE_REASONS: [(&str, DislikeType); 9] = [
    ("irrelevant", DislikeType::Irrelevant),
    ("unsafe", DislikeType::Unsafe),
    ("untrue", DislikeType::Untrue),
    (
        "incorrect_use_of_knowledge",
        DislikeType::IncorrectUseOfKnowledge,
    ),
    ("unexpected_action", DislikeType::UnexpectedAction),
    (
        "unexpected_goal_behavior",
        DislikeType::UnexpectedGoalBehavior,
    ),
    ("repetition", DislikeType::Repetition),
    ("out_of_character", DislikeType::OutOfCharacter),
    ("too_long", DislikeType::TooLong),
];

/// "add", "remove" or "replace": how `items_in_entities` changes the
/// entities' items.
pub fn items_in_entities_how(how: &str) -> Result<ItemsInEntities, String> {
    match how {
        "add" => Ok(ItemsInEntities::Add),
        "remove" => Ok(ItemsInEntities::Remove),
        "replace" => Ok(ItemsInEntities::Replace),
        other => Err(format!(
            "items_in_entities takes \"add\", \"remove\" or \"replace\", not {other:?}"
        )),
    }
}

/// One entity item (its properties as text pairs).
pub fn entity_item(
    id: String,
    display_name: String,
    description: String,
    properties: Vec<(String, String)>,
) -> EntityItem {
    EntityItem {
        id,
        display_name,
        description,
        properties,
    }
}

/// What an InworldSession node opens: the client's player and capabilities
/// in `scene`, continuing from a saved state (bytes of a state_received
/// signal, perhaps from a file) or a dialog when given.
pub fn session_config(
    client: &Client,
    scene: String,
    continuation: Option<Continuation>,
) -> SessionConfig {
    let mut config = SessionConfig::new(scene);
    config.user = client.config().session.user.clone();
    config.capabilities = client.config().session.capabilities;
    config.continuation = continuation;
    config
}

/// Who said a dialog line, as the node's dialog() names it.
pub fn talker_name(talker: Talker) -> &'static str {
    match talker {
        Talker::Player => "player",
        Talker::Character => "character",
    }
}

/// The talker a dialog line given to open_continuing_dialog names.
pub fn talker_of(name: &str) -> Result<Talker, String> {
    match name {
        "player" => Ok(Talker::Player),
        "character" => Ok(Talker::Character),
        other => Err(format!(
            "a dialog line's talker is \"player\" or \"character\", not {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dislike_reasons_by_name() {
        let names = ["too_long".to_string(), "out_of_character".to_string()];
        assert_eq!(
            dislike_reasons(&names).unwrap(),
            vec![DislikeType::TooLong, DislikeType::OutOfCharacter]
        );
        assert_eq!(dislike_reasons(&[]).unwrap(), vec![]);
        let error = dislike_reasons(&["boring".to_string()]).unwrap_err();
        assert!(
            error.contains("\"boring\"") && error.contains("repetition"),
            "{error}"
        );
    }

    #[test]
    fn talkers_by_name_both_ways() {
        for talker in [Talker::Player, Talker::Character] {
            assert_eq!(talker_of(talker_name(talker)), Ok(talker));
        }
        assert!(talker_of("narrator").unwrap_err().contains("\"narrator\""));
    }

    #[test]
    fn items_in_entities_by_name() {
        assert_eq!(items_in_entities_how("add"), Ok(ItemsInEntities::Add));
        assert_eq!(items_in_entities_how("remove"), Ok(ItemsInEntities::Remove));
        assert_eq!(
            items_in_entities_how("replace"),
            Ok(ItemsInEntities::Replace)
        );
        assert!(items_in_entities_how("Add")
            .unwrap_err()
            .contains("\"Add\""));
    }
}
