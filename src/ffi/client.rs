//! `iw_client`: what sessions are opened from. Maps `iw_client_config` onto
//! [`ClientConfig`]; the entry behind the handle is [`ClientEntry`].

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::args::{
    iw_key_value, optional_string_arg, out_arg, sized_struct_arg, slice_arg, string_arg,
};
use super::error::*;
use super::handles::HandleTable;
use super::library::{check_abi, check_alive, Held};
use super::token::TokenRequests;
use super::userdata::{iw_userdata_free_fn, Userdata};
use crate::auth::Credentials;
use crate::client::{
    self, Auth, Capabilities, ClientConfig, Continuation, Session, SessionToken, Talker, TlsMode,
};

/// Opaque handle to a client (see `iw_client_new`).
pub struct iw_client {
    _opaque: [u8; 0],
}

/// What an `iw_client` holds: a [`client::Client`] (its sessions share its
/// connections) and, when the game gives tokens, its token provider.
pub(crate) struct ClientEntry {
    pub client: client::Client,
    pub tokens: Option<Arc<TokenRequests<iw_client>>>,
}

fn new_client(config: ClientConfig) -> Result<client::Client, client::Error> {
    // The C configuration names the scene: check it now, not at the first open.
    config.validate()?;
    client::Client::new(config)
}

/// Opens a session from a client (for `iw_session_open`).
pub(crate) fn open_session(entry: &ClientEntry) -> Result<Session, client::Error> {
    entry.client.open_session()
}

pub(crate) static CLIENTS: HandleTable<ClientEntry, iw_client> =
    HandleTable::new(Held::Clients, "iw_client", release);

/// What freeing a client does (`iw_client_free`, `iw_shutdown`): its token
/// provider stops (sessions keep running on their token until it must be
/// renewed).
fn release(entry: &ClientEntry) {
    if let Some(tokens) = &entry.tokens {
        tokens.release();
    }
}

/// `iw_client_config.tls`: TLS unless the host is loopback (default).
pub const IW_TLS_AUTO: u32 = 0;
/// `iw_client_config.tls`: always TLS.
pub const IW_TLS_ON: u32 = 1;
/// `iw_client_config.tls`: plaintext (local engines, tests).
pub const IW_TLS_OFF: u32 = 2;

/// Capability bit: the service sends speech (audio packets). Default on.
pub const IW_CAP_AUDIO: u32 = 1 << 0;
/// Capability bit: server-side barge-in.
pub const IW_CAP_INTERRUPTIONS: u32 = 1 << 1;
/// Capability bit: emotion packets.
pub const IW_CAP_EMOTIONS: u32 = 1 << 2;
/// Capability bit: phoneme timings on audio packets.
pub const IW_CAP_PHONEMES: u32 = 1 << 3;
/// Capability bit: silence packets.
pub const IW_CAP_SILENCE: u32 = 1 << 4;
/// Capability bit: narrated actions from characters.
pub const IW_CAP_NARRATED_ACTIONS: u32 = 1 << 5;
/// Capability bit: debug info.
pub const IW_CAP_DEBUG_INFO: u32 = 1 << 6;
/// Capability bit: ping/pong latency reports (answered by the library). Default on.
pub const IW_CAP_PING_PONG_REPORT: u32 = 1 << 7;
/// Capability bit: perceived latency reports.
pub const IW_CAP_PERCEIVED_LATENCY_REPORT: u32 = 1 << 8;
/// Capability bit: multi-modal action planning.
pub const IW_CAP_MULTI_MODAL_ACTION_PLANNING: u32 = 1 << 9;
/// Capability bit: warning logs from the service. Default on.
pub const IW_CAP_LOGS_WARNING: u32 = 1 << 10;
/// Capability bit: info logs from the service. Default on.
pub const IW_CAP_LOGS_INFO: u32 = 1 << 11;
/// Capability bit: debug logs from the service.
pub const IW_CAP_LOGS_DEBUG: u32 = 1 << 12;
/// Capability bit: internal logs from the service.
pub const IW_CAP_LOGS_INTERNAL: u32 = 1 << 13;
/// Every defined capability bit.
pub const IW_CAP_ALL: u32 = (1 << 14) - 1;
/// The defaults (the Node SDK's): audio, ping/pong, warning and info logs.
pub const IW_CAP_DEFAULT: u32 =
    IW_CAP_AUDIO | IW_CAP_PING_PONG_REPORT | IW_CAP_LOGS_WARNING | IW_CAP_LOGS_INFO;

/// Options of a client (and of the sessions opened from it).
///
/// Fill it with `iw_client_config_init`, then set what you need. Strings are
/// NUL-terminated UTF-8; NULL means "not set" (the default). Everything is copied
/// by `iw_client_new`: the struct and its strings can be freed right after.
/// Authentication, one of: `api_key` + `api_secret` (signs a token request; do not
/// ship a secret inside a game build); `session_token` (+ `session_id`) minted
/// by your backend (takes precedence over a key); or `token_provider`, which
/// asks your backend for tokens whenever a session needs one.
#[repr(C)]
pub struct iw_client_config {
    /// `sizeof(iw_client_config)`, set by `iw_client_config_init`.
    pub struct_size: u32,
    /// `IW_TLS_*` (default `IW_TLS_AUTO`).
    pub tls: u32,
    /// Engine address `host:port` (default "api-engine.inworld.ai:443").
    pub host: *const c_char,
    /// Extra trusted root certificates, PEM (default none).
    pub root_cert_pem: *const c_char,
    /// API key (with `api_secret`; default none).
    pub api_key: *const c_char,
    /// API secret (default none).
    pub api_secret: *const c_char,
    /// A session token from your backend's GenerateToken call.
    pub session_token: *const c_char,
    /// Its type (default "Bearer").
    pub session_token_type: *const c_char,
    /// The token's session id (required with `session_token`).
    pub session_id: *const c_char,
    /// When the token expires, ms since the Unix epoch (0: unknown).
    pub session_token_expires_ms: i64,
    /// `workspaces/<ws>/scenes/<name>` or `workspaces/<ws>/characters/<name>` (required).
    pub scene: *const c_char,
    /// The player's name as characters say it.
    pub user_name: *const c_char,
    /// Player profile fields (`key` = field id), `profile_field_count` of them.
    pub profile_fields: *const iw_key_value,
    /// How many `profile_fields` there are (default 0).
    pub profile_field_count: usize,
    /// Appended to the client description sent to the engine.
    pub client_id: *const c_char,
    /// The game's own id for this play session, sent with the session
    /// configuration (default none).
    pub game_session_id: *const c_char,
    /// Bitmask of `IW_CAP_*` (default `IW_CAP_DEFAULT`).
    pub capabilities: u32,
    /// How long a session waits for its scene to load, ms (default 15000).
    pub scene_timeout_ms: u32,
    /// Packets a session holds for the game before dropping (counted and
    /// reported as `IW_PACKET_OVERFLOW`) (default 1024).
    pub queue_capacity: u32,
    /// Failed reconnect attempts in a row before a session gives up, when the
    /// service gave no instructions (transport errors, timeouts, a dead
    /// connection); 0 disables reconnecting (default 8).
    pub reconnect_max_attempts: u32,
    /// Continue a previous session from its saved state bytes (the service's
    /// GetSessionState answer), `continuation_state_len` of them (default none).
    pub continuation_state: *const u8,
    /// How many bytes `continuation_state` has (default 0).
    pub continuation_state_len: usize,
    /// Or continue a previous dialog: `dialog_history_count` lines, oldest first
    /// (default none). Give at most one of the two continuations.
    pub dialog_history: *const iw_dialog_line,
    /// How many lines `dialog_history` has (default 0).
    pub dialog_history_count: usize,
    /// Getting a token and opening a stream, per attempt, ms (default 5000).
    pub connect_timeout_ms: u32,
    /// How long the service may take to confirm a conversation, ms (default 10000).
    pub handshake_timeout_ms: u32,
    /// Nothing received for this long while a reply is awaited (counted from
    /// when it began to be awaited): the session checks its connection. One
    /// that answers within this time is alive however slow the service is;
    /// one that does not makes the session report `IW_STATE_STALLED` (and
    /// `IW_STATE_READY` when it answers or packets flow again) and is checked
    /// once more; no answer again, and it reconnects. Ms (default 3000).
    pub stall_timeout_ms: u32,
    /// An HTTP/2 PING after this long without hearing from the service, ms;
    /// 0 disables keepalive (default 15000).
    pub keepalive_interval_ms: u32,
    /// A PING unanswered for this long means the connection is dead and its
    /// sessions reconnect, ms (default 5000).
    pub keepalive_timeout_ms: u32,
    /// Sends a session accepts before they go out (the session is connecting
    /// or reconnecting, or has not taken them yet); beyond it a send returns
    /// `IW_E_QUEUE_FULL` (default 256: a burst of a few hundred lines or
    /// triggers in one frame fits).
    pub max_pending_sends: u32,
    /// Largest message accepted from the service, bytes (default 16 MiB).
    pub max_receive_message_bytes: u32,
    /// Tokens from your backend (default NULL): called on a library thread
    /// whenever a session needs a token (see `iw_token_request_fn`); answer
    /// with `iw_client_provide_token` or `iw_client_token_failed`. Sessions
    /// then outlive a token, and the game holds no secret. Give it instead of
    /// `api_key`/`api_secret` and `session_token`. A request not answered
    /// within `connect_timeout_ms` fails that attempt (the session retries
    /// with a new request) and its late answer is refused.
    pub token_provider: iw_token_request_fn,
    /// Passed to `token_provider`; must be usable from library threads.
    pub token_provider_userdata: *mut c_void,
    /// Releases `token_provider_userdata` (may be NULL). Called exactly once
    /// by `iw_client_new` when it fails, else when the client is freed (or at
    /// `iw_shutdown`) once no `token_provider` call runs: at once, or when
    /// the running call returns (on its library thread). Not called when
    /// `iw_client_new` could not read the config (`config` NULL, its
    /// `struct_size` too small, `IW_E_ABI_VERSION`). Called even when
    /// `token_provider` is NULL (at once).
    pub token_provider_userdata_free: iw_userdata_free_fn,
}

fn millis(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

/// `iw_dialog_line.talker`: the player said it.
pub const IW_TALKER_PLAYER: u32 = 1;
/// `iw_dialog_line.talker`: a character said it.
pub const IW_TALKER_CHARACTER: u32 = 2;

/// A line of a previous dialog (`iw_client_config.dialog_history`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_dialog_line {
    /// `IW_TALKER_*`
    pub talker: u32,
    /// NUL-terminated UTF-8.
    pub text: *const c_char,
}

type CapabilityField = fn(&mut Capabilities) -> &mut bool;

/// Each `IW_CAP_*` bit with its field of [`Capabilities`]: the defaults going
/// out and the caller's bits coming in both read this one table.
const CAPABILITY_BITS: [(u32, CapabilityField); 14] = [
    (IW_CAP_AUDIO, |c| &mut c.audio),
    (IW_CAP_INTERRUPTIONS, |c| &mut c.interruptions),
    (IW_CAP_EMOTIONS, |c| &mut c.emotions),
    (IW_CAP_PHONEMES, |c| &mut c.phonemes),
    (IW_CAP_SILENCE, |c| &mut c.silence),
    (IW_CAP_NARRATED_ACTIONS, |c| &mut c.narrated_actions),
    (IW_CAP_DEBUG_INFO, |c| &mut c.debug_info),
    (IW_CAP_PING_PONG_REPORT, |c| &mut c.ping_pong_report),
    (IW_CAP_PERCEIVED_LATENCY_REPORT, |c| {
        &mut c.perceived_latency_report
    }),
    (IW_CAP_MULTI_MODAL_ACTION_PLANNING, |c| {
        &mut c.multi_modal_action_planning
    }),
    (IW_CAP_LOGS_WARNING, |c| &mut c.logs_warning),
    (IW_CAP_LOGS_INFO, |c| &mut c.logs_info),
    (IW_CAP_LOGS_DEBUG, |c| &mut c.logs_debug),
    (IW_CAP_LOGS_INTERNAL, |c| &mut c.logs_internal),
];

const _: () = {
    let mut all = 0;
    let mut i = 0;
    while i < CAPABILITY_BITS.len() {
        all |= CAPABILITY_BITS[i].0;
        i += 1;
    }
    assert!(all == IW_CAP_ALL, "IW_CAP_ALL is every bit of the table");
};

fn capabilities_bits(mut c: Capabilities) -> u32 {
    CAPABILITY_BITS
        .iter()
        .filter(|(_, field)| *field(&mut c))
        .fold(0, |bits, (bit, _)| bits | bit)
}

fn capabilities_of(bits: u32) -> Capabilities {
    let mut c = Capabilities::default();
    for (bit, field) in CAPABILITY_BITS {
        *field(&mut c) = bits & bit != 0;
    }
    c
}

/// Fills `config` with the defaults (see the fields), `struct_size` included.
/// Errors: `IW_E_NULL_POINTER`. Thread-safe; works before any other call.
#[no_mangle]
pub unsafe extern "C" fn iw_client_config_init(config: *mut iw_client_config) -> iw_result {
    ffi_boundary! {
        let d = ClientConfig::default();
        out_arg(config, "config")?.write(iw_client_config {
            struct_size: std::mem::size_of::<iw_client_config>() as u32,
            tls: IW_TLS_AUTO,
            host: std::ptr::null(),
            root_cert_pem: std::ptr::null(),
            api_key: std::ptr::null(),
            api_secret: std::ptr::null(),
            session_token: std::ptr::null(),
            session_token_type: std::ptr::null(),
            session_id: std::ptr::null(),
            session_token_expires_ms: 0,
            scene: std::ptr::null(),
            user_name: std::ptr::null(),
            profile_fields: std::ptr::null(),
            profile_field_count: 0,
            client_id: std::ptr::null(),
            game_session_id: std::ptr::null(),
            capabilities: capabilities_bits(d.session.capabilities),
            scene_timeout_ms: d.timeouts.scene_load.as_millis() as u32,
            queue_capacity: d.session.queue_capacity as u32,
            reconnect_max_attempts: d.reconnect.max_attempts,
            continuation_state: std::ptr::null(),
            continuation_state_len: 0,
            dialog_history: std::ptr::null(),
            dialog_history_count: 0,
            connect_timeout_ms: millis(d.timeouts.connect),
            handshake_timeout_ms: millis(d.timeouts.handshake),
            stall_timeout_ms: millis(d.timeouts.stall),
            keepalive_interval_ms: millis(d.timeouts.keepalive_interval),
            keepalive_timeout_ms: millis(d.timeouts.keepalive_timeout),
            max_pending_sends: d.session.max_pending_sends as u32,
            max_receive_message_bytes: d.max_receive_message_bytes as u32,
            token_provider: None,
            token_provider_userdata: std::ptr::null_mut(),
            token_provider_userdata_free: None,
        });
        Ok(())
    }
}

/// Creates a client from `config` (validated and copied) and writes its handle
/// to `*out`. Pass `IW_ABI_VERSION` as `abi_version`.
///
/// Does no I/O. Errors: `IW_E_ABI_VERSION` (header and library disagree),
/// `IW_E_NULL_POINTER`, `IW_E_INVALID_UTF8` (the message names the field),
/// `IW_E_INVALID_ARGUMENT` (a bad option, named in the message; e.g. no scene,
/// no credentials or more than one kind, bad host), `IW_E_SHUTDOWN`. Release
/// with `iw_client_free`. Thread-safe. Sessions opened from the client do not
/// depend on it: it may be freed while they run, except that a client's
/// `token_provider` stops with it (see `iw_client_free`).
#[no_mangle]
pub unsafe extern "C" fn iw_client_new(
    abi_version: u32,
    config: *const iw_client_config,
    out: *mut *mut iw_client,
) -> iw_result {
    ffi_boundary! {
        let readable = check_abi(abi_version)
            .and_then(|()| sized_struct_arg(config, "config", "iw_client_config_init"));
        // The provider's userdata is taken as soon as the config can be
        // read: from there on, its userdata_free runs exactly once (dropped
        // on any failure below, `IW_E_SHUTDOWN` included).
        let take = |c: &iw_client_config| {
            Userdata::new(c.token_provider_userdata, c.token_provider_userdata_free)
        };
        let (config, provider_userdata) = match (check_alive(), readable) {
            (Ok(()), Ok(c)) => (c, take(c)),
            (Ok(()), Err(e)) => return Err(e),
            (Err(e), Ok(c)) => {
                drop(take(c));
                return Err(e);
            }
            (Err(e), Err(_)) => return Err(e),
        };
        let out = out_arg(out, "out")?;
        let mut rust_config = config_of(config)?;
        let tokens = match config.token_provider {
            Some(callback) => {
                if !config.session_token.is_null()
                    || !config.api_key.is_null()
                    || !config.api_secret.is_null()
                {
                    return Err(FfiError::new(
                        IW_E_INVALID_ARGUMENT,
                        "config has token_provider and api_key/api_secret or session_token; \
                         give one way to authenticate",
                    ));
                }
                let tokens = TokenRequests::new(callback, provider_userdata);
                rust_config.auth = Auth::Provider(tokens.provider());
                Some(tokens)
            }
            None => {
                drop(provider_userdata);
                None
            }
        };
        let client = new_client(rust_config)?;
        let handle = CLIENTS.insert(ClientEntry {
            client,
            tokens: tokens.clone(),
        })?;
        if let Some(tokens) = &tokens {
            tokens.set_client(handle);
        }
        out.write(handle);
        Ok(())
    }
}

/// Frees a client. NULL is a no-op (`IW_OK`); a stale or foreign handle (double
/// free) gives `IW_E_INVALID_HANDLE`. Sessions opened from it keep running.
/// Its `token_provider` is never called again once this returns (called from
/// inside it: once it returns); requests still waiting fail, and so does
/// every later token request of its sessions (keep the client while its
/// sessions need tokens). Thread-safe; may be called from the token provider.
#[no_mangle]
pub extern "C" fn iw_client_free(client: *mut iw_client) -> iw_result {
    ffi_boundary! {
        CLIENTS.free(client)
    }
}

/// Reads the C config into a `ClientConfig` (copying every string).
unsafe fn config_of(c: &iw_client_config) -> FfiResult<ClientConfig> {
    let mut config = ClientConfig::default();
    if let Some(host) = optional_string_arg(c.host, "config->host")? {
        config.host = host;
    }
    config.tls = match c.tls {
        IW_TLS_AUTO => TlsMode::Auto,
        IW_TLS_ON => TlsMode::On,
        IW_TLS_OFF => TlsMode::Off,
        other => {
            return Err(FfiError::new(
                IW_E_INVALID_ARGUMENT,
                format!("config->tls is {other}; expected IW_TLS_AUTO, IW_TLS_ON or IW_TLS_OFF"),
            ))
        }
    };
    if let Some(pem) = optional_string_arg(c.root_cert_pem, "config->root_cert_pem")? {
        config.extra_root_certs_pem = pem.into_bytes();
    }
    config.auth = match optional_string_arg(c.session_token, "config->session_token")? {
        Some(token) => Auth::Token(SessionToken {
            token,
            token_type: optional_string_arg(c.session_token_type, "config->session_token_type")?
                .unwrap_or_else(|| "Bearer".to_string()),
            session_id: optional_string_arg(c.session_id, "config->session_id")?
                .unwrap_or_default(),
            expires_at: if c.session_token_expires_ms > 0 {
                UNIX_EPOCH + Duration::from_millis(c.session_token_expires_ms as u64)
            } else {
                SystemTime::now() + Duration::from_secs(3600)
            },
        }),
        None => Auth::ApiKey(Credentials::new(
            optional_string_arg(c.api_key, "config->api_key")?.unwrap_or_default(),
            optional_string_arg(c.api_secret, "config->api_secret")?.unwrap_or_default(),
        )),
    };
    config.session.scene = string_arg(c.scene, "config->scene")?;
    config.session.user.name = optional_string_arg(c.user_name, "config->user_name")?;
    let fields = slice_arg(
        c.profile_fields,
        c.profile_field_count,
        "config->profile_fields",
        "profile_field_count",
    )?;
    for (i, f) in fields.iter().enumerate() {
        config.session.user.profile.push((
            string_arg(f.key, &format!("config->profile_fields[{i}].key"))?,
            string_arg(f.value, &format!("config->profile_fields[{i}].value"))?,
        ));
    }
    config.client_id = optional_string_arg(c.client_id, "config->client_id")?;
    config.session.game_session_id =
        optional_string_arg(c.game_session_id, "config->game_session_id")?;
    config.session.capabilities = capabilities_arg(c.capabilities, "config->capabilities")?;
    config.timeouts.scene_load = Duration::from_millis(c.scene_timeout_ms as u64);
    config.session.queue_capacity = c.queue_capacity as usize;
    config.reconnect.max_attempts = c.reconnect_max_attempts;
    let ms = |v: u32| Duration::from_millis(v as u64);
    let t = &mut config.timeouts;
    t.connect = ms(c.connect_timeout_ms);
    t.handshake = ms(c.handshake_timeout_ms);
    t.stall = ms(c.stall_timeout_ms);
    t.keepalive_interval = ms(c.keepalive_interval_ms);
    t.keepalive_timeout = ms(c.keepalive_timeout_ms);
    config.session.max_pending_sends = c.max_pending_sends as usize;
    config.max_receive_message_bytes = c.max_receive_message_bytes as usize;
    config.session.continuation = continuation_arg(
        c.continuation_state,
        c.continuation_state_len,
        c.dialog_history,
        c.dialog_history_count,
        "config",
    )?;
    Ok(config)
}

/// Reads a capabilities bitmask (`what` names it in messages).
pub(crate) fn capabilities_arg(bits: u32, what: &str) -> FfiResult<Capabilities> {
    if bits & !IW_CAP_ALL != 0 {
        return Err(FfiError::new(
            IW_E_INVALID_ARGUMENT,
            format!(
                "{what} has unknown bits {:#x} (see IW_CAP_*)",
                bits & !IW_CAP_ALL
            ),
        ));
    }
    Ok(capabilities_of(bits))
}

/// Reads a continuation given as saved state bytes or as dialog lines (at
/// most one of the two); `what` names the struct in messages ("config").
///
/// # Safety
/// As [`slice_arg`] for both arrays, and each line's text as a C string.
pub(crate) unsafe fn continuation_arg(
    state: *const u8,
    state_len: usize,
    dialog: *const iw_dialog_line,
    dialog_count: usize,
    what: &str,
) -> FfiResult<Option<Continuation>> {
    if state_len > 0 && dialog_count > 0 {
        return Err(FfiError::new(
            IW_E_INVALID_ARGUMENT,
            format!("{what} has both continuation_state and dialog_history; give at most one"),
        ));
    }
    if state_len > 0 {
        let bytes = slice_arg(
            state,
            state_len,
            &format!("{what}->continuation_state"),
            "continuation_state_len",
        )?;
        return Ok(Some(Continuation::SavedState(bytes.to_vec())));
    }
    if dialog_count > 0 {
        let lines = slice_arg(
            dialog,
            dialog_count,
            &format!("{what}->dialog_history"),
            "dialog_history_count",
        )?;
        let mut dialog = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let talker = match line.talker {
                IW_TALKER_PLAYER => Talker::Player,
                IW_TALKER_CHARACTER => Talker::Character,
                other => {
                    return Err(FfiError::new(
                        IW_E_INVALID_ARGUMENT,
                        format!(
                            "{what}->dialog_history[{i}].talker is {other}; expected \
                             IW_TALKER_PLAYER or IW_TALKER_CHARACTER"
                        ),
                    ))
                }
            };
            dialog.push((
                talker,
                string_arg(line.text, &format!("{what}->dialog_history[{i}].text"))?,
            ));
        }
        return Ok(Some(Continuation::DialogHistory(dialog)));
    }
    Ok(None)
}

/// The library needs a session token (a session opens, its token nears its
/// expiry, or the service refused it): answer request `request_id` with
/// `iw_client_provide_token` or `iw_client_token_failed`, now or later, from
/// any thread. `workspace` is the workspace id the token is for (your
/// backend's GenerateToken takes `workspaces/<workspace>`); `session_id` is
/// the session to keep (a renewal) or NULL for a new session. On a renewal,
/// answer with that same `session_id` (not the new one a GenerateToken call
/// returns): the library takes the id you give as the session's from then on,
/// so another id would carry on under another session. Both strings
/// live until the callback returns. Runs on a library thread: return quickly
/// (ask your backend asynchronously); do not call `iw_shutdown` from it.
pub type iw_token_request_fn = Option<
    unsafe extern "C" fn(
        client: *mut iw_client,
        request_id: u64,
        workspace: *const c_char,
        session_id: *const c_char,
        userdata: *mut c_void,
    ),
>;

fn provider_of(client: *const iw_client) -> FfiResult<Arc<TokenRequests<iw_client>>> {
    CLIENTS.get(client)?.tokens.clone().ok_or_else(|| {
        FfiError::new(
            IW_E_INVALID_ARGUMENT,
            "the client has no token provider (iw_client_config.token_provider)",
        )
    })
}

/// Answers token request `request_id` (from the client's `token_provider`)
/// with a session token from your backend's GenerateToken answer: `token`,
/// its `token_type` (NULL: "Bearer"), its `session_id` (for a renewal, the
/// `session_id` the request named, to keep the session), and when it expires
/// in ms since the Unix epoch (0: unknown, taken as one hour from now; the
/// library asks for a new one shortly before it expires). Everything is
/// copied. Call it from any thread, inside the callback or later.
///
/// Each request is answered once: `IW_E_NOT_FOUND` for a request already
/// answered, or one the session stopped waiting for (the session's connect
/// timeout, `iw_client_config.connect_timeout_ms`, bounds the wait; a closed
/// session or a freed client ends it). The arguments are checked before the
/// request is taken, so a refused answer can be given again.
/// Errors: `IW_E_NOT_FOUND`, `IW_E_INVALID_ARGUMENT` (empty token or
/// session id, or a client without a token provider), `IW_E_INVALID_UTF8`,
/// `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_client_provide_token(
    client: *const iw_client,
    request_id: u64,
    token: *const c_char,
    token_type: *const c_char,
    session_id: *const c_char,
    expires_ms: i64,
) -> iw_result {
    ffi_boundary! {
        let requests = provider_of(client)?;
        let token = string_arg(token, "token")?;
        let token_type = optional_string_arg(token_type, "token_type")?
            .unwrap_or_else(|| "Bearer".to_string());
        let session_id = string_arg(session_id, "session_id")?;
        for (value, name) in [(&token, "token"), (&token_type, "token_type"), (&session_id, "session_id")] {
            if value.is_empty() {
                return Err(FfiError::new(IW_E_INVALID_ARGUMENT, format!("{name} is empty")));
            }
        }
        let expires_at = if expires_ms > 0 {
            UNIX_EPOCH + Duration::from_millis(expires_ms as u64)
        } else {
            SystemTime::now() + Duration::from_secs(3600)
        };
        requests.answer(
            request_id,
            Ok(SessionToken {
                token,
                token_type,
                session_id,
                expires_at,
            }),
        )
    }
}

/// Answers token request `request_id` with a failure (your backend is
/// unreachable, refused, ...): `message` (NULL: none given) is copied into the
/// `IW_PACKET_ERROR` the session reports. The session treats it like a
/// service that is unavailable for a moment: it retries with backoff (a new
/// request, a new id) up to `iw_client_config.reconnect_max_attempts`.
/// Errors: as `iw_client_provide_token` (`IW_E_NOT_FOUND` for a request not
/// waiting). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_client_token_failed(
    client: *const iw_client,
    request_id: u64,
    message: *const c_char,
) -> iw_result {
    ffi_boundary! {
        let requests = provider_of(client)?;
        let message = optional_string_arg(message, "message")?
            .unwrap_or_else(|| "no reason given".to_string());
        requests.answer(request_id, Err(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_bits_round_trip() {
        let defaults = Capabilities::default();
        assert_eq!(capabilities_bits(defaults), IW_CAP_DEFAULT);
        assert_eq!(capabilities_of(IW_CAP_DEFAULT), defaults);
        for (bit, _) in CAPABILITY_BITS {
            assert_eq!(capabilities_bits(capabilities_of(bit)), bit);
        }
        assert_eq!(capabilities_bits(capabilities_of(IW_CAP_ALL)), IW_CAP_ALL);
    }
}
