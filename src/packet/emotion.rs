//! The emotion a character shows, and the names of its behaviors and
//! strengths (so no binding needs the wire types to name them).

use std::fmt;

/// Emotion: wire `SpaffCode` and `Strength` values, and the four dimensions
/// the service scores (0 when it sends none). The values stay numbers so a
/// value newer than this build still reaches the game;
/// [`Emotion::behavior`] and [`Emotion::strength`] name the known ones.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Emotion {
    pub behavior: i32,
    pub strength: i32,
    pub joy: f32,
    pub fear: f32,
    pub trust: f32,
    pub surprise: f32,
}

impl Emotion {
    /// The behavior, or `None` for a value this build does not know.
    pub fn behavior(&self) -> Option<EmotionBehavior> {
        EmotionBehavior::from_wire(self.behavior)
    }

    /// The strength, or `None` for a value this build does not know.
    pub fn strength(&self) -> Option<EmotionStrength> {
        EmotionStrength::from_wire(self.strength)
    }
}

/// Declares a wire enum with its value, its wire name ("TENSE_HUMOR") and its
/// PascalCase name ("TenseHumor"), in one table so the three cannot drift.
macro_rules! named_wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $value:literal, $wire:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum $name {
            $($variant = $value,)*
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The value for a wire number, if this build knows it.
            pub fn from_wire(value: i32) -> Option<Self> {
                match value {
                    $($value => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// The wire number.
            pub fn wire(self) -> i32 {
                self as i32
            }

            /// The wire's name, e.g. "TENSE_HUMOR" (what `Display` prints).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)*
                }
            }

            /// The name in PascalCase, e.g. "TenseHumor".
            pub fn pascal_case(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_wire_enum! {
    /// What a character's emotion is (`iw_emotion.behavior`, wire `SpaffCode`).
    EmotionBehavior {
        Neutral = 0, "NEUTRAL";
        Disgust = 1, "DISGUST";
        Contempt = 2, "CONTEMPT";
        Belligerence = 3, "BELLIGERENCE";
        Domineering = 4, "DOMINEERING";
        Criticism = 5, "CRITICISM";
        Anger = 6, "ANGER";
        Tension = 7, "TENSION";
        TenseHumor = 8, "TENSE_HUMOR";
        Defensiveness = 9, "DEFENSIVENESS";
        Whining = 10, "WHINING";
        Sadness = 11, "SADNESS";
        Stonewalling = 12, "STONEWALLING";
        Interest = 13, "INTEREST";
        Validation = 14, "VALIDATION";
        Affection = 15, "AFFECTION";
        Humor = 16, "HUMOR";
        Surprise = 17, "SURPRISE";
        Joy = 18, "JOY";
    }
}

named_wire_enum! {
    /// How strongly a character shows its emotion (`iw_emotion.strength`).
    EmotionStrength {
        Unspecified = 0, "UNSPECIFIED";
        Weak = 1, "WEAK";
        Strong = 2, "STRONG";
        Normal = 3, "NORMAL";
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ai::inworld::packets::emotion_event::{SpaffCode, Strength};

    #[test]
    fn the_names_are_the_wires_for_every_value() {
        for i in -1..64 {
            let behavior = EmotionBehavior::from_wire(i);
            assert_eq!(
                behavior.map(EmotionBehavior::as_str),
                SpaffCode::try_from(i).ok().map(|c| c.as_str_name()),
                "behavior {i}"
            );
            assert_eq!(behavior.map_or(i, EmotionBehavior::wire), i);
            let strength = EmotionStrength::from_wire(i);
            assert_eq!(
                strength.map(EmotionStrength::as_str),
                Strength::try_from(i).ok().map(|c| c.as_str_name()),
                "strength {i}"
            );
        }
        assert_eq!(EmotionBehavior::ALL.len(), 19);
        assert_eq!(EmotionStrength::ALL.len(), 4);
    }

    #[test]
    fn pascal_case_and_display() {
        assert_eq!(EmotionBehavior::TenseHumor.pascal_case(), "TenseHumor");
        assert_eq!(EmotionBehavior::TenseHumor.to_string(), "TENSE_HUMOR");
        assert_eq!(EmotionStrength::Strong.pascal_case(), "Strong");
        let e = Emotion {
            behavior: 18,
            strength: 2,
            joy: 0.0,
            fear: 0.0,
            trust: 0.0,
            surprise: 0.0,
        };
        assert_eq!(e.behavior(), Some(EmotionBehavior::Joy));
        assert_eq!(e.strength(), Some(EmotionStrength::Strong));
        let unknown = Emotion {
            behavior: 99,
            strength: -1,
            ..e
        };
        assert_eq!((unknown.behavior(), unknown.strength()), (None, None));
    }
}
