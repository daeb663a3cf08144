//! Audio, independent of sessions and packets. The service's speech made
//! ready for the game: each WAV chunk decoded to 16-bit PCM (`wav`), its
//! phonemes mapped to the visemes game lip-sync uses (`visemes`), and a pull
//! stream for the game's audio thread (`playback`), at the game's rate
//! (`resample`, which the microphone uses too). The player's microphone,
//! on 16 kHz mono (the rate the service listens at): where speech starts and
//! ends (`voice_activity`) and echo cancellation (`echo`), and the two together turning the
//! stream into the player's turns (`voice_gate`).

pub mod echo;
pub mod face;
pub mod playback;
pub mod resample;
pub mod visemes;
pub mod voice_activity;
pub mod voice_gate;
pub mod wav;
