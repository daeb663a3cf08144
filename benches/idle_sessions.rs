//! What an idle session costs: 1,000 sessions of one Client held open
//! against the engine program (a separate process, so only the client is
//! measured), then the heap they hold, the process's resident memory, and
//! the CPU the process uses over 30 s of idling.
//!
//! `cargo bench --bench idle_sessions` (`IDLE_SESSIONS=N`, `IDLE_SECONDS=S`
//! change the defaults).

use inworld::auth::Credentials;
use inworld::client::{Client, ClientConfig};
use inworld::packet::{ConnectionState, PacketBody};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// Counts the bytes the heap holds.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - layout.size() as isize, Ordering::Relaxed);
        System.realloc(ptr, layout, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

fn cpu_time() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let sessions = env_or("IDLE_SESSIONS", 1000) as usize;
    let seconds = env_or("IDLE_SECONDS", 30);

    let mut engine = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--scene",
            "test",
            "--pacing",
            "instant",
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

    let mut config = ClientConfig::new(
        addr,
        "workspaces/test-ws/scenes/test-scene",
        Credentials::new("test-api-key", "test-api-secret"),
    );
    if let Some(ms) = std::env::var("IDLE_KEEPALIVE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.timeouts.keepalive_interval = Duration::from_millis(ms);
    }
    if let Some(n) = std::env::var("IDLE_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        inworld::client::runtime::set_worker_threads(n).unwrap();
    }
    let client = Client::new(config).unwrap();
    // Warm up: the runtime, TLS-free dialling, the first connection.
    let warm = client.open_session().unwrap();
    wait_ready(&warm);
    std::thread::sleep(Duration::from_millis(200));
    let (heap_before, rss_before) = (LIVE.load(Ordering::Relaxed), rss_bytes());

    let started = Instant::now();
    let open: Vec<_> = (0..sessions)
        .map(|_| client.open_session().unwrap())
        .collect();
    for s in &open {
        wait_ready(s);
        while s.try_recv().is_some() {}
    }
    let opened_in = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let (heap_after, rss_after) = (LIVE.load(Ordering::Relaxed), rss_bytes());

    let cpu_before = cpu_time();
    std::thread::sleep(Duration::from_secs(seconds));
    let idle_cpu = cpu_time() - cpu_before;
    let still_ready = open
        .iter()
        .filter(|s| s.state() == ConnectionState::Ready)
        .count();

    let per = |bytes: isize| bytes as f64 / sessions as f64 / 1024.0;
    println!(
        "idle sessions: {sessions} on {} connection(s), opened and Ready in {opened_in:.2?}",
        client.connection_count()
    );
    println!(
        "heap held per idle session: {:.1} KiB ({:.1} MiB in all)",
        per(heap_after - heap_before),
        (heap_after - heap_before) as f64 / 1048576.0
    );
    println!(
        "resident memory per idle session: {:.1} KiB",
        per(rss_after as isize - rss_before as isize)
    );
    println!(
        "CPU used by the client process over {seconds} s idle: {:.1} ms ({still_ready} sessions still Ready)",
        idle_cpu.as_secs_f64() * 1000.0
    );
    for s in &open {
        s.close();
    }
    let _ = engine.kill();
    let _ = engine.wait();
}

fn wait_ready(session: &inworld::client::Session) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while session.state() != ConnectionState::Ready {
        assert!(Instant::now() < deadline, "a session never became Ready");
        if let Some(p) = session.recv_timeout(Duration::from_millis(100)) {
            if let PacketBody::Error(e) = p.body {
                assert!(e.will_retry, "{e:?}");
                eprintln!("retried: {}", e.message);
            }
        }
    }
}
