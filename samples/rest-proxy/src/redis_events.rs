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

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::ownership::{
    dialog_key, fence_key, meta_key, owner_key, pending_key, DIALOG_LINES, PREFIX,
};

/// The channel every instance listens on for "events arrived".
const ARRIVED: &str = "inworld-proxy:arrived";
/// How long a Redis command may take before it counts as failed (a 503).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Writes sent to Redis in one round trip at most.
const WRITE_BATCH: usize = 256;
/// How long a failed write waits before it is tried again.
const RETRY: Duration = Duration::from_millis(100);

/// Every write checks the session's fencing number. A missing one (Redis
/// restarted without its data) is set again to the writer's: the owner
/// carries on; a closed session's is `closed` for a while, so that late
/// writes are refused.
///
/// Queues an event, if the writer still owns the session (its fencing
/// number is the session's): the next sequence number, the oldest event
/// dropped (its own count carried over) when the stream is full, a
/// wake-up, and the dialog line the event adds or the interaction it ends.
/// -1 when fenced. KEYS: the stream, the sequence, the set of streams with
/// events, the server's set, the fence, the dialog, the pending set. ARGV:
/// session id, server id ("" for none), event, capacity, channel, fence,
/// dialog line (or ""), interaction ended (or ""), dialog lines kept.
const PUSH: &str = r#"
local fence = redis.call('GET', KEYS[5])
if fence == false then redis.call('SET', KEYS[5], ARGV[6])
elseif fence ~= ARGV[6] then return -1 end
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
if ARGV[7] ~= '' then
  redis.call('RPUSH', KEYS[6], ARGV[7])
  redis.call('LTRIM', KEYS[6], -tonumber(ARGV[9]), -1)
end
if ARGV[8] ~= '' then redis.call('HDEL', KEYS[7], ARGV[8]) end
redis.call('PUBLISH', ARGV[5], ARGV[2])
return seq
"#;

/// Records a dialog line, an interaction accepted or one ended, if the
/// writer still owns the session (-1 when fenced). KEYS: the fence, the
/// dialog, the pending set. ARGV: fence, line (or ""), interaction
/// accepted (or ""), interaction ended (or ""), dialog lines kept.
const DIALOG: &str = r#"
local fence = redis.call('GET', KEYS[1])
if fence == false then redis.call('SET', KEYS[1], ARGV[1])
elseif fence ~= ARGV[1] then return -1 end
if ARGV[2] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[3], '1') end
if ARGV[4] ~= '' then redis.call('HDEL', KEYS[3], ARGV[4]) end
return 1
"#;

/// Changes what a session is recorded with (its server, its character),
/// if the writer still owns it (-1 when fenced). KEYS: the fence, the
/// record. ARGV: fence, field, value.
const RECORD: &str = r#"
local fence = redis.call('GET', KEYS[1])
if fence == false then redis.call('SET', KEYS[1], ARGV[1])
elseif fence ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"#;

/// A session closed by its owner (-1 when fenced): its events expire in
/// a while, its ownership and conversation are forgotten. KEYS: the
/// stream, owner, fence, record, dialog, pending set. ARGV: fence, ms
/// until the events expire, session id, key prefix.
const CLOSE: &str = r#"
local fence = redis.call('GET', KEYS[3])
if fence == false then redis.call('SET', KEYS[3], ARGV[1])
elseif fence ~= ARGV[1] then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local owner = redis.call('GET', KEYS[2])
if owner then redis.call('SREM', ARGV[4] .. 'owned:' .. owner, ARGV[3]) end
redis.call('DEL', KEYS[2], KEYS[4], KEYS[5], KEYS[6])
redis.call('SET', KEYS[3], 'closed', 'PX', ARGV[2])
return 1
"#;

/// Takes the events of every stream (ARGV[1] == "") or of one server's,
/// as a flat list of (seq, dropped, event). With a cursor (ARGV[3] not
/// ""), events up to it are deleted (acknowledged) and the later ones
/// given without being deleted. KEYS: the set of streams with events, the
/// server's set (or the first again).
const DRAIN: &str = r#"
local server = ARGV[1]
local after = tonumber(ARGV[3])
local out = {}
local set = KEYS[1]
if server ~= '' then set = KEYS[2] end
for _, sid in ipairs(redis.call('SMEMBERS', set)) do
  local key = ARGV[2] .. sid
  local left = 0
  local kept = 0
  for _, e in ipairs(redis.call('XRANGE', key, '-', '+')) do
    local f = e[2]
    if server == '' or f[4] == server then
      if after == nil or tonumber(f[2]) <= after then
        redis.call('XDEL', key, e[1])
      else
        kept = kept + 1
        left = left + 1
      end
      if after == nil or tonumber(f[2]) > after then
        table.insert(out, f[2])
        table.insert(out, f[8])
        table.insert(out, f[6])
      end
    else
      left = left + 1
    end
  end
  if left == 0 then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[1], sid)
  end
  if server ~= '' and kept == 0 then redis.call('SREM', KEYS[2], sid) end
end
return out
"#;

/// Takes one stream's events, as DRAIN does. KEYS: the stream, the set of
/// streams with events. ARGV: the session id, the cursor (or "").
const DRAIN_ONE: &str = r#"
local after = tonumber(ARGV[2])
local out = {}
local left = 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = e[2]
  if after == nil or tonumber(f[2]) > after then
    table.insert(out, f[2])
    table.insert(out, f[8])
    table.insert(out, f[6])
  end
  if after ~= nil and tonumber(f[2]) > after then
    left = left + 1
  else
    redis.call('XDEL', KEYS[1], e[1])
  end
end
if left == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
end
return out
"#;

/// A write of a session's state, with the fencing number of its writer.
enum Write {
    Event {
        session: String,
        fence: u64,
        server: Option<String>,
        event: Value,
        /// The dialog line the event adds (a character's final text).
        line: Option<String>,
        /// The interaction the event ends.
        settles: Option<String>,
    },
    /// The dialog, and the interactions awaiting their reply.
    Dialog {
        session: String,
        fence: u64,
        line: Option<String>,
        accepted: Option<String>,
        settles: Option<String>,
    },
    /// A field of the session's record (what it would be reopened with).
    Record {
        session: String,
        fence: u64,
        field: &'static str,
        value: String,
    },
    /// The session closed: its events expire after the time given, and
    /// its ownership and conversation are forgotten.
    Close {
        session: String,
        fence: u64,
        after: Duration,
    },
    /// Answered once every write queued before it is in Redis.
    Flush(oneshot::Sender<()>),
}

impl Write {
    /// The session written, and what the write was (for the report of a
    /// refused write).
    fn describe(&self) -> Option<(&str, u64, String)> {
        match self {
            Write::Event {
                session,
                fence,
                event,
                ..
            } => Some((
                session,
                *fence,
                format!(
                    "event {} of interaction {}",
                    event["type"].as_str().unwrap_or("?"),
                    event["interactionId"].as_str().unwrap_or("-")
                ),
            )),
            Write::Dialog {
                session,
                fence,
                accepted,
                ..
            } => Some((
                session,
                *fence,
                format!(
                    "dialog (interaction {})",
                    accepted.as_deref().unwrap_or("-")
                ),
            )),
            Write::Record {
                session,
                fence,
                field,
                ..
            } => Some((session, *fence, format!("record {field}"))),
            Write::Close { session, fence, .. } => Some((session, *fence, "close".into())),
            Write::Flush(_) => None,
        }
    }
}

/// A write Redis refused: its writer no longer owns the session.
pub struct Fenced {
    pub session: String,
    /// The fencing number the write carried.
    pub fence: u64,
    pub what: String,
}

pub struct RedisEvents {
    connection: ConnectionManager,
    prefix: String,
    writes: mpsc::UnboundedSender<Write>,
    /// Writes queued and not yet in Redis.
    backlog: Arc<AtomicUsize>,
    /// Writes refused for a stale fencing number.
    pub fenced_writes: Arc<AtomicU64>,
    /// The copies (session, fence) whose writes were refused, noted before
    /// a flush that waited for them returns (a fence never comes back;
    /// forgotten all at once past REFUSED_KEPT).
    refused: Arc<parking_lot::Mutex<HashSet<(String, u64)>>>,
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
    /// wakes `arrived`. Refused writes are reported on `fenced`. Needs a
    /// tokio runtime.
    pub fn start(
        url: &str,
        capacity: usize,
        arrived: Arc<Notify>,
        fenced: mpsc::UnboundedSender<Fenced>,
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
            prefix: PREFIX.into(),
            writes,
            backlog: Arc::new(AtomicUsize::new(0)),
            fenced_writes: Arc::new(AtomicU64::new(0)),
            refused: Default::default(),
            drain: Script::new(DRAIN),
            drain_one: Script::new(DRAIN_ONE),
            subscriber,
        });
        tokio::spawn(write(
            Writer {
                connection,
                prefix: events.prefix.clone(),
                capacity: capacity.max(1),
                backlog: events.backlog.clone(),
                fenced_writes: events.fenced_writes.clone(),
                refused: events.refused.clone(),
                fenced,
            },
            queued,
        ));
        Ok(events)
    }

    /// Whether a write of the session with this fencing number was
    /// refused (known once a flush queued after it returned).
    pub fn was_refused(&self, session: &str, fence: u64) -> bool {
        self.refused.lock().contains(&(session.to_string(), fence))
    }

    /// The connection, for the other users of the same Redis.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    fn key(&self, what: &str) -> String {
        format!("{}{what}", self.prefix)
    }

    fn send(&self, write: Write) {
        self.backlog.fetch_add(1, Ordering::Relaxed);
        if self.writes.send(write).is_err() {
            self.backlog.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Writes queued for Redis and not yet written.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Queues an event for Redis (never waits), written if `fence` is
    /// still the session's, with the dialog line it adds or the
    /// interaction it ends.
    pub fn push(
        &self,
        session: &str,
        fence: u64,
        server: Option<&str>,
        event: Value,
        line: Option<String>,
        settles: Option<String>,
    ) {
        self.send(Write::Event {
            session: session.to_string(),
            fence,
            server: server.map(str::to_string),
            event,
            line,
            settles,
        });
    }

    /// Queues a dialog line, an interaction accepted or one ended.
    pub fn dialog(
        &self,
        session: &str,
        fence: u64,
        line: Option<String>,
        accepted: Option<String>,
        settles: Option<String>,
    ) {
        self.send(Write::Dialog {
            session: session.to_string(),
            fence,
            line,
            accepted,
            settles,
        });
    }

    /// Queues a change of what the session is recorded with.
    pub fn record(&self, session: &str, fence: u64, field: &'static str, value: &str) {
        self.send(Write::Record {
            session: session.to_string(),
            fence,
            field,
            value: value.to_string(),
        });
    }

    /// The session closed: its events expire after `after`.
    pub fn close(&self, session: &str, fence: u64, after: Duration) {
        self.send(Write::Close {
            session: session.to_string(),
            fence,
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

    /// Takes the events of every session, or of one server's, in order;
    /// with a cursor, acknowledges those up to it and gives the later ones
    /// (each with its `seq`) without taking them.
    pub async fn drain(
        &self,
        server: Option<&str>,
        after: Option<u64>,
    ) -> Result<Vec<Value>, RedisError> {
        let mut connection = self.connection.clone();
        let flat: Vec<String> = self
            .drain
            .key(self.key("streams"))
            .key(self.key(&format!("server:{}", server.unwrap_or(""))))
            .arg(server.unwrap_or(""))
            .arg(self.key("events:"))
            .arg(after.map_or(String::new(), |a| a.to_string()))
            .invoke_async(&mut connection)
            .await?;
        Ok(events_of(flat, after.is_some()))
    }

    /// Takes one session's events, in order (a cursor as in `drain`).
    pub async fn drain_session(
        &self,
        session: &str,
        after: Option<u64>,
    ) -> Result<Vec<Value>, RedisError> {
        let mut connection = self.connection.clone();
        let flat: Vec<String> = self
            .drain_one
            .key(self.key(&format!("events:{session}")))
            .key(self.key("streams"))
            .arg(session)
            .arg(after.map_or(String::new(), |a| a.to_string()))
            .invoke_async(&mut connection)
            .await?;
        Ok(events_of(flat, after.is_some()))
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

/// (seq, dropped, event) triples, sorted by seq, as events (each with its
/// `seq` when asked).
fn events_of(flat: Vec<String>, with_seq: bool) -> Vec<Value> {
    let mut events: Vec<(u64, Value)> = flat
        .chunks_exact(3)
        .filter_map(|t| {
            let seq = t[0].parse().ok()?;
            let dropped: u64 = t[1].parse().unwrap_or(0);
            let mut event: Value = serde_json::from_str(&t[2]).ok()?;
            if dropped > 0 {
                event["dropped"] = json!(dropped);
            }
            if with_seq {
                event["seq"] = json!(seq);
            }
            Some((seq, event))
        })
        .collect();
    events.sort_by_key(|(seq, _)| *seq);
    events.into_iter().map(|(_, e)| e).collect()
}

/// Refused copies remembered at most (a message's route asks within
/// seconds of the refusal; only a pause of an instance holding more
/// sessions than this forgets some early).
const REFUSED_KEPT: usize = 10_000;

/// What the writer task holds.
struct Writer {
    connection: ConnectionManager,
    prefix: String,
    capacity: usize,
    backlog: Arc<AtomicUsize>,
    fenced_writes: Arc<AtomicU64>,
    refused: Arc<parking_lot::Mutex<HashSet<(String, u64)>>>,
    fenced: mpsc::UnboundedSender<Fenced>,
}

/// The writer's scripts, loaded into Redis once, again after a failure (a
/// restarted Redis has forgotten them).
struct Scripts {
    push: Script,
    dialog: Script,
    record: Script,
    close: Script,
}

impl Scripts {
    async fn load(&self, connection: &mut ConnectionManager) {
        for script in [&self.push, &self.dialog, &self.record, &self.close] {
            let _ = script.prepare_invoke().load_async(connection).await;
        }
    }
}

/// Writes in the order they were queued, each retried until Redis takes
/// it (or refuses it for its fencing number).
async fn write(mut writer: Writer, mut queued: mpsc::UnboundedReceiver<Write>) {
    let scripts = Scripts {
        push: Script::new(PUSH),
        dialog: Script::new(DIALOG),
        record: Script::new(RECORD),
        close: Script::new(CLOSE),
    };
    scripts.load(&mut writer.connection).await;
    let p = writer.prefix.clone();
    let lines = DIALOG_LINES.to_string();
    let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
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
                    fence,
                    server,
                    event,
                    line,
                    settles,
                } => {
                    pipe.invoke_script(
                        scripts
                            .push
                            .key(format!("{p}events:{session}"))
                            .key(format!("{p}seq"))
                            .key(format!("{p}streams"))
                            .key(format!("{p}server:{}", server.as_deref().unwrap_or("")))
                            .key(fence_key(session))
                            .key(dialog_key(session))
                            .key(pending_key(session))
                            .arg(session)
                            .arg(server.as_deref().unwrap_or(""))
                            .arg(event.to_string())
                            .arg(writer.capacity)
                            .arg(ARRIVED)
                            .arg(*fence)
                            .arg(or_empty(line))
                            .arg(or_empty(settles))
                            .arg(&lines),
                    );
                }
                Write::Dialog {
                    session,
                    fence,
                    line,
                    accepted,
                    settles,
                } => {
                    pipe.invoke_script(
                        scripts
                            .dialog
                            .key(fence_key(session))
                            .key(dialog_key(session))
                            .key(pending_key(session))
                            .arg(*fence)
                            .arg(or_empty(line))
                            .arg(or_empty(accepted))
                            .arg(or_empty(settles))
                            .arg(&lines),
                    );
                }
                Write::Record {
                    session,
                    fence,
                    field,
                    value,
                } => {
                    pipe.invoke_script(
                        scripts
                            .record
                            .key(fence_key(session))
                            .key(meta_key(session))
                            .arg(*fence)
                            .arg(*field)
                            .arg(value),
                    );
                }
                Write::Close {
                    session,
                    fence,
                    after,
                } => {
                    pipe.invoke_script(
                        scripts
                            .close
                            .key(format!("{p}events:{session}"))
                            .key(owner_key(session))
                            .key(fence_key(session))
                            .key(meta_key(session))
                            .key(dialog_key(session))
                            .key(pending_key(session))
                            .arg(*fence)
                            .arg(after.as_millis() as u64)
                            .arg(session)
                            .arg(&p),
                    );
                }
                Write::Flush(_) => continue,
            }
            commands += 1;
        }
        if commands > 0 {
            let results = loop {
                match pipe.query_async::<Vec<i64>>(&mut writer.connection).await {
                    Ok(results) => break results,
                    Err(e) => {
                        log::warn!("redis: {} writes wait: {e}", batch.len());
                        tokio::time::sleep(RETRY).await;
                        scripts.load(&mut writer.connection).await;
                    }
                }
            };
            let written = batch.iter().filter(|w| !matches!(w, Write::Flush(_)));
            for (next, result) in written.zip(results) {
                if result >= 0 {
                    continue;
                }
                if let Some((session, fence, what)) = next.describe() {
                    // Nothing is lost silently: the refusal is counted and
                    // reported with what it was.
                    writer.fenced_writes.fetch_add(1, Ordering::Relaxed);
                    let mut refused = writer.refused.lock();
                    if refused.len() >= REFUSED_KEPT {
                        refused.clear();
                    }
                    refused.insert((session.to_string(), fence));
                    drop(refused);
                    log::warn!(
                        "redis: refused {what} of session {session}: another instance owns it"
                    );
                    let _ = writer.fenced.send(Fenced {
                        session: session.to_string(),
                        fence,
                        what,
                    });
                }
            }
        }
        writer.backlog.fetch_sub(commands, Ordering::Relaxed);
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
