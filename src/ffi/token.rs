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

use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

use super::error::*;
use super::handles::Handle;
use super::userdata::Userdata;
use crate::client::{SessionToken, TokenFuture, TokenProvider, TokenRequest};

/// The answer to a request: a token, or why there is none.
pub(crate) type Answer = Result<SessionToken, String>;

/// The game's callback (`iw_token_request_fn`); `C` is the client's handle type.
pub(crate) type Callback<C> =
    unsafe extern "C" fn(*mut C, u64, *const c_char, *const c_char, *mut c_void);

/// The game's callback and its userdata.
struct Registration<C> {
    callback: Callback<C>,
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
pub(crate) struct TokenRequests<C> {
    /// Held for reading while the callback runs; `release` takes it for
    /// writing, so that once the client is freed no callback runs.
    registration: RwLock<Option<Registration<C>>>,
    /// Set by `release`: no callback starts after it.
    released: AtomicBool,
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    next_id: AtomicU64,
    /// The handle the callback is given (set once the client is registered).
    client: OnceLock<Handle<C>>,
}

impl<C: 'static> TokenRequests<C> {
    pub fn new(callback: Callback<C>, userdata: Userdata) -> Arc<Self> {
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

    pub fn set_client(&self, client: *mut C) {
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
    pub fn answer(&self, id: u64, answer: Answer) -> FfiResult {
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
struct Waiting<C: 'static> {
    requests: Arc<TokenRequests<C>>,
    id: u64,
}

impl<C: 'static> Drop for Waiting<C> {
    fn drop(&mut self) {
        self.requests.pending.lock().remove(&self.id);
    }
}
