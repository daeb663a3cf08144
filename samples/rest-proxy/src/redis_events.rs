//! Event queues in Redis (REDIS_URL), so that every instance of the proxy
//! drains every session's events: one stream per session, capped (the
//! oldest go, and the next event says how many), a global sequence number
//! for the drain routes' order, drains as one Lua script (two instances
//! draining the same server never both get an event), and one pub/sub
//! subscription per instance to wake its long polls, whatever instance
//! queued the event.
//!
//! Writes go through one writer task in the order they were queued (what
//! queued meanwhile in one MULTI/EXEC round trip), and are retried until
//! Redis takes them: an event the proxy took from the
//! library is never lost while Redis is away, only late.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Notify};

/// The channel every instance listens on for "events arrived".
const ARRIVED: &str = "inworld-proxy:arrived";
/// How long a Redis command may take before it counts as failed (a 503).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Writes sent to Redis in one round trip at most.
const WRITE_BATCH: usize = 256;
/// How long a failed write waits before it is tried again.
const RETRY: Duration = Duration::from_millis(100);

/// Queues an event: the next sequence number, the oldest event dropped
/// (its own count carried over) when the stream is full, and a wake-up.
/// KEYS: the stream, the sequence, the set of streams with events, the
/// server's set. ARGV: session id, server id ("" for none), event, capacity.
const PUSH: &str = r#"
local seq = redis.call('INCR', KEYS[2])
local dropped = 0
while redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[4]) do
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  dropped = dropped + 1 + tonumber(oldest[1][2][8])
  redis.call('XDEL', KEYS[1], oldest[1][1])
end
redis.call('XADD', KEYS[1], '*', 'seq', seq, 'server', ARGV[2], 'event', ARGV[3], 'dropped', dropped)
redis.call('SADD', KEYS[3], ARGV[1])
if ARGV[2] ~= '' then redis.call('SADD', KEYS[4], ARGV[1]) end
redis.call('PUBLISH', ARGV[5], ARGV[2])
return seq
"#;

/// Takes the events of every stream (ARGV[1] == "") or of one server's,
/// as a flat list of (seq, dropped, event). KEYS: the set of streams with
/// events, the server's set (or the first again).
const DRAIN: &str = r#"
local server = ARGV[1]
local out = {}
local set = KEYS[1]
if server ~= '' then set = KEYS[2] end
for _, sid in ipairs(redis.call('SMEMBERS', set)) do
  local key = ARGV[2] .. sid
  local left = 0
  for _, e in ipairs(redis.call('XRANGE', key, '-', '+')) do
    local f = e[2]
    if server == '' or f[4] == server then
      redis.call('XDEL', key, e[1])
      table.insert(out, f[2])
      table.insert(out, f[8])
      table.insert(out, f[6])
    else
      left = left + 1
    end
  end
  if left == 0 then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[1], sid)
  end
  if server ~= '' then redis.call('SREM', KEYS[2], sid) end
end
return out
"#;

/// Takes one stream's events, as DRAIN does. KEYS: the stream, the set of
/// streams with events. ARGV: the session id.
const DRAIN_ONE: &str = r#"
local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = e[2]
  table.insert(out, f[2])
  table.insert(out, f[8])
  table.insert(out, f[6])
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return out
"#;

enum Write {
    Event {
        session: String,
        server: Option<String>,
        event: Value,
    },
    /// The session closed: its events expire after the time given, and
    /// its owner is forgotten.
    Expire { session: String, after: Duration },
    /// Answered once every write queued before it is in Redis.
    Flush(oneshot::Sender<()>),
}

pub struct RedisEvents {
    connection: ConnectionManager,
    prefix: String,
    writes: mpsc::UnboundedSender<Write>,
    drain: Script,
    drain_one: Script,
    subscriber: tokio::task::AbortHandle,
}

impl Drop for RedisEvents {
    fn drop(&mut self) {
        // The writer ends with its channel; the subscriber would not.
        self.subscriber.abort();
    }
}

impl RedisEvents {
    /// Connects lazily (the first command connects, and the manager
    /// reconnects by itself), starts the writer and the subscriber that
    /// wakes `arrived`. Needs a tokio runtime.
    pub fn start(
        url: &str,
        capacity: usize,
        arrived: Arc<Notify>,
    ) -> Result<Arc<RedisEvents>, String> {
        let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| format!("REDIS_URL: {e}"))?;
        let (writes, queued) = mpsc::unbounded_channel();
        let subscriber = tokio::spawn(subscribe(client, arrived)).abort_handle();
        let events = Arc::new(RedisEvents {
            connection: connection.clone(),
            prefix: "inworld-proxy:".into(),
            writes,
            drain: Script::new(DRAIN),
            drain_one: Script::new(DRAIN_ONE),
            subscriber,
        });
        tokio::spawn(write(
            connection,
            events.prefix.clone(),
            capacity.max(1),
            queued,
        ));
        Ok(events)
    }

    fn key(&self, what: &str) -> String {
        format!("{}{what}", self.prefix)
    }

    /// Queues an event for Redis (never waits).
    pub fn push(&self, session: &str, server: Option<&str>, event: Value) {
        let _ = self.writes.send(Write::Event {
            session: session.to_string(),
            server: server.map(str::to_string),
            event,
        });
    }

    /// Lets a closed session's events expire after `after`.
    pub fn expire(&self, session: &str, after: Duration) {
        let _ = self.writes.send(Write::Expire {
            session: session.to_string(),
            after,
        });
    }

    /// Waits until every write queued so far is in Redis.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.writes.send(Write::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }

    /// Takes the events of every session, or of one server's, in order.
    pub async fn drain(&self, server: Option<&str>) -> Result<Vec<Value>, RedisError> {
        let mut connection = self.connection.clone();
        let flat: Vec<String> = self
            .drain
            .key(self.key("streams"))
            .key(self.key(&format!("server:{}", server.unwrap_or(""))))
            .arg(server.unwrap_or(""))
            .arg(self.key("events:"))
            .invoke_async(&mut connection)
            .await?;
        Ok(events_of(flat))
    }

    /// Takes one session's events, in order.
    pub async fn drain_session(&self, session: &str) -> Result<Vec<Value>, RedisError> {
        let mut connection = self.connection.clone();
        let flat: Vec<String> = self
            .drain_one
            .key(self.key(&format!("events:{session}")))
            .key(self.key("streams"))
            .arg(session)
            .invoke_async(&mut connection)
            .await?;
        Ok(events_of(flat))
    }

    /// Events waiting in Redis (every instance's).
    pub async fn queued(&self) -> Result<usize, RedisError> {
        let mut connection = self.connection.clone();
        let sessions: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key("streams"))
            .query_async(&mut connection)
            .await?;
        if sessions.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for session in &sessions {
            pipe.cmd("XLEN").arg(self.key(&format!("events:{session}")));
        }
        let lengths: Vec<usize> = pipe.query_async(&mut connection).await?;
        Ok(lengths.iter().sum())
    }
}

/// The key naming the instance that holds a session.
pub fn owner_key(session: &str) -> String {
    format!("inworld-proxy:owner:{session}")
}

/// (seq, dropped, event) triples, sorted by seq, as events.
fn events_of(flat: Vec<String>) -> Vec<Value> {
    let mut events: Vec<(u64, Value)> = flat
        .chunks_exact(3)
        .filter_map(|t| {
            let seq = t[0].parse().ok()?;
            let dropped: u64 = t[1].parse().unwrap_or(0);
            let mut event: Value = serde_json::from_str(&t[2]).ok()?;
            if dropped > 0 {
                event["dropped"] = json!(dropped);
            }
            Some((seq, event))
        })
        .collect();
    events.sort_by_key(|(seq, _)| *seq);
    events.into_iter().map(|(_, e)| e).collect()
}

/// Writes events in the order they were queued, each retried until Redis
/// takes it.
async fn write(
    mut connection: ConnectionManager,
    prefix: String,
    capacity: usize,
    mut queued: mpsc::UnboundedReceiver<Write>,
) {
    let push = Script::new(PUSH);
    // Loaded once here, again after a failure (Redis restarted).
    let _ = push.prepare_invoke().load_async(&mut connection).await;
    while let Some(first) = queued.recv().await {
        // What has queued meanwhile goes in the same round trip.
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut commands = 0;
        for next in &batch {
            match next {
                Write::Event {
                    session,
                    server,
                    event,
                } => {
                    pipe.invoke_script(
                        push.key(format!("{prefix}events:{session}"))
                            .key(format!("{prefix}seq"))
                            .key(format!("{prefix}streams"))
                            .key(format!(
                                "{prefix}server:{}",
                                server.as_deref().unwrap_or("")
                            ))
                            .arg(session)
                            .arg(server.as_deref().unwrap_or(""))
                            .arg(event.to_string())
                            .arg(capacity)
                            .arg(ARRIVED),
                    )
                    .ignore();
                    commands += 1;
                }
                Write::Expire { session, after } => {
                    pipe.cmd("PEXPIRE")
                        .arg(format!("{prefix}events:{session}"))
                        .arg(after.as_millis() as u64)
                        .ignore()
                        // Closed: no instance holds it any more.
                        .cmd("DEL")
                        .arg(owner_key(session))
                        .ignore();
                    commands += 1;
                }
                Write::Flush(_) => {}
            }
        }
        if commands > 0 {
            while let Err(e) = pipe.query_async::<()>(&mut connection).await {
                log::warn!("redis: {} writes wait: {e}", batch.len());
                tokio::time::sleep(RETRY).await;
                // A restarted Redis has forgotten the script.
                let _ = push.prepare_invoke().load_async(&mut connection).await;
            }
        }
        for next in batch {
            if let Write::Flush(done) = next {
                let _ = done.send(());
            }
        }
    }
}

/// One subscription per instance: every "arrived" wakes the long polls.
async fn subscribe(client: redis::Client, arrived: Arc<Notify>) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(ARRIVED).await.is_ok() {
                    // Events may have come while unsubscribed.
                    arrived.notify_waiters();
                    let mut messages = pubsub.on_message();
                    while messages.next().await.is_some() {
                        arrived.notify_waiters();
                    }
                }
            }
            Err(e) => log::warn!("redis: subscribing: {e}"),
        }
        tokio::time::sleep(RETRY * 5).await;
    }
}
