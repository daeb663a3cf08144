//! Faults injected from outside: the local engine as a separate process
//! (the `inworld-engine` program) that a test kills, stops (SIGSTOP),
//! resumes and restarts on the same port, and client settings that notice
//! such faults quickly. Waits have generous limits that only catch hangs;
//! nothing asserts on how long something took.
#![allow(dead_code)]

use inworld::client::{ClientConfig, Session};
use inworld::packet::{ConnectionState, Packet, PacketBody, Resumed, SendFailure};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SCENE: &str = "workspaces/test-ws/scenes/test-scene";
/// How long a wait may take before the test calls it a hang.
pub const HANG: Duration = Duration::from_secs(60);

/// The engine program, serving the test scenes.
pub struct EngineProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    extra: Vec<String>,
}

impl EngineProcess {
    /// Starts an engine on a free port, with `extra` flags (e.g. pacing).
    pub fn start(extra: &[&str]) -> Self {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, addr) = spawn("127.0.0.1:0", &extra);
        EngineProcess {
            child: Some(child),
            addr,
            extra,
        }
    }

    /// SIGKILL: the process is gone, its connections reset.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A new process on the same port: it knows no token and no session.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + HANG;
        loop {
            // The port may linger a moment after the kill.
            match try_spawn(&self.addr.to_string(), &self.extra) {
                Ok((child, _)) => {
                    self.child = Some(child);
                    return;
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restart: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("the engine did not restart on {}: {e}", self.addr),
            }
        }
    }

    /// SIGSTOP: the process stays, its sockets stay open, nothing answers.
    pub fn stop(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT after `stop`.
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().expect("running").id() as i32;
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(
            self.addr.to_string(),
            SCENE,
            inworld::auth::Credentials::new("test-api-key", "test-api-secret"),
        );
        quick_detection(&mut config);
        config
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A stopped process cannot die of SIGKILL until it runs again.
            unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
        }
        self.kill();
    }
}

fn spawn(listen: &str, extra: &[String]) -> (Child, SocketAddr) {
    try_spawn(listen, extra).unwrap_or_else(|e| panic!("the engine did not start: {e}"))
}

fn try_spawn(listen: &str, extra: &[String]) -> Result<(Child, SocketAddr), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
        .args(["--listen", listen, "--scene", "test"])
        // What the tests expect, whatever speech parts are built in.
        .args(["--synthesizer", "tones", "--recognizer", "scripted"])
        .args(extra)
        .env("INWORLD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .ok_or("no output")?
        .map_err(|e| e.to_string())?;
    let Some(addr) = first
        .strip_prefix("inworld-engine listening on ")
        .and_then(|rest| rest.split_whitespace().next())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("unexpected first line {first:?}"));
    };
    let addr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    // Keep reading so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((child, addr))
}

/// An engine in this process, on threads of its own, for faults the engine
/// injects itself (`EngineConfig::faults`, `RunningEngine::suspend`,
/// `expire_sessions`, `forget_sessions`).
pub fn engine_in_process(
    adjust: impl FnOnce(&mut inworld::engine::EngineConfig),
) -> inworld::engine::RunningEngine {
    let mut config = inworld::engine::EngineConfig::new(inworld::engine::Workspace::test_scenes());
    // The tests expect the tone synthesizer and the scripted recogniser,
    // whatever speech parts are built in.
    config.synthesizer = inworld::engine::SynthesizerKind::Tones;
    config.recognizer = inworld::engine::RecognizerKind::Scripted;
    adjust(&mut config);
    inworld::engine::RunningEngine::start_dedicated(config).expect("the engine starts")
}

/// A client config for an engine in this process, noticing faults quickly.
pub fn config_for(engine: &inworld::engine::RunningEngine) -> ClientConfig {
    let mut config = ClientConfig::new(
        engine.addr().to_string(),
        SCENE,
        engine.credentials().clone(),
    );
    quick_detection(&mut config);
    config
}

/// Settings that notice a dead or stalled engine within a second or two,
/// and keep trying for long enough that a restart is caught.
pub fn quick_detection(config: &mut ClientConfig) {
    let t = &mut config.timeouts;
    t.keepalive_interval = Duration::from_millis(500);
    t.keepalive_timeout = Duration::from_millis(1000);
    t.stall = Duration::from_millis(700);
    t.connect = Duration::from_secs(2);
    config.reconnect.initial_backoff = Duration::from_millis(100);
    config.reconnect.max_backoff = Duration::from_millis(500);
    config.reconnect.max_attempts = 30;
}

/// Receives until `pred` matches; returns everything before it and the match.
pub fn wait_for(
    session: &Session,
    what: &str,
    mut pred: impl FnMut(&Packet) -> bool,
) -> (Vec<Packet>, Packet) {
    let deadline = Instant::now() + HANG;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match session.recv_timeout(left) {
            Some(p) if pred(&p) => return (seen, p),
            Some(p) => seen.push(p),
            None => panic!("no {what} (hang or end); got {seen:#?}"),
        }
    }
}

pub fn is_state(p: &Packet, state: ConnectionState) -> bool {
    matches!(&p.body, PacketBody::Connection(c) if c.state == state)
}

pub fn resumed_of(p: &Packet) -> Resumed {
    match &p.body {
        PacketBody::Connection(c) => c.resumed,
        _ => panic!("not a connection packet: {p:?}"),
    }
}

/// The failed-send reports among `packets`: (interaction id, reason).
pub fn failed_sends(packets: &[Packet]) -> Vec<(String, SendFailure)> {
    packets
        .iter()
        .filter_map(|p| match &p.body {
            PacketBody::SendFailed(f) => Some((p.ids.interaction_id.to_string(), f.reason)),
            _ => None,
        })
        .collect()
}

/// The texts of `packets` that answer `interaction`.
pub fn texts_of(packets: &[Packet], interaction: &str) -> Vec<String> {
    packets
        .iter()
        .filter(|p| p.ids.interaction_id == interaction)
        .filter_map(|p| match &p.body {
            PacketBody::Text(t) => Some(t.text.to_string()),
            _ => None,
        })
        .collect()
}
