//! Hands-free turns on the player's 16 kHz microphone stream: the echo of
//! what the game played is removed (optional, `echo`), voice activity finds
//! where speech starts and ends (`voice_activity`), and only the speech goes
//! on, with a pre-roll before its detected start (the detector needs a few
//! frames to be sure, and a soft first syllable scores low) and without the
//! silence that ended it.
//!
//! Speech is held back by the end silence before it is passed on: when the
//! turn ends, what was heard after the last voiced frame is dropped rather
//! than sent. The turn's end goes out at the same moment either way, so
//! this costs the service nothing but early partial transcripts.
//!
//! The far end (what the game played) and the microphone are paired by
//! count, not by when they arrive: each microphone frame takes the next
//! far-end frame (silence when the game pushed none: nothing was played).
//! The session's task drains both on the same tick, so the far end of a
//! tick is given before its microphone; when the task runs late (a busy
//! machine) a tick brings up to a second of each, and all of that far end
//! waits for its microphone frames. Only what is left over once a tick's
//! microphone is processed, beyond `FAR_BACKLOG`, is dropped, oldest first,
//! so a game that pushes more output than microphone does not drift; the
//! canceller's delay search covers the rest.
//!
//! All buffers are allocated when the gate is made; the canceller allocates
//! inside (see `echo`), so the gate runs on the runtime, not the audio thread.

use super::echo::{self, EchoCanceller, EchoError};
use super::voice_activity::{VoiceActivity, VoiceActivityConfig, VoiceEvent};
use std::time::Duration;

const RATE: u64 = echo::SAMPLE_RATE as u64;
const FRAME: usize = echo::FRAME_SAMPLES;
/// Far end kept ahead of the microphone between ticks (200 ms).
const FAR_BACKLOG: usize = 20 * FRAME;
/// Far end one tick may bring before its microphone frames: the echo
/// reference's ring holds a second, and the backlog comes on top (2 s).
const FAR_CAPACITY: usize = 2 * RATE as usize;
/// Speech kept after the last voiced frame when a turn ends (the detector's
/// frames are 16 ms; a short tail keeps a final consonant).
const END_TAIL: Duration = Duration::from_millis(100);

/// How the gate listens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoiceGateConfig {
    /// Find turns (default on); off, every processed sample is passed on
    /// as `Speech` (echo cancellation alone, for audio sessions the game
    /// starts and ends itself).
    pub detect_voice: bool,
    /// Silence that ends the player's turn (default 800 ms).
    pub end_silence: Duration,
    /// Audio passed on from before the detected start (default 300 ms).
    pub pre_roll: Duration,
    /// Remove the echo of the far end (default off).
    pub echo_cancellation: bool,
    /// Expected time from playing a sample to hearing it (default 60 ms).
    pub echo_delay_hint: Duration,
}

impl Default for VoiceGateConfig {
    fn default() -> Self {
        VoiceGateConfig {
            detect_voice: true,
            end_silence: Duration::from_millis(800),
            pre_roll: Duration::from_millis(300),
            echo_cancellation: false,
            echo_delay_hint: Duration::from_millis(60),
        }
    }
}

/// What the gate passes on, in order: `Started`, `Speech` pieces, `Ended`.
#[derive(Debug, PartialEq, Eq)]
pub enum GateEvent<'a> {
    Started,
    /// 16 kHz mono samples of the turn.
    Speech(&'a [i16]),
    Ended,
}

/// See the module's comment.
pub struct VoiceGate {
    config: VoiceGateConfig,
    vad: VoiceActivity,
    echo: Option<EchoCanceller>,
    /// Microphone samples waiting for a whole 10 ms frame.
    near: [i16; FRAME],
    near_filled: usize,
    /// Far-end samples waiting for microphone frames (a ring).
    far: Box<[i16]>,
    far_read: usize,
    far_len: usize,
    /// The processed microphone stream, the last `history.len()` samples
    /// of it (a ring indexed by absolute position).
    history: Box<[i16]>,
    /// Samples processed so far (the detector's count too).
    position: u64,
    /// While speaking: the first sample not passed on yet.
    sent_until: u64,
    speaking: bool,
    /// Far-end samples dropped because they piled up.
    far_dropped: u64,
}

impl VoiceGate {
    pub fn new(config: VoiceGateConfig) -> Result<VoiceGate, EchoError> {
        let echo = if config.echo_cancellation {
            Some(EchoCanceller::new(config.echo_delay_hint)?)
        } else {
            None
        };
        let vad = VoiceActivity::new(VoiceActivityConfig {
            end_after: config.end_silence,
            ..VoiceActivityConfig::default()
        });
        // Room for the pre-roll, the detector's start and end delays, and
        // a frame of each size in between.
        let keep = config.pre_roll + config.end_silence + Duration::from_millis(250);
        // Whole frames, so that a frame never wraps around the ring.
        let history =
            vec![0; (samples_in(keep) as usize).div_ceil(FRAME) * FRAME].into_boxed_slice();
        Ok(VoiceGate {
            config,
            vad,
            echo,
            near: [0; FRAME],
            near_filled: 0,
            far: vec![0; FAR_CAPACITY].into_boxed_slice(),
            far_read: 0,
            far_len: 0,
            history,
            position: 0,
            sent_until: 0,
            speaking: false,
            far_dropped: 0,
        })
    }

    pub fn config(&self) -> &VoiceGateConfig {
        &self.config
    }

    /// Whether a turn is under way.
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Far-end samples dropped because they arrived far ahead of the
    /// microphone.
    pub fn far_dropped(&self) -> u64 {
        self.far_dropped
    }

    /// What the game played (16 kHz mono), to be heard as echo in the
    /// microphone frames that follow: give a tick's far end before its
    /// microphone. Ignored without echo cancellation.
    pub fn push_far(&mut self, samples: &[i16]) {
        if self.echo.is_none() {
            return;
        }
        let cap = self.far.len();
        for &s in samples {
            if self.far_len == cap {
                self.drop_far(1);
            }
            self.far[(self.far_read + self.far_len) % cap] = s;
            self.far_len += 1;
        }
    }

    /// The microphone (16 kHz mono): processed in 10 ms frames, the turn's
    /// speech and its start and end passed to `on`. Then the far end left
    /// beyond the backlog is dropped.
    pub fn push_near(&mut self, mut samples: &[i16], on: &mut impl FnMut(GateEvent<'_>)) {
        while !samples.is_empty() {
            let take = (FRAME - self.near_filled).min(samples.len());
            self.near[self.near_filled..self.near_filled + take].copy_from_slice(&samples[..take]);
            self.near_filled += take;
            samples = &samples[take..];
            if self.near_filled == FRAME {
                self.near_filled = 0;
                self.frame(on);
            }
        }
        self.drop_far(self.far_len.saturating_sub(FAR_BACKLOG));
    }

    /// Drops the oldest `n` far-end samples (counted).
    fn drop_far(&mut self, n: usize) {
        self.far_read = (self.far_read + n) % self.far.len();
        self.far_len -= n;
        self.far_dropped += n as u64;
    }

    /// One whole microphone frame.
    fn frame(&mut self, on: &mut impl FnMut(GateEvent<'_>)) {
        let mut frame = self.near;
        if let Some(aec) = self.echo.as_mut() {
            let mut far = [0i16; FRAME];
            if self.far_len >= FRAME {
                let cap = self.far.len();
                for (i, s) in far.iter_mut().enumerate() {
                    *s = self.far[(self.far_read + i) % cap];
                }
                self.far_read = (self.far_read + FRAME) % cap;
                self.far_len -= FRAME;
            }
            aec.far_end(&far);
            aec.process(&mut frame);
        }
        let cap = self.history.len() as u64;
        let at = (self.position % cap) as usize;
        self.history[at..at + FRAME].copy_from_slice(&frame);
        self.position += FRAME as u64;
        if !self.config.detect_voice {
            on(GateEvent::Speech(&self.history[at..at + FRAME]));
            return;
        }
        let mut event = None;
        self.vad.push(&frame, |e| event = Some(e));
        match event {
            Some(VoiceEvent::Started { at_sample }) => {
                self.speaking = true;
                let oldest = self.position.saturating_sub(cap);
                self.sent_until = at_sample
                    .saturating_sub(samples_in(self.config.pre_roll))
                    .max(oldest);
                on(GateEvent::Started);
            }
            Some(VoiceEvent::Ended { at_sample }) => {
                let until = (at_sample + samples_in(END_TAIL)).min(self.position);
                self.pass_on(until, on);
                self.speaking = false;
                on(GateEvent::Ended);
                return;
            }
            None => {}
        }
        if self.speaking {
            // Held back by the end silence: it may turn out to be the end.
            let until = self
                .position
                .saturating_sub(samples_in(self.config.end_silence));
            self.pass_on(until, on);
        }
    }

    /// Passes on the history from `sent_until` to `until`.
    fn pass_on(&mut self, until: u64, on: &mut impl FnMut(GateEvent<'_>)) {
        let cap = self.history.len() as u64;
        while self.sent_until < until {
            let start = (self.sent_until % cap) as usize;
            let n = ((until - self.sent_until) as usize).min(self.history.len() - start);
            on(GateEvent::Speech(&self.history[start..start + n]));
            self.sent_until += n as u64;
        }
    }

    /// Samples of the turn under way not passed on yet (held back by the
    /// end silence): what a cut loses.
    pub fn held_samples(&self) -> u64 {
        if self.speaking {
            self.position - self.sent_until
        } else {
            0
        }
    }

    /// Forgets the turn and what was heard (a new stream: the detector
    /// warms up again). Returns whether a turn was cut.
    pub fn reset(&mut self) -> bool {
        let cut = self.speaking;
        self.vad.reset();
        self.position = 0;
        self.sent_until = 0;
        self.speaking = false;
        self.near_filled = 0;
        self.far_len = 0;
        cut
    }
}

impl std::fmt::Debug for VoiceGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceGate")
            .field("config", &self.config)
            .field("speaking", &self.speaking)
            .finish_non_exhaustive()
    }
}

fn samples_in(d: Duration) -> u64 {
    d.as_micros() as u64 * RATE / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_passes_nothing() {
        let mut gate = VoiceGate::new(VoiceGateConfig::default()).unwrap();
        let mut events = 0;
        gate.push_near(&[0; 16_000 * 3], &mut |_| events += 1);
        assert_eq!(events, 0);
        assert!(!gate.is_speaking());
    }

    #[test]
    fn the_far_end_backlog_is_bounded() {
        let mut gate = VoiceGate::new(VoiceGateConfig {
            echo_cancellation: true,
            ..VoiceGateConfig::default()
        })
        .unwrap();
        // Kept until the microphone frames of the tick are processed.
        gate.push_far(&vec![100; FAR_BACKLOG + 500]);
        assert_eq!(gate.far_dropped(), 0);
        gate.push_near(&[0; FRAME], &mut |_| {});
        assert_eq!(gate.far_dropped() as usize, 500 - FRAME);
        assert_eq!(gate.far_len, FAR_BACKLOG);
        // More than a late tick can bring: the oldest goes at once.
        gate.push_far(&vec![100; FAR_CAPACITY]);
        assert_eq!(gate.far_len, FAR_CAPACITY);
        assert_eq!(gate.far_dropped() as usize, 500 - FRAME + FAR_BACKLOG);
    }

    #[test]
    fn a_late_tick_keeps_its_far_end_for_its_microphone() {
        let mut gate = VoiceGate::new(VoiceGateConfig {
            echo_cancellation: true,
            ..VoiceGateConfig::default()
        })
        .unwrap();
        // A second of each, drained on one tick.
        gate.push_far(&vec![100; RATE as usize]);
        gate.push_near(&vec![0; RATE as usize], &mut |_| {});
        assert_eq!((gate.far_dropped(), gate.far_len), (0, 0));
    }
}
