//! Godot values as the library's arguments, and its results as Godot's.

use godot::prelude::*;

/// A call's result as Godot sees it: true, or false with a Godot error.
pub(super) fn report(result: Result<(), inworld::client::Error>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            godot_error!("Inworld: {e}");
            false
        }
    }
}

pub(super) fn strings(array: &PackedStringArray) -> Vec<String> {
    array.as_slice().iter().map(|s| s.to_string()).collect()
}

pub(super) fn as_refs(strings: &[String]) -> Vec<&str> {
    strings.iter().map(String::as_str).collect()
}

/// A Dictionary's keys and values as text (trigger parameters).
pub(super) fn string_pairs(dictionary: &VarDictionary) -> Vec<(String, String)> {
    dictionary
        .iter_shared()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn as_strs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}
