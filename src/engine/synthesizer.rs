//! What speaks the characters' lines: the tone synthesizer (always there)
//! or espeak-ng (the `espeak` feature), as the engine's configuration says.

use super::config::SynthesizerKind;
use super::scene::Voice;
use super::speech::{Chunks, SpeechChunk, Utterance};
#[cfg(feature = "espeak")]
use tokio::sync::mpsc;

/// The engine's synthesizer, ready to speak.
#[derive(Debug)]
pub(crate) enum Synthesizer {
    Tones,
    #[cfg(feature = "espeak")]
    Espeak(&'static super::espeak::Espeak),
}

impl Synthesizer {
    /// Starts the synthesizer `kind` names (the error when it cannot start,
    /// or is not built in).
    pub(crate) fn start(kind: SynthesizerKind) -> Result<Synthesizer, String> {
        match kind {
            SynthesizerKind::Tones => Ok(Synthesizer::Tones),
            #[cfg(feature = "espeak")]
            SynthesizerKind::Espeak => super::espeak::Espeak::shared().map(Synthesizer::Espeak),
            #[cfg(not(feature = "espeak"))]
            SynthesizerKind::Espeak => {
                Err("espeak-ng is not built in: build with `--features espeak`".to_string())
            }
        }
    }

    /// Speaks `text` in `voice` (the tones have one voice only).
    pub(crate) fn say(&self, text: &str, voice: &Voice) -> Spoken {
        match self {
            Synthesizer::Tones => {
                let _ = voice;
                Spoken::Tones(Utterance::new(text).chunks())
            }
            #[cfg(feature = "espeak")]
            Synthesizer::Espeak(espeak) => Spoken::Espeak(espeak.say(text, voice)),
        }
    }
}

/// A line being spoken, chunk by chunk. Dropping it stops the synthesis.
pub(crate) enum Spoken {
    Tones(Chunks),
    #[cfg(feature = "espeak")]
    Espeak(mpsc::UnboundedReceiver<SpeechChunk>),
}

impl Spoken {
    /// The next chunk; `None` after the last.
    pub(crate) async fn next(&mut self) -> Option<SpeechChunk> {
        match self {
            Spoken::Tones(chunks) => chunks.next(),
            #[cfg(feature = "espeak")]
            Spoken::Espeak(chunks) => chunks.recv().await,
        }
    }
}
