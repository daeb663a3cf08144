//! A reply the language model makes: the prompt from the session, the
//! model's stream read as it comes, each sentence spoken as soon as it is
//! complete. The model's stream is dropped (its connection closed) when the
//! reply is cancelled or cut off by the player, when the stream's client
//! leaves, or at the reply's length bound. A failure before anything was said
//! is retried within bounds; then it ends the stream with the protocol's
//! error details. In a group conversation left to the model, one request
//! voices the participants and the model names who answers: its reply is
//! held until it does, at most until its first sentence is complete (the
//! rule is `brain::speaker`'s).

use super::plan::{self, Plan};
use super::speak::{Event, Gone, Reply, Streamed};
use crate::engine::brain::guard::{Guard, REFUSAL};
use crate::engine::brain::markup::{tool_call, Markup, Piece};
use crate::engine::brain::model::{Model, ModelError};
use crate::engine::brain::prompt::{self, Turn};
use crate::engine::brain::speaker::{Chosen, SpeakerChoice};
use crate::engine::scene::ScriptedCharacter;
use crate::engine::sessions::Speaker;
use crate::engine::stream::ctx::StreamCtx;
use crate::engine::stream::job::{Input, ReplyJob, NEXT_TURN_TRIGGER};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How often a reply waiting on the model looks for a cancel.
const CANCEL_POLL: Duration = Duration::from_millis(20);

/// What a reply has made so far, kept across retries.
struct Made {
    said: Vec<String>,
    triggers: Vec<Event>,
    /// A sentence gave a secret away: the reply stops.
    refused: bool,
    /// Who answers (agent id, character): the plan's, or the model's choice.
    speaker: (String, Arc<ScriptedCharacter>),
    /// Who the model may choose among (empty: the plan chose).
    cast: Vec<(String, Arc<ScriptedCharacter>)>,
    /// The speaker is known (kept across retries: a retry follows a
    /// failure before anything was said, but perhaps after the choice).
    chosen: bool,
}

enum Failure {
    Gone,
    Model(ModelError),
}

impl From<Gone> for Failure {
    fn from(_: Gone) -> Self {
        Failure::Gone
    }
}

/// Streams the model's reply to `job`, as `plan.agent_id`.
pub(crate) async fn ask(
    ctx: &StreamCtx,
    job: &ReplyJob,
    plan: Plan,
    stt: Option<&str>,
    model: &Model,
) -> Streamed {
    let turn = match &job.input {
        Input::Trigger { name, .. } if name == NEXT_TURN_TRIGGER => Turn::Unprompted,
        Input::Trigger { name, params } => Turn::Trigger {
            name: name.clone(),
            params: params.clone(),
        },
        _ => Turn::Dialog,
    };
    let prepared = {
        let memory = ctx.session.memory.lock();
        let cast: Vec<(String, Arc<ScriptedCharacter>)> = plan
            .cast
            .iter()
            .filter_map(|id| memory.agent(id))
            .map(|a| (a.agent_id.clone(), a.character.clone()))
            .collect();
        memory.agent(&plan.agent_id).map(|agent| {
            let characters: Vec<&ScriptedCharacter> =
                cast.iter().map(|(_, c)| c.as_ref()).collect();
            let history = model.config.history_lines;
            let workspace = &ctx.shared.workspace;
            let (messages, guard) = if characters.len() > 1 {
                (
                    prompt::group_messages(workspace, &memory, &characters, &turn, history),
                    Guard::group(&characters),
                )
            } else {
                (
                    prompt::messages(workspace, &memory, &agent.character, &turn, history),
                    Guard::new(&agent.character),
                )
            };
            let speaker = (agent.agent_id.clone(), agent.character.clone());
            let cast = if characters.len() > 1 {
                cast
            } else {
                Vec::new()
            };
            (messages, guard, speaker, cast)
        })
    };
    let Ok(mut reply) = Reply::start(ctx, job, &plan, stt).await else {
        return Streamed::Closed;
    };
    let Some((messages, guard, speaker, cast)) = prepared else {
        // The character left the scene in the meantime.
        return reply.end(&[], &[], None).await;
    };
    let mut made = Made {
        said: Vec::new(),
        triggers: Vec::new(),
        refused: false,
        speaker,
        chosen: cast.is_empty(),
        cast,
    };
    let outcome = answer(ctx, job, model, &messages, &guard, &mut reply, &mut made).await;
    {
        let (agent_id, character) = &made.speaker;
        let mut memory = ctx.session.memory.lock();
        if !made.said.is_empty() {
            memory.remember(
                Speaker::Character(character.id.clone()),
                &made.said.join(" "),
            );
        }
        memory.greeted.insert(character.id.clone());
        if !made.cast.is_empty() {
            plan::model_chose(&mut memory, &job.ids.conversation_id, agent_id);
        }
    }
    match outcome {
        Ok(()) => reply.end(&made.triggers, &[], None).await,
        Err(Failure::Gone) => Streamed::Closed,
        Err(Failure::Model(e)) => {
            if ctx.shared.client_log.allow() {
                log::info!(
                    "session {}: the language model failed: {e:?}",
                    ctx.session.id
                );
            }
            let status = e.status();
            reply.end(&made.triggers, &[], Some(status)).await
        }
    }
}

/// Asks (again, within the retry bound, while nothing is said yet) until
/// the reply is complete, cancelled or failed.
async fn answer(
    ctx: &StreamCtx,
    job: &ReplyJob,
    model: &Model,
    messages: &[Value],
    guard: &Guard,
    reply: &mut Reply<'_>,
    made: &mut Made,
) -> Result<(), Failure> {
    let session_calls = ctx.session.model_calls.clone().acquire_owned();
    let _session_call = match tokio::time::timeout(model.config.timeout, session_calls).await {
        Ok(Ok(permit)) => permit,
        _ => return Err(Failure::Model(ModelError::Busy)),
    };
    let _call = model.permit().await.map_err(Failure::Model)?;
    let mut attempt = 0;
    loop {
        let failed = match once(ctx, job, model, messages, guard, reply, made).await {
            Err(Failure::Model(e)) => e,
            other => return other,
        };
        let wait = match &failed {
            ModelError::RateLimited(Some(after)) if *after > model.config.max_retry_wait => None,
            ModelError::RateLimited(Some(after)) => Some(*after),
            e if e.retryable() => Some(Duration::from_millis(250 << attempt.min(6))),
            _ => None,
        };
        match wait {
            Some(wait) if made.said.is_empty() && attempt < model.config.max_retries => {
                attempt += 1;
                log::debug!(
                    "session {}: retrying the language model in {wait:?} after {failed:?}",
                    ctx.session.id
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancelled(ctx, job) => return Ok(()),
                }
            }
            _ => return Err(Failure::Model(failed)),
        }
    }
}

/// Resolves once the reply to `job` is cancelled or cut off.
async fn cancelled(ctx: &StreamCtx, job: &ReplyJob) {
    while !ctx.is_cancelled(job.seq, &job.ids.interaction_id, "") {
        tokio::time::sleep(CANCEL_POLL).await;
    }
}

/// One request: its stream read to the end, the reply's bound, a cancel or
/// a failure.
async fn once(
    ctx: &StreamCtx,
    job: &ReplyJob,
    model: &Model,
    messages: &[Value],
    guard: &Guard,
    reply: &mut Reply<'_>,
    made: &mut Made,
) -> Result<(), Failure> {
    let mut stream = tokio::select! {
        s = model.ask(messages.to_vec()) => s.map_err(Failure::Model)?,
        _ = cancelled(ctx, job) => return Ok(()),
        _ = ctx.closed() => return Err(Failure::Gone),
    };
    let mut markup = Markup::new(model.config.max_reply_bytes);
    let mut choice = if made.chosen {
        SpeakerChoice::decided()
    } else {
        SpeakerChoice::undecided()
    };
    let (mut pieces, mut ready) = (Vec::new(), Vec::new());
    loop {
        let delta = tokio::select! {
            d = stream.next() => d.map_err(Failure::Model)?,
            _ = cancelled(ctx, job) => return Ok(()),
            _ = ctx.closed() => return Err(Failure::Gone),
        };
        let ended = delta.is_none();
        match delta {
            Some(delta) => {
                let (speakers, calls): (Vec<Piece>, Vec<Piece>) = delta
                    .tool_calls
                    .iter()
                    .filter_map(|(name, args)| tool_call(name, args))
                    .partition(|p| matches!(p, Piece::Speaker(_)));
                // Who speaks comes before what they say.
                pieces.extend(speakers);
                markup.push(&delta.content, &mut pieces);
                pieces.extend(calls);
            }
            None => markup.finish(&mut pieces),
        }
        let last = ended || markup.full();
        for piece in pieces.drain(..) {
            let characters: Vec<&ScriptedCharacter> =
                made.cast.iter().map(|(_, c)| c.as_ref()).collect();
            let chosen = choice.push(piece, |name| prompt::named(&characters, name), &mut ready);
            choose(chosen, reply, made);
        }
        if last {
            choose(choice.finish(&mut ready), reply, made);
        }
        for piece in ready.drain(..) {
            deliver(piece, guard, reply, made).await?;
            if made.refused {
                return Ok(());
            }
        }
        if last || reply.cancelled() {
            // Dropping the stream closes its connection: the model stops.
            return Ok(());
        }
    }
}

/// The model's choice of speaker, once made: from then on the reply is
/// theirs (nothing of it has been sent yet).
fn choose(chosen: Option<Chosen>, reply: &mut Reply<'_>, made: &mut Made) {
    match chosen {
        None => {}
        Some(Chosen::TurnTaking) => made.chosen = true,
        Some(Chosen::Named(i)) => {
            made.chosen = true;
            made.speaker = made.cast[i].clone();
            reply.set_speaker(&made.speaker.0);
        }
    }
}

async fn deliver(
    piece: Piece,
    guard: &Guard,
    reply: &mut Reply<'_>,
    made: &mut Made,
) -> Result<(), Gone> {
    match piece {
        Piece::Speaker(_) => {}
        Piece::Sentence(line) if guard.leaks(&line) => {
            made.refused = true;
            reply.say(REFUSAL).await?;
            made.said.push(REFUSAL.to_string());
        }
        Piece::Sentence(line) => {
            reply.say(&line).await?;
            made.said.push(line);
        }
        Piece::Emotion(behavior, strength) => reply.emotion(behavior, strength).await?,
        Piece::Action(content) => reply.narrated(&content).await?,
        Piece::Trigger(name, params) => made.triggers.push((name, params)),
    }
    Ok(())
}
