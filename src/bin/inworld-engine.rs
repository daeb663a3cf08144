//! `inworld-engine`: the local engine as a program.
//!
//! ```text
//! inworld-engine [--listen 127.0.0.1:50051] [--scene FILE|default|test]
//!                [--key KEY] [--secret SECRET] [--pacing human|instant]
//!                [--token-ttl SECS] [--idle-timeout SECS]
//!                [--connection-idle-timeout SECS]
//!                [--tls-cert PEM --tls-key PEM]
//! ```
//! Logs go to stderr, filtered by `INWORLD_LOG` (e.g. `INWORLD_LOG=debug`).

use inworld::auth::Credentials;
use inworld::engine::{EngineConfig, Pacing, RunningEngine, Workspace};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: inworld-engine [--listen ADDR] [--scene FILE|default|test] [--key KEY] [--secret SECRET]
                      [--pacing human|instant] [--token-ttl SECS] [--idle-timeout SECS]
                      [--connection-idle-timeout SECS] [--tls-cert PEM_FILE --tls-key PEM_FILE]
defaults: --listen 127.0.0.1:50051 --scene default --key test-api-key --secret test-api-secret
          --pacing human --token-ttl 3600 --idle-timeout 1800 --connection-idle-timeout 60";

fn parse(args: Vec<String>) -> Result<EngineConfig, String> {
    let mut config = EngineConfig::new(Workspace::default_scenes());
    config.listen = "127.0.0.1:50051".parse().expect("valid address");
    config.pacing = Pacing::Human;
    let (mut key, mut secret) = ("test-api-key".to_string(), "test-api-secret".to_string());
    let (mut cert, mut tls_key) = (None, None);
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let secs = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("{flag}: {v:?} is not a positive number of seconds"))
        };
        match flag.as_str() {
            "--listen" => {
                config.listen = value
                    .parse()
                    .map_err(|e| format!("--listen {value:?}: {e}"))?
            }
            "--scene" => {
                config.workspace = match value.as_str() {
                    "default" => Workspace::default_scenes(),
                    "test" => Workspace::test_scenes(),
                    path => Workspace::from_file(path.as_ref()).map_err(|e| e.to_string())?,
                }
            }
            "--key" => key = value,
            "--secret" => secret = value,
            "--pacing" => {
                config.pacing = match value.as_str() {
                    "human" => Pacing::Human,
                    "instant" => Pacing::Instant,
                    other => return Err(format!("--pacing {other:?}: use human or instant")),
                }
            }
            "--token-ttl" => config.token_ttl = secs(&value)?,
            "--idle-timeout" => config.session_idle_timeout = secs(&value)?,
            "--connection-idle-timeout" => config.connection_idle_timeout = secs(&value)?,
            "--tls-cert" => cert = Some(value),
            "--tls-key" => tls_key = Some(value),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    config.credentials = vec![Credentials::new(key, secret)];
    match (cert, tls_key) {
        (None, None) => {}
        (Some(c), Some(k)) => {
            let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
            config.tls = Some((read(&c)?, read(&k)?));
        }
        _ => return Err("--tls-cert and --tls-key go together".into()),
    }
    Ok(config)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::new().filter_or("INWORLD_LOG", "info")).init();
    let config = match parse(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("inworld-engine: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("inworld-engine: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scenes = config.workspace.scene_names();
    let characters: Vec<String> = config
        .workspace
        .characters
        .iter()
        .map(|c| config.workspace.character_name(&c.id))
        .collect();
    let tls = config.tls.is_some();
    let engine = match RunningEngine::start(config, runtime.handle()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("inworld-engine: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let creds = engine.credentials();
    // The operator needs these to connect; they go to stdout, never to the log.
    println!(
        "inworld-engine listening on {} ({})",
        engine.addr(),
        if tls { "TLS" } else { "plaintext" }
    );
    for s in &scenes {
        println!("scene     {s}");
    }
    for c in &characters {
        println!("character {c}");
    }
    println!("key       {}", creds.key);
    println!("secret    {}", creds.secret);
    println!(
        "try: NODE_SDK_INWORLD_ENGINE_HOST={} NODE_SDK_INWORLD_ENGINE_SSL={}",
        engine.addr(),
        if tls { "true" } else { "false" }
    );
    // Serve until the process is interrupted (Ctrl-C ends it; the OS frees the port).
    let _engine = engine;
    loop {
        std::thread::park();
    }
}
