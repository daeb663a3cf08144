//! The Godot nodes. Signals are emitted only from `_process`, on the main
//! thread: the library's threads never touch Godot.
//! One class a file, as godot-rust's demo projects do; `args` turns Godot
//! values into the library's arguments.

mod args;
mod character;
mod client;
mod microphone;
mod session;
