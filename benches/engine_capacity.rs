//! Engine capacity: many concurrent sessions exchanging text with zero pacing,
//! over raw tonic clients on loopback (client and engine share this machine).
//!
//! `cargo bench --bench engine_capacity` — bounded in time and count:
//! INWORLD_BENCH_SESSIONS (default 2000), INWORLD_BENCH_SECONDS (default 10),
//! INWORLD_BENCH_CONNECTIONS (default 40 HTTP/2 connections).
//! Prints sessions open, reply packets per second and reply latency percentiles.

#[path = "../tests/engine_support/mod.rs"]
mod engine_support;

use engine_support::*;
use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use inworld::protocol::ai::inworld::engine::configuration::CapabilitiesConfiguration;
use inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Totals {
    packets: AtomicU64,
    replies: AtomicU64,
}

/// Opens one session on `channel`: token, configuration, scene, conversation.
async fn open(
    channel: Channel,
    engine_addr: String,
    creds: inworld::auth::Credentials,
) -> Result<(Stream, String), String> {
    let mut client = WorldEngineClient::new(channel);
    let token = client
        .generate_token(signed(
            token_request("test-ws", &creds),
            &creds,
            &engine_addr,
        ))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let rx = client
        .open_session(bearer(
            ReceiverStream::new(rx),
            &token.token,
            Some(&token.session_id),
        ))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let mut s = Stream { tx, rx };
    let caps = CapabilitiesConfiguration {
        emotions: true,
        multi_agent: true,
        ..Default::default()
    };
    s.send(configuration(caps, None)).await;
    s.send(load_scene(SCENE)).await;
    let status = s.packet().await;
    let agent = scene_status(&status).ok_or("no scene status")?.agents[0]
        .agent_id
        .clone();
    let conversation = uuid::Uuid::new_v4().to_string();
    s.send(conversation_update(&conversation, &[&agent], true))
        .await;
    s.packet().await;
    Ok((s, conversation))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let sessions = env("INWORLD_BENCH_SESSIONS", 2000) as usize;
    let seconds = env("INWORLD_BENCH_SECONDS", 10);
    let connections = env("INWORLD_BENCH_CONNECTIONS", 40).max(1) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = RunningEngine::start(
        EngineConfig::new(Workspace::test_scenes()),
        runtime.handle(),
    )
    .unwrap();
    let addr = engine.addr().to_string();
    let creds = engine.credentials().clone();

    runtime.block_on(async move {
        let mut channels = Vec::new();
        for _ in 0..connections {
            channels.push(
                Channel::from_shared(format!("http://{addr}"))
                    .unwrap()
                    .connect()
                    .await
                    .unwrap(),
            );
        }
        // Open every session (bounded concurrency so GenerateToken is not stampeded).
        let started = Instant::now();
        let limit = Arc::new(tokio::sync::Semaphore::new(200));
        let mut opening = Vec::new();
        for n in 0..sessions {
            let channel = channels[n % connections].clone();
            let (addr, creds, limit) = (addr.clone(), creds.clone(), limit.clone());
            opening.push(tokio::spawn(async move {
                let _permit = limit.acquire_owned().await.unwrap();
                open(channel, addr, creds).await
            }));
        }
        let mut open_sessions = Vec::new();
        let mut failures = 0;
        for o in opening {
            match o.await.unwrap() {
                Ok(s) => open_sessions.push(s),
                Err(e) => {
                    failures += 1;
                    if failures <= 3 {
                        eprintln!("session failed to open: {e}");
                    }
                }
            }
        }
        let open_count = open_sessions.len();
        println!(
            "sessions open: {open_count} of {sessions} ({failures} failed) in {:.2} s over {connections} connections",
            started.elapsed().as_secs_f64()
        );

        // Every session talks in a closed loop for the measured period.
        let totals = Arc::new(Totals {
            packets: AtomicU64::new(0),
            replies: AtomicU64::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let begin = Instant::now();
        let mut talkers = Vec::new();
        for (mut s, conversation) in open_sessions {
            let (totals, stop) = (totals.clone(), stop.clone());
            talkers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    s.send(text(&conversation, "hello")).await;
                    let mut first = None;
                    loop {
                        let p = s.packet().await;
                        first.get_or_insert_with(|| sent.elapsed());
                        totals.packets.fetch_add(1, Ordering::Relaxed);
                        if is_interaction_end(&p) {
                            break;
                        }
                    }
                    totals.replies.fetch_add(1, Ordering::Relaxed);
                    latencies.push((first.unwrap(), sent.elapsed()));
                }
                drop(s);
                latencies
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let elapsed = begin.elapsed();
        let packets = totals.packets.load(Ordering::Relaxed);
        let replies = totals.replies.load(Ordering::Relaxed);
        let mut first = Vec::new();
        let mut whole = Vec::new();
        for t in talkers {
            for (f, w) in t.await.unwrap() {
                first.push(f);
                whole.push(w);
            }
        }
        first.sort();
        whole.sort();
        let secs = elapsed.as_secs_f64();
        println!(
            "measured {secs:.1} s: {packets} reply packets ({:.0} packets/s), {replies} replies ({:.0} replies/s)",
            packets as f64 / secs,
            replies as f64 / secs
        );
        println!(
            "latency to first reply packet: p50 {:.2} ms, p99 {:.2} ms",
            percentile(&first, 0.50).as_secs_f64() * 1e3,
            percentile(&first, 0.99).as_secs_f64() * 1e3
        );
        println!(
            "latency to INTERACTION_END:    p50 {:.2} ms, p99 {:.2} ms",
            percentile(&whole, 0.50).as_secs_f64() * 1e3,
            percentile(&whole, 0.99).as_secs_f64() * 1e3
        );
    });
    engine.stop();
}
