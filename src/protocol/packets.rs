//! The pieces of an `InworldPacket` both sides build: actors, routing, ids,
//! timestamps, control events. Every packet leaves with a timestamp and a
//! fresh packet id: the Node SDK crashes on a packet without them.

use super::ai::inworld::packets::{
    actor, control_event, inworld_packet, Actor, ControlEvent, InworldPacket, PacketId, Routing,
};

/// Now, at millisecond precision (as a JavaScript `Date` gives it).
pub fn now() -> prost_types::Timestamp {
    let ms = chrono::Utc::now().timestamp_millis();
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// Milliseconds since the Unix epoch of a wire timestamp.
pub fn timestamp_ms(ts: &prost_types::Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos) / 1_000_000)
}

/// A fresh id (UUID v4), as the SDK makes them.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn actor(kind: actor::Type, name: &str) -> Actor {
    Actor {
        r#type: kind as i32,
        name: name.to_string(),
    }
}

pub fn player() -> Actor {
    actor(actor::Type::Player, "")
}

pub fn world() -> Actor {
    actor(actor::Type::World, "")
}

/// A character, by agent id.
pub fn agent(agent_id: &str) -> Actor {
    actor(actor::Type::Agent, agent_id)
}

pub fn routing(source: Actor, target: Option<Actor>) -> Routing {
    Routing {
        source: Some(source),
        target,
        targets: Vec::new(),
    }
}

/// The ids a packet carries besides its own packet id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids {
    pub utterance_id: String,
    pub interaction_id: String,
    pub correlation_id: String,
    pub conversation_id: String,
}

impl Ids {
    /// Only a conversation id (conversation events, handshakes).
    pub fn conversation(conversation_id: &str) -> Self {
        Ids {
            conversation_id: conversation_id.to_string(),
            ..Ids::default()
        }
    }

    /// The ids of a received packet (its own packet id left out).
    pub fn of(packet: &InworldPacket) -> Self {
        let id = packet.packet_id.clone().unwrap_or_default();
        Ids {
            utterance_id: id.utterance_id,
            interaction_id: id.interaction_id,
            correlation_id: id.correlation_id,
            conversation_id: id.conversation_id,
        }
    }

    /// These ids under the packet id `packet_id`.
    pub fn with_packet_id(&self, packet_id: String) -> PacketId {
        PacketId {
            packet_id,
            utterance_id: self.utterance_id.clone(),
            interaction_id: self.interaction_id.clone(),
            correlation_id: self.correlation_id.clone(),
            conversation_id: self.conversation_id.clone(),
        }
    }
}

/// A packet stamped now, with `ids` under a fresh packet id.
pub fn packet(routing: Option<Routing>, ids: &Ids, body: inworld_packet::Packet) -> InworldPacket {
    packet_with_id(routing, ids.with_packet_id(new_id()), body)
}

/// A packet stamped now, with the given packet id.
pub fn packet_with_id(
    routing: Option<Routing>,
    packet_id: PacketId,
    body: inworld_packet::Packet,
) -> InworldPacket {
    InworldPacket {
        timestamp: Some(now()),
        routing,
        packet_id: Some(packet_id),
        packet: Some(body),
    }
}

/// A control event body.
pub fn control(
    action: control_event::Action,
    description: &str,
    payload: Option<control_event::PayloadStructured>,
) -> inworld_packet::Packet {
    inworld_packet::Packet::Control(ControlEvent {
        action: action as i32,
        description: description.to_string(),
        payload: None,
        payload_structured: payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_millisecond_precision() {
        let ts = now();
        assert_eq!(ts.nanos % 1_000_000, 0);
        assert!(ts.seconds > 1_700_000_000);
        assert_eq!(timestamp_ms(&ts) / 1000, ts.seconds);
    }

    #[test]
    fn packets_get_a_fresh_id_and_keep_the_others() {
        let ids = Ids {
            interaction_id: "i".into(),
            ..Ids::conversation("c")
        };
        let a = packet(
            None,
            &ids,
            control(control_event::Action::Warning, "x", None),
        );
        let b = packet(
            None,
            &ids,
            control(control_event::Action::Warning, "x", None),
        );
        let (a, b) = (a.packet_id.unwrap(), b.packet_id.unwrap());
        assert_ne!(a.packet_id, b.packet_id);
        assert_eq!(
            (a.interaction_id.as_str(), a.conversation_id.as_str()),
            ("i", "c")
        );
        assert!(a.utterance_id.is_empty());
    }
}
