//! Faces: the 52 ARKit blendshape weights of what a playback stream's
//! player hears now, for a game that drives a face mesh each frame. Reads
//! take no lock at all (the stream's handle table aside, which only the
//! game's open and free write).

use std::ffi::{c_char, CString};
use std::sync::LazyLock;

use super::playback::{iw_playback, PLAYBACKS};
use crate::audio::face::{Blendshape, BLENDSHAPE_COUNT};
use crate::client::{expression_of, strength_of};
use crate::ffi::args::out_arg;
use crate::ffi::error::*;

/// Weights in a face (`iw_playback_face`), one per ARKit blendshape.
pub const IW_BLENDSHAPE_COUNT: usize = 52;
const _: () = assert!(IW_BLENDSHAPE_COUNT == BLENDSHAPE_COUNT);

static NAMES: LazyLock<Vec<CString>> = LazyLock::new(|| {
    Blendshape::NAMES
        .iter()
        .map(|n| CString::new(*n).expect("names have no NUL"))
        .collect()
});

/// Writes the face to show now to `weights` (`IW_BLENDSHAPE_COUNT` floats,
/// each 0..1, indexed as ARKit orders its blendshapes; `iw_blendshape_name`
/// names each): the speech heard, at the position the audio callback
/// reached, moving on smoothly between its reads (call it every rendered
/// frame, at any frame rate), with the expression of
/// `iw_playback_show_emotion` and the blinks of `iw_playback_set_blinks`.
/// All 0 before anything played; after the sound stops (the end of an
/// utterance, or a cancel or barge-in flushing it) the mouth relaxes to
/// rest within 80 ms. Any thread, also while the audio thread reads: no
/// lock, no allocation. Errors: `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`,
/// `IW_E_SHUTDOWN`.
#[no_mangle]
pub unsafe extern "C" fn iw_playback_face(
    playback: *const iw_playback,
    weights: *mut f32,
) -> iw_result {
    ffi_boundary! {
        let stream = PLAYBACKS.get(playback)?;
        let weights = out_arg(weights.cast::<[f32; IW_BLENDSHAPE_COUNT]>(), "weights")?;
        weights.write(stream.monitor.face());
        Ok(())
    }
}

/// The ARKit name of blendshape `index` (0 to `IW_BLENDSHAPE_COUNT` - 1):
/// "eyeBlinkLeft", ..., "jawOpen", ..., "tongueOut"; NULL past the last.
/// Static string: never free it. Never fails.
#[no_mangle]
pub extern "C" fn iw_blendshape_name(index: u32) -> *const c_char {
    ffi_boundary! { on_panic: std::ptr::null();
        usize::try_from(index)
            .ok()
            .and_then(|i| NAMES.get(i))
            .map_or(std::ptr::null(), |n| n.as_ptr())
    }
}

/// Shows an emotion on the stream's face (pass an `IW_PACKET_EMOTION`'s
/// `behavior` and `strength`): brows, eyes, cheeks, nose and the mouth's
/// corners, fading in over 0.4 s; a NEUTRAL behavior fades it out. The
/// mouth's speech shapes are never changed. Unknown values count as
/// neutral (behavior) and normal (strength). Takes no lock. Errors:
/// `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`.
#[no_mangle]
pub unsafe extern "C" fn iw_playback_show_emotion(
    playback: *const iw_playback,
    behavior: i32,
    strength: i32,
) -> iw_result {
    ffi_boundary! {
        let stream = PLAYBACKS.get(playback)?;
        stream
            .monitor
            .set_expression(expression_of(behavior), strength_of(strength));
        Ok(())
    }
}

/// Blinks on the stream's face at natural intervals (one every 0.2 to
/// 7.6 s, 3.9 s on average) when `enabled` is nonzero, at moments `seed`
/// decides (the same seed, the same moments of the stream's life); off by
/// default. Takes no lock. Errors: `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_SHUTDOWN`.
#[no_mangle]
pub unsafe extern "C" fn iw_playback_set_blinks(
    playback: *const iw_playback,
    enabled: u32,
    seed: u64,
) -> iw_result {
    ffi_boundary! {
        let stream = PLAYBACKS.get(playback)?;
        stream.monitor.set_blinks((enabled != 0).then_some(seed));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_index_has_its_arkit_name_and_none_past_the_last() {
        for (i, name) in Blendshape::NAMES.iter().enumerate() {
            let got = unsafe { CStr::from_ptr(iw_blendshape_name(i as u32)) };
            assert_eq!(got.to_str().unwrap(), *name);
        }
        assert!(iw_blendshape_name(52).is_null());
        assert!(iw_blendshape_name(u32::MAX).is_null());
    }
}
