//! Asking the model: one streamed chat-completion request (`stream: true`),
//! read as server-sent events of `chat.completion.chunk`s: content deltas,
//! tool-call deltas, usage, then `[DONE]`. Its failures are kept apart
//! (refused key, rate limit, server error, timeout, a stream cut short) so
//! the engine can retry what is worth retrying and tell clients the rest
//! with the protocol's error details.

use super::sse::SseParser;
use crate::engine::config::LlmConfig;
use crate::protocol::status::{status_with_details, ErrorDetails, ErrorType, ReconnectionType};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Reconnects a client may try after a model failure (the model's own
/// retries were made already).
const CLIENT_RECONNECTS: i32 = 3;

/// Why a model call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModelError {
    /// 401 or 403: the engine's API key is refused.
    Unauthorized(u16),
    /// 429, with the wait it asked for.
    RateLimited(Option<Duration>),
    /// 5xx.
    Server(u16),
    /// Another status (a model that does not exist, a request it refuses).
    Refused(u16),
    /// No connection, or it broke before the reply started.
    Unreachable,
    /// No answer, or a silent stream, for the configured timeout.
    Timeout,
    /// The stream ended (or broke) before `[DONE]`.
    Cut,
    /// The engine's bound on model calls at once was reached.
    Busy,
}

impl ModelError {
    /// Worth asking again (before any of the reply was said).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ModelError::RateLimited(_)
                | ModelError::Server(_)
                | ModelError::Unreachable
                | ModelError::Timeout
                | ModelError::Cut
        )
    }

    /// The status that ends the client's stream, with Inworld's error
    /// details saying whether and when to reconnect (and how often to try).
    pub fn status(&self) -> tonic::Status {
        use tonic::Code;
        let soon = |d: Duration| Some(SystemTime::now() + d);
        let (code, message, error_type, reconnect, at) = match self {
            ModelError::Unauthorized(s) => (
                Code::PermissionDenied,
                format!("the engine's language model refused its API key (HTTP {s})"),
                ErrorType::AccountDisabled,
                ReconnectionType::NoRetry,
                None,
            ),
            ModelError::RateLimited(after) => (
                Code::ResourceExhausted,
                "the engine's language model is rate limited".to_string(),
                ErrorType::SessionResourcesExhausted,
                ReconnectionType::Timeout,
                soon(after.unwrap_or(Duration::from_secs(1))),
            ),
            ModelError::Busy => (
                Code::ResourceExhausted,
                "the engine is answering as many players as it may at once".to_string(),
                ErrorType::SessionResourcesExhausted,
                ReconnectionType::Timeout,
                soon(Duration::from_secs(1)),
            ),
            ModelError::Server(s) => (
                Code::Unavailable,
                format!("the engine's language model failed (HTTP {s})"),
                ErrorType::SessionPaused,
                ReconnectionType::Timeout,
                soon(Duration::from_secs(1)),
            ),
            ModelError::Unreachable => (
                Code::Unavailable,
                "the engine's language model cannot be reached".to_string(),
                ErrorType::SessionPaused,
                ReconnectionType::Timeout,
                soon(Duration::from_secs(1)),
            ),
            ModelError::Refused(s) => (
                Code::FailedPrecondition,
                format!("the engine's language model refused the request (HTTP {s})"),
                ErrorType::SessionInvalid,
                ReconnectionType::NoRetry,
                None,
            ),
            ModelError::Timeout => (
                Code::DeadlineExceeded,
                "the engine's language model did not answer in time".to_string(),
                ErrorType::SessionPaused,
                ReconnectionType::Immediate,
                None,
            ),
            ModelError::Cut => (
                Code::Unavailable,
                "the engine's language model stopped mid-reply".to_string(),
                ErrorType::SessionPaused,
                ReconnectionType::Immediate,
                None,
            ),
        };
        let mut details = ErrorDetails::new(error_type, reconnect);
        details.reconnect_time = at;
        if reconnect != ReconnectionType::NoRetry {
            details.max_retries = CLIENT_RECONNECTS;
        }
        status_with_details(code, message, &details)
    }
}

/// What one chunk of the stream brings.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    pub content: String,
    /// Tool calls the model finished (at the stream's end): name, arguments.
    pub tool_calls: Vec<(String, String)>,
}

/// The engine's model: an HTTP client and the bound on calls at once.
pub(crate) struct Model {
    pub config: LlmConfig,
    http: reqwest::Client,
    calls: Arc<Semaphore>,
}

impl Model {
    pub fn new(config: LlmConfig) -> Model {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .build()
            .expect("an HTTP client with rustls builds");
        Model {
            calls: Arc::new(Semaphore::new(config.max_calls.max(1))),
            config,
            http,
        }
    }

    /// A permit for one call, waiting at most the timeout for one.
    pub async fn permit(&self) -> Result<OwnedSemaphorePermit, ModelError> {
        tokio::time::timeout(self.config.timeout, self.calls.clone().acquire_owned())
            .await
            .map_err(|_| ModelError::Busy)?
            .map_err(|_| ModelError::Busy)
    }

    /// Sends the request; the reply streams from the returned value.
    pub async fn ask(&self, messages: Vec<Value>) -> Result<ModelStream, ModelError> {
        let body = json!({
            "model": self.config.model,
            "messages": messages,
            "stream": true,
            "max_tokens": self.config.max_tokens,
        });
        let mut request = self
            .http
            .post(self.config.endpoint())
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .body(body.to_string());
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = match tokio::time::timeout(self.config.timeout, request.send()).await {
            Err(_) => return Err(ModelError::Timeout),
            Ok(Err(e)) if e.is_timeout() => return Err(ModelError::Timeout),
            Ok(Err(_)) => return Err(ModelError::Unreachable),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if status != 200 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(3600.0)));
            log::warn!(
                "language model at {} answered HTTP {status}",
                self.config.endpoint()
            );
            return Err(match status {
                401 | 403 => ModelError::Unauthorized(status),
                429 => ModelError::RateLimited(retry_after),
                500..=599 => ModelError::Server(status),
                _ => ModelError::Refused(status),
            });
        }
        let json = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        Ok(ModelStream {
            response,
            timeout: self.config.timeout,
            sse: SseParser::default(),
            events: VecDeque::new(),
            tools: BTreeMap::new(),
            json: json.then(Vec::new),
            done: false,
        })
    }
}

/// A reply streaming in.
pub(crate) struct ModelStream {
    response: reqwest::Response,
    timeout: Duration,
    sse: SseParser,
    events: VecDeque<String>,
    /// Tool calls by index: name, arguments so far.
    tools: BTreeMap<u64, (String, String)>,
    /// A server that answered with one JSON body instead of a stream.
    json: Option<Vec<u8>>,
    done: bool,
}

/// A JSON body larger than this is refused.
const MAX_BODY_BYTES: usize = 1 << 20;

impl ModelStream {
    /// The next delta; `None` after `[DONE]`.
    pub async fn next(&mut self) -> Result<Option<Delta>, ModelError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(event) = self.events.pop_front() {
                if event.trim() == "[DONE]" {
                    self.done = true;
                    return Ok(Some(self.finished_tools()));
                }
                if let Some(delta) = self.read_chunk(&event) {
                    return Ok(Some(delta));
                }
                continue;
            }
            let chunk = match tokio::time::timeout(self.timeout, self.response.chunk()).await {
                Err(_) => return Err(ModelError::Timeout),
                Ok(Err(_)) => return Err(ModelError::Cut),
                Ok(Ok(c)) => c,
            };
            let Some(bytes) = chunk else {
                return match self.json.take() {
                    Some(body) => {
                        self.done = true;
                        Ok(Some(whole_body(&body)?))
                    }
                    // Ended without [DONE]: cut off.
                    None => Err(ModelError::Cut),
                };
            };
            if let Some(body) = &mut self.json {
                if body.len() + bytes.len() > MAX_BODY_BYTES {
                    return Err(ModelError::Cut);
                }
                body.extend_from_slice(&bytes);
                continue;
            }
            let mut out = Vec::new();
            self.sse
                .push(&bytes, &mut out)
                .map_err(|_| ModelError::Cut)?;
            self.events.extend(out);
        }
    }

    /// A `chat.completion.chunk`'s content delta; tool-call deltas are
    /// gathered until the stream ends. Usage is logged.
    fn read_chunk(&mut self, event: &str) -> Option<Delta> {
        let chunk: Value = serde_json::from_str(event).ok()?;
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            log::debug!(
                "language model usage: {} prompt + {} completion tokens",
                usage["prompt_tokens"],
                usage["completion_tokens"]
            );
        }
        let delta = chunk.get("choices")?.get(0)?.get("delta")?;
        if let Some(calls) = delta.get("tool_calls").and_then(|c| c.as_array()) {
            for call in calls {
                let index = call.get("index").and_then(|i| i.as_u64()).unwrap_or(0);
                let entry = self.tools.entry(index).or_default();
                if let Some(f) = call.get("function") {
                    if let Some(name) = f.get("name").and_then(|n| n.as_str()) {
                        entry.0.push_str(name);
                    }
                    if let Some(args) = f.get("arguments").and_then(|a| a.as_str()) {
                        if entry.1.len() + args.len() <= MAX_BODY_BYTES {
                            entry.1.push_str(args);
                        }
                    }
                }
            }
        }
        let content = delta.get("content").and_then(|c| c.as_str()).unwrap_or("");
        Some(Delta {
            content: content.to_string(),
            tool_calls: Vec::new(),
        })
    }

    fn finished_tools(&mut self) -> Delta {
        Delta {
            content: String::new(),
            tool_calls: std::mem::take(&mut self.tools).into_values().collect(),
        }
    }
}

/// A whole `chat.completion` (a server that ignored `stream: true`).
fn whole_body(body: &[u8]) -> Result<Delta, ModelError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| ModelError::Cut)?;
    let message = &value["choices"][0]["message"];
    Ok(Delta {
        content: message["content"].as_str().unwrap_or("").to_string(),
        tool_calls: message["tool_calls"]
            .as_array()
            .map(|calls| {
                calls
                    .iter()
                    .map(|c| {
                        (
                            c["function"]["name"].as_str().unwrap_or("").to_string(),
                            c["function"]["arguments"]
                                .as_str()
                                .unwrap_or("")
                                .to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::status::details_of;

    #[test]
    fn failures_map_to_statuses_clients_act_on() {
        let rate = ModelError::RateLimited(Some(Duration::from_secs(7))).status();
        assert_eq!(rate.code(), tonic::Code::ResourceExhausted);
        let d = details_of(&rate).unwrap();
        assert_eq!(d.error_type(), Some(ErrorType::SessionResourcesExhausted));
        assert_eq!(d.reconnect_type, ReconnectionType::Timeout);
        assert_eq!(d.max_retries, 3);
        let wait = d
            .reconnect_time
            .unwrap()
            .duration_since(SystemTime::now())
            .unwrap();
        assert!(wait > Duration::from_secs(5) && wait <= Duration::from_secs(7));
        let key = ModelError::Unauthorized(401).status();
        assert_eq!(key.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            details_of(&key).unwrap().reconnect_type,
            ReconnectionType::NoRetry
        );
        assert!(!ModelError::Unauthorized(401).retryable());
        assert!(ModelError::Server(503).retryable());
    }
}
