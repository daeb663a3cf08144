//! Round trip on loopback against the local engine (zero pacing): from
//! `send_text` returning to the first reply packet being pollable, as p50/p99.
//! Also the poll path alone (inject + try_recv on an offline session).
//!
//! Run: `cargo bench --bench roundtrip` (release profile).

use inworld::client::{runtime, ClientConfig, Session};
use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use inworld::packet::{ConnectionState, ControlAction, Packet, PacketBody, PacketIds, Routing};
use std::time::{Duration, Instant};

const WARMUP: usize = 50;
const ROUNDS: usize = 1000;

/// User + system CPU time of this process so far.
fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful.
    let quick = std::env::args().any(|a| a == "--test");
    let rounds = if quick { 5 } else { ROUNDS };
    let warmup = if quick { 1 } else { WARMUP };

    let engine = RunningEngine::start(
        EngineConfig::new(Workspace::test_scenes()),
        &runtime::handle().unwrap(),
    )
    .unwrap();
    let mut config = ClientConfig::new(
        engine.addr().to_string(),
        "workspaces/test-ws/scenes/test-scene",
        engine.credentials().clone(),
    );
    config.session.capabilities.audio = false;
    let session = Session::open(config).unwrap();
    loop {
        let p = session
            .recv_timeout(Duration::from_secs(20))
            .expect("session becomes Ready");
        match p.body {
            PacketBody::Connection(c) if c.state == ConnectionState::Ready => break,
            PacketBody::Error(e) => panic!("{e:?}"),
            _ => {}
        }
    }

    let mut samples = Vec::with_capacity(rounds);
    for round in 0..warmup + rounds {
        // Timed from before the send: a reply can be pollable before a
        // descheduled thread reads the clock after it.
        let start = Instant::now();
        let ids = session.send_text("hello").unwrap();
        let mut first = None;
        loop {
            let p = session
                .recv_timeout(Duration::from_secs(20))
                .expect("reply arrives");
            if p.ids.interaction_id == ids.interaction_id.as_str() {
                first.get_or_insert_with(|| start.elapsed());
                if matches!(&p.body, PacketBody::Control(c) if c.action == ControlAction::InteractionEnd)
                {
                    break;
                }
            }
        }
        if round >= warmup {
            samples.push(first.unwrap());
        }
    }
    samples.sort();
    println!(
        "roundtrip send_text -> first reply packet pollable ({} rounds, loopback, instant pacing): \
         p50 {:?}  p99 {:?}  min {:?}  max {:?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples[0],
        samples[samples.len() - 1]
    );

    // An idle open session must cost no CPU: nothing polls, only timers wait.
    let idle = if quick {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(5)
    };
    let before = process_cpu_time();
    std::thread::sleep(idle);
    let used = process_cpu_time() - before;
    println!(
        "idle open session: {used:?} of CPU over {idle:?} (client and engine in this process, \
         {} threads, runtime workers: 2 by default)",
        std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
    );
    session.close();

    // The poll path alone.
    let offline = Session::offline(1024);
    let packet = Packet {
        ids: PacketIds::default(),
        routing: Routing::default(),
        timestamp_ms: 0,
        body: PacketBody::Silence { duration_ms: 1 },
    };
    let n = if quick { 1000 } else { 1_000_000 };
    let start = Instant::now();
    for _ in 0..n / 512 {
        for _ in 0..512 {
            offline.inject(packet.clone());
        }
        while let Some(p) = offline.try_recv() {
            std::hint::black_box(p);
        }
    }
    let per = start.elapsed() / (n / 512 * 512) as u32;
    println!("inject + try_recv per packet (offline session): {per:?}");
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(offline.try_recv());
    }
    println!(
        "try_recv on an empty queue: {:?}",
        start.elapsed() / n as u32
    );
}
