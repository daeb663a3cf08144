//! Each received packet, classified once: what the driver must do about it
//! and what the game gets. PINGs are answered and, like every latency
//! report, never reach the game (as in the Node SDK); a CONVERSATION_UPDATE
//! sent back by the service ends that conversation.

use crate::client::outbound;
use crate::packet::{
    convert, ActorKind, ControlAction, ConversationEventKind, Packet, PacketBody, SceneStatus,
    TextSource,
};
use crate::protocol::ai::inworld::packets::{
    control_event::PayloadStructured, inworld_packet::Packet as Payload, latency_report_event,
    ping_pong_report, InworldPacket,
};

/// What a received packet means for the session. Made and consumed once
/// per packet on the task's stack: boxing the big variants would only add
/// allocations.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Inbound {
    /// A PING: write this PONG at once.
    Answer(InworldPacket),
    /// Any other latency report: not for the game.
    Ignore,
    /// A CONVERSATION_UPDATE sent back: that conversation is inactive.
    UpdateEcho { conversation_id: String },
    /// For the game; `event` is what it means for the session.
    Deliver { packet: Packet, event: Event },
}

#[derive(Debug, PartialEq)]
pub(crate) enum Event {
    None,
    /// The scene (and its characters) as the service now holds it.
    Scene(SceneStatus),
    /// A conversation was started, updated or evicted.
    Conversation {
        id: String,
        kind: ConversationEventKind,
    },
    /// The reply to the input with this interaction id is complete.
    InteractionEnd {
        interaction_id: String,
    },
    /// A warning about the packet with these ids.
    Warning {
        interaction_id: String,
        conversation_id: String,
        description: String,
    },
    /// A character finished saying this (for the transcript).
    CharacterLine(String),
}

pub(crate) fn classify(packet: InworldPacket) -> Inbound {
    match &packet.packet {
        Some(Payload::LatencyReport(report)) => {
            return match &report.report {
                Some(latency_report_event::Report::PingPong(p))
                    if p.r#type == ping_pong_report::Type::Ping as i32 =>
                {
                    Inbound::Answer(outbound::pong(&packet, p))
                }
                _ => Inbound::Ignore,
            };
        }
        Some(Payload::Control(c))
            if matches!(
                c.payload_structured,
                Some(PayloadStructured::ConversationUpdate(_))
            ) =>
        {
            return Inbound::UpdateEcho {
                conversation_id: packet
                    .packet_id
                    .as_ref()
                    .map(|id| id.conversation_id.clone())
                    .unwrap_or_default(),
            };
        }
        _ => {}
    }
    let packet = convert::from_wire(packet);
    let event = match &packet.body {
        PacketBody::SceneStatus(s) => Event::Scene(s.clone()),
        PacketBody::ConversationEvent(e) => Event::Conversation {
            id: packet.ids.conversation_id.to_string(),
            kind: e.kind,
        },
        PacketBody::Control(c) if c.action == ControlAction::InteractionEnd => {
            Event::InteractionEnd {
                interaction_id: packet.ids.interaction_id.to_string(),
            }
        }
        PacketBody::Control(c) if c.action == ControlAction::Warning => Event::Warning {
            interaction_id: packet.ids.interaction_id.to_string(),
            conversation_id: packet.ids.conversation_id.to_string(),
            description: c.description.to_string(),
        },
        PacketBody::Text(t)
            if t.is_final
                && t.source == TextSource::Generated
                && packet.routing.source.kind == ActorKind::Character =>
        {
            Event::CharacterLine(t.text.to_string())
        }
        _ => Event::None,
    };
    Inbound::Deliver { packet, event }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ai::inworld::packets::{
        control_event::Action, ConversationUpdatePayload, LatencyReportEvent, PingPongReport,
    };
    use crate::protocol::packets::{self as build, agent, player, routing, Ids};

    fn latency(kind: ping_pong_report::Type) -> InworldPacket {
        build::packet(
            None,
            &Ids::default(),
            Payload::LatencyReport(LatencyReportEvent {
                report: Some(latency_report_event::Report::PingPong(PingPongReport {
                    r#type: kind as i32,
                    ..Default::default()
                })),
            }),
        )
    }

    #[test]
    fn pings_are_answered_and_other_reports_ignored() {
        assert!(matches!(
            classify(latency(ping_pong_report::Type::Ping)),
            Inbound::Answer(_)
        ));
        assert_eq!(
            classify(latency(ping_pong_report::Type::Pong)),
            Inbound::Ignore
        );
    }

    #[test]
    fn an_update_sent_back_ends_its_conversation() {
        let p = build::packet(
            None,
            &Ids::conversation("c1"),
            build::control(
                Action::ConversationUpdate,
                "",
                Some(PayloadStructured::ConversationUpdate(
                    ConversationUpdatePayload::default(),
                )),
            ),
        );
        assert_eq!(
            classify(p),
            Inbound::UpdateEcho {
                conversation_id: "c1".into()
            }
        );
    }

    #[test]
    fn what_the_game_gets_says_what_it_means() {
        let ids = Ids {
            interaction_id: "i1".into(),
            ..Ids::conversation("c1")
        };
        let end = build::packet(
            Some(routing(agent("a"), Some(player()))),
            &ids,
            build::control(Action::InteractionEnd, "", None),
        );
        let Inbound::Deliver { packet, event } = classify(end) else {
            panic!()
        };
        assert!(matches!(packet.body, PacketBody::Control(_)));
        assert_eq!(
            event,
            Event::InteractionEnd {
                interaction_id: "i1".into()
            }
        );
        let warning = build::packet(
            None,
            &ids,
            build::control(Action::Warning, "no scene is loaded", None),
        );
        let Inbound::Deliver { event, .. } = classify(warning) else {
            panic!()
        };
        assert_eq!(
            event,
            Event::Warning {
                interaction_id: "i1".into(),
                conversation_id: "c1".into(),
                description: "no scene is loaded".into()
            }
        );
    }
}
