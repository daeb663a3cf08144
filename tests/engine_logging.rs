//! What the engine logs: a client that leaves is no error, and secrets
//! (API secrets, session tokens, signatures) never appear.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod engine_support;

use engine_support::*;
use inworld::auth::Credentials;
use inworld::engine::Workspace;
use inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every record of the engine's (and the library's) modules, at any level.
static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("inworld")
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            RECORDS.lock().unwrap().push((
                record.level(),
                format!("{}: {}", record.target(), record.args()),
            ));
        }
    }

    fn flush(&self) {}
}

async fn logged(what: &str, pred: impl Fn(&str) -> bool) {
    let limit = Instant::now() + Duration::from_secs(60);
    while !RECORDS.lock().unwrap().iter().any(|(_, r)| pred(r)) {
        assert!(Instant::now() < limit, "never logged: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A proxy between a client and the engine, cut on demand: the engine sees
/// the client's connection reset, as when a game quits or its network goes.
async fn cuttable_proxy(
    engine: std::net::SocketAddr,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = proxy.local_addr().unwrap();
    let (cut, cut_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut client, _) = proxy.accept().await.unwrap();
        let mut server = tokio::net::TcpStream::connect(engine).await.unwrap();
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
            _ = cut_rx => {}
        }
        // Reset, not close. (A zero linger resets at once: it never blocks.)
        #[allow(deprecated)]
        {
            let _ = server.set_linger(Some(Duration::ZERO));
            let _ = client.set_linger(Some(Duration::ZERO));
        }
    });
    (addr, cut)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_leaves_is_no_error_and_secrets_are_never_logged() {
    // Either test of this file may install it first.
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Trace);
    let secret = "s3cret-never-logged";
    let mut config = test_config(Workspace::test_scenes());
    config.credentials = vec![Credentials::new("logged-key", secret)];
    let engine = start(config);

    // A whole session, then the client ends it by dropping its stream.
    let mut r = ready(&engine, caps_all()).await;
    r.stream.send(text(&r.conversation, "hello")).await;
    r.stream.reply().await;
    drop(r.stream);
    let session = r.session_id.clone();
    logged("the first stream's end", |l| {
        l.contains(&session) && l.contains("stream closed")
    })
    .await;

    // A session whose connection is cut (the game quit, or its network went).
    let t = token(&engine).await;
    let (proxy, cut) = cuttable_proxy(engine.addr()).await;
    let through_proxy = tonic::transport::Channel::from_shared(format!("http://{proxy}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut replies = WorldEngineClient::new(through_proxy)
        .open_session(bearer(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            &t.token,
            Some(&t.session_id),
        ))
        .await
        .unwrap()
        .into_inner();
    tx.send(configuration(caps_text(), None)).await.unwrap();
    tx.send(load_scene(SCENE)).await.unwrap();
    replies.message().await.unwrap();
    cut.send(()).unwrap();
    let cut_session = t.session_id.clone();
    logged("the cut stream's end", |l| {
        l.contains(&cut_session) && l.contains("stream closed")
    })
    .await;

    // Refused credentials and tokens.
    let host = engine.addr().to_string();
    let wrong = Credentials::new("logged-key", "wrong-secret-never-logged");
    let header = inworld::auth::authorization_header(&wrong, &host);
    let signature = header.rsplit("Signature=").next().unwrap().to_string();
    let refused = WorldEngineClient::new(channel(&engine).await)
        .generate_token(signed(token_request("test-ws", &wrong), &wrong, &host))
        .await;
    assert!(refused.is_err());
    let bogus = "bogus-token-never-logged";
    assert!(try_open(&engine, bogus, &session).await.is_err());
    // A stream that ends on a protocol error is logged (the contrast).
    let t2 = token(&engine).await;
    let mut s = try_open(&engine, &t2.token, &t2.session_id).await.unwrap();
    s.send(load_scene("workspaces/test-ws/scenes/nowhere"))
        .await;
    s.error().await;
    logged("the refused scene", |l| l.contains("nowhere")).await;

    let records = RECORDS.lock().unwrap().clone();
    for (level, line) in &records {
        if (line.contains(&session) || line.contains(&cut_session)) && *level <= log::Level::Info {
            panic!("a client leaving is logged at {level}: {line}");
        }
        for hidden in [
            secret,
            &r.token,
            &t.token,
            &t2.token,
            bogus,
            "wrong-secret-never-logged",
            &signature,
        ] {
            assert!(!line.contains(hidden), "{level}: {line} shows a secret");
        }
    }
}

/// A client calling LogError in a loop cannot flood the engine's log: at
/// most the configured lines a second are logged, and the rest are counted.
/// (Runs in the same process as the test above, which installs the logger.)
#[tokio::test(flavor = "multi_thread")]
async fn what_clients_can_make_the_engine_log_is_rate_limited() {
    use inworld::protocol::ai::inworld::engine::LogErrorRequest;
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Trace);
    let mut config = test_config(Workspace::test_scenes());
    config.client_log_lines_per_sec = 5;
    let engine = start(config);
    let mut client = WorldEngineClient::new(channel(&engine).await);
    let started = Instant::now();
    const CALLS: usize = 300;
    for _ in 0..CALLS {
        client
            .log_error(LogErrorRequest {
                message: "flood-from-a-client".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let seconds = started.elapsed().as_secs() as usize + 1;
    let lines = RECORDS
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.contains("flood-from-a-client"))
        .count();
    assert!(lines >= 1, "the first lines are logged");
    assert!(
        lines <= 5 * (seconds + 1),
        "{lines} lines in {seconds} s, at most 5 a second"
    );
    if lines < CALLS {
        // The count of what was left out is logged once a second is over.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        client
            .log_error(LogErrorRequest {
                message: "flood-from-a-client".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        logged("the suppressed count", |r: &str| {
            r.contains("client-caused log lines suppressed")
        })
        .await;
    }
}
