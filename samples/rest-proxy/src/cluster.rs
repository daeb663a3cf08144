//! Several instances on one Redis: which instance holds each live session
//! (its owner, announced by its own address), requests for a session
//! carried to its owner over HTTP, close-all told to every instance, and
//! the lease each instance renews, with the takeover of the sessions of an
//! instance whose lease lapsed (or that handed them over as it stopped).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

use crate::ownership::{owner_key, Ownership, PREFIX};
use crate::registry::Registry;
use tokio::sync::Notify;

/// Marks a request one instance carried to another, so it is never
/// carried again.
pub const FORWARDED: &str = "inworld-proxy-forwarded";
/// Where every instance hears close-all.
const CONTROL: &str = "inworld-proxy:control";
/// How long a carried request may take (a turn waits at most 120 s).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(150);

/// The instance holding a session, and whether its lease still holds:
/// [] when none does, else [owner, 1 or 0]. KEYS: owner. ARGV: prefix.
const OWNER: &str = r#"
local owner = redis.call('GET', KEYS[1])
if not owner then return {} end
return {owner, tostring(redis.call('EXISTS', ARGV[1] .. 'lease:' .. owner))}
"#;

/// Who holds a session, as Redis records it.
#[derive(Debug, PartialEq, Eq)]
pub enum Holder {
    /// Nobody: no such session, or it closed.
    Nobody,
    /// This instance (it claimed the session, and may be reopening it).
    Me,
    /// Another instance whose lease holds.
    Alive(String),
    /// An instance whose lease lapsed: the session waits for a takeover.
    Gone,
}

pub struct Cluster {
    /// This instance's address for the others (`http://host:port`).
    pub me: String,
    connection: ConnectionManager,
    http: reqwest::Client,
    /// Requests carried to another instance.
    pub forwards: AtomicU64,
    /// Seconds a client is told to wait (`Retry-After`) for a session
    /// being taken over or reopened: a tick of the lease.
    pub retry_after: u64,
    owner: Script,
}

impl Cluster {
    /// Needs a tokio runtime; connects lazily. `lease`: LEASE_TTL.
    pub fn new(url: &str, me: String, lease: Duration) -> Result<Arc<Cluster>, String> {
        let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("REDIS_URL: {e}"))?;
        Ok(Arc::new(Cluster {
            me,
            connection,
            http: reqwest::Client::builder()
                .timeout(FORWARD_TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?,
            forwards: AtomicU64::new(0),
            retry_after: (lease / 3).as_secs_f64().ceil().max(1.0) as u64,
            owner: Script::new(OWNER),
        }))
    }

    /// Who holds the session.
    pub async fn holder(&self, session: &str) -> Result<Holder, RedisError> {
        let mut connection = self.connection.clone();
        let found: Vec<String> = self
            .owner
            .key(owner_key(session))
            .arg(PREFIX)
            .invoke_async(&mut connection)
            .await?;
        Ok(match found.as_slice() {
            [owner, _] if *owner == self.me => Holder::Me,
            [owner, alive] if alive == "1" => Holder::Alive(owner.clone()),
            [_, _] => Holder::Gone,
            _ => Holder::Nobody,
        })
    }

    /// Tells every instance to close the uid's sessions (of one server).
    pub async fn close_all(&self, uid: &str, server: Option<&str>) -> Result<(), RedisError> {
        let mut connection = self.connection.clone();
        let message = serde_json::json!({"uid": uid, "server": server}).to_string();
        redis::cmd("PUBLISH")
            .arg(CONTROL)
            .arg(message)
            .query_async::<i64>(&mut connection)
            .await
            .map(drop)
    }

    /// Tells every instance that this one gave up its lease: they take its
    /// sessions over at once.
    pub async fn announce_hand_over(&self) -> Result<(), RedisError> {
        let mut connection = self.connection.clone();
        let message = serde_json::json!({"handover": self.me}).to_string();
        redis::cmd("PUBLISH")
            .arg(CONTROL)
            .arg(message)
            .query_async::<i64>(&mut connection)
            .await
            .map(drop)
    }

    /// Carries the request to `owner` and gives back its answer (None
    /// when the owner does not answer: it stopped, and its sessions are
    /// about to be taken over).
    pub async fn forward(&self, owner: &str, request: Request) -> Option<Response> {
        self.forwards.fetch_add(1, Ordering::Relaxed);
        let (parts, body) = request.into_parts();
        let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
            return Some((StatusCode::BAD_REQUEST, Json("Bad Request")).into_response());
        };
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let mut headers = parts.headers.clone();
        headers.remove(axum::http::header::HOST);
        headers.insert(FORWARDED, HeaderValue::from_static("1"));
        let sent = self
            .http
            .request(parts.method.clone(), format!("{owner}{path}"))
            .headers(headers)
            .body(body)
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => {
                log::warn!("forwarding to {owner}: {e}");
                return None;
            }
        };
        let status = answer.status();
        let headers = answer.headers().clone();
        let bytes = answer.bytes().await.unwrap_or_default();
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = status;
        for name in [
            axum::http::header::CONTENT_TYPE,
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderName::from_static("interaction-id"),
        ] {
            if let Some(value) = headers.get(&name) {
                response.headers_mut().insert(name, value.clone());
            }
        }
        Some(response)
    }
}

/// Closes this instance's sessions when any instance is told close-all;
/// wakes `hand_over` when an instance hands its sessions over.
pub async fn hear_control(url: String, registry: Arc<Registry>, hand_over: Arc<Notify>) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    loop {
        if let Ok(mut pubsub) = client.get_async_pubsub().await {
            if pubsub.subscribe(CONTROL).await.is_ok() {
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let Ok(text) = message.get_payload::<String>() else {
                        continue;
                    };
                    let Ok(order) = serde_json::from_str::<serde_json::Value>(&text) else {
                        continue;
                    };
                    if let Some(uid) = order["uid"].as_str() {
                        registry.close_all(uid, order["server"].as_str());
                    }
                    if order["handover"].is_string() {
                        hand_over.notify_one();
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Renews this instance's lease every third of its time to live; takes
/// over sessions of instances whose lease lapsed, as many as this instance
/// has room for under MAX_SESSIONS, its share first (at once when one
/// hands its sessions over: `hand_over`). When its own lease had lapsed
/// (this instance was paused or cut off), drops the sessions another
/// instance took meanwhile. Until the sessions of the previous process at
/// this address are claimed again (Redis was away when this one started),
/// tries that first.
pub async fn keep_lease(
    ownership: Arc<Ownership>,
    registry: Arc<Registry>,
    hand_over: Arc<Notify>,
) {
    let tick = ownership.lease / 3;
    let mut first = true;
    loop {
        match ownership.renew().await {
            Ok(held) => {
                if !ownership.adopted() {
                    adopt_predecessors(&ownership, &registry).await;
                }
                if !held && !first {
                    log::warn!("redis: this instance's lease had lapsed");
                    drop_lost(&ownership, &registry).await;
                }
                first = false;
                take_over(&ownership, &registry).await;
            }
            Err(e) => log::warn!("redis: renewing the lease: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = hand_over.notified() => {}
        }
    }
}

/// Claims what this instance may of the sessions of lapsed instances and
/// reopens them; notes (and logs, when this instance is full) how many
/// wait for an instance with room.
async fn take_over(ownership: &Arc<Ownership>, registry: &Arc<Registry>) {
    let room = registry.room_for_takeovers();
    let (claimed, left) = match ownership.take_over_lapsed(room).await {
        Ok(taken) => taken,
        Err(e) => {
            log::warn!("redis: taking over: {e}");
            return;
        }
    };
    let before = registry.awaiting_takeover.swap(left, Ordering::Relaxed);
    if left > 0 && claimed.len() == room && before != left {
        log::warn!(
            "{left} sessions of stopped instances wait for an instance with room: this one holds as many as MAX_SESSIONS allows"
        );
    }
    resume_all(ownership, registry, claimed);
}

/// Reopens the sessions a previous process at this address owned (a
/// restart): before this one serves, so that none of its own is taken for
/// one of them. With Redis away, `keep_lease` tries again on its tick.
pub async fn adopt(ownership: &Arc<Ownership>, registry: &Arc<Registry>) {
    // The lease first, so that no other instance takes them meanwhile.
    if let Err(e) = ownership.renew().await {
        log::warn!("redis: taking the lease: {e}");
        return;
    }
    adopt_predecessors(ownership, registry).await;
}

async fn adopt_predecessors(ownership: &Arc<Ownership>, registry: &Arc<Registry>) {
    match ownership
        .adopt_predecessors(registry.room_for_takeovers())
        .await
    {
        Ok((adopted, left)) => {
            if !adopted.is_empty() {
                log::info!(
                    "reopening {} sessions of the previous process here",
                    adopted.len()
                );
            }
            if left > 0 {
                log::warn!(
                    "{left} sessions of the previous process here are beyond MAX_SESSIONS: left to the other instances"
                );
            }
            resume_all(ownership, registry, adopted)
        }
        Err(e) => log::warn!(
            "redis: reopening the sessions of the previous process here: {e} (tried again on the lease's tick)"
        ),
    }
}

/// Drops the sessions held here whose fencing number moved on; records
/// again those Redis forgot (it restarted without its data).
async fn drop_lost(ownership: &Ownership, registry: &Registry) {
    let held = registry.held();
    let ids: Vec<String> = held.iter().map(|(id, _, _)| id.clone()).collect();
    let fences = match ownership.fences(&ids).await {
        Ok(fences) => fences,
        Err(e) => {
            log::warn!("redis: checking the fences: {e}");
            return;
        }
    };
    for ((id, mine, saved), now) in held.iter().zip(fences) {
        match now {
            Some(now) if now != *mine => {
                registry.drop_session(id, *mine);
            }
            // Still ours: recorded again, in case Redis lost the record
            // (a write may have set the fencing number again already).
            _ => {
                if let Err(e) = ownership.reclaim(id, *mine, saved).await {
                    log::warn!("redis: recording session {id} again: {e}");
                }
            }
        }
    }
}

/// Reopens the sessions claimed, each under its new fencing number.
fn resume_all(ownership: &Arc<Ownership>, registry: &Arc<Registry>, claimed: Vec<(String, u64)>) {
    // Marked at once: a request for one of them waits for its reopening.
    registry.resuming(claimed.iter().map(|(id, _)| id.clone()));
    for (id, fence) in claimed {
        let (ownership, registry) = (ownership.clone(), registry.clone());
        tokio::spawn(async move {
            // Until Redis answers: the session is claimed, nobody else
            // reopens it.
            loop {
                match ownership.saved(&id).await {
                    Ok(saved) => {
                        registry.resume(&id, fence, saved).await;
                        return;
                    }
                    Err(e) => {
                        log::warn!("redis: reading session {id} to take it over: {e}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
    }
}
