//! `InworldMicrophone`: the player's microphone, hands-free or push-to-talk.

use godot::classes::{
    AudioEffectCapture, AudioServer, AudioStreamMicrophone, AudioStreamPlayer, INode, Node,
};
use godot::prelude::*;
use inworld::client::{
    AudioFormat, AudioInput, AudioSessionConfig, EchoReference, MicrophoneMode, PushError, Session,
    VoiceDetection,
};

use super::args::report;
use super::session::{session_above, with_ready_session};
use crate::voice::{input_rate, interleaved};

/// The player's microphone into its parent InworldSession. It makes its own
/// muted audio bus with an AudioEffectCapture and plays the microphone into
/// it; each frame, what was captured goes to the library. Hands-free (the
/// default), the library finds the player's turns itself (voice detection);
/// otherwise call start_talking / stop_talking (push-to-talk). With echo
/// cancellation, it also captures the Master bus (everything the game plays,
/// the characters' voices too) as the echo reference, so hands-free does not
/// hear the game through loudspeakers. The project needs Audio > Driver >
/// Enable Input on.
#[derive(GodotClass)]
#[class(base = Node)]
pub struct InworldMicrophone {
    /// The library finds the player's turns; off: push-to-talk.
    #[export]
    hands_free: bool,
    /// Remove what the game plays from the microphone (hands-free).
    #[export]
    echo_cancellation: bool,
    /// The name of the capture bus it makes.
    #[export]
    bus: GString,
    capture: Option<Gd<AudioEffectCapture>>,
    /// On the Master bus: what the game plays.
    output_capture: Option<Gd<AudioEffectCapture>>,
    input: Option<AudioInput>,
    echo: Option<EchoReference>,
    /// Opening failed for good (said once as a Godot error, not every frame).
    failed: bool,
    samples: Vec<f32>,
    base: Base<Node>,
}

#[godot_api]
impl INode for InworldMicrophone {
    fn init(base: Base<Node>) -> Self {
        InworldMicrophone {
            hands_free: true,
            echo_cancellation: true,
            bus: "InworldMicrophone".into(),
            capture: None,
            output_capture: None,
            input: None,
            echo: None,
            failed: false,
            samples: Vec::with_capacity(2 * 4096),
            base,
        }
    }

    // Each time it enters the tree: its captures on the buses (exit_tree
    // takes them off again).
    fn enter_tree(&mut self) {
        self.failed = false;
        let mut server = AudioServer::singleton();
        let mut index = server.get_bus_index(&StringName::from(&self.bus));
        if index < 0 {
            index = server.get_bus_count();
            server.add_bus();
            server.set_bus_name(index, &self.bus);
        }
        // Muted: the player does not hear themself.
        server.set_bus_mute(index, true);
        let capture = new_capture();
        server.add_bus_effect(index, &capture);
        self.capture = Some(capture);
        if self.echo_cancellation {
            let output = new_capture();
            server.add_bus_effect(0, &output);
            self.output_capture = Some(output);
        }
    }

    // Once: the player of the microphone stream, a child of this node.
    fn ready(&mut self) {
        let mut player = AudioStreamPlayer::new_alloc();
        player.set_stream(&AudioStreamMicrophone::new_gd());
        player.set_bus(&StringName::from(&self.bus));
        self.base_mut().add_child(&player);
        player.play();
    }

    fn process(&mut self, _delta: f64) {
        if self.input.is_none() && !self.failed {
            self.open_input();
        }
        // Both captures are drained every frame, so neither holds stale
        // audio; what the game played goes first, as it came first.
        if take_captured(self.output_capture.as_mut(), &mut self.samples) {
            if let Some(echo) = self.echo.as_mut() {
                // A full ring drops and counts; a closed session reopens below.
                let _ = echo.push_f32(&self.samples);
            }
        }
        if !take_captured(self.capture.as_mut(), &mut self.samples) {
            return;
        }
        let Some(input) = self.input.as_mut() else {
            return;
        };
        match input.push_f32(&self.samples) {
            // Push-to-talk and not talking: the microphone is not listened to.
            Ok(_) | Err(PushError::NoAudioSession) => {}
            Err(PushError::Closed) => {
                self.input = None;
                self.echo = None;
            }
            Err(e) => godot_error!("Inworld: microphone: {e}"),
        }
    }

    fn exit_tree(&mut self) {
        self.input = None;
        self.echo = None;
        let mut server = AudioServer::singleton();
        let mine = [self.capture.take(), self.output_capture.take()];
        for bus in 0..server.get_bus_count() {
            for effect in (0..server.get_bus_effect_count(bus)).rev() {
                let Some(e) = server.get_bus_effect(bus, effect) else {
                    continue;
                };
                if mine
                    .iter()
                    .flatten()
                    .any(|m| m.instance_id() == e.instance_id())
                {
                    server.remove_bus_effect(bus, effect);
                }
            }
        }
    }
}

/// A capture that holds half a second (the default tenth would overflow
/// when a frame takes longer, as when the game loads something).
fn new_capture() -> Gd<AudioEffectCapture> {
    let mut capture = AudioEffectCapture::new_gd();
    capture.set_buffer_length(0.5);
    capture
}

/// What a capture holds now, as interleaved stereo in `samples`; false when
/// there is none.
fn take_captured(capture: Option<&mut Gd<AudioEffectCapture>>, samples: &mut Vec<f32>) -> bool {
    let Some(capture) = capture else {
        return false;
    };
    let available = capture.get_frames_available();
    if available <= 0 {
        return false;
    }
    let frames = capture.get_buffer(available);
    interleaved(frames.as_slice().iter().map(|v| (v.x, v.y)), samples);
    true
}

#[godot_api]
impl InworldMicrophone {
    /// Push-to-talk: the player starts speaking.
    #[func]
    fn start_talking(&mut self) -> bool {
        let config = AudioSessionConfig {
            mode: MicrophoneMode::PushToTalk,
            ..AudioSessionConfig::default()
        };
        self.with_session(|s| s.start_audio_session(config).map(drop))
    }

    /// Push-to-talk: the player stopped; the character answers.
    #[func]
    fn stop_talking(&mut self) -> bool {
        self.with_session(|s| s.end_audio_session().map(drop))
    }

    fn with_session(
        &self,
        call: impl FnOnce(&Session) -> Result<(), inworld::client::Error>,
    ) -> bool {
        let Some(session_node) = session_above(&self.base(), "InworldMicrophone") else {
            return false;
        };
        let node = session_node.bind();
        match node.session() {
            Some(session) => report(call(session)),
            None => {
                godot_error!("Inworld: the session is not open");
                false
            }
        }
    }

    /// Opens the library's input once the session is ready, at Godot's mix
    /// rate in stereo (the library makes it what the service takes).
    fn open_input(&mut self) {
        let mix_rate = AudioServer::singleton().get_mix_rate();
        let Some(rate) = input_rate(mix_rate) else {
            godot_error!(
                "Inworld: the mix rate {mix_rate} Hz is not one the microphone takes (8 to 48 kHz)"
            );
            self.failed = true;
            return;
        };
        let format = AudioFormat { rate, channels: 2 };
        let echo_cancellation = self.echo_cancellation && self.output_capture.is_some();
        let hands_free = self.hands_free;
        let opened = with_ready_session(&self.base(), |session| {
            let input = session.audio_input(format)?;
            let echo = if echo_cancellation {
                Some(session.echo_reference(format)?)
            } else {
                None
            };
            if hands_free {
                session.set_voice_detection(Some(VoiceDetection {
                    echo_cancellation,
                    ..VoiceDetection::default()
                }))?;
            }
            Ok::<_, inworld::client::Error>((input, echo))
        });
        let Some(opened) = opened else {
            return;
        };
        match opened {
            Ok((input, echo)) => {
                self.input = Some(input);
                self.echo = echo;
            }
            Err(e) => {
                godot_error!("Inworld: no microphone: {e}");
                self.failed = true;
            }
        }
    }
}
