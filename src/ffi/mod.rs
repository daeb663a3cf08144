//! The C ABI: thin translation of the Rust API ([`crate::client`],
//! [`crate::engine`]) into `iw_*` functions. No logic lives here that the Rust
//! API lacks. `include/inworld.h` is generated from this module by cbindgen.
//!
//! Conventions (DESIGN.md 3): opaque generation-checked handles created through
//! out-parameters and released once by `*_free`; every fallible call returns an
//! `iw_result` and records a message for `iw_last_error`; panics never cross the
//! boundary; inputs are copied; packets are lent until the next poll/dispatch.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

mod client;
#[cfg(feature = "engine")]
mod engine;
mod error;
mod handles;
mod lend;
mod log;
mod names;
mod receive;
mod runtime;
mod session;
mod strings;
mod types;

pub use client::*;
#[cfg(feature = "engine")]
pub use engine::*;
pub use error::*;
pub use log::*;
pub use names::*;
pub use receive::*;
pub use runtime::*;
pub use session::{
    iw_sent_ids_init, iw_session, iw_session_character_at, iw_session_character_count,
    iw_session_close, iw_session_current_character, iw_session_free, iw_session_id,
    iw_session_open, iw_session_send_narrated_action, iw_session_send_text,
    iw_session_send_trigger, iw_session_set_character, iw_session_state, iw_userdata_free_fn,
    register_session,
};
pub use types::*;
