//! A local OpenAI-compatible chat-completions server for tests of the
//! engine's language-model brain. It answers `POST .../chat/completions`
//! with server-sent events as the public API documents them
//! (`data: {chat.completion.chunk}` with content deltas, tool-call deltas,
//! a usage chunk, then `data: [DONE]`), or as it is told: slowly, held until
//! the test releases it, cut off mid-stream, 429 with retry-after, 500, 401,
//! or never. It records every request (body and authorization) and whether
//! the client closed the connection before the answer was complete.
#![allow(dead_code)]

use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Waits in tests only catch hangs.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How the server answers one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A stream of content deltas, then tool calls, usage and [DONE].
    Stream {
        deltas: Vec<String>,
        tool_calls: Vec<(String, String)>,
        /// Wait for `release()` after this many deltas.
        hold_after: Option<usize>,
        /// Close the connection after this many deltas, without [DONE].
        cut_after: Option<usize>,
        /// A pause between events.
        delay: Duration,
    },
    /// An HTTP error status, with a retry-after (seconds) when given.
    Status { code: u16, retry_after: Option<u64> },
    /// The request's system message streamed back as the reply (a model
    /// that gives its prompt away).
    EchoSystem,
    /// Headers never come.
    Hang,
}

impl Answer {
    /// Streams `deltas` at once.
    pub fn text(deltas: &[&str]) -> Answer {
        Answer::Stream {
            deltas: deltas.iter().map(|d| d.to_string()).collect(),
            tool_calls: Vec::new(),
            hold_after: None,
            cut_after: None,
            delay: Duration::ZERO,
        }
    }

    pub fn held_after(mut self, n: usize) -> Answer {
        if let Answer::Stream { hold_after, .. } = &mut self {
            *hold_after = Some(n);
        }
        self
    }

    pub fn cut_after(mut self, n: usize) -> Answer {
        if let Answer::Stream { cut_after, .. } = &mut self {
            *cut_after = Some(n);
        }
        self
    }

    pub fn with_tool_call(mut self, name: &str, arguments: &str) -> Answer {
        if let Answer::Stream { tool_calls, .. } = &mut self {
            tool_calls.push((name.to_string(), arguments.to_string()));
        }
        self
    }

    pub fn slow(mut self, pause: Duration) -> Answer {
        if let Answer::Stream { delay, .. } = &mut self {
            *delay = pause;
        }
        self
    }
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// The client closed the connection before the answer was complete.
    pub closed_early: bool,
    /// When the request was read.
    pub received: std::time::Instant,
}

impl Recorded {
    /// The text of every message, one per line: `role: content`.
    pub fn transcript(&self) -> String {
        self.body["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| {
                        format!(
                            "{}: {}",
                            m["role"].as_str().unwrap_or(""),
                            m["content"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    answers: VecDeque<Answer>,
    default: Option<Answer>,
    recorded: Vec<Recorded>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: usize,
    most_in_flight: usize,
}

#[derive(Clone)]
pub struct LlmServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    release: Arc<Notify>,
    changed: Arc<Notify>,
}

impl LlmServer {
    /// Starts on a free loopback port, on the current tokio runtime.
    pub async fn start() -> LlmServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = LlmServer {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(Mutex::new(State::default())),
            release: Arc::new(Notify::new()),
            changed: Arc::new(Notify::new()),
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(s.clone().serve(socket));
            }
        });
        server
    }

    /// The API base to give the engine (`http://127.0.0.1:PORT/v1`).
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The next request gets this answer (answers queue up in order).
    pub fn answer(&self, a: Answer) {
        self.state.lock().answers.push_back(a);
    }

    /// Requests beyond the queued answers get this one (default: a short greeting).
    pub fn answer_always(&self, a: Answer) {
        self.state.lock().default = Some(a);
    }

    /// Lets a held answer go on.
    pub fn release(&self) {
        self.release.notify_one();
    }

    /// The most requests that were being answered at once.
    pub fn most_at_once(&self) -> usize {
        self.state.lock().most_in_flight
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().recorded.clone()
    }

    /// Waits until `pred` holds for the recorded requests (panics after PATIENCE).
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&[Recorded]) -> bool) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let changed = self.changed.notified();
            {
                let recorded = self.requests();
                if pred(&recorded) {
                    return recorded;
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!(
                    "the test model server waited in vain for {what}: {:#?}",
                    self.requests()
                );
            }
        }
    }

    fn record(&self, r: Recorded) -> usize {
        let mut s = self.state.lock();
        s.recorded.push(r);
        s.in_flight += 1;
        s.most_in_flight = s.most_in_flight.max(s.in_flight);
        self.changed.notify_waiters();
        s.recorded.len() - 1
    }

    fn closed_early(&self, index: usize) {
        self.state.lock().recorded[index].closed_early = true;
        self.changed.notify_waiters();
    }

    async fn serve(self, socket: TcpStream) {
        let state = self.state.clone();
        if self.answer_one(socket).await {
            state.lock().in_flight -= 1;
        }
    }

    /// Answers one request; whether one was read and is still counted as
    /// being answered (a stream stops counting before its last event).
    async fn answer_one(self, mut socket: TcpStream) -> bool {
        let Some((path, headers, body)) = read_request(&mut socket).await else {
            return false;
        };
        let authorization = headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone());
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let answer = {
            let mut s = self.state.lock();
            s.answers
                .pop_front()
                .or_else(|| s.default.clone())
                .unwrap_or_else(|| Answer::text(&["[emotion=NEUTRAL] Hello. ", "How can I help?"]))
        };
        let index = self.record(Recorded {
            path,
            authorization,
            body: body.clone(),
            closed_early: false,
            received: std::time::Instant::now(),
        });
        let answer = match answer {
            Answer::EchoSystem => {
                Answer::text(&[body["messages"][0]["content"].as_str().unwrap_or("")])
            }
            a => a,
        };
        match answer {
            Answer::Hang => {
                let mut buf = [0u8; 64];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                self.closed_early(index);
            }
            Answer::Status { code, retry_after } => {
                let retry = retry_after
                    .map(|s| format!("retry-after: {s}\r\n"))
                    .unwrap_or_default();
                let body = json!({"error": {"message": "test server says no", "type": "test"}})
                    .to_string();
                let head = format!(
                    "HTTP/1.1 {code} Test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry}connection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(format!("{head}{body}").as_bytes()).await;
            }
            Answer::Stream {
                deltas,
                tool_calls,
                hold_after,
                cut_after,
                delay,
            } => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    {
                        self.closed_early(index);
                        return true;
                    }
                }
                let mut events: Vec<String> =
                    vec![chunk(json!({"role": "assistant", "content": ""}), None)];
                events.extend(deltas.iter().map(|d| chunk(json!({"content": d}), None)));
                let first_tool = events.len();
                for (i, (name, args)) in tool_calls.iter().enumerate() {
                    // As the API streams them: the name first, the arguments in pieces.
                    events.push(chunk(json!({"tool_calls": [{"index": i, "id": format!("call_{i}"), "type": "function", "function": {"name": name, "arguments": ""}}]}), None));
                    let half = args.len() / 2;
                    let half = (0..=half)
                        .rev()
                        .find(|h| args.is_char_boundary(*h))
                        .unwrap_or(0);
                    for part in [&args[..half], &args[half..]] {
                        events.push(chunk(
                            json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]}),
                            None,
                        ));
                    }
                }
                let finish = if tool_calls.is_empty() {
                    "stop"
                } else {
                    "tool_calls"
                };
                events.push(chunk(json!({}), Some(finish)));
                let _ = first_tool;
                events.push(format!(
                    "data: {}\n\n",
                    json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "test-model", "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": deltas.len(), "total_tokens": 100 + deltas.len()}})
                ));
                events.push("data: [DONE]\n\n".to_string());
                for (n, event) in events.iter().enumerate() {
                    // Event 0 is the role; delta k is event k.
                    if cut_after.is_some_and(|c| n == c + 1) {
                        return true; // closes without [DONE]
                    }
                    if hold_after.is_some_and(|h| n == h + 1) {
                        let mut buf = [0u8; 64];
                        tokio::select! {
                            _ = self.release.notified() => {}
                            _ = socket.read(&mut buf) => { self.closed_early(index); return true; }
                        }
                    }
                    if !delay.is_zero() {
                        let mut buf = [0u8; 64];
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = socket.read(&mut buf) => { self.closed_early(index); return true; }
                        }
                    }
                    if n == events.len() - 1 {
                        // The client may start its next call as soon as it
                        // reads [DONE]: this one is over before that, or
                        // this task's bookkeeping would count the two at once.
                        self.state.lock().in_flight -= 1;
                        if socket.write_all(event.as_bytes()).await.is_err() {
                            self.closed_early(index);
                        }
                        return false;
                    }
                    if socket.write_all(event.as_bytes()).await.is_err() {
                        {
                            self.closed_early(index);
                            return true;
                        }
                    }
                }
            }
            Answer::EchoSystem => unreachable!(),
        }
        true
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    format!(
        "data: {}\n\n",
        json!({
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "test-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    )
}

/// Reads an HTTP/1.1 request: its path, headers (names lowercased) and body.
async fn read_request(socket: &mut TcpStream) -> Option<(String, Vec<(String, String)>, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split_whitespace().nth(1)?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some((path, headers, body))
}
