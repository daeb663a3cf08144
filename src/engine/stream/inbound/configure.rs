//! Session configuration: capabilities, the player's name, a continuation;
//! in the current style (a control event) or the older one (SessionControl).

use super::incoming::Incoming;
use crate::engine::limits::{truncated, MAX_USER_NAME_BYTES};
use crate::engine::state::apply_continuation;
use crate::protocol::ai::inworld::packets::{
    session_control_event::SessionControl, SessionConfigurationPayload, SessionControlEvent,
};

pub(super) async fn configure(incoming: &Incoming<'_>, payload: SessionConfigurationPayload) {
    let ctx = incoming.ctx;
    let problem = {
        let mut memory = ctx.session.memory.lock();
        if let Some(c) = payload.capabilities_configuration {
            memory.capabilities = c;
        }
        if let Some(u) = payload.user_configuration {
            if !u.name.is_empty() {
                memory.user_name = truncated(&u.name, MAX_USER_NAME_BYTES).to_string();
            }
        }
        payload
            .continuation
            .and_then(|c| apply_continuation(&ctx.session.workspace, &mut memory, &c).err())
    };
    if let Some(p) = problem {
        incoming.warn(format!("continuation ignored: {p}")).await;
    }
}

/// The older configuration style: one part of the configuration per packet.
fn payload_of(control: SessionControl) -> Option<SessionConfigurationPayload> {
    let mut payload = SessionConfigurationPayload::default();
    match control {
        SessionControl::SessionConfiguration(c) => payload.session_configuration = Some(c),
        SessionControl::UserConfiguration(c) => payload.user_configuration = Some(c),
        SessionControl::ClientConfiguration(c) => payload.client_configuration = Some(c),
        SessionControl::CapabilitiesConfiguration(c) => {
            payload.capabilities_configuration = Some(c)
        }
        SessionControl::Continuation(c) => payload.continuation = Some(c),
        SessionControl::SessionConfigurationPayload(p) => payload = p,
        SessionControl::SessionHistoryRequest(_) => return None,
    }
    Some(payload)
}

pub(super) async fn session_control(incoming: &Incoming<'_>, control: SessionControlEvent) {
    match control.session_control.map(payload_of) {
        Some(Some(payload)) => configure(incoming, payload).await,
        Some(None) => {
            incoming
                .warn("session history requests are not supported")
                .await
        }
        None => incoming.warn("empty session control").await,
    }
}
