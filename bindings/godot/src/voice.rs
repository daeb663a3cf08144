//! The character's voice for Godot's AudioStreamGenerator: how many frames to
//! pull from the playback stream each frame, and stereo samples as (left,
//! right) pairs; the mouth shape, reported once per change; and the
//! microphone's captured frames as the library's interleaved samples.

use inworld::audio::visemes::Viseme;

/// The generator's mix rate and the stream's: one, so nothing resamples twice.
pub const MIX_RATE: u32 = 48_000;

/// Frames to read now: what the generator has room for, at most one
/// scratch buffer (`capacity` frames) per call.
pub fn frames_to_pull(available: i32, capacity: usize) -> usize {
    usize::try_from(available).unwrap_or(0).min(capacity)
}

/// Interleaved stereo samples into (left, right) frames, appended to `out`.
pub fn stereo_frames(samples: &[f32], out: &mut Vec<(f32, f32)>) {
    out.extend(samples.chunks_exact(2).map(|lr| (lr[0], lr[1])));
}

/// (left, right) frames into interleaved samples, replacing `out`'s content
/// (kept allocated from frame to frame).
pub fn interleaved(frames: impl Iterator<Item = (f32, f32)>, out: &mut Vec<f32>) {
    out.clear();
    for (left, right) in frames {
        out.push(left);
        out.push(right);
    }
}

/// The microphone's rate for the library: Godot's mix rate, if the library
/// takes it (8 to 48 kHz).
pub fn input_rate(mix_rate: f32) -> Option<u32> {
    let rate = mix_rate.round();
    (8_000.0..=48_000.0).contains(&rate).then_some(rate as u32)
}

/// Says when the mouth shape changes, on the played clock.
#[derive(Debug, Default)]
pub struct VisemeChanges {
    last: Option<Viseme>,
}

impl VisemeChanges {
    /// The new shape if it differs from the last one reported.
    pub fn update(&mut self, now: Viseme) -> Option<Viseme> {
        if self.last == Some(now) {
            return None;
        }
        self.last = Some(now);
        Some(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_what_fits_and_no_more_than_the_scratch_buffer() {
        assert_eq!(frames_to_pull(-1, 4096), 0);
        assert_eq!(frames_to_pull(100, 4096), 100);
        assert_eq!(frames_to_pull(10_000, 4096), 4096);
    }

    #[test]
    fn interleaved_stereo_becomes_left_right_pairs() {
        let mut out = Vec::new();
        stereo_frames(&[0.1, 0.2, 0.3, 0.4, 0.5], &mut out);
        assert_eq!(out, vec![(0.1, 0.2), (0.3, 0.4)]);
    }

    #[test]
    fn captured_frames_become_interleaved_samples() {
        let mut out = vec![9.0; 3];
        interleaved([(0.1, 0.2), (0.3, 0.4)].into_iter(), &mut out);
        assert_eq!(out, vec![0.1, 0.2, 0.3, 0.4]);
        interleaved(std::iter::empty(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn the_mix_rate_is_the_input_rate_when_the_library_takes_it() {
        assert_eq!(input_rate(44_100.0), Some(44_100));
        assert_eq!(input_rate(48_000.0), Some(48_000));
        assert_eq!(input_rate(96_000.0), None);
        assert_eq!(input_rate(0.0), None);
    }

    #[test]
    fn a_viseme_is_reported_once_per_change() {
        let mut changes = VisemeChanges::default();
        assert_eq!(changes.update(Viseme::Sil), Some(Viseme::Sil));
        assert_eq!(changes.update(Viseme::Sil), None);
        assert_eq!(changes.update(Viseme::Aa), Some(Viseme::Aa));
        assert_eq!(changes.update(Viseme::Sil), Some(Viseme::Sil));
    }
}
