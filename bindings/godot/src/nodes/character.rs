//! `InworldCharacter`: one character, its voice and its lip-sync.

use godot::classes::{
    AudioStreamGenerator, AudioStreamGeneratorPlayback, AudioStreamPlayer, INode, Node,
};
use godot::prelude::*;
use inworld::client::playback::{Playback, PlaybackFormat};

use super::session::{session_above, with_ready_session};
use crate::voice::{frames_to_pull, stereo_frames, VisemeChanges, MIX_RATE};

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
