//! Load: PLAYERS players spread over SERVERS game servers, each opening a
//! session and sending MESSAGES messages one after another (the next when the
//! character finished), while each server long-polls its events. Prints the
//! requests per second, the message → first reply event latency (p50, p99)
//! and the process's memory (proxy, client and local engine together).
//! `cargo bench -p inworld-rest-proxy --bench load` (PLAYERS=… to change).
//! `INSTANCES=N`: N instances on one redis-server of the bench's own (and one
//! engine), each request to the next instance in turn; it also prints the
//! Redis commands per request and the CPU time per request of this process
//! (proxies, client and engine) and of redis-server.

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

/// CPU time (user + system) this process has used.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// A field of redis-server's INFO.
fn redis_info(port: u16, field: &str) -> f64 {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "info", "everything"])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
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
    let instances: usize = std::env::var("INSTANCES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    runtime.block_on(run(players, instances));
}

async fn run(players: usize, instances: usize) {
    // With INSTANCES: a redis-server and an engine of our own, shared.
    let redis_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = None;
    let mut engine = None;
    let mut env: Vec<(String, String)> = Vec::new();
    if instances > 0 {
        redis = Some(
            std::process::Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &redis_port.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server"),
        );
        while std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let workspace = inworld::engine::Workspace::default_scenes();
        let scene = workspace.scene_names().into_iter().next().unwrap();
        let running = inworld::engine::RunningEngine::start_dedicated(
            inworld::engine::EngineConfig::new(workspace),
        )
        .unwrap();
        env = vec![
            ("INWORLD_KEY".into(), "test-api-key".into()),
            ("INWORLD_SECRET".into(), "test-api-secret".into()),
            ("INWORLD_HOST".into(), running.addr().to_string()),
            ("INWORLD_SCENE".into(), scene),
            (
                "REDIS_URL".into(),
                format!("redis://127.0.0.1:{redis_port}/0"),
            ),
        ];
        engine = Some(running);
    }
    let mut bases = Vec::new();
    let mut stops = Vec::new();
    let mut serving = Vec::new();
    for _ in 0..instances.max(1) {
        let env = env.clone();
        let config = move || {
            Config::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                .unwrap()
        };
        let proxy = Arc::new({
            let config = config();
            tokio::task::spawn_blocking(move || Proxy::start(&config).unwrap())
                .await
                .unwrap()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        bases.push(format!("http://{}", listener.local_addr().unwrap()));
        let (stop, stopped) = oneshot::channel::<()>();
        stops.push(stop);
        let config = config();
        serving.push(tokio::spawn(async move {
            proxy
                .serve(listener, &config, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        }));
    }
    let bases = Arc::new(bases);
    let turn = Arc::new(AtomicU64::new(0));
    // Each request to the next instance in turn.
    let next_base = {
        let (bases, turn) = (bases.clone(), turn.clone());
        move || bases[turn.fetch_add(1, Ordering::Relaxed) as usize % bases.len()].clone()
    };
    let redis_commands_before = if instances > 0 {
        redis_info(redis_port, "total_commands_processed")
    } else {
        0.0
    };
    let redis_cpu_before = if instances > 0 {
        redis_info(redis_port, "used_cpu_user") + redis_info(redis_port, "used_cpu_sys")
    } else {
        0.0
    };
    let cpu_before = cpu_seconds();
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
        let (http, next_base, requests, waiting, latencies, polling) = (
            http.clone(),
            next_base.clone(),
            requests.clone(),
            waiting.clone(),
            latencies.clone(),
            polling.clone(),
        );
        pollers.push(tokio::spawn(async move {
            while polling.load(Ordering::Relaxed) {
                let events: Vec<Value> = http
                    .get(format!("{}/events/server-{server}?wait=500", next_base()))
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
        let (http, next_base, requests, waiting, opening) = (
            http.clone(),
            next_base.clone(),
            requests.clone(),
            waiting.clone(),
            opening.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let opened: Value = {
                let _permit = opening.acquire().await.unwrap();
                http.post(format!("{}/session/open", next_base()))
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
                    .post(format!("{}/session/{id}/message", next_base()))
                    .json(&json!({"message": format!("hello {m}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                requests.fetch_add(1, Ordering::Relaxed);
                tokio::time::timeout(Duration::from_secs(300), finished).await.expect("a reply").unwrap();
            }
            http.get(format!("{}/session/{id}/close", next_base()))
                .send()
                .await
                .unwrap();
            requests.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let mut peak_rss = rss_kib();
    for t in tasks {
        t.await.unwrap();
        peak_rss = peak_rss.max(rss_kib());
    }
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    let (redis_commands, redis_cpu) = if instances > 0 {
        (
            redis_info(redis_port, "total_commands_processed") - redis_commands_before,
            redis_info(redis_port, "used_cpu_user") + redis_info(redis_port, "used_cpu_sys")
                - redis_cpu_before,
        )
    } else {
        (0.0, 0.0)
    };
    polling.store(false, Ordering::Relaxed);
    for p in pollers {
        p.await.unwrap();
    }
    for stop in stops {
        let _ = stop.send(());
    }
    for served in serving {
        served.await.unwrap();
    }
    if let Some(engine) = engine {
        engine.stop();
    }
    if let Some(mut redis) = redis {
        let _ = redis.kill();
        let _ = redis.wait();
    }

    let mut l = latencies.lock().clone();
    l.sort();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    let total = requests.load(Ordering::Relaxed);
    println!(
        "players {players} on {SERVERS} servers, {MESSAGES} messages each, in {:.1} s, {}",
        elapsed.as_secs_f64(),
        if instances == 0 {
            "one instance in memory".to_string()
        } else {
            format!("{instances} instance(s) on Redis")
        }
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
        "CPU per request: {:.0} us in this process (proxies, client, engine)",
        cpu / total as f64 * 1e6
    );
    if instances > 0 {
        println!(
            "Redis: {:.1} commands per request, {:.0} us of redis-server CPU per request",
            redis_commands / total as f64,
            redis_cpu / total as f64 * 1e6
        );
    }
    println!(
        "memory (proxy + client + local engine): {} MiB before, {} MiB at the peak",
        rss_before / 1024,
        peak_rss / 1024
    );
}
