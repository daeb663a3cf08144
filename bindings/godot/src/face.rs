//! The character's face on a Godot mesh: which of the mesh's blend shapes
//! is each ARKit blendshape (by name, whatever the case, separators and
//! common prefixes, or as renamed), and each frame which blend shapes to
//! set (only those that changed). No Godot types: the node gives the
//! mesh's names and sets the values.

use inworld::audio::face::{Blendshape, Expression, FaceWeights, BLENDSHAPE_COUNT};
use inworld::client::{expression_of, strength_of};
use inworld::packet::{EmotionBehavior, EmotionStrength};

/// The expression and strength (0..1) of an emotion as the session's
/// `emotion_changed` names it ("JOY", "STRONG"); unknown names are neutral
/// and normal.
pub fn expression_named(behavior: &str, strength: &str) -> (Expression, f32) {
    let behavior = EmotionBehavior::ALL
        .iter()
        .find(|b| b.as_str() == behavior)
        .map_or(-1, |b| b.wire());
    let strength = EmotionStrength::ALL
        .iter()
        .find(|s| s.as_str() == strength)
        .map_or(-1, |s| s.wire());
    (expression_of(behavior), strength_of(strength))
}

/// A name as compared: after the last '.', without the usual prefixes
/// ("ARKit_", "blendShape1.", "bs_"), separators and case.
pub fn name_key(name: &str) -> String {
    let tail = name.rsplit('.').next().unwrap_or(name).to_lowercase();
    let tail = ["arkit", "blendshape", "bs"]
        .iter()
        .find_map(|p| tail.strip_prefix(p).filter(|rest| rest.len() > 3))
        .unwrap_or(&tail);
    tail.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .collect()
}

/// Each ARKit blendshape's index among a mesh's blend shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceMap {
    mesh_index: [Option<usize>; BLENDSHAPE_COUNT],
}

impl FaceMap {
    /// From the mesh's blend shape names (in its order), and renames
    /// ("arkitName=meshName") for those named otherwise.
    pub fn new<'a>(mesh_names: impl IntoIterator<Item = &'a str>, renames: &[&str]) -> Self {
        let keys: Vec<String> = mesh_names.into_iter().map(name_key).collect();
        let renamed: Vec<(String, String)> = renames
            .iter()
            .filter_map(|r| r.split_once('='))
            .map(|(a, m)| (name_key(a), name_key(m)))
            .collect();
        let mesh_index = std::array::from_fn(|i| {
            let mut key = name_key(Blendshape::NAMES[i]);
            if let Some((_, m)) = renamed.iter().find(|(a, _)| *a == key) {
                key = m.clone();
            }
            keys.iter().position(|k| *k == key)
        });
        FaceMap { mesh_index }
    }

    /// The mesh's index for an ARKit blendshape, if it has one.
    pub fn mesh_index(&self, shape: Blendshape) -> Option<usize> {
        self.mesh_index[shape as usize]
    }

    /// How many ARKit blendshapes the mesh has.
    pub fn found(&self) -> usize {
        self.mesh_index.iter().flatten().count()
    }
}

/// The values last put on the mesh: each frame's update sets only what
/// changed.
#[derive(Debug, Clone)]
pub struct FaceUpdater {
    map: FaceMap,
    shown: [f32; BLENDSHAPE_COUNT],
}

/// Smaller changes are not worth a call into the engine.
const EPSILON: f32 = 1e-4;

impl FaceUpdater {
    pub fn new(map: FaceMap) -> Self {
        FaceUpdater {
            map,
            // Not a weight: the first frame sets every mapped shape.
            shown: [f32::NAN; BLENDSHAPE_COUNT],
        }
    }

    /// Calls `set(mesh index, value)` for each mapped blend shape whose
    /// weight changed since the last frame.
    pub fn update(&mut self, weights: &FaceWeights, mut set: impl FnMut(usize, f32)) {
        for (i, (w, shown)) in weights.iter().zip(self.shown.iter_mut()).enumerate() {
            let Some(mesh_index) = self.map.mesh_index[i] else {
                continue;
            };
            if shown.is_nan() || (*w - *shown).abs() > EPSILON {
                set(mesh_index, *w);
                *shown = *w;
            }
        }
    }
}

/// When to tell the game the face changed (the `face_changed` signal): each
/// frame whose weights differ from the last told, so every frame while the
/// character speaks (or an expression fades, or it blinks), and once when
/// it comes to rest; never while it holds still.
#[derive(Debug, Clone, Default)]
pub struct FaceChanges {
    told: Option<FaceWeights>,
}

impl FaceChanges {
    /// Whether this frame's `weights` are news (remembered as told if so).
    pub fn update(&mut self, weights: &FaceWeights) -> bool {
        if self.told.as_ref() == Some(weights) {
            return false;
        }
        self.told = Some(*weights);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inworld::audio::face::NEUTRAL_FACE;

    #[test]
    fn names_match_whatever_their_case_separators_and_prefixes() {
        let mesh = [
            "Basis",
            "blendShape1.jawOpen",
            "ARKit_MouthClose",
            "eye_blink_left",
            "BS_tongueOut",
            "Mouth-Smile-Left",
            "Mouth_Open_Wide",
        ];
        let map = FaceMap::new(mesh, &["mouthFunnel=Mouth_Open_Wide"]);
        assert_eq!(map.mesh_index(Blendshape::JawOpen), Some(1));
        assert_eq!(map.mesh_index(Blendshape::MouthClose), Some(2));
        assert_eq!(map.mesh_index(Blendshape::EyeBlinkLeft), Some(3));
        assert_eq!(map.mesh_index(Blendshape::TongueOut), Some(4));
        assert_eq!(map.mesh_index(Blendshape::MouthSmileLeft), Some(5));
        assert_eq!(map.mesh_index(Blendshape::MouthFunnel), Some(6));
        assert_eq!(map.mesh_index(Blendshape::MouthSmileRight), None);
        assert_eq!(map.found(), 6);
        // Every ARKit name maps onto a mesh named exactly so.
        let exact = FaceMap::new(Blendshape::NAMES, &[]);
        for b in Blendshape::ALL {
            assert_eq!(exact.mesh_index(b), Some(b as usize));
        }
        // "bs" alone is not a prefix to strip from a short name.
        assert_eq!(name_key("bsx"), "bsx");
    }

    #[test]
    fn emotions_are_shown_by_their_names() {
        assert_eq!(expression_named("JOY", "STRONG"), (Expression::Joy, 1.0));
        assert_eq!(expression_named("NEUTRAL", "WEAK").0, Expression::Neutral);
        assert_eq!(expression_named("nonsense", "").0, Expression::Neutral);
    }

    #[test]
    fn each_frame_sets_the_mapped_shapes_that_changed() {
        let map = FaceMap::new(["x", "jawOpen", "mouthPressLeft"], &[]);
        let mut updater = FaceUpdater::new(map);
        let mut set = Vec::new();
        let mut face = NEUTRAL_FACE;
        updater.update(&face, |i, v| set.push((i, v)));
        assert_eq!(set, [(1, 0.0), (2, 0.0)], "the first frame sets all");
        set.clear();
        updater.update(&face, |i, v| set.push((i, v)));
        assert!(set.is_empty(), "nothing changed");
        face[Blendshape::JawOpen as usize] = 0.5;
        face[Blendshape::BrowInnerUp as usize] = 0.9; // not on this mesh
        updater.update(&face, |i, v| set.push((i, v)));
        assert_eq!(set, [(1, 0.5)]);
    }

    /// Frame by frame, from the faces a real playback stream gives while
    /// an utterance plays and after: told at the first frame (at rest),
    /// every frame the face moves, once when it is back at rest, then not.
    #[test]
    fn the_face_is_told_each_frame_it_moves_and_once_at_rest() {
        use inworld::audio::face::MAX_RELEASE;
        use inworld::audio::playback::{playback, Utterance, VisemeTimeline};
        use inworld::audio::visemes::{TimedViseme, Viseme};
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        let rate = 16_000;
        let (mut writer, mut reader, clock) = playback(1, rate as usize);
        let timeline = VisemeTimeline::default();
        timeline.store(Arc::new(
            [(Viseme::Aa, 0), (Viseme::Pp, 120), (Viseme::Ou, 200)]
                .iter()
                .map(|(viseme, ms)| TimedViseme {
                    viseme: *viseme,
                    start_offset: Duration::from_millis(*ms),
                })
                .collect(),
        ));
        let mut changes = FaceChanges::default();
        // The game's frames, 1/60 s apart on the clock the face is read on.
        let frame = Duration::from_micros(16_667);
        let start = Instant::now();
        assert!(changes.update(&clock.face_at(start, rate)), "first frame");
        assert!(!changes.update(&clock.face_at(start, rate)), "still");
        writer.begin_with_visemes(Utterance::default(), timeline);
        writer.write(&vec![0.1; 4_800]); // 300 ms
                                         // The audio thread reads it all at once: the face moves on with the
                                         // clock through what was read.
        let mut out = vec![0.0; 4_800];
        reader.read(&mut out);
        let read_at = Instant::now();
        let mut told = 0;
        let mut at = read_at;
        while at < read_at + Duration::from_millis(300) {
            if changes.update(&clock.face_at(at, rate)) {
                told += 1;
            }
            at += frame;
        }
        assert!(told >= 12, "the face moved on only {told} of 18 frames");
        // The sound stops: it relaxes, is told at rest once, then not.
        assert_eq!(reader.read(&mut out), 0);
        let stopped = Instant::now();
        let mut at_rest = 0;
        let mut after_rest = false;
        let mut at = stopped;
        while at < stopped + MAX_RELEASE * 4 {
            let face = clock.face_at(at, rate);
            let news = changes.update(&face);
            if face == NEUTRAL_FACE {
                if news {
                    at_rest += 1;
                } else {
                    after_rest = true;
                }
            }
            at += frame;
        }
        assert_eq!(at_rest, 1, "told at rest once");
        assert!(after_rest, "then quiet");
    }
}
