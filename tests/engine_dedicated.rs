//! An engine on a runtime of its own: nothing the host does with its own
//! runtime can stall it, and its threads are joined when it stops.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod engine_support;

use engine_support::*;
use inworld::engine::{RunningEngine, Workspace};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

fn engine_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "inworld-engine")
        .count()
}

/// Every worker of the host's runtime is blocked while a client talks to
/// the engine (before, an engine inside a game ran on the game's runtime,
/// so a busy game stalled it, and the other way round).
#[test]
fn a_dedicated_engine_serves_while_the_host_runtime_is_blocked() {
    let host = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Started from inside the host's runtime, as a game's code would.
    let engine = host
        .block_on(async { RunningEngine::start_dedicated(test_config(Workspace::test_scenes())) })
        .unwrap();
    // A thread takes its name once it first runs (later on a busy machine).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while engine_threads() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the engine has threads of its own"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // Block both workers of the host's runtime until released (also when
    // the test fails, so that the host runtime can be dropped).
    let gate = Arc::new((Mutex::new((0, false)), Condvar::new()));
    struct Release(Arc<(Mutex<(usize, bool)>, Condvar)>);
    impl Drop for Release {
        fn drop(&mut self) {
            let (lock, cv) = &*self.0;
            lock.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
            cv.notify_all();
        }
    }
    let release = Release(gate.clone());
    for _ in 0..2 {
        let gate = gate.clone();
        host.spawn(async move {
            let (lock, cv) = &*gate;
            let mut state = lock.lock().unwrap();
            state.0 += 1;
            cv.notify_all();
            while !state.1 {
                state = cv.wait(state).unwrap();
            }
        });
    }
    {
        let (lock, cv) = &*gate;
        let mut state = lock.lock().unwrap();
        while state.0 < 2 {
            state = cv.wait(state).unwrap();
        }
    }

    // A client on a third runtime has a whole exchange meanwhile.
    let client = tokio::runtime::Runtime::new().unwrap();
    client.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), async {
            let mut r = ready(&engine, caps_all()).await;
            r.stream.send(text(&r.conversation, "hello")).await;
            assert!(!texts(&r.stream.reply().await).is_empty());
        })
        .await
        .expect("the engine answered while the host was blocked");
    });

    drop(release);
    let addr = engine.addr();
    engine.stop();
    assert_eq!(engine_threads(), 0, "the engine's threads are joined");
    assert!(std::net::TcpListener::bind(addr).is_ok(), "port released");
}
