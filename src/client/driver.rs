//! The session's driver task: token, stream, scene load, conversation
//! handshake, pings, reconnects. One task per session on the private runtime.

use super::session::Inner;
use super::{ClientConfig, SentIds};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a send carries; the driver builds the wire packet when it goes out.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Text(String),
    Trigger {
        name: String,
        params: Vec<(String, String)>,
    },
    NarratedAction(String),
}

#[derive(Debug)]
pub(crate) enum Command {
    Send { ids: SentIds, payload: Outgoing },
    CharacterChanged,
}

pub(crate) async fn run(
    inner: Arc<Inner>,
    config: ClientConfig,
    commands: mpsc::Receiver<Command>,
) {
    let _ = (inner, config, commands);
    unimplemented!()
}
