//! `InworldCharacter`: one character, its voice and its lip-sync.

use godot::classes::{
    AudioStreamGenerator, AudioStreamGeneratorPlayback, AudioStreamPlayer, INode, MeshInstance3D,
    Node,
};
use godot::prelude::*;
use inworld::client::playback::{Playback, PlaybackFormat};

use super::session::{session_above, with_ready_session};
use crate::face::{expression_named, FaceChanges, FaceMap, FaceUpdater};
use crate::voice::{frames_to_pull, stereo_frames, VisemeChanges, MIX_RATE};
use inworld::audio::face::{Blendshape, FaceWeights, NEUTRAL_FACE};

/// One character of its parent InworldSession: talks to it and plays its voice
/// through an AudioStreamPlayer with an AudioStreamGenerator it owns, fed each
/// frame from the library's playback stream; emits viseme_changed on the
/// played clock for lip-sync.
#[derive(GodotClass)]
#[class(base = Node)]
pub struct InworldCharacter {
    /// Display name, agent id or resource name.
    #[export]
    character: GString,
    /// The audio bus the voice plays on.
    #[export]
    bus: StringName,
    /// A face mesh with ARKit blend shapes: set each frame from the voice
    /// heard (see face.rs for how names match).
    #[export]
    face_target: Option<Gd<MeshInstance3D>>,
    /// "arkitName=meshName" for blend shapes named otherwise.
    #[export]
    face_renames: PackedStringArray,
    face_updater: Option<FaceUpdater>,
    face_weights: FaceWeights,
    face_changes: FaceChanges,
    player: Option<Gd<AudioStreamPlayer>>,
    playback: Option<Playback>,
    scratch: Vec<f32>,
    frames: Vec<(f32, f32)>,
    visemes: VisemeChanges,
    base: Base<Node>,
}

#[godot_api]
impl INode for InworldCharacter {
    fn init(base: Base<Node>) -> Self {
        InworldCharacter {
            character: GString::new(),
            bus: "Master".into(),
            face_target: None,
            face_renames: PackedStringArray::new(),
            face_updater: None,
            face_weights: NEUTRAL_FACE,
            face_changes: FaceChanges::default(),
            player: None,
            playback: None,
            scratch: vec![0.0; 2 * 4096],
            frames: Vec::with_capacity(4096),
            visemes: VisemeChanges::default(),
            base,
        }
    }

    fn ready(&mut self) {
        let mut generator = AudioStreamGenerator::new_gd();
        generator.set_mix_rate(MIX_RATE as f32);
        generator.set_buffer_length(0.25);
        let mut player = AudioStreamPlayer::new_alloc();
        player.set_stream(&generator);
        player.set_bus(&self.bus);
        self.base_mut().add_child(&player);
        player.play();
        self.player = Some(player);
    }

    fn process(&mut self, _delta: f64) {
        if self.playback.is_none() {
            self.open_stream();
        }
        let (Some(playback), Some(player)) = (self.playback.as_mut(), self.player.as_mut()) else {
            return;
        };
        let Some(mut generator) = player
            .get_stream_playback()
            .and_then(|p| p.try_cast::<AudioStreamGeneratorPlayback>().ok())
        else {
            return;
        };
        let pull = frames_to_pull(generator.get_frames_available(), self.scratch.len() / 2);
        if pull > 0 {
            playback.read_f32(&mut self.scratch[..pull * 2]);
            self.frames.clear();
            stereo_frames(&self.scratch[..pull * 2], &mut self.frames);
            let packed: PackedVector2Array = self
                .frames
                .iter()
                .map(|&(l, r)| Vector2::new(l, r))
                .collect();
            generator.push_buffer(&packed);
        }
        let viseme = playback.viseme();
        self.face_weights = playback.face();
        self.show_face();
        if self.face_changes.update(&self.face_weights) {
            let weights = self.face_weights();
            self.base_mut()
                .emit_signal("face_changed", &[weights.to_variant()]);
        }
        if let Some(changed) = self.visemes.update(viseme) {
            self.base_mut().emit_signal(
                "viseme_changed",
                &[
                    (changed as u32 as i64).to_variant(),
                    changed.name().to_variant(),
                ],
            );
        }
    }
}

#[godot_api]
impl InworldCharacter {
    /// The mouth shape changed: IW viseme index (0 = silence) and its name
    /// ("sil", "PP", "aa", ...), on the clock of what is heard.
    #[signal]
    fn viseme_changed(viseme: i64, name: GString);

    /// The face changed: its 52 ARKit weights (0..1, in ARKit's order:
    /// blendshape_name names each), for games that animate otherwise than
    /// through face_target. Each frame while it moves (speech, an emotion
    /// fading, a blink), and once when it comes to rest.
    #[signal]
    fn face_changed(weights: PackedFloat32Array);

    /// The face shown this frame: 52 ARKit weights (0..1), for games that
    /// animate otherwise than through face_target.
    #[func]
    fn face_weights(&self) -> PackedFloat32Array {
        self.face_weights.iter().copied().collect()
    }

    /// The ARKit name of face weight `index` ("jawOpen"), empty past the last.
    #[func]
    fn blendshape_name(index: i64) -> GString {
        usize::try_from(index)
            .ok()
            .and_then(Blendshape::from_index)
            .map_or(GString::new(), |b| b.name().into())
    }

    /// Shows an emotion on the face, as the session's emotion_changed
    /// names it ("JOY", "STRONG"): connect that signal here.
    #[func]
    fn show_emotion(&mut self, behavior: GString, strength: GString) {
        let (expression, amount) = expression_named(&behavior.to_string(), &strength.to_string());
        if let Some(playback) = &self.playback {
            playback.monitor().set_expression(expression, amount);
        }
    }

    /// Puts this frame's weights on face_target's blend shapes.
    fn show_face(&mut self) {
        let Some(mut mesh) = self.face_target.clone() else {
            return;
        };
        if self.face_updater.is_none() {
            let names: Vec<String> = mesh
                .get_mesh()
                .and_then(|m| m.try_cast::<godot::classes::ArrayMesh>().ok())
                .map(|m| {
                    (0..m.get_blend_shape_count())
                        .map(|i| m.get_blend_shape_name(i).to_string())
                        .collect()
                })
                .unwrap_or_default();
            let renames: Vec<String> = self
                .face_renames
                .as_slice()
                .iter()
                .map(|r| r.to_string())
                .collect();
            let renames: Vec<&str> = renames.iter().map(String::as_str).collect();
            self.face_updater = Some(FaceUpdater::new(FaceMap::new(
                names.iter().map(String::as_str),
                &renames,
            )));
        }
        if let Some(updater) = self.face_updater.as_mut() {
            updater.update(&self.face_weights, |i, value| {
                mesh.set_blend_shape_value(i as i32, value)
            });
        }
    }

    /// Says something to this character (it becomes the session's current one).
    #[func]
    fn say(&mut self, text: GString) -> bool {
        let Some(mut session) = session_above(&self.base(), "InworldCharacter") else {
            return false;
        };
        let mut node = session.bind_mut();
        node.set_current_character(self.character.clone()) && node.send_text(text)
    }

    fn open_stream(&mut self) {
        let who = self.character.to_string();
        let format = PlaybackFormat {
            rate: MIX_RATE,
            channels: 2,
        };
        let opened = with_ready_session(&self.base(), |session| {
            session.open_playback(format, (!who.is_empty()).then_some(who.as_str()))
        });
        match opened {
            None => {}
            Some(Ok(playback)) => self.playback = Some(playback),
            Some(Err(e)) => godot_error!("Inworld: no voice for {who:?}: {e}"),
        }
    }
}
