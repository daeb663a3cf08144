//! Inworld characters in Godot 4.2+: the `InworldClient`, `InworldSession`,
//! `InworldCharacter` and `InworldMicrophone` nodes over the inworld
//! library's Rust API. What the
//! packets mean (`events`), the calls besides talking (`calls`), the voice's arithmetic (`voice`) and the face's
//! blend shapes (`face`) carry no Godot types and are tested with `cargo
//! test`; the nodes (`nodes`, one class a file) are thin.

pub mod calls;
pub mod events;
pub mod face;
mod nodes;
pub mod voice;

use godot::prelude::*;

struct InworldExtension;

/// The entry point Godot looks up: `gdext_rust_init` (inworld.gdextension).
#[gdextension]
unsafe impl ExtensionLibrary for InworldExtension {}
