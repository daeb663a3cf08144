//! The `inworld-engine` program: flags, what it prints, and that it serves.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(args: &[&str]) -> (Killed, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout).lines();
    for line in reader.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("secret");
        lines.push(line);
        if done {
            break;
        }
    }
    // Keep reading: a closed pipe would end the engine at its next line.
    std::thread::spawn(move || for _ in reader {});
    (child, lines)
}

#[test]
fn prints_address_scenes_and_credentials_then_serves() {
    let (_child, lines) = run(&[
        "--listen",
        "127.0.0.1:0",
        "--scene",
        "test",
        "--key",
        "k1",
        "--secret",
        "s1",
        "--pacing",
        "instant",
        "--token-ttl",
        "600",
        "--idle-timeout",
        "60",
    ]);
    let text = lines.join("\n");
    assert!(
        text.contains("scene     workspaces/test-ws/scenes/test-scene"),
        "{text}"
    );
    assert!(text.contains("scene     workspaces/test-ws/scenes/other-scene"));
    assert!(text.contains("key       k1"));
    assert!(text.contains("secret    s1"));
    let addr: std::net::SocketAddr = lines[0].split_whitespace().nth(3).unwrap().parse().unwrap();
    assert_ne!(addr.port(), 0);

    // It answers a token request signed with the printed pair.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
        let mut client = WorldEngineClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let creds = inworld::auth::Credentials::new("k1", "s1");
        let mut req = tonic::Request::new(
            inworld::protocol::ai::inworld::engine::GenerateTokenRequest {
                key: "k1".into(),
                resources: vec!["workspaces/test-ws".into()],
            },
        );
        req.metadata_mut().insert(
            "authorization",
            inworld::auth::authorization_header(&creds, &addr.to_string())
                .parse()
                .unwrap(),
        );
        let token = client.generate_token(req).await.unwrap().into_inner();
        assert!(token.session_id.starts_with("test-ws:"));
    });
}

#[test]
fn the_default_scene_is_the_tavern_and_bad_flags_are_refused() {
    let (_child, lines) = run(&["--listen", "127.0.0.1:0"]);
    assert!(lines
        .iter()
        .any(|l| l == "scene     workspaces/demo/scenes/tavern"));
    assert!(lines.iter().any(|l| l == "key       test-api-key"));

    let out = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
        .args(["--pacing", "sloth"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pacing"));
    let out = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
        .args(["--scene", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonexistent"));
}

#[test]
fn help_explains_every_flag_with_its_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen ADDR",
        "--scene SCENE",
        "--key KEY",
        "--secret SECRET",
        "--pacing MODE",
        "--token-ttl SECS",
        "--idle-timeout SECS",
        "--synthesizer NAME",
        "--recognizer NAME",
        "--tls-cert PEM_FILE",
        "--tls-key PEM_FILE",
        "--llm-max-tokens N",
        "--llm-max-reply-bytes N",
        "--llm-timeout SECS",
        "--llm-max-calls N",
        "--llm-max-calls-per-session N",
        "--max-sessions N",
        "--max-tokens N",
    ] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag} is not in --help:\n{help}"));
        assert!(
            line.contains("(default") || line.contains("default:"),
            "{line}"
        );
    }
    for default in [
        "127.0.0.1:50051",
        "test-api-key",
        "test-api-secret",
        "default: human",
        "default: 3600",
        "default: 1800",
    ] {
        assert!(help.contains(default), "{default} missing:\n{help}");
    }
    assert!(help.contains("INWORLD_LOG"));
    let short = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
        .arg("-h")
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(0));
    assert_eq!(short.stdout, out.stdout);
}

#[test]
fn usage_errors_name_the_problem_and_exit_with_2() {
    let fails = |args: &[&str], expected: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_inworld-engine"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(stderr.contains("--help"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    };
    fails(&["--x"], "unknown flag \"--x\"");
    fails(&["--x", "1"], "unknown flag \"--x\"");
    fails(
        &["--listen", "127.0.0.1:0", "--lisen", "1"],
        "unknown flag \"--lisen\"",
    );
    fails(&["--listen"], "--listen needs a value");
    fails(&["--scene", "--pacing", "instant"], "--scene needs a value");
    fails(&["--pacing="], "--pacing \"\": use human or instant");
    fails(&["--token-ttl", "0"], "--token-ttl");
    fails(&["--listen", "nope"], "--listen \"nope\"");
    fails(
        &["--tls-cert", "a.pem"],
        "--tls-cert and --tls-key go together",
    );
    fails(&["serve"], "unexpected argument \"serve\"");
}

#[test]
fn flags_also_take_their_value_after_an_equals_sign() {
    let (_child, lines) = run(&["--listen=127.0.0.1:0", "--scene=test", "--key=k2"]);
    assert!(lines
        .iter()
        .any(|l| l == "scene     workspaces/test-ws/scenes/test-scene"));
    assert!(lines.iter().any(|l| l == "key       k2"));
}
