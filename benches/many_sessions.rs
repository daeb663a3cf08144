//! Many sessions of one `Client` against the engine program (a separate
//! process), each sending one line after an idle wait: do they all get
//! their reply, and does any report `Stalled` although the engine is only
//! busy or the session was only quiet?
//!
//! - 1,000 sessions idle for longer than the stall threshold, then talking:
//!   `MANY_SESSIONS=1000 MANY_IDLE_SECONDS=15 cargo bench --bench many_sessions`
//! - 3,000 sessions sending at once:
//!   `MANY_SESSIONS=3000 MANY_IDLE_SECONDS=0 cargo bench --bench many_sessions`
//!   (the defaults).
//!
//! Prints, per phase (opening, idle, talking), the `Stalled`, `Reconnecting`
//! and error reports, then the replies (INTERACTION_END of each send),
//! `SendFailed` reports, sends left unanswered, and the reply latency (send
//! to INTERACTION_END at the game, and to its first text) p50/p99/max.
//! Run by hand: a few minutes, not part of the tests.

use inworld::auth::Credentials;
use inworld::client::{Client, ClientConfig, Session};
use inworld::packet::{ConnectionState, ControlAction, PacketBody};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the game saw of the sessions during one phase.
#[derive(Default, Debug)]
struct Reports {
    stalled: usize,
    reconnecting: usize,
    errors: usize,
    send_failed: usize,
    overflow: u64,
}

impl Reports {
    fn print(&self, phase: &str) {
        println!(
            "{phase}: Stalled {}, Reconnecting {}, errors {}, SendFailed {}, packets dropped by full queues {}",
            self.stalled, self.reconnecting, self.errors, self.send_failed, self.overflow
        );
    }
}

/// One session's send and its reply.
struct Exchange {
    interaction_id: String,
    packet_id: String,
    sent: Instant,
    first_text: Option<Duration>,
    end: Option<Duration>,
    failed: bool,
}

/// Drains every session's queue once; counts what it reports in
/// `reports`, and records replies in `exchanges` (when sent). Returns the
/// packets read.
fn sweep(
    sessions: &[Session],
    exchanges: &mut [Option<Exchange>],
    ready: &mut [bool],
    reports: &mut Reports,
) -> usize {
    let mut read = 0;
    for (i, session) in sessions.iter().enumerate() {
        while let Some(packet) = session.try_recv() {
            read += 1;
            match &packet.body {
                PacketBody::Connection(c) => match c.state {
                    ConnectionState::Ready => ready[i] = true,
                    ConnectionState::Stalled => reports.stalled += 1,
                    ConnectionState::Reconnecting => {
                        ready[i] = false;
                        reports.reconnecting += 1;
                    }
                    _ => {}
                },
                PacketBody::Error(e) => {
                    reports.errors += 1;
                    if reports.errors <= 5 {
                        eprintln!("session {i}: {e:?}");
                    }
                }
                PacketBody::Overflow { dropped } => reports.overflow += dropped,
                PacketBody::SendFailed(f) => {
                    reports.send_failed += 1;
                    if reports.send_failed <= 5 {
                        eprintln!("session {i}: {f:?} {:?}", packet.ids);
                    }
                    if let Some(x) = exchanges[i].as_mut() {
                        if packet.ids.packet_id.as_str() == x.packet_id {
                            x.failed = true;
                        }
                    }
                }
                PacketBody::Text(_) => {
                    if let Some(x) = exchanges[i].as_mut() {
                        if packet.ids.interaction_id.as_str() == x.interaction_id
                            && x.first_text.is_none()
                        {
                            x.first_text = Some(x.sent.elapsed());
                        }
                    }
                }
                PacketBody::Control(c) if c.action == ControlAction::InteractionEnd => {
                    if let Some(x) = exchanges[i].as_mut() {
                        if packet.ids.interaction_id.as_str() == x.interaction_id {
                            x.end.get_or_insert_with(|| x.sent.elapsed());
                        }
                    }
                }
                _ => {}
            }
        }
    }
    read
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Raises this process's open-file limit to its hard limit (a connection
/// per hundred sessions, but the engine's side is in another process).
fn raise_file_limit() {
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful.
    let quick = std::env::args().any(|a| a == "--test");
    let count = env_or("MANY_SESSIONS", if quick { 20 } else { 3000 }) as usize;
    let idle = Duration::from_secs(env_or("MANY_IDLE_SECONDS", 0));
    let wait = Duration::from_secs(env_or("MANY_WAIT_SECONDS", 300));
    raise_file_limit();

    // The engine inherits the raised limit.
    let mut engine = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--scene",
            "test",
            "--pacing",
            "instant",
            "--max-sessions",
            &(count + 100).to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the engine program");
    let mut lines = BufReader::new(engine.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    // Keep reading: a closed pipe would end the engine at its next line.
    std::thread::spawn(move || for _ in lines {});
    let addr = first
        .strip_prefix("inworld-engine listening on ")
        .and_then(|r| r.split_whitespace().next())
        .expect("the engine's address")
        .to_string();

    let client = Client::new(ClientConfig::new(
        addr,
        "workspaces/test-ws/scenes/test-scene",
        Credentials::new("test-api-key", "test-api-secret"),
    ))
    .unwrap();
    let stall = client.config().timeouts.stall;

    let started = Instant::now();
    let sessions: Vec<Session> = (0..count).map(|_| client.open_session().unwrap()).collect();
    let mut exchanges: Vec<Option<Exchange>> = (0..count).map(|_| None).collect();
    let mut ready = vec![false; count];
    let mut opening = Reports::default();
    let deadline = Instant::now() + wait;
    while ready.iter().any(|r| !r) {
        assert!(
            Instant::now() < deadline,
            "{} sessions never became Ready",
            ready.iter().filter(|r| !**r).count()
        );
        if sweep(&sessions, &mut exchanges, &mut ready, &mut opening) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    println!(
        "{count} sessions on {} connection(s), Ready in {:.2?} (stall threshold {stall:?})",
        client.connection_count(),
        started.elapsed()
    );
    opening.print("opening");

    let mut idling = Reports::default();
    if !idle.is_zero() {
        let until = Instant::now() + idle;
        while Instant::now() < until {
            sweep(&sessions, &mut exchanges, &mut ready, &mut idling);
            std::thread::sleep(Duration::from_millis(20));
        }
        idling.print(&format!("idle {idle:?}"));
    }

    let mut talking = Reports::default();
    let sending = Instant::now();
    for (i, session) in sessions.iter().enumerate() {
        let sent = Instant::now();
        let ids = session.send_text("hello there").unwrap();
        exchanges[i] = Some(Exchange {
            interaction_id: ids.interaction_id,
            packet_id: ids.packet_id,
            sent,
            first_text: None,
            end: None,
            failed: false,
        });
    }
    let sent_in = sending.elapsed();
    let deadline = Instant::now() + wait;
    let open = |x: &Option<Exchange>| x.as_ref().is_some_and(|x| x.end.is_none() && !x.failed);
    while exchanges.iter().any(open) && Instant::now() < deadline {
        if sweep(&sessions, &mut exchanges, &mut ready, &mut talking) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Late reports (a Stalled after the last reply would still count).
    let settle = Instant::now() + stall + Duration::from_secs(1);
    while Instant::now() < settle {
        sweep(&sessions, &mut exchanges, &mut ready, &mut talking);
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("{count} sends made in {sent_in:.2?}");
    talking.print("talking");

    let exchanges: Vec<Exchange> = exchanges.into_iter().flatten().collect();
    let replies = exchanges.iter().filter(|x| x.end.is_some()).count();
    let failed = exchanges.iter().filter(|x| x.failed).count();
    let unanswered = exchanges
        .iter()
        .filter(|x| x.end.is_none() && !x.failed)
        .count();
    let mut ends: Vec<Duration> = exchanges.iter().filter_map(|x| x.end).collect();
    let mut firsts: Vec<Duration> = exchanges.iter().filter_map(|x| x.first_text).collect();
    ends.sort();
    firsts.sort();
    println!(
        "replies {replies} of {count}, sends reported failed {failed}, unanswered after {wait:?} {unanswered}"
    );
    println!(
        "send to the first reply text: p50 {:.1?}, p99 {:.1?}, max {:.1?}; to INTERACTION_END: p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        percentile(&firsts, 0.5),
        percentile(&firsts, 0.99),
        firsts.last().copied().unwrap_or_default(),
        percentile(&ends, 0.5),
        percentile(&ends, 0.99),
        ends.last().copied().unwrap_or_default(),
    );
    for s in &sessions {
        s.close();
    }
    let _ = engine.kill();
    let _ = engine.wait();
}
