//! Audio sessions: AUDIO_SESSION_START, audio chunks, AUDIO_SESSION_END. The
//! audio is measured as it comes and none of it is kept; a loud enough
//! session is "recognised" as the scene's transcript and answered like text.

use super::incoming::Incoming;
use crate::engine::limits::MAX_AUDIO_SESSION_BYTES;
use crate::engine::outbound;
use crate::engine::sessions::AudioCapture;
use crate::engine::stream::job::Input;
use crate::protocol::ai::inworld::packets::{data_chunk, DataChunk};

/// Mean absolute amplitude below which an audio session is silence.
const SILENCE: f64 = 50.0;

pub(super) async fn start(incoming: &Incoming<'_>) {
    let already = {
        let mut memory = incoming.ctx.session.memory.lock();
        memory
            .audio
            .replace(AudioCapture {
                conversation_id: incoming.ids.conversation_id.clone(),
                ..AudioCapture::default()
            })
            .is_some()
    };
    if already {
        incoming
            .warn("an audio session was already open; it was restarted")
            .await;
    }
}

pub(super) async fn data_chunk(incoming: &Incoming<'_>, chunk: DataChunk) {
    if chunk.r#type != data_chunk::DataType::Audio as i32 {
        incoming
            .warn(format!("unsupported data chunk type {}", chunk.r#type))
            .await;
        return;
    }
    let bytes = match chunk.data {
        Some(data_chunk::Data::Chunk(b)) => b,
        _ => Vec::new(),
    };
    let problem = {
        let mut memory = incoming.ctx.session.memory.lock();
        match memory.audio.as_mut() {
            None => Some(
                "audio chunk outside an audio session: send AUDIO_SESSION_START first".to_string(),
            ),
            Some(a) if a.meter.bytes + bytes.len() > MAX_AUDIO_SESSION_BYTES => {
                // Told once per audio session; later chunks are dropped quietly.
                (!std::mem::replace(&mut a.over_limit, true)).then(|| {
                    format!(
                        "audio session longer than 3 minutes ({MAX_AUDIO_SESSION_BYTES} bytes of 16 kHz 16-bit mono): this chunk and the rest of the session are dropped"
                    )
                })
            }
            Some(a) => {
                a.meter.add(&bytes);
                None
            }
        }
    };
    if let Some(p) = problem {
        incoming.warn(p).await;
    }
}

pub(super) async fn end(incoming: &Incoming<'_>) {
    let ctx = incoming.ctx;
    let capture = ctx.session.memory.lock().audio.take();
    let Some(mut capture) = capture else {
        incoming
            .warn("AUDIO_SESSION_END without AUDIO_SESSION_START")
            .await;
        return;
    };
    if capture.meter.loudness() < SILENCE {
        log::debug!("session {}: silent audio session", ctx.session.id);
        incoming
            .warn("no speech recognised in the audio session")
            .await;
        return;
    }
    let mut ids = incoming.ids.clone();
    if ids.conversation_id.is_empty() {
        ids.conversation_id = capture.conversation_id;
    }
    ids.interaction_id = outbound::new_id();
    let transcript = ctx.shared.workspace.speech.transcript.clone();
    incoming.reply_with(Input::Speech(transcript), ids).await;
}
