//! `iw_engine`: the local engine (scripted characters) running in-process on
//! threads of its own, so samples and games work offline.

use std::ffi::c_char;
use std::net::SocketAddr;
use std::path::Path;

use parking_lot::Mutex;

use super::args::{optional_string_arg, out_arg, sized_struct_arg, write_c_string};
use super::error::*;
use super::handles::HandleTable;
use super::library::{check_alive, without_sigpipe, Held};
use crate::auth::Credentials;
use crate::engine::{EngineConfig, Pacing, RunningEngine, Workspace};

/// Opaque handle to a running local engine (see `iw_engine_start`).
pub struct iw_engine {
    _opaque: [u8; 0],
}

/// `iw_engine_config.pacing`: replies as fast as possible (tests, benchmarks).
pub const IW_PACING_INSTANT: u32 = 0;
/// `iw_engine_config.pacing`: replies paced like a person talking (demos).
pub const IW_PACING_HUMAN: u32 = 1;

/// Options of a local engine. Fill with `iw_engine_config_init`; strings are
/// NUL-terminated UTF-8, NULL means the default; everything is copied.
#[repr(C)]
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
}

struct EngineEntry {
    addr: SocketAddr,
    scene_names: Vec<String>,
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

/// Fills `config` with the defaults. Errors: `IW_E_NULL_POINTER`.
#[no_mangle]
pub unsafe extern "C" fn iw_engine_config_init(config: *mut iw_engine_config) -> iw_result {
    ffi_boundary! {
        out_arg(config, "config")?.write(iw_engine_config {
            struct_size: std::mem::size_of::<iw_engine_config>() as u32,
            pacing: IW_PACING_INSTANT,
            listen: std::ptr::null(),
            scene: std::ptr::null(),
            api_key: std::ptr::null(),
            api_secret: std::ptr::null(),
        });
        Ok(())
    }
}

/// Starts a local engine on two threads of its own (joined by `iw_engine_stop`
/// or `iw_engine_free`: nothing it does can stall the game's sessions) and
/// writes its handle to `*out`. It is listening when this returns (see
/// `iw_engine_address`); connect with `IW_TLS_OFF` (or `IW_TLS_AUTO`: loopback
/// is plaintext) and its key/secret.
///
/// Errors: `IW_E_SCENE` (scene file unreadable or invalid; the message says
/// why), `IW_E_IO` (cannot listen), `IW_E_INVALID_ARGUMENT` (bad address or
/// pacing), `IW_E_INVALID_UTF8`, `IW_E_NULL_POINTER`, `IW_E_RUNTIME`,
/// `IW_E_SHUTDOWN`. Release with `iw_engine_free`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_engine_start(
    config: *const iw_engine_config,
    out: *mut *mut iw_engine,
) -> iw_result {
    ffi_boundary! {
        check_alive()?;
        let c = sized_struct_arg(config, "config", "iw_engine_config_init")?;
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
        let scene_names = engine.workspace.scene_names();
        // On threads of its own: nothing the engine does can stall the
        // game's sessions (their runtime is another one).
        let running = without_sigpipe(|| RunningEngine::start_dedicated(engine)).map_err(|e| {
            FfiError::new(IW_E_IO, format!("the local engine could not start: {e}"))
        })?;
        let entry = EngineEntry {
            addr: running.addr(),
            scene_names,
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
