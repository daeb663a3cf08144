//! Inworld AI characters for games: a Rust client of Inworld's streaming
//! protocol with a C ABI, and a local engine that speaks the same protocol.
//!
//! Data path: game → [`ffi`] → [`client`] → wire, and wire → [`client`] → queue →
//! poll/callback → game. [`engine`] is the offline server.

pub mod auth;
pub mod client;
pub mod engine;
pub mod ffi;
pub mod packet;
pub mod proto;
