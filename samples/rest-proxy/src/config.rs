//! The proxy's configuration: the original's environment variables (and a
//! `.env` file), plus INWORLD_HOST. With no key, the local engine runs
//! in-process with the demo scene.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// host:port of the Inworld service; None: the local engine in-process.
    pub host: Option<String>,
    pub key: Option<String>,
    pub secret: Option<String>,
    /// The default scene (a resource name), checked at start.
    pub scene: Option<String>,
    pub port: u16,
    /// EMOTIONS=true: ask for emotions and forward them as events.
    pub emotions: bool,
    /// Sessions nobody used for this long are closed (DISCONNECT_TIMEOUT, ms).
    pub disconnect_timeout: Option<Duration>,
    /// Events kept per session before the oldest are dropped (and reported).
    pub queue_capacity: usize,
    /// RATE_LIMIT: sends (messages, triggers, turns) a minute per uid, in
    /// bursts of as many; beyond it a 429.
    pub rate_limit_per_minute: Option<u32>,
    /// Request bodies larger than this get a 413.
    pub max_body_bytes: usize,
    /// PROXY_TOKEN: every route but / and /status wants `Authorization: Bearer <it>`.
    pub proxy_token: Option<String>,
}

impl Config {
    /// From the environment, after loading `.env` if there is one (the
    /// environment wins, as with the original's dotenv).
    pub fn from_env() -> Result<Config, String> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let nonempty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let port = match nonempty("PORT") {
            None => 3000,
            Some(p) => p
                .trim()
                .parse()
                .map_err(|_| format!("PORT {p:?} is not a port number"))?,
        };
        let disconnect_timeout = match nonempty("DISCONNECT_TIMEOUT") {
            None => None,
            Some(ms) => Some(Duration::from_millis(ms.trim().parse().map_err(|_| {
                format!("DISCONNECT_TIMEOUT {ms:?} is not a number of ms")
            })?)),
        };
        let key = nonempty("INWORLD_KEY");
        let host = nonempty("INWORLD_HOST");
        if key.is_some() && nonempty("INWORLD_SECRET").is_none() {
            return Err("INWORLD_KEY needs INWORLD_SECRET".into());
        }
        Ok(Config {
            host: if key.is_some() {
                Some(host.unwrap_or_else(|| "api-engine.inworld.ai:443".into()))
            } else {
                None
            },
            secret: nonempty("INWORLD_SECRET"),
            key,
            scene: nonempty("INWORLD_SCENE"),
            port,
            emotions: nonempty("EMOTIONS").is_some_and(|v| v.trim() == "true"),
            disconnect_timeout,
            queue_capacity: 1000,
            proxy_token: nonempty("PROXY_TOKEN"),
            rate_limit_per_minute: match nonempty("RATE_LIMIT") {
                None => None,
                Some(r) => {
                    Some(r.trim().parse().map_err(|_| {
                        format!("RATE_LIMIT {r:?} is not a number of sends a minute")
                    })?)
                }
            },
            max_body_bytes: 64 * 1024,
        })
    }
}
