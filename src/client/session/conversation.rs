//! `Conversation`: the game's handle on a conversation of several
//! characters. Its sends go through its session's, carrying its id.

use super::{audio_ids, Session};
use crate::client::mic::AudioSessionConfig;
use crate::client::state::{Command, Members, Outgoing};
use crate::client::{Error, SentIds};

impl Session {
    /// Starts a conversation between these characters (agent id, resource
    /// name or display name of a character in the scene, or the resource
    /// name of one to add) and, if `with_player`, the player. Returns at
    /// once: nothing is sent before its first packet (then characters not in
    /// the scene are added, and the service is asked to start it). Its
    /// replies carry its id as `conversation_id`, and the answering
    /// character as their source.
    pub fn start_conversation(
        &self,
        characters: &[&str],
        with_player: bool,
    ) -> Result<Conversation, Error> {
        let names = self.member_names(characters)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.check_open()?;
        self.command(Command::StartConversation {
            id: id.clone(),
            members: Members::Group {
                names: names.clone(),
                player: with_player,
            },
        })?;
        Ok(Conversation {
            session: self.clone(),
            id,
            characters: names.len(),
        })
    }
}

/// The trigger that lets the next character of a conversation speak
/// (characters talking among themselves).
pub const NEXT_TURN_TRIGGER: &str = "inworld.conversation.next_turn";

/// A conversation of several characters (see `Session::start_conversation`).
/// Cheap to clone; sends from it carry its id.
#[derive(Clone, Debug)]
pub struct Conversation {
    session: Session,
    id: String,
    characters: usize,
}

impl Conversation {
    /// Its id: the `conversation_id` of its replies and events.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Sends typed text to the conversation.
    pub fn send_text(&self, text: &str) -> Result<SentIds, Error> {
        if text.is_empty() {
            return Err(Error::InvalidArgument("text is empty".into()));
        }
        self.session
            .send_in(self.id.clone(), Outgoing::Text(text.to_string()))
    }

    /// Sends a trigger: to `character` (agent id or resource name) when
    /// given, else the service picks who answers.
    pub fn send_trigger(
        &self,
        name: &str,
        params: &[(&str, &str)],
        character: Option<&str>,
    ) -> Result<SentIds, Error> {
        if name.is_empty() {
            return Err(Error::InvalidArgument("trigger name is empty".into()));
        }
        if params.iter().any(|(n, _)| n.is_empty()) {
            return Err(Error::InvalidArgument(
                "trigger parameter names must not be empty".into(),
            ));
        }
        let target = match character {
            Some(who) => Some(self.session.member_names(&[who])?.remove(0)),
            None => None,
        };
        self.session.send_in(
            self.id.clone(),
            Outgoing::Trigger {
                name: name.to_string(),
                params: params
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                target,
            },
        )
    }

    /// Lets the next character speak (characters talk among themselves).
    pub fn next_turn(&self) -> Result<SentIds, Error> {
        self.send_trigger(NEXT_TURN_TRIGGER, &[], None)
    }

    /// Sends a narrated action; only in a conversation of one character (as
    /// the Node SDK rules: nobody would know who reacts).
    pub fn send_narrated_action(&self, text: &str) -> Result<SentIds, Error> {
        if self.characters != 1 {
            return Err(Error::InvalidArgument(
                "narrated actions go to a conversation of one character".into(),
            ));
        }
        if text.is_empty() {
            return Err(Error::InvalidArgument("narrated action is empty".into()));
        }
        self.session
            .send_in(self.id.clone(), Outgoing::NarratedAction(text.to_string()))
    }

    /// Starts an audio session in this conversation (see
    /// [`Session::start_audio_session`]); its audio carries the
    /// conversation's id.
    pub fn start_audio_session(&self, config: AudioSessionConfig) -> Result<SentIds, Error> {
        self.session.start_audio_in(self.id.clone(), config)
    }

    /// Ends the audio session open in this conversation
    /// (`InvalidArgument` when there is none).
    pub fn end_audio_session(&self) -> Result<SentIds, Error> {
        self.session.end_audio_in(Some(&self.id))
    }

    /// Mutes or unmutes the characters' speech in this conversation (see
    /// [`Session::mute_speech`]).
    pub fn mute_speech(&self, muted: bool) -> Result<SentIds, Error> {
        self.session
            .send_with(audio_ids(self.id.clone()), Outgoing::PlaybackMute(muted))
    }

    /// New participants (as for `start_conversation`); the service is told
    /// at once when the conversation has started (same id).
    pub fn update_participants(
        &mut self,
        characters: &[&str],
        with_player: bool,
    ) -> Result<(), Error> {
        let names = self.session.member_names(characters)?;
        self.session.check_open()?;
        self.characters = names.len();
        self.session.command(Command::UpdateConversation {
            id: self.id.clone(),
            members: Members::Group {
                names,
                player: with_player,
            },
        })
    }

    /// Ends the conversation here: nothing more is sent in it, and its sends
    /// still waiting are reported as not sent. (The service has no message
    /// for it; it evicts old conversations itself.)
    pub fn end(self) -> Result<(), Error> {
        self.session.check_open()?;
        self.session
            .command(Command::EndConversation { id: self.id })
    }
}
