//! Inworld AI characters for games: a Rust client of Inworld's streaming
//! protocol with a C ABI, and a local engine that speaks the same protocol.
//!
//! Data path: game → [`ffi`] → [`client`] → wire, and wire → [`client`] → queue →
//! poll/callback → game. [`protocol`] is the wire level both the client and
//! the local engine (feature `engine`, on by default) build on; [`audio`]
//! decodes the speech the packet model delivers.

pub mod audio;
pub mod auth;
pub mod client;
#[cfg(feature = "engine")]
pub mod engine;
pub mod ffi;
pub mod packet;
pub mod protocol;
#[cfg(feature = "serde")]
mod serde_ms;
