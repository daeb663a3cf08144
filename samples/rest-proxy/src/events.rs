//! Packets as the original proxy's events (JSON objects), with our
//! additions: `interactionEnd`, and the character and interaction id on
//! every event. (The registry adds `resumed`, for a session another
//! instance took over, and `disconnected`.)

use inworld::packet::{
    ActorKind, ControlAction, EmotionBehavior, EmotionStrength, Packet, PacketBody, SendFailure,
};
use serde_json::{json, Map, Value};

/// Who an event belongs to.
#[derive(Debug, Clone)]
pub struct Owner {
    pub session_id: String,
    pub uid: String,
    pub server_id: Option<String>,
}

/// The event object with the fields every event has.
pub fn event(owner: &Owner, kind: &str, mut fields: Map<String, Value>) -> Value {
    fields.insert("type".into(), kind.into());
    fields.insert("sessionId".into(), owner.session_id.clone().into());
    fields.insert("uid".into(), owner.uid.clone().into());
    if let Some(server) = &owner.server_id {
        fields.insert("serverId".into(), server.clone().into());
    }
    Value::Object(fields)
}

/// The event a character's packet makes, if any. The player's own text is
/// not an event; emotions only with EMOTIONS=true. `character` maps an agent
/// id to its resource name.
pub fn event_of(
    packet: &Packet,
    owner: &Owner,
    emotions: bool,
    character: impl Fn(&str) -> Option<String>,
) -> Option<Value> {
    if let Some(failure) = failure_of(packet, owner) {
        return Some(failure);
    }
    let source = &packet.routing.source;
    if source.kind != ActorKind::Character {
        return None;
    }
    let mut fields = Map::new();
    if let Some(name) = character(source.name.as_str()) {
        fields.insert("character".into(), name.into());
    }
    let interaction = packet.ids.interaction_id.as_str();
    if !interaction.is_empty() {
        fields.insert("interactionId".into(), interaction.into());
    }
    let kind = match &packet.body {
        PacketBody::Text(t) => {
            fields.insert("final".into(), t.is_final.into());
            fields.insert("text".into(), t.text.as_str().into());
            "text"
        }
        PacketBody::Emotion(e) if emotions => {
            fields.insert("joy".into(), json!(e.joy));
            fields.insert("fear".into(), json!(e.fear));
            fields.insert("trust".into(), json!(e.trust));
            fields.insert("surprise".into(), json!(e.surprise));
            fields.insert("behavior".into(), behavior_name(e.behavior).into());
            if let Some(strength) = strength_name(e.strength) {
                fields.insert("strength".into(), strength.into());
            }
            "emotion"
        }
        PacketBody::Trigger(c) | PacketBody::Task(c) => {
            fields.insert("name".into(), c.name.as_str().into());
            "custom"
        }
        PacketBody::Control(c) if c.action == ControlAction::InteractionEnd => "interactionEnd",
        _ => return None,
    };
    Some(event(owner, kind, fields))
}

/// The library's reports of what went wrong, as events: `sendFailed` for a
/// message or trigger that did not make it (its interaction id, the
/// `reason` and the `message`), `error` for the session's errors
/// (`willRetry`: the library reconnects by itself).
fn failure_of(packet: &Packet, owner: &Owner) -> Option<Value> {
    let mut fields = Map::new();
    let kind = match &packet.body {
        PacketBody::SendFailed(failed) => {
            let interaction = packet.ids.interaction_id.as_str();
            if !interaction.is_empty() {
                fields.insert("interactionId".into(), interaction.into());
            }
            let reason = match failed.reason {
                SendFailure::NotSent => "notSent",
                SendFailure::MaybeSent => "maybeSent",
                SendFailure::Refused => "refused",
            };
            fields.insert("reason".into(), reason.into());
            fields.insert("message".into(), failed.message.as_str().into());
            "sendFailed"
        }
        PacketBody::Error(error) => {
            fields.insert("message".into(), error.message.as_str().into());
            fields.insert("code".into(), error.grpc_code.into());
            fields.insert("willRetry".into(), error.will_retry.into());
            "error"
        }
        _ => return None,
    };
    Some(event(owner, kind, fields))
}

/// "TenseHumor", ...; an unknown behavior reads as neutral.
fn behavior_name(behavior: i32) -> &'static str {
    EmotionBehavior::from_wire(behavior)
        .unwrap_or(EmotionBehavior::Neutral)
        .pascal_case()
}

/// "Weak" or "Strong"; None for normal (and unspecified), as the original.
fn strength_name(strength: i32) -> Option<&'static str> {
    match EmotionStrength::from_wire(strength)? {
        EmotionStrength::Normal | EmotionStrength::Unspecified => None,
        other => Some(other.pascal_case()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emotion_carries_the_services_numbers_and_names() {
        use inworld::packet::{Actor, Emotion, Routing};
        let mut packet = Packet::local(PacketBody::Emotion(Emotion {
            behavior: EmotionBehavior::TenseHumor.wire(),
            strength: EmotionStrength::Weak.wire(),
            joy: 0.5,
            fear: 0.25,
            trust: 0.75,
            surprise: 0.125,
        }));
        packet.routing = Routing {
            source: Actor {
                kind: ActorKind::Character,
                name: "agent".into(),
            },
            target: Actor::default(),
        };
        let owner = Owner {
            session_id: "ws:1".into(),
            uid: "u".into(),
            server_id: None,
        };
        let event = event_of(&packet, &owner, true, |_| {
            Some("workspaces/ws/characters/c".into())
        })
        .unwrap();
        assert_eq!(
            event,
            json!({"type": "emotion", "sessionId": "ws:1", "uid": "u", "character": "workspaces/ws/characters/c",
                   "joy": 0.5, "fear": 0.25, "trust": 0.75, "surprise": 0.125,
                   "behavior": "TenseHumor", "strength": "Weak"})
        );
        // Without EMOTIONS=true, no event.
        assert_eq!(event_of(&packet, &owner, false, |_| None), None);
    }

    #[test]
    fn names_as_the_original() {
        assert_eq!(
            behavior_name(EmotionBehavior::TenseHumor.wire()),
            "TenseHumor"
        );
        assert_eq!(behavior_name(99), "Neutral");
        assert_eq!(
            strength_name(EmotionStrength::Strong.wire()),
            Some("Strong")
        );
        assert_eq!(strength_name(EmotionStrength::Normal.wire()), None);
    }
}
