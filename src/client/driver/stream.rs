//! Opening one OpenSession stream: the session's metadata, and its first
//! packets written at once, before the service answers (a server may wait
//! for the client's first packet before it sends anything, headers
//! included). It never reconnects by itself: the driver decides that.
//!
//! Packets wait to be written boxed, and the stream's codec buffers start
//! small and grow with the messages: an idle session holds little memory.

use super::reconnect::Failure;
use crate::client::config::SessionToken;
use crate::client::connection::Lease;
use crate::protocol::ai::inworld::packets::InworldPacket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};

/// An open stream: the writer side, and what the service sends.
pub(crate) struct Stream {
    pub out: mpsc::UnboundedSender<Box<InworldPacket>>,
    pub inbound: tonic::Streaming<InworldPacket>,
}

/// Initial size of a stream's encode and decode buffers (tonic's default
/// is 8 KiB each; most packets are far smaller and buffers grow on demand).
const CODEC_BUFFER: usize = 1024;
/// Encoded bytes after which the encoder yields (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

/// Prost's codec with small starting buffers; counts the packets received
/// on the connection (`carried`: a busy service's packets to other
/// sessions show the connection alive).
#[derive(Debug, Default, Clone)]
struct SmallBuffers {
    carried: Arc<AtomicU64>,
}

/// Prost's decoder, counting what it decodes.
struct CountingDecoder {
    inner: <Prost as Codec>::Decoder,
    carried: Arc<AtomicU64>,
}

impl Decoder for CountingDecoder {
    type Item = InworldPacket;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        let decoded = self.inner.decode(src)?;
        if decoded.is_some() {
            self.carried.fetch_add(1, Ordering::AcqRel);
        }
        Ok(decoded)
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.inner.buffer_settings()
    }
}

type Prost = tonic_prost::ProstCodec<InworldPacket, InworldPacket>;

impl Codec for SmallBuffers {
    type Encode = InworldPacket;
    type Decode = InworldPacket;
    type Encoder = <Prost as Codec>::Encoder;
    type Decoder = CountingDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        Prost::raw_encoder(BufferSettings::new(CODEC_BUFFER, YIELD_THRESHOLD))
    }

    fn decoder(&mut self) -> Self::Decoder {
        CountingDecoder {
            inner: Prost::raw_decoder(BufferSettings::new(CODEC_BUFFER, YIELD_THRESHOLD)),
            carried: self.carried.clone(),
        }
    }
}

/// Opens a stream for `token`'s session and writes `first` on it.
pub(crate) async fn open(
    lease: &Lease,
    token: &SessionToken,
    first: Vec<InworldPacket>,
) -> Result<Stream, Failure> {
    let (out, rx) = mpsc::unbounded_channel::<Box<InworldPacket>>();
    for packet in first {
        // The receiver is alive: it is in `request` below.
        let _ = out.send(Box::new(packet));
    }
    let mut request = tonic::Request::new(
        tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(|packet| *packet),
    );
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
    request.extensions_mut().insert(tonic::GrpcMethod::new(
        "ai.inworld.engine.WorldEngine",
        "OpenSession",
    ));
    let mut grpc = lease.grpc();
    grpc.ready().await.map_err(|e| {
        Failure::Status(tonic::Status::unavailable(format!(
            "the connection is not ready: {e}"
        )))
    })?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/ai.inworld.engine.WorldEngine/OpenSession",
    );
    let response = grpc
        .streaming(
            request,
            path,
            SmallBuffers {
                carried: lease.carried(),
            },
        )
        .await
        .map_err(Failure::Status)?;
    Ok(Stream {
        out,
        inbound: response.into_inner(),
    })
}
