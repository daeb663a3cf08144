//! Who answers a player input and what, from the scene's rules; records the
//! dialog in the session's memory. Pure: nothing here touches the network.

use crate::engine::scene::{self, InjectedError, Rule, ScriptedCharacter, TurnTaking, Workspace};
use crate::engine::sessions::{SessionMemory, Speaker};
use crate::engine::stream::job::{Input, ReplyJob, NEXT_TURN_TRIGGER};
use crate::engine::template::{fill_in, Values};
use crate::protocol::names::code_from_name;
use crate::protocol::status::{status_with_details, ErrorDetails};
use std::time::{Duration, SystemTime};

/// A planned answer.
#[derive(Debug)]
pub(crate) struct Plan {
    pub agent_id: String,
    pub utterances: Vec<String>,
    pub emotion: Option<(i32, i32)>,
    pub triggers: Vec<String>,
    pub tasks: Vec<String>,
    pub narrated: Option<String>,
    pub error: Option<tonic::Status>,
    pub audio: bool,
    /// Phoneme timings on audio chunks (capability `phoneme_info`).
    pub phonemes: bool,
    pub emotions: bool,
    pub narrated_actions: bool,
    pub silence: bool,
    pub ping: bool,
    /// No rule matched and a language model answers: the plan says only
    /// who, and the model what.
    pub ask_model: bool,
    /// With `ask_model` in a group conversation whose turn-taking is the
    /// model's: the agents it chooses among (`agent_id`, picked by the
    /// turn-taking, answers if it names none of them). Empty otherwise.
    pub cast: Vec<String>,
}

/// Picks who answers and what, and records the dialog. Where no rule
/// matches, the greeting or a fallback line answers, or, with
/// `model_answers`, a language model (the plan says so). `Err` is a warning
/// for the client.
pub(crate) fn plan(
    workspace: &Workspace,
    memory: &mut SessionMemory,
    job: &ReplyJob,
    model_answers: bool,
) -> Result<Plan, String> {
    if memory.scene.is_none() {
        return Err("no scene is loaded: send a LoadScene mutation first".into());
    }
    let agent_id = pick_speaker(memory, job)?;
    let agent = memory
        .agent(&agent_id)
        .ok_or_else(|| format!("character {agent_id:?} is not in the scene"))?
        .clone();
    let character = agent.character.clone();

    let (player_text, heard) = match &job.input {
        Input::Text(t) | Input::Speech(t) => (Some(t.clone()), t.as_str()),
        Input::Action(a) => (Some(format!("*{a}*")), a.as_str()),
        Input::Trigger { .. } => (None, ""),
    };
    if let Some(t) = &player_text {
        memory.remember(Speaker::Player, t);
    }
    if !job.ids.interaction_id.is_empty() {
        memory.last_interaction_id = job.ids.interaction_id.clone();
    }

    let rule = find_rule(workspace, &character, &job.input);
    let caps = &memory.capabilities;
    let mut plan = Plan {
        agent_id,
        utterances: Vec::new(),
        emotion: None,
        triggers: Vec::new(),
        tasks: Vec::new(),
        narrated: None,
        error: None,
        audio: caps.audio && !memory.muted,
        phonemes: caps.phoneme_info,
        emotions: caps.emotions,
        narrated_actions: caps.narrated_actions,
        silence: caps.silence_events,
        ping: caps.ping_pong_report,
        ask_model: false,
        cast: Vec::new(),
    };
    let params: &[(String, String)] = match &job.input {
        Input::Trigger { params, .. } => params,
        _ => &[],
    };
    let previous = memory
        .previous_player_line()
        .unwrap_or("nothing yet")
        .to_string();
    let values = Values {
        player: &memory.user_name,
        character: &character.display_name,
        text: heard,
        previous: &previous,
        params,
    };
    let fill = |line: &str| fill_in(line, &values);
    let mut lines = Vec::new();
    match rule {
        Some(rule) => {
            lines = rule.lines.iter().map(|l| fill(l)).collect();
            plan.emotion = rule
                .emotion
                .as_deref()
                .and_then(scene::emotion_from_name)
                .map(|e| {
                    let s = rule.strength.as_deref().and_then(scene::strength_from_name);
                    (e, s.unwrap_or(3))
                });
            plan.triggers = rule.triggers.clone();
            plan.tasks = rule.tasks.clone();
            plan.narrated = rule.narrated_action.as_deref().map(fill);
            plan.error = rule.error.as_ref().map(injected_status);
        }
        None if model_answers => {
            plan.ask_model = true;
            plan.cast = model_cast(memory, job);
        }
        None => {
            // A continued dialog is not a first meeting, whoever spoke in it.
            let greet = !memory.continued && !memory.greeted.contains(&character.id);
            let line = match &character.greeting {
                Some(greeting) if greet => fill(greeting),
                _ if character.fallback.is_empty() => "I see.".to_string(),
                _ => {
                    let turn = memory
                        .fallback_turns
                        .entry(character.id.clone())
                        .or_insert(0);
                    let line = &character.fallback[*turn % character.fallback.len()];
                    *turn += 1;
                    fill(line)
                }
            };
            lines.push(line);
            plan.emotion = character
                .mood
                .as_deref()
                .and_then(scene::emotion_from_name)
                .map(|e| (e, 3));
        }
    }
    memory.greeted.insert(character.id.clone());
    plan.utterances = lines.iter().flat_map(|l| sentences(l)).collect();
    if !plan.utterances.is_empty() {
        let said = plan.utterances.join(" ");
        memory.remember(Speaker::Character(character.id.clone()), &said);
    }
    Ok(plan)
}

fn pick_speaker(memory: &mut SessionMemory, job: &ReplyJob) -> Result<String, String> {
    let turn_taking = memory
        .scene
        .as_ref()
        .map(|s| s.turn_taking)
        .unwrap_or_default();
    let next_turn = matches!(&job.input, Input::Trigger { name, .. } if name == NEXT_TURN_TRIGGER);
    if !job.ids.conversation_id.is_empty() {
        let lowered = match &job.input {
            Input::Text(t) | Input::Speech(t) => t.to_lowercase(),
            _ => String::new(),
        };
        let names: Vec<(String, String)> = memory
            .agents
            .iter()
            .map(|a| (a.agent_id.clone(), a.character.display_name.to_lowercase()))
            .collect();
        let conv = memory
            .conversation(&job.ids.conversation_id)
            .ok_or_else(|| {
                format!(
                    "unknown conversation {:?}: send CONVERSATION_UPDATE first",
                    job.ids.conversation_id
                )
            })?;
        if conv.agents.is_empty() {
            return Err(format!("conversation {:?} has no characters", conv.id));
        }
        let index = if let (Some(t), false) = (&job.target_agent, next_turn) {
            conv.agents
                .iter()
                .position(|a| a == t)
                .ok_or_else(|| format!("character {t:?} is not in conversation {:?}", conv.id))?
        } else if conv.agents.len() == 1 {
            0
        } else if next_turn {
            conv.next % conv.agents.len()
        } else {
            let addressed = (turn_taking != TurnTaking::RoundRobin && !lowered.is_empty())
                .then(|| {
                    conv.agents.iter().position(|a| {
                        names
                            .iter()
                            .any(|(id, name)| id == a && !name.is_empty() && lowered.contains(name))
                    })
                })
                .flatten();
            addressed.unwrap_or(conv.next % conv.agents.len())
        };
        conv.next = (index + 1) % conv.agents.len();
        return Ok(conv.agents[index].clone());
    }
    // No conversation: the addressed agent, else the first one (legacy one-to-one).
    match &job.target_agent {
        Some(t) if memory.agent(t).is_some() => Ok(t.clone()),
        Some(t) => Err(format!("character {t:?} is not in the scene")),
        None => memory
            .agents
            .first()
            .map(|a| a.agent_id.clone())
            .ok_or_else(|| "the scene has no characters".to_string()),
    }
}

/// Who a model may choose among to answer `job`: the participants of its
/// group conversation when the scene leaves turn-taking to the model and
/// the input is not addressed to one character (a `next_turn` is not).
fn model_cast(memory: &mut SessionMemory, job: &ReplyJob) -> Vec<String> {
    let left_to_model = memory
        .scene
        .as_ref()
        .is_some_and(|s| s.turn_taking == TurnTaking::Model);
    let next_turn = matches!(&job.input, Input::Trigger { name, .. } if name == NEXT_TURN_TRIGGER);
    if !left_to_model || (job.target_agent.is_some() && !next_turn) {
        return Vec::new();
    }
    match memory.conversation(&job.ids.conversation_id) {
        Some(conv) if conv.agents.len() > 1 => conv.agents.clone(),
        _ => Vec::new(),
    }
}

/// The model chose `agent_id` to answer in `conversation_id`: the turns
/// go on after it.
pub(crate) fn model_chose(memory: &mut SessionMemory, conversation_id: &str, agent_id: &str) {
    if let Some(conv) = memory.conversation(conversation_id) {
        if let Some(index) = conv.agents.iter().position(|a| a == agent_id) {
            conv.next = (index + 1) % conv.agents.len();
        }
    }
}

/// The character's own rules first, then the workspace's: the first that matches.
fn find_rule<'a>(
    workspace: &'a Workspace,
    character: &'a ScriptedCharacter,
    input: &Input,
) -> Option<&'a Rule> {
    character
        .rules
        .iter()
        .chain(workspace.rules.iter())
        .find(|r| match input {
            Input::Text(t) | Input::Speech(t) => r.matches_text(t),
            Input::Trigger { name, .. } => r.matches_trigger(name),
            Input::Action(a) => r.matches_action(a),
        })
}

/// Splits a line into sentences: each becomes one utterance.
fn sentences(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        if matches!(c, '.' | '!' | '?') && chars.peek().is_some_and(|n| n.is_whitespace()) {
            out.push(current.trim().to_string());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// The status a rule's injected error ends the stream with.
fn injected_status(e: &InjectedError) -> tonic::Status {
    let mut details = ErrorDetails::new(
        scene::error_type_from_name(&e.error_type).expect("validated"),
        scene::reconnect_from_name(&e.reconnect).expect("validated"),
    );
    details.max_retries = e.max_retries;
    details.reconnect_time = Some(SystemTime::now() + Duration::from_millis(e.reconnect_after_ms));
    let message = if e.message.is_empty() {
        format!("injected {}", e.error_type)
    } else {
        e.message.clone()
    };
    status_with_details(
        code_from_name(&e.code).expect("validated"),
        message,
        &details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::outbound::Ids;
    use crate::engine::sessions::{ConversationRecord, LoadedAgent, LoadedScene};

    #[test]
    fn lines_split_into_sentences() {
        assert_eq!(
            sentences("Take this. It is yours! Really?"),
            vec!["Take this.", "It is yours!", "Really?"]
        );
        assert_eq!(sentences("v1.2 works"), vec!["v1.2 works"]);
    }

    fn memory_with_alice(ws: &Workspace) -> SessionMemory {
        let mut m = SessionMemory {
            scene: Some(LoadedScene {
                name: ws.scene_name("test-scene"),
                display_name: String::new(),
                description: String::new(),
                turn_taking: TurnTaking::Addressed,
            }),
            user_name: "Tester".into(),
            ..Default::default()
        };
        m.agents.push(LoadedAgent {
            agent_id: "a1".into(),
            brain_name: ws.character_name("alice"),
            character: ws.character("alice").unwrap().clone(),
        });
        m.conversations.push_back(ConversationRecord {
            id: "c".into(),
            agents: vec!["a1".into()],
            player: true,
            next: 0,
        });
        m
    }

    /// A trigger parameter whose value is a placeholder comes out as written,
    /// and planning ends (it used to loop forever, holding the session lock).
    #[test]
    fn a_parameter_that_names_itself_is_said_as_it_is() {
        let ws = Workspace::test_scenes();
        let mut m = memory_with_alice(&ws);
        let job = ReplyJob {
            seq: 1,
            input: Input::Trigger {
                name: "greet".into(),
                params: vec![("mood".into(), "{param.mood}".into())],
            },
            ids: Ids::conversation("c"),
            target_agent: None,
        };
        let plan = plan(&ws, &mut m, &job, false).unwrap();
        assert_eq!(
            plan.utterances,
            ["Well met, Tester!", "You look {param.mood} today."]
        );
    }
}
