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

use inworld::engine::{EngineConfig, Pacing, RunningEngine, Workspace};
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
    redis_url: String,
    /// None while the test has it stopped.
    redis: Option<RedisServer>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(port: u16, redis: &str, engine: &str, scene: &str) -> Instance {
    spawn_with(port, redis, engine, scene, &[])
}

/// An instance with more of the environment (`env` wins).
fn spawn_with(port: u16, redis: &str, engine: &str, scene: &str, env: &[(&str, &str)]) -> Instance {
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
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        // PROXY_TEST_LOG=1: the instances' logs on the test's stderr.
        .stderr(if std::env::var_os("PROXY_TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
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
    cluster_with(RedisServer::start(), Pacing::Instant, &vec![vec![]; count]).await
}

/// One instance per entry of `envs`, each with that environment, on
/// `redis`, the engine's replies paced by `pacing`.
async fn cluster_with(redis: RedisServer, pacing: Pacing, envs: &[Vec<(&str, &str)>]) -> Cluster {
    let workspace = Workspace::default_scenes();
    let scene = workspace.scene_names().into_iter().next().unwrap();
    let mut config = EngineConfig::new(workspace);
    config.pacing = pacing;
    let engine = RunningEngine::start_dedicated(config).unwrap();
    let addr = engine.addr().to_string();
    let instances: Vec<Instance> = envs
        .iter()
        .map(|env| spawn_with(free_port(), &redis.url(0), &addr, &scene, env))
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
        redis_url: redis.url(0),
        redis: Some(redis),
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

/// A trigger accepted (202) just before its owner is killed ends, like a
/// message, in its reply or a `sendFailed`: replies paced as speech, so
/// the kill comes while the reply streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_accepted_before_its_owner_is_killed_still_ends() {
    let cluster = cluster_with(RedisServer::start(), Pacing::Human, &vec![vec![]; 2]).await;
    let id = cluster.open(0, "p0").await;
    let r = cluster
        .http
        .get(format!(
            "{}/session/{id}/custom/greet",
            cluster.instances[0].base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{:?}", r.text().await);
    let trigger = r.headers()["interaction-id"].to_str().unwrap().to_string();
    cluster.instances[0].signal(libc::SIGKILL);
    let mut all = Vec::new();
    cluster
        .drain_until(&[1], &mut all, |e| resumed(e, &id) && settled(e, &trigger))
        .await;
    assert_eq!(settlements(&all, &trigger), 1, "{all:#?}");
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
    assert_eq!(new.take_over_lapsed(10).await.unwrap(), (vec![], 0));
    old.release().await.unwrap();
    let (claimed, left) = new.take_over_lapsed(10).await.unwrap();
    assert_eq!(claimed, vec![("s1".to_string(), first + 1)]);
    assert_eq!(left, 0);
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
    let again = spawn(port, &cluster.redis_url, &engine, &cluster.scene);
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

impl Cluster {
    /// `GET /session/:id/status` through instance `at`: the status, its
    /// `Retry-After` and body.
    async fn session_status(&self, at: usize, id: &str) -> (StatusCode, Option<u64>, Value) {
        let r = self
            .http
            .get(format!("{}/session/{id}/status", self.instances[at].base))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        (status, retry, r.json().await.unwrap())
    }

    /// Polls until `done` holds for the figures `name` of instances `at`.
    async fn wait_metrics(&self, at: &[usize], name: &str, done: impl Fn(&[u64]) -> bool) {
        let start = Instant::now();
        loop {
            let mut figures = Vec::new();
            for i in at {
                figures.push(self.metric(*i, name).await);
            }
            if done(&figures) {
                return;
            }
            assert!(start.elapsed() < LIMIT, "{name} stayed {figures:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// As `drain_until`, through a Redis outage (503s are retried).
    async fn drain_through_outage(
        &self,
        at: usize,
        all: &mut Vec<Value>,
        done: impl Fn(&[Value]) -> bool,
    ) {
        let start = Instant::now();
        while !done(all) {
            assert!(start.elapsed() < LIMIT, "never happened; events: {all:#?}");
            let r = self
                .http
                .get(format!("{}/events/game?wait=500", self.instances[at].base))
                .send()
                .await
                .unwrap();
            if r.status() == StatusCode::SERVICE_UNAVAILABLE {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            assert_eq!(r.status(), StatusCode::OK);
            all.extend(r.json::<Vec<Value>>().await.unwrap());
        }
    }
}

/// A 503 telling the client to retry, in the proxy's error style.
fn is_retry_later(answer: &(StatusCode, Option<u64>, Value), id: &str) -> bool {
    answer.0 == StatusCode::SERVICE_UNAVAILABLE
        && answer.1.is_some_and(|s| s >= 1)
        && answer.2 == json!(format!("Session {id} Unavailable"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_owners_sessions_are_spread_over_the_survivors() {
    let cluster = cluster(3).await;
    let mut mine = Vec::new();
    for i in 0..6 {
        mine.push(cluster.open(0, &format!("p{i}")).await);
    }
    cluster.instances[0].signal(libc::SIGKILL);
    let mut all = Vec::new();
    cluster
        .drain_until(&[1, 2], &mut all, |e| mine.iter().all(|id| resumed(e, id)))
        .await;
    let took = [
        cluster.metric(1, "inworld_proxy_takeovers_total").await,
        cluster.metric(2, "inworld_proxy_takeovers_total").await,
    ];
    eprintln!("6 sessions of a killed instance taken over as {took:?}");
    assert_eq!(took[0] + took[1], 6);
    assert!(took.iter().all(|t| *t > 0), "{took:?}");
    for id in &mine {
        let resumes = all
            .iter()
            .filter(|e| e["type"] == "resumed" && e["sessionId"] == *id)
            .count();
        assert_eq!(resumes, 1, "{all:#?}");
    }
    let open = cluster.metric(1, "inworld_proxy_open_sessions").await
        + cluster.metric(2, "inworld_proxy_open_sessions").await;
    assert_eq!(open, 6);
    drop(cluster.instances);
    cluster.engine.unwrap().stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeovers_stay_within_max_sessions_and_the_rest_wait_reported() {
    let small = vec![("MAX_SESSIONS", "3")];
    let cluster = cluster_with(
        RedisServer::start(),
        Pacing::Instant,
        &[vec![], small.clone(), small],
    )
    .await;
    let theirs = [cluster.open(1, "q1").await, cluster.open(2, "q2").await];
    let mut mine = Vec::new();
    for i in 0..6 {
        mine.push(cluster.open(0, &format!("p{i}")).await);
    }
    cluster.instances[0].signal(libc::SIGKILL);
    // Room for two more at each survivor: four reopened, two wait.
    cluster
        .wait_metrics(&[1, 2], "inworld_proxy_takeovers_total", |t| t == [2, 2])
        .await;
    cluster
        .wait_metrics(&[1, 2], "inworld_proxy_sessions_awaiting_takeover", |w| {
            w == [2, 2]
        })
        .await;
    for at in [1, 2] {
        assert_eq!(cluster.metric(at, "inworld_proxy_open_sessions").await, 3);
    }
    // The two waiting answer 503 with Retry-After, the others as usual.
    let mut waiting = Vec::new();
    for id in &mine {
        let answer = cluster.session_status(1, id).await;
        if answer.0 == StatusCode::OK {
            assert_eq!(answer.2, json!(true));
        } else {
            assert!(is_retry_later(&answer, id), "{answer:?}");
            waiting.push(id.clone());
        }
    }
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    // A session closed at a survivor makes room: one of them is reopened.
    let r = cluster
        .http
        .get(format!(
            "{}/session/{}/close",
            cluster.instances[1].base, theirs[0]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    cluster
        .wait_metrics(&[1], "inworld_proxy_sessions_awaiting_takeover", |w| {
            w == [1]
        })
        .await;
    let mut all = Vec::new();
    cluster
        .drain_until(&[1, 2], &mut all, |e| {
            waiting.iter().filter(|id| resumed(e, id)).count() == 1
        })
        .await;
    assert_eq!(cluster.metric(1, "inworld_proxy_open_sessions").await, 3);
    assert_eq!(cluster.metric(2, "inworld_proxy_open_sessions").await, 3);
    drop(cluster.instances);
    cluster.engine.unwrap().stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_being_taken_over_answers_503_then_its_answer() {
    let mut cluster = cluster(2).await;
    let id = cluster.open(0, "p0").await;
    cluster.instances[0].signal(libc::SIGKILL);
    let _ = cluster.instances[0].child.wait();
    // Its owner is gone and its lease not lapsed yet: carried there, it
    // does not answer; the client is told to retry (not 502, not 404).
    let r = cluster
        .http
        .post(format!(
            "{}/session/{id}/message",
            cluster.instances[1].base
        ))
        .json(&json!({"message": "Hello?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!(format!("Session {id} Unavailable"))
    );
    // Retried, it answers once the session is reopened; never a 404.
    let start = Instant::now();
    let mut retries = 0;
    loop {
        let answer = cluster.session_status(1, &id).await;
        if answer.0 == StatusCode::OK {
            assert_eq!(answer.2, json!(true));
            break;
        }
        assert!(is_retry_later(&answer, &id), "{answer:?}");
        assert!(start.elapsed() < LIMIT, "never reopened");
        retries += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("503s before the session answered again: {retries}");
    // A session nobody knows is still a 404.
    let answer = cluster.session_status(1, "nobody:knows").await;
    assert_eq!(answer.0, StatusCode::NOT_FOUND);
    assert_eq!(answer.2, json!("Session nobody:knows Not Found"));
    drop(cluster.instances);
    cluster.engine.unwrap().stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_redis_is_down_reopens_the_sessions_when_it_returns() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("proxy-restart-aof-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cluster = cluster_with(
        RedisServer::start_durable_on(port, &dir),
        Pacing::Instant,
        &[vec![]],
    )
    .await;
    let id = cluster.open(0, "p0").await;
    let mut all = Vec::new();
    let said = cluster.say(0, &id, "I lost my hat.").await;
    cluster
        .drain_until(&[0], &mut all, |e| settled(e, &said))
        .await;
    cluster.instances[0].signal(libc::SIGKILL);
    let _ = cluster.instances[0].child.wait();
    // Redis stops (its data kept on disk), and the process starts again
    // at the same address meanwhile.
    drop(cluster.redis.take());
    let proxy_port = cluster.instances[0].port;
    let engine = cluster.engine.as_ref().unwrap().addr().to_string();
    let again = spawn(proxy_port, &cluster.redis_url, &engine, &cluster.scene);
    answering(&cluster.http, &again).await;
    cluster.instances[0] = again;
    let r = cluster
        .http
        .get(format!("{}/metrics", cluster.instances[0].base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "redis is down");
    // It opens nothing before its predecessor's sessions are its own.
    let r = cluster
        .http
        .post(format!("{}/session/open", cluster.instances[0].base))
        .json(&json!({"uid": "p1", "sceneId": "tavern", "serverId": "game"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    // Redis returns: the sessions are claimed and reopened on the tick.
    cluster.redis = Some(RedisServer::start_durable_on(port, &dir));
    cluster
        .drain_through_outage(0, &mut all, |e| resumed(e, &id))
        .await;
    let answer = ask_to_remember(&cluster, 0, &[0], &id, &mut all).await;
    assert!(
        answer.contains("The last thing you told me was: I lost my hat."),
        "{answer}"
    );
    // And it opens sessions again.
    cluster.open(0, "p1").await;
    drop(cluster.instances);
    cluster.engine.unwrap().stop();
    drop(cluster.redis);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_paused_mid_reply_has_its_writes_refused_when_it_wakes() {
    // Replies paced as speech: one is still streaming when its owner stops.
    let cluster = cluster_with(RedisServer::start(), Pacing::Human, &vec![vec![]; 3]).await;
    let mine = [cluster.open(0, "p0").await, cluster.open(0, "p1").await];
    // The same message to a session of a live instance right after: when
    // its reply has ended, so has the paused owner's, which is then all
    // waiting for it to wake.
    let probe = cluster.open(1, "probe").await;
    let mut all = Vec::new();
    let mut tries = 0;
    let (streaming, probed) = loop {
        let asked = cluster.say(0, &mine[0], "Tell me a story.").await;
        let probed = cluster.say(1, &probe, "Tell me a story.").await;
        cluster
            .drain_until(&[1, 2], &mut all, |e| {
                e.iter()
                    .any(|e| e["interactionId"] == asked && e["type"] == "text")
            })
            .await;
        if !settled(&all, &asked) {
            cluster.instances[0].signal(libc::SIGSTOP);
            break (asked, probed);
        }
        tries += 1;
        assert!(tries < 5, "every reply ended before the pause: {all:#?}");
    };
    cluster
        .drain_until(&[1, 2], &mut all, |e| {
            mine.iter().all(|id| resumed(e, id)) && settled(e, &probed)
        })
        .await;
    // A message for its other session reaches it while it is paused (a
    // request in flight at the pause), whole in its socket before it wakes.
    let mut in_flight = tokio::net::TcpStream::connect(("127.0.0.1", cluster.instances[0].port))
        .await
        .unwrap();
    let body = json!({"message": "Are you there?"}).to_string();
    let request = format!(
        "POST /session/{}/message HTTP/1.1\r\nhost: proxy\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        mine[1],
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut in_flight, request.as_bytes())
        .await
        .unwrap();
    // Woken past its lease with the rest of the reply to write: refused.
    // Redis holds every command for a moment as it wakes (less than the
    // proxy's 2 s command timeout), so that the owner certainly takes that
    // rest from its stream before its renewal tells it the lease lapsed.
    let mut redis = redis::Client::open(cluster.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .query_async(&mut redis)
        .await
        .unwrap();
    cluster.instances[0].signal(libc::SIGCONT);
    cluster
        .wait_metrics(&[0], "inworld_proxy_sessions_lost_total", |l| l == [2])
        .await;
    let fenced = cluster.metric(0, "inworld_proxy_fenced_writes_total").await;
    eprintln!("writes refused after waking mid-reply: {fenced}");
    assert!(fenced > 0);
    // The message it took as it woke: its line refused, so no 202 (nothing
    // of it would reach the client) but a 503 to retry, which the new
    // owner accepts and answers.
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut in_flight, &mut answer)
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("\r\nretry-after: "),
        "{answer}"
    );
    let retried = cluster.say(1, &mine[1], "Are you there?").await;
    cluster
        .drain_until(&[1, 2], &mut all, |e| settled(e, &retried))
        .await;
    assert!(!lines_of(&all, &retried).is_empty(), "{all:#?}");
    // One live copy of each session (the probe's among them).
    assert_eq!(cluster.metric(0, "inworld_proxy_open_sessions").await, 0);
    let open = cluster.metric(1, "inworld_proxy_open_sessions").await
        + cluster.metric(2, "inworld_proxy_open_sessions").await;
    assert_eq!(open, 3);
    // The interaction cut by the pause ends once: the new owner's
    // sendFailed, none of the old owner's events after it woke.
    cluster
        .drain_until(&[0, 1, 2], &mut all, |e| settled(e, &streaming))
        .await;
    for instance in &cluster.instances {
        let r = cluster
            .http
            .get(format!("{}/events/game?wait=500", instance.base))
            .send()
            .await
            .unwrap();
        all.extend(r.json::<Vec<Value>>().await.unwrap());
    }
    assert_eq!(settlements(&all, &streaming), 1, "{all:#?}");
    drop(cluster.instances);
    cluster.engine.unwrap().stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reopens_what_max_sessions_allows_and_leaves_the_rest_to_the_others() {
    // A long lease: the process restarted at its address claims its
    // predecessor's sessions before the other instance could.
    let long = vec![("LEASE_TTL", "10000")];
    let mut cluster = cluster_with(
        RedisServer::start(),
        Pacing::Instant,
        &[long.clone(), long.clone()],
    )
    .await;
    let mut mine = Vec::new();
    for i in 0..4 {
        mine.push(cluster.open(0, &format!("p{i}")).await);
    }
    cluster.instances[0].signal(libc::SIGKILL);
    let _ = cluster.instances[0].child.wait();
    let port = cluster.instances[0].port;
    let engine = cluster.engine.as_ref().unwrap().addr().to_string();
    let again = spawn_with(
        port,
        &cluster.redis_url,
        &engine,
        &cluster.scene,
        &[("LEASE_TTL", "10000"), ("MAX_SESSIONS", "2")],
    );
    answering(&cluster.http, &again).await;
    cluster.instances[0] = again;
    let mut all = Vec::new();
    cluster
        .drain_until(&[0, 1], &mut all, |e| mine.iter().all(|id| resumed(e, id)))
        .await;
    assert_eq!(cluster.metric(0, "inworld_proxy_takeovers_total").await, 2);
    assert_eq!(cluster.metric(0, "inworld_proxy_open_sessions").await, 2);
    assert_eq!(cluster.metric(1, "inworld_proxy_takeovers_total").await, 2);
    for id in &mine {
        assert_eq!(cluster.session_status(1, id).await.0, StatusCode::OK);
    }
    drop(cluster.instances);
    cluster.engine.unwrap().stop();
}
