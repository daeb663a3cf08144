//! The session handle's audio: audio sessions, the microphone's input and
//! echo reference, voice detection, playback streams, muting and cancelling
//! the characters' speech.

use super::{audio_ids, find_character, Session};
use crate::client::mic::{
    self, AudioFormat, AudioInput, AudioSessionConfig, EchoReference, Pipeline, VoiceDetection,
};
use crate::client::outbound;
use crate::client::playback::{
    stream_capacity, Playback, PlaybackFeed, PlaybackFormat, PlaybackLink,
};
use crate::client::state::{Command, Outgoing, WorldPacket};
use crate::client::{Error, SentIds};
use std::sync::Arc;

impl Session {
    /// Starts an audio session in the one-to-one conversation (with the
    /// current character): the service listens to what an [`AudioInput`]
    /// pushes from now until [`Session::end_audio_session`] (in push-to-talk
    /// mode, the end is when the player stopped speaking; in open-mic mode
    /// the service finds the ends itself). One audio session at a time per
    /// session. It goes out after the conversation's handshake; the audio
    /// pushed meanwhile waits (up to the input's one second). Audio pushed
    /// while the session cannot send (connecting, reconnecting) is dropped
    /// and reported, never sent late; after a reconnect the audio session
    /// starts again by itself. Returns the ids of the AUDIO_SESSION_START
    /// packet (a `SendFailed` with them says it did not go out).
    pub fn start_audio_session(&self, config: AudioSessionConfig) -> Result<SentIds, Error> {
        let conversation_id = self.shared.snapshot.lock().conversation_id.clone();
        self.start_audio_in(conversation_id, config)
    }

    pub(super) fn start_audio_in(
        &self,
        conversation_id: String,
        config: AudioSessionConfig,
    ) -> Result<SentIds, Error> {
        self.check_open()?;
        let mark = {
            let mut snapshot = self.shared.snapshot.lock();
            self.shared.mic.open()?;
            snapshot.audio_conversation = Some(conversation_id.clone());
            self.shared.mic.mark()
        };
        let ids = audio_ids(conversation_id);
        self.send_with(ids, Outgoing::AudioSessionStart(config, mark))
            .inspect_err(|_| {
                let mut snapshot = self.shared.snapshot.lock();
                snapshot.audio_conversation = None;
                let _ = self.shared.mic.end();
            })
    }

    /// Ends the open audio session (in whichever conversation it is): the
    /// audio pushed before this call goes out, then AUDIO_SESSION_END.
    /// `InvalidArgument` when no audio session is open.
    pub fn end_audio_session(&self) -> Result<SentIds, Error> {
        self.end_audio_in(None)
    }

    pub(super) fn end_audio_in(&self, conversation_id: Option<&str>) -> Result<SentIds, Error> {
        self.check_open()?;
        let (conversation_id, mark) = {
            let mut snapshot = self.shared.snapshot.lock();
            match (&snapshot.audio_conversation, conversation_id) {
                (Some(open), Some(asked)) if open != asked => {
                    return Err(Error::InvalidArgument(
                        "the open audio session is in another conversation".into(),
                    ))
                }
                (None, _) => return Err(Error::InvalidArgument("no audio session is open".into())),
                _ => {}
            }
            self.shared.mic.end()?;
            let id = snapshot.audio_conversation.take().expect("checked");
            let mark = self.shared.mic.mark();
            self.shared.mic.end_made(mark);
            (id, mark)
        };
        self.send_with(audio_ids(conversation_id), Outgoing::AudioSessionEnd(mark))
            .inspect_err(|_| self.shared.mic.end_unmade(mark))
    }

    /// Mutes (true) or unmutes the characters' speech in the one-to-one
    /// conversation: while muted, the service leaves audio out of replies
    /// (text and the rest still come). Returns the ids of the control packet.
    pub fn mute_speech(&self, muted: bool) -> Result<SentIds, Error> {
        let conversation_id = self.shared.snapshot.lock().conversation_id.clone();
        self.send_with(audio_ids(conversation_id), Outgoing::PlaybackMute(muted))
    }

    /// Asks the current character to stop its reply to `interaction_id`
    /// (only the utterances of `utterance_ids`, when not empty): the rest of
    /// it does not come, and its INTERACTION_END ends it. Its speech queued
    /// in [`Playback`] streams is dropped: they go silent at their next
    /// read. As in the SDK, it goes to the one-to-one conversation's
    /// character. `NotReady` before
    /// there is one; `InvalidArgument` for an empty interaction id.
    pub fn cancel_responses(
        &self,
        interaction_id: &str,
        utterance_ids: &[&str],
    ) -> Result<(), Error> {
        if interaction_id.is_empty() {
            return Err(Error::InvalidArgument("no interaction id".into()));
        }
        let agent_id = self
            .current_character()
            .ok_or(Error::NotReady)?
            .id
            .to_string();
        let utterance_ids: Vec<String> = utterance_ids.iter().map(|u| u.to_string()).collect();
        let packet = outbound::cancel_responses(&agent_id, interaction_id, &utterance_ids);
        self.command_counted(|permit| Command::CancelResponses {
            packet: Box::new(WorldPacket { packet, permit }),
            interaction_id: interaction_id.to_string(),
            utterance_ids,
        })
    }

    /// Opens a stream of the characters' speech in `format`, for the game's
    /// audio thread to pull (see [`Playback`]): every character's speech, or
    /// only `character`'s (its agent id, resource name or display name), so
    /// that each character can play through its own audio source. Speech
    /// that arrives from now on is queued; cancelled responses and barge-in
    /// flush it. `InvalidArgument` for a rate outside 8–192 kHz or other
    /// than 1 or 2 channels; `NotFound` for a character not in the scene;
    /// `NotReady` for a character before the scene is loaded.
    pub fn open_playback(
        &self,
        format: PlaybackFormat,
        character: Option<&str>,
    ) -> Result<Playback, Error> {
        format.validate()?;
        self.check_open()?;
        let character = match character {
            None => None,
            Some(who) => {
                let snapshot = self.shared.snapshot.lock();
                let scene = snapshot.scene.as_ref().ok_or(Error::NotReady)?;
                let found = find_character(&scene.characters, who)
                    .ok_or_else(|| Error::NotFound(format!("no character {who:?} in the scene")))?;
                Some(found.resource_name.to_string())
            }
        };
        let (writer, reader, clock) =
            crate::audio::playback::playback(format.channels, stream_capacity(format));
        let link = Arc::new(PlaybackLink::default());
        self.command(Command::OpenPlayback(Box::new(PlaybackFeed {
            writer,
            format,
            character,
            link: link.clone(),
        })))?;
        Ok(Playback::new(reader, clock, format, link))
    }

    /// Opens the session's audio input for audio in `format`: hand it to
    /// your audio thread and push what the microphone records (see
    /// [`AudioInput`]). One per session: opening another replaces it (the
    /// old one's pushes then fail with `Closed`). `InvalidArgument` for a
    /// rate outside 8–48 kHz or other than 1 or 2 channels.
    pub fn audio_input(&self, format: AudioFormat) -> Result<AudioInput, Error> {
        format.validate()?;
        self.check_open()?;
        let (producer, consumer) = rtrb::RingBuffer::new(mic::ring_capacity(format));
        let (id, start) = self.shared.mic.new_input();
        self.command(Command::AudioInput(Box::new(Pipeline::new(
            consumer, format, start,
        ))))?;
        Ok(AudioInput::new(
            producer,
            id,
            format,
            self.shared.mic.clone(),
        ))
    }

    /// Turns voice detection on (hands-free, see [`VoiceDetection`]) or
    /// off (`None`). While on, the audio input is listened to all the time
    /// and the library starts and ends the audio sessions itself (in the
    /// one-to-one conversation); the game sees each turn as
    /// `PacketBody::VoiceActivity` packets, and its own
    /// `start_audio_session` is refused. Turning it on while the game's
    /// audio session is open is refused (`InvalidArgument`); turning it off
    /// during a turn ends the turn (cut short).
    pub fn set_voice_detection(&self, config: Option<VoiceDetection>) -> Result<(), Error> {
        self.check_open()?;
        // Audio pushed from here on is the new setting's: only what came
        // before is stale (a push accepted now must be sent).
        let from = self.shared.mic.mark();
        self.shared.mic.set_hands_free(config.is_some())?;
        self.command(Command::VoiceDetection { config, from })
    }

    /// Opens the session's echo reference for audio in `format`: push what
    /// the game actually plays from its audio thread (see
    /// [`EchoReference`]), so that voice detection with echo cancellation
    /// does not hear it. One per session: opening another replaces it.
    pub fn echo_reference(&self, format: AudioFormat) -> Result<EchoReference, Error> {
        format.validate()?;
        self.check_open()?;
        let (producer, consumer) = rtrb::RingBuffer::new(mic::ring_capacity(format));
        self.command(Command::EchoReference(Box::new(Pipeline::new(
            consumer, format, 0,
        ))))?;
        let shared = mic::EchoShared {
            dropped: Default::default(),
            id: self.shared.mic.new_echo_reference(),
            mic: self.shared.mic.clone(),
        };
        Ok(EchoReference::new(
            producer,
            format,
            std::sync::Arc::new(shared),
        ))
    }
}
