//! What the player says and does: text, triggers, narrated actions. Each
//! becomes a reply job, within the limits on what a player may send.

use super::incoming::Incoming;
use crate::engine::limits::{
    MAX_PARAMETER_NAME_BYTES, MAX_PARAMETER_VALUE_BYTES, MAX_TEXT_BYTES, MAX_TRIGGER_NAME_BYTES,
    MAX_TRIGGER_PARAMETERS,
};
use crate::engine::outbound::quoted;
use crate::engine::stream::job::Input;
use crate::protocol::ai::inworld::packets::{
    action_event, custom_event, ActionEvent, CustomEvent, TextEvent,
};

pub(super) async fn text(incoming: &Incoming<'_>, text: TextEvent) {
    if text.text.len() > MAX_TEXT_BYTES {
        incoming
            .warn(format!(
                "text refused: it has {} bytes, at most {MAX_TEXT_BYTES} are accepted",
                text.text.len()
            ))
            .await;
    } else if text.text.trim().is_empty() {
        incoming.warn("empty text").await;
    } else {
        incoming.reply(Input::Text(text.text)).await;
    }
}

/// Why a trigger is refused, if it is.
fn trigger_problem(custom: &CustomEvent) -> Option<String> {
    if custom.r#type == custom_event::Type::Task as i32 {
        return Some(format!(
            "a player cannot send the task {}",
            quoted(&custom.name)
        ));
    }
    if custom.name.is_empty() {
        return Some("trigger without a name".into());
    }
    if custom.name.len() > MAX_TRIGGER_NAME_BYTES {
        return Some(format!(
            "trigger refused: its name has {} bytes, at most {MAX_TRIGGER_NAME_BYTES} are accepted",
            custom.name.len()
        ));
    }
    if custom.parameters.len() > MAX_TRIGGER_PARAMETERS {
        return Some(format!(
            "trigger {} refused: it has {} parameters, at most {MAX_TRIGGER_PARAMETERS} are accepted",
            quoted(&custom.name),
            custom.parameters.len()
        ));
    }
    let too_long = custom.parameters.iter().find(|p| {
        p.name.len() > MAX_PARAMETER_NAME_BYTES || p.value.len() > MAX_PARAMETER_VALUE_BYTES
    })?;
    Some(format!(
        "trigger {} refused: parameter names may have at most {MAX_PARAMETER_NAME_BYTES} bytes and values at most {MAX_PARAMETER_VALUE_BYTES} (parameter of {} + {} bytes)",
        quoted(&custom.name),
        too_long.name.len(),
        too_long.value.len()
    ))
}

pub(super) async fn custom(incoming: &Incoming<'_>, custom: CustomEvent) {
    if let Some(problem) = trigger_problem(&custom) {
        incoming.warn(problem).await;
        return;
    }
    let params = custom
        .parameters
        .into_iter()
        .map(|p| (p.name, p.value))
        .collect();
    incoming
        .reply(Input::Trigger {
            name: custom.name,
            params,
        })
        .await;
}

pub(super) async fn action(incoming: &Incoming<'_>, action: ActionEvent) {
    match action.action {
        Some(action_event::Action::NarratedAction(n)) if n.content.len() > MAX_TEXT_BYTES => {
            incoming
                .warn(format!(
                    "narrated action refused: it has {} bytes, at most {MAX_TEXT_BYTES} are accepted",
                    n.content.len()
                ))
                .await
        }
        Some(action_event::Action::NarratedAction(n)) if !n.content.trim().is_empty() => {
            incoming.reply(Input::Action(n.content)).await
        }
        _ => incoming.warn("empty action").await,
    }
}
