//! Failures as the game reads them: one `SessionError` each, with a message
//! that says what happened in words (the status code's name, the root cause
//! of a connection that could not be made, the time limit that passed).

use super::reconnect::Failure;
use crate::client::config::Timeouts;
use crate::packet::SessionError;
use crate::protocol::names::code_name;

/// The error the game gets for `failure`.
pub(super) fn error_of(
    failure: &Failure,
    host: &str,
    t: &Timeouts,
    scene: &str,
    will_retry: bool,
) -> SessionError {
    let (code, message) = match failure {
        Failure::Status(status) => match connect_failure(status) {
            Some(cause) => (
                status.code(),
                format!("cannot connect to {}: {cause}", host),
            ),
            None => (status.code(), status_message(status)),
        },
        Failure::ConnectTimeout => (
            tonic::Code::DeadlineExceeded,
            format!("could not connect to {} within {:?}", host, t.connect),
        ),
        Failure::TokenProviderTimeout => (
            tonic::Code::DeadlineExceeded,
            format!(
                "the game's token provider did not answer within {:?}",
                t.connect
            ),
        ),
        Failure::SceneTimeout => (
            tonic::Code::DeadlineExceeded,
            format!("scene {} did not load within {:?}", scene, t.scene_load),
        ),
        Failure::HandshakeTimeout => (
            tonic::Code::DeadlineExceeded,
            format!(
                "the service did not confirm the conversation within {:?}",
                t.handshake
            ),
        ),
        Failure::Ended => (
            tonic::Code::Unavailable,
            "the service ended the stream".to_string(),
        ),
        Failure::Unresponsive => (
            tonic::Code::Unavailable,
            format!(
                "{} stopped answering (nothing for {:?} while a reply was awaited, \
                     and no answer to two checks of the connection, {:?} each)",
                host, t.stall, t.stall
            ),
        ),
        Failure::Fatal(m) => (tonic::Code::InvalidArgument, m.clone()),
    };
    SessionError {
        grpc_code: code as i32,
        message: message.into(),
        details: match failure {
            Failure::Status(status) => crate::protocol::status::details_of(status),
            _ => None,
        },
        will_retry,
    }
}

/// What the game is told when `frames` of microphone audio (at `rate`)
/// were dropped.
pub(super) fn dropped_audio(frames: u64, rate: u32) -> String {
    format!(
        "{frames} frames ({} ms) of microphone audio were dropped: the audio input was full, or \
         the session could not send them (connecting, reconnecting, or the audio session's start \
         not yet sent)",
        frames * 1000 / u64::from(rate.max(1))
    )
}

/// Whether the service ended the stream because the audio session expired
/// (it carried no audio for too long).
pub(super) fn audio_session_expired(failure: &Failure) -> bool {
    use crate::protocol::status::{details_of, ErrorType};
    matches!(failure, Failure::Status(s)
        if details_of(s).is_some_and(|d| d.error_type == ErrorType::AudioSessionExpired as i32))
}

/// The root cause of a status that says the connection could not be made
/// (tonic reports it as UNAVAILABLE with the connector's error as source).
fn connect_failure(status: &tonic::Status) -> Option<String> {
    if status.code() != tonic::Code::Unavailable || !status.message().contains("connect") {
        return None;
    }
    let mut source = std::error::Error::source(status)?;
    while let Some(next) = source.source() {
        source = next;
    }
    Some(source.to_string())
}

/// A status as the game reads it: `<code> <NAME>: <message>`, with the
/// transport's cause when the message does not already say it.
fn status_message(status: &tonic::Status) -> String {
    let mut message = format!(
        "{} {}: {}",
        status.code() as i32,
        code_name(status.code()),
        status.message()
    );
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_messages_name_the_code_and_say_each_cause_once() {
        let status = tonic::Status::failed_precondition("paused");
        assert_eq!(status_message(&status), "9 FAILED_PRECONDITION: paused");
        let cause = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let status = tonic::Status::from_error(Box::new(cause));
        let message = status_message(&status);
        assert_eq!(message.matches("refused").count(), 1, "{message}");
    }

    #[test]
    fn a_connection_that_cannot_be_made_names_its_root_cause() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("tcp connect error")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let mut status = tonic::Status::unavailable("tcp connect error");
        assert_eq!(connect_failure(&status), None, "no cause, no claim");
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        status.set_source(std::sync::Arc::new(Wrapper(refused)));
        assert_eq!(connect_failure(&status).as_deref(), Some("refused"));
        // Other failures keep their status message.
        let mut other = tonic::Status::unavailable("the engine is stopping");
        other.set_source(std::sync::Arc::new(std::io::Error::other("x")));
        assert_eq!(connect_failure(&other), None);
    }
}
