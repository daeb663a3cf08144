//! The client's connections to the service: HTTP/2 channels shared by its
//! sessions (each carries up to [`STREAMS_PER_CONNECTION`] sessions, since
//! servers commonly allow 100 concurrent streams), dialled lazily, with
//! HTTP/2 keepalive so a dead service is noticed, a probe for a session that
//! cannot wait for keepalive, and the GenerateToken call.

use super::config::{ClientConfig, SessionToken};
use crate::auth::Credentials;
use crate::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
use crate::protocol::ai::inworld::engine::GenerateTokenRequest;
use crate::protocol::names::workspace_name;
use parking_lot::Mutex;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// Sessions per HTTP/2 connection; more sessions open more connections.
pub(crate) const STREAMS_PER_CONNECTION: usize = 100;

/// Why a call to the service failed before a stream was open.
#[derive(Debug)]
pub(crate) enum CallError {
    /// A gRPC status from the service or the transport.
    Status(tonic::Status),
    /// A value that cannot be sent (bad header value, ...): retrying cannot help.
    Fatal(String),
}

struct Slot {
    channel: Channel,
    /// Packets its streams received (see [`Lease::probe`]).
    carried: Arc<AtomicU64>,
    sessions: usize,
    /// Bumped each time the channel is replaced by a fresh one.
    generation: u64,
}

/// The channels of one client.
pub(crate) struct Connections {
    endpoint: Endpoint,
    max_receive_message_bytes: usize,
    slots: Mutex<Vec<Slot>>,
}

/// A session's share of a channel: released when the session ends.
pub(crate) struct Lease {
    connections: Arc<Connections>,
    index: usize,
    channel: Channel,
    carried: Arc<AtomicU64>,
    generation: u64,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(slot) = self.connections.slots.lock().get_mut(self.index) {
            slot.sessions -= 1;
        }
    }
}

impl Lease {
    pub(crate) fn world_engine(&self) -> WorldEngineClient<Channel> {
        WorldEngineClient::new(self.channel.clone())
            .max_decoding_message_size(self.connections.max_receive_message_bytes)
    }

    /// The channel (for unary calls).
    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A raw gRPC client on the channel, for calls made with our own codec.
    pub(crate) fn grpc(&self) -> tonic::client::Grpc<Channel> {
        tonic::client::Grpc::new(self.channel.clone())
            .max_decoding_message_size(self.connections.max_receive_message_bytes)
    }

    /// What counts the packets this connection's streams receive (every
    /// session on it counts there).
    pub(crate) fn carried(&self) -> Arc<AtomicU64> {
        self.carried.clone()
    }

    /// Whether the connection answers within `limit`: a call of a method no
    /// service has, which a live gRPC server answers at once (UNIMPLEMENTED)
    /// and a dead or stopped one never answers; or packets for any session
    /// on the connection arrive meanwhile (a service busy with thousands of
    /// sessions can be slow to answer the call, but it is not dead). HTTP/2
    /// keepalive finds a dead connection too, but only after its interval,
    /// which is long so that idle sessions cost little.
    pub(crate) fn probe(&self, limit: Duration) -> impl Future<Output = bool> + Send + 'static {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        let carried = self.carried.clone();
        let carried_before = carried.load(Ordering::Acquire);
        async move {
            let call = async {
                grpc.ready().await.ok()?;
                let path = PathAndQuery::from_static(PROBE_PATH);
                let answer = grpc
                    .unary(
                        tonic::Request::new(()),
                        path,
                        tonic_prost::ProstCodec::<(), ()>::default(),
                    )
                    .await;
                match answer {
                    Ok(_) => Some(()),
                    Err(status) if status.code() == tonic::Code::Unavailable => None,
                    Err(_) => Some(()),
                }
            };
            let answered = matches!(tokio::time::timeout(limit, call).await, Ok(Some(())));
            answered || carried.load(Ordering::Acquire) != carried_before
        }
    }

    /// Replaces the channel by a fresh one (a new connection on next use):
    /// the present connection is dead. Sessions sharing it that find out
    /// later take the fresh one rather than dialling again.
    pub(crate) fn redial(&mut self) {
        let mut slots = self.connections.slots.lock();
        let slot = &mut slots[self.index];
        if slot.generation == self.generation {
            slot.channel = self.connections.endpoint.connect_lazy();
            slot.carried = Arc::default();
            slot.generation += 1;
        }
        self.channel = slot.channel.clone();
        self.carried = slot.carried.clone();
        self.generation = slot.generation;
    }
}

/// A method no service has: see [`Lease::probe`].
const PROBE_PATH: &str = "/inworld.native.Liveness/Probe";

impl Connections {
    /// Prepares the endpoint (TLS per the config, rustls with the webpki
    /// roots plus any extra roots); nothing is dialled yet.
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, String> {
        let tls = config.use_tls();
        let scheme = if tls { "https" } else { "http" };
        let t = &config.timeouts;
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", config.host))
            .map_err(|e| format!("bad host {:?}: {e}", config.host))?
            .connect_timeout(t.connect)
            .tcp_nodelay(true);
        if !t.keepalive_interval.is_zero() {
            endpoint = endpoint
                .http2_keep_alive_interval(t.keepalive_interval)
                .keep_alive_timeout(t.keepalive_timeout)
                .keep_alive_while_idle(true);
        }
        if tls {
            let (host, _) = super::config::split_host_port(&config.host)
                .ok_or_else(|| format!("bad host {:?}", config.host))?;
            let mut tls_config = ClientTlsConfig::new()
                .with_webpki_roots()
                .domain_name(host.to_string());
            if !config.extra_root_certs_pem.is_empty() {
                tls_config =
                    tls_config.ca_certificate(Certificate::from_pem(&config.extra_root_certs_pem));
            }
            endpoint = endpoint
                .tls_config(tls_config)
                .map_err(|e| format!("TLS configuration: {e}"))?;
        }
        Ok(Connections {
            endpoint,
            max_receive_message_bytes: config.max_receive_message_bytes,
            slots: Mutex::new(Vec::new()),
        })
    }

    /// A channel with room for one more session: the first that has room,
    /// or a new one (dialled on first use, its worker on `runtime`).
    pub(crate) fn lease(self: &Arc<Self>, runtime: &tokio::runtime::Handle) -> Lease {
        let mut slots = self.slots.lock();
        let index = match slots
            .iter()
            .position(|s| s.sessions < STREAMS_PER_CONNECTION)
        {
            Some(i) => i,
            None => {
                let _enter = runtime.enter();
                slots.push(Slot {
                    channel: self.endpoint.connect_lazy(),
                    carried: Arc::default(),
                    sessions: 0,
                    generation: 0,
                });
                slots.len() - 1
            }
        };
        slots[index].sessions += 1;
        Lease {
            connections: self.clone(),
            index,
            channel: slots[index].channel.clone(),
            carried: slots[index].carried.clone(),
            generation: slots[index].generation,
        }
    }

    /// Channels made so far (each is at most one connection at a time).
    pub(crate) fn channel_count(&self) -> usize {
        self.slots.lock().len()
    }
}

/// Asks the service for a session token for `workspace`, signed with the
/// IW1 header for `host`. `session_id` keeps the session across refreshes:
/// the token names it.
pub(crate) async fn generate_token(
    lease: &Lease,
    credentials: &Credentials,
    host: &str,
    workspace: &str,
) -> Result<SessionToken, CallError> {
    let mut request = tonic::Request::new(GenerateTokenRequest {
        key: credentials.key.clone(),
        resources: vec![workspace_name(workspace)],
    });
    let header = crate::auth::authorization_header(credentials, host);
    request.metadata_mut().insert(
        "authorization",
        header
            .parse()
            .map_err(|_| CallError::Fatal("the API key is not a valid header value".into()))?,
    );
    let access = lease
        .world_engine()
        .generate_token(request)
        .await
        .map_err(CallError::Status)?
        .into_inner();
    let expires_at = access
        .expiration_time
        .and_then(crate::protocol::status::system_time_from)
        .ok_or_else(|| CallError::Fatal("the service's token has no expiration time".into()))?;
    Ok(SessionToken {
        token: access.token,
        token_type: access.r#type,
        session_id: access.session_id,
        expires_at,
    })
}
