//! TCP connections: idle ones are closed, the engine counts them, and when
//! the process runs out of file descriptors it pauses instead of spinning
//! and serves again once connections close.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod engine_support;

use engine_support::*;
use inworld::engine::Workspace;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `done` every 20 ms; panics after a limit that only catches hangs.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let limit = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < limit, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the engine closed `socket`: it reads as ended (after whatever the
/// engine sent first, such as its HTTP/2 settings).
fn closed_by_peer(socket: &mut TcpStream) -> bool {
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_are_closed_and_busy_ones_kept() {
    let mut config = test_config(Workspace::test_scenes());
    config.connection_idle_timeout = Duration::from_millis(300);
    let engine = start(config);
    let addr = engine.addr();

    // Connections that never say anything.
    let mut silent: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
    eventually("20 connections accepted", || {
        engine.accepted_connections() >= 20
    })
    .await;
    // A connection that completes the HTTP/2 handshake and opens no stream.
    let idle_channel = channel(&engine).await;
    // A session with its stream open.
    let mut r = ready(&engine, caps_text()).await;
    assert!(engine.open_connections() >= 2);

    let silent = tokio::task::spawn_blocking(move || silent.iter_mut().all(closed_by_peer));
    assert!(silent.await.unwrap(), "silent connections are closed");
    // Only the session's connection is left.
    eventually("idle connections closed", || engine.open_connections() == 1).await;

    // The session outlives many idle timeouts: its stream is open.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    r.stream.send(text(&r.conversation, "still there?")).await;
    assert!(!texts(&r.stream.reply().await).is_empty());
    assert_eq!(engine.open_connections(), 1);

    // A client whose idle connection was closed connects again on its next call.
    let accepted = engine.accepted_connections();
    let mut client =
        inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient::new(
            idle_channel,
        );
    let host = engine.addr().to_string();
    client
        .generate_token(signed(
            token_request("test-ws", engine.credentials()),
            engine.credentials(),
            &host,
        ))
        .await
        .expect("the channel reconnects");
    assert!(engine.accepted_connections() > accepted);
}

/// The engine as a child process with at most `fds` open files.
struct Child {
    process: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn engine_process(fds: u64, args: &[&str]) -> Child {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_inworld-engine"));
    command
        .args([
            "--listen",
            "127.0.0.1:0",
            "--scene",
            "test",
            "--pacing",
            "instant",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: fds,
                rlim_max: fds,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut process = command.spawn().unwrap();
    let mut stdout = BufReader::new(process.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first.split_whitespace().nth(3).unwrap().parse().unwrap();
    // Keep reading: the engine prints more, and dies of a closed stdout.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Child { process, addr }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// CPU time the process has used (user + system).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses: state is the
    // first, utime and stime the 12th and 13th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

fn connect_many(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok())
        .collect()
}

async fn session_works(addr: SocketAddr) {
    use inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
    let talk = async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await?;
        let creds = inworld::auth::Credentials::new("test-api-key", "test-api-secret");
        let token = WorldEngineClient::new(channel)
            .generate_token(signed(
                token_request("test-ws", &creds),
                &creds,
                &addr.to_string(),
            ))
            .await
            .map_err(|s| Box::new(s) as Box<dyn std::error::Error>)?;
        Ok::<_, Box<dyn std::error::Error>>(token.into_inner())
    };
    let token = tokio::time::timeout(Duration::from_secs(60), talk)
        .await
        .expect("served in time")
        .expect("a token");
    assert!(!token.session_id.is_empty());
}

/// 300 connections that say nothing, against an engine allowed 256 files:
/// it cannot accept more, and pauses between tries instead of retrying at
/// full speed (before: 100% of a core, for as long as the connections
/// stayed). Once they close, it serves again.
#[tokio::test(flavor = "multi_thread")]
async fn out_of_file_descriptors_the_engine_pauses_then_serves_again() {
    let child = engine_process(256, &[]);
    let pid = child.process.id();
    let silent = connect_many(child.addr, 300);
    assert!(silent.len() > 256, "{} connected", silent.len());
    eventually("the engine is out of file descriptors", || {
        open_fds(pid) >= 256
    })
    .await;

    let (cpu, wall) = (cpu_time(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu, wall) = (cpu_time(pid) - cpu, wall.elapsed());
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    println!(
        "out of file descriptors: {cpu:?} of CPU in {wall:?} ({:.1}%)",
        share * 100.0
    );
    assert!(
        share < 0.5,
        "the engine spins: {:.0}% of a core",
        share * 100.0
    );

    drop(silent);
    session_works(child.addr).await;
}

/// The same 300 silent connections stay open, but the engine closes them
/// once idle: a real client is served while they are still there.
#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_closed_make_room_for_real_clients() {
    let child = engine_process(256, &["--connection-idle-timeout", "5"]);
    let pid = child.process.id();
    let mut silent = connect_many(child.addr, 300);
    assert!(silent.len() > 256, "{} connected", silent.len());
    eventually("the engine is out of file descriptors", || {
        open_fds(pid) >= 256
    })
    .await;
    session_works(child.addr).await;
    let closed = tokio::task::spawn_blocking(move || silent.iter_mut().all(closed_by_peer));
    assert!(closed.await.unwrap(), "every silent connection was closed");
}

/// The counters show what a client does with connections: here five
/// sessions over one HTTP/2 connection.
#[tokio::test(flavor = "multi_thread")]
async fn the_engine_counts_connections_open_and_accepted() {
    use inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
    let engine = test_engine();
    assert_eq!(
        (engine.open_connections(), engine.accepted_connections()),
        (0, 0)
    );
    let shared = channel(&engine).await;
    let host = engine.addr().to_string();
    let mut streams = Vec::new();
    for _ in 0..5 {
        let mut client = WorldEngineClient::new(shared.clone());
        let t = client
            .generate_token(signed(
                token_request("test-ws", engine.credentials()),
                engine.credentials(),
                &host,
            ))
            .await
            .unwrap()
            .into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let rx = client
            .open_session(bearer(
                tokio_stream::wrappers::ReceiverStream::new(rx),
                &t.token,
                Some(&t.session_id),
            ))
            .await
            .unwrap()
            .into_inner();
        streams.push(Stream { tx, rx });
    }
    for s in &mut streams {
        s.send(load_scene(SCENE)).await;
        assert!(scene_status(&s.packet().await).is_some());
    }
    assert_eq!(engine.session_count(), 5);
    assert_eq!(engine.open_connections(), 1);
    assert_eq!(engine.accepted_connections(), 1);
    // Another client: ready() dials one connection for its token and one
    // for its stream; the first closes when its channel is dropped.
    let other = ready(&engine, caps_text()).await;
    assert_eq!(engine.accepted_connections(), 3);
    eventually("the token's connection closed", || {
        engine.open_connections() == 2
    })
    .await;
    drop(other);
    drop(streams);
    drop(shared);
    eventually("connections closed", || engine.open_connections() == 0).await;
    assert_eq!(engine.accepted_connections(), 3);
}
