//! The private runtime: sized before first use, shut down for good. Its own
//! test binary, since shutdown() ends the runtime for the whole process.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

use inworld::client::{runtime, ClientConfig, Error, Session};
use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use inworld::packet::{ConnectionState, PacketBody};
use std::time::{Duration, Instant};

#[test]
fn runtime_lifecycle() {
    assert_eq!(
        runtime::set_worker_threads(0),
        Err(Error::InvalidArgument(
            "worker threads must be at least 1".into()
        ))
    );
    runtime::set_worker_threads(1).unwrap();
    assert!(!runtime::is_running());

    // The engine runs on a runtime of its own so it outlives ours.
    let engine_rt = tokio::runtime::Runtime::new().unwrap();
    let engine = RunningEngine::start(
        EngineConfig::new(Workspace::test_scenes()),
        engine_rt.handle(),
    )
    .unwrap();
    let session = Session::open(ClientConfig::new(
        engine.addr().to_string(),
        "workspaces/test-ws/scenes/test-scene",
        engine.credentials().clone(),
    ))
    .unwrap();
    assert!(runtime::is_running());
    assert_eq!(runtime::set_worker_threads(3), Err(Error::AlreadyStarted));
    let deadline = Instant::now() + Duration::from_secs(20);
    while session.state() != ConnectionState::Ready {
        assert!(Instant::now() < deadline, "never Ready");
        session.recv_timeout(Duration::from_millis(100));
    }

    runtime::shutdown();
    runtime::shutdown(); // idempotent
    assert!(!runtime::is_running());
    assert_eq!(session.state(), ConnectionState::Closed);
    let mut last = None;
    while let Some(p) = session.try_recv() {
        last = Some(p.body);
    }
    assert!(matches!(last, Some(PacketBody::Connection(c)) if c.state == ConnectionState::Closed));
    assert_eq!(session.send_text("x"), Err(Error::Closed));
    assert!(matches!(runtime::handle(), Err(Error::Shutdown)));
    assert_eq!(runtime::set_worker_threads(2), Err(Error::Shutdown));
    let again = Session::open(ClientConfig::new(
        engine.addr().to_string(),
        "workspaces/test-ws/scenes/test-scene",
        engine.credentials().clone(),
    ));
    assert!(matches!(again, Err(Error::Shutdown)));
    assert_eq!(
        Error::Shutdown.to_string(),
        "the library runtime was shut down"
    );
    drop(engine);
}
