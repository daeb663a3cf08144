//! A proxy on a free loopback port, in process, for the tests: the local
//! engine behind it unless the environment names another.

#![allow(dead_code)]

pub mod redis_server;

use std::time::{Duration, Instant};

use inworld_rest_proxy::config::Config;
use inworld_rest_proxy::Proxy;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;

/// Waits poll conditions; their limits only catch hangs.
pub const LIMIT: Duration = Duration::from_secs(120);

pub struct Running {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Proxy>,
}

pub async fn start(env: &[(&str, &str)]) -> Running {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config =
        Config::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        let (proxy, config) =
            tokio::task::spawn_blocking(move || Proxy::start(&config).map(|p| (p, config)))
                .await
                .unwrap()
                .unwrap();
        proxy
            .serve(listener, &config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        proxy
    });
    let http = reqwest::Client::new();
    let start = Instant::now();
    while http.get(format!("{base}/status")).send().await.is_err() {
        assert!(start.elapsed() < LIMIT, "the proxy never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Running {
        base,
        addr,
        http,
        stop: Some(stop),
        done,
    }
}

impl Running {
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (StatusCode, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// The status code of `/session/<id>/status` for an opened session.
    pub async fn status_of(&self, opened: &Value) -> StatusCode {
        let id = opened["sessionId"].as_str().unwrap();
        self.get(&format!("/session/{id}/status")).await.0
    }

    pub async fn open(&self, body: Value) -> Value {
        let (status, text) = self.post_json("/session/open", body).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Drains `path` until `done` holds for what was drained so far.
    pub async fn events_until(&self, path: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let mut all = Vec::new();
        let start = Instant::now();
        while !done(&all) {
            assert!(start.elapsed() < LIMIT, "never happened; events: {all:?}");
            let (status, text) = self.get(path).await;
            assert_eq!(status, StatusCode::OK);
            let batch: Vec<Value> = serde_json::from_str(&text).unwrap();
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            all.extend(batch);
        }
        all
    }

    pub async fn stop(mut self) -> Proxy {
        let _ = self.stop.take().unwrap().send(());
        self.done.await.unwrap()
    }
}

/// Whether `events` hold the end of `interaction`, or its failure.
pub fn settled(events: &[Value], interaction: &str) -> bool {
    events.iter().any(|e| {
        e["interactionId"] == interaction
            && (e["type"] == "interactionEnd" || e["type"] == "sendFailed")
    })
}
