//! Latency reports: the PONG to the engine's PING, perceived latency.

use super::incoming::Incoming;
use crate::protocol::ai::inworld::packets::{
    latency_report_event, ping_pong_report, LatencyReportEvent,
};

pub(super) async fn report(incoming: &Incoming<'_>, report: LatencyReportEvent) {
    let session = &incoming.ctx.session.id;
    match report.report {
        Some(latency_report_event::Report::PingPong(p))
            if p.r#type == ping_pong_report::Type::Pong as i32 =>
        {
            let id = p.ping_packet_id.map(|i| i.packet_id).unwrap_or_default();
            if let Some(rtt) = incoming.ctx.pong(&id) {
                log::debug!("session {session}: ping round trip {rtt:?}");
            }
        }
        Some(latency_report_event::Report::PerceivedLatency(p)) => {
            log::debug!("session {session}: perceived latency {:?}", p.latency);
        }
        _ => incoming.warn("unexpected latency report").await,
    }
}
