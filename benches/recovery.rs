//! How long a session takes to notice a dead engine and to come back, with
//! the default settings: the engine program (a separate process) is stopped
//! (SIGSTOP) while a reply streams, then resumed; then killed and restarted
//! on the same port. Times are from the fault to what the game sees.
//!
//! `cargo bench --bench recovery`

use inworld::auth::Credentials;
use inworld::client::{ClientConfig, Session};
use inworld::packet::{ConnectionState, PacketBody};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(listen: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
        .args(["--listen", listen, "--scene", "test", "--pacing", "human"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the engine program");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    std::thread::spawn(move || for _ in lines {});
    let addr = first
        .strip_prefix("inworld-engine listening on ")
        .and_then(|r| r.split_whitespace().next())
        .expect("the address")
        .to_string();
    (child, addr)
}

/// Time until the session reports `state`.
fn until(session: &Session, state: ConnectionState, from: Instant) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        assert!(Instant::now() < deadline, "no {state:?}");
        if let Some(p) = session.recv_timeout(Duration::from_millis(50)) {
            if matches!(&p.body, PacketBody::Connection(c) if c.state == state) {
                return from.elapsed();
            }
        }
    }
}

fn start_story(session: &Session) {
    let ids = session.send_text("tell me a long story").unwrap();
    loop {
        let p = session
            .recv_timeout(Duration::from_secs(60))
            .expect("a reply");
        if p.ids.interaction_id == ids.interaction_id.as_str()
            && matches!(p.body, PacketBody::Text(_))
        {
            return;
        }
    }
}

fn main() {
    let (mut engine, addr) = spawn("127.0.0.1:0");
    let session = Session::open(ClientConfig::new(
        addr.clone(),
        "workspaces/test-ws/scenes/test-scene",
        Credentials::new("test-api-key", "test-api-secret"),
    ))
    .unwrap();
    until(&session, ConnectionState::Ready, Instant::now());

    start_story(&session);
    let stopped = Instant::now();
    unsafe { libc::kill(engine.id() as i32, libc::SIGSTOP) };
    let stalled = until(&session, ConnectionState::Stalled, stopped);
    let reconnecting = until(&session, ConnectionState::Reconnecting, stopped);
    std::thread::sleep(Duration::from_secs(2));
    let resumed = Instant::now();
    unsafe { libc::kill(engine.id() as i32, libc::SIGCONT) };
    let back = until(&session, ConnectionState::Ready, resumed);
    println!(
        "engine stopped mid-reply: Stalled after {stalled:.2?}, Reconnecting after {reconnecting:.2?}; \
         resumed: Ready again after {back:.2?}"
    );

    start_story(&session);
    let _ = engine.kill();
    let _ = engine.wait();
    let killed = Instant::now();
    let reconnecting = until(&session, ConnectionState::Reconnecting, killed);
    let (mut engine, _) = spawn(&addr);
    let restarted = Instant::now();
    let back = until(&session, ConnectionState::Ready, restarted);
    println!(
        "engine killed mid-reply: Reconnecting after {reconnecting:.2?}; \
         restarted (tokens and sessions lost): Ready again after {back:.2?}"
    );
    session.close();
    let _ = engine.kill();
    let _ = engine.wait();
}
