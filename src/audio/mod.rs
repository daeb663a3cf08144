//! Speech from the service, made ready for the game: each WAV chunk decoded
//! to 16-bit PCM (`wav`), and its phonemes mapped to the visemes game
//! lip-sync uses (`visemes`). Neither knows about packets: the packet model
//! calls them once per chunk as it converts the wire packet.

pub mod visemes;
pub mod wav;
