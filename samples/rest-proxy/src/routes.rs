//! The HTTP routes: the original proxy's, with its status codes and bodies,
//! and ours beside them (long polling, a session's own events). Thin: the
//! registry does the work.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::cluster::{Cluster, Holder, FORWARDED};
use crate::metrics::{Metrics, Unauthorized};
use crate::registry::{characters, current_character, Registry};
use crate::validate::{check, MAX_ID_CHARS, MESSAGE, OPEN};

/// Long polls wait at most this long, whatever is asked.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct App {
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    /// PROXY_TOKEN: every route but / and /status wants `Bearer <token>`.
    pub token: Option<String>,
    /// Sends a minute per uid.
    pub rate_limit: Option<u32>,
    pub max_body_bytes: usize,
    /// A request body not received in this long gets a 408.
    pub body_timeout: Duration,
    /// With REDIS_URL: the other instances.
    pub cluster: Option<Arc<Cluster>>,
    /// With REDIS_URL: writes waiting for Redis beyond which requests that
    /// would add more get a 503.
    pub max_write_backlog: usize,
}

/// How long a message's 202 waits for its line to be in Redis (with
/// REDIS_URL), so that a takeover right after it remembers the line.
const SAID_WAIT: Duration = Duration::from_secs(2);

/// 503 when Redis is so far behind that the writes waiting for it reach
/// the bound: the request is refused rather than the queue grown.
fn backlogged(app: &App) -> Option<Response> {
    (app.registry.write_backlog() >= app.max_write_backlog).then(|| {
        log::warn!(
            "{} writes wait for redis: request refused",
            app.registry.write_backlog()
        );
        (StatusCode::SERVICE_UNAVAILABLE, Json("Service Unavailable")).into_response()
    })
}

/// The original's answer to any path or method it does not serve.
async fn route_not_found() -> Response {
    (StatusCode::NOT_FOUND, Json("Route Not Found")).into_response()
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(|| async { "Inworld.AI RESTful Server" }))
        .route("/status", get(|| async { "OK" }))
        .route("/session/open", post(open))
        .route("/session/{id}/message", post(message))
        .route("/session/{id}/custom/{custom}", get(custom))
        .route("/events", get(all_events))
        .route("/events/{server}", get(server_events))
        .route("/session/{id}/events", get(session_events))
        .route("/session/{id}/characters", get(session_characters))
        .route("/session/{id}/character", get(session_character))
        .route("/session/{id}/character/{character}", post(set_character))
        .route("/session/{id}/server/{server}", get(move_server))
        .route("/session/{id}/status", get(status))
        .route("/session/{id}/close", get(close))
        .route("/session/closeall/{uid}", get(close_all))
        .route(
            "/session/closeall/{uid}/server/{server}",
            get(close_all_of_server),
        )
        .route("/session/{id}/turn", post(turn))
        .route("/metrics", get(metrics))
        .fallback(route_not_found)
        // A known path with a method it does not serve: the original's 404.
        .method_not_allowed_fallback(route_not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), carry))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            receive_body,
        ))
        .layer(axum::middleware::from_fn_with_state(app.clone(), protect))
        .layer(axum::extract::DefaultBodyLimit::max(app.max_body_bytes))
        .layer(axum::middleware::from_fn({
            let metrics = app.metrics.clone();
            move |request: Request, next: Next| {
                crate::metrics::record(metrics.clone(), request, next)
            }
        }))
        .with_state(app)
}

/// The bearer token check (when PROXY_TOKEN is set): the scheme in any
/// case, as HTTP says; the token compared in constant time.
async fn protect(State(app): State<App>, request: Request, next: Next) -> Response {
    let open_route = matches!(request.uri().path(), "/" | "/status");
    if let (Some(token), false) = (&app.token, open_route) {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, given)| given.trim_start());
        let matches = given.is_some_and(|given| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                given.as_bytes(),
                token.as_bytes(),
            ))
        });
        if !matches {
            let mut refused = (StatusCode::UNAUTHORIZED, Json("Unauthorized")).into_response();
            refused.extensions_mut().insert(Unauthorized);
            return refused;
        }
    }
    next.run(request).await
}

/// Receives the whole body before the route runs: a client that sends it
/// too slowly gets a 408, one that sends too much a 413.
async fn receive_body(State(app): State<App>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let received = tokio::time::timeout(
        app.body_timeout,
        axum::body::to_bytes(body, app.max_body_bytes),
    )
    .await;
    match received {
        Err(_) => (StatusCode::REQUEST_TIMEOUT, Json("Request Timeout")).into_response(),
        Ok(Err(_)) => (StatusCode::PAYLOAD_TOO_LARGE, Json("Payload Too Large")).into_response(),
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
    }
}

/// The session a `/session/:id/...` path names.
fn session_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/session/")?;
    let (id, _) = rest.split_once('/')?;
    (id != "closeall" && !id.is_empty()).then_some(id)
}

/// How long a request for a session being reopened here waits for it
/// before a 503 tells the client to retry.
const REOPEN_WAIT: Duration = Duration::from_secs(2);

/// With several instances: a request for a session another instance holds
/// is carried to it (once), and its answer given back. A session known in
/// Redis that no live instance holds yet (its owner stopped, or it is
/// being reopened) gets a 503 with `Retry-After`, after a short wait when
/// it is being reopened here; an unknown one, the route's own 404.
async fn carry(State(app): State<App>, request: Request, next: Next) -> Response {
    let Some(cluster) = &app.cluster else {
        return next.run(request).await;
    };
    let id = match session_of(request.uri().path()) {
        Some(id) if !app.registry.holds(id) => id.to_string(),
        _ => return next.run(request).await,
    };
    if app.registry.wait_reopened(&id, REOPEN_WAIT).await {
        return next.run(request).await;
    }
    let carried = request.headers().contains_key(FORWARDED);
    match cluster.holder(&id).await {
        Ok(Holder::Nobody) => next.run(request).await,
        Ok(Holder::Alive(owner)) if !carried => match cluster.forward(&owner, request).await {
            Some(answer) => answer,
            // It stopped: its sessions are taken over within a lease.
            None => moving(cluster, &id),
        },
        // Recorded here and not held: closed here a moment ago (its close
        // not written yet), or claimed and not reopened yet.
        Ok(Holder::Me) => {
            let _ = tokio::time::timeout(SAID_WAIT, app.registry.flush()).await;
            match cluster.holder(&id).await {
                Ok(Holder::Nobody) => next.run(request).await,
                Ok(_) => moving(cluster, &id),
                Err(e) => unavailable(e),
            }
        }
        // The owner gone, or (carried here) moved on meanwhile.
        Ok(_) => moving(cluster, &id),
        Err(e) => unavailable(e),
    }
}

/// 503 for a session that exists but no live instance holds yet: retry.
fn moving(cluster: &Cluster, id: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, cluster.retry_after.to_string())],
        Json(format!("Session {id} Unavailable")),
    )
        .into_response()
}

fn not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(format!("Session {id} Not Found")),
    )
        .into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

fn bad_request(text: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

async fn open(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match check(&body, is_json(&headers), OPEN) {
        Ok(f) => f,
        Err(text) => return bad_request(text),
    };
    let field = |name: &str| fields.get(name).and_then(Value::as_str);
    let uid = field("uid").unwrap_or_default();
    if let Some(refused) = backlogged(&app) {
        return refused;
    }
    if let Some(per_minute) = app.rate_limit {
        if !app.registry.allow_open(uid, per_minute) {
            return (StatusCode::TOO_MANY_REQUESTS, Json("Too Many Requests")).into_response();
        }
    }
    let opened = app
        .registry
        .open(
            uid,
            field("sceneId").unwrap_or_default(),
            // Clients of the original send "-1" for the scene's default.
            field("characterId").filter(|c| *c != "-1"),
            field("playerName"),
            field("serverId"),
        )
        .await;
    match opened {
        Ok(o) => Json(serde_json::json!({
            "sessionId": o.session_id,
            "character": o.character,
            "characters": o.characters,
        }))
        .into_response(),
        Err(crate::registry::OpenRefused::Unavailable(e)) => unavailable(e),
        Err(crate::registry::OpenRefused::Starting) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            Json("Service Unavailable"),
        )
            .into_response(),
        Err(why) => {
            log::info!("open refused: {why}");
            (StatusCode::CONFLICT, Json("Unable to create session")).into_response()
        }
    }
}

/// The original's 202, with the interaction id in a header of ours, so a
/// client can match the reply's events, or its `sendFailed`, to the send.
fn accepted(interaction_id: &str) -> Response {
    (
        StatusCode::ACCEPTED,
        [("interaction-id", interaction_id)],
        "Accepted",
    )
        .into_response()
}

/// 429 when the session's player sends faster than RATE_LIMIT allows.
fn over_limit(app: &App, id: &str) -> Option<Response> {
    let per_minute = app.rate_limit?;
    (!app.registry.allow(id, per_minute))
        .then(|| (StatusCode::TOO_MANY_REQUESTS, Json("Too Many Requests")).into_response())
}

async fn message(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if app.registry.session(&id).is_none() {
        return not_found(&id);
    }
    if let Some(refused) = over_limit(&app, &id) {
        return refused;
    }
    let fields = match check(&body, is_json(&headers), MESSAGE) {
        Ok(f) => f,
        Err(text) => return bad_request(text),
    };
    if let Some(refused) = backlogged(&app) {
        return refused;
    }
    let text = fields
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let sent = app.registry.say(&id, text);
    answer_send(&app, &id, sent).await
}

/// The answer to a message or custom trigger sent: 202 once what it
/// recorded is in Redis (or Redis is away: it is written when Redis
/// returns); 503 when Redis refused it, because another instance took the
/// session over (this one was paused) and nothing of this send would reach
/// the client, so that the retry reaches the new owner.
async fn answer_send(
    app: &App,
    id: &str,
    sent: Option<Result<(inworld::client::SentIds, u64), inworld::client::Error>>,
) -> Response {
    match sent {
        None => not_found(id),
        Some(Ok((ids, fence))) => {
            let _ = tokio::time::timeout(SAID_WAIT, app.registry.flush()).await;
            match &app.cluster {
                Some(cluster) if app.registry.refused(id, fence) => moving(cluster, id),
                _ => accepted(&ids.interaction_id),
            }
        }
        Some(Err(e)) => (StatusCode::CONFLICT, Json(e.to_string())).into_response(),
    }
}

async fn custom(State(app): State<App>, Path((id, custom)): Path<(String, String)>) -> Response {
    if app.registry.session(&id).is_none() {
        return not_found(&id);
    }
    if let Some(refused) = over_limit(&app, &id) {
        return refused;
    }
    if let Some(refused) = backlogged(&app) {
        return refused;
    }
    let sent = app.registry.trigger(&id, &custom);
    answer_send(&app, &id, sent).await
}

#[derive(Deserialize)]
struct Wait {
    /// Long polling: wait up to this many ms for an event when none is queued.
    wait: Option<u64>,
    /// At-least-once delivery: acknowledges the events up
    /// to this sequence number and gives the later ones, each with its
    /// `seq`, without taking them (the next cursor acknowledges them).
    after: Option<u64>,
}

/// 503 when the shared store (Redis) failed: nothing was taken.
fn unavailable(e: redis::RedisError) -> Response {
    log::warn!("redis: {e}");
    (StatusCode::SERVICE_UNAVAILABLE, Json("Service Unavailable")).into_response()
}

async fn drain_waiting(app: &App, server: Option<&str>, q: Wait) -> Response {
    let (wait, after) = (q.wait, q.after);
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(wait.unwrap_or(0)).min(MAX_WAIT);
    loop {
        // Listening before looking, so an event that comes in between wakes us.
        let arrivals = app.registry.arrivals();
        let arrived = arrivals.notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let events = match app.registry.take(server, after).await {
            Ok(events) => events,
            Err(e) => return unavailable(e),
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !events.is_empty() || left.is_zero() {
            return Json(events).into_response();
        }
        let _ = tokio::time::timeout(left, arrived).await;
    }
}

async fn all_events(State(app): State<App>, Query(q): Query<Wait>) -> Response {
    drain_waiting(&app, None, q).await
}

async fn server_events(
    State(app): State<App>,
    Path(server): Path<String>,
    Query(q): Query<Wait>,
) -> Response {
    drain_waiting(&app, Some(&server), q).await
}

async fn session_events(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<Wait>,
) -> Response {
    match app.registry.take_session(&id, q.after).await {
        Ok(Some(events)) => Json(events).into_response(),
        Ok(None) => not_found(&id),
        Err(e) => unavailable(e),
    }
}

async fn session_characters(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.registry.session(&id) {
        Some(s) => Json(characters(&s)).into_response(),
        None => not_found(&id),
    }
}

async fn session_character(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.registry.session(&id) {
        Some(s) => Json(current_character(&s)).into_response(),
        None => not_found(&id),
    }
}

/// An unknown character leaves the current one (as the original).
async fn set_character(
    State(app): State<App>,
    Path((id, character)): Path<(String, String)>,
) -> Response {
    let Some(session) = app.registry.session(&id) else {
        return not_found(&id);
    };
    if session.set_current_character(&character).is_ok() {
        app.registry.record(&id, "character", &character);
    }
    Json(current_character(&session)).into_response()
}

async fn move_server(
    State(app): State<App>,
    Path((id, server)): Path<(String, String)>,
) -> Response {
    if server.chars().count() > MAX_ID_CHARS {
        return bad_request(format!(
            "Error validating request. \"serverId\" length must be less than or equal to {MAX_ID_CHARS} characters long."
        ));
    }
    if app.registry.move_to_server(&id, &server) {
        (StatusCode::ACCEPTED, "Accepted").into_response()
    } else {
        not_found(&id)
    }
}

async fn status(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.registry.session(&id) {
        Some(_) => Json(true).into_response(),
        None => not_found(&id),
    }
}

async fn close(State(app): State<App>, Path(id): Path<String>) -> Response {
    if app.registry.close(&id, "closed") {
        "OK".into_response()
    } else {
        not_found(&id)
    }
}

/// Closes the uid's sessions here and, with several instances, at every
/// instance.
async fn close_everywhere(app: &App, uid: &str, server: Option<&str>) -> Response {
    app.registry.close_all(uid, server);
    if let Some(cluster) = &app.cluster {
        if let Err(e) = cluster.close_all(uid, server).await {
            return unavailable(e);
        }
    }
    "OK".into_response()
}

async fn close_all(State(app): State<App>, Path(uid): Path<String>) -> Response {
    close_everywhere(&app, &uid, None).await
}

async fn close_all_of_server(
    State(app): State<App>,
    Path((uid, server)): Path<(String, String)>,
) -> Response {
    close_everywhere(&app, &uid, Some(&server)).await
}

async fn metrics(State(app): State<App>) -> Response {
    let queued = match app.registry.count_queued().await {
        Ok(queued) => queued,
        Err(e) => return unavailable(e),
    };
    let mut text = app.metrics.render(app.registry.open_sessions(), queued);
    if let Some(cluster) = &app.cluster {
        use std::fmt::Write;
        text.push_str("# HELP inworld_proxy_forwards_total Requests carried to the instance holding their session.\n");
        text.push_str("# TYPE inworld_proxy_forwards_total counter\n");
        let _ = writeln!(
            text,
            "inworld_proxy_forwards_total {}",
            cluster.forwards.load(std::sync::atomic::Ordering::Relaxed)
        );
        let registry = &app.registry;
        let counters = [
            (
                "inworld_proxy_takeovers_total",
                "Sessions this instance reopened after their owner stopped.",
                "counter",
                registry
                    .takeovers
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
            (
                "inworld_proxy_fenced_writes_total",
                "Writes Redis refused because another instance owns their session.",
                "counter",
                registry.fenced_writes(),
            ),
            (
                "inworld_proxy_sessions_lost_total",
                "Sessions dropped here because another instance took them over.",
                "counter",
                registry.lost.load(std::sync::atomic::Ordering::Relaxed),
            ),
            (
                "inworld_proxy_sessions_awaiting_takeover",
                "Sessions of stopped instances no instance has taken over yet (none had room under MAX_SESSIONS, or their shares are still held).",
                "gauge",
                registry
                    .awaiting_takeover
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
            (
                "inworld_proxy_write_backlog",
                "Writes waiting for Redis.",
                "gauge",
                registry.write_backlog() as u64,
            ),
        ];
        for (name, help, kind, value) in counters {
            let _ = writeln!(text, "# HELP {name} {help}");
            let _ = writeln!(text, "# TYPE {name} {kind}");
            let _ = writeln!(text, "{name} {value}");
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[derive(Deserialize)]
struct TurnQuery {
    /// How long to wait for the whole reply (ms; default 30 s, at most 120 s).
    timeout: Option<u64>,
}

/// A synchronous turn: sends the message and answers with the whole reply
/// when the character has finished: {interactionId, text: [lines], emotions,
/// triggers}. 504 with what arrived when the reply does not end in time; 502
/// at once, with why, when the message did not make it (`failed`).
async fn turn(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<TurnQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if app.registry.session(&id).is_none() {
        return not_found(&id);
    }
    let fields = match check(&body, is_json(&headers), MESSAGE) {
        Ok(f) => f,
        Err(text) => return bad_request(text),
    };
    if let Some(refused) = over_limit(&app, &id) {
        return refused;
    }
    if let Some(refused) = backlogged(&app) {
        return refused;
    }
    let text = fields
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (interaction, mut events) = match app.registry.start_turn(&id, text) {
        None => return not_found(&id),
        Some(Err(e)) => return (StatusCode::CONFLICT, Json(e.to_string())).into_response(),
        Some(Ok(started)) => started,
    };
    let limit = Duration::from_millis(q.timeout.unwrap_or(30_000)).min(Duration::from_secs(120));
    let (mut lines, mut emotions, mut triggers) = (Vec::new(), Vec::new(), Vec::new());
    let mut failed = None;
    let collected = tokio::time::timeout(limit, async {
        while let Some(event) = events.recv().await {
            match event["type"].as_str() {
                Some("text") if event["final"] == true => lines.push(event["text"].clone()),
                Some("emotion") => emotions.push(serde_json::json!({"behavior": event["behavior"], "strength": event["strength"]})),
                Some("custom") => triggers.push(event["name"].clone()),
                Some("interactionEnd") => return true,
                Some("sendFailed") => {
                    failed = Some(serde_json::json!({"reason": event["reason"], "message": event["message"]}));
                    return false;
                }
                _ => {}
            }
        }
        false
    })
    .await;
    let finished = matches!(collected, Ok(true));
    if !finished {
        app.registry.end_turn(&id, &interaction);
    }
    let mut reply = serde_json::json!({
        "interactionId": interaction,
        "text": lines,
        "emotions": emotions,
        "triggers": triggers,
        "finished": finished,
    });
    let status = if finished {
        StatusCode::OK
    } else if let Some(failed) = failed {
        reply["failed"] = failed;
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::GATEWAY_TIMEOUT
    };
    (status, Json(reply)).into_response()
}
