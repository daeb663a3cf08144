//! The game's commands, one function each: each takes the parts it acts on
//! and returns what to do (`Effects`); `Driver::apply` carries that out.

use super::effects::{Effect, Effects};
use super::hands_free::HandsFree;
use super::parts::Parts;
use crate::client::calls::SceneChange;
use crate::client::conversations::Actions;
use crate::client::mic::{Pipeline, VoiceDetection};
use crate::client::playback::PlaybackFeed;
use crate::client::state::{Command, CountedCall, Members, Outgoing, Send, WorldPacket};
use std::time::Instant;

/// A command of the game's (`linked`: a stream is open on a loaded scene).
pub(super) fn on_command(
    command: Command,
    parts: &mut Parts,
    linked: bool,
    now: Instant,
) -> Effects {
    match command {
        Command::Send(send) => send_of_the_game(*send, parts, linked, now),
        Command::World(world) => to_world(*world, parts, linked),
        Command::CancelResponses {
            packet,
            interaction_id,
            utterance_ids,
        } => cancel_responses(*packet, &interaction_id, &utterance_ids, parts, linked),
        Command::ChangeScene(change) => change_scene(*change, parts, linked, now),
        Command::Call(call) => call_of_the_game(*call, parts),
        Command::StartConversation { id, members } => start_conversation(id, members, parts),
        Command::UpdateConversation { id, members } => {
            update_conversation(&id, members, parts, linked, now)
        }
        Command::EndConversation { id } => end_conversation(&id, parts),
        Command::CharacterChanged => character_changed(parts, linked, now),
        Command::CharactersRemoved(names) => characters_removed(&names, parts, linked, now),
        Command::AudioInput(pipeline) => audio_input(*pipeline, parts),
        Command::EchoReference(pipeline) => echo_reference(*pipeline, parts),
        Command::VoiceDetection { config, from } => {
            voice_detection(config, from, parts, linked, now)
        }
        Command::OpenPlayback(feed) => open_playback(*feed, parts),
    }
}

/// A send of the game's: audio controls go through the microphone's audio
/// sessions, the rest to their conversation; a text talks over a character
/// (barge-in).
fn send_of_the_game(send: Send, parts: &mut Parts, linked: bool, now: Instant) -> Effects {
    let mut effects = Effects::default();
    match send.payload {
        Outgoing::AudioSessionStart(..) | Outgoing::AudioSessionEnd(_) => {
            return parts.mic.on_send(send, linked, now);
        }
        Outgoing::Text(_) => {
            effects.push(Effect::BargeIn);
            effects.push(Effect::Send(send));
        }
        _ => effects.push(Effect::Send(send)),
    }
    effects
}

/// A packet to the world: out now, or once a stream is linked.
fn to_world(world: WorldPacket, parts: &mut Parts, linked: bool) -> Effects {
    let mut effects = Effects::default();
    if linked {
        // It goes out: its slot is free.
        effects.push(Effect::Write(Box::new(world.packet)));
    } else {
        parts.world.push_back(world);
    }
    effects
}

/// The game cancelled responses: their speech is flushed from the playback
/// streams, and the cancel goes to the world.
fn cancel_responses(
    cancel: WorldPacket,
    interaction_id: &str,
    utterance_ids: &[String],
    parts: &mut Parts,
    linked: bool,
) -> Effects {
    let utterances: Vec<&str> = utterance_ids.iter().map(String::as_str).collect();
    parts.speakers.flush_speech(interaction_id, &utterances);
    to_world(cancel, parts, linked)
}

/// A scene change: now, or once a stream is linked (the last asked for wins).
fn change_scene(
    (name, change): (String, SceneChange),
    parts: &mut Parts,
    linked: bool,
    now: Instant,
) -> Effects {
    let mut effects = Effects::default();
    if linked {
        for packet in parts.change_scene(name, change, now) {
            effects.push(Effect::Write(Box::new(packet)));
        }
    } else {
        parts.pending_change = Some((name, change));
    }
    effects
}

/// A call (feedback, saved state): it starts once the session has a token.
fn call_of_the_game(call: CountedCall, parts: &mut Parts) -> Effects {
    parts.waiting_calls.push(call);
    let mut effects = Effects::default();
    effects.push(Effect::StartCalls);
    effects
}

fn start_conversation(id: String, members: Members, parts: &mut Parts) -> Effects {
    parts.conversations.start(id, members);
    Effects::default()
}

fn update_conversation(
    id: &str,
    members: Members,
    parts: &mut Parts,
    linked: bool,
    now: Instant,
) -> Effects {
    conversations(parts.in_conversations(linked, now, |c, link, now| {
        c.update_members(id, members, link, now)
    }))
}

/// A conversation ends: what still waited in it does not go out.
fn end_conversation(id: &str, parts: &mut Parts) -> Effects {
    let mut effects = Effects::default();
    for send in parts.conversations.end(id) {
        effects.push(Effect::Fail(send, "the conversation ended first".into()));
    }
    effects
}

/// The game picked another current character (already in the snapshot).
fn character_changed(parts: &mut Parts, linked: bool, now: Instant) -> Effects {
    conversations(
        parts.in_conversations(linked, now, |c, link, now| match link {
            Some(cast) => c.on_current_changed(cast, now),
            None => Actions::default(),
        }),
    )
}

/// Characters left the scene (already in the snapshot): they leave every
/// conversation too.
fn characters_removed(names: &[String], parts: &mut Parts, linked: bool, now: Instant) -> Effects {
    conversations(parts.in_conversations(linked, now, |c, link, now| {
        c.remove_members(names);
        match link {
            Some(cast) => c.on_current_changed(cast, now),
            None => Actions::default(),
        }
    }))
}

fn audio_input(pipeline: Pipeline, parts: &mut Parts) -> Effects {
    parts.mic.set_input(pipeline);
    Effects::default()
}

fn echo_reference(pipeline: Pipeline, parts: &mut Parts) -> Effects {
    parts.mic.set_echo_reference(pipeline);
    Effects::default()
}

/// Turns voice detection on (or changes its settings) or off; a turn under
/// way ends (cut short). The microphone's audio from before the call (mark
/// `from`) is stale; what the game pushed since was accepted for the new
/// setting and stays.
fn voice_detection(
    config: Option<VoiceDetection>,
    from: u64,
    parts: &mut Parts,
    linked: bool,
    now: Instant,
) -> Effects {
    let effects = parts.cut_turn(false, linked, now);
    parts.hands_free = config.and_then(HandsFree::new);
    parts.mic.discard(Some(from));
    if let (_, Some(far)) = parts.mic.inputs() {
        far.discard(None);
    }
    effects
}

fn open_playback(feed: PlaybackFeed, parts: &mut Parts) -> Effects {
    parts.speakers.open(feed);
    Effects::default()
}

/// A step of the conversations, as effects.
fn conversations(actions: Actions) -> Effects {
    let mut effects = Effects::default();
    effects.push(Effect::Conversations(actions));
    effects
}
