//! RunningEngine: binds, serves the three services on a runtime (the host's,
//! or one of its own), and stops.

use super::config::EngineConfig;
use super::connections::{ConnectionStats, Incoming};
use super::feedback::FeedbackService;
use super::shared::EngineShared;
use super::state::StateService;
use super::world_engine::{Authority, WorldEngineService};
use crate::auth::Credentials;
use crate::protocol::ai::inworld::engine::v1::feedback_server::FeedbackServer;
use crate::protocol::ai::inworld::engine::v1::state_serialization_server::StateSerializationServer;
use crate::protocol::ai::inworld::engine::world_engine_server::WorldEngineServer;
use crate::protocol::ai::inworld::packets::InworldPacket;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};
use tokio::sync::watch;
use tonic::codegen::{http, Context, Poll, Service};
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::{Identity, Server, ServerTlsConfig};

/// Worker threads of an engine started with [`RunningEngine::start_dedicated`].
const DEDICATED_WORKERS: usize = 2;
/// How long stopping waits for open streams to end before cutting them.
const STOP_GRACE: Duration = Duration::from_secs(3);

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

/// Marks a stream open on the request's connection for as long as the
/// call runs, so a connection busy with RPCs is never idle.
#[derive(Clone)]
struct CountStreams<S>(S);

impl<S: NamedService> NamedService for CountStreams<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for CountStreams<S>
where
    S: Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tonic::codegen::BoxFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let open = req
            .extensions()
            .get::<super::connections::ConnectionInfo>()
            .map(|c| c.stream_started());
        let call = self.0.call(req);
        Box::pin(async move {
            let response = call.await;
            drop(open);
            response
        })
    }
}

/// A call of a method no service has: UNIMPLEMENTED (as tonic answers),
/// held while the engine is busy (`RunningEngine::busy_with`).
async fn unserved(shared: Arc<EngineShared>) -> http::Response<tonic::body::Body> {
    shared.busy.unserved_call().await;
    let (parts, ()) = tonic::Status::unimplemented("")
        .into_http::<()>()
        .into_parts();
    http::Response::from_parts(parts, tonic::body::Body::empty())
}

/// What serving needs, kept to serve again after [`RunningEngine::suspend`].
struct ServeOptions {
    tls: Option<(Vec<u8>, Vec<u8>)>,
    max_message_bytes: usize,
    connection_idle_timeout: Duration,
}

/// One period of serving: from start or resume to suspend or stop.
struct Serving {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    /// Signalled when the server task ends.
    done: std::sync::mpsc::Receiver<()>,
}

/// Where the engine runs.
enum Host {
    /// The runtime it was started on.
    Shared(Handle),
    /// A runtime of its own (dropped, and so joined, on stop).
    Dedicated(Runtime),
}

impl Host {
    fn handle(&self) -> &Handle {
        match self {
            Host::Shared(h) => h,
            Host::Dedicated(r) => r.handle(),
        }
    }
}

/// A started engine. It stops on [`RunningEngine::stop`] or when dropped.
pub struct RunningEngine {
    addr: SocketAddr,
    credentials: Credentials,
    shared: Arc<EngineShared>,
    stats: Arc<ConnectionStats>,
    options: ServeOptions,
    serving: Mutex<Option<Serving>>,
    /// Ends the session sweeper.
    stopped: watch::Sender<bool>,
    host: Option<Host>,
}

impl RunningEngine {
    /// Binds `config.listen` now (so the port is known on return) and serves
    /// on `runtime`. What the engine does runs on that runtime's threads, with
    /// the host's own tasks; for an engine inside a game, prefer
    /// [`RunningEngine::start_dedicated`].
    pub fn start(config: EngineConfig, runtime: &Handle) -> std::io::Result<RunningEngine> {
        Self::start_on(config, Host::Shared(runtime.clone()))
    }

    /// Like [`RunningEngine::start`], on a runtime of the engine's own (two
    /// worker threads named `inworld-engine`), so nothing the engine does can
    /// stall the host's work. The threads are joined when the engine stops.
    pub fn start_dedicated(config: EngineConfig) -> std::io::Result<RunningEngine> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(DEDICATED_WORKERS)
            .thread_name("inworld-engine")
            .enable_all()
            .build()?;
        Self::start_on(config, Host::Dedicated(runtime))
    }

    fn start_on(config: EngineConfig, host: Host) -> std::io::Result<RunningEngine> {
        let credentials = config.credentials.first().cloned().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the engine needs at least one key/secret pair",
            )
        })?;
        let shared = EngineShared::new(&config)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::Unsupported, e))?;
        let listener = std::net::TcpListener::bind(config.listen)?;
        let addr = listener.local_addr()?;
        let (stopped, mut sweeper_stop) = watch::channel(false);
        let mut engine = RunningEngine {
            addr,
            credentials,
            shared: Arc::new(shared),
            stats: Arc::new(ConnectionStats::default()),
            options: ServeOptions {
                tls: config.tls.clone(),
                max_message_bytes: config.max_message_bytes,
                connection_idle_timeout: config.connection_idle_timeout,
            },
            serving: Mutex::new(None),
            stopped,
            host: None,
        };
        let serving = engine.serve(listener, host.handle())?;
        *engine.serving.lock() = Some(serving);

        let sweeper_shared = engine.shared.clone();
        let period = (config.session_idle_timeout / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(30));
        host.handle().spawn(async move {
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
        engine.host = Some(host);
        log::info!("engine listening on {addr}");
        Ok(engine)
    }

    /// Serves on `listener` until the returned serving is stopped.
    fn serve(&self, listener: std::net::TcpListener, runtime: &Handle) -> std::io::Result<Serving> {
        listener.set_nonblocking(true)?;
        let (stop, stopping) = watch::channel(false);
        let options = &self.options;
        let mut builder = Server::builder().http2_keepalive_interval(Some(Duration::from_secs(30)));
        if let Some((cert, key)) = &options.tls {
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        }
        let world = WorldEngineServer::from_arc(Arc::new(WorldEngineService {
            shared: self.shared.clone(),
            stopping: stopping.clone(),
        }))
        .max_decoding_message_size(options.max_message_bytes);
        let feedback = FeedbackServer::new(FeedbackService {
            shared: self.shared.clone(),
        })
        .max_decoding_message_size(options.max_message_bytes);
        let state = StateSerializationServer::new(StateService {
            shared: self.shared.clone(),
        })
        .max_decoding_message_size(options.max_message_bytes);
        let mut routes = Routes::new(CountStreams(WithAuthority(world)))
            .add_service(CountStreams(feedback))
            .add_service(CountStreams(state));
        let served = std::mem::take(routes.axum_router_mut());
        let shared = self.shared.clone();
        *routes.axum_router_mut() = served.fallback(move || unserved(shared.clone()));
        let router = builder.add_routes(routes);

        let _enter = runtime.enter();
        let incoming = Incoming::new(
            tokio::net::TcpListener::from_std(listener)?,
            self.stats.clone(),
            options.connection_idle_timeout,
        );
        let (done_tx, done) = std::sync::mpsc::channel();
        let mut shutdown = stopping;
        let task = runtime.spawn(async move {
            let signal = async move {
                let _ = shutdown.wait_for(|s| *s).await;
            };
            if let Err(e) = router.serve_with_incoming_shutdown(incoming, signal).await {
                log::error!("engine server failed: {e}");
            }
            let _ = done_tx.send(());
        });
        Ok(Serving { stop, task, done })
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

    /// Expires every session now (an injected fault): open streams end with
    /// SESSION_EXPIRED, as after the idle timeout.
    pub fn expire_sessions(&self) {
        self.shared.sessions.expire_all();
    }

    /// Loses every session but keeps the tokens (an injected fault, as an
    /// engine restarted with its tokens stored elsewhere): a client reopening
    /// its session id finds it empty, with no scene loaded. Use it while
    /// suspended, so no stream holds a session.
    pub fn forget_sessions(&self) {
        self.shared.sessions.forget_all();
    }

    /// Makes the engine busy (an injected fault) until
    /// [`RunningEngine::not_busy`]: session `session_id`'s replies not
    /// begun yet wait, and calls of methods the engine does not serve (a
    /// client's liveness probe) wait for their answer, however long; other
    /// sessions are served, and replies under way go on.
    pub fn busy_with(&self, session_id: &str) {
        self.shared.busy.set(Some(session_id));
    }

    /// Ends [`RunningEngine::busy_with`]: what waited goes on.
    pub fn not_busy(&self) {
        self.shared.busy.set(None);
    }

    /// Calls of methods the engine does not serve received so far (a
    /// client's liveness probes among them).
    pub fn unserved_calls(&self) -> u64 {
        self.shared.busy.unserved_calls()
    }

    /// TCP connections open now.
    pub fn open_connections(&self) -> usize {
        self.stats.open()
    }

    /// TCP connections accepted since the engine started.
    pub fn accepted_connections(&self) -> u64 {
        self.stats.accepted()
    }

    /// Stops serving, as if the engine went away: the port is closed, open
    /// streams end with UNAVAILABLE and connections close. Sessions and
    /// tokens are kept, so clients can carry on after [`RunningEngine::resume`].
    /// Does nothing when not serving.
    pub fn suspend(&self) {
        let serving = self.serving.lock().take();
        if let Some(serving) = serving {
            self.end(serving);
        }
    }

    /// Serves again on the same address after [`RunningEngine::suspend`]
    /// (an error when the port has been taken meanwhile). Does nothing when
    /// serving.
    pub fn resume(&self) -> std::io::Result<()> {
        let mut serving = self.serving.lock();
        if serving.is_some() {
            return Ok(());
        }
        let host = self.host.as_ref().expect("a running engine has a host");
        let listener = std::net::TcpListener::bind(self.addr)?;
        *serving = Some(self.serve(listener, host.handle())?);
        log::info!("engine listening on {} again", self.addr);
        Ok(())
    }

    /// Stops accepting, ends every stream and releases the port; an engine
    /// of its own runtime also joins its threads. Must not be called from a
    /// task of that runtime.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Stops one period of serving and waits (a little) for it to end.
    fn end(&self, serving: Serving) {
        serving.stop.send_replace(true);
        let wait = || {
            if serving.done.recv_timeout(STOP_GRACE).is_err() {
                serving.task.abort();
            }
        };
        match (&self.host, Handle::try_current()) {
            // The engine runs elsewhere: waiting blocks nothing it needs.
            (Some(Host::Dedicated(_)), _) | (_, Err(_)) => wait(),
            // Blocking a current-thread runtime would deadlock it: abort
            // instead, which drops the listener at once.
            (_, Ok(h)) if h.runtime_flavor() == RuntimeFlavor::CurrentThread => {
                serving.task.abort()
            }
            (_, Ok(_)) => tokio::task::block_in_place(wait),
        }
    }

    fn shutdown(&mut self) {
        self.stopped.send_replace(true);
        self.suspend();
        if let Some(Host::Dedicated(runtime)) = self.host.take() {
            // Dropping a runtime waits for its threads, which may not be done
            // inside another runtime: do it on a thread of its own.
            let dropper = std::thread::spawn(move || drop(runtime));
            let join = move || {
                let _ = dropper.join();
            };
            match Handle::try_current() {
                Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                    tokio::task::block_in_place(join)
                }
                _ => join(),
            }
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
            EngineConfig::new(super::super::scene::Workspace::test_scenes()),
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
