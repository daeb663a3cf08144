//! What hears the player's speech: the scene's scripted transcript (always
//! there) or PocketSphinx (the `pocketsphinx` feature), as the engine's
//! configuration says. The voice detector finds where the player speaks;
//! a real recogniser is given that speech and says what was said.

use super::config::RecognizerKind;
use super::scene::SpeechInput;

/// The engine's recogniser, ready to listen.
#[derive(Debug)]
pub(crate) enum Recognizer {
    /// The scene's `[speech] transcript`, whatever was said.
    Scripted,
    /// PocketSphinx, with the vocabulary made from the scene's phrases
    /// (its name) or the whole US English one.
    #[cfg(feature = "pocketsphinx")]
    PocketSphinx(&'static super::pocketsphinx::PocketSphinx, Option<String>),
}

/// One utterance being recognised by a real recogniser.
#[cfg(feature = "pocketsphinx")]
pub(crate) type Listening = super::pocketsphinx::Listening;

/// Without a real recogniser, nothing listens.
#[cfg(not(feature = "pocketsphinx"))]
#[derive(Debug)]
pub(crate) enum Listening {}

#[cfg(not(feature = "pocketsphinx"))]
impl Listening {
    pub(crate) fn push(&mut self, _samples: &[i16]) {
        match *self {}
    }

    pub(crate) fn partial(&mut self) -> Option<String> {
        match *self {}
    }

    pub(crate) fn finish(self) -> tokio::sync::oneshot::Receiver<String> {
        match self {}
    }
}

impl Recognizer {
    /// Starts the recogniser `kind` names (the error when it cannot start,
    /// or is not built in).
    pub(crate) fn start(kind: &RecognizerKind, speech: &SpeechInput) -> Result<Recognizer, String> {
        match kind {
            RecognizerKind::Scripted => Ok(Recognizer::Scripted),
            #[cfg(feature = "pocketsphinx")]
            RecognizerKind::PocketSphinx => {
                let recogniser = super::pocketsphinx::PocketSphinx::shared()?;
                let vocabulary = if speech.phrases.is_empty() {
                    None
                } else {
                    Some(recogniser.vocabulary(&speech.phrases)?)
                };
                Ok(Recognizer::PocketSphinx(recogniser, vocabulary))
            }
            #[cfg(not(feature = "pocketsphinx"))]
            RecognizerKind::PocketSphinx => {
                let _ = speech;
                Err(
                    "PocketSphinx is not built in: build with `--features pocketsphinx`"
                        .to_string(),
                )
            }
        }
    }

    /// Starts listening to an utterance; `None` for the scripted transcript.
    pub(crate) fn listen(&self) -> Option<Listening> {
        match self {
            Recognizer::Scripted => None,
            #[cfg(feature = "pocketsphinx")]
            Recognizer::PocketSphinx(p, vocabulary) => Some(p.listen(vocabulary.as_deref())),
        }
    }
}
