//! What hears the player's speech: the scene's scripted transcript (always
//! there), PocketSphinx (the `pocketsphinx` feature) or whisper.cpp (the
//! `whisper` feature, with a model file), as the engine's configuration
//! says. The voice detector finds where the player speaks; a real
//! recogniser is given that speech and says what was said.

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
    /// whisper.cpp with its model, prompted with the scene's phrases.
    #[cfg(feature = "whisper")]
    Whisper(std::sync::Arc<super::whisper::Whisper>, std::sync::Arc<str>),
}

/// One utterance being recognised by a real recogniser (none without one
/// built in).
#[derive(Debug)]
pub(crate) enum Listening {
    #[cfg(feature = "pocketsphinx")]
    PocketSphinx(super::pocketsphinx::Listening),
    #[cfg(feature = "whisper")]
    Whisper(super::whisper::Listening),
}

impl Listening {
    /// More of the utterance's audio (16 kHz mono).
    pub(crate) fn push(&mut self, _samples: &[i16]) {
        match *self {
            #[cfg(feature = "pocketsphinx")]
            Listening::PocketSphinx(ref mut l) => l.push(_samples),
            #[cfg(feature = "whisper")]
            Listening::Whisper(ref mut l) => l.push(_samples),
        }
    }

    /// The text recognised so far, when it changed since last asked.
    pub(crate) fn partial(&mut self) -> Option<String> {
        match *self {
            #[cfg(feature = "pocketsphinx")]
            Listening::PocketSphinx(ref mut l) => l.partial(),
            #[cfg(feature = "whisper")]
            Listening::Whisper(ref mut l) => l.partial(),
        }
    }

    /// The utterance is over: its text (empty when nothing was recognised).
    pub(crate) fn finish(self) -> tokio::sync::oneshot::Receiver<String> {
        match self {
            #[cfg(feature = "pocketsphinx")]
            Listening::PocketSphinx(l) => l.finish(),
            #[cfg(feature = "whisper")]
            Listening::Whisper(l) => l.finish(),
        }
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
            RecognizerKind::PocketSphinx => Err(
                "PocketSphinx is not built in: build with `--features pocketsphinx`".to_string(),
            ),
            #[cfg(feature = "whisper")]
            RecognizerKind::Whisper(model) => Ok(Recognizer::Whisper(
                super::whisper::Whisper::shared(model)?,
                super::whisper::prompt_of(&speech.phrases),
            )),
            #[cfg(not(feature = "whisper"))]
            RecognizerKind::Whisper(model) => {
                let _ = speech;
                Err(format!(
                    "whisper is not built in (model {}): build with `--features whisper`",
                    model.display()
                ))
            }
        }
    }

    /// Starts listening to an utterance; `None` for the scripted transcript.
    pub(crate) fn listen(&self) -> Option<Listening> {
        match self {
            Recognizer::Scripted => None,
            #[cfg(feature = "pocketsphinx")]
            Recognizer::PocketSphinx(p, vocabulary) => {
                Some(Listening::PocketSphinx(p.listen(vocabulary.as_deref())))
            }
            #[cfg(feature = "whisper")]
            Recognizer::Whisper(w, prompt) => Some(Listening::Whisper(w.listen(prompt))),
        }
    }
}
