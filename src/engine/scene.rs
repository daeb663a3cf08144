//! Scene files: a workspace's scenes and scripted characters, in TOML
//! (format documented in `scenes/FORMAT.md`).

use crate::protocol::names::{self, code_from_name, is_valid_id};
use crate::protocol::status::{ErrorType, ReconnectionType};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

const DEFAULT_TOML: &str = include_str!("scenes/default.toml");
const TEST_TOML: &str = include_str!("scenes/test.toml");

/// Why a scene file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SceneError {
    Io(String),
    Syntax(String),
    Invalid(String),
}

impl fmt::Display for SceneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SceneError::Io(m) => write!(f, "cannot read scene file: {m}"),
            SceneError::Syntax(m) => write!(f, "scene file is not valid TOML for a workspace: {m}"),
            SceneError::Invalid(m) => write!(f, "scene file is inconsistent: {m}"),
        }
    }
}

impl std::error::Error for SceneError {}

/// How the characters of a multi-character conversation take turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TurnTaking {
    /// Characters answer player text in participant order, one per turn.
    RoundRobin,
    /// A character named in the player's text answers; otherwise round robin.
    Addressed,
    /// A language-model brain chooses who answers among the participants
    /// (falling back to `Addressed` when it names nobody valid); the
    /// scripted brain takes turns as `Addressed`.
    #[default]
    Model,
}

/// What the engine does with the player's audio (the `[speech]` table).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechInput {
    /// What the engine "recognises" from any non-silent audio session.
    #[serde(default = "default_transcript")]
    pub transcript: String,
    /// What players are expected to say. With PocketSphinx, speech is
    /// heard with a vocabulary made from these (far fewer mistakes within
    /// it, none of the words outside it); without, with all of US English.
    #[serde(default)]
    pub phrases: Vec<String>,
}

fn default_transcript() -> String {
    "Hello there".to_string()
}

impl Default for SpeechInput {
    fn default() -> Self {
        Self {
            transcript: default_transcript(),
            phrases: Vec::new(),
        }
    }
}

/// A workspace: its scenes, characters and shared rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workspace {
    /// Workspace id: resources are `workspaces/<workspace>/...`.
    pub workspace: String,
    #[serde(default)]
    pub speech: SpeechInput,
    #[serde(default)]
    pub scenes: Vec<Scene>,
    #[serde(default, deserialize_with = "shared_characters")]
    pub characters: Vec<Arc<ScriptedCharacter>>,
    /// Rules every character follows after its own.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Common knowledge: facts several characters share, by id.
    #[serde(default)]
    pub knowledge: Vec<Knowledge>,
}

/// Facts a character knows, shared by the characters whose cards name it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knowledge {
    pub id: String,
    pub facts: Vec<String>,
}

fn shared_characters<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<Arc<ScriptedCharacter>>, D::Error> {
    Ok(Vec::<ScriptedCharacter>::deserialize(d)?
        .into_iter()
        .map(|mut c| {
            // Goals act as rules tried after the character's own.
            let goals: Vec<Rule> = c.goals.iter().map(Goal::rule).collect();
            c.rules.extend(goals);
            Arc::new(c)
        })
        .collect())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// Scene id: `workspaces/<workspace>/scenes/<id>`.
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    /// Character ids, in order (the first is the SDK's default character).
    pub characters: Vec<String>,
    #[serde(default)]
    pub turn_taking: TurnTaking,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Assets {
    #[serde(default)]
    pub rpm_model_uri: String,
    #[serde(default)]
    pub rpm_image_uri_portrait: String,
    #[serde(default)]
    pub rpm_image_uri_posture: String,
    #[serde(default)]
    pub avatar_img: String,
    #[serde(default)]
    pub avatar_img_original: String,
}

/// A character as a scene file scripts it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCharacter {
    /// Character id: `workspaces/<workspace>/characters/<id>`.
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    /// Fixed agent id; when absent each session gets a fresh UUID.
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub assets: Assets,
    /// First answer to a player who has not talked to this character yet.
    #[serde(default)]
    pub greeting: Option<String>,
    /// Answers when no rule matches, in turn.
    #[serde(default)]
    pub fallback: Vec<String>,
    /// Emotion of fallback answers (SPAFF name, e.g. `NEUTRAL`, `JOY`).
    #[serde(default)]
    pub mood: Option<String>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Who the character is, as a designer wrote it in Studio: what a
    /// language model plays (the scripted brain does not read it).
    #[serde(default)]
    pub card: CharacterCard,
    /// Goals: player intents or triggers the character reacts to with
    /// actions, whichever brain answers.
    #[serde(default)]
    pub goals: Vec<Goal>,
    /// How the character sounds when the engine speaks with espeak-ng.
    #[serde(default)]
    pub voice: Voice,
}

/// A character's card: the fields of Studio's character editor.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CharacterCard {
    /// The name the character calls itself (default: the display name).
    #[serde(default)]
    pub given_name: String,
    #[serde(default)]
    pub motivation: String,
    /// Personality adjectives ("warm", "nosy").
    #[serde(default)]
    pub personality: Vec<String>,
    /// `childhood`, `adolescence`, `young adulthood`, `adulthood` or `late adulthood`.
    #[serde(default)]
    pub life_stage: String,
    #[serde(default)]
    pub hobbies: Vec<String>,
    #[serde(default)]
    pub flaws: String,
    /// How the character talks, shown as a sample exchange.
    #[serde(default)]
    pub example_dialog: String,
    /// The style of the example dialog (`brief`, `long-winded`, ...).
    #[serde(default)]
    pub example_dialog_style: String,
    /// Facts only this character knows.
    #[serde(default)]
    pub personal_knowledge: Vec<String>,
    /// Ids of the workspace's `[[knowledge]]` this character knows.
    #[serde(default)]
    pub common_knowledge: Vec<String>,
    /// Facts the character must never tell, whatever the player says.
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// A goal: when the player shows an intent (says one of its phrases) or
/// sends a trigger, the character acts.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub name: String,
    /// Phrases of the intent: player text containing one (case-insensitive).
    #[serde(default)]
    pub intent: Vec<String>,
    /// Or a trigger the player sends.
    #[serde(default)]
    pub trigger: Option<String>,
    /// What the character says (placeholders as in rules).
    #[serde(default)]
    pub say: Vec<String>,
    /// Triggers the character emits.
    #[serde(default)]
    pub emit_triggers: Vec<String>,
    /// The emotion the character changes to (SPAFF name) and its strength.
    #[serde(default)]
    pub emotion: Option<String>,
    #[serde(default)]
    pub strength: Option<String>,
}

impl Goal {
    fn rule(&self) -> Rule {
        Rule {
            text_contains: self.intent.clone(),
            trigger: self.trigger.clone(),
            lines: self.say.clone(),
            emotion: self.emotion.clone(),
            strength: self.strength.clone(),
            triggers: self.emit_triggers.clone(),
            ..Default::default()
        }
    }
}

impl ScriptedCharacter {
    /// The name the character calls itself.
    pub fn given_name(&self) -> &str {
        if self.card.given_name.is_empty() {
            &self.display_name
        } else {
            &self.card.given_name
        }
    }
}

/// A character's voice (the `voice` table): the synthesizer voice and how
/// it is spoken. Only espeak-ng uses it; the tone synthesizer ignores it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Voice {
    /// An espeak-ng voice name (`espeak-ng --voices`), e.g. `en-us`,
    /// `en-gb-x-rp`, `en-us+f3` (a variant after `+`).
    #[serde(default = "default_voice_name")]
    pub name: String,
    /// Base pitch, 0 to 100 (50 is the voice's own).
    #[serde(default = "default_pitch")]
    pub pitch: u32,
    /// Words per minute, 80 to 450.
    #[serde(default = "default_rate")]
    pub rate: u32,
}

fn default_voice_name() -> String {
    "en-us".to_string()
}

fn default_pitch() -> u32 {
    50
}

fn default_rate() -> u32 {
    175
}

impl Default for Voice {
    fn default() -> Self {
        Voice {
            name: default_voice_name(),
            pitch: default_pitch(),
            rate: default_rate(),
        }
    }
}

/// A scripted answer and when to give it. Every condition given must hold.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Player text (typed or recognised) contains one of these (case-insensitive).
    #[serde(default)]
    pub text_contains: Vec<String>,
    /// The player sent this trigger.
    #[serde(default)]
    pub trigger: Option<String>,
    /// A narrated action of the player contains one of these (case-insensitive).
    #[serde(default)]
    pub action_contains: Vec<String>,
    /// Utterances, in order. Placeholders: {player} {character} {text} {previous} {param.NAME}.
    #[serde(default)]
    pub lines: Vec<String>,
    /// Emotion behavior (SPAFF name) and strength (WEAK, NORMAL, STRONG).
    #[serde(default)]
    pub emotion: Option<String>,
    #[serde(default)]
    pub strength: Option<String>,
    /// Triggers the character emits (CustomEvent TRIGGER).
    #[serde(default)]
    pub triggers: Vec<String>,
    /// Tasks the character emits (CustomEvent TASK).
    #[serde(default)]
    pub tasks: Vec<String>,
    /// A narrated action of the character (needs the narrated_actions capability).
    #[serde(default)]
    pub narrated_action: Option<String>,
    /// End the stream with this error after the lines.
    #[serde(default)]
    pub error: Option<InjectedError>,
}

/// A fault to inject: a gRPC status carrying Inworld error details.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectedError {
    /// gRPC code name, e.g. `FAILED_PRECONDITION`.
    pub code: String,
    /// Inworld error type name, e.g. `SESSION_PAUSED`.
    pub error_type: String,
    #[serde(default)]
    pub message: String,
    /// `UNDEFINED`, `NO_RETRY`, `IMMEDIATE` or `TIMEOUT`.
    #[serde(default = "default_reconnect")]
    pub reconnect: String,
    /// reconnect_time = now + this.
    #[serde(default)]
    pub reconnect_after_ms: u64,
    #[serde(default)]
    pub max_retries: i32,
}

fn default_reconnect() -> String {
    "UNDEFINED".to_string()
}

impl Rule {
    pub(crate) fn matches_text(&self, text: &str) -> bool {
        self.trigger.is_none()
            && self.action_contains.is_empty()
            && contains_any(text, &self.text_contains)
    }

    pub(crate) fn matches_trigger(&self, name: &str) -> bool {
        self.trigger.as_deref() == Some(name)
    }

    pub(crate) fn matches_action(&self, content: &str) -> bool {
        self.trigger.is_none()
            && self.text_contains.is_empty()
            && contains_any(content, &self.action_contains)
    }
}

fn contains_any(haystack: &str, needles: &[String]) -> bool {
    if needles.is_empty() {
        return false;
    }
    let hay = haystack.to_lowercase();
    needles.iter().any(|n| hay.contains(&n.to_lowercase()))
}

pub(crate) fn error_type_from_name(name: &str) -> Option<ErrorType> {
    ErrorType::from_str_name(name)
}

pub(crate) fn reconnect_from_name(name: &str) -> Option<ReconnectionType> {
    ReconnectionType::from_str_name(name)
}

pub(crate) fn emotion_from_name(name: &str) -> Option<i32> {
    use crate::protocol::ai::inworld::packets::emotion_event::SpaffCode;
    SpaffCode::from_str_name(name).map(|c| c as i32)
}

pub(crate) fn strength_from_name(name: &str) -> Option<i32> {
    use crate::protocol::ai::inworld::packets::emotion_event::Strength;
    Strength::from_str_name(name).map(|c| c as i32)
}

impl Workspace {
    /// The demo workspace (a small tavern), used by the README and the C chat sample.
    pub fn default_scenes() -> Workspace {
        Self::from_toml_str(DEFAULT_TOML).expect("the built-in default scene is valid")
    }

    /// The workspace `tests/node_sdk_conformance.rs` and the client tests need.
    pub fn test_scenes() -> Workspace {
        Self::from_toml_str(TEST_TOML).expect("the built-in test scene is valid")
    }

    pub fn from_toml_str(s: &str) -> Result<Workspace, SceneError> {
        let ws: Workspace = toml::from_str(s).map_err(|e| SceneError::Syntax(e.to_string()))?;
        ws.validate()?;
        Ok(ws)
    }

    pub fn from_file(path: &Path) -> Result<Workspace, SceneError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SceneError::Io(format!("{}: {e}", path.display())))?;
        Self::from_toml_str(&text)
    }

    /// Full resource names of the scenes, `workspaces/<ws>/scenes/<id>`.
    pub fn scene_names(&self) -> Vec<String> {
        self.scenes.iter().map(|s| self.scene_name(&s.id)).collect()
    }

    pub fn scene_name(&self, id: &str) -> String {
        names::scene_name(&self.workspace, id)
    }

    pub fn character_name(&self, id: &str) -> String {
        names::character_name(&self.workspace, id)
    }

    pub fn character(&self, id: &str) -> Option<&Arc<ScriptedCharacter>> {
        self.characters.iter().find(|c| c.id == id)
    }

    /// Resolves a full character resource name of this workspace.
    pub fn character_by_name(&self, name: &str) -> Option<&Arc<ScriptedCharacter>> {
        self.character(names::character_id(name, &self.workspace)?)
    }

    pub fn scene(&self, id: &str) -> Option<&Scene> {
        self.scenes.iter().find(|s| s.id == id)
    }

    fn validate(&self) -> Result<(), SceneError> {
        let bad = |m: String| Err(SceneError::Invalid(m));
        if !is_valid_id(&self.workspace, 1) {
            return bad(format!(
                "workspace id {:?} must be 1-61 of a-z 0-9 - _",
                self.workspace
            ));
        }
        let mut seen = HashSet::new();
        for c in &self.characters {
            if !is_valid_id(&c.id, 1) {
                return bad(format!(
                    "character id {:?} must be 1-61 of a-z 0-9 - _",
                    c.id
                ));
            }
            if !seen.insert(c.id.as_str()) {
                return bad(format!("character {:?} is defined twice", c.id));
            }
            if let Some(m) = &c.mood {
                if emotion_from_name(m).is_none() {
                    return bad(format!("character {:?}: unknown mood {m:?}", c.id));
                }
            }
            for g in &c.goals {
                if g.intent.is_empty() == g.trigger.is_none() {
                    return bad(format!(
                        "character {:?}: goal {:?} needs exactly one of intent or trigger",
                        c.id, g.name
                    ));
                }
            }
            for r in &c.rules {
                validate_rule(r, &format!("character {:?}", c.id))?;
            }
            for k in &c.card.common_knowledge {
                if !self.knowledge.iter().any(|known| &known.id == k) {
                    return bad(format!(
                        "character {:?} names unknown knowledge {k:?}",
                        c.id
                    ));
                }
            }
        }
        for r in &self.rules {
            validate_rule(r, "workspace rule")?;
        }
        let mut scene_ids = HashSet::new();
        for s in &self.scenes {
            if !is_valid_id(&s.id, 1) {
                return bad(format!("scene id {:?} must be 1-61 of a-z 0-9 - _", s.id));
            }
            if !scene_ids.insert(s.id.as_str()) {
                return bad(format!("scene {:?} is defined twice", s.id));
            }
            if s.characters.is_empty() {
                return bad(format!("scene {:?} has no characters", s.id));
            }
            for c in &s.characters {
                if self.character(c).is_none() {
                    return bad(format!("scene {:?} names unknown character {c:?}", s.id));
                }
            }
        }
        Ok(())
    }
}

fn validate_rule(r: &Rule, owner: &str) -> Result<(), SceneError> {
    let bad = |m: String| Err(SceneError::Invalid(format!("{owner}: {m}")));
    let conditions = usize::from(!r.text_contains.is_empty())
        + usize::from(r.trigger.is_some())
        + usize::from(!r.action_contains.is_empty());
    if conditions != 1 {
        return bad(
            "a rule needs exactly one of text_contains, trigger or action_contains".to_string(),
        );
    }
    if let Some(e) = &r.emotion {
        if emotion_from_name(e).is_none() {
            return bad(format!("unknown emotion {e:?}"));
        }
    }
    if let Some(s) = &r.strength {
        if strength_from_name(s).is_none() {
            return bad(format!("unknown strength {s:?}"));
        }
    }
    if let Some(e) = &r.error {
        if code_from_name(&e.code).is_none() {
            return bad(format!("unknown gRPC code {:?}", e.code));
        }
        if error_type_from_name(&e.error_type).is_none() {
            return bad(format!("unknown error type {:?}", e.error_type));
        }
        if reconnect_from_name(&e.reconnect).is_none() {
            return bad(format!("unknown reconnect type {:?}", e.reconnect));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_workspaces_load() {
        let test = Workspace::test_scenes();
        assert!(test
            .scene_names()
            .contains(&"workspaces/test-ws/scenes/test-scene".to_string()));
        assert!(test
            .character_by_name("workspaces/test-ws/characters/carol")
            .is_some());
        assert!(!Workspace::default_scenes().scene_names().is_empty());
    }

    #[test]
    fn files_load_and_bad_rules_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        std::fs::write(
            &path,
            r#"
workspace = "my-ws"
[[scenes]]
id = "s"
characters = ["c"]
[[characters]]
id = "c"
display_name = "C"
[[characters.rules]]
trigger = "t"
lines = ["hi"]
emotion = "JOY"
"#,
        )
        .unwrap();
        let ws = Workspace::from_file(&path).unwrap();
        assert_eq!(ws.scene_names(), ["workspaces/my-ws/scenes/s"]);
        assert!(matches!(
            Workspace::from_file(&dir.path().join("missing.toml")),
            Err(SceneError::Io(_))
        ));
        let bad = |rule: &str| {
            Workspace::from_toml_str(&format!(
                "workspace = \"w\"\n[[characters]]\nid = \"c\"\ndisplay_name = \"C\"\n[[characters.rules]]\n{rule}\n"
            ))
            .unwrap_err()
            .to_string()
        };
        assert!(bad("lines = [\"x\"]").contains("exactly one"));
        assert!(bad("trigger = \"t\"\nemotion = \"GLEE\"").contains("GLEE"));
        assert!(bad(
            "trigger = \"t\"\nerror = { code = \"NOPE\", error_type = \"SESSION_PAUSED\" }"
        )
        .contains("NOPE"));
        assert!(bad("trigger = \"t\"\nunknown_key = 1").contains("unknown_key"));
    }

    #[test]
    fn cards_and_goals_load_and_goals_act_as_rules() {
        let ws = Workspace::default_scenes();
        let marta = ws.character("innkeeper").unwrap();
        assert_eq!(marta.given_name(), "Marta Brenner");
        assert!(marta.card.personality.contains(&"warm".to_string()));
        assert_eq!(marta.card.common_knowledge, ["town"]);
        assert!(ws.knowledge.iter().any(|k| k.id == "town"));
        let goal = marta
            .rules
            .iter()
            .find(|r| r.matches_trigger("returning_guest"))
            .expect("the goal is a rule");
        assert_eq!(goal.emotion.as_deref(), Some("JOY"));
        let finn = ws.character("bard").unwrap();
        assert!(finn
            .rules
            .iter()
            .any(|r| r.matches_text("Play a song!") && r.triggers == ["bard_plays_song"]));

        let with = |extra: &str| {
            Workspace::from_toml_str(&format!(
                "workspace = \"w\"\n[[characters]]\nid = \"c\"\ndisplay_name = \"C\"\n{extra}\n"
            ))
        };
        assert!(with("[characters.card]\ncommon_knowledge = [\"nowhere\"]")
            .unwrap_err()
            .to_string()
            .contains("nowhere"));
        assert!(with("[[characters.goals]]\nname = \"g\"\nsay = [\"x\"]")
            .unwrap_err()
            .to_string()
            .contains("exactly one of intent or trigger"));
        assert!(
            with("[[characters.goals]]\nname = \"g\"\ntrigger = \"t\"\nemotion = \"GLEE\"")
                .unwrap_err()
                .to_string()
                .contains("GLEE")
        );
        assert_eq!(with("").unwrap().characters[0].given_name(), "C");
    }

    #[test]
    fn inconsistent_files_are_refused() {
        let e = Workspace::from_toml_str(
            "workspace = \"w\"\n[[scenes]]\nid = \"s\"\ncharacters = [\"nobody\"]\n",
        )
        .unwrap_err();
        assert!(matches!(e, SceneError::Invalid(m) if m.contains("nobody")));
        assert!(matches!(
            Workspace::from_toml_str("workspace = 3"),
            Err(SceneError::Syntax(_))
        ));
    }
}
