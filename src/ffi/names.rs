//! Static names of the packet model's enum values, for logs and consoles
//! (the model's own names, kept as C strings).

use std::ffi::{c_char, CString};
use std::sync::LazyLock;

use super::error::*;
use crate::audio::visemes::Viseme;
use crate::packet::{EmotionBehavior, EmotionStrength};

/// The names of an enum's values 0, 1, ... (the model's enums are dense from 0).
fn table(name: impl Fn(i32) -> Option<&'static str>) -> Vec<CString> {
    (0..)
        .map_while(name)
        .map(|n| CString::new(n).expect("enum names have no NUL"))
        .collect()
}

static VISEMES: LazyLock<Vec<CString>> = LazyLock::new(|| {
    table(|i| {
        usize::try_from(i)
            .ok()
            .and_then(|i| Viseme::ALL.get(i))
            .map(|v| v.name())
    })
});
static BEHAVIORS: LazyLock<Vec<CString>> =
    LazyLock::new(|| table(|i| EmotionBehavior::from_wire(i).map(EmotionBehavior::as_str)));
static STRENGTHS: LazyLock<Vec<CString>> =
    LazyLock::new(|| table(|i| EmotionStrength::from_wire(i).map(EmotionStrength::as_str)));

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
    ffi_boundary! { on_panic: c"UNKNOWN".as_ptr();
        name_in(&BEHAVIORS, behavior)
    }
}

/// The name of an emotion strength (`iw_emotion.strength`), e.g. "STRONG", or
/// "UNKNOWN". Static string: never free it. Never fails.
#[no_mangle]
pub extern "C" fn iw_emotion_strength_name(strength: i32) -> *const c_char {
    ffi_boundary! { on_panic: c"UNKNOWN".as_ptr();
        name_in(&STRENGTHS, strength)
    }
}

/// The name lip-sync tools give a viseme (`IW_VISEME_*`): "sil", "PP", "FF",
/// "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou"; or
/// "UNKNOWN". Static string: never free it. Never fails.
#[no_mangle]
pub extern "C" fn iw_viseme_name(viseme: u32) -> *const c_char {
    ffi_boundary! { on_panic: c"UNKNOWN".as_ptr();
        name_in(&VISEMES, i32::try_from(viseme).unwrap_or(-1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_wire_value_has_its_name() {
        for i in -1..256 {
            let name = |p| unsafe { CStr::from_ptr(p) }.to_str().unwrap();
            let behavior = EmotionBehavior::from_wire(i).map_or("UNKNOWN", EmotionBehavior::as_str);
            assert_eq!(name(iw_emotion_behavior_name(i)), behavior);
            let strength = EmotionStrength::from_wire(i).map_or("UNKNOWN", EmotionStrength::as_str);
            assert_eq!(name(iw_emotion_strength_name(i)), strength);
            let viseme = usize::try_from(i)
                .ok()
                .and_then(|i| Viseme::ALL.get(i))
                .map_or("UNKNOWN", |v| v.name());
            assert_eq!(name(iw_viseme_name(i as u32)), viseme);
        }
    }
}
