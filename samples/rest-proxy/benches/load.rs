//! Load: PLAYERS players spread over SERVERS game servers, each opening a
//! session and sending MESSAGES messages one after another (the next when the
//! character finished), while each server long-polls its events. Prints the
//! requests per second, the message → first reply event latency (p50, p99)
//! and the process's memory (proxy, client and local engine together).
//! `cargo bench -p inworld-rest-proxy --bench load` (PLAYERS=… to change).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inworld_rest_proxy::config::Config;
use inworld_rest_proxy::Proxy;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::{oneshot, Semaphore};

const SERVERS: usize = 10;
const MESSAGES: usize = 3;

/// Per session: when its last message went, and who waits for its reply.
#[derive(Default)]
struct Waiting {
    sent_at: HashMap<String, Instant>,
    done: HashMap<String, oneshot::Sender<()>>,
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let players: usize = std::env::var("PLAYERS")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(players));
}

async fn run(players: usize) {
    let config = Config::from_lookup(|_| None).unwrap();
    let proxy = Arc::new(
        tokio::task::spawn_blocking(move || Proxy::start(&config).unwrap())
            .await
            .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let served = {
        let proxy = proxy.clone();
        let config = Config::from_lookup(|_| None).unwrap();
        tokio::spawn(async move {
            proxy
                .serve(listener, &config, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        })
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let waiting = Arc::new(Mutex::new(Waiting::default()));
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let rss_before = rss_kib();
    let started = Instant::now();

    // The game servers: long polls of their events.
    let polling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut pollers = Vec::new();
    for server in 0..SERVERS {
        let (http, base, requests, waiting, latencies, polling) = (
            http.clone(),
            base.clone(),
            requests.clone(),
            waiting.clone(),
            latencies.clone(),
            polling.clone(),
        );
        pollers.push(tokio::spawn(async move {
            while polling.load(Ordering::Relaxed) {
                let events: Vec<Value> = http
                    .get(format!("{base}/events/server-{server}?wait=500"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                requests.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                let mut w = waiting.lock();
                for e in events {
                    let session = e["sessionId"].as_str().unwrap_or_default().to_string();
                    if e["type"] == "text" {
                        if let Some(at) = w.sent_at.remove(&session) {
                            latencies.lock().push(now - at);
                        }
                    } else if e["type"] == "interactionEnd" {
                        if let Some(done) = w.done.remove(&session) {
                            let _ = done.send(());
                        }
                    }
                }
            }
        }));
    }

    // The players.
    let opening = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::new();
    for player in 0..players {
        let (http, base, requests, waiting, opening) = (
            http.clone(),
            base.clone(),
            requests.clone(),
            waiting.clone(),
            opening.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let opened: Value = {
                let _permit = opening.acquire().await.unwrap();
                http.post(format!("{base}/session/open"))
                    .json(&json!({"uid": format!("player-{player}"), "sceneId": "tavern", "serverId": format!("server-{}", player % SERVERS)}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap()
            };
            requests.fetch_add(1, Ordering::Relaxed);
            let id = opened["sessionId"].as_str().expect("opened").to_string();
            for m in 0..MESSAGES {
                let (done, finished) = oneshot::channel();
                {
                    let mut w = waiting.lock();
                    w.sent_at.insert(id.clone(), Instant::now());
                    w.done.insert(id.clone(), done);
                }
                let r = http
                    .post(format!("{base}/session/{id}/message"))
                    .json(&json!({"message": format!("hello {m}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                requests.fetch_add(1, Ordering::Relaxed);
                tokio::time::timeout(Duration::from_secs(300), finished).await.expect("a reply").unwrap();
            }
            http.get(format!("{base}/session/{id}/close")).send().await.unwrap();
            requests.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let mut peak_rss = rss_kib();
    for t in tasks {
        t.await.unwrap();
        peak_rss = peak_rss.max(rss_kib());
    }
    let elapsed = started.elapsed();
    polling.store(false, Ordering::Relaxed);
    for p in pollers {
        p.await.unwrap();
    }
    let _ = stop.send(());
    served.await.unwrap();

    let mut l = latencies.lock().clone();
    l.sort();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    let total = requests.load(Ordering::Relaxed);
    println!(
        "players {players} on {SERVERS} servers, {MESSAGES} messages each, in {:.1} s",
        elapsed.as_secs_f64()
    );
    println!(
        "requests {total} ({:.0} per second)",
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "message -> first text event: p50 {:.1} ms, p99 {:.1} ms ({} replies)",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        l.len()
    );
    println!(
        "memory (proxy + client + local engine): {} MiB before, {} MiB at the peak",
        rss_before / 1024,
        peak_rss / 1024
    );
}
