//! Faces on a playback stream: the ARKit blendshape weights of what the
//! player hears now ([`PlaybackMonitor::face`]), and the character's
//! emotion shown on them ([`PlaybackMonitor::show_emotion`]). The model is
//! `audio::face`; this names the service's emotions in its terms.

use std::time::Instant;

use super::playback::{Playback, PlaybackMonitor};
use crate::audio::face::{Expression, FaceWeights};
use crate::packet::Emotion;
use crate::protocol::ai::inworld::packets::emotion_event::{SpaffCode, Strength};

impl PlaybackMonitor {
    /// The face to show now: the 52 ARKit weights (0..1, in
    /// `Blendshape::ALL`'s order) at the position the player hears, with
    /// the expression and blinks set here. Neutral when nothing has played;
    /// relaxes to rest within 80 ms of the sound stopping (the end of an
    /// utterance, or a flush). Any thread, any rate of calls: no lock the
    /// audio thread takes, no allocation.
    pub fn face(&self) -> FaceWeights {
        self.clock().face(self.format().rate)
    }

    /// [`face`](Self::face) at an instant (a frame's presentation time).
    pub fn face_at(&self, now: Instant) -> FaceWeights {
        self.clock().face_at(now, self.format().rate)
    }

    /// Shows an emotion packet's behaviour at its strength: it fades in
    /// over 0.4 s over the expression before (a neutral one fades it out).
    /// Brows, eyes, cheeks, nose and the mouth's corners only: the mouth's
    /// speech shapes are never changed.
    pub fn show_emotion(&self, emotion: &Emotion) {
        self.set_expression(
            expression_of(emotion.behavior),
            strength_of(emotion.strength),
        );
    }

    /// Shows `expression` at `strength` (0..1), fading in from now.
    pub fn set_expression(&self, expression: Expression, strength: f32) {
        let clock = self.clock();
        clock.face_controls().set_expression(
            expression,
            strength,
            clock.clock_time(Instant::now()),
        );
    }

    /// Blinks at natural intervals, seeded (the same seed blinks at the same
    /// moments of the stream's life), or none (the default).
    pub fn set_blinks(&self, seed: Option<u64>) {
        self.clock().face_controls().set_blinks(seed);
    }
}

impl Playback {
    /// See [`PlaybackMonitor::face`].
    pub fn face(&self) -> FaceWeights {
        self.monitor_ref().face()
    }
}

/// The expression a face shows for an emotion behaviour (wire `SpaffCode`).
pub fn expression_of(behavior: i32) -> Expression {
    match SpaffCode::try_from(behavior) {
        Ok(SpaffCode::Joy | SpaffCode::Humor) => Expression::Joy,
        Ok(SpaffCode::Affection | SpaffCode::Validation) => Expression::Affection,
        Ok(SpaffCode::Interest) => Expression::Interest,
        Ok(SpaffCode::Surprise) => Expression::Surprise,
        Ok(SpaffCode::Sadness | SpaffCode::Whining) => Expression::Sadness,
        Ok(
            SpaffCode::Anger
            | SpaffCode::Belligerence
            | SpaffCode::Criticism
            | SpaffCode::Domineering,
        ) => Expression::Anger,
        Ok(SpaffCode::Disgust) => Expression::Disgust,
        Ok(SpaffCode::Contempt | SpaffCode::Stonewalling) => Expression::Contempt,
        Ok(SpaffCode::Tension | SpaffCode::TenseHumor | SpaffCode::Defensiveness) => {
            Expression::Tension
        }
        Ok(SpaffCode::Neutral) | Err(_) => Expression::Neutral,
    }
}

/// How strongly (0..1) a face shows an emotion strength (wire `Strength`).
pub fn strength_of(strength: i32) -> f32 {
    match Strength::try_from(strength) {
        Ok(Strength::Weak) => 0.4,
        Ok(Strength::Strong) => 1.0,
        Ok(Strength::Normal | Strength::Unspecified) | Err(_) => 0.7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_behaviour_has_an_expression_and_neutral_is_none() {
        assert_eq!(
            expression_of(SpaffCode::Neutral as i32),
            Expression::Neutral
        );
        assert_eq!(expression_of(-1), Expression::Neutral);
        assert_eq!(expression_of(SpaffCode::Joy as i32), Expression::Joy);
        assert_eq!(expression_of(SpaffCode::Anger as i32), Expression::Anger);
        for code in 1..=18 {
            assert_ne!(expression_of(code), Expression::Neutral, "{code}");
        }
        assert!(strength_of(Strength::Weak as i32) < strength_of(Strength::Normal as i32));
        assert_eq!(strength_of(Strength::Strong as i32), 1.0);
    }
}
