//! Audio processing for the player's microphone, independent of the
//! session: voice activity (where speech starts and ends) and echo
//! cancellation, both on 16 kHz mono, the rate the service listens at.

pub mod echo;
pub mod playback;
pub mod voice_activity;
