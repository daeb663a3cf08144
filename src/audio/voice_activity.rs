//! Where the player's speech starts and ends, in 16 kHz mono audio: a small
//! neural detector (earshot) scores each 16 ms frame, and a hysteresis turns
//! the scores into speech-started / speech-ended events, so that a pause
//! between words does not end an utterance and a click does not start one.
//!
//! earshot was chosen over libfvad (the `webrtc-vad` crate) after comparing
//! them on espeak-ng speech with white noise: at 3 dB SNR libfvad flagged
//! every noise frame as speech, earshot kept finding the two utterances; it
//! is pure Rust (no C build) and scores a frame in about 10 µs.

use std::time::Duration;

/// Samples per second the detector works at.
pub const SAMPLE_RATE: u32 = 16_000;
/// Samples in one scored frame (16 ms).
pub const FRAME_SAMPLES: usize = 256;

/// How eager the detector is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoiceActivityConfig {
    /// A frame scoring at least this (0–1) is voiced (default 0.5).
    pub threshold: f32,
    /// Voiced time needed before speech counts as started (default 48 ms):
    /// shorter noises are ignored.
    pub start_after: Duration,
    /// Unvoiced time that ends speech (default 800 ms): pauses between words
    /// are shorter.
    pub end_after: Duration,
    /// Time at the start (and after a reset) in which speech cannot start
    /// (default 320 ms): the detector takes that long to learn the room's
    /// noise, and scores a noise onset as voice until it has.
    pub warm_up: Duration,
}

impl Default for VoiceActivityConfig {
    fn default() -> Self {
        VoiceActivityConfig {
            threshold: 0.5,
            start_after: Duration::from_millis(48),
            end_after: Duration::from_millis(800),
            warm_up: Duration::from_millis(320),
        }
    }
}

/// A change of the player's speech, at a sample position counted from the
/// first sample the detector was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceEvent {
    /// Speech started at this sample (the first voiced frame of the run
    /// that started it: audio from there on belongs to the utterance).
    Started { at_sample: u64 },
    /// Speech ended at this sample (just after its last voiced frame).
    Ended { at_sample: u64 },
}

/// Turns 16 kHz mono samples into [`VoiceEvent`]s. Feeding it allocates
/// nothing, so it can run on an audio thread.
pub struct VoiceActivity {
    detector: Box<earshot::Detector>,
    config: VoiceActivityConfig,
    frame: [i16; FRAME_SAMPLES],
    filled: usize,
    /// Samples scored so far.
    position: u64,
    speaking: bool,
    /// The current run of voiced (when silent) or unvoiced (when speaking)
    /// frames: where it began and how long it is.
    run_start: u64,
    run_frames: u32,
    start_frames: u32,
    end_frames: u32,
    /// Frames left in the warm-up.
    warming: u32,
}

impl VoiceActivity {
    pub fn new(config: VoiceActivityConfig) -> VoiceActivity {
        VoiceActivity {
            detector: earshot::Detector::default_boxed(),
            frame: [0; FRAME_SAMPLES],
            filled: 0,
            position: 0,
            speaking: false,
            run_start: 0,
            run_frames: 0,
            start_frames: frames_in(config.start_after),
            end_frames: frames_in(config.end_after),
            warming: frames_in(config.warm_up),
            config,
        }
    }

    pub fn config(&self) -> &VoiceActivityConfig {
        &self.config
    }

    /// Whether the player is speaking, as of the last full frame.
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Samples given so far.
    pub fn samples_seen(&self) -> u64 {
        self.position + self.filled as u64
    }

    /// Scores `samples` (16 kHz mono), calling `on_event` for each change.
    pub fn push(&mut self, mut samples: &[i16], mut on_event: impl FnMut(VoiceEvent)) {
        while !samples.is_empty() {
            let take = (FRAME_SAMPLES - self.filled).min(samples.len());
            self.frame[self.filled..self.filled + take].copy_from_slice(&samples[..take]);
            self.filled += take;
            samples = &samples[take..];
            if self.filled == FRAME_SAMPLES {
                self.filled = 0;
                let voiced = self.detector.predict_i16(&self.frame) >= self.config.threshold;
                if let Some(event) = self.step(voiced) {
                    on_event(event);
                }
                self.position += FRAME_SAMPLES as u64;
            }
        }
    }

    /// One frame's verdict through the hysteresis.
    fn step(&mut self, voiced: bool) -> Option<VoiceEvent> {
        if self.warming > 0 {
            self.warming -= 1;
            return None;
        }
        // A frame that agrees with the state breaks the run towards a change.
        if voiced == self.speaking {
            self.run_frames = 0;
            return None;
        }
        if self.run_frames == 0 {
            self.run_start = self.position;
        }
        self.run_frames += 1;
        let needed = if self.speaking {
            self.end_frames
        } else {
            self.start_frames
        };
        if self.run_frames < needed {
            return None;
        }
        self.speaking = !self.speaking;
        self.run_frames = 0;
        Some(if self.speaking {
            VoiceEvent::Started {
                at_sample: self.run_start,
            }
        } else {
            VoiceEvent::Ended {
                at_sample: self.run_start,
            }
        })
    }

    /// Forgets everything heard (a new microphone, a new conversation).
    pub fn reset(&mut self) {
        self.detector.reset();
        self.filled = 0;
        self.position = 0;
        self.speaking = false;
        self.run_frames = 0;
        self.warming = frames_in(self.config.warm_up);
    }
}

impl std::fmt::Debug for VoiceActivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceActivity")
            .field("config", &self.config)
            .field("speaking", &self.speaking)
            .field("samples_seen", &self.samples_seen())
            .finish()
    }
}

/// Whole frames in `d`, at least one.
fn frames_in(d: Duration) -> u32 {
    let frame = Duration::from_micros(FRAME_SAMPLES as u64 * 1_000_000 / SAMPLE_RATE as u64);
    (d.as_micros() / frame.as_micros()).max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(va: &mut VoiceActivity, samples: &[i16]) -> Vec<VoiceEvent> {
        let mut out = Vec::new();
        va.push(samples, |e| out.push(e));
        out
    }

    #[test]
    fn durations_become_whole_frames() {
        assert_eq!(frames_in(Duration::from_millis(48)), 3);
        assert_eq!(frames_in(Duration::from_millis(800)), 50);
        assert_eq!(frames_in(Duration::from_millis(320)), 20);
        assert_eq!(frames_in(Duration::ZERO), 1);
    }

    #[test]
    fn silence_never_starts_speech() {
        let mut va = VoiceActivity::new(VoiceActivityConfig::default());
        assert!(events(&mut va, &[0; 16_000 * 3]).is_empty());
        assert!(!va.is_speaking());
        assert_eq!(va.samples_seen(), 48_000);
    }

    #[test]
    fn the_hysteresis_needs_runs_to_change_state() {
        let mut va = VoiceActivity::new(VoiceActivityConfig {
            start_after: Duration::from_millis(48),
            end_after: Duration::from_millis(64),
            ..VoiceActivityConfig::default()
        });
        va.warming = 0;
        // Stepped by hand: three voiced frames start speech at the first.
        let mut at = 0u64;
        let mut step = |va: &mut VoiceActivity, voiced: bool| {
            let e = va.step(voiced);
            va.position += FRAME_SAMPLES as u64;
            at += 1;
            e
        };
        assert_eq!(step(&mut va, true), None);
        assert_eq!(step(&mut va, false), None); // a click: the run breaks
        assert_eq!(step(&mut va, true), None);
        assert_eq!(step(&mut va, true), None);
        assert_eq!(
            step(&mut va, true),
            Some(VoiceEvent::Started {
                at_sample: 2 * FRAME_SAMPLES as u64
            })
        );
        // A three-frame pause does not end it; four frames do.
        for _ in 0..3 {
            assert_eq!(step(&mut va, false), None);
        }
        assert_eq!(step(&mut va, true), None);
        for _ in 0..3 {
            assert_eq!(step(&mut va, false), None);
        }
        assert_eq!(
            step(&mut va, false),
            Some(VoiceEvent::Ended {
                at_sample: 9 * FRAME_SAMPLES as u64
            })
        );
        assert!(!va.is_speaking());
    }

    #[test]
    fn nothing_starts_during_the_warm_up() {
        let mut va = VoiceActivity::new(VoiceActivityConfig::default());
        let mut started = None;
        for frame in 0..30u64 {
            if let Some(e) = va.step(true) {
                started = Some((frame, e));
                break;
            }
            va.position += FRAME_SAMPLES as u64;
        }
        // 20 frames of warm-up, then three voiced frames.
        assert_eq!(
            started,
            Some((
                22,
                VoiceEvent::Started {
                    at_sample: 20 * FRAME_SAMPLES as u64
                }
            ))
        );
    }

    #[test]
    fn odd_sized_pushes_are_framed() {
        let mut va = VoiceActivity::new(VoiceActivityConfig::default());
        for n in [1, 255, 256, 257, 1000] {
            va.push(&vec![0; n], |_| {});
        }
        assert_eq!(va.samples_seen(), 1 + 255 + 256 + 257 + 1000);
        va.reset();
        assert_eq!(va.samples_seen(), 0);
    }
}
