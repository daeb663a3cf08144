//! Static names of wire enum values, for logs and consoles.

use std::ffi::{c_char, CString};

use once_cell::sync::Lazy;

use super::error::guard;
use crate::protocol::ai::inworld::packets::emotion_event::{SpaffCode, Strength};

fn table(name: impl Fn(i32) -> Option<&'static str>) -> Vec<CString> {
    (0..)
        .map_while(name)
        .map(|n| CString::new(n).expect("enum names have no NUL"))
        .collect()
}

static BEHAVIORS: Lazy<Vec<CString>> =
    Lazy::new(|| table(|i| SpaffCode::try_from(i).ok().map(|c| c.as_str_name())));
static STRENGTHS: Lazy<Vec<CString>> =
    Lazy::new(|| table(|i| Strength::try_from(i).ok().map(|c| c.as_str_name())));

fn name_in(names: &[CString], value: i32) -> *const c_char {
    usize::try_from(value)
        .ok()
        .and_then(|i| names.get(i))
        .map_or(c"UNKNOWN".as_ptr(), |n| n.as_ptr())
}

/// The name of an emotion behavior (`iw_emotion.behavior`, wire `SpaffCode`),
/// e.g. "JOY", or "UNKNOWN". Static string: never free it. Never fails.
#[no_mangle]
pub extern "C" fn iw_emotion_behavior_name(behavior: i32) -> *const c_char {
    let mut out = c"UNKNOWN".as_ptr();
    guard(|| {
        out = name_in(&BEHAVIORS, behavior);
        Ok(())
    });
    out
}

/// The name of an emotion strength (`iw_emotion.strength`), e.g. "STRONG", or
/// "UNKNOWN". Static string: never free it. Never fails.
#[no_mangle]
pub extern "C" fn iw_emotion_strength_name(strength: i32) -> *const c_char {
    let mut out = c"UNKNOWN".as_ptr();
    guard(|| {
        out = name_in(&STRENGTHS, strength);
        Ok(())
    });
    out
}
