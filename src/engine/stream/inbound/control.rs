//! Control events from the client: session configuration, conversation
//! updates, audio sessions, playback mute.

use super::incoming::Incoming;
use super::{audio, configure, conversation};
use crate::protocol::ai::inworld::packets::{control_event, ControlEvent};
use tonic::Status;

/// `Err` ends the stream with that status.
pub(super) async fn control(incoming: &Incoming<'_>, control: ControlEvent) -> Result<(), Status> {
    use control_event::{Action, PayloadStructured};
    let action = Action::try_from(control.action).unwrap_or(Action::Unknown);
    match (action, control.payload_structured) {
        (Action::SessionConfiguration, Some(PayloadStructured::SessionConfiguration(p))) => {
            configure::configure(incoming, p).await;
        }
        (Action::SessionConfiguration, _) => {
            // A scene change may come with an empty configuration.
        }
        (Action::ConversationUpdate, payload) => {
            let participants = match payload {
                Some(PayloadStructured::ConversationUpdate(u)) => u.participants,
                _ => Vec::new(),
            };
            conversation::update(incoming, participants).await;
        }
        (Action::AudioSessionStart, payload) => {
            let payload = match payload {
                Some(PayloadStructured::AudioSessionStart(p)) => Some(p),
                _ => None,
            };
            audio::start(incoming, payload).await?;
        }
        (Action::AudioSessionEnd, _) => audio::end(incoming).await,
        (Action::TtsPlaybackMute, _) => incoming.ctx.session.memory.lock().muted = true,
        (Action::TtsPlaybackUnmute, _) => incoming.ctx.session.memory.lock().muted = false,
        (Action::TtsPlaybackStart | Action::TtsPlaybackEnd, _) => {}
        (other, _) => {
            incoming
                .warn(format!(
                    "control action {} is not accepted from clients",
                    other.as_str_name()
                ))
                .await;
        }
    }
    Ok(())
}
