//! Instances that stop: three proxies as processes of their own (so that
//! they can be killed, paused and stopped from outside) on a redis-server
//! of the test's own, one engine behind them. An owner killed with SIGKILL
//! has its sessions taken over by another with no request for them, every
//! event queued before the kill drained once, and the conversation goes on
//! where it was; an owner paused past its lease cannot write when it wakes,
//! and drops its copies; an owner stopped with SIGTERM hands its sessions
//! over. Waits poll conditions; their limits only catch hangs.

mod support;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::redis_server::RedisServer;
use support::LIMIT;

/// Short, so that takeovers come soon; renewed every third of it.
const LEASE_MS: &str = "3000";

struct Instance {
    base: String,
    port: u16,
    child: Child,
}

impl Instance {
    fn signal(&self, signal: i32) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Cluster {
    instances: Vec<Instance>,
    http: reqwest::Client,
    engine: Option<RunningEngine>,
    scene: String,
    redis: RedisServer,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(port: u16, redis: &str, engine: &str, scene: &str) -> Instance {
    let mut command = Command::new(env!("CARGO_BIN_EXE_inworld-rest-proxy"));
    command
        .env("PORT", port.to_string())
        .env("INWORLD_KEY", "test-api-key")
        .env("INWORLD_SECRET", "test-api-secret")
        .env("INWORLD_HOST", engine)
        .env("INWORLD_SCENE", scene)
        .env("REDIS_URL", redis)
        .env("LEASE_TTL", LEASE_MS)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe; the proxy dies with the test.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    Instance {
        base: format!("http://127.0.0.1:{port}"),
        port,
        child: command.spawn().unwrap(),
    }
}

async fn cluster(count: usize) -> Cluster {
    let redis = RedisServer::start();
    let workspace = Workspace::default_scenes();
    let scene = workspace.scene_names().into_iter().next().unwrap();
    let engine = RunningEngine::start_dedicated(EngineConfig::new(workspace)).unwrap();
    let addr = engine.addr().to_string();
    let instances: Vec<Instance> = (0..count)
        .map(|_| spawn(free_port(), &redis.url(0), &addr, &scene))
        .collect();
    let http = reqwest::Client::new();
    for instance in &instances {
        answering(&http, instance).await;
    }
    Cluster {
        instances,
        http,
        engine: Some(engine),
        scene,
        redis,
    }
}

async fn answering(http: &reqwest::Client, instance: &Instance) {
    let start = Instant::now();
    while http
        .get(format!("{}/status", instance.base))
        .send()
        .await
        .is_err()
    {
        assert!(start.elapsed() < LIMIT, "an instance never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Cluster {
    async fn open(&self, at: usize, uid: &str) -> String {
        let r = self
            .http
            .post(format!("{}/session/open", self.instances[at].base))
            .json(
                &json!({"uid": uid, "sceneId": "tavern", "serverId": "game", "playerName": "Ada"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let opened: Value = r.json().await.unwrap();
        opened["sessionId"].as_str().unwrap().to_string()
    }

    /// Sends a message through instance `at`: its interaction id.
    async fn say(&self, at: usize, id: &str, text: &str) -> String {
        let r = self
            .http
            .post(format!("{}/session/{id}/message", self.instances[at].base))
            .json(&json!({ "message": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{:?}", r.text().await);
        r.headers()["interaction-id"].to_str().unwrap().to_string()
    }

    /// Drains `/events/game` from the instances `from`, in turn, into
    /// `all` until `done` holds for it.
    async fn drain_until(
        &self,
        from: &[usize],
        all: &mut Vec<Value>,
        done: impl Fn(&[Value]) -> bool,
    ) {
        let start = Instant::now();
        let mut turn = 0;
        while !done(all) {
            assert!(start.elapsed() < LIMIT, "never happened; events: {all:#?}");
            let base = &self.instances[from[turn % from.len()]].base;
            turn += 1;
            let r = self
                .http
                .get(format!("{base}/events/game?wait=500"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            all.extend(r.json::<Vec<Value>>().await.unwrap());
        }
    }

    /// A figure of an instance's /metrics.
    async fn metric(&self, at: usize, name: &str) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.instances[at].base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .parse()
            .unwrap()
    }
}

/// Whether `events` hold the end (or failure) of `interaction`.
fn settled(events: &[Value], interaction: &str) -> bool {
    settlements(events, interaction) > 0
}

fn settlements(events: &[Value], interaction: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            e["interactionId"] == interaction
                && (e["type"] == "interactionEnd" || e["type"] == "sendFailed")
        })
        .count()
}

fn resumed(events: &[Value], id: &str) -> bool {
    events
        .iter()
        .any(|e| e["type"] == "resumed" && e["sessionId"] == id)
}

/// The character's final lines of an interaction.
fn lines_of(events: &[Value], interaction: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["interactionId"] == interaction && e["type"] == "text" && e["final"] == true)
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect()
}

/// Asks "do you remember" through instance `at` and gives the answer.
async fn ask_to_remember(
    cluster: &Cluster,
    at: usize,
    from: &[usize],
    id: &str,
    all: &mut Vec<Value>,
) -> String {
    let asked = cluster.say(at, id, "Do you remember me?").await;
    cluster.drain_until(from, all, |e| settled(e, &asked)).await;
    lines_of(all, &asked).join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_owners_sessions_are_taken_over_and_remember() {
    let cluster = cluster(3).await;
    // Two sessions at instance 0, one at each of the others.
    let mine = [cluster.open(0, "p0").await, cluster.open(0, "p1").await];
    cluster.open(1, "p2").await;
    cluster.open(2, "p3").await;
    let mut all = Vec::new();
    let first = cluster.say(0, &mine[0], "My name is Ada.").await;
    cluster
        .drain_until(&[1, 2], &mut all, |e| settled(e, &first))
        .await;
    // Accepted, then the owner is killed at once.
    let last = cluster.say(0, &mine[0], "I come from the north.").await;
    cluster.instances[0].signal(libc::SIGKILL);
    let killed = Instant::now();
    // No request for those sessions: only drains, from the others.
    cluster
        .drain_until(&[1, 2], &mut all, |e| {
            mine.iter().all(|id| resumed(e, id)) && settled(e, &last)
        })
        .await;
    eprintln!(
        "takeover after kill -9: {:.2} s (lease {LEASE_MS} ms)",
        killed.elapsed().as_secs_f64()
    );
    // Every event queued before the kill drained exactly once: the first
    // reply whole and once, the last one ended once (its reply, or a
    // sendFailed when the kill came first).
    assert_eq!(settlements(&all, &first), 1, "{all:#?}");
    assert_eq!(settlements(&all, &last), 1, "{all:#?}");
    let said = lines_of(&all, &first);
    assert!(!said.is_empty(), "{all:#?}");
    let mut unique = said.clone();
    unique.dedup();
    assert_eq!(said, unique, "{all:#?}");
    // Reopened at one of the others, which counted them.
    let takeovers = cluster.metric(1, "inworld_proxy_takeovers_total").await
        + cluster.metric(2, "inworld_proxy_takeovers_total").await;
    assert_eq!(takeovers, 2);
    let open = cluster.metric(1, "inworld_proxy_open_sessions").await
        + cluster.metric(2, "inworld_proxy_open_sessions").await;
    assert_eq!(open, 4);
    // The conversation goes on: the character remembers the last line,
    // asked through either of the others.
    let answer = ask_to_remember(&cluster, 1, &[1, 2], &mine[0], &mut all).await;
    assert!(
        answer.contains("The last thing you told me was: I come from the north."),
        "{answer}"
    );
    let answer = ask_to_remember(&cluster, 2, &[1, 2], &mine[1], &mut all).await;
    assert!(answer.contains("Of course I remember you."), "{answer}");
    drop(cluster.instances);
    cluster.engine.unwrap().stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_owner_cannot_write_when_it_wakes() {
    let cluster = cluster(3).await;
    let mine = [
        cluster.open(0, "p0").await,
        cluster.open(0, "p1").await,
        cluster.open(0, "p2").await,
    ];
    let mut all = Vec::new();
    let first = cluster.say(0, &mine[0], "My name is Ada.").await;
    cluster
        .drain_until(&[1, 2], &mut all, |e| settled(e, &first))
        .await;
    // Paused right after accepting a message: its reply comes to a
    // process that cannot take it.
    let late = cluster.say(0, &mine[1], "Tell me a story.").await;
    cluster.instances[0].signal(libc::SIGSTOP);
    cluster
        .drain_until(&[1, 2], &mut all, |e| mine.iter().all(|id| resumed(e, id)))
        .await;
    // Woken past its lease: its sessions are the others' now.
    cluster.instances[0].signal(libc::SIGCONT);
    let start = Instant::now();
    while cluster.metric(0, "inworld_proxy_sessions_lost_total").await < 3 {
        assert!(
            start.elapsed() < LIMIT,
            "the paused owner kept its sessions"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fenced = cluster.metric(0, "inworld_proxy_fenced_writes_total").await;
    eprintln!("writes refused after the pause: {fenced}");
    // One live copy of each session, across the cluster.
    assert_eq!(cluster.metric(0, "inworld_proxy_open_sessions").await, 0);
    let open = cluster.metric(1, "inworld_proxy_open_sessions").await
        + cluster.metric(2, "inworld_proxy_open_sessions").await;
    assert_eq!(open, 3);
    // The message accepted before the pause ends once: in its reply (if
    // it was written before the pause) or in a sendFailed from the new
    // owner, never in both, and nothing the old owner sent after waking.
    cluster
        .drain_until(&[0, 1, 2], &mut all, |e| settled(e, &late))
        .await;
    let answer = ask_to_remember(&cluster, 0, &[0, 1, 2], &mine[1], &mut all).await;
    assert!(
        answer.contains("The last thing you told me was: Tell me a story."),
        "{answer}"
    );
    assert_eq!(settlements(&all, &late), 1, "{all:#?}");
    drop(cluster.instances);
    cluster.engine.unwrap().stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_sessions_over() {
    let mut cluster = cluster(2).await;
    let id = cluster.open(0, "p0").await;
    let mut all = Vec::new();
    let said = cluster.say(0, &id, "I keep bees.").await;
    cluster
        .drain_until(&[1], &mut all, |e| settled(e, &said))
        .await;
    cluster.instances[0].signal(libc::SIGTERM);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = cluster.instances[0].child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < LIMIT, "SIGTERM did not stop the instance");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let stopped = Instant::now();
    cluster
        .drain_until(&[1], &mut all, |e| resumed(e, &id))
        .await;
    eprintln!(
        "handover after SIGTERM: {:.2} s",
        stopped.elapsed().as_secs_f64()
    );
    // Handed over, not closed.
    assert!(!all.iter().any(|e| e["type"] == "disconnected"), "{all:#?}");
    let answer = ask_to_remember(&cluster, 1, &[1], &id, &mut all).await;
    assert!(
        answer.contains("The last thing you told me was: I keep bees."),
        "{answer}"
    );
    let by_type: HashMap<&str, usize> = all.iter().fold(HashMap::new(), |mut m, e| {
        *m.entry(e["type"].as_str().unwrap_or("?")).or_default() += 1;
        m
    });
    assert_eq!(by_type.get("resumed"), Some(&1), "{all:#?}");
    cluster.instances.remove(0);
    drop(cluster.instances);
    cluster.engine.unwrap().stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_with_a_stale_fencing_number_are_refused_and_reported() {
    use inworld_rest_proxy::ownership::{Ownership, Saved};
    use inworld_rest_proxy::redis_events::RedisEvents;
    let redis = RedisServer::start();
    let (fenced, mut refusals) = tokio::sync::mpsc::unbounded_channel();
    let events = RedisEvents::start(
        &redis.url(0),
        100,
        std::sync::Arc::new(tokio::sync::Notify::new()),
        fenced,
    )
    .unwrap();
    let lease = Duration::from_secs(60);
    let old = Ownership::new(events.connection(), "http://old".into(), lease);
    let new = Ownership::new(events.connection(), "http://new".into(), lease);
    let saved = Saved {
        uid: "u".into(),
        scene: "tavern".into(),
        ..Saved::default()
    };
    let first = old.claim("s1", &saved).await.unwrap();
    old.renew().await.unwrap();
    new.renew().await.unwrap();
    events.push(
        "s1",
        first,
        Some("g"),
        json!({"type": "text", "n": 1}),
        None,
        None,
    );
    events.flush().await;
    // The old owner's lease lapses (released here): the new one claims.
    assert!(new.take_over_lapsed().await.unwrap().is_empty());
    old.release().await.unwrap();
    let claimed = new.take_over_lapsed().await.unwrap();
    assert_eq!(claimed, vec![("s1".to_string(), first + 1)]);
    // The old owner's write is refused, counted and reported; the new
    // owner's is taken.
    events.push(
        "s1",
        first,
        Some("g"),
        json!({"type": "text", "n": 2}),
        None,
        None,
    );
    events.push(
        "s1",
        first + 1,
        Some("g"),
        json!({"type": "text", "n": 3}),
        None,
        None,
    );
    events.flush().await;
    assert_eq!(
        events
            .fenced_writes
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let refused = refusals.try_recv().unwrap();
    assert_eq!((refused.session.as_str(), refused.fence), ("s1", first));
    let drained = events.drain(Some("g"), None).await.unwrap();
    let numbers: Vec<&Value> = drained.iter().map(|e| &e["n"]).collect();
    assert_eq!(numbers, [&json!(1), &json!(3)]);
    // A closed session refuses its late writes too.
    events.close("s1", first + 1, Duration::from_secs(60));
    events.push(
        "s1",
        first + 1,
        Some("g"),
        json!({"type": "text", "n": 4}),
        None,
        None,
    );
    events.flush().await;
    assert_eq!(
        events
            .fenced_writes
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert!(events.drain(Some("g"), None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_restarted_at_the_same_address_reopens_its_sessions() {
    let mut cluster = cluster(1).await;
    let id = cluster.open(0, "p0").await;
    let mut all = Vec::new();
    let said = cluster.say(0, &id, "I lost my hat.").await;
    cluster
        .drain_until(&[0], &mut all, |e| settled(e, &said))
        .await;
    cluster.instances[0].signal(libc::SIGKILL);
    let port = cluster.instances[0].port;
    let engine = cluster.engine.as_ref().unwrap().addr().to_string();
    let _ = cluster.instances[0].child.wait();
    let again = spawn(port, &cluster.redis.url(0), &engine, &cluster.scene);
    answering(&cluster.http, &again).await;
    cluster.instances[0] = again;
    cluster
        .drain_until(&[0], &mut all, |e| resumed(e, &id))
        .await;
    let answer = ask_to_remember(&cluster, 0, &[0], &id, &mut all).await;
    assert!(
        answer.contains("The last thing you told me was: I lost my hat."),
        "{answer}"
    );
    drop(cluster.instances);
    cluster.engine.unwrap().stop();
}
