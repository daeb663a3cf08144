//! Tokens from the game's backend: the client's token provider
//! (`iw_client_config.token_provider`) as a core [`TokenProvider`]. Each
//! request the core makes gets a number and a oneshot channel; the game's
//! callback is told the number, and `iw_client_provide_token` or
//! `iw_client_token_failed` answers it later, from any thread.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

use super::args::{optional_string_arg, string_arg};
use super::client::{iw_client, CLIENTS};
use super::error::*;
use super::handles::Handle;
use super::userdata::Userdata;
use crate::client::{SessionToken, TokenFuture, TokenProvider, TokenRequest};

/// The library needs a session token (a session opens, its token nears its
/// expiry, or the service refused it): answer request `request_id` with
/// `iw_client_provide_token` or `iw_client_token_failed`, now or later, from
/// any thread. `workspace` is the workspace id the token is for (your
/// backend's GenerateToken takes `workspaces/<workspace>`); `session_id` is
/// the session to keep (a renewal) or NULL for a new session. Both strings
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

type Answer = Result<SessionToken, String>;

/// The game's callback and its userdata.
struct Registration {
    callback: unsafe extern "C" fn(*mut iw_client, u64, *const c_char, *const c_char, *mut c_void),
    userdata: Userdata,
}

thread_local! {
    /// The `TokenRequests` whose callback runs on this thread (its address),
    /// so that freeing the client from inside the callback does not wait for
    /// the callback to return.
    static INSIDE: Cell<usize> = const { Cell::new(0) };
}

/// A client's token provider: the registration and the requests waiting
/// for the game's answer.
pub(crate) struct TokenRequests {
    /// Held for reading while the callback runs; `release` takes it for
    /// writing, so that once the client is freed no callback runs.
    registration: RwLock<Option<Registration>>,
    /// Set by `release`: no callback starts after it.
    released: AtomicBool,
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    next_id: AtomicU64,
    /// The handle the callback is given (set once the client is registered).
    client: OnceLock<Handle<iw_client>>,
}

impl TokenRequests {
    pub fn new(
        callback: unsafe extern "C" fn(
            *mut iw_client,
            u64,
            *const c_char,
            *const c_char,
            *mut c_void,
        ),
        userdata: Userdata,
    ) -> Arc<Self> {
        Arc::new(TokenRequests {
            registration: RwLock::new(Some(Registration { callback, userdata })),
            released: AtomicBool::new(false),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            client: OnceLock::new(),
        })
    }

    /// The core's view of this provider.
    pub fn provider(self: &Arc<Self>) -> TokenProvider {
        let requests = self.clone();
        TokenProvider::new(move |request| requests.ask(request))
    }

    pub fn set_client(&self, client: *mut iw_client) {
        let _ = self.client.set(Handle::of(client));
    }

    /// A request from the core: numbered, registered, told to the game.
    fn ask(self: &Arc<Self>, request: TokenRequest) -> TokenFuture {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, wait) = oneshot::channel();
        self.pending.lock().insert(id, answer);
        // From here on, the request leaves the map when the core stops
        // waiting (answered, timed out, session closed): a later answer is
        // refused.
        let waiting = Waiting {
            requests: self.clone(),
            id,
        };
        if !self.call(id, &request) {
            return Box::pin(std::future::ready(Err(
                "the iw_client was freed: its token provider is gone".to_string(),
            )));
        }
        Box::pin(async move {
            let _waiting = waiting;
            wait.await.unwrap_or_else(|_| {
                Err("the iw_client was freed before the token request was answered".to_string())
            })
        })
    }

    /// Calls the game's callback for request `id`; false if the client was freed.
    fn call(&self, id: u64, request: &TokenRequest) -> bool {
        // Strings from the core have no NUL (resource names and ids).
        let workspace = CString::new(request.workspace.as_str()).unwrap_or_default();
        let session_id = request
            .session_id
            .as_deref()
            .and_then(|s| CString::new(s).ok());
        let client = self.client.get().map_or(std::ptr::null_mut(), |h| h.ptr());
        let called = {
            let registration = self.registration.read();
            match registration.as_ref() {
                Some(r) if !self.released.load(Ordering::Acquire) => {
                    let outer = INSIDE.replace(self as *const Self as usize);
                    // SAFETY: the game registered a valid function; the
                    // strings live until it returns.
                    unsafe {
                        (r.callback)(
                            client,
                            id,
                            workspace.as_ptr(),
                            session_id.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
                            r.userdata.ptr,
                        )
                    };
                    INSIDE.set(outer);
                    true
                }
                _ => false,
            }
        };
        if self.released.load(Ordering::Acquire) {
            // Freed from inside the callback (or while it ran): release now.
            let registration = self.registration.write().take();
            drop(registration);
        }
        called
    }

    /// Answers request `id`.
    fn answer(&self, id: u64, answer: Answer) -> FfiResult {
        let not_found = || {
            FfiError::new(
                IW_E_NOT_FOUND,
                format!(
                    "no token request {id} is waiting (already answered, or its session \
                     stopped waiting: connect timeout, closed, or the client freed)"
                ),
            )
        };
        let sender = self.pending.lock().remove(&id).ok_or_else(not_found)?;
        sender.send(answer).map_err(|_| not_found())
    }

    /// The client is freed (or the library shut down): no callback starts
    /// from now on, waiting requests fail, and the userdata is released once
    /// no callback runs (at once, or when the one that freed the client
    /// returns).
    pub fn release(&self) {
        self.released.store(true, Ordering::Release);
        let pending = std::mem::take(&mut *self.pending.lock());
        drop(pending);
        if INSIDE.get() == self as *const Self as usize {
            // Up the stack: `call` releases it when the callback returns.
            return;
        }
        let registration = self.registration.write().take();
        drop(registration);
    }
}

/// A request the core waits for; leaves the map when the core stops waiting.
struct Waiting {
    requests: Arc<TokenRequests>,
    id: u64,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.requests.pending.lock().remove(&self.id);
    }
}

fn provider_of(client: *const iw_client) -> FfiResult<Arc<TokenRequests>> {
    CLIENTS.get(client)?.tokens.clone().ok_or_else(|| {
        FfiError::new(
            IW_E_INVALID_ARGUMENT,
            "the client has no token provider (iw_client_config.token_provider)",
        )
    })
}

/// Answers token request `request_id` (from the client's `token_provider`)
/// with a session token from your backend's GenerateToken answer: `token`,
/// its `token_type` (NULL: "Bearer"), its `session_id`, and when it expires
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
