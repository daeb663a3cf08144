//! The REST proxy: Inworld characters over plain HTTP for game servers that
//! cannot hold a gRPC stream, with the routes of Inworld's Node.js "RESTful
//! API Proxy", on the inworld library's sessions (one connection pool for
//! every player).
//!
//! `config` reads the environment; `validate` checks bodies as the original;
//! `events` turns packets into its events; `registry` holds the sessions and
//! their bounded event queues; `routes` is the HTTP layer over it; `metrics`
//! counts requests and writes the access log; `server` accepts connections
//! within limits; `redis_events` keeps the event queues in Redis, for
//! several instances, `ownership` records who owns each session there
//! (leases, fencing numbers, what a takeover reopens), and `cluster`
//! carries requests to the instance that holds their session and takes
//! over the sessions of instances that stopped.

pub mod cluster;
pub mod config;
pub mod events;
pub mod metrics;
pub mod ownership;
pub mod redis_events;
pub mod registry;
pub mod routes;
pub mod server;
pub mod validate;

use std::future::Future;
use std::sync::Arc;

use inworld::auth::Credentials;
use inworld::client::{Client, ClientConfig, TlsMode};
use inworld::engine::{EngineConfig, RunningEngine, Workspace};

use crate::config::Config;
use crate::registry::{Bounds, Registry};
use crate::routes::{router, App};

/// The proxy's state, with the local engine when it runs one.
pub struct Proxy {
    pub registry: Arc<Registry>,
    /// The scene sessions use by default (INWORLD_SCENE, or the demo's).
    pub default_scene: String,
    engine: Option<RunningEngine>,
}

impl Proxy {
    /// Connects to Inworld, or starts the local engine when no key is set.
    pub fn start(config: &Config) -> Result<Proxy, String> {
        let (host, credentials, scene, engine, tls) =
            match (&config.host, &config.key, &config.secret) {
                (Some(host), Some(key), Some(secret)) => {
                    let scene = config
                        .scene
                        .clone()
                        .ok_or("INWORLD_SCENE is required with INWORLD_KEY")?;
                    (
                        host.clone(),
                        Credentials::new(key.clone(), secret.clone()),
                        scene,
                        None,
                        TlsMode::Auto,
                    )
                }
                _ => {
                    let workspace = Workspace::default_scenes();
                    let scene = config.scene.clone().unwrap_or_else(|| {
                        workspace
                            .scene_names()
                            .into_iter()
                            .next()
                            .unwrap_or_default()
                    });
                    let engine = RunningEngine::start_dedicated(EngineConfig::new(workspace))
                        .map_err(|e| format!("the local engine did not start: {e}"))?;
                    (
                        engine.addr().to_string(),
                        engine.credentials().clone(),
                        scene,
                        Some(engine),
                        TlsMode::Off,
                    )
                }
            };
        let mut client_config = ClientConfig::new(host, scene.clone(), credentials);
        client_config.tls = tls;
        client_config.session.capabilities.emotions = config.emotions;
        // No event carries audio (as the original, which asks for none):
        // not asked for, it costs the service no speech and the stream no
        // bandwidth.
        client_config.session.capabilities.audio = false;
        let client = Client::new(client_config).map_err(|e| e.to_string())?;
        Ok(Proxy {
            registry: Registry::new(
                client,
                Some(&scene),
                config.emotions,
                Bounds {
                    queue_capacity: config.queue_capacity,
                    max_sessions: config.max_sessions,
                    max_sessions_per_uid: config.max_sessions_per_uid,
                    closed_events_ttl: config.closed_events_ttl,
                },
                config.redis_url.as_deref(),
            )?,
            default_scene: scene,
            engine,
        })
    }

    /// Serves until `shutdown` completes, then closes every session
    /// (in-flight requests are answered first).
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        config: &Config,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let mut app = App {
            registry: self.registry.clone(),
            metrics: Default::default(),
            token: config.proxy_token.clone(),
            rate_limit: config.rate_limit_per_minute,
            max_body_bytes: config.max_body_bytes,
            body_timeout: config.body_timeout,
            cluster: None,
            max_write_backlog: config.max_write_backlog,
        };
        let mut cluster_tasks = Vec::new();
        let mut owned = None;
        if let Some(url) = &config.redis_url {
            let me = match &config.instance_url {
                Some(me) => me.clone(),
                None => {
                    let addr = listener.local_addr()?;
                    if addr.ip().is_unspecified() {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "with REDIS_URL on every interface, set INSTANCE_URL (how the other instances reach this one)",
                        ));
                    }
                    format!("http://{addr}")
                }
            };
            app.cluster = Some(
                crate::cluster::Cluster::new(url, me.clone(), config.lease)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
            );
            if let Some(shared) = self.registry.shared() {
                let ownership = Arc::new(crate::ownership::Ownership::new(
                    shared.connection(),
                    me,
                    config.lease,
                ));
                self.registry.join(ownership.clone());
                crate::cluster::adopt(&ownership, &self.registry).await;
                let hand_over = Arc::new(tokio::sync::Notify::new());
                cluster_tasks.push(tokio::spawn(crate::cluster::keep_lease(
                    ownership.clone(),
                    self.registry.clone(),
                    hand_over.clone(),
                )));
                cluster_tasks.push(tokio::spawn(crate::cluster::hear_control(
                    url.clone(),
                    self.registry.clone(),
                    hand_over,
                )));
                owned = Some(ownership);
            }
        }
        // Closes idle sessions (with DISCONNECT_TIMEOUT) and expires closed
        // sessions' events nobody drained.
        let sweeper = {
            let registry = self.registry.clone();
            let idle = config.disconnect_timeout;
            let ttl = config.closed_events_ttl;
            let tick = (idle.map_or(ttl, |idle| idle.min(ttl)) / 4).clamp(
                std::time::Duration::from_millis(50),
                std::time::Duration::from_secs(5),
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(tick).await;
                    registry.sweep(idle);
                }
            })
        };
        let limits = crate::server::Limits {
            max_connections: config.max_connections,
            header_timeout: config.header_timeout,
        };
        let cluster = app.cluster.clone();
        let served = crate::server::serve(listener, router(app), limits, shutdown).await;
        sweeper.abort();
        for task in cluster_tasks {
            task.abort();
        }
        let others_alive = match &owned {
            Some(ownership) => ownership.others_alive().await.unwrap_or(0),
            None => 0,
        };
        match (owned, cluster) {
            // Several instances: the others reopen the sessions (alone,
            // it closes them as a single instance does).
            (Some(ownership), Some(cluster)) if others_alive > 0 => {
                self.registry.hand_over().await;
                let released = ownership.release().await;
                if let Err(e) = released.and(cluster.announce_hand_over().await) {
                    log::warn!("redis: handing the sessions over: {e} (they are taken over when the lease lapses)");
                }
            }
            _ => {
                self.registry.close_everything("the proxy is shutting down");
                self.registry.flush().await;
            }
        }
        served
    }

    /// Stops the local engine, if one runs.
    pub fn stop(self) {
        if let Some(engine) = self.engine {
            engine.stop();
        }
    }
}
