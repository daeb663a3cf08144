//! What a session's packets mean to a Godot game, as plain Rust values: the
//! nodes turn them into signal arguments. No Godot types here, so it is
//! tested with `cargo test`.

use inworld::packet::{
    ActorKind, CallKind, ConnectionState, ControlAction, EmotionBehavior, EmotionStrength, Packet,
    PacketBody,
};

/// Who said something: a character (by agent id) or the player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speaker {
    Player,
    Character(String),
    Other,
}

impl Speaker {
    fn of(packet: &Packet) -> Speaker {
        let source = &packet.routing.source;
        match source.kind {
            ActorKind::Player => Speaker::Player,
            ActorKind::Character => Speaker::Character(source.name.as_str().to_string()),
            _ => Speaker::Other,
        }
    }

    /// The agent id, or "" for the player and others.
    pub fn id(&self) -> &str {
        match self {
            Speaker::Character(id) => id,
            _ => "",
        }
    }
}

/// One thing for a signal.
#[derive(Debug, Clone, PartialEq)]
pub enum GameEvent {
    Text {
        speaker: Speaker,
        text: String,
        is_final: bool,
        interaction_id: String,
        /// The conversation it belongs to (the one-to-one's, or a group's
        /// from `start_conversation`).
        conversation_id: String,
    },
    Emotion {
        speaker: Speaker,
        behavior: String,
        strength: String,
    },
    Trigger {
        speaker: Speaker,
        name: String,
        parameters: Vec<(String, String)>,
    },
    Task {
        speaker: Speaker,
        name: String,
        parameters: Vec<(String, String)>,
    },
    NarratedAction {
        speaker: Speaker,
        content: String,
    },
    InteractionEnd {
        interaction_id: String,
        conversation_id: String,
    },
    ConnectionState {
        state: &'static str,
    },
    Error(ErrorInfo),
    /// The scene's characters may have changed (a scene loaded, characters
    /// added or removed): read them again.
    CharactersChanged,
    /// Packets were dropped because nobody drained the session.
    Dropped {
        count: u64,
    },
    /// Something the game sent did not go out.
    NotSent {
        interaction_id: String,
        message: String,
    },
    /// The service's warning: something the game sent was refused or cut
    /// (an item beyond the limits, a text too long).
    Warning {
        message: String,
    },
    /// A like or dislike was recorded; its name undoes it.
    FeedbackRecorded {
        request_id: u64,
        feedback_name: String,
    },
    FeedbackUndone {
        request_id: u64,
    },
    /// The saved state asked for (a later session continues from it), and
    /// the last interaction it includes.
    StateReceived {
        request_id: u64,
        state: Vec<u8>,
        version: String,
    },
    /// A feedback, undo or state request failed at the service.
    CallFailed {
        request_id: u64,
        call: &'static str,
        grpc_code: i32,
        message: String,
    },
}

/// An error with Inworld's details, for the error signal's Dictionary.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorInfo {
    pub message: String,
    pub grpc_code: i32,
    pub will_retry: bool,
    pub error_type: Option<i32>,
    pub max_retries: Option<i32>,
    pub resource_id: Option<String>,
}

/// The event a packet makes, if any (audio, logs and the like make none: the
/// character node plays speech from its own stream).
pub fn event_of(packet: &Packet) -> Option<GameEvent> {
    let speaker = || Speaker::of(packet);
    let interaction_id = || packet.ids.interaction_id.as_str().to_string();
    let conversation_id = || packet.ids.conversation_id.as_str().to_string();
    let pairs = |params: &[inworld::packet::Parameter]| {
        params
            .iter()
            .map(|p| (p.name.as_str().to_string(), p.value.as_str().to_string()))
            .collect()
    };
    Some(match &packet.body {
        PacketBody::Text(t) => GameEvent::Text {
            speaker: speaker(),
            text: t.text.as_str().to_string(),
            is_final: t.is_final,
            interaction_id: interaction_id(),
            conversation_id: conversation_id(),
        },
        PacketBody::Emotion(e) => GameEvent::Emotion {
            speaker: speaker(),
            behavior: behavior_name(e.behavior).to_string(),
            strength: strength_name(e.strength).to_string(),
        },
        PacketBody::Trigger(c) => GameEvent::Trigger {
            speaker: speaker(),
            name: c.name.as_str().to_string(),
            parameters: pairs(&c.parameters),
        },
        PacketBody::Task(c) => GameEvent::Task {
            speaker: speaker(),
            name: c.name.as_str().to_string(),
            parameters: pairs(&c.parameters),
        },
        PacketBody::NarratedAction { content } => GameEvent::NarratedAction {
            speaker: speaker(),
            content: content.as_str().to_string(),
        },
        PacketBody::Control(c) if c.action == ControlAction::InteractionEnd => {
            GameEvent::InteractionEnd {
                interaction_id: interaction_id(),
                conversation_id: conversation_id(),
            }
        }
        PacketBody::Control(c) if c.action == ControlAction::Warning => GameEvent::Warning {
            message: c.description.as_str().to_string(),
        },
        PacketBody::Connection(c) => GameEvent::ConnectionState {
            state: state_name(c.state),
        },
        PacketBody::Error(e) => GameEvent::Error(ErrorInfo {
            message: e.message.as_str().to_string(),
            grpc_code: e.grpc_code,
            will_retry: e.will_retry,
            error_type: e.details.as_ref().map(|d| d.error_type),
            max_retries: e.details.as_ref().map(|d| d.max_retries),
            resource_id: e.details.as_ref().and_then(|d| d.resource_id.clone()),
        }),
        PacketBody::SceneStatus(_) | PacketBody::SceneMutation(_) => GameEvent::CharactersChanged,
        PacketBody::Overflow { dropped } => GameEvent::Dropped { count: *dropped },
        PacketBody::SendFailed(f) => GameEvent::NotSent {
            interaction_id: interaction_id(),
            message: f.message.as_str().to_string(),
        },
        PacketBody::CallResult(r) if r.grpc_code != 0 => GameEvent::CallFailed {
            request_id: r.request_id,
            call: call_name(r.call),
            grpc_code: r.grpc_code,
            message: r.message.as_str().to_string(),
        },
        PacketBody::CallResult(r) => match r.call {
            CallKind::Like | CallKind::Dislike => GameEvent::FeedbackRecorded {
                request_id: r.request_id,
                feedback_name: r.name.as_str().to_string(),
            },
            CallKind::UndoFeedback => GameEvent::FeedbackUndone {
                request_id: r.request_id,
            },
            CallKind::SessionState => GameEvent::StateReceived {
                request_id: r.request_id,
                state: r.data.clone(),
                version: r.version.as_str().to_string(),
            },
        },
        _ => return None,
    })
}

/// The call a result answers, as the call_failed signal names it: the
/// node's method that made it.
pub fn call_name(call: CallKind) -> &'static str {
    match call {
        CallKind::Like => "like",
        CallKind::Dislike => "dislike",
        CallKind::UndoFeedback => "undo_feedback",
        CallKind::SessionState => "request_state",
    }
}

/// "JOY", "NEUTRAL", ... (the wire's names; "UNKNOWN" for others).
pub fn behavior_name(behavior: i32) -> &'static str {
    EmotionBehavior::from_wire(behavior).map_or("UNKNOWN", EmotionBehavior::as_str)
}

/// "WEAK", "NORMAL", "STRONG", ...
pub fn strength_name(strength: i32) -> &'static str {
    EmotionStrength::from_wire(strength).map_or("UNKNOWN", EmotionStrength::as_str)
}

/// The connection state's name for the connection signal.
pub fn state_name(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Connecting => "connecting",
        ConnectionState::Ready => "ready",
        ConnectionState::Reconnecting => "reconnecting",
        ConnectionState::Closed => "closed",
        ConnectionState::Stalled => "stalled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inworld::packet::{
        Actor, CallResult, Control, CustomEvent, Emotion, Parameter, Routing, TextEvent, TextSource,
    };

    fn from(kind: ActorKind, name: &str, body: PacketBody) -> Packet {
        let mut packet = Packet::local(body);
        packet.routing = Routing {
            source: Actor {
                kind,
                name: name.into(),
            },
            target: Actor::default(),
        };
        packet.ids.interaction_id = "i-1".into();
        packet.ids.conversation_id = "c-1".into();
        packet
    }

    #[test]
    fn text_keeps_speaker_final_flag_and_interaction() {
        let text = TextEvent {
            text: "Welcome!".into(),
            is_final: true,
            source: TextSource::Generated,
        };
        let event = event_of(&from(
            ActorKind::Character,
            "marta-id",
            PacketBody::Text(text),
        ));
        assert_eq!(
            event,
            Some(GameEvent::Text {
                speaker: Speaker::Character("marta-id".into()),
                text: "Welcome!".into(),
                is_final: true,
                interaction_id: "i-1".into(),
                conversation_id: "c-1".into(),
            })
        );
        let typed = TextEvent {
            text: "hi".into(),
            is_final: false,
            source: TextSource::TypedIn,
        };
        match event_of(&from(ActorKind::Player, "", PacketBody::Text(typed))) {
            Some(GameEvent::Text {
                speaker: Speaker::Player,
                is_final: false,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn emotions_and_triggers_carry_names_and_parameters() {
        let joy = Emotion {
            behavior: EmotionBehavior::Joy.wire(),
            strength: EmotionStrength::Strong.wire(),
            joy: 0.9,
            fear: 0.0,
            trust: 0.3,
            surprise: 0.1,
        };
        match event_of(&from(ActorKind::Character, "a", PacketBody::Emotion(joy))) {
            Some(GameEvent::Emotion {
                behavior, strength, ..
            }) => {
                assert_eq!((behavior.as_str(), strength.as_str()), ("JOY", "STRONG"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(behavior_name(-5), "UNKNOWN");
        let trigger = CustomEvent {
            name: "greeted".into(),
            parameters: vec![Parameter {
                name: "mood".into(),
                value: "sunny".into(),
            }],
        };
        match event_of(&from(
            ActorKind::Character,
            "a",
            PacketBody::Trigger(trigger),
        )) {
            Some(GameEvent::Trigger {
                name, parameters, ..
            }) => {
                assert_eq!(name, "greeted");
                assert_eq!(parameters, vec![("mood".to_string(), "sunny".to_string())]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_interaction_end_of_controls_is_an_event() {
        let end = Control {
            action: ControlAction::InteractionEnd,
            description: "".into(),
        };
        assert_eq!(
            event_of(&from(ActorKind::Character, "a", PacketBody::Control(end))),
            Some(GameEvent::InteractionEnd {
                interaction_id: "i-1".into(),
                conversation_id: "c-1".into(),
            })
        );
        let start = Control {
            action: ControlAction::AudioSessionStart,
            description: "".into(),
        };
        assert_eq!(
            event_of(&from(ActorKind::Character, "a", PacketBody::Control(start))),
            None
        );
        assert_eq!(
            event_of(&from(
                ActorKind::World,
                "",
                PacketBody::Overflow { dropped: 3 }
            )),
            Some(GameEvent::Dropped { count: 3 })
        );
    }

    #[test]
    fn warnings_are_kept() {
        let warning = Control {
            action: ControlAction::Warning,
            description: "entity items: refused: an item id must have 1 to 128 bytes".into(),
        };
        assert_eq!(
            event_of(&from(ActorKind::World, "", PacketBody::Control(warning))),
            Some(GameEvent::Warning {
                message: "entity items: refused: an item id must have 1 to 128 bytes".into()
            })
        );
    }

    fn call_result(call: CallKind, grpc_code: i32) -> Packet {
        from(
            ActorKind::World,
            "",
            PacketBody::CallResult(CallResult {
                request_id: 7,
                call,
                grpc_code,
                message: if grpc_code == 0 {
                    ""
                } else {
                    "no such interaction"
                }
                .into(),
                name: "workspaces/w/sessions/s/interactions/i-1/groups/default/feedbacks/f-1"
                    .into(),
                data: vec![1, 2, 3],
                version: "i-1".into(),
            }),
        )
    }

    #[test]
    fn call_results_become_feedback_state_or_failure() {
        assert_eq!(
            event_of(&call_result(CallKind::Dislike, 0)),
            Some(GameEvent::FeedbackRecorded {
                request_id: 7,
                feedback_name:
                    "workspaces/w/sessions/s/interactions/i-1/groups/default/feedbacks/f-1".into()
            })
        );
        assert_eq!(
            event_of(&call_result(CallKind::UndoFeedback, 0)),
            Some(GameEvent::FeedbackUndone { request_id: 7 })
        );
        assert_eq!(
            event_of(&call_result(CallKind::SessionState, 0)),
            Some(GameEvent::StateReceived {
                request_id: 7,
                state: vec![1, 2, 3],
                version: "i-1".into()
            })
        );
        assert_eq!(
            event_of(&call_result(CallKind::Like, 5)),
            Some(GameEvent::CallFailed {
                request_id: 7,
                call: "like",
                grpc_code: 5,
                message: "no such interaction".into()
            })
        );
    }
}
