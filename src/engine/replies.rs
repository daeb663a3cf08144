//! What the characters answer (scripted by the scene's rules) and how the
//! answer is streamed: emotion, narrated action, per utterance text + audio
//! (+ silence), triggers and tasks, then INTERACTION_END and a PING.

use super::config::Pacing;
use super::scene::{self, Character, Rule, TurnTaking, Workspace};
use super::sessions::{SessionState, Speaker};
use super::speech;
use super::wire::{self, Ids};
use super::world_engine::StreamCtx;
use crate::protocol::ai::inworld::packets::{
    action_event, control_event, custom_event, data_chunk, inworld_packet, latency_report_event,
    ping_pong_report, text_event, ActionEvent, AdditionalPhonemeInfo, CustomEvent, DataChunk,
    EmotionEvent, LatencyReportEvent, NarratedAction, PingPongReport, TextEvent,
};
use crate::protocol::status::{status_with_details, ErrorDetails};
use std::time::{Duration, SystemTime};

/// The trigger that lets the next character of a conversation speak.
pub const NEXT_TURN_TRIGGER: &str = "inworld.conversation.next_turn";

/// What the player did.
#[derive(Debug, Clone)]
pub enum Input {
    Text(String),
    Trigger {
        name: String,
        params: Vec<(String, String)>,
    },
    Action(String),
    /// Recognised speech (sent back as SPEECH_TO_TEXT first).
    Speech(String),
}

/// One player input waiting for its answer.
#[derive(Debug, Clone)]
pub struct ReplyJob {
    /// Order of arrival on the stream (interruptions cancel older ones).
    pub seq: u64,
    pub input: Input,
    /// The player's interaction, correlation and conversation ids.
    pub ids: Ids,
    /// routing.target when it names an agent.
    pub target_agent: Option<String>,
}

/// A planned answer.
#[derive(Debug)]
pub struct Plan {
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
}

/// Picks who answers and what, and records the dialog. `Err` is a warning for the client.
pub fn plan(
    workspace: &Workspace,
    state: &mut SessionState,
    job: &ReplyJob,
) -> Result<Plan, String> {
    if state.scene.is_none() {
        return Err("no scene is loaded: send a LoadScene mutation first".into());
    }
    let agent_id = pick_speaker(state, job)?;
    let agent = state
        .agent(&agent_id)
        .ok_or_else(|| format!("character {agent_id:?} is not in the scene"))?
        .clone();
    let character = agent.character.clone();

    let (player_text, heard) = match &job.input {
        Input::Text(t) | Input::Speech(t) => (Some(t.clone()), t.clone()),
        Input::Action(a) => (Some(format!("*{a}*")), a.clone()),
        Input::Trigger { .. } => (None, String::new()),
    };
    if let Some(t) = &player_text {
        state.remember(Speaker::Player, t);
    }
    if !job.ids.interaction_id.is_empty() {
        state.last_interaction_id = job.ids.interaction_id.clone();
    }

    let rule = find_rule(workspace, &character, &job.input);
    let mut plan = Plan {
        agent_id,
        utterances: Vec::new(),
        emotion: None,
        triggers: Vec::new(),
        tasks: Vec::new(),
        narrated: None,
        error: None,
        audio: state.capabilities.audio && !state.muted,
        phonemes: state.capabilities.phoneme_info,
        emotions: state.capabilities.emotions,
        narrated_actions: state.capabilities.narrated_actions,
        silence: state.capabilities.silence_events,
        ping: state.capabilities.ping_pong_report,
    };
    let params: &[(String, String)] = match &job.input {
        Input::Trigger { params, .. } => params,
        _ => &[],
    };
    let previous = state
        .previous_player_line()
        .unwrap_or("nothing yet")
        .to_string();
    let fill = |line: &str| {
        fill_in(
            line,
            &state.user_name,
            &character,
            &heard,
            &previous,
            params,
        )
    };
    match rule {
        Some(rule) => {
            plan.utterances = rule.lines.iter().map(|l| fill(l)).collect();
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
        None => {
            let line = if !state.greeted.contains(&character.id) && character.greeting.is_some() {
                character.greeting.clone().unwrap_or_default()
            } else if character.fallback.is_empty() {
                "I see.".to_string()
            } else {
                let turn = state
                    .fallback_turns
                    .entry(character.id.clone())
                    .or_insert(0);
                let line = character.fallback[*turn % character.fallback.len()].clone();
                *turn += 1;
                line
            };
            plan.utterances = vec![fill(&line)];
            plan.emotion = character
                .mood
                .as_deref()
                .and_then(scene::emotion_from_name)
                .map(|e| (e, 3));
        }
    }
    state.greeted.insert(character.id.clone());
    plan.utterances = plan.utterances.iter().flat_map(|l| sentences(l)).collect();
    if !plan.utterances.is_empty() {
        let said = plan.utterances.join(" ");
        state.remember(Speaker::Character(character.id.clone()), &said);
    }
    Ok(plan)
}

fn pick_speaker(state: &mut SessionState, job: &ReplyJob) -> Result<String, String> {
    let turn_taking = state
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
        let names: Vec<(String, String)> = state
            .agents
            .iter()
            .map(|a| (a.agent_id.clone(), a.character.display_name.to_lowercase()))
            .collect();
        let conv = state
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
            let addressed = (turn_taking == TurnTaking::Addressed && !lowered.is_empty())
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
        let speaker = conv.agents[index].clone();
        conv.last_speaker = Some(speaker.clone());
        return Ok(speaker);
    }
    // No conversation: the addressed agent, else the first one (legacy one-to-one).
    match &job.target_agent {
        Some(t) if state.agent(t).is_some() => Ok(t.clone()),
        Some(t) => Err(format!("character {t:?} is not in the scene")),
        None => state
            .agents
            .first()
            .map(|a| a.agent_id.clone())
            .ok_or_else(|| "the scene has no characters".to_string()),
    }
}

fn find_rule<'a>(
    workspace: &'a Workspace,
    character: &'a Character,
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

fn fill_in(
    line: &str,
    player: &str,
    character: &Character,
    text: &str,
    previous: &str,
    params: &[(String, String)],
) -> String {
    let player = if player.is_empty() {
        "traveller"
    } else {
        player
    };
    let mut out = line
        .replace("{player}", player)
        .replace("{character}", &character.display_name)
        .replace("{text}", text)
        .replace("{previous}", previous);
    while let Some(start) = out.find("{param.") {
        let Some(len) = out[start..].find('}') else {
            break;
        };
        let name = &out[start + 7..start + len];
        let value = params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
            .to_string();
        out.replace_range(start..start + len + 1, &value);
    }
    out
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

fn injected_status(e: &scene::InjectedError) -> tonic::Status {
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
        crate::protocol::names::code_from_name(&e.code).expect("validated"),
        message,
        &details,
    )
}

/// How a streamed reply ended.
pub enum Streamed {
    Done,
    /// The rule injected an error: the stream has been ended with it.
    Failed,
    /// The client is gone.
    Closed,
}

fn human_pause(pacing: Pacing, d: Duration) -> Option<Duration> {
    (pacing == Pacing::Human).then(|| d.min(Duration::from_secs(4)))
}

/// Streams a planned reply to the client.
pub async fn stream(ctx: &StreamCtx, job: &ReplyJob, plan: Plan, stt: Option<&str>) -> Streamed {
    let pacing = ctx.shared.pacing;
    let routing = || wire::agent_to_player(&plan.agent_id);
    let mut ids = job.ids.clone();
    let interaction = job.ids.interaction_id.clone();
    macro_rules! send {
        ($p:expr) => {
            if !ctx.send($p).await {
                return Streamed::Closed;
            }
        };
    }
    if let Some(text) = stt {
        ids.utterance_id = wire::new_id();
        send!(wire::packet(
            wire::from_player(),
            &ids,
            inworld_packet::Packet::Text(TextEvent {
                text: text.to_string(),
                source_type: text_event::SourceType::SpeechToText as i32,
                r#final: true,
                model_info: None,
            })
        ));
    }
    if let Some(d) = human_pause(pacing, Duration::from_millis(350)) {
        tokio::time::sleep(d).await;
    }
    let mut cancelled = ctx.is_cancelled(job.seq, &interaction, "");
    let first_utterance = wire::new_id();
    if !cancelled && plan.emotions {
        if let Some((behavior, strength)) = plan.emotion {
            ids.utterance_id = first_utterance.clone();
            send!(wire::packet(
                routing(),
                &ids,
                inworld_packet::Packet::Emotion(EmotionEvent {
                    behavior,
                    strength,
                    ..Default::default()
                })
            ));
        }
    }
    if !cancelled && plan.narrated_actions {
        if let Some(content) = &plan.narrated {
            ids.utterance_id = wire::new_id();
            send!(wire::packet(
                routing(),
                &ids,
                inworld_packet::Packet::Action(ActionEvent {
                    action: Some(action_event::Action::NarratedAction(NarratedAction {
                        content: content.clone(),
                    })),
                    playback: 0,
                })
            ));
        }
    }
    for (n, line) in plan.utterances.iter().enumerate() {
        let utterance = if n == 0 {
            first_utterance.clone()
        } else {
            wire::new_id()
        };
        if ctx.is_cancelled(job.seq, &interaction, &utterance) {
            cancelled = true;
            break;
        }
        ids.utterance_id = utterance.clone();
        send!(wire::packet(
            routing(),
            &ids,
            inworld_packet::Packet::Text(TextEvent {
                text: line.clone(),
                source_type: text_event::SourceType::Generated as i32,
                r#final: true,
                model_info: None,
            })
        ));
        let mut spoken = Duration::from_millis(40 * line.len() as u64);
        if plan.audio && !ctx.session.state.lock().muted {
            let speech = speech::synthesize(line);
            spoken = speech.duration;
            send!(wire::packet(
                routing(),
                &ids,
                inworld_packet::Packet::DataChunk(DataChunk {
                    data: Some(data_chunk::Data::Chunk(speech.wav)),
                    r#type: data_chunk::DataType::Audio as i32,
                    additional_phoneme_info: speech
                        .phonemes
                        .iter()
                        .filter(|_| plan.phonemes)
                        .map(|p| AdditionalPhonemeInfo {
                            phoneme: p.symbol.to_string(),
                            start_offset: Some(prost_types::Duration {
                                seconds: p.start.as_secs() as i64,
                                nanos: p.start.subsec_nanos() as i32,
                            }),
                        })
                        .collect(),
                    audioformat: data_chunk::AudioFormat::AudioPcm16000 as i32,
                })
            ));
        }
        if let Some(d) = human_pause(pacing, spoken) {
            tokio::time::sleep(d).await;
        }
        if plan.silence && n + 1 < plan.utterances.len() {
            send!(wire::packet(
                routing(),
                &ids,
                inworld_packet::Packet::DataChunk(DataChunk {
                    data: Some(data_chunk::Data::DurationMs(300)),
                    r#type: data_chunk::DataType::Silence as i32,
                    ..Default::default()
                })
            ));
            if let Some(d) = human_pause(pacing, Duration::from_millis(300)) {
                tokio::time::sleep(d).await;
            }
        }
    }
    if !cancelled && !ctx.is_cancelled(job.seq, &interaction, "") {
        for (names, kind) in [
            (&plan.triggers, custom_event::Type::Trigger),
            (&plan.tasks, custom_event::Type::Task),
        ] {
            for name in names {
                ids.utterance_id = wire::new_id();
                send!(wire::packet(
                    routing(),
                    &ids,
                    inworld_packet::Packet::Custom(CustomEvent {
                        name: name.clone(),
                        playback: 0,
                        parameters: Vec::new(),
                        r#type: kind as i32,
                    })
                ));
            }
        }
        if let Some(status) = plan.error {
            ctx.fail(status).await;
            return Streamed::Failed;
        }
    }
    ids.utterance_id = wire::new_id();
    send!(wire::control(
        routing(),
        &ids,
        control_event::Action::InteractionEnd,
        "",
        None
    ));
    if plan.ping {
        send!(ping(ctx));
    }
    Streamed::Done
}

fn ping(ctx: &StreamCtx) -> crate::protocol::ai::inworld::packets::InworldPacket {
    let packet = wire::packet(
        wire::world_to_player(),
        &Ids::default(),
        inworld_packet::Packet::LatencyReport(LatencyReportEvent {
            report: Some(latency_report_event::Report::PingPong(PingPongReport {
                r#type: ping_pong_report::Type::Ping as i32,
                ping_packet_id: None,
                ping_timestamp: Some(wire::now()),
            })),
        }),
    );
    if let Some(id) = &packet.packet_id {
        ctx.ping_sent(&id.packet_id);
    }
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_into_sentences() {
        assert_eq!(
            sentences("Take this. It is yours! Really?"),
            vec!["Take this.", "It is yours!", "Really?"]
        );
        assert_eq!(sentences("v1.2 works"), vec!["v1.2 works"]);
    }

    #[test]
    fn placeholders_are_filled() {
        let ws = Workspace::test_scenes();
        let c = ws.character("alice").unwrap();
        let params = vec![("mood".to_string(), "happy".to_string())];
        assert_eq!(
            fill_in(
                "{character} to {player}: {param.mood} {param.x}!",
                "Zed",
                c,
                "",
                "",
                &params
            ),
            "Alice to Zed: happy !"
        );
    }
}
