//! `iw_engine`: the local engine (scripted characters) running in-process on
//! threads of its own, so samples and games work offline.

use std::ffi::c_char;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use parking_lot::Mutex;

use super::args::{
    optional_string_arg, out_arg, sized_struct_arg, versioned_struct_arg, write_c_string,
};
use super::error::*;
use super::handles::HandleTable;
use super::library::{check_alive, start_runtime, without_sigpipe, Held};
use crate::auth::Credentials;
use crate::engine::{
    Brain, EngineConfig, LlmConfig, Pacing, RecognizerKind, RunningEngine, SynthesizerKind,
    Workspace,
};

/// Opaque handle to a running local engine (see `iw_engine_start`).
pub struct iw_engine {
    _opaque: [u8; 0],
}

/// `iw_engine_config.pacing`: replies as fast as possible (tests, benchmarks).
pub const IW_PACING_INSTANT: u32 = 0;
/// `iw_engine_config.pacing`: replies paced like a person talking (demos).
pub const IW_PACING_HUMAN: u32 = 1;

/// `iw_engine_config.brain`: the scene file's rules and lines (offline; the default).
pub const IW_BRAIN_SCRIPTED: u32 = 0;
/// `iw_engine_config.brain`: a language model behind an OpenAI-compatible
/// chat-completions endpoint (`llm_url`, `llm_model`) plays each character
/// from its card; the scene's rules and goals still win where they match.
pub const IW_BRAIN_LLM: u32 = 1;

/// `iw_engine_config.synthesizer`: the best one built in (the default):
/// espeak-ng in builds with it (the `espeak` feature), else the tones.
pub const IW_SYNTHESIZER_DEFAULT: u32 = 0;
/// `iw_engine_config.synthesizer`: tones shaped like phonemes, one voice
/// (every build has it).
pub const IW_SYNTHESIZER_TONES: u32 = 1;
/// `iw_engine_config.synthesizer`: espeak-ng, each character with its scene
/// file's `voice` (builds with the `espeak` feature; others refuse it with
/// `IW_E_UNSUPPORTED`).
pub const IW_SYNTHESIZER_ESPEAK: u32 = 2;

/// `iw_engine_config.recognizer`: the best one built in (the default):
/// whisper.cpp when `whisper_model` is set, else PocketSphinx in builds with
/// it (the `pocketsphinx` feature), else the scripted transcript.
pub const IW_RECOGNIZER_DEFAULT: u32 = 0;
/// `iw_engine_config.recognizer`: whatever the player says is heard as the
/// scene file's `[speech] transcript` (tests of the protocol; every build
/// has it).
pub const IW_RECOGNIZER_SCRIPTED: u32 = 1;
/// `iw_engine_config.recognizer`: PocketSphinx with its US English model,
/// listening for the scene file's `[speech] phrases` when it has them
/// (builds with the `pocketsphinx` feature; others refuse it with
/// `IW_E_UNSUPPORTED`).
pub const IW_RECOGNIZER_POCKETSPHINX: u32 = 2;
/// `iw_engine_config.recognizer`: whisper.cpp with the ggml model file
/// `whisper_model` (required), prompted with the scene file's `[speech]
/// phrases` (builds with the `whisper` feature; others refuse it with
/// `IW_E_UNSUPPORTED`).
pub const IW_RECOGNIZER_WHISPER: u32 = 3;

/// Options of a local engine. Fill with `iw_engine_config_init`; strings are
/// NUL-terminated UTF-8, NULL means the default; everything is copied.
/// A struct from an older header (ABI 2.3, up to `llm_api_key`, with its
/// smaller `struct_size`) is accepted: the fields it lacks take their
/// defaults.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_engine_config {
    /// `sizeof(iw_engine_config)`, set by `iw_engine_config_init`.
    pub struct_size: u32,
    /// `IW_PACING_*` (default `IW_PACING_INSTANT`).
    pub pacing: u32,
    /// Address to listen on (default "127.0.0.1:0": loopback, a free port).
    pub listen: *const c_char,
    /// "default" (the demo tavern), "test" (the test scenes), or the path of a
    /// scene file (TOML). Default "default".
    pub scene: *const c_char,
    /// Accepted API key (default "test-api-key").
    pub api_key: *const c_char,
    /// Accepted API secret (default "test-api-secret").
    pub api_secret: *const c_char,
    /// `IW_BRAIN_*` (default `IW_BRAIN_SCRIPTED`).
    pub brain: u32,
    /// With `IW_BRAIN_LLM` (required): the API base of an OpenAI-compatible
    /// endpoint, e.g. "http://127.0.0.1:11434/v1" (Ollama).
    pub llm_url: *const c_char,
    /// With `IW_BRAIN_LLM` (required): the model's name.
    pub llm_model: *const c_char,
    /// With `IW_BRAIN_LLM`: the endpoint's API key, or NULL when it needs
    /// none. Copied, never logged.
    pub llm_api_key: *const c_char,
    /// What speaks the characters' lines: `IW_SYNTHESIZER_*` (default
    /// `IW_SYNTHESIZER_DEFAULT`). A synthesizer this build lacks is refused
    /// by `iw_engine_start` with `IW_E_UNSUPPORTED`, never replaced.
    pub synthesizer: u32,
    /// What hears the player's speech: `IW_RECOGNIZER_*` (default
    /// `IW_RECOGNIZER_DEFAULT`). A recogniser this build lacks is refused by
    /// `iw_engine_start` with `IW_E_UNSUPPORTED`, never replaced. What
    /// players are expected to say (PocketSphinx's vocabulary, whisper's
    /// prompt) is the scene file's `[speech] phrases`.
    pub recognizer: u32,
    /// The path of a whisper.cpp ggml model file (e.g. "ggml-base.en.bin"),
    /// or NULL (the default). Required with `IW_RECOGNIZER_WHISPER`; with
    /// `IW_RECOGNIZER_DEFAULT` it chooses whisper; with another recogniser
    /// it is refused. Copied; the file is read by `iw_engine_start` (a
    /// missing or damaged file: `IW_E_IO`, naming it), and loaded once per
    /// process for every engine that names it.
    pub whisper_model: *const c_char,
}

/// The end of an ABI 2.3 caller's `iw_engine_config` (its last field,
/// `llm_api_key`): the fields after it were added in 2.4.
const ENGINE_CONFIG_2_3: usize = std::mem::offset_of!(iw_engine_config, synthesizer);

struct EngineEntry {
    addr: SocketAddr,
    scene_names: Vec<String>,
    /// The workspace it serves, and the key it accepts (for `iw_engine_mint_token`).
    workspace: String,
    credentials: Credentials,
    running: Mutex<Option<RunningEngine>>,
}

static ENGINES: HandleTable<EngineEntry, iw_engine> =
    HandleTable::new(Held::Engines, "iw_engine", stop);

/// Stops the engine (`iw_engine_stop`, `iw_engine_free`, `iw_shutdown`); idempotent.
fn stop(entry: &EngineEntry) {
    let running = entry.running.lock().take();
    if let Some(running) = running {
        running.stop();
    }
}

fn config_defaults() -> iw_engine_config {
    iw_engine_config {
        struct_size: std::mem::size_of::<iw_engine_config>() as u32,
        pacing: IW_PACING_INSTANT,
        listen: std::ptr::null(),
        scene: std::ptr::null(),
        api_key: std::ptr::null(),
        api_secret: std::ptr::null(),
        brain: IW_BRAIN_SCRIPTED,
        llm_url: std::ptr::null(),
        llm_model: std::ptr::null(),
        llm_api_key: std::ptr::null(),
        synthesizer: IW_SYNTHESIZER_DEFAULT,
        recognizer: IW_RECOGNIZER_DEFAULT,
        whisper_model: std::ptr::null(),
    }
}

/// Fills `config` with the defaults. Errors: `IW_E_NULL_POINTER`.
#[no_mangle]
pub unsafe extern "C" fn iw_engine_config_init(config: *mut iw_engine_config) -> iw_result {
    ffi_boundary! {
        out_arg(config, "config")?.write(config_defaults());
        Ok(())
    }
}

/// The synthesizer `config->synthesizer` names, if this build has it.
fn synthesizer_of(value: u32) -> FfiResult<SynthesizerKind> {
    let kind = match value {
        IW_SYNTHESIZER_DEFAULT => SynthesizerKind::best_built_in(),
        IW_SYNTHESIZER_TONES => SynthesizerKind::Tones,
        IW_SYNTHESIZER_ESPEAK => SynthesizerKind::Espeak,
        other => {
            return Err(FfiError::new(
                IW_E_INVALID_ARGUMENT,
                format!(
                    "config->synthesizer is {other}; expected IW_SYNTHESIZER_DEFAULT, \
                     IW_SYNTHESIZER_TONES or IW_SYNTHESIZER_ESPEAK"
                ),
            ))
        }
    };
    if !kind.built_in() {
        return Err(FfiError::new(
            IW_E_UNSUPPORTED,
            "config->synthesizer is IW_SYNTHESIZER_ESPEAK, but this library was built \
             without espeak-ng (its `espeak` cargo feature); IW_SYNTHESIZER_TONES is in \
             every build",
        ));
    }
    Ok(kind)
}

/// The recogniser `config->recognizer` and `config->whisper_model` name, if
/// this build has it: as the engine program's `--recognizer` and
/// `--whisper-model` (a model file alone chooses whisper).
fn recognizer_of(value: u32, whisper_model: Option<String>) -> FfiResult<RecognizerKind> {
    let invalid = |message: String| FfiError::new(IW_E_INVALID_ARGUMENT, message);
    let kind = match (value, whisper_model) {
        (IW_RECOGNIZER_DEFAULT | IW_RECOGNIZER_WHISPER, Some(model)) => {
            RecognizerKind::Whisper(model.into())
        }
        (IW_RECOGNIZER_DEFAULT, None) => RecognizerKind::best_built_in(),
        (IW_RECOGNIZER_SCRIPTED, None) => RecognizerKind::Scripted,
        (IW_RECOGNIZER_POCKETSPHINX, None) => RecognizerKind::PocketSphinx,
        (IW_RECOGNIZER_WHISPER, None) => {
            return Err(invalid(
                "config->recognizer is IW_RECOGNIZER_WHISPER but config->whisper_model is \
                 NULL (it needs a ggml model file)"
                    .into(),
            ))
        }
        (IW_RECOGNIZER_SCRIPTED | IW_RECOGNIZER_POCKETSPHINX, Some(_)) => {
            return Err(invalid(format!(
                "config->whisper_model is for IW_RECOGNIZER_WHISPER, not config->recognizer \
                 {value}"
            )))
        }
        (other, _) => {
            return Err(invalid(format!(
                "config->recognizer is {other}; expected IW_RECOGNIZER_DEFAULT, \
                 IW_RECOGNIZER_SCRIPTED, IW_RECOGNIZER_POCKETSPHINX or IW_RECOGNIZER_WHISPER"
            )))
        }
    };
    if kind.built_in() {
        return Ok(kind);
    }
    let (name, feature) = match kind {
        RecognizerKind::Whisper(_) => (
            "whisper.cpp (IW_RECOGNIZER_WHISPER, config->whisper_model)",
            "whisper",
        ),
        _ => ("PocketSphinx (IW_RECOGNIZER_POCKETSPHINX)", "pocketsphinx"),
    };
    Err(FfiError::new(
        IW_E_UNSUPPORTED,
        format!(
            "config asks for the recogniser {name}, but this library was built without it \
             (its `{feature}` cargo feature); IW_RECOGNIZER_SCRIPTED is in every build"
        ),
    ))
}

/// Starts a local engine on two threads of its own (joined by `iw_engine_stop`
/// or `iw_engine_free`: nothing it does can stall the game's sessions) and
/// writes its handle to `*out`. It is listening when this returns (see
/// `iw_engine_address`); connect with `IW_TLS_OFF` (or `IW_TLS_AUTO`: loopback
/// is plaintext) and its key/secret.
///
/// Errors: `IW_E_SCENE` (scene file unreadable or invalid; the message says
/// why), `IW_E_UNSUPPORTED` (a synthesizer or recogniser this build lacks:
/// the message names it and its cargo feature), `IW_E_IO` (cannot listen,
/// or a speech part could not start, e.g. a missing or damaged whisper
/// model file; the message says why), `IW_E_INVALID_ARGUMENT` (bad address,
/// pacing, synthesizer or recogniser, an unknown brain, `IW_BRAIN_LLM`
/// without `llm_url` or `llm_model`, `IW_RECOGNIZER_WHISPER` without
/// `whisper_model` or `whisper_model` with another recogniser, a
/// `struct_size` smaller than ABI 2.3's), `IW_E_INVALID_UTF8`,
/// `IW_E_NULL_POINTER`, `IW_E_RUNTIME`, `IW_E_SHUTDOWN`. Release with
/// `iw_engine_free`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_engine_start(
    config: *const iw_engine_config,
    out: *mut *mut iw_engine,
) -> iw_result {
    ffi_boundary! {
        check_alive()?;
        let c = versioned_struct_arg(
            config,
            "config",
            "iw_engine_config_init",
            &[ENGINE_CONFIG_2_3],
            config_defaults(),
        )?;
        let out = out_arg(out, "out")?;
        let scene =
            optional_string_arg(c.scene, "config->scene")?.unwrap_or_else(|| "default".into());
        let workspace = match scene.as_str() {
            "default" => Workspace::default_scenes(),
            "test" => Workspace::test_scenes(),
            path => Workspace::from_file(Path::new(path))
                .map_err(|e| FfiError::new(IW_E_SCENE, format!("scene file {path:?}: {e}")))?,
        };
        let mut engine = EngineConfig::new(workspace);
        if let Some(listen) = optional_string_arg(c.listen, "config->listen")? {
            engine.listen = listen.parse().map_err(|e| {
                FfiError::new(
                    IW_E_INVALID_ARGUMENT,
                    format!("config->listen {listen:?} is not an ip:port address: {e}"),
                )
            })?;
        }
        let key = optional_string_arg(c.api_key, "config->api_key")?;
        let secret = optional_string_arg(c.api_secret, "config->api_secret")?;
        if key.is_some() || secret.is_some() {
            let default = engine.credentials.first().cloned();
            let key = key
                .or_else(|| default.as_ref().map(|d| d.key.clone()))
                .unwrap_or_default();
            let secret = secret
                .or_else(|| default.as_ref().map(|d| d.secret.clone()))
                .unwrap_or_default();
            engine.credentials = vec![Credentials::new(key, secret)];
        }
        engine.brain = match c.brain {
            IW_BRAIN_SCRIPTED => Brain::Scripted,
            IW_BRAIN_LLM => {
                let required = |p, what: &str| {
                    optional_string_arg(p, what)?.filter(|s| !s.is_empty()).ok_or_else(|| {
                        FfiError::new(
                            IW_E_INVALID_ARGUMENT,
                            format!("{what} is required with IW_BRAIN_LLM"),
                        )
                    })
                };
                let mut llm = LlmConfig::new(
                    required(c.llm_url, "config->llm_url")?,
                    required(c.llm_model, "config->llm_model")?,
                );
                llm.api_key = optional_string_arg(c.llm_api_key, "config->llm_api_key")?
                    .filter(|k| !k.is_empty());
                Brain::Llm(llm)
            }
            other => {
                return Err(FfiError::new(
                    IW_E_INVALID_ARGUMENT,
                    format!("config->brain is {other}; expected IW_BRAIN_SCRIPTED or IW_BRAIN_LLM"),
                ))
            }
        };
        engine.pacing = match c.pacing {
            IW_PACING_INSTANT => Pacing::Instant,
            IW_PACING_HUMAN => Pacing::Human,
            other => {
                return Err(FfiError::new(
                    IW_E_INVALID_ARGUMENT,
                    format!(
                        "config->pacing is {other}; expected IW_PACING_INSTANT or IW_PACING_HUMAN"
                    ),
                ))
            }
        };
        engine.synthesizer = synthesizer_of(c.synthesizer)?;
        let whisper_model = optional_string_arg(c.whisper_model, "config->whisper_model")?
            .filter(|m| !m.is_empty());
        engine.recognizer = recognizer_of(c.recognizer, whisper_model)?;
        let scene_names = engine.workspace.scene_names();
        let workspace = engine.workspace.workspace.clone();
        // On threads of its own: nothing the engine does can stall the
        // game's sessions (their runtime is another one).
        let running = without_sigpipe(|| RunningEngine::start_dedicated(engine)).map_err(|e| {
            FfiError::new(IW_E_IO, format!("the local engine could not start: {e}"))
        })?;
        let entry = EngineEntry {
            addr: running.addr(),
            scene_names,
            workspace,
            credentials: running.credentials().clone(),
            running: Mutex::new(Some(running)),
        };
        out.write(ENGINES.insert(entry)?);
        Ok(())
    }
}

/// Copies the engine's `host:port` (use it as `iw_client_config.host`) into `buf`
/// (NUL-terminated), its length into `*len`. Errors: `IW_E_BUFFER_TOO_SMALL`
/// (`*len` holds the length needed), `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`,
/// `IW_E_SHUTDOWN`.
#[no_mangle]
pub unsafe extern "C" fn iw_engine_address(
    engine: *const iw_engine,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> iw_result {
    ffi_boundary! {
        let entry = ENGINES.get(engine)?;
        write_c_string(&entry.addr.to_string(), buf, cap, len)
    }
}

/// Copies the full resource name of scene `index` (use it as
/// `iw_client_config.scene`) into `buf`, like `iw_engine_address`.
/// Errors: `IW_E_NOT_FOUND` (no scene `index`), and those of `iw_engine_address`.
#[no_mangle]
pub unsafe extern "C" fn iw_engine_scene_name(
    engine: *const iw_engine,
    index: usize,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> iw_result {
    ffi_boundary! {
        let entry = ENGINES.get(engine)?;
        let name = entry.scene_names.get(index).ok_or_else(|| {
            FfiError::new(
                IW_E_NOT_FOUND,
                format!(
                    "the engine has {} scenes; no scene {index}",
                    entry.scene_names.len()
                ),
            )
        })?;
        write_c_string(name, buf, cap, len)
    }
}

/// Stops the engine: it stops accepting and ends its streams (sessions connected
/// to it see an error). Idempotent; the handle stays valid until `iw_engine_free`.
/// Errors: `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`.
#[no_mangle]
pub extern "C" fn iw_engine_stop(engine: *mut iw_engine) -> iw_result {
    ffi_boundary! {
        stop(&*ENGINES.get(engine)?);
        Ok(())
    }
}

/// Stops (as `iw_engine_stop`) and frees the engine. NULL is a no-op; a stale or
/// foreign handle gives `IW_E_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn iw_engine_free(engine: *mut iw_engine) -> iw_result {
    ffi_boundary! {
        ENGINES.free(engine)
    }
}

/// A session token minted by `iw_engine_mint_token`: what a game's backend
/// hands its game for `iw_client_provide_token` (or
/// `iw_client_config.session_token`). NUL-terminated strings.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_engine_token {
    /// `sizeof(iw_engine_token)`, set by `iw_engine_token_init`.
    pub struct_size: u32,
    /// The token.
    pub token: [c_char; 256],
    /// Its type ("Bearer").
    pub token_type: [c_char; 32],
    /// The session it opens.
    pub session_id: [c_char; 128],
    /// When it expires, ms since the Unix epoch.
    pub expires_ms: i64,
}

/// Fills `token` with its defaults (`struct_size`, empty strings).
/// Errors: `IW_E_NULL_POINTER`.
#[no_mangle]
pub unsafe extern "C" fn iw_engine_token_init(token: *mut iw_engine_token) -> iw_result {
    ffi_boundary! {
        out_arg(token, "token")?.write(iw_engine_token {
            struct_size: std::mem::size_of::<iw_engine_token>() as u32,
            token: [0; 256],
            token_type: [0; 32],
            session_id: [0; 128],
            expires_ms: 0,
        });
        Ok(())
    }
}

/// How long `iw_engine_mint_token` waits for the engine.
const MINT_LIMIT: Duration = Duration::from_secs(30);

/// Mints a session token for the engine's workspace, as a game's backend
/// does with its API key and secret (GenerateToken, signed IW1-HMAC-SHA256),
/// here with the engine's own key: a convenience of the local engine for
/// tests and samples of `iw_client_config.token_provider` (a game never
/// holds the secret; its backend mints tokens). Writes it to `*token`
/// (initialise it with `iw_engine_token_init`).
///
/// Unlike other calls, it waits for the engine's answer (in this process,
/// over loopback; at most 30 s). Call it from your own thread, not from a
/// library callback (`IW_E_BUSY`): e.g. from the thread that answers token
/// requests. Errors: `IW_E_BUSY`, `IW_E_IO` (the engine did not answer, or
/// refused: the message says why), `IW_E_INVALID_ARGUMENT` (bad
/// `struct_size`), `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE` (also for a
/// stopped engine's handle once freed), `IW_E_RUNTIME`, `IW_E_SHUTDOWN`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_engine_mint_token(
    engine: *const iw_engine,
    token: *mut iw_engine_token,
) -> iw_result {
    ffi_boundary! {
        let entry = ENGINES.get(engine)?;
        sized_struct_arg(token as *const iw_engine_token, "token", "iw_engine_token_init")?;
        let out = out_arg(token, "token")?;
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(FfiError::new(
                IW_E_BUSY,
                "iw_engine_mint_token called from a library thread (inside a callback); \
                 call it from your own thread",
            ));
        }
        let runtime = start_runtime()?;
        let call = mint(entry.addr, entry.credentials.clone(), entry.workspace.clone());
        let (answer, wait) = std::sync::mpsc::sync_channel(1);
        let task = runtime.spawn(async move {
            let _ = answer.send(tokio::time::timeout(MINT_LIMIT, call).await);
        });
        let minted = match wait.recv() {
            Ok(Ok(Ok(minted))) => minted,
            Ok(Ok(Err(why))) => {
                return Err(FfiError::new(IW_E_IO, format!("the engine refused: {why}")))
            }
            Ok(Err(_)) => {
                return Err(FfiError::new(
                    IW_E_IO,
                    format!("the engine did not answer in {MINT_LIMIT:?}"),
                ))
            }
            Err(_) => {
                task.abort();
                return Err(FfiError::new(IW_E_RUNTIME, "the library's runtime stopped"));
            }
        };
        let mut written = iw_engine_token {
            struct_size: std::mem::size_of::<iw_engine_token>() as u32,
            token: [0; 256],
            token_type: [0; 32],
            session_id: [0; 128],
            expires_ms: minted.expires_ms,
        };
        copy_into(&mut written.token, &minted.token, "token")?;
        copy_into(&mut written.token_type, &minted.token_type, "token_type")?;
        copy_into(&mut written.session_id, &minted.session_id, "session_id")?;
        out.write(written);
        Ok(())
    }
}

struct Minted {
    token: String,
    token_type: String,
    session_id: String,
    expires_ms: i64,
}

/// The GenerateToken call a backend makes.
async fn mint(
    addr: SocketAddr,
    credentials: Credentials,
    workspace: String,
) -> Result<Minted, String> {
    use crate::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient;
    use crate::protocol::ai::inworld::engine::GenerateTokenRequest;
    let host = addr.to_string();
    let mut client = WorldEngineClient::connect(format!("http://{host}"))
        .await
        .map_err(|e| format!("cannot connect to {host}: {e}"))?;
    let mut request = tonic::Request::new(GenerateTokenRequest {
        key: credentials.key.clone(),
        resources: vec![crate::protocol::names::workspace_name(&workspace)],
    });
    let header = crate::auth::authorization_header(&credentials, &host)
        .parse()
        .map_err(|_| "the engine's key is not a valid header value".to_string())?;
    request.metadata_mut().insert("authorization", header);
    let access = client
        .generate_token(request)
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
        .into_inner();
    let expires_ms = access
        .expiration_time
        .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
    Ok(Minted {
        token: access.token,
        token_type: access.r#type,
        session_id: access.session_id,
        expires_ms,
    })
}

/// Copies `text` and its NUL into `dst`.
fn copy_into<const N: usize>(dst: &mut [c_char; N], text: &str, what: &str) -> FfiResult {
    if text.len() >= N || text.contains('\0') {
        return Err(FfiError::new(
            IW_E_IO,
            format!(
                "the engine's {what} does not fit iw_engine_token ({} bytes)",
                text.len()
            ),
        ));
    }
    for (d, s) in dst.iter_mut().zip(text.as_bytes()) {
        *d = *s as c_char;
    }
    dst[text.len()] = 0;
    Ok(())
}
