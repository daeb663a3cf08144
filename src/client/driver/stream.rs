//! Opening one OpenSession stream: the session's metadata, and its first
//! packets written at once, before the service answers (a server may wait
//! for the client's first packet before it sends anything, headers
//! included). It never reconnects by itself: the driver decides that.

use super::reconnect::Failure;
use crate::client::config::SessionToken;
use crate::client::connection::Lease;
use crate::protocol::ai::inworld::packets::InworldPacket;
use tokio::sync::mpsc;

/// An open stream: the writer side, and what the service sends.
pub(crate) struct Stream {
    pub out: mpsc::UnboundedSender<InworldPacket>,
    pub inbound: tonic::Streaming<InworldPacket>,
}

/// Opens a stream for `token`'s session and writes `first` on it.
pub(crate) async fn open(
    lease: &Lease,
    token: &SessionToken,
    first: Vec<InworldPacket>,
) -> Result<Stream, Failure> {
    let (out, rx) = mpsc::unbounded_channel();
    for packet in first {
        // The receiver is alive: it is in `request` below.
        let _ = out.send(packet);
    }
    let mut request = tonic::Request::new(tokio_stream::wrappers::UnboundedReceiverStream::new(rx));
    let metadata = request.metadata_mut();
    metadata.insert(
        "session-id",
        token
            .session_id
            .parse()
            .map_err(|_| Failure::Fatal("the session id is not a valid header value".into()))?,
    );
    metadata.insert(
        "authorization",
        format!("{} {}", token.token_type, token.token)
            .parse()
            .map_err(|_| Failure::Fatal("the session token is not a valid header value".into()))?,
    );
    let response = lease
        .world_engine()
        .open_session(request)
        .await
        .map_err(Failure::Status)?;
    Ok(Stream {
        out,
        inbound: response.into_inner(),
    })
}
