//! RunningEngine: binds, serves the three services on a given runtime, and stops.

use super::config::EngineConfig;
use super::feedback::FeedbackService;
use super::shared::Shared;
use super::state::StateService;
use super::world_engine::{Authority, WorldEngineService};
use crate::auth::Credentials;
use crate::protocol::ai::inworld::engine::v1::feedback_server::FeedbackServer;
use crate::protocol::ai::inworld::engine::v1::state_serialization_server::StateSerializationServer;
use crate::protocol::ai::inworld::engine::world_engine_server::WorldEngineServer;
use crate::protocol::ai::inworld::packets::InworldPacket;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tonic::codegen::{http, Context, Poll, Service};
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

/// Copies the request's `:authority` into its extensions: GenerateToken's
/// signature covers the host the client dialled.
#[derive(Clone)]
struct WithAuthority<S>(S);

impl<S: NamedService> NamedService for WithAuthority<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for WithAuthority<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        if let Some(authority) = req.uri().authority().map(|a| a.to_string()) {
            req.extensions_mut().insert(Authority(authority));
        }
        self.0.call(req)
    }
}

/// A started engine. It stops on [`RunningEngine::stop`] or when dropped.
pub struct RunningEngine {
    addr: SocketAddr,
    credentials: Credentials,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// Signalled when the server task ends (a Mutex keeps RunningEngine Sync).
    done: Option<parking_lot::Mutex<std::sync::mpsc::Receiver<()>>>,
}

impl RunningEngine {
    /// Binds `config.listen` now (so the port is known on return) and serves on `runtime`.
    pub fn start(
        config: EngineConfig,
        runtime: &tokio::runtime::Handle,
    ) -> std::io::Result<RunningEngine> {
        let credentials = config.credentials.first().cloned().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the engine needs at least one key/secret pair",
            )
        })?;
        let listener = std::net::TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopping) = watch::channel(false);
        let shared = Arc::new(Shared::new(&config, stopping.clone()));

        let mut builder = Server::builder()
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(Duration::from_secs(30)));
        if let Some((cert, key)) = &config.tls {
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        }
        let world = WorldEngineServer::from_arc(Arc::new(WorldEngineService {
            shared: shared.clone(),
        }))
        .max_decoding_message_size(config.max_message_bytes);
        let feedback = FeedbackServer::new(FeedbackService {
            shared: shared.clone(),
        })
        .max_decoding_message_size(config.max_message_bytes);
        let state = StateSerializationServer::new(StateService {
            shared: shared.clone(),
        })
        .max_decoding_message_size(config.max_message_bytes);
        let router = builder
            .add_service(WithAuthority(world))
            .add_service(feedback)
            .add_service(state);

        let _enter = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let (done_tx, done) = std::sync::mpsc::channel();
        let mut shutdown = stopping.clone();
        let server = runtime.spawn(async move {
            let signal = async move {
                let _ = shutdown.wait_for(|s| *s).await;
            };
            if let Err(e) = router.serve_with_incoming_shutdown(incoming, signal).await {
                log::error!("engine server failed: {e}");
            }
            let _ = done_tx.send(());
        });

        let sweeper_shared = shared.clone();
        let mut sweeper_stop = stopping;
        let period = (config.session_idle_timeout / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(30));
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = sweeper_stop.wait_for(|s| *s) => break,
                    _ = tick.tick() => {
                        sweeper_shared.sessions.sweep();
                        sweeper_shared.tokens.purge();
                    }
                }
            }
        });
        log::info!("engine listening on {addr}");
        Ok(RunningEngine {
            addr,
            credentials,
            shared,
            stop,
            server: Some(server),
            done: Some(parking_lot::Mutex::new(done)),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first configured key/secret pair.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Every client packet received so far, with its session id, in order
    /// (empty unless `EngineConfig::record` is set).
    pub fn received_packets(&self) -> Vec<(String, InworldPacket)> {
        self.shared
            .recorded
            .as_ref()
            .map(|r| r.lock().clone())
            .unwrap_or_default()
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.len()
    }

    /// Stops accepting, ends every stream and releases the port.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.send_replace(true);
        let (Some(server), Some(done)) = (self.server.take(), self.done.take()) else {
            return;
        };
        let wait = || {
            if done.lock().recv_timeout(Duration::from_secs(3)).is_err() {
                server.abort();
            }
        };
        match tokio::runtime::Handle::try_current() {
            // Blocking a current-thread runtime would deadlock it: abort instead,
            // which drops the listener at once.
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread => {
                server.abort()
            }
            Ok(_) => tokio::task::block_in_place(wait),
            Err(_) => wait(),
        }
    }
}

impl Drop for RunningEngine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_engine_can_be_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<RunningEngine>();
    }

    #[test]
    fn start_binds_before_returning_and_stop_outside_a_runtime_works() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let engine = RunningEngine::start(
            EngineConfig::new(super::super::Workspace::test_scenes()),
            runtime.handle(),
        )
        .unwrap();
        let addr = engine.addr();
        assert_ne!(addr.port(), 0);
        assert!(std::net::TcpStream::connect(addr).is_ok());
        engine.stop();
        assert!(std::net::TcpListener::bind(addr).is_ok(), "port released");
    }
}
