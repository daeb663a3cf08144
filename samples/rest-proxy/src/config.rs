//! The proxy's configuration: the original's environment variables (and a
//! `.env` file), plus INWORLD_HOST. With no key, the local engine runs
//! in-process with the demo scene.

use std::net::IpAddr;
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
    /// HOST (or BIND): the address to listen on; loopback unless set. A
    /// public address needs PROXY_TOKEN (checked by [`Config::from_lookup`]).
    pub host_address: IpAddr,
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
    /// MAX_CONNECTIONS: connections served at once; more are closed as they
    /// arrive. By default what the file-descriptor limit leaves room for.
    pub max_connections: usize,
    /// HEADER_TIMEOUT (ms): a connection that has not sent a whole request
    /// head this long after connecting, or after its last answer (an idle
    /// keep-alive connection), is closed.
    pub header_timeout: Duration,
    /// BODY_TIMEOUT (ms): a request body not received in this long gets a 408.
    pub body_timeout: Duration,
    /// MAX_SESSIONS: sessions open at once; beyond it opens get a 409.
    pub max_sessions: usize,
    /// MAX_SESSIONS_PER_UID: sessions one uid may hold open.
    pub max_sessions_per_uid: usize,
    /// CLOSED_EVENTS_TTL (ms): how long a closed session's events wait to
    /// be drained.
    pub closed_events_ttl: Duration,
    /// REDIS_URL: event queues in Redis, shared by every instance.
    pub redis_url: Option<String>,
    /// INSTANCE_URL: how the other instances reach this one
    /// (`http://host:port`); by default the address it listens on.
    pub instance_url: Option<String>,
    /// LEASE_TTL (ms): with REDIS_URL, how long an instance's hold on its
    /// sessions lasts unrenewed (renewed every third of it); another
    /// instance takes them over within about 1⅓ of it after a crash.
    pub lease: Duration,
    /// WRITE_QUEUE: with REDIS_URL, writes waiting for Redis beyond which
    /// requests that would add more (opens, messages, triggers, turns)
    /// get a 503.
    pub max_write_backlog: usize,
}

/// File descriptors kept for everything but HTTP connections (the
/// connections to Inworld, logs, the runtime).
const RESERVED_DESCRIPTORS: u64 = 64;

/// Connections served at once when MAX_CONNECTIONS is not set: what the
/// soft file-descriptor limit leaves after the reserve.
fn default_max_connections() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let soft = if known && limit.rlim_cur != libc::RLIM_INFINITY {
        limit.rlim_cur
    } else {
        65_536
    };
    soft.saturating_sub(RESERVED_DESCRIPTORS).clamp(8, 10_000) as usize
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
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match nonempty(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name} {v:?} is not a number")),
            }
        };
        let proxy_token = nonempty("PROXY_TOKEN");
        let host_address: IpAddr = match nonempty("HOST").or_else(|| nonempty("BIND")) {
            None => IpAddr::from([127, 0, 0, 1]),
            Some(h) => h
                .trim()
                .parse()
                .map_err(|_| format!("HOST {h:?} is not an IP address"))?,
        };
        if !host_address.is_loopback() && proxy_token.is_none() {
            return Err(format!(
                "HOST {host_address} is reachable from other machines: set PROXY_TOKEN too"
            ));
        }
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
            host_address,
            emotions: nonempty("EMOTIONS").is_some_and(|v| v.trim() == "true"),
            disconnect_timeout,
            queue_capacity: 1000,
            proxy_token,
            rate_limit_per_minute: match nonempty("RATE_LIMIT") {
                None => None,
                Some(r) => {
                    Some(r.trim().parse().map_err(|_| {
                        format!("RATE_LIMIT {r:?} is not a number of sends a minute")
                    })?)
                }
            },
            max_body_bytes: 64 * 1024,
            max_connections: match nonempty("MAX_CONNECTIONS") {
                None => default_max_connections(),
                Some(_) => number("MAX_CONNECTIONS", 0)?.max(1) as usize,
            },
            header_timeout: Duration::from_millis(number("HEADER_TIMEOUT", 10_000)?.max(1)),
            body_timeout: Duration::from_millis(number("BODY_TIMEOUT", 10_000)?.max(1)),
            max_sessions: number("MAX_SESSIONS", 10_000)? as usize,
            max_sessions_per_uid: number("MAX_SESSIONS_PER_UID", 16)? as usize,
            closed_events_ttl: Duration::from_millis(number("CLOSED_EVENTS_TTL", 600_000)?),
            redis_url: nonempty("REDIS_URL"),
            instance_url: nonempty("INSTANCE_URL").map(|u| u.trim_end_matches('/').to_string()),
            lease: Duration::from_millis(number("LEASE_TTL", 5_000)?.max(30)),
            max_write_backlog: number("WRITE_QUEUE", 10_000)?.max(1) as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(env: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_lookup(|name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn loopback_unless_told_and_never_public_without_a_token() {
        assert_eq!(
            config(&[]).unwrap().host_address,
            IpAddr::from([127, 0, 0, 1])
        );
        let public = config(&[("HOST", "0.0.0.0")]).unwrap_err();
        assert!(public.contains("PROXY_TOKEN"), "{public}");
        let bound = config(&[("BIND", "0.0.0.0"), ("PROXY_TOKEN", "t")]).unwrap();
        assert_eq!(bound.host_address, IpAddr::from([0, 0, 0, 0]));
        assert!(config(&[("HOST", "::1")]).is_ok());
        assert!(config(&[("HOST", "somewhere")]).is_err());
    }

    #[test]
    fn the_connection_limit_leaves_room_for_other_descriptors() {
        let max = config(&[]).unwrap().max_connections;
        assert!((8..=10_000).contains(&max), "{max}");
        assert_eq!(
            config(&[("MAX_CONNECTIONS", "5")]).unwrap().max_connections,
            5
        );
    }
}
