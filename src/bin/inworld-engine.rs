//! `inworld-engine`: the local engine as a program.
//!
//! ```text
//! inworld-engine [--listen 127.0.0.1:50051] [--scene FILE|default|test]
//!                [--key KEY] [--secret SECRET] [--pacing human|instant]
//!                [--token-ttl SECS] [--idle-timeout SECS]
//!                [--connection-idle-timeout SECS] [--audio-idle-timeout SECS]
//!                [--synthesizer espeak|tones] [--recognizer pocketsphinx|scripted]
//!                [--whisper-model GGML_FILE]
//!                [--tls-cert PEM --tls-key PEM]
//!                [--brain scripted|llm --llm-url URL --llm-model NAME]
//!                [--llm-max-tokens N] [--llm-max-reply-bytes N] [--llm-timeout SECS]
//!                [--llm-max-calls N] [--llm-max-calls-per-session N]
//!                [--max-sessions N] [--max-tokens N]
//! ```
//! With `--brain llm` the model's API key is read from `INWORLD_LLM_API_KEY`
//! (never from the command line, where `ps` would show it).
//! `--help` explains each flag and its default. Usage errors exit with 2.
//! Logs go to stderr, filtered by `INWORLD_LOG` (e.g. `INWORLD_LOG=debug`).

use inworld::auth::Credentials;
use inworld::engine::{
    Brain, EngineConfig, LlmConfig, Pacing, RecognizerKind, RunningEngine, SynthesizerKind,
    Workspace,
};
use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
const DEFAULT_KEY: &str = "test-api-key";
const DEFAULT_SECRET: &str = "test-api-secret";

/// The flags, as `--help` lists them: (flag, value name, what it does).
/// The defaults are filled in from the engine's own configuration. Every
/// flag takes a value (`--help` aside).
fn flags() -> [(&'static str, &'static str, String); 24] {
    let defaults = EngineConfig::new(Workspace::default_scenes());
    let llm = LlmConfig::new("", "");
    [
        (
            "--listen",
            "ADDR",
            format!("IP:PORT to listen on; port 0 picks a free one (default: {DEFAULT_LISTEN})"),
        ),
        (
            "--scene",
            "SCENE",
            "`default` (the tavern), `test`, or a TOML scene file (default: default)".into(),
        ),
        (
            "--key",
            "KEY",
            format!("API key clients sign with (default: {DEFAULT_KEY})"),
        ),
        (
            "--secret",
            "SECRET",
            format!("API secret that goes with the key (default: {DEFAULT_SECRET})"),
        ),
        (
            "--pacing",
            "MODE",
            "`human` (human-like delays) or `instant` (none) (default: human)".into(),
        ),
        (
            "--token-ttl",
            "SECS",
            format!(
                "lifetime of the session tokens it issues (default: {})",
                defaults.token_ttl.as_secs()
            ),
        ),
        (
            "--idle-timeout",
            "SECS",
            format!(
                "a session with no traffic for this long expires (default: {})",
                defaults.session_idle_timeout.as_secs()
            ),
        ),
        (
            "--connection-idle-timeout",
            "SECS",
            format!(
                "a connection without a stream for this long is closed (default: {})",
                defaults.connection_idle_timeout.as_secs()
            ),
        ),
        (
            "--audio-idle-timeout",
            "SECS",
            format!(
                "an audio session with no audio for this long expires (default: {})",
                defaults.audio_session_idle_timeout.as_secs()
            ),
        ),
        (
            "--synthesizer",
            "NAME",
            format!(
                "what speaks the characters' lines: `espeak` (espeak-ng, each character's voice; \
                 built with --features espeak) or `tones` (default: {})",
                synthesizer_name(defaults.synthesizer)
            ),
        ),
        (
            "--recognizer",
            "NAME",
            format!(
                "what hears the player's speech: `pocketsphinx` (built with --features \
                 pocketsphinx), `whisper` (with --whisper-model) or `scripted` (the scene's \
                 transcript) (default: {})",
                recognizer_name(&defaults.recognizer)
            ),
        ),
        (
            "--whisper-model",
            "GGML_FILE",
            "hear the player's speech with whisper.cpp and this ggml model file, e.g. \
             ggml-tiny.en.bin (built with --features whisper; default: none)"
                .into(),
        ),
        (
            "--tls-cert",
            "PEM_FILE",
            "serve TLS with this certificate chain (with --tls-key; default: plaintext)".into(),
        ),
        (
            "--tls-key",
            "PEM_FILE",
            "the certificate's private key (with --tls-cert; default: none)".into(),
        ),
        (
            "--brain",
            "BRAIN",
            "`scripted` (the scene file's rules and lines, offline) or `llm` (a language model \
             plays each character from its card; rules and goals still win where they match) \
             (default: scripted)"
                .into(),
        ),
        (
            "--llm-url",
            "URL",
            "with --brain llm: an OpenAI-compatible API base, e.g. http://127.0.0.1:11434/v1 \
             (Ollama) or http://127.0.0.1:8080/v1 (llama.cpp's server); the key, if it needs \
             one, comes from INWORLD_LLM_API_KEY"
                .into(),
        ),
        (
            "--llm-model",
            "NAME",
            "with --brain llm: the model to ask (e.g. llama3.2)".into(),
        ),
        (
            "--llm-max-tokens",
            "N",
            format!(
                "the model's max_tokens per reply (default: {})",
                llm.max_tokens
            ),
        ),
        (
            "--llm-max-reply-bytes",
            "N",
            format!(
                "at most this much text of a reply is said (default: {})",
                llm.max_reply_bytes
            ),
        ),
        (
            "--llm-timeout",
            "SECS",
            format!(
                "a model that does not start answering, or goes silent, for this long fails \
                 (default: {})",
                llm.timeout.as_secs()
            ),
        ),
        (
            "--llm-max-calls",
            "N",
            format!(
                "model calls at once, for the whole engine; more wait for one to end \
                 (default: {})",
                llm.max_calls
            ),
        ),
        (
            "--llm-max-calls-per-session",
            "N",
            format!(
                "model calls at once for one session (its streams together); more wait for one \
                 to end, at most --llm-timeout, then end their stream with RESOURCE_EXHAUSTED \
                 (default: {})",
                llm.max_calls_per_session
            ),
        ),
        (
            "--max-sessions",
            "N",
            format!(
                "live sessions at most; more are refused with RESOURCE_EXHAUSTED (default: {})",
                defaults.max_sessions
            ),
        ),
        (
            "--max-tokens",
            "N",
            format!(
                "unexpired session tokens at most; more are refused with RESOURCE_EXHAUSTED \
                 (default: {})",
                defaults.max_tokens
            ),
        ),
    ]
}

fn synthesizer_name(kind: SynthesizerKind) -> &'static str {
    match kind {
        SynthesizerKind::Espeak => "espeak",
        SynthesizerKind::Tones => "tones",
    }
}

fn recognizer_name(kind: &RecognizerKind) -> &'static str {
    match kind {
        RecognizerKind::PocketSphinx => "pocketsphinx",
        RecognizerKind::Whisper(_) => "whisper",
        RecognizerKind::Scripted => "scripted",
    }
}

fn help() -> String {
    let mut text = String::from(
        "inworld-engine: the local Inworld engine (scripted characters, the same gRPC protocol)\n\n\
         usage: inworld-engine [--flag VALUE | --flag=VALUE]...\n\n",
    );
    for (flag, value, what) in flags() {
        text.push_str(&format!("  {:<32} {what}\n", format!("{flag} {value}")));
    }
    text.push_str(&format!(
        "  {:<32} print this help and exit\n",
        "-h, --help"
    ));
    text.push_str(
        "\nWith --brain llm the model's API key, if it needs one, is read from\n\
         INWORLD_LLM_API_KEY; it is never printed or logged.\n\
         \nIt prints its address, scenes, characters, key and secret on stdout, then serves\n\
         until interrupted. Logs go to stderr, filtered by INWORLD_LOG (default info;\n\
         e.g. INWORLD_LOG=debug).\n",
    );
    text
}

/// What the command line asks for.
enum Parsed {
    Run(Box<EngineConfig>),
    Help,
}

/// Reads the flags; a usage error is `Err(message)`.
fn parse(args: Vec<String>) -> Result<Parsed, String> {
    let mut config = EngineConfig::new(Workspace::default_scenes());
    config.listen = DEFAULT_LISTEN.parse().expect("valid address");
    config.pacing = Pacing::Human;
    let (mut key, mut secret) = (DEFAULT_KEY.to_string(), DEFAULT_SECRET.to_string());
    let (mut cert, mut tls_key) = (None, None);
    let mut brain = "scripted".to_string();
    let mut llm = LlmConfig::new("", "");
    let mut llm_flags = Vec::new();
    let (mut recognizer, mut whisper_model) = (None, None);
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == "--help" || arg == "-h" {
            return Ok(Parsed::Help);
        }
        // `--flag=value` or `--flag value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if !flags().iter().any(|(known, _, _)| *known == flag) {
            return Err(if flag.starts_with('-') {
                format!("unknown flag {flag:?}")
            } else {
                format!("unexpected argument {arg:?} (flags start with --)")
            });
        }
        let value = match inline {
            Some(v) => v,
            None => match it.next() {
                Some(v) if !v.starts_with("--") => v,
                _ => return Err(format!("{flag} needs a value")),
            },
        };
        let secs = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0 && s.is_finite())
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("{flag}: {v:?} is not a positive number of seconds"))
        };
        let count = |v: &str| {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag}: {v:?} is not a positive whole number"))
        };
        if flag.starts_with("--llm-") {
            llm_flags.push(flag.clone());
        }
        match flag.as_str() {
            "--brain" => match value.as_str() {
                "scripted" | "llm" => brain = value,
                other => return Err(format!("--brain {other:?}: use scripted or llm")),
            },
            "--llm-url" => {
                if !(value.starts_with("http://") || value.starts_with("https://")) {
                    return Err(format!(
                        "--llm-url {value:?}: use an http:// or https:// URL"
                    ));
                }
                llm.url = value
            }
            "--llm-model" => llm.model = value,
            "--llm-max-tokens" => {
                llm.max_tokens = u32::try_from(count(&value)?)
                    .map_err(|_| format!("--llm-max-tokens {value:?} is too large"))?
            }
            "--llm-max-reply-bytes" => llm.max_reply_bytes = count(&value)?,
            "--llm-timeout" => llm.timeout = secs(&value)?,
            "--llm-max-calls" => llm.max_calls = count(&value)?,
            "--llm-max-calls-per-session" => llm.max_calls_per_session = count(&value)?,
            "--max-sessions" => config.max_sessions = count(&value)?,
            "--max-tokens" => config.max_tokens = count(&value)?,
            "--listen" => {
                config.listen = value
                    .parse()
                    .map_err(|e| format!("--listen {value:?}: {e} (use IP:PORT)"))?
            }
            "--scene" => {
                config.workspace = match value.as_str() {
                    "default" => Workspace::default_scenes(),
                    "test" => Workspace::test_scenes(),
                    path => Workspace::from_file(path.as_ref())
                        .map_err(|e| format!("--scene {path:?}: {e}"))?,
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
            "--audio-idle-timeout" => config.audio_session_idle_timeout = secs(&value)?,
            "--synthesizer" => {
                config.synthesizer = match value.as_str() {
                    "espeak" => SynthesizerKind::Espeak,
                    "tones" => SynthesizerKind::Tones,
                    other => return Err(format!("--synthesizer {other:?}: use espeak or tones")),
                }
            }
            "--recognizer" => match value.as_str() {
                "pocketsphinx" | "scripted" | "whisper" => recognizer = Some(value),
                other => {
                    return Err(format!(
                        "--recognizer {other:?}: use pocketsphinx, whisper or scripted"
                    ))
                }
            },
            "--whisper-model" => whisper_model = Some(std::path::PathBuf::from(value)),
            "--tls-cert" => cert = Some(value),
            "--tls-key" => tls_key = Some(value),
            _ => unreachable!("every flag of VALUE_FLAGS is handled"),
        }
    }
    config.credentials = vec![Credentials::new(key, secret)];
    // A model file chooses whisper; whisper needs one.
    match (recognizer.as_deref(), whisper_model) {
        (None | Some("whisper"), Some(model)) => config.recognizer = RecognizerKind::Whisper(model),
        (Some("whisper"), None) => {
            return Err("--recognizer whisper needs --whisper-model GGML_FILE".into())
        }
        (Some(other), Some(_)) => {
            return Err(format!(
                "--whisper-model is for the whisper recognizer, not --recognizer {other}"
            ))
        }
        (Some("pocketsphinx"), None) => config.recognizer = RecognizerKind::PocketSphinx,
        (Some(_), None) => config.recognizer = RecognizerKind::Scripted,
        (None, None) => {}
    }
    if brain == "llm" {
        if llm.url.is_empty() || llm.model.is_empty() {
            return Err("--brain llm needs --llm-url and --llm-model".into());
        }
        llm.api_key = std::env::var("INWORLD_LLM_API_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        config.brain = Brain::Llm(llm);
    } else if let Some(flag) = llm_flags.first() {
        return Err(format!("{flag} needs --brain llm"));
    }
    match (cert, tls_key) {
        (None, None) => {}
        (Some(c), Some(k)) => {
            let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
            config.tls = Some((read(&c)?, read(&k)?));
        }
        _ => return Err("--tls-cert and --tls-key go together".into()),
    }
    Ok(Parsed::Run(Box::new(config)))
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::new().filter_or("INWORLD_LOG", "info")).init();
    let config = match parse(std::env::args().skip(1).collect()) {
        Ok(Parsed::Run(c)) => *c,
        Ok(Parsed::Help) => {
            print!("{}", help());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("inworld-engine: {e}");
            eprintln!("run `inworld-engine --help` for the flags and their defaults");
            return ExitCode::from(2);
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
    let brain = match &config.brain {
        Brain::Scripted => "scripted".to_string(),
        Brain::Llm(llm) => format!("llm: {} at {}", llm.model, llm.endpoint()),
    };
    let engine = match RunningEngine::start(config, runtime.handle()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("inworld-engine: cannot start: {e}");
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
    println!("brain     {brain}");
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
