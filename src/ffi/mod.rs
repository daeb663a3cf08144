//! The C ABI: thin translation of the Rust API ([`crate::client`],
//! [`crate::engine`]) into `iw_*` functions. No logic lives here that the Rust
//! API lacks. `include/inworld.h` is generated from this module by cbindgen;
//! the conventions it follows are stated at the top of that header (from
//! `cbindgen.toml`).
//!
//! Every export runs its body in `ffi_boundary!` (error.rs): errors become
//! `iw_result` codes with a message for `iw_last_error`, panics never cross
//! into C. Handles are generation-checked numbers (handles.rs); arguments are
//! checked one line each (args.rs).
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

// The C API, in the order of the header: cbindgen reads the modules in the
// order of these lines (one comment each keeps rustfmt from sorting them).
// Result codes, `iw_result_name`.
mod error;
// Versions, ABI, runtime, `iw_last_error`, `iw_shutdown`.
mod library;
// `iw_client`, its configuration, and the answers to its token provider
// (`iw_client_provide_token`, `iw_client_token_failed`).
mod client;
// The token provider's requests, waiting for those answers.
mod token;
// `iw_session`: open/close/free, characters, sending, receiving.
mod session;
// Microphone in: audio sessions, `iw_audio_input`.
mod mic;
// Speech out: `iw_playback`, the stream the audio callback reads.
mod playback;
// Faces on a playback stream: ARKit blendshape weights at the position heard.
mod face;
// Hands-free: voice detection, `iw_echo_reference`.
mod hands_free;
// The packet structs and their `IW_*` numbers.
mod packet;
// `iw_set_log_callback`.
mod log;
// `iw_emotion_*_name`.
mod names;
// `iw_engine`: the local engine in-process (builds with the `engine` feature).
#[cfg(feature = "engine")]
mod engine;

// What the exports are built from.
mod args;
mod handles;
mod userdata;

pub use args::*;
pub use client::*;
#[cfg(feature = "engine")]
pub use engine::*;
pub use error::*;
pub use face::*;
pub use hands_free::*;
pub use library::*;
pub use log::*;
pub use mic::*;
pub use names::*;
pub use packet::*;
pub use session::*;
pub use userdata::*;
